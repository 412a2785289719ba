/**
 * Shared identifiers and the TypeScript shape of the lsstbox server API.
 *
 * The interfaces mirror, field for field, the JSON that the server extension
 * returns from `GET <baseUrl>/lsstbox/api/release`.  URLs inside it are
 * relative to the server base URL.
 */

/** The id of the frontend plugin (and of its settings schema). */
export const PLUGIN_ID = '@lsstbox/jupyterlab:plugin';

/** The DOM id of the left sidebar panel; also its `data-testid`. */
export const RELEASE_PANEL_ID = 'lsstbox-release-panel';

/** Command ids. */
export namespace CommandIDs {
  export const openReleasePanel = 'lsstbox:open-release-panel';
  export const refreshRelease = 'lsstbox:refresh-release';
}

/** The sky field covered by the release. */
export interface IReleaseField {
  /** Right ascension of the field centre, degrees. */
  ra: number;
  /** Declination of the field centre, degrees. */
  dec: number;
  /** Area of the field, square degrees. */
  area_deg2: number;
  /** The sky-map tract the field falls in (null if the release has none). */
  tract: number | null;
}

/** One HATS catalog of the release. */
export interface ICatalogInfo {
  name: string;
  rows: number;
  columns: number;
  partitions: number;
  description: string;
  /** Path relative to the release root. */
  path: string;
}

/** One kind of image product (e.g. visit_image, deep_coadd). */
export interface IImageSetInfo {
  kind: string;
  count: number;
  bands: string[];
}

/** One HiPS tree served by the server extension. */
export interface IHipsInfo {
  id: string;
  title: string;
  band: string;
  /**
   * URL of the tree: relative to the server base URL, or a path that already
   * starts with the base URL's path (the server may send either).
   */
  url: string;
}

/** The embedded Butler repository. */
export interface IButlerInfo {
  /** Path relative to the release root. */
  root: string;
  collections: string[];
  /** Dataset type name -> number of datasets. */
  datasets: Record<string, number>;
}

/** One service endpoint exposed by the server extension. */
export interface IServiceInfo {
  name: string;
  /** URL, as for `IHipsInfo.url`. */
  url: string;
  /** "ok" when the service is up; anything else is shown as a problem. */
  status: string;
}

/** The release manifest: `GET /lsstbox/api/release`. */
export interface IRelease {
  name: string;
  profile: string;
  /** The random seed the release was built with (null if unknown). */
  seed: number | null;
  /** ISO 8601 timestamp. */
  created: string;
  /** Absolute path of the release on the server. */
  root: string;
  field: IReleaseField;
  catalogs: ICatalogInfo[];
  images: IImageSetInfo[];
  hips: IHipsInfo[];
  /** Null when the release has no Butler repository. */
  butler: IButlerInfo | null;
  services: IServiceInfo[];
}

/** The JSON body the lsstbox handlers send with an error status. */
export interface IErrorBody {
  error: string;
}

/** The id of the catalog browser plugin. */
export const CATALOG_PLUGIN_ID = '@lsstbox/jupyterlab:catalog';

/** Command ids of the catalog browser. */
export namespace CommandIDs {
  export const openCatalogBrowser = 'lsstbox:open-catalog-browser';
  export const newAdqlQuery = 'lsstbox:new-adql-query';
  export const openJobResult = 'lsstbox:open-job-result';
  export const runQuery = 'lsstbox:run-query';
}

/** The id of the sky panel plugin (and of its settings schema). */
export const SKY_PLUGIN_ID = '@lsstbox/jupyterlab:sky';

/** Command ids of the sky panel. */
export namespace CommandIDs {
  export const openSkyPanel = 'lsstbox:open-sky-panel';
  export const skyShowJob = 'lsstbox:sky-show-job';
}
