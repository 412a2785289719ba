/**
 * The image viewer: a FITS image on a canvas, rendered by the server's
 * `lsstbox/image/*` API (see `server_ext/render/handlers.py`).
 *
 * Geometry.  Image coordinates are 0-based pixels with pixel centres on
 * integers (pixel `i` spans `[i - 0.5, i + 0.5)`), y up.  The view is
 * `scale` (CSS px per image pixel) and `ox, oy`, the canvas position (CSS px
 * from its top-left corner) of the centre of pixel (0, 0):
 *
 *     screenX = ox + x * scale        screenY = oy - y * scale
 *
 * The canvas carries them as `data-scale`, `data-ox` and `data-oy`.
 *
 * Rendering.  Every change of the view or of the display settings redraws
 * at once what is already loaded (scaled to the new view), then, 80 ms after
 * the last change, asks the server for one PNG of the visible part of the
 * image at the canvas's device-pixel resolution (never finer than the
 * image's own pixels: zoomed in, the canvas magnifies with smoothing off).
 * A request made stale by a newer one is aborted.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { CMAPS, STRETCHES } from './settings';
import { sourceIndices } from './skyModel';

/** The URL namespace of the image API, below the server base URL. */
export const IMAGE_NAMESPACE = 'lsstbox/image';

/** `GET info`: what the viewer needs of it. */
export interface IImageInfo {
  src: string;
  title: string;
  width: number;
  height: number;
  bunit: string | null;
  wcs: Record<string, unknown> | null;
  mask_planes: Record<string, number>;
  limits: { vmin: number; vmax: number };
  file?: string;
  product?: string | null;
}

/** `GET options`. */
export interface IImageOptions {
  stretches: string[];
  cmaps: string[];
  max_out: number;
  max_box_pixels: number;
  max_points: number;
  default_mask_colours: Record<string, string>;
}

/** `GET pixel`. */
export interface IPixelInfo {
  x: number;
  y: number;
  ix: number;
  iy: number;
  inside: boolean;
  value: number | null;
  variance?: number | null;
  mask?: number | null;
  mask_names?: string[];
  ra: number | null;
  dec: number | null;
}

/** A source of the overlay picked with the mouse. */
export interface ISourceSelection {
  /** Its index in the arrays given to `setSources`. */
  index: number;
  id: string | number;
  ra: number;
  dec: number;
  /** Its pixel position (0-based). */
  x: number;
  y: number;
}

/** The display settings of the tiles. */
export interface IDisplaySettings {
  stretch: string;
  cmap: string;
  /** `null`: the server's zscale limit. */
  vmin: number | null;
  vmax: number | null;
  /** The mask planes shown, in the order they are composited. */
  masks: string[];
}

/** A failed image API call: HTTP status (0: no answer) and message. */
export class ImageApiError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
    this.name = 'ImageApiError';
  }
}

export { CMAPS, STRETCHES };
const BASE_CMAPS = CMAPS.filter(c => !c.endsWith('_r'));
/** Colours of mask planes without a default (the server's own fallbacks). */
const OTHER_MASK_COLOURS = ['ff8000', '8000ff', '0080ff', 'ff0080', '80ff00'];
const MASK_ALPHA = 0.5;
const FALLBACK_OPTIONS: IImageOptions = {
  stretches: STRETCHES,
  cmaps: BASE_CMAPS,
  max_out: 2048,
  max_box_pixels: 64 * 1024 * 1024,
  max_points: 1_000_000,
  default_mask_colours: {}
};
/** At most this many overlay sources. */
export const MAX_SOURCES = 100_000;
const TILE_DEBOUNCE_MS = 80;
const PIXEL_THROTTLE_MS = 60;
const CLICK_SLOP_PX = 4;
const PICK_RADIUS_PX = 10;
const SOURCE_RADIUS_PX = 6;
/** Up to this many visible sources, thick circles with a halo; above, hairlines. */
const FEW_SOURCES = 5000;
const MAX_SCALE = 64;

/** Stroke `path` in `colour` (`width` px), over a `halo` (`haloWidth` px) if given. */
function strokeCircles(
  ctx: CanvasRenderingContext2D,
  path: Path2D,
  halo: string | null,
  haloWidth: number,
  colour: string,
  width: number
): void {
  if (halo) {
    ctx.lineWidth = haloWidth;
    ctx.strokeStyle = halo;
    ctx.stroke(path);
  }
  ctx.lineWidth = width;
  ctx.strokeStyle = colour;
  ctx.stroke(path);
}

// -- the API ------------------------------------------------------------------

function errorText(text: string, statusText: string): string {
  try {
    const data: unknown = JSON.parse(text);
    if (typeof data === 'object' && data !== null) {
      for (const key of ['error', 'message', 'reason']) {
        const value: unknown = (data as Record<string, unknown>)[key];
        if (typeof value === 'string' && value.length > 0) {
          return value;
        }
      }
    }
  } catch {
    // not JSON: below
  }
  const plain = text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return plain.slice(0, 300) || statusText || 'Request failed';
}

/**
 * Call `<baseUrl>lsstbox/image/<endpoint>` (authenticated).
 *
 * @throws {ImageApiError} on a network failure or a non-2xx answer (with the
 * server's `error` text); an aborted request rejects too.
 */
export async function imageRequest(
  endpoint: string,
  query: Record<string, string> | null,
  init: RequestInit,
  settings: ServerConnection.ISettings
): Promise<Response> {
  let url = URLExt.join(settings.baseUrl, IMAGE_NAMESPACE, endpoint);
  if (query) {
    url += URLExt.objectToQueryString(query);
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ImageApiError(0, `Cannot reach the server: ${reason}`);
  }
  if (!response.ok) {
    const text = await response.text();
    throw new ImageApiError(
      response.status,
      errorText(text, response.statusText)
    );
  }
  return response;
}

async function imageJSON<T>(
  endpoint: string,
  query: Record<string, string> | null,
  init: RequestInit,
  settings: ServerConnection.ISettings
): Promise<T> {
  const response = await imageRequest(endpoint, query, init, settings);
  try {
    return (await response.json()) as T;
  } catch {
    throw new ImageApiError(response.status, 'The server did not answer JSON');
  }
}

const optionsCache = new Map<string, Promise<IImageOptions>>();

/** `GET options`, once per server (the fallback when it fails). */
export function imageOptions(
  settings: ServerConnection.ISettings
): Promise<IImageOptions> {
  let hit = optionsCache.get(settings.baseUrl);
  if (!hit) {
    hit = imageJSON<Partial<IImageOptions>>('options', null, {}, settings)
      .then(o => ({ ...FALLBACK_OPTIONS, ...o }))
      .catch(() => {
        optionsCache.delete(settings.baseUrl);
        return FALLBACK_OPTIONS;
      });
    optionsCache.set(settings.baseUrl, hit);
  }
  return hit;
}

