"""Benchmark the image renderer and the exposure writer.

Usage::

    python benchmarks/bench_images.py [--profile demo] [--sample 40] [--full] [--workers 2] [--out DIR]

Prints per-image render and write times (one core) for a sample of visit detectors and
coadd patches, the compressed sizes, and an extrapolation to the whole profile.  ``--full``
renders and writes every image of the profile with a process pool and reports the wall time
and the total size on disk.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernel_lib.release.exposure import write_exposure
from kernel_lib.release.images import render_coadd_patch, render_visit_detector
from kernel_lib.release.model import BANDS, get_profile, plan_visits
from kernel_lib.release.truth import make_truth

SEED = 42

_STATE: dict = {}


def _setup(profile_name: str):
    p = get_profile(profile_name)
    rng = np.random.default_rng(SEED)
    truth = make_truth(p, rng)
    visits = plan_visits(p, rng)
    return p, truth, visits


def _init_worker(profile_name: str) -> None:
    _STATE["setup"] = _setup(profile_name)


def _job(args) -> tuple[float, float, int]:
    kind, a, b, out = args
    p, truth, visits = _STATE["setup"]
    t0 = time.perf_counter()
    if kind == "visit":
        exp = render_visit_detector(p, truth, visits[a], p.camera.detectors[b], SEED)
    else:
        exp = render_coadd_patch(p, truth, visits, a, b, SEED)
    t1 = time.perf_counter()
    size = write_exposure(out, exp)
    return t1 - t0, time.perf_counter() - t1, size


def _fmt(xs: list[float]) -> str:
    med, mean, mx = statistics.median(xs) * 1e3, statistics.fmean(xs) * 1e3, max(xs) * 1e3
    return f"median {med:6.1f} ms  mean {mean:6.1f} ms  max {mx:6.1f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--sample", type=int, default=40, help="visit detectors to time on one core")
    ap.add_argument("--full", action="store_true", help="render + write the whole profile in a pool")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None, help="output directory (default: a temporary one, removed)")
    args = ap.parse_args(argv)

    p, truth, visits = _setup(args.profile)
    _STATE["setup"] = (p, truth, visits)
    n_det = len(p.camera.detectors)
    n_visit_imgs = len(visits) * n_det
    n_coadds = len(p.skymap.patches) * len(BANDS)
    print(
        f"profile {p.name}: {len(truth)} sources, {len(visits)} visits x {n_det} detectors "
        f"({p.det_size}^2 px), {n_coadds} coadds ({p.patch_size}^2 px)"
    )

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_images_"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        rng = np.random.default_rng(0)
        # warm up (imports, first WCS)
        _job(("visit", 0, 0, out / "warm.fits"))
        picks = [(int(rng.integers(len(visits))), int(rng.integers(n_det))) for _ in range(args.sample)]
        rv, wv, sv = [], [], []
        for i, (vi, di) in enumerate(picks):
            r, w, s = _job(("visit", vi, di, out / f"v{i}.fits"))
            rv.append(r)
            wv.append(w)
            sv.append(s)
        print(f"visit render : {_fmt(rv)}")
        print(
            f"visit write  : {_fmt(wv)}  size mean {statistics.fmean(sv) / 1e6:.2f} MB "
            f"(uncompressed {p.det_size**2 * 12 / 1e6:.2f} MB)"
        )
        rc, wc, sc = [], [], []
        for i, band in enumerate(BANDS):
            patch = int(rng.integers(len(p.skymap.patches)))
            r, w, s = _job(("coadd", band, patch, out / f"c{i}.fits"))
            rc.append(r)
            wc.append(w)
            sc.append(s)
        print(f"coadd render : {_fmt(rc)}")
        print(
            f"coadd write  : {_fmt(wc)}  size mean {statistics.fmean(sc) / 1e6:.2f} MB "
            f"(uncompressed {p.patch_size**2 * 12 / 1e6:.2f} MB)"
        )
        cpu = n_visit_imgs * (statistics.fmean(rv) + statistics.fmean(wv)) + n_coadds * (
            statistics.fmean(rc) + statistics.fmean(wc)
        )
        size = n_visit_imgs * statistics.fmean(sv) + n_coadds * statistics.fmean(sc)
        print(
            f"extrapolated : {cpu:.1f} core-s ({cpu / args.workers:.1f} s on {args.workers} cores), "
            f"{size / 1e6:.0f} MB for {n_visit_imgs + n_coadds} images"
        )

        if args.full:
            jobs: list[tuple] = [
                ("visit", vi, di, out / "full" / f"v_{vi}_{di}.fits")
                for vi in range(len(visits))
                for di in range(n_det)
            ]
            jobs += [
                ("coadd", b, pa, out / "full" / f"c_{b}_{pa}.fits") for b in BANDS for pa in p.skymap.patches
            ]
            t0 = time.perf_counter()
            with ProcessPoolExecutor(args.workers, initializer=_init_worker, initargs=(p.name,)) as ex:
                res = list(ex.map(_job, jobs, chunksize=4))
            wall = time.perf_counter() - t0
            total = sum(r[2] for r in res)
            print(
                f"full run     : {len(jobs)} images in {wall:.1f} s wall on {args.workers} workers "
                f"(render {sum(r[0] for r in res):.1f} core-s, write {sum(r[1] for r in res):.1f} core-s), "
                f"{total / 1e6:.0f} MB"
            )
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
