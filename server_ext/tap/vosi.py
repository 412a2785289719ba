"""What the TAP service says about itself: TAP_SCHEMA, the VOSI documents and the DALI examples.

* :func:`tap_schema_tables` -- the five ``TAP_SCHEMA`` tables of TAP 1.1 §4 as Arrow tables, for
  queries on ``TAP_SCHEMA.*``;
* :func:`tableset_xml`, :func:`table_xml` -- VOSI 1.1 ``/tables`` and ``/tables/<name>``;
* :func:`capabilities_xml` -- VOSI ``/capabilities`` with the TAPRegExt 1.0 TAP capability;
* :func:`availability_xml` -- VOSI ``/availability``;
* :data:`EXAMPLES`, :func:`examples_xhtml` -- DALI 1.1 ``/examples`` (XHTML with RDFa).

All of them describe the same model, built from the release manifest by :func:`_metadata`:

* schemas ``dp1`` (the release's catalogs), ``ivoa`` (``ivoa.ObsCore``, when the manifest has an
  ObsCore table) and ``TAP_SCHEMA`` (which lists its own tables and columns too);
* foreign keys: each dependent table's director key (``dp1.Source.objectId`` ->
  ``dp1.Object.objectId``...), every ``visit``/``visitId`` column -> ``dp1.Visit.visit``, and
  TAP_SCHEMA's own keys;
* ``indexed`` = 1 for primary keys and the positions (the catalogs are spatially partitioned);
* ``principal`` = 1 for the columns a client shows by default: the keys (primary, director and
  visit keys), the positions, ``band`` and the PSF photometry (PSF fluxes and magnitudes and
  their errors, per band where the table has bands; Reference's mean magnitudes);
* ``std`` = 1 for the standard ObsCore columns and for TAP_SCHEMA's.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pyarrow as pa

from kernel_lib.release.manifest import Release
from kernel_lib.release.obscore import OBSCORE_COLUMNS
from kernel_lib.release.schema import TABLES

__all__ = [
    "ADQL_FEATURES",
    "EXAMPLES",
    "OUTPUT_FORMATS",
    "availability_xml",
    "capabilities_xml",
    "example_id",
    "examples_xhtml",
    "table_xml",
    "tableset_xml",
    "tap_schema_tables",
]

RELEASE_SCHEMA = "dp1"
OBSCORE_TABLE = "ivoa.ObsCore"

NS_VOSI_TABLES = "http://www.ivoa.net/xml/VOSITables/v1.0"
NS_VOSI_CAPABILITIES = "http://www.ivoa.net/xml/VOSICapabilities/v1.0"
NS_VOSI_AVAILABILITY = "http://www.ivoa.net/xml/VOSIAvailability/v1.0"
NS_VR = "http://www.ivoa.net/xml/VOResource/v1.0"
NS_VS = "http://www.ivoa.net/xml/VODataService/v1.1"
NS_TR = "http://www.ivoa.net/xml/TAPRegExt/v1.0"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_XHTML = "http://www.w3.org/1999/xhtml"
EXAMPLES_VOCAB = "http://www.ivoa.net/rdf/examples#"

# -- the model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    name: str
    datatype: str
    description: str = ""
    unit: str = ""
    ucd: str = ""
    utype: str = ""
    indexed: bool = False
    principal: bool = False
    std: bool = False
    primary: bool = False

    @property
    def arraysize(self) -> str | None:
        return "*" if self.datatype == "char" else None

    def tap_schema_row(self, table: str, index: int) -> tuple[Any, ...]:
        """The column's row of ``TAP_SCHEMA.columns`` (no xtype or size)."""
        return (
            table,
            self.name,
            self.datatype,
            self.arraysize,
            None,
            None,
            self.description,
            self.utype or None,
            self.unit or None,
            self.ucd or None,
            int(self.indexed),
            int(self.principal),
            int(self.std),
            index,
        )


@dataclass(frozen=True)
class _Key:
    key_id: str
    from_table: str
    target_table: str
    #: (from column, target column) pairs
    columns: tuple[tuple[str, str], ...]
    description: str


@dataclass
class _Table:
    name: str
    description: str
    columns: list[_Column]
    nrows: int | None = None
    keys: list[_Key] = field(default_factory=list)


@dataclass(frozen=True)
class _Schema:
    name: str
    description: str
    tables: tuple[_Table, ...]


