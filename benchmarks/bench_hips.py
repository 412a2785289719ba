"""Benchmark: our HiPS builder against Aladin HipsGen on the same deep coadds.

Input: a demo-sized tract (3 x 3 patches of 1000 px at 0.2"/px, 6 bands, Gaussian sources on
20 nJy noise), written as plain (uncompressed) multi-extension FITS so both tools read the same
files.  Both sides produce, per band, FITS + PNG tiles at orders 0..11 with Allsky and MOC, plus
one colour (i, r, g) PNG tree:

* ours:    ``build_hips(..., workers=2)``;
* HipsGen: per band ``-hipsgen in=<band dir> hdu=1 hips_order=11 INDEX TILES PNG``, then
  ``RGB inRed=i inGreen=r inBlue=g`` for the colour tree (JVM -Xmx2g, its default threads).

Prints the median wall time of ``--runs`` runs of each and the ratio ours / HipsGen.

    .venv/bin/python benchmarks/bench_hips.py [--patches 3] [--patch-size 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernel_lib.release.hips import build_hips
from kernel_lib.release.model import BANDS, SkyMap

ALADIN_JAR = "/usr/share/java/aladin.jar"


def make_coadds(out: Path, n_patches: int, patch_size: int, n_sources: int = 400, seed: int = 7):
    sm = SkyMap(5063, 53.16, -28.10, n_patches, patch_size)
    rng = np.random.default_rng(seed)
    # sources in tract pixel coordinates
    sx = rng.uniform(0, sm.size, n_sources)
    sy = rng.uniform(0, sm.size, n_sources)
    peak = 10 ** rng.uniform(1.5, 4.0, n_sources)
    coadds: dict[str, list[Path]] = {}
    for band in BANDS:
        d = out / band
        d.mkdir(parents=True, exist_ok=True)
        paths = []
        for p in sm.patches:
            x0, y0 = sm.patch_origin(p)
            img = rng.normal(0.0, 20.0, (patch_size, patch_size)).astype(np.float32)
            sel = (sx > x0 - 20) & (sx < x0 + patch_size + 20) & (sy > y0 - 20) & (sy < y0 + patch_size + 20)
            for x, y, f in zip(sx[sel] - x0, sy[sel] - y0, peak[sel], strict=True):
                ix, iy = int(x), int(y)
                ya, yb = max(0, iy - 12), min(patch_size, iy + 13)
                xa, xb = max(0, ix - 12), min(patch_size, ix + 13)
                if ya >= yb or xa >= xb:
                    continue
                yy, xx = np.mgrid[ya:yb, xa:xb]
                img[ya:yb, xa:xb] += (f * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0)).astype(np.float32)
            w = sm.patch_wcs(p)
            hdus = [fits.PrimaryHDU()]
            hdus[0].header["MJD-OBS"] = 60623.1
            hdus[0].header["MJD-END"] = 60645.9
            for name, data in (
                ("IMAGE", img),
                ("MASK", np.zeros(img.shape, np.int32)),
                ("VARIANCE", np.full(img.shape, 400.0, np.float32)),
            ):
                hdus.append(fits.ImageHDU(data, header=w.to_header(), name=name))
            path = d / f"deep_coadd_5063_{p}_{band}.fits"
            fits.HDUList(hdus).writeto(path, overwrite=True)
            paths.append(path)
        coadds[band] = paths
    return coadds


def run_ours(coadds, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    build_hips(coadds, out, release_name="bench", workers=2)
    return time.perf_counter() - t


def _hipsgen(*args: str) -> None:
    cmd = ["java", "-Djava.awt.headless=true", "-Xmx2g", "-jar", ALADIN_JAR, "-hipsgen", *args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_hipsgen(src: Path, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t = time.perf_counter()
    for band in BANDS:
        _hipsgen(
            f"in={src / band}",
            f"out={out / band}",
            f"creator_did=ivo://bench/{band}",
            "hdu=1",
            "hips_order=11",
            "INDEX",
            "TILES",
            "PNG",
        )
    _hipsgen(
        f"out={out / 'color'}",
        "creator_did=ivo://bench/color",
        f"inRed={out / 'i'}",
        f"inGreen={out / 'r'}",
        f"inBlue={out / 'g'}",
        "color=png",
        "RGB",
    )
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patches", type=int, default=3)
    ap.add_argument("--patch-size", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="keep inputs and outputs here")
    args = ap.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="bench_hips-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        coadds = make_coadds(base / "coadds", args.patches, args.patch_size)
        n_px = args.patches**2 * args.patch_size**2
        print(f"input: {len(BANDS)} bands x {args.patches}x{args.patches} patches of {args.patch_size} px "
              f"({n_px / 1e6:.1f} Mpx per band)")  # fmt: skip
        ours, theirs = [], []
        for i in range(args.runs):  # interleaved, so both see the same machine state
            ours.append(run_ours(coadds, base / "ours"))
            theirs.append(run_hipsgen(base / "coadds", base / "hipsgen"))
            print(f"run {i + 1}: ours {ours[-1]:.2f} s, HipsGen {theirs[-1]:.2f} s", flush=True)
        mo, mh = statistics.median(ours), statistics.median(theirs)
        n_ours = sum(1 for _ in (base / "ours").rglob("Npix*"))
        n_hg = sum(1 for _ in (base / "hipsgen").rglob("Npix*"))
        print(f"tile files: ours {n_ours}, HipsGen {n_hg}")
        print(f"median of {args.runs}: ours {mo:.2f} s, HipsGen {mh:.2f} s, ratio ours/HipsGen {mo / mh:.2f}")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
