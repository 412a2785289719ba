"""The Butler server subprocess: started on demand, reachable only through a unix socket.

:class:`ButlerServer` runs ``python -m server_ext.butler._serve`` (daf_butler's FastAPI Butler
server under uvicorn) for the release's repository, its socket, configuration and log in a
private folder (``mkdtemp``: mode 0700, so only this account can connect; nothing listens on a
TCP port).  :meth:`ButlerServer.client` starts it on first use, waits until it answers and has
opened the repository (a warm-up request), restarts it if it died or the release moved, and
remembers a failed start for :data:`RETRY_AFTER` seconds so that a broken release answers at
once instead of every request waiting for a start that cannot succeed.  :meth:`ButlerServer.stop`
ends it; it also exits by itself when its standard input closes, i.e. when this process is gone.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.netutil import Resolver
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from .client import REPOSITORY

__all__ = ["HOST", "RETRY_AFTER", "START_TIMEOUT", "ButlerServer", "ButlerServerError", "api_path"]

#: the host name of the server's URLs (resolved to the unix socket, never to a network address)
HOST = "butler-server.sock"
#: seconds to wait for the server to answer and open the repository
START_TIMEOUT = 90.0
#: seconds during which a failed start is reported again without trying again
RETRY_AFTER = 15.0
#: how much of the end of the server's log is searched for an error
_LOG_TAIL = 64 * 1024


def api_path(rest: str = "") -> str:
    """The server's path of ``rest`` (percent-encoded, below the repository's URL)."""
    return f"/api/butler/repo/{REPOSITORY}/{rest}"


class ButlerServerError(Exception):
    """The Butler server cannot serve; the message is one line saying why."""


class _UnixResolver(Resolver):
    """Resolves every host to the server's unix socket."""

    def initialize(self, path: str) -> None:
        self.path = path

    async def resolve(self, host: str, port: int, family: Any = socket.AF_UNSPEC) -> list[tuple[int, Any]]:
        return [(socket.AF_UNIX, self.path)]

    def close(self) -> None:
        pass


