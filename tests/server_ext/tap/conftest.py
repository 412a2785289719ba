"""A real Jupyter server in a subprocess serving the tiny release's TAP service.

pyvo, STILTS and requests block, so the server cannot share the test's event loop: it runs in
its own process (``jupyter server`` with the box's extension), with its own job store.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from jupyter_subprocess import JupyterProcess, box_server
from no_jupyter_loop import jp_asyncio_loop, jp_server_cleanup  # noqa: F401


@pytest.fixture(scope="module")
def tap_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("tap")
    (home / "root").mkdir()
    return home


@pytest.fixture(scope="module")
def tap_server(tiny_release: Path, tap_home: Path) -> Iterator[JupyterProcess]:
    with box_server(tiny_release, tap_home, secrets.token_hex(16)) as server:
        yield server


@pytest.fixture(scope="module")
def tap_url(tap_server: JupyterProcess) -> str:
    return f"{tap_server.url}lsstbox/tap"


@pytest.fixture(scope="module")
def open_tap_url(tiny_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second server with authentication disabled (empty token), for Java clients (STILTS
    tapquery/taplint) that cannot send Jupyter's token; loopback only."""
    home = tmp_path_factory.mktemp("tap-open")
    (home / "root").mkdir()
    with box_server(tiny_release, home, "", extra=["--ServerApp.disable_check_xsrf=True"]) as server:
        yield f"{server.url}lsstbox/tap"


@pytest.fixture(scope="module")
def session(tap_server: JupyterProcess) -> Iterator[requests.Session]:
    """An HTTP session carrying the server's token (what pyvo is given, as lsst.rsp does)."""
    s = requests.Session()
    s.headers.update(tap_server.headers)
    yield s
    s.close()
