"""``/lsstbox/image/*``: the image viewer's API, behind Jupyter's authentication.

Every endpoint takes ``src`` (``file:<path under the server's root>``, ``did:<obs_publisher_did>``
or ``butler:<dataset uuid>``, see :mod:`.source`).  Pixel coordinates are 0-based, pixel centres on
integers, pixel ``i`` spanning ``[i - 0.5, i + 0.5)``; FITS row 0 is at the bottom of the PNG tiles.

* ``GET /lsstbox/image/info?src=`` -- size, HDU, unit, WCS cards, mask planes, zscale limits, title,
  metadata (JSON);
* ``GET /lsstbox/image/tile?src=&x0=&y0=&w=&h=&out=&stretch=&vmin=&vmax=&cmap=&mask=`` -- a PNG
  (:mod:`.tile` says exactly how it is computed);
* ``GET /lsstbox/image/pixel?src=&x=&y=`` -- value, variance, mask bits, RA/Dec under a position;
* ``POST /lsstbox/image/world2pix`` ``{src, ra: [...], dec: [...]}`` -> ``{x, y, inside}`` and
  ``POST /lsstbox/image/pix2world`` ``{src, x: [...], y: [...]}`` -> ``{ra, dec}``;
* ``GET /lsstbox/image/options`` -- the stretches, colormaps and limits the server accepts.

Errors are JSON ``{"error": "<one line>", "status": N}`` with a 4xx status (5xx only for a release
that cannot be opened), never a traceback.  Work runs in a small thread pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
from jupyter_server.auth.decorator import authorized
from tornado import web

from kernel_lib.release.manifest import ReleaseError
from server_ext.handlers import BoxAPIHandler, release_of

from .errors import RenderError, first_line
from .image import PLANES, ImageFile, open_image
from .points import MAX_POINTS, json_array, parse_points
from .source import ButlerCache, Resolved, parse_src, resolve_did, resolve_file
from .tile import (
    DEFAULT_MASK_COLOURS,
    MAX_BOX_PIXELS,
    MAX_OUT,
    STRETCHES,
    cmap_names,
    parse_tile,
    render_tile,
)

__all__ = ["render_handlers"]

BASE = "/lsstbox/image"
#: part of every ETag: bump when the rendering changes
RENDER_VERSION = "1"
#: Cache-Control max-age of release images (immutable) and of files under the root (may change)
MAX_AGE_RELEASE = 3600
MAX_AGE_FILE = 10
Y_AXIS = "up: FITS row 0 (y = 0) is the bottom row of a tile PNG; x grows to the right"
PIXELS = (
    "0-based; pixel centres on integers, pixel i spans [i - 0.5, i + 0.5); the WCS cards are FITS (1-based)"
)

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lsstbox-render")
_BUTLERS = ButlerCache()
T = TypeVar("T")


class RenderHandler(BoxAPIHandler):
    """Resolves ``src``, runs work in the pool, and answers :class:`RenderError` as JSON."""

    auth_resource = "contents"

    def arg(self, name: str) -> str | None:
        v = self.get_query_argument(name, None)
        return v if v is None else str(v)

    async def in_pool(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(_POOL, fn, *args)

    def fail(self, e: RenderError) -> None:
        self.clear_header("ETag")
        self.clear_header("Cache-Control")
        self.set_status(e.status)
        self.finish(json.dumps({"error": str(e), "status": e.status}))

    async def resolve(self, src: str | None) -> Resolved:
        kind, value = parse_src(src)
        if kind == "file":
            root = self.settings.get("server_root_dir") or getattr(self.contents_manager, "root_dir", "")
            if not root:
                raise RenderError("the server has no root directory to read file: sources from", 404)
            allow_hidden = bool(getattr(self.contents_manager, "allow_hidden", False))
            return resolve_file(root, value, allow_hidden)
        release = release_of(self)
        if kind == "did":
            try:
                obscore = self.settings["lsstbox_tap"].obscore().get("ivoa.ObsCore")
            except (ReleaseError, OSError) as e:  # no release yet, an unreadable ObsCore file
                msg = f"the release's ObsCore table cannot be read: {first_line(e)}"
                raise RenderError(msg, 503) from None
            return resolve_did(release, obscore, value)
        return await self.in_pool(_BUTLERS.resolve, release, value)

    async def open(self, src: str | None) -> tuple[Resolved, ImageFile]:
        res = await self.resolve(src)
        return res, await self.in_pool(open_image, res.path)

    def cache_headers(self, res: Resolved, img: ImageFile, what: str) -> bool:
        """Set ETag (file identity + ``what``) and Cache-Control; True if the client's copy is current."""
        key = f"{RENDER_VERSION}|{img.key[0]}|{img.key[1]}|{img.key[2]}|{what}"
        self.set_header("ETag", f'"{hashlib.sha1(key.encode()).hexdigest()[:32]}"')
        age = MAX_AGE_RELEASE if res.release else MAX_AGE_FILE
        self.set_header("Cache-Control", f"private, max-age={age}")
        return self.check_etag_header()

    def not_modified(self) -> None:
        self.set_status(304)
        self.finish()


