"""TAP job results as tables for the web frontend's result grid.

A job's result file (VOTable BINARY2 or TABLEDATA, CSV or VOParquet, as the TAP service wrote it)
is read once into an uncompressed Arrow IPC file beside it (``result.vot.grid.arrow``, removed with the
job's folder), with each column's VOTable ``datatype``, ``unit``, ``ucd`` and ``description`` as
field metadata.  Later requests memory-map that file: a page of a 10⁶-row result reads a few pages
of it, not the whole table.  The row order of a sort and/or filter is computed once and kept in a
small LRU cache, so scrolling a sorted result costs one ``take`` per page.

BINARY2 files with the datatypes this service writes (scalars and ``char`` strings) are decoded with
numpy (plus one compiled pass over the rows to find where variable-length strings end); anything
else goes through astropy.
"""

from __future__ import annotations

import binascii
import html
import math
import re
import threading
import warnings
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "GRID_CACHE",
    "MAX_SAFE_INTEGER",
    "Page",
    "ResultTables",
    "ResultViewError",
    "json_value",
    "read_result",
]

#: the suffix of the cache file next to a result (``result.vot`` -> ``result.vot.grid.arrow``)
GRID_CACHE = ".grid.arrow"
#: integers beyond this lose precision as JavaScript numbers: they are sent as strings
MAX_SAFE_INTEGER = 2**53 - 1
_MD_KEYS = ("datatype", "unit", "ucd", "description", "xtype")


class ResultViewError(ValueError):
    """A sort or filter that cannot apply to the result (unknown column, bad value...)."""


# -- reading result files -------------------------------------------------------------------------


def _votable_datatype(typ: pa.DataType) -> str:
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if pa.types.is_boolean(typ):
        return "boolean"
    if typ == pa.uint8():
        return "unsignedByte"
    if pa.types.is_integer(typ):
        return {1: "short", 2: "short", 4: "int"}.get(typ.byte_width, "long")
    if pa.types.is_floating(typ):
        return "float" if typ.byte_width <= 4 else "double"
    if pa.types.is_decimal(typ):
        return "double"
    return "char"


def _with_metadata(table: pa.Table, described: dict[str, dict[str, str]]) -> pa.Table:
    """``table`` with each field's metadata: ``described[name]`` plus a VOTable datatype."""
    fields = []
    for f in table.schema:
        md = {k: v for k, v in (described.get(f.name) or {}).items() if v}
        md.setdefault("datatype", _votable_datatype(f.type))
        fields.append(pa.field(f.name, f.type, nullable=True, metadata=md))
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields))


def _field_text(field: pa.Field, key: str) -> str:
    return bytes((field.metadata or {}).get(key.encode(), b"")).decode("utf-8", "replace").strip()


