"""The lazy :class:`Catalog` over a HATS catalog, and :func:`open_catalog`.

A ``Catalog`` is an immutable query plan: the catalog's layout (from ``partition_info.csv``,
``properties`` and ``_common_metadata``), a column projection, predicates and spatial searches.
Every method returns a new ``Catalog``; nothing is read until ``compute``/``head``/``to_dask``/
``to_astropy``.  Each HATS partition becomes one task (see :mod:`kernel_lib.catalog.execute`).

Examples
--------
>>> obj = open_catalog("Object")  # doctest: +SKIP
>>> bright = obj.cone_search(53.16, -28.1, 60).where("r_psfMag < 22").select(["objectId", "r_psfMag"])
>>> bright.compute()  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import healpix as hp
from .execute import LazyFrame, Progress
from .io import SPATIAL_INDEX, HatsLayout, ReadPlan, arrow_to_pandas, read_layout, read_leaf, read_properties
from .search import BoxSearch, ConeSearch, MOCSearch, PolygonSearch, Search

if TYPE_CHECKING:
    from astropy.table import Table
    from mocpy import MOC

    from kernel_lib.release.manifest import Release

__all__ = ["Catalog", "open_catalog"]

RELEASE_ENV = "LSSTBOX_RELEASE"


def _load_partition(files: list[str], plan: ReadPlan, schema: pa.Schema) -> pa.Table:
    """One partition's rows (module level so that it pickles to dask workers)."""
    return read_leaf(files, plan, schema)