class InfoHandler(RenderHandler):
    """``GET /lsstbox/image/info?src=``."""

    @web.authenticated
    @authorized("read")
    async def get(self) -> None:
        try:
            res, img = await self.open(self.arg("src"))
            if self.cache_headers(res, img, f"info|{res.src}"):
                return self.not_modified()
            vmin, vmax = await self.in_pool(img.limits)
        except RenderError as e:
            return self.fail(e)
        self.finish(json.dumps(info_json(res, img, vmin, vmax)))


def info_json(res: Resolved, img: ImageFile, vmin: float, vmax: float) -> dict[str, Any]:
    planes = [p.name for p in (img.image, img.mask, img.variance) if p is not None]
    return {
        "src": res.src,
        "title": img.title(res.product),
        "product": res.product or None,
        "file": img.path.name,
        "layout": img.layout,
        "width": img.width,
        "height": img.height,
        "hdu": img.image.hdu,
        "extname": img.image.name,
        "hdus": img.hdus,
        "planes": planes,
        "bunit": img.bunit,
        "wcs": img.wcs_cards,
        "mask_planes": dict(img.mask_planes) if img.mask is not None else {},
        "limits": {"vmin": vmin, "vmax": vmax, "interval": "zscale"},
        "metadata": img.primary,
        "y_axis": Y_AXIS,
        "pixels": PIXELS,
    }


class TileHandler(RenderHandler):
    """``GET /lsstbox/image/tile``: a PNG (RGBA)."""

    @web.authenticated
    @authorized("read")
    async def get(self) -> None:
        try:
            params = {k: str(self.get_query_argument(k)) for k in self.request.query_arguments}
            req = parse_tile(params)
            res, img = await self.open(params.get("src"))
            if self.cache_headers(res, img, req.canonical()):
                return self.not_modified()
            png, vmin, vmax = await self.in_pool(render_tile, img, req)
        except RenderError as e:
            return self.fail(e)
        self.set_header("X-Lsstbox-Limits", f"{vmin!r},{vmax!r}")
        self.set_header("X-Lsstbox-Tile", f"{req.x0},{req.y0},{req.w},{req.h},{req.out_w},{req.out_h}")
        self.finish(png, set_content_type="image/png")


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class PixelHandler(RenderHandler):
    """``GET /lsstbox/image/pixel?src=&x=&y=``."""

    @web.authenticated
    @authorized("read")
    async def get(self) -> None:
        try:
            xy = []
            for name in ("x", "y"):
                raw = self.arg(name)
                if raw is None or raw.strip() == "":
                    raise RenderError(f"missing parameter {name} (0-based pixel position)")
                v = _num(raw)
                if v is None or abs(v) > 1e12:
                    raise RenderError(f"{name}={raw[:40]!r} is not a finite number")
                xy.append(v)
            _, img = await self.open(self.arg("src"))
            out = await self.in_pool(pixel_json, img, xy[0], xy[1])
        except RenderError as e:
            return self.fail(e)
        self.finish(json.dumps(out))


