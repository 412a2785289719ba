"""A proxy to remote science-platform services: ``/lsstbox/proxy/<name>/<path>?<query>``.

Each configured *upstream* (``LsstBoxApp.upstreams`` or ``$LSSTBOX_UPSTREAMS``) is a base URL such as
``https://data.lsst.cloud/api/tap`` and, optionally, a token.  A request to
``<jupyter>/lsstbox/proxy/<name>/<path>`` is sent to ``<url>/<path>`` with the token in a header,
added here: the browser and the kernel never see it, and Jupyter's own credentials (its
``Authorization`` header, cookies, XSRF token, ``?token=``) never leave the server.

Bodies stream in both directions with back-pressure (tornado's HTTP client with a ``body_producer``
and an awaitable ``streaming_callback``): a 10 GB result goes through a few chunks of memory.  The
path cannot leave the upstream's base URL (no ``..``, ``//``, ``@``, ``\\``, encoded ``/`` or dots);
redirects are never followed: one to a URL under a configured upstream is rewritten to the proxy's
URL, any other is a 502.  URLs under the configured upstreams in text responses (XML, VOTable,
JSON, text/*: UWS job and result URLs, access URLs) and in ``Location`` are rewritten to the proxy's,
so that async TAP keeps talking through the proxy.  The ``timeout`` of an upstream bounds each wait
on it (connecting, answering, the silence between two chunks), not a whole transfer.  The box's own
errors are JSON ``{"error", "status"}``: unknown upstream 404, bad path 400, upstream unreachable or
redirecting elsewhere 502, upstream silent 504; the upstream's own answers pass through as they are.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import SplitResult, quote, unquote, unquote_plus, urljoin, urlsplit

from jupyter_server.utils import url_path_join
from tornado import httputil, web
from tornado.httpclient import HTTPClientError, HTTPRequest, HTTPResponse
from tornado.iostream import IOStream, StreamClosedError
from tornado.simple_httpclient import HTTPTimeoutError, SimpleAsyncHTTPClient
from tornado.tcpclient import TCPClient

from .handlers import BoxAPIHandler

__all__ = [
    "ProxyHandler",
    "ProxyListHandler",
    "Upstream",
    "UpstreamError",
    "UrlRewriter",
    "check_path",
    "load_upstreams",
    "proxy_handlers",
]

PREFIX = "lsstbox/proxy"
DEFAULT_TIMEOUT = 60.0
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
KEYS = {"url", "token", "token_env", "token_file", "header", "scheme", "timeout"}
#: request methods whose requests carry a body
BODY_METHODS = {"POST", "PUT", "PATCH"}
#: chunks of a request body waiting for the upstream (tornado reads 64 KiB at a time)
PIPE_CHUNKS = 8

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
#: request headers that stay here: Jupyter's credentials, what identifies the Jupyter server, and
#: what the proxy sets itself (Host, Accept-Encoding, the upstream's credential)
REQUEST_DROP = HOP_BY_HOP | {
    "host",
    "authorization",
    "cookie",
    "x-xsrftoken",
    "x-csrftoken",
    "referer",
    "origin",
    "accept-encoding",
    "expect",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-real-ip",
}
#: query parameters that are Jupyter's (``?token=`` authenticates to Jupyter)
QUERY_DROP = {"token", "_xsrf"}
#: response headers not passed on: the upstream's cookies and security policies would apply to the
#: Jupyter server's origin (its own CSP stays), and what tornado recomputes
RESPONSE_DROP = HOP_BY_HOP | {
    "set-cookie",
    "set-cookie2",
    "content-security-policy",
    "content-security-policy-report-only",
    "strict-transport-security",
    "x-consumed-content-encoding",
    "server",
    "date",
    "location",
    "content-location",
    "content-length",
}


class UpstreamError(ValueError):
    """A configuration of an upstream that cannot be used, or its token cannot be read."""


# -- configuration ----------------------------------------------------------------------------------
def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


@dataclass(frozen=True)
class Upstream:
    """A remote service reachable at ``/lsstbox/proxy/<name>/``; ``url`` has no trailing ``/``."""

    name: str
    url: str
    token: str | None = field(default=None, repr=False)
    token_env: str | None = None
    token_file: str | None = None
    header: str = "Authorization"
    scheme: str = "Bearer"
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_config(cls, name: str, conf: Any) -> Upstream:
        if not isinstance(name, str) or not NAME.match(name):
            raise UpstreamError(
                "names are letters, digits, '_', '-' and '.', starting with a letter or digit"
            )
        if isinstance(conf, str):
            conf = {"url": conf}
        if not isinstance(conf, Mapping):
            raise UpstreamError('expected a URL or an object {"url": ..., "token": ...}')
        unknown = set(conf) - KEYS
        if unknown:
            raise UpstreamError(f"unknown keys {sorted(unknown)} (known: {sorted(KEYS)})")
        url = conf.get("url")
        if not isinstance(url, str) or not url:
            raise UpstreamError("'url' is missing")
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise UpstreamError(f"'url' must be an http(s) URL with a host, not {url!r}")
        if parts.query or parts.fragment or "@" in parts.netloc:
            raise UpstreamError("'url' must not have a query, a fragment or user info")
        if _origin(parts)[2] == -1:
            raise UpstreamError(f"bad port in {url!r}")
        path = parts.path.rstrip("/")
        if path:
            check_path(path)
        strings = {}
        for key in ("token", "token_env", "token_file", "header", "scheme"):
            value = conf.get(key)
            if value is not None and not isinstance(value, str):
                raise UpstreamError(f"'{key}' must be a string")
            strings[key] = value or None
        header = strings["header"] or "Authorization"
        if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", header) or header.lower() in REQUEST_DROP - {
            "authorization"
        }:
            raise UpstreamError(f"'header' {header!r} cannot carry a token")
        scheme = conf.get("scheme")
        if scheme is None:
            scheme = "Bearer" if header.lower() == "authorization" else ""
        timeout = conf.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise UpstreamError("'timeout' must be a positive number of seconds")
        if strings["token"] is not None:
            _check_token(strings["token"])
        return cls(
            name=name,
            url=f"{parts.scheme.lower()}://{parts.netloc}{path}",
            token=strings["token"],
            token_env=strings["token_env"],
            token_file=strings["token_file"],
            header=header,
            scheme=scheme,
            timeout=float(timeout),
        )

    @property
    def parts(self) -> SplitResult:
        return urlsplit(self.url)

    @property
    def token_source(self) -> str | None:
        """Where the token comes from ("token", "token_env", "token_file"), never the token."""
        for key in ("token", "token_env", "token_file"):
            if getattr(self, key):
                return key
        return None

    def read_token(self) -> str | None:
        """The token, read now (so that a renewed environment or file is used); None without one."""
        if self.token:
            return self.token
        if self.token_env:
            value = os.environ.get(self.token_env, "").strip()
            if not value:
                raise UpstreamError(f"the token of upstream {self.name!r} is not set (${self.token_env})")
            return _check_token(value)
        if self.token_file:
            try:
                value = Path(self.token_file).expanduser().read_text().strip()
            except OSError as e:
                raise UpstreamError(
                    f"the token file of upstream {self.name!r} cannot be read ({e.strerror})"
                ) from None
            if not value:
                raise UpstreamError(f"the token file of upstream {self.name!r} is empty")
            return _check_token(value)
        return None

    def credential(self) -> tuple[str, str] | None:
        """The header to add to requests to this upstream (name, value), or None."""
        token = self.read_token()
        if token is None:
            return None
        return self.header, f"{self.scheme} {token}" if self.scheme else token

    def contains(self, url: str) -> str | None:
        """The part of ``url`` below this upstream's base (``""`` or ``/...``, query included), or
        None when ``url`` is not under it."""
        parts = urlsplit(url)
        base = self.parts
        if _origin(parts) != _origin(base):
            return None
        path = parts.path
        if not (path == base.path or path.startswith(base.path + "/")):
            return None
        rest = path[len(base.path) :]
        try:
            check_path(rest)
        except web.HTTPError:
            return None
        return (
            rest
            + (f"?{parts.query}" if parts.query else "")
            + (f"#{parts.fragment}" if parts.fragment else "")
        )

    def describe(self, proxy_url: str) -> dict[str, Any]:
        try:
            available = self.read_token() is not None
        except UpstreamError:
            available = False
        return {
            "name": self.name,
            "url": self.url,
            "proxy_url": proxy_url,
            "token": self.token_source is not None,
            "token_source": self.token_source,
            "token_available": available,
            "header": self.header if self.token_source else None,
            "timeout": self.timeout,
        }


def _check_token(token: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in token):
        raise UpstreamError("a token cannot contain control characters")
    return token


def load_upstreams(config: Mapping[str, Any], env_json: str = "", log: Any = None) -> dict[str, Upstream]:
    """The upstreams of ``$LSSTBOX_UPSTREAMS`` (JSON) and of the configuration (which wins, name by
    name); an entry that cannot be used is logged and left out."""

    def error(msg: str, *args: Any) -> None:
        if log is not None:
            log.error("lsstbox: " + msg, *args)

    merged: dict[str, Any] = {}
    if env_json.strip():
        try:
            data = json.loads(env_json)
        except json.JSONDecodeError as e:
            error("$LSSTBOX_UPSTREAMS is not JSON (%s); ignored", e)
            data = {}
        if isinstance(data, dict):
            merged.update(data)
        else:
            error("$LSSTBOX_UPSTREAMS must be a JSON object {name: {url, token...}}; ignored")
    merged.update(config)
    upstreams: dict[str, Upstream] = {}
    for name, conf in merged.items():
        try:
            up = upstreams[name] = Upstream.from_config(name, conf)
        except UpstreamError as e:
            error("upstream %r ignored: %s", name, e)
            continue
        host = up.parts.hostname or ""
        if up.token_source and up.parts.scheme == "http" and not _is_loopback(host) and log is not None:
            log.warning("lsstbox: upstream %r sends its token over plain http to %s", name, host)
    return upstreams


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- paths, queries, headers ------------------------------------------------------------------------
def _bad(message: str) -> web.HTTPError:
    return web.HTTPError(400, reason=f"bad proxy path: {message}")


def check_path(raw: str) -> str:
    """``raw`` (the percent-encoded path below an upstream's base, ``""`` or starting with ``/``)
    if appending it to the base URL cannot leave the base; else HTTPError 400."""
    if not raw:
        return raw
    if not raw.startswith("/"):
        raise _bad("it must start with '/'")
    if re.search(r"%(2f|5c|00)", raw, re.IGNORECASE):
        raise _bad("no encoded '/', '\\' or NUL")
    decoded = unquote(raw, errors="strict") if _is_utf8(raw) else None
    if decoded is None:
        raise _bad("its percent-encoding is not UTF-8")
    if re.search(r"%[0-9a-fA-F]{2}", decoded):
        raise _bad("no doubly percent-encoded characters")
    if (
        " " in raw
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded)
        or any(c in decoded for c in "\\@")
    ):
        raise _bad("no '\\', '@', unencoded spaces or control characters")
    segments = decoded.split("/")[1:]
    for i, seg in enumerate(segments):
        if seg in (".", ".."):
            raise _bad("no '.' or '..' segments")
        if seg == "" and i != len(segments) - 1:
            raise _bad("no empty segments ('//')")
    return raw


def _is_utf8(raw: str) -> bool:
    try:
        unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return False
    return True


def forward_query(raw: str) -> str:
    """The query string without Jupyter's parameters (``token``, ``_xsrf``), otherwise as sent."""
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in raw) or "#" in raw:
        raise web.HTTPError(400, reason="bad query string: spaces, control characters or '#'")
    kept = [p for p in raw.split("&") if p and unquote_plus(p.split("=", 1)[0]) not in QUERY_DROP]
    return "&".join(kept)