function checkInfo(data: unknown): IImageInfo {
  const info = data as Partial<IImageInfo> | null;
  const ok =
    typeof info === 'object' &&
    info !== null &&
    Number.isInteger(info.width) &&
    Number.isInteger(info.height) &&
    (info.width as number) > 0 &&
    (info.height as number) > 0;
  if (!ok) {
    throw new ImageApiError(200, 'Unexpected image info from the server');
  }
  return {
    ...info,
    src: String(info.src ?? ''),
    title: String(info.title ?? ''),
    width: info.width as number,
    height: info.height as number,
    bunit: typeof info.bunit === 'string' && info.bunit ? info.bunit : null,
    wcs: info.wcs ?? null,
    mask_planes: info.mask_planes ?? {},
    limits: info.limits ?? { vmin: 0, vmax: 1 }
  };
}

// -- formatting ---------------------------------------------------------------

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/** Degrees of RA as `hh:mm:ss.sss`. */
export function formatRA(ra: number): string {
  const ms = Math.round((((ra % 360) + 360) % 360) * 240_000); // 1 deg = 240 s
  const total = ms % (24 * 3600_000);
  const h = Math.floor(total / 3600_000);
  const m = Math.floor((total % 3600_000) / 60_000);
  const s = (total % 60_000) / 1000;
  return `${pad(h, 2)}:${pad(m, 2)}:${s.toFixed(3).padStart(6, '0')}`;
}

/** Degrees of Dec as `±dd:mm:ss.ss`. */
export function formatDec(dec: number): string {
  const sign = dec < 0 ? '\u2212' : '+';
  const cs = Math.round(Math.abs(dec) * 360_000); // centi-arcseconds
  const d = Math.floor(cs / 360_000);
  const m = Math.floor((cs % 360_000) / 6000);
  const s = (cs % 6000) / 100;
  return `${sign}${pad(d, 2)}:${pad(m, 2)}:${s.toFixed(2).padStart(5, '0')}`;
}

/** A pixel value: 4 significant digits, exponent when very large or small. */
export function formatValue(value: number): string {
  const a = Math.abs(value);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) {
    return value.toExponential(3);
  }
  return String(Number(value.toPrecision(6)));
}

function formatLimit(value: number): string {
  return String(Number(value.toPrecision(6)));
}

// -- DOM ----------------------------------------------------------------------

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// -- the widget -----------------------------------------------------------------

interface ITileBox {
  x0: number;
  y0: number;
  w: number;
  h: number;
  out: number;
}

interface IPiece extends ITileBox {
  bitmap: ImageBitmap;
}

interface IFrame {
  key: string;
  query: string;
  pieces: IPiece[];
}

interface ISources {
  ra: Float64Array;
  dec: Float64Array;
  x: Float64Array;
  y: Float64Array;
  ids: (string | number)[];
}

interface IDrag {
  pointerId: number;
  startX: number;
  startY: number;
  ox: number;
  oy: number;
  moved: boolean;
}

/** The state of the viewer, also its `data-state` attribute. */
export type ViewerState = 'loading' | 'ready' | 'error';

/**
 * A FITS image in a canvas with pan, zoom, display settings, a status bar
 * and an overlay of sources.
 */
export class ImageViewer extends Widget {
  constructor(options: ImageViewer.IOptions) {
    super();
    this.addClass('lsstbox-ImageViewer');
    this.node.dataset.testid = 'lsstbox-image-viewer';
    this._settings = options.serverSettings ?? ServerConnection.makeSettings();
    const initial = options.display ?? {};
    this._display = {
      stretch:
        initial.stretch && STRETCHES.includes(initial.stretch)
          ? initial.stretch
          : 'linear',
      cmap:
        initial.cmap && CMAPS.includes(initial.cmap) ? initial.cmap : 'gray',
      vmin: null,
      vmax: null,
      masks: [...(initial.masks ?? [])]
    };

    // toolbar
    this._zoomOut = this._button('\u2212', 'Zoom out (-)', 'zoom-out', () =>
      this.zoomBy(1 / 1.5)
    );
    this._zoomIn = this._button('+', 'Zoom in (+)', 'zoom-in', () =>
      this.zoomBy(1.5)
    );
    this._fitButton = this._button('Fit', 'Fit the image (0)', 'fit', () =>
      this.fit()
    );
    this._oneButton = this._button(
      '1:1',
      'One image pixel per screen pixel',
      'one',
      () => this.zoomTo(1 / this._dpr)
    );
    this._stretchSelect = el('select', {
      class: 'lsstbox-ImageViewer-select',
      'data-testid': 'lsstbox-image-stretch',
      title: 'Stretch'
    });
    this._cmapSelect = el('select', {
      class: 'lsstbox-ImageViewer-select',
      'data-testid': 'lsstbox-image-cmap',
      title: 'Colormap'
    });
    this._fillSelect(this._stretchSelect, STRETCHES, this._display.stretch);
    this._fillSelect(this._cmapSelect, CMAPS, this._display.cmap);
    this._stretchSelect.addEventListener('change', () =>
      this.setDisplay({ stretch: this._stretchSelect.value })
    );
    this._cmapSelect.addEventListener('change', () =>
      this.setDisplay({ cmap: this._cmapSelect.value })
    );
    this._vminInput = this._limitInput('vmin', 'Lowest value (black)');
    this._vmaxInput = this._limitInput('vmax', 'Highest value (white)');
    this._resetLimits = this._button(
      'Reset',
      'Back to the zscale limits',
      'reset-limits',
      () => this._onResetLimits()
    );
    this._masksBox = el('span', {
      class: 'lsstbox-ImageViewer-masks',
      'data-testid': 'lsstbox-image-masks'
    });
    const group = (...children: Node[]) =>
      el('span', { class: 'lsstbox-ImageViewer-group' }, ...children);
    const label = (text: string, control: HTMLElement) =>
      el('label', { class: 'lsstbox-ImageViewer-label' }, text, control);
    const toolbar = (this._toolbar = el(
      'div',
      { class: 'lsstbox-ImageViewer-toolbar', role: 'toolbar' },
      group(this._zoomOut, this._zoomIn, this._fitButton, this._oneButton),
      group(
        label('Stretch', this._stretchSelect),
        label('Colormap', this._cmapSelect)
      ),
      group(
        label('Min', this._vminInput),
        label('Max', this._vmaxInput),
        this._resetLimits
      ),
      this._masksBox
    ));

    // stage
    this._canvas = el('canvas', {
      class: 'lsstbox-ImageViewer-canvas',
      'data-testid': 'lsstbox-image-canvas',
      tabindex: '0',
      role: 'img',
      'aria-label': 'Image (drag to pan, wheel or +/- to zoom, 0 to fit)'
    });
    this._message = el('div', {
      class: 'lsstbox-ImageViewer-message',
      'data-testid': 'lsstbox-image-message'
    });
    this._notice = el('div', {
      class: 'lsstbox-ImageViewer-notice',
      'data-testid': 'lsstbox-image-notice',
      role: 'status'
    });
    this._notice.hidden = true;
    this._stage = el(
      'div',
      { class: 'lsstbox-ImageViewer-stage' },
      this._canvas,
      this._message,
      this._notice
    );

    // status bar
    const field = (name: string, title: string) =>
      el('span', {
        class: `lsstbox-ImageViewer-field lsstbox-ImageViewer-${name}`,
        'data-testid': `lsstbox-image-${name}`,
        title
      });
    this._posField = field('pos', 'Pixel under the cursor (0-based x, y)');
    this._valueField = field('value', 'Pixel value');
    this._radecField = field(
      'radec',
      'RA, Dec of the pixel centre (degrees, ICRS)'
    );
    this._sexaField = field('sexagesimal', 'RA (h:m:s), Dec (d:m:s)');
    this._maskField = field('masknames', 'Mask planes set on the pixel');
    this._sourceField = field('source', 'The selected source');
    this._infoField = field('info', '');
    this._status = el(
      'div',
      {
        class: 'lsstbox-ImageViewer-status',
        'data-testid': 'lsstbox-image-status'
      },
      this._posField,
      this._valueField,
      this._radecField,
      this._sexaField,
      this._maskField,
      this._sourceField,
      this._infoField
    );

    this.node.append(toolbar, this._stage, this._status);
    this._ctx = this._canvas.getContext('2d');

    this._canvas.addEventListener('pointerdown', this._onPointerDown);
    this._canvas.addEventListener('pointermove', this._onPointerMove);
    this._canvas.addEventListener('pointerup', this._onPointerUp);
    this._canvas.addEventListener('pointercancel', this._onPointerUp);
    this._canvas.addEventListener('pointerleave', this._onPointerLeave);
    this._canvas.addEventListener('wheel', this._onWheel, { passive: false });
    this._canvas.addEventListener('keydown', this._onKeyDown);
    this._resizeObserver = new ResizeObserver(() => this._onResize());
    this._resizeObserver.observe(this._stage);

    void imageOptions(this._settings).then(o => {
      if (!this.isDisposed) {
        this._applyOptions(o);
      }
    });
    this.setSource(options.src);
  }

