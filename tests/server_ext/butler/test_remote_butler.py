"""daf_butler's own client (RemoteButler) against the box's Butler server, through a real Jupyter
server on the tiny release, compared with a DirectButler on the same repository."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
import yaml
from jupyter_subprocess import JupyterProcess, box_server
from lsst.daf.butler import Butler, DatasetRef, MissingDatasetTypeError, Timespan
from lsst.sphgeom import LonLat
from no_jupyter_loop import jp_asyncio_loop, jp_server_cleanup  # noqa: F401

from kernel_lib.release.butler_repo import COLLECTION
from kernel_lib.release.formatters import STORAGE_CLASSES
from server_ext.butler.client import (
    TOKEN_ENV,
    make_remote_butler,
    register_storage_classes,
    remote_butler_url,
    storage_class_config_dir,
)


@pytest.fixture(scope="module")
def server(tiny_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterProcess]:
    home = tmp_path_factory.mktemp("butler")
    (home / "root").mkdir()
    with box_server(tiny_release, home, secrets.token_hex(16)) as s:
        yield s


@pytest.fixture(scope="module")
def url(server: JupyterProcess) -> str:
    return remote_butler_url(server.url)


@pytest.fixture(scope="module")
def direct(tiny_release: Path) -> Butler:
    return Butler.from_config(str(tiny_release / "butler"), collections=COLLECTION)


@pytest.fixture(scope="module")
def remote(server: JupyterProcess, url: str) -> Iterator[Butler]:
    """``Butler(url)`` exactly as a user writes it, the token in daf_butler's variable."""
    register_storage_classes()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(TOKEN_ENV, server.token)
        butler = Butler.from_config(url, collections=COLLECTION)
    yield butler
    butler.close()


@pytest.fixture(scope="module")
def image_ref(direct: Butler) -> DatasetRef:
    return direct.query_datasets("visit_image", limit=1, order_by=["visit", "detector"])[0]


