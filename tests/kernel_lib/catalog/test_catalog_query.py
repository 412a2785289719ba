"""Projection, predicates, head, astropy/dask conversions, schedulers and progress."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from catalog_helpers import read_all_leaves

from kernel_lib.catalog import STATS, open_catalog


def test_projection_reads_only_the_selected_columns(tiny_release: Path) -> None:
    obj = open_catalog("Object", release=tiny_release, columns=["objectId", "r_psfMag"])
    frame = obj.compute()
    assert list(frame.columns) == ["objectId", "r_psfMag"]
    assert obj.schema.names == ["objectId", "r_psfMag"]
    assert len(frame) == len(read_all_leaves(obj.layout.path))
    with pytest.raises(KeyError, match="nope"):
        obj.select(["nope"])
    # a search needs the positions, which are read and dropped again
    ra0 = float(read_all_leaves(obj.layout.path).coord_ra.median())
    assert list(obj.cone_search(ra0, -28.1, 60).compute().columns) == ["objectId", "r_psfMag"]


@pytest.mark.parametrize("kind", ["sql", "arrow", "duckdb", "sql+cone", "duckdb+cone", "arrow+cone", "both"])
def test_predicates_match_pandas(tiny_release: Path, kind: str) -> None:
    obj = open_catalog("Object", release=tiny_release).select(["objectId", "coord_ra", "g_psfMag"])
    everything = read_all_leaves(obj.layout.path)
    ra0, dec0 = float(everything.coord_ra.median()), float(everything.coord_dec.median())
    want = everything[(everything.r_psfMag < 23) & (everything.g_psfMag - everything.r_psfMag > 0.3)]
    sql = "r_psfMag < 23 AND g_psfMag - r_psfMag > 0.3"
    duck = "r_psfMag < 23 AND greatest(g_psfMag - r_psfMag, -99) > 0.3"  # a DuckDB function
    expr = (pc.field("r_psfMag") < 23) & (pc.field("g_psfMag") - pc.field("r_psfMag") > 0.3)
    cat = {
        "sql": obj.where(sql),
        "arrow": obj.where(expr),
        "duckdb": obj.where(duck),
        "sql+cone": obj.where(sql).cone_search(ra0, dec0, 45),
        "duckdb+cone": obj.where(duck).cone_search(ra0, dec0, 45),
        "arrow+cone": obj.where(expr).cone_search(ra0, dec0, 45),
        "both": obj.where("r_psfMag < 23").where(pc.field("g_psfMag") - pc.field("r_psfMag") > 0.3),
    }[kind]
    if "cone" in kind:
        sep = np.degrees(
            np.arccos(
                np.clip(
                    np.sin(np.radians(want.coord_dec)) * np.sin(np.radians(dec0))
                    + np.cos(np.radians(want.coord_dec))
                    * np.cos(np.radians(dec0))
                    * np.cos(np.radians(want.coord_ra - ra0)),
                    -1,
                    1,
                )
            )
        )
        want = want[sep * 3600 <= 45]
    assert bool(cat.sql) == (kind.startswith(("sql", "duckdb")) or kind == "both")  # SQL runs in DuckDB
    assert (cat.arrow_filter is not None) == (kind.startswith("arrow") or kind == "both")
    got = cat.compute()
    assert 0 < len(got) < len(everything)
    assert sorted(got.objectId) == sorted(want.objectId)
    assert list(got.columns) == ["objectId", "coord_ra", "g_psfMag"]
    assert got.dtypes.equals(obj.meta().dtypes)


def test_head_reads_only_what_it_needs(synthetic: dict[str, Path]) -> None:
    cat = open_catalog(synthetic["sky"])
    STATS.reset()
    h = cat.head(7)
    assert len(h) == 7 and STATS.files < cat.npartitions / 10
    assert h.equals(cat.compute().iloc[:7])


def test_to_astropy_carries_units_ucds_descriptions(tiny_release: Path) -> None:
    t = (
        open_catalog("Object", release=tiny_release)
        .select(["objectId", "coord_ra", "r_psfFlux"])
        .to_astropy()
    )
    assert str(t["coord_ra"].unit) == "deg"
    assert str(t["r_psfFlux"].unit) == "nJy"
    assert t["coord_ra"].meta["ucd"].startswith("pos.eq.ra")
    assert "Right Ascension" in t["coord_ra"].description
    assert t["objectId"].unit is None


def test_to_dask_is_lazy_and_partitioned_like_the_catalog(tiny_release: Path) -> None:
    obj = open_catalog("Object", release=tiny_release).where("r_psfMag < 24").select(["objectId", "r_psfMag"])
    STATS.reset()
    ddf = obj.to_dask()
    assert STATS.files == 0  # nothing read yet
    assert ddf.npartitions == obj.npartitions == len(obj.layout.pixels)
    assert list(ddf.columns) == ["objectId", "r_psfMag"]
    frame = ddf.compute()
    assert STATS.files == obj.npartitions
    assert sorted(frame.objectId) == sorted(obj.compute().objectId)
    assert float(ddf.r_psfMag.max().compute()) < 24


def test_progress_bars(tiny_release: Path, capsys: pytest.CaptureFixture[str]) -> None:
    obj = open_catalog("Object", release=tiny_release)
    n = len(obj.compute(progress=True))
    assert len(obj.compute(progress="dask")) == n
    err = capsys.readouterr()
    assert "catalog-Object" in err.err and "100%" in (err.err + err.out)


def test_distributed_client_gives_the_same_answer(tiny_release: Path) -> None:
    from dask.distributed import Client, LocalCluster

    from kernel_lib.catalog.execute import active_client

    obj = open_catalog("Object", release=tiny_release).where("r_psfMag < 24")
    ref = open_catalog("Reference", release=tiny_release)
    everything = read_all_leaves(obj.layout.path)
    ra0, dec0 = float(everything.coord_ra.median()), float(everything.coord_dec.median())
    local = obj.cone_search(ra0, dec0, 50).compute()
    xm_local = ref.crossmatch(obj, 1.0).compute()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        assert active_client() is client
        remote = obj.cone_search(ra0, dec0, 50).compute(progress=True)
        xm_remote = ref.crossmatch(obj, 1.0).compute()
        via_dask = obj.to_dask().compute()
    assert active_client() is None
    assert (
        remote.sort_values("objectId")
        .reset_index(drop=True)
        .equals(local.sort_values("objectId").reset_index(drop=True))
    )
    assert xm_remote.equals(xm_local)
    assert len(via_dask) == len(obj.compute())