  /** The image's `src` (`file:…`, `did:…` or `butler:…`). */
  get src(): string {
    return this._src;
  }

  /** What `GET info` said (null until loaded or on error). */
  get info(): IImageInfo | null {
    return this._info;
  }

  get state(): ViewerState {
    return this._state;
  }

  /** The error message in the `error` state. */
  get error(): string {
    return this._error;
  }

  /** Resolves when the image info has loaded (rejects if it failed). */
  get ready(): Promise<IImageInfo> {
    return this._ready;
  }

  /** Emitted when the image info has loaded or failed to. */
  get infoChanged(): ISignal<this, IImageInfo | null> {
    return this._infoChanged;
  }

  /** Emitted when a source of the overlay is clicked (null: none near). */
  /** Emitted on every pan and zoom (listeners debounce). */
  get viewChanged(): ISignal<this, void> {
    return this._viewChanged;
  }

  /** The pixel at the centre of the canvas, the scale and the canvas width (CSS px). */
  get view(): { x: number; y: number; scale: number; width: number } {
    const [x, y] = this.canvasToPixel(this._cssW / 2, this._cssH / 2);
    return { x, y, scale: this._scale, width: this._cssW };
  }

  /** Sky positions (degrees) of pixels, from the image's WCS on the server. */
  async pixToSky(
    x: number[],
    y: number[]
  ): Promise<{ ra: (number | null)[]; dec: (number | null)[] }> {
    const { x: ra, y: dec } = await this._transform(
      'pix2world',
      this._src,
      x,
      y
    );
    return { ra, dec };
  }

  /** `POST world2pix|pix2world` for the image `src` (nulls: no position). */
  private async _transform(
    direction: 'world2pix' | 'pix2world',
    src: string,
    u: (number | null)[],
    v: (number | null)[]
  ): Promise<{ x: (number | null)[]; y: (number | null)[] }> {
    const [a, b] = direction === 'world2pix' ? ['ra', 'dec'] : ['x', 'y'];
    const answer = await imageJSON<Record<string, (number | null)[]>>(
      direction,
      null,
      {
        method: 'POST',
        body: JSON.stringify({ src, [a]: u, [b]: v }),
        headers: { 'Content-Type': 'application/json' }
      },
      this._settings
    );
    const [c, d] = direction === 'world2pix' ? ['x', 'y'] : ['ra', 'dec'];
    return { x: answer[c] ?? [], y: answer[d] ?? [] };
  }

  get sourceSelected(): ISignal<this, ISourceSelection | null> {
    return this._sourceSelected;
  }

  /** The current display settings. */
  get display(): Readonly<IDisplaySettings> {
    return { ...this._display, masks: [...this._display.masks] };
  }

  /** The view: CSS px per image pixel and the canvas position of pixel (0, 0). */
  get transform(): { scale: number; ox: number; oy: number } {
    return { scale: this._scale, ox: this._ox, oy: this._oy };
  }

  /** Show another image (`src` as in the API). */
  setSource(src: string): void {
    this._src = src;
    this._info = null;
    this._infoAbort?.abort();
    this._tileAbort?.abort();
    this._clearFrame();
    this._sources = null;
    this._selected = -1;
    this._setHighlighted(new Int32Array(0));
    this._fitted = true;
    this._setState('loading', 'Loading\u2026');
    this._clearStatus();
    const ctrl = new AbortController();
    this._infoAbort = ctrl;
    this._ready = imageJSON<unknown>(
      'info',
      { src },
      { signal: ctrl.signal },
      this._settings
    ).then(checkInfo);
    this._ready.then(
      info => {
        if (ctrl.signal.aborted || this.isDisposed) {
          return;
        }
        this._onInfo(info);
      },
      error => {
        if (ctrl.signal.aborted || this.isDisposed) {
          return;
        }
        this._info = null;
        this._setState('error', messageOf(error));
        this._infoChanged.emit(null);
      }
    );
    // callers of `ready` handle its rejection; this one must not be unhandled
    this._ready.catch(() => undefined);
  }

  /** Load the image again (e.g. the file changed). */
  reload(): void {
    const view = this._fitted
      ? null
      : { scale: this._scale, ox: this._ox, oy: this._oy };
    this.setSource(this._src);
    if (view) {
      void this._ready.then(() => {
        this._fitted = false;
        this._setView(view.scale, view.ox, view.oy);
      });
    }
  }

  /** Change display settings (stretch, cmap, vmin, vmax, masks). */
  setDisplay(change: Partial<IDisplaySettings>): void {
    const next = { ...this._display, ...change };
    if (change.masks) {
      next.masks = [...change.masks];
    }
    if (next.vmin !== null && next.vmax !== null && !(next.vmax > next.vmin)) {
      this._showNotice(
        `Max (${next.vmax}) must be greater than Min (${next.vmin})`
      );
      this._syncControls();
      return;
    }
    this._display = next;
    this._syncControls();
    this._hideNotice();
    this._requestTiles(0);
  }

  /** Fit the whole image in the canvas. */
  fit(): void {
    const info = this._info;
    if (!info || this._cssW <= 0 || this._cssH <= 0) {
      this._fitted = true;
      return;
    }
    const scale = this._fitScale();
    const ox = this._cssW / 2 - ((info.width - 1) / 2) * scale;
    const oy = this._cssH / 2 + ((info.height - 1) / 2) * scale;
    this._setView(scale, ox, oy);
    this._fitted = true;
  }