#: PSF photometry columns, the "main photometry" marked principal (see the module docstring)
_PRINCIPAL_PHOTOMETRY = re.compile(r"(?:[a-z]_)?psf(?:Diff)?(?:Flux|Mag|FluxMean)(?:Err)?|phot_\w+_mean_mag")
#: columns holding a visit id, linked to ``dp1.Visit.visit``
_VISIT_KEYS = ("visit", "visitId")


def _release_table(name: str, entry: dict[str, Any]) -> _Table:
    positions = {entry.get("ra_column"), entry.get("dec_column")} - {None}
    director = entry.get("director")
    keys = {entry.get("primary_key"), director[0] if director else None, *_VISIT_KEYS} - {None}
    columns = []
    for c in entry.get("columns", []):
        cname = str(c["name"])
        columns.append(
            _Column(
                name=cname,
                datatype=str(c.get("datatype") or "char"),
                description=str(c.get("description") or ""),
                unit=str(c.get("unit") or ""),
                ucd=str(c.get("ucd") or ""),
                indexed=cname in positions or cname == entry.get("primary_key"),
                principal=cname in keys
                or cname in positions
                or cname == "band"
                or bool(_PRINCIPAL_PHOTOMETRY.fullmatch(cname)),
                primary=cname == entry.get("primary_key"),
            )
        )
    return _Table(
        f"{entry.get('schema') or RELEASE_SCHEMA}.{name}",
        str(entry.get("description") or ""),
        columns,
        nrows=int(entry["rows"]) if "rows" in entry else None,
    )


def _release_keys(tables: dict[str, _Table], catalogs: dict[str, dict[str, Any]]) -> None:
    """Add the director and visit foreign keys to the release tables (``tables`` by short name)."""

    def has(table: str, column: str) -> bool:
        return table in tables and any(c.name == column for c in tables[table].columns)

    for name, entry in catalogs.items():
        t = tables[name]
        director = entry.get("director")
        if director and has(name, director[0]) and has(director[1], director[2]):
            col, target, tcol = (str(x) for x in director)
            t.keys.append(
                _Key(
                    f"{t.name}.{col}",
                    t.name,
                    tables[target].name,
                    ((col, tcol),),
                    f"{name}.{col} is the {target} it belongs to (the director key: {name} rows are "
                    f"stored with their {target})",
                )
            )
        for col in _VISIT_KEYS:
            if name != "Visit" and has(name, col) and has("Visit", "visit"):
                t.keys.append(
                    _Key(
                        f"{t.name}.{col}",
                        t.name,
                        tables["Visit"].name,
                        ((col, "visit"),),
                        f"{name}.{col} is the visit of the row",
                    )
                )


def _obscore_table(release: Release) -> _Table:
    columns = [
        _Column(
            name=name,
            datatype=m["datatype"],
            description=m["description"],
            unit=m["unit"],
            ucd=m["ucd"],
            utype=m["utype"],
            indexed=m["indexed"],
            principal=m["principal"],
            std=m["std"],
        )
        for name, m in OBSCORE_COLUMNS.items()
    ]
    rows = release.manifest["obscore"].get("rows")
    return _Table(
        OBSCORE_TABLE,
        f"ObsCore 1.1 description of the images of release {release.name}, one row per image file, "
        "with Rubin's extension columns (lsst_*)",
        columns,
        nrows=int(rows) if rows is not None else None,
    )


def _str(description: str) -> tuple[str, str]:
    return "char", description


def _int(description: str) -> tuple[str, str]:
    return "int", description


