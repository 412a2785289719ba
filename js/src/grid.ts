/**
 * The result grid: a virtualised Lumino DataGrid over the result of a TAP
 * job, fetched page by page from `GET /lsstbox/api/results/<job_id>` (the
 * server sorts and filters), so a 10⁶-row result scrolls without ever being
 * in the browser as a whole.
 *
 * Column headers have two rows: the name (with the sort direction) and the
 * unit.  Clicking a header cycles its sort: ascending, descending, none.
 * Stable hooks for tests: `data-testid` attributes on the toolbar, a
 * visually hidden list of the columns (`lsstbox-grid-columns`, name and unit
 * of each), and on the root `data-state`, `data-total`, `data-sort`,
 * `data-desc` and `data-first-row` (the JSON of the first row shown).
 */

import { Clipboard, Notification } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import {
  BasicKeyHandler,
  BasicMouseHandler,
  BasicSelectionModel,
  DataGrid,
  DataModel,
  RendererMap
} from '@lumino/datagrid';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import { PanelLayout, Widget } from '@lumino/widgets';

import { button, formatCount, h, messageOf } from './dom';
import { formatCell, gridStyle } from './gridStyle';
import { insertCell, isPythonIdentifier, resultCode } from './notebook';
import { IResultColumn, IResultPage, TapClient } from './tap';

/** Rows per request. */
export const PAGE_SIZE = 200;
/** Pages kept in memory (older ones are dropped, and fetched again if shown). */
const MAX_PAGES = 60;
/** Requests in flight at once. */
const MAX_IN_FLIGHT = 3;

/** The view of a result: sort column (none = ''), direction and filter. */
export interface IResultView {
  sort: string;
  desc: boolean;
  filter: string;
}

/**
 * The rows of a job's result for a DataGrid: pages are fetched when the grid
 * asks for a cell that is not loaded yet (the cell shows empty meanwhile).
 */
export class ResultDataModel extends DataModel {
  constructor(
    readonly client: TapClient,
    readonly jobId: string
  ) {
    super();
  }

  /** Emitted when a load of the first page ends (ok or not). */
  get loaded(): ISignal<this, IResultPage | Error> {
    return this._loaded;
  }

  get columns(): IResultColumn[] {
    return this._columns;
  }

  get total(): number {
    return this._total;
  }

  get view(): IResultView {
    return { ...this._view };
  }

  /** The first page of the current view (null until loaded). */
  get firstPage(): IResultPage | null {
    return this._first;
  }

  rowCount(region: DataModel.RowRegion): number {
    return region === 'body' ? this._total : 2;
  }

  columnCount(region: DataModel.ColumnRegion): number {
    return region === 'body' ? this._columns.length : 1;
  }

  data(region: DataModel.CellRegion, row: number, column: number): unknown {
    if (region === 'column-header') {
      const col = this._columns[column];
      if (!col) {
        return '';
      }
      if (row === 0) {
        const arrow =
          this._view.sort === col.name ? (this._view.desc ? ' ▼' : ' ▲') : '';
        return `${col.name}${arrow}`;
      }
      return col.unit ? `[${col.unit}]` : '';
    }
    if (region === 'row-header') {
      return row + 1;
    }
    if (region === 'corner-header') {
      return row === 0 ? '#' : '';
    }
    const page = Math.floor(row / PAGE_SIZE);
    const rows = this._pages.get(page);
    if (!rows) {
      this._want(page);
      return null;
    }
    if (page !== this._lastPage) {
      // keep recently shown pages last in the map (least recently used first)
      this._pages.delete(page);
      this._pages.set(page, rows);
      this._lastPage = page;
    }
    return rows[row - page * PAGE_SIZE]?.[column] ?? null;
  }

  metadata(
    region: DataModel.CellRegion,
    row: number,
    column: number
  ): DataModel.Metadata {
    if (region === 'body' || region === 'column-header') {
      const col = this._columns[column];
      return col ? { ...col, type: col.datatype } : {};
    }
    return {};
  }

