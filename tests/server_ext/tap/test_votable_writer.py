"""The TAP result writers (``server_ext.tap.votable``), checked with real readers: astropy's VOTable
parser with ``verify="exception"``, ``stilts votlint``, the csv module, pyarrow.csv and pyarrow.parquet.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from astropy.io import votable

from server_ext.tap.votable import (
    Format,
    UnknownFormatError,
    error_document,
    parse_format,
    write_result,
)

NS = "{http://www.ivoa.net/xml/VOTable/v1.3}"
BINARY2 = parse_format("votable")
TABLEDATA = parse_format("votable/td")
VOTABLES = pytest.mark.parametrize("fmt", [BINARY2, TABLEDATA], ids=["binary2", "tabledata"])
LONG = "".join(chr(ord("a") + i % 26) for i in range(20_000))
NAN = float("nan")
INF = float("inf")


@dataclass(frozen=True)
class Col:
    """One column of the sample: its Arrow values, VOTable datatype and expected parsed values."""

    name: str
    type: pa.DataType
    values: list[Any]
    datatype: str
    expected: list[Any] | None = None  # None: the values themselves

    @property
    def text(self) -> bool:
        return self.datatype == "char"

    def want(self) -> list[Any]:
        return self.values if self.expected is None else self.expected


# Rows: ordinary values, all null, extremes/NaN/empty strings, infinities/non-ASCII,
# XML markup/long strings, zeros, more ordinary values.
COLUMNS = [
    Col("flag", pa.bool_(), [True, None, False, True, False, False, True], "boolean"),
    Col("i8", pa.int8(), [1, None, -128, 127, 0, 0, -5], "short"),
    Col("u8", pa.uint8(), [1, None, 0, 255, 7, 0, 200], "unsignedByte"),
    Col("i16", pa.int16(), [1, None, -(2**15), 2**15 - 1, 0, 0, -300], "short"),
    Col("u16", pa.uint16(), [1, None, 0, 2**16 - 1, 9, 0, 40_000], "int"),
    Col("i32", pa.int32(), [1, None, -(2**31), 2**31 - 1, 0, 0, 123_456], "int"),
    Col("u32", pa.uint32(), [1, None, 0, 2**32 - 1, 5, 0, 3_000_000_000], "long"),
    Col("i64", pa.int64(), [1, None, -(2**63), 2**63 - 1, 0, 0, 10**15], "long"),
    Col("u64", pa.uint64(), [1, None, 0, 2**63 - 1, 3, 0, 10**18], "long"),
    Col("f16", pa.float16(), [0.5, None, NAN, INF, -2.0, 0.0, 65504.0], "float"),
    Col("f32", pa.float32(), [0.1, None, NAN, INF, -INF, 0.0, 3.4e38], "float"),
    Col("f64", pa.float64(), [1 / 3, None, NAN, -INF, INF, -0.0, 5e-324], "double"),
    Col(
        "dec",
        pa.decimal128(12, 3),
        [Decimal("1.250"), None, Decimal("-3.5"), Decimal("0.001"), Decimal("0"), Decimal("0"), Decimal("7")],
        "double",
        [1.25, None, -3.5, 0.001, 0.0, 0.0, 7.0],
    ),
    Col(
        "s",
        pa.string(),
        ["plain", None, "", "héllo wörld ☃ 😀", "<a href=\"x\">&amp;</a> > 'q'", LONG, "tab\tand\nnewline"],
        "char",
    ),
    Col("ls", pa.large_string(), ["x", None, "", "ÅÄÖ", "a&b", "y" * 300, "z"], "char", None),
    Col(
        "cat",
        pa.dictionary(pa.int32(), pa.string()),
        ["g", None, "", "r", "<i>", "g", "r"],
        "char",
    ),
    Col(
        "ts",
        pa.timestamp("us"),
        [1_577_934_245_123_456, None, 0, -86_400_000_000, 1, 0, 4_102_444_800_000_000],
        "char",
        [
            "2020-01-02T03:04:05.123456",
            None,
            "1970-01-01T00:00:00.000000",
            "1969-12-31T00:00:00.000000",
            "1970-01-01T00:00:00.000001",
            "1970-01-01T00:00:00.000000",
            "2100-01-01T00:00:00.000000",
        ],
    ),
    Col(
        "tsz",
        pa.timestamp("ms", tz="Europe/Paris"),
        [1_577_934_245_123, None, 0, 0, 0, 0, 1_000],
        "char",
        [
            "2020-01-02T03:04:05.123",
            None,
            *["1970-01-01T00:00:00.000"] * 4,
            "1970-01-01T00:00:01.000",
        ],
    ),
    Col(
        "day",
        pa.date32(),
        [18_263, None, 0, -1, 0, 0, 47_482],
        "char",
        ["2020-01-02", None, "1970-01-01", "1969-12-31", "1970-01-01", "1970-01-01", "2100-01-01"],
    ),
    Col("nothing", pa.null(), [None] * 7, "char"),
]
NROWS = 7
XTYPES = {"ts": "timestamp", "tsz": "timestamp", "day": "timestamp"}
UCDS = [
    "meta.id;meta.main",
    "pos.eq.ra;meta.main",
    "phot.mag;em.opt.R",
    "meta.code",
    "time.epoch",
    "stat.error",
]


def _ascii(value: str) -> str:
    return re.sub(r"[^\x00-\x7f]", "?", value)


def sample_schema() -> pa.Schema:
    fields = []
    for number, col in enumerate(COLUMNS):
        metadata = {b"unit": b"deg" if number % 2 else b"", b"ucd": UCDS[number % len(UCDS)].encode()}
        metadata[b"description"] = f"Column {col.name} <{number}> & more".encode()
        if col.name == "i64":
            metadata[b"utype"] = b"caom2:Artifact.contentLength"
        fields.append(pa.field(col.name, col.type, metadata=metadata))
    return pa.schema(fields)


def sample_table() -> pa.Table:
    arrays = []
    for col in COLUMNS:
        if pa.types.is_dictionary(col.type):
            arrays.append(pa.array(col.values, pa.string()).dictionary_encode())
        elif col.name == "f16":
            arrays.append(
                pa.array(
                    np.array([np.nan if v is None else v for v in col.values], np.float16),
                    mask=np.array([v is None for v in col.values]),
                )
            )
        else:
            arrays.append(pa.array(col.values, col.type))
    return pa.Table.from_arrays(arrays, schema=sample_schema())


def batches_of(table: pa.Table, sizes: Sequence[int]) -> Iterator[pa.RecordBatch]:
    """The rows of `table` as batches of the given sizes (cycled), including empty ones."""
    start = 0
    number = 0
    combined = table.combine_chunks()
    while start < table.num_rows:
        size = sizes[number % len(sizes)]
        yield from combined.slice(start, size).to_batches() or [
            pa.RecordBatch.from_pylist([], schema=table.schema)
        ]
        start += size
        number += 1


def pylist(values: pa.ChunkedArray) -> list[Any]:
    """The values as Python objects, NaN as the string "NaN" (so that equal columns compare equal)."""
    return ["NaN" if isinstance(value, float) and np.isnan(value) else value for value in values.to_pylist()]


def write(fmt: Format, table: pa.Table, sizes: Sequence[int] = (1_000,), **kwargs: Any) -> bytes:
    out = io.BytesIO()
    rows = write_result(out, fmt, table.schema, batches_of(table, sizes), **kwargs)
    assert rows == table.num_rows
    return out.getvalue()


def parse(document: bytes) -> votable.tree.VOTableFile:
    return votable.parse(io.BytesIO(document), verify="exception")


def assert_cells(col: Col, parsed: np.ma.MaskedArray) -> None:
    mask = np.ma.getmaskarray(parsed)
    want = col.want()
    assert len(parsed) == len(want)
    for row, (got, masked, value) in enumerate(zip(parsed.data, mask, want, strict=True)):
        where = f"{col.name}[{row}]"
        if col.text:
            # Null strings read back as "": TABLEDATA has no null string, and astropy ignores the
            # BINARY2 null flags of char columns (astropy issue 8995; test_binary2_bytes checks them).
            assert not masked and got == _ascii(value or ""), where
            continue
        nan = isinstance(value, float) and np.isnan(value)
        assert bool(masked) == (value is None or nan), where  # astropy masks NaN floats too
        if value is None:
            continue
        if nan:
            assert np.isnan(got), where
        elif col.datatype == "float":
            assert got == np.float32(value), where
        else:
            assert got == value, where
            if isinstance(value, float):
                assert np.signbit(got) == np.signbit(value), where


# -- VOTable round trips --------------------------------------------------------------------------


@VOTABLES
@pytest.mark.parametrize(
    "sizes",
    [(1_000,), (1,), (2,), (4,), (5, 1, 0, 2), (7, 0)],
    ids=["one-batch", "rows-of-1", "rows-of-2", "rows-of-4", "mixed-with-empty", "then-empty"],
)
def test_round_trip_every_type(fmt: Format, sizes: Sequence[int]) -> None:
    parsed = parse(write(fmt, sample_table(), sizes)).get_first_table()
    assert len(parsed.array) == NROWS
    for col in COLUMNS:
        assert_cells(col, parsed.array[col.name])


@VOTABLES
def test_fields_carry_types_and_metadata(fmt: Format) -> None:
    fields = {field.name: field for field in parse(write(fmt, sample_table())).get_first_table().fields}
    schema = sample_schema()
    assert list(fields) == schema.names
    for col, arrow_field in zip(COLUMNS, schema, strict=True):
        field = fields[col.name]
        metadata = {key.decode(): value.decode() for key, value in arrow_field.metadata.items()}
        assert field.datatype == col.datatype
        assert field.arraysize == ("*" if col.text else None)
        assert field.xtype == XTYPES.get(col.name)
        assert field.ucd == metadata["ucd"]
        assert (str(field.unit) if field.unit else "") == metadata["unit"]
        assert field.description == metadata["description"]
        assert field.utype == metadata.get("utype")


@VOTABLES
@pytest.mark.parametrize("rows", [0, 1, 2, 3, 4])
def test_few_rows(fmt: Format, rows: int) -> None:
    table = sample_table().slice(0, rows)
    parsed = parse(write(fmt, table)).get_first_table()
    assert len(parsed.array) == rows
    for col in COLUMNS:
        assert_cells(
            Col(col.name, col.type, col.values[:rows], col.datatype, col.want()[:rows]),
            parsed.array[col.name],
        )


def test_binary2_bytes() -> None:
    """The exact BINARY2 layout: null flags (MSB first), big-endian cells, length-prefixed strings."""
    table = pa.table(
        {
            "b": pa.array([True, None, False]),
            "s": pa.array(["ab", None, ""]),
            "i": pa.array([-2, 3, None], pa.int8()),
            "f": pa.array([NAN, None, 1.5], pa.float32()),
            "u": pa.array([None, 7, 4_000_000_000], pa.uint32()),
            "t": pa.array(["é", "xyz", None], pa.large_string()),
            "d": pa.array([0.25, 0.5, None]),
            "n": pa.nulls(3),
            "y": pa.array([1, 2, 3], pa.uint8()),
        }
    )
    root = ET.fromstring(write(BINARY2, table, (1, 2)))
    data = base64.b64decode(root.find(f"{NS}RESOURCE/{NS}TABLE/{NS}DATA/{NS}BINARY2/{NS}STREAM").text)
    nan = struct.pack(">f", NAN)

    def row(flags: int, *cells: bytes) -> bytes:
        """9 columns: 2 flag bytes, the first column the most significant bit."""
        return flags.to_bytes(2, "big") + b"".join(cells)

    expected = b"".join(
        [
            row(  # null: u, n
                0b00001001_00000000,
                *(b"T", struct.pack(">i2s", 2, b"ab"), struct.pack(">h", -2), nan, struct.pack(">q", 0)),
                *(struct.pack(">i1s", 1, b"?"), struct.pack(">d", 0.25), struct.pack(">i", 0), b"\x01"),
            ),
            row(  # null: b, s, f, n
                0b11010001_00000000,
                *(b"?", struct.pack(">i", 0), struct.pack(">h", 3), nan, struct.pack(">q", 7)),
                *(struct.pack(">i3s", 3, b"xyz"), struct.pack(">d", 0.5), struct.pack(">i", 0), b"\x02"),
            ),
            row(  # null: i, t, d, n
                0b00100111_00000000,
                *(b"F", struct.pack(">i", 0), struct.pack(">h", 0), struct.pack(">f", 1.5)),
                *(struct.pack(">q", 4_000_000_000), struct.pack(">i", 0), struct.pack(">d", NAN)),
                *(struct.pack(">i", 0), b"\x03"),
            ),
        ]
    )
    assert data == expected


def test_binary2_stream_is_one_base64_text_whatever_the_batches() -> None:
    """The carry between batches makes the STREAM independent of the batch sizes."""

    def stream(sizes: Sequence[int]) -> str:
        root = ET.fromstring(write(BINARY2, sample_table(), sizes))
        text = root.find(f"{NS}RESOURCE/{NS}TABLE/{NS}DATA/{NS}BINARY2/{NS}STREAM").text
        assert all(len(line) <= 76 for line in text.splitlines())
        return "".join(text.split())

    reference = stream((1_000,))
    for sizes in [(1,), (2,), (4,), (5, 1, 0, 2)]:
        assert stream(sizes) == reference, sizes


def test_tabledata_replaces_characters_xml_forbids() -> None:
    table = pa.table({"s": ["a\x01b\x1fc", "cr\rlf\r\nend", "\x00"]})
    parsed = parse(write(TABLEDATA, table)).get_first_table()
    assert list(parsed.array["s"]) == ["a?b?c", "cr\rlf\r\nend", "?"]
    binary = parse(write(BINARY2, table)).get_first_table()
    assert list(binary.array["s"]) == ["a\x01b\x1fc", "cr\rlf\r\nend", "\x00"]


def test_floats_round_trip_exactly() -> None:
    rng = np.random.default_rng(7)
    doubles = np.concatenate(
        [rng.normal(0, 1e3, 500), rng.uniform(-1, 1, 500) * 10.0 ** rng.integers(-300, 300, 500)]
    )
    singles = rng.normal(20, 3, 1_000).astype(np.float32)
    table = pa.table({"d": doubles, "f": singles})
    for fmt in (BINARY2, TABLEDATA):
        parsed = parse(write(fmt, table, (333,))).get_first_table().array
        np.testing.assert_array_equal(parsed["d"].data, doubles)
        np.testing.assert_array_equal(parsed["f"].data, singles)


def watched(table: pa.Table, out: io.BytesIO, sizes: list[int]) -> Iterator[pa.RecordBatch]:
    """Batches of 100 rows of `table`, noting the size of `out` each time one is asked for."""
    for start in range(0, table.num_rows, 100):
        sizes.append(len(out.getvalue()))
        yield table.slice(start, 100).to_batches()[0]


@pytest.mark.parametrize("fmt", [BINARY2, TABLEDATA, parse_format("csv")], ids=lambda fmt: fmt.name)
def test_batches_are_written_as_they_come(fmt: Format) -> None:
    """Each batch is encoded and written before the next one is asked for."""
    table = pa.table({"x": np.arange(300, dtype=np.int64), "s": ["abc"] * 300})
    out = io.BytesIO()
    sizes: list[int] = []
    write_result(out, fmt, table.schema, watched(table, out, sizes))
    assert sizes[0] < sizes[1] < sizes[2] < len(out.getvalue())


# -- INFOs, overflow, service descriptors ---------------------------------------------------------


@VOTABLES
@pytest.mark.parametrize("overflow", [False, True])
def test_overflow_info_follows_the_table(fmt: Format, overflow: bool) -> None:
    document = write(fmt, sample_table(), overflow=overflow)
    resource = ET.fromstring(document).find(f"{NS}RESOURCE")
    assert resource.get("type") == "results"
    children = [(child.tag.removeprefix(NS), child.get("name"), child.get("value")) for child in resource]
    assert children[0] == ("INFO", "QUERY_STATUS", "OK")
    table_at = children.index(("TABLE", None, None))
    assert all(tag == "INFO" for tag, _, _ in children[:table_at])
    after = children[table_at + 1 :]
    assert after == ([("INFO", "QUERY_STATUS", "OVERFLOW")] if overflow else [])
    parsed = parse(document)
    statuses = [info.value for info in parsed.resources[0].infos if info.name == "QUERY_STATUS"]
    assert statuses == (["OK", "OVERFLOW"] if overflow else ["OK"])


@VOTABLES
def test_query_and_extra_infos_are_escaped(fmt: Format) -> None:
    query = "SELECT \"a\" FROM t\nWHERE x < 3 & y > 2\tAND s = '<b>'"
    infos = {"request_date": "2026-01-02T03:04:05", "note": 'a "quoted" <value> & more'}
    parsed = parse(write(fmt, sample_table(), query=query, infos=infos))
    values = {info.name: info.value for info in parsed.resources[0].infos}
    assert values == {"QUERY_STATUS": "OK", "QUERY": query, **infos}


@VOTABLES
def test_service_descriptors_are_written_after_the_results(fmt: Format) -> None:
    descriptor = (
        '<RESOURCE type="meta" utype="adhoc:service" name="{name}">\n'
        '<PARAM name="standardID" datatype="char" arraysize="*" value="ivo://ivoa.net/std/DataLink#links-1.1"/>\n'
        '<PARAM name="accessURL" datatype="char" arraysize="*" value="https://example.org/{name}?a=1&amp;b=2"/>\n'
        '<GROUP name="inputParams">\n'
        '<PARAM name="ID" datatype="char" arraysize="*" value="" ref="s"/>\n'
        "</GROUP>\n</RESOURCE>\n"
    )
    document = write(
        fmt,
        sample_table(),
        service_descriptors=[descriptor.format(name="links"), descriptor.format(name="cutout")],
    )
    parsed = parse(document)
    assert [resource.type for resource in parsed.resources] == ["results", "meta", "meta"]
    for resource, name in zip(parsed.resources[1:], ["links", "cutout"], strict=True):
        assert resource.utype == "adhoc:service"
        params = {param.name: param.value for param in resource.params}
        assert params["accessURL"] == f"https://example.org/{name}?a=1&b=2"


# -- stilts votlint -------------------------------------------------------------------------------


def stilts() -> str:
    path = shutil.which("stilts")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("stilts is not installed (apt-get install stilts): the VOTables cannot be validated")
        pytest.skip("stilts is not installed: the VOTables are not checked with votlint")
    return path


@VOTABLES
def test_votlint_finds_no_error(fmt: Format, tmp_path: Path) -> None:
    path = tmp_path / f"result-{fmt.name}.vot"
    path.write_bytes(
        write(
            fmt,
            sample_table(),
            (3, 1, 2),
            overflow=True,
            query="SELECT * FROM t WHERE a < 1 & b > 2",
            infos={"note": "x"},
        )
    )
    proc = subprocess.run(
        [stilts(), "votlint", "version=1.4", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = proc.stdout + proc.stderr
    assert not [line for line in report.splitlines() if line.startswith("ERROR")], report


# -- CSV ------------------------------------------------------------------------------------------

CSV = parse_format("csv")


def test_csv_round_trip_with_the_csv_module() -> None:
    text = write(CSV, sample_table(), (3, 2)).decode()
    assert text.endswith("\r\n") and "\r\n" in text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == [col.name for col in COLUMNS]
    assert len(rows) == 1 + NROWS
    by_name = {name: [row[number] for row in rows[1:]] for number, name in enumerate(rows[0])}
    for col in COLUMNS:
        cells = by_name[col.name]
        for row, (cell, value) in enumerate(zip(cells, col.want(), strict=True)):
            where = f"{col.name}[{row}]"
            if value is None:
                assert cell == "", where
            elif col.datatype == "boolean":
                assert cell == ("true" if value else "false"), where
            elif col.text:
                assert cell == value, where  # UTF-8 kept in CSV
            elif isinstance(value, float) and np.isnan(value):
                assert np.isnan(float(cell)), where
            elif col.datatype == "float":
                assert np.float32(cell) == np.float32(value), where
            else:
                assert type(value)(cell) == value, where


def test_csv_round_trip_with_pyarrow() -> None:
    table = sample_table().select(["i8", "i64", "f64", "s"])
    read = pacsv.read_csv(
        io.BytesIO(write(CSV, table, (2,))),
        convert_options=pacsv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False),
    )
    assert read.column_names == table.column_names
    for name in ["i8", "i64", "s"]:
        assert read[name].to_pylist() == table[name].to_pylist(), name
    np.testing.assert_array_equal(read["f64"].to_numpy(), table["f64"].to_numpy())


def test_csv_without_rows_has_the_header() -> None:
    table = sample_table().slice(0, 0)
    assert write(CSV, table).decode() == ",".join(f'"{col.name}"' for col in COLUMNS) + "\r\n"


# -- Parquet --------------------------------------------------------------------------------------

PARQUET = parse_format("parquet")


def test_parquet_rows_and_voparquet_footer() -> None:
    table = sample_table()
    data = write(PARQUET, table, (3, 1, 3), overflow=True, query="SELECT 1")
    read = pq.read_table(io.BytesIO(data))
    assert read.num_rows == NROWS
    for col in COLUMNS:
        assert pylist(read[col.name]) == pylist(table[col.name]), col.name
    footer = pq.ParquetFile(io.BytesIO(data)).metadata.metadata
    assert footer[b"IVOA.VOTable-Parquet.version"] == b"1.0"
    content = footer[b"IVOA.VOTable-Parquet.content"]
    parsed = parse(content)
    meta = parsed.get_first_table()
    assert [field.name for field in meta.fields] == table.column_names
    assert [field.datatype for field in meta.fields] == [col.datatype for col in COLUMNS]
    assert meta.fields[1].unit == "deg" and meta.fields[0].ucd == UCDS[0]
    assert meta.fields[0].description == "Column flag <0> & more"
    assert len(meta.array) == 0
    resource = ET.fromstring(content).find(f"{NS}RESOURCE")
    assert resource.find(f"{NS}TABLE/{NS}DATA") is None
    infos = [(info.name, info.value) for info in parsed.resources[0].infos]
    assert infos == [("QUERY_STATUS", "OK"), ("QUERY", "SELECT 1"), ("QUERY_STATUS", "OVERFLOW")]


def test_parquet_keeps_the_schema_metadata() -> None:
    table = sample_table().replace_schema_metadata({b"origin": b"lsstbox"})
    footer = pq.ParquetFile(io.BytesIO(write(PARQUET, table))).metadata.metadata
    assert footer[b"origin"] == b"lsstbox"
    read = pq.read_table(io.BytesIO(write(PARQUET, table.slice(0, 0))))
    assert read.num_rows == 0 and read.column_names == table.column_names


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.3", "1.4"])
def test_error_document(version: str) -> None:
    message = "Syntax error near 'FROM' at <line 1> & column 8: “quoted”\nsecond line"
    document = error_document(message, version=version)
    parsed = parse(document)
    (resource,) = parsed.resources
    assert resource.type == "results" and not resource.tables
    (info,) = resource.infos
    assert (info.name, info.value, info.content) == ("QUERY_STATUS", "ERROR", message)
    assert ET.fromstring(document).get("version") == version


def test_error_document_rejects_unknown_versions() -> None:
    with pytest.raises(ValueError, match=r"unsupported VOTable version '2\.0'"):
        error_document("x", version="2.0")


@pytest.mark.parametrize("fmt", [BINARY2, TABLEDATA, CSV, PARQUET], ids=lambda fmt: fmt.name)
def test_unsupported_column_type_fails_before_writing(fmt: Format) -> None:
    table = pa.table({"ok": [1], "blob": pa.array([b"\x00"], pa.binary())})
    out = io.BytesIO()
    with pytest.raises(TypeError, match="column 'blob' has Arrow type binary, which has no VOTable mapping"):
        write_result(out, fmt, table.schema, table.to_batches())
    assert out.getvalue() == b""


def test_batches_must_match_the_schema() -> None:
    schema = pa.schema([pa.field("x", pa.int64())])
    batch = pa.record_batch({"x": pa.array([1.5])})
    with pytest.raises(ValueError, match=r"record batch 0 has column types \[DataType\(double\)\]"):
        write_result(io.BytesIO(), BINARY2, schema, [batch])


def test_unsigned_values_beyond_long_are_refused() -> None:
    table = pa.table({"u": pa.array([2**63], pa.uint64())})
    with pytest.raises(pa.ArrowInvalid):
        write_result(io.BytesIO(), BINARY2, table.schema, table.to_batches())


# -- parse_format ---------------------------------------------------------------------------------

ALIASES = {
    "votable": "votable",
    "application/x-votable+xml": "votable",
    "text/xml": "votable",
    "application/x-votable+xml;serialization=binary2": "votable",
    "votable/b2": "votable",
    "votableb2": "votable",
    "application/x-votable+xml;serialization=tabledata": "votable-td",
    "votable/td": "votable-td",
    "votabletd": "votable-td",
    "csv": "csv",
    "text/csv": "csv",
    "text/csv;header=present": "csv",
    "parquet": "parquet",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}


@pytest.mark.parametrize(("value", "name"), ALIASES.items())
def test_parse_format_aliases(value: str, name: str) -> None:
    assert parse_format(value).name == name
    assert parse_format(value.upper()).name == name
    assert parse_format(f"  {value.replace(';', '; ')} ").name == name


@pytest.mark.parametrize("value", [None, "", "  "])
def test_parse_format_default_is_binary2(value: str | None) -> None:
    fmt = parse_format(value)
    assert fmt == Format("votable", "application/x-votable+xml;serialization=BINARY2", "vot")


def test_parse_format_reads_an_unencoded_plus() -> None:
    assert parse_format("application/x-votable xml").name == "votable"
    assert parse_format("application/x-votable xml;serialization=TABLEDATA").name == "votable-td"


def test_formats() -> None:
    assert parse_format("votable/td").mime == "application/x-votable+xml;serialization=TABLEDATA"
    assert (parse_format("csv").mime, parse_format("csv").extension) == ("text/csv;header=present", "csv")
    assert parse_format("parquet").mime == "application/vnd.apache.parquet"
    assert parse_format("parquet").extension == "parquet"


@pytest.mark.parametrize(
    "value", ["fits", "application/fits", "votable/b1", "json", "text/csv;header=absent"]
)
def test_parse_format_unknown(value: str) -> None:
    with pytest.raises(UnknownFormatError) as raised:
        parse_format(value)
    assert isinstance(raised.value, ValueError)
    assert raised.value.value == value
    message = str(raised.value)
    assert repr(value) in message
    for alias in ALIASES:
        assert alias in message
