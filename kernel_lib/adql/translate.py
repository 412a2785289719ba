"""ADQL tree -> DuckDB SQL.

What is rewritten (see :func:`to_duckdb`):

* ``TOP n`` -> ``LIMIT n``; ``OFFSET`` stays; ``LOG`` -> ``LN``; ``LOG10``; ``TRUNCATE(x, n)`` ->
  ``TRUNC(x * 10^n) / 10^n``; ``RAND(seed)`` -> ``RANDOM()`` (DuckDB has no per-call seed);
* ``CONTAINS``/``INTERSECTS`` of a point and a circle, box or constant polygon, two circles, and
  ``DISTANCE`` as spherical math (:mod:`.geometry`); ``1 = CONTAINS(...)`` becomes the bare
  boolean so DuckDB can push it into the scan; ``COORD1/COORD2/COORDSYS`` of points; ``AREA`` and
  ``CENTROID`` of circles; geometry values in the select list as DALI arrays ``[lon, lat, ...]``;
* the scisql UDFs: ``scisql_nanojanskyToAbMag(f) = -2.5 log10(f·1e-9/3631)`` (NULL when f <= 0),
  ``scisql_nanojanskyToAbMagSigma(f, df) = 2.5/ln(10) · df / f``, ``scisql_angSep``,
  ``scisql_s2PtInCircle``, ``scisql_s2PtInBox`` (RA/Dec box, RA wrapping), ``scisql_s2PtInCPoly``.

Raises :class:`UnsupportedFeatureError` for: coordinate systems other than ICRS (FK5/J2000 are
taken as ICRS), REGION, geometry-valued columns, polygons or boxes with non-constant vertices in
predicates, AREA/CENTROID of anything but a circle, IN_UNIT, CAST to POINT/CIRCLE/POLYGON and
undeclared or unimplemented UDFs (e.g. ivo_healpix_index).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from sqlglot import exp

from . import geometry as geo
from . import nodes
from .errors import UnsupportedFeatureError
from .validate import validate

__all__ = ["to_duckdb", "translate"]

_ICRS_LIKE = {"", "ICRS", "FK5", "J2000", "ICRS GEOCENTER", "UNKNOWNFRAME"}


def _num(x: float) -> exp.Expr:
    return exp.Literal.number(repr(float(x)))


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _check_coordsys(node: exp.Expr) -> None:
    cs = node.args.get("coordsys")
    if cs is None or isinstance(cs, exp.Null):
        return
    name = " ".join(str(cs.this).upper().split())
    if name not in _ICRS_LIKE and name.split(" ")[0] not in _ICRS_LIKE:
        raise UnsupportedFeatureError(f"coordinate system {cs.this!r}: only ICRS is supported")


def _point(e: exp.Expr) -> tuple[exp.Expr, exp.Expr]:
    """(lon, lat) expressions of a point-valued ADQL expression."""
    while isinstance(e, exp.Paren):
        e = e.this
    if isinstance(e, nodes.Point):
        _check_coordsys(e)
        lon, lat = e.expressions
        return lon, lat
    if isinstance(e, nodes.Centroid):
        c = e.this
        if isinstance(c, nodes.Circle):
            lon, lat, _ = _circle(c)
            return lon, lat
        if isinstance(c, nodes.Point):
            return _point(c)
    raise UnsupportedFeatureError(f"not a point this engine can evaluate: {e.sql()[:60]}")


def _circle(c: nodes.Circle) -> tuple[exp.Expr, exp.Expr, exp.Expr]:
    _check_coordsys(c)
    vals = list(c.expressions)
    if len(vals) == 2:
        lon, lat = _point(vals[0])
        return lon, lat, vals[1]
    return vals[0], vals[1], vals[2]


def _in_region(pt: exp.Expr, region: exp.Expr) -> exp.Expr:
    """Boolean: point ``pt`` lies in ``region``."""
    while isinstance(region, exp.Paren):
        region = region.this
    lon, lat = _point(pt)
    if isinstance(region, nodes.Circle):
        lon0, lat0, r = _circle(region)
        return geo.sql_in_circle(lon, lat, lon0, lat0, r)
    if isinstance(region, nodes.Box):
        _check_coordsys(region)
        vals = list(region.expressions)
        if len(vals) == 3:
            lon0, lat0 = _point(vals[0])
            vals = [lon0, lat0, vals[1], vals[2]]
        return geo.sql_in_box(lon, lat, *vals)
    if isinstance(region, nodes.Polygon):
        _check_coordsys(region)
        return geo.sql_in_polygon(lon, lat, _polygon_vertices(region))
    if isinstance(region, nodes.Point):
        # a point contains a point when they coincide
        lon2, lat2 = _point(region)
        return exp.EQ(this=geo.sql_distance(lon, lat, lon2, lat2), expression=_num(0))
    raise UnsupportedFeatureError(
        f"CONTAINS/INTERSECTS with {type(region).__name__.upper()} is not supported"
    )


def _polygon_vertices(poly: nodes.Polygon) -> list[tuple[float, float]]:
    shape = geo.shape_of(poly)
    if not isinstance(shape, geo.PolygonConstraint):
        raise UnsupportedFeatureError("POLYGON vertices must be constants in a predicate")
    return list(shape.vertices)


def _is_point(e: exp.Expr) -> bool:
    while isinstance(e, exp.Paren):
        e = e.this
    return isinstance(e, nodes.Point) or (isinstance(e, nodes.Centroid))


def _predicate(node: nodes.Contains | nodes.Intersects) -> exp.Expr:
    a, b = node.this, node.expression
    while isinstance(a, exp.Paren):
        a = a.this
    while isinstance(b, exp.Paren):
        b = b.this
    if isinstance(a, exp.Column) or isinstance(b, exp.Column):
        return _region_column_predicate(node, a, b)
    for g in (a, b):
        if isinstance(g, nodes.Region):
            raise UnsupportedFeatureError("REGION (STC-S) is not supported")
    if _is_point(a):
        return _in_region(a, b)
    if isinstance(node, nodes.Intersects) and _is_point(b):
        return _in_region(b, a)
    if isinstance(a, nodes.Circle) and isinstance(b, nodes.Circle):
        lon1, lat1, r1 = _circle(a)
        lon2, lat2, r2 = _circle(b)
        d = geo.sql_distance(lon1, lat1, lon2, lat2)
        if isinstance(node, nodes.Intersects):
            return exp.LTE(this=d, expression=exp.Add(this=r1.copy(), expression=r2.copy()))
        return exp.LTE(this=exp.Add(this=d, expression=r1.copy()), expression=r2.copy())
    circle_polygon = _circle_and_polygon(node, a, b)
    if circle_polygon is not None:
        return circle_polygon
    kinds = f"{type(a).__name__.upper()}, {type(b).__name__.upper()}"
    raise UnsupportedFeatureError(f"{type(node).__name__.upper()}({kinds}) is not supported")


def _pos_string(shape: exp.Expr) -> str:
    """A constant CIRCLE/POLYGON/BOX as a POS-like string for the region functions."""
    _check_coordsys(shape)
    if isinstance(shape, nodes.Polygon):
        vs = _polygon_vertices(shape)
        return "POLYGON " + " ".join(f"{lon!r} {lat!r}" for lon, lat in vs)
    vals = list(shape.expressions)
    if isinstance(shape, nodes.Circle) and len(vals) == 2 and isinstance(vals[0], nodes.Point):
        vals = [*vals[0].expressions, vals[1]]
    if isinstance(shape, nodes.Box) and len(vals) == 3 and isinstance(vals[0], nodes.Point):
        vals = [*vals[0].expressions, vals[1], vals[2]]
    nums = geo.consts(vals)
    if nums is None:
        raise UnsupportedFeatureError(
            f"{type(shape).__name__.upper()} against a region column must have constant values"
        )
    return f"{type(shape).__name__.upper()} " + " ".join(repr(float(v)) for v in nums)


def _region_column_predicate(node: nodes.Contains | nodes.Intersects, a: exp.Expr, b: exp.Expr) -> exp.Expr:
    """CONTAINS/INTERSECTS with a region-valued column (ObsCore's ``s_region``), evaluated on
    the sphere by the DuckDB functions of :mod:`.regions`."""
    contains = isinstance(node, nodes.Contains)
    if isinstance(a, exp.Column) and isinstance(b, exp.Column):
        raise UnsupportedFeatureError(f"{type(node).__name__.upper()} of two region columns is not supported")
    column, other = (a, b) if isinstance(a, exp.Column) else (b, a)
    if _is_point(other):
        # CONTAINS(POINT, region) and INTERSECTS of a point and a region: the point is inside
        lon, lat = _point(other)
        return _call("lsstbox_region_contains", column.copy(), lon.copy(), lat.copy())
    if not isinstance(other, nodes.Circle | nodes.Polygon | nodes.Box):
        raise UnsupportedFeatureError(
            f"{type(node).__name__.upper()} of a region column and {other.sql()[:40]} is not supported"
        )
    mode = "overlaps"
    if contains:
        # CONTAINS(region, shape): the region lies within the shape; CONTAINS(shape, region):
        # the region contains the shape
        mode = "within" if column is a else "contains"
    return _call(
        "lsstbox_region_relate",
        column.copy(),
        exp.Literal.string(_pos_string(other)),
        exp.Literal.string(mode),
    )


def _circle_and_polygon(node: nodes.Contains | nodes.Intersects, a: exp.Expr, b: exp.Expr) -> exp.Expr | None:
    """INTERSECTS of a circle and a polygon/box (either order), CONTAINS(circle, polygon/box):
    circles may be centred on columns; polygons and boxes are constants."""

    def vertices(region: exp.Expr) -> list[tuple[float, float]] | None:
        if isinstance(region, nodes.Polygon):
            _check_coordsys(region)
            return _polygon_vertices(region)
        if isinstance(region, nodes.Box):
            _check_coordsys(region)
            vals = geo.consts(list(region.expressions))
            if vals is None or len(vals) != 4:
                raise UnsupportedFeatureError("BOX must have constant centre and size against a CIRCLE")
            return geo.box_corners(*vals)
        return None

    if isinstance(node, nodes.Intersects):
        pairs = [(a, b), (b, a)]
    else:
        pairs = [(a, b)]
    for circle, region in pairs:
        if not isinstance(circle, nodes.Circle):
            continue
        vs = vertices(region)
        if vs is None:
            continue
        lon, lat, r = _circle(circle)
        inside, near = geo.sql_circle_and_polygon(lon, lat, r, vs)
        if isinstance(node, nodes.Intersects):
            return exp.or_(_paren(inside), near)
        return exp.and_(_paren(inside), exp.Not(this=near))
    return None


def _paren(e: exp.Expr) -> exp.Expr:
    return exp.Paren(this=e)


def _as_int(cond: exp.Expr) -> exp.Expr:
    return exp.Cast(this=exp.Paren(this=cond), to=exp.DataType.build("INT"))


def _distance(node: nodes.Distance) -> exp.Expr:
    vals = list(node.expressions)
    if len(vals) == 4:
        return geo.sql_distance(*vals)
    (lon1, lat1), (lon2, lat2) = _point(vals[0]), _point(vals[1])
    return geo.sql_distance(lon1, lat1, lon2, lat2)


def _null_unless_positive(f: exp.Expr, value: exp.Expr) -> exp.Expr:
    return exp.Case(
        ifs=[exp.If(this=exp.GT(this=f.copy(), expression=_num(0)), true=value)], default=exp.null()
    )


def _udf(node: exp.Anonymous) -> exp.Expr:
    name = str(node.this).lower()
    a = list(node.expressions)
    if name == "scisql_nanojanskytoabmag":
        f = a[0]
        mag = exp.Mul(
            this=_num(-2.5),
            expression=_call(
                "LOG10",
                exp.Div(
                    this=exp.Mul(this=exp.Paren(this=f.copy()), expression=_num(1e-9)), expression=_num(3631)
                ),
            ),
        )
        return _null_unless_positive(f, mag)
    if name == "scisql_nanojanskytoabmagsigma":
        f, df = a
        sigma = exp.Div(
            this=exp.Mul(this=_num(2.5 / math.log(10)), expression=exp.Paren(this=df.copy())),
            expression=exp.Paren(this=f.copy()),
        )
        return _null_unless_positive(f, sigma)
    if name == "scisql_angsep":
        return geo.sql_distance(*a)
    if name == "scisql_s2ptincircle":
        return _as_int(geo.sql_in_circle(*a))
    if name == "scisql_s2ptinbox":
        ra, dec, ra_min, dec_min, ra_max, dec_max = a
        in_dec = exp.Between(this=dec.copy(), low=dec_min.copy(), high=dec_max.copy())
        plain = exp.Between(this=ra.copy(), low=ra_min.copy(), high=ra_max.copy())
        wrapped = exp.or_(
            exp.GTE(this=ra.copy(), expression=ra_min.copy()),
            exp.LTE(this=ra.copy(), expression=ra_max.copy()),
        )
        in_ra = exp.Case(
            ifs=[exp.If(this=exp.LTE(this=ra_min.copy(), expression=ra_max.copy()), true=plain)],
            default=wrapped,
        )
        return _as_int(exp.and_(in_dec, in_ra))
    if name == "scisql_s2ptincpoly":
        v = geo.consts(a[2:])
        if v is None or len(v) % 2:
            raise UnsupportedFeatureError("scisql_s2PtInCPoly needs constant vertices")
        return _as_int(geo.sql_in_polygon(a[0], a[1], list(zip(v[0::2], v[1::2], strict=True))))
    raise UnsupportedFeatureError(f"function {node.this} is not implemented by this engine")


def _geometry_value(node: exp.Expr) -> exp.Expr:
    """A geometry in the select list, as a DALI array (point: [lon, lat]; circle: [lon, lat, r];
    polygon: [lon1, lat1, ...]) of DOUBLE."""
    if isinstance(node, nodes.Point | nodes.Centroid):
        lon, lat = _point(node)
        vals = [lon, lat]
    elif isinstance(node, nodes.Circle):
        vals = list(_circle(node))
    elif isinstance(node, nodes.Polygon):
        _check_coordsys(node)
        vals = list(node.expressions)
        if any(isinstance(v, nodes.Point) for v in vals):
            vals = [c for p in vals for c in _point(p)]
    elif isinstance(node, nodes.Box):
        _check_coordsys(node)
        v = geo.consts(node.expressions)
        if not v or len(v) != 4:
            raise UnsupportedFeatureError("BOX values need constant arguments")
        vals = [_num(c) for corner in geo.box_corners(*v) for c in corner]
    else:
        raise UnsupportedFeatureError(f"{type(node).__name__.upper()} values are not supported")
    return exp.Array(expressions=[exp.Cast(this=x.copy(), to=exp.DataType.build("DOUBLE")) for x in vals])


def _rewrite(node: exp.Expr) -> exp.Expr:
    # comparisons of CONTAINS/INTERSECTS with 1 or 0 become the boolean itself
    if isinstance(node, exp.EQ | exp.NEQ):
        for call, other in ((node.this, node.expression), (node.expression, node.this)):
            value = geo.const(other)
            pred = call.meta.get("adql_predicate") if isinstance(call, exp.Cast) and call._meta else None
            if pred is not None and value in (0.0, 1.0):
                positive = (value == 1.0) == isinstance(node, exp.EQ)
                return exp.Paren(this=pred) if positive else exp.Not(this=exp.Paren(this=pred))
    if isinstance(node.parent, nodes.GEOMETRY_FUNCTIONS) and isinstance(node, nodes.GEOMETRY_CONSTRUCTORS):
        return node  # rewritten with the function that uses it
    if isinstance(node, nodes.Contains | nodes.Intersects):
        pred = _predicate(node)
        out = _as_int(pred)
        out.meta["adql_predicate"] = pred
        return out
    if isinstance(node, nodes.Distance):
        return _distance(node)
    if isinstance(node, exp.Floor | exp.Ceil):
        # ADQL's FLOOR/CEILING give a double whatever the argument (DuckDB keeps a float a float)
        return exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
    if isinstance(node, nodes.Coord1 | nodes.Coord2):
        lon, lat = _point(node.this)
        return (lon if isinstance(node, nodes.Coord1) else lat).copy()
    if isinstance(node, nodes.Coordsys):
        p = node.this
        cs = p.args.get("coordsys") if isinstance(p, nodes.Point) else None
        return exp.Literal.string(str(cs.this) if isinstance(cs, exp.Literal) and cs.this else "ICRS")
    if isinstance(node, nodes.Area):
        shape = node.this
        if isinstance(shape, nodes.Circle):
            r = _circle(shape)[2]
            sr = exp.Mul(
                this=_num(2 * math.pi),
                expression=exp.Paren(
                    this=exp.Sub(this=_num(1), expression=_call("COS", _call("RADIANS", r.copy())))
                ),
            )
            return exp.Mul(this=sr, expression=_num((180 / math.pi) ** 2))
        raise UnsupportedFeatureError("AREA is only supported for circles")
    if isinstance(node, nodes.Region):
        raise UnsupportedFeatureError("REGION (STC-S) is not supported")
    if isinstance(node, nodes.InUnit):
        raise UnsupportedFeatureError("IN_UNIT is not supported")
    if isinstance(node, nodes.Point | nodes.Circle | nodes.Polygon | nodes.Box | nodes.Centroid):
        return _geometry_value(node)
    if isinstance(node, exp.Anonymous):
        return _udf(node)
    if isinstance(node, exp.Cast) and node.meta.get("adql_type") in ("POINT", "CIRCLE", "POLYGON"):
        raise UnsupportedFeatureError(f"CAST to {node.meta['adql_type']} is not supported")
    if isinstance(node, exp.Log) and node.expression is not None:
        return _call("LOG10", node.expression)
    if isinstance(node, exp.Trunc) and node.args.get("decimals") is not None:
        scale = exp.Pow(this=_num(10), expression=node.args["decimals"].copy())
        inner = exp.Mul(this=exp.Paren(this=node.this.copy()), expression=scale)
        return exp.Div(this=_call("TRUNC", inner), expression=scale.copy())
    if isinstance(node, exp.Rand):
        return _call("RANDOM")
    if isinstance(node, exp.Limit):
        node.meta.pop("top", None)
    return node


def _bottom_up(node: exp.Expr, fun: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
    for child in list(node.iter_expressions()):
        new = _bottom_up(child, fun)
        if new is not child:
            child.replace(new)
    return fun(node)


def _map_tables(tree: exp.Expr, tables: Mapping[str, str] | Callable[[exp.Table], exp.Expr | None]) -> None:
    for table in list(tree.find_all(exp.Table)):
        full = ".".join(p for p in (table.catalog, table.db, table.name) if p)
        if callable(tables):
            repl = tables(table)
        else:
            target = {k.lower(): v for k, v in tables.items()}.get(full.lower()) or {
                k.lower(): v for k, v in tables.items()
            }.get(table.name.lower())
            repl = exp.to_table(target) if target else None
        if repl is None:
            continue
        alias = table.alias or table.name
        if isinstance(repl, exp.Table):
            repl.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
            table.replace(repl)
        else:
            table.replace(
                exp.alias_(
                    exp.Subquery(this=repl) if isinstance(repl, exp.Query) else repl, alias, table=True
                )
            )
    # columns qualified by schema (dp1.Object.ra) keep only their table qualifier
    for col in tree.find_all(exp.Column):
        if col.args.get("db") is not None:
            col.set("db", None)
            col.set("catalog", None)


def translate(
    query: str | exp.Expr,
    tables: Mapping[str, str] | Callable[[exp.Table], exp.Expr | None] | None = None,
) -> exp.Expr:
    """The DuckDB-ready sqlglot tree of an ADQL query (validated if given as text)."""
    tree = validate(query) if isinstance(query, str) else query.copy()
    out = _bottom_up(tree, _rewrite)
    if tables is not None:
        _map_tables(out, tables)
    return out


def to_duckdb(
    query: str | exp.Expr,
    tables: Mapping[str, str] | Callable[[exp.Table], exp.Expr | None] | None = None,
    pretty: bool = False,
) -> str:
    """DuckDB SQL for an ADQL query.

    ``tables`` renames tables: a mapping from ADQL table names (``"dp1.Object"`` or ``"Object"``,
    case-insensitive) to DuckDB table/view names, or a callable returning a replacement expression
    (e.g. ``read_parquet(...)``) or None to keep the table.  The original name stays as the alias,
    so qualified column references keep working.
    """
    return translate(query, tables).sql(dialect="duckdb", pretty=pretty)