#: TAP 1.1 §4: the TAP_SCHEMA tables: description and column name -> (datatype, description)
_TAP_SCHEMA: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "schemas": (
        "The schemas of this service",
        {
            "schema_name": _str("Schema name, as used in queries"),
            "utype": _str("Data model type of the schema"),
            "description": _str("What the schema holds"),
            "schema_index": _int("Recommended order when listing schemas"),
        },
    ),
    "tables": (
        "The tables of this service",
        {
            "schema_name": _str("Schema of the table (TAP_SCHEMA.schemas.schema_name)"),
            "table_name": _str("Fully qualified table name, as used in queries"),
            "table_type": _str("table or view"),
            "utype": _str("Data model type of the table"),
            "description": _str("What the table holds"),
            "table_index": _int("Recommended order when listing tables"),
        },
    ),
    "columns": (
        "The columns of the tables of this service",
        {
            "table_name": _str("Table of the column (TAP_SCHEMA.tables.table_name)"),
            "column_name": _str("Column name, as used in queries"),
            "datatype": _str("VOTable datatype of the column"),
            "arraysize": _str("VOTable arraysize of the column (* for strings)"),
            "xtype": _str("DALI extended type of the column"),
            '"size"': _int("Deprecated length of the column; see arraysize"),
            "description": _str("What the column holds"),
            "utype": _str("Data model type of the column"),
            "unit": _str("Unit of the column (VOUnits)"),
            "ucd": _str("UCD 1+ of the column"),
            "indexed": _int("1 if queries constraining the column are fast (index or partitioning), else 0"),
            "principal": _int("1 if the column is one of the main ones of its table, else 0"),
            "std": _int("1 if the column is defined by a standard, else 0"),
            "column_index": _int("Recommended order when listing the columns of a table"),
        },
    ),
    "keys": (
        "The foreign keys between the tables of this service",
        {
            "key_id": _str("Identifier of the key"),
            "from_table": _str("Table holding the key (TAP_SCHEMA.tables.table_name)"),
            "target_table": _str("Table the key points to (TAP_SCHEMA.tables.table_name)"),
            "utype": _str("Data model type of the key"),
            "description": _str("What the key means"),
        },
    ),
    "key_columns": (
        "The columns of the foreign keys",
        {
            "key_id": _str("Key of the column pair (TAP_SCHEMA.keys.key_id)"),
            "from_column": _str("Column of from_table"),
            "target_column": _str("Column of target_table"),
        },
    ),
}
#: TAP_SCHEMA's own foreign keys: (table, column, target table, target column)
_TAP_SCHEMA_KEYS = (
    ("tables", "schema_name", "schemas", "schema_name"),
    ("columns", "table_name", "tables", "table_name"),
    ("keys", "from_table", "tables", "table_name"),
    ("keys", "target_table", "tables", "table_name"),
    ("key_columns", "key_id", "keys", "key_id"),
)


def _tap_schema_schema() -> _Schema:
    tables = {
        short: _Table(
            f"TAP_SCHEMA.{short}",
            description,
            [
                _Column(name, datatype, text, principal=True, std=True)
                for name, (datatype, text) in columns.items()
            ],
        )
        for short, (description, columns) in _TAP_SCHEMA.items()
    }
    for short, col, target, tcol in _TAP_SCHEMA_KEYS:
        t = tables[short]
        t.keys.append(
            _Key(
                f"{t.name}.{col}",
                t.name,
                tables[target].name,
                ((col, tcol),),
                f"{col} is a {tcol} of TAP_SCHEMA.{target}",
            )
        )
    return _Schema(
        "TAP_SCHEMA", "Metadata of this service's tables and columns (TAP 1.1)", tuple(tables.values())
    )


def _metadata(release: Release) -> list[_Schema]:
    """The schemas this service serves, in listing order."""
    catalogs = release.catalogs
    order = {name: i for i, name in enumerate(TABLES)}
    names = sorted(catalogs, key=lambda n: (order.get(n, len(order)), list(catalogs).index(n)))
    tables = {name: _release_table(name, catalogs[name]) for name in names}
    _release_keys(tables, catalogs)
    groups: dict[str, list[_Table]] = {}
    for name in names:
        groups.setdefault(str(catalogs[name].get("schema") or RELEASE_SCHEMA), []).append(tables[name])
    schemas = []
    for schema, members in groups.items():
        if schema == RELEASE_SCHEMA:
            listed = ", ".join(t.name.split(".", 1)[1] for t in members)
            text = f"The catalogs of release {release.name} ({listed}), with Rubin DP1 table and column names"
        else:
            text = f"Further catalogs of release {release.name}"
        schemas.append(_Schema(schema, text, tuple(members)))
    if release.manifest.get("obscore"):
        schemas.append(_Schema("ivoa", "IVOA standard tables: the ObsCore table", (_obscore_table(release),)))
    schemas.append(_tap_schema_schema())
    return schemas


# -- TAP_SCHEMA -----------------------------------------------------------------------------------


def _arrow(short: str, rows: list[tuple[Any, ...]]) -> pa.Table:
    names = [n.strip('"') for n in _TAP_SCHEMA[short][1]]
    types = [pa.string() if t == "char" else pa.int32() for t, _ in _TAP_SCHEMA[short][1].values()]
    schema = pa.schema([pa.field(n, t) for n, t in zip(names, types, strict=True)])
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table([pa.array(list(c), type=t) for c, t in zip(columns, types, strict=True)], schema=schema)


