/**
 * The ADQL editor: JupyterLab's CodeMirror 6 editor with SQL highlighting
 * (an ADQL dialect of `@codemirror/lang-sql`) and completion of keywords,
 * functions, tables and columns; Run submits an async TAP job and follows its
 * phase; the result opens in a grid below the editor.
 *
 * Hooks for tests: `data-testid` attributes, and `data-phase` / `data-job-id`
 * on the panel root.
 */

import {
  autocompletion,
  closeCompletion,
  Completion,
  CompletionContext,
  CompletionResult
} from '@codemirror/autocomplete';
import { SQLDialect, sql } from '@codemirror/lang-sql';
import { Compartment, Extension, Prec } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { CodeEditor, IEditorServices } from '@jupyterlab/codeeditor';
import { INotebookTracker } from '@jupyterlab/notebook';
import { UUID } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';
import { Message } from '@lumino/messaging';
import { SplitPanel, Widget } from '@lumino/widgets';

import { button, formatCount, h, messageOf } from './dom';
import { ResultGrid } from './grid';
import { queryIcon } from './icons';
import { completionSchema, IColumnInfo, ISchemaDoc, shortName } from './schema';
import { DEFAULT_MAXREC } from './settings';
import { IJobInfo, isFinalPhase, TapClient } from './tap';

/** ADQL 2.1 reserved words (lower case), on top of those of SQL-92. */
export const ADQL_KEYWORDS =
  'select top distinct all from where group by having order asc desc as and or not ' +
  'is null like ilike between in exists join inner outer left right full natural ' +
  'cross on using union intersect except with case when then else end offset ' +
  'cast true false';

/** The other reserved words of SQL-92 (ADQL reserves them too). */
const SQL92_KEYWORDS = [
  'absolute action add all allocate alter any are assertion at',
  'authorization avg begin bit bit_length both cascade cascaded catalog',
  'char character char_length character_length check close collate',
  'collation column commit connect connection constraint constraints',
  'continue convert corresponding count create current current_date',
  'current_time current_timestamp current_user cursor date day deallocate',
  'dec decimal declare default deferrable deferred delete describe',
  'descriptor diagnostics disconnect domain double drop escape except',
  'exception exec execute external extract fetch first float for foreign',
  'found get global go goto grant identity immediate indicator initially',
  'input insensitive insert int integer interval into isolation key',
  'language last leading level local lower match max min minute module',
  'month names national nchar next no nullif numeric octet_length of only',
  'open option output overlaps pad partial position precision prepare',
  'preserve primary prior privileges procedure public read real',
  'references relative restrict revoke rollback rows schema scroll second',
  'section session session_user set size smallint some space sql sqlcode',
  'sqlerror sqlstate substring sum system_user table temporary time',
  'timestamp timezone_hour timezone_minute to trailing transaction',
  'translate translation trim unique unknown update upper usage user',
  'value values varchar varying view whenever work write year zone'
].join(' ');

/** ADQL functions: geometry, mathematics, strings, aggregates, the box's UDFs. */
export const ADQL_FUNCTIONS =
  'POINT CIRCLE BOX POLYGON REGION CONTAINS INTERSECTS AREA CENTROID COORD1 ' +
  'COORD2 COORDSYS DISTANCE ABS ACOS ASIN ATAN ATAN2 CEILING COS COT DEGREES ' +
  'EXP FLOOR LOG LOG10 MOD PI POWER RADIANS RAND ROUND SIN SQRT TAN TRUNCATE ' +
  'LOWER UPPER COALESCE IN_UNIT COUNT AVG MIN MAX SUM ' +
  'scisql_nanojanskyToAbMag scisql_nanojanskyToAbMagSigma scisql_angSep ' +
  'scisql_s2PtInBox scisql_s2PtInCircle scisql_s2PtInCPoly';

export const ADQL_TYPES =
  'SMALLINT INTEGER BIGINT REAL DOUBLE PRECISION CHAR VARCHAR TIMESTAMP BOOLEAN';

