"""A tile: a pixel box of an image resampled, stretched, coloured, overlaid with mask planes, as PNG.

Geometry.  The box is ``[x0, x0 + w) × [y0, y0 + h)`` in 0-based pixels (it may reach outside the
image: those parts are transparent).  The PNG is ``out`` pixels along the box's longer side and
``max(1, round(out * shorter / longer))`` along the other, so one scale ``out / max(w, h)`` holds
for both axes.  Along each axis independently:

* zooming out (box longer than the PNG): PNG pixel ``i`` is the mean of the finite image pixels
  ``p`` with ``floor((p - x0) * n_out / n_box) == i`` (block average; NaNs ignored, a block with no
  finite pixel is transparent), its mask the OR of their bits;
* zooming in or 1:1: PNG pixel ``i`` shows image pixel ``x0 + floor((i + 0.5) * n_box / n_out)``
  (nearest).

**FITS row 0 (y = 0) is at the bottom of the PNG**: PNG row ``r`` (from the top) shows box row
``n_out_y - 1 - r``.  x grows to the right.

Colour.  ``t = clip((v - vmin) / (vmax - vmin), 0, 1)``; the stretch ``s(t)`` is ``t`` (linear,
zscale), ``sqrt(t)``, ``log10(1000 t + 1) / log10(1001)`` (log) or ``asinh(10 t) / asinh(10)``
(asinh), as astropy's stretches with their default parameters; the colour is entry
``floor(255 s + 0.5)`` of the colormap's 256-entry table (each channel ``floor(255 c + 0.5)``).  NaN
pixels are transparent (0, 0, 0, 0).  A mask overlay ``colour, alpha`` is composited over the pixel
("over" operator): on an opaque pixel ``floor(c * alpha + rgb * (1 - alpha) + 0.5)``; overlays are
applied in the order given.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import RenderError

__all__ = [
    "DEFAULT_MASK_COLOURS",
    "MAX_BOX_PIXELS",
    "MAX_OUT",
    "STRETCHES",
    "TileRequest",
    "cmap_names",
    "parse_mask_spec",
    "parse_tile",
    "render_tile",
]

STRETCHES = ("linear", "log", "sqrt", "asinh", "zscale")
MAX_OUT = 2048
MAX_BOX_PIXELS = 64 * 1024 * 1024  # w * h of the box asked for
MAX_SIDE = 1 << 20
MAX_COORD = 1 << 30
DEFAULT_ALPHA = 0.5
#: colours of the mask planes when the request gives none (afw.display's defaults)
DEFAULT_MASK_COLOURS = {
    "BAD": (255, 0, 0),
    "SAT": (0, 255, 0),
    "INTRP": (0, 255, 0),
    "CR": (255, 0, 255),
    "EDGE": (255, 255, 0),
    "DETECTED": (0, 0, 255),
    "DETECTED_NEGATIVE": (0, 255, 255),
    "SUSPECT": (255, 255, 0),
    "NO_DATA": (255, 165, 0),
}
_OTHER_COLOURS = [(255, 128, 0), (128, 0, 255), (0, 128, 255), (255, 0, 128), (128, 255, 0)]


@dataclass(frozen=True)
class MaskLayer:
    name: str  # the plane's name as the request spelled it, upper-cased
    rgb: tuple[int, int, int]
    alpha: float


@dataclass(frozen=True)
class TileRequest:
    x0: int
    y0: int
    w: int
    h: int
    out_w: int
    out_h: int
    stretch: str
    vmin: float | None
    vmax: float | None
    cmap: str
    masks: tuple[MaskLayer, ...]

    def canonical(self) -> str:
        """The parameters as one string (for the ETag)."""
        m = ",".join(f"{k.name}:{bytes(k.rgb).hex()}:{k.alpha!r}" for k in self.masks)
        return (
            f"{self.x0},{self.y0},{self.w},{self.h},{self.out_w},{self.out_h},{self.stretch},"
            f"{self.vmin!r},{self.vmax!r},{self.cmap},{m}"
        )


# -- parameters ------------------------------------------------------------------------------------


def _int(params: Mapping[str, str], name: str, default: int | None, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise RenderError(f"missing parameter {name}")
        return default
    try:
        v = float(raw)
    except ValueError:
        raise RenderError(f"{name}={raw[:40]!r} is not a number") from None
    if not np.isfinite(v) or v != int(v):
        raise RenderError(f"{name}={raw[:40]!r} must be a whole number of pixels")
    if not lo <= v <= hi:
        raise RenderError(f"{name}={raw[:40]} is out of range [{lo}, {hi}]")
    return int(v)


def _float(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        v = float(raw)
    except ValueError:
        raise RenderError(f"{name}={raw[:40]!r} is not a number") from None
    if not np.isfinite(v):
        raise RenderError(f"{name}={raw[:40]!r} must be finite")
    return v


_PLANE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_HEX = re.compile(r"^#?([0-9A-Fa-f]{6})$")


def parse_mask_spec(spec: str | None) -> tuple[MaskLayer, ...]:
    """``NAME[:RRGGBB[:ALPHA]]`` items separated by commas (e.g. ``BAD:ff0000:0.5,SAT:00ff00``);
    the colour defaults to :data:`DEFAULT_MASK_COLOURS`, the alpha to 0.5.  Plane names are checked
    against the image later (:func:`check_masks`)."""
    if spec is None or not spec.strip():
        return ()
    layers: list[MaskLayer] = []
    seen: set[str] = set()
    items = spec.split(",")
    if len(items) > 64:
        raise RenderError(f"mask: at most 64 planes, got {len(items)}")
    for n, item in enumerate(items):
        bits = item.strip().split(":")
        if len(bits) > 3 or not bits[0]:
            raise RenderError(
                f"malformed mask spec {item.strip()[:60]!r}: use NAME[:RRGGBB[:ALPHA]] items separated by "
                "commas, e.g. mask=BAD:ff0000:0.5,SAT:00ff00"
            )
        name = bits[0].strip().upper()
        if not _PLANE_NAME.match(name):
            raise RenderError(f"malformed mask spec: {bits[0][:60]!r} is not a mask plane name")
        if name in seen:
            raise RenderError(f"malformed mask spec: plane {name} given twice")
        seen.add(name)
        rgb = DEFAULT_MASK_COLOURS.get(name, _OTHER_COLOURS[n % len(_OTHER_COLOURS)])
        if len(bits) > 1 and bits[1].strip():
            m = _HEX.match(bits[1].strip())
            if not m:
                raise RenderError(
                    f"malformed mask spec {item.strip()[:60]!r}: the colour must be 6 hex digits (RRGGBB)"
                )
            rgb = tuple(bytes.fromhex(m.group(1)))  # type: ignore[assignment]
        alpha = DEFAULT_ALPHA
        if len(bits) > 2:
            try:
                alpha = float(bits[2])
            except ValueError:
                alpha = float("nan")
            if not 0.0 <= alpha <= 1.0:
                raise RenderError(
                    f"malformed mask spec {item.strip()[:60]!r}: alpha must be a number in [0, 1]"
                )
        layers.append(MaskLayer(name, rgb, alpha))
    return tuple(layers)


def parse_tile(params: Mapping[str, str]) -> TileRequest:
    """The tile parameters of a request (every check that does not need the image)."""
    x0 = _int(params, "x0", 0, -MAX_COORD, MAX_COORD)
    y0 = _int(params, "y0", 0, -MAX_COORD, MAX_COORD)
    w = _int(params, "w", 256, 1, MAX_SIDE)
    h = _int(params, "h", w, 1, MAX_SIDE)
    if w * h > MAX_BOX_PIXELS:
        raise RenderError(
            f"the box {w}x{h} is {w * h} pixels; at most {MAX_BOX_PIXELS} (64 Mpix) per tile: ask for a "
            "smaller w, h"
        )
    out = _int(params, "out", 256, 1, MAX_OUT)
    if w >= h:
        out_w, out_h = out, max(1, round(out * h / w))
    else:
        out_w, out_h = max(1, round(out * w / h)), out
    stretch = (params.get("stretch") or "linear").strip().lower()
    if stretch not in STRETCHES:
        raise RenderError(f"unknown stretch {stretch[:40]!r}: use one of {', '.join(STRETCHES)}")
    vmin, vmax = _float(params, "vmin"), _float(params, "vmax")
    if vmin is not None and vmax is not None and vmax <= vmin:
        raise RenderError(f"vmax ({vmax}) must be greater than vmin ({vmin})")
    cmap = (params.get("cmap") or "gray").strip()
    lut(cmap)  # checks the name
    return TileRequest(
        x0, y0, w, h, out_w, out_h, stretch, vmin, vmax, cmap, parse_mask_spec(params.get("mask"))
    )


def check_masks(layers: tuple[MaskLayer, ...], planes: Mapping[str, int], has_mask: bool, name: str) -> None:
    if not layers:
        return
    if not has_mask:
        raise RenderError(f"mask: {name} has no MASK plane")
    upper = {k.upper(): v for k, v in planes.items()}
    for layer in layers:
        if layer.name not in upper:
            raise RenderError(
                f"mask: no plane {layer.name!r} in {name}; its planes: {', '.join(planes) or 'none'}"
            )


# -- colormaps ---------------------------------------------------------------------------------------

_LUT_LOCK = threading.Lock()
_LUTS: dict[str, np.ndarray] = {}


def cmap_names() -> list[str]:
    """matplotlib's registered colormaps (each also reversed with the suffix ``_r``)."""
    import matplotlib

    return sorted(n for n in matplotlib.colormaps if not n.endswith("_r"))


