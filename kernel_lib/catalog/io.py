"""Reading HATS catalogs: the layout (properties, partition list, schema) and single leaves.

Opening a catalog reads three small files only -- ``properties``, ``partition_info.csv`` and
``dataset/_common_metadata`` -- never ``_metadata`` (whose size grows with the number of row
groups), so a catalog of 10⁵ partitions opens in milliseconds.

A leaf is read by :func:`read_leaf` according to a :class:`ReadPlan`:

1. row groups whose ``_healpix_29`` min/max statistics miss every search region are skipped
   (counted in :data:`STATS`, which the tests use to prove a small cone reads little);
2. the remaining row groups are read through a pyarrow dataset fragment with the projected
   columns and the pyarrow filter expression pushed down;
3. SQL predicates are run by DuckDB -- directly on the Parquet file when there is no spatial
   search (DuckDB then prunes and late-materialises by itself), otherwise on the Arrow table;
4. the searches' exact tests filter the rows, and helper columns are dropped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from . import healpix as hp
from .search import Search

__all__ = [
    "SPATIAL_INDEX",
    "STATS",
    "HatsLayout",
    "ReadPlan",
    "ReadStats",
    "arrow_to_pandas",
    "duckdb_cursor",
    "read_layout",
    "read_leaf",
    "read_properties",
    "sql_columns",
]

SPATIAL_INDEX = "_healpix_29"
_FORMAT = ds.ParquetFileFormat()
_LOCAL = pafs.LocalFileSystem()


# -- instrumentation ---------------------------------------------------------------------------
@dataclass
class ReadStats:
    """Counters of what the leaf reader touched in this process (thread-safe)."""

    files: int = 0
    row_groups_total: int = 0
    row_groups_read: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, files: int = 0, total: int = 0, read: int = 0) -> None:
        with self._lock:
            self.files += files
            self.row_groups_total += total
            self.row_groups_read += read

    def reset(self) -> None:
        with self._lock:
            self.files = self.row_groups_total = self.row_groups_read = 0


#: process-wide counters of the leaf reader
STATS = ReadStats()


# -- layout ------------------------------------------------------------------------------------
def read_properties(path: Path) -> dict[str, str]:
    """The ``key=value`` lines of a HATS ``hats.properties`` / ``properties`` file ({} if none)."""
    for name in ("hats.properties", "properties", "collection.properties"):
        f = path / name
        if f.is_file():
            out: dict[str, str] = {}
            for line in f.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    out[k.strip()] = v.strip()
            return out
    return {}


@dataclass(frozen=True)
class HatsLayout:
    """What opening a HATS catalog learns: its folder, properties, schema and partitions."""

    path: Path
    properties: dict[str, str]
    schema: pa.Schema
    orders: np.ndarray
    pixels: np.ndarray

    @property
    def name(self) -> str:
        return self.properties.get("obs_collection") or self.path.name

    @property
    def ra_column(self) -> str:
        return self.properties.get("hats_col_ra", "ra")

    @property
    def dec_column(self) -> str:
        return self.properties.get("hats_col_dec", "dec")

    @property
    def margin_arcsec(self) -> float | None:
        v = self.properties.get("hats_margin_threshold")
        return float(v) if v else None

    def leaf_files(self, i: int) -> list[str]:
        """The Parquet file(s) of partition number ``i``."""
        order, pixel = int(self.orders[i]), int(self.pixels[i])
        suffix = self.properties.get("hats_npix_suffix", ".parquet")
        d = self.path / "dataset" / f"Norder={order}" / f"Dir={pixel // 10000 * 10000}"
        if suffix == "/":
            return sorted(str(p) for p in (d / f"Npix={pixel}").glob("*.parquet"))
        return [str(d / f"Npix={pixel}{suffix}")]


def read_layout(path: str | Path) -> HatsLayout:
    """Open the HATS catalog at ``path`` (a catalog folder) without touching ``_metadata``."""
    p = Path(path).expanduser().resolve()
    props = read_properties(p)
    info = p / "partition_info.csv"
    if not info.is_file():
        raise FileNotFoundError(f"not a HATS catalog (no partition_info.csv): {p}")
    t = pacsv.read_csv(info)
    orders = t.column("Norder").to_numpy().astype(np.int64)
    pixels = t.column("Npix").to_numpy().astype(np.int64)
    lo, _ = hp.pixel_ranges(orders, pixels)
    order = np.argsort(lo, kind="stable")
    common = p / "dataset" / "_common_metadata"
    layout = HatsLayout(p, props, pa.schema([]), orders[order], pixels[order])
    if common.is_file():
        schema = pq.read_schema(common)
    else:  # fall back on the first leaf's footer
        schema = pq.read_schema(layout.leaf_files(0)[0])
    return HatsLayout(p, props, schema, orders[order], pixels[order])


# -- reading one leaf --------------------------------------------------------------------------
def sql_columns(predicate: str, names: list[str]) -> list[str]:
    """The catalog columns a SQL predicate mentions (via sqlglot; falls back on all ``names``)."""
    try:
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(predicate, read="duckdb")
        used = {c.name for c in tree.find_all(exp.Column)}
    except Exception:  # an exotic predicate: DuckDB will still judge it, we just read more
        return list(names)
    lower = {n.lower(): n for n in names}
    return [lower[u.lower()] for u in used if u.lower() in lower]


@dataclass(frozen=True)
class ReadPlan:
    """How to read a leaf: which columns, filters and searches (picklable, for dask workers)."""

    columns: tuple[str, ...]
    ra_column: str
    dec_column: str
    arrow_filter: pc.Expression | None = None
    sql: tuple[str, ...] = ()
    searches: tuple[Search, ...] = ()
    #: grow the search coverages by this much (dependent tables are indexed by their director)
    dilate_arcsec: float = 0.0
    #: extra columns the SQL predicates need
    sql_needs: tuple[str, ...] = ()
    #: the rows' ``_healpix_29`` is their own position's (not a director's): searches use it
    own_index: bool = False

    def needed(self) -> list[str]:
        extra = [self.ra_column, self.dec_column] if self.searches else []
        if self.searches and self.own_index and not self.dilate_arcsec:
            extra.append(SPATIAL_INDEX)
        out: list[str] = []
        for c in (*self.columns, *extra, *self.sql_needs):
            if c not in out:
                out.append(c)
        return out


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _selected_row_groups(fragment: ds.ParquetFileFragment, plan: ReadPlan) -> list[int]:
    md = fragment.metadata
    n = md.num_row_groups
    names = md.schema.to_arrow_schema().names
    if not plan.searches or SPATIAL_INDEX not in names:
        return list(range(n))
    j = names.index(SPATIAL_INDEX)
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    for i in range(n):
        st = md.row_group(i).column(j).statistics
        if st is None or not st.has_min_max:
            lo[i], hi[i] = 0, np.iinfo(np.int64).max
        else:
            lo[i], hi[i] = st.min, st.max
    keep = np.ones(n, dtype=bool)
    for s in plan.searches:
        keep &= hp.intervals_intersect(s.ranges(plan.dilate_arcsec), lo, hi)
    return np.flatnonzero(keep).tolist()


_BASES: dict[int | None, Any] = {}
_BASES_LOCK = threading.Lock()


def duckdb_cursor(threads: int | None = 1) -> Any:
    """A cursor of a process-wide in-memory DuckDB database (one per ``threads`` setting).

    Opening a DuckDB connection costs ~20 ms -- more than reading a small leaf -- while a cursor
    costs microseconds and has its own registered tables and temporary views.  ``threads=1`` is
    for per-partition tasks (parallelism comes from the tasks); ``None`` keeps DuckDB's default.
    """
    import duckdb

    with _BASES_LOCK:
        db = _BASES.get(threads)
        if db is None:
            db = duckdb.connect()
            if threads:
                db.execute(f"SET threads TO {int(threads)}")
            from kernel_lib.adql.regions import register_duckdb_functions

            register_duckdb_functions(db)
            _BASES[threads] = db
        return db.cursor()


def _duckdb(sql: str, table: pa.Table | None = None, params: dict[str, Any] | None = None) -> pa.Table:
    con = duckdb_cursor()
    try:
        if table is not None:
            con.register("leaf", table)
        return con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()


def _read_file(path: str, plan: ReadPlan, schema: pa.Schema) -> pa.Table:
    needed = plan.needed()
    if plan.sql and not plan.searches:  # DuckDB straight on the file: its own pushdown
        STATS.add(files=1)
        where = " AND ".join(f"({s})" for s in plan.sql)
        cols = ", ".join(_quote(c) for c in needed)
        table = _duckdb(f"SELECT {cols} FROM read_parquet($p) WHERE {where}", params={"p": path})
        if plan.arrow_filter is not None:
            table = table.filter(plan.arrow_filter)
        return table
    fragment = _FORMAT.make_fragment(path, filesystem=_LOCAL)
    groups = _selected_row_groups(fragment, plan)
    STATS.add(files=1, total=fragment.metadata.num_row_groups, read=len(groups))
    if not groups:
        return schema.empty_table().select(needed)
    sub = fragment.subset(row_group_ids=groups)
    table = sub.to_table(schema=fragment.physical_schema, columns=needed, filter=plan.arrow_filter)
    if plan.sql:
        where = " AND ".join(f"({s})" for s in plan.sql)
        table = _duckdb(f"SELECT * FROM leaf WHERE {where}", table=table)
    return table


def read_leaf(files: list[str], plan: ReadPlan, schema: pa.Schema) -> pa.Table:
    """Read one partition's file(s) according to ``plan``; returns exactly ``plan.columns``."""
    tables = [_read_file(f, plan, schema) for f in files]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    if plan.searches and table.num_rows:
        ra = table.column(plan.ra_column).to_numpy(zero_copy_only=False)
        dec = table.column(plan.dec_column).to_numpy(zero_copy_only=False)
        h = None
        if plan.own_index and not plan.dilate_arcsec and SPATIAL_INDEX in table.column_names:
            h = table.column(SPATIAL_INDEX).to_numpy(zero_copy_only=False)
        mask = np.ones(len(ra), dtype=bool)
        for s in plan.searches:
            mask &= s.select(ra, dec, h)
        if not mask.all():
            table = table.filter(pa.array(mask))
    return table.select(list(plan.columns))


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas the one way the engine does it (schema metadata dropped: no index games)."""
    return table.replace_schema_metadata(None).to_pandas()
