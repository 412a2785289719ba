"""Benchmark: a datashader sky map of a whole catalog, and the memory it takes.

``kernel_lib.plots.sky_counts`` aggregates a Catalog partition by partition (dask, only the two
position columns read). The goal (issue 7): for the ``large`` release's Object table (>= 20 M rows)
the peak memory stays **below the size of the columns it reads** (rows x 2 x 8 bytes). As a
control, the same map from the collected columns (``Catalog.compute()`` then datashader on the
pandas frame) is measured too: what a user gets by collecting first. The peer is LSDB on the
same HATS files: ``lsdb.open_catalog(..., columns=[ra, dec])`` and datashader's own dask path
(``Canvas.points`` on ``to_dask_dataframe()`` cast to numpy floats, which datashader needs; the
extent found by datashader), which is what
LSDB's users write for a density map; both engines on dask's threaded scheduler. ``--cmd`` adds
``plots.cmd`` of the whole catalog (holoviews' rasterize over the dask frame of the g and r fluxes:
two columns of the same size as RA/Dec), rendered.

Each measurement runs in a fresh Python process; its peak resident memory above the baseline after
imports and datashader's one-time numba compilation is read from ``/proc/self/status`` (VmHWM,
reset through ``/proc/self/clear_refs``). On a small catalog the fixed cost (dask threads,
pyarrow buffers, the 1000x800 aggregates) dominates; the goal is about the large release.
Times are medians of ``--runs`` runs.

    .venv/bin/python benchmarks/bench_skymap.py --release /path/to/large [--catalog Object] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from kernel_lib.catalog import open_catalog
from kernel_lib import plots
import datashader, dask, pandas, numpy  # imports are part of the baseline
if {mode!r} == 'cmd':
    import holoviews
    holoviews.extension('bokeh')
    small = pandas.DataFrame({{"g_psfFlux": [1e4, 2e4], "r_psfFlux": [1e4, 3e4]}})
    holoviews.render(plots.cmd(small))  # bokeh models and holoviews' datashader operation warmed up
if {mode!r} == 'lsdb':
    import lsdb
    dask.config.set(scheduler='threads')

def rss(field):
    for line in open('/proc/self/status'):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0

cat = open_catalog({catalog!r}, release={release!r})
ra, dec = cat.ra_column, cat.dec_column
# datashader's numba kernels are compiled once per process: not part of the map's memory
plots.sky_counts(pandas.DataFrame({{"ra": [1.0, 2.0], "dec": [1.0, 2.0]}}), width=10, height=10)
open('/proc/self/clear_refs', 'w').write('5')  # reset the peak (VmHWM) to the current RSS
base = rss('VmRSS:')
t0 = time.perf_counter()
if {mode!r} == 'partitions':
    agg = plots.sky_counts(cat, width=1000, height=800)
elif {mode!r} == 'cmd':
    # the colour-magnitude diagram of the whole catalog: holoviews' rasterize over the dask frame
    # of its g and r flux columns (the count is of the rows with both magnitudes)
    plot = plots.cmd(cat)
    holoviews.render(plot)
    image = plot[()].data  # the last aggregate: an xarray Dataset of counts
    agg = image[list(image.data_vars)[0]].fillna(0).values
elif {mode!r} == 'lsdb':
    peer = lsdb.open_catalog({hats!r}, columns=[ra, dec])
    canvas = datashader.Canvas(plot_width=1000, plot_height=800)
    # LSDB's columns are pyarrow-backed; datashader wants numpy dtypes
    frame = peer.to_dask_dataframe().astype({{ra: 'float64', dec: 'float64'}})
    agg = canvas.points(frame, ra, dec, agg=datashader.count()).values
else:
    frame = cat.select([ra, dec]).compute()
    agg = plots.sky_counts(frame, ra, dec, width=1000, height=800)
seconds = time.perf_counter() - t0
print(json.dumps({{"seconds": seconds, "peak": rss('VmHWM:') - base, "count": int(agg.sum())}}))
"""


def measure(release: Path, catalog: str, mode: str) -> dict:
    hats = release / "hats" / catalog
    code = CHILD.format(root=str(ROOT), release=str(release), catalog=catalog, mode=mode, hats=str(hats))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--release", type=Path, required=True)
    ap.add_argument("--catalog", default="Object")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-collect", action="store_true", help="skip the collect-first control")
    ap.add_argument("--skip-lsdb", action="store_true", help="skip the LSDB peer")
    ap.add_argument(
        "--cmd", action="store_true", help="also the colour-magnitude diagram of the catalog (g, r fluxes)"
    )
    args = ap.parse_args()

    modes = ["partitions"] + ([] if args.skip_lsdb else ["lsdb"]) + ([] if args.skip_collect else ["collect"])
    modes += ["cmd"] if args.cmd else []
    results: dict[str, list[dict]] = {m: [] for m in modes}
    for k in range(args.runs):
        for m in modes:
            r = measure(args.release, args.catalog, m)
            results[m].append(r)
            peak = r["peak"] / 2**20
            print(f"  run {k + 1} {m:10s} {r['seconds']:7.2f} s  peak +{peak:8.1f} MiB", flush=True)
    n = results["partitions"][0]["count"]
    columns = n * 2 * 8
    print(f"\n{args.catalog}: {n:,} rows; its RA/Dec columns: {columns / 2**20:,.1f} MiB\n")
    labels = {
        "partitions": "per partition (kernel_lib.plots)",
        "lsdb": "LSDB + datashader's dask path (peer)",
        "collect": "collect, then datashader (control)",
        "cmd": "plots.cmd, whole catalog: g, r fluxes (same size)",
    }
    ours_s = statistics.median(r["seconds"] for r in results["partitions"])
    ours_p = statistics.median(r["peak"] for r in results["partitions"])
    print("| sky map 1000x800 (median of runs) | s | peak MiB | peak / columns | ours / this: time, memory |")
    print("|---|---:|---:|---:|---:|")
    for m in modes:
        if m != "cmd" and any(r["count"] != n for r in results[m]):
            raise SystemExit(f"{m} counted {results[m][0]['count']:,} rows, not {n:,}")
        s = statistics.median(r["seconds"] for r in results[m])
        p = statistics.median(r["peak"] for r in results[m])
        ratio = "" if m in ("partitions", "cmd") else f"{ours_s / s:.2f}, {ours_p / p:.2f}"
        print(f"| {labels[m]} | {s:.2f} | {p / 2**20:,.1f} | {p / columns:.2f} | {ratio} |")
    peak = statistics.median(r["peak"] for r in results["partitions"])
    verdict = "met" if peak < columns else "NOT met"
    print(f"\ngoal peak memory < the columns read: {verdict}")


if __name__ == "__main__":
    main()
