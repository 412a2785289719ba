"""An LSST-like exposure (image, mask, variance, WCS, metadata) and its FITS persistence.

The on-disk layout follows Rubin's DP1 ``visit_image`` / ``deep_coadd`` files: an empty primary
HDU carrying the metadata, then the ``IMAGE`` (nJy), ``MASK`` (bit planes announced by
``MP_<NAME>`` keywords) and ``VARIANCE`` (nJy**2) extensions, each with the WCS.  The planes are
tile-compressed like DP1: the float planes with ``RICE_1`` after quantisation with subtractive
dither (lossy, the quantisation step a small fraction of the pixel noise), the mask losslessly.

The quantisation step is given to CFITSIO as an *absolute* value computed from the variance
plane (``ZQUANTIZ`` noise estimation per tile costs about twice the compression itself):
``IMAGE`` is quantised in steps of ``sqrt(median(variance)) / IMAGE_QUANTIZE_LEVEL`` and
``VARIANCE`` in steps of ``median(variance) / VARIANCE_QUANTIZE_LEVEL``.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import fitsio
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

__all__ = [
    "IMAGE_QUANTIZE_LEVEL",
    "MASK_PLANES",
    "VARIANCE_QUANTIZE_LEVEL",
    "Exposure",
    "check_bbox",
    "mask_bits",
    "read_exposure",
    "write_exposure",
]

#: LSST afw mask plane bit numbers.
MASK_PLANES: dict[str, int] = {
    "BAD": 0,
    "SAT": 1,
    "INTRP": 2,
    "CR": 3,
    "EDGE": 4,
    "DETECTED": 5,
    "DETECTED_NEGATIVE": 6,
    "SUSPECT": 7,
    "NO_DATA": 8,
}

#: image quantisation step = pixel noise / this (RICE_1 keeps ~log2(level) + 2 bits of noise).
IMAGE_QUANTIZE_LEVEL = 16.0
#: variance quantisation step = median variance / this.
VARIANCE_QUANTIZE_LEVEL = 1000.0

_EXTNAMES = ("IMAGE", "MASK", "VARIANCE")
# keywords the WCS header and the structural keywords own; never copied from metadata into HDUs
_STRUCTURAL = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT"}


def mask_bits(*names: str) -> int:
    """The OR of the bit values of the named mask planes."""
    out = 0
    for n in names:
        try:
            out |= 1 << MASK_PLANES[n]
        except KeyError:
            raise ValueError(f"unknown mask plane {n!r}; known: {', '.join(MASK_PLANES)}") from None
    return out


@dataclass(frozen=True, eq=False)
class Exposure:
    """Image (nJy, float32), mask (int32 bits of :data:`MASK_PLANES`), variance (nJy², float32).

    ``wcs`` maps 0-based pixel positions of the arrays (``array[y, x]``) to ICRS; ``metadata``
    is the primary header (instrument, band, times, ids ...).
    """

    image: np.ndarray
    mask: np.ndarray
    variance: np.ndarray
    wcs: WCS
    metadata: fits.Header

    def __post_init__(self) -> None:
        shape = np.shape(self.image)
        if len(shape) != 2:
            raise ValueError(f"Exposure image must be 2-d, got shape {shape}")
        if np.shape(self.mask) != shape or np.shape(self.variance) != shape:
            raise ValueError(
                f"Exposure planes differ in shape: image {shape}, mask {np.shape(self.mask)}, "
                f"variance {np.shape(self.variance)}"
            )
        # normalise dtypes without copying when they are already right
        object.__setattr__(self, "image", np.asarray(self.image, dtype=np.float32))
        object.__setattr__(self, "mask", np.asarray(self.mask, dtype=np.int32))
        object.__setattr__(self, "variance", np.asarray(self.variance, dtype=np.float32))

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    def plane(self, name: str) -> np.ndarray:
        """Boolean array of the pixels where mask plane ``name`` is set."""
        return (self.mask & mask_bits(name)) != 0


# --------------------------------------------------------------------------------------------
# writing


def _header_records(header: fits.Header) -> list[dict]:
    recs = []
    for card in header.cards:
        key = card.keyword
        if not key or key in _STRUCTURAL:
            continue
        if key in ("COMMENT", "HISTORY"):
            recs.append({"name": key, "value": str(card.value)})
        else:
            recs.append({"name": key, "value": card.value, "comment": card.comment})
    return recs


def _wcs_header(wcs: WCS) -> fits.Header:
    h = wcs.to_header()
    # astropy adds DATE-OBS/MJD-OBS only when set on the WCS; keep the time in the primary HDU
    for k in ("DATEREF", "MJDREFI", "MJDREFF", "MJD-OBS", "DATE-OBS"):
        h.remove(k, ignore_missing=True, remove_all=True)
    return h


def _dither_seed(metadata: fits.Header, plane: int) -> int:
    """A deterministic ZDITHER0 (1..10000) so identical inputs give identical files."""
    key = "|".join(f"{k}={metadata.get(k)}" for k in ("VISIT", "DETECTOR", "TRACT", "PATCH", "BAND"))
    return 1 + (zlib.crc32(f"{key}|{plane}".encode()) % 10000)


def write_exposure(path: str | os.PathLike, exp: Exposure, *, compress: bool | str = True) -> int:
    """Write ``exp`` as a multi-extension FITS file (atomically); return its size in bytes.

    ``compress``: ``True`` (the release's files: quantised ``RICE_1`` floats, lossless mask),
    ``"lossless"`` (``GZIP_2`` tiles, every bit kept) or ``False`` (plain images).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wcs_hdr = _wcs_header(exp.wcs)
    common = _header_records(wcs_hdr)
    img_hdr = [{"name": "BUNIT", "value": "nJy", "comment": "pixel unit"}, *common]
    var_hdr = [{"name": "BUNIT", "value": "nJy**2", "comment": "pixel unit"}, *common]
    mask_hdr = [
        *({"name": f"MP_{n}", "value": b, "comment": "mask plane bit"} for n, b in MASK_PLANES.items()),
        *common,
    ]
    image = np.ascontiguousarray(exp.image, dtype=np.float32)
    variance = np.ascontiguousarray(exp.variance, dtype=np.float32)
    mask = np.ascontiguousarray(exp.mask, dtype=np.int32)

    img_kw: dict = {}
    var_kw: dict = {}
    mask_kw: dict = {}
    if compress == "lossless":
        img_kw = var_kw = {"compress": "GZIP_2", "qlevel": None}
        mask_kw = {"compress": "GZIP_2"}
    elif compress:
        good = variance[np.isfinite(variance) & (variance > 0)]
        med_var = float(np.median(good[:: max(1, good.size // 20000)])) if good.size else 1.0
        img_step = max(np.sqrt(med_var) / IMAGE_QUANTIZE_LEVEL, 1e-6)
        var_step = max(med_var / VARIANCE_QUANTIZE_LEVEL, 1e-9)
        img_kw = {
            "compress": "RICE_1",
            "qlevel": -img_step,  # negative: absolute quantisation step (CFITSIO convention)
            "qmethod": "SUBTRACTIVE_DITHER_2",  # exact zeros stay zeros
            "dither_seed": _dither_seed(exp.metadata, 1),
        }
        var_kw = {
            "compress": "RICE_1",
            "qlevel": -var_step,
            "qmethod": "SUBTRACTIVE_DITHER_2",
            "dither_seed": _dither_seed(exp.metadata, 3),
        }
        mask_kw = {"compress": "RICE_1"}  # lossless for integers

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with fitsio.FITS(tmp, "rw", clobber=True) as f:
            f.write(None, header=_header_records(exp.metadata))
            f.write_image(image, extname="IMAGE", header=img_hdr, **img_kw)
            f.write_image(mask, extname="MASK", header=mask_hdr, **mask_kw)
            f.write_image(variance, extname="VARIANCE", header=var_hdr, **var_kw)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path.stat().st_size


# --------------------------------------------------------------------------------------------
# reading


def check_bbox(bbox, nx: int, ny: int, what) -> tuple[int, int, int, int]:
    """``(x0, y0, width, height)`` as ints, or a one-line ValueError naming ``what`` (the image)."""
    try:
        x0, y0, w, h = (int(v) for v in bbox)
    except (TypeError, ValueError):
        raise ValueError(f"bbox must be (x0, y0, width, height), got {bbox!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"bbox {bbox!r} has a non-positive width or height")
    if x0 < 0 or y0 < 0 or x0 + w > nx or y0 + h > ny:
        raise ValueError(f"bbox {(x0, y0, w, h)} is outside the {nx}x{ny} image of {what}")
    return x0, y0, w, h


def _astropy_header(hdr: fitsio.FITSHDR) -> fits.Header:
    """The image header of an HDU read by fitsio (compression keywords dropped)."""
    out = fits.Header()
    for rec in hdr.records():
        name = rec.get("name")
        if not name:
            continue
        if name in ("COMMENT", "HISTORY"):
            out.add_comment(str(rec.get("value", ""))) if name == "COMMENT" else out.add_history(
                str(rec.get("value", ""))
            )
            continue
        if name in _STRUCTURAL or name in ("EXTNAME", "TFIELDS", "ZIMAGE", "ZBITPIX", "ZNAXIS"):
            continue
        if name.startswith(("TTYPE", "TFORM", "ZNAXIS", "ZTILE", "ZNAME", "ZVAL", "ZQUANTIZ", "ZDITHER")):
            continue
        if name in ("ZCMPTYPE", "ZSIMPLE", "ZEXTEND", "ZPCOUNT", "ZGCOUNT", "ZTENSION", "ZBLANK"):
            continue
        out[name] = (rec.get("value"), rec.get("comment", ""))
    return out


def read_exposure(path: str | os.PathLike, bbox: Sequence[int] | None = None) -> Exposure:
    """Read an exposure written by :func:`write_exposure` (or a DP1-like file).

    ``bbox=(x0, y0, width, height)`` (0-based pixels) reads only that region (only the tiles it
    touches are decompressed) and returns the WCS of the cut-out.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such exposure file: {path}")
    try:
        f = fitsio.FITS(str(path))
    except OSError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path} is not a readable FITS file ({first})") from None
    try:
        with f:
            return _read_open(f, path, bbox)
    except OSError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: damaged FITS file ({first})") from None


def _read_open(f: fitsio.FITS, path: Path, bbox: Sequence[int] | None) -> Exposure:
    names = {hdu.get_extname().upper() for hdu in f}
    if "IMAGE" not in names:
        raise ValueError(
            f"{path} has no IMAGE extension (found: {', '.join(sorted(n for n in names if n)) or 'none'})"
        )
    hdu = f["IMAGE"]
    dims = hdu.get_info().get("dims") or []
    if len(dims) != 2:
        raise ValueError(f"{path}: IMAGE extension is not a 2-d image (dims {dims})")
    ny, nx = int(dims[0]), int(dims[1])
    metadata = _astropy_header(f[0].read_header())
    img_header = _astropy_header(hdu.read_header())
    wcs = WCS(img_header, relax=True, fix=False)
    if bbox is None:
        sl = (slice(0, ny), slice(0, nx))
    else:
        x0, y0, w, h = check_bbox(bbox, nx, ny, path)
        sl = (slice(y0, y0 + h), slice(x0, x0 + w))
        wcs = wcs.slice(sl)

    def plane(name: str, dtype, fill):
        if name not in names:
            shape = (sl[0].stop - sl[0].start, sl[1].stop - sl[1].start)
            return np.full(shape, fill, dtype=dtype)
        h = f[name]
        data = h.read() if bbox is None else h[sl]
        return np.asarray(data, dtype=dtype)

    image = plane("IMAGE", np.float32, np.nan)
    mask = plane("MASK", np.int32, 0)
    variance = plane("VARIANCE", np.float32, np.nan)
    return Exposure(image=image, mask=mask, variance=variance, wcs=wcs, metadata=metadata)
