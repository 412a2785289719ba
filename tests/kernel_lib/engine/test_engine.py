"""The engine's API: plans, EXPLAIN, limits, formats, bad input and schedulers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from engine_compare import same_rows

from kernel_lib.adql import (
    AdqlSyntaxError,
    AdqlTypeError,
    UnknownColumnError,
    UnknownTableError,
    UnsupportedFeatureError,
)
from kernel_lib.catalog import STATS
from kernel_lib.engine import Engine, ResultTooLargeError, adql, reference_adql

CONE = "1 = CONTAINS(POINT(o.coord_ra, o.coord_dec), CIRCLE(53.14, -28.11, 0.004))"


@pytest.fixture(scope="module")
def engine(tiny_release: Path) -> Engine:
    return Engine(tiny_release)


def test_result_formats_and_metadata(engine: Engine) -> None:
    q = "SELECT TOP 3 objectId, r_psfMag FROM dp1.Object ORDER BY r_psfMag"
    res = engine.adql(q, fmt="pandas")
    assert isinstance(res.data, pd.DataFrame) and list(res.data.columns) == ["objectId", "r_psfMag"]
    assert isinstance(res.table, pa.Table) and len(res) == 3
    tab = engine.adql(q, fmt="astropy").data
    assert str(tab["r_psfMag"].unit) == "mag"
    assert res.table.schema.field("objectId").metadata[b"ucd"].startswith(b"meta.id")
    with pytest.raises(ValueError, match="fmt"):
        engine.adql(q, fmt="csv")  # type: ignore[arg-type]


def test_module_level_adql_uses_the_environment(tiny_release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSSTBOX_RELEASE", str(tiny_release))
    assert adql("SELECT COUNT(*) AS n FROM dp1.Visit").table.column("n").to_pylist() == [18]


def test_cone_prunes_partitions_and_row_groups(engine: Engine) -> None:
    q = (
        "SELECT o.objectId, f.psfFlux FROM dp1.Object AS o JOIN dp1.ForcedSource AS f "
        f"ON o.objectId = f.objectId WHERE {CONE}"
    )
    plan = engine.plan(q)
    assert plan.kind == "partitioned" and "director join" in plan.reason
    assert 0 < len(plan.parts) < plan.total_parts
    text = engine.explain(q)
    for piece in (
        "partitions:",
        f"of {plan.total_parts}",
        "per-partition DuckDB SQL",
        "merge:",
        "spatial pruning",
    ):
        assert piece in text
    STATS.reset()
    res = engine.adql(q)
    assert STATS.row_groups_read <= STATS.row_groups_total
    assert res.partitions_read == len(plan.parts)


def test_explain_says_global_and_materialised(engine: Engine) -> None:
    text = engine.explain(
        "SELECT o.objectId FROM dp1.Object AS o WHERE EXISTS "
        "(SELECT * FROM dp1.Source AS s WHERE s.objectId = o.objectId)"
    )
    assert "plan: global (correlated subquery" in text
    text = engine.explain(
        "SELECT objectId FROM dp1.Object WHERE objectId IN (SELECT objectId FROM dp1.Source)"
    )
    assert "materialise _sq" in text and "plan: partitioned" in text
    assert "set operation" in engine.explain("SELECT band FROM dp1.Visit UNION SELECT band FROM dp1.Source")


POSITIONAL = [
    "SELECT o.objectId, r.source_id, DISTANCE(POINT(o.coord_ra, o.coord_dec), POINT(r.ra, r.dec)) AS d "
    "FROM dp1.Object AS o JOIN dp1.Reference AS r "
    "ON DISTANCE(POINT(o.coord_ra, o.coord_dec), POINT(r.ra, r.dec)) < 0.0003",
    "SELECT o.objectId, r.source_id FROM dp1.Object AS o JOIN dp1.Reference AS r "
    "ON 1 = CONTAINS(POINT(o.coord_ra, o.coord_dec), CIRCLE(r.ra, r.dec, 0.0003))",
    "SELECT a.objectId, b.objectId FROM dp1.Object AS a JOIN dp1.Object AS b "
    "ON DISTANCE(POINT(a.coord_ra, a.coord_dec), POINT(b.coord_ra, b.coord_dec)) < 0.001 "
    "WHERE a.objectId < b.objectId",
    "SELECT a.objectId, COUNT(*) AS n FROM dp1.Object AS a, dp1.Object AS b "
    "WHERE scisql_angSep(a.coord_ra, a.coord_dec, b.coord_ra, b.coord_dec) < 0.002 "
    "AND a.objectId <> b.objectId "
    "GROUP BY a.objectId",
    "SELECT o.objectId, r.source_id FROM dp1.Object AS o LEFT JOIN dp1.Reference AS r "
    "ON DISTANCE(POINT(o.coord_ra, o.coord_dec), POINT(r.ra, r.dec)) < 0.0002 WHERE o.r_psfMag < 22",
    "SELECT r.source_id, o.objectId FROM dp1.Reference AS r JOIN dp1.Object AS o "
    "ON scisql_s2PtInCircle(o.coord_ra, o.coord_dec, r.ra, r.dec, 0.0003) = 1",
    "SELECT s.sourceId, r.source_id FROM dp1.Source AS s JOIN dp1.Reference AS r "
    "ON DISTANCE(POINT(s.coord_ra, s.coord_dec), POINT(r.ra, r.dec)) < 0.0002",
    "SELECT d.diaObjectId, o.objectId FROM dp1.DiaObject AS d JOIN dp1.Object AS o "
    "ON DISTANCE(POINT(d.ra, d.dec), POINT(o.coord_ra, o.coord_dec)) < 0.0003",
]


@pytest.mark.parametrize("query", POSITIONAL, ids=[f"p{i}" for i in range(len(POSITIONAL))])
def test_positional_joins_of_large_tables_run_partitioned(tiny_release: Path, query: str) -> None:
    """With nothing small enough to broadcast, positional joins read the other table around
    each partition (exact at partition edges) and equal the unsharded reference."""
    eng = Engine(tiny_release, broadcast_rows=0)
    plan = eng.plan(query)
    assert plan.kind == "partitioned", plan.explain()
    assert "positional join" in plan.explain()
    got = eng.adql(query)
    ref = reference_adql(query, tiny_release)
    assert ref.num_rows > 0
    assert same_rows(got.table, ref, ordered=False) is None


def test_left_join_preserving_the_positionally_read_table_runs_globally(tiny_release: Path) -> None:
    q = (
        "SELECT r.source_id, o.objectId FROM dp1.Reference AS r LEFT JOIN dp1.Object AS o "
        "ON DISTANCE(POINT(o.coord_ra, o.coord_dec), POINT(r.ra, r.dec)) < 0.0002"
    )
    eng = Engine(tiny_release, broadcast_rows=0)
    plan = eng.plan(q)
    # Reference is read around every partition: its unmatched rows would repeat
    assert plan.kind == "global" and "preserved side is not partitioned" in plan.reason
    got, ref = eng.adql(q).table, reference_adql(q, tiny_release)
    assert got.num_rows == ref.num_rows and same_rows(got, ref, ordered=False) is None


def test_large_non_positional_join_runs_globally_or_is_refused(tiny_release: Path) -> None:
    q = (
        "SELECT o.objectId, r.source_id FROM dp1.Object AS o JOIN dp1.Reference AS r "
        "ON o.r_psfMag BETWEEN r.phot_g_mean_mag - 0.001 AND r.phot_g_mean_mag + 0.001"
    )
    small = Engine(tiny_release, broadcast_rows=0)
    plan = small.plan(q)
    assert plan.kind == "global" and "not on the director key" in plan.reason
    ref = reference_adql(q, tiny_release)
    assert small.adql(q).table.num_rows == ref.num_rows
    with pytest.raises(UnsupportedFeatureError, match="positional crossmatch"):
        Engine(tiny_release, broadcast_rows=0, join_product_limit=1).plan(q)


def test_maxrec_overflow_keeps_partial_rows(engine: Engine) -> None:
    res = engine.adql("SELECT forcedSourceId FROM dp1.ForcedSource", maxrec=10)
    assert res.overflow and len(res) == 10
    assert res.partitions_read < res.plan.total_parts  # stopped reading early
    res = engine.adql("SELECT TOP 5 objectId, r_psfMag FROM dp1.Object ORDER BY r_psfMag", maxrec=3)
    assert res.overflow and len(res) == 3
    ref = reference_adql("SELECT TOP 3 objectId, r_psfMag FROM dp1.Object ORDER BY r_psfMag", engine.release)
    assert res.table.column("objectId").to_pylist() == ref.column("objectId").to_pylist()
    res = engine.adql("SELECT COUNT(*) FROM dp1.Object", maxrec=1)
    assert not res.overflow and len(res) == 1
    assert len(engine.adql("SELECT objectId FROM dp1.Object", maxrec=0)) == 0


def test_hard_limit_stops_cleanly(tiny_release: Path) -> None:
    eng = Engine(tiny_release, hard_limit=100)
    with pytest.raises(ResultTooLargeError, match="more than 100 rows"):
        eng.adql("SELECT * FROM dp1.ForcedSource")
    with pytest.raises(ResultTooLargeError, match="intermediate"):
        eng.adql("SELECT objectId, COUNT(*) FROM dp1.ForcedSource GROUP BY objectId")
    with pytest.raises(ResultTooLargeError):
        eng.adql("SELECT objectId FROM dp1.Object WHERE objectId IN (SELECT objectId FROM dp1.ForcedSource)")
    assert len(eng.adql("SELECT TOP 10 * FROM dp1.ForcedSource ORDER BY psfFlux")) == 10
    assert eng.adql("SELECT * FROM dp1.ForcedSource", maxrec=50).overflow


def test_syntax_error_has_position(engine: Engine) -> None:
    with pytest.raises(AdqlSyntaxError) as info:
        engine.adql("SELECT objectId\nFROM dp1.Object WHERE r_psfMag <")
    assert info.value.line == 2 and info.value.col is not None


def test_unknown_names_have_suggestions(engine: Engine) -> None:
    with pytest.raises(UnknownTableError, match="Object"):
        engine.adql("SELECT * FROM dp1.Objet")
    with pytest.raises(UnknownColumnError, match="r_psfMag"):
        engine.adql("SELECT r_psfMg FROM dp1.Object")


def test_type_error(engine: Engine) -> None:
    with pytest.raises(AdqlTypeError):
        engine.adql("SELECT objectId FROM dp1.Object WHERE refBand > 3")


def test_distributed_client_is_used(engine: Engine) -> None:
    distributed = pytest.importorskip("distributed")
    q = "SELECT band, COUNT(*) AS n FROM dp1.ForcedSource GROUP BY band ORDER BY band"
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None):
        got = engine.adql(q).table
    assert got.equals(engine.adql(q).table)


def test_extra_tables_by_qualified_name_join_release_tables(engine: Engine) -> None:
    """TAP_UPLOAD / TAP_SCHEMA style tables: resolved, joined inside partitions, errors as usual."""
    objs = engine.adql("SELECT TOP 20 objectId, coord_ra, coord_dec FROM dp1.Object ORDER BY objectId").table
    mine = pa.table(
        {"my_id": pa.array(range(20)), "ra": objs.column("coord_ra"), "dec": objs.column("coord_dec")}
    )
    q = (
        "SELECT u.my_id, o.objectId FROM TAP_UPLOAD.mine AS u JOIN dp1.Object AS o "
        "ON DISTANCE(POINT(u.ra, u.dec), POINT(o.coord_ra, o.coord_dec)) < 0.0001"
    )
    got = engine.adql(q, tables={"TAP_UPLOAD.mine": mine}).table
    assert sorted(got.column("objectId").to_pylist()) == sorted(objs.column("objectId").to_pylist())
    n = engine.adql(
        "SELECT COUNT(*) AS n FROM TAP_UPLOAD.mine WHERE ra > 0", tables={"TAP_UPLOAD.mine": mine}
    )
    assert n.table.column(0).to_pylist() == [20]
    with pytest.raises(UnknownColumnError, match="my_id"):
        engine.adql("SELECT my_idd FROM TAP_UPLOAD.mine", tables={"TAP_UPLOAD.mine": mine})
    with pytest.raises(UnknownTableError):
        engine.adql("SELECT * FROM TAP_UPLOAD.mine")  # not given to this query


def test_cancel_between_waves_and_progress(tiny_release: Path, tmp_path: Path) -> None:
    import threading

    from kernel_lib.engine import QueryCancelledError

    eng = Engine(tiny_release)
    seen: list[dict[str, int]] = []
    q = "SELECT objectId, psfFlux FROM dp1.ForcedSource WHERE psfFlux > 0"
    rows, _ = eng.adql_to_parquet(q, tmp_path / "a.parquet", progress=seen.append)
    assert seen and seen[-1]["partitions_done"] == seen[-1]["partitions"] and seen[-1]["rows"] == rows
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(QueryCancelledError, match="cancelled"):
        eng.adql_to_parquet(q, tmp_path / "b.parquet", cancel=cancel)
    assert not (tmp_path / "b.parquet").exists()
    with pytest.raises(QueryCancelledError):
        eng.adql("SELECT objectId, COUNT(*) FROM dp1.ForcedSource GROUP BY objectId", cancel=cancel)


def test_output_columns_carry_units_and_ucds(engine: Engine) -> None:
    """Aliased and derived columns are described like their sources (DaCHS's conventions)."""
    q = (
        "SELECT o.coord_ra AS ra, FLOOR(o.r_psfMag) AS rbin, AVG(o.r_psfMag) AS m, MIN(o.coord_dec) AS lo, "
        "COUNT(*) AS n, MAX(DISTANCE(POINT(o.coord_ra, o.coord_dec), POINT(53.1, -28.1))) AS d, "
        "AVG(scisql_nanojanskyToAbMag(o.r_psfFlux)) AS mag "
        "FROM dp1.Object AS o GROUP BY o.coord_ra, o.r_psfMag"
    )
    schema = engine.adql(q, maxrec=5).table.schema

    def md(name: str) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in (schema.field(name).metadata or {}).items()}

    assert md("ra")["unit"] == "deg" and md("ra")["ucd"].startswith("pos.eq.ra")
    assert md("rbin")["unit"] == "mag" and "description" not in md("rbin")
    assert schema.field("rbin").type == pa.float64()  # ADQL's FLOOR is a double, even of a float
    assert md("m")["ucd"].endswith(";stat.mean") and md("m")["unit"] == "mag"
    assert md("lo")["ucd"].startswith("stat.min;pos.eq.dec") and md("lo")["unit"] == "deg"
    assert md("n") == {"ucd": "meta.number"}
    assert md("d") == {"unit": "deg", "ucd": "stat.max;pos.angDistance"}
    assert md("mag")["unit"] == "mag" and "phot.mag" in md("mag")["ucd"]


