/**
 * One comm channel per kernel between the lab's panels (the sky panel, the
 * image viewer) and the variables of a notebook's kernel.
 *
 * The kernel side is `kernel_lib.link`: the first request silently runs
 * `REGISTER_CODE` in the kernel (so nothing has to be imported by hand), then
 * opens a comm with target `lsstbox.link`.  Requests carry a `req` number and
 * resolve with the kernel's reply of the same `req`; an `{type: 'error'}`
 * reply rejects with a `LinkError` carrying the kernel's one-line message.
 * Messages the kernel sends on its own (a variable changed, was deleted)
 * come out of `messageReceived`.
 *
 * A dead or restarted kernel rejects what is pending with a `LinkError`
 * saying so and changes `status`; the next request opens a new channel.
 */

import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { JSONObject } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';

/** The comm target registered by `kernel_lib.link.register()`. */
export const LINK_TARGET = 'lsstbox.link';

/** Run silently in the kernel before the comm is opened. */
export const REGISTER_CODE =
  'import kernel_lib.link as _lsstbox_link\n_lsstbox_link.register()';

/** A message on the link (both ways). */
export interface ILinkMessage {
  type: string;
  req?: number;
  panel?: string | null;
  layer?: string;
  message?: string;
  [key: string]: unknown;
}

/** A message and its binary buffers. */
export interface ILinkPayload {
  msg: ILinkMessage;
  buffers: DataView[];
}

/** What the channel is doing. */
export type LinkStatus =
  | 'idle' // not opened yet
  | 'connecting'
  | 'ready'
  | 'restarting' // the kernel is restarting: its variables are gone
  | 'dead'
  | 'error'; // the kernel could not register the target

/** A request the kernel refused, or a channel that broke. */
export class LinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LinkError';
  }
}

/** One variable of the kernel that looks like a table (`variables` reply). */
export interface ILinkVariable {
  name: string;
  kind: string;
  rows: number | null;
  columns: number | null;
  ra: string | null;
  dec: string | null;
  drawable: boolean;
  reason: string | null;
}

/** Check one `variables` entry (the kernel is not trusted blindly). */
export function isLinkVariable(value: unknown): value is ILinkVariable {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const v = value as Record<string, unknown>;
  return (
    typeof v.name === 'string' &&
    typeof v.kind === 'string' &&
    typeof v.drawable === 'boolean'
  );
}

/** A short, user-facing sentence for a kernel status. */
export function statusText(status: LinkStatus, name: string): string {
  switch (status) {
    case 'idle':
      return `${name}: not linked yet`;
    case 'connecting':
      return `${name}: linking…`;
    case 'ready':
      return `linked to ${name}`;
    case 'restarting':
      return `${name}: the kernel restarted; layers drawn from its variables are no longer updated`;
    case 'dead':
      return `${name}: the kernel is dead; layers drawn from its variables are no longer updated`;
    case 'error':
      return `${name}: this kernel cannot be linked`;
  }
}

interface IPending {
  resolve: (payload: ILinkPayload) => void;
  reject: (error: Error) => void;
}

/**
 * The channel to one session's kernel.  Create it with `KernelLink.of()` so
 * that every panel linked to the same notebook shares one comm.
 */
export class KernelLink {
  private constructor(readonly session: ISessionContext) {
    session.kernelChanged.connect(this._onKernelChanged, this);
    session.statusChanged.connect(this._onStatus, this);
    session.disposed.connect(() => this.dispose());
  }

  /** The shared link of a session (one per kernel session). */
  static of(session: ISessionContext): KernelLink {
    let link = KernelLink._links.get(session);
    if (!link || link.isDisposed) {
      link = new KernelLink(session);
      KernelLink._links.set(session, link);
    }
    return link;
  }

  get status(): LinkStatus {
    return this._status;
  }

  /** The last problem (for `status === 'error'`). */
  get problem(): string {
    return this._problem;
  }

  get statusChanged(): ISignal<this, LinkStatus> {
    return this._statusChanged;
  }

