/**
 * The catalog browser's client of the box's TAP service (`/lsstbox/tap`):
 * UWS 1.1 async jobs (create and run, JSON view, abort, job list), the
 * schema and result-page JSON endpoints, and the remote services of the
 * proxy (`/lsstbox/proxy/`).  The documents' parsers are in `uws.ts`.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { ApiError, requestAPI } from './api';
import {
  ISchemaDoc,
  isSchemaDoc,
  parseCsv,
  schemaFromCsv,
  TAP_SCHEMA_QUERY
} from './schema';
import { TAP_PATH } from './settings';

import {
  errorText,
  IJobInfo,
  IJobRef,
  IPageRequest,
  IRemoteService,
  IResultPage,
  isJobInfo,
  isResultPage,
  parseJobId,
  parseJobList,
  parseProxyList
} from './uws';

export * from './uws';

/** The path of the box's TAP service below the server base URL. */
export { TAP_PATH };

/**
 * The box's TAP service, through Jupyter's authenticated requests.
 */
export class TapClient {
  constructor(
    readonly serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings(),
    /** The service's path below the server base URL. */
    readonly servicePath: string = TAP_PATH
  ) {}

  /** The absolute URL of the service (what pyvo is given). */
  get tapUrl(): string {
    return new URL(
      URLExt.join(this.serverSettings.baseUrl, this.servicePath),
      window.location.href
    ).href;
  }

  /** The absolute URL of job `id`. */
  jobUrl(id: string): string {
    return `${this.tapUrl}/async/${encodeURIComponent(id)}`;
  }

  private _request(
    path: string,
    init: RequestInit = {}
  ): Promise<{ text: string; response: Response }> {
    return this._fetch(
      URLExt.join(this.serverSettings.baseUrl, this.servicePath, path),
      init
    );
  }

  /** GET/POST `url`; a network failure or a non-2xx answer is an ApiError. */
  private async _fetch(
    url: string,
    init: RequestInit = {}
  ): Promise<{ text: string; response: Response }> {
    let response: Response;
    try {
      // no cache-busting query parameter: TAP would take it for a job parameter
      response = await ServerConnection.makeRequest(
        url,
        { cache: 'no-cache', ...init },
        this.serverSettings
      );
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ApiError(0, `Cannot reach the server: ${reason}`, url);
    }
    const text = await response.text();
    if (!response.ok) {
      throw new ApiError(
        response.status,
        errorText(text, response.statusText),
        url
      );
    }
    return { text, response };
  }

  /**
   * Create an async job for `query` and start it (PHASE=RUN).
   *
   * @returns the job id.
   */
  async submit(query: string, maxrec?: number): Promise<string> {
    const body = new URLSearchParams({
      LANG: 'ADQL',
      REQUEST: 'doQuery',
      QUERY: query,
      PHASE: 'RUN'
    });
    if (maxrec !== undefined && Number.isFinite(maxrec)) {
      body.set('MAXREC', String(Math.max(0, Math.floor(maxrec))));
    }
    const { text } = await this._request('async', {
      method: 'POST',
      body,
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded;charset=UTF-8'
      }
    });
    return parseJobId(text);
  }

  /** The JSON view of job `id`. */
  async job(id: string, signal?: AbortSignal): Promise<IJobInfo> {
    const { text, response } = await this._request(
      `async/${encodeURIComponent(id)}/json`,
      { signal }
    );
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new ApiError(response.status, 'The job is not JSON', response.url);
    }
    const problems: string[] = [];
    if (!isJobInfo(data, '$', problems)) {
      throw new ApiError(
        response.status,
        `Unexpected job description (${problems.join('; ')})`,
        response.url
      );
    }
    return data;
  }

  /** Ask job `id` to stop (PHASE=ABORT). */
  async abort(id: string): Promise<void> {
    await this._request(`async/${encodeURIComponent(id)}/phase`, {
      method: 'POST',
      body: new URLSearchParams({ PHASE: 'ABORT' }),
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded;charset=UTF-8'
      }
    });
  }

  /** The user's most recent jobs, most recent first. */
  async list(last = 20): Promise<IJobRef[]> {
    const { text } = await this._request(`async?LAST=${last}`);
    return parseJobList(text, `${this.tapUrl}/async`);
  }

  /** The service's schemas, tables and columns. */
  schema(): Promise<ISchemaDoc> {
    return requestAPI<ISchemaDoc>(
      'schema',
      isSchemaDoc,
      {},
      this.serverSettings
    );
  }

  /** A page of the result of job `id`. */
  resultPage(
    id: string,
    page: IPageRequest,
    signal?: AbortSignal
  ): Promise<IResultPage> {
    const query = new URLSearchParams({
      offset: String(page.offset),
      limit: String(page.limit)
    });
    if (page.sort) {
      query.set('sort', page.sort);
      query.set('desc', page.desc ? 'true' : 'false');
    }
    if (page.filter) {
      query.set('filter', page.filter);
    }
    return requestAPI<IResultPage>(
      `results/${encodeURIComponent(id)}?${query.toString()}`,
      isResultPage,
      { signal },
      this.serverSettings
    );
  }

  /** The remote services configured in the proxy (none is fine). */
  async remoteServices(): Promise<IRemoteService[]> {
    const url = URLExt.join(this.serverSettings.baseUrl, 'lsstbox/proxy/');
    try {
      const response = await ServerConnection.makeRequest(
        url,
        {},
        this.serverSettings
      );
      if (!response.ok) {
        return [];
      }
      return parseProxyList(await response.json(), this.serverSettings.baseUrl);
    } catch {
      return [];
    }
  }

  /**
   * Run `query` synchronously on the box's service; the rows as CSV strings
   * (the first row is the header).
   */
  async syncCsv(query: string, maxrec = 10_000): Promise<string[][]> {
    const body = new URLSearchParams({
      LANG: 'ADQL',
      REQUEST: 'doQuery',
      RESPONSEFORMAT: 'csv',
      MAXREC: String(maxrec),
      QUERY: query
    });
    const { text } = await this._request('sync', {
      method: 'POST',
      body,
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded;charset=UTF-8'
      }
    });
    return parseCsv(text);
  }

  /** The tables of a remote TAP service: one sync TAP_SCHEMA query, as CSV. */
  async remoteSchema(service: IRemoteService): Promise<ISchemaDoc> {
    const query = new URLSearchParams({
      LANG: 'ADQL',
      REQUEST: 'doQuery',
      RESPONSEFORMAT: 'csv',
      QUERY: TAP_SCHEMA_QUERY
    });
    const { text } = await this._fetch(
      `${service.proxyUrl}/sync?${query.toString()}`
    );
    return schemaFromCsv(text);
  }
}
