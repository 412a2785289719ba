"""HiPS 1.0 trees from the deep coadds: one FITS + PNG tree per band and one colour (PNG) tree.

The builder resamples the coadds straight onto the HEALPix grid, the way HipsGen does it:

* the deepest order ``K`` is the one whose HiPS pixels best match the coadd pixel scale
  (0.2"/px with 512-px tiles gives order 11);
* every pixel of an order-``K`` tile is a NESTED HEALPix cell of depth ``K + log2(tile_width)``;
  its centre comes from cdshealpix and is pushed through the coadd WCS; the coadd is sampled
  bilinearly (NaN-aware, NO_DATA pixels blank);
* orders ``K - 1`` down to 0 are 2 x 2 averages (of the non-blank children) of the order below;
* ``Norder3/Allsky.{fits,png}``, ``Moc.fits``, ``properties`` and a CDN-free ``index.html``
  complete each tree.

Tile pixel ordering (checked against Aladin HipsGen v12.001 output, see the tests): inside a
tile, the nested sub-index ``s`` of a pixel splits into ``x`` (its even bits) and ``y`` (its
odd bits).  The PNG tile (first row at the top) holds ``s`` at row ``x``, column ``y``; the FITS
tile is the same picture flipped vertically (FITS rows go bottom-up).  Internally every tile is
kept in the PNG ("display") orientation.

Each tree is built in a temporary directory inside ``out_dir`` and renamed into place once it is
complete, so a reader never sees a half-written tree.
"""

from __future__ import annotations

import concurrent.futures as cf
import html
import math
import multiprocessing as mp
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cdshealpix
import numpy as np
from astropy.coordinates import Latitude, Longitude
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from PIL import Image

from .model import BAND_RANGE_NM, BAND_WAVELENGTH_NM

__all__ = ["build_hips", "hips_max_order", "tile_path", "tile_sub_index"]

NO_DATA_BIT = 8  # LSST mask plane NO_DATA (``MP_NO_DATA`` in the MASK header when present)
ALLSKY_ORDER = 3
MIN_ORDER = 0  # HipsGen builds down to order 0, and its LINT expects the tree to reach hips_order_min
COLOR_TREE = "color"
_NAN = np.float32(np.nan)

ProgressFn = Callable[[int, int, str], Any]


# ----------------------------------------------------------------------------- HEALPix helpers


def hips_max_order(pixel_scale_arcsec: float, tile_width: int = 512) -> int:
    """The tile order whose HiPS pixels best match ``pixel_scale_arcsec`` (nearest in log scale)."""
    tile_order = round(math.log2(tile_width))
    scale_rad = math.radians(pixel_scale_arcsec / 3600.0)
    depth = round(math.log2(math.sqrt(math.pi / 3.0) / scale_rad))
    return max(0, depth - tile_order)


def hips_pixel_scale_deg(order: int, tile_width: int) -> float:
    """Side of one HiPS pixel (degrees) of a tile at ``order``."""
    nside = (1 << order) * tile_width
    return math.degrees(math.sqrt(math.pi / 3.0) / nside)


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """Spread the bits of ``v`` to the even bit positions (Morton interleave helper)."""
    v = v.astype(np.uint64)
    out = np.zeros_like(v)
    for b in range(32):
        out |= ((v >> np.uint64(b)) & np.uint64(1)) << np.uint64(2 * b)
        if not (v >> np.uint64(b + 1)).any():
            break
    return out


def tile_sub_index(tile_width: int) -> np.ndarray:
    """(w, w) array of the nested sub-index of every pixel of a tile, PNG (display) orientation.

    Row ``x`` and column ``y`` hold ``s`` with ``x`` = even bits and ``y`` = odd bits of ``s``;
    the FITS tile is this array flipped upside down (``[::-1]``).
    """
    r = np.arange(tile_width, dtype=np.uint64)
    return _spread_bits(r)[:, None] | (_spread_bits(r)[None, :] << np.uint64(1))


def tile_path(root: Path, order: int, npix: int, ext: str) -> Path:
    return root / f"Norder{order}" / f"Dir{(npix // 10000) * 10000}" / f"Npix{npix}.{ext}"


# ----------------------------------------------------------------------------- inputs


@dataclass
class _Coadd:
    path: Path
    band: str
    image: np.ndarray  # float32, NaN where blank / NO_DATA
    wcs: WCS
    geom: int = -1  # index of the shared projection group
    offset: tuple[float, float] = (0.0, 0.0)  # crpix - crpix(group reference)
    t_range: tuple[float, float] | None = None
    has_blank: bool = True


def _quiet_wcs(header: fits.Header) -> WCS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header, naxis=2)