  /** Messages the kernel sends without being asked (and late replies). */
  get messageReceived(): ISignal<this, ILinkPayload> {
    return this._received;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** The notebook's name, for messages. */
  get name(): string {
    return this.session.name || this.session.path || 'the notebook';
  }

  /**
   * Open the channel now (a panel that links does, so that what the kernel
   * sends on its own, e.g. `show_on_sky`, arrives without a request first).
   */
  async connect(): Promise<void> {
    await this._open();
  }

  /** Send a message that expects no answer (opening the channel if needed). */
  async send(msg: ILinkMessage, buffers: ArrayBuffer[] = []): Promise<void> {
    const comm = await this._open();
    comm.send(msg as unknown as JSONObject, undefined, buffers);
  }

  /**
   * Send `msg` with a fresh `req` and resolve with the kernel's reply.
   *
   * @throws {LinkError} with the kernel's message for an `error` reply, or
   * when the kernel dies, restarts or cannot be linked.
   */
  async request(
    msg: ILinkMessage,
    buffers: ArrayBuffer[] = [],
    timeoutMs = 60_000
  ): Promise<ILinkPayload> {
    const comm = await this._open();
    const req = ++this._req;
    return new Promise<ILinkPayload>((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this._pending.delete(req);
        reject(
          new LinkError(
            `${this.name}: no answer from the kernel in ${Math.round(timeoutMs / 1000)} s (is it busy running a cell?)`
          )
        );
      }, timeoutMs);
      this._pending.set(req, {
        resolve: p => {
          window.clearTimeout(timer);
          resolve(p);
        },
        reject: e => {
          window.clearTimeout(timer);
          reject(e);
        }
      });
      comm.send({ ...msg, req } as unknown as JSONObject, undefined, buffers);
    });
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._failAll('The notebook was closed');
    this._closeComm();
    KernelLink._links.delete(this.session);
    Signal.clearData(this);
  }

  private _setStatus(status: LinkStatus): void {
    if (status !== this._status) {
      this._status = status;
      this._statusChanged.emit(status);
    }
  }

  private async _open(): Promise<Kernel.IComm> {
    if (this._disposed) {
      throw new LinkError('The notebook was closed');
    }
    if (this._comm && !this._comm.isDisposed) {
      return this._comm;
    }
    if (!this._opening) {
      this._opening = this._connect().finally(() => {
        this._opening = null;
      });
    }
    return this._opening;
  }

  private async _connect(): Promise<Kernel.IComm> {
    this._setStatus('connecting');
    await this.session.ready;
    const kernel = this.session.session?.kernel;
    if (!kernel) {
      this._setStatus('dead');
      throw new LinkError(`${this.name} has no kernel: start one first`);
    }
    const reply = await kernel.requestExecute({
      code: REGISTER_CODE,
      silent: true,
      store_history: false,
      stop_on_error: false
    }).done;
    const content = reply.content as KernelMessage.IExecuteReplyMsg['content'];
    if (content.status !== 'ok') {
      const why =
        content.status === 'error'
          ? `${content.ename}: ${content.evalue}`
          : content.status;
      this._problem = `${this.name}: this kernel cannot be linked (${why}); it needs the lsstbox kernel library (a Python kernel of the environment where jupyterlab-lsstbox is installed)`;
      this._setStatus('error');
      throw new LinkError(this._problem);
    }
    const comm = kernel.createComm(LINK_TARGET);
    comm.onMsg = msg => this._onMessage(msg);
    comm.onClose = () => {
      if (this._comm === comm) {
        this._comm = null;
        this._failAll(`${this.name}: the link to the kernel was closed`);
      }
    };
    comm.open({ version: 1 });
    this._comm = comm;
    this._kernelId = kernel.id;
    this._setStatus('ready');
    return comm;
  }

  private _onMessage(msg: KernelMessage.ICommMsgMsg): void {
    const data = msg.content.data as unknown as ILinkMessage;
    if (!data || typeof data !== 'object' || typeof data.type !== 'string') {
      return;
    }
    const buffers = (msg.buffers ?? []).map(b =>
      b instanceof DataView ? b : new DataView(b as ArrayBuffer)
    );
    const payload = { msg: data, buffers };
    const pending =
      typeof data.req === 'number' ? this._pending.get(data.req) : undefined;
    if (pending && data.req !== undefined) {
      // add_catalog and the like may precede the reply of the same request:
      // they are not the reply (the reply type differs), so route them on
      if (data.type === 'error') {
        this._pending.delete(data.req);
        pending.reject(new LinkError(String(data.message ?? 'failed')));
        return;
      }
      if (!UNSOLICITED.has(data.type)) {
        this._pending.delete(data.req);
        pending.resolve(payload);
        return;
      }
    }
    this._received.emit(payload);
  }

  private _failAll(message: string): void {
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const p of pending) {
      p.reject(new LinkError(message));
    }
  }

  private _closeComm(): void {
    const comm = this._comm;
    this._comm = null;
    if (comm && !comm.isDisposed) {
      try {
        comm.close();
      } catch {
        // the kernel is gone already
      }
    }
  }

  private _onKernelChanged(): void {
    // a new kernel (restart through the session, or another kernel chosen)
    if (this._comm) {
      this._comm = null;
      this._failAll(`${this.name}: the kernel changed`);
      this._setStatus('restarting');
    }
  }

  private _onStatus(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'dead') {
      this._comm = null;
      this._failAll(`${this.name}: the kernel died`);
      this._setStatus('dead');
    } else if (status === 'restarting' || status === 'autorestarting') {
      this._comm = null;
      this._failAll(`${this.name}: the kernel restarted`);
      this._setStatus('restarting');
    } else if (
      this._comm &&
      this.session.session?.kernel &&
      this.session.session.kernel.id !== this._kernelId
    ) {
      this._comm = null;
      this._setStatus('restarting');
    }
  }

  private static _links = new Map<ISessionContext, KernelLink>();

  private _status: LinkStatus = 'idle';
  private _problem = '';
  private _comm: Kernel.IComm | null = null;
  private _kernelId = '';
  private _opening: Promise<Kernel.IComm> | null = null;
  private _req = 0;
  private _pending = new Map<number, IPending>();
  private _disposed = false;
  private _statusChanged = new Signal<this, LinkStatus>(this);
  private _received = new Signal<this, ILinkPayload>(this);
}

/** Kernel messages that may carry a `req` but are not a reply. */
const UNSOLICITED = new Set([
  'add_catalog',
  'remove_layer',
  'notice',
  'select_rows'
]);
