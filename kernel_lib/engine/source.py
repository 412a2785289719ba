"""The release's tables as DuckDB views: per partition, broadcast, or whole (global/reference).

A query never sees file names: the planner maps every ADQL table to a view name (``s_object`` for
a sharded table, ``b_visit`` for a broadcast one, ``t_object`` for a whole table) and each task
creates those views in its own DuckDB connection.  A view over a partition is either
``read_parquet`` of the leaf (DuckDB prunes columns and row groups by itself) or, when a spatial
constraint selects a few row groups by ``_healpix_29``, an Arrow table of just those row groups
(read with :func:`kernel_lib.catalog.io.read_leaf` and a ``RangesPrune``: no per-row test, so
DuckDB's own spherical SQL decides every boundary row exactly as the reference does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from kernel_lib.catalog import open_catalog
from kernel_lib.catalog.io import SPATIAL_INDEX, HatsLayout, ReadPlan, duckdb_cursor, read_leaf
from kernel_lib.catalog.search import RangesPrune
from kernel_lib.release.manifest import Release

__all__ = [
    "SMALL_TABLES",
    "TableInfo",
    "ViewSpec",
    "connect",
    "fetch",
    "quote",
    "reference_adql",
    "release_tables",
    "table_schema",
]

#: tables always broadcast to every partition (one row per visit / per detector and visit)
SMALL_TABLES = frozenset({"visit", "ccdvisit"})


def quote(name: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def _literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@dataclass
class TableInfo:
    """One catalog of the release, as the planner sees it.

    Attributes
    ----------
    name
        The table name (``"Object"``).
    entry
        The manifest entry (``rows``, ``columns``, ``director``, ``primary_key``...).
    release
        The release, to open the HATS layout lazily.
    """

    name: str
    entry: dict[str, Any]
    release: Release = field(repr=False)

    @property
    def rows(self) -> int:
        return int(self.entry.get("rows", 0))

    @property
    def columns(self) -> list[str]:
        return [str(c["name"]) for c in self.entry.get("columns", [])]

    @property
    def director(self) -> tuple[str, str, str] | None:
        d = self.entry.get("director")
        return (str(d[0]), str(d[1]), str(d[2])) if d else None

    @property
    def family(self) -> str:
        """The table whose positions shard this one (itself for a director or plain table)."""
        return self.director[1] if self.director else self.name

    @property
    def key(self) -> str | None:
        """The column joining this table to the rest of its family (the director key)."""
        if self.director:
            return self.director[0]
        pk = self.entry.get("primary_key")
        return str(pk) if pk else None

    @property
    def margin_arcsec(self) -> float:
        return float(self.entry.get("margin_arcsec") or 5.0)

    @cached_property
    def layout(self) -> HatsLayout:
        return open_catalog(self.name, release=self.release).layout

    def files(self, indices: Any = None) -> list[str]:
        """The leaf files of the partitions ``indices`` (all by default)."""
        idx = range(len(self.layout.pixels)) if indices is None else indices
        return [f for i in idx for f in self.layout.leaf_files(int(i))]


def release_tables(release: Release) -> dict[str, TableInfo]:
    """``{lower-case name: TableInfo}`` for every catalog of ``release``."""
    return {name.lower(): TableInfo(name, entry, release) for name, entry in release.catalogs.items()}


def table_schema(info: TableInfo, columns: list[str] | None = None) -> pa.Schema:
    """The Arrow schema of ``columns`` (default: the manifest's) from the HATS metadata."""
    schema = info.layout.schema
    return pa.schema([schema.field(c) for c in (columns or info.columns)])


@dataclass(frozen=True)
class ViewSpec:
    """How to build one view in a task's connection (picklable).

    ``files`` empty means an empty table of ``schema``; ``ranges`` (order-29 intervals) selects row
    groups by their ``_healpix_29`` statistics; ``clip`` keeps rows with ``lo <= _healpix_29 < hi``
    (a dependent partition coarser than the unit partition).
    """

    name: str
    files: tuple[str, ...]
    columns: tuple[str, ...]
    schema: pa.Schema
    ranges: np.ndarray | None = None
    clip: tuple[int, int] | None = None
    ra_column: str = "ra"
    dec_column: str = "dec"


def _create_view(con: Any, spec: ViewSpec, i: int) -> None:
    cols = ", ".join(quote(c) for c in spec.columns)
    where = ""
    if spec.clip is not None:
        h = quote(SPATIAL_INDEX)
        where = f" WHERE {h} >= {spec.clip[0]} AND {h} < {spec.clip[1]}"
    if not spec.files:
        con.register(f"_src{i}", spec.schema.empty_table().select(list(spec.columns)))
        con.execute(f"CREATE TEMP VIEW {quote(spec.name)} AS SELECT {cols} FROM _src{i}")
        return
    if spec.ranges is not None:
        read = [*spec.columns, *([SPATIAL_INDEX] if spec.clip else [])]
        plan = ReadPlan(
            columns=tuple(dict.fromkeys(read)),
            ra_column=spec.ra_column,
            dec_column=spec.dec_column,
            searches=(RangesPrune(spec.ranges),),
        )
        con.register(f"_src{i}", read_leaf(list(spec.files), plan, spec.schema))
        con.execute(f"CREATE TEMP VIEW {quote(spec.name)} AS SELECT {cols} FROM _src{i}{where}")
        return
    files = "[" + ", ".join(_literal(f) for f in spec.files) + "]"
    con.execute(
        f"CREATE TEMP VIEW {quote(spec.name)} AS SELECT {cols} "
        f"FROM read_parquet({files}, hive_partitioning = false){where}"
    )


def connect(views: list[ViewSpec], tables: dict[str, pa.Table] | None = None, threads: int | None = 1) -> Any:
    """A DuckDB connection (a cursor of a shared in-memory database: its temporary views and
    registered tables are its own) with ``views`` created and Arrow ``tables`` registered."""
    con = duckdb_cursor(threads)
    for name, table in (tables or {}).items():
        con.register(name, table)
    for i, spec in enumerate(views):
        _create_view(con, spec, i)
    return con


def fetch(con: Any, sql: str, max_rows: int | None) -> pa.Table:
    """Run ``sql`` and collect at most ``max_rows`` rows (streamed: the rest is never built)."""
    reader = con.sql(sql).to_arrow_reader(max(1024, min(max_rows or 65536, 65536)))
    batches: list[pa.RecordBatch] = []
    n = 0
    for batch in reader:
        batches.append(batch)
        n += batch.num_rows
        if max_rows is not None and n >= max_rows:
            break
    table = pa.Table.from_batches(batches, schema=reader.schema)
    return table.slice(0, max_rows) if max_rows is not None else table


def whole_view(info: TableInfo, name: str) -> ViewSpec:
    """A view over every leaf of ``info`` (the unsharded table)."""
    return ViewSpec(name, tuple(info.files()), tuple(info.columns), table_schema(info))


def reference_adql(
    query: str, release: Release | str | os.PathLike[str], max_rows: int | None = None
) -> pa.Table:
    """The reference executor: DuckDB over the unsharded Parquet (every leaf of each table as one
    view) running the same ADQL -> DuckDB translation.  Used by the differential tests and the
    benchmark; independent of the planner."""
    from kernel_lib.adql import to_duckdb, validate

    rel = release if isinstance(release, Release) else Release.open(Path(release))
    infos = release_tables(rel)
    tree = validate(query)
    used: dict[str, str] = {}

    def mapping(t: Any) -> Any:
        info = infos.get(str(t.name).lower())
        if info is None:
            return None
        used[info.name] = f"t_{info.name.lower()}"
        from sqlglot import exp

        return exp.to_table(used[info.name])

    sql = to_duckdb(tree, tables=mapping)
    views = [whole_view(infos[n.lower()], v) for n, v in used.items()]
    con = connect(views, threads=None)
    try:
        return fetch(con, sql, max_rows)
    finally:
        con.close()
