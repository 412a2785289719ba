/**
 * The Python code the result grid puts into notebooks (no JupyterLab
 * imports, so that it can be unit-tested on its own).
 */

/** Python identifiers (ASCII), not keywords. */
const PY_KEYWORDS = new Set(
  (
    'False None True and as assert async await break class continue def del ' +
    'elif else except finally for from global if import in is lambda nonlocal ' +
    'not or pass raise return try while with yield'
  ).split(' ')
);

/** Whether `name` can hold the result in Python. */
export function isPythonIdentifier(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !PY_KEYWORDS.has(name);
}

/** The code that fetches the result of the job at `jobUrl` into `variable`. */
export function resultCode(jobUrl: string, variable = 'result'): string {
  const url = JSON.stringify(jobUrl);
  return [
    'from jupyterlab_lsp import get_tap_service, retrieve_query',
    `job = retrieve_query(${url})`,
    `${variable} = job.fetch_result().to_table()`
  ].join('\n');
}
