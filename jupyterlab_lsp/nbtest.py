"""Notebook regression tests: ``lsstbox notebooks test [PATHS...]``.

Every code cell of each notebook runs headless (nbclient, the ``python3`` kernel of this
environment); an error in a cell fails the notebook, so ``assert`` cells are checks. The text
outputs of a run are then compared with the expected outputs stored beside the notebook in
``<dir>/expected/<stem>.json`` (the notebooks themselves stay without outputs); ``--update``
records them.

What is compared, per code cell: its ``stdout`` stream text and the ``text/plain`` of its
``execute_result``/``display_data`` outputs (``stderr``, images and HTML are not). Both texts are
normalised (ANSI colours, ``\\r`` progress lines and trailing blanks removed), volatile parts are
masked (timestamps, dates, durations, UUIDs, hex addresses, UWS job ids, tokens, temporary paths,
loopback URLs, the run's server, token, release and working folder, and the regular expressions a
notebook lists in ``metadata.lsstbox.nbtest.mask``), then compared token by token, whitespace
aside: numbers within a tolerance (``|got - expected| <= atol + rtol * |expected|``; defaults
``rtol=1e-6, atol=1e-12``; ``metadata.lsstbox.nbtest`` ``{"rtol": .., "atol": ..}`` per notebook,
cell tags ``nbtest:rtol=1e-3``/``nbtest:atol=..`` per cell; integers of ten digits or more are
identifiers and must match exactly), everything else exactly. A cell tagged ``nbtest:skip-output``
runs but its outputs are not compared.

The kernel gets ``LSSTBOX_RELEASE``, ``LSSTBOX_TAP_URL`` and ``LSSTBOX_TOKEN`` (the ones
``jupyterlab_lsp.get_tap_service`` uses) for the box given with ``--url``/``--token``, or started
for the run with ``--start`` (a Jupyter server with the box's extension on a free loopback port,
stopped afterwards: :func:`box_server`).

The Python API is :func:`check_notebook` (one notebook, the environment given) and
:func:`run_notebooks` (what the command does).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "START_TIMEOUT",
    "CellProblem",
    "Comparison",
    "JupyterProcess",
    "NotebookResult",
    "UsageError",
    "box_server",
    "check_notebook",
    "compare_text",
    "find_notebooks",
    "free_port",
    "jupyter_process",
    "main",
    "normalise",
    "run_notebooks",
    "sidecar_path",
    "tail",
]

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-12
DEFAULT_TIMEOUT = 600  # seconds per cell
SIDECAR_DIR = "expected"
SIDECAR_FORMAT = 1
MAX_DIFF_LINES = 40
#: integers with at least this many digits are identifiers: compared exactly, never with a tolerance
EXACT_INT_DIGITS = 10


class UsageError(ValueError):
    """A bad command line: no such path, not a notebook, conflicting options (exit code 2)."""


# -- a Jupyter server in a subprocess ---------------------------------------------------------------

START_TIMEOUT = 120.0


@dataclass(frozen=True)
class JupyterProcess:
    url: str  # base URL, ending with "/"
    token: str
    log: Path
    proc: subprocess.Popen

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def get(self, path: str, **kwargs: Any) -> Any:
        """``requests.get`` of ``path`` (relative to :attr:`url`) with the token."""
        import requests

        return requests.get(f"{self.url}{path.lstrip('/')}", headers=self.headers, timeout=60, **kwargs)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@contextmanager
def jupyter_process(
    module: str,
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    log: Path,
    token: str,
    port: int | None = None,
) -> Iterator[JupyterProcess]:
    """Run ``python -m <module> <args>`` on 127.0.0.1 and wait until ``/api/status`` answers;
    stop it (terminate, then kill) on exit."""
    import requests

    port = port or free_port()
    cmd = [
        sys.executable,
        "-m",
        module,
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        *args,
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )
    server = JupyterProcess(url=f"http://127.0.0.1:{port}/", token=token, log=log, proc=proc)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{module} exited with {proc.returncode}:\n{tail(log)}")
            try:
                if server.get("api/status").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not answer /api/status in {START_TIMEOUT}s:\n{tail(log)}")
            time.sleep(0.25)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def box_server(
    release: Path, home: Path, token: str, port: int | None = None, extra: list[str] | None = None
) -> AbstractContextManager[JupyterProcess]:
    """``jupyter server`` with the box's extension serving ``release``, its state in ``home``
    (which must contain ``root/``); the TAP job store is ``home/jobs``, so a server started
    again on the same ``home`` finds its jobs."""
    env = {
        "LSSTBOX_RELEASE": str(release),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    args = [f"--ServerApp.root_dir={home / 'root'}", f"--LsstBoxApp.jobs_dir={home / 'jobs'}", *(extra or [])]
    return jupyter_process("jupyter_server", args, env, home / "root", home / "server.log", token, port)


# -- normalising and masking ------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_HEX = "[0-9a-fA-F]"

#: (pattern, replacement), applied in this order after the notebook's own masks
BUILTIN_MASKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(CPU times|Wall time):.*$", re.M), r"\1: <DURATION>"),
    (re.compile(r"^.*± .* per loop \(mean ± std\. dev\. of .*$", re.M), "<TIMEIT>"),
    (re.compile(r"https?://(?:127\.0\.0\.1|localhost|\[::1\]|0\.0\.0\.0)(?::\d+)?"), "<SERVER>"),
    (re.compile(r"(\btoken[=:]\s*[\"']?)[\w\-.~]{8,}", re.I), r"\1<TOKEN>"),
    (re.compile(rf"\b{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}\b"), "<UUID>"),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2}\b)?"),
        "<TIMESTAMP>",
    ),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "<DATE>"),
    (
        re.compile(
            r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\s?"
            r"(?:ns|µs|μs|us|ms|s|sec|secs|seconds?|min|mins|minutes?)(?!\w)"
        ),
        "<DURATION>",
    ),
    (re.compile(rf"\b0x{_HEX}{{6,}}\b"), "0x<ADDR>"),
    (re.compile(r"\b[0-9a-f]{32,}\b"), "<TOKEN>"),
    # UWS job ids: secrets.token_hex(8), 16 lower-case hex digits (with a letter: not a number)
    (re.compile(r"\b(?=[0-9]*[a-f])[0-9a-f]{16}\b"), "<JOBID>"),
    (
        re.compile(r"(?<![\w.])(?:/private)?/(?:tmp|var/tmp|var/folders)(?:/[^\s'\"()\[\]{}<>,;:]*)?"),
        "<TMP>",
    ),
]


def _clean(text: str) -> str:
    """Without ANSI codes, ``\\r``-overwritten line starts, trailing blanks and blank end lines."""
    text = _ANSI.sub("", text).replace("\r\n", "\n")
    lines = []
    for line in text.split("\n"):
        parts = [p for p in line.split("\r") if p]
        lines.append(parts[-1].rstrip() if parts else "")
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def normalise(
    text: str, masks: Sequence[re.Pattern[str]] = (), literals: Mapping[str, str] | None = None
) -> str:
    """``text`` cleaned and masked: first the notebook's ``masks`` (each match -> ``<MASKED>``),
    then the ``literals`` (exact strings -> their placeholder, longest first), then
    :data:`BUILTIN_MASKS`."""
    text = _clean(text)
    for pattern in masks:
        text = pattern.sub("<MASKED>", text)
    for value, placeholder in sorted((literals or {}).items(), key=lambda kv: -len(kv[0])):
        if value:
            text = text.replace(value, placeholder)
    for pattern, repl in BUILTIN_MASKS:
        text = pattern.sub(repl, text)
    return text


# -- comparing --------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?P<num>(?<![\w.])[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<word><[A-Z]+>|\w+)"
    r"|(?P<sym>\S)"
)


@dataclass(frozen=True)
class _Tok:
    text: str
    start: int
    end: int
    number: float | None  # the value of a number token

    @property
    def shape(self) -> str:
        return "\0#" if self.number is not None else self.text


def _tokens(text: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        num = None
        if m.lastgroup == "num":
            num = float(m.group().replace(",", ""))
        out.append(_Tok(m.group(), m.start(), m.end(), num))
    return out


def _is_identifier(text: str) -> bool:
    digits = text.replace(",", "").lstrip("+-")
    return digits.isdigit() and len(digits) >= EXACT_INT_DIGITS


@dataclass
class Comparison:
    ok: bool
    numbers: list[str] = field(default_factory=list)  # "expected 12,699 got 12,700 (rel ... > ...)"
    diff: list[str] = field(default_factory=list)  # unified diff of the normalised lines


def _number_problem(exp: _Tok, got: _Tok, rtol: float, atol: float) -> str | None:
    if exp.text == got.text:
        return None
    assert exp.number is not None and got.number is not None
    if _is_identifier(exp.text) or _is_identifier(got.text):
        if exp.text.replace(",", "").lstrip("+") == got.text.replace(",", "").lstrip("+"):
            return None
        return f"expected {exp.text} got {got.text} (an identifier: compared exactly)"
    e, g = exp.number, got.number
    if e != e or g != g:  # nan (e.g. 1e999-1e999 never happens from text, but be safe)
        return f"expected {exp.text} got {got.text}"
    d = abs(g - e)
    if d <= atol + rtol * abs(e):
        return None
    if e == 0:
        return f"expected {exp.text} got {got.text} (abs {d:.1e} > atol {atol:.2g})"
    return f"expected {exp.text} got {got.text} (rel {d / abs(e):.1e} > {rtol:.2g})"


def compare_text(
    expected: str, got: str, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL
) -> Comparison:
    """Compare two normalised texts token by token (whitespace aside, numbers with a tolerance)."""
    if expected == got:
        return Comparison(True)
    te, tg = _tokens(expected), _tokens(got)
    matcher = difflib.SequenceMatcher(None, [t.shape for t in te], [t.shape for t in tg], autojunk=False)
    structural = False
    numbers: list[str] = []
    subst: list[tuple[int, int, str]] = []  # spans of `got` shown as the expected text in the diff
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            structural = True
            continue
        for a, b in zip(te[i1:i2], tg[j1:j2], strict=True):
            if a.number is None or a.text == b.text:
                continue
            problem = _number_problem(a, b, rtol, atol)
            if problem:
                numbers.append(problem)
            else:
                subst.append((b.start, b.end, a.text))
    if not structural and not numbers:
        return Comparison(True)
    shown = got
    for start, end, text in sorted(subst, reverse=True):
        shown = shown[:start] + text + shown[end:]
    diff = list(
        difflib.unified_diff(expected.splitlines(), shown.splitlines(), "expected", "got", n=1, lineterm="")
    )
    if len(diff) > MAX_DIFF_LINES:
        diff = [*diff[:MAX_DIFF_LINES], f"... ({len(diff) - MAX_DIFF_LINES} more diff lines)"]
    return Comparison(False, numbers, diff)


# -- notebooks, cells and sidecars ------------------------------------------------------------------


def sidecar_path(notebook: Path) -> Path:
    """``<dir>/expected/<stem>.json``: where a notebook's expected outputs are stored."""
    return notebook.parent / SIDECAR_DIR / f"{notebook.stem}.json"


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _source_hash(source: str) -> str:
    text = "\n".join(line.rstrip() for line in source.strip().splitlines())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= 70 else line[:67] + "..."
    return "(empty)"


