"""SODA 1.0 sync cutouts of the release's images.

One ``ID`` (an ObsCore ``obs_publisher_did``) and one spatial shape -- ``CIRCLE=ra dec r``,
``POLYGON=ra1 dec1 ...`` or ``POS=CIRCLE ...|RANGE ra1 ra2 dec1 dec2|POLYGON ...`` (degrees,
ICRS) -- give the smallest pixel box holding the shape's part on the image.  Only the pixels of
that box are read: the release's images are tile-compressed, and fitsio decompresses just the
tiles the box touches.  ``CUTOUTDETAIL=Image`` (default) returns the IMAGE plane,
``MaskedImage`` IMAGE, MASK and VARIANCE, in the release's own layout (HDU 0: the exposure's
metadata; extensions by EXTNAME; the WCS of the cutout, ``LTV1``/``LTV2`` its origin in the
parent image), so :func:`kernel_lib.release.exposure.read_exposure` and the Butler formatter
read cutouts as they read whole images.

Errors name the fault as SODA does: ``UsageError`` (bad or missing parameters), ``NotFoundFault``
(unknown ID), ``NoOverlap`` (the shape misses the image).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kernel_lib.adql.regions import RegionError, overlaps, parse_region, shape_of_pos

__all__ = [
    "SODA_SYNC_ID",
    "Cutout",
    "SodaError",
    "cutout_fits",
    "parse_soda",
    "pixel_box",
    "soda_capabilities_xml",
]

SODA_SYNC_ID = "ivo://ivoa.net/std/SODA#sync-1.0"
DETAILS = {"image": "Image", "maskedimage": "MaskedImage"}


class SodaError(ValueError):
    """A request SODA refuses; ``status`` is the HTTP status, the message starts with the fault."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Cutout:
    """One parsed SODA request."""

    id: str
    kind: str  # CIRCLE, RANGE or POLYGON
    values: tuple[float, ...]
    detail: str  # Image or MaskedImage

    @property
    def pos(self) -> str:
        return f"{self.kind} " + " ".join(repr(v) for v in self.values)


def parse_soda(params: Mapping[str, Sequence[str]]) -> Cutout:
    """Read ``ID``, the shape and ``CUTOUTDETAIL`` (names upper-cased; every value of each)."""
    ids = [v for v in params.get("ID", []) if v.strip()]
    if not ids:
        raise SodaError("UsageError: send ID=<obs_publisher_did> of the image (from SIA or ObsCore)")
    if len(ids) > 1:
        raise SodaError(f"UsageError: one ID per request, got {len(ids)}")
    shapes: list[str] = []
    for name in ("CIRCLE", "POLYGON"):
        shapes += [f"{name} {v}" for v in params.get(name, []) if v.strip()]
    shapes += [v for v in params.get("POS", []) if v.strip()]
    if not shapes:
        raise SodaError("UsageError: send one of CIRCLE=ra dec radius, POLYGON=ra1 dec1 ... or POS=RANGE ...")
    if len(shapes) > 1:
        raise SodaError(
            f"UsageError: one spatial shape per request (CIRCLE, POLYGON or POS), got {len(shapes)}"
        )
    for other in ("BAND", "TIME", "POL"):
        if any(v.strip() for v in params.get(other, [])):
            raise SodaError(f"UsageError: {other} cutouts are not supported for these single-band 2-d images")
    try:
        kind, vals = shape_of_pos(shapes[0])
        parse_region(f"{kind} " + " ".join(repr(v) for v in vals))
    except RegionError as e:
        raise SodaError(f"UsageError: {e}") from None
    detail_values = [v for v in params.get("CUTOUTDETAIL", []) if v.strip()]
    detail = DETAILS.get(detail_values[-1].strip().lower()) if detail_values else "Image"
    if detail is None:
        raise SodaError(f"UsageError: CUTOUTDETAIL={detail_values[-1]!r}: use Image or MaskedImage")
    return Cutout(ids[0].strip(), kind, tuple(vals), detail)


def soda_capabilities_xml(base_url: str) -> bytes:
    """VOSI capabilities of the SODA service (sync)."""
    from .sia import capabilities_xml

    return capabilities_xml(base_url, SODA_SYNC_ID, "sync", "1.0")


# -- geometry ---------------------------------------------------------------------------------------