def tap_schema_tables(release: Release) -> dict[str, pa.Table]:
    """The five TAP_SCHEMA tables of TAP 1.1 §4 describing ``release`` (and themselves).

    Parameters
    ----------
    release
        The open release.

    Returns
    -------
    dict
        ``"TAP_SCHEMA.schemas"``, ``"TAP_SCHEMA.tables"``, ``"TAP_SCHEMA.columns"``,
        ``"TAP_SCHEMA.keys"`` and ``"TAP_SCHEMA.key_columns"`` -> Arrow table with exactly the
        standard columns: strings as ``string`` (NULL where there is no value; descriptions may
        be empty) and integers (indexes, flags, ``size``) as ``int32``.
    """
    rows: dict[str, list[tuple[Any, ...]]] = {short: [] for short in _TAP_SCHEMA}
    for si, s in enumerate(_metadata(release), start=1):
        rows["schemas"].append((s.name, None, s.description, si))
        for t in s.tables:
            rows["tables"].append((s.name, t.name, "table", None, t.description, len(rows["tables"]) + 1))
            for ci, c in enumerate(t.columns, start=1):
                rows["columns"].append(c.tap_schema_row(t.name, ci))
            for k in t.keys:
                rows["keys"].append((k.key_id, k.from_table, k.target_table, None, k.description))
                rows["key_columns"].extend((k.key_id, f, tc) for f, tc in k.columns)
    return {f"TAP_SCHEMA.{short}": _arrow(short, r) for short, r in rows.items()}


# -- VOSI tables ----------------------------------------------------------------------------------


