"""Benchmark: the ADQL engine (``kernel_lib.engine``) against DuckDB over the unsharded Parquet and LSDB.

Queries (centre = the release's field centre):

* ``cone``: Object rows within 0.02 deg, a few columns;
* ``scan``: Object rows with ``r_psfMag < 22 AND g_psfMag - r_psfMag > 0.5``;
* ``agg_band``: ``SELECT band, COUNT(*), AVG(psfFlux) FROM ForcedSource GROUP BY band``;
* ``cone_join``: Object ⋈ ForcedSource on objectId with the Object in a 0.02 deg cone;
* ``top1000``: ``TOP 1000 ... ORDER BY r_psfMag``.

``duckdb`` runs the same ``to_duckdb`` SQL with every leaf of a table as one view
(:func:`kernel_lib.engine.reference_adql`); ``lsdb`` runs the equivalent where one exists (cone,
scan, the join as a nested light-curve join is not equivalent and is skipped).  Each engine and query
first runs in a fresh Python process (imports excluded, engine creation included), then ``--runs``
more runs in one process give the median.  Row counts must agree; ratios are ours / peer.

    .venv/bin/python benchmarks/bench_adql.py --release /tmp/eng-demo --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _queries(ra: float, dec: float) -> dict[str, str]:
    cone = f"1 = CONTAINS(POINT(o.coord_ra, o.coord_dec), CIRCLE({ra}, {dec}, 0.02))"
    return {
        "cone": f"SELECT o.objectId, o.coord_ra, o.coord_dec, o.r_psfMag FROM dp1.Object AS o WHERE {cone}",
        "scan": (
            "SELECT objectId, r_psfMag, g_psfMag FROM dp1.Object "
            "WHERE r_psfMag < 22 AND g_psfMag - r_psfMag > 0.5"
        ),
        "agg_band": "SELECT band, COUNT(*) AS n, AVG(psfFlux) AS f FROM dp1.ForcedSource GROUP BY band",
        "cone_join": (
            "SELECT o.objectId, f.band, f.psfFlux FROM dp1.Object AS o JOIN dp1.ForcedSource AS f "
            f"ON o.objectId = f.objectId WHERE {cone}"
        ),
        "top1000": "SELECT TOP 1000 objectId, r_psfMag FROM dp1.Object ORDER BY r_psfMag, objectId",
    }


def _runner(engine: str, release: str, query: str, name: str, ra: float, dec: float) -> Any:
    """A zero-argument callable running ``query`` on ``engine``; returns the row count."""
    if engine == "ours":
        from kernel_lib.engine import Engine

        eng = Engine(release)
        return lambda: len(eng.adql(query).table)
    if engine == "duckdb":
        from kernel_lib.engine import reference_adql
        from kernel_lib.release.manifest import Release

        rel = Release.open(release)
        return lambda: reference_adql(query, rel).num_rows
    import lsdb

    from kernel_lib.release.manifest import Release

    rel = Release.open(release)
    path = str(rel.catalog_path("Object"))
    if name == "cone":
        cols = ["objectId", "coord_ra", "coord_dec", "r_psfMag"]
        return lambda: len(
            lsdb.open_catalog(
                path, columns=cols, search_filter=lsdb.ConeSearch(ra, dec, 0.02 * 3600)
            ).compute()
        )
    if name == "scan":
        cols = ["objectId", "r_psfMag", "g_psfMag"]

        def scan() -> int:
            cat = lsdb.open_catalog(path, columns=cols)
            return len(cat.query("r_psfMag < 22 and g_psfMag - r_psfMag > 0.5").compute())

        return scan
    return None


def _child(args: argparse.Namespace) -> None:
    cfg = json.loads(args.child)
    import dask

    dask.config.set(scheduler="threads")
    t0 = time.perf_counter()
    run = _runner(cfg["engine"], cfg["release"], cfg["query"], cfg["name"], cfg["ra"], cfg["dec"])
    if run is None:
        print(json.dumps({"skip": True}))
        return
    n = run()
    first = time.perf_counter() - t0
    times = []
    for _ in range(cfg["runs"]):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    print(json.dumps({"rows": n, "first": first, "median": statistics.median(times) if times else first}))


def main() -> None:
    from jupyterlab_lsp.cli import default_release_dir

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--release", default=str(default_release_dir()), help="release folder (default: the demo)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--only", nargs="*", help="query names to run")
    p.add_argument("--no-lsdb", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args)
        return
    from kernel_lib.release.manifest import Release

    rel = Release.open(args.release)
    field = rel.manifest.get("field", {})
    ra, dec = float(field.get("ra", 53.16)), float(field.get("dec", -28.1))
    engines = ["ours", "duckdb"] + ([] if args.no_lsdb else ["lsdb"])
    rows: list[tuple[str, dict[str, Any]]] = []
    for name, query in _queries(ra, dec).items():
        if args.only and name not in args.only:
            continue
        res: dict[str, Any] = {}
        for eng in engines:
            cfg = {"engine": eng, "release": args.release, "query": query, "name": name, "ra": ra, "dec": dec}
            cfg["runs"] = args.runs
            out = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps(cfg)],
                capture_output=True,
                text=True,
                check=False,
            )
            lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
            res[eng] = json.loads(lines[-1]) if lines else {"error": out.stderr.strip().splitlines()[-1:]}
        rows.append((name, res))
        counts = {e: r.get("rows") for e, r in res.items() if "rows" in r}
        if len(set(counts.values())) > 1:
            print(f"!! {name}: row counts differ {counts}", file=sys.stderr)
    print(f"release {rel.name} ({args.release}), median of {args.runs} runs, seconds; ratio = ours / peer")
    cols = ("query", "rows", "ours", "duckdb", "ratio", "lsdb", "ratio", "1st ours", "1st duck")
    head = f"{cols[0]:<10} " + " ".join(f"{c:>9}" for c in cols[1:])
    print(head)
    for name, res in rows:
        o, d, lz = res.get("ours", {}), res.get("duckdb", {}), res.get("lsdb", {})

        cells = [o.get("rows", "-"), _f(o), _f(d), _ratio(o, d), _f(lz), _ratio(o, lz)]
        cells += [_f(o, "first"), _f(d, "first")]
        print(f"{name:<10} " + " ".join(f"{c!s:>9}" for c in cells))


def _f(r: dict[str, Any], k: str = "median") -> str:
    return f"{r[k]:.3f}" if k in r else "-"


def _ratio(o: dict[str, Any], r: dict[str, Any]) -> str:
    return f"{o['median'] / r['median']:.2f}" if "median" in o and "median" in r else "-"


if __name__ == "__main__":
    main()
