/**
 * The state behind the release panel: idle, loading, ready or error.
 */

import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { ApiError, fetchRelease } from './api';
import { IRelease } from './tokens';

export type ReleaseState = 'idle' | 'loading' | 'ready' | 'error';

export class ReleaseModel {
  constructor(
    readonly serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  /** Emitted whenever `state`, `release` or `error` change. */
  get stateChanged(): ISignal<this, ReleaseState> {
    return this._stateChanged;
  }

  get state(): ReleaseState {
    return this._state;
  }

  /** The last manifest fetched successfully, kept while a refresh runs. */
  get release(): IRelease | null {
    return this._release;
  }

  /** The last failure; null unless `state` is "error". */
  get error(): ApiError | null {
    return this._error;
  }

  /**
   * (Re)load the manifest.  Answers to superseded requests are dropped, so
   * pressing Refresh repeatedly is safe.
   */
  async refresh(): Promise<void> {
    const ticket = ++this._ticket;
    this._set('loading');
    try {
      const release = await fetchRelease(this.serverSettings);
      if (ticket !== this._ticket) {
        return;
      }
      this._release = release;
      this._error = null;
      this._set('ready');
    } catch (reason) {
      if (ticket !== this._ticket) {
        return;
      }
      this._error =
        reason instanceof ApiError
          ? reason
          : new ApiError(
              0,
              reason instanceof Error ? reason.message : String(reason),
              ''
            );
      this._set('error');
    }
  }

  private _set(state: ReleaseState): void {
    this._state = state;
    this._stateChanged.emit(state);
  }

  private _state: ReleaseState = 'idle';
  private _release: IRelease | null = null;
  private _error: ApiError | null = null;
  private _ticket = 0;
  private _stateChanged = new Signal<this, ReleaseState>(this);
}
