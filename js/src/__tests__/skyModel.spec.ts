import {
  circlePolygon,
  decodePositions,
  footprintBuffers,
  parseRaDec,
  parseSRegion,
  positionColumns,
  sourceIndices
} from '../skyModel';

const col = (name: string, ucd = '') => ({
  name,
  ucd,
  datatype: 'double',
  unit: 'deg',
  description: ''
});

function sep(a: [number, number], b: [number, number]): number {
  const d2r = Math.PI / 180;
  const s =
    Math.sin(((b[1] - a[1]) * d2r) / 2) ** 2 +
    Math.cos(a[1] * d2r) *
      Math.cos(b[1] * d2r) *
      Math.sin(((b[0] - a[0]) * d2r) / 2) ** 2;
  return (2 * Math.asin(Math.sqrt(s))) / d2r;
}

describe('parseSRegion', () => {
  it('reads an ObsCore polygon with its frame', () => {
    expect(
      parseSRegion('POLYGON ICRS 10.0 -5.0 10.1 -5.0 10.1 -4.9 10.0 -4.9')
    ).toEqual([
      [10, -5],
      [10.1, -5],
      [10.1, -4.9],
      [10, -4.9]
    ]);
  });

  it('turns a circle into vertices on the circle', () => {
    const p = parseSRegion('CIRCLE 359.99 -30 0.1');
    expect(p).not.toBeNull();
    expect(p!.length).toBe(48);
    for (const v of p!) {
      expect(sep(v, [359.99, -30])).toBeCloseTo(0.1, 9);
      expect(v[0]).toBeGreaterThanOrEqual(0);
      expect(v[0]).toBeLessThan(360);
    }
  });

  it('reads a DALI box', () => {
    const p = parseSRegion('BOX 0 0 2 1');
    expect(p).toEqual([
      [-1, -0.5],
      [1, -0.5],
      [1, 0.5],
      [-1, 0.5]
    ]);
  });

  it.each([
    '',
    'POINT 1 2',
    'POLYGON 1 2 3 4',
    'POLYGON 1 2 3 4 5',
    'POLYGON 1 2 3 4 5 95',
    'CIRCLE 1 2',
    'CIRCLE 1 2 -1',
    'POLYGON ICRS 1 2 3 4 5 six'
  ])('refuses %p', text => {
    expect(parseSRegion(text)).toBeNull();
  });
});

describe('footprintBuffers', () => {
  it('packs vertices and offsets', () => {
    const { coords, offsets } = footprintBuffers([
      [
        [1, 2],
        [3, 4],
        [5, 6]
      ],
      circlePolygon(0, 0, 1, 4)
    ]);
    expect(Array.from(offsets)).toEqual([0, 3, 7]);
    expect(Array.from(coords.slice(0, 6))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(coords.length).toBe(14);
  });
});

describe('positionColumns', () => {
  it('prefers the main position by UCD', () => {
    const cols = [
      col('objectId', 'meta.id;meta.main'),
      col('ra_psf', 'pos.eq.ra'),
      col('coord_ra', 'pos.eq.ra;meta.main'),
      col('coord_dec', 'pos.eq.dec;meta.main')
    ];
    expect(positionColumns(cols)).toEqual({ ra: 2, dec: 3, id: 0 });
  });

  it('falls back on names, and says when there is none', () => {
    expect(positionColumns([col('id'), col('RA'), col('Dec')])).toEqual({
      ra: 1,
      dec: 2,
      id: 0
    });
    expect(positionColumns([col('flux')])).toEqual({ ra: -1, dec: -1, id: -1 });
  });
});

describe('decodePositions', () => {
  it('adds float32 offsets to the reference, wrapping RA', () => {
    const dra = new Float32Array([0, 0.25, -0.5]);
    const ddec = new Float32Array([0, -0.125, 1]);
    const { ra, dec } = decodePositions(
      { coords: 'f32-offsets', ref: [359.75, -30] },
      [new DataView(dra.buffer), new DataView(ddec.buffer)]
    );
    expect(Array.from(ra)).toEqual([359.75, 0, 359.25]);
    expect(Array.from(dec)).toEqual([-30, -30.125, -29]);
  });

  it('reads float64 buffers, even misaligned in a larger buffer', () => {
    const bytes = new ArrayBuffer(8 * 4 + 4);
    const view = new DataView(bytes, 4, 16);
    view.setFloat64(0, 12.5, true);
    view.setFloat64(8, 13.5, true);
    const dec = new Float64Array([-1, -2]);
    const out = decodePositions({ coords: 'f64' }, [view, dec.buffer]);
    expect(Array.from(out.ra)).toEqual([12.5, 13.5]);
    expect(Array.from(out.dec)).toEqual([-1, -2]);
  });

  it('needs both buffers', () => {
    expect(() => decodePositions({ coords: 'f64' }, [])).toThrow(/buffers/);
  });
});

describe('parseRaDec', () => {
  it.each([
    ['62.1, -37.0', [62.1, -37]],
    ['-10 5', [350, 5]],
    [' 1e1 , +2 ', [10, 2]]
  ])('%p', (text, expected) => {
    expect(parseRaDec(text)).toEqual(expected);
  });

  it.each(['', '62.1', '1, 95', 'a, b'])('refuses %p', text => {
    expect(parseRaDec(text)).toBeNull();
  });
});

describe('sourceIndices', () => {
  it('keeps the distinct whole indices in range, ascending', () => {
    expect(Array.from(sourceIndices([5, 0, 3, 3, 9, 10, -1], 10))).toEqual([
      0, 3, 5, 9
    ]);
  });

  it('drops what is not an index', () => {
    expect(
      Array.from(sourceIndices([1.5, NaN, '2', null, 2, Infinity], 4))
    ).toEqual([2]);
    expect(sourceIndices({ length: 2 }, 4).length).toBe(0);
    expect(sourceIndices(undefined, 4).length).toBe(0);
  });

  it('an empty list, or no sources, highlights nothing', () => {
    expect(sourceIndices([], 4).length).toBe(0);
    expect(sourceIndices([0, 1], 0).length).toBe(0);
  });

  it('takes typed arrays', () => {
    expect(Array.from(sourceIndices(new Int32Array([2, 1]), 3))).toEqual([
      1, 2
    ]);
  });
});
