"""The image viewer's server API (``/lsstbox/image/*``) end to end: a real box server in a subprocess,
real FITS files (the tiny release's images, files written with astropy and the release's writer
under the server's root), PNG tiles decoded with PIL and compared with numpy references computed
from the documented formulas."""

from __future__ import annotations

import io
import math
import os
import secrets
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import requests
from astropy.io import fits
from astropy.wcs import WCS
from jupyter_subprocess import JupyterProcess, box_server
from no_jupyter_loop import jp_asyncio_loop, jp_server_cleanup  # noqa: F401
from PIL import Image

from kernel_lib.release.exposure import MASK_PLANES, Exposure, read_exposure, write_exposure
from kernel_lib.release.manifest import Release

PLAIN_SHAPE = (24, 32)  # ny, nx
NAN_AT = (5, 7)  # (y, x) of the NaN pixel of plain.fits
BRIGHT = 10000.0


def _plain_wcs() -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [16.5, 12.5]
    w.wcs.cdelt = [-1e-4, 1e-4]
    w.wcs.cunit = ["deg", "deg"]
    return w


def _plain_data() -> np.ndarray:
    a = np.arange(PLAIN_SHAPE[0] * PLAIN_SHAPE[1], dtype=np.float32).reshape(PLAIN_SHAPE)
    a[0, 0] = BRIGHT  # FITS row 0, column 0: the bottom-left corner on screen
    a[NAN_AT] = np.nan
    return a