  /** Zoom by `factor` around a canvas point (default: its centre). */
  zoomBy(factor: number, sx?: number, sy?: number): void {
    this.zoomTo(this._scale * factor, sx, sy);
  }

  /** Set the scale (CSS px per image pixel) keeping a canvas point fixed. */
  zoomTo(scale: number, sx = this._cssW / 2, sy = this._cssH / 2): void {
    if (!this._info) {
      return;
    }
    const s = this._clampScale(scale);
    const x = (sx - this._ox) / this._scale;
    const y = (this._oy - sy) / this._scale;
    this._fitted = false;
    this._setView(s, sx - x * s, sy + y * s);
  }

  /** Centre the view on pixel (x, y), optionally at a new scale. */
  centerOn(x: number, y: number, scale?: number): void {
    if (!this._info) {
      return;
    }
    const s = scale === undefined ? this._scale : this._clampScale(scale);
    this._fitted = false;
    this._setView(s, this._cssW / 2 - x * s, this._cssH / 2 + y * s);
  }

  /**
   * Centre the view on a sky position (degrees).  Resolves false (and says
   * so in the viewer) when the position is outside the image.
   */
  async centerOnSky(ra: number, dec: number): Promise<boolean> {
    const src = this._src;
    const info = await this._ready;
    const answer = await this._transform('world2pix', src, [ra], [dec]);
    const [x, y] = [answer.x[0], answer.y[0]];
    if (src !== this._src || this.isDisposed) {
      return false;
    }
    if (
      x === null ||
      y === null ||
      x < -0.5 ||
      y < -0.5 ||
      x > info.width - 0.5 ||
      y > info.height - 0.5
    ) {
      this._showNotice(
        `RA ${ra.toFixed(5)}, Dec ${dec.toFixed(5)} is outside this image`
      );
      return false;
    }
    this.centerOn(x, y);
    this._canvas.dataset.centre = `${x.toFixed(3)},${y.toFixed(3)}`;
    return true;
  }

  /** Add a control at the end of the toolbar (e.g. the notebook link). */
  addToolbarItem(node: HTMLElement): void {
    this._toolbar.append(node);
  }

  /** Show a one-line message over the image (it goes away on the next one). */
  notify(text: string): void {
    this._showNotice(text);
  }

  /** The canvas position (CSS px) of pixel (x, y). */
  pixelToCanvas(x: number, y: number): [number, number] {
    return [this._ox + x * this._scale, this._oy - y * this._scale];
  }

  /** The pixel position of a canvas point (CSS px). */
  canvasToPixel(sx: number, sy: number): [number, number] {
    return [(sx - this._ox) / this._scale, (this._oy - sy) / this._scale];
  }

  /**
   * Overlay sources (at most 10^5): their RA, Dec (degrees) are turned into
   * pixels by the server's `world2pix` and drawn as circles.  Resolves with
   * the number of sources drawn.
   */
  async setSources(
    ra: ArrayLike<number>,
    dec: ArrayLike<number>,
    ids?: ArrayLike<string | number>
  ): Promise<number> {
    const n = ra.length;
    if (dec.length !== n || (ids && ids.length !== n)) {
      throw new Error('setSources: ra, dec and ids must have the same length');
    }
    if (n > MAX_SOURCES) {
      throw new Error(`setSources: at most ${MAX_SOURCES} sources, got ${n}`);
    }
    const src = this._src;
    await this._ready;
    const ras = Float64Array.from(ra);
    const decs = Float64Array.from(dec);
    const idList = ids ? Array.from(ids) : Array.from(ras, (_, i) => i);
    const seq = ++this._sourcesSeq;
    const answer = await this._transform(
      'world2pix',
      src,
      Array.from(ras, v => (Number.isFinite(v) ? v : null)),
      Array.from(decs, v => (Number.isFinite(v) ? v : null))
    );
    if (seq !== this._sourcesSeq || src !== this._src) {
      return 0; // superseded
    }
    const x = Float64Array.from(answer.x, v => (v === null ? NaN : v));
    const y = Float64Array.from(answer.y, v => (v === null ? NaN : v));
    this._sources = { ra: ras, dec: decs, x, y, ids: idList };
    this._selected = -1;
    this._setHighlighted(new Int32Array(0));
    this._sourceField.textContent = '';
    this._canvas.dataset.sources = String(n);
    this._scheduleDraw();
    return n;
  }

  /** Remove the overlay. */
  clearSources(): void {
    this._sourcesSeq++;
    this._sources = null;
    this._selected = -1;
    this._setHighlighted(new Int32Array(0));
    this._sourceField.textContent = '';
    delete this._canvas.dataset.sources;
    this._scheduleDraw();
  }

  /**
   * Highlight the sources at `indices` (into the arrays given to
   * `setSources`; others are ignored), e.g. the rows selected in a linked
   * plot; an empty list clears.  New sources clear it too.  Returns the
   * number highlighted.
   */
  highlightSources(indices: ArrayLike<number>): number {
    const n = this._sources?.x.length ?? 0;
    const valid = sourceIndices(Array.from(indices), n);
    this._setHighlighted(valid);
    this._scheduleDraw();
    return valid.length;
  }

  /** The indices highlighted now (ascending). */
  get highlightedSources(): number[] {
    return Array.from(this._highlighted);
  }

  /** Select (highlight) the source at `index` (-1: none). */
  selectSource(index: number): ISourceSelection | null {
    const s = this._sources;
    if (!s || index < 0 || index >= s.x.length) {
      this._selected = -1;
      this._sourceField.textContent = '';
      delete this._sourceField.dataset.id;
      this._scheduleDraw();
      this._sourceSelected.emit(null);
      return null;
    }
    this._selected = index;
    const selection: ISourceSelection = {
      index,
      id: s.ids[index],
      ra: s.ra[index],
      dec: s.dec[index],
      x: s.x[index],
      y: s.y[index]
    };
    this._sourceField.textContent = `Source ${selection.id}`;
    this._sourceField.dataset.id = String(selection.id);
    this._scheduleDraw();
    this._sourceSelected.emit(selection);
    return selection;
  }

  protected onActivateRequest(msg: Message): void {
    this._canvas.focus({ preventScroll: true });
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._resizeObserver.disconnect();
    this._infoAbort?.abort();
    this._tileAbort?.abort();
    this._pixelAbort?.abort();
    window.clearTimeout(this._tileTimer);
    window.clearTimeout(this._pixelTimer);
    if (this._drawFrame) {
      cancelAnimationFrame(this._drawFrame);
    }
    this._clearFrame();
    Signal.clearData(this);
    super.dispose();
  }

  // -- loading ----------------------------------------------------------------

  private _onInfo(info: IImageInfo): void {
    this._info = info;
    this._canvas.dataset.imageWidth = String(info.width);
    this._canvas.dataset.imageHeight = String(info.height);
    const planes = Object.keys(info.mask_planes);
    this._display = {
      ...this._display,
      vmin: info.limits.vmin,
      vmax: info.limits.vmax,
      masks: this._display.masks.filter(m => planes.includes(m))
    };
    this._buildMasks();
    this._syncControls();
    this._infoField.textContent = [
      info.title || info.file || '',
      `${info.width}\u00d7${info.height}`
    ]
      .filter(Boolean)
      .join(' \u00b7 ');
    this._infoField.title = info.src;
    this._setState('ready', '');
    this._onResize();
    this.fit();
    this._requestTiles(0);
    this._infoChanged.emit(info);
  }

