"""The catalog-only wide area of the ``large`` profile, on a small cap."""

from __future__ import annotations

import dataclasses

import hats
import lsdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from kernel_lib.release.builder import build_release
from kernel_lib.release.manifest import Release
from kernel_lib.release.model import get_profile
from kernel_lib.release.wide import WIDE_TRACT_BASE


@pytest.fixture(scope="module")
def wide_release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    prof = dataclasses.replace(get_profile("large"), wide_area_deg2=0.5)
    out = tmp_path_factory.mktemp("wide") / "rel"
    return Release.open(build_release(prof, out, progress=False, images=False))


def test_wide_area_adds_objects_around_the_deep_field(wide_release: Release) -> None:
    obj = lsdb.open_catalog(wide_release.catalog_path("Object")).compute()
    assert len(obj) == wide_release.catalogs["Object"]["rows"]
    assert obj["objectId"].is_unique
    deep = obj[obj["tract"] == 5063]
    wide = obj[obj["tract"] >= WIDE_TRACT_BASE]
    assert len(deep) > 5000 and len(wide) > 10 * len(deep)
    assert (wide["patch"] == -1).all() and (deep["patch"] >= 0).all()
    # no double coverage: wide rows never fall inside the tract the deep field covers
    prof = get_profile("large")
    _, _, patch = prof.skymap.locate(wide["coord_ra"].to_numpy(), wide["coord_dec"].to_numpy())
    assert (patch < 0).mean() > 0.999
    # the time-domain tables stay deep-field only
    fs = lsdb.open_catalog(wide_release.catalog_path("ForcedSource")).compute()
    assert set(fs["objectId"]) <= set(deep["objectId"])


def test_every_leaf_holds_only_its_own_pixel(wide_release: Release) -> None:
    path = wide_release.catalog_path("Object")
    cat = hats.read_hats(path)
    order = cat.get_healpix_pixels()[0].order
    for f in (path / "dataset").glob("Norder=*/Dir=*/Npix=*.parquet"):
        hp = pq.read_table(f, columns=["_healpix_29"]).column(0).to_numpy()
        assert np.all(hp >> (2 * (29 - order)) == int(f.stem.split("=")[1]))


def test_cone_across_a_partition_edge_with_margins(wide_release: Release) -> None:
    """A crossmatch of Reference with Object is the same as brute force, edges included."""
    margin = str(wide_release.resolve(wide_release.catalogs["Object"]["margin"]))
    obj = lsdb.open_catalog(wide_release.catalog_path("Object"), margin_cache=margin)
    ref = lsdb.open_catalog(wide_release.catalog_path("Reference"))
    got = ref.crossmatch(
        obj, radius_arcsec=0.5, n_neighbors=1, suffixes=("_r", "_o"), suffix_method="all_columns"
    ).compute()
    r, o = ref.compute(), obj.compute()
    from scipy.spatial import cKDTree

    def xyz(ra: pd.Series, dec: pd.Series) -> np.ndarray:
        a, d = np.radians(ra.to_numpy()), np.radians(dec.to_numpy())
        return np.column_stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)])

    dist, idx = cKDTree(xyz(o["coord_ra"], o["coord_dec"])).query(xyz(r["ra"], r["dec"]))
    ok = dist < np.radians(0.5 / 3600.0)
    expected = set(zip(r["source_id"].to_numpy()[ok], o["objectId"].to_numpy()[idx[ok]], strict=True))
    assert len(expected) > 100
    assert set(zip(got["source_id_r"], got["objectId_o"], strict=True)) == expected


def test_large_profile_is_big_enough() -> None:
    from kernel_lib.release.wide import wide_pixels

    prof = get_profile("large")
    detected_fraction = 0.28  # of truth sources, measured on the demo field
    expected = prof.object_density_deg2 * prof.wide_area_deg2 * detected_fraction
    assert expected >= 20e6
    assert len(wide_pixels(prof)) > 100
