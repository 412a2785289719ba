"""TAP_SCHEMA, the VOSI documents and the DALI examples of the TAP service (``server_ext/tap/vosi.py``).

Everything runs on the real tiny release: TAP_SCHEMA is checked against the manifest, the foreign
keys against the data, the XML documents against the IVOA schemas (``stilts xsdvalidate`` with
its local copies of VOSI, VODataService, VOResource and TAPRegExt), and the examples and every
declared ADQL feature through the query engine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kernel_lib.adql import UDFS, UnsupportedFeatureError, validate
from kernel_lib.engine import Engine
from kernel_lib.release.manifest import Release
from kernel_lib.release.obscore import OBSCORE_COLUMNS
from server_ext.tap import vosi

BASE = "http://localhost:8888/lsstbox/tap"
NS = {
    "vosi_t": "http://www.ivoa.net/xml/VOSITables/v1.0",
    "vosi_c": "http://www.ivoa.net/xml/VOSICapabilities/v1.0",
    "vosi_a": "http://www.ivoa.net/xml/VOSIAvailability/v1.0",
    "xhtml": "http://www.w3.org/1999/xhtml",
}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

#: TAP 1.1 §4: the columns of the TAP_SCHEMA tables, in order, and their Arrow types
S, INT = pa.string(), pa.int32()
STANDARD = {
    "TAP_SCHEMA.schemas": {"schema_name": S, "utype": S, "description": S, "schema_index": INT},
    "TAP_SCHEMA.tables": {
        "schema_name": S,
        "table_name": S,
        "table_type": S,
        "utype": S,
        "description": S,
        "table_index": INT,
    },
    "TAP_SCHEMA.columns": {
        "table_name": S,
        "column_name": S,
        "datatype": S,
        "arraysize": S,
        "xtype": S,
        "size": INT,
        "description": S,
        "utype": S,
        "unit": S,
        "ucd": S,
        "indexed": INT,
        "principal": INT,
        "std": INT,
        "column_index": INT,
    },
    "TAP_SCHEMA.keys": {"key_id": S, "from_table": S, "target_table": S, "utype": S, "description": S},
    "TAP_SCHEMA.key_columns": {"key_id": S, "from_column": S, "target_column": S},
}


@pytest.fixture(scope="module")
def release(tiny_release: Path) -> Release:
    return Release.open(tiny_release)


@pytest.fixture(scope="module")
def tap_schema(release: Release) -> dict[str, pa.Table]:
    return vosi.tap_schema_tables(release)


@pytest.fixture(scope="module")
def engine(release: Release) -> Engine:
    return Engine(release)


@pytest.fixture(scope="module")
def service_tables(release: Release, tap_schema: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """The tables the TAP service adds to the engine's: TAP_SCHEMA and ivoa.ObsCore."""
    obscore = pq.read_table(release.resolve(release.manifest["obscore"]["path"]))
    return {**tap_schema, "ivoa.ObsCore": obscore}


def rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def columns_of(tap_schema: dict[str, pa.Table], table: str) -> dict[str, dict]:
    return {r["column_name"]: r for r in rows(tap_schema["TAP_SCHEMA.columns"]) if r["table_name"] == table}


# -- TAP_SCHEMA -----------------------------------------------------------------------------------


def test_tap_schema_has_exactly_the_standard_columns(tap_schema: dict[str, pa.Table]) -> None:
    assert list(tap_schema) == list(STANDARD)
    for name, expected in STANDARD.items():
        assert tap_schema[name].schema == pa.schema(list(expected.items())), name
        assert tap_schema[name].num_rows > 0, name


def test_schemas_and_tables(release: Release, tap_schema: dict[str, pa.Table]) -> None:
    schemas = {r["schema_name"]: r for r in rows(tap_schema["TAP_SCHEMA.schemas"])}
    assert set(schemas) == {"dp1", "ivoa", "TAP_SCHEMA"}
    tables = {r["table_name"]: r for r in rows(tap_schema["TAP_SCHEMA.tables"])}
    for name, entry in release.catalogs.items():
        t = tables[f"dp1.{name}"]
        assert (t["schema_name"], t["table_type"], t["description"]) == ("dp1", "table", entry["description"])
    assert tables["ivoa.ObsCore"]["schema_name"] == "ivoa"
    assert set(tables) == {f"dp1.{n}" for n in release.catalogs} | {"ivoa.ObsCore"} | set(STANDARD)
    assert all(t["schema_name"] in schemas for t in tables.values())


