/**
 * The schema JSON guard (`GET /lsstbox/api/schema`), the TAP_SCHEMA CSV
 * reader of remote services, the tree's search and the pyvo snippet.
 */

import {
  completionSchema,
  ISchemaDoc,
  isSchemaDoc,
  parseCsv,
  schemaFromCsv,
  searchSchema,
  shortName
} from '../schema';
import { isPythonIdentifier, resultCode } from '../snippets';

const column = (name: string, unit = '', ucd = '') => ({
  name,
  datatype: 'double',
  arraysize: '',
  xtype: '',
  unit,
  ucd,
  description: `${name} of the object`,
  principal: true,
  indexed: false,
  std: false
});

/** What the server sends (extra fields included). */
const DOC = {
  service: { name: 'LSST box TAP', url: 'http://127.0.0.1:8888/lsstbox/tap' },
  schemas: [
    {
      name: 'dp1',
      description: 'The catalogs',
      tables: [
        {
          name: 'dp1.Object',
          description: 'Objects',
          type: 'table',
          rows: 541,
          columns: [
            column('objectId', '', 'meta.id;meta.main'),
            column('coord_ra', 'deg', 'pos.eq.ra;meta.main'),
            column('g_psfFlux', 'nJy', 'phot.flux;em.opt.B')
          ]
        },
        {
          name: 'dp1.Source',
          description: 'Sources',
          type: 'table',
          rows: null,
          columns: [
            column('coord_ra', 'deg', 'pos.eq.ra'),
            column('psfFlux', 'nJy')
          ]
        }
      ]
    },
    {
      name: 'TAP_SCHEMA',
      description: 'Metadata',
      tables: [{ name: 'TAP_SCHEMA.tables', description: '', columns: [] }]
    }
  ]
};

describe('isSchemaDoc', () => {
  it('accepts what the server sends', () => {
    const problems: string[] = [];
    expect(isSchemaDoc(DOC, '$', problems)).toBe(true);
    expect(problems).toEqual([]);
  });

  it('says where a document is wrong', () => {
    const problems: string[] = [];
    const bad = JSON.parse(JSON.stringify(DOC));
    bad.schemas[0].tables[1].columns[0].principal = 1;
    expect(isSchemaDoc(bad, '$', problems)).toBe(false);
    expect(problems).toEqual([
      '$.schemas[0].tables[1].columns[0].principal: expected a boolean'
    ]);
    expect(isSchemaDoc({ schemas: {} })).toBe(false);
    expect(isSchemaDoc({ tables: [] })).toBe(false);
    const rows = JSON.parse(JSON.stringify(DOC));
    rows.schemas[0].tables[0].rows = '541';
    expect(isSchemaDoc(rows)).toBe(false);
  });
});

describe('searchSchema', () => {
  const doc = DOC as ISchemaDoc;

  it('finds columns by name, in any case, in every table', () => {
    const found = searchSchema(doc, 'PSFFLUX');
    expect(found.map(m => [m.table.name, m.columns.map(c => c.name)])).toEqual([
      ['dp1.Object', ['g_psfFlux']],
      ['dp1.Source', ['psfFlux']]
    ]);
    expect(found.every(m => !m.tableMatched)).toBe(true);
  });

  it('finds tables by name and columns by UCD; all words must match', () => {
    const tables = searchSchema(doc, 'object');
    expect(tables.map(m => [m.table.name, m.tableMatched])).toEqual([
      ['dp1.Object', true]
    ]);
    const ucd = searchSchema(doc, 'pos.eq.ra main');
    expect(ucd.map(m => m.columns.map(c => c.name))).toEqual([['coord_ra']]);
    expect(searchSchema(doc, '   ')).toEqual([]);
    expect(searchSchema(doc, 'nothing like this')).toEqual([]);
  });
});

describe('completionSchema and shortName', () => {
  it('lists the columns of each table by qualified name', () => {
    expect(completionSchema(DOC as ISchemaDoc)).toEqual({
      'dp1.Object': ['objectId', 'coord_ra', 'g_psfFlux'],
      'dp1.Source': ['coord_ra', 'psfFlux'],
      'TAP_SCHEMA.tables': []
    });
    expect(shortName('dp1.Object')).toBe('Object');
    expect(shortName('Object')).toBe('Object');
  });
});

