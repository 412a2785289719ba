"""Differential testing: every corpus query gives the reference executor's rows.

The reference is DuckDB over the unsharded Parquet (all leaves of a table as one view) running the
same ADQL -> DuckDB translation (:func:`kernel_lib.engine.reference_adql`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import CORPUS
from engine_compare import same_rows

from kernel_lib.engine import Engine, reference_adql


@pytest.fixture(scope="module")
def engine(tiny_release: Path) -> Engine:
    return Engine(tiny_release)


def test_corpus_is_large_and_distinct() -> None:
    queries = [q for q, _ in CORPUS]
    assert len(queries) >= 200
    assert len(set(queries)) == len(queries)


@pytest.mark.parametrize(("query", "mode"), CORPUS, ids=[f"q{i:03d}" for i in range(len(CORPUS))])
def test_same_rows_as_reference(engine: Engine, query: str, mode: str) -> None:
    got = engine.adql(query)
    ref = reference_adql(query, engine.release)
    if mode == "count":
        assert got.table.num_rows == ref.num_rows
        assert got.table.column_names == ref.column_names
    else:
        diff = same_rows(got.table, ref, ordered=mode == "ordered")
        assert diff is None, f"{diff}\n{got.plan.explain()}"
    assert not got.overflow