def _boundary(kind: str, vals: Sequence[float], n: int = 72) -> tuple[np.ndarray, np.ndarray]:
    """Points (ra, dec degrees) along the shape's outline, dense enough for a pixel box."""
    if kind == "CIRCLE":
        ra0, dec0, r = (math.radians(v) for v in vals)
        bearing = np.linspace(0, 2 * np.pi, n, endpoint=False)
        lat = np.arcsin(np.sin(dec0) * np.cos(r) + np.cos(dec0) * np.sin(r) * np.cos(bearing))
        lon = ra0 + np.arctan2(
            np.sin(bearing) * np.sin(r) * np.cos(dec0), np.cos(r) - np.sin(dec0) * np.sin(lat)
        )
        return np.degrees(lon), np.degrees(lat)
    if kind == "RANGE":
        ra1, ra2, dec1, dec2 = vals
        t = np.linspace(0, 1, 17)
        ras = np.concatenate(
            [ra1 + (ra2 - ra1) * t, np.full_like(t, ra2), ra2 - (ra2 - ra1) * t, np.full_like(t, ra1)]
        )
        decs = np.concatenate(
            [np.full_like(t, dec1), dec1 + (dec2 - dec1) * t, np.full_like(t, dec2), dec2 - (dec2 - dec1) * t]
        )
        return ras, decs
    # polygon: great-circle edges, sampled
    pts = np.radians(np.asarray(vals, dtype=float).reshape(-1, 2))
    xyz = np.stack(
        [np.cos(pts[:, 1]) * np.cos(pts[:, 0]), np.cos(pts[:, 1]) * np.sin(pts[:, 0]), np.sin(pts[:, 1])], 1
    )
    out = []
    for a, b in zip(xyz, np.roll(xyz, -1, axis=0), strict=True):
        t = np.linspace(0, 1, 9)[:-1, None]
        p = a * (1 - t) + b * t
        out.append(p / np.linalg.norm(p, axis=1, keepdims=True))
    p = np.concatenate(out)
    return np.degrees(np.arctan2(p[:, 1], p[:, 0])), np.degrees(np.arcsin(np.clip(p[:, 2], -1, 1)))


def pixel_box(
    wcs: Any, nx: int, ny: int, kind: str, vals: Sequence[float]
) -> tuple[int, int, int, int] | None:
    """``(x0, y0, width, height)`` of the pixels (0-based) covering the shape, clipped to the
    image; None if none.  The caller has checked on the sphere that the shape meets the image."""
    ra, dec = _boundary(kind, vals)
    if kind == "CIRCLE":
        ra, dec = np.append(ra, vals[0]), np.append(dec, vals[1])
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return None
    x, y = x[ok], y[ok]
    x0 = max((math.floor(x.min() + 0.5)), 0)
    y0 = max((math.floor(y.min() + 0.5)), 0)
    x1 = min((math.floor(x.max() + 0.5)), nx - 1)
    y1 = min((math.floor(y.max() + 0.5)), ny - 1)
    if x1 < x0 or y1 < y0:
        return None
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1


# -- files ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ImageInfo:
    nx: int
    ny: int
    wcs: Any
    primary: bytes  # the primary HDU's cards (80-byte images), without END
    planes: dict[str, tuple[int, bytes, float, float]]  # EXTNAME -> (BITPIX, cards, CRPIX1, CRPIX2)


_INFO_LOCK = threading.Lock()
_BITPIX = {np.dtype(np.float32): -32, np.dtype(np.int32): 32, np.dtype(np.float64): -64}


def _card(key: str, value: Any, comment: str = "") -> bytes:
    import warnings

    from astropy.io import fits
    from astropy.io.fits.verify import VerifyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VerifyWarning)  # a long value drops its comment
        return fits.Card(key, value, comment).image.encode("ascii")


def _cards(header: Any, skip: frozenset[str] = frozenset()) -> bytes:
    """The header's cards as FITS card images (long keywords become HIERARCH cards, long
    comments are cut, as astropy's writer does)."""
    import warnings

    from astropy.io import fits
    from astropy.io.fits.verify import VerifyWarning

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VerifyWarning)
        for card in header.cards:
            if card.keyword in skip:
                continue
            out.append(fits.Card(card.keyword, card.value, card.comment).image.encode("ascii"))
    return b"".join(out)


_WCS_SHIFTED = frozenset({"CRPIX1", "CRPIX2", "LTV1", "LTV2", "EXTNAME"})


