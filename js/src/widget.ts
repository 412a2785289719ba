/**
 * The "LSST box" left sidebar panel: a read-only view of the release
 * manifest, rendered with plain DOM (no React).
 *
 * Stable hooks for tests are `data-testid` attributes; the panel root also
 * carries `data-state` = idle | loading | ready | error.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { Child, h } from './dom';
import { ReleaseModel } from './model';
import {
  IButlerInfo,
  ICatalogInfo,
  IHipsInfo,
  IImageSetInfo,
  IRelease,
  IServiceInfo,
  RELEASE_PANEL_ID
} from './tokens';

/** A name with line-break opportunities at CamelCase boundaries. */
function breakableName(name: string): HTMLSpanElement {
  const span = h('span', { class: 'lsstbox-Name' });
  name.split(/(?=[A-Z][a-z])/).forEach((part, i) => {
    if (i > 0) {
      span.append(h('wbr'));
    }
    span.append(part);
  });
  return span;
}

function formatInt(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function formatDeg(value: number, digits = 4): string {
  return `${value.toFixed(digits)}°`;
}

/** Format an ISO timestamp as UTC, falling back to the raw string. */
function formatCreated(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * Resolve a URL sent by the server.  Absolute URLs are kept; a path that
 * already starts with the base URL's path is resolved against the origin;
 * anything else is taken as relative to the server base URL.
 */
function serverUrl(baseUrl: string, url: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    return url;
  }
  const base = new URL(baseUrl, window.location.href);
  const basePath = base.pathname.endsWith('/')
    ? base.pathname
    : `${base.pathname}/`;
  if (basePath !== '/' && url.startsWith(basePath)) {
    return new URL(url, base.origin).href;
  }
  return URLExt.join(base.href, url);
}

/** Join a filesystem path onto the release root (for tooltips only). */
function joinPath(root: string, path: string): string {
  if (path.startsWith('/')) {
    return path;
  }
  return `${root.replace(/\/+$/, '')}/${path}`;
}

function externalLink(href: string, text: string, testid?: string) {
  const attrs: Record<string, string> = {
    href,
    target: '_blank',
    rel: 'noopener noreferrer'
  };
  if (testid) {
    attrs['data-testid'] = testid;
  }
  return h('a', attrs, text);
}

function section(title: string, testid: string, ...children: Child[]) {
  return h(
    'section',
    { class: 'lsstbox-Section', 'data-testid': testid },
    h('h3', { class: 'lsstbox-SectionTitle' }, title),
    ...children
  );
}

function emptyNote(text: string) {
  return h('p', { class: 'lsstbox-Empty' }, text);
}

/** A definition list of label/value pairs. */
function facts(testid: string, rows: [string, string, string?][]) {
  const dl = h('dl', { class: 'lsstbox-Facts', 'data-testid': testid });
  for (const [label, value, title] of rows) {
    dl.append(h('dt', {}, label), h('dd', title ? { title } : {}, value));
  }
  return dl;
}

/** One entry of a table; `detail` becomes a full-width row below it. */
interface ITableRow {
  attrs: Record<string, string>;
  cells: Child[];
  detail?: { attrs: Record<string, string>; content: Child };
}

/** A table with a header row; cells are already-built nodes or text. */
function table(
  testid: string,
  head: (string | [string, string])[],
  rows: ITableRow[],
  numeric: Set<number> = new Set()
) {
  const thead = h(
    'thead',
    {},
    h(
      'tr',
      {},
      ...head.map((label, i) => {
        const [text, title] = typeof label === 'string' ? [label, ''] : label;
        const attrs: Record<string, string> = numeric.has(i)
          ? { class: 'lsstbox-num' }
          : {};
        if (title) {
          attrs.title = title;
          attrs['aria-label'] = title;
        }
        return h('th', attrs, text);
      })
    )
  );
  const tbody = h(
    'tbody',
    {},
    ...rows.flatMap(row => {
      const main = h(
        'tr',
        row.attrs,
        ...row.cells.map((cell, i) =>
          h('td', numeric.has(i) ? { class: 'lsstbox-num' } : {}, cell)
        )
      );
      if (!row.detail) {
        return [main];
      }
      main.classList.add('lsstbox-mod-hasDetail');
      return [
        main,
        h(
          'tr',
          { ...row.detail.attrs, class: 'lsstbox-DetailRow' },
          h('td', { colspan: String(head.length) }, row.detail.content)
        )
      ];
    })
  );
  return h(
    'div',
    { class: 'lsstbox-TableWrap' },
    h('table', { class: 'lsstbox-Table', 'data-testid': testid }, thead, tbody)
  );
}

function renderSummary(release: IRelease) {
  const { field } = release;
  return section(
    'Release',
    'lsstbox-release-summary',
    facts('lsstbox-release-facts', [
      ['Name', release.name],
      ['Profile', release.profile],
      ['Seed', release.seed === null ? '—' : String(release.seed)],
      [
        'Created',
        release.created ? formatCreated(release.created) : '—',
        release.created
      ],
      ['Root', release.root, release.root]
    ]),
    h('h4', { class: 'lsstbox-SubTitle' }, 'Field'),
    facts('lsstbox-release-field', [
      ['RA', formatDeg(field.ra)],
      ['Dec', formatDeg(field.dec)],
      ['Area', `${field.area_deg2.toPrecision(3)} deg²`],
      ['Tract', field.tract === null ? '—' : String(field.tract)]
    ])
  );
}

function renderCatalogs(catalogs: ICatalogInfo[]) {
  return section(
    'Catalogs',
    'lsstbox-catalogs',
    catalogs.length === 0
      ? emptyNote('No catalogs in this release.')
      : table(
          'lsstbox-catalog-table',
          ['Name', 'Rows', ['Cols', 'Columns'], ['Parts', 'HATS partitions']],
          catalogs.map(cat => ({
            attrs: {
              'data-testid': 'lsstbox-catalog-row',
              'data-name': cat.name,
              'data-rows': String(cat.rows),
              title: cat.path
            },
            cells: [
              breakableName(cat.name),
              formatInt(cat.rows),
              formatInt(cat.columns),
              formatInt(cat.partitions)
            ],
            detail: cat.description
              ? {
                  attrs: {
                    'data-testid': 'lsstbox-catalog-description',
                    'data-name': cat.name
                  },
                  content: h(
                    'span',
                    { class: 'lsstbox-Description' },
                    cat.description
                  )
                }
              : undefined
          })),
          new Set([1, 2, 3])
        )
  );
}

function renderImages(images: IImageSetInfo[]) {
  return section(
    'Images',
    'lsstbox-images',
    images.length === 0
      ? emptyNote('No images in this release.')
      : table(
          'lsstbox-image-table',
          ['Kind', 'Count', 'Bands'],
          images.map(img => ({
            attrs: {
              'data-testid': 'lsstbox-image-row',
              'data-kind': img.kind
            },
            cells: [
              h('span', { class: 'lsstbox-Name' }, img.kind),
              formatInt(img.count),
              h(
                'span',
                { class: 'lsstbox-Bands' },
                ...img.bands.map(band =>
                  h('span', { class: 'lsstbox-Band' }, band)
                )
              )
            ]
          })),
          new Set([1])
        )
  );
}

function renderHips(hips: IHipsInfo[], baseUrl: string) {
  return section(
    'HiPS',
    'lsstbox-hips',
    hips.length === 0
      ? emptyNote('No HiPS trees in this release.')
      : h(
          'ul',
          { class: 'lsstbox-List' },
          ...hips.map(tree =>
            h(
              'li',
              { 'data-testid': 'lsstbox-hips-row', 'data-id': tree.id },
              externalLink(
                serverUrl(baseUrl, tree.url),
                tree.title,
                'lsstbox-hips-link'
              ),
              h('span', { class: 'lsstbox-Band' }, tree.band)
            )
          )
        )
  );
}

function renderButler(butler: IButlerInfo | null, releaseRoot: string) {
  if (butler === null) {
    return section(
      'Butler',
      'lsstbox-butler',
      emptyNote('This release has no Butler repository.')
    );
  }
  const datasets = Object.entries(butler.datasets).sort(([a], [b]) =>
    a.localeCompare(b)
  );
  return section(
    'Butler',
    'lsstbox-butler',
    facts('lsstbox-butler-facts', [
      ['Path', butler.root, joinPath(releaseRoot, butler.root)]
    ]),
    h('h4', { class: 'lsstbox-SubTitle' }, 'Collections'),
    butler.collections.length === 0
      ? emptyNote('No collections.')
      : h(
          'ul',
          { class: 'lsstbox-List lsstbox-Collections' },
          ...butler.collections.map(name =>
            h(
              'li',
              { 'data-testid': 'lsstbox-butler-collection' },
              h('code', {}, name)
            )
          )
        ),
    h('h4', { class: 'lsstbox-SubTitle' }, 'Datasets'),
    datasets.length === 0
      ? emptyNote('No datasets.')
      : table(
          'lsstbox-butler-datasets',
          ['Dataset type', 'Count'],
          datasets.map(([name, count]) => ({
            attrs: {
              'data-testid': 'lsstbox-butler-dataset-row',
              'data-name': name
            },
            cells: [h('code', {}, name), formatInt(count)]
          })),
          new Set([1])
        )
  );
}

function renderServices(services: IServiceInfo[], baseUrl: string) {
  return section(
    'Services',
    'lsstbox-services',
    services.length === 0
      ? emptyNote('No services.')
      : table(
          'lsstbox-service-table',
          ['Service', 'URL', 'Status'],
          services.map(svc => {
            const href = serverUrl(baseUrl, svc.url);
            const ok = svc.status.toLowerCase() === 'ok';
            return {
              attrs: {
                'data-testid': 'lsstbox-service-row',
                'data-name': svc.name,
                'data-status': svc.status
              },
              cells: [
                svc.name,
                externalLink(href, svc.url),
                h(
                  'span',
                  {
                    class: `lsstbox-Status ${ok ? 'lsstbox-mod-ok' : 'lsstbox-mod-problem'}`
                  },
                  svc.status
                )
              ]
            };
          })
        )
  );
}

function errorTitle(status: number): string {
  if (status === 0) {
    return 'Could not load the release';
  }
  if (status >= 200 && status < 300) {
    return 'Could not read the release manifest';
  }
  return `Could not load the release (HTTP ${status})`;
}

/**
 * The release panel.  It loads the manifest the first time it is shown and
 * again whenever Refresh is pressed.
 */
export class ReleasePanel extends Widget {
  constructor(readonly model: ReleaseModel) {
    super();
    this.id = RELEASE_PANEL_ID;
    this.addClass('lsstbox-ReleasePanel');
    this.node.dataset.testid = RELEASE_PANEL_ID;
    this.title.caption = 'LSST box';

    const refresh = h(
      'button',
      {
        type: 'button',
        class: 'jp-Button jp-mod-minimal lsstbox-RefreshButton',
        title: 'Refresh the release manifest',
        'aria-label': 'Refresh',
        'data-testid': 'lsstbox-refresh'
      },
      refreshIcon.element({ tag: 'span', className: 'lsstbox-RefreshIcon' }),
      h('span', {}, 'Refresh')
    );
    refresh.addEventListener('click', () => {
      void this.model.refresh();
    });
    this._refreshButton = refresh;

    const header = h(
      'header',
      { class: 'lsstbox-Header' },
      h('h2', { class: 'lsstbox-Title' }, 'LSST box'),
      refresh
    );
    this._status = h('div', {
      class: 'lsstbox-Status-line',
      role: 'status',
      'aria-live': 'polite'
    });
    this._body = h('div', { class: 'lsstbox-Body' });
    this.node.append(header, this._status, this._body);

    model.stateChanged.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.stateChanged.disconnect(this._render, this);
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this.model.state === 'idle') {
      void this.model.refresh();
    }
  }

  private _render(): void {
    const { state, release, error } = this.model;
    this.node.dataset.state = state;
    this._refreshButton.disabled = state === 'loading';
    this._status.replaceChildren();
    if (state === 'loading') {
      this._status.append(
        h(
          'p',
          { class: 'lsstbox-Loading', 'data-testid': 'lsstbox-loading' },
          'Loading release manifest…'
        )
      );
    }

    if (state === 'error' && error) {
      this._body.replaceChildren(
        h(
          'div',
          {
            class: 'lsstbox-Error',
            role: 'alert',
            'data-testid': 'lsstbox-release-error',
            'data-status': String(error.status)
          },
          h('p', { class: 'lsstbox-ErrorTitle' }, errorTitle(error.status)),
          h('p', { class: 'lsstbox-ErrorMessage' }, error.message),
          error.url
            ? h('p', { class: 'lsstbox-ErrorUrl' }, h('code', {}, error.url))
            : null,
          h(
            'p',
            { class: 'lsstbox-ErrorHint' },
            'Is the lsstbox server extension enabled and LSSTBOX_RELEASE set? Press Refresh to retry.'
          )
        )
      );
      return;
    }

    if (release && (state === 'ready' || state === 'loading')) {
      // Keep showing the previous manifest while a refresh is running.
      if (state === 'ready' || this._body.childElementCount === 0) {
        const baseUrl = this.model.serverSettings.baseUrl;
        this._body.replaceChildren(
          renderSummary(release),
          renderCatalogs(release.catalogs),
          renderImages(release.images),
          renderHips(release.hips, baseUrl),
          renderButler(release.butler, release.root),
          renderServices(release.services, baseUrl)
        );
      }
      return;
    }

    if (state !== 'loading') {
      this._body.replaceChildren();
    }
  }

  private _refreshButton: HTMLButtonElement;
  private _status: HTMLDivElement;
  private _body: HTMLDivElement;
}
