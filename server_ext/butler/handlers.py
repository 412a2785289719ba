"""``/lsstbox/butler/...``: daf_butler's Butler server, behind Jupyter's authentication.

* ``GET /lsstbox/butler/``: the repositories (one, ``box``), their URLs and how to connect.
* ``GET /lsstbox/butler/repo/box/butler.yaml`` (or ``.json``): the client configuration that
  ``Butler("<...>/lsstbox/butler/repo/box")`` reads (``cls: RemoteButler``, ``url: <butlerRoot>``).
  Like daf_butler's own server, this one answer needs no authentication: it holds nothing
  but the class name and "here".
* ``GET|POST /lsstbox/butler/repo/box/<path>``: after Jupyter's authentication (token in
  ``Authorization: token|Bearer <t>``, as daf_butler's client sends it, or the session cookie),
  proxied to the Butler server (:mod:`.process`) at ``/api/butler/repo/box/<path>``; answers are
  streamed back as they come (query results are streamed by the server).

File locations: the server's answers about files (``v1/get_file/...``,
``v1/get_file_by_data_id``, ``v1/file_transfer``, the ``Location`` of ``.../download``) name
URLs under :data:`~.client.SENTINEL_ORIGIN`; they are rewritten to this server's own URL as the
client reached it (``<proto>://<host><base_url>lsstbox/files/<path>``, the authenticated files
endpoint), with ``auth: gafaelfawr`` so that daf_butler's client sends its bearer token there too.

Errors of the box are JSON ``{"error", "status"}``; for daf_butler's client (requests carrying
``X-Butler-Client-Request-Id``) they are daf_butler's own user-error answer (HTTP 422,
``{"error_type": "unknown", "detail"}``, the same body), which the client raises with the
message instead of a bare "Error while communicating with Butler server" -- except refusals of
authentication, which stay 403.  The server's own errors (422 user errors such as an unknown
dataset type, 404s) pass through; its internal errors (500) become a JSON error naming the last
error in its log, never a traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import unquote

from jupyter_server.utils import url_path_join
from tornado import httputil, web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError

from server_ext.handlers import BoxAPIHandler, error_reason, release_of

from .client import REPOSITORY, SENTINEL_ORIGIN, TOKEN_ENV, remote_butler_url
from .process import HOST, ButlerServer, ButlerServerError, api_path

__all__ = ["ButlerConfigHandler", "ButlerIndexHandler", "ButlerProxyHandler", "butler_handlers"]

PREFIX = "/lsstbox/butler"
#: daf_butler's client request ID header (``lsst.daf.butler.remote_butler.server_models``)
CLIENT_REQUEST_ID = "X-Butler-Client-Request-Id"
#: request headers passed to the server (everything else, cookies and ``Authorization``
#: included, stays here)
FORWARD_REQUEST = ("Content-Type", "Accept", "User-Agent", CLIENT_REQUEST_ID)
#: response headers not passed back
DROP_RESPONSE = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "server",
    "date",
    "proxy-authenticate",
    "trailer",
    "upgrade",
}
#: server paths whose JSON answers carry file URLs to rewrite
REWRITE = re.compile(r"^/v1/(get_file/[^/]+|get_file_by_data_id|file_transfer)/?$")
#: query parameters that are Jupyter's, never the server's
JUPYTER_PARAMS = {"token", "_xsrf"}

F = TypeVar("F", bound=Callable[..., Any])

try:  # jupyter_server >= 2.13: needed when ServerApp.allow_unauthenticated_access is False
    from jupyter_server.auth.decorator import allow_unauthenticated as _allow_unauthenticated
except ImportError:  # pragma: no cover

    def _allow_unauthenticated(method: F) -> F:
        return method


def _client_config() -> dict[str, Any]:
    return {
        "cls": "lsst.daf.butler.remote_butler.RemoteButler",
        "remote_butler": {"url": "<butlerRoot>", "authentication": "rubin_science_platform"},
    }


def check_path(raw: str) -> str:
    """``raw`` (percent-encoded, ``""`` or starting with ``/``) if it stays below the
    repository's URL on the server; else HTTPError 400."""

    def bad(why: str) -> web.HTTPError:
        return web.HTTPError(400, reason=f"bad Butler server path: {why}")

    if not raw:
        return raw
    if not raw.startswith("/"):
        raise bad("it must start with '/'")
    if re.search(r"%(2f|5c|00)", raw, re.IGNORECASE):
        raise bad("no encoded '/', '\\' or NUL")
    try:
        decoded = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise bad("its percent-encoding is not UTF-8") from None
    if "\\" in decoded or any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
        raise bad("no '\\' or control characters")
    segments = decoded.split("/")[1:]
    for i, seg in enumerate(segments):
        if seg in (".", ".."):
            raise bad("no '.' or '..' segments")
        if seg == "" and i != len(segments) - 1:
            raise bad("no empty segments ('//')")
    return raw