@functools.lru_cache(maxsize=512)
def _image_info(path: str, mtime: float) -> _ImageInfo:
    """What a cutout of ``path`` needs that does not depend on the box: size, WCS, and the
    headers already serialised, so a request only writes the few cards that change."""
    import fitsio
    from astropy.wcs import WCS

    from kernel_lib.release.exposure import _astropy_header

    with fitsio.FITS(path) as f:
        names = frozenset(h.get_extname().upper() for h in f)
        if "IMAGE" not in names:
            raise SodaError(f"NotFoundFault: {Path(path).name} has no IMAGE extension", 404)
        hdu = f["IMAGE"]
        dims = hdu.get_info().get("dims") or []
        if len(dims) != 2:
            raise SodaError(f"UsageError: {Path(path).name} is not a 2-d image", 400)
        primary = _astropy_header(f[0].read_header())
        planes = {}
        for n in ("IMAGE", "MASK", "VARIANCE"):
            if n not in names:
                continue
            header = _astropy_header(f[n].read_header())
            dtype = {"MASK": np.dtype(np.int32)}.get(n, np.dtype(np.float32))
            planes[n] = (
                _BITPIX[dtype],
                _cards(header, _WCS_SHIFTED),
                float(header.get("CRPIX1", 0.0)),
                float(header.get("CRPIX2", 0.0)),
            )
            if n == "IMAGE":
                wcs = WCS(header, relax=True, fix=False)
    primary_cards = _card("SIMPLE", True) + _card("BITPIX", 8) + _card("NAXIS", 0) + _card("EXTEND", True)
    return _ImageInfo(int(dims[1]), int(dims[0]), wcs, primary_cards + _cards(primary), planes)


def image_info(path: Path) -> _ImageInfo:
    try:
        st = path.stat()
    except OSError:
        raise SodaError(f"NotFoundFault: the file of this dataset is missing ({path.name})", 404) from None
    with _INFO_LOCK:
        return _image_info(str(path), st.st_mtime)


def _block(cards: bytes) -> bytes:
    """A header: the cards, END, padded with blanks to a multiple of 2880 bytes."""
    h = cards + b"END".ljust(80)
    return h + b" " * (-len(h) % 2880)


def cutout_fits(path: Path, footprint: str | None, c: Cutout) -> bytes:
    """The FITS bytes of cutout ``c`` of the image file ``path`` (``footprint``: its ObsCore
    ``s_region``, to decide overlap on the sphere first).

    The headers are the parent's, serialised once per file (:func:`_image_info`); a cutout only
    changes ``NAXISn``, ``CRPIXn`` (the WCS shifted by the box's origin) and ``LTVn``."""
    import fitsio

    if footprint and not overlaps(parse_region(footprint), parse_region(c.pos)):
        raise SodaError(f"NoOverlap: {c.pos} does not overlap the image {c.id}", 400)
    info = image_info(path)
    box = pixel_box(info.wcs, info.nx, info.ny, c.kind, c.values)
    if box is None:
        raise SodaError(f"NoOverlap: {c.pos} does not overlap the image {c.id}", 400)
    x0, y0, w, h = box
    sl = (slice(y0, y0 + h), slice(x0, x0 + w))
    planes = ["IMAGE"] if c.detail == "Image" else ["IMAGE", "MASK", "VARIANCE"]
    with fitsio.FITS(str(path)) as f:
        data = {name: f[name][sl] for name in planes if name in info.planes}
    out = [
        _block(
            info.primary
            + _card("CUTOUT", c.pos[:68], "SODA cutout shape (deg, ICRS)")
            + _card("CUTID", c.id[-68:], "dataset of the cutout")
        )
    ]
    for name, arr in data.items():
        bitpix, cards, crpix1, crpix2 = info.planes[name]
        big = np.ascontiguousarray(arr, dtype=np.dtype(arr.dtype).newbyteorder(">"))
        head = (
            _card("XTENSION", "IMAGE")
            + _card("BITPIX", bitpix)
            + _card("NAXIS", 2)
            + _card("NAXIS1", w)
            + _card("NAXIS2", h)
            + _card("PCOUNT", 0)
            + _card("GCOUNT", 1)
            + _card("EXTNAME", name)
            + cards
            + _card("CRPIX1", crpix1 - x0, "pixel of the reference point (cutout)")
            + _card("CRPIX2", crpix2 - y0, "pixel of the reference point (cutout)")
            + _card("LTV1", -x0, "cutout origin: parent x = x - LTV1")
            + _card("LTV2", -y0, "cutout origin: parent y = y - LTV2")
        )
        body = big.tobytes()
        out += [_block(head), body, b"\0" * (-len(body) % 2880)]
    return b"".join(out)
