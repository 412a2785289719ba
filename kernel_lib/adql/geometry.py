"""Spherical geometry for the ADQL front end: SQL builders and spatial constraint extraction.

All positions are ICRS (lon = RA, lat = Dec) in degrees.

* distance -- haversine, ``2 asin(sqrt(sin²(Δδ/2) + cos δ1 cos δ2 sin²(Δα/2)))``: exact at the
  RA = 0/360 wrap and at the poles, well conditioned at small separations;
* CIRCLE -- ``distance <= radius``;
* BOX(lon, lat, w, h) -- the ADQL 2.0 box whose sides are great circles: in the gnomonic
  projection about its centre it is the rectangle ``|X| <= tan(w/2), |Y| <= tan(h/2)``;
* POLYGON -- vertices joined by great circles (ADQL 2.1); a point is inside if, in the gnomonic
  projection about the vertices' mean direction (where great circles are straight lines), it falls
  inside the projected polygon (even-odd rule), so convex and concave polygons both work as long
  as they fit in a hemisphere.

:func:`spatial_constraints` finds the cones/boxes/polygons a WHERE clause requires (top-level
``AND`` terms only) and on which table's columns, for partition pruning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from . import nodes
from .errors import UnsupportedFeatureError

__all__ = [
    "BoxConstraint",
    "ConeConstraint",
    "PolygonConstraint",
    "PositionalLink",
    "SpatialConstraint",
    "box_corners",
    "positional_link",
    "spatial_constraints",
    "sql_distance",
    "sql_in_box",
    "sql_in_circle",
    "sql_in_polygon",
]

Expr = exp.Expr


def _f(x: float) -> exp.Expr:
    return exp.Literal.number(repr(float(x)))


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _rad(e: exp.Expr) -> exp.Expr:
    return _call("RADIANS", e.copy())


def _p(e: exp.Expr) -> exp.Expr:
    return exp.Paren(this=e)


def sql_distance(lon1: Expr, lat1: Expr, lon2: Expr, lat2: Expr) -> exp.Expr:
    """Angular distance in degrees (haversine)."""
    dlat = _call("SIN", exp.Div(this=_p(exp.Sub(this=_rad(lat2), expression=_rad(lat1))), expression=_f(2)))
    dlon = _call("SIN", exp.Div(this=_p(exp.Sub(this=_rad(lon2), expression=_rad(lon1))), expression=_f(2)))
    hav = exp.Add(
        this=exp.Pow(this=dlat, expression=_f(2)),
        expression=exp.Mul(
            this=exp.Mul(this=_call("COS", _rad(lat1)), expression=_call("COS", _rad(lat2))),
            expression=exp.Pow(this=dlon, expression=_f(2)),
        ),
    )
    return _call(
        "DEGREES",
        exp.Mul(this=_f(2), expression=_call("ASIN", _call("SQRT", _call("LEAST", _f(1), hav)))),
    )


def sql_in_circle(lon: Expr, lat: Expr, lon0: Expr, lat0: Expr, radius: Expr) -> exp.Expr:
    return exp.LTE(this=sql_distance(lon, lat, lon0, lat0), expression=radius.copy())


def _gnomonic(lon: Expr, lat: Expr, lon0: Expr, lat0: Expr) -> tuple[exp.Expr, exp.Expr, exp.Expr]:
    """(X·cos c, Y·cos c, cos c) of (lon, lat) projected about (lon0, lat0)."""
    dl = exp.Sub(this=_rad(lon), expression=_rad(lon0))
    cos_lat, sin_lat = _call("COS", _rad(lat)), _call("SIN", _rad(lat))
    cos_lat0, sin_lat0 = _call("COS", _rad(lat0)), _call("SIN", _rad(lat0))
    xc = exp.Mul(this=cos_lat.copy(), expression=_call("SIN", dl.copy()))
    yc = exp.Sub(
        this=exp.Mul(this=cos_lat0.copy(), expression=sin_lat.copy()),
        expression=exp.Mul(
            this=exp.Mul(this=sin_lat0.copy(), expression=cos_lat.copy()), expression=_call("COS", dl.copy())
        ),
    )
    cosc = exp.Add(
        this=exp.Mul(this=sin_lat0, expression=sin_lat),
        expression=exp.Mul(this=exp.Mul(this=cos_lat0, expression=cos_lat), expression=_call("COS", dl)),
    )
    return xc, yc, cosc


def sql_in_box(lon: Expr, lat: Expr, lon0: Expr, lat0: Expr, width: Expr, height: Expr) -> exp.Expr:
    xc, yc, cosc = _gnomonic(lon, lat, lon0, lat0)
    half_w = _call("TAN", _rad(exp.Div(this=_p(width.copy()), expression=_f(2))))
    half_h = _call("TAN", _rad(exp.Div(this=_p(height.copy()), expression=_f(2))))
    return exp.and_(
        exp.GT(this=cosc.copy(), expression=_f(0)),
        exp.LTE(this=_call("ABS", xc), expression=exp.Mul(this=half_w, expression=_p(cosc.copy()))),
        exp.LTE(this=_call("ABS", yc), expression=exp.Mul(this=half_h, expression=_p(cosc))),
    )


def _unit(lon: float, lat: float) -> tuple[float, float, float]:
    a, d = math.radians(lon), math.radians(lat)
    return (math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d))


def _lonlat(v: Sequence[float]) -> tuple[float, float]:
    x, y, z = v
    n = math.sqrt(x * x + y * y + z * z)
    return math.degrees(math.atan2(y, x)) % 360.0, math.degrees(math.asin(max(-1.0, min(1.0, z / n))))


def _project(lon: float, lat: float, lon0: float, lat0: float) -> tuple[float, float]:
    a, d, a0, d0 = map(math.radians, (lon, lat, lon0, lat0))
    cosc = math.sin(d0) * math.sin(d) + math.cos(d0) * math.cos(d) * math.cos(a - a0)
    if cosc <= 1e-12:
        raise UnsupportedFeatureError("polygons must fit in a hemisphere")
    x = math.cos(d) * math.sin(a - a0) / cosc
    y = (math.cos(d0) * math.sin(d) - math.sin(d0) * math.cos(d) * math.cos(a - a0)) / cosc
    return x, y


def polygon_center(vertices: Sequence[tuple[float, float]]) -> tuple[float, float]:
    vs = [_unit(lo, la) for lo, la in vertices]
    return _lonlat([sum(v[i] for v in vs) for i in range(3)])


def sql_in_polygon(lon: Expr, lat: Expr, vertices: Sequence[tuple[float, float]]) -> exp.Expr:
    """Point-in-spherical-polygon (great-circle edges, even-odd rule) for constant vertices."""
    if len(vertices) < 3:
        raise UnsupportedFeatureError("a polygon needs at least 3 vertices")
    lon0, lat0 = polygon_center(vertices)
    proj = [_project(lo, la, lon0, lat0) for lo, la in vertices]
    xc, yc, cosc = _gnomonic(lon, lat, _f(lon0), _f(lat0))
    px = exp.Div(this=_p(xc), expression=_p(cosc.copy()))
    py = exp.Div(this=_p(yc), expression=_p(cosc.copy()))
    terms: list[exp.Expr] = []
    n = len(proj)
    for i in range(n):
        (xi, yi), (xj, yj) = proj[i], proj[i - 1]
        if yi == yj:
            continue
        straddles = exp.NEQ(
            this=_p(exp.GT(this=py.copy(), expression=_f(yi))),
            expression=_p(exp.GT(this=py.copy(), expression=_f(yj))),
        )
        # x of the edge at height py, compared with px
        x_at = exp.Add(
            this=exp.Mul(
                this=_f((xj - xi) / (yj - yi)), expression=_p(exp.Sub(this=py.copy(), expression=_f(yi)))
            ),
            expression=_f(xi),
        )
        crosses = exp.and_(straddles, exp.LT(this=px.copy(), expression=x_at))
        terms.append(exp.Cast(this=_p(crosses), to=exp.DataType.build("INT")))
    if not terms:
        return exp.false()
    total: exp.Expr = terms[0]
    for t in terms[1:]:
        total = exp.Add(this=total, expression=t)
    odd = exp.EQ(
        this=exp.Mod(this=_p(total), expression=exp.Literal.number(2)), expression=exp.Literal.number(1)
    )
    return exp.and_(exp.GT(this=cosc, expression=_f(0)), odd)


def sql_circle_and_polygon(
    lon: Expr, lat: Expr, radius: Expr, vertices: Sequence[tuple[float, float]]
) -> tuple[exp.Expr, exp.Expr]:
    """For a circle (centre and radius may be columns) and a polygon of constant vertices:
    (centre inside the polygon, some point of the polygon's boundary within the radius).

    The boundary distance is exact on the sphere: for each edge AB (normal n = A x B), the
    centre X projects inside the arc when X.(n x A) >= 0 and X.(B x n) >= 0, and is then
    asin|X.n| from it, else as far as the nearer vertex (each vertex is one edge's A)."""
    inside = sql_in_polygon(lon, lat, vertices)
    x = (
        exp.Mul(this=_call("COS", _rad(lat)), expression=_call("COS", _rad(lon))),
        exp.Mul(this=_call("COS", _rad(lat)), expression=_call("SIN", _rad(lon))),
        _call("SIN", _rad(lat)),
    )

    def dot(v: Sequence[float]) -> exp.Expr:
        out: exp.Expr = exp.Mul(this=_f(v[0]), expression=_p(x[0].copy()))
        for i in (1, 2):
            out = exp.Add(this=out, expression=exp.Mul(this=_f(v[i]), expression=_p(x[i].copy())))
        return _p(out)

    def cross(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
        return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])

    sin_r = _call("SIN", _rad(radius))
    near: list[exp.Expr] = []
    for i in range(len(vertices)):
        a, b = _unit(*vertices[i - 1]), _unit(*vertices[i])
        n = cross(a, b)
        norm = math.sqrt(sum(c * c for c in n))
        if norm == 0:
            continue
        n = (n[0] / norm, n[1] / norm, n[2] / norm)
        on_arc = exp.and_(
            exp.GTE(this=dot(cross(n, a)), expression=_f(0)), exp.GTE(this=dot(cross(b, n)), expression=_f(0))
        )
        close = exp.LTE(this=_call("ABS", dot(n)), expression=sin_r.copy())
        vertex = exp.LTE(
            this=sql_distance(lon, lat, _f(vertices[i - 1][0]), _f(vertices[i - 1][1])),
            expression=_p(radius.copy()),
        )
        near.append(_p(exp.or_(_p(exp.and_(on_arc, close)), vertex)))
    return inside, _p(exp.or_(*near)) if near else exp.false()


def box_corners(lon: float, lat: float, width: float, height: float) -> list[tuple[float, float]]:
    """The 4 corners (counter-clockwise on the sky) of an ADQL BOX, in degrees."""
    tw, th = math.tan(math.radians(width / 2)), math.tan(math.radians(height / 2))
    a0, d0 = math.radians(lon), math.radians(lat)
    out = []
    for x, y in ((tw, th), (-tw, th), (-tw, -th), (tw, -th)):
        rho = math.hypot(x, y)
        c = math.atan(rho)
        d = math.asin(math.cos(c) * math.sin(d0) + y * math.sin(c) * math.cos(d0) / rho)
        a = a0 + math.atan2(
            x * math.sin(c), rho * math.cos(d0) * math.cos(c) - y * math.sin(d0) * math.sin(c)
        )
        out.append((math.degrees(a) % 360.0, math.degrees(d)))
    return out


def angular_distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    a1, d1, a2, d2 = map(math.radians, (lon1, lat1, lon2, lat2))
    h = math.sin((d2 - d1) / 2) ** 2 + math.cos(d1) * math.cos(d2) * math.sin((a2 - a1) / 2) ** 2
    return math.degrees(2 * math.asin(math.sqrt(min(1.0, h))))


# -- spatial constraints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConeConstraint:
    ra: float
    dec: float
    radius: float

    def bounding_cone(self) -> ConeConstraint:
        return self


@dataclass(frozen=True)
class BoxConstraint:
    ra: float
    dec: float
    width: float
    height: float

    def corners(self) -> list[tuple[float, float]]:
        return box_corners(self.ra, self.dec, self.width, self.height)

    def bounding_cone(self) -> ConeConstraint:
        r = max(angular_distance(self.ra, self.dec, lo, la) for lo, la in self.corners())
        return ConeConstraint(self.ra, self.dec, r)


@dataclass(frozen=True)
class PolygonConstraint:
    vertices: tuple[tuple[float, float], ...]

    def bounding_cone(self) -> ConeConstraint:
        lon0, lat0 = polygon_center(self.vertices)
        r = max(angular_distance(lon0, lat0, lo, la) for lo, la in self.vertices)
        return ConeConstraint(lon0, lat0, r)


Shape = ConeConstraint | BoxConstraint | PolygonConstraint


@dataclass(frozen=True)
class SpatialConstraint:
    """Rows of ``table`` (None: not resolvable) must have (ra_column, dec_column) inside ``shape``."""

    table: str | None
    ra_column: str
    dec_column: str
    shape: Shape


def const(e: exp.Expr | None) -> float | None:
    """The value of a constant numeric expression (literals, + - * /, unary minus), else None."""
    while isinstance(e, exp.Paren):
        e = e.this
    if isinstance(e, exp.Literal) and not e.is_string:
        return float(e.this)
    if isinstance(e, exp.Neg):
        v = const(e.this)
        return None if v is None else -v
    if isinstance(e, exp.Add | exp.Sub | exp.Mul | exp.Div):
        a, b = const(e.this), const(e.expression)
        if a is None or b is None:
            return None
        if isinstance(e, exp.Add):
            return a + b
        if isinstance(e, exp.Sub):
            return a - b
        if isinstance(e, exp.Mul):
            return a * b
        return a / b if b else None
    return None


def consts(es: Sequence[exp.Expr]) -> list[float] | None:
    vals = [const(e) for e in es]
    return None if any(v is None for v in vals) else [v for v in vals if v is not None]


def shape_of(node: exp.Expr) -> Shape | None:
    """A constant CIRCLE/BOX/POLYGON as a constraint shape, else None."""
    if isinstance(node, nodes.Circle) and len(node.expressions) == 3:
        v = consts(node.expressions)
        return ConeConstraint(*v) if v else None
    if isinstance(node, nodes.Box) and len(node.expressions) == 4:
        v = consts(node.expressions)
        return BoxConstraint(*v) if v else None
    if isinstance(node, nodes.Polygon):
        v = consts(node.expressions)
        if v and len(v) % 2 == 0:
            return PolygonConstraint(tuple(zip(v[0::2], v[1::2], strict=True)))
        pts = [p for p in node.expressions if isinstance(p, nodes.Point)]
        if len(pts) == len(node.expressions):
            vv = [consts(p.expressions) for p in pts]
            if all(vv):
                return PolygonConstraint(tuple((a[0], a[1]) for a in vv if a))
    return None


def _conjuncts(cond: exp.Expr | None) -> list[exp.Expr]:
    while isinstance(cond, exp.Paren):
        cond = cond.this
    if cond is None:
        return []
    if isinstance(cond, exp.And):
        return _conjuncts(cond.this) + _conjuncts(cond.expression)
    return [cond]


def _is_one(e: exp.Expr | None) -> bool:
    return const(e) == 1.0


def _columns(point: exp.Expr) -> tuple[exp.Column, exp.Column] | None:
    if isinstance(point, nodes.Point) and len(point.expressions) == 2:
        a, b = point.expressions
        if isinstance(a, exp.Column) and isinstance(b, exp.Column):
            return a, b
    return None


def _udf(e: exp.Expr, name: str) -> bool:
    return isinstance(e, exp.Anonymous) and str(e.this).lower() == name


def _match(term: exp.Expr) -> tuple[exp.Column, exp.Column, Shape] | None:
    if isinstance(term, exp.EQ):
        for call, other in ((term.this, term.expression), (term.expression, term.this)):
            if not _is_one(other):
                continue
            if isinstance(call, nodes.Contains | nodes.Intersects):
                pairs = [(call.this, call.expression)]
                if isinstance(call, nodes.Intersects):
                    pairs.append((call.expression, call.this))
                for pt, region in pairs:
                    cols, shape = _columns(pt), shape_of(region)
                    if cols and shape:
                        return cols[0], cols[1], shape
            if isinstance(call, exp.Anonymous):
                args = list(call.expressions)
                if len(args) >= 2 and isinstance(args[0], exp.Column) and isinstance(args[1], exp.Column):
                    v = consts(args[2:])
                    if v is None:
                        continue
                    if _udf(call, "scisql_s2ptincircle") and len(v) == 3:
                        return args[0], args[1], ConeConstraint(*v)
                    if _udf(call, "scisql_s2ptincpoly") and len(v) >= 6 and len(v) % 2 == 0:
                        return args[0], args[1], PolygonConstraint(tuple(zip(v[0::2], v[1::2], strict=True)))
                    if _udf(call, "scisql_s2ptinbox") and len(v) == 4:
                        return args[0], args[1], _ra_dec_box(*v)
    if isinstance(term, exp.LT | exp.LTE):
        r = const(term.expression)
        d = term.this
        if r is not None:
            if isinstance(d, nodes.Distance) and len(d.expressions) == 2:
                for a, b in ((d.expressions[0], d.expressions[1]), (d.expressions[1], d.expressions[0])):
                    cols, c = _columns(a), consts(b.expressions) if isinstance(b, nodes.Point) else None
                    if cols and c:
                        return cols[0], cols[1], ConeConstraint(c[0], c[1], r)
            if _udf(d, "scisql_angsep") and len(d.expressions) == 4:
                args = list(d.expressions)
                for pair, c in ((args[0:2], consts(args[2:4])), (args[2:4], consts(args[0:2]))):
                    ra_col, dec_col = pair
                    if isinstance(ra_col, exp.Column) and isinstance(dec_col, exp.Column) and c:
                        return ra_col, dec_col, ConeConstraint(c[0], c[1], r)
    return None


def _ra_dec_box(ra_min: float, dec_min: float, ra_max: float, dec_max: float) -> Shape:
    """scisql's RA/Dec box as a polygon bound (its edges in RA are small circles; this is a superset
    only when the box is small, so the planner should use the bounding cone)."""
    width = (ra_max - ra_min) % 360.0
    ra_c = (ra_min + width / 2) % 360.0
    dec_c = (dec_min + dec_max) / 2
    corners = [(ra_min, dec_min), (ra_max, dec_min), (ra_max, dec_max), (ra_min, dec_max)]
    r = max(angular_distance(ra_c, dec_c, lo, la) for lo, la in corners)
    # the mid-points of the RA edges are further from the centre than the corners near the equator
    r = max(r, angular_distance(ra_c, dec_c, ra_c, dec_min), angular_distance(ra_c, dec_c, ra_c, dec_max))
    return ConeConstraint(ra_c, dec_c, r)


def _table_of(col: exp.Column, select: exp.Select) -> str | None:
    sources: dict[str, str] = {}
    tables = []
    from_ = select.args.get("from_")
    for src in [from_.this if from_ else None, *(j.this for j in select.args.get("joins") or [])]:
        if isinstance(src, exp.Table):
            name = ".".join(p for p in (src.catalog, src.db, src.name) if p)
            sources[(src.alias_or_name).lower()] = name
            sources[src.name.lower()] = name
            tables.append(name)
    if col.table:
        return sources.get(col.table.lower())
    return tables[0] if len(tables) == 1 else None


def spatial_constraints(query: str | exp.Expr) -> list[SpatialConstraint]:
    """The spatial constraints every result row obeys, for each SELECT of ``query`` (WHERE and
    JOIN ... ON, top-level AND terms): cones, boxes and polygons on (ra, dec) columns."""
    from .validate import validate  # local: validate imports the dialect, which imports nodes

    tree = validate(query) if isinstance(query, str) else query
    out: list[SpatialConstraint] = []
    for select in tree.find_all(exp.Select):
        conds: list[exp.Expr] = []
        where = select.args.get("where")
        if where is not None:
            conds += _conjuncts(where.this)
        for j in select.args.get("joins") or []:
            if not j.args.get("side"):
                conds += _conjuncts(j.args.get("on"))
        for term in conds:
            m = _match(term)
            if m:
                ra, dec, shape = m
                out.append(SpatialConstraint(_table_of(ra, select), ra.name, dec.name, shape))
    return out


@dataclass(frozen=True)
class PositionalLink:
    """A join condition bounding the separation of two tables' positions: ``DISTANCE(POINT(a.ra,
    a.dec), POINT(b.ra, b.dec)) < r``, ``CONTAINS(POINT(b..), CIRCLE(a.., r)) = 1``,
    ``scisql_angSep(a.., b..) < r`` or ``scisql_s2PtInCircle(b.., a.., r) = 1`` (r in degrees)."""

    first: tuple[exp.Column, exp.Column]
    second: tuple[exp.Column, exp.Column]
    radius_deg: float


def _column_pair(a: exp.Expr, b: exp.Expr) -> tuple[exp.Column, exp.Column] | None:
    return (a, b) if isinstance(a, exp.Column) and isinstance(b, exp.Column) else None


def positional_link(term: exp.Expr) -> PositionalLink | None:
    """The :class:`PositionalLink` a top-level AND term states, if it is one of those forms."""
    if isinstance(term, exp.LT | exp.LTE):
        r, d = const(term.expression), term.this
        if r is None:
            return None
        args = list(d.expressions) if isinstance(d, nodes.Distance) or _udf(d, "scisql_angsep") else []
        if len(args) == 2 and all(isinstance(a, nodes.Point) for a in args):
            p, q = _columns(args[0]), _columns(args[1])
            return PositionalLink(p, q, r) if p and q else None
        if len(args) == 4:
            p, q = _column_pair(args[0], args[1]), _column_pair(args[2], args[3])
            return PositionalLink(p, q, r) if p and q else None
        return None
    if isinstance(term, exp.EQ):
        for call, other in ((term.this, term.expression), (term.expression, term.this)):
            if not _is_one(other):
                continue
            if isinstance(call, nodes.Contains) and isinstance(call.expression, nodes.Circle):
                vals = call.expression.values
                p = _columns(call.this)
                q = _column_pair(vals[0], vals[1]) if len(vals) == 3 else None
                r = const(vals[2]) if len(vals) == 3 else None
                if p and q and r is not None:
                    return PositionalLink(p, q, r)
            if _udf(call, "scisql_s2ptincircle") and len(call.expressions) == 5:
                a = list(call.expressions)
                p, q, r = _column_pair(a[0], a[1]), _column_pair(a[2], a[3]), const(a[4])
                if p and q and r is not None:
                    return PositionalLink(p, q, r)
    return None
