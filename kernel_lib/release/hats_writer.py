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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cdshealpix.nested as hpn
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.coordinates import Latitude, Longitude
from hats.catalog import CatalogType, PartitionInfo, TableProperties
from hats.io import paths, write_parquet_metadata
from hats.io.parquet_metadata import write_voparquet_in_common_metadata
from hats.pixel_math import HealpixPixel, get_margin
from hats.pixel_math.spatial_index import SPATIAL_INDEX_COLUMN, SPATIAL_INDEX_ORDER, compute_spatial_index

from .catalogs import CatalogData
from .schema import TableSpec, arrow_schema

__all__ = ["HatsResult", "write_hats_catalog"]


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
        pq.write_table(table.slice(s, e - s), path, row_group_size=row_group_rows, compression="zstd")
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


def write_hats_catalog(
    data: CatalogData,
    spec: TableSpec,
    out_dir: Path,
    *,
    order: int,
    row_group_rows: int = 2048,
    margin_arcsec: float | None = 5.0,
    progress: Callable[[int], None] | None = None,
) -> HatsResult:
    """Write ``data`` as a HATS catalog ``out_dir/<name>`` (and its margin ``<name>_margin``)."""
    ra = np.asarray(data.shard_ra, float) % 360.0
    dec = np.asarray(data.shard_dec, float)
    spatial = compute_spatial_index(ra, dec)
    schema = arrow_schema(spec)
    table = pa.Table.from_pandas(data.frame, schema=schema, preserve_index=False)
    table = table.append_column(pa.field(SPATIAL_INDEX_COLUMN, pa.int64()), pa.array(spatial, pa.int64()))
    shift = 2 * (SPATIAL_INDEX_ORDER - order)
    pixels = (spatial >> shift).astype(np.int64)
    base = out_dir / spec.name
    written = _write_leaves(base, table, pixels, order, row_group_rows)
    kind = CatalogType.OBJECT if spec.director is None else CatalogType.SOURCE
    props = _properties(spec, spec.name, len(table), kind)
    _finish(base, spec, written, props)
    if progress:
        progress(1)
    margin_path, margin_rows = None, 0
    if margin_arcsec:
        margin_path, margin_rows = _write_margin(
            table, ra, dec, pixels, written, spec, out_dir, order, margin_arcsec, row_group_rows
        )
    return HatsResult(spec.name, base, len(table), len(written), margin_path, margin_rows)


def _write_margin(
    table: pa.Table,
    ra: np.ndarray,
    dec: np.ndarray,
    pixels: np.ndarray,
    written: list[HealpixPixel],
    spec: TableSpec,
    out_dir: Path,
    order: int,
    margin_arcsec: float,
    row_group_rows: int,
) -> tuple[Path, int]:
    m_order = max(_margin_order(order, margin_arcsec), order + 1)
    delta = m_order - order
    fine = np.asarray(hpn.lonlat_to_healpix(Longitude(ra, "deg"), Latitude(dec, "deg"), m_order), np.int64)
    pieces, piece_pix = [], []
    for hp in written:
        ring = np.asarray(get_margin(order, hp.pixel, delta), dtype=np.int64)
        sel = np.isin(fine, ring) & (pixels != hp.pixel)
        if sel.any():
            idx = np.flatnonzero(sel)
            pieces.append(table.take(pa.array(idx)))
            piece_pix.append(np.full(len(idx), hp.pixel, dtype=np.int64))
    name = f"{spec.name}_margin"
    base = out_dir / name
    if pieces:
        mtable = pa.concat_tables(pieces)
        mpix = np.concatenate(piece_pix)
    else:
        mtable, mpix = table.slice(0, 0), np.zeros(0, dtype=np.int64)
    mwritten = _write_leaves(base, mtable, mpix, order, row_group_rows) if len(mtable) else []
    if not mwritten:  # keep a valid, empty margin catalog: one empty leaf for the first partition
        hp = written[0]
        path = Path(str(paths.pixel_catalog_file(base, hp)))
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(0, 0), path)
        mwritten = [hp]
    props = _properties(
        spec,
        name,
        len(mtable),
        CatalogType.MARGIN,
        primary_catalog=spec.name,
        margin_threshold=margin_arcsec,
    )
    _finish(base, spec, mwritten, props)
    return base, len(mtable)