def _raw_get(server: JupyterProcess, path: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
    """A GET with ``path`` sent exactly as given (requests would normalise ``..`` away)."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read()
    finally:
        conn.close()


# -- connecting ---------------------------------------------------------------------------------------
def test_butler_by_url_is_a_remote_butler(remote: Butler, server: JupyterProcess, url: str) -> None:
    assert type(remote).__name__ == "RemoteButler"
    # the client configuration is public, like daf_butler's own server's
    r = requests.get(f"{url}/butler.yaml", timeout=30)
    assert r.status_code == 200
    config = yaml.safe_load(r.text)
    assert config["cls"] == "lsst.daf.butler.remote_butler.RemoteButler"
    assert config["remote_butler"]["url"] == "<butlerRoot>"
    index = server.get("lsstbox/butler/").json()
    assert index["repositories"]["box"]["url"] == url
    assert index["token_env"] == TOKEN_ENV
    assert COLLECTION in remote.collections.query("*")


# -- queries ------------------------------------------------------------------------------------------
def test_query_by_region_matches_direct(remote: Butler, direct: Butler, image_ref: DatasetRef) -> None:
    record = direct.query_dimension_records("visit_detector_region", data_id=image_ref.dataId)[0]
    centre = LonLat(record.region.getCentroid())
    bind = {"ra": centre.getLon().asDegrees(), "dec": centre.getLat().asDegrees()}
    where = "visit_detector_region.region OVERLAPS POINT(ra, dec)"
    got = remote.query_datasets("visit_image", where=where, bind=bind)
    want = direct.query_datasets("visit_image", where=where, bind=bind)
    assert image_ref.id in {r.id for r in got}
    assert sorted(r.id for r in got) == sorted(r.id for r in want)
    assert {r.dataId["visit"] for r in got} == {r.dataId["visit"] for r in want}


def test_query_by_time_matches_direct(remote: Butler, direct: Butler, image_ref: DatasetRef) -> None:
    visit = direct.query_dimension_records("visit", data_id={"visit": image_ref.dataId["visit"]})[0]
    middle = visit.timespan.begin + (visit.timespan.end - visit.timespan.begin) / 2
    bind = {"t": Timespan(middle, middle + (visit.timespan.end - middle) / 10)}
    where = "visit.timespan OVERLAPS t"
    got = remote.query_datasets("visit_image", where=where, bind=bind)
    want = direct.query_datasets("visit_image", where=where, bind=bind)
    assert got, "the visit's own time finds its images"
    assert {r.dataId["visit"] for r in got} == {image_ref.dataId["visit"]}
    assert sorted(r.id for r in got) == sorted(r.id for r in want)


# -- get ----------------------------------------------------------------------------------------------
def test_get_image_equals_direct(remote: Butler, direct: Butler, image_ref: DatasetRef) -> None:
    got, want = remote.get(image_ref), direct.get(image_ref)
    assert type(got).__name__ == "CCDData"
    np.testing.assert_array_equal(got.data, want.data)
    np.testing.assert_array_equal(got.uncertainty.array, want.uncertainty.array)
    np.testing.assert_array_equal(got.mask, want.mask)
    assert got.wcs.wcs.compare(want.wcs.wcs)
    # by data ID too
    by_id = remote.get("visit_image", dataId=image_ref.dataId)
    np.testing.assert_array_equal(by_id.data, want.data)


def test_get_with_bbox(remote: Butler, direct: Butler, image_ref: DatasetRef) -> None:
    x0, y0, w, h = 10, 20, 30, 40
    cut = remote.get(image_ref, parameters={"bbox": (x0, y0, w, h)})
    full = direct.get(image_ref)
    assert cut.shape == (h, w)
    np.testing.assert_array_equal(cut.data, full.data[y0 : y0 + h, x0 : x0 + w])
    np.testing.assert_array_equal(cut.uncertainty.array, full.uncertainty.array[y0 : y0 + h, x0 : x0 + w])
    # a component with the same parameter
    image = remote.get(image_ref.makeComponentRef("image"), parameters={"bbox": (x0, y0, w, h)})
    np.testing.assert_array_equal(image, full.data[y0 : y0 + h, x0 : x0 + w])


def test_get_catalog_columns(remote: Butler, direct: Butler) -> None:
    ref = direct.query_datasets("object", limit=1)[0]
    columns = ["objectId", "coord_ra", "coord_dec"]
    got = remote.get("object", dataId=ref.dataId, parameters={"columns": columns})
    want = direct.get(ref, parameters={"columns": columns})
    assert got.colnames == columns
    assert len(got) == len(want) > 0
    for c in columns:
        np.testing.assert_array_equal(np.asarray(got[c]), np.asarray(want[c]))


def test_files_are_downloaded_through_the_box(
    server: JupyterProcess, url: str, image_ref: DatasetRef
) -> None:
    bearer = {"Authorization": f"Bearer {server.token}"}
    answer = requests.get(f"{url}/v1/get_file/{image_ref.id}", headers=bearer, timeout=60).json()
    (info,) = answer["artifact"]["file_info"]
    assert info["url"].startswith(f"{server.url}lsstbox/files/")
    assert info["auth"] == "gafaelfawr"  # the client sends its bearer token with the download
    # without the token: refused (the files endpoint redirects to Jupyter's login page)
    r = requests.get(info["url"], timeout=60, allow_redirects=False)
    assert r.status_code in (302, 401, 403) and not r.content.startswith(b"SIMPLE")
    r = requests.get(info["url"], headers=bearer, timeout=60)
    assert r.status_code == 200 and r.content.startswith(b"SIMPLE")
    # the download redirect points there too
    r = requests.get(
        f"{url}/v1/dataset/{image_ref.id}/download", headers=bearer, timeout=60, allow_redirects=False
    )
    assert r.status_code == 307 and r.headers["Location"] == info["url"]


def test_make_remote_butler(server: JupyterProcess, image_ref: DatasetRef) -> None:
    butler = make_remote_butler(server.url, server.token)
    try:
        assert list(butler.collections.defaults) == [COLLECTION]
        assert butler.get(image_ref.makeComponentRef("bbox")) == [0, 0, *butler.get(image_ref).shape[::-1]]
    finally:
        butler.close()


def test_plain_client_in_a_fresh_process(server: JupyterProcess, url: str, image_ref: DatasetRef) -> None:
    """A kernel's view: nothing imported but daf_butler; token and storage classes from the
    environment only."""
    script = textwrap.dedent(
        f"""
        from lsst.daf.butler import Butler
        b = Butler({url!r}, collections={COLLECTION!r})
        bind = {{"v": {image_ref.dataId["visit"]}, "d": {image_ref.dataId["detector"]}}}
        (ref,) = b.query_datasets("visit_image", where="visit = v AND detector = d", bind=bind)
        print(ref.id, b.get(ref, parameters={{"bbox": (0, 0, 7, 5)}}).shape)
        """
    )
    env = {**os.environ, TOKEN_ENV: server.token, "DAF_BUTLER_CONFIG_PATH": str(storage_class_config_dir())}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == [str(image_ref.id), "(5,", "7)"]


def test_storage_class_config_matches_the_release() -> None:
    data = yaml.safe_load((storage_class_config_dir() / "storageClasses.yaml").read_text())
    assert data == {"storageClasses": STORAGE_CLASSES}


# -- refusals and errors ------------------------------------------------------------------------------
def test_unauthenticated_requests_are_refused(
    server: JupyterProcess, url: str, image_ref: DatasetRef
) -> None:
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        for path in ("v1/universe", f"v1/get_file/{image_ref.id}"):
            r = requests.get(f"{url}/{path}", headers=headers, timeout=30)
            assert r.status_code in (401, 403), path
            assert "Traceback" not in r.text
        r = requests.post(f"{url}/v1/query_collection_info", json={}, headers=headers, timeout=30)
        assert r.status_code in (401, 403)
    assert requests.get(f"{server.url}lsstbox/butler/", timeout=30).status_code in (401, 403)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(TOKEN_ENV, "not-the-token")
        with pytest.raises(Exception) as e:
            Butler.from_config(url, collections=COLLECTION).query_datasets("visit_image", limit=1)
    assert getattr(e.value, "status_code", None) == 403


def test_unknown_dataset_type_is_a_clear_error(remote: Butler, server: JupyterProcess, url: str) -> None:
    with pytest.raises(MissingDatasetTypeError, match="no_such_type"):
        remote.query_datasets("no_such_type")
    with pytest.raises(MissingDatasetTypeError, match="no_such_type"):
        remote.get("no_such_type", visit=1, detector=0)
    r = requests.get(f"{url}/v1/dataset_type/no_such_type", headers=server.headers, timeout=30)
    assert r.status_code == 422
    assert r.json()["error_type"] == "missing_dataset_type"


@pytest.mark.parametrize(
    "rest",
    [
        "v1/../../../../etc/passwd",
        "v1/%2e%2e/%2E%2E/universe",
        "v1/dataset_type/a%2F..%2F..",
        "./v1/universe",
    ],
)
def test_dot_paths_are_refused(server: JupyterProcess, rest: str) -> None:
    path = f"/lsstbox/butler/repo/box/{rest}"
    status, ctype, body = _raw_get(server, path, server.headers)
    assert status == 400 and ctype.startswith("application/json")
    assert "bad Butler server path" in json.loads(body)["error"]
    # daf_butler's client gets daf_butler's user error, with the message
    status, _, body = _raw_get(server, path, {**server.headers, "X-Butler-Client-Request-Id": "t"})
    assert status == 422 and json.loads(body)["error_type"] == "unknown"


def test_an_internal_error_of_the_server_is_json(server: JupyterProcess, url: str) -> None:
    """daf_butler's server answers 500 (a KeyError) for an unknown dimension in a data ID."""
    body = {"data_id": {"no_such_dimension": 1}}
    r = requests.post(f"{url}/v1/expand_data_id", json=body, headers=server.headers, timeout=30)
    assert r.status_code == 500 and r.headers["Content-Type"].startswith("application/json")
    assert r.json()["error"] == "the Butler server failed on this request: KeyError: 'no_such_dimension'"
    headers = {**server.headers, "X-Butler-Client-Request-Id": "t"}
    r = requests.post(f"{url}/v1/expand_data_id", json=body, headers=headers, timeout=30)
    assert r.status_code == 422 and r.json()["error_type"] == "unknown"


def test_unknown_repository_and_path(server: JupyterProcess) -> None:
    r = server.get("lsstbox/butler/repo/other/v1/universe")
    assert r.status_code == 404 and "no Butler repository 'other'" in r.json()["error"]
    r = server.get("lsstbox/butler/repo/box/v1/no_such_endpoint")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json")
