"""Positional crossmatch of two HATS catalogs, partition by partition, exact at partition edges.

For each partition ``L`` of the left catalog, and each right partition ``R`` overlapping it, the
left rows lying in ``R`` are matched against ``R``'s rows plus ``R``'s margin (every right row
within ``margin_arcsec`` outside ``R``): since the radius is at most the margin threshold,
every right row within the radius of such a left row is a candidate, so the result is the same
as a global match.  Left rows in no right partition (the right catalog has no rows there), or
every left row if the right catalog has no usable margin, are matched against the right rows
read from ``L``'s neighbourhood (``L`` grown by the radius; row groups pruned to it).

Matching uses a ``scipy.spatial.cKDTree`` on unit vectors; separations are returned in arcsec
in the ``_dist_arcsec`` column.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.spatial import cKDTree

from . import healpix as hp
from .execute import LazyFrame
from .io import SPATIAL_INDEX, ReadPlan, arrow_to_pandas, read_leaf
from .search import RangesPrune

if TYPE_CHECKING:
    from .catalog import Catalog

__all__ = ["DIST_COLUMN", "crossmatch", "match_positions"]

DIST_COLUMN = "_dist_arcsec"


def match_positions(
    left_ra: np.ndarray,
    left_dec: np.ndarray,
    right_ra: np.ndarray,
    right_dec: np.ndarray,
    radius_arcsec: float,
    *,
    n_neighbors: int = 1,
    all_within: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(left index, right index, separation in arcsec)`` within ``radius_arcsec``.

    ``n_neighbors`` nearest per left row (strictly within the radius), or every right row within
    the radius (inclusive) with ``all_within=True``.  Pairs are sorted by left index, then separation.
    """
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, float))
    if len(left_ra) == 0 or len(right_ra) == 0:
        return empty
    lxyz, rxyz = hp.unit_vectors(left_ra, left_dec), hp.unit_vectors(right_ra, right_dec)
    chord = hp.chord_for_arcsec(radius_arcsec)
    tree = cKDTree(rxyz)
    if all_within:
        lists = tree.query_ball_point(lxyz, r=chord)
        counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
        li = np.repeat(np.arange(len(lxyz)), counts)
        ri = np.fromiter((j for x in lists for j in x), dtype=np.int64, count=int(counts.sum()))
        d = np.linalg.norm(lxyz[li] - rxyz[ri], axis=1)
    else:
        k = int(n_neighbors)
        dist, idx = tree.query(lxyz, k=k, distance_upper_bound=chord)
        dist, idx = dist.reshape(len(lxyz), k), idx.reshape(len(lxyz), k)
        ok = np.isfinite(dist)
        li = np.nonzero(ok)[0]
        ri, d = idx[ok].astype(np.int64), dist[ok]
    sep = np.degrees(2.0 * np.arcsin(np.clip(d / 2.0, 0.0, 1.0))) * 3600.0
    order = np.lexsort((sep, li))
    return li[order], ri[order], sep[order]


@dataclass(frozen=True)
class _Piece:
    lo: int
    hi: int
    files: list[str]
    margin_files: list[str] | None


@dataclass(frozen=True)
class _Part:
    left_files: list[str]
    order: int
    pixel: int
    pieces: list[_Piece]
    neighbour_files: list[str]


@dataclass(frozen=True)
class _Setup:
    left_plan: ReadPlan
    right_plan: ReadPlan
    left_schema: pa.Schema
    right_schema: pa.Schema
    margin_schema: pa.Schema | None
    radius_arcsec: float
    grow_arcsec: float
    n_neighbors: int
    all_within: bool
    left_out: list[str]
    right_out: list[str]
    suffixes: tuple[str, str]


def _read(files: list[str], plan: ReadPlan, schema: pa.Schema) -> pd.DataFrame:
    if not files:
        return arrow_to_pandas(schema.empty_table().select(list(plan.columns)))
    return arrow_to_pandas(read_leaf(files, plan, schema))


def _pair_frame(left: pd.DataFrame, right: pd.DataFrame, s: _Setup, pos: np.ndarray) -> pd.DataFrame:
    lra, ldec = s.left_plan.ra_column, s.left_plan.dec_column
    rra, rdec = s.right_plan.ra_column, s.right_plan.dec_column
    li, ri, sep = match_positions(
        left[lra].to_numpy(float),
        left[ldec].to_numpy(float),
        right[rra].to_numpy(float),
        right[rdec].to_numpy(float),
        s.radius_arcsec,
        n_neighbors=s.n_neighbors,
        all_within=s.all_within,
    )
    lpart = left[s.left_out].iloc[li].reset_index(drop=True).add_suffix(s.suffixes[0])
    rpart = right[s.right_out].iloc[ri].reset_index(drop=True).add_suffix(s.suffixes[1])
    out = pd.concat([lpart, rpart], axis=1)
    out[DIST_COLUMN] = sep
    out["__pos"] = pos[li]
    return out