/** The ADQL dialect: SQL tokens with ADQL's keywords and functions. */
export const ADQL = SQLDialect.define({
  keywords: `${ADQL_KEYWORDS} ${SQL92_KEYWORDS}`,
  // lang-sql looks words up in lower case
  builtin: ADQL_FUNCTIONS.toLowerCase(),
  types: ADQL_TYPES.toLowerCase(),
  caseInsensitiveIdentifiers: true
});

/** The tables of `schema` that `text` names (whole words, any case). */
export function tablesIn(schema: ISchemaDoc, text: string) {
  const lower = text.toLowerCase();
  const out: { name: string; columns: IColumnInfo[] }[] = [];
  for (const s of schema.schemas) {
    for (const t of s.tables) {
      const name = t.name.toLowerCase();
      let at = lower.indexOf(name);
      while (at >= 0) {
        const before = at === 0 ? ' ' : lower[at - 1];
        const after = lower[at + name.length] ?? ' ';
        if (!/[\w.$"]/.test(before) && !/[\w$"]/.test(after)) {
          out.push(t);
          break;
        }
        at = lower.indexOf(name, at + 1);
      }
    }
  }
  return out;
}

/**
 * Completion of the columns of the tables the query names (in FROM or JOIN),
 * wherever a bare name is typed: with their table, datatype, unit and
 * description.  Qualified names (`alias.`, `schema.table.`) are left to
 * lang-sql's schema completion.
 */
export function columnCompletion(schema: ISchemaDoc) {
  return (context: CompletionContext): CompletionResult | null => {
    const word = context.matchBefore(/[A-Za-z_][\w$]*/);
    if (!word && !context.explicit) {
      return null;
    }
    const from = word ? word.from : context.pos;
    if (from > 0 && context.state.sliceDoc(from - 1, from) === '.') {
      return null;
    }
    const tables = tablesIn(schema, context.state.doc.toString());
    const seen = new Map<string, Completion>();
    for (const t of tables) {
      for (const c of t.columns) {
        const known = seen.get(c.name);
        if (known) {
          known.detail = `${known.detail ?? ''}, ${shortName(t.name)}`;
          continue;
        }
        seen.set(c.name, {
          label: c.name,
          type: 'property',
          detail: [c.unit ? `[${c.unit}]` : '', shortName(t.name)]
            .filter(Boolean)
            .join(' '),
          info: [c.datatype, c.ucd, c.description].filter(Boolean).join(' · '),
          boost: c.principal ? 1 : 0
        });
      }
    }
    if (seen.size === 0) {
      return null;
    }
    return { from, options: [...seen.values()], validFor: /^[\w$]*$/ };
  };
}

/** The query that shows the first rows of `table`. */
export function tableQuery(table: string, rows = 100): string {
  return `SELECT TOP ${rows} * FROM ${table}`;
}

/** "line 2, column 5" in an ADQL error message, as a 0-based position. */
export function errorPosition(
  message: string
): { line: number; column: number } | null {
  const m = /line (\d+), column (\d+)/i.exec(message);
  if (!m) {
    return null;
  }
  return { line: Number(m[1]) - 1, column: Math.max(0, Number(m[2]) - 1) };
}

/** What an editor panel needs. */
export interface IAdqlPanelOptions {
  client: TapClient;
  editorServices: IEditorServices;
  /** The schema for completion (may come later, see `setSchema`). */
  schema?: ISchemaDoc | null;
  query?: string;
  /** A stable key (restored editors keep theirs); a new one by default. */
  key?: string;
  notebooks?: INotebookTracker | null;
  showNotebook?: (notebook: Widget) => void;
  showOnSky?: (jobId: string) => void;
  /** The initial MAXREC (100000 by default; null: no limit sent). */
  maxrec?: number | null;
  /** The service's name in the toolbar ("LSST box TAP" by default). */
  serviceLabel?: string;
}

/**
 * The editor part of the panel: toolbar, CodeMirror, status and error.
 */
