"""Director/dependent joins that stay inside a partition, and nested light curves.

Our dependent tables (Source, ForcedSource by Object; DiaSource, ForcedSourceOnDiaObject by
DiaObject) are sharded by their director's position and carry its ``_healpix_29``, so the rows
joining a director partition live in the dependent partitions overlapping it: a join on the key
is a per-partition ``pandas.merge`` and never shuffles.  The director's searches also prune the
dependent's row groups (both are sorted by the director's ``_healpix_29``).

:func:`nest` returns a nested-pandas ``NestedFrame`` -- one row per director row with its
dependent rows as a nested table, the convention of LSDB and nested-pandas for light curves.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from . import healpix as hp
from .execute import LazyFrame
from .io import SPATIAL_INDEX, ReadPlan, arrow_to_pandas, read_leaf
from .search import RangesPrune

if TYPE_CHECKING:
    from .catalog import Catalog

__all__ = ["join", "nest"]

#: the join kinds supported inside a partition.
JoinHow = Literal["inner", "left"]


@dataclass(frozen=True)
class _Part:
    left_files: list[str]
    lo: int
    hi: int
    right_files: list[str]
    clip: bool  # some right partition is coarser than the left one: keep its rows inside [lo, hi)


@dataclass(frozen=True)
class _Setup:
    left_plan: ReadPlan
    right_plan: ReadPlan
    left_schema: pa.Schema
    right_schema: pa.Schema
    on: str
    right_out: list[str]


def _check(left: Catalog, right: Catalog, on: str, colocated: bool) -> None:
    if not colocated and (right.director is None or right.director[1] != left.name):
        raise ValueError(
            f"{right.name} is not sharded by {left.name} (director: {right.director}); a join on {on!r} "
            "would not stay inside partitions. Pass colocated=True if you know it does."
        )
    for cat in (left, right):
        if on not in cat.all_columns:
            raise KeyError(f"{cat.name} has no column {on!r}")


def _parts(left: Catalog, right: Catalog) -> list[_Part]:
    ri = np.arange(len(right.layout.pixels))
    r_lo, r_hi = hp.pixel_ranges(right.layout.orders, right.layout.pixels)
    out = []
    for i in left.partition_indices():
        lo, hi = hp.pixel_ranges(left.layout.orders[i : i + 1], left.layout.pixels[i : i + 1])
        js = hp.overlapping(r_lo, r_hi, int(lo[0]), int(hi[0]))
        files = [f for j in js for f in right.layout.leaf_files(int(ri[j]))]
        clip = bool(np.any(right.layout.orders[js] < left.layout.orders[i]))
        out.append(_Part(left.layout.leaf_files(int(i)), int(lo[0]), int(hi[0]), files, clip))
    return out


def _setup(left: Catalog, right: Catalog, on: str) -> _Setup:
    rplan = right.read_plan(extra=[on, SPATIAL_INDEX])
    # the director's regions prune the dependent's row groups (same _healpix_29 values)
    prune = tuple(RangesPrune(s.ranges(left.dilate_arcsec)) for s in left.searches)
    rplan = replace(rplan, searches=(*rplan.searches, *prune))
    return _Setup(
        left_plan=left.read_plan(extra=[on]),
        right_plan=rplan,
        left_schema=left.layout.schema,
        right_schema=right.layout.schema,
        on=on,
        right_out=[c for c in right.columns if c != on] or [],
    )


def _read_pair(part: _Part, s: _Setup) -> tuple[pd.DataFrame, pd.DataFrame]:
    left = arrow_to_pandas(read_leaf(part.left_files, s.left_plan, s.left_schema))
    if left.empty or not part.right_files:
        right = arrow_to_pandas(s.right_schema.empty_table().select(list(s.right_plan.columns)))
        return left, right
    right = arrow_to_pandas(read_leaf(part.right_files, s.right_plan, s.right_schema))
    if part.clip:
        h = right[SPATIAL_INDEX].to_numpy(np.int64)
        right = right[(h >= part.lo) & (h < part.hi)]
    return left, right


def _join_part(part: _Part, s: _Setup, how: JoinHow, suffix: str, left_out: list[str]) -> pd.DataFrame:
    left, right = _read_pair(part, s)
    merged = pd.merge(left[left_out], right[[s.on, *s.right_out]], on=s.on, how=how, suffixes=("", suffix))
    return merged.reset_index(drop=True)


def join(
    left: Catalog,
    right: Catalog,
    on: str,
    *,
    how: JoinHow = "inner",
    suffix: str | None = None,
    colocated: bool = False,
) -> LazyFrame:
    """Join ``right`` (a table sharded by ``left``) to ``left`` on the key ``on``, per partition.

    Parameters
    ----------
    left, right
        The director and the dependent catalog, with their own projections, predicates and
        searches (``left``'s searches also prune ``right``'s row groups).
    on
        The key column, present in both.
    how
        ``"inner"`` or ``"left"`` (left rows without dependents kept).
    suffix
        Appended to ``right`` columns whose names collide with ``left``'s; default ``"_<right name>"``.
    colocated
        Skip the check that ``right`` is sharded by ``left`` (for catalogs not from a release).

    Returns
    -------
    LazyFrame
        One task per left partition.
    """
    if how not in ("inner", "left"):
        raise ValueError("join(how=...) is 'inner' or 'left'")
    _check(left, right, on, colocated)
    suffix = suffix if suffix is not None else f"_{right.name}"
    setup = _setup(left, right, on)
    left_out = list(dict.fromkeys([on, *left.columns])) if on not in left.columns else left.columns
    lmeta = left.meta(extra=[on])[left_out]
    rmeta = right.meta(extra=[on])[[on, *setup.right_out]]
    meta = pd.merge(lmeta, rmeta, on=on, how=how, suffixes=("", suffix))
    fn = functools.partial(_join_part, s=setup, how=how, suffix=suffix, left_out=left_out)
    return LazyFrame(fn, _parts(left, right), meta, name=f"join-{left.name}-{right.name}")


def _nest_part(part: _Part, s: _Setup, name: str, left_out: list[str]) -> pd.DataFrame:
    import nested_pandas as npd

    left, right = _read_pair(part, s)
    base = npd.NestedFrame(left[left_out].set_index(s.on))
    nested = right[[s.on, *s.right_out]].set_index(s.on)
    return base.join_nested(nested, name, how="left")


def nest(left: Catalog, right: Catalog, on: str, *, name: str = "lc", colocated: bool = False) -> LazyFrame:
    """One row per ``left`` row (indexed by ``on``) with its ``right`` rows nested as column ``name``.

    The result computes to a nested-pandas ``NestedFrame``; ``frame[name].nest.to_flat()``
    flattens the light curves again.  Rows without dependents get an empty (``None``) nest.
    """
    _check(left, right, on, colocated)
    setup = _setup(left, right, on)
    left_out = list(dict.fromkeys([on, *left.columns]))
    fn = functools.partial(_nest_part, s=setup, name=name, left_out=left_out)
    meta = _nest_meta(setup, name, left_out, left, right)
    return LazyFrame(fn, _parts(left, right), meta, name=f"nest-{left.name}")


def _nest_meta(s: _Setup, name: str, left_out: list[str], left: Catalog, right: Catalog) -> pd.DataFrame:
    import nested_pandas as npd

    lmeta = left.meta(extra=[s.on])[left_out]
    rmeta = right.meta(extra=[s.on])[[s.on, *s.right_out]]
    return npd.NestedFrame(lmeta.set_index(s.on)).join_nested(rmeta.set_index(s.on), name, how="left")
