/**
 * From a result grid to a notebook: the pyvo code that fetches a job's
 * result, inserted as a new cell of the active notebook (and run there).
 */

import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';

export { isPythonIdentifier, resultCode } from './snippets';

/** Raised when there is no notebook to put the code in. */
export class NoNotebookError extends Error {
  constructor() {
    super('Open a notebook first: the code goes into the active notebook.');
    this.name = 'NoNotebookError';
  }
}

/**
 * Insert `code` as a new code cell below the active cell of the current
 * notebook; when `run` is true, run that cell in the notebook's kernel.
 *
 * @returns the notebook panel used.
 * @throws {NoNotebookError} when no notebook is open.
 */
export async function insertCell(
  tracker: INotebookTracker,
  code: string,
  run: boolean,
  activate?: (panel: NotebookPanel) => void
): Promise<NotebookPanel> {
  const panel = tracker.currentWidget;
  if (!panel) {
    throw new NoNotebookError();
  }
  await panel.context.ready;
  const notebook = panel.content;
  const active = notebook.activeCell;
  // an empty cell (a new notebook's first) is used as it is
  if (!active || active.model.sharedModel.getSource().trim() !== '') {
    NotebookActions.insertBelow(notebook);
  }
  let cell = notebook.activeCell;
  if (!cell) {
    NotebookActions.insertBelow(notebook);
    cell = notebook.activeCell;
  }
  if (!cell) {
    throw new Error('Could not add a cell to the notebook');
  }
  if (cell.model.type !== 'code') {
    NotebookActions.changeCellType(notebook, 'code');
    cell = notebook.activeCell;
  }
  if (!cell) {
    throw new Error('Could not add a code cell to the notebook');
  }
  cell.model.sharedModel.setSource(code);
  activate?.(panel);
  if (run) {
    await panel.sessionContext.ready;
    await NotebookActions.run(notebook, panel.sessionContext);
  }
  return panel;
}