def forward_query(raw: str) -> str:
    """The query string without Jupyter's parameters, otherwise as sent."""
    if not raw:
        return ""
    kept = [p for p in raw.split("&") if p and unquote(p.split("=", 1)[0]) not in JUPYTER_PARAMS]
    return "&".join(kept)


def rewrite_file_urls(data: Any, base: str) -> Any:
    """``data`` (a server answer) with file URLs under the sentinel origin moved to ``base``
    (this server's URL, ending with ``/``) and their ``auth`` set to ``gafaelfawr`` (the client
    then sends its bearer token, the Jupyter token, with the download)."""
    if isinstance(data, dict):
        url = data.get("url")
        if isinstance(url, str) and url.startswith(SENTINEL_ORIGIN):
            data["url"] = base + url[len(SENTINEL_ORIGIN) :]
            if "auth" in data:
                data["auth"] = "gafaelfawr"
        for value in data.values():
            rewrite_file_urls(value, base)
    elif isinstance(data, list):
        for value in data:
            rewrite_file_urls(value, base)
    return data


class _ButlerHandler(BoxAPIHandler):
    """Base of the Butler handlers: the box's JSON errors, daf_butler's for its client."""

    def initialize(self, server: ButlerServer) -> None:
        self.server = server

    def external_base(self) -> str:
        """This Jupyter server's URL as the client reached it, ending with ``/``."""
        return f"{self.request.protocol}://{self.request.host}{self.base_url}"

    def repository_url(self) -> str:
        return remote_butler_url(self.external_base())

    def check_repository(self, name: str) -> None:
        if name != REPOSITORY:
            raise web.HTTPError(
                404, reason=f"no Butler repository {name!r} in the box (there is {REPOSITORY!r})"
            )

    def send_error_json(self, status: int, message: str) -> None:
        """Answer the box's error (``{"error", "status"}``), as daf_butler's user error (422)
        for daf_butler's client unless it is an authentication refusal."""
        message = " ".join(message.split()) or "error"
        body: dict[str, Any] = {"error": message, "status": status}
        if self.request.headers.get(CLIENT_REQUEST_ID) and status not in (401, 403):
            body.update({"error_type": "unknown", "detail": f"lsstbox: {message}"})
            status = 422
        self.clear_header("Content-Length")
        self.clear_header("Location")
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.send_error_json(status_code, error_reason(self, status_code, kwargs))


class ButlerIndexHandler(_ButlerHandler):
    """``GET /lsstbox/butler/``: the repositories and how daf_butler's client reaches them."""

    @web.authenticated
    def get(self) -> None:
        rel = release_of(self)
        butler = rel.butler or {}
        url = self.repository_url()
        self.finish(
            json.dumps(
                {
                    "repositories": {
                        REPOSITORY: {
                            "url": url,
                            "config": f"{url}/butler.yaml",
                            "collections": butler.get("collections", []),
                        }
                    },
                    "running": self.server.running,
                    "token_env": TOKEN_ENV,
                    "usage": (
                        f"os.environ[{TOKEN_ENV!r}] = <Jupyter token>; Butler({url!r}, collections=...)"
                    ),
                }
            )
        )


class ButlerConfigHandler(_ButlerHandler):
    """``GET /lsstbox/butler/repo/box/butler.yaml|json``: the client's configuration."""

    @_allow_unauthenticated
    def get(self, name: str, filename: str) -> None:
        self.check_repository(name)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(_client_config()))


