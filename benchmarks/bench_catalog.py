"""Benchmark: our catalog engine (``kernel_lib.catalog``) against LSDB on the same HATS files.

Operations (the definitions of ``shared/peers/lsdb/bench_lsdb.py`` beside the repository):

* ``cone0.1`` / ``cone1`` / ``cone5``: rows within 0.1/1/5 deg of the centre, all columns;
* ``scan``: rows satisfying a predicate (``r < 20 and g - r > 0.5`` for gen.py data), all columns;
* ``xmatch``: nearest neighbour within 1" of every row of the crossmatch catalog in the main one.

Each (engine, operation) runs in a fresh Python process: the first query (imports excluded,
catalog opening included) is timed alone, then ``--runs`` more runs give the median.  Both
engines use dask's threaded scheduler.  Counts must agree; the table prints ours/LSDB ratios
(< 1 means we are faster).

Data:

* ``--release PATH``: a built release; main = Object, crossmatch = Reference × Object
  (``r_psfMag``/``g_psfMag`` for the scan);
* ``--data PATH [--xm PATH]``: any HATS catalogs (LSDB gets their ``<name>_margin`` sibling);
* ``--gen N``: make an N-row gen.py-like catalog (+ N/10 crossmatch rows, 75 % perturbed copies)
  and write both with our ``HatsWriter`` (order 4, 5" margins) into ``--work``.

    .venv/bin/python benchmarks/bench_catalog.py --release /tmp/cat-demo --runs 5
    .venv/bin/python benchmarks/bench_catalog.py --gen 2000000 --work /tmp/bench-gen --runs 3

Each engine on its own writer's layout (the official peers' data: gen.py, hats-import for LSDB,
``benchmarks/hats_from_flat.py`` for us):

    .venv/bin/python benchmarks/bench_catalog.py --data OURS/main --xm OURS/xm \
        --lsdb-main HATS/main --lsdb-xm HATS/xm --center 60,-30 --flat DATA/flat_main

``--flat`` adds DuckDB over the flat Parquet as the reference for the scan and the cones
(``SELECT *`` with the predicate, to pandas, like the catalog engines).  Peak RSS is each
worker process's own (both engines run threads, so that is the whole footprint).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OPS = ["cone0.1", "cone1", "cone5", "scan", "xmatch"]


# -- the two engines ----------------------------------------------------------------------------
def _ours(cfg: dict[str, Any], op: str) -> int:
    from kernel_lib.catalog import open_catalog

    main = open_catalog(cfg["main"], margin=cfg.get("main_margin"))
    if op.startswith("cone"):
        r = float(op[4:]) * 3600.0
        return len(main.cone_search(cfg["ra"], cfg["dec"], r).compute())
    if op == "scan":
        return len(main.where(cfg["scan"]).compute())
    xm = open_catalog(cfg["xm"])
    return len(xm.crossmatch(main, 1.0).compute())


def _lsdb(cfg: dict[str, Any], op: str) -> int:
    import lsdb

    main_path = cfg.get("lsdb_main") or cfg["main"]
    margin = None if cfg.get("lsdb_main") else cfg.get("main_margin")
    main = lsdb.open_catalog(main_path, margin_cache=margin)
    if op.startswith("cone"):
        r = float(op[4:]) * 3600.0
        return len(main.cone_search(cfg["ra"], cfg["dec"], r).compute())
    if op == "scan":
        return len(main.query(cfg["scan"]).compute())
    xm = lsdb.open_catalog(cfg.get("lsdb_xm") or cfg["xm"])
    return len(xm.crossmatch(main, n_neighbors=1, radius_arcsec=1.0).compute())


def _duckdb(cfg: dict[str, Any], op: str) -> int:
    """The reference: DuckDB over the flat (unsharded) Parquet, rows to pandas like the others."""
    import duckdb

    con = duckdb.connect()
    try:
        src = f"read_parquet('{cfg['flat']}/*.parquet')"
        if op == "scan":
            return len(con.sql(f"SELECT * FROM {src} WHERE {cfg['scan']}").df())
        r = float(op[4:])
        h = math.sin(math.radians(r) / 2) ** 2
        ra0, dec0 = cfg["ra"], cfg["dec"]
        where = (
            f"pow(sin(radians(dec - {dec0}) / 2), 2) + cos(radians(dec)) * {math.cos(math.radians(dec0))}"
            f" * pow(sin(radians(ra - {ra0}) / 2), 2) <= {h}"
        )
        return len(con.sql(f"SELECT * FROM {src} WHERE {where}").df())
    finally:
        con.close()


def worker(engine: str, op: str, cfg: dict[str, Any], runs: int) -> dict[str, Any]:
    """Run in a fresh process: imports, then the first query, then ``runs`` timed repeats."""
    warnings.filterwarnings("ignore")
    import dask

    if engine == "lsdb":
        import lsdb  # noqa: F401
    else:
        import kernel_lib.catalog  # noqa: F401
    dask.config.set(scheduler="threads")
    fn = {"lsdb": _lsdb, "ours": _ours, "duckdb": _duckdb}[engine]
    t = time.perf_counter()
    count = fn(cfg, op)
    first = time.perf_counter() - t
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        c = fn(cfg, op)
        times.append(time.perf_counter() - t)
        assert c == count
    return {
        "engine": engine,
        "op": op,
        "count": count,
        "first_s": first,
        "median_s": statistics.median(times),
        # the whole process (threads only): peak resident memory, MB
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -- data ---------------------------------------------------------------------------------------
def _gen(n: int, work: Path) -> dict[str, Any]:
    """A gen.py-like patch (1000 deg² cap at (60, -30)) written with our HatsWriter, cached."""
    import numpy as np
    import pandas as pd

    from kernel_lib.release.hats_writer import HatsWriter
    from kernel_lib.release.schema import Column, TableSpec

    main_path, xm_path = work / "main", work / "xm"
    cfg = {
        "main": str(main_path),
        "xm": str(xm_path),
        "ra": 60.0,
        "dec": -30.0,
        "scan": "r < 20 and g - r > 0.5",
    }
    if (xm_path / "properties").exists():
        return cfg
    rng = np.random.default_rng(42)
    rad = math.degrees(math.acos(1 - 1000 * (math.pi / 180) ** 2 / (2 * math.pi)))

    def cap(m: int) -> tuple[np.ndarray, np.ndarray]:
        cos_t = rng.uniform(math.cos(math.radians(rad)), 1.0, m)
        sin_t, phi = np.sqrt(1 - cos_t**2), rng.uniform(0, 2 * math.pi, m)
        x, y, z = sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t
        a, b = math.radians(90 - (-30.0)), math.radians(60.0)
        x1, z1 = x * math.cos(a) + z * math.sin(a), -x * math.sin(a) + z * math.cos(a)
        ra = np.degrees(np.arctan2(x1 * math.sin(b) + y * math.cos(b), x1 * math.cos(b) - y * math.sin(b)))
        return ra % 360, np.degrees(np.arcsin(np.clip(z1, -1, 1)))

    ra, dec = cap(n)
    k, lo, hi = 0.25 * math.log(10), 14.0, 26.0
    r = np.log(np.exp(k * lo) + rng.uniform(0, 1, n) * (np.exp(k * hi) - np.exp(k * lo))) / k
    g = r + rng.normal(0.6, 0.35, n)
    cols = {"id": np.arange(n), "ra": ra, "dec": dec, "u": g + rng.normal(1.2, 0.5, n), "g": g, "r": r}
    cols |= {"i": r - rng.normal(0.3, 0.2, n), "z": r - 0.45, "y": r - 0.55, "flag": rng.integers(0, 1024, n)}
    frame = pd.DataFrame(cols).astype({b: "float32" for b in "ugrizy"} | {"flag": "int16"})
    spec = TableSpec(
        "main",
        "gen.py-like main catalog",
        (
            Column("id", "long"),
            Column("ra", "double", "deg"),
            Column("dec", "double", "deg"),
            *(Column(b, "float", "mag") for b in "ugrizy"),
            Column("flag", "short"),
        ),
        ra_column="ra",
        dec_column="dec",
    )
    w = HatsWriter(spec, work, order=4)
    w.add(frame, ra, dec)
    w.finish()
    nx = n // 10
    pick = rng.choice(n, int(0.75 * nx), replace=False)
    s = 0.2 / 3600
    pra = (ra[pick] + rng.normal(0, s, len(pick)) / np.cos(np.radians(dec[pick]))) % 360
    pdec = dec[pick] + rng.normal(0, s, len(pick))
    rra, rdec = cap(nx - len(pick))
    xra, xdec = np.concatenate([pra, rra]), np.concatenate([pdec, rdec])
    xm = pd.DataFrame(
        {"id": np.arange(nx) + 10**12, "ra": xra, "dec": xdec, "mag_r": r[:nx].astype("float32")}
    )
    xspec = TableSpec(
        "xm",
        "crossmatch catalog",
        (
            Column("id", "long"),
            Column("ra", "double", "deg"),
            Column("dec", "double", "deg"),
            Column("mag_r", "float"),
        ),
        ra_column="ra",
        dec_column="dec",
    )
    w = HatsWriter(xspec, work, order=4)
    w.add(xm, xra, xdec)
    w.finish()
    return cfg


def _release(path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from kernel_lib.release.manifest import Release

    rel = Release.open(path)
    main = rel.catalog_path("Object")
    files = sorted((main / "dataset").glob("Norder=*/Dir=*/*.parquet"))
    t = pq.read_table([str(f) for f in files], columns=["coord_ra", "coord_dec"])
    return {
        "main": str(main),
        "main_margin": str(rel.resolve(rel.catalogs["Object"]["margin"])),
        "xm": str(rel.catalog_path("Reference")),
        "ra": float(t.column("coord_ra").to_numpy().mean()),
        "dec": float(t.column("coord_dec").to_numpy().mean()),
        "scan": "r_psfMag < 20 and g_psfMag - r_psfMag > 0.5",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--release", type=Path)
    src.add_argument("--data", type=Path)
    src.add_argument("--gen", type=int)
    p.add_argument("--xm", type=Path, help="crossmatch catalog for --data")
    p.add_argument(
        "--lsdb-main",
        type=Path,
        help="LSDB's own copy of the main catalog (e.g. a hats-import collection with its margin); "
        "default: the same files as ours",
    )
    p.add_argument("--lsdb-xm", type=Path, help="LSDB's own copy of the crossmatch catalog")
    p.add_argument(
        "--flat",
        type=Path,
        help="the same rows as flat Parquet files (gen.py's flat_main): DuckDB on them is the "
        "reference for the scan and cones (SELECT * ... to pandas)",
    )
    p.add_argument("--center", default=None, help="ra,dec of the cones (default: data centre)")
    p.add_argument("--scan", default="r < 20 and g - r > 0.5")
    p.add_argument("--work", type=Path, default=Path("/tmp/bench-catalog"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--ops", default=",".join(OPS))
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        engine, op, cfg_json = a.worker.split("|", 2)
        print("RESULT " + json.dumps(worker(engine, op, json.loads(cfg_json), a.runs)), flush=True)
        return
    if a.release:
        cfg = _release(a.release)
    elif a.gen:
        t = time.time()
        cfg = _gen(a.gen, a.work)
        print(f"data ready in {time.time() - t:.1f} s: {cfg['main']}")
    else:
        cfg = {"main": str(a.data), "xm": str(a.xm) if a.xm else None, "scan": a.scan, "ra": 0.0, "dec": 0.0}
        sib = a.data.parent / f"{a.data.name}_margin"
        if sib.exists():
            cfg["main_margin"] = str(sib)
    if a.center:
        cfg["ra"], cfg["dec"] = (float(x) for x in a.center.split(","))
    if a.lsdb_main:
        cfg["lsdb_main"] = str(a.lsdb_main)
    if a.lsdb_xm:
        cfg["lsdb_xm"] = str(a.lsdb_xm)
    if a.flat:
        cfg["flat"] = str(a.flat.resolve())
    ops = [o for o in a.ops.split(",") if o != "xmatch" or cfg.get("xm")]
    rows = []
    for op in ops:
        res = {}
        engines = ["ours", "lsdb"] + (["duckdb"] if cfg.get("flat") and op != "xmatch" else [])
        for engine in engines:
            cmd = [sys.executable, __file__, "--data", ".", "--runs", str(a.runs)]
            cmd += ["--worker", f"{engine}|{op}|{json.dumps(cfg)}"]
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
            if not line:
                print(f"{engine} {op} FAILED:\n{out.stderr[-2000:]}", file=sys.stderr)
                break
            res[engine] = json.loads(line[0][7:])
        if "ours" in res and "lsdb" in res:
            o, lz, dk = res["ours"], res["lsdb"], res.get("duckdb")
            rows.append((op, o, lz, dk))
            if dk is not None:
                assert dk["count"] == o["count"], (op, dk["count"], o["count"])
            ratio = o["median_s"] / lz["median_s"]
            duck = f"  vs DuckDB {o['median_s'] / dk['median_s']:.2f}" if dk else ""
            print(
                f"{op:8s} count {o['count']:>9d}/{lz['count']:<9d} "
                f"first {o['first_s']:.3f}/{lz['first_s']:.3f} s "
                f"median {o['median_s']:.3f}/{lz['median_s']:.3f} s  ratio {ratio:.2f}{duck} "
                f"peak {o['peak_rss_mb']:.0f}/{lz['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    print(f"\n{cfg['main']}  (ours / LSDB; median of {a.runs} runs after a first query in a fresh process)")
    print(
        "| op | rows (ours / LSDB) | first query s (ours / LSDB) | median s (ours / LSDB) | ratio "
        "| DuckDB flat s (ours / DuckDB) | peak RSS MB (ours / LSDB) |"
    )
    print("|---|---|---|---|---|---|---|")
    for op, o, lz, dk in rows:
        duck = f"{dk['median_s']:.3f} ({o['median_s'] / dk['median_s']:.2f})" if dk else "-"
        print(
            f"| {op} | {o['count']} / {lz['count']} | {o['first_s']:.3f} / {lz['first_s']:.3f} "
            f"| {o['median_s']:.3f} / {lz['median_s']:.3f} | {o['median_s'] / lz['median_s']:.2f} "
            f"| {duck} | {o['peak_rss_mb']:.0f} / {lz['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
