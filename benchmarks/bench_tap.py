"""Benchmark: our TAP service side by side with the DaCHS peer on the same 1 M-row table, one run.

* DaCHS must be answering at ``--dachs`` (default http://127.0.0.1:8080/tap, table ``synth.main``);
  if it is not, this says how to start it and exits with status 2.
* Our side: the CSV DaCHS imported, written as HATS with our writer into a copy of a tiny release
  as ``synth.main`` (:mod:`tap_bench_release`, cached in ``--work``), served by a Jupyter server
  started here on loopback with authentication off (the peers' pyvo scripts send no token), and
  stopped at the end.  Checked first: COUNT(*) in process = 1,000,000, and a 1° cone count equal
  to DaCHS's.
* Both servers are warmed up (a full scan, a cone, a sort), then the peers' ``ivoa/bench_tap.py``
  runs on each (ours first, ``--repeats`` runs per query, default 7) and the table compares the
  raw-HTTP medians (the server's cost; the pyvo figure, which adds client-side VOTable parsing, is
  beside it), row counts and bench_tap's checksums; as that checksum depends on row order and on
  float32/float64 reprs, compare_tap.py also runs on bench_tap's queries (read from its source:
  sorted rows, field datatype/unit/UCD).  Goal: ours <= 0.5x DaCHS on ``cone_0.1deg``,
  ``top1000_orderby_rmag`` and ``groupby_count_full``.
* The peers' ``ivoa/compare_tap.py URL_ours URL_dachs`` (its default queries): the same answers?
* Streaming: a sync ``SELECT * FROM synth.main`` with MAXREC=1000000 (VOTable BINARY2) from our
  server over raw HTTP, against astropy writing the same 1 M-row table as BINARY2
  (``Table.write(..., format="votable", tabledata_format="binary2")``, ~1 min; ``--astropy-rows N``
  times N rows and extrapolates linearly).  Goal: ours >= 20x faster.

Everything is printed as it comes, again as a markdown table at the end, and written as JSON to
``<work>/bench_tap_results.json``.

    .venv/bin/python benchmarks/bench_tap.py
    .venv/bin/python benchmarks/bench_tap.py --repeats 3 --astropy-rows 100000
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tap_bench_release as tbr

ROOT = tbr.ROOT
TABLE = f"{tbr.SCHEMA}.{tbr.TABLE}"
#: the acceptance queries (names as the peers' bench_tap.py prints them) and the goal ratio
GOALS = {"cone_0.1deg": 0.5, "top1000_orderby_rmag": 0.5, "groupby_count_full": 0.5}
#: DaCHS raw-HTTP medians (ms) quoted in the issue, for context
ISSUE_DACHS_MS = {"cone_0.1deg": 67.0, "top1000_orderby_rmag": 183.0, "groupby_count_full": 169.0}
#: queries whose answer may legitimately differ (TOP without ORDER BY)
UNORDERED = {"trivial_top1"}
STREAM_GOAL = 20.0
STREAM_ROWS = 1_000_000
START_TIMEOUT = 180.0
CONE_CHECK = (
    f"SELECT COUNT(*) AS n FROM {TABLE} "
    "WHERE 1=CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 180.0, 10.0, 1.0))"
)
WARMUP = [
    f"SELECT COUNT(*) AS n, AVG(rmag) AS m FROM {TABLE}",
    CONE_CHECK,
    f"SELECT TOP 100 id, ra, dec, rmag FROM {TABLE} ORDER BY rmag, id",
    f"SELECT FLOOR(gmag) AS b, COUNT(*) AS n FROM {TABLE} GROUP BY b",
]


def log(msg: str = "") -> None:
    print(msg, flush=True)


# -- HTTP -------------------------------------------------------------------------------------------
def sync_post(url: str, query: str, *, maxrec: int | None = None, fmt: str | None = None, timeout=600):
    params = {"LANG": "ADQL", "REQUEST": "doQuery", "QUERY": query}
    if maxrec is not None:
        params["MAXREC"] = str(maxrec)
    if fmt:
        params["RESPONSEFORMAT"] = fmt
    req = urllib.request.Request(url.rstrip("/") + "/sync", data=urllib.parse.urlencode(params).encode())
    return urllib.request.urlopen(req, timeout=timeout)


def count(url: str, query: str) -> int:
    """The single integer a COUNT query returns (read with pyvo)."""
    import pyvo

    tbl = pyvo.dal.TAPService(url).run_sync(query).to_table()
    return int(tbl[tbl.colnames[0]][0])


def dachs_alive(url: str) -> str | None:
    """None if DaCHS answers a query on the table, else why not."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/availability", timeout=10) as f:
            f.read()
        n = count(url, f"SELECT COUNT(*) AS n FROM {TABLE}")
    except Exception as e:  # any failure means "not usable"
        return f"{type(e).__name__}: {e}"
    return None if n == STREAM_ROWS else f"{TABLE} has {n} rows, expected {STREAM_ROWS}"


