"""A server whose release is missing answers with a clear error, not a traceback."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError


@pytest.fixture
def jp_server_config(tmp_path) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterlab_lsp": True}},
        "LsstBoxApp": {"release": str(tmp_path / "nowhere")},
    }


async def test_missing_release_is_a_clear_503(jp_fetch) -> None:
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("lsstbox", "api", "release")
    assert e.value.code == 503
    body = json.loads(e.value.response.body)
    assert "manifest.json not found" in body["error"]
    assert "\n" not in body["error"]
