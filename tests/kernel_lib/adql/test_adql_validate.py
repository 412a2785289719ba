"""Strict ADQL: what sqlglot alone accepts but ADQL 2.1 does not, with exact messages."""

from __future__ import annotations

import io

import pytest

from kernel_lib.adql import AdqlSyntaxError, Udf, validate
from kernel_lib.adql.check import main as check_main


@pytest.mark.parametrize(
    ("adql", "message"),
    [
        ("SELECT x FROM t LIMIT 10", "line 1, column 17, at 'LIMIT': LIMIT is not ADQL; use SELECT TOP n"),
        ("SELECT `x` FROM t", "line 1, column 8, at '`': '`' is not an ADQL operator or punctuation"),
        (
            "SELECT x FROM t WHERE a == 1",
            "line 1, column 25, at '==': '==' is not an ADQL operator or punctuation",
        ),
        (
            "SELECT x FROM t WHERE a % 2 = 1",
            "line 1, column 25, at '%': '%' is not an ADQL operator or punctuation",
        ),
        ("SELECT x FROM t;", "line 1, column 16, at ';': ';' is not an ADQL operator or punctuation"),
        ("SELECT x::int FROM t", "line 1, column 9, at '::': '::' is not an ADQL operator or punctuation"),
        (
            "SELECT x\nFROM t\nWHERE y >",
            "line 3, column 9, at '>': incomplete expression (unexpected end of query)",
        ),
        ("SELECT TOP 1.5 x FROM t", "line 1, column 8, at 'TOP': TOP needs an unsigned integer, got 1.5"),
        (
            "SELECT x FROM t OFFSET -1",
            "line 1, column 17, at 'OFFSET': OFFSET needs an unsigned integer, got -1",
        ),
        (
            "SELECT CASE WHEN x > 1 THEN 1 ELSE 0 END FROM t",
            "line 1, column 8, at 'CASE': CASE: not ADQL 2.1",
        ),
        ("SELECT x FROM t WHERE x = TRUE", "line 1, column 27, at 'TRUE': TRUE/FALSE: not ADQL 2.1"),
        (
            "SELECT _x FROM t",
            "line 1, column 8, at '_x': _x is not a regular identifier (it must start with a "
            'letter and hold only letters, digits and _); write it as a delimited identifier "_x"',
        ),
        (
            "SELECT distance FROM t",
            "line 1, column 8, at 'distance': distance is a reserved word; write it as a "
            'delimited identifier "distance"',
        ),
        ("SELECT POINT(1) FROM t", "line 1, column 8, at 'POINT': POINT takes 2 to 3 argument(s), got 1"),
        ("SELECT ABS(1, 2) FROM t", "line 1, column 8, at 'ABS': ABS takes 1 argument(s), got 2"),
        (
            "SELECT * FROM t1 INNER JOIN t2",
            "line 1, column 29, at 't2': INNER JOIN needs a join condition: ON ... or USING (...)",
        ),
        (
            "SELECT * FROM (SELECT * FROM t)",
            "line 1, column 31, at ')': a subquery in FROM needs a name: ( SELECT ... ) AS name",
        ),
        (
            "SELECT x FROM t WHERE x IN 5",
            "line 1, column 25, at 'IN': IN needs a parenthesised list or subquery",
        ),
        ("SELECT x, FROM t", "line 1, column 11, at 'FROM': expected an expression after ','"),
        ('SELECT "x FROM t', 'line 1, column 8: cannot tokenize: unterminated delimited identifier (")'),
        (
            "SELECT CAST(x AS FLOAT) FROM t",
            "line 1, column 8, at 'CAST': CAST to FLOAT is not ADQL (types: BIGINT, CHAR, "
            "CIRCLE, DOUBLE PRECISION, INTEGER, POINT, POLYGON, REAL, SMALLINT, TIMESTAMP, VARCHAR)",
        ),
        ("SELECT ROW_NUMBER() OVER (ORDER BY x) FROM t", "line 1, column 21, at 'OVER': OVER: not ADQL 2.1"),
        (
            "SELECT x FROM t GROUP BY x ORDER BY x WHERE x > 1",
            "line 1, column 39, at 'WHERE': WHERE is out of place "
            "(clauses go FROM, WHERE, GROUP BY, HAVING, ORDER BY, OFFSET)",
        ),
        (
            "SELECT x FROM t WHERE CONTAINS(POINT(ra, dec), CIRCLE(1, 2, 3))",
            "line 1, column 23, at 'CONTAINS': WHERE needs a condition (a comparison, BETWEEN, IN, "
            "LIKE, IS NULL, EXISTS...), not the value CONTAINS(POINT(ra, dec), CIRCLE(1, 2, 3)); "
            "compare it, e.g. 1 = CONTAINS(...)",
        ),
        (
            "SELECT x FROM t WHERE 1 = CONTAINS(POINT(1, 2), CIRCLE('ICRS', 1, 2))",
            "line 1, column 49, at 'CIRCLE': wrong "
            "arguments for CIRCLE: CIRCLE([coordsys,] lon, lat, radius) or CIRCLE([coordsys,] point, radius)",
        ),
        (
            "SELECT POINT('ICRS', 1, 2) || 'a' FROM t",
            "line 1, column 28, at '||': geometry values do not admit string operators (||)",
        ),
        ("SELECT x FROM t WHERE y IS 3", "line 1, column 28, at '3': IS must be followed by [NOT] NULL"),
        ("SELECT x", "line 1, column 1, at 'SELECT': a query needs a FROM clause"),
        (
            "SELECT * FROM (WITH a AS (SELECT x FROM t) SELECT x FROM a) AS q",
            "line 1, column 16, at 'WITH': WITH is only allowed at the top of a query",
        ),
    ],
)
def test_rejected_with_position(adql: str, message: str) -> None:
    with pytest.raises(AdqlSyntaxError) as info:
        validate(adql)
    assert str(info.value) == message