def test_every_manifest_column_is_described(release: Release, tap_schema: dict[str, pa.Table]) -> None:
    for name, entry in release.catalogs.items():
        described = columns_of(tap_schema, f"dp1.{name}")
        assert list(described) == [c["name"] for c in entry["columns"]], name
        for c in entry["columns"]:
            row = described[c["name"]]
            assert row["datatype"] == c["datatype"]
            assert row["arraysize"] == ("*" if c["datatype"] == "char" else None)
            assert row["unit"] == (c["unit"] or None)
            assert row["ucd"] == (c["ucd"] or None)
            assert row["description"] == c["description"]
            assert row["std"] == 0
            assert row["xtype"] is None and row["size"] is None and row["utype"] is None


def test_flags_follow_keys_positions_and_photometry(
    release: Release, tap_schema: dict[str, pa.Table]
) -> None:
    for name, entry in release.catalogs.items():
        described = columns_of(tap_schema, f"dp1.{name}")
        indexed = {c for c, r in described.items() if r["indexed"] == 1}
        assert indexed == {entry["primary_key"], entry["ra_column"], entry["dec_column"]}, name
        principal = {c for c, r in described.items() if r["principal"] == 1}
        assert indexed <= principal
        if entry.get("director"):
            assert entry["director"][0] in principal
        assert all(r[f] in (0, 1) for r in described.values() for f in ("indexed", "principal", "std"))
    obj = columns_of(tap_schema, "dp1.Object")
    assert obj["r_psfFlux"]["principal"] == obj["r_psfMagErr"]["principal"] == 1
    assert obj["r_cModelFlux"]["principal"] == obj["tract"]["principal"] == 0
    assert columns_of(tap_schema, "dp1.ForcedSource")["band"]["principal"] == 1


def test_obscore_columns(tap_schema: dict[str, pa.Table]) -> None:
    described = columns_of(tap_schema, "ivoa.ObsCore")
    assert list(described) == list(OBSCORE_COLUMNS)
    for name, meta in OBSCORE_COLUMNS.items():
        row = described[name]
        assert (row["datatype"], row["arraysize"]) == (meta["datatype"], meta["arraysize"])
        assert (row["unit"], row["ucd"], row["utype"]) == (
            meta["unit"] or None,
            meta["ucd"],
            meta["utype"] or None,
        )
        assert (row["std"], row["principal"], row["indexed"]) == (
            int(meta["std"]),
            int(meta["principal"]),
            int(meta["indexed"]),
        )
    assert described["dataproduct_type"]["std"] == 1 and described["lsst_band"]["std"] == 0


def test_tap_schema_describes_itself(tap_schema: dict[str, pa.Table]) -> None:
    for name, table in tap_schema.items():
        described = columns_of(tap_schema, name)
        assert [c.strip('"') for c in described] == table.column_names
        for field in table.schema:
            row = described['"size"' if field.name == "size" else field.name]
            assert row["datatype"] == ("char" if field.type == pa.string() else "int")
            assert row["std"] == 1 and row["description"]
    # a reserved word: listed as it must be written in queries
    assert '"size"' in columns_of(tap_schema, "TAP_SCHEMA.columns")


def test_indexes_increase(tap_schema: dict[str, pa.Table]) -> None:
    assert rows(tap_schema["TAP_SCHEMA.schemas"])[0]["schema_name"] == "dp1"
    for name, key in (("TAP_SCHEMA.schemas", "schema_index"), ("TAP_SCHEMA.tables", "table_index")):
        values = tap_schema[name][key].to_pylist()
        assert values == sorted(set(values)), name
    per_table: dict[str, list[int]] = {}
    for r in rows(tap_schema["TAP_SCHEMA.columns"]):
        per_table.setdefault(r["table_name"], []).append(r["column_index"])
    for table, values in per_table.items():
        assert values == list(range(1, len(values) + 1)), table


