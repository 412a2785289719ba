/**
 * The result grid's look, from the current theme's CSS variables: shared by
 * the lab's result grids and the TableView widget (no JupyterLab imports, so
 * the widget bundle can take it).
 */

import { CellRenderer, DataGrid, TextRenderer } from '@lumino/datagrid';

import { cssVar } from './dom';

/** VOTable datatypes shown right-aligned. */
export const NUMERIC = new Set([
  'short',
  'int',
  'long',
  'float',
  'double',
  'unsignedByte'
]);

/** A cell value as text: numbers to a sensible precision, null as empty. */
export function formatCell(value: unknown, datatype = ''): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'number') {
    if (
      Number.isInteger(value) &&
      datatype !== 'float' &&
      datatype !== 'double'
    ) {
      return String(value);
    }
    const digits = datatype === 'float' ? 7 : 12;
    return String(Number(value.toPrecision(digits)));
  }
  if (typeof value === 'boolean') {
    return value ? 'true' : 'false';
  }
  if (typeof value === 'object') {
    return JSON.stringify(value); // nested values (a light curve's list)
  }
  return String(value);
}

/** The grid's colours and fonts, from the current theme's CSS variables. */
export function gridStyle(
  options: {
    /** The background of body row `i` (default: alternating stripes). */
    rowBackground?: (i: number, stripe: string) => string;
    /** Whether a body cell is numeric (default: its `type` metadata is). */
    numeric?: (config: CellRenderer.CellConfig) => boolean;
  } = {}
): {
  style: DataGrid.Style;
  body: TextRenderer;
  header: TextRenderer;
} {
  const background = cssVar('--jp-layout-color0');
  const stripe = cssVar('--jp-layout-color1');
  const header = cssVar('--jp-layout-color2');
  const border = cssVar('--jp-border-color2');
  const text = cssVar('--jp-ui-font-color1');
  const dim = cssVar('--jp-ui-font-color2');
  const brand = cssVar('--jp-brand-color1');
  const selection = cssVar('--jp-brand-color3');
  const fontSize = cssVar('--jp-code-font-size', '13px');
  const code = cssVar('--jp-code-font-family', 'monospace');
  const ui = cssVar('--jp-ui-font-family', 'sans-serif');
  const uiSize = cssVar('--jp-ui-font-size1', '13px');
  const style: DataGrid.Style = {
    ...DataGrid.defaultStyle,
    voidColor: background,
    backgroundColor: background,
    rowBackgroundColor: (i: number) => {
      const base = i % 2 === 0 ? background : stripe;
      return options.rowBackground ? options.rowBackground(i, base) : base;
    },
    gridLineColor: border,
    headerBackgroundColor: header,
    headerGridLineColor: border,
    selectionFillColor: withAlpha(selection, 0.35),
    selectionBorderColor: brand,
    cursorBorderColor: brand,
    headerSelectionFillColor: withAlpha(selection, 0.35),
    headerSelectionBorderColor: brand
  };
  const numeric =
    options.numeric ??
    ((config: CellRenderer.CellConfig) =>
      NUMERIC.has(String(config.metadata?.['type'] ?? '')));
  const body = new TextRenderer({
    font: `${fontSize} ${code}`,
    textColor: text,
    horizontalAlignment: config => (numeric(config) ? 'right' : 'left'),
    format: config =>
      formatCell(config.value, String(config.metadata?.['type'] ?? ''))
  });
  const headerRenderer = new TextRenderer({
    font: config =>
      config.region === 'column-header' && config.row === 0
        ? `600 ${uiSize} ${ui}`
        : `${uiSize} ${ui}`,
    textColor: config =>
      config.region === 'column-header' && config.row === 0 ? text : dim,
    horizontalAlignment: config =>
      config.region === 'row-header' ? 'right' : 'left',
    format: config => formatCell(config.value)
  });
  return { style, body, header: headerRenderer };
}

/** `color` (any CSS colour) with opacity `alpha`, as `rgba()` for the canvas. */
export function withAlpha(color: string, alpha: number): string {
  const ctx = document.createElement('canvas').getContext('2d');
  let rgb: [number, number, number] = [128, 128, 128];
  if (ctx && color) {
    ctx.fillStyle = '#808080';
    ctx.fillStyle = color;
    const norm = String(ctx.fillStyle);
    const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(norm);
    const fn = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/i.exec(norm);
    if (hex) {
      rgb = [parseInt(hex[1], 16), parseInt(hex[2], 16), parseInt(hex[3], 16)];
    } else if (fn) {
      rgb = [Number(fn[1]), Number(fn[2]), Number(fn[3])];
    }
  }
  return `rgba(${rgb[0]}, ${rgb[1]}, ${rgb[2]}, ${alpha})`;
}
