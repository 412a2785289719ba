"""``lsstbox notebooks test``: real kernels running real notebooks written to ``tmp_path``.

The engine's Python API (:func:`check_notebook`) for the comparisons, the command in a subprocess
for exit codes, JUnit and ``--start`` (a real box server on the tiny release, queried through
``get_tap_service``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from jupyterlab_lsp.nbtest import (
    check_notebook,
    compare_text,
    find_notebooks,
    normalise,
    sidecar_path,
)

LSSTBOX = Path(sys.executable).parent / "lsstbox"


def write_nb(path: Path, cells: list[Any], **metadata: Any) -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.update(metadata)
    nbformat.write(nb, path)
    return path


def code(source: str, *tags: str) -> Any:
    cell = new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def cli(*args: str | Path, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    cmd = [str(LSSTBOX), "notebooks", "test", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def edit_sidecar(nb: Path, old: str, new: str) -> None:
    side = sidecar_path(nb)
    text = side.read_text()
    assert old in text, text
    side.write_text(text.replace(old, new))


# -- no kernel: normalising and comparing -------------------------------------------------------------


def test_normalise_masks_volatile_parts() -> None:
    text = (
        "\x1b[31mred\x1b[0m at 2026-11-24T11:34:39.123Z on 2026-11-24, took 1.2 s then 350 ms  \n"
        "Wall time: 3.41 s\n"
        "id 123e4567-e89b-12d3-a456-426614174000 <Obj at 0x7f3a2b1c9d00>\n"
        "http://127.0.0.1:8888/lsstbox/tap/async/3fa2b1c9d00e4f12?token=abcdef0123456789 /tmp/x/y.fits\n"
        "progress 10%\rprogress 100%\n\n"
    )
    assert normalise(text).splitlines() == [
        "red at <TIMESTAMP> on <DATE>, took <DURATION> then <DURATION>",
        "Wall time: <DURATION>",
        "id <UUID> <Obj at 0x<ADDR>>",
        "<SERVER>/lsstbox/tap/async/<JOBID>?token=<TOKEN> <TMP>",
        "progress 100%",
    ]
    assert normalise("run 42-abc", [re.compile(r"run \S+")]) == "<MASKED>"
    assert normalise("at /data/rel/x", literals={"/data/rel": "<RELEASE>"}) == "at <RELEASE>/x"


def test_compare_numbers_with_tolerance() -> None:
    assert compare_text("n = 12,699\nx 0.5", "n =   12,699\nx 0.5000000001").ok  # whitespace, rtol
    bad = compare_text("n = 12,699\nx 0.5", "n = 12,700\nx 0.5000000001")
    assert not bad.ok
    assert bad.numbers == ["expected 12,699 got 12,700 (rel 7.9e-05 > 1e-06)"]
    assert "-n = 12,699" in bad.diff and "+n = 12,700" in bad.diff
    assert " x 0.5" in bad.diff  # a number within tolerance is not shown as a change
    assert compare_text("n = 12,699", "n = 12,700", rtol=1e-3).ok
    assert not compare_text("id 1234567890123", "id 1234567890124", rtol=1e-3).ok  # identifiers: exact
    assert compare_text("0.0", "1e-13").ok and not compare_text("0.0", "1e-9").ok
    assert not compare_text("a b c", "a b d").ok
    assert not compare_text("1 2 3", "1 2 3 4").ok


# -- real kernels ---------------------------------------------------------------------------------


def test_passing_notebook_without_sidecar(tmp_path: Path) -> None:
    nb = write_nb(
        tmp_path / "ok.ipynb",
        [new_markdown_cell("# hi"), code("x = 2 + 2\nassert x == 4"), code("print('hello')")],
    )
    r = check_notebook(nb)
    assert r.ok, r.report()
    assert r.report().startswith(f"PASS  {nb}  (")
    assert "no expected outputs" in r.report()
    assert not sidecar_path(nb).exists()
    assert not nbformat.read(nb, as_version=4).cells[1].outputs  # the file is left as it was


def test_assertion_error_fails_with_cell_and_message(tmp_path: Path) -> None:
    nb = write_nb(
        tmp_path / "bad.ipynb",
        [
            new_markdown_cell("# a failing check"),
            code("x = 3"),
            code("# the check\nassert x == 4, f'x is {x}, not 4'"),
            code("print('never')"),
        ],
    )
    r = check_notebook(nb)
    assert not r.ok
    report = r.report()
    assert report.startswith(f"FAIL  {nb}")
    assert "cell 3 [# the check]: AssertionError: x is 3, not 4" in report
    assert "Traceback" not in report and "never" not in report
    verbose = check_notebook(nb, verbose=True).report()
    assert "assert x == 4" in verbose  # a short traceback with -v


VOLATILE = """\
import datetime, time, uuid
t0 = time.perf_counter()
print("now", datetime.datetime.now().isoformat(), "today", datetime.date.today())
print("id", uuid.uuid4(), "object", object())
print(f"took {time.perf_counter() - t0 + 0.001:.3f} s, {1000 * (time.perf_counter() - t0):.1f} ms")
print("run", uuid.uuid4().hex[:8])
"""


def test_update_then_rerun_passes_with_masks(tmp_path: Path) -> None:
    nb = write_nb(
        tmp_path / "volatile.ipynb",
        [
            code(VOLATILE),
            code("print(f'{12700:,} rows, mean {1 / 3:.9f}')\n12345.678"),
            code("import random\nprint(random.random())", "nbtest:skip-output"),
        ],
        lsstbox={"nbtest": {"mask": [r"run \w+"]}},
    )
    r = check_notebook(nb, update=True)
    assert r.ok, r.report()
    assert "expected outputs recorded" in r.report()
    side = json.loads(sidecar_path(nb).read_text())
    assert side["notebook"] == "volatile.ipynb"
    cells = side["cells"]
    assert [c["cell"] for c in cells] == [1, 2, 3]
    assert cells[1]["first_line"] == "print(f'{12700:,} rows, mean {1 / 3:.9f}')"
    assert cells[1]["outputs"] == [
        {"output_type": "stream", "name": "stdout", "text": ["12,700 rows, mean 0.333333333"]},
        {"output_type": "execute_result", "text": ["12345.678"]},
    ]
    volatile = "\n".join(cells[0]["outputs"][0]["text"])
    assert "<TIMESTAMP>" in volatile and "<DATE>" in volatile and "<UUID>" in volatile
    assert "0x<ADDR>" in volatile and "<DURATION>" in volatile and "<MASKED>" in volatile
    # a second run: other times, UUIDs, addresses, random numbers; it passes
    again = check_notebook(nb)
    assert again.ok, again.report()
    assert "no expected outputs" not in again.report()
    # recording again changes nothing
    assert "unchanged" in check_notebook(nb, update=True).report()


def test_changed_number_fails_with_readable_diff(tmp_path: Path) -> None:
    nb = write_nb(tmp_path / "numbers.ipynb", [code("n = 12700\nprint(f'{n:,} rows')\nprint('x', 1 / 3)")])
    assert check_notebook(nb, update=True).ok
    edit_sidecar(nb, "12,700 rows", "12,699 rows")
    r = check_notebook(nb)
    assert not r.ok
    report = r.report()
    assert "cell 1 [n = 12700]: output differs from expected" in report
    lines = [line.strip() for line in report.splitlines()]
    i = lines.index("-12,699 rows")
    assert lines[i - 3 : i + 3] == [
        "--- expected",
        "+++ got",
        "@@ -1,2 +1,2 @@",
        "-12,699 rows",
        "+12,700 rows",
        "x 0.3333333333333333",
    ]
    assert "expected 12,699 got 12,700 (rel 7.9e-05 > 1e-06)" in report


def test_number_within_tolerance_passes(tmp_path: Path) -> None:
    nb = write_nb(
        tmp_path / "tol.ipynb",
        [code("print(1.2345678)"), code("print(12700)", "nbtest:rtol=1e-3")],
    )
    assert check_notebook(nb, update=True).ok
    edit_sidecar(nb, '"1.2345678"', '"1.2345679"')  # rel 8e-08 < 1e-06
    edit_sidecar(nb, '"12700"', '"12699"')  # rel 7.9e-05 < 1e-03 (the cell's tag)
    r = check_notebook(nb)
    assert r.ok, r.report()
    edit_sidecar(nb, '"1.2345679"', '"1.2346"')
    r = check_notebook(nb)
    assert not r.ok and "expected 1.2346 got 1.2345678 (rel 2.6e-05 > 1e-06)" in r.report()
    # a notebook-wide tolerance
    nbj = json.loads(nb.read_text())
    nbj["metadata"]["lsstbox"] = {"nbtest": {"rtol": 1e-4}}
    nb.write_text(json.dumps(nbj))
    assert check_notebook(nb).ok


def test_changed_source_is_out_of_date(tmp_path: Path) -> None:
    nb = write_nb(tmp_path / "src.ipynb", [code("print(1)"), code("print(2)")])
    assert check_notebook(nb, update=True).ok
    write_nb(tmp_path / "src.ipynb", [code("print(1)"), code("print(2 + 0)"), code("print(3)")])
    r = check_notebook(nb)
    assert not r.ok
    report = r.report()
    assert (
        "cell 2 [print(2 + 0)]: expected output out of date (cell source changed): run with --update"
        in report
    )
    assert "cell 3 [print(3)]: no expected output (new cell): run with --update" in report
    assert "cell 1" not in report
    assert check_notebook(nb, update=True).ok and check_notebook(nb).ok


def test_find_notebooks(tmp_path: Path) -> None:
    write_nb(tmp_path / "a.ipynb", [])
    (tmp_path / ".ipynb_checkpoints").mkdir()
    write_nb(tmp_path / ".ipynb_checkpoints" / "a-checkpoint.ipynb", [])
    (tmp_path / "sub").mkdir()
    write_nb(tmp_path / "sub" / "b.ipynb", [])
    assert find_notebooks([tmp_path, tmp_path / "a.ipynb"]) == [
        tmp_path / "a.ipynb",
        tmp_path / "sub" / "b.ipynb",
    ]


def test_cli_exit_codes_and_junit(tmp_path: Path) -> None:
    good = write_nb(tmp_path / "good.ipynb", [code("print('fine')")])
    bad = write_nb(tmp_path / "bad.ipynb", [code("assert 1 == 2, 'one is not two'")])
    (tmp_path / "notes.txt").write_text("hello")

    run = cli("--update", good)
    assert run.returncode == 0, run.stdout + run.stderr
    assert sidecar_path(good).exists()
    run = cli(good)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith(f"PASS  {good}")
    assert "all 1 notebooks passed" in run.stdout

    junit = tmp_path / "report.xml"
    run = cli(good, bad, "--junit", junit)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"FAIL  {bad}" in run.stdout
    assert "cell 1 [assert 1 == 2, 'one is not two']: AssertionError: one is not two" in run.stdout
    assert "1 of 2 notebooks failed" in run.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1"

    for args in (
        [tmp_path / "missing.ipynb"],
        [tmp_path / "notes.txt"],
        ["--start", "--url", "http://x", good],
    ):
        run = cli(*args)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert "error:" in run.stderr or "usage:" in run.stderr
    assert "no such file" in cli(tmp_path / "missing.ipynb").stderr
    assert "not a notebook" in cli(tmp_path / "notes.txt").stderr

    usage = cli("--help")
    assert usage.returncode == 0 and "--update" in usage.stdout and "--start" in usage.stdout


TAP_CELL = """\
from jupyterlab_lsp import get_tap_service

service = get_tap_service("tap")
print(service.baseurl)
n = service.run_sync("SELECT COUNT(*) AS n FROM dp1.Object").to_table()["n"][0]
assert n > 0
print("objects:", n)
"""


@pytest.mark.timeout(900)
def test_cli_start_runs_a_tap_notebook(tiny_release: Path, tmp_path: Path) -> None:
    nb = write_nb(tmp_path / "tap.ipynb", [code(TAP_CELL)])
    run = cli("--start", "--release", tiny_release, "--update", nb)
    assert run.returncode == 0, run.stdout + run.stderr
    outputs = json.loads(sidecar_path(nb).read_text())["cells"][0]["outputs"]
    text = outputs[0]["text"]
    assert text[0] == "<SERVER>/lsstbox/tap"  # the port of this run is masked
    assert text[1].startswith("objects: ") and int(text[1].split()[1]) > 0
    run = cli("--start", "--release", tiny_release, nb)  # another server, another port: passes
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith(f"PASS  {nb}")
