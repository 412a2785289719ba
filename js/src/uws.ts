/**
 * The UWS 1.1 and result documents of the box's TAP service, as the catalog
 * browser reads them: types, runtime guards and parsers.  No JupyterLab
 * imports here, so that the parsers can be unit-tested on their own.
 *
 * The XML parsers take the document text and use the browser's DOMParser.
 */

import {
  arrayOf,
  Guard,
  isNumber,
  isString,
  nullable,
  objectOf
} from './guards';

export const UWS_NS = 'http://www.ivoa.net/xml/UWS/v1.0';
export const XLINK_NS = 'http://www.w3.org/1999/xlink';

/** UWS phases after which a job no longer changes by itself. */
export const FINAL_PHASES = ['COMPLETED', 'ERROR', 'ABORTED', 'ARCHIVED'];

export function isFinalPhase(phase: string): boolean {
  return FINAL_PHASES.includes(phase.toUpperCase());
}

/** One `<uws:jobref>` of a job list. */
export interface IJobRef {
  id: string;
  href: string;
  phase: string;
  runId: string | null;
  ownerId: string | null;
  creationTime: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isAny: Guard<unknown> = (value): value is unknown => true;

/** A guard for plain objects (any values). */
const isPlainObject: Guard<Record<string, unknown>> = (
  value,
  path = '$',
  problems
): value is Record<string, unknown> => {
  if (isObject(value)) {
    return true;
  }
  problems?.push(`${path}: expected an object`);
  return false;
};

/** A child element of `parent` by local name, whatever its namespace. */
function child(parent: Element, name: string): Element | null {
  for (const el of Array.from(parent.children)) {
    if (el.localName === name) {
      return el;
    }
  }
  return null;
}

function childText(parent: Element, name: string): string | null {
  const el = child(parent, name);
  if (
    !el ||
    el.getAttributeNS('http://www.w3.org/2001/XMLSchema-instance', 'nil') ===
      'true'
  ) {
    return null;
  }
  return (el.textContent ?? '').trim();
}

function parseXml(text: string, what: string): Document {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  if (doc.getElementsByTagName('parsererror').length > 0) {
    throw new Error(`The server's ${what} is not well-formed XML`);
  }
  return doc;
}

/**
 * Parse a UWS 1.1 job list (`GET /async`): one entry per `<uws:jobref>`, in
 * document order.  `baseUrl` resolves jobs without an `xlink:href`.
 *
 * @throws {Error} when the text is not XML or not a `<uws:jobs>` document.
 */
export function parseJobList(text: string, baseUrl = ''): IJobRef[] {
  const doc = parseXml(text, 'job list');
  const root = doc.documentElement;
  if (root.localName !== 'jobs') {
    throw new Error(
      `Expected a UWS job list (<uws:jobs>), got <${root.localName}>`
    );
  }
  const out: IJobRef[] = [];
  for (const ref of Array.from(root.children)) {
    if (ref.localName !== 'jobref') {
      continue;
    }
    const id = ref.getAttribute('id') ?? '';
    const href =
      ref.getAttributeNS(XLINK_NS, 'href') ||
      ref.getAttribute('xlink:href') ||
      (baseUrl ? `${baseUrl.replace(/\/+$/, '')}/${id}` : id);
    out.push({
      id,
      href,
      phase: (childText(ref, 'phase') ?? 'UNKNOWN').toUpperCase(),
      runId: childText(ref, 'runId'),
      ownerId: childText(ref, 'ownerId'),
      creationTime: childText(ref, 'creationTime') ?? ''
    });
  }
  return out;
}

/** The `<uws:jobId>` of a UWS job document. */
export function parseJobId(text: string): string {
  const doc = parseXml(text, 'job document');
  const root = doc.documentElement;
  const id = root.localName === 'job' ? childText(root, 'jobId') : null;
  if (!id) {
    throw new Error('The server did not answer a UWS job document');
  }
  return id;
}

/** One result of a job, as the JSON view lists it. */
export interface IJobResultInfo {
  id: string;
  href: string;
  mimeType: string;
  size: number;
  rows: number;
  overflow: boolean;
}

/** `GET /async/<id>/json`: a job for the web frontend. */
export interface IJobInfo {
  jobId: string;
  href: string;
  runId: string | null;
  phase: string;
  creationTime: string;
  startTime: string | null;
  endTime: string | null;
  executionDuration: number;
  parameters: Record<string, unknown>;
  results: IJobResultInfo[];
  errorSummary: { type: string; message: string } | null;
  progress: Record<string, unknown>;
}

const isBool: Guard<boolean> = (
  value,
  path = '$',
  problems
): value is boolean =>
  typeof value === 'boolean' ||
  (problems?.push(`${path}: expected a boolean`), false);

export const isJobInfo = objectOf<IJobInfo>({
  jobId: isString,
  href: isString,
  runId: nullable(isString),
  phase: isString,
  creationTime: isString,
  startTime: nullable(isString),
  endTime: nullable(isString),
  executionDuration: isNumber,
  parameters: isPlainObject,
  results: arrayOf(
    objectOf<IJobResultInfo>({
      id: isString,
      href: isString,
      mimeType: isString,
      size: isNumber,
      rows: isNumber,
      overflow: isBool
    })
  ),
  errorSummary: nullable(
    objectOf<{ type: string; message: string }>({
      type: isString,
      message: isString
    })
  ),
  progress: isPlainObject
});

/** The query text of a job, from its parameters (any case). */
export function jobQuery(job: IJobInfo): string {
  for (const [key, value] of Object.entries(job.parameters)) {
    if (key.toUpperCase() === 'QUERY' && typeof value === 'string') {
      return value;
    }
  }
  return '';
}

/** One column of a result page. */
export interface IResultColumn {
  name: string;
  datatype: string;
  unit: string;
  ucd: string;
  description: string;
}

/** `GET /lsstbox/api/results/<job_id>`. */
export interface IResultPage {
  job_id: string;
  columns: IResultColumn[];
  total: number;
  rows_in_result: number;
  overflow: boolean;
  offset: number;
  limit: number;
  sort: string;
  desc: boolean;
  filter: string;
  rows: unknown[][];
}

export const isResultPage = objectOf<IResultPage>({
  job_id: isString,
  columns: arrayOf(
    objectOf<IResultColumn>({
      name: isString,
      datatype: isString,
      unit: isString,
      ucd: isString,
      description: isString
    })
  ),
  total: isNumber,
  rows_in_result: isNumber,
  overflow: isBool,
  offset: isNumber,
  limit: isNumber,
  sort: isString,
  desc: isBool,
  filter: isString,
  rows: arrayOf(arrayOf(isAny))
});

/** How to ask for a page of a result. */
export interface IPageRequest {
  offset: number;
  limit: number;
  sort?: string;
  desc?: boolean;
  filter?: string;
}

/** A remote service reachable through the box's proxy. */
export interface IRemoteService {
  name: string;
  url: string;
  /** The service's base URL through the proxy, on this server. */
  proxyUrl: string;
}

/**
 * Read the proxy list, an array or a name -> description object.  Each
 * service is reached at `<baseUrl>lsstbox/proxy/<name>` (this server, whatever
 * host the server saw).
 */
export function parseProxyList(
  data: unknown,
  baseUrl: string
): IRemoteService[] {
  const entries: [string, unknown][] = Array.isArray(data)
    ? data.map((d, i) => [String(isObject(d) ? (d.name ?? i) : i), d])
    : isObject(data)
      ? Object.entries(data)
      : [];
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const out: IRemoteService[] = [];
  for (const [key, value] of entries) {
    if (!isObject(value)) {
      continue;
    }
    const name = typeof value.name === 'string' ? value.name : key;
    out.push({
      name,
      url: typeof value.url === 'string' ? value.url : '',
      proxyUrl: `${base}lsstbox/proxy/${encodeURIComponent(name)}`
    });
  }
  return out;
}

/** The message of a VOTable error document or of a plain-text answer. */
export function errorText(text: string, statusText = ''): string {
  const info = /<INFO[^>]*name="QUERY_STATUS"[^>]*>([\s\S]*?)<\/INFO>/i.exec(
    text
  );
  if (info) {
    const div = new DOMParser().parseFromString(
      `<x>${info[1]}</x>`,
      'application/xml'
    );
    return (div.documentElement.textContent ?? info[1]).trim();
  }
  const plain = text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return plain.slice(0, 500) || statusText || 'Request failed';
}
