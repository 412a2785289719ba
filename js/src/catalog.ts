/**
 * The catalog browser in the left sidebar: the tree of TAP services ->
 * schemas -> tables -> columns with a search box, and below it the user's
 * recent async jobs.
 *
 * Stable hooks for tests are `data-testid` attributes; the tree root carries
 * `data-state` = idle | loading | ready | error.
 */

import { Clipboard, Notification } from '@jupyterlab/apputils';
import { refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import { SplitPanel, Widget } from '@lumino/widgets';

import { button, Child, formatCount, formatTime, h, messageOf } from './dom';
import { catalogIcon } from './icons';
import {
  IColumnInfo,
  ISchemaDoc,
  ITableInfo,
  searchSchema,
  shortName
} from './schema';
import {
  IJobInfo,
  IJobRef,
  IRemoteService,
  isFinalPhase,
  jobQuery,
  TapClient
} from './tap';

/** The DOM id of the sidebar panel; also its `data-testid`. */
export const CATALOG_BROWSER_ID = 'lsstbox-catalog-browser';

/** At most this many columns are listed for a search. */
const MAX_SEARCH_COLUMNS = 400;

/** What the browser asks its host application to do. */
export interface ICatalogActions {
  /** Open an ADQL editor on `query`. */
  openQuery(query: string): void;
  /** Open a query for the first rows of `table`. */
  openTable(table: string): void;
  /** Insert text (a column name) into the current ADQL editor. */
  insertText(text: string): boolean;
  /** Open the result of job `id` in a grid. */
  openResult(id: string): void;
}

type LoadState = 'idle' | 'loading' | 'ready' | 'error';

/** One service of the tree. */
interface IServiceNode {
  key: string;
  name: string;
  url: string;
  remote: IRemoteService | null;
  state: LoadState;
  schema: ISchemaDoc | null;
  error: string;
}

function columnDetail(column: IColumnInfo): HTMLElement {
  return h(
    'span',
    { class: 'lsstbox-ColumnMeta' },
    h(
      'span',
      { class: 'lsstbox-Datatype', title: 'VOTable datatype' },
      column.datatype
    ),
    column.unit
      ? h(
          'span',
          {
            class: 'lsstbox-Unit',
            title: 'Unit',
            'data-testid': 'lsstbox-column-unit'
          },
          column.unit
        )
      : null,
    column.ucd
      ? h('span', { class: 'lsstbox-Ucd', title: 'UCD' }, column.ucd)
      : null
  );
}

/**
 * The schema tree with its search box.
 */
export class SchemaTree extends Widget {
  constructor(
    readonly client: TapClient,
    readonly actions: ICatalogActions
  ) {
    super();
    this.addClass('lsstbox-SchemaTree');
    this.node.dataset.testid = 'lsstbox-schema-tree';
    this.node.dataset.state = 'idle';

    const refresh = button(
      refreshIcon.element({ tag: 'span', className: 'lsstbox-IconSpan' }),
      {
        class: 'jp-Button jp-mod-minimal lsstbox-IconBtn',
        title: 'Reload the tables from TAP_SCHEMA',
        'aria-label': 'Reload the tables',
        'data-testid': 'lsstbox-catalog-refresh'
      },
      () => void this.refresh()
    );
    const newQuery = button(
      'New query',
      {
        class: 'jp-Button lsstbox-Btn',
        title: 'Open an empty ADQL editor',
        'data-testid': 'lsstbox-catalog-new-query'
      },
      () => this.actions.openQuery('')
    );
    this._search = h('input', {
      type: 'search',
      class: 'jp-mod-styled lsstbox-CatalogSearch',
      placeholder: 'Search tables and columns (e.g. psfFlux)',
      'aria-label': 'Search tables and columns',
      'data-testid': 'lsstbox-catalog-search'
    });
    this._search.addEventListener('input', () => {
      window.clearTimeout(this._searchTimer);
      this._searchTimer = window.setTimeout(() => this._render(), 150);
    });
    this._search.addEventListener('keydown', event => {
      if (event.key === 'Escape') {
        this._search.value = '';
        this._render();
      }
    });
    this._status = h('div', {
      class: 'lsstbox-CatalogStatus',
      role: 'status',
      'aria-live': 'polite'
    });
    this._tree = h('ul', {
      class: 'lsstbox-Tree',
      role: 'tree',
      'aria-label': 'TAP services, schemas, tables and columns',
      'data-testid': 'lsstbox-catalog-tree'
    });
    this.node.append(
      h(
        'header',
        { class: 'lsstbox-Header' },
        h('h2', { class: 'lsstbox-Title' }, 'Catalogs'),
        h('span', { class: 'lsstbox-HeaderTools' }, newQuery, refresh)
      ),
      h('div', { class: 'lsstbox-SearchRow' }, this._search),
      this._status,
      h('div', { class: 'lsstbox-TreeScroll' }, this._tree)
    );
    this._services = [
      {
        key: 'box',
        name: 'LSST box TAP',
        url: client.tapUrl,
        remote: null,
        state: 'idle',
        schema: null,
        error: ''
      }
    ];
    this._expanded.add('svc:box');
  }

  /** Emitted when the box's schema is (re)loaded. */
  get schemaLoaded(): ISignal<this, ISchemaDoc> {
    return this._schemaLoaded;
  }

  /** The box's schema, once loaded. */
  get schema(): ISchemaDoc | null {
    return this._services[0].schema;
  }

  /** The search text. */
  get searchText(): string {
    return this._search.value;
  }

  set searchText(text: string) {
    this._search.value = text;
    this._render();
  }

  /** Reload the box's schema (one request) and the list of remote services. */
  async refresh(): Promise<void> {
    const box = this._services[0];
    const ticket = ++this._ticket;
    box.state = 'loading';
    box.error = '';
    this._render();
    const remotes = this.client.remoteServices();
    try {
      const schema = await this.client.schema();
      if (ticket !== this._ticket) {
        return;
      }
      box.schema = schema;
      box.state = 'ready';
      const first = schema.schemas[0];
      if (first && this._firstLoad) {
        this._expanded.add(`schema:box:${first.name}`);
      }
      this._firstLoad = false;
      this._schemaLoaded.emit(schema);
    } catch (error) {
      if (ticket !== this._ticket) {
        return;
      }
      box.state = 'error';
      box.error = messageOf(error);
    }
    const known = new Map(this._services.map(s => [s.key, s]));
    const list = await remotes;
    if (ticket !== this._ticket) {
      return;
    }
    this._services = [
      box,
      ...list.map(
        (remote): IServiceNode =>
          known.get(`remote:${remote.name}`) ?? {
            key: `remote:${remote.name}`,
            name: remote.name,
            url: remote.url,
            remote,
            state: 'idle',
            schema: null,
            error: ''
          }
      )
    ];
    this._render();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    // the tables are read from TAP_SCHEMA each time the browser opens
    void this.refresh();
  }

  private async _loadRemote(node: IServiceNode): Promise<void> {
    if (!node.remote || node.state === 'loading') {
      return;
    }
    node.state = 'loading';
    node.error = '';
    this._render();
    try {
      node.schema = await this.client.remoteSchema(node.remote);
      node.state = 'ready';
    } catch (error) {
      node.state = 'error';
      node.error = messageOf(error);
    }
    this._render();
  }

  private _toggle(key: string): void {
    if (this._expanded.has(key)) {
      this._expanded.delete(key);
    } else {
      this._expanded.add(key);
    }
    this._render();
  }

  private _render(): void {
    const box = this._services[0];
    this.node.dataset.state = box.state;
    this._status.replaceChildren();
    if (box.state === 'loading' && !box.schema) {
      this._status.append(
        h(
          'p',
          {
            class: 'lsstbox-Loading',
            'data-testid': 'lsstbox-catalog-loading'
          },
          'Loading the tables…'
        )
      );
    }
    const query = this._search.value.trim();
    this._tree.replaceChildren(
      ...this._services.map(svc =>
        query ? this._renderSearch(svc, query) : this._renderService(svc)
      )
    );
  }

  private _expander(
    key: string,
    label: Child,
    attrs: Record<string, string>,
    forceOpen = false
  ) {
    const open = forceOpen || this._expanded.has(key);
    const row = h(
      'div',
      {
        class: 'lsstbox-TreeRow',
        role: 'treeitem',
        tabindex: '0',
        'aria-expanded': String(open),
        ...attrs
      },
      h('span', { class: `lsstbox-Caret${open ? ' lsstbox-mod-open' : ''}` }),
      label
    );
    row.addEventListener('click', () => this._toggle(key));
    row.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this._toggle(key);
      }
    });
    return { row, open };
  }

  private _renderService(svc: IServiceNode): HTMLElement {
    const key = `svc:${svc.key}`;
    const { row, open } = this._expander(
      key,
      h(
        'span',
        { class: 'lsstbox-ServiceName', title: svc.url },
        svc.name,
        svc.remote ? h('span', { class: 'lsstbox-Badge' }, 'remote') : null
      ),
      { 'data-testid': 'lsstbox-service-node', 'data-name': svc.name }
    );
    if (svc.remote) {
      row.addEventListener('click', () => {
        if (this._expanded.has(key) && svc.state === 'idle') {
          void this._loadRemote(svc);
        }
      });
    }
    const li = h('li', { class: 'lsstbox-TreeItem' }, row);
    if (!open) {
      return li;
    }
    const body = this._serviceBody(svc);
    if (body) {
      li.append(body);
      return li;
    }
    const schema = svc.schema;
    if (!schema) {
      return li;
    }
    li.append(
      h(
        'ul',
        { role: 'group', class: 'lsstbox-TreeGroup' },
        ...schema.schemas.map(s => {
          const skey = `schema:${svc.key}:${s.name}`;
          const { row: srow, open: sopen } = this._expander(
            skey,
            h(
              'span',
              { class: 'lsstbox-SchemaName', title: s.description },
              s.name,
              h('span', { class: 'lsstbox-Count' }, `${s.tables.length} tables`)
            ),
            { 'data-testid': 'lsstbox-schema-node', 'data-name': s.name }
          );
          const sli = h('li', { class: 'lsstbox-TreeItem' }, srow);
          if (sopen) {
            sli.append(
              h(
                'ul',
                { role: 'group', class: 'lsstbox-TreeGroup' },
                ...s.tables.map(t => this._renderTable(svc, t, null))
              )
            );
          }
          return sli;
        })
      )
    );
    return li;
  }

  /** Loading / error state under a service, or null when it has a schema. */
  private _serviceBody(svc: IServiceNode): HTMLElement | null {
    if (svc.state === 'error') {
      return h(
        'div',
        {
          class: 'lsstbox-Error',
          role: 'alert',
          'data-testid': 'lsstbox-catalog-error'
        },
        h('p', { class: 'lsstbox-ErrorTitle' }, 'Could not load the tables'),
        h('p', { class: 'lsstbox-ErrorMessage' }, svc.error)
      );
    }
    if (svc.state === 'loading' && !svc.schema) {
      return h('p', { class: 'lsstbox-Loading' }, 'Loading the tables…');
    }
    return null;
  }

  /**
   * A table row (double-click: query it) and, when open or when `columns`
   * are given (search), its columns.
   */
  private _renderTable(
    svc: IServiceNode,
    table: ITableInfo,
    columns: IColumnInfo[] | null
  ): HTMLElement {
    const key = `table:${svc.key}:${table.name}`;
    const local = svc.remote === null;
    const query = local
      ? button(
          '▶',
          {
            class:
              'jp-Button jp-mod-minimal lsstbox-IconBtn lsstbox-TableQuery',
            title: `Query ${table.name} in a new ADQL editor`,
            'aria-label': `Query ${table.name}`,
            'data-testid': 'lsstbox-table-query'
          },
          event => {
            event.stopPropagation();
            this.actions.openTable(table.name);
          }
        )
      : null;
    const { row, open } = this._expander(
      key,
      h(
        'span',
        { class: 'lsstbox-TableLabel' },
        h(
          'span',
          { class: 'lsstbox-TableName', title: table.description },
          // search results have no schema above the table: show it
          columns === null ? shortName(table.name) : table.name
        ),
        table.rows !== undefined && table.rows !== null
          ? h(
              'span',
              { class: 'lsstbox-Count' },
              `${formatCount(table.rows)} rows`
            )
          : null,
        query
      ),
      {
        'data-testid': 'lsstbox-table-node',
        'data-name': table.name,
        title: `${table.name}${table.description ? `: ${table.description}` : ''}${local ? '\nDouble-click to query it' : ''}`
      },
      columns !== null && columns.length > 0
    );
    if (local) {
      row.addEventListener('dblclick', event => {
        event.preventDefault();
        this.actions.openTable(table.name);
      });
    }
    const li = h('li', { class: 'lsstbox-TreeItem' }, row);
    // in a search, the matching columns; all of them once the table is opened
    const shown =
      columns !== null && columns.length > 0 && !this._expanded.has(key)
        ? columns
        : open
          ? table.columns
          : null;
    if (shown) {
      if (columns === null && table.description) {
        li.append(
          h('p', { class: 'lsstbox-TableDescription' }, table.description)
        );
      }
      li.append(
        h(
          'ul',
          { role: 'group', class: 'lsstbox-TreeGroup lsstbox-Columns' },
          ...shown.map(c => this._renderColumn(table, c))
        )
      );
    }
    return li;
  }

  private _renderColumn(table: ITableInfo, column: IColumnInfo): HTMLElement {
    const li = h(
      'li',
      {
        class: `lsstbox-ColumnItem${column.principal ? ' lsstbox-mod-principal' : ''}`,
        role: 'treeitem',
        'data-testid': 'lsstbox-column-node',
        'data-name': column.name,
        'data-table': table.name,
        'data-unit': column.unit,
        'data-ucd': column.ucd,
        'data-datatype': column.datatype,
        title: `${table.name}.${column.name}${column.indexed ? ' (indexed)' : ''}\nDouble-click to insert the name into the ADQL editor`
      },
      h(
        'div',
        { class: 'lsstbox-ColumnLine' },
        h('code', { class: 'lsstbox-ColumnName' }, column.name),
        columnDetail(column)
      ),
      column.description
        ? h('div', { class: 'lsstbox-ColumnDescription' }, column.description)
        : null
    );
    li.addEventListener('dblclick', () => {
      if (!this.actions.insertText(column.name)) {
        Notification.info('Open an ADQL editor to insert column names.', {
          autoClose: 3000
        });
      }
    });
    return li;
  }

  private _renderSearch(svc: IServiceNode, query: string): HTMLElement {
    const li = h(
      'li',
      { class: 'lsstbox-TreeItem' },
      h(
        'div',
        {
          class: 'lsstbox-TreeRow lsstbox-mod-static',
          'data-testid': 'lsstbox-service-node'
        },
        h('span', { class: 'lsstbox-ServiceName' }, svc.name)
      )
    );
    const body = this._serviceBody(svc);
    if (body) {
      li.append(body);
      return li;
    }
    if (!svc.schema) {
      if (svc.remote) {
        li.append(
          h(
            'p',
            { class: 'lsstbox-Empty' },
            'Expand this service to load and search its tables.'
          )
        );
      }
      return li;
    }
    const matches = searchSchema(svc.schema, query);
    if (matches.length === 0) {
      li.append(
        h(
          'p',
          { class: 'lsstbox-Empty', 'data-testid': 'lsstbox-catalog-no-match' },
          `No table or column matches "${query}".`
        )
      );
      return li;
    }
    let budget = MAX_SEARCH_COLUMNS;
    const items: HTMLElement[] = [];
    for (const m of matches) {
      const columns = m.columns.slice(0, Math.max(0, budget));
      budget -= columns.length;
      // a table matched by name alone shows its columns only when opened
      items.push(this._renderTable(svc, m.table, columns));
    }
    const total = matches.reduce((n, m) => n + m.columns.length, 0);
    li.append(
      h(
        'p',
        {
          class: 'lsstbox-SearchSummary',
          'data-testid': 'lsstbox-catalog-search-summary'
        },
        `${matches.length} ${matches.length === 1 ? 'table' : 'tables'}, ${total} ${total === 1 ? 'column' : 'columns'}` +
          (total > MAX_SEARCH_COLUMNS
            ? ` (first ${MAX_SEARCH_COLUMNS} shown)`
            : '')
      ),
      h('ul', { role: 'group', class: 'lsstbox-TreeGroup' }, ...items)
    );
    return li;
  }

  private _search: HTMLInputElement;
  private _searchTimer = 0;
  private _status: HTMLDivElement;
  private _tree: HTMLUListElement;
  private _services: IServiceNode[];
  private _expanded = new Set<string>();
  private _firstLoad = true;
  private _ticket = 0;
  private _schemaLoaded = new Signal<this, ISchemaDoc>(this);
}

