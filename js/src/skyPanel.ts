/**
 * The HiPS sky panel (main area): Aladin Lite v3 over the release's HiPS
 * maps, with MOC and ObsCore footprint overlays, catalogs from notebook
 * variables (through the kernel link) and from TAP query results, circle and
 * box selections assigned to a notebook variable, object details on click,
 * "open image here" and views that follow each other.
 *
 * Aladin Lite is not bundled into the lab extension: the panel loads
 * `lsstbox/static/skycore.js` from the Jupyter server, the same core (and the
 * same Aladin build) as the SkyView notebook widget, once, when the first
 * panel opens.  It contacts nothing but the Jupyter server.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { PromiseDelegate, ReadonlyJSONObject } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { button, h, messageOf } from './dom';
import { ILinkMessage, ILinkPayload } from './link';
import { LinkBar } from './linkBar';
import {
  footprintBuffers,
  parseRaDec,
  parseSRegion,
  Polygon,
  positionColumns
} from './skyModel';
import { isPythonIdentifier } from './snippets';
import { TapClient } from './tap';

/** The sky view a panel shows (and is restored to). */
export interface ISkyState {
  survey: string;
  ra: number;
  dec: number;
  fov: number;
}

/** What `skycore.js` exports (see js/widgets/src/skycore.js). */
export interface ISkyCore {
  aladin: unknown;
  layers: Map<string, { kind: string; n: number; drawn: boolean }>;
  handle(msg: object, buffers: (DataView | ArrayBuffer)[]): void;
  setTarget(ra: number, dec: number): void;
  setFov(fov: number): void;
  setSurvey(id: string): void;
  getView(): ISkyState;
  startSelection(mode: 'rect' | 'circle'): void;
  clearSelection(): void;
  link(enabled: boolean, group?: string): void;
  readonly linked: boolean;
  destroy(): void;
}

interface IHips {
  id: string;
  title: string;
  band: string;
}

interface IMocInfo {
  id: string;
  title: string;
  kind: string;
}

export interface ISkyCoreModule {
  createSky(
    container: HTMLElement,
    options: {
      base: string;
      survey: string;
      target: [number, number];
      fov: number;
      send: (msg: ILinkMessage) => void;
      status?: (text: string) => void;
      testTarget?: HTMLElement;
    }
  ): Promise<ISkyCore>;
  listSurveys(base: string): Promise<IHips[]>;
}

let corePromise: Promise<ISkyCoreModule> | null = null;

/** Load the sky core from the server (once). */
export function loadSkyCore(baseUrl: string): Promise<ISkyCoreModule> {
  if (!corePromise) {
    const url = new URL(
      URLExt.join(baseUrl, 'lsstbox/static/skycore.js'),
      window.location.href
    ).href;
    corePromise = import(
      /* webpackIgnore: true */ url
    ) as Promise<ISkyCoreModule>;
    corePromise.catch(() => {
      corePromise = null;
    });
  }
  return corePromise;
}

/** Where a layer's rows came from. */
type LayerSource =
  | { kind: 'variable'; name: string }
  | { kind: 'job'; jobId: string; jobUrl: string; idColumn: number }
  | { kind: 'footprints'; dids: string[]; bands: string[]; subtype: string }
  | { kind: 'moc'; id: string };

const COLOURS = [
  '#00e5ff',
  '#ffd600',
  '#ff4081',
  '#76ff03',
  '#ff9100',
  '#e040fb'
];
const MAX_JOB_ROWS = 100_000;

export namespace SkyPanel {
  export interface IOptions {
    serverSettings: ServerConnection.ISettings;
    tracker: INotebookTracker;
    commands: {
      execute(id: string, args?: ReadonlyJSONObject): Promise<unknown>;
    };
    client: TapClient;
    state: Partial<ISkyState>;
    /** A stable id (restored panels keep theirs). */
    id?: string;
  }
}

let panelCounter = 0;

