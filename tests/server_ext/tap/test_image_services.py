"""The image services through real clients: pyvo's SIA2Service -> DatalinkResults -> SodaQuery,
down to the FITS pixels, against a real Jupyter server on the tiny release; ObsCore regions in
ADQL; DataLink progenitors; bad input for each endpoint."""

from __future__ import annotations

import io
import math
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pyarrow.parquet as pq
import pytest
import requests
from astropy import units as u
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.time import Time
from astropy.wcs import WCS
from jupyter_subprocess import JupyterProcess

from kernel_lib.release.exposure import read_exposure

pyvo = pytest.importorskip("pyvo")
from pyvo.dal.adhoc import DatalinkResults, SodaQuery  # noqa: E402
from pyvo.dal.sia2 import SIA2Service  # noqa: E402


@pytest.fixture(scope="module")
def obscore(tiny_release: Path) -> list[dict]:
    return pq.read_table(tiny_release / "obscore" / "obscore.parquet").to_pylist()


@pytest.fixture(scope="module")
def sia(tap_server: JupyterProcess, session: requests.Session) -> SIA2Service:
    return SIA2Service(f"{tap_server.url}lsstbox/sia", session=session)


def _polygon(s_region: str) -> np.ndarray:
    nums = [float(w) for w in s_region.split()[2:]]
    return np.array(nums).reshape(-1, 2)


def _inside(ra: float, dec: float, poly: np.ndarray) -> bool:
    """Point in a small convex sky polygon, in a tangent plane at the point (independent of the
    service's sphgeom code)."""
    d = np.radians(dec)
    x = (poly[:, 0] - ra) * math.cos(d)
    y = poly[:, 1] - dec
    cross = [x[i] * y[(i + 1) % len(x)] - x[(i + 1) % len(x)] * y[i] for i in range(len(x))]
    return all(c > 0 for c in cross) or all(c < 0 for c in cross)


def _coadd(obscore: list[dict], band: str = "r") -> dict:
    return next(
        r for r in obscore if r["dataproduct_subtype"] == "lsst.deep_coadd" and r["lsst_band"] == band
    )


def test_sia_search_matches_obscore_footprints(sia: SIA2Service, obscore: list[dict]) -> None:
    rec = _coadd(obscore)
    ra, dec = rec["s_ra"] + 0.001, rec["s_dec"] - 0.001
    got = sia.search(pos=(ra * u.deg, dec * u.deg, 1e-4 * u.deg), maxrec=1000)
    expected = {r["obs_id"] for r in obscore if _inside(ra, dec, _polygon(r["s_region"]))}
    assert expected and {r["obs_id"] for r in got} == expected
    # every constraint at once, as in Rubin's tutorials
    lo, hi = rec["em_min"] + 1e-9, rec["em_max"] - 1e-9  # bands touch at their edges
    t = (Time(rec["t_min"] - 1, format="mjd"), Time(rec["t_max"] + 1, format="mjd"))
    got = sia.search(
        pos=(ra, dec, 1e-4), band=(lo, hi), time=t, calib_level=3, dpsubtype="lsst.deep_coadd", maxrec=100
    )
    assert [r["obs_id"] for r in got] == [rec["obs_id"]]
    visits = sia.search(pos=(ra, dec, 1e-4), band=(lo, hi), dpsubtype="lsst.visit_image")
    assert len(visits) and all(r["lsst_band"] == "r" for r in visits)
    assert all(r["dataproduct_subtype"] == "lsst.visit_image" for r in visits)


