"""HTTP handlers of the image services, behind Jupyter's authentication.

* ``/lsstbox/sia/query`` -- SIA 2.0 over ``ivoa.ObsCore`` (:mod:`.sia`), with VOSI
  ``/lsstbox/sia/capabilities`` and ``/availability``;
* ``/lsstbox/soda/sync`` -- SODA 1.0 sync cutouts (:mod:`.soda`), with VOSI too.

Errors are DALI VOTable error documents (``QUERY_STATUS=ERROR``) with a 4xx status, the message
starting with the fault's name; never a traceback.  Work runs in a thread pool.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
from tornado import web

from kernel_lib.release.manifest import ReleaseError
from server_ext.handlers import release_of
from server_ext.tap.handlers import XML, TapHandler
from server_ext.tap.votable import parse_format, write_result

__all__ = ["image_handlers"]

SIA = "/lsstbox/sia"
SODA = "/lsstbox/soda"


class ImageHandler(TapHandler):
    """The TAP handlers' parameters, errors and threads; ObsCore from the TAP service."""

    def obscore(self) -> pa.Table:
        try:
            table = self.service.obscore().get("ivoa.ObsCore")
        except ReleaseError as e:
            raise web.HTTPError(503, reason=str(e).splitlines()[0]) from None
        if table is None:
            raise web.HTTPError(404, reason="NotFoundFault: this release has no images (no ObsCore table)")
        return table


@web.stream_request_body
class SiaQueryHandler(ImageHandler):
    """``GET|POST /lsstbox/sia/query``: SIA 2.0 query."""

    @web.authenticated
    async def get(self) -> None:
        await self._query()

    @web.authenticated
    async def post(self) -> None:
        await self._query()

    async def _query(self) -> None:
        from server_ext.tap.datalink import absolute_access_urls, describe

        from .sia import SiaError, parse_sia, select, self_description

        lim = self.service.limits
        try:
            q = parse_sia(self._arguments(), default_maxrec=lim.default_maxrec, hard_maxrec=lim.hard_maxrec)
            fmt = parse_format(q.responseformat)
        except (SiaError, ValueError) as e:
            raise web.HTTPError(400, reason=f"UsageError: {e}") from None
        obscore = self.obscore()
        rows, overflow = await self.in_thread(select, obscore, q)
        schema, descriptors = describe(rows.schema, self.server_url)
        batches = [absolute_access_urls(b, self.server_url) for b in rows.to_batches()]
        if q.maxrec == 0:
            descriptors = [self_description(f"{self.server_url.rstrip('/')}{SIA}/query"), *descriptors]
        out = io.BytesIO()
        write_result(out, fmt, schema, batches, overflow=overflow, service_descriptors=descriptors)
        out.seek(0)
        await self.stream_file(out, fmt.mime)


class VosiHandler(ImageHandler):
    """``/capabilities`` and ``/availability`` of the SIA and SODA services."""

    @web.authenticated
    def get(self, service: str, what: str) -> None:
        from server_ext.tap import vosi

        base = f"{self.server_url.rstrip('/')}/lsstbox/{service}"
        if what == "availability":
            try:
                ok = self.service.obscore().get("ivoa.ObsCore") is not None
                note = (
                    f"the {service.upper()} service is accepting queries"
                    if ok
                    else "this release has no images"
                )
            except ReleaseError as e:
                ok, note = False, str(e).splitlines()[0]
            self.finish(vosi.availability_xml(ok, note), set_content_type=XML)
            return
        if service == "sia":
            from .sia import capabilities_xml

            self.finish(capabilities_xml(base), set_content_type=XML)
        else:
            from .soda import soda_capabilities_xml

            self.finish(soda_capabilities_xml(base), set_content_type=XML)


_INDEX_LOCK = threading.Lock()
_INDEX: dict[int, tuple[pa.Table, dict[str, tuple[str, str]]]] = {}


def _did_index(obscore: pa.Table) -> dict[str, tuple[str, str]]:
    """``obs_publisher_did -> (lsst_file, s_region)`` of an ObsCore table (built once)."""
    with _INDEX_LOCK:
        hit = _INDEX.get(id(obscore))
        if hit is not None and hit[0] is obscore:
            return hit[1]
        cols = obscore.select(["obs_publisher_did", "lsst_file", "s_region"]).to_pydict()
        index = {
            d: (f, r)
            for d, f, r in zip(cols["obs_publisher_did"], cols["lsst_file"], cols["s_region"], strict=True)
            if d and f
        }
        _INDEX.clear()
        _INDEX[id(obscore)] = (obscore, index)
        return index


@web.stream_request_body
class SodaSyncHandler(ImageHandler):
    """``GET|POST /lsstbox/soda/sync``: one cutout as FITS."""

    @web.authenticated
    async def get(self) -> None:
        await self._cutout()

    @web.authenticated
    async def post(self) -> None:
        await self._cutout()

    async def _cutout(self) -> None:
        from .soda import SodaError, cutout_fits, parse_soda

        try:
            c = parse_soda(self._arguments())
        except SodaError as e:
            raise web.HTTPError(e.status, reason=str(e)) from None
        entry = _did_index(self.obscore()).get(c.id)
        if entry is None:
            raise web.HTTPError(404, reason=f"NotFoundFault: no image {c.id[:200]!r} in this release")
        rel = release_of(self)
        try:
            path: Path = rel.resolve(entry[0])
        except ReleaseError:
            raise web.HTTPError(404, reason=f"NotFoundFault: no file for {c.id[:200]!r}") from None
        try:
            data = await self.in_thread(cutout_fits, path, entry[1], c)
        except SodaError as e:
            raise web.HTTPError(e.status, reason=str(e)) from None
        name = Path(entry[0]).stem
        self.set_header("Content-Disposition", f'inline; filename="{name}_cutout.fits"')
        self.finish(data, set_content_type="application/fits")


class RootHandler(TapHandler):
    """``GET /lsstbox/sia`` and ``/lsstbox/soda``: where the endpoints are."""

    votable_errors = False

    @web.authenticated
    def get(self, service: str) -> None:
        base = f"{self.server_url.rstrip('/')}/lsstbox/{service}"
        parts = ["query" if service == "sia" else "sync", "capabilities", "availability"]
        self.finish({p: f"{base}/{p}" for p in parts})


def image_handlers() -> list[tuple[str, Any]]:
    return [
        (r"/lsstbox/(sia|soda)/?", RootHandler),
        (rf"{SIA}/query/?", SiaQueryHandler),
        (rf"{SODA}/sync/?", SodaSyncHandler),
        (r"/lsstbox/(sia|soda)/(capabilities|availability)/?", VosiHandler),
    ]