class EditorArea extends Widget {
  constructor() {
    super();
    this.addClass('lsstbox-AdqlEditorArea');
  }
}

/**
 * An ADQL query editor with its result grid.
 */
export class AdqlPanel extends SplitPanel {
  constructor(options: IAdqlPanelOptions) {
    super({ orientation: 'vertical', spacing: 4 });
    this._client = options.client;
    this._notebooks = options.notebooks ?? null;
    this._showNotebook = options.showNotebook;
    this._showOnSky = options.showOnSky;
    this.key = options.key || UUID.uuid4().slice(0, 8);
    this.id = `lsstbox-adql-${this.key}`;
    this.addClass('lsstbox-AdqlPanel');
    this.node.dataset.testid = 'lsstbox-adql-panel';
    this.node.dataset.service = options.client.servicePath;
    this.node.dataset.phase = 'idle';
    this.title.label = 'ADQL query';
    this.title.caption = `ADQL query on ${options.client.tapUrl}`;
    this.title.icon = queryIcon;
    this.title.closable = true;

    // -- toolbar
    this._runButton = button(
      'Run',
      {
        class: 'jp-Button lsstbox-Btn lsstbox-mod-accept',
        title: 'Run the query as an async TAP job (Shift+Enter)',
        'data-testid': 'lsstbox-adql-run'
      },
      () => void this.run()
    );
    this._cancelButton = button(
      'Cancel',
      {
        title: 'Abort the running job',
        'data-testid': 'lsstbox-adql-cancel'
      },
      () => void this.cancel()
    );
    this._cancelButton.disabled = true;
    this._maxrec = h('input', {
      type: 'number',
      min: '0',
      step: '1',
      value:
        options.maxrec === null ? '' : String(options.maxrec ?? DEFAULT_MAXREC),
      class: 'jp-mod-styled lsstbox-AdqlMaxrec',
      'aria-label': 'Maximum rows (MAXREC)',
      title: 'MAXREC: the most rows the job returns',
      'data-testid': 'lsstbox-adql-maxrec'
    });
    const toolbar = h(
      'div',
      { class: 'lsstbox-AdqlToolbar' },
      this._runButton,
      this._cancelButton,
      h('label', { class: 'lsstbox-GridLabel' }, 'Max rows', this._maxrec),
      h('span', { class: 'lsstbox-GridSpacer' }),
      h(
        'span',
        { class: 'lsstbox-AdqlService', title: options.client.tapUrl },
        options.serviceLabel ?? 'LSST box TAP'
      )
    );
    this._status = h('div', {
      class: 'lsstbox-AdqlStatus',
      role: 'status',
      'aria-live': 'polite',
      'data-testid': 'lsstbox-adql-status'
    });
    this._error = h('div', {
      class: 'lsstbox-Error lsstbox-AdqlError',
      role: 'alert',
      'data-testid': 'lsstbox-adql-error'
    });
    this._error.hidden = true;
    const host = h('div', {
      class: 'lsstbox-AdqlEditor',
      'data-testid': 'lsstbox-adql-editor'
    });

    const area = new EditorArea();
    area.node.append(toolbar, host, this._status, this._error);
    this.addWidget(area);

    // -- the editor
    this._model = new CodeEditor.Model();
    this._model.sharedModel.setSource(options.query ?? '');
    this._model.sharedModel.changed.connect(this._onTextChanged, this);
    this._editor = options.editorServices.factoryService.newDocumentEditor({
      host,
      model: this._model,
      config: { lineNumbers: true, lineWrap: true, scrollPastEnd: false },
      extensions: [
        Prec.highest(
          keymap.of([
            { key: 'Shift-Enter', run: this._runFromKey },
            { key: 'Mod-Enter', run: this._runFromKey }
          ])
        ),
        // first: JupyterLab's own language compartment holds a plain-text
        // language for this model, and the first language wins
        Prec.highest(this._language.of(this._sql(options.schema ?? null))),
        autocompletion({ activateOnTyping: true, icons: true })
      ]
    });

    // -- results
    this._results = new Widget({
      node: h(
        'div',
        { class: 'lsstbox-AdqlPlaceholder' },
        h(
          'p',
          {},
          'Run the query (Shift+Enter) to see its result here. The job stays in the history of the catalog browser.'
        )
      )
    });
    this._results.addClass('lsstbox-AdqlResults');
    this.addWidget(this._results);
    this.setRelativeSizes([0.4, 0.6]);
    this._setStatus('idle', 'Ready');
  }

