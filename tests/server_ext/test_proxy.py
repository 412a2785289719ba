"""The proxy to remote services (``/lsstbox/proxy/<name>/...``), end to end with real servers.

A small tornado app in a thread plays the upstream (it records what it receives, echoes, streams
50 MB, redirects, sleeps, answers XML naming its own URL); a second one plays a foreign host.  The
box is a real ``jupyter server`` subprocess configured with upstreams on them, and a second box
server is the upstream of pyvo's TAP client (sync query and async job through the proxy).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pyvo
import requests
from jupyter_subprocess import JupyterProcess, box_server, free_port
from no_jupyter_loop import jp_asyncio_loop, jp_server_cleanup  # noqa: F401
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from server_ext.proxy import Upstream, UpstreamError, UrlRewriter, check_path

MB = 1 << 20
BIG = 50 * MB
UPSTREAM_TOKEN = "up-" + secrets.token_hex(16)
ENV_TOKEN = "env-" + secrets.token_hex(16)
FILE_TOKEN = "file-" + secrets.token_hex(16)
TOKENS = (UPSTREAM_TOKEN, ENV_TOKEN, FILE_TOKEN)
BLOCK = hashlib.sha256(b"lsstbox").digest() * (MB // 32)


def big_chunks(size: int) -> Iterator[bytes]:
    """``size`` bytes in 1 MiB blocks, each numbered (so that a lost or repeated one shows)."""
    i = sent = 0
    while sent < size:
        chunk = (i.to_bytes(8, "big") + BLOCK[8:])[: size - sent]
        yield chunk
        sent += len(chunk)
        i += 1


def big_sha(size: int) -> str:
    h = hashlib.sha256()
    for c in big_chunks(size):
        h.update(c)
    return h.hexdigest()


# -- the upstream: a real HTTP server in a thread ----------------------------------------------------
class Recorded(web.RequestHandler):
    """Records each request it receives (method, path, query, headers, body digest)."""

    def initialize(self, log: list[dict[str, Any]]) -> None:
        self.log = log
        self.sha = hashlib.sha256()
        self.size = 0

    def data_received(self, chunk: bytes) -> None:
        self.sha.update(chunk)
        self.size += len(chunk)

    def prepare(self) -> None:
        self.log.append(
            {
                "method": self.request.method,
                "path": self.request.path,
                "query": self.request.query,
                "headers": {k.lower(): v for k, v in self.request.headers.get_all()},
            }
        )

    def closed(self) -> bool:
        """Whether the client (the proxy) went away."""
        return self.request.connection is None or self.request.connection.stream.closed()  # type: ignore[attr-defined]

    @property
    def base(self) -> str:
        """This server's base URL as the client addressed it (how real services build URLs)."""
        return f"{self.request.protocol}://{self.request.host}/base"


@web.stream_request_body
class Echo(Recorded):
    def _echo(self, *args: str) -> None:
        self.log[-1].update(body_size=self.size, body_sha=self.sha.hexdigest())
        self.set_header("Set-Cookie", "upstream=1; Path=/")
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("X-Upstream", "yes")
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {
                    "method": self.request.method,
                    "path": self.request.path,
                    "query": self.request.query,
                    "body_size": self.size,
                    "body_sha": self.sha.hexdigest(),
                    "content_type": self.request.headers.get("Content-Type"),
                }
            )
        )

    get = post = put = patch = delete = _echo

    def head(self, *args: str) -> None:
        self.set_header("Content-Length", "1234")
        self.set_header("Content-Type", "application/octet-stream")
        self.finish()


class Big(Recorded):
    async def get(self) -> None:
        size = int(self.get_argument("size", str(BIG)))
        if not self.get_argument("chunked", ""):
            self.set_header("Content-Length", str(size))
        self.set_header("Content-Type", "application/octet-stream")
        for chunk in big_chunks(size):
            self.write(chunk)
            await self.flush()
        self.finish()