def test_nulls_not_empty_strings(tap_schema: dict[str, pa.Table]) -> None:
    for name, table in tap_schema.items():
        for field in table.schema:
            if field.type == pa.string() and field.name != "description":
                assert "" not in table[field.name].to_pylist(), (name, field.name)
    # NULL where there is no value
    tables = {r["table_name"]: r for r in rows(tap_schema["TAP_SCHEMA.tables"])}
    assert tables["dp1.Object"]["utype"] is None
    assert columns_of(tap_schema, "dp1.Object")["objectId"]["unit"] is None


def test_keys_reference_existing_columns(tap_schema: dict[str, pa.Table]) -> None:
    keys = {r["key_id"]: r for r in rows(tap_schema["TAP_SCHEMA.keys"])}
    assert len(keys) == tap_schema["TAP_SCHEMA.keys"].num_rows
    pairs: dict[str, list[tuple[str, str]]] = {}
    for r in rows(tap_schema["TAP_SCHEMA.key_columns"]):
        pairs.setdefault(r["key_id"], []).append((r["from_column"], r["target_column"]))
    assert set(pairs) == set(keys)
    for key_id, k in keys.items():
        for from_col, target_col in pairs[key_id]:
            assert from_col in columns_of(tap_schema, k["from_table"]), key_id
            assert target_col in columns_of(tap_schema, k["target_table"]), key_id
    links = {(k["from_table"], *pairs[i][0], k["target_table"]) for i, k in keys.items()}
    for link in (
        ("dp1.Source", "objectId", "objectId", "dp1.Object"),
        ("dp1.ForcedSource", "objectId", "objectId", "dp1.Object"),
        ("dp1.DiaSource", "diaObjectId", "diaObjectId", "dp1.DiaObject"),
        ("dp1.ForcedSource", "visit", "visit", "dp1.Visit"),
        ("dp1.Source", "visit", "visit", "dp1.Visit"),
        ("dp1.CcdVisit", "visitId", "visit", "dp1.Visit"),
        ("TAP_SCHEMA.columns", "table_name", "table_name", "TAP_SCHEMA.tables"),
    ):
        assert link in links


def test_release_keys_hold_on_the_data(tap_schema: dict[str, pa.Table], engine: Engine) -> None:
    keys = {r["key_id"]: r for r in rows(tap_schema["TAP_SCHEMA.keys"])}
    checked = 0
    for r in rows(tap_schema["TAP_SCHEMA.key_columns"]):
        k = keys[r["key_id"]]
        if not k["from_table"].startswith("dp1."):
            continue
        query = (
            f"SELECT COUNT(*) AS n FROM {k['from_table']} AS f LEFT OUTER JOIN {k['target_table']} AS t "
            f"ON t.{r['target_column']} = f.{r['from_column']} WHERE t.{r['target_column']} IS NULL"
        )
        assert engine.adql(query).table["n"].to_pylist() == [0], query
        checked += 1
    assert checked >= 6


# -- VOSI XML -------------------------------------------------------------------------------------


def stilts() -> str:
    path = shutil.which("stilts")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(
                "stilts is not installed (apt-get install stilts): the VOSI documents cannot be validated"
            )
        pytest.skip("stilts is not installed: the VOSI documents are not validated against the schemas")
    return path


