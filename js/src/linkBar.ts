/**
 * The "notebook variable" controls shared by the sky panel and the image
 * viewer: which open notebook the panel is linked to, a variable name (with
 * the kernel's tables as suggestions) and a Draw button.  The messages the
 * kernel sends for this panel are handed to `onPayload`.
 */

import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { h, messageOf } from './dom';
import {
  ILinkPayload,
  isLinkVariable,
  KernelLink,
  LinkError,
  LinkStatus,
  statusText
} from './link';

export interface ILinkBarOptions {
  tracker: INotebookTracker;
  /** The id kernel messages for this panel carry in `panel`. */
  panelId: string;
  /** Also take messages sent to every panel (`panel` null or '*'). */
  acceptBroadcast: boolean;
  onPayload: (payload: ILinkPayload) => void;
  /** A one-line message for the panel's message area. */
  onNotice: (text: string, kind: 'info' | 'error') => void;
  /** Extra fields of a draw request (e.g. the layer's colour). */
  drawOptions?: () => Record<string, unknown>;
}

let counter = 0;

export class LinkBar {
  constructor(private readonly _options: ILinkBarOptions) {
    const id = `lsstbox-link-vars-${++counter}`;
    this._select = h('select', {
      class: 'lsstbox-LinkBar-notebook',
      title: 'The notebook whose variables this panel draws',
      'data-testid': 'lsstbox-link-notebook'
    });
    this._input = h('input', {
      class: 'lsstbox-LinkBar-variable jp-mod-styled',
      type: 'text',
      list: id,
      placeholder: 'variable',
      spellcheck: 'false',
      title:
        'A DataFrame / astropy Table variable of the notebook (RA/Dec columns)',
      'data-testid': 'lsstbox-link-variable'
    });
    this._list = h('datalist', { id });
    const draw = h(
      'button',
      {
        type: 'button',
        class: 'jp-Button lsstbox-Btn',
        title: 'Draw the variable; it is redrawn when a cell changes it',
        'data-testid': 'lsstbox-link-draw'
      },
      'Draw'
    );
    draw.addEventListener('click', () => void this.draw(this._input.value));
    this._input.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        event.preventDefault();
        void this.draw(this._input.value);
      }
    });
    this._input.addEventListener('focus', () => void this._suggest());
    this._status = h('span', {
      class: 'lsstbox-LinkBar-status',
      'data-testid': 'lsstbox-link-status'
    });
    this.node = h(
      'span',
      { class: 'lsstbox-LinkBar' },
      h('label', { class: 'lsstbox-LinkBar-label' }, 'Notebook', this._select),
      this._input,
      this._list,
      draw,
      this._status
    );
    this._select.addEventListener('change', () => this._choose());
    const tracker = this._options.tracker;
    tracker.widgetAdded.connect(this._fill, this);
    tracker.currentChanged.connect(this._fill, this);
    this._select.addEventListener('focus', () => this._fill());
    this._fill();
  }

  readonly node: HTMLElement;

  /** The link of the chosen notebook (null when no notebook is open). */
  get link(): KernelLink | null {
    return this._link;
  }

  /** Send a request on the chosen notebook's link. */
  async request(
    msg: Parameters<KernelLink['request']>[0],
    buffers?: ArrayBuffer[]
  ): Promise<ILinkPayload> {
    const link = this._link;
    if (!link) {
      throw new LinkError(
        'Open a notebook first: the panel draws the variables of a notebook'
      );
    }
    return link.request({ ...msg, panel: this._options.panelId }, buffers);
  }

  /** Ask the kernel to draw variable `name` in this panel. */
  async draw(name: string): Promise<void> {
    const variable = name.trim();
    if (!variable) {
      this._options.onNotice('Type the name of a notebook variable', 'error');
      return;
    }
    try {
      const { msg } = await this.request({
        ...(this._options.drawOptions?.() ?? {}),
        type: 'draw',
        name: variable
      });
      const rows = Number(msg.rows ?? 0);
      const skipped = Number(msg.skipped ?? 0);
      this._options.onNotice(
        `${variable}: ${rows.toLocaleString('en-US')} rows drawn` +
          (skipped ? ` (${skipped} without a position skipped)` : ''),
        'info'
      );
    } catch (error) {
      this._options.onNotice(messageOf(error), 'error');
    }
  }

  /** Tell the kernel to forget this panel's layers. */
  forget(layer?: string): void {
    const panel = this._options.panelId;
    const msg = layer
      ? { type: 'undraw', panel, layer }
      : { type: 'forget_panel', panel };
    if (this._link && this._link.status === 'ready') {
      void this._link.send(msg).catch(() => undefined);
    }
  }

  dispose(): void {
    this.forget();
    this._detach();
    this._options.tracker.widgetAdded.disconnect(this._fill, this);
    this._options.tracker.currentChanged.disconnect(this._fill, this);
  }

  private _notebooks(): NotebookPanel[] {
    const out: NotebookPanel[] = [];
    this._options.tracker.forEach(p => out.push(p));
    return out;
  }

  private _fill(): void {
    const panels = this._notebooks();
    const chosen = this._link?.session;
    const current = this._options.tracker.currentWidget;
    this._select.replaceChildren(
      ...panels.map(p =>
        h('option', { value: p.id }, p.context.path.split('/').pop() ?? p.id)
      )
    );
    if (!panels.length) {
      this._select.append(h('option', { value: '' }, '(no notebook open)'));
    }
    const keep = panels.find(p => p.sessionContext === chosen) ?? current;
    if (keep) {
      this._select.value = keep.id;
    }
    if (!this._link || this._link.isDisposed) {
      this._choose();
    }
  }

  private _choose(): void {
    const panel = this._notebooks().find(p => p.id === this._select.value);
    const link = panel ? KernelLink.of(panel.sessionContext) : null;
    if (link === this._link) {
      return;
    }
    this._detach();
    this._link = link;
    if (link) {
      link.messageReceived.connect(this._onMessage, this);
      link.statusChanged.connect(this._onStatus, this);
      this._onStatus(link, link.status);
      // failures are shown by _onStatus
      void link.connect().catch(() => undefined);
    } else {
      this._status.textContent = '';
    }
  }

  private _detach(): void {
    if (this._link) {
      this._link.messageReceived.disconnect(this._onMessage, this);
      this._link.statusChanged.disconnect(this._onStatus, this);
    }
  }

  private _onMessage(_: KernelLink, payload: ILinkPayload): void {
    const panel = payload.msg.panel;
    const mine =
      panel === this._options.panelId ||
      (this._options.acceptBroadcast &&
        (panel === null || panel === undefined || panel === '*'));
    if (mine) {
      this._options.onPayload(payload);
    }
  }

  private _onStatus(link: KernelLink, status: LinkStatus): void {
    this._status.dataset.status = status;
    this._status.textContent = statusText(status, link.name);
    if (status === 'dead' || status === 'restarting') {
      this._options.onNotice(statusText(status, link.name), 'error');
    } else if (status === 'error') {
      this._options.onNotice(link.problem, 'error');
    }
  }

  private async _suggest(): Promise<void> {
    if (!this._link) {
      return;
    }
    try {
      const { msg } = await this.request({ type: 'variables' });
      const vars = Array.isArray(msg.variables)
        ? msg.variables.filter(isLinkVariable)
        : [];
      this._list.replaceChildren(
        ...vars.map(v =>
          h(
            'option',
            { value: v.name },
            `${v.kind}${v.rows !== null ? `, ${v.rows} rows` : ''}${v.drawable ? '' : ` — ${v.reason ?? 'not drawable'}`}`
          )
        )
      );
    } catch {
      // suggestions are a convenience: the kernel may be busy
    }
  }

  private _select: HTMLSelectElement;
  private _input: HTMLInputElement;
  private _list: HTMLDataListElement;
  private _status: HTMLElement;
  private _link: KernelLink | null = null;
}
