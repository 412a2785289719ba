"""Tables as the sky overlays see them: column names, position columns as float64, ids, rows.

Shared by :class:`kernel_lib.widgets.sky.SkyView` and the lab's link to notebook variables
(:mod:`kernel_lib.link`); numpy only, so that importing it loads no widget machinery.
Works on pandas DataFrames, astropy Tables, pyarrow Tables, numpy record arrays and mappings of
arrays.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

#: Position columns looked for, in this order, case-insensitively.
RA_NAMES = ("coord_ra", "ra", "ra_deg", "raj2000", "_raj2000", "ra_icrs", "s_ra", "radeg", "ra_j2000")
DEC_NAMES = (
    "coord_dec",
    "dec",
    "dec_deg",
    "dej2000",
    "decj2000",
    "_dej2000",
    "de_icrs",
    "dec_icrs",
    "s_dec",
    "decdeg",
    "dec_j2000",
)


def guess_column(columns: Iterable[str], names: Iterable[str]) -> str | None:
    """The first of ``names`` (lower case) among ``columns``, case-insensitively; ``None`` if none."""
    by_lower: dict[str, str] = {}
    for c in columns:
        by_lower.setdefault(c.lower(), c)
    return next((by_lower[n] for n in names if n in by_lower), None)


#: Default overlay colours, in order of the layers added.
PALETTE = ("#00e5ff", "#ffd600", "#ff4081", "#76ff03", "#ff9100", "#e040fb")

#: Id columns looked for, in this order, when ``add_catalog``/``add_footprints`` get no ``id=``.
ID_COLUMNS = (
    "objectId",
    "diaObjectId",
    "ssObjectId",
    "sourceId",
    "diaSourceId",
    "forcedSourceId",
    "ccdVisitId",
    "visitId",
    "obs_publisher_did",
    "obs_id",
    "id",
)

#: ``add_catalog`` sends float32 offsets (not float64 positions) when the rows span less than this.
F32_SPAN = 10.0

SHAPES = ("circle", "square", "plus", "cross", "rhomb", "triangle")

#: What :func:`json_scalar` returns for a value that is no scalar (an array, a list, a mapping...).
NOT_SCALAR: Any = object()


def json_scalar(value: Any, unwrap: Callable[[Any], Any]) -> Any:
    """One scalar table cell as JSON: integers beyond 2**53 as strings (JavaScript numbers would
    round them), NaN/inf/NA/masked as ``None``, bytes decoded, times as ISO strings; an astropy
    Quantity's value goes to ``unwrap`` (it may be an array); :data:`NOT_SCALAR` for the rest."""
    if value is None or value is np.ma.masked:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        i = int(value)
        return i if abs(i) <= 2**53 else str(i)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace")
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if hasattr(value, "unit") and hasattr(value, "value"):  # astropy Quantity
        return unwrap(value.value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, np.datetime64 | np.timedelta64):
        return None if np.isnat(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return json_scalar(float(value), unwrap)
    return NOT_SCALAR


def _columns_of(table: Any) -> list[str]:
    """Column names of a pandas/astropy/pyarrow table, a numpy record array or a mapping."""
    if hasattr(table, "compute") and not hasattr(table, "iloc"):
        raise TypeError(
            f"{type(table).__name__} is lazy: compute it first (e.g. .compute() or .head(n)) to draw its rows"
        )
    if hasattr(table, "to_table") and not hasattr(table, "colnames"):  # pyvo results
        raise TypeError("pass results.to_table() (a pyvo result set is not a table)")
    for attr in ("colnames", "column_names"):
        if hasattr(table, attr):
            return list(getattr(table, attr))
    if hasattr(table, "columns"):
        return [str(c) for c in table.columns]
    names = getattr(getattr(table, "dtype", None), "names", None)
    if names:
        return list(names)
    if isinstance(table, Mapping):
        return [str(k) for k in table]
    raise TypeError(f"cannot read columns from {type(table).__name__}: pass a DataFrame or an astropy Table")


def _column(table: Any, name: str) -> np.ndarray:
    col = table[name]
    if hasattr(col, "filled") and getattr(col, "mask", None) is not None and np.ma.is_masked(col):
        col = col.filled(np.nan) if np.issubdtype(col.dtype, np.floating) else col.filled()
    values = getattr(col, "value", col)  # astropy Quantity/Column
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        values = values.to_numpy()
    return np.asarray(values)


def _sky_rows(table: Any, ra: str, dec: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """The table's columns, its ``ra``/``dec`` columns as float64 and the positions of the rows
    with finite coordinates (``KeyError`` when ``ra`` or ``dec`` is not a column)."""
    columns = _columns_of(table)
    for c in (ra, dec):
        if c not in columns:
            raise KeyError(f"no column {c!r} (columns: {', '.join(columns)}); pass ra=/dec=")
    ra_v = _column(table, ra).astype("f8", copy=False)
    dec_v = _column(table, dec).astype("f8", copy=False)
    keep = np.isfinite(ra_v) & np.isfinite(dec_v) & (np.abs(dec_v) <= 90)
    return columns, ra_v, dec_v, np.flatnonzero(keep)


def _pick_id_column(columns: Sequence[str], id: str | bool | None) -> str | None:
    if id is False:
        return None
    if isinstance(id, str):
        if id not in columns:
            raise KeyError(f"no column {id!r} (columns: {', '.join(columns)})")
        return id
    return next((c for c in ID_COLUMNS if c in columns), None)


def _positions(ra: np.ndarray, dec: np.ndarray) -> tuple[dict[str, Any], list[bytes]]:
    """RA/Dec buffers for the view: float32 offsets from a reference point when the rows span
    less than :data:`F32_SPAN` degrees (8 bytes a row, resolution better than 4 mas), else float64."""
    if len(ra) == 0:
        return {"coords": "f64"}, [b"", b""]
    ra0, dec0 = float(ra[0]), float(np.median(dec))
    dra = (ra - ra0 + 180.0) % 360.0 - 180.0
    ddec = dec - dec0
    if max(float(np.abs(dra).max()), float(np.abs(ddec).max())) <= F32_SPAN:
        return {"coords": "f32-offsets", "ref": [ra0, dec0]}, [
            np.ascontiguousarray(dra, dtype="<f4").tobytes(),
            np.ascontiguousarray(ddec, dtype="<f4").tobytes(),
        ]
    return {"coords": "f64"}, [_f64(ra), _f64(dec)]


def _f64(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


def _take(table: Any, rows: np.ndarray) -> Any:
    """The given rows of a table, in the table's own type where it has one."""
    if hasattr(table, "colnames"):  # astropy (before iloc: its Table.iloc needs an index)
        return table[rows]
    if hasattr(table, "iloc"):
        return table.iloc[rows]
    if hasattr(table, "take") and hasattr(table, "column_names"):  # pyarrow
        return table.take(rows)
    if isinstance(table, Mapping):
        return {k: np.asarray(v)[rows] for k, v in table.items()}
    return np.asarray(table)[rows]