  private _applyOptions(options: IImageOptions): void {
    this._options = options;
    const stretches = STRETCHES.filter(s => options.stretches.includes(s));
    if (stretches.length) {
      this._fillSelect(this._stretchSelect, stretches, this._display.stretch);
    }
    const cmaps = CMAPS.filter(c =>
      options.cmaps.includes(c.replace(/_r$/, ''))
    );
    if (cmaps.length) {
      this._fillSelect(this._cmapSelect, cmaps, this._display.cmap);
    }
    this._buildMasks();
  }

  private _maskColour(name: string): string {
    const known = this._options.default_mask_colours[name];
    if (known && /^[0-9a-fA-F]{6}$/.test(known)) {
      return known.toLowerCase();
    }
    const planes = Object.keys(this._info?.mask_planes ?? {}).filter(
      p => !this._options.default_mask_colours[p]
    );
    const i = Math.max(planes.indexOf(name), 0);
    return OTHER_MASK_COLOURS[i % OTHER_MASK_COLOURS.length];
  }

  private _buildMasks(): void {
    const planes = Object.entries(this._info?.mask_planes ?? {}).sort(
      (a, b) => a[1] - b[1]
    );
    this._masksBox.replaceChildren();
    if (!planes.length) {
      return;
    }
    this._masksBox.append(
      el('span', { class: 'lsstbox-ImageViewer-masksLabel' }, 'Masks')
    );
    for (const [name, bit] of planes) {
      const colour = this._maskColour(name);
      const box = el('input', {
        type: 'checkbox',
        'data-testid': 'lsstbox-image-mask',
        'data-plane': name
      });
      box.checked = this._display.masks.includes(name);
      box.addEventListener('change', () => {
        const masks = this._display.masks.filter(m => m !== name);
        if (box.checked) {
          masks.push(name);
        }
        this.setDisplay({ masks });
      });
      const swatch = el('span', { class: 'lsstbox-ImageViewer-swatch' });
      swatch.style.backgroundColor = `#${colour}`;
      this._masksBox.append(
        el(
          'label',
          {
            class: 'lsstbox-ImageViewer-mask',
            title: `${name} (bit ${bit})`
          },
          box,
          swatch,
          name
        )
      );
    }
  }

  // -- view -------------------------------------------------------------------

  private _fitScale(): number {
    const info = this._info;
    if (!info || this._cssW <= 0 || this._cssH <= 0) {
      return 1;
    }
    return Math.min(this._cssW / info.width, this._cssH / info.height);
  }

  private _clampScale(scale: number): number {
    const fit = this._fitScale();
    const lo = Math.min(fit / 4, 1 / this._dpr);
    const hi = Math.max(MAX_SCALE, fit);
    return Math.min(Math.max(scale, lo), hi);
  }

  private _setView(scale: number, ox: number, oy: number): void {
    this._scale = scale;
    this._ox = ox;
    this._oy = oy;
    this._canvas.dataset.scale = String(scale);
    this._canvas.dataset.ox = String(ox);
    this._canvas.dataset.oy = String(oy);
    this._canvas.classList.toggle(
      'lsstbox-mod-pixelated',
      scale * this._dpr > 1
    );
    this._scheduleDraw();
    this._requestTiles(TILE_DEBOUNCE_MS);
    this._viewChanged.emit();
  }

  private _onResize(): void {
    const w = this._stage.clientWidth;
    const h = this._stage.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    if (w <= 0 || h <= 0) {
      return; // hidden
    }
    if (w === this._cssW && h === this._cssH && dpr === this._dpr) {
      return;
    }
    const dw = w - this._cssW;
    const dh = h - this._cssH;
    const first = this._cssW <= 0;
    this._cssW = w;
    this._cssH = h;
    this._dpr = dpr;
    this._canvas.width = Math.round(w * dpr);
    this._canvas.height = Math.round(h * dpr);
    this._canvas.style.width = `${w}px`;
    this._canvas.style.height = `${h}px`;
    if (!this._info) {
      return;
    }
    if (this._fitted || first) {
      this.fit();
    } else {
      this._setView(this._scale, this._ox + dw / 2, this._oy + dh / 2);
    }
  }

  // -- tiles ------------------------------------------------------------------

  /** The boxes to ask for: one, unless the server's limits need a grid. */
  private _tileBoxes(): ITileBox[] {
    const info = this._info;
    const W = this._cssW;
    const H = this._cssH;
    const s = this._scale;
    if (!info || W <= 0 || H <= 0 || !(s > 0)) {
      return [];
    }
    const x0 = Math.max(0, Math.floor(-this._ox / s + 0.5));
    const x1 = Math.min(info.width, Math.floor((W - this._ox) / s + 0.5) + 1);
    const y0 = Math.max(0, Math.floor((this._oy - H) / s + 0.5));
    const y1 = Math.min(info.height, Math.floor(this._oy / s + 0.5) + 1);
    if (x1 <= x0 || y1 <= y0) {
      return [];
    }
    const w = x1 - x0;
    const h = y1 - y0;
    // device pixels per image pixel, never finer than the image
    const k = Math.min(s * this._dpr, 1);
    const maxOut = Math.max(this._options.max_out, 1);
    const maxBox = Math.max(this._options.max_box_pixels, 1);
    let nx = Math.max(1, Math.ceil((w * k) / maxOut));
    let ny = Math.max(1, Math.ceil((h * k) / maxOut));
    while (Math.ceil(w / nx) * Math.ceil(h / ny) > maxBox) {
      if (Math.ceil(w / nx) >= Math.ceil(h / ny)) {
        nx++;
      } else {
        ny++;
      }
    }
    const bw = Math.ceil(w / nx);
    const bh = Math.ceil(h / ny);
    const boxes: ITileBox[] = [];
    for (let by = y0; by < y1; by += bh) {
      for (let bx = x0; bx < x1; bx += bw) {
        const pw = Math.min(bw, x1 - bx);
        const ph = Math.min(bh, y1 - by);
        const out = Math.min(
          maxOut,
          Math.max(1, Math.round(Math.max(pw, ph) * k))
        );
        boxes.push({ x0: bx, y0: by, w: pw, h: ph, out });
      }
    }
    return boxes;
  }

  private _displayQuery(): Record<string, string> {
    const d = this._display;
    const query: Record<string, string> = { stretch: d.stretch, cmap: d.cmap };
    if (d.stretch !== 'zscale') {
      if (d.vmin !== null) {
        query.vmin = String(d.vmin);
      }
      if (d.vmax !== null) {
        query.vmax = String(d.vmax);
      }
    }
    if (d.masks.length) {
      query.mask = d.masks
        .map(m => `${m}:${this._maskColour(m)}:${MASK_ALPHA}`)
        .join(',');
    }
    return query;
  }

  private _requestTiles(delay: number): void {
    window.clearTimeout(this._tileTimer);
    if (this._state !== 'ready') {
      return;
    }
    this._tileTimer = window.setTimeout(() => {
      void this._fetchTiles();
    }, delay);
  }

