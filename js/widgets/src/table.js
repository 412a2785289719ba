// TableView: the front end of kernel_lib.widgets.table.TableView, an anywidget ESM module.
//
// A Lumino DataGrid over a table that stays in the kernel: the grid asks for pages of rows as it
// scrolls, the kernel answers with JSON rows. A click on a column header sorts (the `sort`
// trait: the kernel sorts the whole table); clicks on rows select (click, ctrl/cmd-click to
// toggle, shift-click for a range, computed by the kernel in its sorted order): the `selection`
// trait holds table positions, both ways.
//
// Protocol (custom widget messages):
//   kernel -> view  {type: 'schema', columns: [{name, unit, numeric}], total, sort, page_size}
//                   {type: 'page', page, size, sort, positions, rows} | {type: 'page_error', ...}
//                   {type: 'reset', total, sort}                      (+ view?)
//   view -> kernel  {type: 'ready' | 'closed' | 'page' | 'select_range' | 'error', view, ...}
import {
  BasicMouseHandler,
  DataGrid,
  DataModel,
  RendererMap
} from '@lumino/datagrid';
import { MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { formatCell, gridStyle, withAlpha } from '../../src/gridStyle';
import {
  closeView,
  connected,
  injectCss,
  onModel,
  onViewMessages,
  randomId
} from './common.js';

const STYLE_ID = 'lsstbox-table-widget-css';
const CSS = `
.lsstbox-table-widget { position: relative; width: 100%; border: 1px solid var(--jp-border-color2, #ccc); box-sizing: border-box; }
.lsstbox-table-widget > .lsstbox-table-grid { position: absolute; inset: 0 0 22px 0; }
.lsstbox-table-status { position: absolute; left: 0; right: 0; bottom: 0; height: 22px; line-height: 22px; padding: 0 6px;
  font-family: var(--jp-ui-font-family, sans-serif); font-size: var(--jp-ui-font-size1, 12px);
  color: var(--jp-ui-font-color2, #666); background: var(--jp-layout-color2, #eee); overflow: hidden; white-space: nowrap; }
`;
const MAX_PAGES = 60;
const MAX_IN_FLIGHT = 3;

/** The rows of the kernel's table, fetched page by page as the grid asks for them. */
class KernelModel extends DataModel {
  constructor(request) {
    super();
    this._request = request; // (page) => void
    this.columns = [];
    this.total = 0;
    this.sort = [];
    this.pageSize = 200;
    this._pages = new Map(); // page -> {rows, positions}
    this._inFlight = new Set();
    this._wanted = new Set();
  }

  rowCount(region) {
    return region === 'body' ? this.total : 2;
  }

  columnCount(region) {
    return region === 'body' ? this.columns.length : 1;
  }

  data(region, row, column) {
    if (region === 'column-header') {
      const col = this.columns[column];
      if (!col) {
        return '';
      }
      if (row === 0) {
        const arrow =
          this.sort[0] === col.name ? (this.sort[1] ? ' ▲' : ' ▼') : '';
        return `${col.name}${arrow}`;
      }
      return col.unit ? `[${col.unit}]` : '';
    }
    if (region === 'corner-header') {
      return row === 0 ? '#' : '';
    }
    const page = Math.floor(row / this.pageSize);
    const hit = this._pages.get(page);
    if (!hit) {
      this._want(page);
      return region === 'row-header' ? '' : null;
    }
    const i = row - page * this.pageSize;
    if (region === 'row-header') {
      return hit.positions[i] ?? '';
    }
    return hit.rows[i]?.[column] ?? null;
  }

  metadata(region, row, column) {
    const col = this.columns[column];
    return (region === 'body' || region === 'column-header') && col
      ? { numeric: col.numeric, name: col.name }
      : {};
  }

  /** The table position of view row `row` (undefined: its page is not loaded). */
  positionOf(row) {
    const page = Math.floor(row / this.pageSize);
    const hit = this._pages.get(page);
    return hit ? hit.positions[row - page * this.pageSize] : undefined;
  }

  setSchema(msg) {
    this.columns = msg.columns || [];
    this.total = msg.total || 0;
    this.sort = msg.sort || [];
    this.pageSize = msg.page_size || 200;
    this._pages.clear();
    this._inFlight.clear();
    this._wanted.clear();
    this.emitChanged({ type: 'model-reset' });
  }

  /** A new order (sort): the same rows and columns, every page fetched again. */
  reset(msg) {
    this.total = msg.total;
    this.sort = msg.sort || [];
    this._pages.clear();
    this._inFlight.clear();
    this._wanted.clear();
    this.repaintAll();
  }

  repaintAll() {
    const span = (region, rows, cols) => ({
      type: 'cells-changed',
      region,
      row: 0,
      column: 0,
      rowSpan: rows,
      columnSpan: cols
    });
    const n = this.columns.length;
    if (this.total > 0 && n > 0) {
      this.emitChanged(span('body', this.total, n));
      this.emitChanged(span('row-header', this.total, 1));
    }
    if (n > 0) {
      this.emitChanged(span('column-header', 2, n));
    }
  }

  /** A page from the kernel (dropped if made for another sort). */
  setPage(msg) {
    this._inFlight.delete(msg.page);
    if (JSON.stringify(msg.sort || []) !== JSON.stringify(this.sort)) {
      this._flush();
      return;
    }
    this._pages.set(msg.page, { rows: msg.rows, positions: msg.positions });
    while (this._pages.size > MAX_PAGES) {
      this._pages.delete(this._pages.keys().next().value);
    }
    if (msg.rows.length) {
      const at = msg.page * this.pageSize;
      this.emitChanged({
        type: 'cells-changed',
        region: 'body',
        row: at,
        column: 0,
        rowSpan: msg.rows.length,
        columnSpan: this.columns.length
      });
      this.emitChanged({
        type: 'cells-changed',
        region: 'row-header',
        row: at,
        column: 0,
        rowSpan: msg.rows.length,
        columnSpan: 1
      });
    }
    this._flush();
  }

  pageFailed(page) {
    this._inFlight.delete(page);
    this._flush();
  }

  page(n) {
    return this._pages.get(n);
  }

  _want(page) {
    if (this._inFlight.has(page)) {
      return;
    }
    this._wanted.delete(page);
    this._wanted.add(page); // most recently wanted last
    if (!this._timer) {
      this._timer = setTimeout(() => {
        this._timer = 0;
        this._flush();
      }, 10);
    }
  }

  _flush() {
    const room = MAX_IN_FLIGHT - this._inFlight.size;
    if (room <= 0 || this._wanted.size === 0) {
      return;
    }
    const pages = [...this._wanted].slice(-room).reverse();
    this._wanted.clear();
    for (const p of pages) {
      this._inFlight.add(p);
      this._request(p);
    }
  }
}

async function render({ model, el }) {
  injectCss(STYLE_ID, CSS);
  const viewId = randomId();
  let closed = false;
  const cleanups = [];
  el.classList.add('lsstbox-table-widget');
  el.dataset.testid = 'lsstbox-table';
  el.dataset.view = viewId;
  el.dataset.state = 'loading';
  el.style.height = `${model.get('height')}px`;
  const status = document.createElement('div');
  status.className = 'lsstbox-table-status';
  el.append(status);

  const send = msg => {
    if (!closed) {
      model.send({ ...msg, view: viewId });
    }
  };
  const data = new KernelModel(page =>
    send({ type: 'page', page, size: data.pageSize })
  );

  // ---- selection: table positions (the trait), drawn as row backgrounds
  let selected = new Set(model.get('selection') || []);
  let anchor = null; // the view row of the last plain or ctrl click

  // the lab's result-grid look; selected rows (table positions) get the selection colour
  const style = () => {
    const chosen = withAlpha(
      getComputedStyle(document.body)
        .getPropertyValue('--jp-brand-color3')
        .trim() || '#90caf9',
      0.55
    );
    return gridStyle({
      rowBackground: (i, base) => {
        const pos = data.positionOf(i);
        return pos !== undefined && selected.has(pos) ? chosen : base;
      },
      numeric: c => Boolean(c.metadata?.numeric)
    });
  };
  const s = style();
  const grid = new DataGrid({
    style: s.style,
    defaultSizes: {
      rowHeight: 22,
      columnWidth: 110,
      rowHeaderWidth: 56,
      columnHeaderHeight: 22
    },
    headerVisibility: 'all',
    cellRenderers: new RendererMap(
      {
        body: s.body,
        'column-header': s.header,
        'row-header': s.header,
        'corner-header': s.header
      },
      s.body
    )
  });
  grid.addClass('lsstbox-table-grid');
  grid.dataModel = data;
  grid.mouseHandler = new BasicMouseHandler(); // column resizing, wheel; no cell selection model

  const repaint = () => grid.repaintContent();
  const showStatus = () => {
    const sort = data.sort.length
      ? ` · sorted by ${data.sort[0]} ${data.sort[1] ? '▲' : '▼'}`
      : '';
    status.textContent = `${data.total.toLocaleString()} rows${sort}${selected.size ? ` · ${selected.size} selected` : ''}`;
    el.dataset.total = String(data.total);
    el.dataset.sort = JSON.stringify(data.sort);
    el.dataset.selected = String(selected.size);
  };
  const setSelection = positions => {
    selected = new Set(positions);
    model.set(
      'selection',
      [...selected].sort((a, b) => a - b)
    );
    model.save_changes();
    showStatus();
    repaint();
  };

  // ---- mouse: header clicks sort, row clicks select
  let down = null;
  const onMouseDown = event => {
    down = { x: event.clientX, y: event.clientY };
  };
  const onClick = event => {
    const start = down;
    down = null;
    if (
      !start ||
      Math.abs(event.clientX - start.x) > 3 ||
      Math.abs(event.clientY - start.y) > 3
    ) {
      return;
    }
    const hit = grid.hitTest(event.clientX, event.clientY);
    if (hit.region === 'column-header') {
      if (hit.width - hit.x < 6) {
        return; // the column's resize handle
      }
      const col = data.columns[hit.column];
      if (!col) {
        return;
      }
      const [name, ascending] = data.sort;
      let next;
      if (name !== col.name) {
        next = [col.name, true];
      } else if (ascending) {
        next = [col.name, false];
      } else {
        next = [];
      }
      model.set('sort', next);
      model.save_changes();
      return;
    }
    if (hit.region !== 'body' && hit.region !== 'row-header') {
      return;
    }
    const pos = data.positionOf(hit.row);
    if (pos === undefined) {
      return;
    }
    const toggle = event.ctrlKey || event.metaKey;
    if (event.shiftKey && anchor !== null) {
      // the rows between may not be loaded: the kernel knows its order
      send({ type: 'select_range', from: anchor, to: hit.row, add: toggle });
      return;
    }
    anchor = hit.row;
    if (toggle) {
      const next = new Set(selected);
      if (next.has(pos)) {
        next.delete(pos);
      } else {
        next.add(pos);
      }
      setSelection(next);
    } else {
      setSelection([pos]);
    }
  };
  grid.node.addEventListener('mousedown', onMouseDown, true);
  grid.node.addEventListener('click', onClick);
  cleanups.push(() => {
    grid.node.removeEventListener('mousedown', onMouseDown, true);
    grid.node.removeEventListener('click', onClick);
  });

  // ---- traits: kernel -> view
  const onSelection = () => {
    selected = new Set(model.get('selection') || []);
    showStatus();
    repaint();
  };
  const onHeight = () => {
    el.style.height = `${model.get('height')}px`;
  };
  onModel(
    model,
    [
      ['change:selection', onSelection],
      ['change:height', onHeight]
    ],
    cleanups
  );

  // ---- kernel -> view messages
  const fitColumns = rows => {
    const sample = (rows || []).slice(0, 50);
    data.columns.forEach((col, i) => {
      const longest = Math.max(
        col.name.length + 2,
        (col.unit || '').length + 2,
        ...sample.map(r => formatCell(r[i]).length)
      );
      grid.resizeColumn(
        'body',
        i,
        Math.min(280, Math.max(64, longest * 8 + 18))
      );
    });
  };
  let fitted = false;
  const onMessage = msg => {
    if (msg.type === 'schema') {
      fitted = false;
      data.setSchema(msg);
      const digits = String(Math.max(data.total, 1)).length;
      grid.defaultSizes = {
        ...grid.defaultSizes,
        rowHeaderWidth: Math.max(40, digits * 8 + 16)
      };
      el.dataset.columns = JSON.stringify(
        data.columns.map(c => [c.name, c.unit])
      );
      showStatus();
    } else if (msg.type === 'page') {
      data.setPage(msg);
      if (
        msg.page === 0 &&
        JSON.stringify(msg.sort) === JSON.stringify(data.sort)
      ) {
        if (!fitted) {
          fitColumns(msg.rows);
          fitted = true;
        }
        el.dataset.firstRow = JSON.stringify(msg.rows[0] ?? null);
        el.dataset.firstPosition = String(msg.positions[0] ?? '');
        el.dataset.state = 'ready';
      }
    } else if (msg.type === 'page_error') {
      data.pageFailed(msg.page);
      status.textContent = `could not load rows: ${msg.message}`;
      el.dataset.error = msg.message;
    } else if (msg.type === 'reset') {
      anchor = null;
      el.dataset.state = 'loading';
      data.reset(msg);
      showStatus();
    }
  };
  onViewMessages(model, viewId, onMessage, cleanups);

  await connected(el, () => closed);
  Widget.attach(grid, el);
  const resize = new ResizeObserver(() =>
    MessageLoop.sendMessage(grid, Widget.ResizeMessage.UnknownSize)
  );
  resize.observe(el);
  cleanups.push(() => resize.disconnect());
  // the theme changed (light/dark): restyle
  const themeObserver = new MutationObserver(() => {
    const next = style();
    grid.style = next.style;
    grid.cellRenderers.update(
      {
        body: next.body,
        'column-header': next.header,
        'row-header': next.header,
        'corner-header': next.header
      },
      next.body
    );
  });
  themeObserver.observe(document.body, {
    attributes: true,
    attributeFilter: ['data-jp-theme-light', 'data-jp-theme-name']
  });
  cleanups.push(() => themeObserver.disconnect());

  el.lsstboxTable = { grid, model: data, viewId };
  send({ type: 'ready' });

  return () => {
    closed = true;
    closeView(model, viewId, cleanups);
    delete el.lsstboxTable;
    grid.dispose();
  };
}

export default { render };