/**
 * The user's recent async jobs (`GET /lsstbox/tap/async?LAST=20`), with the
 * query of each (from its JSON view, fetched once per job and phase).
 */
export class JobList extends Widget {
  constructor(
    readonly client: TapClient,
    readonly actions: ICatalogActions
  ) {
    super();
    this.addClass('lsstbox-JobList');
    this.node.dataset.testid = 'lsstbox-job-list';
    this.node.dataset.state = 'idle';
    const refresh = button(
      refreshIcon.element({ tag: 'span', className: 'lsstbox-IconSpan' }),
      {
        class: 'jp-Button jp-mod-minimal lsstbox-IconBtn',
        title: 'Reload the job list',
        'aria-label': 'Reload the job list',
        'data-testid': 'lsstbox-jobs-refresh'
      },
      () => void this.refresh()
    );
    this._list = h('ul', {
      class: 'lsstbox-Jobs',
      'aria-label': 'Recent TAP jobs'
    });
    this._status = h('div', { class: 'lsstbox-CatalogStatus', role: 'status' });
    this.node.append(
      h(
        'header',
        { class: 'lsstbox-Header lsstbox-SubHeader' },
        h('h3', { class: 'lsstbox-Title' }, 'Query history'),
        refresh
      ),
      this._status,
      h('div', { class: 'lsstbox-TreeScroll' }, this._list)
    );
  }