  private async _fetchTiles(): Promise<void> {
    const boxes = this._tileBoxes();
    const display = this._displayQuery();
    const query = URLExt.objectToQueryString(display).slice(1);
    const key = JSON.stringify([this._src, boxes, display]);
    if (key === this._frame?.key || key === this._pendingKey) {
      return;
    }
    this._tileAbort?.abort();
    const ctrl = new AbortController();
    this._tileAbort = ctrl;
    this._pendingKey = key;
    this._canvas.dataset.loading = 'true';
    const src = this._src;
    const load = async (box: ITileBox): Promise<IPiece> => {
      const response = await imageRequest(
        'tile',
        {
          src,
          x0: String(box.x0),
          y0: String(box.y0),
          w: String(box.w),
          h: String(box.h),
          out: String(box.out),
          ...display
        },
        { signal: ctrl.signal },
        this._settings
      );
      const limits = response.headers.get('X-Lsstbox-Limits');
      const blob = await response.blob();
      const bitmap = await createImageBitmap(blob);
      if (limits && display.stretch === 'zscale') {
        this._showServerLimits(limits);
      }
      return { ...box, bitmap };
    };
    const results = await Promise.allSettled(boxes.map(load));
    const pieces = results
      .filter(
        (r): r is PromiseFulfilledResult<IPiece> => r.status === 'fulfilled'
      )
      .map(r => r.value);
    if (ctrl.signal.aborted || this.isDisposed) {
      pieces.forEach(p => p.bitmap.close());
      return;
    }
    this._pendingKey = '';
    this._canvas.dataset.loading = 'false';
    const failed = results.find(
      (r): r is PromiseRejectedResult => r.status === 'rejected'
    );
    if (failed) {
      pieces.forEach(p => p.bitmap.close());
      this._showNotice(`Cannot render the image: ${messageOf(failed.reason)}`);
      return;
    }
    this._hideNotice();
    this._clearFrame();
    this._frame = { key, query, pieces };
    this._frameCount++;
    this._canvas.dataset.tile = query;
    this._canvas.dataset.frames = String(this._frameCount);
    this._scheduleDraw();
  }

  private _clearFrame(): void {
    this._frame?.pieces.forEach(p => p.bitmap.close());
    this._frame = null;
    this._pendingKey = '';
  }

  private _showServerLimits(header: string): void {
    const [lo, hi] = header.split(',').map(Number);
    if (Number.isFinite(lo) && Number.isFinite(hi)) {
      this._vminInput.value = formatLimit(lo);
      this._vmaxInput.value = formatLimit(hi);
    }
  }

  // -- drawing ----------------------------------------------------------------

  private _scheduleDraw(): void {
    if (!this._drawFrame) {
      this._drawFrame = requestAnimationFrame(() => {
        this._drawFrame = 0;
        this._draw();
      });
    }
  }

  private _draw(): void {
    const ctx = this._ctx;
    if (!ctx) {
      return;
    }
    const dpr = this._dpr;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this._canvas.width, this._canvas.height);
    if (!this._info) {
      return;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const s = this._scale;
    for (const piece of this._frame?.pieces ?? []) {
      const dx = this._ox + (piece.x0 - 0.5) * s;
      const dy = this._oy - (piece.y0 + piece.h - 0.5) * s;
      const dw = piece.w * s;
      const dh = piece.h * s;
      // magnified: nearest neighbour; reduced: smooth
      ctx.imageSmoothingEnabled = dw * dpr < piece.bitmap.width;
      ctx.imageSmoothingQuality = 'high';
      ctx.drawImage(piece.bitmap, dx, dy, dw, dh);
    }
    this._drawSources(ctx);
  }

  private _drawSources(ctx: CanvasRenderingContext2D): void {
    const src = this._sources;
    if (!src) {
      return;
    }
    const style = getComputedStyle(this.node);
    const colour =
      style.getPropertyValue('--lsstbox-image-source-color').trim() || '#0f0';
    const highlight =
      style.getPropertyValue('--lsstbox-image-selected-color').trim() || '#f80';
    const halo =
      style.getPropertyValue('--lsstbox-image-source-halo').trim() ||
      'rgba(0, 0, 0, 0.6)';
    const r = SOURCE_RADIUS_PX;
    const { x, y } = src;
    const all = this._circles(null, r);
    const few = all.shown <= FEW_SOURCES;
    // few: a halo under the circles keeps them visible on any colormap;
    // many: hairlines, an order of magnitude faster to rasterize
    strokeCircles(ctx, all.path, few ? halo : null, 3.5, colour, few ? 1.5 : 1);
    if (this._highlighted.length) {
      // rows selected in a linked plot: thicker, on top of the others
      const chosen =
        style.getPropertyValue('--lsstbox-image-highlight-color').trim() ||
        '#ff4081';
      const { path } = this._circles(this._highlighted, r + 1);
      strokeCircles(ctx, path, few ? halo : null, 5, chosen, few ? 2.5 : 2);
    }
    const i = this._selected;
    if (i >= 0 && i < x.length && Number.isFinite(x[i] + y[i])) {
      const sx = this._ox + x[i] * this._scale;
      const sy = this._oy - y[i] * this._scale;
      ctx.beginPath();
      ctx.arc(sx, sy, r + 3, 0, 2 * Math.PI);
      ctx.lineWidth = 3;
      ctx.strokeStyle = highlight;
      ctx.stroke();
    }
  }

  /**
   * Circles of radius `r` (CSS px) around the sources at `indices` (every
   * source: null) that are on the canvas, and how many.
   */
  private _circles(
    indices: ArrayLike<number> | null,
    r: number
  ): { path: Path2D; shown: number } {
    const path = new Path2D();
    const src = this._sources;
    if (!src) {
      return { path, shown: 0 };
    }
    const { x, y } = src;
    const W = this._cssW;
    const H = this._cssH;
    const n = indices ? indices.length : x.length;
    let shown = 0;
    for (let k = 0; k < n; k++) {
      const i = indices ? indices[k] : k;
      const sx = this._ox + x[i] * this._scale;
      const sy = this._oy - y[i] * this._scale;
      if (!(sx > -r && sx < W + r && sy > -r && sy < H + r)) {
        continue; // off the canvas, or NaN
      }
      path.moveTo(sx + r, sy);
      path.arc(sx, sy, r, 0, 2 * Math.PI);
      shown++;
    }
    return { path, shown };
  }

  /** The highlighted sources, and the canvas's `data-highlighted` (tests). */
  private _setHighlighted(indices: Int32Array): void {
    this._highlighted = indices;
    if (indices.length) {
      this._canvas.dataset.highlighted = String(indices.length);
    } else {
      delete this._canvas.dataset.highlighted;
    }
  }

