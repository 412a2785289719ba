"""With no release configured, the server builds one on first use and says so meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError


@pytest.fixture
def jp_server_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("LSSTBOX_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LSSTBOX_RELEASE", raising=False)
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterlab_lsp": True}},
        "LsstBoxApp": {"first_use_profile": "tiny"},
    }


async def test_release_is_built_on_first_use(jp_fetch, tmp_path: Path) -> None:
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("lsstbox", "api", "release")
    assert e.value.code == 503
    assert "being built" in json.loads(e.value.response.body)["error"]
    deadline = time.monotonic() + 240
    while True:
        resp = await jp_fetch("lsstbox", "api", "release", raise_error=False)
        if resp.code == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert resp.code == 200, resp.body
    body = json.loads(resp.body)
    assert body["profile"] == "tiny"
    assert Path(body["root"]) == (tmp_path / "home" / "releases" / "demo").resolve()