def _sub(parent: ET.Element, tag: str, text: str | int | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = str(text)
    return el


def _optional(parent: ET.Element, tag: str, text: str) -> None:
    if text:
        _sub(parent, tag, text)


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _table_element(el: ET.Element, t: _Table) -> None:
    """Fill ``el`` as a VODataService ``Table`` (its children are unqualified)."""
    el.set("type", "output")
    _sub(el, "name", t.name)
    _optional(el, "description", t.description)
    if t.nrows is not None:
        _sub(el, "nrows", t.nrows)
    for c in t.columns:
        col = _sub(el, "column", **({"std": "true"} if c.std else {}))
        _sub(col, "name", c.name)
        for tag in ("description", "unit", "ucd", "utype"):
            _optional(col, tag, getattr(c, tag))
        attrs = {"xsi:type": "vs:VOTableType"}
        if c.arraysize:
            attrs["arraysize"] = c.arraysize
        _sub(col, "dataType", c.datatype, **attrs)
        for flag in ("indexed", "primary", "principal"):
            if getattr(c, flag):
                _sub(col, "flag", flag)
    for k in t.keys:
        fk = _sub(el, "foreignKey")
        _sub(fk, "targetTable", k.target_table)
        for from_col, target_col in k.columns:
            pair = _sub(fk, "fkColumn")
            _sub(pair, "fromColumn", from_col)
            _sub(pair, "targetColumn", target_col)
        _optional(fk, "description", k.description)


def _vosi_root(tag: str) -> ET.Element:
    return ET.Element(f"vosi:{tag}", {"xmlns:vosi": NS_VOSI_TABLES, "xmlns:vs": NS_VS, "xmlns:xsi": NS_XSI})


def tableset_xml(release: Release) -> bytes:
    """The VOSI 1.1 tables document (``GET /tables``): every schema, table, column and key.

    Parameters
    ----------
    release
        The open release.

    Returns
    -------
    bytes
        A UTF-8 ``<vosi:tableset>`` document (VOSITables 1.1, VODataService 1.1 types).
    """
    root = _vosi_root("tableset")
    for s in _metadata(release):
        schema = _sub(root, "schema")
        _sub(schema, "name", s.name)
        _optional(schema, "description", s.description)
        for t in s.tables:
            _table_element(_sub(schema, "table"), t)
    return _xml(root)


def table_xml(release: Release, name: str) -> bytes:
    """The VOSI 1.1 document of one table (``GET /tables/<name>``).

    Parameters
    ----------
    release
        The open release.
    name
        Fully qualified table name (``dp1.Object``), compared case-insensitively.

    Returns
    -------
    bytes
        A UTF-8 ``<vosi:table>`` document.

    Raises
    ------
    KeyError
        If the service has no table ``name``.
    """
    for s in _metadata(release):
        for t in s.tables:
            if t.name.lower() == name.lower():
                root = _vosi_root("table")
                _table_element(root, t)
                return _xml(root)
    raise KeyError(name)


# -- VOSI capabilities and availability -----------------------------------------------------------

_FEATURE = "ivo://ivoa.net/std/TAPRegExt#features-"
#: ADQL features beyond the core this service implements: TAPRegExt type -> (form, description)
ADQL_FEATURES: dict[str, tuple[tuple[str, str], ...]] = {
    _FEATURE + "adqlgeo": (
        ("POINT", "A position, as a DALI point [ra, dec] in results"),
        ("CIRCLE", "A circle, as a DALI circle [ra, dec, radius] in results"),
        ("BOX", "A box given by its centre, width and height"),
        ("POLYGON", "A polygon; its vertices must be constants in predicates"),
        ("CONTAINS", "1 if a point lies in a circle, box or polygon (or a circle in a circle)"),
        ("INTERSECTS", "1 if a circle, box or polygon and a point, or two circles, overlap"),
        ("DISTANCE", "Angular distance in degrees between two points"),
        ("COORD1", "First coordinate (right ascension) of a point"),
        ("COORD2", "Second coordinate (declination) of a point"),
        ("COORDSYS", "Coordinate system of a point (ICRS)"),
        ("AREA", "Area of a circle in square degrees"),
        ("CENTROID", "Centre of a circle"),
    ),
    _FEATURE + "adql-string": (
        ("LOWER", "Lower-case a string"),
        ("UPPER", "Upper-case a string"),
        ("ILIKE", "Case-insensitive LIKE"),
    ),
    _FEATURE + "adql-sets": (
        ("UNION", "Rows of either query"),
        ("EXCEPT", "Rows of the first query not in the second"),
        ("INTERSECT", "Rows of both queries"),
    ),
    _FEATURE + "adql-common-table": (("WITH", "Named subqueries before the main query"),),
    _FEATURE + "adql-type": (
        ("CAST", "Convert a value to SMALLINT, INTEGER, BIGINT, REAL, DOUBLE, CHAR..."),
    ),
    _FEATURE + "adql-offset": (("OFFSET", "Skip the first rows of the result"),),
    _FEATURE + "udf": (
        (
            "scisql_nanojanskyToAbMag(flux DOUBLE) -> DOUBLE",
            "AB magnitude of a flux in nJy (NULL unless the flux is positive)",
        ),
        (
            "scisql_nanojanskyToAbMagSigma(flux DOUBLE, fluxErr DOUBLE) -> DOUBLE",
            "Error of the AB magnitude of a flux in nJy with error fluxErr",
        ),
        (
            "scisql_angSep(ra1 DOUBLE, dec1 DOUBLE, ra2 DOUBLE, dec2 DOUBLE) -> DOUBLE",
            "Angular separation in degrees of (ra1, dec1) and (ra2, dec2)",
        ),
        (
            "scisql_s2PtInCircle(ra DOUBLE, dec DOUBLE, raCen DOUBLE, decCen DOUBLE, radius DOUBLE) "
            "-> INTEGER",
            "1 if (ra, dec) lies within radius degrees of (raCen, decCen), else 0",
        ),
        (
            "scisql_s2PtInBox(ra DOUBLE, dec DOUBLE, raMin DOUBLE, decMin DOUBLE, raMax DOUBLE, "
            "decMax DOUBLE) -> INTEGER",
            "1 if (ra, dec) lies in the RA/Dec box (raMin may exceed raMax across RA 0), else 0",
        ),
        (
            "scisql_s2PtInCPoly(ra DOUBLE, dec DOUBLE, ra1 DOUBLE, dec1 DOUBLE, ra2 DOUBLE, dec2 DOUBLE, "
            "ra3 DOUBLE, dec3 DOUBLE) -> INTEGER",
            "1 if (ra, dec) lies in the convex polygon of constant vertices (ra1, dec1), (ra2, dec2), "
            "(ra3, dec3) and any further (ra, dec) pairs, else 0",
        ),
    ),
}

#: Result formats: (mime, aliases, TAPRegExt ivo-id or None)
OUTPUT_FORMATS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("application/x-votable+xml", ("votable",), "ivo://ivoa.net/std/TAPRegExt#output-votable-binary2"),
    (
        "application/x-votable+xml;serialization=TABLEDATA",
        ("votable/td",),
        "ivo://ivoa.net/std/TAPRegExt#output-votable-td",
    ),
    ("text/csv;header=present", ("csv",), None),
    ("application/vnd.apache.parquet", ("parquet",), None),
)