@dataclass(frozen=True)
class Catalog:
    """A lazy, immutable view of a HATS catalog; build it with :func:`open_catalog`.

    Attributes
    ----------
    layout
        The catalog's folder, properties, schema and partitions.
    margin
        The margin catalog's layout (rows within ``margin_arcsec`` of each partition), if any.
    director
        For dependent tables, ``(key, director table, director key)`` from the release.
    """

    layout: HatsLayout
    margin: HatsLayout | None = None
    director: tuple[str, str, str] | None = None
    column_names: tuple[str, ...] = ()
    arrow_filter: pc.Expression | None = None
    sql: tuple[str, ...] = ()
    searches: tuple[Search, ...] = ()

    # -- description ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.layout.name

    @property
    def ra_column(self) -> str:
        return self.layout.ra_column

    @property
    def dec_column(self) -> str:
        return self.layout.dec_column

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the selected columns (with their unit/UCD/description metadata)."""
        return pa.schema([self.layout.schema.field(c) for c in self.columns])

    @property
    def all_columns(self) -> list[str]:
        return list(self.layout.schema.names)

    @property
    def columns(self) -> list[str]:
        return list(self.column_names or self.layout.schema.names)

    @property
    def margin_arcsec(self) -> float | None:
        return self.margin.margin_arcsec if self.margin is not None else None

    @property
    def npartitions(self) -> int:
        """Partitions left after the coarse phase of the searches."""
        return len(self.partition_indices())

    def partitions(self) -> pd.DataFrame:
        """The ``Norder``/``Npix`` of the partitions a computation would read."""
        i = self.partition_indices()
        return pd.DataFrame({"Norder": self.layout.orders[i], "Npix": self.layout.pixels[i]})

    def __repr__(self) -> str:
        parts = [f"{self.name!r}", f"{self.npartitions}/{len(self.layout.pixels)} partitions"]
        if self.column_names:
            parts.append(f"columns={list(self.column_names)}")
        if self.sql or self.arrow_filter is not None:
            parts.append(f"where={[*self.sql, *([str(self.arrow_filter)] if self.arrow_filter else [])]}")
        if self.searches:
            parts.append(f"searches={[type(s).__name__ for s in self.searches]}")
        return f"Catalog({', '.join(parts)})"

    # -- building the plan ---------------------------------------------------------------------
    def select(self, columns: Iterable[str]) -> Catalog:
        """Keep only ``columns`` (projection pushed into the Parquet reads)."""
        cols = tuple(dict.fromkeys(columns))
        unknown = [c for c in cols if c not in self.layout.schema.names]
        if unknown:
            raise KeyError(f"{self.name} has no column(s) {unknown}")
        return replace(self, column_names=cols)

    def where(self, predicate: str | pc.Expression) -> Catalog:
        """Keep rows satisfying ``predicate``: a SQL boolean expression
        (``"r_psfMag < 20 AND g_psfMag - r_psfMag > 0.5"``), run by DuckDB on the Parquet files
        (its row-group pruning and late materialisation: the other columns are decoded only
        where rows pass), or a pyarrow compute expression pushed into the Parquet scan.
        Several calls combine with AND."""
        if isinstance(predicate, str):
            return replace(self, sql=(*self.sql, predicate))
        if not isinstance(predicate, pc.Expression):
            raise TypeError("where() takes a SQL string or a pyarrow.compute.Expression")
        combined = predicate if self.arrow_filter is None else (self.arrow_filter & predicate)
        return replace(self, arrow_filter=combined)

    def search(self, search: Search) -> Catalog:
        """Restrict to a :class:`~kernel_lib.catalog.search.Search` region (searches combine with AND)."""
        return replace(self, searches=(*self.searches, search))

    def cone_search(self, ra: float, dec: float, radius_arcsec: float) -> Catalog:
        """Rows within ``radius_arcsec`` of ``(ra, dec)`` in degrees."""
        return self.search(ConeSearch(ra, dec, radius_arcsec))

    def box_search(self, ra_range: tuple[float, float], dec_range: tuple[float, float]) -> Catalog:
        """Rows in an RA/Dec box (degrees); ``ra_range=(350, 10)`` wraps through RA 0."""
        return self.search(BoxSearch(ra_range, dec_range))

    def polygon_search(self, vertices: Sequence[tuple[float, float]]) -> Catalog:
        """Rows inside a convex spherical polygon given by its ``(ra, dec)`` vertices in degrees."""
        return self.search(PolygonSearch(vertices))

    def moc_search(self, moc: MOC) -> Catalog:
        """Rows inside a mocpy ``MOC``."""
        return self.search(MOCSearch(moc))

    # -- planning ------------------------------------------------------------------------------
    @property
    def dilate_arcsec(self) -> float:
        """How far a row may lie from the position its ``_healpix_29`` encodes (dependent tables)."""
        return float(self.margin_arcsec or 5.0) if self.director else 0.0

    def partition_indices(self) -> np.ndarray:
        """Indices (into the layout) of the partitions meeting every search's coverage."""
        keep = np.ones(len(self.layout.pixels), dtype=bool)
        if self.searches:
            lo, hi = hp.pixel_ranges(self.layout.orders, self.layout.pixels)
            for s in self.searches:
                keep &= hp.intervals_intersect(s.ranges(self.dilate_arcsec), lo, hi - 1)
        return np.flatnonzero(keep)

    def read_plan(self, extra: Sequence[str] = ()) -> ReadPlan:
        """The :class:`ReadPlan` of one leaf; ``extra`` columns are read too."""
        from .io import sql_columns

        cols = tuple(dict.fromkeys([*self.columns, *extra]))
        needs: list[str] = []
        for pred in self.sql:
            needs += sql_columns(pred, self.all_columns)
        for s in self.searches:
            s.ranges(self.dilate_arcsec)  # computed once here, shipped to workers with the plan
        return ReadPlan(
            columns=cols,
            ra_column=self.ra_column,
            dec_column=self.dec_column,
            arrow_filter=self.arrow_filter,
            sql=self.sql,
            searches=self.searches,
            dilate_arcsec=self.dilate_arcsec,
            sql_needs=tuple(dict.fromkeys(needs)),
            own_index=SPATIAL_INDEX in self.layout.schema.names and not self.director,
        )

    def meta(self, extra: Sequence[str] = ()) -> pd.DataFrame:
        """An empty frame with the result's columns and dtypes."""
        cols = list(dict.fromkeys([*self.columns, *extra]))
        return arrow_to_pandas(self.layout.schema.empty_table().select(cols))

    def lazy(self) -> LazyFrame:
        """The per-partition tasks of this catalog as a :class:`LazyFrame`."""
        fn = functools.partial(_load_partition, plan=self.read_plan(), schema=self.layout.schema)
        parts = [self.layout.leaf_files(int(i)) for i in self.partition_indices()]
        return LazyFrame(fn, parts, self.meta(), name=f"catalog-{self.name}", arrow=True)

    # -- results ---------------------------------------------------------------------------------
    def compute(self, progress: Progress = False) -> pd.DataFrame:
        """Read everything the plan selects into one pandas DataFrame.

        Parameters
        ----------
        progress
            ``True`` for a tqdm bar, ``"dask"`` for dask's ``ProgressBar``.
        """
        return self.lazy().compute(progress)

    def head(self, n: int = 5) -> pd.DataFrame:
        """The first ``n`` selected rows (reads partitions in order until it has them)."""
        return self.lazy().head(n)

    def to_dask(self) -> Any:
        """A lazy ``dask.dataframe.DataFrame``, one partition per HATS partition."""
        return self.lazy().to_dask()

    def to_astropy(self, progress: Progress = False) -> Table:
        """An astropy ``Table`` with units, UCDs and descriptions from the Parquet field metadata."""
        return frame_to_astropy(self.compute(progress), self.layout.schema)

    # -- combining catalogs ----------------------------------------------------------------------
    def crossmatch(
        self,
        other: Catalog,
        radius_arcsec: float = 1.0,
        *,
        n_neighbors: int = 1,
        all_within: bool = False,
        suffixes: tuple[str, str] | None = None,
    ) -> LazyFrame:
        """Match every row to its nearest ``n_neighbors`` rows of ``other`` within ``radius_arcsec``
        (or to all of them with ``all_within=True``); see :mod:`kernel_lib.catalog.crossmatch`."""
        from .crossmatch import crossmatch

        return crossmatch(
            self, other, radius_arcsec, n_neighbors=n_neighbors, all_within=all_within, suffixes=suffixes
        )

    def join(
        self,
        other: Catalog,
        on: str,
        *,
        how: Literal["inner", "left"] = "inner",
        suffix: str | None = None,
        colocated: bool = False,
    ) -> LazyFrame:
        """Join a dependent table on a key, partition by partition (see :mod:`.join`)."""
        from .join import join

        return join(self, other, on, how=how, suffix=suffix, colocated=colocated)

    def nest(self, other: Catalog, on: str, name: str = "lc", *, colocated: bool = False) -> LazyFrame:
        """One row per row of this catalog with its ``other`` rows as a nested-pandas table ``name``."""
        from .join import nest

        return nest(self, other, on, name=name, colocated=colocated)