  /** The key restoring the panel (its id is `lsstbox-adql-<key>`). */
  readonly key: string;

  /** Emitted when a job is created or finishes (for the job list). */
  get jobsChanged(): ISignal<this, string> {
    return this._jobsChanged;
  }

  /** Emitted when the query text changes. */
  get queryChanged(): ISignal<this, void> {
    return this._queryChanged;
  }

  get query(): string {
    return this._model.sharedModel.getSource();
  }

  set query(text: string) {
    this._model.sharedModel.setSource(text);
  }

  /** The job of the last run (null before the first). */
  get jobId(): string | null {
    return this._jobId;
  }

  /** The grid of the last result, if any. */
  get grid(): ResultGrid | null {
    return this._grid;
  }

  /** The MAXREC field's value (null when empty). */
  get maxrec(): number | null {
    const text = this._maxrec.value.trim();
    return text ? Number(text) : null;
  }

  get editor(): CodeEditor.IEditor {
    return this._editor;
  }

  /** Table and column names for completion. */
  setSchema(schema: ISchemaDoc | null): void {
    const view = (this._editor as unknown as { editor?: EditorView }).editor;
    view?.dispatch({ effects: this._language.reconfigure(this._sql(schema)) });
  }

  private _sql(schema: ISchemaDoc | null): Extension {
    const support = sql({
      dialect: ADQL,
      schema: schema ? completionSchema(schema) : {},
      upperCaseKeywords: true
    });
    if (!schema) {
      return support;
    }
    return [
      support,
      support.language.data.of({ autocomplete: columnCompletion(schema) })
    ];
  }

  private _runFromKey = (): boolean => {
    void this.run();
    return true;
  };

  /** Insert `text` at the cursor. */
  insertText(text: string): void {
    const editor = this._editor;
    const offset = editor.getOffsetAt(editor.getCursorPosition());
    const source = this.query;
    this.query = source.slice(0, offset) + text + source.slice(offset);
    editor.setCursorPosition(
      editor.getPositionAt(offset + text.length) ?? { line: 0, column: 0 }
    );
    editor.focus();
  }

  /** Run the query as an async job and follow it until it ends. */
  async run(): Promise<void> {
    if (this._running) {
      return;
    }
    const query = this.query.trim();
    const view = (this._editor as unknown as { editor?: EditorView }).editor;
    if (view) {
      closeCompletion(view);
    }
    this._showError('');
    if (!query) {
      this._showError(
        'Write an ADQL query first, e.g. SELECT TOP 10 * FROM dp1.Object'
      );
      return;
    }
    const maxrec = this._maxrec.value.trim()
      ? Number(this._maxrec.value)
      : undefined;
    this._running = true;
    this._runButton.disabled = true;
    this._cancelButton.disabled = false;
    this._setStatus('SUBMITTING', 'Submitting the job…');
    const started = Date.now();
    let id: string;
    try {
      id = await this._client.submit(query, maxrec);
    } catch (error) {
      this._finish();
      this._setStatus('ERROR', 'The job could not be created');
      this._showError(messageOf(error));
      return;
    }
    this._jobId = id;
    this.node.dataset.jobId = id;
    this._jobsChanged.emit(id);
    let delay = 200;
    let job: IJobInfo | null = null;
    for (;;) {
      try {
        job = await this._client.job(id);
      } catch (error) {
        this._finish();
        this._setStatus('ERROR', `Lost track of job ${id}`);
        this._showError(messageOf(error));
        return;
      }
      this._showProgress(job, started);
      if (isFinalPhase(job.phase) || this.isDisposed) {
        break;
      }
      await new Promise(resolve => setTimeout(resolve, delay));
      delay = Math.min(delay * 1.5, 2000);
    }
    this._finish();
    this._jobsChanged.emit(id);
    if (job.phase === 'COMPLETED') {
      this._showResult(id);
    } else if (job.phase === 'ERROR') {
      const message = job.errorSummary?.message ?? 'The job failed';
      this._showError(message);
      const at = errorPosition(message);
      if (at) {
        try {
          this._editor.setCursorPosition(at);
          this._editor.focus();
        } catch {
          // a position outside the text: leave the cursor
        }
      }
    }
  }

