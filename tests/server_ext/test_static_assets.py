"""``/lsstbox/static/<file>``: the front-end bundles (``skycore.js`` for the lab's sky panel) from a
real Jupyter server, behind its authentication, by plain file name only, with ETag revalidation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tornado.httpclient import HTTPResponse

from kernel_lib.widgets.sky import STATIC
from server_ext import static as static_module

BUILT = (STATIC / "skycore.js").is_file()
# in CI (CI=true) the bundle must be there: scripts/setup.sh builds it, and a skip would hide a gap
needs_bundle = pytest.mark.skipif(
    not BUILT and not os.environ.get("CI"),
    reason="the js/widgets bundles are not built (scripts/setup.sh, or npm run build in js/widgets)",
)


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict:
    # no release needed: the static files do not depend on one
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterlab_lsp": True}},
        "LsstBoxApp": {"release": str(tmp_path / "no-release")},
    }


@pytest.fixture
def raw_get(jp_serverapp, http_server_client, jp_base_url, jp_auth_header):
    """GET ``<base url><path>`` exactly as written (no quoting, no normalising of ``..``)."""

    async def get(path: str, headers: dict[str, str] | None = None, auth: bool = True) -> HTTPResponse:
        all_headers = {**(jp_auth_header if auth else {}), **(headers or {})}
        return await http_server_client.fetch(
            f"{jp_base_url}{path}",
            headers=all_headers,
            raise_error=False,
            follow_redirects=False,
            request_timeout=20,
        )

    return get


def _json_error(r: HTTPResponse) -> dict:
    assert r.headers["Content-Type"].startswith("application/json"), r.headers["Content-Type"]
    body = json.loads(r.body)
    assert body["status"] == r.code and body["error"]
    assert "Traceback" not in body["error"] and "\n" not in body["error"]
    return body


@needs_bundle
async def test_skycore_is_served_as_javascript(raw_get) -> None:
    r = await raw_get("lsstbox/static/skycore.js")
    assert r.code == 200
    assert r.headers["Content-Type"].startswith("text/javascript")
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["Etag"]
    assert r.body.startswith(b"/* lsstbox sky core")
    assert b"Aladin Lite" in r.body[:400] and b"createSky" in r.body
    assert r.body == (STATIC / "skycore.js").read_bytes()

    css = await raw_get("lsstbox/static/sky.css")
    assert css.code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert b".lsstbox-sky" in css.body

    widget = await raw_get("lsstbox/static/sky.js")
    assert widget.code == 200 and widget.body.startswith(b"/* lsstbox SkyView widget")


@needs_bundle
async def test_etag_revalidation_is_a_304(raw_get) -> None:
    first = await raw_get("lsstbox/static/skycore.js")
    etag = first.headers["Etag"]
    again = await raw_get("lsstbox/static/skycore.js", {"If-None-Match": etag})
    assert again.code == 304 and again.body == b""
    assert again.headers.get("Etag") == etag
    other = await raw_get("lsstbox/static/skycore.js", {"If-None-Match": '"not-this-one"'})
    assert other.code == 200 and other.body == first.body
    assert (await raw_get("lsstbox/static/sky.js")).headers["Etag"] != etag


@needs_bundle
async def test_head(raw_get, http_server_client, jp_base_url, jp_auth_header) -> None:
    r = await http_server_client.fetch(
        f"{jp_base_url}lsstbox/static/skycore.js", method="HEAD", headers=jp_auth_header, raise_error=False
    )
    assert r.code == 200 and r.body == b""
    assert int(r.headers["Content-Length"]) == (STATIC / "skycore.js").stat().st_size


@pytest.mark.parametrize("auth", [None, "token not-the-token"])
async def test_unauthenticated_is_refused(raw_get, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    r = await raw_get("lsstbox/static/skycore.js", headers, auth=False)
    # a page-like handler sends the browser to the login page; never the file
    assert r.code in (401, 403) or (r.code == 302 and "login" in r.headers["Location"]), r.code
    assert b"lsstbox sky core" not in r.body and b"createSky" not in r.body


@pytest.mark.parametrize(
    "path",
    [
        "lsstbox/static/../static/skycore.js",
        "lsstbox/static/../../kernel_lib/widgets/sky.py",
        "lsstbox/static/%2e%2e",
        "lsstbox/static/%2e%2e/sky.py",
        "lsstbox/static/%2e%2e%2fsky.py",
        "lsstbox/static/..%2F..%2Fwidgets%2Fsky.py",
        "lsstbox/static/sub/skycore.js",
        "lsstbox/static/sub%2Fskycore.js",
        "lsstbox/static/%2Fetc%2Fpasswd",
        "lsstbox/static/.hidden",
        "lsstbox/static/skycore.js%00.css",
        "lsstbox/static/",
    ],
)
async def test_path_tricks_are_refused(raw_get, path: str) -> None:
    r = await raw_get(path)
    assert r.code in (400, 404), (r.code, r.body[:200])
    if r.code == 404 and r.headers.get("Content-Type", "").startswith("application/json"):
        _json_error(r)
    assert b"createSky" not in r.body and b"import" not in r.body and b"root:" not in r.body


async def test_static_handler_refuses_bad_names_as_json(raw_get) -> None:
    for path in ("lsstbox/static/%2e%2e", "lsstbox/static/sub%2Fskycore.js", "lsstbox/static/.hidden"):
        r = await raw_get(path)
        assert r.code == 404
        assert "plain file names only" in _json_error(r)["error"]


async def test_unknown_file_is_a_json_404(raw_get) -> None:
    r = await raw_get("lsstbox/static/no-such-bundle.js")
    assert r.code == 404
    assert "no-such-bundle.js" in _json_error(r)["error"]


async def test_missing_bundle_folder_says_to_run_setup(
    raw_get, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(static_module, "static_dir", lambda: tmp_path / "not-built")
    r = await raw_get("lsstbox/static/skycore.js")
    assert r.code == 404
    assert "scripts/setup.sh" in _json_error(r)["error"]