  /** Reload the list (and the details of jobs that are new or changed phase). */
  async refresh(): Promise<void> {
    const ticket = ++this._ticket;
    this.node.dataset.state = 'loading';
    let refs: IJobRef[];
    try {
      refs = await this.client.list(20);
    } catch (error) {
      if (ticket === this._ticket) {
        this.node.dataset.state = 'error';
        this._status.replaceChildren(
          h(
            'p',
            {
              class: 'lsstbox-Error',
              role: 'alert',
              'data-testid': 'lsstbox-jobs-error'
            },
            `Could not list the jobs: ${messageOf(error)}`
          )
        );
      }
      return;
    }
    await Promise.all(
      refs.map(async ref => {
        const known = this._details.get(ref.id);
        if (known && known.phase === ref.phase) {
          return;
        }
        try {
          this._details.set(ref.id, await this.client.job(ref.id));
        } catch {
          // listed but gone meanwhile: shown without its query
        }
      })
    );
    if (ticket !== this._ticket) {
      return;
    }
    this._refs = refs;
    this._status.replaceChildren();
    this.node.dataset.state = 'ready';
    this._render();
    this._schedule();
  }

  dispose(): void {
    window.clearTimeout(this._timer);
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
  }

  protected onBeforeHide(msg: Message): void {
    super.onBeforeHide(msg);
    window.clearTimeout(this._timer);
  }