class Redirect(Recorded):
    def get(self) -> None:
        to = self.get_argument("to")
        host = self.request.host
        location = {
            "in": f"{self.base}/echo/target?x=1&y=2",
            "rel": "echo/relative?z=3",
            "root": "/base/echo/rooted",
            "foreign": self.get_argument("url", ""),
            "outside": f"http://{host}/elsewhere",
            "dots": f"{self.base}/../elsewhere",
        }[to]
        self.redirect(location, status=int(self.get_argument("status", "303")))


class Sleep(Recorded):
    async def get(self) -> None:
        await asyncio.sleep(float(self.get_argument("s")))
        if not self.closed():  # the proxy may have given up
            self.finish("late")


class Stall(Recorded):
    async def get(self) -> None:
        self.set_header("Content-Type", "application/octet-stream")
        self.write(b"x" * 256 * 1024)
        await self.flush()
        await asyncio.sleep(5)
        if not self.closed():  # the proxy gave up after 1 s
            self.finish(b"y" * 1024)


class Documents(Recorded):
    """Documents naming this server's base URL, as UWS/VOTable/JSON services do."""

    def get(self, kind: str) -> None:
        b = self.base
        if kind == "xml":
            self.set_header("Content-Type", "text/xml; charset=utf-8")
            self.finish(
                '<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" '
                'xmlns:xlink="http://www.w3.org/1999/xlink"><uws:jobId>j1</uws:jobId><uws:results>'
                f'<uws:result id="result" xlink:href="{b}/async/j1/results/result"/></uws:results>'
                f"<other>{b}x/not-ours</other><root>{b}</root></uws:job>"
            )
        elif kind == "votable":
            self.set_header("Content-Type", "application/x-votable+xml")
            self.finish(
                f'<VOTABLE><RESOURCE><PARAM name="accessURL" value="{b}/sync?ID=1"/></RESOURCE></VOTABLE>'
            )
        elif kind == "json":
            self.set_header("Content-Type", "application/json")
            escaped = b.replace("/", "\\/")
            self.finish(f'{{"plain": "{b}/async/j1", "escaped": "{escaped}\\/async\\/j1"}}')
        elif kind == "binary":
            self.set_header("Content-Type", "application/octet-stream")
            self.finish(f"\x00\x01{b}/async/j1\x02".encode())
        elif kind == "bigtext":  # the base URL every ~1000 bytes, across tornado's chunks
            self.set_header("Content-Type", "text/plain")
            line = f"{b}/async/{{i}} " + "." * 950 + f" {b}x\n"
            self.finish("".join(line.format(i=i) for i in range(3000)))


class Status(Recorded):
    def get(self, code: str) -> None:
        self.set_status(int(code))
        self.set_header("Content-Type", "text/plain")
        self.finish(f"upstream says {code}")


class Anything(Recorded):
    def get(self, *args: str) -> None:
        self.finish("foreign")

    post = get


class ThreadServer:
    """A tornado app on 127.0.0.1 with its own event loop in a thread."""

    def __init__(self, routes: list[Any]) -> None:
        self.routes = routes
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        server = HTTPServer(web.Application(self.routes), max_body_size=1 << 31)
        server.add_sockets(sockets)
        self.ready.set()
        await self.stop_event.wait()
        server.stop()
        await server.close_all_connections()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)


@pytest.fixture(scope="module")
def upstream_log() -> list[dict[str, Any]]:
    return []