def test_syntax_error_fields() -> None:
    with pytest.raises(AdqlSyntaxError) as info:
        validate("SELECT x\n  FROM t LIMIT 3")
    assert (info.value.line, info.value.col, info.value.token) == (2, 10, "LIMIT")


def test_unknown_function_rejected_unless_declared() -> None:
    with pytest.raises(AdqlSyntaxError, match="unknown function my_func"):
        validate("SELECT my_func(x) FROM t")
    validate("SELECT my_func(x) FROM t", udfs=["my_func"])
    validate("SELECT ivo_anything(x) FROM t")  # IVOA UDF catalogue prefix
    with pytest.raises(AdqlSyntaxError, match="unknown function ivo_x"):
        validate("SELECT ivo_x(1) FROM t", udf_prefixes=())


def test_udf_arity() -> None:
    with pytest.raises(AdqlSyntaxError, match=r"scisql_angSep takes 4\.\.4 arguments, got 2"):
        validate("SELECT scisql_angSep(1, 2) FROM t")
    validate("SELECT f(1, 2) FROM t", udfs=[Udf("f", 2, 2)])


@pytest.mark.parametrize(
    "adql",
    [
        "SELECT name FROM stars WHERE name != 'M31'",
        "SELECT * FROM t1, t2, t3 WHERE t1.x = t2.y",
        "select top 4* from (select * from amanda.nucand)x",
        'SELECT a FROM t WHERE "SELECT" > 0',
        'SELECT "distance" FROM t',
        "SELECT x FROM t WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE(POINT(1, 2), 0.5))",
        "SELECT x FROM t WHERE 1 = CONTAINS(POINT(ra, dec), POLYGON(POINT(1, 2), POINT(2, 2), POINT(2, 3)))",
        "(SELECT TOP 10 id FROM a ORDER BY id) UNION (SELECT TOP 10 id FROM a ORDER BY id DESC)",
        "SELECT CAST('2021-01-14T11:25:00' AS TIMESTAMP), CAST(x AS CHAR(3)) FROM t",
        "-- a comment\nSELECT x /* block */ FROM t -- trailing",
    ],
)
def test_accepted(adql: str) -> None:
    validate(adql)


def test_check_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("SELECT TOP 1 x FROM t"))
    assert check_main([]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("SELECT x FROM t LIMIT 1"))
    assert check_main([]) == 1
    assert "LIMIT is not ADQL" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("SELECT eso_f(x) FROM t"))
    assert check_main(["--udf", "ESO_F"]) == 0
