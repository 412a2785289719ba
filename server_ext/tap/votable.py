"""Streaming writers of TAP query results: VOTable 1.4 (BINARY2, TABLEDATA), CSV and VOParquet.

Results arrive as Arrow record batches and are encoded batch by batch (each batch cut into chunks
of at most ``_CHUNK_ROWS`` rows), so memory stays bounded whatever the number of rows, and no
encoder loops over cells in Python:

* BINARY2 packs each chunk into a big-endian numpy structured array (the per-row null flags, the
  fixed-width cells and the 4-byte lengths of the variable-length strings); when there are strings,
  Arrow's ``binary_join_element_wise`` interleaves those fixed-width blocks with the string bytes.
  The bytes go through one continuous base64 stream (a carry of 0-2 bytes between chunks), in
  lines of 76 characters.
* TABLEDATA formats whole columns with Arrow compute (``cast`` to string gives the shortest
  round-trip representation of floats) and joins them into ``<TR>`` rows in C++.
* CSV (RFC 4180, with a header line) uses ``pyarrow.csv``; Parquet uses
  ``pyarrow.parquet.ParquetWriter`` with the VOTable metadata document in the footer (VOParquet).

Column types: booleans, integers (``int8`` widened to ``short``; ``uint16``/``uint32``/``uint64``
widened to ``int``/``long``, values above 2**63-1 are rejected), floats, decimals (as ``double``),
strings, timestamps and dates (``char`` with ``xtype="timestamp"``, ISO 8601, UTC for zoned
timestamps) and all-null columns (``char``).  Strings are declared ``datatype="char"``, which
VOTable 1.4 defines as ASCII: in VOTable output (not in CSV or Parquet) every non-ASCII character
becomes ``?``, and in TABLEDATA so does every control character XML 1.0 forbids.  TABLEDATA cannot
tell a null string from an empty one (both are an empty cell); BINARY2 can (null flag).
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = ["Format", "UnknownFormatError", "error_document", "parse_format", "write_result"]

_CHUNK_ROWS = 65_536
_BASE64_LINE = 76
_VOTABLE_VERSION = "1.4"
_NAMESPACES = {
    "1.2": "http://www.ivoa.net/xml/VOTable/v1.2",
    "1.3": "http://www.ivoa.net/xml/VOTable/v1.3",
    "1.4": "http://www.ivoa.net/xml/VOTable/v1.3",
    "1.5": "http://www.ivoa.net/xml/VOTable/v1.3",
}
_VOPARQUET_VERSION_KEY = b"IVOA.VOTable-Parquet.version"
_VOPARQUET_CONTENT_KEY = b"IVOA.VOTable-Parquet.content"

# Control characters XML 1.0 forbids (tab, line feed and carriage return are allowed).
_XML_FORBIDDEN = [c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)]
_XML_FORBIDDEN_RE = r"[\x00-\x08\x0B\x0C\x0E-\x1F]"
_NON_ASCII_RE = r"[^\x00-\x7F]"
_XML_TEXT = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"} | dict.fromkeys(_XML_FORBIDDEN, "?")
)
_XML_ATTR = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
    | dict.fromkeys(_XML_FORBIDDEN, "?")
)
# Bytes that need rewriting in TABLEDATA cells: markup, carriage return, forbidden controls.
_TD_SPECIAL = np.zeros(256, dtype=bool)
_TD_SPECIAL[[ord("&"), ord("<"), ord(">"), ord("\r"), *_XML_FORBIDDEN]] = True
# Arrow scalars for the element-wise joins (every argument must be of the same type).
_TD_OPEN = pa.scalar("<TD>", pa.large_string())
_TD_CLOSE = pa.scalar("</TD>", pa.large_string())
_TD_NULL = pa.scalar("<TD/>", pa.large_string())
_TR_OPEN = pa.scalar("<TR>", pa.large_string())
_TR_CLOSE = pa.scalar("</TR>\n", pa.large_string())
_EMPTY = pa.scalar("", pa.large_string())
_EMPTY_BINARY = pa.scalar(b"", pa.large_binary())


@dataclass(frozen=True)
class Format:
    """A TAP ``RESPONSEFORMAT``.

    Attributes
    ----------
    name : str
        ``"votable"`` (BINARY2), ``"votable-td"`` (TABLEDATA), ``"csv"`` or ``"parquet"``.
    mime : str
        The ``Content-Type`` of the response.
    extension : str
        The file name extension of a result (``"vot"``, ``"csv"``, ``"parquet"``).
    """

    name: str
    mime: str
    extension: str


VOTABLE = Format("votable", "application/x-votable+xml;serialization=BINARY2", "vot")
VOTABLE_TD = Format("votable-td", "application/x-votable+xml;serialization=TABLEDATA", "vot")
CSV = Format("csv", "text/csv;header=present", "csv")
PARQUET = Format("parquet", "application/vnd.apache.parquet", "parquet")

_ALIASES: dict[str, Format] = {
    "votable": VOTABLE,
    "application/x-votable+xml": VOTABLE,
    "text/xml": VOTABLE,
    "application/x-votable+xml;serialization=binary2": VOTABLE,
    "votable/b2": VOTABLE,
    "votableb2": VOTABLE,
    "application/x-votable+xml;serialization=tabledata": VOTABLE_TD,
    "votable/td": VOTABLE_TD,
    "votabletd": VOTABLE_TD,
    "csv": CSV,
    "text/csv": CSV,
    "text/csv;header=present": CSV,
    "parquet": PARQUET,
    "application/vnd.apache.parquet": PARQUET,
    "application/x-parquet": PARQUET,
}


class UnknownFormatError(ValueError):
    """A ``RESPONSEFORMAT`` this service cannot write; the message lists the accepted values.

    Parameters
    ----------
    value : str
        The rejected ``RESPONSEFORMAT``.
    """

    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(
            f"Unsupported RESPONSEFORMAT {value!r}; accepted values (case-insensitive): "
            + ", ".join(_ALIASES)
        )


def parse_format(value: str | None) -> Format:
    """Map a TAP ``RESPONSEFORMAT`` value to a `Format`.

    Parameters
    ----------
    value : str or None
        The parameter as received; ``None`` or blank selects VOTable BINARY2.  Matching ignores
        case and white space, and ``x-votable xml`` is read as ``x-votable+xml`` (a ``+`` left
        unencoded in a URL query arrives as a space).

    Returns
    -------
    Format

    Raises
    ------
    UnknownFormatError
        If the value is none of the accepted aliases.
    """
    if value is None or not value.strip():
        return VOTABLE
    key = value.lower().replace("x-votable xml", "x-votable+xml")
    try:
        return _ALIASES["".join(key.split())]
    except KeyError:
        raise UnknownFormatError(value) from None


def error_document(message: str, *, version: str = _VOTABLE_VERSION) -> bytes:
    """A DALI error document: a VOTable whose results resource says ``QUERY_STATUS=ERROR``.

    Parameters
    ----------
    message : str
        The error message, the text of the ``QUERY_STATUS`` INFO (escaped here).
    version : str
        The VOTable version, ``"1.2"`` to ``"1.5"``.

    Returns
    -------
    bytes
        The UTF-8 encoded document.

    Raises
    ------
    ValueError
        If `version` is not a supported VOTable version.
    """
    return (
        _votable_open(version)
        + '<RESOURCE type="results">\n'
        + f'<INFO name="QUERY_STATUS" value="ERROR">{_xml_text(message)}</INFO>\n'
        + "</RESOURCE>\n</VOTABLE>\n"
    ).encode()


def write_result(
    out: BinaryIO,
    fmt: Format,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    *,
    overflow: bool = False,
    query: str | None = None,
    infos: dict[str, str] | None = None,
    service_descriptors: Iterable[str] = (),
) -> int:
    """Stream one result table to `out` in `fmt`.

    Parameters
    ----------
    out : BinaryIO
        Where the bytes go (only ``write`` is used for the VOTable and CSV formats).
    fmt : Format
        The output format, from `parse_format`.
    schema : pyarrow.Schema
        Column names, types and field metadata (``b"unit"``, ``b"ucd"``, ``b"description"``,
        ``b"utype"``, ``b"xtype"``; empty values are ignored).
    batches : iterable of pyarrow.RecordBatch
        The rows; every batch has the column types of `schema`.
    overflow : bool
        The result was truncated at MAXREC: add the DALI ``QUERY_STATUS=OVERFLOW`` INFO after the
        TABLE.
    query : str, optional
        The query, written as the value of an ``INFO name="QUERY"``.
    infos : dict of str to str, optional
        Extra INFO elements (name to value) of the results resource.
    service_descriptors : iterable of str
        Complete ``<RESOURCE type="meta" utype="adhoc:service">`` fragments, written verbatim
        after the results resource.  Ignored for CSV.

    Returns
    -------
    int
        The number of rows written.

    Raises
    ------
    TypeError
        If a column has an Arrow type with no VOTable mapping (raised before anything is written).
    ValueError
        If the schema has no column, or a batch does not have the column types of `schema`.
    """
    columns = [_column(field) for field in schema]
    if not columns:
        raise ValueError("a result table needs at least one column")
    checked = _checked(schema, batches)
    if fmt.name == CSV.name:
        return _write_csv(out, columns, checked)
    descriptors = "".join(service_descriptors)
    head = _results_head(columns, query, infos or {})
    tail = _results_tail(overflow, descriptors)
    if fmt.name == PARQUET.name:
        return _write_parquet(out, schema, checked, head + tail)
    if fmt.name == VOTABLE.name:
        return _write_votable(out, columns, checked, head, tail, binary2=True)
    if fmt.name == VOTABLE_TD.name:
        return _write_votable(out, columns, checked, head, tail, binary2=False)
    raise ValueError(f"unknown Format name {fmt.name!r}; use parse_format()")


# --- columns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """How one Arrow column is written.

    Attributes
    ----------
    field : pyarrow.Field
        The column as declared by the schema.
    datatype : str
        The VOTable datatype.
    values_type : pyarrow.DataType
        The Arrow type of the written values (see `_values`): ``bool``, the numeric type matching
        `datatype`, or ``large_string`` for ``char`` columns.
    xtype : str
        The VOTable xtype, ``""`` for none.
    """

    field: pa.Field
    datatype: str
    values_type: pa.DataType
    xtype: str

    @property
    def is_text(self) -> bool:
        """Whether the column is written as a variable-length ``char`` array."""
        return bool(self.datatype == "char")


_NUMERIC: dict[pa.DataType, tuple[str, pa.DataType]] = {
    pa.int8(): ("short", pa.int16()),
    pa.uint8(): ("unsignedByte", pa.uint8()),
    pa.int16(): ("short", pa.int16()),
    pa.uint16(): ("int", pa.int32()),
    pa.int32(): ("int", pa.int32()),
    pa.uint32(): ("long", pa.int64()),
    pa.int64(): ("long", pa.int64()),
    pa.uint64(): ("long", pa.int64()),
    pa.float16(): ("float", pa.float32()),
    pa.float32(): ("float", pa.float32()),
    pa.float64(): ("double", pa.float64()),
}


def _column(field: pa.Field) -> _Column:
    """Map an Arrow field to its VOTable column.

    Raises
    ------
    TypeError
        If the Arrow type has no VOTable mapping.
    """
    typ = _value_type(field.type)
    xtype = _metadata(field, b"xtype")
    if pa.types.is_boolean(typ):
        return _Column(field, "boolean", pa.bool_(), xtype)
    if typ in _NUMERIC:
        datatype, values_type = _NUMERIC[typ]
        return _Column(field, datatype, values_type, xtype)
    if pa.types.is_decimal(typ):
        return _Column(field, "double", pa.float64(), xtype)
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        return _Column(field, "char", pa.large_string(), xtype or "timestamp")
    if _is_string(typ) or pa.types.is_null(typ):
        return _Column(field, "char", pa.large_string(), xtype)
    raise TypeError(
        f"column {field.name!r} has Arrow type {field.type}, which has no VOTable mapping "
        "(supported: boolean, integer, floating point, decimal, string, timestamp, date, null)"
    )


def _value_type(typ: pa.DataType) -> pa.DataType:
    """The type of the values of `typ` (the value type of a dictionary type)."""
    return typ.value_type if pa.types.is_dictionary(typ) else typ


def _is_string(typ: pa.DataType) -> bool:
    return bool(pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ))


def _metadata(field: pa.Field, key: bytes) -> str:
    """A field metadata value as text, ``""`` when absent."""
    return bytes((field.metadata or {}).get(key, b"")).decode().strip()


def _values(column: _Column, array: pa.Array) -> pa.Array:
    """The values of `array` as ``column.values_type``, nulls kept.

    Timestamps become ISO 8601 text (zoned ones in UTC, without a zone designator), dates
    ``YYYY-MM-DD``; integers are cast safely (an unsigned value beyond the signed range raises
    ``pyarrow.ArrowInvalid``).
    """
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_timestamp(array.type):
        naive = array.cast(pa.timestamp(array.type.unit))
        return pc.strftime(naive, format="%Y-%m-%dT%H:%M:%S").cast(pa.large_string())
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.large_string())
    return array.cast(column.values_type)


def _checked(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Yield `batches`, checking that their column types are those of `schema`."""
    expected = schema.types
    for number, batch in enumerate(batches):
        if batch.schema.types != expected:
            raise ValueError(
                f"record batch {number} has column types {batch.schema.types}, "
                f"but the schema declares {expected}"
            )
        yield batch


