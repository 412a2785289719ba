"""HTTP handlers of the box, all behind Jupyter's authentication.

Errors are mapped to responses in one place (:meth:`BoxAPIHandler.write_error`): a JSON body
``{"error": "<one line>"}`` with a meaningful status, never a traceback.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jupyter_server.base.handlers import APIHandler, AuthenticatedFileHandler
from jupyter_server.utils import url_path_join
from tornado import web

from kernel_lib.release.manifest import Release, ReleaseError

__all__ = ["ReleaseFileHandler", "error_reason", "handlers", "release_of"]


def release_of(handler: web.RequestHandler) -> Release:
    try:
        return handler.settings["lsstbox_release"].get()
    except ReleaseError as e:
        raise web.HTTPError(503, reason=str(e).splitlines()[0]) from None


def error_reason(handler: web.RequestHandler, status_code: int, kwargs: dict[str, Any]) -> str:
    """The one-line message of an error response: an ``HTTPError`` 's reason, else the status's
    phrase, and for an unexpected exception (a 5xx) never its text."""
    exc = kwargs.get("exc_info", (None, None, None))[1]
    if isinstance(exc, web.HTTPError) and exc.reason:
        return exc.reason
    if status_code >= 500 and not isinstance(exc, web.HTTPError):
        return "internal error; see the server log"
    return handler._reason


class BoxAPIHandler(APIHandler):
    """Base of the box's JSON handlers: one error format for all of them."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": error_reason(self, status_code, kwargs), "status": status_code}))


class ReleaseHandler(BoxAPIHandler):
    """``GET /lsstbox/api/release``: what the release holds and where its services are."""

    @web.authenticated
    def get(self) -> None:
        rel = release_of(self)
        self.finish(json.dumps(rel.summary(self.base_url)))


class ReleaseFileHandler(AuthenticatedFileHandler):
    """Static files of a folder of the release, whose root each ``get`` sets from the manifest;
    tornado refuses paths resolving outside it; errors as the box's JSON."""

    auth_resource = "contents"

    def initialize(
        self,
        path: str = "/",
        default_filename: str | None = None,
        allowed_symlink_directory: str | list[str] | None = None,
    ) -> None:
        super().initialize(path, default_filename, allowed_symlink_directory)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        BoxAPIHandler.write_error(self, status_code, **kwargs)  # type: ignore[arg-type]


class HipsHandler(ReleaseFileHandler):
    """``GET /lsstbox/hips/<id>/<path>``: the release's HiPS trees as static files."""

    @web.authenticated
    def get(self, hips_id: str, path: str, include_body: bool = True) -> Any:  # type: ignore[override]
        rel = release_of(self)
        trees = {h["id"]: h for h in rel.hips}
        if hips_id not in trees:
            raise web.HTTPError(404, reason=f"no HiPS {hips_id!r} in release {rel.name}")
        self.root = str(rel.resolve(trees[hips_id]["path"]))
        # Aladin Lite given a base URL ending in "/" asks for ".../color//Norder3/...": the empty
        # segment is harmless, while tornado would read "/Norder3" as absolute and refuse it
        path = path.lstrip("/")
        return super().get(path or "index.html", include_body=include_body)


class HipsListHandler(BoxAPIHandler):
    """``GET /lsstbox/hips/``: the HiPS trees of the release (id, title, url)."""

    @web.authenticated
    def get(self) -> None:
        rel = release_of(self)
        self.finish(json.dumps(rel.summary(self.base_url)["hips"]))


#: what ``GET /lsstbox/moc/<id>.<ext>`` serves: the FITS file as written, or mocpy's serialisations
MOC_FORMATS = {
    "fits": "application/fits",
    "json": "application/json; charset=UTF-8",
    "txt": "text/plain; charset=UTF-8",
}
_MOC_NAME = re.compile(r"^([A-Za-z0-9_-]+)\.(fits|json|txt)$")


@lru_cache(maxsize=64)
def _moc_text(path: str, mtime_ns: int, fmt: str) -> str:
    from mocpy import MOC

    return str(MOC.from_fits(path).to_string(format="json" if fmt == "json" else "ascii"))


class MocHandler(ReleaseFileHandler):
    """``GET /lsstbox/moc/<id>.fits|json|txt``: the IVOA MOC of a catalog or image collection."""

    @web.authenticated
    def get(self, name: str, include_body: bool = True) -> Any:  # type: ignore[override]
        rel = release_of(self)
        m = _MOC_NAME.match(name)
        if not m:
            raise web.HTTPError(
                404, reason=f"no MOC {name!r}: ask for <id>.fits, <id>.json or <id>.txt (ids: /lsstbox/moc/)"
            )
        moc_id, fmt = m.groups()
        mocs = {mo["id"]: mo for mo in rel.mocs}
        if moc_id not in mocs:
            raise web.HTTPError(404, reason=f"no MOC {moc_id!r} in release {rel.name}")
        try:
            path = rel.resolve(mocs[moc_id]["path"])
        except ReleaseError as e:
            raise web.HTTPError(404, reason=str(e)) from None
        if fmt == "fits":
            self.root = str(path.parent)
            return super().get(path.name, include_body=include_body)
        try:
            text = _moc_text(str(path), path.stat().st_mtime_ns, fmt)
        except OSError:
            raise web.HTTPError(404, reason=f"MOC {moc_id!r} is missing from release {rel.name}") from None
        self.set_header("Content-Type", MOC_FORMATS[fmt])
        if include_body:
            self.finish(text)
        else:
            self.set_header("Content-Length", str(len(text.encode())))
            self.finish()
        return None

    def get_content_type(self) -> str:
        return (
            MOC_FORMATS["fits"]
            if Path(self.absolute_path or "").suffix == ".fits"
            else super().get_content_type()
        )


class MocListHandler(BoxAPIHandler):
    """``GET /lsstbox/moc/``: the MOCs of the release (id, title, kind, band, order, sky fraction, url)."""

    @web.authenticated
    def get(self) -> None:
        rel = release_of(self)
        self.finish(json.dumps(rel.summary(self.base_url)["mocs"]))


def handlers() -> list[tuple[str, type, dict[str, Any]] | tuple[str, type]]:
    return [
        (url_path_join("/lsstbox", "api", "release"), ReleaseHandler),
        (r"/lsstbox/hips/?", HipsListHandler),
        (r"/lsstbox/hips/([^/]+)/(.*)", HipsHandler),
        (r"/lsstbox/moc/?", MocListHandler),
        (r"/lsstbox/moc/([^/]+)", MocHandler),
    ]
