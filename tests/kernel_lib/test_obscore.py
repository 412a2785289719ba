"""The ObsCore table of the release images."""

from __future__ import annotations

import math
import uuid
from urllib.parse import unquote

import numpy as np
import pyarrow.parquet as pq
import pytest

from kernel_lib.release.exposure import write_exposure
from kernel_lib.release.images import image_record_for, render_coadd_patch, render_visit_detector
from kernel_lib.release.model import BAND_RANGE_NM, INSTRUMENT, get_profile, plan_visits
from kernel_lib.release.obscore import (
    DID_PREFIX,
    OBSCORE_COLUMNS,
    obscore_table,
    publisher_did,
    write_obscore,
)
from kernel_lib.release.truth import make_truth

MANDATORY = """dataproduct_type calib_level obs_collection obs_id obs_publisher_did access_url
access_format access_estsize target_name s_ra s_dec s_fov s_region s_resolution s_xel1 s_xel2 t_xel
t_min t_max t_exptime t_resolution em_min em_max em_res_power em_xel o_ucd pol_states pol_xel
facility_name instrument_name""".split()
RUBIN = """dataproduct_subtype lsst_visit lsst_detector lsst_tract lsst_patch lsst_band lsst_filter
lsst_file""".split()


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    p = get_profile("tiny")
    rng = np.random.default_rng(5)
    truth = make_truth(p, rng)
    visits = plan_visits(p, rng)
    root = tmp_path_factory.mktemp("release")
    recs = []
    for v in visits[:2]:
        for det in p.camera.detectors[:2]:
            exp = render_visit_detector(p, truth, v, det, 1)
            rel = f"butler/visit_image/{v.id}/{det.name}.fits"
            recs.append(image_record_for(exp, "visit_image", rel, write_exposure(root / rel, exp)))
    for band in ("g", "y"):
        exp = render_coadd_patch(p, truth, visits, band, 3, 1)
        rel = f"butler/deep_coadd/{band}/3.fits"
        recs.append(image_record_for(exp, "deep_coadd", rel, write_exposure(root / rel, exp)))
    return p, visits, recs


def _inside(poly: np.ndarray, ra: float, dec: float) -> bool:
    """Point in a small spherical polygon, on the tangent plane at the point."""
    x = (poly[:, 0] - ra) * math.cos(math.radians(dec))
    y = poly[:, 1] - dec
    # winding: the point is inside a convex polygon if all cross products have one sign
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    return bool((cross > 0).all() or (cross < 0).all())


def test_one_row_per_record_with_all_columns(records):
    _, _, recs = records
    t = obscore_table(recs)
    assert t.num_rows == len(recs)
    assert t.column_names == list(OBSCORE_COLUMNS)
    assert set(MANDATORY) <= set(t.column_names) and set(RUBIN) <= set(t.column_names)
    rows = t.to_pylist()
    assert [r["lsst_file"] for r in rows] == [r.path for r in recs]
    for row, rec in zip(rows, recs, strict=True):
        assert row["dataproduct_type"] == "image"
        assert row["obs_collection"] == "LSST.DP1-box"
        assert row["facility_name"] == "Rubin:Simonyi" and row["instrument_name"] == INSTRUMENT
        assert row["o_ucd"] == "phot.flux.density"
        assert row["access_format"] == "application/x-votable+xml;content=datalink"
        assert row["access_estsize"] == math.ceil(rec.size_bytes / 1024) > 0
        assert (row["s_xel1"], row["s_xel2"]) == (rec.nx, rec.ny)
        assert row["t_min"] == rec.mjd_start and row["t_max"] == rec.mjd_end and row["t_min"] < row["t_max"]
        assert row["lsst_band"] == rec.band and row["lsst_filter"] == rec.physical_filter
        if rec.kind == "visit_image":
            assert row["calib_level"] == 2 and row["dataproduct_subtype"] == "lsst.visit_image"
            assert row["lsst_visit"] == rec.visit and row["lsst_detector"] == rec.detector
            assert row["lsst_tract"] is None and row["t_exptime"] == 30.0
        else:
            assert row["calib_level"] == 3 and row["dataproduct_subtype"] == "lsst.deep_coadd"
            assert row["lsst_tract"] == rec.tract and row["lsst_patch"] == 3 and row["lsst_visit"] is None