def lut(name: str) -> np.ndarray:
    """The colormap's 256 RGBA entries as uint8 (``floor(255 c + 0.5)``)."""
    hit = _LUTS.get(name)
    if hit is not None:
        return hit
    import matplotlib

    if len(name) > 64 or name not in matplotlib.colormaps:
        raise RenderError(
            f"unknown cmap {name[:40]!r}: use a matplotlib colormap name, e.g. gray, viridis, magma, "
            f"inferno, cividis, plasma, twilight (any reversed with _r); all: {', '.join(cmap_names())}"
        )
    cmap = matplotlib.colormaps[name].resampled(256)
    table = np.floor(np.asarray(cmap(np.arange(256) / 255.0)) * 255.0 + 0.5).astype(np.uint8)
    table[:, 3] = 255
    with _LUT_LOCK:
        _LUTS[name] = table
    return table


# -- resampling ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AxisPlan:
    """How one axis of the box maps onto the PNG: image pixels ``[lo, hi)`` fill PNG pixels
    ``[out_lo, out_hi)`` by ``reduceat`` on ``starts`` (zoom out) or ``take`` of ``index`` (zoom in),
    both relative to ``lo``."""

    lo: int
    hi: int
    out_lo: int
    out_hi: int
    starts: np.ndarray | None
    index: np.ndarray | None

    @property
    def empty(self) -> bool:
        return self.hi <= self.lo or self.out_hi <= self.out_lo

    def sizes(self) -> np.ndarray:
        """Image pixels per PNG pixel (1 when zooming in)."""
        if self.starts is None:
            return np.ones(self.out_hi - self.out_lo, np.int64)
        return np.diff(np.append(self.starts, self.hi - self.lo))

    @property
    def reduces(self) -> bool:
        """Whether PNG pixels average several image pixels (not 1:1, not zooming in)."""
        return self.starts is not None and len(self.starts) != self.hi - self.lo


