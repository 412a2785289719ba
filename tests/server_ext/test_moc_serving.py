"""The release's MOCs over HTTP from a real box server, and its HiPS trees linted over HTTP by
Aladin HipsGen (as a HiPS client sees them, not as files on disk)."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from astropy.coordinates import Latitude, Longitude
from jupyter_subprocess import JupyterProcess, box_server
from mocpy import MOC
from no_jupyter_loop import jp_asyncio_loop, jp_server_cleanup  # noqa: F401

from kernel_lib.release.manifest import Release

ALADIN_JAR = Path("/usr/share/java/aladin.jar")
HAVE_ALADIN = shutil.which("java") is not None and ALADIN_JAR.exists()
# in CI (CI=true) the tool must be there: scripts/setup.sh --system installs it, and a skip would hide a gap
needs_aladin = pytest.mark.skipif(
    not HAVE_ALADIN and not os.environ.get("CI"),
    reason="needs java and the Debian `aladin` package (/usr/share/java/aladin.jar)",
)


@pytest.fixture(scope="module")
def release(tiny_release: Path) -> Release:
    return Release.open(tiny_release)


def _home(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    home = tmp_path_factory.mktemp(name)
    (home / "root").mkdir()
    return home


@pytest.fixture(scope="module")
def server(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterProcess]:
    with box_server(release.root, _home(tmp_path_factory, "moc"), secrets.token_hex(16)) as s:
        yield s


def _raw_get(server: JupyterProcess, path: str, token: str | None = None) -> tuple[int, str]:
    """GET a path exactly as written (requests would normalise ``..`` away)."""
    u = urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=30)
    try:
        headers = {"Authorization": f"token {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def test_list(server: JupyterProcess, release: Release) -> None:
    r = server.get("lsstbox/moc/")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    listing = r.json()
    assert listing == json.loads(json.dumps(release.summary("/")["mocs"]))
    assert [m["id"] for m in listing] == [m["id"] for m in release.mocs]
    assert {m["id"] for m in listing} >= {*release.catalogs, "visit_image", "deep_coadd"}
    for m in listing:
        assert m["url"] == f"/lsstbox/moc/{m['id']}.fits"
        assert m["kind"] in ("catalog", "images") and m["title"] and 0 < m["sky_fraction"] < 1e-6
    assert server.get("lsstbox/moc").json() == listing  # with or without the slash
    summary = server.get("lsstbox/api/release").json()
    assert summary["mocs"] == listing
    assert {"name": "MOC", "url": "/lsstbox/moc/", "status": "ok"} in summary["services"]


def test_every_fits_moc_reads_with_mocpy(server: JupyterProcess, release: Release) -> None:
    for m in server.get("lsstbox/moc/").json():
        r = server.get(m["url"])
        assert r.status_code == 200, (m["id"], r.text[:200])
        assert r.headers["Content-Type"] == "application/fits"
        assert r.content[:30] == b"SIMPLE  =                    T"
        moc = MOC.from_fits(io.BytesIO(r.content))
        on_disk = {e["id"]: e for e in release.mocs}[m["id"]]
        assert moc == MOC.from_fits(release.resolve(on_disk["path"]))
        assert moc.sky_fraction == pytest.approx(m["sky_fraction"])
        assert moc.max_order == m["order"]
    field = release.manifest["field"]
    obj = MOC.from_fits(io.BytesIO(server.get("lsstbox/moc/Object.fits").content))
    assert obj.contains_lonlat(Longitude([field["ra"]], "deg"), Latitude([field["dec"]], "deg"))[0]


def test_json_and_ascii_serialisations(server: JupyterProcess) -> None:
    fits_moc = MOC.from_fits(io.BytesIO(server.get("lsstbox/moc/visit_image.fits").content))
    r = server.get("lsstbox/moc/visit_image.json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert MOC.from_json({k: list(v) for k, v in r.json().items()}) == fits_moc
    r = server.get("lsstbox/moc/visit_image.txt")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert re.match(r"^\d+/\d", r.text)
    assert MOC.from_str(r.text) == fits_moc


def test_head(server: JupyterProcess) -> None:
    r = requests.head(f"{server.url}lsstbox/moc/Object.fits", headers=server.headers, timeout=30)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) % 2880 == 0


@pytest.mark.parametrize("name", ["NoSuchCatalog.fits", "Object.png", "Object", "Object.fits.fits", ".fits"])
def test_unknown_moc_is_a_json_404(server: JupyterProcess, name: str) -> None:
    r = server.get(f"lsstbox/moc/{name}")
    assert r.status_code == 404
    body = r.json()
    assert body["status"] == 404 and "MOC" in body["error"] and "Traceback" not in body["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/lsstbox/moc/../manifest.json",
        "/lsstbox/moc/..%2Fmanifest.json",
        "/lsstbox/moc/%2e%2e%2fmanifest.json",
        "/lsstbox/moc/..%2F..%2Fmoc%2FObject.fits",
        "/lsstbox/moc/%2e%2e/manifest.json",
        "/lsstbox/moc/Object.fits/..%2F..%2Fmanifest.json",
        "/lsstbox/moc/%2Ftmp%2FObject.fits",
    ],
)
def test_path_tricks_are_refused(server: JupyterProcess, path: str) -> None:
    status, body = _raw_get(server, path, server.token)
    assert status in (400, 403, 404), (status, body[:200])
    assert "lsstbox-release" not in body and "SIMPLE" not in body


@pytest.mark.parametrize("path", ["lsstbox/moc/", "lsstbox/moc/Object.fits", "lsstbox/moc/Object.json"])
@pytest.mark.parametrize("auth", [None, "token not-the-token"])
def test_unauthenticated_is_refused(server: JupyterProcess, path: str, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    r = requests.get(f"{server.url}{path}", headers=headers, allow_redirects=False, timeout=30)
    # API handlers answer 403; file-like handlers redirect to the login page
    assert r.status_code in (401, 403) or (r.status_code == 302 and "login" in r.headers["Location"]), (
        r.status_code
    )
    assert b"SIMPLE" not in r.content and b'"id"' not in r.content


def test_a_release_built_before_mocs_serves_an_empty_list(
    release: Release, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An older release (no ``"mocs"`` in its manifest) still opens and serves, with no MOCs."""
    manifest = {k: v for k, v in release.manifest.items() if k != "mocs"}
    for cat in manifest["catalogs"].values():  # the same data, by absolute paths
        cat["path"] = str(release.resolve(cat["path"]))
        cat["margin"] = str(release.resolve(cat["margin"])) if cat.get("margin") else None
    manifest["hips"] = [{**h, "path": str(release.resolve(h["path"]))} for h in release.hips]
    manifest["butler"] = {**manifest["butler"], "root": str(release.resolve(manifest["butler"]["root"]))}
    manifest["obscore"] = {**manifest["obscore"], "path": str(release.resolve(manifest["obscore"]["path"]))}
    old = tmp_path_factory.mktemp("old-release")
    (old / "manifest.json").write_text(json.dumps(manifest))
    with box_server(old, _home(tmp_path_factory, "old"), secrets.token_hex(16)) as s:
        assert s.get("lsstbox/moc/").json() == []
        summary = s.get("lsstbox/api/release").json()
        assert summary["mocs"] == [] and all(x["name"] != "MOC" for x in summary["services"])
        assert s.get("lsstbox/moc/Object.fits").status_code == 404
        assert s.get(f"lsstbox/hips/{release.hips[0]['id']}/properties").status_code == 200