def _mjd_range(*headers: fits.Header) -> tuple[float, float] | None:
    for h in headers:
        beg = h.get("MJD-BEG", h.get("MJD-OBS"))
        end = h.get("MJD-END", beg)
        if isinstance(beg, (int, float)) and isinstance(end, (int, float)):
            if math.isfinite(beg) and math.isfinite(end):
                return float(beg), float(end)
    return None


def _load_coadd(path: Path, band: str) -> _Coadd:
    with fits.open(path, memmap=False) as hdul:
        names = [h.name.upper() for h in hdul]
        ext = "IMAGE" if "IMAGE" in names else next(i for i, h in enumerate(hdul) if h.data is not None)
        img_hdu = hdul[ext]
        image = np.array(img_hdu.data, dtype=np.float32)
        header = img_hdu.header.copy()
        if "MASK" in names:
            mhdu = hdul["MASK"]
            bit = int(mhdu.header.get("MP_NO_DATA", NO_DATA_BIT))
            image[(np.asarray(mhdu.data).astype(np.int64) & (1 << bit)) != 0] = np.nan
        t_range = _mjd_range(hdul[0].header, header)
    has_blank = bool(np.isnan(image).any())
    return _Coadd(Path(path), band, image, _quiet_wcs(header), t_range=t_range, has_blank=has_blank)


def _group_geometries(coadds: list[_Coadd]) -> list[WCS]:
    """Group coadds sharing one projection (same tract WCS up to CRPIX); returns the references."""
    refs: list[WCS] = []
    keys: dict[tuple, int] = {}
    for c in coadds:
        w = c.wcs.wcs
        simple = not (c.wcs.sip or c.wcs.cpdis1 or c.wcs.cpdis2 or c.wcs.det2im1 or c.wcs.det2im2)
        key: tuple = (
            tuple(w.ctype),
            tuple(np.round(w.crval, 12)),
            tuple(np.round(c.wcs.pixel_scale_matrix.ravel(), 15)),
            float(w.lonpole),
            float(w.latpole),
            str(w.radesys),
        )
        if not simple:
            key = ("distorted", str(c.path))
        if key not in keys:
            keys[key] = len(refs)
            refs.append(c.wcs)
        c.geom = keys[key]
        ref = refs[c.geom]
        c.offset = (float(w.crpix[0] - ref.wcs.crpix[0]), float(w.crpix[1] - ref.wcs.crpix[1]))
    return refs


def _footprint(c: _Coadd) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = c.image.shape
    px = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
    py = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
    ra, dec = c.wcs.wcs_pix2world(px, py, 0)
    return np.asarray(ra, float), np.asarray(dec, float)


def _covering_tiles(c: _Coadd, order: int) -> np.ndarray:
    ra, dec = _footprint(c)
    ipix, _, _ = cdshealpix.nested.polygon_search(
        Longitude(ra, "deg"), Latitude(dec, "deg"), order, flat=True
    )
    return np.asarray(ipix, dtype=np.int64)


@dataclass(frozen=True)
class Stretch:
    """asinh stretch to 8 bits: ``asinh((v - lo) / soft) / asinh((hi - lo) / soft)``."""

    lo: float
    hi: float
    soft: float

    def apply(self, a: np.ndarray) -> np.ndarray:
        """uint8 of ``a`` (NaN -> 0)."""
        t = (a - np.float32(self.lo)) * np.float32(1.0 / self.soft)
        t = np.fmax(t, np.float32(0.0), out=t)  # fmax drops NaN: blank -> 0
        np.minimum(t, np.float32((self.hi - self.lo) / self.soft), out=t)
        y = np.arcsinh(t, out=t)
        y *= np.float32(255.0 / math.asinh((self.hi - self.lo) / self.soft))
        return (y + 0.5).astype(np.uint8)