def plan_axis(start: int, length: int, size: int, n_out: int) -> AxisPlan:
    """The plan of the box ``[start, start + length)`` of an axis of ``size`` pixels on ``n_out``."""
    lo, hi = max(start, 0), min(start + length, size)
    if hi <= lo:
        return AxisPlan(0, 0, 0, 0, None, None)
    if length >= n_out:
        out_lo = ((lo - start) * n_out) // length
        out_hi = ((hi - 1 - start) * n_out) // length + 1
        b = np.arange(out_lo, out_hi, dtype=np.int64)
        first = start + (b * length + n_out - 1) // n_out  # first pixel of bin b
        starts = np.maximum(first, lo) - lo
        return AxisPlan(lo, hi, out_lo, out_hi, starts, None)
    i = np.arange(n_out, dtype=np.int64)
    src = start + ((2 * i + 1) * length) // (2 * n_out)
    ok = np.flatnonzero((src >= lo) & (src < hi))
    if ok.size == 0:
        return AxisPlan(0, 0, 0, 0, None, None)
    out_lo, out_hi = int(ok[0]), int(ok[-1]) + 1
    return AxisPlan(lo, hi, out_lo, out_hi, None, src[out_lo:out_hi] - lo)


def _apply(arr: np.ndarray, plan: AxisPlan, axis: int, ufunc: Any, dtype: Any = None) -> np.ndarray:
    if plan.index is not None:
        return np.take(arr, plan.index, axis=axis)
    assert plan.starts is not None
    if len(plan.starts) == arr.shape[axis]:  # 1:1
        return arr
    return ufunc.reduceat(arr, plan.starts, axis=axis, dtype=dtype)