def _mef_exposure() -> Exposure:
    rng = np.random.default_rng(7)
    ny, nx = 60, 90
    image = rng.normal(100.0, 10.0, (ny, nx)).astype(np.float32)
    mask = np.zeros((ny, nx), np.int32)
    mask[10:20, 30:50] |= 1 << MASK_PLANES["SAT"]
    mask[15:40, 45:47] |= 1 << MASK_PLANES["BAD"]
    mask[0, :] |= 1 << MASK_PLANES["EDGE"]
    variance = np.full((ny, nx), 4.0, np.float32)
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [53.1, -28.2]
    w.wcs.crpix = [45.5, 30.5]
    w.wcs.cd = [[-5.5e-5, 1e-6], [1e-6, 5.5e-5]]
    meta = fits.Header()
    meta["BAND"] = "r"
    meta["VISIT"] = 42
    meta["DETECTOR"] = 3
    meta["INSTRUME"] = "TestCam"
    return Exposure(image=image, mask=mask, variance=variance, wcs=w, metadata=meta)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny_release: Path) -> Path:
    """The server's state; ``root/`` holds the test files served as ``file:``."""
    home = tmp_path_factory.mktemp("render")
    root = home / "root"
    (root / "sub").mkdir(parents=True)
    hdr = _plain_wcs().to_header()
    hdr["BUNIT"] = "adu"
    hdr["OBJECT"] = "testfield"
    fits.PrimaryHDU(_plain_data(), header=hdr).writeto(root / "plain.fits")
    fits.PrimaryHDU(_plain_data()).writeto(root / "sub" / "nowcs.fits")
    write_exposure(root / "mef.fits", _mef_exposure(), compress="lossless")
    (root / "notfits.fits").write_text("SIMPLE? no, this is a text file\n" * 10)
    fits.HDUList(
        [fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "E", array=np.arange(3.0))])]
    ).writeto(root / "table.fits")
    raw = (root / "plain.fits").read_bytes()
    (root / "broken.fits").write_bytes(raw[: 2880 + 1000])  # the header and a third of the data
    rel = Release.open(tiny_release)
    big = rel.resolve(_visit_row(rel)["lsst_file"])
    data = big.read_bytes()
    (root / "broken_release.fits").write_bytes(data[: len(data) // 3])
    outside = home / "outside.fits"
    fits.PrimaryHDU(_plain_data()).writeto(outside)
    (root / "escape.fits").symlink_to(outside)
    (root / ".hidden.fits").write_bytes(raw)
    return home


def _visit_row(rel: Release) -> dict[str, Any]:
    table = pq.read_table(rel.resolve(rel.manifest["obscore"]["path"])).to_pylist()
    return next(r for r in table if r["dataproduct_subtype"] == "lsst.visit_image")


@pytest.fixture(scope="module")
def server(tiny_release: Path, home: Path) -> Iterator[JupyterProcess]:
    with box_server(tiny_release, home, secrets.token_hex(16)) as s:
        yield s


@pytest.fixture(scope="module")
def visit(tiny_release: Path) -> dict[str, Any]:
    """A visit image of the tiny release: its ObsCore row, file, dataset uuid and pixels."""
    rel = Release.open(tiny_release)
    row = _visit_row(rel)
    path = rel.resolve(row["lsst_file"])
    did = row["obs_publisher_did"]
    return {
        "did": did,
        "uuid": str(uuid.UUID(did.split("id=")[1])),
        "path": path,
        "exposure": read_exposure(path),
    }


def get(server: JupyterProcess, endpoint: str, **params: Any) -> requests.Response:
    return requests.get(
        f"{server.url}lsstbox/image/{endpoint}", params=params, headers=server.headers, timeout=120
    )


def post(server: JupyterProcess, endpoint: str, body: Any) -> requests.Response:
    return requests.post(
        f"{server.url}lsstbox/image/{endpoint}", json=body, headers=server.headers, timeout=120
    )


def png(resp: requests.Response) -> np.ndarray:
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "image/png"
    img = Image.open(io.BytesIO(resp.content))
    assert img.mode == "RGBA"
    return np.asarray(img)


def levels_ref(values: np.ndarray, vmin: float, vmax: float) -> tuple[np.ndarray, np.ndarray]:
    """The documented linear mapping to 8 bits, and where the reference is too close to a rounding
    tie for float summation order to decide (excluded from exact comparisons)."""
    t = np.clip((values - vmin) / (vmax - vmin), 0.0, 1.0)
    x = t * 255.0 + 0.5
    frac = x - np.floor(x)
    tie = (frac < 1e-6) | (frac > 1 - 1e-6)
    return np.floor(np.nan_to_num(x)).astype(int), tie


def block_mean_ref(a: np.ndarray, x0: int, y0: int, w: int, h: int, ow: int, oh: int) -> np.ndarray:
    """The documented resampling, written out per PNG pixel: PNG column j averages image columns
    p with floor((p - x0) * ow / w) == j (zoom out) or shows x0 + floor((j + 0.5) * w / ow) (zoom in);
    rows likewise; returned with box row 0 first (the PNG's bottom row)."""
    ny, nx = a.shape

    def spans(start: int, length: int, n_out: int, size: int) -> list[tuple[int, int]]:
        out = []
        for j in range(n_out):
            if length >= n_out:
                lo = start + math.ceil(j * length / n_out)
                hi = start + math.ceil((j + 1) * length / n_out)
            else:
                lo = start + math.floor((j + 0.5) * length / n_out)
                hi = lo + 1
            out.append((max(lo, 0), min(hi, size)))
        return out

    res = np.full((oh, ow), np.nan)
    xs, ys = spans(x0, w, ow, nx), spans(y0, h, oh, ny)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks
        for i, (ylo, yhi) in enumerate(ys):
            for j, (xlo, xhi) in enumerate(xs):
                if yhi > ylo and xhi > xlo:
                    res[i, j] = np.nanmean(a[ylo:yhi, xlo:xhi], dtype=np.float64)
    return res


# -- info ------------------------------------------------------------------------------------------


def test_info_by_did_and_by_butler_uuid_agree(server: JupyterProcess, visit: dict[str, Any]) -> None:
    by_did = get(server, "info", src=f"did:{visit['did']}")
    by_uuid = get(server, "info", src=f"butler:{visit['uuid']}")
    assert by_did.status_code == 200, by_did.text
    assert by_uuid.status_code == 200, by_uuid.text
    a, b = by_did.json(), by_uuid.json()
    assert a["src"] == f"did:{visit['did']}" and b["src"] == f"butler:{visit['uuid']}"
    a.pop("src")
    b.pop("src")
    assert a == b
    exp = visit["exposure"]
    assert (a["width"], a["height"]) == (exp.width, exp.height)
    assert a["hdu"] == 1 and a["extname"] == "IMAGE" and a["layout"] == "release"
    assert a["bunit"] == "nJy"
    assert a["mask_planes"] == MASK_PLANES
    assert a["planes"] == ["IMAGE", "MASK", "VARIANCE"]
    meta = exp.metadata
    assert a["metadata"]["BAND"] == meta["BAND"] and a["metadata"]["VISIT"] == meta["VISIT"]
    assert a["title"].startswith(f"visit_image {meta['BAND']}")
    assert f"visit {meta['VISIT']}" in a["title"] and f"detector {meta['DETECTOR']}" in a["title"]
    assert "bottom" in a["y_axis"]
    # the WCS cards are the image's WCS: astropy built from them maps pixels as the file's does
    wcs = a["wcs"]
    assert wcs["kind"] == "TAN" and wcs["CTYPE1"] == "RA---TAN"
    cards = {k: v for k, v in wcs.items() if k != "kind"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        served = WCS(fits.Header(cards))
    xy = np.array([[0.0, 0.0], [exp.width - 1.0, exp.height - 1.0], [12.3, 45.6]])
    np.testing.assert_allclose(served.wcs_pix2world(xy, 0), exp.wcs.wcs_pix2world(xy, 0), atol=1e-10)
    # default limits are zscale's on the image
    from astropy.visualization import ZScaleInterval

    lo, hi = ZScaleInterval().get_limits(exp.image[np.isfinite(exp.image)])
    assert a["limits"]["interval"] == "zscale"
    assert a["limits"]["vmin"] == pytest.approx(lo, rel=0.05, abs=1.0)
    assert a["limits"]["vmax"] == pytest.approx(hi, rel=0.05, abs=1.0)


def test_info_of_plain_file(server: JupyterProcess) -> None:
    r = get(server, "info", src="file:plain.fits")
    assert r.status_code == 200, r.text
    info = r.json()
    assert (info["width"], info["height"]) == (PLAIN_SHAPE[1], PLAIN_SHAPE[0])
    assert info["hdu"] == 0 and info["layout"] == "fits" and info["bunit"] == "adu"
    assert info["mask_planes"] == {} and info["planes"] == ["PRIMARY"]
    assert info["wcs"]["kind"] == "TAN" and info["wcs"]["CRVAL1"] == 150.0
    assert info["title"].startswith("testfield")
    nowcs = get(server, "info", src="file:sub/nowcs.fits").json()
    assert nowcs["wcs"] is None and nowcs["title"] == "nowcs.fits"


def test_release_layout_file(server: JupyterProcess) -> None:
    """A file in the release's layout under the root (a SODA cutout saved by the user, say)."""
    info = get(server, "info", src="file:mef.fits").json()
    assert info["layout"] == "release" and info["hdu"] == 1 and info["mask_planes"] == MASK_PLANES
    assert info["title"] == "r · visit 42 · detector 3"


# -- tiles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x0", "y0", "w", "h", "out"),
    [
        (0, 0, 256, 256, 128),  # zoom out by 2
        (13, 7, 300, 300, 128),  # zoom out by 2.34 (blocks of 2 and 3 pixels)
        (-50, 200, 200, 100, 64),  # out by 3.1, reaching outside the image (transparent)
        (40, 60, 64, 64, 64),  # 1:1
        (100, 100, 32, 32, 128),  # zoom in by 4 (nearest)
        (5, 9, 30, 30, 64),  # zoom in by 2.13
    ],
)
def test_tile_values_equal_reference(
    server: JupyterProcess, visit: dict[str, Any], x0: int, y0: int, w: int, h: int, out: int
) -> None:
    image = visit["exposure"].image
    vmin, vmax = -50.0, 400.0
    rgba = png(
        get(
            server,
            "tile",
            src=f"did:{visit['did']}",
            x0=x0,
            y0=y0,
            w=w,
            h=h,
            out=out,
            stretch="linear",
            vmin=vmin,
            vmax=vmax,
            cmap="gray",
        )
    )
    ow, oh = (out, max(1, round(out * h / w))) if w >= h else (max(1, round(out * w / h)), out)
    assert rgba.shape == (oh, ow, 4)
    ref = block_mean_ref(image, x0, y0, w, h, ow, oh)[::-1]  # box row 0 at the bottom
    expect, tie = levels_ref(ref, vmin, vmax)
    finite = np.isfinite(ref)
    assert (rgba[..., 3][finite] == 255).all() and (rgba[..., 3][~finite] == 0).all()
    check = finite & ~tie
    assert check.sum() > 0.5 * finite.sum()
    for c in range(3):
        np.testing.assert_array_equal(rgba[..., c][check], expect[check])


def test_tile_sizes(server: JupyterProcess) -> None:
    src = "file:plain.fits"
    assert png(get(server, "tile", src=src, x0=0, y0=0, w=32, h=32)).shape == (256, 256, 4)
    assert png(get(server, "tile", src=src, x0=0, y0=0, w=32, h=16, out=100)).shape == (50, 100, 4)
    assert png(get(server, "tile", src=src, x0=0, y0=0, w=8, h=32, out=64)).shape == (64, 16, 4)
    assert png(get(server, "tile", src=src, x0=0, y0=0, w=32, h=24, out=8)).shape == (6, 8, 4)
    assert png(get(server, "tile", src=src, x0=0, y0=0, w=5, h=5, out=1)).shape == (1, 1, 4)
    assert png(get(server, "tile", src=src, x0=0, y0=0, w=4096, h=4096, out=2048)).shape == (2048, 2048, 4)
    # entirely outside the image: all transparent
    assert (png(get(server, "tile", src=src, x0=1000, y0=1000, w=64, h=64, out=64))[..., 3] == 0).all()


def test_y_axis_row_zero_at_the_bottom(server: JupyterProcess) -> None:
    ny, nx = PLAIN_SHAPE
    q = {"src": "file:plain.fits", "x0": 0, "y0": 0, "w": nx, "h": ny, "out": nx}
    rgba = png(get(server, "tile", **q, vmin=0, vmax=BRIGHT))
    assert rgba.shape == (ny, nx, 4)
    assert tuple(rgba[-1, 0]) == (255, 255, 255, 255)  # the bright pixel (row 0, col 0): bottom-left
    lum = rgba[..., 0].astype(int)
    assert lum[-1, 0] == lum.max() and (lum < 255).sum() == lum.size - 1
    # the values grow with the row: the top PNG row is the last FITS row
    assert lum[0, 20] > lum[-1, 20]


def test_nan_is_transparent(server: JupyterProcess) -> None:
    ny, nx = PLAIN_SHAPE
    rgba = png(get(server, "tile", src="file:plain.fits", x0=0, y0=0, w=nx, h=ny, out=nx, vmin=0, vmax=800))
    alpha = rgba[..., 3]
    y, x = NAN_AT
    assert tuple(rgba[ny - 1 - y, x]) == (0, 0, 0, 0)
    assert (alpha == 0).sum() == 1
    # zooming out, the block holding the NaN averages its finite pixels: opaque
    zoomed = png(get(server, "tile", src="file:plain.fits", x0=0, y0=0, w=32, h=24, out=16))
    assert (zoomed[..., 3] == 255).all()


def test_mask_overlay_colours_exactly_the_masked_pixels(server: JupyterProcess, home: Path) -> None:
    exp = read_exposure(home / "root" / "mef.fits")
    ny, nx = exp.image.shape
    base = {"src": "file:mef.fits", "x0": 0, "y0": 0, "w": nx, "h": ny, "out": nx, "vmin": 0, "vmax": 200}
    plain = png(get(server, "tile", **base))
    red = png(get(server, "tile", **base, mask="SAT:ff0000:1"))
    sat = exp.plane("SAT")[::-1]
    assert (red[sat] == [255, 0, 0, 255]).all()
    np.testing.assert_array_equal(red[~sat], plain[~sat])
    # two planes, alpha blending by the documented formula, in the order given
    both = png(get(server, "tile", **base, mask="SAT:ff0000:0.5,bad:0000FF:0.25"))
    bad = exp.plane("BAD")[::-1]
    rgb = plain[..., :3].astype(float)
    step1 = np.where(sat[..., None], np.floor(np.array([255.0, 0, 0]) * 0.5 + rgb * 0.5 + 0.5), rgb)
    step2 = np.where(bad[..., None], np.floor(np.array([0, 0, 255.0]) * 0.25 + step1 * 0.75 + 0.5), step1)
    np.testing.assert_array_equal(both[..., :3], step2.astype(np.uint8))
    # a default colour per plane; masks are OR-ed when zooming out
    edge = png(get(server, "tile", **{**base, "w": nx, "h": ny, "out": nx // 3}, mask="EDGE:00ff00:1"))
    assert (edge[-1] == [0, 255, 0, 255]).all() and not (edge[:-1] == [0, 255, 0, 255]).all(axis=-1).any()
    assert png(get(server, "tile", **base, mask="SAT")).shape == plain.shape


@pytest.mark.parametrize("stretch", ["linear", "sqrt", "log", "asinh"])
def test_stretches_are_astropys(server: JupyterProcess, stretch: str) -> None:
    from astropy.visualization import AsinhStretch, LinearStretch, LogStretch, SqrtStretch

    f = {"linear": LinearStretch(), "sqrt": SqrtStretch(), "log": LogStretch(), "asinh": AsinhStretch()}
    ny, nx = PLAIN_SHAPE
    q = {"src": "file:plain.fits", "x0": 0, "y0": 0, "w": nx, "h": ny, "out": nx}
    rgba = png(get(server, "tile", **q, stretch=stretch, vmin=0, vmax=767, cmap="viridis"))
    data = _plain_data().astype(np.float64)[::-1]
    t = np.clip(data / 767.0, 0, 1)
    idx = np.floor(np.asarray(f[stretch](np.nan_to_num(t), clip=True)) * 255 + 0.5).astype(int)
    import matplotlib

    lut = np.floor(matplotlib.colormaps["viridis"].resampled(256)(np.arange(256) / 255.0) * 255 + 0.5)
    finite = np.isfinite(data)
    got = rgba[..., :3][finite].astype(int)
    want = lut[idx][..., :3][finite].astype(int)
    assert np.abs(got - want).max() <= 1  # astropy's float32 vs our float64 at rounding ties
    assert (got == want).all(axis=-1).mean() > 0.98


def test_zscale_stretch_uses_the_info_limits(server: JupyterProcess, visit: dict[str, Any]) -> None:
    src = f"did:{visit['did']}"
    lim = get(server, "info", src=src).json()["limits"]
    a = get(server, "tile", src=src, w=64, h=64, out=64, stretch="zscale", vmin=1, vmax=2)
    b = get(server, "tile", src=src, w=64, h=64, out=64, vmin=lim["vmin"], vmax=lim["vmax"])
    c = get(server, "tile", src=src, w=64, h=64, out=64)  # linear with the default (zscale) limits
    np.testing.assert_array_equal(png(a), png(b))
    np.testing.assert_array_equal(png(a), png(c))
    assert a.headers["X-Lsstbox-Limits"] == f"{lim['vmin']!r},{lim['vmax']!r}"


def test_tile_caching_headers(server: JupyterProcess, visit: dict[str, Any]) -> None:
    params: dict[str, Any] = {"src": f"did:{visit['did']}", "w": 128, "h": 128, "out": 64, "cmap": "magma"}
    r = get(server, "tile", **params)
    assert r.status_code == 200
    assert r.headers["Cache-Control"].startswith("private, max-age=")
    etag = r.headers["ETag"]
    again = requests.get(
        f"{server.url}lsstbox/image/tile",
        params=params,
        headers={**server.headers, "If-None-Match": etag},
        timeout=60,
    )
    assert again.status_code == 304 and not again.content
    other = get(server, "tile", **{**params, "cmap": "viridis"})
    assert other.headers["ETag"] != etag
    # files under the root may change: a short max-age
    fresh = get(server, "tile", src="file:plain.fits", w=32, h=24, out=32, vmin=0, vmax=800)
    assert fresh.headers["Cache-Control"] == "private, max-age=10"


def test_file_rewritten_is_read_again(server: JupyterProcess, home: Path) -> None:
    path = home / "root" / "changing.fits"
    q = {"src": "file:changing.fits", "w": 4, "h": 4, "out": 4, "vmin": 0, "vmax": 10}
    fits.PrimaryHDU(np.zeros((4, 4), np.float32)).writeto(path)
    first = get(server, "tile", **q)
    assert (png(first)[..., 0] == 0).all()
    fits.PrimaryHDU(np.full((4, 4), 10.0, np.float32)).writeto(path, overwrite=True)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = get(server, "tile", **q)
    assert (png(second)[..., 0] == 255).all()
    assert first.headers["ETag"] != second.headers["ETag"]


def test_concurrent_tiles_of_a_new_image(server: JupyterProcess, home: Path, visit: dict[str, Any]) -> None:
    """A viewer asks for all the tiles of an image at once: each is right (its plane decompressed once)."""
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    shutil.copy(visit["path"], home / "root" / "concurrent.fits")
    exp = visit["exposure"]
    boxes = [(x0, y0) for y0 in range(0, exp.height, 64) for x0 in range(0, exp.width, 64)][:16]

    def fetch(box: tuple[int, int]) -> np.ndarray:
        q = {"x0": box[0], "y0": box[1], "w": 64, "h": 64, "out": 64, "vmin": -50, "vmax": 400}
        return png(get(server, "tile", src="file:concurrent.fits", mask="DETECTED:ff0000:1", **q))

    with ThreadPoolExecutor(16) as pool:
        tiles = list(pool.map(fetch, boxes))
    for (x0, y0), rgba in zip(boxes, tiles, strict=True):
        img = exp.image[y0 : y0 + 64, x0 : x0 + 64][::-1].astype(np.float64)
        expect, _ = levels_ref(img, -50.0, 400.0)
        det = exp.plane("DETECTED")[y0 : y0 + 64, x0 : x0 + 64][::-1]
        assert (rgba[det] == [255, 0, 0, 255]).all()
        np.testing.assert_array_equal(rgba[..., 1][~det], expect[~det])


# -- pixel and coordinates -------------------------------------------------------------------------


def _astropy_wcs(path: Path) -> WCS:
    with fits.open(path) as hdul, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WCS(hdul["IMAGE"].header)


def test_pixel_matches_the_file_and_astropy(server: JupyterProcess, visit: dict[str, Any]) -> None:
    exp = visit["exposure"]
    wcs = _astropy_wcs(visit["path"])
    for x, y in [(0, 0), (17, 250), (exp.width - 1, exp.height - 1), (100.4, 200.6)]:
        r = get(server, "pixel", src=f"did:{visit['did']}", x=x, y=y)
        assert r.status_code == 200, r.text
        p = r.json()
        ix, iy = math.floor(x + 0.5), math.floor(y + 0.5)
        assert (p["ix"], p["iy"], p["inside"]) == (ix, iy, True)
        assert p["value"] == float(exp.image[iy, ix])
        assert p["variance"] == float(exp.variance[iy, ix])
        assert p["mask"] == int(exp.mask[iy, ix])
        assert p["mask_names"] == [n for n, b in MASK_PLANES.items() if p["mask"] >> b & 1]
        ra, dec = wcs.pixel_to_world_values(x, y)
        assert p["ra"] == pytest.approx(float(ra), abs=1e-10)
        assert p["dec"] == pytest.approx(float(dec), abs=1e-10)
    off = get(server, "pixel", src=f"did:{visit['did']}", x=-3, y=5).json()
    assert off["inside"] is False and off["value"] is None and off["ra"] is not None
    plain = get(server, "pixel", src="file:plain.fits", x=0, y=0).json()
    assert plain["value"] == BRIGHT and "mask" not in plain and "variance" not in plain
    assert get(server, "pixel", src="file:plain.fits", x=NAN_AT[1], y=NAN_AT[0]).json()["value"] is None
    nowcs = get(server, "pixel", src="file:sub/nowcs.fits", x=1, y=1).json()
    assert nowcs["ra"] is None and nowcs["value"] == 32.0 + 1


def test_world2pix_round_trips(server: JupyterProcess, visit: dict[str, Any]) -> None:
    exp = visit["exposure"]
    wcs = _astropy_wcs(visit["path"])
    rng = np.random.default_rng(3)
    n = 100_000
    x = rng.uniform(-100, exp.width + 100, n)
    y = rng.uniform(-100, exp.height + 100, n)
    ra, dec = wcs.pixel_to_world_values(x, y)
    src = f"did:{visit['did']}"
    t = time.perf_counter()
    r = post(server, "world2pix", {"src": src, "ra": ra.tolist(), "dec": dec.tolist()})
    elapsed = time.perf_counter() - t
    assert r.status_code == 200, r.text
    out = r.json()
    np.testing.assert_allclose(out["x"], x, atol=1e-3)
    np.testing.assert_allclose(out["y"], y, atol=1e-3)
    inside = (x >= -0.5) & (x < exp.width - 0.5) & (y >= -0.5) & (y < exp.height - 0.5)
    assert np.array_equal(np.array(out["inside"]), inside)
    assert elapsed < 5.0  # benchmarks/bench_render.py measures it properly
    back = post(server, "pix2world", {"src": src, "x": x[:1000].tolist(), "y": y[:1000].tolist()}).json()
    np.testing.assert_allclose(back["ra"], ra[:1000], atol=1e-9)
    np.testing.assert_allclose(back["dec"], dec[:1000], atol=1e-9)
    # the far side of the sky does not project: null, not inside; empty arrays are fine
    far = post(server, "world2pix", {"src": src, "ra": [float(ra[0]) + 180], "dec": [-float(dec[0])]}).json()
    assert far == {"x": [None], "y": [None], "inside": [False]}
    assert post(server, "world2pix", {"src": src, "ra": [], "dec": []}).json() == {
        "x": [],
        "y": [],
        "inside": [],
    }


# -- bad input -------------------------------------------------------------------------------------


BAD_TILES = [
    ({}, 400, "missing parameter src"),
    ({"src": "ftp:x.fits"}, 400, "unknown src"),
    ({"src": "file:"}, 400, "names nothing"),
    ({"src": "file:missing.fits"}, 404, "no such file"),
    ({"src": "file:../outside.fits"}, 400, "'..' is not allowed"),
    ({"src": "file:sub/../../outside.fits"}, 400, "'..' is not allowed"),
    ({"src": "file:/etc/hostname"}, 400, "absolute paths are refused"),
    ({"src": "file:escape.fits"}, 403, "outside the server's root"),
    ({"src": "file:.hidden.fits"}, 403, "hidden"),
    ({"src": "file:sub"}, 400, "is not a file"),
    ({"src": "file:notfits.fits"}, 415, "not a FITS file"),
    ({"src": "file:table.fits"}, 422, "no 2-d image in table.fits"),
    ({"src": "file:broken.fits"}, 422, "damaged FITS file"),
    ({"src": "file:broken_release.fits"}, 422, "damaged FITS file"),
    ({"src": "did:ivo://nowhere?x"}, 404, "no such image"),
    ({"src": "butler:not-a-uuid"}, 400, "not a dataset UUID"),
    ({"src": f"butler:{uuid.UUID(int=12345)}"}, 404, "no such dataset"),
    ({"src": "file:plain.fits", "w": "0"}, 400, "w=0 is out of range"),
    ({"src": "file:plain.fits", "w": "abc"}, 400, "w='abc' is not a number"),
    ({"src": "file:plain.fits", "x0": "1.5"}, 400, "whole number"),
    ({"src": "file:plain.fits", "w": "10000", "h": "10000"}, 400, "64 Mpix"),
    ({"src": "file:plain.fits", "out": "4096"}, 400, "out=4096 is out of range [1, 2048]"),
    ({"src": "file:plain.fits", "out": "0"}, 400, "out=0 is out of range"),
    ({"src": "file:plain.fits", "stretch": "cubic"}, 400, "linear, log, sqrt, asinh, zscale"),
    ({"src": "file:plain.fits", "cmap": "nope"}, 400, "unknown cmap 'nope'"),
    ({"src": "file:plain.fits", "vmin": "5", "vmax": "1"}, 400, "vmax (1.0) must be greater"),
    ({"src": "file:plain.fits", "vmin": "nan"}, 400, "must be finite"),
    ({"src": "file:plain.fits", "mask": "BAD:red"}, 400, "6 hex digits"),
    ({"src": "file:plain.fits", "mask": "BAD:ff0000:2"}, 400, "alpha must be a number in [0, 1]"),
    ({"src": "file:plain.fits", "mask": "BAD:ff0000:0.5:x"}, 400, "malformed mask spec"),
    ({"src": "file:plain.fits", "mask": "BAD,,SAT"}, 400, "malformed mask spec"),
    ({"src": "file:plain.fits", "mask": "BAD"}, 400, "has no MASK plane"),
    ({"src": "file:mef.fits", "mask": "NOPE"}, 400, "no plane 'NOPE'"),
]


@pytest.mark.parametrize(("params", "status", "message"), BAD_TILES)
def test_bad_tile_requests(server: JupyterProcess, params: dict[str, str], status: int, message: str) -> None:
    r = get(server, "tile", **params)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["status"] == status and message in body["error"], body
    assert "Traceback" not in r.text


@pytest.mark.parametrize(
    ("src", "status", "message"),
    [
        ("file:notfits.fits", 415, "not a FITS file"),
        ("file:table.fits", 422, "no 2-d image"),
        ("file:broken.fits", 422, "damaged FITS file"),
        ("file:broken_release.fits", 422, "damaged FITS file"),
        ("file:../x.fits", 400, "'..'"),
        ("nope", 400, "unknown src"),
    ],
)
def test_bad_info_and_pixel(server: JupyterProcess, src: str, status: int, message: str) -> None:
    for endpoint, extra in (("info", {}), ("pixel", {"x": 1, "y": 1})):
        r = get(server, endpoint, src=src, **extra)
        assert r.status_code == status and message in r.json()["error"], (endpoint, r.text)


def test_bad_pixel_and_transform_requests(server: JupyterProcess) -> None:
    assert "missing parameter x" in get(server, "pixel", src="file:plain.fits", y=1).json()["error"]
    assert get(server, "pixel", src="file:plain.fits", x="inf", y=1).status_code == 400
    bad = [
        (b"{not json", 400, "not JSON"),
        ([1, 2], 400, "JSON object"),
        ({"src": "file:plain.fits", "ra": [1.0]}, 400, "missing dec"),
        ({"src": "file:plain.fits", "ra": [1.0], "dec": [1.0, 2.0]}, 400, "differ in length"),
        ({"src": "file:plain.fits", "ra": ["a"], "dec": [1.0]}, 400, "array of numbers"),
        ({"src": "file:plain.fits", "ra": [[1.0]], "dec": [[1.0]]}, 400, "flat JSON array"),
        ({"src": "file:plain.fits", "ra": 3, "dec": 4}, 400, "array of numbers"),
        ({"src": "file:sub/nowcs.fits", "ra": [1.0], "dec": [1.0]}, 422, "no celestial WCS"),
        ({"src": 5, "ra": [1.0], "dec": [1.0]}, 400, "src must be a string"),
        ({"ra": [1.0], "dec": [1.0]}, 400, "missing parameter src"),
    ]
    for body, status, message in bad:
        data = body if isinstance(body, bytes) else None
        r = requests.post(
            f"{server.url}lsstbox/image/world2pix",
            data=data,
            json=None if data else body,
            headers=server.headers,
            timeout=60,
        )
        assert r.status_code == status and message in r.json()["error"], (body, r.text)


def test_unauthenticated_requests_are_refused(server: JupyterProcess) -> None:
    for endpoint in ("info", "tile", "pixel", "options"):
        url = f"{server.url}lsstbox/image/{endpoint}"
        r = requests.get(url, params={"src": "file:plain.fits"}, timeout=30)
        assert r.status_code == 403, r.text
        assert "image/png" not in r.headers.get("Content-Type", "")
        wrong = requests.get(
            url,
            params={"src": "file:plain.fits"},
            headers={"Authorization": "token wrong"},
            timeout=30,
        )
        assert wrong.status_code == 403
    body = {"src": "file:plain.fits", "ra": [], "dec": []}
    r = requests.post(f"{server.url}lsstbox/image/world2pix", json=body, timeout=30)
    assert r.status_code == 403


def test_options(server: JupyterProcess) -> None:
    o = get(server, "options").json()
    assert o["stretches"] == ["linear", "log", "sqrt", "asinh", "zscale"]
    assert {"gray", "viridis", "magma", "inferno", "cividis"} <= set(o["cmaps"])
    assert o["max_out"] == 2048 and o["src_kinds"] == ["file", "did", "butler"]
    assert png(get(server, "tile", src="file:plain.fits", cmap="magma_r")).shape == (256, 256, 4)
