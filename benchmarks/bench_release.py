"""Time and size of release builds, against the budgets of issue 2.

    python benchmarks/bench_release.py [--profiles tiny demo] [--repeat 3] [--workdir DIR]

Prints, per profile, the median wall time of ``lsstbox release build`` (a fresh process each
time, imports included), the bytes on disk, the per-step seconds of the median run, and the
ratio to the budget (tiny <= 20 s; demo <= 120 s and <= 1.5 GB).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = {"tiny": 20.0, "demo": 120.0, "large": None}
BUDGET_BYTES = {"tiny": None, "demo": 1.5e9, "large": None}


def build_once(profile: str, workdir: Path, seed: int) -> tuple[float, dict]:
    out = workdir / f"{profile}-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyterlab_lsp.cli",
            "release",
            "build",
            "--profile",
            profile,
            "--out",
            str(out),
            "--seed",
            str(seed),
            "--no-progress",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    manifest = json.loads((out / "manifest.json").read_text())
    build = manifest["build"] | {"rows": {k: v["rows"] for k, v in manifest["catalogs"].items()}}
    shutil.rmtree(out)
    return wall, build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profiles", nargs="+", default=["tiny", "demo"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-release-"))
    for profile in args.profiles:
        runs = [build_once(profile, workdir, args.seed) for _ in range(args.repeat)]
        walls = [w for w, _ in runs]
        med = statistics.median(walls)
        _, build = min(runs, key=lambda r: abs(r[0] - med))
        size = build["bytes"]
        line = f"{profile:5s} median {med:6.1f} s over {len(walls)} runs"
        line += f" (min {min(walls):.1f}, max {max(walls):.1f})"
        line += f", {size / 1e6:7.0f} MB"
        if BUDGET_S.get(profile):
            line += f" | time/budget {med / BUDGET_S[profile]:.2f}"
        if BUDGET_BYTES.get(profile):
            line += f", size/budget {size / BUDGET_BYTES[profile]:.2f}"
        print(line)
        print("      steps (s): " + ", ".join(f"{k} {v}" for k, v in build["seconds"].items()))
        print("      rows: " + ", ".join(f"{k} {v:,}" for k, v in build["rows"].items()))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