def _http_interface(capability: ET.Element, url: str, use: str, **attrs: str) -> None:
    interface = _sub(capability, "interface", **{"xsi:type": "vs:ParamHTTP", **attrs})
    _sub(interface, "accessURL", url, use=use)


def capabilities_xml(
    base_url: str,
    *,
    upload_limit_bytes: int,
    output_limit_rows: int,
    default_limit_rows: int,
    max_duration_s: int,
    retention_days: int,
    obscore: bool = False,
) -> bytes:
    """The VOSI capabilities document (``GET /capabilities``).

    Parameters
    ----------
    base_url
        The TAP service's base URL (``.../tap``, without a trailing slash).
    upload_limit_bytes
        Largest upload accepted.
    output_limit_rows, default_limit_rows
        Hard and default MAXREC.
    max_duration_s
        Longest run time of a job.
    retention_days
        How long job results are kept.
    obscore
        Whether the service has an ``ivoa.ObsCore`` table (declares the ObsCore 1.1 data model).

    Returns
    -------
    bytes
        A UTF-8 ``<vosi:capabilities>`` document: the TAP 1.1 capability (TAPRegExt 1.0: ADQL
        2.0/2.1 and the optional features and UDFs implemented, output formats, upload methods,
        limits), VOSI capabilities/availability/tables and DALI examples.
    """
    base = base_url.rstrip("/")
    root = ET.Element(
        "vosi:capabilities",
        {
            "xmlns:vosi": NS_VOSI_CAPABILITIES,
            "xmlns:vr": NS_VR,
            "xmlns:vs": NS_VS,
            "xmlns:tr": NS_TR,
            "xmlns:xsi": NS_XSI,
        },
    )
    tap = _sub(root, "capability", standardID="ivo://ivoa.net/std/TAP", **{"xsi:type": "tr:TableAccess"})
    _http_interface(tap, base, "base", role="std", version="1.1")
    if obscore:
        _sub(tap, "dataModel", "ObsCore-1.1", **{"ivo-id": "ivo://ivoa.net/std/ObsCore#core-1.1"})
    language = _sub(tap, "language")
    _sub(language, "name", "ADQL")
    for version in ("2.0", "2.1"):
        _sub(language, "version", version, **{"ivo-id": f"ivo://ivoa.net/std/ADQL#v{version}"})
    _sub(language, "description", "ADQL 2.1 (ADQL 2.0 queries are accepted too), run by DuckDB")
    for kind, features in ADQL_FEATURES.items():
        group = _sub(language, "languageFeatures", type=kind)
        for form, description in features:
            feature = _sub(group, "feature")
            _sub(feature, "form", form)
            _sub(feature, "description", description)
    for mime, aliases, ivo_id in OUTPUT_FORMATS:
        fmt = _sub(tap, "outputFormat", **({"ivo-id": ivo_id} if ivo_id else {}))
        _sub(fmt, "mime", mime)
        for alias in aliases:
            _sub(fmt, "alias", alias)
    for method in ("inline", "http"):
        _sub(tap, "uploadMethod", **{"ivo-id": f"ivo://ivoa.net/std/TAPRegExt#upload-{method}"})
    retention = _sub(tap, "retentionPeriod")
    _sub(retention, "default", retention_days * 86400)
    _sub(retention, "hard", retention_days * 86400)
    duration = _sub(tap, "executionDuration")
    _sub(duration, "hard", max_duration_s)
    output = _sub(tap, "outputLimit")
    _sub(output, "default", default_limit_rows, unit="row")
    _sub(output, "hard", output_limit_rows, unit="row")
    upload = _sub(tap, "uploadLimit")
    _sub(upload, "hard", upload_limit_bytes, unit="byte")
    for standard_id, path in (
        ("ivo://ivoa.net/std/VOSI#capabilities", "capabilities"),
        ("ivo://ivoa.net/std/VOSI#availability", "availability"),
        ("ivo://ivoa.net/std/VOSI#tables", "tables"),
        ("ivo://ivoa.net/std/DALI#examples", "examples"),
    ):
        _http_interface(_sub(root, "capability", standardID=standard_id), f"{base}/{path}", "full")
    return _xml(root)


