/**
 * The sky panel's pure parts (unit-tested with jest): ObsCore `s_region`
 * parsing, footprint buffers, position columns of a result, positions sent
 * by the kernel.
 */

import { IResultColumn } from './uws';

/** A polygon on the sky: [ra, dec] vertices in degrees. */
export type Polygon = [number, number][];

const NUM = String.raw`[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?`;
const FRAME =
  /^(?:ICRS|FK5|FK4|J2000|GALACTIC|UNKNOWNFRAME|GEOCENTER|BARYCENTER|TOPOCENTER)\b/i;

/** RA in [0, 360) (no rounding for values already in range). */
export function wrapRa(ra: number): number {
  const r = ra % 360;
  return r < 0 ? r + 360 : r;
}

/** A small circle as an `n`-gon (vertices in degrees). */
export function circlePolygon(
  ra: number,
  dec: number,
  radius: number,
  n = 48
): Polygon {
  const d2r = Math.PI / 180;
  const [a0, d0, r] = [ra * d2r, dec * d2r, radius * d2r];
  const out: Polygon = [];
  for (let k = 0; k < n; k++) {
    const t = (2 * Math.PI * k) / n;
    const sd =
      Math.sin(d0) * Math.cos(r) + Math.cos(d0) * Math.sin(r) * Math.cos(t);
    const d = Math.asin(Math.max(-1, Math.min(1, sd)));
    const a =
      a0 +
      Math.atan2(
        Math.sin(t) * Math.sin(r) * Math.cos(d0),
        Math.cos(r) - Math.sin(d0) * sd
      );
    out.push([wrapRa(a / d2r), d / d2r]);
  }
  return out;
}

/**
 * An STC-S `POLYGON`, `CIRCLE` or `BOX` (DALI) as a polygon; null when the
 * text is none of these or its numbers do not make a region.
 */
export function parseSRegion(text: string): Polygon | null {
  const m = /^\s*(POLYGON|CIRCLE|BOX)\s+(.*)$/i.exec(text ?? '');
  if (!m) {
    return null;
  }
  let rest = m[2].trim();
  while (FRAME.test(rest)) {
    rest = rest.replace(FRAME, '').trim();
  }
  const nums = rest.match(new RegExp(NUM, 'g'))?.map(Number) ?? [];
  if (rest.replace(new RegExp(NUM, 'g'), '').trim() !== '') {
    return null;
  }
  const kind = m[1].toUpperCase();
  if (kind === 'CIRCLE') {
    if (nums.length !== 3 || !(nums[2] > 0)) {
      return null;
    }
    return circlePolygon(nums[0], nums[1], nums[2]);
  }
  if (kind === 'BOX') {
    if (nums.length !== 4) {
      return null;
    }
    const [ra, dec, w, hgt] = nums;
    const c = Math.cos((dec * Math.PI) / 180) || 1e-12;
    const dra = w / 2 / c;
    return [
      [ra - dra, dec - hgt / 2],
      [ra + dra, dec - hgt / 2],
      [ra + dra, dec + hgt / 2],
      [ra - dra, dec + hgt / 2]
    ];
  }
  if (nums.length < 6 || nums.length % 2 !== 0) {
    return null;
  }
  const out: Polygon = [];
  for (let i = 0; i < nums.length; i += 2) {
    if (!Number.isFinite(nums[i]) || Math.abs(nums[i + 1]) > 90) {
      return null;
    }
    out.push([nums[i], nums[i + 1]]);
  }
  return out;
}

/**
 * Polygons as the buffers of an `add_footprints` message: vertex
 * coordinates (ra0, dec0, ra1, …) and the n + 1 vertex offsets.
 */
export function footprintBuffers(polygons: Polygon[]): {
  coords: Float64Array<ArrayBuffer>;
  offsets: Int32Array<ArrayBuffer>;
} {
  const total = polygons.reduce((s, p) => s + p.length, 0);
  const coords = new Float64Array(2 * total);
  const offsets = new Int32Array(polygons.length + 1);
  let v = 0;
  polygons.forEach((p, k) => {
    offsets[k] = v;
    for (const [ra, dec] of p) {
      coords[2 * v] = ra;
      coords[2 * v + 1] = dec;
      v += 1;
    }
  });
  offsets[polygons.length] = v;
  return { coords, offsets };
}

const RA_NAMES = ['coord_ra', 'ra', 'ra_deg', 'raj2000', 's_ra', 'ra_icrs'];
const DEC_NAMES = [
  'coord_dec',
  'dec',
  'dec_deg',
  'dej2000',
  's_dec',
  'de_icrs'
];
const ID_NAMES = [
  'objectid',
  'diaobjectid',
  'sourceid',
  'diasourceid',
  'id',
  'source_id',
  'obs_publisher_did'
];

