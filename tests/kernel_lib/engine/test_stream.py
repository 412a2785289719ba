"""Results streamed to Parquet: same rows as in memory, bounded memory, atomic files."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kernel_lib.adql import AdqlSyntaxError
from kernel_lib.engine import Engine, ResultTooLargeError
from kernel_lib.release.manifest import Release

SCAN = "SELECT objectId, visit, band, psfFlux FROM dp1.ForcedSource WHERE psfFlux > 0"


@pytest.fixture(scope="module")
def engine(tiny_release: Path) -> Engine:
    return Engine(Release.open(tiny_release))


def _rows(table) -> list[tuple]:
    return sorted(zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True))


def test_streamed_scan_equals_the_in_memory_result(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "scan.parquet"
    rows, overflow = engine.adql_to_parquet(SCAN, out)
    expected = engine.adql(SCAN).table
    got = pq.read_table(out)
    assert (rows, overflow) == (expected.num_rows, False)
    assert got.schema.names == expected.schema.names
    assert _rows(got) == _rows(expected)
    assert got.schema.field("psfFlux").metadata[b"unit"] == b"nJy"


def test_a_result_above_the_in_memory_limit_still_streams(
    engine: Engine, tiny_release: Path, tmp_path: Path
) -> None:
    small = Engine(Release.open(tiny_release), hard_limit=500)  # below every partition's rows too
    with pytest.raises(ResultTooLargeError):
        small.adql(SCAN)
    rows, overflow = small.adql_to_parquet(SCAN, tmp_path / "big.parquet")
    assert not overflow
    assert rows == engine.adql(SCAN).table.num_rows > 1000
    assert pq.read_metadata(tmp_path / "big.parquet").num_rows == rows


def test_maxrec_and_top_while_streaming(engine: Engine, tmp_path: Path) -> None:
    rows, overflow = engine.adql_to_parquet(SCAN, tmp_path / "m.parquet", maxrec=123)
    assert (rows, overflow) == (123, True)
    assert pq.read_metadata(tmp_path / "m.parquet").num_rows == 123
    rows, overflow = engine.adql_to_parquet(SCAN.replace("SELECT", "SELECT TOP 7"), tmp_path / "t.parquet")
    assert (rows, overflow) == (7, False)


def test_ordered_and_aggregate_queries_are_written_too(engine: Engine, tmp_path: Path) -> None:
    q = "SELECT band, COUNT(*) AS n FROM dp1.ForcedSource GROUP BY band ORDER BY band"
    rows, _ = engine.adql_to_parquet(q, tmp_path / "agg.parquet")
    assert pq.read_table(tmp_path / "agg.parquet").to_pydict() == engine.adql(q).table.to_pydict()
    assert rows == 6


def test_empty_result_has_the_columns(engine: Engine, tmp_path: Path) -> None:
    rows, _ = engine.adql_to_parquet(SCAN + " AND psfFlux < -1e30", tmp_path / "e.parquet")
    t = pq.read_table(tmp_path / "e.parquet")
    assert rows == 0 and t.num_rows == 0
    assert t.schema.names == ["objectId", "visit", "band", "psfFlux"]


def test_a_failing_query_leaves_no_file(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "bad.parquet"
    with pytest.raises(AdqlSyntaxError):
        engine.adql_to_parquet("SELECT FROM WHERE", out)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("query", "ordered"),
    [
        (SCAN + " ORDER BY psfFlux DESC, objectId, visit", True),
        ("SELECT objectId, COUNT(*) AS n, AVG(psfFlux) AS f FROM dp1.ForcedSource GROUP BY objectId", False),
        ("SELECT DISTINCT objectId, band FROM dp1.ForcedSource", False),
        (
            "SELECT TOP 900 objectId, visit, psfFlux FROM dp1.ForcedSource WHERE psfFlux > 0 "
            "ORDER BY psfFlux, objectId, visit",
            True,
        ),
    ],
    ids=["order-by", "group-by", "distinct", "top-order"],
)
def test_ordered_aggregate_and_distinct_results_above_the_limit_spill(
    engine: Engine, tiny_release: Path, tmp_path: Path, query: str, ordered: bool
) -> None:
    """More rows than the in-memory limit: partition results spill to Parquet and DuckDB merges
    them out of core into the file; same rows (and order) as the reference."""
    from engine_compare import same_rows

    from kernel_lib.engine import reference_adql

    small = Engine(Release.open(tiny_release), hard_limit=500)
    with pytest.raises(ResultTooLargeError):
        small.adql(query)
    out = tmp_path / "out.parquet"
    rows, overflow = small.adql_to_parquet(query, out)
    got, ref = pq.read_table(out), reference_adql(query, tiny_release)
    assert (rows, overflow) == (ref.num_rows, False) and rows > 500
    assert got.schema.names == ref.schema.names
    assert same_rows(got, ref, ordered=ordered) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]  # no spill left behind
    rows, overflow = small.adql_to_parquet(query, tmp_path / "m.parquet", maxrec=321)
    assert (rows, overflow) == (321, True)
    head = pq.read_table(tmp_path / "m.parquet")
    if ordered:
        assert same_rows(head, ref.slice(0, 321), ordered=True) is None