  /**
   * Show `view`: the first page is fetched at once (it tells the row count),
   * the others as the grid scrolls to them.
   */
  async setView(view: IResultView): Promise<void> {
    const generation = ++this._generation;
    this._view = { ...view };
    this._abort.abort();
    this._abort = new AbortController();
    this._wanted.clear();
    this._inFlight.clear();
    try {
      const page = await this.client.resultPage(
        this.jobId,
        { offset: 0, limit: PAGE_SIZE, ...view },
        this._abort.signal
      );
      if (generation !== this._generation) {
        return;
      }
      this._pages.clear();
      this._lastPage = -1;
      this._pages.set(0, page.rows);
      this._columns = page.columns;
      this._total = page.total;
      this._first = page;
      this.emitChanged({ type: 'model-reset' });
      this._loaded.emit(page);
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      this._loaded.emit(
        error instanceof Error ? error : new Error(String(error))
      );
    }
  }

  dispose(): void {
    this._generation++;
    this._abort.abort();
  }

  private _want(page: number): void {
    if (this._inFlight.has(page)) {
      return;
    }
    // most recently wanted last: what the grid shows now
    this._wanted.delete(page);
    this._wanted.add(page);
    if (this._timer === 0) {
      this._timer = window.setTimeout(() => {
        this._timer = 0;
        this._flush();
      }, 20);
    }
  }

  private _flush(): void {
    const room = MAX_IN_FLIGHT - this._inFlight.size;
    if (room <= 0 || this._wanted.size === 0) {
      return;
    }
    // only the latest wishes: pages scrolled past meanwhile are asked for
    // again by the grid if they are still on screen
    const pages = [...this._wanted].slice(-room).reverse();
    this._wanted.clear();
    for (const page of pages) {
      void this._fetch(page);
    }
  }

  private async _fetch(page: number): Promise<void> {
    const generation = this._generation;
    this._inFlight.add(page);
    try {
      const result = await this.client.resultPage(
        this.jobId,
        { offset: page * PAGE_SIZE, limit: PAGE_SIZE, ...this._view },
        this._abort.signal
      );
      if (generation !== this._generation) {
        return;
      }
      this._pages.set(page, result.rows);
      while (this._pages.size > MAX_PAGES) {
        const oldest = this._pages.keys().next().value;
        if (oldest === undefined) {
          break;
        }
        this._pages.delete(oldest);
      }
      if (result.rows.length > 0) {
        this.emitChanged({
          type: 'cells-changed',
          region: 'body',
          row: page * PAGE_SIZE,
          column: 0,
          rowSpan: result.rows.length,
          columnSpan: this._columns.length
        });
      }
    } catch {
      // dropped: the grid asks again when it repaints the rows
    } finally {
      if (generation === this._generation) {
        this._inFlight.delete(page);
        if (this._wanted.size > 0) {
          this._flush();
        }
      }
    }
  }

  private _columns: IResultColumn[] = [];
  private _total = 0;
  private _first: IResultPage | null = null;
  private _view: IResultView = { sort: '', desc: false, filter: '' };
  private _pages = new Map<number, unknown[][]>();
  private _lastPage = -1;
  private _wanted = new Set<number>();
  private _inFlight = new Set<number>();
  private _timer = 0;
  private _generation = 0;
  private _abort = new AbortController();
  private _loaded = new Signal<this, IResultPage | Error>(this);
}

/** Options of a result grid. */
export interface IResultGridOptions {
  client: TapClient;
  jobId: string;
  notebooks?: INotebookTracker | null;
  /** Called after code went into a notebook, to show it. */
  showNotebook?: (notebook: Widget) => void;
  /** Draws the job's rows in a sky panel (no button when absent). */
  showOnSky?: (jobId: string) => void;
}

/**
 * A job's result in a DataGrid, with a toolbar: row count, filter, sort,
 * the variable name and the notebook actions.
 */