def _text_outputs(cell: Any) -> list[dict[str, Any]]:
    """The cell's compared outputs: stdout (consecutive chunks merged) and text/plain."""
    out: list[dict[str, Any]] = []
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind == "stream" and o.get("name") == "stdout":
            text = o.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            if out and out[-1]["output_type"] == "stream":
                out[-1]["raw"] += text
            else:
                out.append({"output_type": "stream", "name": "stdout", "raw": text})
        elif kind in ("execute_result", "display_data"):
            plain = o.get("data", {}).get("text/plain")
            if plain is not None:
                plain = "".join(plain) if isinstance(plain, list) else plain
                out.append({"output_type": kind, "raw": plain})
    return out


def _joined(outputs: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join("\n".join(o["text"]) for o in outputs if o["text"])


@dataclass(frozen=True)
class _Settings:
    rtol: float
    atol: float
    masks: tuple[re.Pattern[str], ...]


def _notebook_settings(nb: Any) -> _Settings:
    conf = nb.get("metadata", {}).get("lsstbox", {}).get("nbtest", {}) or {}
    if not isinstance(conf, Mapping):
        raise ValueError("metadata.lsstbox.nbtest must be an object")
    masks = []
    for m in conf.get("mask", []) or []:
        try:
            masks.append(re.compile(m, re.M))
        except re.error as e:
            raise ValueError(f"metadata.lsstbox.nbtest.mask: bad regular expression {m!r}: {e}") from None
    return _Settings(
        float(conf.get("rtol", DEFAULT_RTOL)), float(conf.get("atol", DEFAULT_ATOL)), tuple(masks)
    )


def _cell_options(cell: Any, settings: _Settings) -> tuple[float, float, bool, list[str]]:
    """(rtol, atol, skip_output, unknown tags) of a cell."""
    rtol, atol, skip, unknown = settings.rtol, settings.atol, False, []
    for tag in cell.get("metadata", {}).get("tags", []) or []:
        if not tag.startswith("nbtest:"):
            continue
        key, _, value = tag[len("nbtest:") :].partition("=")
        try:
            if key == "skip-output" and not value:
                skip = True
            elif key == "rtol" and value:
                rtol = float(value)
            elif key == "atol" and value:
                atol = float(value)
            else:
                unknown.append(tag)
        except ValueError:
            unknown.append(tag)
    return rtol, atol, skip, unknown


@dataclass
class CellProblem:
    cell: int  # 1-based position in the notebook (markdown cells count)
    first_line: str
    message: str
    details: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = f"cell {self.cell} [{self.first_line}]: {self.message}"
        return [head, *(f"    {d}" for d in self.details)]


@dataclass
class NotebookResult:
    path: Path
    seconds: float
    problems: list[CellProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # the notebook could not run at all (kernel, metadata)

    @property
    def ok(self) -> bool:
        return not self.problems and self.error is None

    def report(self) -> str:
        """The notebook's part of the report: ``PASS/FAIL path (time)`` and indented details."""
        lines = [f"{'PASS' if self.ok else 'FAIL'}  {self.path}  ({self.seconds:.1f} s)"]
        if self.error:
            lines.append(f"  {self.error}")
        for p in self.problems:
            lines += [f"  {line}" for line in p.lines()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _error_problem(index: int, cell: Any, verbose: bool) -> CellProblem | None:
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            evalue = " / ".join(
                line.strip() for line in str(o.get("evalue", "")).splitlines() if line.strip()
            )
            if len(evalue) > 300:
                evalue = evalue[:297] + "..."
            message = f"{o.get('ename', 'Error')}: {evalue}" if evalue else str(o.get("ename", "Error"))
            details: list[str] = []
            if verbose:
                tb = _strip_ansi("\n".join(o.get("traceback", []))).splitlines()
                details = [line for line in tb if line.strip()][-15:]
            return CellProblem(index + 1, _first_line(_source(cell)), message, details)
    return None


def _execute(
    nb: Any, env: Mapping[str, str], cwd: Path, timeout: int, verbose: bool
) -> CellProblem | str | None:
    """Run every code cell; the first failing cell's problem, or a message if the kernel failed."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    running: list[int] = []

    def on_cell_start(cell: Any, cell_index: int) -> None:
        running[:] = [cell_index]

    client.on_cell_start = on_cell_start
    try:
        # the kernel process's own stderr (start-up warnings) is noise in the report; -v keeps it
        quiet: dict[str, Any] = {} if verbose else {"stderr": subprocess.DEVNULL}
        client.execute(env=dict(env), **quiet)
    except CellTimeoutError:
        i = running[0] if running else 0
        return CellProblem(i + 1, _first_line(_source(nb.cells[i])), f"timed out after {timeout} s")
    except CellExecutionError as e:
        for i, cell in enumerate(nb.cells):
            problem = _error_problem(i, cell, verbose)
            if problem:
                return problem
        i = running[0] if running else 0
        return CellProblem(i + 1, _first_line(_source(nb.cells[i])), f"{e.ename}: {e.evalue}")
    except DeadKernelError as e:
        i = running[0] if running else 0
        return CellProblem(i + 1, _first_line(_source(nb.cells[i])), f"the kernel died: {e}")
    except Exception as e:  # the kernel did not start, or nbclient failed
        return f"could not run the notebook: {type(e).__name__}: {e}"
    return None


def _literals(env: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """Exact strings of this run masked in outputs (the server, token, release and folders)."""
    lit: dict[str, str] = {}
    tap = env.get("LSSTBOX_TAP_URL", "")
    if tap:
        base = tap.rstrip("/").removesuffix("/tap").removesuffix("/lsstbox")
        lit[base] = "<SERVER>"
    if env.get("LSSTBOX_TOKEN"):
        lit[env["LSSTBOX_TOKEN"]] = "<TOKEN>"
    if env.get("LSSTBOX_RELEASE"):
        lit[str(Path(env["LSSTBOX_RELEASE"]).resolve())] = "<RELEASE>"
        lit[env["LSSTBOX_RELEASE"].rstrip("/")] = "<RELEASE>"
    lit[str(cwd.resolve())] = "<CWD>"
    lit[str(cwd)] = "<CWD>"
    home = str(Path.home())
    if len(home) > 1:
        lit[home] = "~"
    return lit


def check_notebook(
    path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    update: bool = False,
    timeout: int = DEFAULT_TIMEOUT,
    verbose: bool = False,
) -> NotebookResult:
    """Run the notebook at ``path`` and compare its outputs with its sidecar (or, with ``update``,
    write the sidecar). The kernel's environment is ``os.environ`` updated with ``env``; its
    working folder ``cwd`` (default: the notebook's folder). The notebook file is not changed."""
    import nbformat

    path = Path(path)
    t0 = time.monotonic()
    result = NotebookResult(path, 0.0)
    try:
        nb = nbformat.read(path, as_version=4)
        settings = _notebook_settings(nb)
    except Exception as e:
        result.error = f"cannot read the notebook: {e}"
        return result
    cwd = Path(cwd) if cwd is not None else path.resolve().parent
    full_env = {**os.environ, **(env or {})}
    failure = _execute(nb, full_env, cwd, timeout, verbose)
    result.seconds = time.monotonic() - t0
    if isinstance(failure, str):
        result.error = failure
        return result
    if failure is not None:
        result.problems.append(failure)
        return result

    literals = _literals(full_env, cwd)
    cells: list[dict[str, Any]] = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = _source(cell)
        outputs = [
            {
                **{k: v for k, v in o.items() if k != "raw"},
                "text": normalise(o["raw"], settings.masks, literals).split("\n"),
            }
            for o in _text_outputs(cell)
        ]
        for o in outputs:
            if o["text"] == [""]:
                o["text"] = []
        cells.append(
            {
                "cell": i + 1,
                "source_sha256": _source_hash(source),
                "first_line": _first_line(source),
                "outputs": outputs,
                "_options": _cell_options(cell, settings),
            }
        )
    for c in cells:
        if c["_options"][3]:
            result.notes.append(f"cell {c['cell']}: unknown tag(s) {', '.join(c['_options'][3])} ignored")

    side = sidecar_path(path)
    expected: dict[str, Any] | None = None
    if side.exists():
        try:
            expected = json.loads(side.read_text())
            if expected.get("format") != SIDECAR_FORMAT:
                raise ValueError(f"format {expected.get('format')!r}, not {SIDECAR_FORMAT}")
        except (ValueError, OSError) as e:
            if not update:
                result.error = f"cannot read {side}: {e}"
                return result
            expected = None

    if update:
        _write_sidecar(path, side, cells, expected, result)
    elif expected is None:
        result.notes.append(f"no expected outputs ({side} is missing): run with --update to record them")
    else:
        result.problems += _compare_cells(cells, expected["cells"])
    result.seconds = time.monotonic() - t0
    return result


def _source_opcodes(
    expected: list[dict[str, Any]], cells: list[dict[str, Any]]
) -> Sequence[tuple[str, int, int, int, int]]:
    """How the recorded cells map onto this run's, by their sources (difflib opcodes)."""
    return difflib.SequenceMatcher(
        None, [e["source_sha256"] for e in expected], [c["source_sha256"] for c in cells], autojunk=False
    ).get_opcodes()


def _compare_outputs(e: dict[str, Any], c: dict[str, Any]) -> Comparison | None:
    """A recorded cell's outputs against this run's, with the cell's tolerance (None: not compared)."""
    rtol, atol, skip, _ = c["_options"]
    if skip:
        return None
    return compare_text(_joined(e["outputs"]), _joined(c["outputs"]), rtol, atol)


def _compare_cells(cells: list[dict[str, Any]], expected: list[dict[str, Any]]) -> list[CellProblem]:
    problems: list[CellProblem] = []
    for op, i1, i2, j1, j2 in _source_opcodes(expected, cells):
        if op == "equal":
            for e, c in zip(expected[i1:i2], cells[j1:j2], strict=True):
                cmp = _compare_outputs(e, c)
                if cmp is not None and not cmp.ok:
                    problems.append(
                        CellProblem(
                            c["cell"],
                            c["first_line"],
                            "output differs from expected",
                            [*cmp.diff, *cmp.numbers],
                        )
                    )
            continue
        for k, c in enumerate(cells[j1:j2]):
            if op == "replace" and k < i2 - i1:
                msg = "expected output out of date (cell source changed): run with --update"
            else:
                msg = "no expected output (new cell): run with --update"
            problems.append(CellProblem(c["cell"], c["first_line"], msg))
        if op == "delete" or (op == "replace" and i2 - i1 > j2 - j1):
            gone = expected[i1:i2][j2 - j1 :] if op == "replace" else expected[i1:i2]
            for e in gone:
                problems.append(
                    CellProblem(
                        e["cell"],
                        e["first_line"],
                        "expected output of a cell no longer in the notebook: run with --update",
                    )
                )
    return problems


def _write_sidecar(
    path: Path, side: Path, cells: list[dict[str, Any]], old: dict[str, Any] | None, result: NotebookResult
) -> None:
    """Write the sidecar; a cell whose source is unchanged and whose outputs still compare equal
    (within its tolerance) keeps its old expected text, so re-recording does not churn numbers."""
    kept: dict[int, list[dict[str, Any]]] = {}
    if old is not None:
        olds = old.get("cells", [])
        for op, i1, i2, j1, j2 in _source_opcodes(olds, cells):
            if op == "equal":
                for e, c in zip(olds[i1:i2], cells[j1:j2], strict=True):
                    cmp = _compare_outputs(e, c)
                    if cmp is None or cmp.ok:
                        kept[c["cell"]] = e["outputs"]
    out_cells = []
    for c in cells:
        entry = {k: v for k, v in c.items() if not k.startswith("_")}
        if c["cell"] in kept:
            entry["outputs"] = kept[c["cell"]]
        out_cells.append(entry)
    doc = {
        "format": SIDECAR_FORMAT,
        "notebook": path.name,
        "about": "expected text outputs for `lsstbox notebooks test` (normalised, masked); "
        "rewrite with `lsstbox notebooks test --update`",
        "cells": out_cells,
    }
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    changed = len(cells) - len(kept)
    if old is not None and side.exists() and side.read_text() == text:
        result.notes.append(f"expected outputs unchanged: {side}")
        return
    side.parent.mkdir(parents=True, exist_ok=True)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(side)
    what = "recorded" if old is None else f"updated ({changed} of {len(cells)} code cells changed)"
    result.notes.append(f"expected outputs {what}: {side}")


# -- the command ------------------------------------------------------------------------------------


def find_notebooks(paths: Sequence[Path]) -> list[Path]:
    """The notebooks named or under the folders named (hidden folders and checkpoints skipped);
    :class:`UsageError` for a missing path, a file that is not a notebook, or no notebook."""
    found: list[Path] = []
    for p in paths:
        if not p.exists():
            raise UsageError(f"no such file or folder: {p}")
        if p.is_dir():
            nbs = sorted(
                q
                for q in p.rglob("*.ipynb")
                if not any(part.startswith(".") for part in q.relative_to(p).parts)
                and "node_modules" not in q.relative_to(p).parts
            )
            if not nbs:
                raise UsageError(f"no notebooks under {p}")
            found += nbs
        else:
            if p.suffix != ".ipynb":
                raise UsageError(f"not a notebook (no .ipynb suffix): {p}")
            try:
                doc = json.loads(p.read_text())
                if not isinstance(doc, dict) or "cells" not in doc:
                    raise ValueError("no cells")
            except (ValueError, UnicodeDecodeError) as e:
                raise UsageError(f"not a notebook ({e}): {p}") from None
            found.append(p)
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def _tap_url(url: str) -> str:
    """A server URL (``http://host:port/``) or the box's TAP URL -> the TAP URL."""
    url = url.rstrip("/")
    return url if url.endswith("/tap") else f"{url}/lsstbox/tap"


def run_notebooks(
    paths: Sequence[Path],
    *,
    url: str | None = None,
    token: str | None = None,
    start: bool = False,
    release: Path | None = None,
    update: bool = False,
    timeout: int = DEFAULT_TIMEOUT,
    verbose: bool = False,
    cwd: Path | None = None,
    out: Any = None,
) -> list[NotebookResult]:
    """What ``lsstbox notebooks test`` does: find the notebooks, start a box if ``start``, check
    each notebook (reporting to ``out`` as it goes) and return the results."""
    out = out if out is not None else sys.stdout
    notebooks = find_notebooks(paths)
    if start and url:
        raise UsageError("--start and --url exclude each other")
    env: dict[str, str] = {}
    if release is not None:
        if not release.exists():
            raise UsageError(f"no such release folder: {release}")
        env["LSSTBOX_RELEASE"] = str(release.resolve())
    results: list[NotebookResult] = []
    with ExitStack() as stack:
        if start:
            from .cli import resolve_release

            rel = resolve_release(release)
            env["LSSTBOX_RELEASE"] = str(rel)
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lsstbox-nbtest-")))
            (home / "root").mkdir()
            print(f"starting a Jupyter server with the box on {rel} ...", file=sys.stderr)
            server = stack.enter_context(box_server(rel, home, secrets.token_hex(16)))
            env["LSSTBOX_TAP_URL"] = f"{server.url}lsstbox/tap"
            env["LSSTBOX_TOKEN"] = server.token
        elif url:
            env["LSSTBOX_TAP_URL"] = _tap_url(url)
            env["LSSTBOX_TOKEN"] = token if token is not None else os.environ.get("LSSTBOX_TOKEN", "")
        elif token is not None:
            env["LSSTBOX_TOKEN"] = token
        for nb in notebooks:
            r = check_notebook(nb, env=env, cwd=cwd, update=update, timeout=timeout, verbose=verbose)
            print(r.report(), file=out, flush=True)
            results.append(r)
    return results


def _junit(results: Sequence[NotebookResult], path: Path) -> None:
    failures = sum(not r.ok for r in results)
    suite = ET.Element(
        "testsuite",
        name="lsstbox-notebooks",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(
            suite, "testcase", classname="notebooks", name=str(r.path), time=f"{r.seconds:.3f}"
        )
        if not r.ok:
            first = r.error or (r.problems[0].lines()[0] if r.problems else "failed")
            fail = ET.SubElement(case, "failure", message=first)
            fail.text = r.report()
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lsstbox notebooks test",
        description="Run notebooks headless and compare their text outputs with the expected "
        "outputs stored in <dir>/expected/<notebook>.json. Exit code 0: all pass; 1: a notebook "
        "failed; 2: usage error.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[Path(".")],
        metavar="PATH",
        help="notebooks, or folders searched for *.ipynb (default: .)",
    )
    p.add_argument("--update", action="store_true", help="(re)write the expected outputs from this run")
    p.add_argument(
        "--url",
        default=None,
        help="the box's server (http://host:port/) or TAP URL (default: $LSSTBOX_TAP_URL)",
    )
    p.add_argument("--token", default=None, help="the server's token (default: $LSSTBOX_TOKEN)")
    p.add_argument(
        "--start",
        action="store_true",
        help="start a Jupyter server with the box on a free loopback port for the run",
    )
    p.add_argument(
        "--release",
        type=Path,
        default=None,
        help="the release (default: $LSSTBOX_RELEASE, else the one `lsstbox lab` uses)",
    )
    p.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per cell (default: 600)")
    p.add_argument("--junit", type=Path, default=None, metavar="FILE", help="also write a JUnit XML report")
    p.add_argument("-v", "--verbose", action="store_true", help="a short traceback for failing cells")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``lsstbox notebooks test``; returns the exit code."""
    try:
        args = _parser().parse_args(list(argv) if argv is not None else None)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code or 0) if isinstance(e.code, int) else 2
    t0 = time.monotonic()
    try:
        results = run_notebooks(
            args.paths,
            url=args.url,
            token=args.token,
            start=args.start,
            release=args.release,
            update=args.update,
            timeout=args.timeout,
            verbose=args.verbose,
        )
    except UsageError as e:
        print(f"lsstbox notebooks test: error: {e}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as e:  # the server did not start, a release could not be built
        print(f"lsstbox notebooks test: error: {e}", file=sys.stderr)
        return 2
    failed = sum(not r.ok for r in results)
    secs = time.monotonic() - t0
    if failed:
        print(f"\n{failed} of {len(results)} notebooks failed ({secs:.1f} s)")
    else:
        print(f"\nall {len(results)} notebooks passed ({secs:.1f} s)")
    if args.junit:
        _junit(results, args.junit)
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