def test_sia_range_and_polygon_and_time(sia: SIA2Service, obscore: list[dict]) -> None:
    rec = _coadd(obscore)
    ra, dec = rec["s_ra"], rec["s_dec"]
    poly = sia.search(pos=(ra - 0.001, dec - 0.001, ra + 0.001, dec - 0.001, ra, dec + 0.001), maxrec=1000)
    rng = sia.search(pos=(ra - 0.001, ra + 0.001, dec - 0.001, dec + 0.001), maxrec=1000)
    centre = {r["obs_id"] for r in obscore if _inside(ra, dec, _polygon(r["s_region"]))}
    assert centre <= {r["obs_id"] for r in poly} and centre <= {r["obs_id"] for r in rng}
    # far away: nothing
    assert len(sia.search(pos=(180.0, 10.0, 0.1))) == 0
    # a time window holding one visit's exposure only
    visit = next(r for r in obscore if r["dataproduct_subtype"] == "lsst.visit_image")
    mid = (visit["t_min"] + visit["t_max"]) / 2
    got = sia.search(
        time=(Time(mid, format="mjd"), Time(mid + 1e-6, format="mjd")), dpsubtype="lsst.visit_image"
    )
    assert {r["lsst_visit"] for r in got} == {visit["lsst_visit"]}


def test_sia_maxrec_and_self_description(tap_server: JupyterProcess, session: requests.Session) -> None:
    url = f"{tap_server.url}lsstbox/sia/query"
    r = session.get(url, params={"MAXREC": "3"})
    assert r.status_code == 200
    table = parse_single_table(io.BytesIO(r.content)).to_table()
    assert len(table) == 3
    assert b'name="QUERY_STATUS" value="OVERFLOW"' in r.content
    r = session.get(url, params={"MAXREC": "0"})
    assert r.status_code == 200
    assert len(parse_single_table(io.BytesIO(r.content)).to_table()) == 0
    for name in ("POS", "BAND", "TIME", "CALIB", "DPSUBTYPE", "MAXREC"):
        assert f'name="{name}"'.encode() in r.content
    assert b"ivo://ivoa.net/std/SIA#query-2.0" in r.content


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"POS": "CIRCLE 1 2"}, "CIRCLE needs 3 numbers"),
        ({"POS": "CIRCLE 10 95 1"}, "outside [-90, 90]"),
        ({"POS": "POLYGON 1 2 3 4"}, "at least 3 vertices"),
        ({"POS": "ELLIPSE 1 2 3"}, "unknown shape"),
        ({"BAND": "red"}, "BAND="),
        ({"TIME": "60000 59000"}, "low end is above"),
        ({"CALIB": "9"}, "CALIB="),
        ({"MAXREC": "-1"}, "negative"),
        ({"RESPONSEFORMAT": "pdf"}, "pdf"),
    ],
)
def test_sia_bad_input(
    tap_server: JupyterProcess, session: requests.Session, params: dict, message: str
) -> None:
    r = session.get(f"{tap_server.url}lsstbox/sia/query", params=params)
    assert r.status_code == 400
    assert b'name="QUERY_STATUS" value="ERROR"' in r.content
    assert message.encode() in r.content


def _cutout_checks(
    data: bytes, ra: float, dec: float, rec: dict, tiny_release: Path, planes: int = 2
) -> fits.HDUList:
    hdul = fits.open(io.BytesIO(data))
    hdul.verify("exception")  # standard FITS, whatever writes it
    assert len(hdul) == planes and hdul[1].name == "IMAGE"
    img = hdul[1]
    wcs = WCS(img.header)
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    ny, nx = img.data.shape
    assert abs(x - (nx - 1) / 2) <= 0.51 and abs(y - (ny - 1) / 2) <= 0.51
    # the pixels are the parent's, at the offset the header gives
    x0, y0 = -img.header["LTV1"], -img.header["LTV2"]
    parent = read_exposure(tiny_release / rec["lsst_file"], bbox=(x0, y0, nx, ny))
    np.testing.assert_array_equal(img.data, parent.image)
    # and the cutout's WCS is the parent's, shifted
    sky = parent.wcs.wcs_pix2world([[3.0, 4.0]], 0)[0]
    np.testing.assert_allclose(wcs.wcs_pix2world([[3.0, 4.0]], 0)[0], sky, atol=1e-10)
    return hdul


