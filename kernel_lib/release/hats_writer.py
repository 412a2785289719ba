"""Write catalogs in the HATS format (readable by ``hats.read_hats`` and ``lsdb.open_catalog``).

Unlike hats-import, leaves hold several row groups sorted by ``_healpix_29`` so that a small
cone reads kilobytes rather than a whole partition, and dependent tables are partitioned by
their director's position (Qserv's director/dependent idea) so joins stay inside a partition.
Margin catalogs hold, for every partition, the rows of neighbouring partitions that lie
within ``margin_arcsec`` of it (a superset bounded by the size of a HEALPix pixel of the margin
order, see :func:`_margin_order`).

All HEALPix arithmetic goes through ``hats.pixel_math`` / ``cdshealpix``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hats.catalog import CatalogType, PartitionInfo, TableProperties
from hats.io import paths, write_parquet_metadata
from hats.io.parquet_metadata import write_voparquet_in_common_metadata
from hats.pixel_math import HealpixPixel, get_margin
from hats.pixel_math.spatial_index import SPATIAL_INDEX_COLUMN, SPATIAL_INDEX_ORDER, compute_spatial_index

from .catalogs import CatalogData
from .schema import TableSpec, arrow_schema

__all__ = ["DEFAULT_ROW_GROUP_ROWS", "HatsResult", "HatsWriter", "write_hats_catalog"]

#: rows per Parquet row group.  Measured on a 270 k-row leaf of the 20 M-row benchmark catalog:
#: 2048-row groups cost 2.2x (pyarrow) / 1.8x (DuckDB) the read time of 16 k-row groups, and
#: 16 k rows still let a 0.1 deg cone read one group of a partition.
DEFAULT_ROW_GROUP_ROWS = 16384
#: Parquet codec of the leaves.  On a 270 k-row leaf of the benchmark catalog (floats compress
#: poorly): lz4 reads in 13 ms, zstd in 24 ms, for files 14 % larger.  Scans are decode-bound.
LEAF_COMPRESSION = "lz4"


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth dictionary encoding: strings, booleans and small integers -- not floats,
    64-bit ids or ``_healpix_29``, which are nearly unique.  pyarrow's default (every column)
    dictionary-encodes their first page before falling back: 1.6x slower scans (DuckDB,
    ``SELECT *`` with a predicate over 20 M rows: 0.56 s vs 0.34 s) for 27 % more bytes."""
    out = []
    for f in schema:
        t = f.type
        if f.name == SPATIAL_INDEX_COLUMN or pa.types.is_floating(t) or pa.types.is_int64(t):
            continue
        if pa.types.is_uint64(t) or pa.types.is_timestamp(t) or pa.types.is_decimal(t):
            continue
        out.append(f.name)
    return out


@dataclass(frozen=True)
class HatsResult:
    name: str
    path: Path
    rows: int
    partitions: int
    margin_path: Path | None
    margin_rows: int


def _margin_order(partition_order: int, margin_arcsec: float) -> int:
    """Highest order whose pixels are still at least ``margin_arcsec`` wide."""
    order = partition_order
    while order < 28:
        size = math.degrees(math.sqrt(4 * math.pi / (12 * 4 ** (order + 1)))) * 3600.0
        if size < margin_arcsec:
            break
        order += 1
    return order


def _write_leaves(
    base: Path, table: pa.Table, pixels: np.ndarray, order: int, row_group_rows: int
) -> list[HealpixPixel]:
    written = []
    sort_keys = np.lexsort((table.column(SPATIAL_INDEX_COLUMN).to_numpy(), pixels))
    table = table.take(pa.array(sort_keys))
    pixels = pixels[sort_keys]
    bounds = np.flatnonzero(np.diff(pixels)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(pixels)]])
    for s, e in zip(starts, ends, strict=True):
        if e <= s:
            continue
        hp = HealpixPixel(order, int(pixels[s]))
        path = Path(str(paths.pixel_catalog_file(base, hp)))
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            table.slice(s, e - s),
            path,
            row_group_size=row_group_rows,
            compression=LEAF_COMPRESSION,
            use_dictionary=dictionary_columns(table.schema),
        )
        written.append(hp)
    return written


def _properties(spec: TableSpec, name: str, rows: int, kind: CatalogType, **extra) -> TableProperties:
    fields: dict[str, Any] = {
        "catalog_name": name,
        "catalog_type": kind,
        "total_rows": rows,
        "ra_column": spec.ra_column,
        "dec_column": spec.dec_column,
        "obs_title": spec.description,
        **extra,
    }
    return TableProperties(**fields)


def _finish(base: Path, spec: TableSpec, pixels: list[HealpixPixel], props: TableProperties) -> None:
    PartitionInfo.from_healpix(pixels).write_to_file(catalog_path=base)
    write_parquet_metadata(base)
    write_voparquet_in_common_metadata(
        base,
        field_units={c.name: c.unit for c in spec.columns if c.unit},
        field_ucds={c.name: c.ucd for c in spec.columns if c.ucd},
        field_descriptions={c.name: c.description for c in spec.columns if c.description},
    )
    props.to_properties_file(base)


