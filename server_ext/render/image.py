"""An open FITS image: which HDU is shown, its WCS and mask planes, and its pixels.

Two layouts are understood:

* the release's (Rubin DP1-like): an empty primary HDU with the metadata, then ``IMAGE`` (float32,
  with the WCS), ``MASK`` (int32, ``MP_<PLANE> = bit`` cards) and ``VARIANCE``, tile-compressed;
* any other FITS file: the first HDU holding a 2-d image (extra axes of length 1 are dropped), e.g.
  a SODA cutout (which has the release's layout) or a user's file.

Pixels are read with fitsio, which decompresses only the tiles a region touches.  Whole planes up
to a quarter of the cache's budget are decompressed once and kept in :data:`PLANES`, an LRU bounded
in bytes (``$LSSTBOX_RENDER_CACHE_MB``, default 512); larger planes are read region by region.
Open images (headers, WCS, zscale limits) are kept in a small LRU keyed by path, mtime and size, so
a file rewritten in place is read again.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RenderError, first_line

__all__ = ["PLANES", "ImageFile", "Plane", "PlaneCache", "open_image"]

#: keys of the primary header reported as ``metadata`` (those present)
METADATA_KEYS = (
    "INSTRUME",
    "TELESCOP",
    "OBJECT",
    "BAND",
    "FILTER",
    "VISIT",
    "DETECTOR",
    "DETNAME",
    "TRACT",
    "PATCH",
    "SKYMAP",
    "DATE-OBS",
    "MJD-OBS",
    "EXPTIME",
    "NVISITS",
    "SEEING",
    "AIRMASS",
    "ZEROPT",
)
_MAX_HDUS = 64  # HDUs looked at for a 2-d image


class PlaneCache:
    """A thread-safe LRU of numpy arrays bounded by their total ``nbytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(int(max_bytes), 0)
        self._items: OrderedDict[Any, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @property
    def max_item(self) -> int:
        """The largest array kept (a quarter of the budget): bigger planes are read by region."""
        return self.max_bytes // 4

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, key: Any) -> np.ndarray | None:
        with self._lock:
            arr = self._items.get(key)
            if arr is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return arr

    def put(self, key: Any, arr: np.ndarray) -> None:
        if arr.nbytes > self.max_item:
            return
        arr.setflags(write=False)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = arr
            self._bytes += arr.nbytes
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def _budget() -> int:
    try:
        mb = float(os.environ.get("LSSTBOX_RENDER_CACHE_MB", "512"))
    except ValueError:
        mb = 512.0
    return int(max(mb, 0.0) * (1 << 20))


#: the decompressed planes of all open images
PLANES = PlaneCache(_budget())


@dataclass(frozen=True)
class Plane:
    """One HDU's 2-d data: fitsio HDU number, EXTNAME, shape, leading length-1 axes, BLANK."""

    hdu: int
    name: str
    ny: int
    nx: int
    lead: int  # number of leading length-1 axes
    dtype: str  # "f4" (image, variance: float32) or "mask" (the file's integer type)
    blank: float | None = None  # BLANK of an integer image, as the value read (becomes NaN)
    nbytes_hint: int = 0