def availability_xml(available: bool, note: str) -> bytes:
    """The VOSI availability document (``GET /availability``).

    Parameters
    ----------
    available
        Whether the service can run queries now.
    note
        Why (left out when empty).

    Returns
    -------
    bytes
        A UTF-8 ``<vosi:availability>`` document.
    """
    root = ET.Element("vosi:availability", {"xmlns:vosi": NS_VOSI_AVAILABILITY})
    _sub(root, "vosi:available", "true" if available else "false")
    _optional(root, "vosi:note", note)
    return _xml(root)


# -- DALI examples --------------------------------------------------------------------------------

_CONE = "CONTAINS(POINT('ICRS', coord_ra, coord_dec), CIRCLE('ICRS', 53.16, -28.10, 0.01)) = 1"

#: (name, description, ADQL) of the examples, in the style of the Rubin DP1 tutorials.  Two query
#: the tables the service adds to the engine's: ``ivoa.ObsCore`` and ``TAP_SCHEMA.columns``.
EXAMPLES: list[tuple[str, str, str]] = [
    (
        "Cone search with AB magnitudes",
        "Primary objects within 36 arcsec of the centre of the field (ECDFS), with g and r PSF "
        "magnitudes computed from the fluxes in nJy.",
        f"""SELECT objectId, coord_ra, coord_dec,
       scisql_nanojanskyToAbMag(g_psfFlux) AS g_mag,
       scisql_nanojanskyToAbMag(r_psfFlux) AS r_mag,
       scisql_nanojanskyToAbMagSigma(r_psfFlux, r_psfFluxErr) AS r_magErr
FROM dp1.Object
WHERE {_CONE}
  AND detect_isPrimary = 1""",
    ),
    (
        "Color-magnitude diagram of point sources",
        "g - r colour against r magnitude of point-like objects (refExtendedness < 0.5) detected "
        "at more than 10 sigma in r.",
        """SELECT objectId,
       scisql_nanojanskyToAbMag(r_psfFlux) AS r_mag,
       scisql_nanojanskyToAbMag(g_psfFlux) - scisql_nanojanskyToAbMag(r_psfFlux) AS g_r
FROM dp1.Object
WHERE refExtendedness < 0.5
  AND g_psfFlux > 0
  AND r_psfFlux / r_psfFluxErr > 10""",
    ),
    (
        "Brightest point sources",
        "The ten brightest point-like objects in r.",
        """SELECT TOP 10 objectId, coord_ra, coord_dec, r_psfMag, r_psfMagErr
FROM dp1.Object
WHERE refExtendedness < 0.5
ORDER BY r_psfMag""",
    ),
    (
        "Magnitude histogram",
        "Number of objects per one-magnitude bin of r_psfMag.",
        """SELECT FLOOR(r_psfMag) AS r_bin, COUNT(*) AS n
FROM dp1.Object
WHERE r_psfMag IS NOT NULL
GROUP BY r_bin
ORDER BY r_bin""",
    ),
    (
        "Forced photometry per band",
        "Number of forced measurements and their mean signal-to-noise ratio in each band.",
        """SELECT band, COUNT(*) AS n, AVG(psfFlux / psfFluxErr) AS mean_snr
FROM dp1.ForcedSource
GROUP BY band
ORDER BY band""",
    ),
    (
        "Light curve of an object",
        "Forced PSF photometry of the brightest point source on every visit, with the visit's "
        "mid-exposure time from dp1.Visit.",
        """SELECT fs.objectId, fs.band, v.expMidptMJD AS mjd, fs.psfFlux, fs.psfFluxErr,
       scisql_nanojanskyToAbMag(fs.psfFlux) AS psfMag
FROM dp1.ForcedSource AS fs
JOIN dp1.Visit AS v ON v.visit = fs.visit
WHERE fs.objectId IN (SELECT TOP 1 objectId FROM dp1.Object
                      WHERE refExtendedness < 0.5 ORDER BY r_psfFlux DESC)
ORDER BY mjd""",
    ),
    (
        "Variable sources: DiaObjects and their DiaSources",
        "Difference-image detections of the DiaObjects detected at least five times, in time order.",
        """SELECT o.diaObjectId AS dia_id, o.nDiaSources, s.band, s.midpointMjdTai AS mjd,
       s.psfFlux, s.psfFluxErr, s.snr
FROM dp1.DiaObject AS o
JOIN dp1.DiaSource AS s ON s.diaObjectId = o.diaObjectId
WHERE o.nDiaSources >= 5
ORDER BY dia_id, mjd""",
    ),
    (
        "Crossmatch with the reference catalog",
        "Objects within 1 arcsec of a Gaia-like reference star, with the separation in arcsec.",
        """SELECT o.objectId, r.source_id, r.phot_g_mean_mag, o.r_psfMag,
       3600 * DISTANCE(POINT('ICRS', o.coord_ra, o.coord_dec), POINT('ICRS', r.ra, r.dec)) AS sep_arcsec
FROM dp1.Object AS o
JOIN dp1.Reference AS r
  ON DISTANCE(POINT('ICRS', o.coord_ra, o.coord_dec), POINT('ICRS', r.ra, r.dec)) < 1.0 / 3600""",
    ),
    (
        "Image quality per visit",
        "Mean seeing and shallowest 5-sigma depth of the detectors of each visit.",
        """SELECT v.visit, v.band, v.expMidptMJD AS mjd, AVG(c.seeing) AS seeing, MIN(c.magLim) AS magLim
FROM dp1.Visit AS v
JOIN dp1.CcdVisit AS c ON c.visitId = v.visit
GROUP BY v.visit, v.band, v.expMidptMJD
ORDER BY mjd""",
    ),
    (
        "Visit images near a position (ObsCore)",
        "Visit images (calibration level 2) centred within 0.2 deg of the field centre, with the "
        "DataLink URL giving access to each file.",
        """SELECT obs_id, dataproduct_subtype, lsst_band, t_min, s_ra, s_dec, access_url
FROM ivoa.ObsCore
WHERE dataproduct_type = 'image' AND calib_level = 2
  AND CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', 53.16, -28.10, 0.2)) = 1
ORDER BY t_min""",
    ),
    (
        "Main columns of a table (TAP_SCHEMA)",
        "The principal columns of dp1.Object with their units, UCDs and descriptions.",
        """SELECT column_name, datatype, unit, ucd, description
FROM TAP_SCHEMA.columns
WHERE table_name = 'dp1.Object' AND principal = 1
ORDER BY column_index""",
    ),
]