def forward_headers(headers: httputil.HTTPHeaders) -> httputil.HTTPHeaders:
    """The client's headers that may go to the upstream: no hop-by-hop header, none of Jupyter's
    credentials or of what identifies the Jupyter server."""
    named = {h.strip().lower() for h in headers.get("Connection", "").split(",")}
    out = httputil.HTTPHeaders()
    for k, v in headers.get_all():
        lk = k.lower()
        if lk in REQUEST_DROP or lk in named:
            continue
        out.add(k, v)
    return out


def is_text(content_type: str) -> bool:
    """Whether URLs in a response of this type are rewritten (text, XML, VOTable, JSON; not binary
    types nor text in UTF-16/32)."""
    ct = content_type.lower()
    mime = ct.split(";", 1)[0].strip()
    if "utf-16" in ct or "utf-32" in ct:
        return False
    return mime.startswith("text/") or "xml" in mime or "json" in mime


class UrlRewriter:
    """Rewrites the upstreams' base URLs to the proxy's in a stream of bytes, chunk by chunk.

    A base URL is replaced only where the path does not go on (``.../tap`` but not ``.../tapx``);
    the JSON-escaped form (``https:\\/\\/...``) too.  At most the longest URL's length is held back
    between chunks.
    """

    #: characters that continue a URL's path segment
    CONTINUES = rb"[A-Za-z0-9_.~%-]"

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.map: dict[bytes, bytes] = {}
        for base, proxy in pairs:
            self.map.setdefault(base.encode(), proxy.encode())  # the first of several names wins
            self.map.setdefault(base.replace("/", "\\/").encode(), proxy.replace("/", "\\/").encode())
        keys = sorted(self.map, key=len, reverse=True)
        self.hold = (len(keys[0]) + 1) if keys else 0
        alternatives = b"|".join(re.escape(k) for k in keys)
        self.pattern = re.compile(b"(?:" + alternatives + b")(?!" + self.CONTINUES + b")") if keys else None
        self.pending = b""

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        data = self.pending + chunk
        if self.pattern is None:
            self.pending = b""
            return data
        # matches starting before `cut` have the character after them in `data`
        cut = len(data) if final else max(len(data) - self.hold, 0)
        out: list[bytes] = []
        pos = 0
        for m in self.pattern.finditer(data):
            if m.start() >= cut:
                break
            out += (data[pos : m.start()], self.map[m.group(0)])
            pos = m.end()
        cut = max(cut, pos)
        out.append(data[pos:cut])
        self.pending = data[cut:]
        return b"".join(out)

    def finish(self) -> bytes:
        return self.feed(b"", final=True)


