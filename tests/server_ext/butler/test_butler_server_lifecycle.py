"""The Butler server subprocess: a repository it cannot open is a clear JSON error (never a
traceback), a crashed server is restarted, a stopped one leaves nothing behind, and one whose
Jupyter server died exits by itself."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from tornado.httpclient import HTTPClientError

from kernel_lib.release.butler_repo import COLLECTION
from server_ext.butler.process import ButlerServer, ButlerServerError, api_path


@pytest.fixture
def broken_release(tiny_release: Path, tmp_path: Path) -> Path:
    """A release whose Butler registry is not a database (its config is the tiny release's)."""
    rel = tmp_path / "broken"
    (rel / "butler").mkdir(parents=True)
    manifest = {"format": "lsstbox-release", "name": "broken", "butler": {"root": "butler"}}
    (rel / "manifest.json").write_text(json.dumps(manifest))
    (rel / "butler" / "butler.yaml").write_bytes((tiny_release / "butler" / "butler.yaml").read_bytes())
    (rel / "butler" / "gen3.sqlite3").write_bytes(b"not a database\n" * 512)
    return rel


@pytest.fixture
def jp_server_config(broken_release: Path) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterlab_lsp": True}},
        "LsstBoxApp": {"release": str(broken_release)},
    }


async def test_a_repository_the_server_cannot_open_is_a_clear_error(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("lsstbox", "butler", "repo", "box", "v1", "universe")
    assert e.value.code == 503
    assert e.value.response is not None
    body = json.loads(e.value.response.body)
    assert body["status"] == 503
    assert body["error"].startswith("the Butler server cannot open the release's repository: ")
    assert "file is not a database" in body["error"]  # the reason, from the server's log
    assert "\n" not in body["error"] and "Traceback" not in body["error"]
    # daf_butler's client gets it as its own user error; the failure is remembered (no new start)
    t0 = time.monotonic()
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(
            "lsstbox", "butler", "repo", "box", "v1", "universe", headers={"X-Butler-Client-Request-Id": "t"}
        )
    assert time.monotonic() - t0 < 1.0
    assert e.value.code == 422
    assert e.value.response is not None
    body = json.loads(e.value.response.body)
    assert body["error_type"] == "unknown" and "cannot open the release's repository" in body["detail"]
    # the public client configuration does not need the server
    r = await jp_fetch("lsstbox", "butler", "repo", "box", "butler.yaml")
    assert json.loads(r.body)["cls"] == "lsst.daf.butler.remote_butler.RemoteButler"


def test_a_crashed_server_is_restarted_and_a_stopped_one_leaves_nothing(tiny_release: Path) -> None:
    server = ButlerServer()
    repo = tiny_release / "butler"

    async def run() -> tuple[int, int, Path]:
        await server.client(repo)
        first = server.pid
        assert first is not None and server.log_path is not None
        workdir = server.log_path.parent
        assert oct(workdir.stat().st_mode & 0o777) == "0o700"
        os.kill(first, signal.SIGKILL)
        psutil.Process(first).wait(timeout=10)
        await server.client(repo)
        second = server.pid
        assert second is not None
        r = await server.fetch(api_path("v1/collection_info?name=" + COLLECTION.replace("/", "%2F")))
        assert r.code == 200 and json.loads(r.body)["name"] == COLLECTION
        return first, second, workdir

    try:
        first, second, workdir = asyncio.run(run())
    finally:
        server.stop()
    assert second != first
    assert not workdir.exists()
    assert not psutil.pid_exists(second) or psutil.Process(second).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(ButlerServerError):
        asyncio.run(server.fetch("/"))


def test_the_server_exits_when_its_jupyter_server_dies(tiny_release: Path) -> None:
    """A parent killed without any cleanup (SIGKILL) leaves no Butler server running."""
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from pathlib import Path
        from server_ext.butler.process import ButlerServer
        server = ButlerServer()
        asyncio.run(server.client(Path({str(tiny_release / "butler")!r})))
        print(server.pid, server.log_path.parent, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == -signal.SIGKILL, out.stderr[-3000:]
    pid, workdir = out.stdout.split()
    deadline = time.monotonic() + 15
    while psutil.pid_exists(int(pid)) and psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the Butler server outlived its parent"
        time.sleep(0.1)
    assert not Path(workdir).exists()  # it removed its private folder (socket, config, log)