def assert_schema_valid(doc: bytes, path: Path) -> None:
    """``doc`` is well-formed and valid against the IVOA schemas it uses."""
    ET.fromstring(doc)
    path.write_bytes(doc)
    proc = subprocess.run(
        [stilts(), "xsdvalidate", "uselocals=true", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "ERROR" not in report, report


def capabilities() -> bytes:
    return vosi.capabilities_xml(
        BASE,
        upload_limit_bytes=64 * 1024 * 1024,
        output_limit_rows=20_000_000,
        default_limit_rows=100_000,
        max_duration_s=3600,
        retention_days=7,
        obscore=True,
    )


DOCUMENTS: dict[str, Callable[[Release], bytes]] = {
    "tableset": vosi.tableset_xml,
    "table-object": lambda r: vosi.table_xml(r, "dp1.Object"),
    "table-obscore": lambda r: vosi.table_xml(r, "ivoa.ObsCore"),
    "table-tap-schema": lambda r: vosi.table_xml(r, "TAP_SCHEMA.columns"),
    "capabilities": lambda r: capabilities(),
    "available": lambda r: vosi.availability_xml(True, "accepting queries"),
    "unavailable": lambda r: vosi.availability_xml(False, ""),
}


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_documents_are_schema_valid(name: str, release: Release, tmp_path: Path) -> None:
    assert_schema_valid(DOCUMENTS[name](release), tmp_path / f"{name}.xml")


def test_stilts_rejects_an_invalid_document(tmp_path: Path) -> None:
    bad = vosi.availability_xml(True, "").replace(b">true<", b">yes<")
    with pytest.raises(AssertionError, match="not a valid value"):
        assert_schema_valid(bad, tmp_path / "bad.xml")


def test_tableset_matches_tap_schema(release: Release, tap_schema: dict[str, pa.Table]) -> None:
    root = ET.fromstring(vosi.tableset_xml(release))
    assert root.tag == f"{{{NS['vosi_t']}}}tableset"
    described = {(r["table_name"], r["column_name"]): r for r in rows(tap_schema["TAP_SCHEMA.columns"])}
    seen = {}
    fks = set()
    for schema in root.findall("schema"):
        for table in schema.findall("table"):
            tname = table.findtext("name")
            assert table.get("type") == "output"
            for col in table.findall("column"):
                seen[(tname, col.findtext("name"))] = col
            for fk in table.findall("foreignKey"):
                for pair in fk.findall("fkColumn"):
                    fks.add(
                        (
                            tname,
                            pair.findtext("fromColumn"),
                            pair.findtext("targetColumn"),
                            fk.findtext("targetTable"),
                        )
                    )
    assert set(seen) == set(described)
    for key, col in seen.items():
        row = described[key]
        assert col.findtext("unit") == row["unit"] and col.findtext("ucd") == row["ucd"]
        assert col.findtext("utype") == row["utype"]
        data_type = col.find("dataType")
        assert data_type is not None and data_type.text == row["datatype"]
        assert data_type.get(XSI_TYPE) == "vs:VOTableType" and data_type.get("arraysize") == row["arraysize"]
        flags = {f.text for f in col.findall("flag")}
        assert ("indexed" in flags, "principal" in flags) == (row["indexed"] == 1, row["principal"] == 1)
        assert (col.get("std") == "true") == (row["std"] == 1)
    keys = {r["key_id"]: r for r in rows(tap_schema["TAP_SCHEMA.keys"])}
    expected = {
        (
            keys[r["key_id"]]["from_table"],
            r["from_column"],
            r["target_column"],
            keys[r["key_id"]]["target_table"],
        )
        for r in rows(tap_schema["TAP_SCHEMA.key_columns"])
    }
    assert fks == expected
    nrows = {t.findtext("name"): t.findtext("nrows") for t in root.iter("table")}
    assert nrows["dp1.Object"] == str(release.catalogs["Object"]["rows"])


def test_table_xml(release: Release) -> None:
    root = ET.fromstring(vosi.table_xml(release, "dp1.forcedsource"))
    assert root.tag == f"{{{NS['vosi_t']}}}table"
    assert root.findtext("name") == "dp1.ForcedSource"
    targets = {fk.findtext("targetTable") for fk in root.findall("foreignKey")}
    assert targets == {"dp1.Object", "dp1.Visit"}
    with pytest.raises(KeyError):
        vosi.table_xml(release, "dp1.NoSuchTable")


def test_capabilities_content() -> None:
    root = ET.fromstring(capabilities())
    assert root.tag == f"{{{NS['vosi_c']}}}capabilities"
    caps = {c.get("standardID"): c for c in root.findall("capability")}
    urls = {sid: c.findtext("interface/accessURL") for sid, c in caps.items()}
    assert urls == {
        "ivo://ivoa.net/std/TAP": BASE,
        "ivo://ivoa.net/std/VOSI#capabilities": f"{BASE}/capabilities",
        "ivo://ivoa.net/std/VOSI#availability": f"{BASE}/availability",
        "ivo://ivoa.net/std/VOSI#tables": f"{BASE}/tables",
        "ivo://ivoa.net/std/DALI#examples": f"{BASE}/examples",
    }
    tap = caps["ivo://ivoa.net/std/TAP"]
    assert tap.get(XSI_TYPE) == "tr:TableAccess"
    interface = tap.find("interface")
    assert interface is not None
    assert (interface.get("role"), interface.get("version"), interface.get(XSI_TYPE)) == (
        "std",
        "1.1",
        "vs:ParamHTTP",
    )
    versions = {v.text: v.get("ivo-id") for v in tap.findall("language/version")}
    assert versions == {"2.0": "ivo://ivoa.net/std/ADQL#v2.0", "2.1": "ivo://ivoa.net/std/ADQL#v2.1"}
    formats = {f.findtext("mime"): [a.text for a in f.findall("alias")] for f in tap.findall("outputFormat")}
    assert formats == {
        "application/x-votable+xml": ["votable"],
        "application/x-votable+xml;serialization=TABLEDATA": ["votable/td"],
        "text/csv;header=present": ["csv"],
        "application/vnd.apache.parquet": ["parquet"],
    }
    assert {m.get("ivo-id") for m in tap.findall("uploadMethod")} == {
        "ivo://ivoa.net/std/TAPRegExt#upload-inline",
        "ivo://ivoa.net/std/TAPRegExt#upload-http",
    }
    assert tap.findtext("retentionPeriod/default") == str(7 * 86400)
    assert tap.findtext("executionDuration/hard") == "3600"
    assert [(e.tag, e.text, e.get("unit")) for e in tap.findall("outputLimit/*")] == [
        ("default", "100000", "row"),
        ("hard", "20000000", "row"),
    ]
    assert [(e.tag, e.text, e.get("unit")) for e in tap.findall("uploadLimit/*")] == [
        ("hard", "67108864", "byte")
    ]
    assert tap.find("dataModel") is not None
    without = ET.fromstring(
        vosi.capabilities_xml(
            BASE,
            upload_limit_bytes=1,
            output_limit_rows=1,
            default_limit_rows=1,
            max_duration_s=1,
            retention_days=1,
        )
    )
    assert without.find("capability/dataModel") is None


#: one query per declared ADQL feature, run to prove the engine implements it
_POS = "POINT('ICRS', coord_ra, coord_dec)"
FEATURE_QUERIES = {
    "POINT": f"SELECT TOP 1 {_POS} AS p FROM dp1.Object",
    "CIRCLE": "SELECT TOP 1 CIRCLE('ICRS', 53.16, -28.1, 0.01) AS c FROM dp1.Object",
    "BOX": f"SELECT COUNT(*) FROM dp1.Object WHERE 1 = CONTAINS({_POS}, BOX('ICRS', 53.16, -28.1, 0.1, 0.1))",
    "POLYGON": f"SELECT COUNT(*) FROM dp1.Object WHERE 1 = CONTAINS({_POS}, "
    "POLYGON('ICRS', 53.0, -28.2, 53.3, -28.2, 53.3, -28.0, 53.0, -28.0))",
    "CONTAINS": f"SELECT COUNT(*) FROM dp1.Object "
    f"WHERE 1 = CONTAINS({_POS}, CIRCLE('ICRS', 53.16, -28.1, 0.02))",
    "INTERSECTS": "SELECT COUNT(*) FROM dp1.Visit WHERE 1 = INTERSECTS(CIRCLE('ICRS', ra, dec, 1.0), "
    "CIRCLE('ICRS', 53.16, -28.1, 0.02))",
    "DISTANCE": f"SELECT TOP 1 DISTANCE({_POS}, POINT('ICRS', 53.16, -28.1)) FROM dp1.Object",
    "COORD1": f"SELECT TOP 1 COORD1({_POS}) FROM dp1.Object",
    "COORD2": f"SELECT TOP 1 COORD2({_POS}) FROM dp1.Object",
    "COORDSYS": f"SELECT TOP 1 COORDSYS({_POS}) FROM dp1.Object",
    "AREA": "SELECT TOP 1 AREA(CIRCLE('ICRS', 53.16, -28.1, 0.02)) FROM dp1.Visit",
    "CENTROID": "SELECT TOP 1 CENTROID(CIRCLE('ICRS', 53.16, -28.1, 0.02)) FROM dp1.Visit",
    "LOWER": "SELECT TOP 1 LOWER(band) FROM dp1.Visit",
    "UPPER": "SELECT TOP 1 UPPER(band) FROM dp1.Visit",
    "ILIKE": "SELECT TOP 1 band FROM dp1.Visit WHERE band ILIKE 'R'",
    "UNION": "SELECT visit FROM dp1.Visit UNION SELECT visitId FROM dp1.CcdVisit",
    "EXCEPT": "SELECT visit FROM dp1.Visit EXCEPT SELECT visit FROM dp1.Visit WHERE band = 'r'",
    "INTERSECT": "SELECT visit FROM dp1.Visit INTERSECT SELECT visitId FROM dp1.CcdVisit",
    "WITH": "WITH v AS (SELECT visit FROM dp1.Visit) SELECT COUNT(*) FROM v",
    "CAST": "SELECT TOP 1 CAST(visit AS VARCHAR(20)), CAST(airmass AS REAL) FROM dp1.Visit",
    "OFFSET": "SELECT visit FROM dp1.Visit ORDER BY visit OFFSET 1",
    "scisql_nanojanskyToAbMag": "SELECT TOP 1 scisql_nanojanskyToAbMag(r_psfFlux) FROM dp1.Object",
    "scisql_nanojanskyToAbMagSigma": "SELECT TOP 1 scisql_nanojanskyToAbMagSigma(r_psfFlux, r_psfFluxErr) "
    "FROM dp1.Object",
    "scisql_angSep": "SELECT TOP 1 scisql_angSep(coord_ra, coord_dec, 53.16, -28.1) FROM dp1.Object",
    "scisql_s2PtInCircle": "SELECT COUNT(*) FROM dp1.Object "
    "WHERE scisql_s2PtInCircle(coord_ra, coord_dec, 53.16, -28.1, 0.02) = 1",
    "scisql_s2PtInBox": "SELECT COUNT(*) FROM dp1.Object "
    "WHERE scisql_s2PtInBox(coord_ra, coord_dec, 53.0, -28.2, 53.3, -28.0) = 1",
    "scisql_s2PtInCPoly": "SELECT COUNT(*) FROM dp1.Object "
    "WHERE scisql_s2PtInCPoly(coord_ra, coord_dec, 53.0, -28.2, 53.3, -28.2, 53.3, -28.0, 53.0, -28.0) = 1",
}
#: ADQL 2.1 §2.4 signature grammar of a UDF form, with the ADQL type names
_TYPE = r"(?:SMALLINT|INTEGER|BIGINT|REAL|DOUBLE|CHAR|VARCHAR|TIMESTAMP|POINT|CIRCLE|POLYGON)"
_UDF_FORM = re.compile(rf"([A-Za-z]\w*)\(([A-Za-z]\w* {_TYPE}(?:, [A-Za-z]\w* {_TYPE})*)\) -> {_TYPE}")


def declared_features() -> dict[str, tuple[str, str]]:
    """Feature name -> (TAPRegExt type, form) as declared in the capabilities document."""
    root = ET.fromstring(capabilities())
    out = {}
    for group in root.iterfind("capability/language/languageFeatures"):
        for form in group.iterfind("feature/form"):
            text = str(form.text)
            out[text.split("(")[0]] = (str(group.get("type")), text)
    return out


def test_declared_features_are_implemented(engine: Engine) -> None:
    declared = declared_features()
    assert set(declared) == set(FEATURE_QUERIES)
    for name, (kind, form) in declared.items():
        assert kind.startswith("ivo://ivoa.net/std/TAPRegExt#features-")
        if kind.endswith("#features-udf"):
            m = _UDF_FORM.fullmatch(form)
            assert m is not None, form
            udf = UDFS[name.lower()]
            assert udf.name == name
            n_args = m.group(2).count(",") + 1
            assert udf.min_args <= n_args and (udf.max_args is None or n_args <= udf.max_args), form
        assert engine.adql(FEATURE_QUERIES[name]).table.num_rows > 0, name


def test_unimplemented_features_are_not_declared(engine: Engine) -> None:
    declared = declared_features()
    for name, query in (
        ("IN_UNIT", "SELECT TOP 1 IN_UNIT(expTime, 'min') FROM dp1.Visit"),
        ("REGION", "SELECT COUNT(*) FROM dp1.Visit WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), REGION('x'))"),
        ("ivo_healpix_index", "SELECT TOP 1 ivo_healpix_index(10, ra, dec) FROM dp1.Visit"),
    ):
        assert name not in declared
        with pytest.raises(UnsupportedFeatureError):
            engine.adql(query)


def test_availability_content() -> None:
    up = ET.fromstring(vosi.availability_xml(True, "accepting queries"))
    assert up.tag == f"{{{NS['vosi_a']}}}availability"
    assert up.findtext("vosi_a:available", namespaces=NS) == "true"
    assert up.findtext("vosi_a:note", namespaces=NS) == "accepting queries"
    down = ET.fromstring(vosi.availability_xml(False, ""))
    assert down.findtext("vosi_a:available", namespaces=NS) == "false"
    assert down.find("vosi_a:note", namespaces=NS) is None


# -- DALI examples --------------------------------------------------------------------------------


@pytest.mark.parametrize("example", vosi.EXAMPLES, ids=[vosi.example_id(e[0]) for e in vosi.EXAMPLES])
def test_example_runs(
    example: tuple[str, str, str], engine: Engine, service_tables: dict[str, pa.Table]
) -> None:
    _, _, query = example
    validate(query)
    # ivoa.ObsCore and TAP_SCHEMA are tables the service adds to the engine's
    extra = {k: t for k, t in service_tables.items() if k.lower() in query.lower()}
    assert engine.adql(query, tables=extra).table.num_rows > 0


def test_examples_cover_the_release() -> None:
    assert 8 <= len(vosi.EXAMPLES) <= 12
    text = "\n".join(q for _, _, q in vosi.EXAMPLES)
    for needed in (
        "CONTAINS(POINT",
        "scisql_nanojanskyToAbMag(",
        "GROUP BY band",
        "JOIN dp1.Visit",
        "dp1.DiaSource",
        "SELECT TOP",
        "JOIN dp1.Reference",
        "FROM ivoa.ObsCore",
        "FROM TAP_SCHEMA.",
    ):
        assert needed in text, needed


def test_examples_document() -> None:
    doc = vosi.examples_xhtml(BASE)
    root = ET.fromstring(doc)
    assert root.tag == f"{{{NS['xhtml']}}}html"
    assert doc.count(b'property="query"') == len(vosi.EXAMPLES)
    vocabs = [e for e in root.iter() if e.get("vocab") is not None]
    assert [e.get("vocab") for e in vocabs] == ["http://www.ivoa.net/rdf/examples#"]
    examples = [e for e in vocabs[0].iter() if e.get("typeof") == "example"]
    assert len(examples) == len(vosi.EXAMPLES)
    assert len({e.get("id") for e in examples}) == len(examples)
    for el, (name, description, query) in zip(examples, vosi.EXAMPLES, strict=True):
        assert el.get("resource") == f"#{el.get('id')}"
        assert re.fullmatch(r"[a-z][a-z0-9-]*", str(el.get("id")))
        props = {e.get("property"): e for e in el.iter() if e.get("property")}
        assert set(props) == {"name", "query"}
        assert props["name"].text == name and len(props["name"]) == 0
        assert props["query"].text == query and len(props["query"]) == 0
        assert description in [p.text for p in el.iter(f"{{{NS['xhtml']}}}p")]