@dataclass
class ImageFile:
    """An open FITS image; thread-safe (reads and WCS calls go through :attr:`lock`)."""

    path: Path
    key: tuple[str, int, int]  # path, mtime_ns, size
    image: Plane
    mask: Plane | None
    variance: Plane | None
    mask_planes: dict[str, int]
    wcs: Any  # astropy WCS (2 celestial axes on the image's x, y) or None
    wcs_cards: dict[str, Any] | None
    bunit: str
    primary: dict[str, Any]  # primary (and image) header cards of METADATA_KEYS
    layout: str  # "release" or "fits"
    hdus: list[str]
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _limits: tuple[float, float] | None = field(default=None, repr=False)

    @property
    def width(self) -> int:
        return self.image.nx

    @property
    def height(self) -> int:
        return self.image.ny

    # -- pixels ---------------------------------------------------------------------------------
    def _fitsio(self) -> Any:
        import fitsio

        try:
            return fitsio.FITS(str(self.path))
        except Exception as e:
            raise RenderError(f"{self.path.name}: damaged FITS file ({first_line(e)})", 422) from None

    def _read(self, plane: Plane, ys: slice | None, xs: slice | None) -> np.ndarray:
        """Read ``plane`` (whole, or the region ``ys, xs``) from the file as float32 / int."""
        try:
            with self._fitsio() as f:
                hdu = f[plane.hdu]
                if ys is None or xs is None:
                    data = hdu.read()
                else:
                    data = hdu[(*([slice(0, 1)] * plane.lead), ys, xs)]
        except RenderError:
            raise
        except Exception as e:  # truncated data, a corrupt tile: cfitsio says why
            raise RenderError(
                f"{self.path.name}: damaged FITS file, HDU {plane.hdu} cannot be read ({first_line(e)})", 422
            ) from None
        data = np.asarray(data)
        data = data.reshape(data.shape[-2:]) if data.ndim != 2 else data
        if plane.dtype == "f4":
            out = np.asarray(data, dtype=np.float32)  # a fresh array: NaNs may be written in place
            if plane.blank is not None:
                out[data == np.asarray(plane.blank, dtype=data.dtype)] = np.nan
            return out
        return data if data.dtype.kind in "iu" else np.asarray(data, dtype=np.int64)

    def plane_data(self, plane: Plane) -> np.ndarray | None:
        """The whole decompressed plane from the cache (read and cached now if small enough), or
        None for a plane too large for the cache."""
        key = (*self.key, plane.hdu)
        arr = PLANES.get(key)
        if arr is not None:
            return arr
        if plane.nbytes_hint > PLANES.max_item:
            return None
        with self.lock:  # concurrent tiles of a new image decompress it once
            arr = PLANES.get(key)
            if arr is None:
                arr = self._read(plane, None, None)
                PLANES.put(key, arr)
        return arr

    def region(self, plane: Plane, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """``plane[y0:y1, x0:x1]`` (inside the image)."""
        whole = self.plane_data(plane)
        if whole is not None:
            return whole[y0:y1, x0:x1]
        return self._read(plane, slice(y0, y1), slice(x0, x1))

    def limits(self) -> tuple[float, float]:
        """zscale limits (:class:`astropy.visualization.ZScaleInterval`) of the image, computed once
        from a subsample (the whole plane when cached, else its central 2048² pixels)."""
        if self._limits is not None:
            return self._limits
        from astropy.visualization import ZScaleInterval

        whole = self.plane_data(self.image)
        if whole is None:
            h, w = min(self.height, 2048), min(self.width, 2048)
            y0, x0 = (self.height - h) // 2, (self.width - w) // 2
            whole = self._read(self.image, slice(y0, y0 + h), slice(x0, x0 + w))
        step = max(1, int(np.sqrt(whole.size / 250_000)))
        sample = whole[::step, ::step]
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            lo, hi = 0.0, 1.0
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lo, hi = (float(v) for v in ZScaleInterval().get_limits(sample))
            if not (np.isfinite(lo) and np.isfinite(hi)):
                lo, hi = float(np.nanmin(sample)), float(np.nanmax(sample))
            if hi <= lo:
                hi = lo + max(abs(lo) * 1e-6, 1e-12)
        self._limits = (lo, hi)
        return self._limits

    # -- coordinates ----------------------------------------------------------------------------
    def pix2world(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(ra, dec)`` in degrees of 0-based pixel positions (NaN where undefined)."""
        if self.wcs is None:
            raise RenderError(f"{self.path.name} has no celestial WCS", 422)
        with self.lock, np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            world = self.wcs.pixel_to_world_values(x, y)
        lng, lat = self.wcs.wcs.lng, self.wcs.wcs.lat
        ra = np.asarray(world[lng], dtype=float) % 360.0
        return ra, np.asarray(world[lat], dtype=float)

    def world2pix(self, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """0-based pixel positions of ``(ra, dec)`` degrees (NaN where the projection fails)."""
        if self.wcs is None:
            raise RenderError(f"{self.path.name} has no celestial WCS", 422)
        world = [ra, dec] if self.wcs.wcs.lng == 0 else [dec, ra]
        with self.lock, np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.wcs.has_distortion:
                x, y = self.wcs.all_world2pix(*world, 0, quiet=True)
            else:
                x, y = self.wcs.wcs_world2pix(*world, 0)
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether positions fall on a pixel (pixel ``i`` spans ``[i - 0.5, i + 0.5)``)."""
        with np.errstate(invalid="ignore"):
            return (x >= -0.5) & (x < self.width - 0.5) & (y >= -0.5) & (y < self.height - 0.5)

    # -- description ----------------------------------------------------------------------------
    def title(self, product: str = "") -> str:
        p = self.primary
        band = p.get("BAND") or p.get("FILTER") or ""
        head = " ".join(str(s) for s in (product, band) if s)
        if "VISIT" in p:
            det = f"detector {p.get('DETECTOR', '?')}"
            if p.get("DETNAME"):
                det += f" ({p['DETNAME']})"
            parts = [head, f"visit {p['VISIT']}", det]
        elif "TRACT" in p:
            parts = [head, f"tract {p['TRACT']}", f"patch {p.get('PATCH', '?')}"]
        else:
            parts = [str(p.get("OBJECT") or self.path.name), head]
        return " · ".join(s for s in parts if s)


# -- opening --------------------------------------------------------------------------------------

_OPEN_LOCK = threading.Lock()
_OPEN: OrderedDict[tuple[str, int, int], ImageFile] = OrderedDict()
_OPEN_MAX = 64
_FITS_MAGIC = b"SIMPLE  ="
_GZIP_MAGIC = b"\x1f\x8b"


def open_image(path: Path) -> ImageFile:
    """The image of the FITS file ``path`` (cached by path, mtime and size)."""
    try:
        st = path.stat()
    except OSError:
        raise RenderError(f"the file {path.name} is missing", 404) from None
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _OPEN_LOCK:
        hit = _OPEN.get(key)
        if hit is not None:
            _OPEN.move_to_end(key)
            return hit
    img = _open(path, key)
    with _OPEN_LOCK:
        _OPEN[key] = img
        while len(_OPEN) > _OPEN_MAX:
            _OPEN.popitem(last=False)
    return img


def _check_magic(path: Path) -> None:
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_FITS_MAGIC))
    except OSError as e:
        raise RenderError(f"{path.name} cannot be read ({first_line(e)})", 404) from None
    if not (head.startswith(_FITS_MAGIC) or head.startswith(_GZIP_MAGIC)):
        raise RenderError(f"{path.name} is not a FITS file (it does not start with SIMPLE  =)", 415)


