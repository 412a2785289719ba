"""Benchmark: the image viewer's API (``/lsstbox/image/*``) through HTTP on a demo visit image.

A box server (``tests/jupyter_subprocess.box_server``: ``jupyter server`` with the extension, on
loopback with a token) serves the demo release (``--release``; default /tmp/demo5 if it holds a
release, else /tmp/demoR, built first with ``python -m jupyterlab_lsp.cli release build --profile
demo`` when missing).  One keep-alive ``requests`` session; a request's time is from sending it to
having read the whole body.  Each row is the median (and 90th percentile) of ``--repeat`` requests
(default 20):

* **tiles** -- a 256x256 PNG (``out=256``, gray, linear, explicit vmin/vmax) at several zooms of an
  800x800 visit image: in x8 (a 32² box), in x4, 1:1, out x2 (512² box), out x3.1 (the whole image);
  plus the whole image with ``stretch=asinh&cmap=magma&mask=DETECTED,BAD:ff0000:0.5``.
    - *warm*: the same request again and again (the image's decompressed planes are in the
      server's cache; the PNG is rendered each time -- no ETag is sent);
    - *cold*: each request on a visit image the server has not opened yet (open, headers, WCS,
      decompress the planes; the files may be in the OS page cache).
* **info** (warm: same image; cold: a new image each time, which includes the zscale limits);
* **pixel** (warm);
* **world2pix / pix2world** of 10^5 points (uniform over the image and 100 px around it): the JSON
  body encoded before timing; the answer's JSON decoded by the client is timed separately.

    .venv/bin/python benchmarks/bench_render.py
    .venv/bin/python benchmarks/bench_render.py --release /tmp/demoR --repeat 50
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

ZOOMS = [  # label, box side (the tile is always 256x256)
    ("in x8 (32² box)", 32),
    ("in x4 (64² box)", 64),
    ("1:1 (256² box)", 256),
    ("out x2 (512² box)", 512),
    ("out x3.1 (whole 800²)", 800),
]


def default_release() -> Path:
    for p in (Path("/tmp/demo5"), Path("/tmp/demoR")):
        if (p / "manifest.json").exists():
            return p
    return Path("/tmp/demoR")


def ensure_release(path: Path) -> None:
    if (path / "manifest.json").exists():
        return
    print(f"building the demo release in {path} ...", flush=True)
    cli = [sys.executable, "-m", "jupyterlab_lsp.cli", "release", "build", "--profile", "demo"]
    subprocess.run(
        [*cli, "--out", str(path), "--no-progress"],
        check=True,
        cwd=ROOT,
    )


def visit_images(release: Path) -> list[dict[str, Any]]:
    from kernel_lib.release.manifest import Release

    rel = Release.open(release)
    rows = pq.read_table(rel.resolve(rel.manifest["obscore"]["path"])).to_pylist()
    return [r for r in rows if r["dataproduct_subtype"] == "lsst.visit_image"]


def timed(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def stats(ms: list[float]) -> str:
    if not ms:
        return f"{'-':>8} {'-':>8}"
    return f"{statistics.median(ms):8.2f} {float(np.percentile(ms, 90)):8.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--release", type=Path, default=None, help="demo release folder")
    ap.add_argument("--repeat", type=int, default=20, help="requests per row (default 20)")
    args = ap.parse_args()
    release = args.release or default_release()
    ensure_release(release)
    from jupyter_subprocess import box_server

    images = visit_images(release)
    n = args.repeat
    need = 1 + n * (len(ZOOMS) + 2)  # a fresh image per cold request
    if len(images) < need:
        sys.exit(f"{release} has {len(images)} visit images; --repeat {n} needs {need}")
    fresh = iter(images[1:])
    token = secrets.token_hex(16)
    rows: list[tuple[str, list[float], list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        home = Path(tmp)
        (home / "root").mkdir()
        with box_server(release, home, token) as srv, requests.Session() as s:
            s.headers.update(srv.headers)
            base = f"{srv.url}lsstbox/image"

            def get(endpoint: str, **params: Any) -> requests.Response:
                r = s.get(f"{base}/{endpoint}", params=params, timeout=120)
                if r.status_code != 200:
                    raise SystemExit(f"{endpoint} {params}: {r.status_code} {r.text}")
                _ = r.content
                return r

            main_src = f"did:{images[0]['obs_publisher_did']}"
            info = get("info", src=main_src).json()
            w, h = info["width"], info["height"]
            vmin, vmax = info["limits"]["vmin"], info["limits"]["vmax"]
            print(f"release {release}; image {info['title']} ({w}x{h}, {info['file']})")

            def tile(src: str, side: int, **extra: Any) -> None:
                x0, y0 = max(0, (w - side) // 2), max(0, (h - side) // 2)
                get("tile", src=src, x0=x0, y0=y0, w=side, h=side, out=256, vmin=vmin, vmax=vmax, **extra)

            styled = {"stretch": "asinh", "cmap": "magma", "mask": "DETECTED,BAD:ff0000:0.5"}
            for label, side in [*ZOOMS, ("whole, asinh+magma+2 masks", 800)]:
                extra = styled if label.startswith("whole") else {}
                tile(main_src, side, **extra)  # warm-up
                warm = timed(lambda side=side, extra=extra: tile(main_src, side, **extra), n)
                cold = []
                for _ in range(n):
                    src = f"did:{next(fresh)['obs_publisher_did']}"
                    cold += timed(lambda src=src, side=side, extra=extra: tile(src, side, **extra), 1)
                rows.append((f"tile 256² {label}", warm, cold))

            warm = timed(lambda: get("info", src=main_src), n)
            cold = []
            for _ in range(n):
                src = f"did:{next(fresh)['obs_publisher_did']}"
                cold += timed(lambda src=src: get("info", src=src), 1)
            rows.append(("info", warm, cold))
            rows.append(("pixel", timed(lambda: get("pixel", src=main_src, x=123.4, y=456.7), n), []))

            rng = np.random.default_rng(1)
            npts = 100_000
            x = rng.uniform(-100, w + 100, npts)
            y = rng.uniform(-100, h + 100, npts)
            p2w_body = json.dumps({"src": main_src, "x": x.tolist(), "y": y.tolist()}).encode()
            world = s.post(f"{base}/pix2world", data=p2w_body, timeout=120).json()
            w2p_body = json.dumps({"src": main_src, "ra": world["ra"], "dec": world["dec"]}).encode()
            hdrs = {"Content-Type": "application/json"}
            answers: dict[str, bytes] = {}

            def post(endpoint: str, body: bytes) -> None:
                r = s.post(f"{base}/{endpoint}", data=body, headers=hdrs, timeout=120)
                if r.status_code != 200:
                    raise SystemExit(f"{endpoint}: {r.status_code} {r.text[:300]}")
                answers[endpoint] = r.content

            for endpoint, body in (("world2pix", w2p_body), ("pix2world", p2w_body)):
                post(endpoint, body)
                rows.append((f"{endpoint} 10^5 points", timed(lambda e=endpoint, b=body: post(e, b), n), []))
                decode = timed(lambda e=endpoint: json.loads(answers[e]), n)
                size = len(answers[endpoint]) >> 10
                rows.append((f"  (client json.loads of its answer, {size} KiB)", decode, []))
            back = json.loads(answers["world2pix"])
            err = np.nanmax(np.hypot(np.array(back["x"], float) - x, np.array(back["y"], float) - y))
            print(f"world2pix round trip: max error {err:.2e} px")

    print(f"\nmedian and p90 of {n} requests, ms (HTTP, loopback, keep-alive; {os.cpu_count()} cores)")
    print(f"{'':52} {'warm':>8} {'p90':>8} {'cold':>8} {'p90':>8}")
    for label, warm, cold in rows:
        print(f"{label:52} {stats(warm)} {stats(cold)}")


if __name__ == "__main__":
    main()