  /** The source nearest a canvas point within the pick radius (-1: none). */
  private _pick(sx: number, sy: number): number {
    const src = this._sources;
    if (!src) {
      return -1;
    }
    const px = (sx - this._ox) / this._scale;
    const py = (this._oy - sy) / this._scale;
    const r = PICK_RADIUS_PX / this._scale;
    let best = -1;
    let bestD = r * r;
    const { x, y } = src;
    for (let i = 0; i < x.length; i++) {
      const dx = x[i] - px;
      const dy = y[i] - py;
      const d = dx * dx + dy * dy;
      if (d <= bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }

  // -- status bar ---------------------------------------------------------------

  private _clearStatus(): void {
    for (const f of [
      this._posField,
      this._valueField,
      this._radecField,
      this._sexaField,
      this._maskField
    ]) {
      f.textContent = '';
    }
    const d = this._status.dataset;
    delete d.ix;
    delete d.iy;
    delete d.ra;
    delete d.dec;
    delete d.value;
    this._hoverPixel = null;
    this._shownPixel = '';
  }

  private _hover(sx: number, sy: number): void {
    const info = this._info;
    if (!info) {
      return;
    }
    const [x, y] = this.canvasToPixel(sx, sy);
    const ix = Math.floor(x + 0.5);
    const iy = Math.floor(y + 0.5);
    if (ix < 0 || iy < 0 || ix >= info.width || iy >= info.height) {
      this._clearStatus();
      return;
    }
    if (
      this._hoverPixel &&
      this._hoverPixel[0] === ix &&
      this._hoverPixel[1] === iy
    ) {
      return;
    }
    this._hoverPixel = [ix, iy];
    this._posField.textContent = `x ${ix}  y ${iy}`;
    if (this._pixelTimer) {
      return; // a request is scheduled: it takes the latest position
    }
    const wait = Math.max(
      0,
      this._lastPixelAt + PIXEL_THROTTLE_MS - performance.now()
    );
    this._pixelTimer = window.setTimeout(() => {
      this._pixelTimer = 0;
      void this._fetchPixel();
    }, wait);
  }

  private async _fetchPixel(): Promise<void> {
    const target = this._hoverPixel;
    if (!target || !this._info) {
      return;
    }
    const key = `${this._src}|${target[0]}|${target[1]}`;
    if (key === this._shownPixel) {
      return;
    }
    this._lastPixelAt = performance.now();
    this._pixelAbort?.abort();
    const ctrl = new AbortController();
    this._pixelAbort = ctrl;
    try {
      const p = await imageJSON<IPixelInfo>(
        'pixel',
        { src: this._src, x: String(target[0]), y: String(target[1]) },
        { signal: ctrl.signal },
        this._settings
      );
      if (ctrl.signal.aborted || this.isDisposed) {
        return;
      }
      this._shownPixel = key;
      this._showPixel(p);
    } catch (error) {
      if (!ctrl.signal.aborted && !this.isDisposed) {
        this._valueField.textContent = messageOf(error);
      }
    }
  }

  private _showPixel(p: IPixelInfo): void {
    const d = this._status.dataset;
    d.ix = String(p.ix);
    d.iy = String(p.iy);
    this._posField.textContent = `x ${p.ix}  y ${p.iy}`;
    const unit = this._info?.bunit ? ` ${this._info.bunit}` : '';
    if (p.value === null || p.value === undefined) {
      this._valueField.textContent = p.inside ? 'NaN' : '';
      delete d.value;
    } else {
      this._valueField.textContent = `${formatValue(p.value)}${unit}`;
      d.value = String(p.value);
    }
    if (
      typeof p.ra === 'number' &&
      typeof p.dec === 'number' &&
      Number.isFinite(p.ra + p.dec)
    ) {
      d.ra = String(p.ra);
      d.dec = String(p.dec);
      this._radecField.textContent = `RA ${p.ra.toFixed(6)}\u00b0  Dec ${p.dec.toFixed(6)}\u00b0`;
      this._sexaField.textContent = `${formatRA(p.ra)}  ${formatDec(p.dec)}`;
    } else {
      delete d.ra;
      delete d.dec;
      this._radecField.textContent = this._info?.wcs ? '' : 'no WCS';
      this._sexaField.textContent = '';
    }
    this._maskField.textContent = (p.mask_names ?? []).join(' ');
  }

  // -- events -------------------------------------------------------------------

  private _point(event: MouseEvent): [number, number] {
    const rect = this._canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  private _onPointerDown = (event: PointerEvent): void => {
    if (event.button !== 0 || !this._info) {
      return;
    }
    this._canvas.focus({ preventScroll: true });
    this._canvas.setPointerCapture(event.pointerId);
    this._drag = {
      pointerId: event.pointerId,
      startX: event.clientX,
      startY: event.clientY,
      ox: this._ox,
      oy: this._oy,
      moved: false
    };
    event.preventDefault();
  };

  private _onPointerMove = (event: PointerEvent): void => {
    const drag = this._drag;
    if (drag && drag.pointerId === event.pointerId) {
      const dx = event.clientX - drag.startX;
      const dy = event.clientY - drag.startY;
      if (!drag.moved && Math.hypot(dx, dy) >= CLICK_SLOP_PX) {
        drag.moved = true;
        this._canvas.classList.add('lsstbox-mod-dragging');
      }
      if (drag.moved) {
        this._fitted = false;
        this._setView(this._scale, drag.ox + dx, drag.oy + dy);
      }
    }
    const [sx, sy] = this._point(event);
    this._hover(sx, sy);
  };

  private _onPointerUp = (event: PointerEvent): void => {
    const drag = this._drag;
    if (!drag || drag.pointerId !== event.pointerId) {
      return;
    }
    this._drag = null;
    this._canvas.classList.remove('lsstbox-mod-dragging');
    if (this._canvas.hasPointerCapture(event.pointerId)) {
      this._canvas.releasePointerCapture(event.pointerId);
    }
    if (!drag.moved && event.type === 'pointerup' && this._sources) {
      const [sx, sy] = this._point(event);
      this.selectSource(this._pick(sx, sy));
    }
  };

  private _onPointerLeave = (): void => {
    if (!this._drag) {
      this._clearStatus();
    }
  };

  private _onWheel = (event: WheelEvent): void => {
    if (!this._info) {
      return;
    }
    event.preventDefault();
    const unit =
      event.deltaMode === 1 ? 33 : event.deltaMode === 2 ? this._cssH : 1;
    const delta = Math.max(-500, Math.min(500, event.deltaY * unit));
    const [sx, sy] = this._point(event);
    this.zoomBy(Math.exp(-delta * 0.002), sx, sy);
    this._hover(sx, sy);
  };

  private _onKeyDown = (event: KeyboardEvent): void => {
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    const step = 60;
    const actions: Record<string, () => void> = {
      '+': () => this.zoomBy(1.5),
      '=': () => this.zoomBy(1.5),
      '-': () => this.zoomBy(1 / 1.5),
      '0': () => this.fit(),
      ArrowLeft: () => this._panBy(step, 0),
      ArrowRight: () => this._panBy(-step, 0),
      ArrowUp: () => this._panBy(0, step),
      ArrowDown: () => this._panBy(0, -step)
    };
    const action = actions[event.key];
    if (action && this._info) {
      event.preventDefault();
      event.stopPropagation();
      action();
    }
  };

  private _panBy(dx: number, dy: number): void {
    this._fitted = false;
    this._setView(this._scale, this._ox + dx, this._oy + dy);
  }

  private _onResetLimits(): void {
    const info = this._info;
    if (info) {
      this.setDisplay({ vmin: info.limits.vmin, vmax: info.limits.vmax });
    }
  }

  // -- controls -------------------------------------------------------------------

  private _button(
    text: string,
    title: string,
    name: string,
    onClick: () => void
  ): HTMLButtonElement {
    const b = el(
      'button',
      {
        type: 'button',
        class: 'lsstbox-ImageViewer-button',
        title,
        'aria-label': title,
        'data-testid': `lsstbox-image-${name}`
      },
      text
    );
    b.addEventListener('click', onClick);
    return b;
  }

  private _limitInput(name: 'vmin' | 'vmax', title: string): HTMLInputElement {
    const input = el('input', {
      type: 'text',
      inputmode: 'decimal',
      class: 'lsstbox-ImageViewer-limit',
      'data-testid': `lsstbox-image-${name}`,
      title,
      size: '9'
    });
    const apply = () => {
      const text = input.value.trim();
      const value = text === '' ? null : Number(text);
      if (value !== null && !Number.isFinite(value)) {
        input.classList.add('lsstbox-mod-invalid');
        this._showNotice(`${name}: ${text} is not a number`);
        return;
      }
      input.classList.remove('lsstbox-mod-invalid');
      if (value !== this._display[name]) {
        this.setDisplay({ [name]: value });
      }
    };
    input.addEventListener('change', apply);
    input.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        apply();
      }
    });
    return input;
  }