# -- our server -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(python: str, release: Path, home: Path, port: int) -> tuple[subprocess.Popen, str]:
    """Jupyter server with our extension on 127.0.0.1:port, auth off; returns (process, TAP URL)."""
    for sub in ("root", "jobs", "config", "runtime"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "LSSTBOX_RELEASE": str(release),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    cmd = [
        python,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={home / 'root'}",
        f"--LsstBoxApp.jobs_dir={home / 'jobs'}",
    ]
    logf = home / "server.log"
    with logf.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=home / "root")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter_server exited with {proc.returncode}; see {logf}:\n{_tail(logf)}")
        try:
            with urllib.request.urlopen(f"{base}/api/status", timeout=5) as f:
                if f.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"jupyter_server did not answer /api/status in {START_TIMEOUT:.0f} s: {logf}")
        time.sleep(0.25)
    return proc, f"{base}/lsstbox/tap"


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def warm_up(url: str) -> float:
    t = time.perf_counter()
    for q in WARMUP:
        with sync_post(url, q) as f:
            f.read()
    return time.perf_counter() - t


# -- the peers' scripts -----------------------------------------------------------------------------
def run_bench_tap(python: str, script: Path, url: str, repeats: int, out_json: Path) -> dict[str, Any]:
    """Run the peers' bench_tap.py on ``url``, echo its lines, return its BENCH_JSON results."""
    out_json.unlink(missing_ok=True)
    cmd = [python, str(script), url, TABLE, str(repeats)]
    log(f"$ BENCH_JSON={out_json} {' '.join(cmd)}")
    env = {**os.environ, "BENCH_JSON": str(out_json)}
    env.pop("BENCH_ONLY", None)
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        log("  " + line)
    if proc.returncode != 0 or not out_json.exists():
        raise RuntimeError(f"bench_tap.py on {url} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    data = json.loads(out_json.read_text())
    data["wall_s"] = round(time.perf_counter() - t, 1)
    data["stdout"] = proc.stdout
    return data


def run_compare(
    python: str, script: Path, ours: str, dachs: str, queries: Path | None = None
) -> dict[str, Any]:
    cmd = [python, str(script), ours, dachs, *([str(queries)] if queries else [])]
    log(f"$ {' '.join(cmd)}")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    text = proc.stdout + (("\n" + proc.stderr.strip()) if proc.returncode not in (0, 1) else "")
    for line in text.splitlines():
        log("  " + line)
    summary = next((ln for ln in reversed(proc.stdout.splitlines()) if re.search(r"\d+ passed", ln)), "")
    items, cur = [], None
    for line in proc.stdout.splitlines():
        if line.startswith(("OK", "DIFF", "ERROR")):
            cur = {"status": line.split()[0], "line": line.strip(), "details": []}
            items.append(cur)
        elif line.startswith("      ") and cur is not None:
            cur["details"].append(line.strip())
    return {"exit": proc.returncode, "summary": summary, "items": items, "output": text}


def bench_queries(script: Path) -> dict[str, str]:
    """The query texts of the peers' bench_tap.py (its ``Q`` dict, one ``"name": f"..."`` a line)."""
    out = {}
    for m in re.finditer(r'^\s*"([\w.]+)":\s*f"(.*)",\s*$', script.read_text(), re.M):
        out[m.group(1)] = m.group(2).replace("{tab}", TABLE)
    return out


def check_answers(
    python: str, script: Path, ours: str, dachs: str, queries: dict[str, str], work: Path
) -> dict[str, dict[str, Any]]:
    """compare_tap.py on bench_tap's own queries (rows sorted, so order-free; field metadata too):
    bench_tap's checksum depends on row order and on float32-vs-float64 reprs."""
    names = [n for n in queries if n not in UNORDERED]
    qfile = work / "bench_queries.txt"
    qfile.write_text("".join(queries[n] + "\n" for n in names))
    res = run_compare(python, script, ours, dachs, qfile)
    if len(res["items"]) != len(names):
        log(f"compare_tap.py printed {len(res['items'])} verdicts for {len(names)} queries; ignored")
        return {}
    return dict(zip(names, res["items"], strict=True))


# -- streaming --------------------------------------------------------------------------------------
_SIZES = {"long": 8, "double": 8, "float": 4, "int": 4, "short": 2, "unsignedByte": 1, "boolean": 1}


def binary2_rows(doc: bytes) -> int | None:
    """Rows of a numeric-only BINARY2 VOTable, from its FIELDs and stream length (None if unsure)."""
    head = doc[:65536].decode("utf-8", "replace")
    fields = re.findall(r"<FIELD\b[^>]*>", head)
    types = [re.search(r'datatype="([^"]+)"', f) for f in fields]
    if not fields or any(t is None or t.group(1) not in _SIZES for t in types):
        return None
    if any("arraysize=" in f for f in fields):
        return None
    row = (len(fields) + 7) // 8 + sum(_SIZES[t.group(1)] for t in types if t)
    start = doc.find(b">", doc.find(b"<STREAM")) + 1
    end = doc.find(b"</STREAM>", start)
    if start <= 0 or end < 0:
        return None
    nbytes = len(base64.b64decode(b"".join(doc[start:end].split())))
    return nbytes // row if nbytes % row == 0 else None


def time_stream(url: str, runs: int) -> dict[str, Any]:
    """Raw HTTP: POST the full-table query, read every byte; median over ``runs``."""
    query = f"SELECT * FROM {TABLE}"
    times, first, size, doc = [], [], 0, b""
    for i in range(runs):
        t = time.perf_counter()
        chunks = []
        with sync_post(url, query, maxrec=STREAM_ROWS, fmt="votable") as f:
            chunk = f.read(1 << 16)
            first.append(time.perf_counter() - t)
            while chunk:
                chunks.append(chunk)
                chunk = f.read(1 << 20)
        times.append(time.perf_counter() - t)
        size = sum(len(c) for c in chunks)
        if i == runs - 1:
            doc = b"".join(chunks)
        del chunks
    tail = doc[-4096:].decode("utf-8", "replace")
    status = re.findall(
        r'name="QUERY_STATUS"\s+value="([A-Z]+)"', doc[:65536].decode("utf-8", "replace") + tail
    )
    return {
        "query": query,
        "maxrec": STREAM_ROWS,
        "runs": runs,
        "times_s": [round(x, 3) for x in times],
        "median_s": statistics.median(times),
        "first_byte_s": statistics.median(first),
        "bytes": size,
        "rows": binary2_rows(doc),
        "query_status": status,
        "serialization": "BINARY2" if b"<BINARY2>" in doc[:65536] else "other",
    }


def time_astropy(csv: Path, rd: Path, rows: int, tmp_dir: Path) -> dict[str, Any]:
    """astropy writing the first ``rows`` rows of the same table as BINARY2 (conversion untimed)."""
    from astropy.table import Table

    info = tbr.dachs_table(rd)
    arrow = tbr.read_csv(csv, info["columns"]).slice(0, rows)
    table = Table({c: arrow.column(c).to_numpy() for c in arrow.column_names})
    for c in info["columns"]:
        if c["unit"]:
            table[c["name"]].unit = c["unit"]
        table[c["name"]].description = c["description"]
    del arrow
    with tempfile.NamedTemporaryFile(dir=tmp_dir, suffix=".vot") as fh:
        t = time.perf_counter()
        table.write(fh.name, format="votable", tabledata_format="binary2", overwrite=True)
        dt = time.perf_counter() - t
        size = os.path.getsize(fh.name)
    return {
        "rows": len(table),
        "seconds": dt,
        "bytes": size,
        "extrapolated": len(table) < STREAM_ROWS,
        "seconds_1m": dt * STREAM_ROWS / len(table),
    }


# -- report -----------------------------------------------------------------------------------------
def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1000:.1f}"


