/**
 * The catalog browser's model of a TAP service's tables: types, runtime
 * guards for `GET /lsstbox/api/schema`, a reader for the CSV answer of a
 * `TAP_SCHEMA` query (remote services) and the search filter of the tree.
 */

import {
  arrayOf,
  Guard,
  isNumber,
  isString,
  nullable,
  objectOf
} from './guards';

/** One column, as TAP_SCHEMA.columns describes it. */
export interface IColumnInfo {
  name: string;
  datatype: string;
  unit: string;
  ucd: string;
  description: string;
  principal: boolean;
  indexed: boolean;
}

/** One table, with its qualified name (`dp1.Object`). */
export interface ITableInfo {
  name: string;
  description: string;
  /** Row count when the service knows it. */
  rows?: number | null;
  columns: IColumnInfo[];
}

export interface ISchemaInfo {
  name: string;
  description: string;
  tables: ITableInfo[];
}

/** `GET /lsstbox/api/schema`. */
export interface ISchemaDoc {
  schemas: ISchemaInfo[];
}

const isBoolean: Guard<boolean> = (
  value,
  path = '$',
  problems
): value is boolean => {
  if (typeof value === 'boolean') {
    return true;
  }
  problems?.push(`${path}: expected a boolean`);
  return false;
};

/** A guard for an optional field: `undefined` or whatever `guard` accepts. */
function optional<T>(guard: Guard<T>): Guard<T | undefined> {
  return (value, path = '$', problems): value is T | undefined =>
    value === undefined || guard(value, path, problems);
}

export const isColumnInfo = objectOf<IColumnInfo>({
  name: isString,
  datatype: isString,
  unit: isString,
  ucd: isString,
  description: isString,
  principal: isBoolean,
  indexed: isBoolean
});

export const isTableInfo = objectOf<ITableInfo>({
  name: isString,
  description: isString,
  rows: optional(nullable(isNumber)),
  columns: arrayOf(isColumnInfo)
});

export const isSchemaInfo = objectOf<ISchemaInfo>({
  name: isString,
  description: isString,
  tables: arrayOf(isTableInfo)
});

export const isSchemaDoc = objectOf<ISchemaDoc>({
  schemas: arrayOf(isSchemaInfo)
});

// -- CSV (RFC 4180) ----------------------------------------------------------

/**
 * Parse RFC 4180 CSV: quoted fields may hold commas, doubled quotes and line
 * breaks; lines end with CRLF or LF.  A final empty line is not a row.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i += 1;
        continue;
      }
      field += c;
      i += 1;
      continue;
    }
    if (c === '"' && field.length === 0) {
      quoted = true;
      i += 1;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i += 1;
    } else if (c === '\r' || c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += c;
      i += 1;
    }
  }
  if (field.length > 0 || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/**
 * The ADQL of the one query a remote service's tree comes from: every column
 * of every table, with its table's schema and description.
 */
export const TAP_SCHEMA_QUERY =
  'SELECT t.schema_name, t.table_name, t.description AS table_description, ' +
  'c.column_name, c.datatype, c.unit, c.ucd, c.description, c.principal, c.indexed ' +
  'FROM TAP_SCHEMA.tables AS t JOIN TAP_SCHEMA.columns AS c ON c.table_name = t.table_name';

/**
 * Build the tree from the CSV answer of `TAP_SCHEMA_QUERY` (header line
 * first; columns found by name, in any order and case).
 *
 * @throws {Error} when a needed column is missing.
 */
export function schemaFromCsv(text: string): ISchemaDoc {
  const [header, ...body] = parseCsv(text);
  if (!header) {
    return { schemas: [] };
  }
  const at = new Map(header.map((name, i) => [name.trim().toLowerCase(), i]));
  const need = ['schema_name', 'table_name', 'column_name'];
  for (const name of need) {
    if (!at.has(name)) {
      throw new Error(
        `the TAP_SCHEMA answer has no ${name} column (columns: ${header.join(', ')})`
      );
    }
  }
  const get = (row: string[], name: string): string => {
    const i = at.get(name);
    return i === undefined ? '' : (row[i] ?? '');
  };
  const flag = (value: string) =>
    value === '1' || value.toLowerCase() === 'true' || value === 'T';
  const schemas = new Map<string, ISchemaInfo>();
  const tables = new Map<string, ITableInfo>();
  for (const row of body) {
    if (row.length === 1 && row[0] === '') {
      continue;
    }
    const schemaName = get(row, 'schema_name');
    const tableName = get(row, 'table_name');
    let schema = schemas.get(schemaName);
    if (!schema) {
      schema = { name: schemaName, description: '', tables: [] };
      schemas.set(schemaName, schema);
    }
    let table = tables.get(tableName);
    if (!table) {
      table = {
        name: tableName,
        description: get(row, 'table_description'),
        columns: []
      };
      tables.set(tableName, table);
      schema.tables.push(table);
    }
    table.columns.push({
      name: get(row, 'column_name'),
      datatype: get(row, 'datatype'),
      unit: get(row, 'unit'),
      ucd: get(row, 'ucd'),
      description: get(row, 'description'),
      principal: flag(get(row, 'principal')),
      indexed: flag(get(row, 'indexed'))
    });
  }
  const byName = (a: { name: string }, b: { name: string }) =>
    a.name.localeCompare(b.name);
  const list = [...schemas.values()].sort(byName);
  for (const schema of list) {
    schema.tables.sort(byName);
  }
  return { schemas: list };
}

// -- search ------------------------------------------------------------------

/** A table shown by a search, with the columns that matched. */
export interface ITableMatch {
  schema: ISchemaInfo;
  table: ITableInfo;
  /** The table's own name matched. */
  tableMatched: boolean;
  /** Columns whose name (or UCD) matched. */
  columns: IColumnInfo[];
}

/** The short name of a table: `dp1.Object` -> `Object`. */
export function shortName(table: string): string {
  const dot = table.lastIndexOf('.');
  return dot >= 0 ? table.slice(dot + 1) : table;
}

/**
 * The tables and columns matching `query`: every word of the query (any
 * case) must appear in the table's qualified name, or in the column's name or
 * UCD.  An empty query matches nothing.
 */
export function searchSchema(doc: ISchemaDoc, query: string): ITableMatch[] {
  const words = query
    .toLowerCase()
    .split(/\s+/)
    .filter(w => w.length > 0);
  if (words.length === 0) {
    return [];
  }
  const all = (text: string) => {
    const lower = text.toLowerCase();
    return words.every(w => lower.includes(w));
  };
  const out: ITableMatch[] = [];
  for (const schema of doc.schemas) {
    for (const table of schema.tables) {
      const tableMatched = all(table.name);
      const columns = table.columns.filter(
        c => all(c.name) || (c.ucd !== '' && all(c.ucd))
      );
      if (tableMatched || columns.length > 0) {
        out.push({ schema, table, tableMatched, columns });
      }
    }
  }
  return out;
}

/** All table and column names, for the editor's completion. */
export function completionSchema(doc: ISchemaDoc): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const schema of doc.schemas) {
    for (const table of schema.tables) {
      out[table.name] = table.columns.map(c => c.name);
    }
  }
  return out;
}