@pytest.mark.parametrize("r", [0.0005, 0.003])
def test_circle_polygon_intersects_and_contains(engine: Engine, r: float) -> None:
    """INTERSECTS(CIRCLE(columns, r), POLYGON) and CONTAINS(CIRCLE, POLYGON) against a brute
    force: the polygon's edges sampled densely along their great circles."""
    import numpy as np

    objs = engine.adql("SELECT objectId, coord_ra, coord_dec FROM dp1.Object").table.to_pandas()
    ra0, dec0 = float(objs.coord_ra.median()), float(objs.coord_dec.median())
    verts = [(ra0 - 0.01, dec0 - 0.008), (ra0 + 0.012, dec0 - 0.006), (ra0 + 0.002, dec0 + 0.011)]
    poly = ", ".join(f"{a}, {d}" for a, d in verts)

    def xyz(ra, dec):
        ra, dec = np.radians(ra), np.radians(dec)
        return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)

    pts = xyz(objs.coord_ra.to_numpy(), objs.coord_dec.to_numpy())
    edge = []
    for i in range(3):
        a, b = xyz(*verts[i - 1]), xyz(*verts[i])
        t = np.linspace(0, 1, 4000)[:, None]
        s = a * (1 - t) + b * t
        edge.append(s / np.linalg.norm(s, axis=1, keepdims=True))
    boundary = np.concatenate(edge)
    dmin = np.degrees(np.arccos(np.clip(pts @ boundary.T, -1, 1)).min(axis=1))
    inside = (
        engine.adql(
            f"SELECT objectId FROM dp1.Object WHERE CONTAINS(POINT(coord_ra, coord_dec), POLYGON({poly})) = 1"
        )
        .table.column(0)
        .to_pylist()
    )
    is_in = objs.objectId.isin(inside).to_numpy()
    clear = np.abs(dmin - r) > 2e-6  # away from the circle's edge: the sampling decides
    hits = (
        engine.adql(
            "SELECT objectId FROM dp1.Object "
            f"WHERE INTERSECTS(CIRCLE(coord_ra, coord_dec, {r}), POLYGON({poly})) = 1"
        )
        .table.column(0)
        .to_pylist()
    )
    got = objs.objectId.isin(hits).to_numpy()
    want = is_in | (dmin <= r)
    assert want.sum() > is_in.sum() > 0
    assert np.array_equal(got[clear], want[clear])
    within = (
        engine.adql(
            "SELECT objectId FROM dp1.Object "
            f"WHERE CONTAINS(CIRCLE(coord_ra, coord_dec, {r}), POLYGON({poly})) = 1"
        )
        .table.column(0)
        .to_pylist()
    )
    got = objs.objectId.isin(within).to_numpy()
    assert np.array_equal(got[clear], (is_in & (dmin > r))[clear])


def test_cancel_interrupts_a_long_global_query(tiny_release: Path) -> None:
    """A global plan is one DuckDB query: cancelling (what EXECUTIONDURATION does) interrupts it."""
    import threading
    import time

    from kernel_lib.engine import QueryCancelledError

    eng = Engine(tiny_release, broadcast_rows=0, join_product_limit=1e15)
    q = (
        "SELECT COUNT(*) FROM dp1.ForcedSource AS a, dp1.ForcedSource AS b, dp1.ForcedSource AS c "
        "WHERE c.psfFlux > 1.2e6 AND a.psfFlux * b.psfFlux > c.psfFlux"
    )
    assert eng.plan(q).kind == "global"
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    t = time.monotonic()
    with pytest.raises(QueryCancelledError, match="cancelled"):
        eng.adql(q, cancel=cancel)
    assert time.monotonic() - t < 3.0
