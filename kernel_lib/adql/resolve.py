"""Resolve an ADQL query against a schema: unknown tables/columns (with suggestions), simple types.

A schema is a mapping ``table name -> {column name -> ADQL datatype}`` (datatypes as in
:mod:`kernel_lib.release.schema`: long int short double float boolean char, or point/region);
:func:`schema_from_tables` builds it from the release's ``TABLES``.  Names are case-insensitive,
as unquoted ADQL identifiers are.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from . import nodes
from .errors import AdqlTypeError, UnknownColumnError, UnknownTableError
from .validate import validate

__all__ = ["Schema", "TableInfo", "resolve", "schema_from_tables"]

#: table name -> {column name -> datatype}
Schema = Mapping[str, Mapping[str, str]]
TableInfo = Mapping[str, str]

#: datatypes of geometry-valued columns (ObsCore's s_region is a "region")
_GEOMETRY = {"region", "point", "circle", "polygon"}
_NUMERIC = {"long", "int", "short", "double", "float", "boolean", "numeric"}
_MATH = (
    exp.Abs, exp.Ceil, exp.Degrees, exp.Exp, exp.Floor, exp.Ln, exp.Log, exp.Mod, exp.Pow,
    exp.Radians, exp.Sqrt, exp.Round, exp.Trunc, exp.Acos, exp.Asin, exp.Atan, exp.Atan2, exp.Cos,
    exp.Cot, exp.Sin, exp.Tan, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Neg, exp.Avg, exp.Sum,
)  # fmt: skip


def schema_from_tables(
    tables: Mapping[str, Any] | Iterable[Any], schema_name: str = "dp1"
) -> dict[str, dict[str, str]]:
    """``{"Object": {...}, "dp1.Object": {...}}`` from TableSpec objects (``.name``, ``.columns``)."""
    specs: Iterable[Any] = tables.values() if isinstance(tables, Mapping) else tables
    out: dict[str, dict[str, str]] = {}
    for spec in specs:
        cols = {c.name: c.datatype for c in spec.columns}
        out[spec.name] = cols
        if schema_name:
            out[f"{schema_name}.{spec.name}"] = cols
    return out


def _suggest(name: str, candidates: Iterable[str]) -> list[str]:
    cands = sorted(set(candidates))
    lowered = {c.lower(): c for c in cands}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    return [lowered[h] for h in hits]


class _Resolver:
    def __init__(self, schema: Schema):
        self.tables = {k.lower(): (k, {c.lower(): (c, t) for c, t in v.items()}) for k, v in schema.items()}
        self.outputs: dict[int, dict[str, str]] = {}  # id(scope.expression) -> output columns

    def table(self, table: exp.Table) -> dict[str, tuple[str, str]]:
        full = ".".join(p for p in (table.catalog, table.db, table.name) if p)
        hit = self.tables.get(full.lower())
        if hit is None:
            names = [v[0] for v in self.tables.values()]
            raise UnknownTableError(full, _suggest(full, names) or _suggest(table.name, names))
        return hit[1]

    def source_columns(self, source: object) -> dict[str, tuple[str, str]]:
        if isinstance(source, exp.Table):
            return self.table(source)
        if isinstance(source, Scope):
            cols = self.outputs.get(id(source.expression), {})
            return {k.lower(): (k, t) for k, t in cols.items()}
        return {}

    def scope_columns(self, scope: Scope) -> dict[str, dict[str, tuple[str, str]]]:
        return {alias.lower(): self.source_columns(pair[1]) for alias, pair in scope.selected_sources.items()}

    def run(self, tree: exp.Expr) -> None:
        for scope in traverse_scope(tree):
            visible = self.scope_columns(scope)
            outer = scope.parent
            while outer is not None:
                for k, v in self.scope_columns(outer).items():
                    visible.setdefault(k, v)
                outer = outer.parent
            aliases = set()
            if isinstance(scope.expression, exp.Select):
                aliases = {s.alias.lower() for s in scope.expression.selects if isinstance(s, exp.Alias)}
            types: dict[int, str] = {}
            for col in scope.columns:
                if isinstance(col.this, exp.Star):
                    continue
                if isinstance(scope.expression, exp.SetOperation):
                    continue  # ORDER BY of a UNION names its output columns
                if (
                    isinstance(scope.expression, exp.Select)
                    and col.find_ancestor(exp.Select) is not scope.expression
                ):
                    continue  # a subquery's column: resolved in the subquery's own scope
                types[id(col)] = self.column(col, visible, aliases)
            if isinstance(scope.expression, exp.Select):
                self.check_types(scope.expression, types)
                self.outputs[id(scope.expression)] = self.output(scope.expression, visible, types)
            elif isinstance(scope.expression, exp.SetOperation):
                left = scope.expression.left
                self.outputs[id(scope.expression)] = self.outputs.get(id(left), {})

    def column(
        self, col: exp.Column, visible: dict[str, dict[str, tuple[str, str]]], aliases: set[str]
    ) -> str:
        name = col.name
        if col.table:
            cols = visible.get(col.table.lower())
            if cols is None:
                raise UnknownTableError(col.table, _suggest(col.table, visible))
            if not cols:
                return "unknown"
            hit = cols.get(name.lower())
            if hit is None:
                raise UnknownColumnError(name, _suggest(name, [c for c, _ in cols.values()]), col.table)
            return hit[1]
        for cols in visible.values():
            if not cols:
                return "unknown"  # a source we cannot see into
            hit = cols.get(name.lower())
            if hit is not None:
                return hit[1]
        if name.lower() in aliases:
            return "unknown"
        known = [c for cols in visible.values() for c, _ in cols.values()]
        err = UnknownColumnError(name, _suggest(name, known))
        if isinstance(col.this, exp.Identifier) and col.this.quoted:
            err.args = (
                f"{err} (double quotes delimit identifiers; a string literal takes single quotes: '{name}')",
            )
        raise err

    def output(
        self, select: exp.Select, visible: dict[str, dict[str, tuple[str, str]]], types: dict[int, str]
    ) -> dict[str, str]:
        out: dict[str, str] = {}
        for e in select.selects:
            if isinstance(e, exp.Star):
                for cols in visible.values():
                    out.update({c: t for c, t in cols.values()})
            elif isinstance(e, exp.Column) and isinstance(e.this, exp.Star):
                out.update({c: t for c, t in visible.get(e.table.lower(), {}).values()})
            else:
                out[e.alias_or_name] = self.type_of(e.unalias(), types)
        return out

    def type_of(self, e: exp.Expr | None, types: dict[int, str]) -> str:
        while isinstance(e, exp.Paren):
            e = e.this
        if e is None or isinstance(e, exp.Null):
            return "unknown"
        if isinstance(e, exp.Column):
            t = types.get(id(e), "unknown")
            if t in _GEOMETRY:
                return "geometry"
            return "numeric" if t in _NUMERIC else ("string" if t == "char" else t)
        if isinstance(e, exp.Literal):
            return "string" if e.is_string else "numeric"
        if isinstance(e, exp.DPipe | exp.Lower | exp.Upper):
            return "string"
        if isinstance(
            e, nodes.Point | nodes.Circle | nodes.Box | nodes.Polygon | nodes.Region | nodes.Centroid
        ):
            return "geometry"
        if isinstance(
            e,
            (
                *_MATH,
                exp.Count,
                nodes.Distance,
                nodes.Contains,
                nodes.Intersects,
                nodes.Coord1,
                nodes.Coord2,
                nodes.Area,
            ),
        ):
            return "numeric"
        return "unknown"

    def check_types(self, select: exp.Select, types: dict[int, str]) -> None:
        for node in select.walk():
            if node is not select and isinstance(node, exp.Select):
                continue
            if isinstance(node, exp.EQ | exp.NEQ | exp.LT | exp.LTE | exp.GT | exp.GTE):
                a, b = self.type_of(node.this, types), self.type_of(node.expression, types)
                if {a, b} == {"string", "numeric"}:
                    raise AdqlTypeError(f"cannot compare a {a} with a {b}: {node.sql()[:80]}")
                if "geometry" in (a, b) and a != b:
                    raise AdqlTypeError(f"cannot compare a geometry with a {b if a == 'geometry' else a}")
            elif isinstance(node, exp.Between):
                kinds = {
                    self.type_of(x, types) for x in (node.this, node.args.get("low"), node.args.get("high"))
                }
                if {"string", "numeric"} <= kinds:
                    raise AdqlTypeError(f"BETWEEN mixes strings and numbers: {node.sql()[:80]}")
            elif isinstance(node, _MATH):
                for arg in node.iter_expressions():
                    t = self.type_of(arg, types)
                    if t in ("string", "geometry"):
                        raise AdqlTypeError(
                            f"{type(node).__name__.upper()} needs numbers, got a {t}: {arg.sql()[:60]}"
                        )
            elif isinstance(node, nodes.Point | nodes.Circle | nodes.Box | nodes.Polygon | nodes.Distance):
                for arg in node.expressions:
                    t = self.type_of(arg, types)
                    if t == "string":
                        name = type(node).sql_name()
                        raise AdqlTypeError(
                            f"{name} needs numeric coordinates, got the string {arg.sql()[:60]}"
                        )
            elif isinstance(node, nodes.Contains | nodes.Intersects):
                for arg in (node.this, node.expression):
                    t = self.type_of(arg, types)
                    if t in ("string", "numeric"):
                        raise AdqlTypeError(
                            f"{type(node).sql_name()} needs geometries, got a {t}: {arg.sql()[:60]}"
                        )
            elif isinstance(node, exp.Like | exp.ILike):
                if self.type_of(node.this, types) in ("numeric", "geometry"):
                    raise AdqlTypeError(f"LIKE needs a string operand: {node.this.sql()[:60]}")


def resolve(query: str | exp.Expr, schema: Schema) -> exp.Expr:
    """Validate ``query`` and check its tables and columns against ``schema``; return the tree.

    Raises :class:`UnknownTableError` / :class:`UnknownColumnError` (with the closest names) and
    :class:`AdqlTypeError` for a string compared with a number, a string given to a math or
    geometry function, a number given to CONTAINS, etc.
    """
    tree = validate(query) if isinstance(query, str) else query
    _Resolver(schema).run(tree)
    return tree
