/**
 * The user settings of the catalog browser and the image viewer (schemas in
 * js/schema/catalog.json and js/schema/image-viewer.json), read into the
 * defaults of new ADQL editors and image viewers.  Pure: no JupyterLab
 * imports, so that unit tests can load it.
 */

/** The stretches of the image viewer (and of the `defaultStretch` enum). */
export const STRETCHES = ['linear', 'log', 'sqrt', 'asinh', 'zscale'];
const BASE_CMAPS = ['gray', 'viridis', 'magma', 'inferno', 'cividis'];
/** The colormaps of the image viewer, each also reversed (`_r`). */
export const CMAPS = BASE_CMAPS.flatMap(name => [name, `${name}_r`]);

/** The path of the box's TAP service below the server base URL. */
export const TAP_PATH = 'lsstbox/tap';
/** The `defaultService` of the box's own TAP service. */
export const BOX_SERVICE = 'tap';
/** The MAXREC of an editor when nothing else is set. */
export const DEFAULT_MAXREC = 100000;

/** What a new ADQL editor starts with. */
export interface IEditorDefaults {
  /** MAXREC; null: none sent. */
  maxrec: number | null;
  /** "tap" (the box) or the name of a remote service of the proxy. */
  service: string;
}

/** The display settings a new image viewer starts with. */
export interface IViewerDefaults {
  stretch: string;
  cmap: string;
  /** Mask planes shown, in compositing order. */
  masks: string[];
}

/** The built-in viewer defaults (those of the schema). */
export const VIEWER_DEFAULTS: IViewerDefaults = {
  stretch: 'linear',
  cmap: 'gray',
  masks: []
};

type Composite = Record<string, unknown> | null | undefined;

/** The editor defaults in a settings composite (invalid values ignored). */
export function editorDefaults(composite: Composite): IEditorDefaults {
  const maxrec = composite?.['defaultMaxrec'];
  const service = composite?.['defaultService'];
  return {
    maxrec:
      typeof maxrec === 'number' && Number.isInteger(maxrec) && maxrec >= 0
        ? maxrec
        : DEFAULT_MAXREC,
    service:
      typeof service === 'string' && service.trim()
        ? service.trim()
        : BOX_SERVICE
  };
}

/** The path of a service below the base URL: the box's or the proxy's. */
export function servicePath(service: string): string {
  return service === BOX_SERVICE
    ? TAP_PATH
    : `lsstbox/proxy/${encodeURIComponent(service)}`;
}

/** The viewer defaults in a settings composite (invalid values ignored). */
export function viewerDefaults(composite: Composite): IViewerDefaults {
  const stretch = composite?.['defaultStretch'];
  const cmap = composite?.['defaultColormap'];
  const masks = composite?.['defaultMaskPlanes'];
  return {
    stretch:
      typeof stretch === 'string' && STRETCHES.includes(stretch)
        ? stretch
        : VIEWER_DEFAULTS.stretch,
    cmap:
      typeof cmap === 'string' && CMAPS.includes(cmap)
        ? cmap
        : VIEWER_DEFAULTS.cmap,
    masks: Array.isArray(masks)
      ? [...new Set(masks.filter((m): m is string => typeof m === 'string'))]
      : []
  };
}