export class ResultGrid extends Widget {
  constructor(options: IResultGridOptions) {
    super();
    this.addClass('lsstbox-ResultGrid');
    this.node.dataset.testid = 'lsstbox-result-grid';
    this.node.dataset.jobId = options.jobId;
    this.node.dataset.state = 'loading';
    this._notebooks = options.notebooks ?? null;
    this._showNotebook = options.showNotebook;
    this.jobId = options.jobId;
    this.jobUrl = options.client.jobUrl(options.jobId);

    this._model = new ResultDataModel(options.client, options.jobId);
    this._model.loaded.connect(this._onLoaded, this);

    const { style, body, header } = gridStyle();
    this._grid = new DataGrid({
      style,
      defaultSizes: {
        rowHeight: 22,
        columnWidth: 110,
        rowHeaderWidth: 56,
        columnHeaderHeight: 22
      },
      minimumSizes: {
        rowHeight: 18,
        columnWidth: 40,
        rowHeaderWidth: 40,
        columnHeaderHeight: 18
      },
      headerVisibility: 'all',
      cellRenderers: new RendererMap(
        {
          body,
          'column-header': header,
          'row-header': header,
          'corner-header': header
        },
        body
      ),
      copyConfig: {
        separator: '\t',
        headers: 'none',
        format: args =>
          formatCell(args.value, String(args.metadata['type'] ?? '')),
        warningThreshold: 1e6
      }
    });
    this._grid.addClass('lsstbox-ResultGrid-grid');
    this._grid.dataModel = this._model;
    this._grid.selectionModel = new BasicSelectionModel({
      dataModel: this._model,
      selectionMode: 'cell'
    });
    this._grid.keyHandler = new BasicKeyHandler();
    this._grid.mouseHandler = new BasicMouseHandler();
    this._grid.node.addEventListener('mousedown', this._onMouseDown, true);
    this._grid.node.addEventListener('click', this._onClick);

    this._summary = h('span', {
      class: 'lsstbox-GridSummary',
      'data-testid': 'lsstbox-grid-summary',
      role: 'status'
    });
    this._filter = h('input', {
      type: 'search',
      class: 'jp-mod-styled lsstbox-GridFilter',
      placeholder: 'Filter rows: text, or coord_ra > 10',
      'aria-label': 'Filter rows',
      title:
        'Rows where some cell contains the text (any case), or a comparison: <column> = != < <= > >= <value>',
      'data-testid': 'lsstbox-grid-filter'
    });
    this._filter.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        this._applyFilter();
      }
    });
    this._filter.addEventListener('input', () => {
      window.clearTimeout(this._filterTimer);
      this._filterTimer = window.setTimeout(() => this._applyFilter(), 500);
    });
    this._sortSelect = h('select', {
      class: 'jp-mod-styled lsstbox-GridSort',
      'aria-label': 'Sort by column',
      'data-testid': 'lsstbox-grid-sort'
    });
    this._sortSelect.addEventListener('change', () => {
      void this.setView({
        ...this._model.view,
        sort: this._sortSelect.value
      });
    });
    this._sortDir = button(
      '▲',
      {
        class: 'jp-Button lsstbox-Btn lsstbox-GridSortDir',
        title: 'Ascending (click for descending)',
        'aria-label': 'Sort direction',
        'data-testid': 'lsstbox-grid-sort-dir'
      },
      () => {
        const view = this._model.view;
        void this.setView({ ...view, desc: !view.desc });
      }
    );
    this._variable = h('input', {
      type: 'text',
      class: 'jp-mod-styled lsstbox-GridVariable',
      value: 'result',
      size: '8',
      spellcheck: 'false',
      'aria-label': 'Python variable for the result',
      title: 'The Python variable that holds the result in the notebook',
      'data-testid': 'lsstbox-grid-variable'
    });
    const insert = button(
      'Insert code',
      {
        title:
          'Insert the pyvo code that fetches this result into the active notebook',
        'data-testid': 'lsstbox-grid-insert'
      },
      () => void this.toNotebook(false)
    );
    const send = button(
      'Send to notebook',
      {
        class: 'jp-Button lsstbox-Btn lsstbox-mod-accept',
        title:
          'Insert the code into the active notebook and run it: the variable holds the rows',
        'data-testid': 'lsstbox-grid-send'
      },
      () => void this.toNotebook(true)
    );
    const showOnSky = options.showOnSky;
    const sky = showOnSky
      ? button(
          'Show on sky',
          {
            title: 'Draw the rows (their RA/Dec) in a sky panel',
            'data-testid': 'lsstbox-grid-sky'
          },
          () => showOnSky(this.jobId)
        )
      : null;
    const copy = button(
      'Copy job URL',
      {
        title: 'Copy the URL of this TAP job (for retrieve_query, TOPCAT…)',
        'data-testid': 'lsstbox-grid-copy-url'
      },
      () => {
        Clipboard.copyToSystem(this.jobUrl);
        Notification.info(`Copied ${this.jobUrl}`, { autoClose: 3000 });
      }
    );
    this._message = h('div', {
      class: 'lsstbox-GridMessage',
      role: 'alert',
      'data-testid': 'lsstbox-grid-error'
    });
    this._message.hidden = true;
    this._columnList = h('ul', {
      class: 'lsstbox-VisuallyHidden',
      'data-testid': 'lsstbox-grid-columns',
      'aria-label': 'Columns'
    });

    const toolbar = h(
      'div',
      { class: 'lsstbox-GridToolbar' },
      this._summary,
      this._filter,
      h(
        'label',
        { class: 'lsstbox-GridLabel' },
        'Sort',
        this._sortSelect,
        this._sortDir
      ),
      h('span', { class: 'lsstbox-GridSpacer' }),
      h('label', { class: 'lsstbox-GridLabel' }, 'Variable', this._variable),
      insert,
      send,
      sky,
      copy
    );
    const top = new Widget({ node: h('div', {}, toolbar, this._message) });
    top.addClass('lsstbox-ResultGrid-top');
    const hidden = new Widget({ node: this._columnList });

    const layout = new PanelLayout();
    this.layout = layout;
    layout.addWidget(top);
    layout.addWidget(this._grid);
    layout.addWidget(hidden);

    void this._model.setView({ sort: '', desc: false, filter: '' });
  }

  readonly jobId: string;
  readonly jobUrl: string;

  get model(): ResultDataModel {
    return this._model;
  }

  /** The Python variable name typed in the toolbar. */
  get variable(): string {
    return this._variable.value.trim() || 'result';
  }

  /** Restyle for the current theme. */
  updateStyle(): void {
    const { style, body, header } = gridStyle();
    this._grid.style = style;
    this._grid.cellRenderers.update(
      {
        body,
        'column-header': header,
        'row-header': header,
        'corner-header': header
      },
      body
    );
  }

  /** Change sort and filter; the first page is fetched again. */
  async setView(view: IResultView): Promise<void> {
    this.node.dataset.state = 'loading';
    this._showMessage('');
    this._syncControls(view);
    await this._model.setView(view);
  }

  /**
   * Put the code fetching this result into the active notebook, and run it
   * there when `run` is true.
   */
  async toNotebook(run: boolean): Promise<void> {
    const variable = this.variable;
    if (!isPythonIdentifier(variable)) {
      this._showMessage(
        `"${variable}" is not a Python variable name: use letters, digits and _`
      );
      return;
    }
    if (!this._notebooks) {
      this._showMessage('Notebooks are not available in this application.');
      return;
    }
    try {
      const panel = await insertCell(
        this._notebooks,
        resultCode(this.jobUrl, variable),
        run,
        this._showNotebook
      );
      this._showMessage('');
      Notification.success(
        run
          ? `Running the code in ${panel.title.label}: ${variable} will hold the rows`
          : `Inserted the code into ${panel.title.label}`,
        { autoClose: 4000 }
      );
    } catch (error) {
      this._showMessage(messageOf(error));
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    window.clearTimeout(this._filterTimer);
    this._model.loaded.disconnect(this._onLoaded, this);
    this._model.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._grid.update();
  }

  private _applyFilter(): void {
    window.clearTimeout(this._filterTimer);
    const filter = this._filter.value.trim();
    if (filter === this._model.view.filter) {
      return;
    }
    void this.setView({ ...this._model.view, filter });
  }

  private _syncControls(view: IResultView): void {
    this.node.dataset.sort = view.sort;
    this.node.dataset.desc = String(view.desc);
    if (this._sortSelect.value !== view.sort) {
      this._sortSelect.value = view.sort;
    }
    this._sortDir.textContent = view.desc ? '▼' : '▲';
    this._sortDir.title = view.desc
      ? 'Descending (click for ascending)'
      : 'Ascending (click for descending)';
    this._sortDir.disabled = !view.sort;
  }

  private _onLoaded(model: ResultDataModel, page: IResultPage | Error): void {
    if (page instanceof Error) {
      this.node.dataset.state = 'error';
      this._showMessage(`Could not load the result: ${page.message}`);
      return;
    }
    const first = this._columnsShown === null;
    if (
      first ||
      this._columnsShown !== page.columns.map(c => c.name).join('\u0000')
    ) {
      this._columnsShown = page.columns.map(c => c.name).join('\u0000');
      this._fillColumns(page.columns, page.rows);
    }
    this._syncControls({
      sort: page.sort,
      desc: page.desc,
      filter: page.filter
    });
    const total = page.total;
    const all = page.rows_in_result;
    let text =
      page.filter && total !== all
        ? `${formatCount(total)} of ${formatCount(all)} rows`
        : `${formatCount(total)} ${total === 1 ? 'row' : 'rows'}`;
    if (page.overflow) {
      text += ' (truncated at MAXREC)';
    }
    this._summary.textContent = text;
    this.node.dataset.total = String(total);
    this.node.dataset.firstRow = JSON.stringify(page.rows[0] ?? null);
    const digits = String(Math.max(total, 1)).length;
    this._grid.defaultSizes = {
      ...this._grid.defaultSizes,
      rowHeaderWidth: Math.max(40, digits * 8 + 16)
    };
    this.node.dataset.rowHeaderWidth = String(
      this._grid.defaultSizes.rowHeaderWidth
    );
    this.node.dataset.columnHeaderHeight = String(
      this._grid.defaultSizes.columnHeaderHeight
    );
    this.node.dataset.state = 'ready';
  }

  /** Column widths, the sort menu and the hidden column list. */
  private _fillColumns(columns: IResultColumn[], rows: unknown[][]): void {
    const sample = rows.slice(0, 50);
    columns.forEach((col, i) => {
      const longest = Math.max(
        col.name.length + 2,
        col.unit.length + 2,
        ...sample.map(r => formatCell(r[i], col.datatype).length)
      );
      const width = Math.min(280, Math.max(64, longest * 8 + 18));
      this._grid.resizeColumn('body', i, width);
    });
    this._sortSelect.replaceChildren(
      h('option', { value: '' }, '(result order)'),
      ...columns.map(c => h('option', { value: c.name }, c.name))
    );
    this._columnList.replaceChildren(
      ...columns.map(c =>
        h(
          'li',
          {
            'data-testid': 'lsstbox-grid-column',
            'data-name': c.name,
            'data-unit': c.unit,
            'data-ucd': c.ucd,
            'data-datatype': c.datatype
          },
          c.unit ? `${c.name} [${c.unit}]` : c.name
        )
      )
    );
  }

  private _showMessage(text: string): void {
    this._message.textContent = text;
    this._message.hidden = !text;
  }

  private _onMouseDown = (event: MouseEvent): void => {
    this._down = { x: event.clientX, y: event.clientY };
  };

  /** A click (not a drag) on a column name cycles its sort. */
  private _onClick = (event: MouseEvent): void => {
    const down = this._down;
    this._down = null;
    if (
      !down ||
      Math.abs(event.clientX - down.x) > 3 ||
      Math.abs(event.clientY - down.y) > 3
    ) {
      return;
    }
    const hit = this._grid.hitTest(event.clientX, event.clientY);
    if (hit.region !== 'column-header') {
      return;
    }
    // not on a column's resize handle (its right edge)
    if (hit.width - hit.x < 6) {
      return;
    }
    const col = this._model.columns[hit.column];
    if (!col) {
      return;
    }
    const view = this._model.view;
    let next: IResultView;
    if (view.sort !== col.name) {
      next = { ...view, sort: col.name, desc: false };
    } else if (!view.desc) {
      next = { ...view, desc: true };
    } else {
      next = { ...view, sort: '', desc: false };
    }
    void this.setView(next);
  };

  private _notebooks: INotebookTracker | null;
  private _showNotebook?: (notebook: Widget) => void;
  private _model: ResultDataModel;
  private _grid: DataGrid;
  private _summary: HTMLSpanElement;
  private _filter: HTMLInputElement;
  private _filterTimer = 0;
  private _sortSelect: HTMLSelectElement;
  private _sortDir: HTMLButtonElement;
  private _variable: HTMLInputElement;
  private _message: HTMLDivElement;
  private _columnList: HTMLUListElement;
  private _columnsShown: string | null = null;
  private _down: { x: number; y: number } | null = null;
}
