/**
 * Runtime type guards for the server API.
 *
 * Every guard is a TypeScript type predicate.  When a `problems` array is
 * passed, a failing guard appends a message with the JSON path of the first
 * offending value, so a shape mismatch between server and frontend is easy
 * to diagnose from the panel's error state.
 */

import {
  IButlerInfo,
  ICatalogInfo,
  IErrorBody,
  IHipsInfo,
  IImageSetInfo,
  IRelease,
  IReleaseField,
  IServiceInfo
} from './tokens';

/** A type predicate that can explain why it failed. */
export type Guard<T> = (
  value: unknown,
  path?: string,
  problems?: string[]
) => value is T;

function fail(problems: string[] | undefined, path: string, what: string) {
  problems?.push(`${path}: expected ${what}`);
  return false;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const isString: Guard<string> = (
  value,
  path = '$',
  problems
): value is string =>
  typeof value === 'string' || fail(problems, path, 'a string');

export const isNumber: Guard<number> = (
  value,
  path = '$',
  problems
): value is number =>
  (typeof value === 'number' && Number.isFinite(value)) ||
  fail(problems, path, 'a finite number');

/** A guard accepting `null` as well as whatever `guard` accepts. */
export function nullable<T>(guard: Guard<T>): Guard<T | null> {
  return (value, path = '$', problems): value is T | null =>
    value === null || guard(value, path, problems);
}

/** A guard for arrays whose items all pass `item`. */
export function arrayOf<T>(item: Guard<T>): Guard<T[]> {
  return (value, path = '$', problems): value is T[] => {
    if (!Array.isArray(value)) {
      return fail(problems, path, 'an array');
    }
    return value.every((entry, i) => item(entry, `${path}[${i}]`, problems));
  };
}

/** A guard for plain objects whose values all pass `item`. */
export function recordOf<T>(item: Guard<T>): Guard<Record<string, T>> {
  return (value, path = '$', problems): value is Record<string, T> => {
    if (!isObject(value)) {
      return fail(problems, path, 'an object');
    }
    return Object.entries(value).every(([key, entry]) =>
      item(entry, `${path}.${key}`, problems)
    );
  };
}

/**
 * A guard for objects with (at least) the given fields.  Extra fields are
 * allowed so that the server can grow its manifest without breaking us.
 */
export function objectOf<T extends object>(fields: {
  [K in keyof T]-?: Guard<T[K]>;
}): Guard<T> {
  return (value, path = '$', problems): value is T => {
    if (!isObject(value)) {
      return fail(problems, path, 'an object');
    }
    for (const key of Object.keys(fields) as (keyof T & string)[]) {
      if (!fields[key](value[key], `${path}.${key}`, problems)) {
        return false;
      }
    }
    return true;
  };
}

export const isStringArray = arrayOf(isString);

export const isReleaseField = objectOf<IReleaseField>({
  ra: isNumber,
  dec: isNumber,
  area_deg2: isNumber,
  tract: nullable(isNumber)
});

export const isCatalogInfo = objectOf<ICatalogInfo>({
  name: isString,
  rows: isNumber,
  columns: isNumber,
  partitions: isNumber,
  description: isString,
  path: isString
});

export const isImageSetInfo = objectOf<IImageSetInfo>({
  kind: isString,
  count: isNumber,
  bands: isStringArray
});

export const isHipsInfo = objectOf<IHipsInfo>({
  id: isString,
  title: isString,
  band: isString,
  url: isString
});

export const isButlerInfo = objectOf<IButlerInfo>({
  root: isString,
  collections: isStringArray,
  datasets: recordOf(isNumber)
});

export const isServiceInfo = objectOf<IServiceInfo>({
  name: isString,
  url: isString,
  status: isString
});

/** The release manifest served at `/lsstbox/api/release`. */
export const isRelease = objectOf<IRelease>({
  name: isString,
  profile: isString,
  seed: nullable(isNumber),
  created: isString,
  root: isString,
  field: isReleaseField,
  catalogs: arrayOf(isCatalogInfo),
  images: arrayOf(isImageSetInfo),
  hips: arrayOf(isHipsInfo),
  butler: nullable(isButlerInfo),
  services: arrayOf(isServiceInfo)
});

/** `{"error": "..."}`, the lsstbox handlers' error body. */
export const isErrorBody = objectOf<IErrorBody>({ error: isString });