  private _fillSelect(
    select: HTMLSelectElement,
    values: string[],
    current: string
  ): void {
    select.replaceChildren(
      ...values.map(v =>
        el('option', { value: v }, v.replace(/_r$/, ' (reversed)'))
      )
    );
    select.value = values.includes(current) ? current : values[0];
  }

  private _syncControls(): void {
    const d = this._display;
    const ready = this._state === 'ready';
    this._stretchSelect.value = d.stretch;
    this._cmapSelect.value = d.cmap;
    const zscale = d.stretch === 'zscale';
    if (!zscale || !ready) {
      this._vminInput.value = d.vmin === null ? '' : formatLimit(d.vmin);
      this._vmaxInput.value = d.vmax === null ? '' : formatLimit(d.vmax);
    }
    this._vminInput.classList.remove('lsstbox-mod-invalid');
    this._vmaxInput.classList.remove('lsstbox-mod-invalid');
    for (const control of [
      this._zoomIn,
      this._zoomOut,
      this._fitButton,
      this._oneButton,
      this._stretchSelect,
      this._cmapSelect
    ]) {
      control.disabled = !ready;
    }
    this._vminInput.disabled = !ready || zscale;
    this._vmaxInput.disabled = !ready || zscale;
    this._resetLimits.disabled = !ready || zscale;
    for (const box of this._masksBox.querySelectorAll('input')) {
      box.checked = d.masks.includes(box.dataset.plane ?? '');
      box.disabled = !ready;
    }
  }

  private _setState(state: ViewerState, message: string): void {
    this._state = state;
    this._error = state === 'error' ? message : '';
    this.node.dataset.state = state;
    this._message.textContent = '';
    this._message.hidden = state === 'ready';
    this._message.className = `lsstbox-ImageViewer-message lsstbox-mod-${state}`;
    if (state === 'error') {
      this._message.setAttribute('role', 'alert');
      this._message.append(
        el(
          'div',
          { class: 'lsstbox-ImageViewer-errorTitle' },
          'Cannot show this image'
        ),
        el(
          'div',
          {
            class: 'lsstbox-ImageViewer-errorText',
            'data-testid': 'lsstbox-image-error'
          },
          message
        ),
        el('div', { class: 'lsstbox-ImageViewer-errorSrc' }, this._src)
      );
    } else {
      this._message.removeAttribute('role');
      this._message.textContent = message;
    }
    this._syncControls();
    this._scheduleDraw();
  }

  private _showNotice(text: string): void {
    this._notice.textContent = text;
    this._notice.hidden = false;
  }

  private _hideNotice(): void {
    this._notice.hidden = true;
    this._notice.textContent = '';
  }

  private _settings: ServerConnection.ISettings;
  private _options: IImageOptions = FALLBACK_OPTIONS;
  private _src = '';
  private _info: IImageInfo | null = null;
  private _state: ViewerState = 'loading';
  private _error = '';
  private _ready: Promise<IImageInfo> = Promise.resolve({} as IImageInfo);
  private _display: IDisplaySettings;
  private _infoChanged = new Signal<this, IImageInfo | null>(this);
  private _sourceSelected = new Signal<this, ISourceSelection | null>(this);
  private _toolbar: HTMLElement;
  private _viewChanged = new Signal<this, void>(this);

  private _scale = 1;
  private _ox = 0;
  private _oy = 0;
  private _fitted = true;
  private _cssW = 0;
  private _cssH = 0;
  private _dpr = 1;

  private _frame: IFrame | null = null;
  private _frameCount = 0;
  private _pendingKey = '';
  private _tileTimer = 0;
  private _drawFrame = 0;
  private _infoAbort: AbortController | null = null;
  private _tileAbort: AbortController | null = null;
  private _pixelAbort: AbortController | null = null;
  private _pixelTimer = 0;
  private _lastPixelAt = 0;
  private _hoverPixel: [number, number] | null = null;
  private _shownPixel = '';
  private _drag: IDrag | null = null;
  private _sources: ISources | null = null;
  private _sourcesSeq = 0;
  private _selected = -1;
  private _highlighted: Int32Array = new Int32Array(0);

  private _ctx: CanvasRenderingContext2D | null;
  private _canvas: HTMLCanvasElement;
  private _stage: HTMLDivElement;
  private _message: HTMLDivElement;
  private _notice: HTMLDivElement;
  private _status: HTMLDivElement;
  private _posField: HTMLSpanElement;
  private _valueField: HTMLSpanElement;
  private _radecField: HTMLSpanElement;
  private _sexaField: HTMLSpanElement;
  private _maskField: HTMLSpanElement;
  private _sourceField: HTMLSpanElement;
  private _infoField: HTMLSpanElement;
  private _zoomIn: HTMLButtonElement;
  private _zoomOut: HTMLButtonElement;
  private _fitButton: HTMLButtonElement;
  private _oneButton: HTMLButtonElement;
  private _stretchSelect: HTMLSelectElement;
  private _cmapSelect: HTMLSelectElement;
  private _vminInput: HTMLInputElement;
  private _vmaxInput: HTMLInputElement;
  private _resetLimits: HTMLButtonElement;
  private _masksBox: HTMLSpanElement;
  private _resizeObserver: ResizeObserver;
}

export namespace ImageViewer {
  export interface IOptions {
    /** `file:<path under the Jupyter root>`, `did:<obs_publisher_did>` or `butler:<uuid>`. */
    src: string;
    serverSettings?: ServerConnection.ISettings;
    /**
     * The initial stretch, colormap and mask planes (the defaults of the
     * settings); planes the image lacks are dropped when it loads.
     */
    display?: Partial<Pick<IDisplaySettings, 'stretch' | 'cmap' | 'masks'>>;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