# -- the HTTP client ----------------------------------------------------------------------------------
class _Connector(TCPClient):
    """A TCPClient that keeps the stream it opens, so that the proxy can cut the connection."""

    stream: IOStream | None = None
    cut_off = False

    async def connect(self, *args: Any, **kwargs: Any) -> IOStream:
        stream = await super().connect(*args, **kwargs)
        if self.cut_off:
            stream.close()
            raise StreamClosedError()
        self.stream = stream
        return stream

    def cut(self) -> None:
        self.cut_off = True
        if self.stream is not None and not self.stream.closed():
            self.stream.close()


class _UpstreamClient(SimpleAsyncHTTPClient):
    """One client per proxied request (``force_instance``), with a connection the proxy can cut."""

    connector: _Connector

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        super().initialize(**kwargs)
        self.tcp_client.close()
        self.tcp_client = self.connector = _Connector(resolver=self.resolver)


_ABORT = b"\0abort"  # the pipe's item telling the body producer that the client went away


def _one_line(message: str) -> str:
    return " ".join(message.split()).encode("ascii", "replace").decode()


# -- handlers ------------------------------------------------------------------------------------------
def _upstreams(handler: web.RequestHandler) -> dict[str, Upstream]:
    return handler.settings.get("lsstbox_upstreams") or {}