def _match_part(part: _Part, setup: _Setup, meta: pd.DataFrame) -> pd.DataFrame:
    s = setup
    left = _read(part.left_files, s.left_plan, s.left_schema)
    if left.empty:
        return meta.copy()
    h = left[SPATIAL_INDEX].to_numpy(np.int64)
    pos = np.arange(len(left))
    done = np.zeros(len(left), dtype=bool)
    frames = []
    for piece in part.pieces:
        if piece.margin_files is None or s.margin_schema is None:
            continue
        m = (h >= piece.lo) & (h < piece.hi)
        if not m.any():
            continue
        done |= m
        right = pd.concat(
            [
                _read(piece.files, s.right_plan, s.right_schema),
                _read(piece.margin_files, s.right_plan, s.margin_schema),
            ],
            ignore_index=True,
        )
        frames.append(_pair_frame(left[m].reset_index(drop=True), right, s, pos[m]))
    if not done.all():  # the neighbourhood of L, read from the right partitions themselves
        grown = hp.moc_ranges(hp.dilate(hp.pixel_moc(part.order, part.pixel), s.grow_arcsec))
        plan = replace(s.right_plan, searches=(*s.right_plan.searches, RangesPrune(grown)))
        files = [f for p in part.pieces for f in p.files] + part.neighbour_files
        right = _read(files, plan, s.right_schema)
        rest = ~done
        frames.append(_pair_frame(left[rest].reset_index(drop=True), right, s, pos[rest]))
    frames = [f for f in frames if len(f)]
    if not frames:
        return meta.copy()
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    out = out.sort_values(["__pos", DIST_COLUMN], kind="stable").drop(columns="__pos")
    return out.reset_index(drop=True)


def crossmatch(
    left: Catalog,
    right: Catalog,
    radius_arcsec: float = 1.0,
    *,
    n_neighbors: int = 1,
    all_within: bool = False,
    suffixes: tuple[str, str] | None = None,
) -> LazyFrame:
    """Crossmatch ``left`` with ``right`` (see the module docstring); a lazy result.

    Parameters
    ----------
    left, right
        Catalogs, with their projections, predicates and searches applied to both sides.
    radius_arcsec
        Match radius.  If it exceeds the right margin's threshold the margin is not used and
        neighbouring partitions are read instead (still exact, more I/O).
    n_neighbors
        How many nearest right rows to keep per left row.
    all_within
        Keep every right row within the radius instead.
    suffixes
        Appended to the left and right column names; default ``("_<left name>", "_<right name>")``.

    Returns
    -------
    LazyFrame
        Columns of both sides (suffixed) and ``_dist_arcsec``, one task per left partition.
    """
    if radius_arcsec <= 0 or n_neighbors < 1:
        raise ValueError("crossmatch needs radius_arcsec > 0 and n_neighbors >= 1")
    suffixes = suffixes or (f"_{left.name}", f"_{right.name}")
    margin = right.margin
    grow = float(radius_arcsec) + right.dilate_arcsec + left.dilate_arcsec
    if margin is not None and (margin.margin_arcsec or 0.0) < grow:
        margin = None  # too narrow to hold every candidate: read the neighbourhood instead
    setup = _Setup(
        left_plan=left.read_plan(extra=[left.ra_column, left.dec_column, SPATIAL_INDEX]),
        right_plan=right.read_plan(extra=[right.ra_column, right.dec_column]),
        left_schema=left.layout.schema,
        right_schema=right.layout.schema,
        margin_schema=margin.schema if margin is not None else None,
        radius_arcsec=float(radius_arcsec),
        grow_arcsec=grow,
        n_neighbors=int(n_neighbors),
        all_within=bool(all_within),
        left_out=left.columns,
        right_out=right.columns,
        suffixes=suffixes,
    )
    ri = right.partition_indices()
    r_lo, r_hi = hp.pixel_ranges(right.layout.orders[ri], right.layout.pixels[ri])
    margin_index: dict[tuple[int, int], int] = {}
    if margin is not None:
        margin_index = {
            (int(o), int(p)): k for k, (o, p) in enumerate(zip(margin.orders, margin.pixels, strict=True))
        }
    parts = []
    for i in left.partition_indices():
        order, pixel = int(left.layout.orders[i]), int(left.layout.pixels[i])
        lo, hi = hp.pixel_ranges(np.array([order]), np.array([pixel]))
        pieces = []
        for j in hp.overlapping(r_lo, r_hi, int(lo[0]), int(hi[0])):
            key = (int(right.layout.orders[ri[j]]), int(right.layout.pixels[ri[j]]))
            mfiles: list[str] | None = None
            if margin is not None:
                k = margin_index.get(key)
                mfiles = margin.leaf_files(k) if k is not None else []
            pieces.append(_Piece(int(r_lo[j]), int(r_hi[j]), right.layout.leaf_files(int(ri[j])), mfiles))
        near: set[int] = set()
        for nlo, nhi in hp.neighbour_ranges(order, pixel):
            near.update(int(j) for j in hp.overlapping(r_lo, r_hi, int(nlo), int(nhi)))
        near -= {int(j) for j in hp.overlapping(r_lo, r_hi, int(lo[0]), int(hi[0]))}
        nfiles = [f for j in sorted(near) for f in right.layout.leaf_files(int(ri[j]))]
        if not pieces and not nfiles:
            continue  # nothing of the right catalog anywhere near this partition
        parts.append(_Part(left.layout.leaf_files(int(i)), order, pixel, pieces, nfiles))
    meta = pd.concat(
        [left.meta().add_suffix(suffixes[0]), right.meta().add_suffix(suffixes[1])], axis=1
    ).assign(**{DIST_COLUMN: pd.Series([], dtype=float)})
    fn = functools.partial(_match_part, setup=setup, meta=meta)
    return LazyFrame(fn, parts, meta, name=f"crossmatch-{left.name}-{right.name}")