def pixel_json(img: ImageFile, x: float, y: float) -> dict[str, Any]:
    ix, iy = math.floor(x + 0.5), math.floor(y + 0.5)
    inside = 0 <= ix < img.width and 0 <= iy < img.height
    out: dict[str, Any] = {"x": x, "y": y, "ix": ix, "iy": iy, "inside": inside, "value": None}
    if img.variance is not None:
        out["variance"] = None
    if img.mask is not None:
        out["mask"] = None
        out["mask_names"] = []
    if inside:
        out["value"] = _num(img.region(img.image, iy, iy + 1, ix, ix + 1)[0, 0])
        if img.variance is not None:
            out["variance"] = _num(img.region(img.variance, iy, iy + 1, ix, ix + 1)[0, 0])
        if img.mask is not None:
            bits = int(img.region(img.mask, iy, iy + 1, ix, ix + 1)[0, 0])
            out["mask"] = bits
            out["mask_names"] = [n for n, b in img.mask_planes.items() if bits >> b & 1]
    ra = dec = None
    if img.wcs is not None:
        r, d = img.pix2world(np.array([x]), np.array([y]))
        ra, dec = _num(r[0]), _num(d[0])
    out["ra"], out["dec"] = ra, dec
    return out


class TransformHandler(RenderHandler):
    """``POST /lsstbox/image/world2pix`` and ``/pix2world`` (vectorised)."""

    def initialize(self, direction: str) -> None:
        self.direction = direction

    @web.authenticated
    @authorized("read")
    async def post(self) -> None:
        names = ("ra", "dec") if self.direction == "world2pix" else ("x", "y")
        try:
            src, u, v = await self.in_pool(parse_points, self.request.body, names)
            _, img = await self.open(src if src is not None else self.arg("src"))
            if img.wcs is None:
                raise RenderError(f"{img.path.name} has no celestial WCS", 422)
            body = await self.in_pool(transform_json, img, self.direction, u, v)
        except RenderError as e:
            return self.fail(e)
        self.finish(body)


def transform_json(img: ImageFile, direction: str, u: np.ndarray, v: np.ndarray) -> bytes:
    """The JSON answer: pixel positions to 0.001 px, sky positions to 1e-10 degree."""
    if direction == "world2pix":
        x, y = img.world2pix(u, v)
        inside = img.inside(x, y)
        return b'{"x":%s,"y":%s,"inside":%s}' % (json_array(x, 3), json_array(y, 3), json_array(inside, 0))
    ra, dec = img.pix2world(u, v)
    return b'{"ra":%s,"dec":%s}' % (json_array(ra, 10), json_array(dec, 10))


class OptionsHandler(RenderHandler):
    """``GET /lsstbox/image/options``: what the tile endpoint accepts."""

    @web.authenticated
    @authorized("read")
    def get(self) -> None:
        self.finish(
            json.dumps(
                {
                    "src_kinds": ["file", "did", "butler"],
                    "stretches": list(STRETCHES),
                    "cmaps": cmap_names(),
                    "max_out": MAX_OUT,
                    "max_box_pixels": MAX_BOX_PIXELS,
                    "max_points": MAX_POINTS,
                    "default_mask_colours": {k: bytes(v).hex() for k, v in DEFAULT_MASK_COLOURS.items()},
                    "cache": {"bytes": PLANES.nbytes, "max_bytes": PLANES.max_bytes},
                    "y_axis": Y_AXIS,
                    "pixels": PIXELS,
                }
            )
        )


def render_handlers() -> list[tuple[str, Any] | tuple[str, Any, dict[str, Any]]]:
    return [
        (rf"{BASE}/info/?", InfoHandler),
        (rf"{BASE}/tile/?", TileHandler),
        (rf"{BASE}/pixel/?", PixelHandler),
        (rf"{BASE}/world2pix/?", TransformHandler, {"direction": "world2pix"}),
        (rf"{BASE}/pix2world/?", TransformHandler, {"direction": "pix2world"}),
        (rf"{BASE}/options/?", OptionsHandler),
    ]