def _band_stats(images: Iterable[np.ndarray]) -> tuple[Stretch, tuple[float, float]]:
    samples = []
    vmin, vmax = math.inf, -math.inf
    for img in images:
        fin = img[np.isfinite(img)]
        if fin.size:
            vmin, vmax = min(vmin, float(fin.min())), max(vmax, float(fin.max()))
            samples.append(fin[:: max(1, fin.size // 50_000)])
    if not samples:
        return Stretch(0.0, 1.0, 1.0), (0.0, 1.0)
    s = np.concatenate(samples).astype(np.float64)
    med = float(np.median(s))
    sigma = 1.4826 * float(np.median(np.abs(s - med)))
    if not sigma > 0:
        sigma = max(float(np.std(s)), 1e-6)
    lo = med - 1.0 * sigma
    hi = max(float(np.percentile(s, 99.95)), med + 30.0 * sigma)
    return Stretch(_round_sig(lo), _round_sig(hi), _round_sig(2.0 * sigma)), (vmin, vmax)


def _round_sig(v: float, digits: int = 4) -> float:
    return float(f"{v:.{digits}g}")


# ----------------------------------------------------------------------------- tile writing


def _fits_card(key: str, value: Any, comment: str = "") -> str:
    if isinstance(value, bool):
        v = f"{'T' if value else 'F':>20}"
    elif isinstance(value, int):
        v = f"{value:>20d}"
    elif isinstance(value, float):
        v = f"{value:>20.12G}"
    else:
        v = "'" + str(value).replace("'", "''").ljust(8) + "'"
    card = f"{key:<8}= {v}"
    if comment:
        card += f" / {comment}"
    return card[:80].ljust(80)


def _fits_bytes(cards: list[str], data_be: bytes) -> bytes:
    head = "".join(cards) + "END".ljust(80)
    head = head.ljust(-(-len(head) // 2880) * 2880)
    pad = (-len(data_be)) % 2880
    return head.encode("ascii") + data_be + b"\0" * pad


def _write_fits_tile(path: Path, disp: np.ndarray, order: int, npix: int, bunit: str) -> None:
    w = disp.shape[1]
    cards = [
        _fits_card("SIMPLE", True),
        _fits_card("BITPIX", -32),
        _fits_card("NAXIS", 2),
        _fits_card("NAXIS1", w),
        _fits_card("NAXIS2", disp.shape[0]),
        _fits_card("ORDER", order, "HEALPix order of the tile"),
        _fits_card("NPIX", npix, "HEALPix NESTED index of the tile"),
        _fits_card("BUNIT", bunit),
        _fits_card("COMMENT", "HiPS FITS tile generated by lsstbox"),
    ]
    cards[-1] = ("COMMENT   HiPS FITS tile generated by lsstbox").ljust(80)
    data = np.ascontiguousarray(disp[::-1], dtype=">f4").tobytes()
    path.write_bytes(_fits_bytes(cards, data))


def _write_png(path: Path, arr: np.ndarray, mode: str) -> None:
    # zlib Z_RLE: as small as level 6 on noisy sky, runs of blank pixels still collapse, ~10x faster
    Image.fromarray(arr, mode=mode).save(path, format="PNG", compress_level=1, compress_type=3)


def _grey_la(disp: np.ndarray, stretch: Stretch) -> np.ndarray:
    out = np.empty((*disp.shape, 2), np.uint8)
    out[..., 0] = stretch.apply(disp)
    out[..., 1] = np.where(np.isfinite(disp), 255, 0)
    return out


def _rgba(planes: list[np.ndarray | None], stretches: list[Stretch], w: int) -> np.ndarray:
    out = np.zeros((w, w, 4), np.uint8)
    alpha = np.zeros((w, w), bool)
    for k, (a, s) in enumerate(zip(planes, stretches, strict=True)):
        if a is None:
            continue
        fin = np.isfinite(a)
        out[..., k] = np.where(fin, s.apply(a), 0)
        alpha |= fin
    out[..., 3] = np.where(alpha, 255, 0)
    return out


def _reduce2(a: np.ndarray) -> np.ndarray:
    """2 x 2 mean of the non-blank pixels (NaN where all four are blank)."""
    q = (a[0::2, 0::2], a[1::2, 0::2], a[0::2, 1::2], a[1::2, 1::2])
    s = q[0] + q[1] + q[2] + q[3]
    bad = np.isnan(s)
    if not bad.any():
        s *= np.float32(0.25)
        return s
    fin = [np.isfinite(x) for x in q]
    n = (fin[0].astype(np.float32) + fin[1]) + (fin[2].astype(np.float32) + fin[3])
    tot = sum((np.where(f, x, np.float32(0.0)) for f, x in zip(fin, q, strict=True)), np.float32(0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, tot / n, _NAN).astype(np.float32)


def _reduce_block(a: np.ndarray, f: int) -> np.ndarray:
    h0, h1 = a.shape[0] // f, a.shape[1] // f
    b = a.reshape(h0, f, h1, f)
    fin = np.isfinite(b)
    s = np.where(fin, b, 0.0).sum(axis=(1, 3), dtype=np.float64)
    n = fin.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan).astype(np.float32)


# ----------------------------------------------------------------------------- the build state


@dataclass
class _Plan:
    tmp_roots: dict[str, Path]  # tree name -> temporary directory
    bands: list[str]
    colour: tuple[str, str, str] | None
    stretches: dict[str, Stretch]
    tile_width: int
    max_order: int
    min_order: int
    coadds: list[_Coadd]
    refs: list[WCS]
    tile_coadds: dict[int, list[int]]  # max-order tile -> coadd indices
    sub_index: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.uint64))


_PLAN: _Plan | None = None  # set in the parent before forking workers


@dataclass
class _Result:
    roots: list[tuple[int, dict[str, np.ndarray | None]]] = field(default_factory=list)
    counts: dict[str, dict[int, int]] = field(default_factory=dict)
    moc_cells: dict[str, list[int]] = field(default_factory=dict)
    kept: dict[int, dict[str, np.ndarray | None]] = field(default_factory=dict)
    allsky: dict[int, dict[str, np.ndarray | None]] = field(default_factory=dict)


class _Writer:
    def __init__(self, plan: _Plan, result: _Result):
        self.plan = plan
        self.result = result
        self.made_dirs: set[Path] = set()

    def _dir(self, p: Path) -> None:
        d = p.parent
        if d not in self.made_dirs:
            d.mkdir(parents=True, exist_ok=True)
            self.made_dirs.add(d)

    def write(self, order: int, npix: int, arrays: dict[str, np.ndarray | None]) -> None:
        plan, res = self.plan, self.result
        if order == ALLSKY_ORDER:
            res.allsky[npix] = arrays
        for band in plan.bands:
            a = arrays.get(band)
            if a is None:
                continue
            root = plan.tmp_roots[band]
            p = tile_path(root, order, npix, "fits")
            self._dir(p)
            _write_fits_tile(p, a, order, npix, "nJy")
            _write_png(p.with_suffix(".png"), _grey_la(a, plan.stretches[band]), "LA")
            res.counts.setdefault(band, {}).setdefault(order, 0)
            res.counts[band][order] += 1
            if order == plan.max_order:
                res.moc_cells.setdefault(band, []).append(npix)
        if plan.colour is not None:
            planes = [arrays.get(b) for b in plan.colour]
            if any(a is not None for a in planes):
                p = tile_path(plan.tmp_roots[COLOR_TREE], order, npix, "png")
                self._dir(p)
                rgba = _rgba(planes, [plan.stretches[b] for b in plan.colour], plan.tile_width)
                _write_png(p, rgba, "RGBA")
                res.counts.setdefault(COLOR_TREE, {}).setdefault(order, 0)
                res.counts[COLOR_TREE][order] += 1
                if order == plan.max_order:
                    res.moc_cells.setdefault(COLOR_TREE, []).append(npix)


class _Pyramid:
    """Streams tiles (in nested order) up the tree: each parent is the 2 x 2 mean of its children.

    Tiles reaching ``stop_order`` are kept in ``result.kept`` (not passed further down).
    """

    def __init__(self, writer: _Writer, stop_order: int, tile_width: int):
        self.writer = writer
        self.stop = stop_order
        self.w = tile_width
        self.stack: dict[int, tuple[int, dict[str, np.ndarray | None]]] = {}

    def add(self, order: int, npix: int, arrays: dict[str, np.ndarray | None], write: bool = True) -> None:
        if write:
            self.writer.write(order, npix, arrays)
        if order <= self.stop:
            self.writer.result.kept[npix] = arrays
            return
        parent, q = npix >> 2, npix & 3
        cur = self.stack.get(order - 1)
        if cur is not None and cur[0] != parent:
            self._flush(order - 1)
            cur = None
        if cur is None:
            cur = (parent, {})
            self.stack[order - 1] = cur
        h = self.w // 2
        r0, c0 = (q & 1) * h, (q >> 1) * h
        for band, a in arrays.items():
            if a is None:
                cur[1].setdefault(band, None)
                continue
            pa = cur[1].get(band)
            if pa is None:
                pa = np.full((self.w, self.w), _NAN, np.float32)
                cur[1][band] = pa
            pa[r0 : r0 + h, c0 : c0 + h] = _reduce2(a)

    def _flush(self, order: int) -> None:
        npix, arrays = self.stack.pop(order)
        self.add(order, npix, arrays)

    def finish(self) -> None:
        while self.stack:
            self._flush(max(self.stack))


def _sample_tile(plan: _Plan, npix: int) -> dict[str, np.ndarray | None]:
    """Resample the coadds onto one max-order tile (display orientation), per band."""
    w = plan.tile_width
    depth = plan.max_order + round(math.log2(w))
    ipix = (np.uint64(npix) << np.uint64(2 * (depth - plan.max_order))) | plan.sub_index.ravel()
    lon, lat = cdshealpix.nested.healpix_to_lonlat(ipix, depth, num_threads=1)
    lon_d, lat_d = lon.deg, lat.deg
    sums = {b: np.zeros(w * w, np.float32) for b in plan.bands}
    cnts = {b: np.zeros(w * w, np.uint8) for b in plan.bands}
    proj: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    samplers: dict[tuple, tuple | None] = {}
    for ci in plan.tile_coadds.get(npix, []):
        c = plan.coadds[ci]
        if c.geom not in proj:
            px, py = plan.refs[c.geom].wcs_world2pix(lon_d, lat_d, 0)
            proj[c.geom] = (np.asarray(px), np.asarray(py))
        ny, nx = c.image.shape
        key = (c.geom, c.offset, nx, ny)
        if key not in samplers:
            px, py = proj[c.geom]
            x = px + c.offset[0]
            y = py + c.offset[1]
            inside = np.nonzero((x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5))[0]
            if inside.size == 0:
                samplers[key] = None
            else:
                x, y = x[inside], y[inside]
                x0 = np.floor(x)
                y0 = np.floor(y)
                fx = (x - x0).astype(np.float32)
                fy = (y - y0).astype(np.float32)
                x0i = x0.astype(np.int64)
                y0i = y0.astype(np.int64)
                x1i = np.minimum(x0i + 1, nx - 1)
                y1i = np.minimum(y0i + 1, ny - 1)
                x0i = np.maximum(x0i, 0)
                y0i = np.maximum(y0i, 0)
                idx = (y0i * nx + x0i, y0i * nx + x1i, y1i * nx + x0i, y1i * nx + x1i)
                wts = ((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy)
                samplers[key] = (inside, idx, wts)
        smp = samplers[key]
        if smp is None:
            continue
        inside, idx, wts = smp
        flat = c.image.ravel()
        if not c.has_blank:
            val = flat[idx[0]] * wts[0]
            for ii, ww in zip(idx[1:], wts[1:], strict=True):
                val += flat[ii] * ww
            sums[c.band][inside] += val
            cnts[c.band][inside] += 1
            continue
        num = np.zeros(inside.size, np.float32)
        den = np.zeros(inside.size, np.float32)
        for ii, ww in zip(idx, wts, strict=True):
            v = flat[ii]
            fin = np.isfinite(v)
            num += np.where(fin, v * ww, np.float32(0.0))
            den += np.where(fin, ww, np.float32(0.0))
        ok = den > 1e-6
        sel = inside[ok]
        sums[c.band][sel] += num[ok] / den[ok]
        cnts[c.band][sel] += 1
    out: dict[str, np.ndarray | None] = {}
    for b in plan.bands:
        n = cnts[b]
        if not n.any():
            out[b] = None
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            a = np.where(n > 0, sums[b] / n, _NAN).astype(np.float32)
        out[b] = a.reshape(w, w)
    return out


def _run_group(tiles: list[int], stop_order: int) -> _Result:
    """Max-order tiles of one group (sorted), written with their ancestors down to ``stop_order``."""
    plan = _PLAN
    assert plan is not None
    result = _Result()
    pyr = _Pyramid(_Writer(plan, result), stop_order, plan.tile_width)
    for npix in sorted(tiles):
        arrays = _sample_tile(plan, npix)
        if all(a is None for a in arrays.values()):
            continue
        pyr.add(plan.max_order, npix, arrays)
    pyr.finish()
    return result


# ----------------------------------------------------------------------------- tree metadata


def _allsky(
    kept: dict[int, dict[str, np.ndarray | None]], tree: str, plan: _Plan
) -> tuple[np.ndarray, np.ndarray]:
    """The order-3 Allsky image (display orientation): float (bands) or RGBA (colour), and PNG data."""
    n_tiles = 12 * 4**ALLSKY_ORDER
    ncol = int(math.sqrt(n_tiles))
    nrow = -(-n_tiles // ncol)
    sw = min(64, plan.tile_width)
    f = plan.tile_width // sw
    if tree == COLOR_TREE:
        assert plan.colour is not None
        big = np.zeros((nrow * sw, ncol * sw, 4), np.uint8)
        for npix, arrays in kept.items():
            planes = [arrays.get(b) for b in plan.colour]
            if all(a is None for a in planes):
                continue
            small = [None if a is None else _reduce_block(a, f) for a in planes]
            rgba = _rgba(small, [plan.stretches[b] for b in plan.colour], sw)
            r, c = divmod(npix, ncol)
            big[r * sw : (r + 1) * sw, c * sw : (c + 1) * sw] = rgba
        return big, big
    fbig = np.full((nrow * sw, ncol * sw), np.nan, np.float32)
    for npix, arrays in kept.items():
        a = arrays.get(tree)
        if a is None:
            continue
        r, c = divmod(npix, ncol)
        fbig[r * sw : (r + 1) * sw, c * sw : (c + 1) * sw] = _reduce_block(a, f)
    return fbig, _grey_la(fbig, plan.stretches[tree])


def _write_moc(root: Path, cells: list[int], order: int):
    from mocpy import MOC

    ipix = np.unique(np.asarray(cells, dtype=np.uint64))
    moc = MOC.from_healpix_cells(ipix, np.full(ipix.shape, order, dtype=np.uint8), order)
    moc.save(root / "Moc.fits", format="fits", overwrite=True)
    return moc


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _properties(
    tree: str,
    *,
    release_name: str,
    plan: _Plan,
    n_tiles: int,
    sky_fraction: float,
    centre: tuple[float, float],
    fov: float,
    data_range: tuple[float, float] | None,
    t_range: tuple[float, float] | None,
    pixel_scale_deg: float,
    now: str,
) -> dict[str, str]:
    colour = tree == COLOR_TREE
    if colour:
        assert plan.colour is not None
        bands = list(plan.colour)
        lo_nm = min(BAND_RANGE_NM[b][0] for b in bands if b in BAND_RANGE_NM)
        hi_nm = max(BAND_RANGE_NM[b][1] for b in bands if b in BAND_RANGE_NM)
        title = f"{release_name} deep coadd colour ({'/'.join(bands)} as R/G/B)"
        desc = (
            f"Colour composite of the {release_name} deep coadds: red = {bands[0]}, green = {bands[1]}, "
            f"blue = {bands[2]}, each with an asinh stretch."
        )
    else:
        lo_nm, hi_nm = BAND_RANGE_NM.get(tree, (BAND_WAVELENGTH_NM.get(tree, 0.0),) * 2)
        title = f"{release_name} deep coadd {tree}"
        desc = (
            f"Deep coadds of the {release_name} data release in band {tree} (nJy per pixel, "
            f"background subtracted), resampled onto HEALPix."
        )
    props: dict[str, str] = {
        "creator_did": f"ivo://lsstbox/{release_name}/{tree}",
        "obs_title": title,
        "obs_description": desc,
        "obs_collection": f"lsstbox {release_name}",
        "prov_progenitor": f"lsstbox {release_name} deep_coadd images",
        "hips_creator": "lsstbox",
        "hips_builder": "lsstbox kernel_lib.release.hips",
        "dataproduct_type": "image",
        "hips_version": "1.4",
        "hips_release_date": now,
        "hips_creation_date": now,
        "hips_status": "public master clonableOnce",
        "hips_frame": "equatorial",
        "hips_order": str(plan.max_order),
        "hips_order_min": str(plan.min_order),
        "hips_tile_width": str(plan.tile_width),
        "hips_tile_format": "png" if colour else "fits png",
        "hips_sampling": "bilinear",
        "hips_overlay": "mean",
        "hips_hierarchy": "mean",
        "hips_pixel_scale": f"{hips_pixel_scale_deg(plan.max_order, plan.tile_width):.4E}",
        "s_pixel_scale": f"{pixel_scale_deg:.4E}",
        "hips_initial_ra": f"{centre[0]:.6f}",
        "hips_initial_dec": f"{centre[1]:.6f}",
        "hips_initial_fov": f"{fov:.5f}",
        "moc_sky_fraction": f"{sky_fraction:.4E}",
        "hips_nb_tiles": str(n_tiles),
        "obs_regime": "Optical",
        "em_min": f"{lo_nm * 1e-9:.4E}",
        "em_max": f"{hi_nm * 1e-9:.4E}",
        "client_category": "Image/Optical/lsstbox",
        "client_sort_key": f"99-{tree}",
    }
    if colour:
        assert plan.colour is not None
        props["dataproduct_subtype"] = "color"
        for key, b in zip(("hips_rgb_red", "hips_rgb_green", "hips_rgb_blue"), plan.colour, strict=True):
            props[key] = f"{b} [{_stretch_text(plan.stretches[b])}]"
    else:
        st = plan.stretches[tree]
        assert data_range is not None
        props["hips_pixel_bitpix"] = "-32"
        props["data_pixel_bitpix"] = "-32"
        props["hips_pixel_cut"] = f"{_fmt(st.lo)} {_fmt(st.hi)}"
        props["hips_data_range"] = f"{_fmt(data_range[0])} {_fmt(data_range[1])}"
        props["hips_pixel_func"] = "asinh"
        props["lsstbox_png_stretch"] = _stretch_text(st)
        props["bunit"] = "nJy"
    if t_range is not None:
        props["t_min"] = f"{t_range[0]:.5f}"
        props["t_max"] = f"{t_range[1]:.5f}"
    return props


def _stretch_text(st: Stretch) -> str:
    return f"asinh((v - {_fmt(st.lo)}) / {_fmt(st.soft)}) scaled to 255 at {_fmt(st.hi)}"


def _write_properties(root: Path, props: dict[str, str]) -> None:
    lines = [f"{k:<20} = {v}" for k, v in props.items()]
    (root / "properties").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_index(root: Path, props: dict[str, str], counts: dict[int, int]) -> None:
    esc = html.escape
    rows = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in props.items())
    orders = "\n".join(
        f'<li><a href="Norder{o}/">Norder{o}</a>: {counts[o]} tiles</li>' for o in sorted(counts)
    )
    fmts = props["hips_tile_format"].split()
    allsky = " ".join(f'<a href="Norder3/Allsky.{f}">Allsky.{f}</a>' for f in fmts)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{esc(props["obs_title"])}</title>
<style>body{{font-family:sans-serif;margin:2em}}th{{text-align:left;padding-right:1em}}</style></head>
<body>
<h1>{esc(props["obs_title"])}</h1>
<p>{esc(props.get("obs_description", ""))}</p>
<p>This directory is a HiPS (IVOA Hierarchical Progressive Survey 1.0) tree.
Open it in a HiPS client (Aladin, Aladin Lite, ipyaladin) with this page's directory URL.</p>
<ul>
<li><a href="properties">properties</a></li>
<li><a href="Moc.fits">Moc.fits</a> (coverage)</li>
<li>{allsky}</li>
{orders}
</ul>
<table>
{rows}
</table>
</body>
</html>
"""
    (root / "index.html").write_text(page, encoding="utf-8")


def _sky_centre(coadds: list[_Coadd]) -> tuple[tuple[float, float], float]:
    ras, decs = [], []
    for c in coadds:
        r, d = _footprint(c)
        ras.append(r)
        decs.append(d)
    ra = np.radians(np.concatenate(ras))
    dec = np.radians(np.concatenate(decs))
    v = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    m = v.mean(axis=1)
    m /= np.linalg.norm(m)
    cra = math.degrees(math.atan2(m[1], m[0])) % 360.0
    cdec = math.degrees(math.asin(max(-1.0, min(1.0, m[2]))))
    sep = np.degrees(np.arccos(np.clip(m @ v, -1.0, 1.0)))
    return (cra, cdec), float(max(2.0 * sep.max() * 1.1, 1.0 / 60.0))


def _replace_dir(tmp: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------- the entry point


def build_hips(
    coadds: dict[str, list[Path]],
    out_dir: Path,
    *,
    release_name: str,
    colour: tuple[str, str, str] = ("i", "r", "g"),
    tile_width: int = 512,
    workers: int = 2,
    progress: ProgressFn | None = None,
    max_order: int | None = None,
    t_range: tuple[float, float] | None = None,
) -> list[dict]:
    """Build one HiPS tree per band (FITS + PNG tiles) and a colour tree (PNG) under ``out_dir``.

    ``coadds`` maps a band to its deep-coadd files (multi-extension FITS, ``IMAGE``/``MASK``).
    ``colour`` names the bands shown as red, green, blue (the colour tree is skipped when one is
    missing).  ``progress(done, total, message)`` is called as work advances.  ``max_order``
    overrides the order matched to the coadd pixel scale; ``t_range`` (MJD) overrides the
    ``t_min``/``t_max`` found in the coadd headers (``MJD-BEG``/``MJD-END``).

    Returns one dict per tree: ``id`` (the tree's directory name: the band or ``"color"``),
    ``band``, ``path``, ``title``, ``max_order``, ``n_tiles``, ``formats``, ``creator_did``.
    """
    global _PLAN
    if tile_width < 8 or tile_width & (tile_width - 1):
        raise ValueError(f"tile_width must be a power of two >= 8, got {tile_width}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bands = [b for b, paths in coadds.items() if paths]
    if not bands:
        raise ValueError("no coadds given")

    def report(done: int, total: int, msg: str) -> None:
        if progress is not None:
            progress(done, total, msg)

    # -- load
    loaded: list[_Coadd] = []
    n_files = sum(len(coadds[b]) for b in bands)
    for b in bands:
        for p in coadds[b]:
            loaded.append(_load_coadd(Path(p), b))
            report(len(loaded), n_files, "reading coadds")
    refs = _group_geometries(loaded)
    scales = [float(np.sqrt(abs(np.linalg.det(c.wcs.pixel_scale_matrix)))) for c in loaded]  # deg / pixel
    pixel_scale_deg = float(np.median(scales))
    order = max_order if max_order is not None else hips_max_order(pixel_scale_deg * 3600.0, tile_width)
    min_order = min(MIN_ORDER, order)
    colour_bands = tuple(colour) if colour and all(b in bands for b in colour) else None

    stretches: dict[str, Stretch] = {}
    ranges: dict[str, tuple[float, float]] = {}
    for b in bands:
        stretches[b], ranges[b] = _band_stats(c.image for c in loaded if c.band == b)

    tile_coadds: dict[int, list[int]] = {}
    for i, c in enumerate(loaded):
        for t in _covering_tiles(c, order):
            tile_coadds.setdefault(int(t), []).append(i)
    all_tiles = sorted(tile_coadds)

    trees = list(bands) + ([COLOR_TREE] if colour_bands else [])
    tag = uuid.uuid4().hex[:8]
    tmp_roots = {t: out_dir / f".tmp-{t}-{tag}" for t in trees}
    for p in tmp_roots.values():
        p.mkdir()
    plan = _Plan(
        tmp_roots=tmp_roots,
        bands=bands,
        colour=colour_bands,  # type: ignore[arg-type]
        stretches=stretches,
        tile_width=tile_width,
        max_order=order,
        min_order=min_order,
        coadds=loaded,
        refs=refs,
        tile_coadds=tile_coadds,
        sub_index=tile_sub_index(tile_width),
    )
    try:
        results = _run_all(plan, all_tiles, workers, report)
        counts: dict[str, dict[int, int]] = {t: {} for t in trees}
        moc_cells: dict[str, list[int]] = {t: [] for t in trees}
        allsky: dict[int, dict[str, np.ndarray | None]] = {}
        for r in results:
            for t, per in r.counts.items():
                for o, n in per.items():
                    counts[t][o] = counts[t].get(o, 0) + n
            for t, cells in r.moc_cells.items():
                moc_cells[t].extend(cells)
            allsky.update(r.allsky)

        report(0, len(trees), "writing metadata")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ")
        headers_t = [c.t_range for c in loaded if c.t_range is not None]
        t_rng = t_range or (
            (min(t[0] for t in headers_t), max(t[1] for t in headers_t)) if headers_t else None
        )
        out: list[dict] = []
        for k, t in enumerate(trees):
            root = tmp_roots[t]
            if not moc_cells[t]:
                shutil.rmtree(root, ignore_errors=True)
                continue
            tree_coadds = [c for c in loaded if (c.band == t or (t == COLOR_TREE and c.band in colour))]
            centre, fov = _sky_centre(tree_coadds)
            moc = _write_moc(root, moc_cells[t], order)
            fsky, png = _allsky(allsky, t, plan)
            (root / f"Norder{ALLSKY_ORDER}").mkdir(exist_ok=True)
            if t == COLOR_TREE:
                _write_png(root / f"Norder{ALLSKY_ORDER}" / "Allsky.png", png, "RGBA")
            else:
                _write_png(root / f"Norder{ALLSKY_ORDER}" / "Allsky.png", png, "LA")
                hdu = fits.PrimaryHDU(np.ascontiguousarray(fsky[::-1]))
                hdu.header["BUNIT"] = "nJy"
                hdu.writeto(root / f"Norder{ALLSKY_ORDER}" / "Allsky.fits")
            n_tiles = sum(counts[t].values())
            props = _properties(
                t,
                release_name=release_name,
                plan=plan,
                n_tiles=n_tiles,
                sky_fraction=float(moc.sky_fraction),
                centre=centre,
                fov=fov,
                data_range=ranges.get(t),
                t_range=t_rng,
                pixel_scale_deg=pixel_scale_deg,
                now=now,
            )
            _write_properties(root, props)
            _write_index(root, props, counts[t])
            final = out_dir / t
            _replace_dir(root, final)
            out.append(
                {
                    "id": t,
                    "band": t,
                    "path": final,
                    "title": props["obs_title"],
                    "max_order": order,
                    "n_tiles": n_tiles,
                    "formats": props["hips_tile_format"].split(),
                    "creator_did": props["creator_did"],
                }
            )
            report(k + 1, len(trees), "writing metadata")
        return out
    finally:
        _PLAN = None
        for p in tmp_roots.values():
            if p.exists():
                shutil.rmtree(p, ignore_errors=True)


def _run_all(
    plan: _Plan, tiles: list[int], workers: int, report: Callable[[int, int, str], None]
) -> list[_Result]:
    global _PLAN
    _PLAN = plan
    k, floor = plan.max_order, plan.min_order
    if workers <= 1 or len(tiles) < 2 or k == floor:
        report(0, 1, "tiles")
        res = _run_group(tiles, floor)
        report(1, 1, "tiles")
        return [res]
    # groups of max-order tiles sharing an ancestor at order k - d, one job each
    arr = np.asarray(tiles, dtype=np.int64)
    d_max = k - floor
    depth = 0
    for d in range(min(3, d_max), -1, -1):
        if len(np.unique(arr >> (2 * d))) >= 3 * workers or d == 0:
            depth = d
            break
    groups: dict[int, list[int]] = {}
    for t in tiles:
        groups.setdefault(t >> (2 * depth), []).append(t)
    stop = k - depth
    ctx = mp.get_context("fork")
    results: list[_Result] = []
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
        futs = [ex.submit(_run_group, g, stop) for _, g in sorted(groups.items())]
        for i, f in enumerate(cf.as_completed(futs)):
            results.append(f.result())
            report(i + 1, len(futs), "tiles")
    # the group roots (order ``stop``) continue down to ``floor`` here
    low = _Result()
    if stop > floor:
        roots: dict[int, dict[str, np.ndarray | None]] = {}
        for r in results:
            roots.update(r.kept)
            r.kept = {}
        pyr = _Pyramid(_Writer(plan, low), floor, plan.tile_width)
        for npix in sorted(roots):
            pyr.add(stop, npix, roots[npix], write=False)
        pyr.finish()
    results.append(low)
    return results