def frame_to_astropy(frame: pd.DataFrame, schema: pa.Schema) -> Table:
    """Convert ``frame`` to an astropy Table, taking unit/ucd/description from ``schema`` fields."""
    import warnings

    from astropy import units as u
    from astropy.table import Table

    table = Table.from_pandas(frame.reset_index(drop=frame.index.name is None))
    for col in table.colnames:
        if col not in schema.names:
            continue
        md = {k.decode(): v.decode() for k, v in (schema.field(col).metadata or {}).items()}
        if md.get("unit"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", u.UnitsWarning)
                table[col].unit = u.Unit(md["unit"], parse_strict="silent")
        if md.get("description"):
            table[col].description = md["description"]
        if md.get("ucd"):
            table[col].meta["ucd"] = md["ucd"]
    return table


# -- opening -----------------------------------------------------------------------------------
def _margin_layout(path: Path, margin: str | Path | None) -> HatsLayout | None:
    if margin is not None:
        return read_layout(margin)
    sibling = path.parent / f"{path.name}_margin"
    if (sibling / "partition_info.csv").is_file():
        props = read_properties(sibling)
        if props.get("dataproduct_type") == "margin":
            return read_layout(sibling)
    return None


def _open_path(path: Path, margin: str | Path | None) -> tuple[Path, str | Path | None]:
    """Resolve a HATS collection (``collection.properties``) to its catalog and default margin."""
    if (path / "collection.properties").is_file():
        props = read_properties(path)
        primary = path / props["hats_primary_table_url"]
        if margin is None and props.get("default_margin"):
            margin = path / props["default_margin"]
        return primary, margin
    return path, margin


def open_catalog(
    name_or_path: str | os.PathLike[str],
    *,
    release: Release | str | os.PathLike[str] | None = None,
    columns: Iterable[str] | None = None,
    margin: str | os.PathLike[str] | None = None,
) -> Catalog:
    """Open a HATS catalog lazily.

    Parameters
    ----------
    name_or_path
        A table name of the release (``"Object"``, ``"ForcedSource"``...) or the path of any HATS
        catalog or collection (ours, hats-import's or LSDB's).
    release
        The release (or its folder) to resolve names in; default ``$LSSTBOX_RELEASE``.
    columns
        Column projection, same as ``.select(columns)``.
    margin
        The margin catalog's path; by default the release's, the collection's default margin, or a
        ``<name>_margin`` sibling folder.

    Returns
    -------
    Catalog
        Nothing is read beyond ``properties``, ``partition_info.csv`` and ``_common_metadata``.
    """
    from kernel_lib.release.manifest import Release, ReleaseError

    director: tuple[str, str, str] | None = None
    path = Path(name_or_path).expanduser()
    if not (path / "partition_info.csv").is_file() and not (path / "collection.properties").is_file():
        rel = release
        if rel is None:
            env = os.environ.get(RELEASE_ENV)
            if not env:
                raise ReleaseError(
                    f"{name_or_path!r} is not a HATS catalog folder and no release is given "
                    f"(pass release= or set ${RELEASE_ENV})"
                )
            rel = env
        rel = rel if isinstance(rel, Release) else Release.open(Path(rel))
        path = rel.catalog_path(str(name_or_path))
        entry = rel.catalogs[str(name_or_path)]
        if margin is None and entry.get("margin"):
            margin = str(rel.resolve(entry["margin"]))
        if entry.get("director"):
            key, table, table_key = entry["director"]
            director = (str(key), str(table), str(table_key))
    path, margin_path = _open_path(path, Path(margin) if margin is not None else None)
    layout = read_layout(path)
    cat = Catalog(layout, margin=_margin_layout(layout.path, margin_path), director=director)
    if director is None and layout.properties.get("dataproduct_type") == "source":
        # our HATS writer marks dependent (director-sharded) tables as source catalogs
        spec = layout.schema.metadata or {}
        if spec.get(b"lsstbox.table"):
            director = _director_from_schema(layout)
            cat = replace(cat, director=director)
    return cat.select(columns) if columns is not None else cat


def _director_from_schema(layout: HatsLayout) -> tuple[str, str, str] | None:
    """Dependent tables of our releases, opened by path: look their director up in our schema."""
    from kernel_lib.release.schema import TABLES

    name = (layout.schema.metadata or {}).get(b"lsstbox.table", b"").decode()
    spec = TABLES.get(name)
    return spec.director if spec is not None else None
