"""The ADQL dialect: identity round trips and geometry as AST nodes."""

# ruff: noqa: E501

from __future__ import annotations

import pytest
from sqlglot import exp

from kernel_lib.adql import Adql, nodes, parse, validate

IDENTITY = [
    "SELECT TOP 10 coord_ra, coord_dec FROM dp1.Object",
    "SELECT DISTINCT TOP 5 band FROM dp1.Source",
    "SELECT * FROM dp1.Object WHERE 1 = CONTAINS(POINT('ICRS', coord_ra, coord_dec), CIRCLE('ICRS', 53.1, -28.1, 0.05))",
    "SELECT * FROM t WHERE INTERSECTS(CIRCLE(10, 20, 1), POINT(ra, dec)) = 1",
    "SELECT BOX('ICRS', 1, 2, 3, 4), POLYGON(1, 2, 3, 4, 5, 6), REGION('Circle ICRS 1 2 3') FROM t",
    "SELECT DISTANCE(POINT(ra, dec), POINT(1, 2)), DISTANCE(ra, dec, 1, 2) FROM t",
    "SELECT COORD1(p), COORD2(p), COORDSYS(p), AREA(c), CENTROID(c) FROM t",
    "SELECT ABS(x), CEILING(x), DEGREES(x), EXP(x), FLOOR(x), LOG(x), LOG10(x), MOD(x, 3), PI() FROM t",
    "SELECT POWER(x, 2), RADIANS(x), SQRT(x), RAND(), RAND(3), ROUND(x), ROUND(x, 2) FROM t",
    "SELECT TRUNCATE(x), TRUNCATE(x, 2), ACOS(x), ASIN(x), ATAN(x), ATAN2(y, x), COS(x), COT(x) FROM t",
    "SELECT SIN(x), TAN(x), LOWER(s), UPPER(s), COALESCE(a, b, 0), IN_UNIT(ra, 'rad') FROM t",
    "SELECT COUNT(*), COUNT(DISTINCT band), AVG(x), MIN(x), MAX(x), SUM(x) FROM t GROUP BY band HAVING COUNT(*) > 2",
    "SELECT scisql_nanojanskyToAbMag(r_psfFlux) AS r FROM dp1.Object",
    "SELECT * FROM t WHERE name ILIKE 'ngc%' AND NOT name LIKE '%x'",
    "SELECT id FROM t ORDER BY id DESC OFFSET 10",
    "WITH a AS (SELECT id FROM t) SELECT id FROM a UNION SELECT id FROM b",
    "SELECT a.id FROM t AS a JOIN u AS b ON a.id = b.id LEFT OUTER JOIN v AS c USING (id)",
    "SELECT * FROM t NATURAL JOIN u",
    "SELECT * FROM (SELECT id FROM t) AS q WHERE id IN (SELECT id FROM u) AND x BETWEEN 1 AND 2",
    "SELECT CAST(x AS INTEGER), CAST(y AS DOUBLE PRECISION), CAST(s AS VARCHAR(30)), CAST('1 2' AS POINT) FROM t",
    'SELECT "f-bar", "c""ho" FROM "nons-ak" WHERE "ja ja" < \'Umph\'',
    "SELECT x FROM t WHERE y IS NOT NULL AND z <> 1 AND w || 'a' = 'ba'",
]


@pytest.mark.parametrize("sql", IDENTITY)
def test_identity_round_trip(sql: str) -> None:
    assert validate(sql).sql(dialect=Adql) == sql


@pytest.mark.parametrize(
    ("adql", "expected"),
    [
        ("select top 3 x from t", "SELECT TOP 3 x FROM t"),
        (
            "select all(a+b)X from most,(anything join else3 ON(a BETWEEN(b+and7)AND 4))",
            "SELECT (a + b) AS X FROM most, (anything JOIN else3 ON (a BETWEEN (b + and7) AND 4))",
        ),
        ("SELECT 89x FROM z", "SELECT 89 AS x FROM z"),
        ("select * from bar order   by foo asc, 2desc", "SELECT * FROM bar ORDER BY foo ASC, 2 DESC"),
        ("select * from bar where a='qua' -- cmt\n'tsch'", "SELECT * FROM bar WHERE a = 'quatsch' /* cmt */"),
        ("SELECT x FROM t WHERE a != 1", "SELECT x FROM t WHERE a <> 1"),
    ],
)
def test_normalising_round_trip(adql: str, expected: str) -> None:
    assert validate(adql).sql(dialect=Adql) == expected


def test_geometry_functions_are_ast_nodes() -> None:
    tree = parse("SELECT * FROM t WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 1, 2, 0.5))")
    contains = tree.find(nodes.Contains)
    assert contains is not None
    point, circle = contains.this, contains.expression
    assert isinstance(point, nodes.Point) and isinstance(circle, nodes.Circle)
    assert point.args["coordsys"].this == "ICRS"
    assert [e.sql() for e in point.expressions] == ["ra", "dec"]
    assert [e.sql() for e in circle.expressions] == ["1", "2", "0.5"]


def test_coordsys_is_optional() -> None:
    point = parse("SELECT POINT(1, 2) FROM t").find(nodes.Point)
    assert point is not None and point.args.get("coordsys") is None and len(point.expressions) == 2


def test_top_is_a_limit_marked_top() -> None:
    limit = parse("SELECT TOP 7 x FROM t").args["limit"]
    assert isinstance(limit, exp.Limit) and limit.meta["top"] and limit.expression.name == "7"


def test_log_is_natural_and_log10_decimal() -> None:
    tree = parse("SELECT LOG(x), LOG10(x) FROM t")
    assert isinstance(tree.selects[0], exp.Ln)
    assert isinstance(tree.selects[1], exp.Log) and tree.selects[1].this.name == "10"


def test_unknown_functions_stay_anonymous() -> None:
    call = parse("SELECT ivo_foo(1) FROM t").selects[0]
    assert isinstance(call, exp.Anonymous) and call.name.lower() == "ivo_foo"
