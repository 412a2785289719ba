"""ADQL -> DuckDB: executed on small tables with known answers."""

# ruff: noqa: E501

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from kernel_lib.adql import (
    BoxConstraint,
    ConeConstraint,
    PolygonConstraint,
    UnsupportedFeatureError,
    spatial_constraints,
    to_duckdb,
)


def _sep(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angular separation in degrees via unit vectors (independent of the haversine under test)."""

    def v(ra: float, dec: float) -> np.ndarray:
        a, d = np.radians(ra), np.radians(dec)
        return np.array([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)])

    u, w = v(ra1, dec1), v(ra2, dec2)
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(u, w)), np.dot(u, w))))


def run(adql: str, df: pd.DataFrame) -> list[tuple]:
    con = duckdb.connect()
    con.register("t_df", df)
    try:
        return con.execute(to_duckdb(adql, tables={"t": "t_df"})).fetchall()
    finally:
        con.close()


def points(rows: list[tuple[int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "ra", "dec"])


def ids(adql: str, df: pd.DataFrame) -> set[int]:
    return {r[0] for r in run(adql, df)}


def test_cone_across_ra_wrap() -> None:
    df = points([(1, 359.9, 10.0), (2, 0.2, 10.0), (3, 359.7, 10.0), (4, 0.05, 10.25)])
    q = "SELECT id FROM t WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 0.05, 10, 0.2))"
    expected = {i for i, ra, dec in df.itertuples(index=False) if _sep(ra, dec, 0.05, 10) <= 0.2}
    assert ids(q, df) == expected == {1, 2}


def test_cone_at_the_pole() -> None:
    df = points([(1, 180.0, 89.95), (2, 180.0, 89.8), (3, 90.0, 89.9), (4, 0.0, 89.65)])
    q = "SELECT id FROM t WHERE CONTAINS(POINT(ra, dec), CIRCLE(0, 89.9, 0.2)) = 1"
    assert (
        ids(q, df)
        == {i for i, ra, dec in df.itertuples(index=False) if _sep(ra, dec, 0, 89.9) <= 0.2}
        == {1, 3}
    )


def test_not_contains_and_intersects() -> None:
    df = points([(1, 10.0, 20.0), (2, 11.0, 20.0)])
    assert ids("SELECT id FROM t WHERE 0 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.5))", df) == {2}
    assert ids("SELECT id FROM t WHERE INTERSECTS(CIRCLE(10, 20, 0.5), POINT(ra, dec)) = 1", df) == {1}


def test_distance_in_degrees() -> None:
    df = points([(1, 359.5, -30.0), (2, 10.0, 45.0), (3, 180.0, -89.0)])
    got = run("SELECT id, DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 0.5, -30)) FROM t ORDER BY id", df)
    for (i, d), (_, ra, dec) in zip(got, df.itertuples(index=False), strict=True):
        assert d == pytest.approx(_sep(ra, dec, 0.5, -30), abs=1e-9), i
    four = run("SELECT DISTANCE(ra, dec, 0.5, -30) FROM t ORDER BY id", df)
    assert [r[0] for r in four] == pytest.approx([r[1] for r in got], abs=1e-12)


def test_box() -> None:
    df = points([(1, 10.9, 0.9), (2, 11.1, 0.0), (3, 10.0, -0.99), (4, 9.0, 1.2)])
    assert ids("SELECT id FROM t WHERE 1 = CONTAINS(POINT(ra, dec), BOX(10, 0, 2, 2))", df) == {1, 3}


def test_concave_polygon() -> None:
    df = points([(1, 1.5, 1.5), (2, 0.5, 1.5), (3, 1.5, 0.5), (4, 3.0, 0.5)])
    q = "SELECT id FROM t WHERE 1 = CONTAINS(POINT(ra, dec), POLYGON('ICRS', 0, 0, 2, 0, 2, 1, 1, 1, 1, 2, 0, 2))"
    assert ids(q, df) == {2, 3}


def test_polygon_across_ra_wrap() -> None:
    df = points([(1, 0.0, 0.0), (2, 359.5, 0.5), (3, 2.0, 0.0), (4, 0.0, 1.5)])
    q = "SELECT id FROM t WHERE 1 = CONTAINS(POINT(ra, dec), POLYGON(359, -1, 1, -1, 1, 1, 359, 1))"
    assert ids(q, df) == {1, 2}


def test_coord_functions_and_geometry_values() -> None:
    df = points([(1, 12.5, -3.0)])
    assert run("SELECT COORD1(POINT(ra, dec)), COORD2(POINT(ra, dec)), POINT(ra, dec) FROM t", df) == [
        (12.5, -3.0, [12.5, -3.0])
    ]
    area = run("SELECT AREA(CIRCLE(0, 0, 1)) FROM t", df)[0][0]
    assert area == pytest.approx(2 * math.pi * (1 - math.cos(math.radians(1))) * (180 / math.pi) ** 2)


def test_scisql_magnitudes() -> None:
    df = pd.DataFrame({"id": [1, 2, 3], "f": [3631e9, 1.0, 0.0], "df": [3631e8, 0.1, 1.0]})
    rows = run(
        "SELECT id, scisql_nanojanskyToAbMag(f), scisql_nanojanskyToAbMagSigma(f, df) FROM t ORDER BY id", df
    )
    assert rows[0][1] == pytest.approx(0.0, abs=1e-12)
    assert rows[1][1] == pytest.approx(31.4, abs=1e-3)  # -2.5 log10(1e-9 / 3631) = 31.400
    assert rows[0][2] == pytest.approx(2.5 / math.log(10) * 0.1)
    assert rows[1][2] == pytest.approx(2.5 / math.log(10) * 0.1)
    assert rows[2][1] is None and rows[2][2] is None


def test_scisql_spherical_udfs() -> None:
    df = points([(1, 359.95, 0.0), (2, 0.3, 0.0)])
    got = run(
        "SELECT id, scisql_angSep(ra, dec, 0, 0), scisql_s2PtInCircle(ra, dec, 0, 0, 0.1), "
        "scisql_s2PtInBox(ra, dec, 359.9, -1, 0.1, 1) FROM t ORDER BY id",
        df,
    )
    assert got[0][1] == pytest.approx(0.05) and got[1][1] == pytest.approx(0.3)
    assert [(r[2], r[3]) for r in got] == [(1, 1), (0, 0)]


def test_top_offset_math_and_strings() -> None:
    df = pd.DataFrame({"id": range(10), "x": np.arange(10) * 1.2345, "s": [f"NGC {i}" for i in range(10)]})
    assert [r[0] for r in run("SELECT TOP 3 id FROM t ORDER BY id DESC OFFSET 2", df)] == [7, 6, 5]
    row = run(
        "SELECT TRUNCATE(x, 2), ROUND(x, 1), LOG10(100), LOG(EXP(1)), MOD(7, 3), POWER(2, 10), UPPER(s) "
        "FROM t WHERE id = 2",
        df,
    )[0]
    assert row == (
        pytest.approx(2.46),
        pytest.approx(2.5),
        pytest.approx(2.0),
        pytest.approx(1.0),
        1,
        1024,
        "NGC 2",
    )
    assert len(run("SELECT id FROM t WHERE s ILIKE 'ngc 1%'", df)) == 1


@pytest.mark.parametrize(
    ("adql", "message"),
    [
        ("SELECT id FROM t WHERE 1 = CONTAINS(POINT('GALACTIC', ra, dec), CIRCLE(1, 2, 3))", "only ICRS"),
        ("SELECT id FROM t WHERE 1 = CONTAINS(REGION('Circle ICRS 1 2 3'), POINT(ra, dec))", "REGION"),
        ("SELECT IN_UNIT(ra, 'rad') FROM t", "IN_UNIT"),
        ("SELECT ivo_healpix_index(6, ra, dec) FROM t", "ivo_healpix_index"),
        ("SELECT id FROM t WHERE 1 = CONTAINS(POINT(ra, dec), POLYGON(ra, 1, 2, 1, 2, 2))", "constants"),
        ("SELECT id FROM t WHERE 1 = INTERSECTS(s_region, s_region)", "two region columns"),
        ("SELECT id FROM t WHERE 1 = INTERSECTS(s_region, CIRCLE(ra, 2, 3))", "constant values"),
    ],
)
def test_unsupported(adql: str, message: str) -> None:
    with pytest.raises(UnsupportedFeatureError, match=message):
        to_duckdb(adql)


def test_region_columns_on_the_sphere() -> None:
    """CONTAINS/INTERSECTS with a region-valued column (ObsCore's s_region, STC-S strings)."""
    from kernel_lib.adql.regions import register_duckdb_functions

    df = pd.DataFrame(
        {
            "id": [1, 2, 3],
            # two 1-degree squares at RA 0 (across the wrap) and near the pole, and a bad string
            "s_region": [
                "POLYGON ICRS 359.5 -0.5 0.5 -0.5 0.5 0.5 359.5 0.5",
                "POLYGON ICRS 0 88 90 88 180 88 270 88",
                "not a region",
            ],
        }
    )
    con = duckdb.connect()
    register_duckdb_functions(con)
    con.register("t_df", df)

    def q(where: str) -> set[int]:
        sql = to_duckdb(f"SELECT id FROM t WHERE {where}", tables={"t": "t_df"})
        return {r[0] for r in con.execute(sql).fetchall()}

    assert q("CONTAINS(POINT('ICRS', 0.2, 0.1), s_region) = 1") == {1}
    assert q("CONTAINS(POINT('ICRS', 359.8, -0.4), s_region) = 1") == {1}
    assert q("CONTAINS(POINT('ICRS', 45, 89.5), s_region) = 1") == {2}
    assert q("CONTAINS(POINT('ICRS', 10, 10), s_region) = 1") == set()
    assert q("INTERSECTS(CIRCLE('ICRS', 1.0, 0, 0.6), s_region) = 1") == {1}
    assert q("INTERSECTS(CIRCLE('ICRS', 1.2, 0, 0.6), s_region) = 1") == set()
    assert q("INTERSECTS(POLYGON('ICRS', 0.4, 0.4, 2, 0.4, 2, 2), s_region) = 1") == {1}
    assert q("CONTAINS(s_region, CIRCLE('ICRS', 0, 0, 5)) = 1") == {1}
    assert q("CONTAINS(CIRCLE('ICRS', 0, 0, 0.1), s_region) = 1") == {1}
    assert q("CONTAINS(CIRCLE('ICRS', 0, 0, 0.6), s_region) = 1") == set()
    con.close()


def test_spatial_constraints() -> None:
    q = (
        "SELECT o.objectId FROM dp1.Object AS o JOIN dp1.Source AS s ON o.objectId = s.objectId "
        "WHERE 1 = CONTAINS(POINT('ICRS', o.coord_ra, o.coord_dec), CIRCLE('ICRS', 53.1, -28.1, 0.05)) "
        "AND s.band = 'r'"
    )
    (c,) = spatial_constraints(q)
    assert (c.table, c.ra_column, c.dec_column) == ("dp1.Object", "coord_ra", "coord_dec")
    assert c.shape == ConeConstraint(53.1, -28.1, 0.05)


def test_spatial_constraint_shapes() -> None:
    box = spatial_constraints("SELECT * FROM t WHERE CONTAINS(POINT(ra, dec), BOX(10, 20, 1, 2)) = 1")[0]
    assert box.table == "t" and box.shape == BoxConstraint(10, 20, 1, 2)
    assert box.shape.bounding_cone().radius == pytest.approx(math.hypot(0.5, 1.0), rel=1e-3)
    poly = spatial_constraints(
        "SELECT * FROM t WHERE 1 = CONTAINS(POINT(ra, dec), POLYGON(1, 1, 2, 1, 2, 2))"
    )[0]
    assert poly.shape == PolygonConstraint(((1, 1), (2, 1), (2, 2)))
    udf = spatial_constraints("SELECT * FROM t WHERE scisql_s2PtInCircle(ra, dec, 1, 2, 1.0 / 60) = 1")[0]
    assert udf.shape == ConeConstraint(1, 2, pytest.approx(1 / 60))
    dist = spatial_constraints("SELECT * FROM t WHERE DISTANCE(POINT(ra, dec), POINT(5, 6)) < 0.1")[0]
    assert dist.shape == ConeConstraint(5, 6, 0.1)


def test_no_constraint_under_or() -> None:
    q = "SELECT * FROM t WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE(1, 2, 3)) OR x > 1"
    assert spatial_constraints(q) == []
