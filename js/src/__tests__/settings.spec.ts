import {
  BOX_SERVICE,
  CMAPS,
  DEFAULT_MAXREC,
  editorDefaults,
  servicePath,
  STRETCHES,
  TAP_PATH,
  VIEWER_DEFAULTS,
  viewerDefaults
} from '../settings';

// jest's CommonJS require (no Node types in this project)
declare function require(id: string): unknown;

interface ISchemaProps {
  properties: Record<string, { default?: unknown; enum?: unknown[] }>;
}

function schema(name: 'catalog' | 'image-viewer'): ISchemaProps {
  return (
    name === 'catalog'
      ? require('../../schema/catalog.json')
      : require('../../schema/image-viewer.json')
  ) as ISchemaProps;
}

describe('viewerDefaults', () => {
  it('falls back to the built-in defaults', () => {
    expect(viewerDefaults(null)).toEqual(VIEWER_DEFAULTS);
    expect(
      viewerDefaults({
        defaultStretch: 'cubic',
        defaultColormap: 42,
        defaultMaskPlanes: 'BAD'
      })
    ).toEqual(VIEWER_DEFAULTS);
  });

  it('reads valid settings', () => {
    expect(
      viewerDefaults({
        defaultStretch: 'asinh',
        defaultColormap: 'magma_r',
        defaultMaskPlanes: ['BAD', 3, 'SAT', 'BAD']
      })
    ).toEqual({ stretch: 'asinh', cmap: 'magma_r', masks: ['BAD', 'SAT'] });
  });

  it('matches the schema', () => {
    const props = schema('image-viewer').properties;
    expect(props.defaultStretch.enum).toEqual(STRETCHES);
    expect(props.defaultStretch.default).toBe(VIEWER_DEFAULTS.stretch);
    expect(props.defaultColormap.enum).toEqual(CMAPS);
    expect(props.defaultColormap.default).toBe(VIEWER_DEFAULTS.cmap);
    expect(props.defaultMaskPlanes.default).toEqual(VIEWER_DEFAULTS.masks);
  });
});

describe('editorDefaults', () => {
  it('falls back to the built-in defaults', () => {
    const fallback = { maxrec: DEFAULT_MAXREC, service: BOX_SERVICE };
    expect(editorDefaults(undefined)).toEqual(fallback);
    expect(editorDefaults({ defaultMaxrec: -1, defaultService: ' ' })).toEqual(
      fallback
    );
    expect(editorDefaults({ defaultMaxrec: 1.5 })).toEqual(fallback);
  });

  it('reads valid settings', () => {
    expect(
      editorDefaults({ defaultMaxrec: 0, defaultService: ' gaia ' })
    ).toEqual({ maxrec: 0, service: 'gaia' });
  });

  it('matches the schema', () => {
    const props = schema('catalog').properties;
    expect(props.defaultMaxrec.default).toBe(DEFAULT_MAXREC);
    expect(props.defaultService.default).toBe(BOX_SERVICE);
  });

  it('maps services to paths', () => {
    expect(servicePath(BOX_SERVICE)).toBe(TAP_PATH);
    expect(servicePath('gaia dr3')).toBe('lsstbox/proxy/gaia%20dr3');
  });
});
