"""The release's MOCs: catalogs from their HATS ``_healpix_29`` index, image collections from the
ObsCore footprints; what the builder writes and records, and old releases without them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.coordinates import Latitude, Longitude
from mocpy import MOC

from kernel_lib.release.manifest import Release, ReleaseError
from kernel_lib.release.moc import MAX_RANGES, MOC_ORDER, bounded, catalog_moc, image_moc, parse_stcs_polygon

#: the sky in square degrees
SKY_DEG2 = 4 * math.pi * (180 / math.pi) ** 2


@pytest.fixture(scope="module")
def release(tiny_release: Path) -> Release:
    return Release.open(tiny_release)


def _moc(rel: Release, moc_id: str) -> MOC:
    entry = {m["id"]: m for m in rel.mocs}[moc_id]
    return MOC.from_fits(rel.resolve(entry["path"]))


def _lonlat(ra, dec) -> tuple[Longitude, Latitude]:
    return Longitude(np.asarray(ra, float), u.deg), Latitude(np.asarray(dec, float), u.deg)


def _rows(rel: Release, name: str) -> pd.DataFrame:
    cat = rel.catalogs[name]
    cols = [cat["ra_column"], cat["dec_column"]]
    return pd.read_parquet(rel.catalog_path(name) / "dataset", columns=cols).dropna()


def _obscore(rel: Release) -> pd.DataFrame:
    return pq.read_table(rel.resolve(rel.manifest["obscore"]["path"])).to_pandas()


def test_manifest_lists_a_moc_per_catalog_and_image_collection(release: Release) -> None:
    mocs = {m["id"]: m for m in release.mocs}
    assert {m["id"] for m in release.mocs if m["kind"] == "catalog"} == set(release.catalogs)
    bands = release.manifest["images"]["visit_image"]["bands"]
    images = {m["id"] for m in release.mocs if m["kind"] == "images"}
    assert images == {"visit_image", "deep_coadd", *(f"visit_image_{b}" for b in bands)}
    for m in mocs.values():
        assert m["path"] == f"moc/{m['id']}.fits"
        assert m["order"] == MOC_ORDER  # nothing of a tiny or demo release needs coarsening
        moc = MOC.from_fits(release.resolve(m["path"]))
        assert moc.max_order == MOC_ORDER
        assert m["sky_fraction"] == pytest.approx(moc.sky_fraction) and m["sky_fraction"] > 0
        assert m["bytes"] == release.resolve(m["path"]).stat().st_size
    assert "moc" in release.manifest["build"]["seconds"]


def test_moc_files_are_moc_2_fits(release: Release) -> None:
    from astropy.io import fits

    for m in release.mocs:
        with fits.open(release.resolve(m["path"])) as h:
            hdr = h[1].header
            assert (hdr["MOCVERS"], hdr["MOCDIM"], hdr["ORDERING"], hdr["COORDSYS"]) == (
                "2.0",
                "SPACE",
                "RANGE",
                "C",
            )
            assert hdr["MOCORD_S"] == MOC_ORDER
            assert hdr["MOCTYPE"] == ("CATALOG" if m["kind"] == "catalog" else "IMAGE")
            assert hdr["MOCID"] == f"ivo://lsstbox/{release.name}/moc/{m['id']}"


@pytest.mark.parametrize("name", ["Object", "Source", "ForcedSource", "DiaObject", "Reference", "Visit"])
def test_catalog_moc_contains_every_row(release: Release, name: str) -> None:
    rows = _rows(release, name)
    assert len(rows) > 0
    moc = _moc(release, name)
    inside = moc.contains_lonlat(*_lonlat(rows.iloc[:, 0], rows.iloc[:, 1]))
    assert inside.all(), rows[~inside].head()
    # the same MOC as computed again from the leaves
    cat = release.catalogs[name]
    assert catalog_moc(release.catalog_path(name), MOC_ORDER, cat["ra_column"], cat["dec_column"]) == moc


def test_catalog_moc_from_the_healpix_index_alone(release: Release) -> None:
    """Without coordinates, rows are placed by ``_healpix_29``: for Object (sharded by its own
    position) that is the same MOC; for Source (sharded by its object's) a close one."""
    assert catalog_moc(release.catalog_path("Object")) == _moc(release, "Object")
    by_index, by_row = catalog_moc(release.catalog_path("Source")), _moc(release, "Source")
    assert by_index.sky_fraction == pytest.approx(by_row.sky_fraction, rel=0.2)


def test_catalog_moc_is_the_field_not_the_sky(release: Release) -> None:
    moc = _moc(release, "Object")
    field = release.manifest["field"]
    area = moc.sky_fraction * SKY_DEG2
    # the tract, widened by at most a cell (12.9") on each side
    cell = math.degrees(math.sqrt(4 * math.pi / (12 * 4**MOC_ORDER)))
    side = math.sqrt(field["area_deg2"])
    assert 0.5 * field["area_deg2"] < area < (side + 2 * cell) ** 2
    assert moc.sky_fraction < 1e-6
    ra, dec = field["ra"], field["dec"]
    far = moc.contains_lonlat(*_lonlat([ra + 1.0, ra, (ra + 180) % 360], [dec, dec + 1.0, -dec]))
    assert not far.any()
    assert moc.contains_lonlat(*_lonlat([ra], [dec]))[0]


def test_catalog_moc_at_a_coarser_order_covers_the_finer(release: Release) -> None:
    fine = _moc(release, "Object")
    coarse = catalog_moc(release.catalog_path("Object"), 10, "coord_ra", "coord_dec")
    assert coarse.max_order == 10
    assert (fine - coarse).empty() and coarse.sky_fraction > fine.sky_fraction


@pytest.mark.parametrize("collection", ["visit_image", "deep_coadd"])
def test_image_mocs_contain_each_centre_and_cover_each_footprint(release: Release, collection: str) -> None:
    oc = _obscore(release)
    oc = oc[oc["dataproduct_subtype"] == f"lsst.{collection}"]
    assert len(oc) == release.manifest["images"][collection]["count"]
    union = _moc(release, collection)
    assert union.contains_lonlat(*_lonlat(oc["s_ra"], oc["s_dec"])).all()
    # every vertex of every footprint is inside the MOC or within one cell of it
    grown = union.add_neighbours()
    for region in oc["s_region"]:
        ra, dec = parse_stcs_polygon(region)
        assert grown.contains_lonlat(*_lonlat(ra, dec)).all(), region
    # the union is no larger than the footprints widened by a cell
    assert union.sky_fraction < sum(image_moc([r]).add_neighbours().sky_fraction for r in oc["s_region"])
    if collection == "visit_image":
        for band, rows in oc.groupby("lsst_band"):
            moc = _moc(release, f"visit_image_{band}")
            assert moc.contains_lonlat(*_lonlat(rows["s_ra"], rows["s_dec"])).all()
            assert (moc - union).empty()
            assert moc == image_moc(list(rows["s_region"]))


def test_a_large_moc_is_coarsened_until_small() -> None:
    rng = np.random.default_rng(5)
    ra, dec = rng.uniform(50, 56, 20_000), rng.uniform(-31, -25, 20_000)  # a sparse 36 deg2 catalog
    fine = MOC.from_lonlat(*_lonlat(ra, dec), max_norder=MOC_ORDER)
    assert len(fine.to_depth29_ranges) > MAX_RANGES
    small = bounded(fine)
    assert small.max_order < MOC_ORDER and len(small.to_depth29_ranges) <= MAX_RANGES
    assert small.contains_lonlat(*_lonlat(ra, dec)).all()
    assert bounded(small) is small  # already small: unchanged
    assert bounded(fine, max_ranges=1, min_order=10).max_order == 10  # never coarser than min_order


def test_image_moc_inputs() -> None:
    square = "POLYGON ICRS 10.0 -1.0 10.1 -1.0 10.1 -0.9 10.0 -0.9"
    ra, dec = parse_stcs_polygon(square)
    assert ra.tolist() == [10.0, 10.1, 10.1, 10.0] and dec.tolist() == [-1.0, -1.0, -0.9, -0.9]
    a = image_moc([square])
    assert a == image_moc([(ra, dec)]) == image_moc([(ra[::-1], dec[::-1])])  # either winding
    assert a.contains_lonlat(*_lonlat([10.05], [-0.95]))[0]
    assert not a.contains_lonlat(*_lonlat([10.3], [-0.95]))[0]
    assert a.sky_fraction * SKY_DEG2 == pytest.approx(0.01, rel=0.1)
    assert image_moc([]).empty()
    assert parse_stcs_polygon("POLYGON 359.9 0 0.1 0 0.1 0.1")[0].tolist() == pytest.approx([359.9, 0.1, 0.1])
    for bad in (
        "CIRCLE ICRS 10 10 1",
        "POLYGON ICRS 1 2 3 4",
        "POLYGON ICRS 1 2 3 4 5",
        "POLYGON ICRS a b c d e f",
    ):
        with pytest.raises(ValueError):
            parse_stcs_polygon(bad)


def test_summary_lists_the_mocs_with_their_urls(release: Release) -> None:
    s = release.summary("http://box/base/")
    assert [m["id"] for m in s["mocs"]] == [m["id"] for m in release.mocs]
    obj = next(m for m in s["mocs"] if m["id"] == "Object")
    assert obj["url"] == "http://box/base/lsstbox/moc/Object.fits"
    assert obj["kind"] == "catalog" and obj["order"] == MOC_ORDER and obj["title"]
    assert {"name": "MOC", "url": "http://box/base/lsstbox/moc/", "status": "ok"} in s["services"]


def _write_manifest(folder: Path, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"format": "lsstbox-release", "format_version": 1, "name": "old", **extra}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_a_release_without_mocs_opens_with_none(tmp_path: Path) -> None:
    rel = Release.open(_write_manifest(tmp_path / "old"))
    assert rel.mocs == []
    s = rel.summary()
    assert s["mocs"] == [] and all(x["name"] != "MOC" for x in s["services"])


def test_a_missing_moc_file_is_one_clear_line(tmp_path: Path) -> None:
    entry = {"id": "Object", "title": "Object", "kind": "catalog", "path": "moc/Object.fits", "order": 14}
    with pytest.raises(ReleaseError, match=r"missing file: moc/Object.fits \(MOC Object\)"):
        Release.open(_write_manifest(tmp_path / "broken", mocs=[entry]))