def resample_values(region: np.ndarray, py: AxisPlan, px: AxisPlan) -> np.ndarray:
    """The region's values on the PNG grid (float64, NaN where no finite pixel)."""
    if not (py.reduces or px.reduces):  # zoom in (nearest) or 1:1
        out = region if py.index is None else np.take(region, py.index, axis=0)
        out = out if px.index is None else np.take(out, px.index, axis=1)
        return out.astype(np.float64)
    finite = np.isfinite(region)
    if finite.all():
        s = _apply(_apply(region, py, 0, np.add, np.float64), px, 1, np.add, np.float64)
        c = np.outer(py.sizes(), px.sizes())
    else:
        vals = np.where(finite, region, 0.0)
        s = _apply(_apply(vals, py, 0, np.add, np.float64), px, 1, np.add, np.float64)
        c = _apply(_apply(finite.astype(np.float32), py, 0, np.add), px, 1, np.add)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, np.asarray(s, dtype=np.float64) / c, np.nan)


def resample_mask(region: np.ndarray, py: AxisPlan, px: AxisPlan) -> np.ndarray:
    """The OR of the mask bits of each PNG pixel's block (nearest when zooming in)."""
    return _apply(_apply(region, py, 0, np.bitwise_or), px, 1, np.bitwise_or)


# -- colour ----------------------------------------------------------------------------------------------


def levels(values: np.ndarray, stretch: str, vmin: float, vmax: float) -> np.ndarray:
    """The colormap index (uint8) of each finite value (NaNs give 0; the caller makes them transparent)."""
    span = vmax - vmin
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        t = (values - vmin) / span
        t = np.clip(t, 0.0, 1.0)
        if stretch == "sqrt":
            t = np.sqrt(t)
        elif stretch == "log":
            t = np.log10(1000.0 * t + 1.0) / np.log10(1001.0)
        elif stretch == "asinh":
            t = np.arcsinh(t / 0.1) / np.arcsinh(1.0 / 0.1)
        lv = np.floor(t * 255.0 + 0.5)
    return np.nan_to_num(lv, nan=0.0).astype(np.uint8)


def render_tile(img: Any, req: TileRequest) -> tuple[bytes, float, float]:
    """The PNG of ``req`` on the :class:`~.image.ImageFile` ``img`` and the limits used."""
    from PIL import Image

    zlo = zhi = 0.0
    if req.stretch == "zscale" or req.vmin is None or req.vmax is None:
        zlo, zhi = img.limits()
    vmin = req.vmin if req.vmin is not None and req.stretch != "zscale" else zlo
    vmax = req.vmax if req.vmax is not None and req.stretch != "zscale" else zhi
    if vmax <= vmin:  # one limit given, the other from zscale, crossed
        vmax = vmin + max(abs(vmin) * 1e-6, 1e-12)
    check_masks(req.masks, img.mask_planes, img.mask is not None, img.path.name)

    rgba = np.zeros((req.out_h, req.out_w, 4), np.uint8)
    px = plan_axis(req.x0, req.w, img.width, req.out_w)
    py = plan_axis(req.y0, req.h, img.height, req.out_h)
    if not (px.empty or py.empty):
        region = img.region(img.image, py.lo, py.hi, px.lo, px.hi)
        vals = resample_values(region, py, px)
        sub = rgba[py.out_lo : py.out_hi, px.out_lo : px.out_hi]
        sub[...] = lut(req.cmap)[levels(vals, req.stretch, vmin, vmax)]
        sub[~np.isfinite(vals)] = 0
        if req.masks and img.mask is not None:
            bits = resample_mask(img.region(img.mask, py.lo, py.hi, px.lo, px.hi), py, px)
            planes = {k.upper(): v for k, v in img.mask_planes.items()}
            for layer in req.masks:
                sel = (bits & (1 << planes[layer.name])) != 0
                if sel.any():
                    _over(sub, sel, layer.rgb, layer.alpha)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba[::-1]), "RGBA").save(buf, "PNG", compress_level=1)
    return buf.getvalue(), float(vmin), float(vmax)


def _over(sub: np.ndarray, sel: np.ndarray, rgb: tuple[int, int, int], alpha: float) -> None:
    """Composite the colour ``rgb`` with ``alpha`` over the pixels ``sel`` of ``sub`` (in place)."""
    px = sub[sel].astype(np.float64)
    base_a = px[:, 3] / 255.0
    out_a = alpha + base_a * (1.0 - alpha)
    colour = np.asarray(rgb, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mixed = (colour * alpha + px[:, :3] * (base_a * (1.0 - alpha))[:, None]) / out_a[:, None]
    mixed = np.nan_to_num(mixed, nan=0.0)
    out = np.empty_like(px)
    out[:, :3] = np.floor(mixed + 0.5)
    out[:, 3] = np.floor(out_a * 255.0 + 0.5)
    sub[sel] = np.clip(out, 0, 255).astype(np.uint8)