def test_sia_datalink_soda_circle_and_polygon(
    sia: SIA2Service, session: requests.Session, obscore: list[dict], tiny_release: Path, tmp_path: Path
) -> None:
    rec = _coadd(obscore)
    ra, dec = rec["s_ra"], rec["s_dec"]
    mid = (rec["em_min"] + rec["em_max"]) / 2
    results = sia.search(pos=(ra, dec, 1e-4), dpsubtype="lsst.deep_coadd", band=(mid, mid))
    assert len(results) == 1
    dl = DatalinkResults.from_result_url(results[0]["access_url"], session=session)
    this = next(dl.bysemantics("#this", include_narrower=False))
    assert this.content_type == "application/fits" and this.content_length > 0
    fits_bytes = session.get(this.access_url).content
    assert len(fits_bytes) == this.content_length or abs(len(fits_bytes) - this.content_length) < 2048
    resource = dl.get_adhocservice_by_id("cutout-sync")
    sq = SodaQuery.from_resource(dl, resource, session=session)
    sq.circle = (ra, dec, 10 / 3600)
    hdul = _cutout_checks(sq.execute_stream().read(), ra, dec, rec, tiny_release)
    # 10" radius at 0.2"/px: 100 or 101 pixels across
    assert 99 <= hdul[1].data.shape[0] <= 102
    sq = SodaQuery.from_resource(dl, resource, session=session)
    d = 5 / 3600
    sq.polygon = (ra - d, dec - d, ra + d, dec - d, ra + d, dec + d, ra - d, dec + d)
    hdul = _cutout_checks(sq.execute_stream().read(), ra, dec, rec, tiny_release)
    # MaskedImage: mask and variance too, in the release's layout
    sq = SodaQuery.from_resource(dl, resource, session=session)
    sq.circle = (ra, dec, 4 / 3600)
    sq["CUTOUTDETAIL"] = "MaskedImage"
    hdul = _cutout_checks(sq.execute_stream().read(), ra, dec, rec, tiny_release, planes=4)
    assert [h.name for h in hdul] == ["PRIMARY", "IMAGE", "MASK", "VARIANCE"]
    x0, y0 = -hdul[1].header["LTV1"], -hdul[1].header["LTV2"]
    ny, nx = hdul[1].data.shape
    parent = read_exposure(tiny_release / rec["lsst_file"], bbox=(x0, y0, nx, ny))
    np.testing.assert_array_equal(hdul["MASK"].data, parent.mask)
    np.testing.assert_array_equal(hdul["VARIANCE"].data, parent.variance)
    assert any(k.startswith("MP_") for k in hdul["MASK"].header)
    # a MaskedImage cutout is an exposure file of the release's layout
    saved = tmp_path / "cutout.fits"
    hdul.writeto(saved)
    again = read_exposure(saved)
    np.testing.assert_array_equal(again.mask, parent.mask)
    assert again.metadata["BAND"] == rec["lsst_band"]


def test_soda_pos_range_and_edge_clipping(
    tap_server: JupyterProcess, session: requests.Session, obscore: list[dict], tiny_release: Path
) -> None:
    rec = _coadd(obscore)
    url = f"{tap_server.url}lsstbox/soda/sync"
    ra, dec = rec["s_ra"], rec["s_dec"]
    r = session.get(
        url,
        params={
            "ID": rec["obs_publisher_did"],
            "POS": f"RANGE {ra - 0.001} {ra + 0.001} {dec - 0.001} {dec + 0.001}",
        },
    )
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/fits"
    _cutout_checks(r.content, ra, dec, rec, tiny_release)
    # a circle larger than the image: the whole image, no more
    r = session.get(url, params={"ID": rec["obs_publisher_did"], "CIRCLE": f"{ra} {dec} 1"})
    img = fits.open(io.BytesIO(r.content))[1]
    assert img.data.shape == (rec["s_xel2"], rec["s_xel1"])