/**
 * The RA, Dec (and id) column indices of a result: the main position by UCD
 * (`pos.eq.ra;meta.main`), else any `pos.eq.ra`, else by name.
 */
export function positionColumns(columns: IResultColumn[]): {
  ra: number;
  dec: number;
  id: number;
} {
  const ucd = (c: IResultColumn) => (c.ucd || '').toLowerCase();
  const name = (c: IResultColumn) => c.name.toLowerCase();
  const find = (axis: 'ra' | 'dec', names: string[]): number => {
    let i = columns.findIndex(
      c => ucd(c).includes(`pos.eq.${axis}`) && ucd(c).includes('meta.main')
    );
    if (i < 0) {
      i = columns.findIndex(c =>
        ucd(c)
          .split(';')
          .some(w => w === `pos.eq.${axis}`)
      );
    }
    for (const n of names) {
      if (i >= 0) {
        break;
      }
      i = columns.findIndex(c => name(c) === n);
    }
    return i;
  };
  let id = columns.findIndex(c => ucd(c).startsWith('meta.id;meta.main'));
  for (const n of ID_NAMES) {
    if (id >= 0) {
      break;
    }
    id = columns.findIndex(c => name(c) === n);
  }
  return { ra: find('ra', RA_NAMES), dec: find('dec', DEC_NAMES), id };
}

/** A buffer of a comm message as a typed array (copied when misaligned). */
export function typedArray<T extends Float32Array | Float64Array | Int32Array>(
  Kind: {
    new (b: ArrayBufferLike, o: number, n: number): T;
    BYTES_PER_ELEMENT: number;
  },
  buf: DataView | ArrayBuffer
): T {
  const view = buf instanceof ArrayBuffer ? new DataView(buf) : buf;
  const { buffer, byteOffset, byteLength } = view;
  const size = Kind.BYTES_PER_ELEMENT;
  if (byteOffset % size === 0) {
    return new Kind(buffer, byteOffset, byteLength / size);
  }
  const copy = buffer.slice(byteOffset, byteOffset + byteLength);
  return new Kind(copy, 0, byteLength / size);
}

/**
 * The positions of an `add_catalog` message: float32 offsets from `ref`
 * (`coords: 'f32-offsets'`) or float64 values, as float64 degrees.
 */
export function decodePositions(
  msg: { [key: string]: unknown },
  buffers: (DataView | ArrayBuffer)[]
): { ra: Float64Array; dec: Float64Array } {
  if (buffers.length < 2) {
    throw new Error('add_catalog without its two position buffers');
  }
  if (msg.coords === 'f32-offsets') {
    const ref = msg.ref as [number, number];
    const dra = typedArray(Float32Array, buffers[0]);
    const ddec = typedArray(Float32Array, buffers[1]);
    const ra = new Float64Array(dra.length);
    const dec = new Float64Array(dra.length);
    for (let i = 0; i < dra.length; i++) {
      ra[i] = wrapRa(ref[0] + dra[i]);
      dec[i] = ref[1] + ddec[i];
    }
    return { ra, dec };
  }
  return {
    ra: Float64Array.from(typedArray(Float64Array, buffers[0])),
    dec: Float64Array.from(typedArray(Float64Array, buffers[1]))
  };
}

/**
 * The valid, distinct indices of `rows` into `n` sources, ascending: whole
 * numbers in [0, n) (anything else, e.g. from a stale message, is dropped).
 */
export function sourceIndices(rows: unknown, n: number): Int32Array {
  if (!Array.isArray(rows) && !ArrayBuffer.isView(rows)) {
    return new Int32Array(0);
  }
  const seen = new Set<number>();
  for (const v of Array.from(rows as ArrayLike<unknown>)) {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < n) {
      seen.add(v);
    }
  }
  return Int32Array.from(seen).sort();
}

/** `12.3456789, -3.5` -> the two numbers (for the panel's "Go to"). */
export function parseRaDec(text: string): [number, number] | null {
  const m = new RegExp(`^\\s*(${NUM})\\s*[, ]\\s*(${NUM})\\s*$`).exec(text);
  if (!m) {
    return null;
  }
  const ra = Number(m[1]);
  const dec = Number(m[2]);
  if (!Number.isFinite(ra) || !Number.isFinite(dec) || Math.abs(dec) > 90) {
    return null;
  }
  return [wrapRa(ra), dec];
}