class ButlerServer:
    """The Butler server of a release's repository (one at a time), as a subprocess."""

    def __init__(self, log: logging.Logger | None = None, start_timeout: float = START_TIMEOUT) -> None:
        self.log = log or logging.getLogger(__name__)
        self.start_timeout = start_timeout
        self._lock: asyncio.Lock | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._client: SimpleAsyncHTTPClient | None = None
        self._repo: Path | None = None
        self._failed: tuple[float, Path, str] | None = None
        self._atexit = False

    # -- state ------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and self._client is not None

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def log_path(self) -> Path | None:
        return self._dir / "server.log" if self._dir is not None else None

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size if self.log_path else 0
        except OSError:
            return 0

    def error_since(self, offset: int) -> str | None:
        """The last error the server logged after byte ``offset`` of its log, in one line."""
        return _last_error(self._read_log(offset))

    def _read_log(self, offset: int = 0) -> str:
        path = self.log_path
        if path is None:
            return ""
        try:
            with path.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(offset, size - _LOG_TAIL))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- lifecycle --------------------------------------------------------------------------------
    async def client(self, repo: Path) -> SimpleAsyncHTTPClient:
        """An HTTP client connected to the server of ``repo`` (started or restarted as needed);
        :class:`ButlerServerError` if it cannot start."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.running and self._repo == repo:
                assert self._client is not None
                return self._client
            if self._failed is not None:
                when, failed_repo, message = self._failed
                if failed_repo == repo and time.monotonic() - when < RETRY_AFTER:
                    raise ButlerServerError(message)
            if self._proc is not None:
                if self._proc.poll() is not None:
                    self.log.warning(
                        "lsstbox: the Butler server exited (%s); restarting it:\n%s",
                        self._proc.returncode,
                        self._read_log()[-4000:],
                    )
                self.stop()
            try:
                await self._start(repo)
            except ButlerServerError as e:
                self._failed = (time.monotonic(), repo, str(e))
                self.log.error("lsstbox: %s; its log ends with:\n%s", e, self._read_log()[-4000:])
                self.stop()
                raise
            self._failed = None
            assert self._client is not None
            return self._client

    async def _start(self, repo: Path) -> None:
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
        self._dir = workdir = Path(tempfile.mkdtemp(prefix="lsstbox-butler-"))
        sock = workdir / "s"
        if len(str(sock)) > 100:  # AF_UNIX paths are short
            shutil.rmtree(workdir, ignore_errors=True)
            self._dir = workdir = Path(tempfile.mkdtemp(prefix="lsstbox-butler-", dir="/tmp"))
            sock = workdir / "s"
        self._repo = repo
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAF_BUTLER_SERVER_", "SENTRY_"))}
        # the server imports the release's formatters (kernel_lib): make sure it finds them
        import kernel_lib

        src = str(Path(kernel_lib.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [sys.executable, "-m", "server_ext.butler._serve", str(repo), str(sock), str(workdir)]
        with (workdir / "server.log").open("ab") as out:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
                start_new_session=True,  # a Ctrl+C in the terminal is Jupyter's to handle
            )
        self._client = SimpleAsyncHTTPClient(
            force_instance=True,
            resolver=_UnixResolver(path=str(sock)),
            max_clients=64,
            max_body_size=1 << 40,
        )
        self.log.info("lsstbox: starting the Butler server for %s (pid %s)", repo, self._proc.pid)
        t0 = time.monotonic()
        deadline = t0 + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                why = _last_error(self._read_log()) or f"exit status {self._proc.returncode}"
                raise ButlerServerError(f"the Butler server exited at start: {why}")
            if time.monotonic() > deadline:
                raise ButlerServerError(f"the Butler server did not answer within {self.start_timeout:g} s")
            if sock.exists():
                try:
                    r = await self.fetch("/", request_timeout=5)
                    if r.code == 200:
                        break
                except OSError:
                    pass
            await asyncio.sleep(0.1)
        # open the repository now (the server does it on the first request): a broken one
        # fails here, with its reason, rather than as an internal error of some later request
        r = await self.fetch(api_path("v1/universe"), request_timeout=self.start_timeout)
        if r.code != 200:
            why = _last_error(self._read_log()) or f"HTTP {r.code}"
            raise ButlerServerError(f"the Butler server cannot open the release's repository: {why}")
        self.log.info("lsstbox: the Butler server is up (%.1f s)", time.monotonic() - t0)

    async def fetch(self, path: str, **kwargs: Any) -> HTTPResponse:
        """``path`` (with its query) on the server; the response whatever its status."""
        if self._client is None:
            raise ButlerServerError("the Butler server is not running")
        return await self.fetch_request(HTTPRequest(f"http://{HOST}{path}", follow_redirects=False, **kwargs))

    async def fetch_request(self, request: HTTPRequest) -> HTTPResponse:
        """``request`` (to ``http://HOST/...``) sent to the server; the response whatever its
        status (connection failures are code 599)."""
        if self._client is None:
            raise ButlerServerError("the Butler server is not running")
        return await self._client.fetch(request, raise_error=False)

    def stop(self) -> None:
        """End the server (if it runs) and remove its folder."""
        client, proc, workdir = self._client, self._proc, self._dir
        self._client = self._proc = self._dir = None
        self._repo = None
        if client is not None:
            client.close()
        if proc is not None:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*$")


def _exception_line(traceback: str) -> str | None:
    """The line naming the exception of a traceback: the first after its last frame."""
    lines = traceback.rstrip().splitlines()
    last_frame = max((i for i, line in enumerate(lines) if line.startswith((" ", "\t"))), default=-1)
    return next((line.strip() for line in lines[last_frame + 1 :] if line.strip()), None)


def _last_error(text: str) -> str | None:
    """The last error in a server log, in one line: our own ``lsstbox-butler:`` lines, the
    exception of a logged traceback (safir logs JSON with an ``exception`` field) or of a plain
    one; else the last line that names an error."""
    best: str | None = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            exc = entry.get("exception") if isinstance(entry, dict) else None
            if isinstance(exc, str) and exc.strip():
                best = _exception_line(exc) or best
        elif line.startswith("lsstbox-butler: "):
            best = line.removeprefix("lsstbox-butler: ")
        elif line.startswith("Traceback (most recent call last):"):
            block = []
            while i < len(lines) and not lines[i].startswith(("{", "lsstbox-butler: ")):
                block.append(lines[i])
                i += 1
            best = _exception_line("\n".join(block)) or best
    if best is None:
        best = next((ln.strip() for ln in reversed(lines) if _ERROR_LINE.match(ln.strip())), None)
    return _one_line(best) if best else None


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