@pytest.fixture(scope="module")
def upstream(upstream_log: list[dict[str, Any]]) -> Iterator[ThreadServer]:
    kw = {"log": upstream_log}
    server = ThreadServer(
        [
            (r"/base/echo(/.*)?", Echo, kw),
            (r"/base/big", Big, kw),
            (r"/base/redirect", Redirect, kw),
            (r"/base/sleep", Sleep, kw),
            (r"/base/stall", Stall, kw),
            (r"/base/doc/(\w+)", Documents, kw),
            (r"/base/status/(\d+)", Status, kw),
        ]
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def foreign_log() -> list[dict[str, Any]]:
    return []


@pytest.fixture(scope="module")
def foreign(foreign_log: list[dict[str, Any]]) -> Iterator[ThreadServer]:
    server = ThreadServer([(r"/(.*)", Anything, {"log": foreign_log})])
    yield server
    server.stop()


# -- the box servers ---------------------------------------------------------------------------------
@contextmanager
def environment(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def rsp(tiny_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterProcess]:
    """A second box, standing for a Rubin Science Platform: its TAP at /lsstbox/tap."""
    home = tmp_path_factory.mktemp("proxy-rsp")
    (home / "root").mkdir()
    with box_server(tiny_release, home, secrets.token_hex(16)) as server:
        yield server


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("proxy-token") / "token"
    path.write_text(FILE_TOKEN + "\n")
    return path


@pytest.fixture(scope="module")
def box(
    tiny_release: Path,
    tmp_path_factory: pytest.TempPathFactory,
    upstream: ThreadServer,
    foreign: ThreadServer,
    rsp: JupyterProcess,
    token_file: Path,
) -> Iterator[JupyterProcess]:
    """The box under test: upstreams from its config file and from $LSSTBOX_UPSTREAMS."""
    home = tmp_path_factory.mktemp("proxy-box")
    (home / "root").mkdir()
    (home / "config").mkdir()
    base = f"{upstream.url}/base"
    config = {
        "up": {"url": base, "token": UPSTREAM_TOKEN},
        "slow": {"url": base + "/", "token": UPSTREAM_TOKEN, "timeout": 1},
        "filetok": {"url": base, "token_file": str(token_file)},
        "dead": {"url": f"http://127.0.0.1:{free_port()}/x", "token": UPSTREAM_TOKEN, "timeout": 5},
        "other": {"url": f"{foreign.url}/other"},
        "rsp": {"url": f"{rsp.url}lsstbox/tap", "token": rsp.token},
        "broken": {"url": "ftp://example.org/x"},
    }
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"LsstBoxApp": {"upstreams": config}})
    )
    env_upstreams = {
        "envtok": {"url": base, "token_env": "LSSTBOX_TEST_PROXY_TOKEN", "header": "X-Api-Key"},
        "bad name!": {"url": base},
    }
    with environment(LSSTBOX_UPSTREAMS=json.dumps(env_upstreams), LSSTBOX_TEST_PROXY_TOKEN=ENV_TOKEN):
        cm = box_server(tiny_release, home, secrets.token_hex(16))
        server = cm.__enter__()
    try:
        yield server
    finally:
        cm.__exit__(None, None, None)