class ButlerProxyHandler(_ButlerHandler):
    """``GET|POST /lsstbox/butler/repo/box/<path>``: the Butler server's answer, streamed."""

    def initialize(self, server: ButlerServer) -> None:
        super().initialize(server)
        self._start: httputil.ResponseStartLine | None = None
        self._head = httputil.HTTPHeaders()
        self._buffer: list[bytes] | None = None  # the answer, when it is rewritten or an error
        self._sent = False
        self._gone = False
        self._rewrite = False

    @web.authenticated
    async def get(self, name: str, rest: str | None = None) -> None:
        await self._proxy(name)

    @web.authenticated
    async def post(self, name: str, rest: str | None = None) -> None:
        await self._proxy(name)

    def on_connection_close(self) -> None:
        self._gone = True
        super().on_connection_close()

    def _raw_rest(self, name: str) -> str:
        """The percent-encoded path below ``.../repo/<name>``, as the client sent it."""
        prefix = url_path_join(self.base_url, PREFIX, "repo")
        path = self.request.path
        if not path.startswith(prefix + "/"):
            raise web.HTTPError(404, reason="not a Butler server path")
        rest = path[len(prefix) + 1 :]
        return rest[rest.index("/") :] if "/" in rest else ""

    async def _proxy(self, name: str) -> None:
        self.check_repository(name)
        rest = check_path(self._raw_rest(name))
        if rest in ("", "/"):
            url = self.repository_url()
            self.finish(json.dumps({"repository": REPOSITORY, "url": url, "config": f"{url}/butler.yaml"}))
            return
        rel = release_of(self)
        if not rel.butler:
            raise web.HTTPError(404, reason=f"release {rel.name} has no Butler repository")
        try:
            await self.server.client(rel.resolve(rel.butler["root"]))
        except ButlerServerError as e:
            raise web.HTTPError(503, reason=str(e)) from None
        query = forward_query(self.request.query)
        target = api_path(rest.lstrip("/")) + (f"?{query}" if query else "")
        headers = {k: self.request.headers[k] for k in FORWARD_REQUEST if k in self.request.headers}
        user = getattr(self.current_user, "username", None)
        if user and str(user).isascii() and str(user).isprintable():
            headers["X-Auth-Request-User"] = str(user)  # for the server's log only
        method = self.request.method or "GET"
        self._rewrite = bool(REWRITE.match(rest))
        log_offset = self.server.log_size()
        request = HTTPRequest(
            f"http://{HOST}{target}",
            method=method,
            headers=headers,
            body=self.request.body if method == "POST" else None,
            follow_redirects=False,
            decompress_response=False,
            connect_timeout=10,
            request_timeout=3600,
            header_callback=self._on_header_line,
            streaming_callback=cast(Any, self._on_chunk),
        )
        try:
            response = await self.server.fetch_request(request)
        except ButlerServerError as e:
            raise web.HTTPError(503, reason=str(e)) from None
        if self._gone or self._finished:
            return
        error = response.error
        if (error is not None and not isinstance(error, HTTPClientError)) or response.code == 599:
            why = str(error) if error is not None else "no answer"
            if self._sent:  # too late for an error answer: cut the stream short
                self.log.error("lsstbox: the Butler server broke off its answer to %s: %s", target, why)
                self.request.connection.close()  # type: ignore[union-attr]
                return
            if not self.server.running:
                why = f"the Butler server stopped ({self.server.error_since(log_offset) or why})"
            self.send_error_json(502, f"the Butler server did not answer: {why}")
            return
        if self._buffer is None:
            self.finish()
            return
        body = b"".join(self._buffer)
        assert self._start is not None
        code = self._start.code
        if code >= 500:
            why = self.server.error_since(log_offset) or f"HTTP {code}"
            self.log.error("lsstbox: the Butler server failed on %s %s: %s", method, target, why)
            self.send_error_json(500, f"the Butler server failed on this request: {why}")
            return
        try:
            data = rewrite_file_urls(json.loads(body), self.external_base())
        except ValueError:
            self.send_error_json(502, "the Butler server's answer about files is not JSON")
            return
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    # -- the answer, from tornado's HTTP client --------------------------------------------------
    def _on_header_line(self, line: str) -> None:
        """tornado's header_callback: the status line, each header, then an empty line."""
        if line.startswith("HTTP/"):
            self._start = httputil.parse_response_start_line(line.strip())
            self._head = httputil.HTTPHeaders()
        elif line.strip():
            self._head.parse_line(line)
        elif self._start is not None and self._start.code != 100:
            self._answer_headers()

    def _answer_headers(self) -> None:
        assert self._start is not None
        code = self._start.code
        if code >= 500 or (self._rewrite and code == 200):
            self._buffer = []
            return
        self.set_status(code, self._start.reason or None)
        self.clear_header("Content-Type")
        base = self.external_base()
        for k, v in self._head.get_all():
            if k.lower() in DROP_RESPONSE:
                continue
            if k.lower() == "location" and v.startswith(SENTINEL_ORIGIN):
                v = base + v[len(SENTINEL_ORIGIN) :]
            try:
                self.add_header(k, v)
            except ValueError:  # a value tornado refuses to send
                continue

    async def _on_chunk(self, chunk: bytes) -> None:
        """tornado's streaming_callback: each chunk of the answer, written before the next."""
        if self._buffer is not None:
            self._buffer.append(chunk)
            return
        if self._gone or self._finished:
            return
        self.write(chunk)
        self._sent = True
        try:
            await self.flush()
        except StreamClosedError:
            self._gone = True


def butler_handlers(server: ButlerServer) -> list[tuple[str, type, dict[str, Any]]]:
    kwargs = {"server": server}
    return [
        (rf"{PREFIX}/?", ButlerIndexHandler, kwargs),
        (rf"{PREFIX}/repo/([^/]+)/(butler\.(?:yaml|json))", ButlerConfigHandler, kwargs),
        (rf"{PREFIX}/repo/([^/]+)(/.*)?", ButlerProxyHandler, kwargs),
    ]