def _records(hdr: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rec in hdr.records():
        name = rec.get("name")
        if name and name not in ("COMMENT", "HISTORY", "CONTINUE") and name not in out:
            out[str(name).upper()] = rec.get("value")
    return out


def _plane(f: Any, i: int, name: str, dtype: str) -> Plane | None:
    """The 2-d image of HDU ``i`` (extra leading axes of length 1 allowed), or None."""
    hdu = f[i]
    if hdu.get_exttype() != "IMAGE_HDU":
        return None
    dims = [int(d) for d in (hdu.get_info().get("dims") or [])]
    if len(dims) < 2 or any(d != 1 for d in dims[:-2]) or dims[-1] < 1 or dims[-2] < 1:
        return None
    ny, nx = dims[-2], dims[-1]
    blank = None
    if dtype == "f4":
        h = hdu.read_header()
        bitpix = h.get("ZBITPIX", h.get("BITPIX"))
        if isinstance(bitpix, int) and bitpix > 0 and isinstance(h.get("BLANK"), int):
            scale, zero = h.get("BSCALE", 1), h.get("BZERO", 0)
            if isinstance(scale, (int, float)) and isinstance(zero, (int, float)):
                blank = float(h["BLANK"]) * scale + zero  # the physical value cfitsio returns
    return Plane(i, name, ny, nx, len(dims) - 2, dtype, blank, ny * nx * 4)


def _open(path: Path, key: tuple[str, int, int]) -> ImageFile:
    import fitsio

    _check_magic(path)
    try:
        f = fitsio.FITS(str(path))
    except Exception as e:
        raise RenderError(f"{path.name}: damaged FITS file ({first_line(e)})", 422) from None
    try:
        with f:
            return _describe(f, path, key)
    except RenderError:
        raise
    except Exception as e:  # a header cfitsio cannot parse, a truncated HDU
        raise RenderError(f"{path.name}: damaged FITS file ({first_line(e)})", 422) from None


def _describe(f: Any, path: Path, key: tuple[str, int, int]) -> ImageFile:
    n = min(len(f), _MAX_HDUS)
    names = [f[i].get_extname().upper() for i in range(n)]
    shown = [f"{i}:{nm or f[i].get_exttype()}" for i, nm in enumerate(names)]
    mask = variance = None
    mask_planes: dict[str, int] = {}
    image = _plane(f, names.index("IMAGE"), "IMAGE", "f4") if "IMAGE" in names else None
    if image is not None:
        layout = "release"
        if "MASK" in names:
            mask = _plane(f, names.index("MASK"), "MASK", "mask")
            if mask is not None and (mask.ny, mask.nx) != (image.ny, image.nx):
                mask = None
            if mask is not None:
                mrec = _records(f[mask.hdu].read_header())
                mask_planes = {
                    k[3:]: int(v)
                    for k, v in mrec.items()
                    if k.startswith("MP_") and isinstance(v, int) and 0 <= v < 63
                }
        if "VARIANCE" in names:
            variance = _plane(f, names.index("VARIANCE"), "VARIANCE", "f4")
            if variance is not None and (variance.ny, variance.nx) != (image.ny, image.nx):
                variance = None
    else:
        layout = "fits"
        for i in range(n):
            image = _plane(f, i, names[i] or ("PRIMARY" if i == 0 else f"HDU{i}"), "f4")
            if image is not None:
                break
    if image is None:
        raise RenderError(f"no 2-d image in {path.name} (HDUs: {', '.join(shown)})", 422)
    primary = _records(f[0].read_header())
    image_rec = _records(f[image.hdu].read_header())
    meta = {k: primary.get(k, image_rec.get(k)) for k in METADATA_KEYS}
    meta = {k: v for k, v in meta.items() if v is not None and v != ""}
    bunit = str(image_rec.get("BUNIT") or primary.get("BUNIT") or "")
    wcs, cards = _celestial_wcs(f, image)
    return ImageFile(
        path=path,
        key=key,
        image=image,
        mask=mask,
        variance=variance,
        mask_planes=mask_planes,
        wcs=wcs,
        wcs_cards=cards,
        bunit=bunit,
        primary=meta,
        layout=layout,
        hdus=shown,
    )


_WCS_LOCK = threading.Lock()


def _celestial_wcs(f: Any, image: Plane) -> tuple[Any, dict[str, Any] | None]:
    """The image's celestial WCS (on its x, y axes) and its FITS cards with ``kind``; or ``(None,
    None)`` when the header has none or astropy cannot make one of it."""
    from astropy.wcs import WCS

    from kernel_lib.release.exposure import _astropy_header

    try:
        header = _astropy_header(f[image.hdu].read_header())
        with _WCS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = WCS(header, relax=True)
            if not full.has_celestial or {full.wcs.lng, full.wcs.lat} != {0, 1}:
                return None, None
            wcs = full.celestial if full.naxis > 2 else full
            cards = dict(wcs.to_header(relax=True))
    except Exception:  # an odd header: the image is shown without coordinates
        return None, None
    cards = {k: _jsonable(v) for k, v in cards.items() if k not in ("COMMENT", "HISTORY", "")}
    ctype = str(cards.get("CTYPE1", ""))
    proj = ctype[5:8].strip("-") if len(ctype) >= 8 else ctype
    kind = proj or "LINEAR"
    if wcs.sip is not None or ctype.endswith("-SIP"):
        kind = f"{proj}-SIP"
    elif wcs.has_distortion:
        kind = f"{proj}+distortion"
    cards["kind"] = kind
    return wcs, cards


def _jsonable(v: Any) -> Any:
    if isinstance(v, (bool, int, str)) or v is None:
        return v
    if isinstance(v, float):
        return v if np.isfinite(v) else None
    return str(v)


def clear_caches() -> None:
    """Forget open images and cached planes (tests, benchmarks' cold runs)."""
    with _OPEN_LOCK:
        _OPEN.clear()
    PLANES.clear()
