"""``GET /lsstbox/static/<file>``: the front-end bundles built from ``js/widgets`` (``skycore.js``,
``sky.js``, ``sky.css``), for the lab's sky panel, which loads ``skycore.js`` at run time.

Behind Jupyter's authentication like every ``/lsstbox`` handler; plain file names of the one
folder only (no sub-folders, no hidden files, no ``..``); errors as the box's JSON
``{"error": ..., "status": ...}``. Answers carry an ETag (a hash of the file) and
``Cache-Control: no-cache``: the browser revalidates and gets a 304 while the bundle is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from .handlers import error_reason

__all__ = ["StaticAssetHandler", "static_dir", "static_handlers"]

_NAME = re.compile(r"^[A-Za-z0-9._-]+$")

CONTENT_TYPES = {
    ".js": "text/javascript; charset=UTF-8",
    ".mjs": "text/javascript; charset=UTF-8",
    ".css": "text/css; charset=UTF-8",
    ".json": "application/json; charset=UTF-8",
    ".map": "application/json; charset=UTF-8",
    ".wasm": "application/wasm",
}


def static_dir() -> Path:
    """``kernel_lib/widgets/static/``: where ``js/widgets`` builds its bundles."""
    from kernel_lib.widgets import sky

    return Path(sky.STATIC)


@lru_cache(maxsize=16)
def _read(path: str, mtime_ns: int, size: int) -> tuple[bytes, str]:
    """The file's bytes and its ETag (cached while its mtime and size stay the same)."""
    data = Path(path).read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


class StaticAssetHandler(JupyterHandler):
    """The files of :func:`static_dir`, by plain name."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.clear_header("Cache-Control")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": error_reason(self, status_code, kwargs), "status": status_code}))

    def _file(self, name: str) -> Path:
        if not _NAME.match(name) or name.startswith("."):
            raise web.HTTPError(404, reason=f"no static file {name!r}: plain file names only")
        folder = static_dir()
        if not folder.is_dir():
            raise web.HTTPError(
                404,
                reason=f"the front-end bundles are not built ({folder} is missing): run scripts/setup.sh "
                "(or `npm ci && npm run build` in js/widgets)",
            )
        path = folder / name
        if not path.is_file():
            raise web.HTTPError(404, reason=f"no static file {name!r}")
        return path

    def _serve(self, name: str, include_body: bool) -> None:
        path = self._file(name)
        st = path.stat()
        data, etag = _read(str(path), st.st_mtime_ns, st.st_size)
        self.set_header("Content-Type", CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Etag", etag)
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return
        self.set_header("Content-Length", str(len(data)))
        self.finish(data if include_body else None)

    @web.authenticated
    def get(self, name: str) -> None:
        self._serve(name, include_body=True)

    @web.authenticated
    def head(self, name: str) -> None:
        self._serve(name, include_body=False)


def static_handlers() -> list[tuple[str, type]]:
    return [(r"/lsstbox/static/(.*)", StaticAssetHandler)]