# -- IVOA HiPS 1.0 compliance over HTTP ---------------------------------------------------------
def hipsgen_lint(target: str) -> tuple[str, str]:
    """Aladin HipsGen LINT of a HiPS URL: ("ok" | "warnings" | "fail", its output).  HipsGen
    always exits 0 and v12 can print ERROR lines yet end with "fully compatible": read both."""
    run = subprocess.run(
        ["java", "-Djava.awt.headless=true", "-Xmx1g", "-cp", str(ALADIN_JAR), "cds.allsky.HipsGen",
         f"out={target}", "LINT"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = re.sub(r"\x1b\[[0-9;]*m", "", run.stdout + run.stderr)
    if "is not IVOA HiPS 1.0 compatible" in out or re.search(r"^\*?ERROR", out, re.M):
        return "fail", out
    if "compatible but with warnings" in out or re.search(r"^\*?WARN", out, re.M):
        return "warnings", out
    if re.search(r"is (fully )?IVOA HiPS 1\.0 compatible", out):
        return "ok", out
    raise AssertionError(f"HipsGen LINT did not run: {out[-500:]}")


@pytest.fixture(scope="module")
def open_server(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterProcess]:
    """A server with authentication disabled (empty token), for HipsGen which cannot send
    Jupyter's token; loopback only."""
    home = _home(tmp_path_factory, "moc-open")
    with box_server(release.root, home, "", extra=["--ServerApp.disable_check_xsrf=True"]) as s:
        yield s


@needs_aladin
def test_served_hips_trees_pass_hipsgen_lint(open_server: JupyterProcess, release: Release) -> None:
    trees = [h["id"] for h in open_server.get("lsstbox/hips/").json()]
    assert trees and trees == [h["id"] for h in release.hips]
    for tree in trees:
        url = f"{open_server.url}lsstbox/hips/{tree}"
        verdict, out = hipsgen_lint(url)
        assert f"Lint remote HiPS: {url}" in out, out  # linted over HTTP, not from the disk
        assert verdict == "ok", out
        assert "ERROR" not in out and "WARN" not in out, out


@needs_aladin
def test_hipsgen_lint_catches_a_missing_tree(open_server: JupyterProcess) -> None:
    """The check above can fail: a tree the server does not have is not compatible."""
    verdict, out = hipsgen_lint(f"{open_server.url}lsstbox/hips/no-such-tree")
    assert verdict == "fail", out