def proxy_base(handler: web.RequestHandler, name: str) -> str:
    """The absolute URL of ``name`` through this server's proxy, as the client reaches it."""
    path = url_path_join(handler.settings.get("base_url", "/"), PREFIX, quote(name, safe=""))
    return f"{handler.request.protocol}://{handler.request.host}{path}"


class ProxyListHandler(BoxAPIHandler):
    """``GET /lsstbox/proxy/``: the configured upstreams (name, URL, proxy URL, whether a token is
    configured and readable), never a token."""

    @web.authenticated
    def get(self) -> None:
        ups = _upstreams(self)
        self.finish(json.dumps([u.describe(proxy_base(self, u.name)) for u in ups.values()]))


@web.stream_request_body
class ProxyHandler(BoxAPIHandler):
    """``/lsstbox/proxy/<name>/<path>``: the request to the upstream, the answer back, streamed.

    The upstream request starts in :meth:`prepare` (once the user is authenticated) so that the
    request body streams to it as it arrives (:meth:`data_received`, through a bounded queue read
    by the ``body_producer``); the method handler then relays the answer.
    """

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

    def initialize(self) -> None:
        self._upstream: Upstream | None = None
        self._target = ""
        self._pipe: asyncio.Queue[bytes | None] | None = None
        self._fetch: asyncio.Future[HTTPResponse] | None = None
        self._connector: _Connector | None = None
        self._idle_since: float | None = None  # since when we wait on the upstream
        self._start: httputil.ResponseStartLine | None = None
        self._head = httputil.HTTPHeaders()
        self._refusal: str | None = None
        self._rewriter: UrlRewriter | None = None
        self._relaying = False
        self._sent = False  # the response's headers went to the client
        self._client_gone = False
        self._timed_out = False
        self._watchdog: asyncio.Task[None] | None = None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if not self._relaying:
            # answered in prepare(), before the request body was read: tornado closes the
            # connection after this answer, so tell the client not to reuse it
            self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)

    def compute_etag(self) -> str | None:
        return None

    def finish(self, *args: Any, **kwargs: Any) -> Any:
        if self._relaying:  # the upstream's Content-Type, not APIHandler's application/json
            kwargs.setdefault(
                "set_content_type", self._headers.get("Content-Type") or "application/octet-stream"
            )
        return super().finish(*args, **kwargs)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- the request ------------------------------------------------------------------------------
    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self._finished or self.request.method == "OPTIONS":
            return
        if not self.current_user:
            raise web.HTTPError(403)
        self._begin()

    def _route(self) -> tuple[Upstream, str]:
        prefix = url_path_join(self.base_url, PREFIX) + "/"
        raw = self.request.path
        if not raw.startswith(prefix):
            raise web.HTTPError(404)
        raw_name, slash, rest = raw[len(prefix) :].partition("/")
        name = unquote(raw_name)
        up = _upstreams(self).get(name)
        if up is None:
            raise web.HTTPError(404, reason=f"no upstream {_one_line(name)!r} is configured")
        return up, check_path(slash + rest)

    def _begin(self) -> None:
        up, path = self._route()
        query = forward_query(self.request.query)
        self._upstream = up
        self._target = up.url + path + (f"?{query}" if query else "")
        headers = forward_headers(self.request.headers)
        try:
            cred = up.credential()
        except UpstreamError as e:
            raise web.HTTPError(502, reason=str(e)) from None
        if cred is not None:
            headers[cred[0]] = cred[1]
        method = self.request.method or "GET"
        chunked = "chunked" in self.request.headers.get("Transfer-Encoding", "").lower()
        has_body = method in BODY_METHODS or chunked or self.request.headers.get("Content-Length", "0") != "0"
        if has_body and method in BODY_METHODS and "Content-Length" not in headers and not chunked:
            headers["Content-Length"] = "0"
        if has_body:
            self._pipe = asyncio.Queue(maxsize=PIPE_CHUNKS)
        request = HTTPRequest(
            self._target,
            method=method,
            headers=headers,
            body_producer=cast(Any, self._produce) if has_body else None,
            follow_redirects=False,
            decompress_response=True,
            connect_timeout=up.timeout,
            request_timeout=0,  # no limit on a whole transfer: _watch bounds each wait
            header_callback=self._on_header_line,
            streaming_callback=self._on_chunk,
            allow_nonstandard_methods=True,
        )
        client = _UpstreamClient(force_instance=True, max_clients=1, max_body_size=1 << 62)
        self._connector = client.connector
        self._idle_since = self._now()
        fetch = self._fetch = client.fetch(request, raise_error=False)

        def done(f: asyncio.Future[HTTPResponse]) -> None:
            if not f.cancelled():
                f.exception()  # retrieved here; _relay interprets it
            client.close()

        fetch.add_done_callback(done)
        self._watchdog = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        """Cuts the upstream connection once we have waited ``timeout`` seconds on the upstream
        (connecting, sending it the body, its answer, its next chunk); waits on the client do not
        count."""
        up, fetch = self._upstream, self._fetch
        assert up is not None and fetch is not None
        while not fetch.done():
            idle = self._idle_since
            left = up.timeout if idle is None else up.timeout - (self._now() - idle)
            if left <= 0:
                self._timed_out = True
                if self._connector is not None:
                    self._connector.cut()
                return
            await asyncio.wait((fetch,), timeout=left)

    def on_finish(self) -> None:
        if self._watchdog is not None and not self._watchdog.done():
            self._watchdog.cancel()
        super().on_finish()

    async def data_received(self, chunk: bytes) -> None:
        if self._pipe is not None and self._fetch is not None and not self._fetch.done():
            await self._to_pipe(chunk)

    async def _to_pipe(self, item: bytes | None) -> None:
        """Put ``item`` in the pipe, waiting for room unless the upstream request ends first."""
        assert self._pipe is not None and self._fetch is not None
        put = asyncio.ensure_future(self._pipe.put(item))
        await asyncio.wait((put, self._fetch), return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()

    async def _produce(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        assert self._pipe is not None
        while True:
            self._idle_since = None  # waiting on the client
            chunk = await self._pipe.get()
            if chunk is None:
                break
            if chunk is _ABORT:
                raise StreamClosedError()
            self._idle_since = self._now()
            await write(chunk)
        self._idle_since = self._now()

    def on_connection_close(self) -> None:
        self._client_gone = True
        if self._connector is not None:
            self._connector.cut()
        if self._pipe is not None:
            try:
                self._pipe.put_nowait(_ABORT)
            except asyncio.QueueFull:  # the producer is writing: cutting the connection stops it
                pass
        super().on_connection_close()

    # -- the answer -------------------------------------------------------------------------------
    def _on_header_line(self, line: str) -> None:
        """tornado's header_callback: the status line, each header, then an empty line."""
        if self._finished or self._timed_out:
            return
        if line.startswith("HTTP/"):  # the status line (again after an informational answer)
            self._start = httputil.parse_response_start_line(line.strip())
            self._head = httputil.HTTPHeaders()
        elif line.strip():
            self._head.parse_line(line)
        else:
            self._idle_since = self._now()
            try:
                self._answer_headers()
            except Exception as e:  # inside tornado's client: must not raise
                self.log.exception("lsstbox proxy: bad answer headers from %s", self._target)
                self._refusal = f"upstream sent headers the proxy cannot pass on ({type(e).__name__})"

    def _proxy_map(self) -> list[tuple[Upstream, str]]:
        """Upstreams, most specific first (this request's first among equals: several names may
        share a URL), with their proxy URLs as this client reaches them."""
        ups = sorted(_upstreams(self).values(), key=lambda u: (len(u.url), u is self._upstream), reverse=True)
        return [(u, proxy_base(self, u.name)) for u in ups]

    def _to_proxy(self, url: str) -> str | None:
        for up, base in self._proxy_map():
            rest = up.contains(url)
            if rest is not None:
                return base + rest
        return None

    def _answer_headers(self) -> None:
        assert self._start is not None and self._upstream is not None
        code, head = self._start.code, self._head
        location = head.get("Location")
        if location is not None and 300 <= code < 400:
            absolute = urljoin(self._target, location.strip())
            mapped = self._to_proxy(absolute)
            if mapped is None:
                host = urlsplit(absolute).hostname or "?"
                self._refusal = (
                    f"upstream {self._upstream.name!r} redirected outside its base URL (to {host}); "
                    "the proxy does not follow it"
                )
                return
            self.set_header("Location", mapped)
        self.set_status(code, self._start.reason or None)
        content_type = head.get("Content-Type")
        if content_type is None:
            self.clear_header("Content-Type")
        if content_type and is_text(content_type):
            self._rewriter = UrlRewriter((up.url, base) for up, base in self._proxy_map())
        if (
            head.get("Content-Length") is not None
            and not self._rewriter
            and "X-Consumed-Content-Encoding" not in head
        ):
            self.set_header("Content-Length", head["Content-Length"])
        if head.get("Content-Location") is not None:
            mapped = self._to_proxy(urljoin(self._target, head["Content-Location"].strip()))
            if mapped is not None:
                self.set_header("Content-Location", mapped)
        seen: set[str] = set()
        for k, v in head.get_all():
            lk = k.lower()
            if lk in RESPONSE_DROP or lk.startswith("access-control-"):
                continue
            try:
                if lk in seen:
                    self.add_header(k, v)
                else:
                    self.set_header(k, v)
            except ValueError:  # a value tornado refuses to send
                continue
            seen.add(lk)

    async def _on_chunk(self, chunk: bytes) -> None:
        """tornado's streaming_callback: each chunk of the answer's body, written to the client
        before the next is read.  Never raises (tornado would log it as a crash): a relay that must
        stop cuts the upstream connection instead."""
        if self._refusal is not None or self._finished or self._timed_out or self._client_gone:
            if self._connector is not None:
                self._connector.cut()
            return
        if self._rewriter is not None:
            chunk = self._rewriter.feed(chunk)
            if not chunk:
                return
        self._idle_since = None  # waiting on the client
        self.write(chunk)
        self._sent = True
        try:
            await self.flush()
        except StreamClosedError:
            self._client_gone = True
            if self._connector is not None:
                self._connector.cut()
            return
        self._idle_since = self._now()

    async def _relay(self) -> None:
        up, fetch = self._upstream, self._fetch
        assert up is not None and fetch is not None
        self._relaying = True
        if self._pipe is not None and not fetch.done():
            await self._to_pipe(None)  # the end of the request body
        waits: set[asyncio.Future[Any]] = {fetch}
        if self._watchdog is not None:
            waits.add(self._watchdog)
        # the watchdog ends when the fetch does, or on a timeout (a fetch still connecting is
        # not waited for: its connect_timeout ends it)
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if self._client_gone:
            return
        if self._timed_out:
            return self._fail(504, f"upstream {up.name!r} did not answer within {up.timeout:g} s")
        error = fetch.exception()
        if self._refusal is not None:
            return self._fail(502, self._refusal)
        if isinstance(error, HTTPTimeoutError):
            return self._fail(504, f"upstream {up.name!r} did not answer within {up.timeout:g} s ({error})")
        if error is not None:
            why = error.message if isinstance(error, HTTPClientError) else str(error) or type(error).__name__
            if self._sent:
                return self._fail(502, f"upstream {up.name!r} broke off its answer: {why}")
            return self._fail(502, f"upstream {up.name!r} is unreachable: {why}")
        if self._rewriter is not None:
            tail = self._rewriter.finish()
            if tail:
                self.write(tail)
        self.finish()

    def _fail(self, status: int, message: str) -> None:
        if self._finished:
            return
        message = _one_line(message)
        if not self._sent:
            self.log.warning("lsstbox proxy: %s -> %d %s", self._target, status, message)
            error = web.HTTPError(status, reason=message)
            self.send_error(status, exc_info=(web.HTTPError, error, None))
            return
        # the answer has begun: only cutting the connection tells the client it is incomplete
        self.log.warning("lsstbox proxy: %s: %s; connection to the client closed", self._target, message)
        if self.request.connection is not None:
            self.request.connection.close()  # type: ignore[attr-defined]
        try:
            self.finish()
        except Exception:
            pass

    @web.authenticated
    async def get(self, *args: str) -> None:
        await self._relay()

    head = post = put = patch = delete = get


def proxy_handlers() -> list[tuple[str, type]]:
    return [
        (rf"/{PREFIX}/?", ProxyListHandler),
        (rf"/{PREFIX}/([^/]+)(/.*)?", ProxyHandler),
    ]