def example_id(name: str) -> str:
    """The XML id of the example called ``name`` (``"Cone search ..."`` -> ``"cone-search-..."``)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def examples_xhtml(base_url: str) -> bytes:
    """The DALI 1.1 examples document (``GET /examples``) of :data:`EXAMPLES`.

    Parameters
    ----------
    base_url
        The TAP service's base URL; each example links to its synchronous run.

    Returns
    -------
    bytes
        A UTF-8 XHTML document with RDFa Lite markup (vocabulary
        ``http://www.ivoa.net/rdf/examples#``): one ``typeof="example"`` element per example, with
        ``id``, ``resource``, a ``property="name"`` heading and a ``property="query"`` ADQL block.
    """
    base = base_url.rstrip("/")
    html = ET.Element("html", {"xmlns": NS_XHTML, "lang": "en", "xml:lang": "en"})
    head = _sub(html, "head")
    _sub(head, "meta", charset="utf-8")
    _sub(head, "title", "TAP examples")
    body = _sub(html, "body")
    _sub(body, "h1", "Example ADQL queries")
    intro = _sub(body, "p", "Queries on the catalogs of this service. Send one as QUERY (with LANG=ADQL) to ")
    _sub(intro, "code", f"{base}/sync").tail = " or, for large results, to "
    _sub(intro, "code", f"{base}/async").tail = "."
    vocab = _sub(body, "div", vocab=EXAMPLES_VOCAB)
    for name, description, query in EXAMPLES:
        ident = example_id(name)
        ex = _sub(vocab, "div", typeof="example", id=ident, resource=f"#{ident}")
        _sub(ex, "h2", name, property="name")
        _sub(ex, "p", description)
        _sub(ex, "pre", query, property="query", **{"class": "dachs-ex-tapquery"})
        run = _sub(ex, "p")
        url = f"{base}/sync?" + urlencode({"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query})
        _sub(run, "a", "Run it (VOTable)", href=url)
    ET.indent(html)
    return (
        b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
        + ET.tostring(html, encoding="utf-8")
        + b"\n"
    )
