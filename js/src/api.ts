/**
 * The one place the frontend talks to the lsstbox server extension.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { Guard, isErrorBody, isRelease } from './guards';
import { IRelease } from './tokens';

/** The URL namespace of the server extension, below the server base URL. */
export const API_NAMESPACE = 'lsstbox/api';

/**
 * A failed API call: the HTTP status (0 when the server could not be
 * reached) and a human-readable message, taken from the `{"error": "..."}`
 * body when the server sent one.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly url: string
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Pull a message out of an error response, whatever its shape. */
function errorMessage(data: unknown, text: string, statusText: string): string {
  if (isErrorBody(data)) {
    return data.error;
  }
  // jupyter_server's own errors are {"message": ..., "reason": ...}
  if (typeof data === 'object' && data !== null) {
    for (const key of ['message', 'reason']) {
      const value: unknown = (data as Record<string, unknown>)[key];
      if (typeof value === 'string' && value.length > 0) {
        return value;
      }
    }
  }
  const plain = text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return plain.slice(0, 300) || statusText || 'Request failed';
}

/**
 * Call `<baseUrl>/lsstbox/api/<endPoint>` and check the JSON answer with
 * `guard`.
 *
 * @throws {ApiError} on network failure, a non-2xx status, a body that is
 * not JSON or a body that does not pass `guard`.
 */
export async function requestAPI<T>(
  endPoint: string,
  guard: Guard<T>,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ApiError(0, `Cannot reach the server: ${reason}`, url);
  }

  const text = await response.text();
  let data: unknown = undefined;
  let parsed = false;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
      parsed = true;
    } catch {
      parsed = false;
    }
  }

  if (!response.ok) {
    throw new ApiError(
      response.status,
      errorMessage(data, text, response.statusText),
      url
    );
  }
  if (!parsed) {
    throw new ApiError(response.status, 'The server did not answer JSON', url);
  }
  const problems: string[] = [];
  if (!guard(data, '$', problems)) {
    throw new ApiError(
      response.status,
      `Unexpected answer from the server (${problems.join('; ') || 'bad shape'})`,
      url
    );
  }
  return data;
}

/** Fetch the release manifest. */
export function fetchRelease(
  settings?: ServerConnection.ISettings
): Promise<IRelease> {
  return requestAPI<IRelease>('release', isRelease, {}, settings);
}