def _read_parquet(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    described = {f.name: {k: _field_text(f, k) for k in _MD_KEYS if k != "datatype"} for f in table.schema}
    return _with_metadata(table.replace_schema_metadata(None), described)


def _read_csv(path: Path) -> pa.Table:
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    return _with_metadata(table, {})


# BINARY2 cell sizes and big-endian numpy types of the scalar datatypes
_FIXED: dict[str, tuple[int, str]] = {
    "boolean": (1, "u1"),
    "unsignedByte": (1, "u1"),
    "short": (2, ">i2"),
    "int": (4, ">i4"),
    "long": (8, ">i8"),
    "float": (4, ">f4"),
    "double": (8, ">f8"),
}
_STREAM = re.compile(rb"<DATA>\s*<BINARY2>\s*<STREAM\s+encoding\s*=\s*[\"']base64[\"']\s*>")


def _scan_rows(buf: np.ndarray, flag_bytes: int, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Where each row starts and where each variable-length cell (its 4-byte length) is.

    ``sizes`` holds each column's cell size, -1 for a variable-length string.  Returns
    (row starts, string positions [rows, strings], status): status 0 if the rows fill ``buf``
    exactly, -1 if it is truncated or malformed.
    """
    n = buf.shape[0]
    nvar = 0
    fixed = flag_bytes
    for s in sizes:
        if s < 0:
            nvar += 1
        else:
            fixed += s
    min_row = fixed + 4 * nvar
    cap = n // max(min_row, 1) + 1
    starts = np.empty(cap, np.int64)
    varpos = np.empty((cap, nvar), np.int64)
    pos = 0
    r = 0
    while pos < n:
        if r >= cap:
            return starts[:r], varpos[:r], -1
        starts[r] = pos
        pos += flag_bytes
        k = 0
        for s in sizes:
            if s >= 0:
                pos += s
            else:
                if pos + 4 > n:
                    return starts[:r], varpos[:r], -1
                varpos[r, k] = pos
                length = (
                    (int(buf[pos]) << 24)
                    | (int(buf[pos + 1]) << 16)
                    | (int(buf[pos + 2]) << 8)
                    | int(buf[pos + 3])
                )
                pos += 4 + length
                k += 1
        if pos > n:
            return starts[:r], varpos[:r], -1
        r += 1
    return starts[:r], varpos[:r], 0


_compiled: list[Callable[..., tuple[np.ndarray, np.ndarray, int]]] = []


def _scanner() -> Callable[..., tuple[np.ndarray, np.ndarray, int]]:
    """`_scan_rows`, compiled by numba when it is installed (it comes with datashader)."""
    if not _compiled:
        scan: Callable[..., tuple[np.ndarray, np.ndarray, int]] = _scan_rows
        try:
            import numba

            jit: Any = numba.njit
        except ImportError:  # no numba: the same loop in Python (slow but correct)
            jit = None
        for cache in (True, False) if jit is not None else ():
            try:  # no cache where the package's folder is read-only
                scan = jit(cache=cache, nogil=True)(_scan_rows)
                break
            except Exception:
                continue
        _compiled.append(scan)
    return _compiled[0]


def _gather(buf: np.ndarray, pos: np.ndarray, size: int, dtype: str) -> np.ndarray:
    """The ``size``-byte big-endian cells at ``pos`` as a native numpy array."""
    cells = np.empty((pos.shape[0], size), np.uint8)
    for b in range(size):
        cells[:, b] = buf[pos + b]
    return cells.reshape(-1).view(np.dtype(dtype)).astype(np.dtype(dtype).newbyteorder("="))


def _parse_fields(head: bytes) -> list[dict[str, str]] | None:
    """The FIELDs of the (single) results table, from the document up to its DATA element."""
    try:
        root = ET.fromstring(head + b"</TABLE></RESOURCE></VOTABLE>")
    except ET.ParseError:
        return None
    tables = [el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "TABLE"]
    if len(tables) != 1:
        return None
    fields = []
    for el in tables[0]:
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in ("GROUP", "PARAM"):
            return None  # not one of ours: leave it to astropy
        if tag != "FIELD":
            continue
        info = {k: el.get(k, "") for k in ("name", "ID", "datatype", "arraysize", "unit", "ucd", "xtype")}
        desc = next((c for c in el if c.tag.rsplit("}", 1)[-1] == "DESCRIPTION"), None)
        info["description"] = " ".join((desc.text or "").split()) if desc is not None else ""
        fields.append(info)
    return fields


def _read_binary2(data: bytes) -> pa.Table | None:
    """A BINARY2 VOTable of scalar columns and ``char`` strings as Arrow; None if it is another kind."""
    m = _STREAM.search(data)
    if m is None:
        return None
    head = data[: m.start()]
    fields = _parse_fields(head)
    if not fields:
        return None
    sizes = []
    for f in fields:
        dt, arraysize = f["datatype"], f["arraysize"]
        if dt == "char" and arraysize.rstrip("*") == "" and arraysize:
            sizes.append(-1)
        elif dt in _FIXED and not arraysize:
            sizes.append(_FIXED[dt][0])
        else:
            return None
    end = data.find(b"</STREAM>", m.end())
    if end < 0:
        return None
    raw = binascii.a2b_base64(data[m.end() : end])
    buf = np.frombuffer(raw, np.uint8)
    ncols = len(fields)
    flag_bytes = (ncols + 7) // 8
    size_arr = np.asarray(sizes, np.int64)
    if (size_arr < 0).any():
        starts, varpos, status = _scanner()(buf, flag_bytes, size_arr)
        if status != 0:
            return None
    else:
        row = flag_bytes + int(size_arr.sum())
        if buf.shape[0] % row:
            return None
        starts = np.arange(buf.shape[0] // row, dtype=np.int64) * row
        varpos = np.empty((starts.shape[0], 0), np.int64)
    nrows = starts.shape[0]
    base = starts + flag_bytes  # where the current run of fixed cells starts
    offset = 0
    k = 0
    arrays = []
    for j, (f, size) in enumerate(zip(fields, sizes, strict=True)):
        null = ((buf[starts + j // 8] >> (7 - j % 8)) & 1).astype(bool) if nrows else np.zeros(0, bool)
        if size < 0:
            pos = varpos[:, k]
            k += 1
            lengths = _gather(buf, pos, 4, ">u4").astype(np.int64)
            offsets = np.zeros(nrows + 1, np.int64)
            np.cumsum(lengths, out=offsets[1:])
            index = np.repeat(pos + 4 - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
            text = pa.Array.from_buffers(
                pa.large_string(), nrows, [None, pa.py_buffer(offsets), pa.py_buffer(buf[index].tobytes())]
            )
            try:
                text.validate(full=True)  # not UTF-8: let astropy decode it
            except pa.ArrowInvalid:
                return None
            arrays.append(pc.if_else(pa.array(null), pa.scalar(None, pa.large_string()), text))
            base = pos + 4 + lengths
            offset = 0
            continue
        values = _gather(buf, base + offset, size, _FIXED[f["datatype"]][1])
        offset += size
        if f["datatype"] == "boolean":
            truth = np.isin(values, np.frombuffer(b"Tt1", np.uint8))
            null |= ~(truth | np.isin(values, np.frombuffer(b"Ff0", np.uint8)))
            arrays.append(pa.array(truth, mask=null))
        else:
            arrays.append(pa.array(values, mask=null if null.any() else None))
    names = _unique_names([f["name"] or f["ID"] or f"col{i}" for i, f in enumerate(fields)])
    table = pa.Table.from_arrays(arrays, names=names)
    described = {
        name: {k: html.unescape(f[k]) for k in _MD_KEYS} for name, f in zip(names, fields, strict=True)
    }
    return _with_metadata(table, described)


def _unique_names(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        seen.setdefault(name, 0)
        out.append(name)
    return out


def _read_votable_astropy(path: Path) -> pa.Table:
    from astropy.io.votable import parse_single_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vot = parse_single_table(str(path))
    arrays = []
    names = _unique_names([str(f.name or f.ID) for f in vot.fields])
    described = {}
    data = vot.array
    for name, f, col in zip(names, vot.fields, data.dtype.names or (), strict=False):
        values = data[col]
        mask = np.ma.getmaskarray(values)
        raw = np.ma.getdata(values)
        if raw.dtype.kind in "OSU":
            items = [
                None if m else (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
                for v, m in zip(raw.tolist(), mask.tolist(), strict=True)
            ]
            arrays.append(pa.array(items, pa.large_string()))
        elif raw.ndim > 1:  # arrays: shown as text
            items = [None if m.all() else str(v.tolist()) for v, m in zip(raw, mask, strict=True)]
            arrays.append(pa.array(items, pa.large_string()))
        else:
            arrays.append(pa.array(raw, mask=mask if mask.any() else None))
        described[name] = {
            "datatype": str(f.datatype or ""),
            "unit": str(f.unit) if f.unit is not None else "",
            "ucd": str(f.ucd or ""),
            "xtype": str(f.xtype or ""),
            "description": " ".join(str(f.description or "").split()),
        }
    return _with_metadata(pa.Table.from_arrays(arrays, names=names), described)


def read_result(path: Path, mime: str = "") -> pa.Table:
    """The table in a TAP result file, with VOTable column metadata on its fields.

    Parameters
    ----------
    path : Path
        A VOTable (BINARY2 or TABLEDATA), CSV (with a header line) or Parquet file.
    mime : str
        Its media type as the job recorded it; the file name extension decides when it is empty.
    """
    kind = mime.lower()
    suffix = path.suffix.lower()
    if "parquet" in kind or suffix == ".parquet":
        return _read_parquet(path)
    if "csv" in kind or suffix == ".csv":
        return _read_csv(path)
    if "tabledata" not in kind:
        fast = _read_binary2(path.read_bytes())
        if fast is not None:
            return fast
    return _read_votable_astropy(path)


# -- JSON values ------------------------------------------------------------------------------------


def json_value(value: Any) -> Any:
    """A cell as JSON: unsafe integers and non-finite floats as strings, times in ISO 8601."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return json_value(float(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


# -- views: sorted and filtered row orders -----------------------------------------------------------

_COMPARISON = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|!=|==|=|<|>)\s*(.+?)\s*$")
_OPS = {
    "=": pc.equal,
    "==": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}


def _column_named(table: pa.Table, name: str) -> str:
    if name in table.column_names:
        return name
    folded = [c for c in table.column_names if c.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise ResultViewError(
        f"the result has no column {name!r}; its columns are {', '.join(table.column_names)}"
    )


def _comparison_mask(table: pa.Table, name: str, op: str, text: str) -> pa.ChunkedArray:
    column = table.column(name)
    typ = column.type
    literal = text.strip()
    value: Any
    if len(literal) >= 2 and literal[0] == literal[-1] and literal[0] in "'\"":
        literal = literal[1:-1]
    if pa.types.is_boolean(typ):
        lowered = literal.lower()
        if lowered not in ("true", "false", "t", "f", "1", "0"):
            raise ResultViewError(f"{name} is a boolean column: compare it with true or false, not {text!r}")
        value = pa.scalar(lowered in ("true", "t", "1"))
    elif pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        try:
            number = float(literal)
        except ValueError:
            raise ResultViewError(
                f"{name} is a numeric column: compare it with a number, not {text!r}"
            ) from None
        if pa.types.is_integer(typ) and number.is_integer() and abs(number) < 2**63:
            value = pa.scalar(int(literal) if re.fullmatch(r"[+-]?\d+", literal) else int(number), pa.int64())
        else:
            value = pa.scalar(number)
    else:
        column = column.cast(pa.large_string())
        value = pa.scalar(literal, pa.large_string())
    return pc.fill_null(_OPS[op](column, value), False)


def _text_mask(table: pa.Table, text: str) -> pa.ChunkedArray | None:
    """Rows where some cell, as text, contains ``text`` (ignoring case)."""
    mask: pa.ChunkedArray | None = None
    for column in table.columns:
        typ = column.type
        if pa.types.is_dictionary(typ):
            column = column.cast(typ.value_type)
        try:
            as_text = column.cast(pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        hit = pc.fill_null(pc.match_substring(as_text, text, ignore_case=True), False)
        mask = hit if mask is None else pc.or_(mask, hit)
    return mask


def _filter_indices(table: pa.Table, text: str) -> np.ndarray:
    m = _COMPARISON.match(text)
    if m and any(c.lower() == m.group(1).lower() for c in table.column_names):
        mask = _comparison_mask(table, _column_named(table, m.group(1)), m.group(2), m.group(3))
    else:
        found = _text_mask(table, text)
        if found is None:
            return np.zeros(0, np.int64)
        mask = found
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False)).astype(np.int64)


def _sort_indices(table: pa.Table, name: str, descending: bool, rows: np.ndarray | None) -> np.ndarray:
    column = table.column(name)
    if rows is not None:
        column = column.take(pa.array(rows))
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    options = pc.SortOptions(sort_keys=[("x", "descending" if descending else "ascending", "at_end")])
    try:  # nulls and NaNs last, in either order
        order = pc.sort_indices(pa.table({"x": column}), options=options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise ResultViewError(f"column {name} cannot be sorted: {e}") from None
    idx = order.to_numpy(zero_copy_only=False).astype(np.int64)
    return idx if rows is None else rows[idx]


@dataclass
class Page:
    """One page of a result view."""

    columns: list[dict[str, str]]
    total: int
    rows_in_result: int
    rows: list[list[Any]]


def _columns(table: pa.Table) -> list[dict[str, str]]:
    return [{"name": f.name, **{k: _field_text(f, k) for k in _MD_KEYS}} for f in table.schema]


class ResultTables:
    """Result tables of jobs, converted once to Arrow IPC and memory-mapped, with their views.

    Parameters
    ----------
    max_tables : int
        Memory-mapped tables kept open.
    max_views : int
        Sorted/filtered row orders kept.
    """

    def __init__(self, max_tables: int = 8, max_views: int = 16) -> None:
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._tables: OrderedDict[tuple[str, int], pa.Table] = OrderedDict()
        self._views: OrderedDict[tuple[Any, ...], np.ndarray | None] = OrderedDict()
        self.max_tables = max_tables
        self.max_views = max_views

    def _file_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    def table(self, path: Path, mime: str = "") -> pa.Table:
        """The result at ``path`` as a memory-mapped Arrow table (converted on first use)."""
        cache = path.with_name(path.name + GRID_CACHE)
        with self._file_lock(str(cache)):
            if not cache.is_file() or cache.stat().st_mtime_ns < path.stat().st_mtime_ns:
                table = read_result(path, mime)
                tmp = cache.with_name(cache.name + ".part")
                with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                    writer.write_table(table, max_chunksize=65536)
                tmp.replace(cache)
            key = (str(cache), cache.stat().st_mtime_ns)
            with self._lock:
                if key in self._tables:
                    self._tables.move_to_end(key)
                    return self._tables[key]
            with pa.ipc.open_file(pa.memory_map(str(cache), "r")) as reader:
                table = reader.read_all()
            with self._lock:
                self._tables[key] = table
                while len(self._tables) > self.max_tables:
                    self._tables.popitem(last=False)
            return table

    def _view(
        self, key: tuple[Any, ...], table: pa.Table, sort: str, desc: bool, text: str
    ) -> np.ndarray | None:
        """The row order of (sort, filter): None means all rows in their order."""
        if not sort and not text:
            return None
        full = (*key, sort, desc, text)
        with self._lock:
            if full in self._views:
                self._views.move_to_end(full)
                return self._views[full]
        rows: np.ndarray | None = None
        if text:
            filtered = (*key, "", False, text)
            with self._lock:
                rows = self._views.get(filtered)
            if rows is None:
                rows = _filter_indices(table, text)
                self._remember(filtered, rows)
        order = _sort_indices(table, sort, desc, rows) if sort else rows
        self._remember(full, order)
        return order

    def _remember(self, key: tuple[Any, ...], rows: np.ndarray | None) -> None:
        with self._lock:
            self._views[key] = rows
            while len(self._views) > self.max_views:
                self._views.popitem(last=False)

    def page(
        self,
        path: Path,
        mime: str = "",
        *,
        offset: int = 0,
        limit: int = 100,
        sort: str = "",
        desc: bool = False,
        text: str = "",
    ) -> Page:
        """Rows ``offset`` to ``offset + limit`` of the result, sorted by ``sort`` (descending if
        ``desc``; nulls last) among those matching ``text``.

        ``text`` is either a comparison ``<column> <op> <value>`` (op one of = == != < <= > >=) or
        text that some cell of the row contains, ignoring case.

        Raises
        ------
        ResultViewError
            For an unknown column or a value that does not suit the column.
        """
        table = self.table(path, mime)
        if sort:
            sort = _column_named(table, sort)
        key = (str(path), path.stat().st_mtime_ns)
        order = self._view(key, table, sort, desc, text.strip())
        total = table.num_rows if order is None else int(order.shape[0])
        start = min(max(offset, 0), total)
        stop = min(start + max(limit, 0), total)
        if order is None:
            part = table.slice(start, stop - start)
        else:
            part = table.take(pa.array(order[start:stop]))
        columns = [[json_value(v) for v in col.to_pylist()] for col in part.columns]
        rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
        return Page(_columns(table), total, table.num_rows, rows)