def test_s_region_contains_centre(records):
    _p, _, recs = records
    rows = obscore_table(recs).to_pylist()
    for row in rows:
        words = row["s_region"].split()
        assert words[:2] == ["POLYGON", "ICRS"]
        poly = np.array([float(w) for w in words[2:]]).reshape(-1, 2)
        assert poly.shape == (4, 2)
        assert _inside(poly, row["s_ra"], row["s_dec"])
        assert not _inside(poly, row["s_ra"] + 1.0, row["s_dec"])
        # s_fov: the diagonal of the square image
        side = row["s_xel1"] * 0.2 / 3600
        assert row["s_fov"] == pytest.approx(side * math.sqrt(2), rel=0.01)


def test_spectral_and_time_axes(records):
    _, visits, recs = records
    rows = obscore_table(recs).to_pylist()
    for row in rows:
        lo, hi = BAND_RANGE_NM[row["lsst_band"]]
        assert row["em_min"] == pytest.approx(lo * 1e-9) and row["em_max"] == pytest.approx(hi * 1e-9)
        assert 1 < row["em_res_power"] < 20 and row["em_xel"] == 1 and row["t_xel"] == 1
    g = next(r for r in rows if r["lsst_band"] == "g")
    y = next(r for r in rows if r["lsst_band"] == "y")
    assert g["em_max"] < y["em_min"]
    coadd_g = next(r for r in rows if r["lsst_band"] == "g" and r["calib_level"] == 3)
    gv = [v for v in visits if v.band == "g"]
    assert coadd_g["t_min"] >= min(v.mjd_start for v in gv) - 1e-9
    assert coadd_g["t_max"] <= max(v.mjd_start for v in gv) + 1


def test_units_and_metadata(records, tmp_path):
    _, _, recs = records
    t = obscore_table(recs)
    units = {f.name: (f.metadata or {}).get(b"unit", b"").decode() for f in t.schema}
    assert units["s_ra"] == "deg" and units["s_fov"] == "deg" and units["s_resolution"] == "arcsec"
    assert units["em_min"] == "m" and units["t_min"] == "d" and units["t_exptime"] == "s"
    assert units["access_estsize"] == "kbyte"
    for f in t.schema:
        md = f.metadata or {}
        assert md.get(b"description") and md.get(b"ucd"), f.name
    assert OBSCORE_COLUMNS["s_ra"]["ucd"] == "pos.eq.ra"
    assert OBSCORE_COLUMNS["lsst_band"]["std"] is False and OBSCORE_COLUMNS["s_ra"]["std"] is True
    path = tmp_path / "obscore" / "obscore.parquet"
    write_obscore(t, path)
    back = pq.read_table(path)
    assert back.num_rows == t.num_rows
    assert back.schema.field("em_max").metadata[b"unit"] == b"m"
    assert back.to_pylist() == t.to_pylist()
    assert [q.name for q in path.parent.iterdir()] == ["obscore.parquet"]


def test_publisher_did_and_access_url(records):
    _, _, recs = records
    ids = {recs[0].path: str(uuid.UUID(int=12345))}
    rows = obscore_table(recs, dataset_ids=ids).to_pylist()
    assert rows[0]["obs_publisher_did"] == DID_PREFIX + str(uuid.UUID(int=12345))
    assert rows[1]["obs_publisher_did"] == DID_PREFIX + recs[1].path.removesuffix(".fits")
    assert rows[1]["obs_publisher_did"] == publisher_did(recs[1])
    for row in rows:
        assert row["obs_publisher_did"].startswith("ivo://org.rubinobs/usdac/lsst-dp1-box?repo=box&id=")
        url = row["access_url"]
        assert url.startswith("datalink/links?ID=") and "&" not in url and "/" not in url.split("?", 1)[1]
        assert unquote(url.split("ID=", 1)[1]) == row["obs_publisher_did"]
    assert len({r["obs_publisher_did"] for r in rows}) == len(rows)


def test_s_resolution(records):
    _, visits, recs = records
    by_id = {v.id: v for v in visits}
    rows = obscore_table(
        recs, seeing={r.path: by_id[r.visit].seeing_arcsec for r in recs if r.visit}
    ).to_pylist()
    for row, rec in zip(rows, recs, strict=True):
        if rec.kind == "visit_image":
            assert row["s_resolution"] == pytest.approx(by_id[rec.visit].seeing_arcsec)


def test_bad_records(records):
    _, _, recs = records
    from dataclasses import replace

    with pytest.raises(ValueError, match="unknown image kind"):
        obscore_table([replace(recs[0], kind="raw")])
    with pytest.raises(ValueError, match="unknown band"):
        obscore_table([replace(recs[0], band="q")])
    assert obscore_table([]).num_rows == 0
