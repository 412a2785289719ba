"""Resolution against the release schema: unknown names with suggestions, simple type errors."""

# ruff: noqa: E501

from __future__ import annotations

import pytest

from kernel_lib.adql import AdqlTypeError, UnknownColumnError, UnknownTableError, resolve, schema_from_tables
from kernel_lib.release.schema import TABLES

SCHEMA = schema_from_tables(TABLES)


def test_known_names_resolve() -> None:
    resolve(
        "SELECT o.objectId, s.visit, scisql_nanojanskyToAbMag(o.r_psfFlux) AS r FROM dp1.Object AS o "
        "JOIN dp1.Source AS s ON o.objectId = s.objectId "
        "WHERE EXISTS (SELECT * FROM dp1.Visit AS v WHERE v.visit = s.visit) ORDER BY r",
        SCHEMA,
    )


def test_unknown_table_suggests() -> None:
    with pytest.raises(UnknownTableError) as info:
        resolve("SELECT * FROM dp1.Objet", SCHEMA)
    assert info.value.suggestions[0] == "dp1.Object"
    assert str(info.value).startswith("unknown table 'dp1.Objet'; did you mean 'dp1.Object'")


def test_unknown_column_suggests() -> None:
    with pytest.raises(UnknownColumnError) as info:
        resolve("SELECT coord_raa FROM dp1.Object", SCHEMA)
    assert info.value.suggestions[0] == "coord_ra"
    assert (
        str(info.value)
        == "unknown column 'coord_raa'; did you mean 'coord_ra', 'coord_raErr' or 'coord_decErr'?"
    )


def test_unknown_qualified_column() -> None:
    with pytest.raises(
        UnknownColumnError, match="unknown column 'coord_dek' in 'o'; did you mean 'coord_dec'"
    ):
        resolve("SELECT o.coord_dek FROM dp1.Object AS o", SCHEMA)


def test_derived_tables_and_ctes() -> None:
    resolve("WITH a AS (SELECT objectId AS i FROM dp1.Object) SELECT i FROM a", SCHEMA)
    with pytest.raises(UnknownColumnError, match="did you mean 'r'"):
        resolve("SELECT q.rr FROM (SELECT coord_ra AS r FROM dp1.Object) AS q", SCHEMA)


def test_double_quoted_string_is_an_identifier() -> None:
    with pytest.raises(UnknownColumnError, match="unknown column 'abc'"):
        resolve('SELECT * FROM dp1.Object WHERE coord_ra = "abc"', SCHEMA)


@pytest.mark.parametrize(
    ("adql", "message"),
    [
        ("SELECT * FROM dp1.Object WHERE coord_ra = 'abc'", "cannot compare a numeric with a string"),
        (
            "SELECT * FROM dp1.Object WHERE 1 = CONTAINS(POINT('ICRS', coord_ra, 'x'), CIRCLE('ICRS', 1, 2, 3))",
            "POINT needs numeric coordinates, got the string 'x'",
        ),
        (
            "SELECT * FROM dp1.Object WHERE 1 = CONTAINS(coord_ra, CIRCLE(1, 2, 3))",
            "CONTAINS needs geometries, got a numeric",
        ),
        ("SELECT SQRT(band) FROM dp1.Source", "SQRT needs numbers, got a string"),
        ("SELECT * FROM dp1.Object WHERE coord_ra LIKE 'a%'", "LIKE needs a string operand"),
    ],
)
def test_type_errors(adql: str, message: str) -> None:
    with pytest.raises(AdqlTypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve(adql, SCHEMA)
