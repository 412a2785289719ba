"""AST nodes for ADQL's own functions (geometry, IN_UNIT), as sqlglot expressions.

Each geometry constructor keeps its optional coordinate system apart (``coordsys``, a string
literal or NULL) from its value arguments (``expressions``), so ``POINT('ICRS', ra, dec)`` and
``POINT(ra, dec)`` are the same node with or without a ``coordsys``.  The generic sqlglot function
generator prints them back as ``NAME(coordsys, args...)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import exp

__all__ = [
    "GEOMETRY_CONSTRUCTORS",
    "GEOMETRY_FUNCTIONS",
    "GEOMETRY_PREDICATES",
    "Area",
    "Box",
    "Centroid",
    "Circle",
    "Contains",
    "Coord1",
    "Coord2",
    "Coordsys",
    "Distance",
    "InUnit",
    "Intersects",
    "Point",
    "Polygon",
    "Region",
]


class _Shape(exp.Expression, exp.Func):
    """A geometry constructor: NAME([coordsys,] value, ...)."""

    arg_types: ClassVar[dict[str, bool]] = {"coordsys": False, "expressions": True}
    is_var_len_args = True

    @classmethod
    def build(cls, args: list[Any]) -> _Shape:
        coordsys = None
        rest = list(args)
        if rest and isinstance(rest[0], exp.Literal | exp.Null) and not _is_number(rest[0]):
            coordsys = rest.pop(0)
        return cls(coordsys=coordsys, expressions=rest)

    @property
    def values(self) -> list[exp.Expr]:
        return list(self.expressions)


def _is_number(e: exp.Expr) -> bool:
    return isinstance(e, exp.Literal) and not e.is_string


class Point(_Shape):
    _sql_names: ClassVar[list[str]] = ["POINT"]


class Circle(_Shape):
    _sql_names: ClassVar[list[str]] = ["CIRCLE"]


class Box(_Shape):
    _sql_names: ClassVar[list[str]] = ["BOX"]


class Polygon(_Shape):
    _sql_names: ClassVar[list[str]] = ["POLYGON"]


class Region(exp.Expression, exp.Func):
    """REGION('STC-S string')."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True}
    _sql_names: ClassVar[list[str]] = ["REGION"]


class _Binary(exp.Expression, exp.Func):
    arg_types: ClassVar[dict[str, bool]] = {"this": True, "expression": True}


class Contains(_Binary):
    """CONTAINS(a, b): 1 if a lies within b, else 0."""

    _sql_names: ClassVar[list[str]] = ["CONTAINS"]


class Intersects(_Binary):
    _sql_names: ClassVar[list[str]] = ["INTERSECTS"]


class Distance(exp.Expression, exp.Func):
    """DISTANCE(p1, p2) or, in ADQL 2.1, DISTANCE(lon1, lat1, lon2, lat2); degrees."""

    arg_types: ClassVar[dict[str, bool]] = {"expressions": True}
    is_var_len_args = True
    _sql_names: ClassVar[list[str]] = ["DISTANCE"]


class _Unary(exp.Expression, exp.Func):
    arg_types: ClassVar[dict[str, bool]] = {"this": True}


class Coord1(_Unary):
    _sql_names: ClassVar[list[str]] = ["COORD1"]


class Coord2(_Unary):
    _sql_names: ClassVar[list[str]] = ["COORD2"]


class Coordsys(_Unary):
    _sql_names: ClassVar[list[str]] = ["COORDSYS"]


class Area(_Unary):
    _sql_names: ClassVar[list[str]] = ["AREA"]


class Centroid(_Unary):
    _sql_names: ClassVar[list[str]] = ["CENTROID"]


class InUnit(exp.Expression, exp.Func):
    """IN_UNIT(value, 'unit') (ADQL 2.1 optional)."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "expression": True}
    _sql_names: ClassVar[list[str]] = ["IN_UNIT"]


GEOMETRY_CONSTRUCTORS: tuple[type[exp.Func], ...] = (Point, Circle, Box, Polygon, Region, Centroid)
GEOMETRY_PREDICATES: tuple[type[exp.Func], ...] = (Contains, Intersects)
GEOMETRY_FUNCTIONS: tuple[type[exp.Func], ...] = (
    *GEOMETRY_CONSTRUCTORS,
    *GEOMETRY_PREDICATES,
    Distance,
    Coord1,
    Coord2,
    Coordsys,
    Area,
)
