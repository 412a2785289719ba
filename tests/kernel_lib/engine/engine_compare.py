"""Comparing an engine result with the reference: multisets of rows, floats with a tolerance."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pyarrow as pa

REL_TOL = 1e-9
ABS_TOL = 1e-9


def _norm(v: Any) -> Any:
    if isinstance(v, Decimal):
        v = float(v) if v != v.to_integral_value() else int(v)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, list):
        return tuple(_norm(x) for x in v)
    return v


def _rows(t: pa.Table) -> list[tuple[Any, ...]]:
    cols = [[_norm(v) for v in c.to_pylist()] for c in t.columns]
    return list(zip(*cols, strict=True)) if cols else []


def _key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    out = []
    for v in row:
        if v is None:
            out.append((0, 0))
        elif isinstance(v, float) and math.isnan(v):
            out.append((1, 0))
        elif isinstance(v, int):
            out.append((2, v))
        elif isinstance(v, float):
            out.append((2, round(v, 6)))
        else:
            out.append((3, str(v)))
    return tuple(out)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return a == b


def same_rows(got: pa.Table, ref: pa.Table, ordered: bool) -> str | None:
    """None if equal, else a short description of the first difference."""
    if got.column_names != ref.column_names:
        return f"columns {got.column_names} != {ref.column_names}"
    if got.num_rows != ref.num_rows:
        return f"{got.num_rows} rows != {ref.num_rows}"
    a, b = _rows(got), _rows(ref)
    if not ordered:
        a, b = sorted(a, key=_key), sorted(b, key=_key)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if not _close(x, y):
            return f"row {i}: {x} != {y}"
    return None