describe('parseCsv', () => {
  it('reads RFC 4180: quotes, doubled quotes, commas and line breaks in cells', () => {
    const text =
      'a,b,c\r\n1,"x, y","say ""hi"""\r\n2,"two\r\nlines",\r\n3,,z\r\n';
    expect(parseCsv(text)).toEqual([
      ['a', 'b', 'c'],
      ['1', 'x, y', 'say "hi"'],
      ['2', 'two\r\nlines', ''],
      ['3', '', 'z']
    ]);
  });

  it('reads LF line ends and a last line without one', () => {
    expect(parseCsv('a,b\n1,2')).toEqual([
      ['a', 'b'],
      ['1', '2']
    ]);
    expect(parseCsv('')).toEqual([]);
  });
});

describe('schemaFromCsv', () => {
  it('builds the tree from the answer of the TAP_SCHEMA query', () => {
    const csv =
      'schema_name,table_name,table_description,column_name,datatype,unit,ucd,description,principal,indexed\r\n' +
      'dp02_dc2_catalogs,dp02_dc2_catalogs.Object,"Objects, deblended",coord_ra,double,deg,pos.eq.ra,"Right ascension",1,1\r\n' +
      'dp02_dc2_catalogs,dp02_dc2_catalogs.Object,"Objects, deblended",g_cModelFlux,double,nJy,phot.flux,,0,0\r\n' +
      'ivoa,ivoa.ObsCore,ObsCore,s_ra,double,deg,pos.eq.ra,,true,false\r\n';
    const doc = schemaFromCsv(csv);
    expect(isSchemaDoc(doc)).toBe(true);
    expect(doc.schemas.map(s => s.name)).toEqual(['dp02_dc2_catalogs', 'ivoa']);
    const obj = doc.schemas[0].tables[0];
    expect(obj.name).toBe('dp02_dc2_catalogs.Object');
    expect(obj.description).toBe('Objects, deblended');
    expect(obj.columns).toEqual([
      {
        name: 'coord_ra',
        datatype: 'double',
        unit: 'deg',
        ucd: 'pos.eq.ra',
        description: 'Right ascension',
        principal: true,
        indexed: true
      },
      {
        name: 'g_cModelFlux',
        datatype: 'double',
        unit: 'nJy',
        ucd: 'phot.flux',
        description: '',
        principal: false,
        indexed: false
      }
    ]);
    expect(doc.schemas[1].tables[0].columns[0].principal).toBe(true);
  });

  it('finds columns by name in any order and says which is missing', () => {
    const reordered = 'COLUMN_NAME,TABLE_NAME,SCHEMA_NAME\r\nx,s.t,s\r\n';
    expect(schemaFromCsv(reordered).schemas[0].tables[0].columns[0].name).toBe(
      'x'
    );
    expect(() => schemaFromCsv('table_name,column_name\r\nt,c\r\n')).toThrow(
      /schema_name/
    );
    expect(schemaFromCsv('')).toEqual({ schemas: [] });
  });
});

describe('resultCode', () => {
  it('writes the pyvo code of the brief, with the variable', () => {
    const url = 'http://127.0.0.1:8888/lsstbox/tap/async/abc123';
    expect(resultCode(url)).toBe(
      'from jupyterlab_lsp import get_tap_service, retrieve_query\n' +
        'job = retrieve_query("http://127.0.0.1:8888/lsstbox/tap/async/abc123")\n' +
        'result = job.fetch_result().to_table()'
    );
    expect(resultCode(url, 'objects').split('\n')[2]).toBe(
      'objects = job.fetch_result().to_table()'
    );
  });

  it('accepts Python identifiers only', () => {
    expect(['result', '_r2', 'Table_1'].map(isPythonIdentifier)).toEqual([
      true,
      true,
      true
    ]);
    expect(
      ['', '2x', 'a-b', 'class', 'None', 'x y'].map(isPythonIdentifier)
    ).toEqual([false, false, false, false, false, false]);
  });
});