export class SkyPanel extends Widget {
  constructor(options: SkyPanel.IOptions) {
    super();
    this._options = options;
    this.id =
      options.id ?? `lsstbox-sky-${Date.now().toString(36)}-${++panelCounter}`;
    this.addClass('lsstbox-SkyPanel');
    this.node.dataset.testid = 'lsstbox-sky-panel';
    this.node.dataset.state = 'loading';
    this.title.label = 'Sky';
    this.title.caption = 'HiPS sky panel';
    this.title.closable = true;
    this._state = {
      survey: options.state.survey ?? '',
      ra: options.state.ra ?? NaN,
      dec: options.state.dec ?? NaN,
      fov: options.state.fov ?? 0.25
    };

    this._survey = h('select', {
      class: 'lsstbox-SkyPanel-survey',
      title: 'HiPS map of the release',
      'data-testid': 'lsstbox-sky-survey'
    });
    this._survey.addEventListener('change', () => {
      this._core?.setSurvey(this._survey.value);
      this._state.survey = this._survey.value;
      this._changed.emit(this.state);
    });
    this._overlay = h('select', {
      class: 'lsstbox-SkyPanel-overlay',
      title: 'Add a MOC or the footprints of an image collection',
      'data-testid': 'lsstbox-sky-overlay'
    });
    this._overlay.addEventListener('change', () => {
      const value = this._overlay.value;
      this._overlay.value = '';
      void this._addOverlay(value);
    });
    this._goto = h('input', {
      class: 'lsstbox-SkyPanel-goto jp-mod-styled',
      type: 'text',
      placeholder: 'RA, Dec (deg)',
      title: 'Go to a position: RA, Dec in degrees, then Enter',
      'data-testid': 'lsstbox-sky-goto'
    });
    this._goto.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        const pos = parseRaDec(this._goto.value);
        if (!pos) {
          this._notice('Type RA, Dec in degrees, e.g. 62.1, -37.0', 'error');
          return;
        }
        this._core?.setTarget(pos[0], pos[1]);
      }
    });
    this._target = h('input', {
      class: 'lsstbox-SkyPanel-target jp-mod-styled',
      type: 'text',
      value: 'sky_selection',
      spellcheck: 'false',
      title: 'The notebook variable a selection is assigned to',
      'data-testid': 'lsstbox-sky-target'
    });
    this._linkViews = h('input', {
      type: 'checkbox',
      'data-testid': 'lsstbox-sky-link-views'
    });
    this._linkViews.addEventListener('change', () =>
      this._core?.link(this._linkViews.checked)
    );

    const toolbar = h(
      'div',
      { class: 'lsstbox-SkyPanel-toolbar', role: 'toolbar' },
      this._survey,
      this._overlay,
      this._goto,
      button(
        '▭ Select',
        {
          title: 'Select in a box (drag in the view)',
          'data-testid': 'lsstbox-sky-select-rect'
        },
        () => this.startSelection('rect')
      ),
      button(
        '◯ Select',
        {
          title: 'Select in a circle (drag from its centre)',
          'data-testid': 'lsstbox-sky-select-circle'
        },
        () => this.startSelection('circle')
      ),
      h('label', { class: 'lsstbox-SkyPanel-label' }, '→', this._target),
      button(
        'Open image here',
        {
          title:
            'Open the deep coadd under the centre of the view in the image viewer',
          'data-testid': 'lsstbox-sky-open-image'
        },
        () => void this.openImageHere()
      ),
      h(
        'label',
        {
          class: 'lsstbox-SkyPanel-label',
          title:
            'Follow the other linked sky panels, SkyView widgets and image viewers'
        },
        this._linkViews,
        'Link views'
      )
    );

    this._linkBar = new LinkBar({
      tracker: options.tracker,
      panelId: this.id,
      acceptBroadcast: true,
      onPayload: p => this._onKernel(p),
      onNotice: (text, kind) => this._notice(text, kind),
      drawOptions: () => ({ color: this._colour() })
    });
    const linkRow = h(
      'div',
      { class: 'lsstbox-SkyPanel-toolbar lsstbox-SkyPanel-linkrow' },
      this._linkBar.node
    );

    this._aladin = h('div', {
      class: 'lsstbox-SkyPanel-aladin',
      'data-testid': 'lsstbox-sky-aladin'
    });
    this._layerList = h('ul', {
      class: 'lsstbox-SkyPanel-layers',
      'data-testid': 'lsstbox-sky-layers',
      'aria-label': 'Layers'
    });
    this._details = h('div', {
      class: 'lsstbox-SkyPanel-details',
      'data-testid': 'lsstbox-sky-details'
    });
    const side = h(
      'div',
      { class: 'lsstbox-SkyPanel-side' },
      h('div', { class: 'lsstbox-SkyPanel-heading' }, 'Layers'),
      this._layerList,
      h('div', { class: 'lsstbox-SkyPanel-heading' }, 'Details'),
      this._details
    );
    this._message = h('div', {
      class: 'lsstbox-SkyPanel-message',
      role: 'status',
      'data-testid': 'lsstbox-sky-message'
    });
    this.node.append(
      toolbar,
      linkRow,
      h('div', { class: 'lsstbox-SkyPanel-body' }, this._aladin, side),
      this._message
    );
    this._ready.promise.catch(() => undefined); // shown in the panel
    void this._start();
  }

  /** The current view (for layout restoration). */
  get state(): ISkyState {
    return this._core ? this._core.getView() : { ...this._state };
  }

  /** Emitted when the survey or the view changes. */
  get stateChanged(): ISignal<this, ISkyState> {
    return this._changed;
  }

  /** Resolves when Aladin is up (rejects if it could not start). */
  get ready(): Promise<void> {
    return this._ready.promise;
  }

  startSelection(mode: 'rect' | 'circle'): void {
    if (!this._core) {
      return;
    }
    this._core.startSelection(mode);
    this._notice(
      mode === 'circle'
        ? 'Drag from the centre of the circle to select'
        : 'Drag a box to select',
      'info'
    );
  }

  /** Draw the result of TAP job `jobId` (its RA/Dec columns). */
  async showJob(jobId: string): Promise<void> {
    await this.ready;
    const client = this._options.client;
    try {
      let page = await client.resultPage(jobId, { offset: 0, limit: 10_000 });
      const cols = positionColumns(page.columns);
      if (cols.ra < 0 || cols.dec < 0) {
        throw new Error(
          `job ${jobId} has no RA/Dec columns (columns: ${page.columns.map(c => c.name).join(', ')})`
        );
      }
      const total = Math.min(page.total, MAX_JOB_ROWS);
      const ra = new Float64Array(total);
      const dec = new Float64Array(total);
      let n = 0;
      for (;;) {
        for (const row of page.rows) {
          if (n >= total) {
            break;
          }
          ra[n] = Number(row[cols.ra] ?? NaN);
          dec[n] = Number(row[cols.dec] ?? NaN);
          n += 1;
        }
        if (n >= total || page.rows.length === 0) {
          break;
        }
        page = await client.resultPage(jobId, { offset: n, limit: 10_000 });
      }
      const layer = `job ${jobId}`;
      this._layers.set(layer, {
        kind: 'job',
        jobId,
        jobUrl: client.jobUrl(jobId),
        idColumn: cols.id
      });
      this._core?.handle(
        {
          type: 'add_catalog',
          layer,
          n,
          color: this._colour(),
          size: 8,
          shape: 'square',
          coords: 'f64'
        },
        [ra.buffer, dec.buffer]
      );
      this._notice(
        `${layer}: ${n.toLocaleString('en-US')} rows drawn` +
          (page.total > MAX_JOB_ROWS
            ? ` (the first ${MAX_JOB_ROWS.toLocaleString('en-US')} of ${page.total.toLocaleString('en-US')})`
            : ''),
        'info'
      );
      this._renderLayers();
    } catch (error) {
      this._notice(messageOf(error), 'error');
    }
  }

  /** Open the deep coadd (in the band shown, if any) under the view's centre. */
  async openImageHere(): Promise<void> {
    if (!this._core) {
      return;
    }
    const { ra, dec } = this._core.getView();
    const band = this._hips.find(s => s.id === this._survey.value)?.band ?? '';
    try {
      const rows = await this._options.client.syncCsv(
        'SELECT obs_publisher_did, lsst_band, dataproduct_subtype FROM ivoa.ObsCore ' +
          `WHERE CONTAINS(POINT('ICRS', ${ra.toFixed(8)}, ${dec.toFixed(8)}), s_region) = 1 ` +
          "AND dataproduct_subtype = 'lsst.deep_coadd'",
        1000
      );
      const [header, ...body] = rows;
      const iDid = header?.indexOf('obs_publisher_did') ?? -1;
      const iBand = header?.indexOf('lsst_band') ?? -1;
      if (iDid < 0 || body.length === 0) {
        this._notice(
          `No deep coadd covers RA ${ra.toFixed(5)}, Dec ${dec.toFixed(5)}`,
          'error'
        );
        return;
      }
      const pick = body.find(r => r[iBand] === band) ?? body[0];
      await this._options.commands.execute('lsstbox:open-image', {
        src: `did:${pick[iDid]}`,
        ra,
        dec
      });
    } catch (error) {
      this._notice(messageOf(error), 'error');
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._linkBar.dispose();
    this._core?.destroy();
    this._core = null;
    super.dispose();
  }

  private async _start(): Promise<void> {
    const base = this._baseUrl();
    try {
      const mod = await loadSkyCore(this._options.serverSettings.baseUrl);
      const [hips, mocs] = await Promise.all([
        mod.listSurveys(base),
        this._json<IMocInfo[]>('lsstbox/moc/').catch(() => [] as IMocInfo[])
      ]);
      this._hips = hips;
      if (!hips.length) {
        throw new Error('The release has no HiPS maps');
      }
      const survey =
        hips.find(s => s.id === this._state.survey)?.id ??
        hips.find(s => s.id === 'color')?.id ??
        hips[0].id;
      this._survey.replaceChildren(
        ...hips.map(s => h('option', { value: s.id, title: s.title }, s.id))
      );
      this._survey.value = survey;
      this._fillOverlays(mocs);
      let { ra, dec } = this._state;
      if (!Number.isFinite(ra) || !Number.isFinite(dec)) {
        const rel = await this._json<{ field?: { ra: number; dec: number } }>(
          'lsstbox/api/release'
        ).catch(() => ({}) as { field?: { ra: number; dec: number } });
        ra = rel.field?.ra ?? 0;
        dec = rel.field?.dec ?? 0;
      }
      await new Promise(r => requestAnimationFrame(r));
      this._core = await mod.createSky(this._aladin, {
        base,
        survey,
        target: [ra, dec],
        fov: this._state.fov,
        send: msg => this._onCore(msg),
        testTarget: this.node
      });
      if (this.isDisposed) {
        this._core.destroy();
        return;
      }
      // for the browser console and UI tests: $0.lsstboxSky.aladin
      (this.node as HTMLElement & { lsstboxSky?: ISkyCore }).lsstboxSky =
        this._core;
      this.node.dataset.state = 'ready';
      this._ready.resolve();
    } catch (error) {
      this.node.dataset.state = 'error';
      this._notice(
        `The sky panel could not start: ${messageOf(error)}`,
        'error'
      );
      this._ready.reject(error);
    }
  }

  private _baseUrl(): string {
    const url = new URL(
      this._options.serverSettings.baseUrl,
      window.location.href
    ).href;
    return url.endsWith('/') ? url : `${url}/`;
  }

  private async _json<T>(path: string): Promise<T> {
    const settings = this._options.serverSettings;
    const response = await ServerConnection.makeRequest(
      URLExt.join(settings.baseUrl, path),
      {},
      settings
    );
    if (!response.ok) {
      throw new Error(`${path}: ${response.status} ${response.statusText}`);
    }
    return (await response.json()) as T;
  }

  private _fillOverlays(mocs: IMocInfo[]): void {
    const opt = (value: string, label: string) => h('option', { value }, label);
    this._overlay.replaceChildren(
      opt('', 'Add overlay…'),
      opt('footprints:lsst.deep_coadd', 'Footprints: deep coadds'),
      opt('footprints:lsst.visit_image', 'Footprints: visit images'),
      ...mocs.map(m => opt(`moc:${m.id}`, `MOC: ${m.title}`))
    );
    this._overlay.value = '';
  }

  private async _addOverlay(value: string): Promise<void> {
    if (!this._core || !value) {
      return;
    }
    if (value.startsWith('moc:')) {
      const id = value.slice(4);
      const layer = `MOC ${id}`;
      this._layers.set(layer, { kind: 'moc', id });
      this._core.handle(
        {
          type: 'add_moc',
          layer,
          source: 'ref',
          ref: id,
          color: this._colour(),
          opacity: 0.3,
          line_width: 1,
          fill: true
        },
        []
      );
      this._renderLayers();
      return;
    }
    const subtype = value.slice('footprints:'.length);
    try {
      const rows = await this._options.client.syncCsv(
        'SELECT obs_publisher_did, lsst_band, s_region FROM ivoa.ObsCore ' +
          `WHERE dataproduct_subtype = '${subtype.replace(/'/g, "''")}'`,
        10_000
      );
      const [header, ...body] = rows;
      const [iDid, iBand, iReg] = [
        'obs_publisher_did',
        'lsst_band',
        's_region'
      ].map(c => header.indexOf(c));
      const polygons: Polygon[] = [];
      const dids: string[] = [];
      const bands: string[] = [];
      for (const r of body) {
        const p = parseSRegion(r[iReg]);
        if (p) {
          polygons.push(p);
          dids.push(r[iDid]);
          bands.push(r[iBand] ?? '');
        }
      }
      const layer = `footprints ${subtype.replace(/^lsst\./, '')}`;
      this._layers.set(layer, { kind: 'footprints', dids, bands, subtype });
      const { coords, offsets } = footprintBuffers(polygons);
      this._core.handle(
        {
          type: 'add_footprints',
          layer,
          color: this._colour(),
          line_width: 1
        },
        [coords.buffer, offsets.buffer]
      );
      this._renderLayers();
    } catch (error) {
      this._notice(messageOf(error), 'error');
    }
  }

  private _colour(): string {
    return COLOURS[this._colourIndex++ % COLOURS.length];
  }

  /** Messages from the kernel link for this panel. */
  private _onKernel({ msg, buffers }: ILinkPayload): void {
    if (!this._core) {
      return;
    }
    if (msg.type === 'add_catalog' && typeof msg.layer === 'string') {
      const source = msg.source as { name?: string } | undefined;
      this._layers.set(msg.layer, {
        kind: 'variable',
        name: source?.name ?? msg.layer
      });
      this._core.handle(msg, buffers);
      this._renderLayers();
    } else if (msg.type === 'remove_layer' && typeof msg.layer === 'string') {
      this._core.handle(msg, []);
      this._layers.delete(msg.layer);
      this._renderLayers();
    } else if (msg.type === 'select_rows' && typeof msg.layer === 'string') {
      // rows selected in another view of the same table (a linked plot)
      if (this._layers.has(msg.layer)) {
        this._core.handle(msg, []);
        if (msg.message) {
          this._notice(String(msg.message), 'info');
        }
      }
    } else if (msg.type === 'notice') {
      this._notice(String(msg.message ?? ''), 'info');
    }
  }

  /** Events from the Aladin core. */
  private _onCore(msg: ILinkMessage): void {
    switch (msg.type) {
      case 'selection':
        void this._onSelection(msg);
        break;
      case 'clicked':
        void this._onClicked(msg);
        break;
      case 'error':
        this._notice(String(msg.message ?? 'error'), 'error');
        break;
      case 'view':
        this._changed.emit(this.state);
        break;
      case 'drawn':
        this._renderLayers();
        break;
    }
  }

  private async _onSelection(msg: ILinkMessage): Promise<void> {
    const indices = (msg.indices ?? {}) as Record<string, number[]>;
    const target = this._target.value.trim() || 'sky_selection';
    const counts = Object.entries(indices)
      .filter(([, rows]) => rows.length)
      .map(([layer, rows]) => `${rows.length} in ${layer}`);
    const forKernel: Record<string, number[]> = {};
    const jobs: Record<string, string> = {};
    for (const [layer, rows] of Object.entries(indices)) {
      const source = this._layers.get(layer);
      if (source?.kind === 'variable') {
        forKernel[layer] = rows;
      } else if (source?.kind === 'job') {
        forKernel[layer] = rows;
        jobs[layer] = source.jobUrl;
      }
    }
    if (!Object.keys(forKernel).length) {
      this._notice(`Selected: ${counts.join(', ') || 'nothing'}`, 'info');
      return;
    }
    if (!isPythonIdentifier(target)) {
      this._notice(`${target} is not a Python variable name`, 'error');
      return;
    }
    try {
      const { msg: reply } = await this._linkBar.request({
        type: 'selection',
        region: msg.region,
        indices: forKernel,
        jobs,
        target
      });
      const rows = Number(reply.rows ?? 0);
      this.node.dataset.assigned = `${target}:${rows}`;
      // variables a linked view (a plot) assigned from the same selection
      const also = Array.isArray(reply.also) ? reply.also.map(String) : [];
      this._notice(
        `${target} ← ${rows.toLocaleString('en-US')} selected rows (${counts.join(', ')})` +
          (also.length ? `; also ${also.join(', ')}` : ''),
        'info'
      );
    } catch (error) {
      this._notice(messageOf(error), 'error');
    }
  }

  private async _onClicked(msg: ILinkMessage): Promise<void> {
    const layer = String(msg.layer ?? '');
    const index = Number(msg.index);
    const source = this._layers.get(layer);
    if (!source || !Number.isInteger(index)) {
      return;
    }
    try {
      if (source.kind === 'variable') {
        const { msg: reply } = await this._linkBar.request({
          type: 'row',
          layer,
          index
        });
        this._showDetails(
          `${source.name} row ${index}`,
          (reply.row ?? {}) as Record<string, unknown>
        );
      } else if (source.kind === 'job') {
        const page = await this._options.client.resultPage(source.jobId, {
          offset: index,
          limit: 1
        });
        const row = page.rows[0] ?? [];
        this._showDetails(
          `${layer} row ${index}`,
          Object.fromEntries(page.columns.map((c, i) => [c.name, row[i]]))
        );
      } else if (source.kind === 'footprints') {
        const did = source.dids[index];
        const open = button(
          'Open image',
          { 'data-testid': 'lsstbox-sky-open-footprint' },
          () =>
            void this._options.commands.execute('lsstbox:open-image', {
              src: `did:${did}`,
              ra: Number(msg.ra),
              dec: Number(msg.dec)
            })
        );
        this._showDetails(
          `${source.subtype} ${index}`,
          { obs_publisher_did: did, band: source.bands[index] },
          open
        );
      }
    } catch (error) {
      this._notice(messageOf(error), 'error');
    }
  }

  private _showDetails(
    title: string,
    row: Record<string, unknown>,
    extra?: HTMLElement
  ): void {
    const table = h(
      'table',
      { class: 'lsstbox-SkyPanel-row' },
      ...Object.entries(row).map(([k, v]) =>
        h(
          'tr',
          {},
          h('th', {}, k),
          h('td', {}, v === null || v === undefined ? '' : String(v))
        )
      )
    );
    this._details.replaceChildren(
      h('div', { class: 'lsstbox-SkyPanel-rowtitle' }, title),
      table,
      ...(extra ? [extra] : [])
    );
  }

  private _renderLayers(): void {
    const core = this._core;
    const items: HTMLElement[] = [];
    for (const [name, l] of core ? core.layers : []) {
      const remove = button(
        '✕',
        {
          title: `Remove ${name}`,
          class: 'jp-Button lsstbox-Btn lsstbox-SkyPanel-remove'
        },
        () => {
          core?.handle({ type: 'remove_layer', layer: name }, []);
          if (this._layers.get(name)?.kind === 'variable') {
            this._linkBar.forget(name);
          }
          this._layers.delete(name);
          this._renderLayers();
        }
      );
      items.push(
        h(
          'li',
          { 'data-layer': name, 'data-drawn': String(l.drawn) },
          h('span', { class: 'lsstbox-SkyPanel-layername' }, name),
          h(
            'span',
            { class: 'lsstbox-SkyPanel-layerinfo' },
            l.kind === 'moc' ? 'MOC' : `${l.n.toLocaleString('en-US')}`
          ),
          remove
        )
      );
    }
    this._layerList.replaceChildren(...items);
  }

  private _notice(text: string, kind: 'info' | 'error'): void {
    this._message.textContent = text;
    this._message.dataset.kind = kind;
    this._message.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  }

  private _options: SkyPanel.IOptions;
  private _state: ISkyState;
  private _core: ISkyCore | null = null;
  private _hips: IHips[] = [];
  private _layers = new Map<string, LayerSource>();
  private _colourIndex = 0;
  private _survey: HTMLSelectElement;
  private _overlay: HTMLSelectElement;
  private _goto: HTMLInputElement;
  private _target: HTMLInputElement;
  private _linkViews: HTMLInputElement;
  private _linkBar: LinkBar;
  private _aladin: HTMLElement;
  private _layerList: HTMLElement;
  private _details: HTMLElement;
  private _message: HTMLElement;
  private _changed = new Signal<this, ISkyState>(this);
  private _ready = new PromiseDelegate<void>();
}
