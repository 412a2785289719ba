"""The release endpoint and HiPS files, through a real Jupyter server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from kernel_lib.release.manifest import Release


async def test_release_summary_matches_manifest(jp_fetch, tiny_release: Path) -> None:
    resp = await jp_fetch("lsstbox", "api", "release")
    assert resp.code == 200
    body = json.loads(resp.body)
    rel = Release.open(tiny_release)
    assert body["name"] == rel.name == "lsstbox-tiny"
    rows = {c["name"]: c["rows"] for c in body["catalogs"]}
    assert rows == {name: c["rows"] for name, c in rel.catalogs.items()}
    assert rows["Object"] > 100 and rows["ForcedSource"] > rows["Object"]
    assert any(s["url"].endswith("/lsstbox/api/release") for s in body["services"])


def _endpoints(tiny_release: Path) -> list[tuple[str, ...]]:
    parts = [("lsstbox", "api", "release"), ("lsstbox", "hips", "")]
    for h in Release.open(tiny_release).hips:
        parts.append(("lsstbox", "hips", h["id"], "properties"))
    return parts


@pytest.mark.parametrize("auth", [None, "token not-the-token"])
async def test_every_endpoint_refuses_unauthenticated(jp_fetch, tiny_release: Path, auth) -> None:
    for parts in _endpoints(tiny_release):
        headers = {"Authorization": auth or ""}
        resp = await jp_fetch(*parts, headers=headers, raise_error=False, follow_redirects=False)
        # API handlers answer 403; page-like handlers redirect to the login page
        ok = resp.code in (401, 403) or (resp.code == 302 and "login" in resp.headers["Location"])
        assert ok, (parts, resp.code)


async def test_hips_files_are_served(jp_fetch, tiny_release: Path) -> None:
    trees = Release.open(tiny_release).hips
    if not trees:
        pytest.fail("the tiny release has no HiPS")
    resp = await jp_fetch("lsstbox", "hips", trees[0]["id"], "properties")
    assert resp.code == 200
    assert b"hips_order" in resp.body
    listing = json.loads((await jp_fetch("lsstbox", "hips", "")).body)
    assert {h["id"] for h in listing} == {h["id"] for h in trees}


async def test_hips_tolerates_a_doubled_slash(
    jp_serverapp, http_server_client, jp_base_url, jp_auth_header
) -> None:
    """HiPS clients given a base URL with a trailing slash (Aladin Lite does) ask for
    ``<tree>//Norder3/...``: served, not refused."""
    resp = await http_server_client.fetch(
        f"{jp_base_url}lsstbox/hips/color//properties", headers=jp_auth_header
    )
    assert resp.code == 200 and b"hips_order" in resp.body


@pytest.mark.parametrize(
    "parts",
    [
        ("lsstbox", "hips", "no-such-tree", "properties"),
        ("lsstbox", "hips", "color", "..", "..", "manifest.json"),
        ("lsstbox", "hips", "color", "%2e%2e", "%2e%2e", "manifest.json"),
    ],
)
async def test_hips_refuses_unknown_trees_and_path_tricks(jp_fetch, parts) -> None:
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(*parts)
    assert e.value.code in (403, 404)
    body = json.loads(e.value.response.body)
    assert "error" in body and "Traceback" not in body["error"]