  /** Abort the running job. */
  async cancel(): Promise<void> {
    const id = this._jobId;
    if (!this._running || !id) {
      return;
    }
    this._cancelButton.disabled = true;
    this._setStatus('ABORTING', `Aborting job ${id}…`);
    try {
      await this._client.abort(id);
    } catch (error) {
      this._showError(messageOf(error));
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.sharedModel.changed.disconnect(this._onTextChanged, this);
    this._editor.dispose();
    this._model.dispose();
    super.dispose();
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this._editor.focus();
  }

  private _onTextChanged(): void {
    this._queryChanged.emit();
  }

  private _finish(): void {
    this._running = false;
    this._runButton.disabled = false;
    this._cancelButton.disabled = true;
  }

  private _showProgress(job: IJobInfo, started: number): void {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const rows = job.progress['rows'];
    const parts = [`Job ${job.jobId}`, job.phase];
    if (typeof rows === 'number') {
      parts.push(`${formatCount(rows)} rows`);
    } else if (job.phase === 'COMPLETED' && job.results[0]) {
      parts.push(`${formatCount(job.results[0].rows)} rows`);
      if (job.results[0].overflow) {
        parts.push('truncated at MAXREC');
      }
    }
    parts.push(`${seconds} s`);
    this._setStatus(job.phase, parts.join(' · '));
  }

  private _showResult(id: string): void {
    const grid = new ResultGrid({
      client: this._client,
      jobId: id,
      notebooks: this._notebooks,
      showNotebook: this._showNotebook,
      showOnSky: this._showOnSky
    });
    const old = this._grid ?? this._results;
    const index = this.widgets.indexOf(old);
    const sizes = this.relativeSizes();
    this.insertWidget(index, grid);
    old.dispose();
    this._grid = grid;
    this.setRelativeSizes(sizes);
  }

  private _setStatus(phase: string, text: string): void {
    this.node.dataset.phase = phase;
    this._status.dataset.phase = phase;
    this._status.replaceChildren(
      h(
        'span',
        { class: `lsstbox-Phase lsstbox-Phase-${phase.toLowerCase()}` },
        phase === 'idle' ? 'READY' : phase
      ),
      h('span', { class: 'lsstbox-AdqlStatusText' }, text)
    );
  }

  private _showError(text: string): void {
    this._error.replaceChildren(
      h('p', { class: 'lsstbox-ErrorTitle' }, 'The query failed'),
      h('pre', { class: 'lsstbox-ErrorMessage' }, text)
    );
    this._error.hidden = !text;
  }

  private _client: TapClient;
  private _notebooks: INotebookTracker | null;
  private _showNotebook?: (notebook: Widget) => void;
  private _showOnSky?: (jobId: string) => void;
  private _model: CodeEditor.Model;
  private _editor: CodeEditor.IEditor;
  private _language = new Compartment();
  private _runButton: HTMLButtonElement;
  private _cancelButton: HTMLButtonElement;
  private _maxrec: HTMLInputElement;
  private _status: HTMLDivElement;
  private _error: HTMLDivElement;
  private _results: Widget;
  private _grid: ResultGrid | null = null;
  private _jobId: string | null = null;
  private _running = false;
  private _jobsChanged = new Signal<this, string>(this);
  private _queryChanged = new Signal<this, void>(this);
}