def test_progenitors_of_a_coadd_are_its_input_visits(
    tap_server: JupyterProcess, session: requests.Session, obscore: list[dict], tiny_release: Path
) -> None:
    rec = _coadd(obscore, "g")
    dl = DatalinkResults.from_result_url(
        f"{tap_server.url}lsstbox/datalink/links?ID={quote(rec['obs_publisher_did'], safe='')}",
        session=session,
    )
    progs = list(dl.bysemantics("#progenitor", include_narrower=False))
    assert progs
    header = fits.getheader(tiny_release / rec["lsst_file"], 0)
    by_did = {r["obs_publisher_did"]: r for r in obscore}
    inputs = []
    for p in progs:
        sub = DatalinkResults.from_result_url(p.access_url, session=session)
        this = next(sub.bysemantics("#this", include_narrower=False))
        inputs.append(by_did[this["ID"]])
    assert all(i["dataproduct_subtype"] == "lsst.visit_image" and i["lsst_band"] == "g" for i in inputs)
    assert all(rec["t_min"] - 1e-6 <= i["t_min"] and i["t_max"] <= rec["t_max"] + 1e-6 for i in inputs)
    # the coadd's inputs: exactly the visits it says it stacked
    assert len({i["lsst_visit"] for i in inputs}) == header["NVISITS"]
    # visit images have no progenitors
    visit = next(r for r in obscore if r["dataproduct_subtype"] == "lsst.visit_image")
    dl = DatalinkResults.from_result_url(
        f"{tap_server.url}lsstbox/datalink/links?ID={quote(visit['obs_publisher_did'], safe='')}",
        session=session,
    )
    assert not list(dl.bysemantics("#progenitor", include_narrower=False))
    assert list(dl.bysemantics("#cutout", include_narrower=False))


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"CIRCLE": "180 10 0.01"}, 400, "NoOverlap"),
        ({"CIRCLE": "1 2"}, 400, "CIRCLE needs 3 numbers"),
        ({"POLYGON": "1 2 3 4"}, 400, "at least 3 vertices"),
        ({"POS": "BOX"}, 400, "BOX needs 4 numbers"),
        ({}, 400, "send one of CIRCLE"),
        ({"CIRCLE": "1 2 0.1", "POLYGON": "1 2 3 4 5 6"}, 400, "one spatial shape"),
        ({"CIRCLE": "{ra} {dec} 0.001", "CUTOUTDETAIL": "Everything"}, 400, "CUTOUTDETAIL"),
        ({"CIRCLE": "{ra} {dec} 0.001", "BAND": "1e-7 2e-7"}, 400, "BAND cutouts are not supported"),
        (
            {"ID": "ivo://org.rubinobs/usdac/lsst-dp1-box?repo=box&id=nope", "CIRCLE": "1 2 0.1"},
            404,
            "NotFoundFault",
        ),
        ({"ID": "../../../etc/passwd", "CIRCLE": "1 2 0.1"}, 404, "NotFoundFault"),
        ({"ID": None, "CIRCLE": "1 2 0.1"}, 400, "send ID="),
    ],
)
def test_soda_bad_input(
    tap_server: JupyterProcess,
    session: requests.Session,
    obscore: list[dict],
    params: dict,
    status: int,
    message: str,
) -> None:
    rec = _coadd(obscore)
    p = {"ID": rec["obs_publisher_did"], **params}
    p = {k: v.format(ra=rec["s_ra"], dec=rec["s_dec"]) for k, v in p.items() if v is not None}
    r = session.get(f"{tap_server.url}lsstbox/soda/sync", params=p)
    assert r.status_code == status, r.text[:300]
    assert b'name="QUERY_STATUS" value="ERROR"' in r.content
    assert message.encode() in r.content


def test_image_services_need_authentication(tap_server: JupyterProcess) -> None:
    for path in ("lsstbox/sia/query?POS=CIRCLE+1+2+3", "lsstbox/soda/sync?ID=x&CIRCLE=1+2+3"):
        r = requests.get(f"{tap_server.url}{path}", allow_redirects=False)
        assert r.status_code in (302, 401, 403)


def test_vosi_of_image_services(tap_server: JupyterProcess, session: requests.Session) -> None:
    for service, sid in (("sia", b"SIA#query-2.0"), ("soda", b"SODA#sync-1.0")):
        r = session.get(f"{tap_server.url}lsstbox/{service}/capabilities")
        assert r.status_code == 200 and sid in r.content
        r = session.get(f"{tap_server.url}lsstbox/{service}/availability")
        assert r.status_code == 200 and b"true" in r.content