def _chunks(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    """Zero-copy slices of `batch` of at most ``_CHUNK_ROWS`` rows."""
    for start in range(0, batch.num_rows, _CHUNK_ROWS):
        yield batch.slice(start, _CHUNK_ROWS)


# --- XML -----------------------------------------------------------------------------------


def _xml_text(value: str) -> str:
    """`value` escaped as XML character data (forbidden control characters become ``?``)."""
    return value.translate(_XML_TEXT)


def _xml_attr(value: str) -> str:
    """`value` escaped for a double-quoted XML attribute (white space kept as references)."""
    return value.translate(_XML_ATTR)


def _votable_open(version: str) -> str:
    """The XML declaration and the VOTABLE start tag.

    Raises
    ------
    ValueError
        If `version` is not a supported VOTable version.
    """
    try:
        namespace = _NAMESPACES[version]
    except KeyError:
        raise ValueError(
            f"unsupported VOTable version {version!r}; expected one of {', '.join(_NAMESPACES)}"
        ) from None
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<VOTABLE version="{version}" xmlns="{namespace}">\n'


def _info(name: str, value: str) -> str:
    return f'<INFO name="{_xml_attr(name)}" value="{_xml_attr(value)}"/>\n'


def _field(column: _Column) -> str:
    """The FIELD element of `column`."""
    attributes = {
        "ID": _metadata(column.field, b"ID"),  # what service descriptors' inputParams refer to
        "name": column.field.name,
        "datatype": column.datatype,
        "arraysize": "*" if column.is_text else "",
        "xtype": column.xtype,
        "unit": _metadata(column.field, b"unit"),
        "ucd": _metadata(column.field, b"ucd"),
        "utype": _metadata(column.field, b"utype"),
    }
    start = "<FIELD" + "".join(f' {key}="{_xml_attr(value)}"' for key, value in attributes.items() if value)
    description = _metadata(column.field, b"description")
    if not description:
        return start + "/>\n"
    return f"{start}>\n<DESCRIPTION>{_xml_text(description)}</DESCRIPTION>\n</FIELD>\n"


def _results_head(columns: Sequence[_Column], query: str | None, infos: dict[str, str]) -> str:
    """The document up to the last FIELD of the results TABLE."""
    return (
        _votable_open(_VOTABLE_VERSION)
        + '<RESOURCE type="results">\n'
        + _info("QUERY_STATUS", "OK")
        + ("" if query is None else _info("QUERY", query))
        + "".join(_info(name, value) for name, value in infos.items())
        + "<TABLE>\n"
        + "".join(_field(column) for column in columns)
    )


def _results_tail(overflow: bool, service_descriptors: str) -> str:
    """The document from the end of the results TABLE."""
    return (
        "</TABLE>\n"
        + (_info("QUERY_STATUS", "OVERFLOW") if overflow else "")
        + "</RESOURCE>\n"
        + service_descriptors
        + "</VOTABLE>\n"
    )


# --- VOTable -------------------------------------------------------------------------------


def _write_votable(
    out: BinaryIO,
    columns: Sequence[_Column],
    batches: Iterable[pa.RecordBatch],
    head: str,
    tail: str,
    *,
    binary2: bool,
) -> int:
    """Write a VOTable with a BINARY2 (base64) or a TABLEDATA body; return the number of rows."""
    out.write(head.encode())
    out.write(b'<DATA><BINARY2><STREAM encoding="base64">\n' if binary2 else b"<DATA><TABLEDATA>\n")
    stream = _Base64Stream(out) if binary2 else None
    rows = 0
    for batch in batches:
        for chunk in _chunks(batch):
            values = [_values(column, array) for column, array in zip(columns, chunk.columns, strict=True)]
            if stream is None:
                out.write(_tabledata_rows(columns, values).data)
            else:
                stream.write(_binary2_rows(columns, values))
            rows += chunk.num_rows
    if stream is not None:
        stream.close()
    out.write(b"</STREAM></BINARY2></DATA>\n" if binary2 else b"</TABLEDATA></DATA>\n")
    out.write(tail.encode())
    return rows


def _value_bytes(array: pa.Array) -> np.ndarray:
    """The value bytes of a ``large_string`` or ``large_binary`` array (a zero-copy numpy view)."""
    _, offsets_buffer, data = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64, count=len(array) + 1, offset=8 * array.offset)
    if data is None:
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]