class HatsWriter:
    """Write one HATS catalog leaf by leaf, then its margin catalog and metadata.

    ``add`` may be called many times (the ``large`` profile streams one partition at a time);
    each call writes complete leaves, so a pixel may appear in one call only.  ``finish``
    builds the margin catalog by reading the leaves back once: a leaf's rows whose
    margin-order pixel borders a neighbouring partition go to that partition's margin.
    """

    def __init__(
        self,
        spec: TableSpec,
        out_dir: Path,
        *,
        order: int,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        margin_arcsec: float | None = 5.0,
    ) -> None:
        self.spec, self.out_dir, self.order = spec, out_dir, order
        self.row_group_rows, self.margin_arcsec = row_group_rows, margin_arcsec
        self.base = out_dir / spec.name
        self.schema = arrow_schema(spec)
        self.written: list[HealpixPixel] = []
        self.rows = 0

    def add(self, frame: pd.DataFrame, shard_ra: np.ndarray, shard_dec: np.ndarray) -> None:
        """Write the rows of ``frame``, partitioned by (``shard_ra``, ``shard_dec``)."""
        ra = np.asarray(shard_ra, float) % 360.0
        spatial = compute_spatial_index(ra, np.asarray(shard_dec, float))
        table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        table = table.append_column(pa.field(SPATIAL_INDEX_COLUMN, pa.int64()), pa.array(spatial, pa.int64()))
        pixels = (spatial >> (2 * (SPATIAL_INDEX_ORDER - self.order))).astype(np.int64)
        done = {hp.pixel for hp in self.written}
        if done.intersection(np.unique(pixels).tolist()):
            raise ValueError(f"{self.spec.name}: a partition was written twice")
        self.written += _write_leaves(self.base, table, pixels, self.order, self.row_group_rows)
        self.rows += len(table)

    def finish(self) -> HatsResult:
        if not self.written:
            raise ValueError(f"{self.spec.name}: no rows to write")
        kind = CatalogType.OBJECT if self.spec.director is None else CatalogType.SOURCE
        _finish(self.base, self.spec, self.written, _properties(self.spec, self.spec.name, self.rows, kind))
        margin_path, margin_rows = None, 0
        if self.margin_arcsec:
            margin_path, margin_rows = self._write_margin()
        return HatsResult(self.spec.name, self.base, self.rows, len(self.written), margin_path, margin_rows)

    def _write_margin(self) -> tuple[Path, int]:
        order, arcsec = self.order, float(self.margin_arcsec or 0.0)
        m_order = max(_margin_order(order, arcsec), order + 1)
        delta = m_order - order
        shift = 2 * (SPATIAL_INDEX_ORDER - m_order)
        present = {hp.pixel for hp in self.written}
        rings: dict[int, np.ndarray] = {}

        def ring(pix: int) -> np.ndarray:
            if pix not in rings:
                rings[pix] = np.asarray(get_margin(order, pix, delta), dtype=np.int64)
            return rings[pix]

        pieces: dict[int, list[pa.Table]] = {}
        for hp in self.written:
            # partitions whose margin this leaf can feed: its neighbours at the partition order
            neighbours = set((ring(hp.pixel) >> (2 * delta)).tolist()) & present
            neighbours.discard(hp.pixel)
            if not neighbours:
                continue
            table = pq.read_table(Path(str(paths.pixel_catalog_file(self.base, hp))), schema=None)
            fine = table.column(SPATIAL_INDEX_COLUMN).to_numpy() >> shift
            for q in sorted(neighbours):
                sel = np.flatnonzero(np.isin(fine, ring(q)))
                if len(sel):
                    pieces.setdefault(q, []).append(table.take(pa.array(sel)))
        name = f"{self.spec.name}_margin"
        base = self.out_dir / name
        mwritten, mrows = [], 0
        for q in sorted(pieces):
            t = pa.concat_tables(pieces[q])
            mrows += len(t)
            mwritten += _write_leaves(base, t, np.full(len(t), q, dtype=np.int64), order, self.row_group_rows)
        if not mwritten:  # keep a valid, empty margin catalog: one empty leaf for the first partition
            hp = self.written[0]
            path = Path(str(paths.pixel_catalog_file(base, hp)))
            path.parent.mkdir(parents=True, exist_ok=True)
            empty = self.schema.append(pa.field(SPATIAL_INDEX_COLUMN, pa.int64())).empty_table()
            pq.write_table(empty, path)
            mwritten = [hp]
        props = _properties(
            self.spec,
            name,
            mrows,
            CatalogType.MARGIN,
            primary_catalog=self.spec.name,
            margin_threshold=arcsec,
        )
        _finish(base, self.spec, mwritten, props)
        return base, mrows


def write_hats_catalog(
    data: CatalogData,
    spec: TableSpec,
    out_dir: Path,
    *,
    order: int,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    margin_arcsec: float | None = 5.0,
) -> HatsResult:
    """Write ``data`` as a HATS catalog ``out_dir/<name>`` (and its margin ``<name>_margin``)."""
    writer = HatsWriter(
        spec, out_dir, order=order, row_group_rows=row_group_rows, margin_arcsec=margin_arcsec
    )
    writer.add(data.frame, data.shard_ra, data.shard_dec)
    return writer.finish()