  /** Poll while some job is still running. */
  private _schedule(): void {
    window.clearTimeout(this._timer);
    if (this.isVisible && this._refs.some(r => !isFinalPhase(r.phase))) {
      this._timer = window.setTimeout(() => void this.refresh(), 3000);
    }
  }

  private _render(): void {
    if (this._refs.length === 0) {
      this._list.replaceChildren(
        h('li', { class: 'lsstbox-Empty' }, 'No jobs yet: run a query.')
      );
      return;
    }
    this._list.replaceChildren(...this._refs.map(ref => this._renderJob(ref)));
  }

  private _renderJob(ref: IJobRef): HTMLElement {
    const info = this._details.get(ref.id);
    const query = info ? jobQuery(info) : '';
    const done = ref.phase === 'COMPLETED';
    const rows = info?.results[0]?.rows;
    const open = button(
      'Open',
      {
        class: 'jp-Button lsstbox-Btn',
        title: done
          ? 'Show the result in a grid'
          : `The job is ${ref.phase}: it has no result`,
        'data-testid': 'lsstbox-job-open'
      },
      event => {
        event.stopPropagation();
        this.actions.openResult(ref.id);
      }
    );
    open.disabled = !done;
    const edit = button(
      'Edit',
      {
        class: 'jp-Button lsstbox-Btn',
        title: 'Open the query in a new ADQL editor',
        'data-testid': 'lsstbox-job-edit'
      },
      event => {
        event.stopPropagation();
        this.actions.openQuery(query);
      }
    );
    edit.disabled = !query;
    const copy = button(
      'Copy URL',
      {
        class: 'jp-Button lsstbox-Btn',
        title: `Copy ${ref.href}`,
        'data-testid': 'lsstbox-job-copy-url'
      },
      event => {
        event.stopPropagation();
        Clipboard.copyToSystem(ref.href);
        Notification.info(`Copied ${ref.href}`, { autoClose: 3000 });
      }
    );
    const li = h(
      'li',
      {
        class: `lsstbox-Job${done ? ' lsstbox-mod-clickable' : ''}`,
        'data-testid': 'lsstbox-job-row',
        'data-job-id': ref.id,
        'data-phase': ref.phase,
        title: query || ref.href
      },
      h(
        'div',
        { class: 'lsstbox-JobLine' },
        h(
          'span',
          { class: `lsstbox-Phase lsstbox-Phase-${ref.phase.toLowerCase()}` },
          ref.phase
        ),
        h('span', { class: 'lsstbox-JobTime' }, formatTime(ref.creationTime)),
        rows !== undefined && done
          ? h('span', { class: 'lsstbox-Count' }, `${formatCount(rows)} rows`)
          : null
      ),
      h('code', { class: 'lsstbox-JobQuery' }, query || ref.id),
      info?.errorSummary
        ? h('div', { class: 'lsstbox-JobError' }, info.errorSummary.message)
        : null,
      h('div', { class: 'lsstbox-JobActions' }, open, edit, copy)
    );
    if (done) {
      li.addEventListener('click', () => this.actions.openResult(ref.id));
    }
    return li;
  }

  private _list: HTMLUListElement;
  private _status: HTMLDivElement;
  private _refs: IJobRef[] = [];
  private _details = new Map<string, IJobInfo>();
  private _ticket = 0;
  private _timer = 0;
}

/**
 * The sidebar panel: the schema tree above the job list.
 */
export class CatalogBrowser extends SplitPanel {
  constructor(client: TapClient, actions: ICatalogActions) {
    super({ orientation: 'vertical', spacing: 2 });
    this.id = CATALOG_BROWSER_ID;
    this.addClass('lsstbox-CatalogBrowser');
    this.node.dataset.testid = CATALOG_BROWSER_ID;
    this.title.icon = catalogIcon;
    this.title.caption = 'Catalog browser (TAP)';
    this.tree = new SchemaTree(client, actions);
    this.jobs = new JobList(client, actions);
    this.addWidget(this.tree);
    this.addWidget(this.jobs);
    this.setRelativeSizes([0.65, 0.35]);
  }

  readonly tree: SchemaTree;
  readonly jobs: JobList;
}