def compare_rows(
    ours: dict[str, Any], dachs: dict[str, Any], verdicts: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    rows = []
    for name, d in dachs["results"].items():
        o = ours["results"].get(name)
        if o is None:
            continue
        ratio = o["raw_median"] / d["raw_median"] if d["raw_median"] else None
        goal = GOALS.get(name)
        same = (o["rows"], o["md5"]) == (d["rows"], d["md5"])
        rows.append(
            {
                "query": name,
                "dachs_raw_ms": d["raw_median"] * 1000,
                "ours_raw_ms": o["raw_median"] * 1000,
                "ratio": ratio,
                "goal": goal,
                "pass": None if goal is None or ratio is None else ratio <= goal,
                "dachs_pyvo_ms": d["median"] * 1000,
                "ours_pyvo_ms": o["median"] * 1000,
                "pyvo_ratio": o["median"] / d["median"] if d["median"] else None,
                "dachs_rows": d["rows"],
                "ours_rows": o["rows"],
                "dachs_md5": d["md5"],
                "ours_md5": o["md5"],
                "same": same,
                "same_note": "n/a (TOP without ORDER BY)" if name in UNORDERED and not same else "",
                "compare": verdicts.get(name),
                "dachs_bytes": d["bytes"],
                "ours_bytes": o["bytes"],
                "issue_dachs_ms": ISSUE_DACHS_MS.get(name),
            }
        )
    return rows


def _same(r: dict[str, Any]) -> str:
    """md5 verdict of bench_tap, then compare_tap's on the same query."""
    md5 = "md5 same" if r["same"] else (r["same_note"] or "md5 differs")
    c = r.get("compare")
    if c is None:
        return md5 if r["same"] or r["same_note"] else f"{md5} ({r['ours_md5']} vs {r['dachs_md5']})"
    if c["status"] == "OK":
        return f"{md5}; compare_tap OK"
    details = "; ".join(d[:140] for d in c["details"][:4])
    return f"{md5}; compare_tap {c['status']}: {details}"


def _verdict(r: dict[str, Any]) -> str:
    if r["goal"] is None:
        return ""
    return f"<= {r['goal']} {'PASS' if r['pass'] else 'FAIL'}"


def print_text_table(rows: list[dict[str, Any]]) -> None:
    log(
        f"{'query':24s} {'DaCHS raw ms':>12s} {'ours raw ms':>11s} {'ours/DaCHS':>10s}  {'goal':14s} "
        f"{'DaCHS pyvo':>10s} {'ours pyvo':>9s} {'rows':>7s}  same answer"
    )
    for r in rows:
        mark = "*" if r["goal"] else " "
        log(
            f"{mark}{r['query']:23s} {r['dachs_raw_ms']:12.1f} {r['ours_raw_ms']:11.1f} "
            f"{r['ratio']:10.2f}  {_verdict(r):14s} {r['dachs_pyvo_ms']:10.1f} {r['ours_pyvo_ms']:9.1f} "
            f"{r['ours_rows']:7d}  {_same(r)}"
        )
    log("* acceptance query: ours raw-HTTP median <= 0.5x DaCHS's")


def markdown(res: dict[str, Any]) -> str:
    out = [
        f"### TAP: ours vs DaCHS on {TABLE} ({res['release']['rows']:,} rows), "
        f"median of {res['repeats']} runs, {res['date']}",
        "",
        "| query | DaCHS raw ms | ours raw ms | ours/DaCHS | goal | DaCHS pyvo ms | ours pyvo ms "
        "| rows | same answer (bench_tap md5; compare_tap on the same query) |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in res.get("queries", []):
        name = f"**{r['query']}**" if r["goal"] else r["query"]
        out.append(
            f"| {name} | {r['dachs_raw_ms']:.1f} | {r['ours_raw_ms']:.1f} | {r['ratio']:.2f} "
            f"| {_verdict(r)} | {r['dachs_pyvo_ms']:.1f} | {r['ours_pyvo_ms']:.1f} | {r['ours_rows']} "
            f"| {_same(r)} |"
        )
    s, a = res.get("stream"), res.get("astropy")
    if s and a:
        how = f"extrapolated from {a['rows']:,} rows" if a["extrapolated"] else f"{a['rows']:,} rows"
        out += [
            "",
            "| streaming 10^6 rows, VOTable BINARY2 | seconds | |",
            "|---|---:|---|",
            f"| ours: sync `{s['query']}` MAXREC={s['maxrec']}, raw HTTP, median of {s['runs']} "
            f"| {s['median_s']:.2f} | {s['bytes'] / 1e6:.1f} MB, first byte {s['first_byte_s']:.2f} s, "
            f"rows {s['rows']} |",
            f"| astropy `Table.write(format='votable', tabledata_format='binary2')` "
            f"| {a['seconds_1m']:.2f} | {how} |",
            f"| **astropy / ours** | **{res['stream_speedup']:.1f}x** "
            f"| goal >= {STREAM_GOAL:.0f}x: {'PASS' if res['stream_speedup'] >= STREAM_GOAL else 'FAIL'} |",
        ]
        if res.get("dachs_stream"):
            d = res["dachs_stream"]
            out.append(f"| DaCHS: same query, raw HTTP | {d['median_s']:.2f} | {d['bytes'] / 1e6:.1f} MB |")
    c = res.get("compare")
    if c:
        out += ["", f"compare_tap.py ours vs DaCHS: **{c['summary']}** (exit {c['exit']})", ""]
        for it in c["items"]:
            out.append(f"- `{it['line'][:150]}`")
            out += [f"    - {d}" for d in it["details"]]
    return "\n".join(out)


# -- main -------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dachs", default="http://127.0.0.1:8080/tap", help="DaCHS's TAP URL")
    ap.add_argument("--peers", type=Path, default=tbr.DEFAULT_PEERS, help="the shared peers folder")
    ap.add_argument("--work", type=Path, default=Path("/tmp/lsstbox-tap-bench"), help="cache and outputs")
    ap.add_argument("--csv", type=Path, default=tbr.DEFAULT_CSV, help="the CSV DaCHS imported")
    ap.add_argument(
        "--base-release", type=Path, help="tiny release to copy (default /tmp/vosi-tiny or built)"
    )
    ap.add_argument("--order", type=int, help="HEALPix order of the partitions (default: <= 200 k rows each)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the bench release")
    ap.add_argument("--repeats", type=int, default=7, help="bench_tap.py REPEATS")
    ap.add_argument("--port", type=int, default=0, help="our server's port (default: a free one)")
    ap.add_argument("--stream-runs", type=int, default=3)
    ap.add_argument(
        "--astropy-rows", type=int, default=STREAM_ROWS, help="rows astropy writes (extrapolated)"
    )
    ap.add_argument("--dachs-stream", action="store_true", help="also time DaCHS streaming the 10^6 rows")
    ap.add_argument("--skip-bench", action="store_true", help="skip the bench_tap.py runs")
    ap.add_argument("--skip-compare", action="store_true", help="skip compare_tap.py")
    ap.add_argument("--skip-stream", action="store_true", help="skip the streaming figure")
    ap.add_argument("--check", action="store_true", help="exit 1 if a goal is missed or an answer differs")
    a = ap.parse_args()

    venv_python = ROOT / ".venv" / "bin" / "python"
    python = str(venv_python) if venv_python.exists() else sys.executable
    peers = a.peers.resolve()
    bench_script, compare_script = peers / "ivoa" / "bench_tap.py", peers / "ivoa" / "compare_tap.py"
    for s in (bench_script, compare_script):
        if not s.exists():
            log(f"{s} not found: pass --peers")
            return 2
    a.work.mkdir(parents=True, exist_ok=True)
    log(f"loadavg {os.getloadavg()}  cpus {os.cpu_count()}  python {python}")

    why = dachs_alive(a.dachs)
    if why:
        log(f"DaCHS is not answering at {a.dachs} ({why}).")
        log(f"Start it with: bash {peers / 'dachs' / 'dachs_setup.sh'}  (~15 min the first time)")
        return 2
    log(f"DaCHS answers at {a.dachs}: {TABLE} has {STREAM_ROWS:,} rows")

    release, facts = tbr.ensure_release(
        a.work, csv=a.csv, peers=peers, base=a.base_release, order=a.order, rebuild=a.rebuild, python=python
    )
    from kernel_lib.engine import Engine

    eng = Engine(release)
    n_ours = int(eng.adql(f"SELECT COUNT(*) AS n FROM {TABLE}").table.column(0)[0].as_py())
    cone_ours = int(eng.adql(CONE_CHECK).table.column(0)[0].as_py())
    cone_dachs = count(a.dachs, CONE_CHECK)
    del eng
    log(
        f"bench release {release}: {facts['partitions']} partitions at order {facts['partition_order']}"
        f"{' (cached)' if facts['cached'] else ''}; COUNT(*) {n_ours:,}; 1 deg cone {cone_ours} "
        f"(DaCHS {cone_dachs})"
    )
    if n_ours != STREAM_ROWS or cone_ours != cone_dachs:
        log("the bench release does not hold DaCHS's rows: rerun with --rebuild")
        return 2

    res: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dachs_url": a.dachs,
        "table": TABLE,
        "repeats": a.repeats,
        "loadavg_start": os.getloadavg(),
        "cpus": os.cpu_count(),
        "release": {"path": str(release), **facts},
        "checks": {"count": n_ours, "cone_1deg_ours": cone_ours, "cone_1deg_dachs": cone_dachs},
    }
    home = a.work / "jupyter"
    port = a.port or free_port()
    log(f"starting our server on 127.0.0.1:{port} (log {home / 'server.log'})")
    t = time.perf_counter()
    proc, ours = start_server(python, release, home, port)
    res["ours_url"] = ours
    res["server_start_s"] = round(time.perf_counter() - t, 1)
    try:
        log(f"our TAP service: {ours} (up in {res['server_start_s']} s)")
        res["warmup_s"] = {"ours": round(warm_up(ours), 2), "dachs": round(warm_up(a.dachs), 2)}
        log(f"warm-up: ours {res['warmup_s']['ours']} s, DaCHS {res['warmup_s']['dachs']} s")

        if not a.skip_bench:
            log("\n== bench_tap.py: ours")
            b_ours = run_bench_tap(python, bench_script, ours, a.repeats, a.work / "bench_tap_ours.json")
            log("\n== bench_tap.py: DaCHS")
            b_dachs = run_bench_tap(python, bench_script, a.dachs, a.repeats, a.work / "bench_tap_dachs.json")
            res["bench_tap"] = {"ours": b_ours, "dachs": b_dachs}
            log("\n== compare_tap.py on bench_tap.py's queries (sorted rows, field metadata)")
            queries = bench_queries(bench_script)
            verdicts = check_answers(python, compare_script, ours, a.dachs, queries, a.work)
            res["queries"] = compare_rows(b_ours, b_dachs, verdicts)
            log("\n== raw-HTTP medians, ours vs DaCHS")
            print_text_table(res["queries"])

        if not a.skip_compare:
            log("\n== compare_tap.py ours DaCHS")
            res["compare"] = run_compare(python, compare_script, ours, a.dachs)
            log(f"compare_tap.py exit status {res['compare']['exit']}")

        if not a.skip_stream:
            log(f"\n== streaming {STREAM_ROWS:,} rows (VOTable BINARY2)")
            res["stream"] = time_stream(ours, a.stream_runs)
            s = res["stream"]
            log(
                f"ours: median {s['median_s']:.2f} s over {s['runs']} runs {s['times_s']}, first byte "
                f"{s['first_byte_s']:.2f} s, {s['bytes'] / 1e6:.1f} MB, {s['serialization']}, "
                f"rows {s['rows']}, QUERY_STATUS {s['query_status']}"
            )
            if a.dachs_stream:
                res["dachs_stream"] = time_stream(a.dachs, 1)
                log(f"DaCHS: {res['dachs_stream']['median_s']:.2f} s, rows {res['dachs_stream']['rows']}")
    finally:
        stop_server(proc)
        log(f"our server stopped (exit {proc.returncode})")

    if not a.skip_stream:
        log(f"astropy writing {min(a.astropy_rows, STREAM_ROWS):,} rows as BINARY2 ...")
        rd = peers / "dachs" / "synth" / "q.rd"
        res["astropy"] = time_astropy(a.csv, rd, min(a.astropy_rows, STREAM_ROWS), a.work)
        ap_ = res["astropy"]
        how = f" (extrapolated linearly from {ap_['rows']:,} rows)" if ap_["extrapolated"] else ""
        log(
            f"astropy: {ap_['seconds']:.2f} s for {ap_['rows']:,} rows -> "
            f"{ap_['seconds_1m']:.2f} s per 1 M{how}"
        )
        res["stream_speedup"] = ap_["seconds_1m"] / res["stream"]["median_s"]
        ok = "PASS" if res["stream_speedup"] >= STREAM_GOAL else "FAIL"
        log(
            f"streaming: ours {res['stream_speedup']:.1f}x faster than astropy "
            f"(goal >= {STREAM_GOAL:.0f}x) {ok}"
        )

    res["loadavg_end"] = os.getloadavg()
    log("\n" + markdown(res) + "\n")
    out = a.work / "bench_tap_results.json"
    slim = json.loads(json.dumps(res, default=str))
    for side in slim.get("bench_tap", {}).values():
        side.pop("stdout", None)
    out.write_text(json.dumps(slim, indent=1) + "\n")
    log(f"figures written to {out}")

    failed = [r["query"] for r in res.get("queries", []) if r["pass"] is False]
    failed += [
        r["query"] for r in res.get("queries", []) if (r.get("compare") or {}).get("status", "OK") != "OK"
    ]
    if "compare" in res and res["compare"]["exit"] != 0:
        failed.append("compare_tap")
    if "stream_speedup" in res and res["stream_speedup"] < STREAM_GOAL:
        failed.append("streaming")
    if failed:
        log(f"not met: {', '.join(dict.fromkeys(failed))}")
    return 1 if a.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
