"""Opening catalogs and the four searches, each checked against a brute-force filter of all leaves."""

from __future__ import annotations

import shutil
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord
from catalog_helpers import read_all_leaves
from mocpy import MOC

from kernel_lib.catalog import STATS, open_catalog
from kernel_lib.catalog.healpix import box_contains, cone_contains, polygon_contains, polygon_normals
from kernel_lib.release.manifest import Release, ReleaseError


def _ids(frame: pd.DataFrame, key: str) -> list[int]:
    return sorted(frame[key].tolist())


def _sep_deg(ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float) -> np.ndarray:
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    return SkyCoord(ra * u.deg, dec * u.deg).separation(SkyCoord(ra0 * u.deg, dec0 * u.deg)).deg


# -- opening -----------------------------------------------------------------------------------
def test_open_by_name_through_the_environment(tiny_release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSSTBOX_RELEASE", str(tiny_release))
    obj = open_catalog("Object")
    rel = Release.open(tiny_release)
    assert obj.npartitions == rel.catalogs["Object"]["partitions"]
    assert obj.margin is not None and obj.margin_arcsec == 5.0
    assert obj.director is None
    fs = open_catalog("ForcedSource")
    assert fs.director == ("objectId", "Object", "objectId")
    # by path, our dependent tables are still recognised (director from the schema metadata)
    assert open_catalog(rel.catalog_path("ForcedSource")).director == fs.director
    with pytest.raises(ReleaseError, match="no catalog 'Nope'"):
        open_catalog("Nope")
    monkeypatch.delenv("LSSTBOX_RELEASE")
    with pytest.raises(ReleaseError, match="LSSTBOX_RELEASE"):
        open_catalog("Object")


def test_open_never_needs_metadata(synthetic: dict[str, Path], tmp_path: Path) -> None:
    """Planning uses partition_info.csv, properties and _common_metadata only."""
    copy = tmp_path / "sky"
    shutil.copytree(synthetic["sky"], copy)
    (copy / "dataset" / "_metadata").unlink()
    cat = open_catalog(copy)
    assert cat.name == "sky" and cat.ra_column == "ra"
    assert len(cat.compute()) == 20_000
    assert cat.margin is None  # no sibling margin next to the copy
    assert open_catalog(synthetic["sky"]).margin is not None


# -- searches on our field ---------------------------------------------------------------------
def test_cone_across_partition_edges_matches_brute_force(tiny_release: Path) -> None:
    obj = open_catalog("Object", release=tiny_release)
    everything = read_all_leaves(obj.layout.path)
    ra0, dec0 = float(everything.coord_ra.median()), float(everything.coord_dec.median())
    res = obj.cone_search(ra0, dec0, 40.0).compute()
    truth = everything[_sep_deg(everything.coord_ra, everything.coord_dec, ra0, dec0) <= 40 / 3600]
    assert 0 < len(res) < len(everything)
    assert _ids(res, "objectId") == _ids(truth, "objectId")
    assert obj.cone_search(ra0, dec0, 40.0).npartitions > 1  # it does cross partition edges


def test_dependent_table_searches_use_their_own_positions(tiny_release: Path) -> None:
    """ForcedSource is indexed by its Object's position; its rows are found by their own."""
    fs = open_catalog("ForcedSource", release=tiny_release)
    everything = read_all_leaves(fs.layout.path)
    ra0, dec0 = float(everything.coord_ra.median()), float(everything.coord_dec.median())
    res = fs.cone_search(ra0, dec0, 30.0).compute()
    truth = everything[cone_contains(everything.coord_ra, everything.coord_dec, ra0, dec0, 30.0)]
    assert len(res) > 0
    assert _ids(res, "forcedSourceId") == _ids(truth, "forcedSourceId")


@pytest.mark.parametrize(
    ("ra0", "dec0", "radius_arcsec"),
    [(0.0, 0.0, 3600.0), (359.2, 1.5, 1800.0), (0.5, -2.5, 600.0), (123.0, 89.9, 7200.0), (0.0, 90.0, 1e3)],
)
def test_cone_wraps_through_ra0_and_the_pole(
    synthetic: dict[str, Path], ra0: float, dec0: float, radius_arcsec: float
) -> None:
    cat = open_catalog(synthetic["sky"])
    everything = read_all_leaves(synthetic["sky"])
    res = cat.cone_search(ra0, dec0, radius_arcsec).compute()
    truth = everything[
        _sep_deg(everything.ra.to_numpy(), everything.dec.to_numpy(), ra0, dec0) <= radius_arcsec / 3600
    ]
    assert len(truth) > 0
    assert _ids(res, "id") == _ids(truth, "id")


@pytest.mark.parametrize(
    ("ra_range", "dec_range"),
    [
        ((358.0, 2.5), (-1.0, 2.0)),
        ((1.0, 3.0), (-3.0, 0.0)),
        ((0.0, 3.0), (-1.0, 1.0)),  # starts exactly at RA 0
        ((357.0, 0.0), (-1.0, 1.0)),  # ends exactly at RA 0
        ((350.0, 10.0), (88.0, 90.0)),
        ((40, 40), (89, 90)),  # equal RA bounds: every RA
    ],
)
def test_box_matches_brute_force(
    synthetic: dict[str, Path], ra_range: tuple[float, float], dec_range: tuple[float, float]
) -> None:
    everything = read_all_leaves(synthetic["sky"])
    res = open_catalog(synthetic["sky"]).box_search(ra_range, dec_range).compute()
    ra, dec = everything.ra.to_numpy() % 360, everything.dec.to_numpy()
    if ra_range[0] == ra_range[1]:
        inra = np.ones(len(ra), bool)
    elif ra_range[0] < ra_range[1]:
        inra = (ra >= ra_range[0]) & (ra <= ra_range[1])
    else:
        inra = (ra >= ra_range[0]) | (ra <= ra_range[1])
    truth = everything[inra & (dec >= dec_range[0]) & (dec <= dec_range[1])]
    assert len(truth) > 0
    assert _ids(res, "id") == _ids(truth, "id")
    assert np.all(box_contains(res.ra, res.dec, ra_range, dec_range))


@pytest.mark.parametrize(
    "vertices",
    [
        [(358.0, -2.0), (2.0, -2.0), (2.5, 1.0), (0.0, 2.5), (357.5, 1.0)],  # across RA 0
        [(0.0, 88.0), (120.0, 88.0), (240.0, 88.0)],  # around the pole
    ],
)
def test_polygon_matches_brute_force(synthetic: dict[str, Path], vertices: list[tuple[float, float]]) -> None:
    everything = read_all_leaves(synthetic["sky"])
    res = open_catalog(synthetic["sky"]).polygon_search(vertices).compute()
    # brute force: the point is on the inner side of every edge's great circle (numpy, no HEALPix)
    xyz = np.column_stack(
        [
            np.cos(np.radians(everything.dec)) * np.cos(np.radians(everything.ra)),
            np.cos(np.radians(everything.dec)) * np.sin(np.radians(everything.ra)),
            np.sin(np.radians(everything.dec)),
        ]
    )
    v = np.array(
        [
            [
                np.cos(np.radians(d)) * np.cos(np.radians(r)),
                np.cos(np.radians(d)) * np.sin(np.radians(r)),
                np.sin(np.radians(d)),
            ]
            for r, d in vertices
        ]
    )
    n = np.cross(v, np.roll(v, -1, axis=0))
    n *= np.sign(n @ v.sum(axis=0))[:, None]
    truth = everything[np.all(xyz @ n.T >= 0, axis=1)]
    assert len(truth) > 0
    assert _ids(res, "id") == _ids(truth, "id")
    assert np.all(polygon_contains(res.ra, res.dec, polygon_normals(vertices)))


def test_polygon_must_be_convex() -> None:
    with pytest.raises(ValueError, match="convex"):
        polygon_normals([(0, 0), (2, 0), (1, 0.2), (2, 2), (0, 2)])


def test_moc_search_matches_brute_force(synthetic: dict[str, Path], tiny_release: Path) -> None:
    everything = read_all_leaves(synthetic["sky"])
    moc = MOC.from_cone(lon=1.0 * u.deg, lat=0.5 * u.deg, radius=1.5 * u.deg, max_depth=9).union(
        MOC.from_cone(lon=0 * u.deg, lat=90 * u.deg, radius=1 * u.deg, max_depth=7)
    )
    res = open_catalog(synthetic["sky"]).moc_search(moc).compute()
    truth = everything[
        moc.contains_lonlat(everything.ra.to_numpy() * u.deg, everything.dec.to_numpy() * u.deg)
    ]
    assert len(truth) > 0
    assert _ids(res, "id") == _ids(truth, "id")
    # and on our field, a MOC of one order-13 cell
    obj = open_catalog("Object", release=tiny_release)
    allobj = read_all_leaves(obj.layout.path)
    moc2 = MOC.from_lonlat(
        lon=allobj.coord_ra.to_numpy()[:1] * u.deg, lat=allobj.coord_dec.to_numpy()[:1] * u.deg, max_norder=13
    )
    got = obj.moc_search(moc2).compute()
    want = allobj[
        moc2.contains_lonlat(allobj.coord_ra.to_numpy() * u.deg, allobj.coord_dec.to_numpy() * u.deg)
    ]
    assert _ids(got, "objectId") == _ids(want, "objectId") and len(want) >= 1


def test_searches_combine(synthetic: dict[str, Path]) -> None:
    everything = read_all_leaves(synthetic["sky"])
    cat = open_catalog(synthetic["sky"]).cone_search(0.0, 0.0, 7200).box_search((0.0, 5.0), (-5.0, 5.0))
    truth = everything[
        cone_contains(everything.ra, everything.dec, 0, 0, 7200)
        & box_contains(everything.ra, everything.dec, (0, 5), (-5, 5))
    ]
    assert _ids(cat.compute(), "id") == _ids(truth, "id")


def test_small_cone_reads_few_row_groups(synthetic: dict[str, Path]) -> None:
    """The coarse phase prunes partitions, then row groups by their _healpix_29 statistics."""
    cat = open_catalog(synthetic["sky"])
    row = read_all_leaves(synthetic["sky"]).iloc[1234]
    STATS.reset()
    res = cat.cone_search(float(row.ra), float(row.dec), 60.0).compute()
    assert row.id in set(res.id)
    assert 1 <= STATS.files <= 4
    assert STATS.row_groups_read < STATS.row_groups_total / 4, STATS
    assert STATS.row_groups_read <= 4, STATS


def test_coverages_hold_every_row_and_inner_ranges_only_inside_ones() -> None:
    """The fine phase trusts the coverages: a row outside a region's ranges is out without its
    exact test, a row in a cone's inner ranges is in.  Random regions over the whole sky
    (full-RA bands and polar caps included, where cdshealpix's zones fall short)."""
    from kernel_lib.catalog import healpix as hp
    from kernel_lib.catalog.search import BoxSearch, ConeSearch

    rng = np.random.default_rng(2)
    n = 100_000
    ra, dec = rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    h = hp.healpix29(ra, dec)
    order = np.argsort(h)
    rank, hs = np.argsort(order), h[order]
    for _ in range(150):
        r0, width = rng.uniform(0, 360), rng.choice([0.5, 5, 40, 200, 359, 360])
        d0 = -90.0 if rng.random() < 0.2 else rng.uniform(-90, 89)
        d1 = 90.0 if rng.random() < 0.2 else min(90.0, d0 + rng.choice([0.5, 3, 20, 90]))
        box = BoxSearch((r0, (r0 + width) % 360 if width < 360 else r0), (d0, d1))
        assert not (box.contains(ra, dec) & ~hp.in_ranges(hs, box.ranges())[rank]).any(), box.ra_range
        cone = ConeSearch(r0, rng.uniform(-90, 90), rng.choice([10, 600, 3600, 36000, 360000]))
        inside = cone.contains(ra, dec)
        assert not (inside & ~hp.in_ranges(hs, cone.ranges())[rank]).any()
        inner = cone.inner_ranges()
        if inner is not None:
            assert not (hp.in_ranges(hs, inner)[rank] & ~inside).any()
        # the index-assisted selection equals the exact test, sorted or not
        assert np.array_equal(cone.select(ra[order], dec[order], hs), inside[order])
        assert np.array_equal(box.select(ra, dec, h), box.contains(ra, dec))