def test_adql_regions_on_obscore(
    tap_server: JupyterProcess, session: requests.Session, obscore: list[dict]
) -> None:
    """CONTAINS(POINT, s_region) and INTERSECTS(CIRCLE, s_region) in ADQL, as the issue asks."""
    tap = pyvo.dal.TAPService(f"{tap_server.url}lsstbox/tap", session=session)
    rec = _coadd(obscore)
    ra, dec = rec["s_ra"] + 0.002, rec["s_dec"] + 0.001
    got = tap.run_sync(
        f"SELECT obs_id FROM ivoa.ObsCore WHERE CONTAINS(POINT('ICRS', {ra}, {dec}), s_region) = 1"
    ).to_table()
    expected = {r["obs_id"] for r in obscore if _inside(ra, dec, _polygon(r["s_region"]))}
    assert expected and set(got["obs_id"]) == expected
    got = tap.run_sync(
        "SELECT obs_id FROM ivoa.ObsCore "
        f"WHERE INTERSECTS(CIRCLE('ICRS', {ra}, {dec}, 0.00001), s_region) = 1"
    ).to_table()
    assert set(got["obs_id"]) == expected
    got = tap.run_sync(
        f"SELECT COUNT(*) AS n FROM ivoa.ObsCore WHERE CONTAINS(s_region, CIRCLE('ICRS', {ra}, {dec}, 5)) = 1"
    ).to_table()
    assert int(got["n"][0]) == len(obscore)


def test_datalinklint_on_links_with_cutouts_and_progenitors(
    tap_server: JupyterProcess, session: requests.Session, obscore: list[dict], tmp_path: Path
) -> None:
    """STILTS datalinklint on a multi-ID links document (a coadd with progenitors, a visit image,
    an unknown id): no errors, no warnings."""
    import subprocess

    ids = [_coadd(obscore)["obs_publisher_did"], obscore[-1]["obs_publisher_did"], "ivo://nowhere?x"]
    r = session.get(f"{tap_server.url}lsstbox/datalink/links", params={"ID": ids})
    assert r.status_code == 200
    table = parse_single_table(io.BytesIO(r.content)).to_table()
    assert {"#this", "#cutout", "#progenitor"} <= set(table["semantics"])
    assert b'ID="cutout-sync"' in r.content and b'ID="cutout-sync-1"' in r.content
    doc = tmp_path / "links.vot"
    doc.write_bytes(r.content)
    report = subprocess.run(
        ["stilts", "datalinklint", f"votable={doc}"], capture_output=True, text=True, timeout=120
    ).stdout
    assert "Errors: 0;" in report and "Warnings: 0;" in report, report


def test_rsp_helpers_sia_datalink_soda(
    tap_server: JupyterProcess, obscore: list[dict], tiny_release: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lsst.rsp-named helpers a Rubin notebook uses: get_siav2_service, get_datalink_result,
    get_pyvo_auth."""
    import jupyterlab_lsp as box

    monkeypatch.setenv("LSSTBOX_TAP_URL", f"{tap_server.url}lsstbox/tap")
    monkeypatch.setenv("LSSTBOX_TOKEN", tap_server.token)
    rec = _coadd(obscore, "i")
    sia = box.get_siav2_service("dp1")
    found = sia.search(pos=(rec["s_ra"], rec["s_dec"], 1e-4), calib_level=3, dpsubtype="lsst.deep_coadd")
    row = next(r for r in found if r["lsst_band"] == "i")
    dl = box.get_datalink_result(row)
    sq = SodaQuery.from_resource(dl, dl.get_adhocservice_by_id("cutout-sync"), session=box.get_pyvo_auth())
    sq.circle = (rec["s_ra"], rec["s_dec"], 3 / 3600)
    _cutout_checks(sq.execute_stream().read(), rec["s_ra"], rec["s_dec"], rec, tiny_release)
    with pytest.raises(ValueError, match="dp1"):
        box.get_siav2_service("dp02")
    with pytest.raises(ValueError, match="access_url"):
        box.get_datalink_result({"obs_id": "x"})