def _no_token_in(r: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Response hook: no upstream token in any answer of the box (headers, and bodies read whole)."""
    text = str(r.headers) + ("" if kwargs.get("stream") else r.text)
    for t in TOKENS:
        assert t not in text, r.url


@pytest.fixture(scope="module")
def session(box: JupyterProcess) -> Iterator[requests.Session]:
    s = requests.Session()
    s.headers.update(box.headers)
    s.hooks["response"].append(_no_token_in)
    yield s
    s.close()


@pytest.fixture(scope="module")
def proxy(box: JupyterProcess) -> str:
    return f"{box.url}lsstbox/proxy"


def last(log: list[dict[str, Any]]) -> dict[str, Any]:
    assert log, "the upstream received nothing"
    return log[-1]


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert m is not None
    return int(m.group(1))


# -- configuration, listing ----------------------------------------------------------------------------
def test_listing_names_upstreams_and_proxy_urls_never_tokens(
    session: requests.Session, proxy: str, upstream: ThreadServer, box: JupyterProcess
) -> None:
    r = session.get(f"{proxy}/")
    assert r.status_code == 200
    ups = {u["name"]: u for u in r.json()}
    # the bad entries (an ftp URL, a bad name) are left out and logged
    assert set(ups) == {"up", "slow", "filetok", "dead", "other", "rsp", "envtok"}
    assert ups["up"]["url"] == f"{upstream.url}/base"
    assert ups["slow"]["url"] == f"{upstream.url}/base"  # trailing '/' dropped
    assert ups["up"]["proxy_url"] == f"{proxy}/up"
    assert ups["up"]["token"] is True and ups["up"]["token_source"] == "token"
    assert ups["envtok"]["token_source"] == "token_env" and ups["envtok"]["token_available"] is True
    assert ups["envtok"]["header"] == "X-Api-Key"
    assert ups["filetok"]["token_source"] == "token_file"
    assert ups["other"]["token"] is False
    assert ups["slow"]["timeout"] == 1
    assert session.get(proxy).status_code == 200  # without the trailing slash too
    log = box.log.read_text()
    assert "upstream 'broken' ignored" in log and "upstream 'bad name!' ignored" in log


def test_config_validation() -> None:
    with pytest.raises(UpstreamError, match="http"):
        Upstream.from_config("x", {"url": "file:///etc"})
    with pytest.raises(UpstreamError, match="user info"):
        Upstream.from_config("x", {"url": "https://u:p@example.org/x"})
    with pytest.raises(UpstreamError, match="unknown keys"):
        Upstream.from_config("x", {"url": "https://example.org", "tokn": "t"})
    with pytest.raises(UpstreamError, match="timeout"):
        Upstream.from_config("x", {"url": "https://example.org", "timeout": 0})
    with pytest.raises(UpstreamError, match="header"):
        Upstream.from_config("x", {"url": "https://example.org", "header": "Cookie"})
    up = Upstream.from_config("tap", "https://data.lsst.cloud/api/tap/")
    assert up.url == "https://data.lsst.cloud/api/tap" and up.credential() is None
    secret = Upstream.from_config("tap", {"url": "https://data.lsst.cloud/api/tap", "token": "s3cret"})
    assert secret.credential() == ("Authorization", "Bearer s3cret")
    assert "s3cret" not in repr(secret)
    assert secret.contains("https://data.lsst.cloud:443/api/tap/async/1?x=1") == "/async/1?x=1"
    assert secret.contains("https://data.lsst.cloud/api/tapx") is None
    assert secret.contains("https://data.lsst.cloud/api/tap/../admin") is None
    assert secret.contains("http://data.lsst.cloud/api/tap/async") is None


@pytest.mark.parametrize(
    "path",
    ["/..", "/a/../b", "/%2e%2e/x", "/%2E%2e", "/a/%2e", "//evil.example/x", "/a//b", "/@evil.example",
     "/a%2Fb", "/a%5c..", "/%252e%252e", "/a\\b", "/a%00", "noslash"],
)  # fmt: skip
def test_check_path_refuses_escapes(path: str) -> None:
    with pytest.raises(web.HTTPError) as e:
        check_path(path)
    assert e.value.status_code == 400


def test_check_path_keeps_ordinary_paths() -> None:
    for p in ["", "/", "/sync", "/async/abc/results/result", "/a.b/c-d_e~f", "/x%20y", "/tables/"]:
        assert check_path(p) == p


def test_rewriter_across_chunk_boundaries() -> None:
    base, proxy = "http://up:1/api/tap", "http://box/lsstbox/proxy/tap"
    text = (f"<a href='{base}/async/1'/> {base}x {base}\n{base}" * 200).encode()
    for size in (1, 7, 19, 64, 1000):
        rw = UrlRewriter([(base, proxy), ("http://up:1/api", "http://box/lsstbox/proxy/api")])
        out = b"".join(rw.feed(text[i : i + size]) for i in range(0, len(text), size)) + rw.finish()
        # `{base}x` is not under the tap base: it goes to the `api` upstream
        assert out == text.replace(base.encode() + b"x", b"http://box/lsstbox/proxy/api/tapx").replace(
            base.encode(), proxy.encode()
        )


# -- requests through the proxy -------------------------------------------------------------------------
def test_get_passes_path_and_query_with_the_upstream_token_only(
    session: requests.Session, proxy: str, box: JupyterProcess, upstream: ThreadServer, upstream_log: list
) -> None:
    r = session.get(
        f"{proxy}/up/echo/a/b%20c?x=1&y=%2F&token={box.token}&_xsrf=abc&Z=z+z",
        headers={
            "Cookie": "_xsrf=abc; username-127-0-0-1=secret-cookie",
            "X-XSRFToken": "abc",
            "Referer": f"{box.url}lab?token={box.token}",
            "X-Custom": "kept",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["path"] == "/base/echo/a/b%20c"
    assert r.json()["query"] == "x=1&y=%2F&Z=z+z"  # Jupyter's token and _xsrf stay here
    got = last(upstream_log)
    h = got["headers"]
    assert h["authorization"] == f"Bearer {UPSTREAM_TOKEN}"
    assert h["host"] == urlsplit(upstream.url).netloc
    assert h["x-custom"] == "kept"
    assert not {"cookie", "x-xsrftoken", "referer", "origin"} & set(h)
    assert box.token not in json.dumps(got)
    # the upstream's cookie and CORS policy do not reach the Jupyter origin; its other headers do
    # (Jupyter itself sets its login cookie here, as ?token= was used)
    assert "upstream=" not in r.headers.get("Set-Cookie", "") and "upstream" not in r.cookies
    assert r.headers.get("Access-Control-Allow-Origin") != "*"
    assert r.headers["X-Upstream"] == "yes"
    assert r.headers["Content-Type"] == "application/json"


def test_post_put_delete_head_pass_through(session: requests.Session, proxy: str, upstream_log: list) -> None:
    body = b"QUERY=SELECT+1&LANG=ADQL&" + os.urandom(100_000)
    r = session.post(f"{proxy}/up/echo/sync?RUNID=7", data=body, headers={"Content-Type": "x/form"})
    assert r.status_code == 200
    got = r.json()
    assert (got["method"], got["query"], got["content_type"]) == ("POST", "RUNID=7", "x/form")
    assert (got["body_size"], got["body_sha"]) == (len(body), hashlib.sha256(body).hexdigest())
    assert last(upstream_log)["headers"]["authorization"] == f"Bearer {UPSTREAM_TOKEN}"
    r = session.post(f"{proxy}/up/echo/empty")
    assert r.status_code == 200 and r.json()["body_size"] == 0
    r = session.put(f"{proxy}/up/echo/thing", data=b"abc")
    assert r.json()["method"] == "PUT" and r.json()["body_size"] == 3
    assert session.delete(f"{proxy}/up/echo/thing").json()["method"] == "DELETE"
    r = session.head(f"{proxy}/up/echo/thing")
    assert r.status_code == 200 and r.headers["Content-Length"] == "1234" and r.content == b""
    # a chunked request body (a generator) streams too
    r = session.post(f"{proxy}/up/echo/chunked", data=iter([b"abc", b"def"]))
    assert r.json()["body_size"] == 6


def test_upstream_answers_pass_through_as_they_are(session: requests.Session, proxy: str) -> None:
    for code in (404, 418, 500):
        r = session.get(f"{proxy}/up/status/{code}")
        assert r.status_code == code and r.text == f"upstream says {code}"
    r = session.get(f"{proxy}/up")  # the base URL itself
    assert r.status_code == 404  # tornado's own 404 for /base, from the upstream (not JSON)
    assert "error" not in r.text


def test_token_from_env_and_file_read_at_request_time(
    session: requests.Session, proxy: str, upstream_log: list, token_file: Path
) -> None:
    session.get(f"{proxy}/envtok/echo/1").raise_for_status()
    h = last(upstream_log)["headers"]
    assert h["x-api-key"] == ENV_TOKEN and "authorization" not in h
    session.get(f"{proxy}/filetok/echo/2").raise_for_status()
    assert last(upstream_log)["headers"]["authorization"] == f"Bearer {FILE_TOKEN}"
    renewed = "file-renewed-" + secrets.token_hex(8)
    token_file.write_text(renewed)
    try:
        r = session.get(f"{proxy}/filetok/echo/3")
        assert r.status_code == 200 and renewed not in r.text
        assert last(upstream_log)["headers"]["authorization"] == f"Bearer {renewed}"
        token_file.unlink()
        r = session.get(f"{proxy}/filetok/echo/4")
        assert r.status_code == 502 and "token file" in r.json()["error"]
    finally:
        token_file.write_text(FILE_TOKEN)


# -- streaming -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chunked", [False, True])
def test_large_download_streams(
    session: requests.Session, proxy: str, box: JupyterProcess, chunked: bool
) -> None:
    pid = box.proc.pid
    session.get(f"{proxy}/up/big?size={MB}").raise_for_status()  # warm up
    before = rss_kib(pid)
    peak = before
    h = hashlib.sha256()
    size = 0
    t0 = time.monotonic()
    with session.get(f"{proxy}/up/big?size={BIG}&chunked={'1' if chunked else ''}", stream=True) as r:
        assert r.status_code == 200
        if chunked:
            assert "Content-Length" not in r.headers
        else:
            assert r.headers["Content-Length"] == str(BIG)
        for i, chunk in enumerate(r.iter_content(256 * 1024)):
            h.update(chunk)
            size += len(chunk)
            if i % 8 == 0:
                peak = max(peak, rss_kib(pid))
    elapsed = time.monotonic() - t0
    assert size == BIG and h.hexdigest() == big_sha(BIG)
    grew = (peak - before) / 1024
    assert grew < 20, f"the server's RSS grew by {grew:.0f} MB for a {BIG // MB} MB body"
    print(f"50 MB through the proxy in {elapsed:.2f} s; server RSS +{grew:.1f} MB")


def test_large_upload_streams(session: requests.Session, proxy: str, box: JupyterProcess) -> None:
    pid = box.proc.pid
    before = rss_kib(pid)
    peak = [before]

    def body() -> Iterator[bytes]:
        for i, chunk in enumerate(big_chunks(BIG)):
            if i % 4 == 0:
                peak[0] = max(peak[0], rss_kib(pid))
            yield chunk

    r = session.post(f"{proxy}/up/echo/upload", data=body())  # chunked: no Content-Length
    assert r.status_code == 200
    assert (r.json()["body_size"], r.json()["body_sha"]) == (BIG, big_sha(BIG))
    grew = (peak[0] - before) / 1024
    assert grew < 20, f"the server's RSS grew by {grew:.0f} MB for a {BIG // MB} MB upload"
    # with a Content-Length
    data = b"".join(big_chunks(8 * MB))
    r = session.post(f"{proxy}/up/echo/upload", data=data)
    assert r.json()["body_sha"] == hashlib.sha256(data).hexdigest()


# -- refusals ----------------------------------------------------------------------------------------------
def raw_get(box: JupyterProcess, path: str) -> tuple[int, dict[str, Any]]:
    """GET with the path exactly as given (requests would normalize dot segments)."""
    netloc = urlsplit(box.url).netloc
    conn = http.client.HTTPConnection(netloc, timeout=30)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.putheader("Authorization", f"token {box.token}")
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, json.loads(body) if body.startswith(b"{") else {"raw": body.decode()}
    finally:
        conn.close()


def test_unknown_upstream_is_404(session: requests.Session, proxy: str) -> None:
    r = session.get(f"{proxy}/nope/sync")
    assert r.status_code == 404
    assert r.json() == {"error": "no upstream 'nope' is configured", "status": 404}
    # answered before reading the request: the connection is not reused
    assert r.headers["Connection"] == "close"


@pytest.mark.parametrize(
    "path",
    ["/up/../../api/contents", "/up/%2e%2e/%2e%2e/api/status", "/up/a/%2E%2e", "/up//evil.example/x",
     "/up/http://evil.example/", "/up/@evil.example", "/up/a%2F..%2Fb", "/up/%252e%252e/x"],
)  # fmt: skip
def test_paths_leaving_the_base_are_400(
    box: JupyterProcess, upstream_log: list, path: str, foreign_log: list
) -> None:
    n = len(upstream_log)
    status, body = raw_get(box, f"/lsstbox/proxy{path}")
    assert status == 400, (path, status, body)
    assert body["status"] == 400 and body["error"].startswith("bad proxy path")
    assert len(upstream_log) == n and not foreign_log


def test_unauthenticated_requests_are_refused(box: JupyterProcess, proxy: str, upstream_log: list) -> None:
    n = len(upstream_log)
    for headers in ({}, {"Authorization": "token wrong"}, {"Authorization": f"Bearer {UPSTREAM_TOKEN}"}):
        assert requests.get(f"{proxy}/up/echo/x", headers=headers, timeout=30).status_code == 403
        assert requests.post(f"{proxy}/up/echo/x", data=b"x", headers=headers, timeout=30).status_code == 403
        r = requests.get(f"{proxy}/", headers=headers, timeout=30)
        assert r.status_code == 403 and UPSTREAM_TOKEN not in r.text
    assert len(upstream_log) == n


# -- redirects ---------------------------------------------------------------------------------------------
def test_redirects_within_the_base_are_rewritten(session: requests.Session, proxy: str) -> None:
    for to, expected in [
        ("in", f"{proxy}/up/echo/target?x=1&y=2"),
        ("rel", f"{proxy}/up/echo/relative?z=3"),
        ("root", f"{proxy}/up/echo/rooted"),
    ]:
        r = session.get(f"{proxy}/up/redirect?to={to}", allow_redirects=False)
        assert r.status_code == 303 and r.headers["Location"] == expected, (to, r.headers.get("Location"))
    r = session.get(f"{proxy}/up/redirect?to=in&status=302")  # followed by the client, through the proxy
    assert r.status_code == 200 and r.json()["path"] == "/base/echo/target" and r.url.startswith(proxy)


def test_redirect_to_another_configured_upstream_is_rewritten(
    session: requests.Session, proxy: str, foreign: ThreadServer, foreign_log: list
) -> None:
    url = f"{foreign.url}/other/page?q=1"
    r = session.get(f"{proxy}/up/redirect", params={"to": "foreign", "url": url}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == f"{proxy}/other/page?q=1"
    assert not foreign_log  # rewritten, not followed


@pytest.mark.parametrize("to", ["foreign", "outside", "dots"])
def test_other_redirects_are_502_and_not_followed(
    session: requests.Session, proxy: str, foreign: ThreadServer, foreign_log: list, to: str
) -> None:
    params = {"to": to, "url": f"{foreign.url}/steal?x=1"}
    r = session.get(f"{proxy}/up/redirect", params=params, allow_redirects=False)
    assert r.status_code == 502
    assert "redirected outside its base URL" in r.json()["error"] and "Location" not in r.headers
    assert not foreign_log


# -- failures of the upstream ---------------------------------------------------------------------------
def test_unreachable_upstream_is_502(session: requests.Session, proxy: str) -> None:
    t0 = time.monotonic()
    r = session.get(f"{proxy}/dead/sync")
    assert r.status_code == 502 and "unreachable" in r.json()["error"], r.text
    assert time.monotonic() - t0 < 5


def test_silent_upstream_is_504(session: requests.Session, proxy: str) -> None:
    t0 = time.monotonic()
    r = session.get(f"{proxy}/slow/sleep?s=4")
    took = time.monotonic() - t0
    assert r.status_code == 504, r.text
    assert r.json() == {"error": "upstream 'slow' did not answer within 1 s", "status": 504}
    assert 0.9 < took < 3
    assert session.get(f"{proxy}/slow/sleep?s=0.1").text == "late"  # a quick answer is fine


def test_upstream_stalling_mid_answer_cuts_the_answer(session: requests.Session, proxy: str) -> None:
    got = 0
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        with session.get(f"{proxy}/slow/stall", stream=True) as r:
            assert r.status_code == 200
            for chunk in r.iter_content(65536):
                got += len(chunk)
    assert got == 256 * 1024 and time.monotonic() - t0 < 4


# -- rewriting of URLs in answers ------------------------------------------------------------------------
def test_urls_in_text_answers_point_at_the_proxy(
    session: requests.Session, proxy: str, upstream: ThreadServer
) -> None:
    base = f"{upstream.url}/base"
    xml = session.get(f"{proxy}/up/doc/xml")
    assert xml.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert f'xlink:href="{proxy}/up/async/j1/results/result"' in xml.text
    assert f"<root>{proxy}/up</root>" in xml.text
    assert f"<other>{base}x/not-ours</other>" in xml.text  # not under the base: kept
    vot = session.get(f"{proxy}/up/doc/votable")
    assert f'value="{proxy}/up/sync?ID=1"' in vot.text
    js = session.get(f"{proxy}/up/doc/json").json()
    assert js == {"plain": f"{proxy}/up/async/j1", "escaped": f"{proxy}/up/async/j1"}
    binary = session.get(f"{proxy}/up/doc/binary")
    assert binary.content == f"\x00\x01{base}/async/j1\x02".encode()  # binary is left alone
    big = session.get(f"{proxy}/up/doc/bigtext")
    lines = big.text.splitlines()
    assert len(lines) == 3000
    assert all(
        ln.startswith(f"{proxy}/up/async/{i} ") and ln.endswith(f" {base}x") for i, ln in enumerate(lines)
    )


# -- a real IVOA client: pyvo through the proxy to another box's TAP --------------------------------------
def test_pyvo_sync_and_async_through_the_proxy(proxy: str, box: JupyterProcess, rsp: JupyterProcess) -> None:
    s = requests.Session()
    s.headers.update(box.headers)  # the box's token only: the proxy adds the RSP's

    def no_rsp_token(r: requests.Response, *args: Any, **kwargs: Any) -> None:
        assert rsp.token not in str(r.headers) + ("" if kwargs.get("stream") else r.text), r.url

    s.hooks["response"].append(no_rsp_token)
    tap = pyvo.dal.TAPService(f"{proxy}/rsp", session=s)
    rows = tap.run_sync("SELECT TOP 5 objectId, coord_ra FROM dp1.Object ORDER BY objectId").to_table()
    assert len(rows) == 5
    assert "dp1.Object" in [t.name for t in tap.tables]
    q = "SELECT band, COUNT(*) AS n FROM dp1.ForcedSource GROUP BY band ORDER BY band"
    job = tap.submit_job(q)
    assert job.url.startswith(f"{proxy}/rsp/async/"), job.url
    job.run()
    job.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=120)
    assert job.phase == "COMPLETED"
    assert job.result_uri.startswith(f"{proxy}/rsp/async/"), job.result_uri
    got = job.fetch_result().to_table()
    direct = requests.Session()
    direct.headers.update(rsp.headers)
    expected = pyvo.dal.TAPService(f"{rsp.url}lsstbox/tap", session=direct).run_sync(q).to_table()
    assert list(got["band"]) == list(expected["band"]) and list(got["n"]) == list(expected["n"])
    url = job.url
    job.delete()
    assert s.get(url).status_code == 404
