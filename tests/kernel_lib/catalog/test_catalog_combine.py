"""Crossmatch against a brute-force global KD-tree; director/dependent joins and nested light curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from catalog_helpers import read_all_leaves
from scipy.spatial import cKDTree

from kernel_lib.catalog import open_catalog
from kernel_lib.catalog.healpix import cone_contains


def _xyz(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    r, d = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    return np.column_stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)])


def _brute(
    left: pd.DataFrame,
    right: pd.DataFrame,
    cols: tuple[str, str, str, str, str, str],
    radius: float,
    k: int,
    within: bool,
) -> set[tuple[int, int]]:
    """All (left id, right id) pairs of a global KD-tree over every right row."""
    lid, lra, ldec, rid, rra, rdec = cols
    chord = 2 * np.sin(np.radians(radius / 3600) / 2)
    tree = cKDTree(_xyz(right[rra], right[rdec]))
    q = _xyz(left[lra], left[ldec])
    if within:
        hits = tree.query_ball_point(q, r=chord)
        return {(int(left[lid].iloc[i]), int(right[rid].iloc[j])) for i, js in enumerate(hits) for j in js}
    d, idx = tree.query(q, k=k, distance_upper_bound=chord)
    d, idx = d.reshape(len(q), k), idx.reshape(len(q), k)
    return {
        (int(left[lid].iloc[i]), int(right[rid].iloc[idx[i, j]]))
        for i in range(len(q))
        for j in range(k)
        if np.isfinite(d[i, j])
    }


def test_crossmatch_reference_object_equals_brute_force(tiny_release: Path) -> None:
    ref = open_catalog("Reference", release=tiny_release)
    obj = open_catalog("Object", release=tiny_release)
    r, o = read_all_leaves(ref.layout.path), read_all_leaves(obj.layout.path)
    res = ref.crossmatch(obj, 1.0).compute()
    want = _brute(r, o, ("source_id", "ra", "dec", "objectId", "coord_ra", "coord_dec"), 1.0, 1, False)
    assert len(want) > 20
    assert set(zip(res.source_id_Reference, res.objectId_Object, strict=True)) == want
    assert (res._dist_arcsec < 1.0).all() and res.source_id_Reference.is_unique
    # separations agree with the pairs' coordinates
    a, b = _xyz(res.ra_Reference, res.dec_Reference), _xyz(res.coord_ra_Object, res.coord_dec_Object)
    sep = np.degrees(2 * np.arcsin(np.linalg.norm(a - b, axis=1) / 2)) * 3600
    np.testing.assert_allclose(res._dist_arcsec, sep, atol=1e-6)
    # the other way round, every neighbour within 5" (the margin threshold), two nearest within 4"
    cols = ("objectId", "coord_ra", "coord_dec", "source_id", "ra", "dec")
    within = obj.crossmatch(ref, 5.0, all_within=True, suffixes=("", "_ref")).compute()
    assert set(zip(within.objectId, within.source_id_ref, strict=True)) == _brute(o, r, cols, 5.0, 1, True)
    two = obj.crossmatch(ref, 4.0, n_neighbors=2).compute()
    assert set(zip(two.objectId_Object, two.source_id_Reference, strict=True)) == _brute(
        o, r, cols, 4.0, 2, False
    )


@pytest.mark.parametrize(
    ("left", "right"),
    [("sky_xm", "sky"), ("sky", "sky_xm"), ("sky", "sky_xm_nomargin"), ("sky_xm_nomargin", "sky")],
)
def test_crossmatch_across_ra0_and_pole_equals_brute_force(
    synthetic: dict[str, Path], left: str, right: str
) -> None:
    """Orders 4, 5 and 6 meet; the margin-less right catalog takes the neighbourhood path."""
    lcat, rcat = open_catalog(synthetic[left]), open_catalog(synthetic[right])
    assert (rcat.margin is None) == (right == "sky_xm_nomargin")
    lf, rf = read_all_leaves(synthetic[left]), read_all_leaves(synthetic[right])
    res = lcat.crossmatch(rcat, 3.0, suffixes=("_l", "_r")).compute()
    want = _brute(lf, rf, ("id", "ra", "dec", "id", "ra", "dec"), 3.0, 1, False)
    assert len(want) > 2500
    assert set(zip(res.id_l, res.id_r, strict=True)) == want


def test_crossmatch_respects_searches_and_projection(synthetic: dict[str, Path]) -> None:
    lcat = open_catalog(synthetic["sky_xm"]).cone_search(0.0, 0.0, 5400).select(["id"])
    rcat = open_catalog(synthetic["sky"]).select(["id", "mag"])
    res = lcat.crossmatch(rcat, 2.0, suffixes=("", "_sky")).compute()
    assert list(res.columns) == ["id", "id_sky", "mag_sky", "_dist_arcsec"]
    lf, rf = read_all_leaves(synthetic["sky_xm"]), read_all_leaves(synthetic["sky"])
    lf = lf[cone_contains(lf.ra, lf.dec, 0.0, 0.0, 5400)]
    assert set(zip(res.id, res.id_sky, strict=True)) == _brute(
        lf, rf, ("id", "ra", "dec", "id", "ra", "dec"), 2.0, 1, False
    )


# -- joins ---------------------------------------------------------------------------------------
def test_join_object_forcedsource(tiny_release: Path) -> None:
    obj = open_catalog("Object", release=tiny_release).select(["objectId", "r_psfMag"])
    fs = open_catalog("ForcedSource", release=tiny_release).select(["objectId", "forcedSourceId", "psfFlux"])
    o, f = read_all_leaves(obj.layout.path), read_all_leaves(fs.layout.path)
    res = obj.join(fs, on="objectId").compute()
    want = o[["objectId", "r_psfMag"]].merge(f[["objectId", "forcedSourceId", "psfFlux"]], on="objectId")
    assert len(res) == len(want) == len(f)
    assert sorted(res.forcedSourceId) == sorted(want.forcedSourceId)
    assert list(res.columns) == ["objectId", "r_psfMag", "forcedSourceId", "psfFlux"]
    # a cone on the director restricts (and prunes) the dependent rows
    ra0, dec0 = float(o.coord_ra.median()), float(o.coord_dec.median())
    near = o[cone_contains(o.coord_ra, o.coord_dec, ra0, dec0, 40)]
    res2 = obj.cone_search(ra0, dec0, 40).join(fs, on="objectId").compute()
    assert sorted(res2.forcedSourceId) == sorted(f[f.objectId.isin(near.objectId)].forcedSourceId)
    # colliding names get the right table's suffix; left joins keep objects without sources
    both = obj.select(["objectId", "coord_ra"]).join(
        fs.select(["objectId", "coord_ra"]), on="objectId", how="left"
    )
    assert {"coord_ra", "coord_ra_ForcedSource"} <= set(both.compute().columns)


def test_join_refuses_tables_not_sharded_together(tiny_release: Path) -> None:
    obj = open_catalog("Object", release=tiny_release)
    ref = open_catalog("Reference", release=tiny_release)
    with pytest.raises(ValueError, match="not sharded by Object"):
        obj.join(ref, on="objectId")
    with pytest.raises(KeyError):
        obj.join(ref, on="objectId", colocated=True)  # Reference has no objectId


def test_nest_light_curves(tiny_release: Path) -> None:
    import nested_pandas as npd

    obj = open_catalog("Object", release=tiny_release).select(["objectId", "r_psfMag"])
    fs = open_catalog("ForcedSource", release=tiny_release).select(["visit", "band", "psfFlux"])
    o, f = read_all_leaves(obj.layout.path), read_all_leaves(fs.layout.path)
    lc = obj.nest(fs, on="objectId", name="lc").compute()
    assert isinstance(lc, npd.NestedFrame)
    assert len(lc) == len(o) and lc.index.name == "objectId"
    assert set(lc.index) == set(o.objectId)
    flat = lc["lc"].nest.to_flat()
    assert len(flat) == len(f)
    counts = flat.groupby(level=0).size().sort_index()
    want = f.groupby("objectId").size().sort_index()
    assert counts.equals(want.rename_axis("objectId"))
    assert list(flat.columns) == ["visit", "band", "psfFlux"]


@pytest.mark.parametrize("radius", [0.5, 3.0, 60.0, 900.0])
def test_grid_matcher_equals_a_global_kd_tree(radius: float) -> None:
    """The HEALPix-grid matcher (and the KD-tree above 600") against brute force: dense random
    points around the pole and RA 0, nearest, 2 nearest and all within."""
    from kernel_lib.catalog.crossmatch import match_positions

    rng = np.random.default_rng(int(radius * 10))
    n = 3000
    scale = radius / 3600 * 40  # about one right row within the radius of each left one
    centres = [(0.0, 89.99), (359.999, -20.0), (120.0, -89.9)]
    pts = []
    for c_ra, c_dec in centres:
        d = c_dec + rng.normal(0, scale, n)
        r = c_ra + rng.normal(0, scale, n) / max(np.cos(np.radians(c_dec)), 0.2)
        over = np.abs(d) > 90  # across the pole: reflect (no pile of rows on the pole itself)
        d[over], r[over] = np.sign(d[over]) * 180 - d[over], r[over] + 180
        r %= 360
        pts.append((r, d))
    lra, ldec = np.concatenate([p[0][: n // 4] for p in pts]), np.concatenate([p[1][: n // 4] for p in pts])
    rra, rdec = np.concatenate([p[0] for p in pts]), np.concatenate([p[1] for p in pts])
    rra, rdec = rra + rng.normal(0, radius / 7200, len(rra)), rdec  # not the left positions themselves
    rra %= 360
    left = pd.DataFrame({"id": np.arange(len(lra)), "ra": lra, "dec": ldec})
    right = pd.DataFrame({"id": np.arange(len(rra)), "ra": rra, "dec": rdec})
    cols = ("id", "ra", "dec", "id", "ra", "dec")
    for k, within in [(1, False), (2, False), (1, True)]:
        li, ri, sep = match_positions(lra, ldec, rra, rdec, radius, n_neighbors=k, all_within=within)
        got = set(zip(li.tolist(), ri.tolist(), strict=True))
        assert got == _brute(left, right, cols, radius, k, within)
        assert len(got) > len(lra) / 10
        chord = np.linalg.norm(_xyz(lra[li], ldec[li]) - _xyz(rra[ri], rdec[ri]), axis=1)
        assert np.allclose(sep, np.degrees(2 * np.arcsin(chord / 2)) * 3600, atol=1e-6)
        assert np.all(np.diff(li) >= 0)