def _ascii(text: pa.Array) -> pa.Array:
    """`text` (``large_string``) with every non-ASCII character replaced by ``?``."""
    data = _value_bytes(text)
    if data.size and data.max() >= 0x80:
        return pc.replace_substring_regex(text, _NON_ASCII_RE, "?")
    return text


def _binary2_rows(columns: Sequence[_Column], values: Sequence[pa.Array]) -> np.ndarray:
    """The BINARY2 bytes of one chunk of rows.

    Every row is the null flags (``ceil(ncols / 8)`` bytes, the most significant bit of the
    first byte for the first column) then the cells.  Consecutive fixed-width cells (with the
    4-byte length prefix of a following string) form one big-endian structured array per group;
    when there are strings, the groups and the string bytes are interleaved row by row in Arrow.
    """
    nrows = len(values[0])
    flags = np.zeros((nrows, (len(columns) + 7) // 8), dtype=np.uint8)
    groups: list[list[np.ndarray]] = [[flags]]
    texts: list[pa.Array] = []
    for number, (column, array) in enumerate(zip(columns, values, strict=True)):
        if array.null_count:
            nulls = array.is_null().to_numpy(zero_copy_only=False).view(np.uint8)
            flags[:, number // 8] |= nulls << np.uint8(7 - number % 8)
        if column.is_text:
            text = pc.fill_null(_ascii(array).cast(pa.large_binary()), _EMPTY_BINARY)
            groups[-1].append(pc.binary_length(text).to_numpy().astype(np.int32))
            texts.append(text)
            groups.append([])
        else:
            groups[-1].append(_binary2_cells(array))
    blocks = [_pack(group, nrows) for group in groups]
    if not texts:
        return blocks[0]
    pieces: list[pa.Array] = []
    for block, text in zip(blocks, texts, strict=False):
        pieces += [_fixed_width_binary(block, nrows), text]
    if blocks[-1].size:
        pieces.append(_fixed_width_binary(blocks[-1], nrows))
    return _value_bytes(pc.binary_join_element_wise(*pieces, _EMPTY_BINARY))


def _binary2_cells(array: pa.Array) -> np.ndarray:
    """The cells of a fixed-width column (native byte order; `_pack` makes them big-endian).

    Booleans become ``T``/``F`` (``?`` when null), null floats NaN, null integers 0.
    """
    if pa.types.is_boolean(array.type):
        cells = np.where(pc.fill_null(array, False).to_numpy(zero_copy_only=False), ord("T"), ord("F"))
        if array.null_count:
            cells[array.is_null().to_numpy(zero_copy_only=False)] = ord("?")
        return cells.astype(np.uint8)
    if array.null_count and not pa.types.is_floating(array.type):
        array = pc.fill_null(array, 0)
    return np.asarray(array.to_numpy(zero_copy_only=False))


def _pack(parts: Sequence[np.ndarray], nrows: int) -> np.ndarray:
    """Interleave per-row `parts` into big-endian records; return their bytes (``uint8``)."""
    dtype = np.dtype(
        [(f"f{number}", part.dtype.newbyteorder(">"), part.shape[1:]) for number, part in enumerate(parts)]
    )
    records = np.empty(nrows, dtype=dtype)
    for number, part in enumerate(parts):
        records[f"f{number}"] = part
    return records.view(np.uint8)


def _fixed_width_binary(block: np.ndarray, nrows: int) -> pa.Array:
    """A zero-copy ``large_binary`` view of `nrows` equal-length records stored back to back."""
    width = block.size // nrows
    offsets = np.arange(0, (nrows + 1) * width, width, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_binary(), nrows, [None, pa.py_buffer(offsets), pa.py_buffer(block)])


class _Base64Stream:
    """One continuous base64 text over successive writes, in lines of 76 characters.

    Parameters
    ----------
    out : BinaryIO
        Where the base64 text goes.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._carry = np.zeros(0, dtype=np.uint8)

    def write(self, data: np.ndarray) -> None:
        """Encode `data` after the bytes held back so far, holding back the last 0-2 bytes."""
        raw = np.concatenate([self._carry, data]) if self._carry.size else data
        usable = raw.size - raw.size % 3
        self._carry = raw[usable:].copy()
        if usable:
            self._emit(binascii.b2a_base64(raw[:usable].data, newline=False))

    def close(self) -> None:
        """Encode the bytes held back, with padding."""
        if self._carry.size:
            self._emit(binascii.b2a_base64(self._carry.tobytes(), newline=False))
            self._carry = self._carry[:0]

    def _emit(self, text: bytes) -> None:
        """Write `text` in lines of ``_BASE64_LINE`` characters (the last one may be shorter)."""
        full = len(text) // _BASE64_LINE
        if full:
            lines = np.empty((full, _BASE64_LINE + 1), dtype=np.uint8)
            lines[:, :_BASE64_LINE] = np.frombuffer(text, dtype=np.uint8, count=full * _BASE64_LINE).reshape(
                full, _BASE64_LINE
            )
            lines[:, _BASE64_LINE] = ord("\n")
            self._out.write(lines.reshape(-1).data)
        if len(text) > full * _BASE64_LINE:
            self._out.write(text[full * _BASE64_LINE :] + b"\n")


def _tabledata_rows(columns: Sequence[_Column], values: Sequence[pa.Array]) -> np.ndarray:
    """The TABLEDATA ``<TR>`` elements of one chunk of rows (null cells are ``<TD/>``)."""
    cells = [
        pc.fill_null(
            pc.binary_join_element_wise(_TD_OPEN, _td_text(column, array), _TD_CLOSE, _EMPTY), _TD_NULL
        )
        for column, array in zip(columns, values, strict=True)
    ]
    return _value_bytes(pc.binary_join_element_wise(_TR_OPEN, *cells, _TR_CLOSE, _EMPTY))


def _td_text(column: _Column, array: pa.Array) -> pa.Array:
    """The TABLEDATA text of the cells (``large_string``, null where the value is null)."""
    if column.is_text:
        return _xml_cdata(_ascii(array))
    if pa.types.is_boolean(array.type):
        return pc.if_else(array, "T", "F").cast(pa.large_string())
    text = array.cast(pa.large_string())
    if pa.types.is_floating(array.type) and not pc.all(pc.is_finite(array)).as_py():
        text = pc.replace_substring(pc.replace_substring(text, "nan", "NaN"), "inf", "Inf")
        text = pc.if_else(pc.equal(text, "Inf"), "+Inf", text)
    return text


def _xml_cdata(text: pa.Array) -> pa.Array:
    """`text` (ASCII ``large_string``) escaped as XML character data."""
    if not _TD_SPECIAL[_value_bytes(text)].any():
        return text
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;")):
        text = pc.replace_substring(text, raw, escaped)
    return pc.replace_substring_regex(text, _XML_FORBIDDEN_RE, "?")


# --- CSV and Parquet -----------------------------------------------------------------------


def _write_csv(out: BinaryIO, columns: Sequence[_Column], batches: Iterable[pa.RecordBatch]) -> int:
    """Write RFC 4180 CSV (CRLF line ends, a header line, empty null cells); return the row count."""
    schema = pa.schema([pa.field(column.field.name, column.values_type) for column in columns])
    header = pacsv.WriteOptions(include_header=True, eol="\r\n")
    body = pacsv.WriteOptions(include_header=False, eol="\r\n")
    # The header goes out even when there is no row.
    _write_csv_batch(out, schema.empty_table(), header)
    rows = 0
    for batch in batches:
        for chunk in _chunks(batch):
            values = [_values(column, array) for column, array in zip(columns, chunk.columns, strict=True)]
            _write_csv_batch(out, pa.Table.from_arrays(values, schema=schema), body)
            rows += chunk.num_rows
    return rows


def _write_csv_batch(out: BinaryIO, table: pa.Table, options: pacsv.WriteOptions) -> None:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, write_options=options)
    out.write(sink.getvalue())


def _write_parquet(out: BinaryIO, schema: pa.Schema, batches: Iterable[pa.RecordBatch], metadata: str) -> int:
    """Write VOParquet: the batches as they are, with the data-less VOTable `metadata` in the footer."""
    footer = {
        **(schema.metadata or {}),
        _VOPARQUET_VERSION_KEY: b"1.0",
        _VOPARQUET_CONTENT_KEY: metadata.encode(),
    }
    parquet_schema = schema.with_metadata(footer)
    rows = 0
    with pq.ParquetWriter(out, parquet_schema) as writer:
        for batch in batches:
            writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=parquet_schema))
            rows += batch.num_rows
    return rows
