"""ADQL 2.1 as a sqlglot dialect: ``sqlglot.parse_one(q, read=Adql)`` / ``tree.sql(dialect=Adql)``.

The dialect is a set of tables of behaviour:

* tokenizer -- single-quoted strings only, double-quoted delimited identifiers, ``--`` comments,
  ``TOP``; adjacent string literals separated by whitespace or comments are one literal (SQL-92);
* parser -- the function table holds *only* ADQL's functions (math, trigonometry, aggregates,
  LOWER/UPPER, COALESCE, IN_UNIT and geometry as :mod:`.nodes`); every other name parses as an
  ``exp.Anonymous`` call, which :mod:`.validate` accepts only for declared UDFs.  A wrong number of
  arguments yields an ``Anonymous`` marked ``meta["arity"]`` so the validator can say so;
* generator -- prints ADQL back: ``TOP n``, ``OFFSET n``, ``MOD()``, ``LOG()``/``LOG10()``,
  ``TRUNCATE()``, ``CEILING()``, ``POWER()``, geometry as written.

The dialect alone is as permissive as sqlglot's grammar; :func:`kernel_lib.adql.validate.validate`
enforces the ADQL grammar on top of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from sqlglot import exp, generator, parser, tokens
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.tokens import Token, TokenType

from . import nodes

__all__ = ["ADQL_FUNCTIONS", "Adql", "AdqlGenerator", "AdqlParser", "AdqlTokenizer"]

Builder = Callable[[list[Any]], exp.Expr]

#: ADQL 2.1 functions: name -> (min args, max args or None for unbounded, builder)
ADQL_FUNCTIONS: dict[str, tuple[int, int | None, Builder]] = {
    # math (ADQL 2.1 §2.3.1)
    "ABS": (1, 1, lambda a: exp.Abs(this=a[0])),
    "CEILING": (1, 1, lambda a: exp.Ceil(this=a[0])),
    "DEGREES": (1, 1, lambda a: exp.Degrees(this=a[0])),
    "EXP": (1, 1, lambda a: exp.Exp(this=a[0])),
    "FLOOR": (1, 1, lambda a: exp.Floor(this=a[0])),
    "LOG": (1, 1, lambda a: exp.Ln(this=a[0])),
    "LOG10": (1, 1, lambda a: exp.Log(this=exp.Literal.number(10), expression=a[0])),
    "MOD": (2, 2, lambda a: exp.Mod(this=a[0], expression=a[1])),
    "PI": (0, 0, lambda a: exp.Pi()),
    "POWER": (2, 2, lambda a: exp.Pow(this=a[0], expression=a[1])),
    "RADIANS": (1, 1, lambda a: exp.Radians(this=a[0])),
    "SQRT": (1, 1, lambda a: exp.Sqrt(this=a[0])),
    "RAND": (0, 1, lambda a: exp.Rand(this=a[0] if a else None)),
    "ROUND": (1, 2, lambda a: exp.Round(this=a[0], decimals=a[1] if len(a) > 1 else None)),
    "TRUNCATE": (1, 2, lambda a: exp.Trunc(this=a[0], decimals=a[1] if len(a) > 1 else None)),
    # trigonometry
    "ACOS": (1, 1, lambda a: exp.Acos(this=a[0])),
    "ASIN": (1, 1, lambda a: exp.Asin(this=a[0])),
    "ATAN": (1, 1, lambda a: exp.Atan(this=a[0])),
    "ATAN2": (2, 2, lambda a: exp.Atan2(this=a[0], expression=a[1])),
    "COS": (1, 1, lambda a: exp.Cos(this=a[0])),
    "COT": (1, 1, lambda a: exp.Cot(this=a[0])),
    "SIN": (1, 1, lambda a: exp.Sin(this=a[0])),
    "TAN": (1, 1, lambda a: exp.Tan(this=a[0])),
    # aggregates (COUNT(*) and DISTINCT arguments go through the same builders)
    "COUNT": (1, 1, lambda a: exp.Count(this=a[0])),
    "AVG": (1, 1, lambda a: exp.Avg(this=a[0])),
    "SUM": (1, 1, lambda a: exp.Sum(this=a[0])),
    "MIN": (1, 1, lambda a: exp.Min(this=a[0])),
    "MAX": (1, 1, lambda a: exp.Max(this=a[0])),
    # strings, conditionals, units (ADQL 2.1 optional features)
    "LOWER": (1, 1, lambda a: exp.Lower(this=a[0])),
    "UPPER": (1, 1, lambda a: exp.Upper(this=a[0])),
    "COALESCE": (1, None, lambda a: exp.Coalesce(this=a[0], expressions=a[1:])),
    "IN_UNIT": (2, 2, lambda a: nodes.InUnit(this=a[0], expression=a[1])),
    # geometry (ADQL 2.1 §4.2); arities are checked per shape by the validator
    "POINT": (2, 3, nodes.Point.build),
    "CIRCLE": (2, 4, nodes.Circle.build),
    "BOX": (4, 5, nodes.Box.build),
    "POLYGON": (3, None, nodes.Polygon.build),
    "REGION": (1, 1, lambda a: nodes.Region(this=a[0])),
    "CENTROID": (1, 1, lambda a: nodes.Centroid(this=a[0])),
    "AREA": (1, 1, lambda a: nodes.Area(this=a[0])),
    "COORD1": (1, 1, lambda a: nodes.Coord1(this=a[0])),
    "COORD2": (1, 1, lambda a: nodes.Coord2(this=a[0])),
    "COORDSYS": (1, 1, lambda a: nodes.Coordsys(this=a[0])),
    "CONTAINS": (2, 2, lambda a: nodes.Contains(this=a[0], expression=a[1])),
    "INTERSECTS": (2, 2, lambda a: nodes.Intersects(this=a[0], expression=a[1])),
    "DISTANCE": (2, 4, lambda a: nodes.Distance(expressions=a)),
}


def _checked(name: str, lo: int, hi: int | None, build: Builder) -> Callable[[Sequence[Any]], exp.Expr]:
    def builder(args: Sequence[Any]) -> exp.Expr:
        args = list(args)
        if len(args) < lo or (hi is not None and len(args) > hi) or any(a is None for a in args):
            bad = exp.Anonymous(this=name, expressions=[a for a in args if a is not None])
            bad.meta["arity"] = (lo, hi, len(args))
            return bad
        return build(args)

    return builder


#: Type names ADQL 2.1 allows in CAST (§4.9); POINT/CIRCLE/POLYGON take a DALI string.
CAST_TYPES = frozenset(
    {"SMALLINT", "INTEGER", "BIGINT", "REAL", "DOUBLE", "CHAR", "VARCHAR", "TIMESTAMP"}
    | {"POINT", "CIRCLE", "POLYGON"}
)
_GEOMETRY_TYPES = ("POINT", "CIRCLE", "POLYGON")


class AdqlTokenizer(tokens.Tokenizer):
    QUOTES: ClassVar[list[tuple[str, str] | str]] = ["'"]
    IDENTIFIERS: ClassVar[list[str | tuple[str, str]]] = ['"']
    STRING_ESCAPES: ClassVar[list[str]] = ["'"]
    IDENTIFIER_ESCAPES: ClassVar[list[str]] = ['"']
    COMMENTS: ClassVar[list[str | tuple[str, str]]] = ["--", ("/*", "*/")]
    KEYWORDS: ClassVar[dict[str, TokenType]] = {
        **tokens.Tokenizer.KEYWORDS,
        "TOP": TokenType.TOP,
    }

    def tokenize(self, sql: str) -> list[Token]:
        toks = super().tokenize(sql)
        merged: list[Token] = []
        for tok in toks:
            # SQL-92 <character string literal>: 'a' <separator> 'b' is the literal 'ab'.
            if (
                merged
                and tok.token_type == TokenType.STRING
                and merged[-1].token_type == TokenType.STRING
                and _separated(sql, merged[-1].end + 1, tok.start)
            ):
                prev = merged[-1]
                merged[-1] = Token(
                    TokenType.STRING,
                    prev.text + tok.text,
                    prev.line,
                    prev.col,
                    prev.start,
                    tok.end,
                    prev.comments + tok.comments,
                )
                continue
            merged.append(tok)
        return merged


def _separated(sql: str, start: int, end: int) -> bool:
    """Whether sql[start:end] is a non-empty run of whitespace and comments only."""
    gap = sql[start:end]
    if not gap:
        return False
    i = 0
    while i < len(gap):
        if gap[i] in " \t\r\n":
            i += 1
        elif gap.startswith("--", i):
            nl = gap.find("\n", i)
            i = len(gap) if nl < 0 else nl + 1
        elif gap.startswith("/*", i):
            close = gap.find("*/", i + 2)
            if close < 0:
                return False
            i = close + 2
        else:
            return False
    return True


class AdqlParser(parser.Parser):
    FUNCTIONS: ClassVar[dict[str, Callable]] = {
        name: _checked(name, lo, hi, build) for name, (lo, hi, build) in ADQL_FUNCTIONS.items()
    }
    FUNCTION_PARSERS: ClassVar[dict[str, Callable]] = {
        "CAST": lambda self: self._parse_adql_cast(),
    }
    NO_PAREN_FUNCTIONS: ClassVar[dict] = {}
    NO_PAREN_FUNCTION_PARSERS: ClassVar[dict] = {
        "CASE": lambda self: self._parse_case(),
    }
    LOG_DEFAULTS_TO_LN = True

    def _parse_adql_cast(self) -> exp.Expr:
        this = self._parse_assignment()
        if not self._match(TokenType.ALIAS):
            self.raise_error("Expected AS after CAST's operand")
        name = self._curr.text.upper().split()[0] if self._curr else ""
        to: exp.DataType | None
        if name in _GEOMETRY_TYPES:
            self._advance()
            to = exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=name)
        else:
            parsed = self._parse_types()
            to = parsed if isinstance(parsed, exp.DataType) else None
        if to is None:
            self.raise_error(f"Expected an ADQL type after AS, got {name or 'end of query'}")
            to = exp.DataType(this=exp.DataType.Type.UNKNOWN)
        cast = self.expression(exp.Cast(this=this, to=to))
        cast.meta["adql_type"] = name
        return cast


def _top_limit_sql(self: generator.Generator, expression: exp.Limit) -> str:
    return ""


class AdqlGenerator(generator.Generator):
    LIMIT_FETCH = "LIMIT"
    TRANSFORMS: ClassVar[dict] = {
        **generator.Generator.TRANSFORMS,
        exp.Ln: lambda self, e: self.func("LOG", e.this),
        exp.Mod: lambda self, e: self.func("MOD", e.this, e.expression),
        exp.Pow: lambda self, e: self.func("POWER", e.this, e.expression),
        exp.Ceil: lambda self, e: self.func("CEILING", e.this),
        exp.Trunc: lambda self, e: self.func("TRUNCATE", e.this, e.args.get("decimals")),
        exp.Rand: lambda self, e: self.func("RAND", e.this),
        exp.Round: lambda self, e: self.func("ROUND", e.this, e.args.get("decimals")),
        exp.Coalesce: lambda self, e: self.func("COALESCE", e.this, *e.expressions),
    }
    TYPE_MAPPING: ClassVar[dict] = {
        **generator.Generator.TYPE_MAPPING,
        exp.DataType.Type.FLOAT: "REAL",
        exp.DataType.Type.DOUBLE: "DOUBLE PRECISION",
        exp.DataType.Type.INT: "INTEGER",
    }

    def log_sql(self, expression: exp.Log) -> str:
        base = expression.this
        if expression.expression is not None and isinstance(base, exp.Literal) and base.name == "10":
            return self.func("LOG10", expression.expression)
        return self.func("LOG", base, expression.expression)

    def not_sql(self, expression: exp.Not) -> str:
        inner = expression.this
        if isinstance(inner, exp.Is):
            return f"{self.sql(inner, 'this')} IS NOT {self.sql(inner, 'expression')}"
        return super().not_sql(expression)

    def datatype_sql(self, expression: exp.DataType) -> str:
        if expression.this == exp.DataType.Type.USERDEFINED:
            return str(expression.args.get("kind") or "")
        return super().datatype_sql(expression)

    def limit_sql(self, expression: exp.Limit, top: bool = False) -> str:
        if top or expression.meta.get("top"):
            return f"TOP {self.sql(expression, 'expression')}"
        return super().limit_sql(expression, top=top)

    def select_sql(self, expression: exp.Select) -> str:
        limit = expression.args.get("limit")
        if isinstance(limit, exp.Limit) and limit.meta.get("top"):
            # ADQL's row limit is TOP, printed right after SELECT [ALL | DISTINCT].
            expression = expression.copy()
            top = expression.args["limit"].pop()
            sql = super().select_sql(expression)
            kw = "SELECT"
            distinct = expression.args.get("distinct")
            head = f"{kw} DISTINCT" if distinct is not None else kw
            if sql.startswith(head):
                return f"{head} TOP {self.sql(top, 'expression')}{sql[len(head) :]}"
            return sql
        return super().select_sql(expression)


class Adql(Dialect):
    """IVOA ADQL 2.1 (https://www.ivoa.net/documents/ADQL/)."""

    NORMALIZATION_STRATEGY = NormalizationStrategy.CASE_INSENSITIVE
    NORMALIZE_FUNCTIONS: bool | str = False
    LOG_BASE_FIRST = True
    TYPED_DIVISION = False

    Tokenizer = AdqlTokenizer
    Parser = AdqlParser
    Generator = AdqlGenerator
