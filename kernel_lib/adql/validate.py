"""Strict ADQL 2.1: the lexical, grammatical and structural rules sqlglot alone does not enforce.

:func:`parse` turns text into a sqlglot tree (raising :class:`AdqlSyntaxError` with line, column
and token); :func:`validate` additionally rejects everything ADQL 2.1 does not allow: non-ADQL
tokens (``%``, ``==``, ``;``, backticks, ``$``), identifiers that are not regular (``_x``) or
are reserved words, ``LIMIT``, a missing ``FROM``, bare values used as conditions, unknown
functions (unless declared as UDFs), wrong geometry arities, subqueries in FROM without a name,
``WITH`` below the top level, CAST to types ADQL does not name, non-integer ``TOP``/``OFFSET``...
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from . import nodes
from .dialect import ADQL_FUNCTIONS, CAST_TYPES, Adql
from .errors import AdqlSyntaxError

__all__ = ["DEFAULT_UDF_PREFIXES", "RESERVED_WORDS", "UDFS", "Udf", "lex", "parse", "validate"]


@dataclass(frozen=True)
class Udf:
    """A user-defined function the service declares (TAP_SCHEMA / capabilities ``languageFeature``)."""

    name: str
    min_args: int = 0
    max_args: int | None = None
    returns: str = "double"  # double | string | boolean-as-int | geometry
    description: str = ""


#: The Rubin (Qserv) scisql UDFs and IVOA catalogue UDFs this engine implements (see translate.py).
UDFS: dict[str, Udf] = {
    u.name.lower(): u
    for u in (
        Udf("scisql_nanojanskyToAbMag", 1, 1, description="AB magnitude of a flux in nJy"),
        Udf("scisql_nanojanskyToAbMagSigma", 2, 2, description="AB magnitude error (flux, flux error)"),
        Udf("scisql_angSep", 4, 4, description="angular separation in degrees of (ra1, dec1), (ra2, dec2)"),
        Udf("scisql_s2PtInCircle", 5, 5, "int", "1 if (ra, dec) lies in the circle (ra0, dec0, r)"),
        Udf(
            "scisql_s2PtInBox",
            6,
            6,
            "int",
            "1 if (ra, dec) lies in the box (ra_min, dec_min, ra_max, dec_max)",
        ),
        Udf(
            "scisql_s2PtInCPoly", 8, None, "int", "1 if (ra, dec) lies in the convex polygon (ra_i, dec_i)..."
        ),
        Udf("ivo_healpix_index", 3, 3, description="HEALPix NESTED index of (order, ra, dec)"),
    )
}

#: Undeclared functions with these prefixes are accepted as UDFs (the IVOA UDF catalogue namespace).
DEFAULT_UDF_PREFIXES: tuple[str, ...] = ("ivo_",)

#: Words an unquoted identifier may not be (ADQL 2.1 §2.1.3: SQL reserved words + ADQL's own).
RESERVED_WORDS = frozenset(
    (
        "ABSOLUTE ACTION ADD ALL ALLOCATE ALTER AND ANY ARE AS ASC ASSERTION AT AUTHORIZATION AVG "
        "BEGIN BETWEEN BIT BIT_LENGTH BOTH BY CASCADE CASCADED CASE CAST CATALOG CHAR CHARACTER "
        "CHAR_LENGTH CHARACTER_LENGTH CHECK CLOSE COALESCE COLLATE COLLATION COLUMN COMMIT CONNECT "
        "CONNECTION CONSTRAINT CONSTRAINTS CONTINUE CONVERT CORRESPONDING COUNT CREATE CROSS CURRENT "
        "CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURSOR DEALLOCATE DECIMAL "
        "DECLARE DEFAULT DEFERRABLE DEFERRED DELETE DESC DESCRIBE DESCRIPTOR DIAGNOSTICS DISCONNECT "
        "DISTINCT DOMAIN DOUBLE DROP ELSE END ESCAPE EXCEPT EXCEPTION EXEC EXECUTE EXISTS EXTERNAL "
        "EXTRACT FALSE FETCH FLOAT FOR FOREIGN FOUND FROM FULL GET GLOBAL GO GOTO GRANT GROUP "
        "HAVING IDENTITY IMMEDIATE IN INDICATOR INITIALLY INNER INPUT INSENSITIVE INSERT INT INTEGER "
        "INTERSECT INTERVAL INTO IS ISOLATION JOIN KEY LANGUAGE LEADING LEFT LIKE LOCAL LOWER MATCH MAX "
        "MIN MODULE NAMES NATIONAL NATURAL NCHAR NO NOT NULL NULLIF NUMERIC OCTET_LENGTH OF ON "
        "ONLY OPEN OPTION OR ORDER OUTER OUTPUT OVERLAPS PAD PARTIAL PRECISION PREPARE PRESERVE "
        "PRIMARY PRIOR PRIVILEGES PROCEDURE PUBLIC READ REAL REFERENCES RELATIVE RESTRICT REVOKE "
        "RIGHT ROLLBACK ROWS SCHEMA SCROLL SECTION SELECT SESSION SESSION_USER SET SMALLINT SOME "
        "SQL SQLCODE SQLERROR SQLSTATE SUBSTRING SUM SYSTEM_USER TABLE TEMPORARY THEN "
        "TIMESTAMP TIMEZONE_HOUR TIMEZONE_MINUTE TO TRAILING TRANSACTION TRANSLATE TRANSLATION TRIM "
        "TRUE UNION UNIQUE UNKNOWN UPDATE UPPER USAGE USER USING VALUES VARCHAR VARYING VIEW WHEN "
        "WHENEVER WHERE WITH WORK WRITE "
        # ADQL's own
        "ABS ACOS AREA ASIN ATAN ATAN2 BOX CEILING CENTROID CIRCLE CONTAINS COORD1 COORD2 COORDSYS "
        "COS COT DEGREES DISTANCE EXP FLOOR ILIKE INTERSECTS IN_UNIT LOG LOG10 MOD OFFSET PI POINT "
        "POLYGON POWER RADIANS REGION RAND ROUND SIN SQRT TAN TOP TRUNCATE"
    ).split()
)
# Deliberately not reserved although SQL-92 lists them: DEC, DATE, TIME, VALUE, SIZE, ZONE, YEAR,
# MONTH, DAY, HOUR, MINUTE, SECOND, FIRST, LAST, LEVEL, NEXT, POSITION, SPACE, ... -- astronomy
# schemas use them as column names (``dec`` above all) and no ADQL construct is ambiguous with them.

_SYMBOLS = frozenset({"(", ")", ",", ".", "-", "+", "*", "/", "=", "!=", "<>", "<", ">", "<=", ">=", "||"})
_REGULAR = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_NUMBER = re.compile(r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")
_WORDY = re.compile(r"[A-Za-z_$0-9]+\Z")
_GEOMETRY_TYPES = frozenset({"POINT", "CIRCLE", "POLYGON"})
_CLAUSE_RANK = {"FROM": 1, "WHERE": 2, "GROUP": 3, "HAVING": 4, "ORDER": 5, "OFFSET": 6}
_CLAUSE_RESET = {"SELECT", "UNION", "INTERSECT", "EXCEPT", "WITH"}


def _err(reason: str, tok: Token | None) -> AdqlSyntaxError:
    if tok is None:
        return AdqlSyntaxError(reason, token="end of query")
    return AdqlSyntaxError(reason, tok.line, max(1, tok.col - len(tok.text) + 1), tok.text)


def lex(query: str) -> list[Token]:
    """Tokenize ``query`` with the ADQL tokenizer and reject what is not an ADQL token."""
    try:
        toks = Adql().tokenize(query)
    except TokenError as e:
        line, col = _tokenizer_position(query, str(e))
        raise AdqlSyntaxError(f"cannot tokenize: {_tokenizer_reason(query, str(e))}", line, col) from None
    if not toks:
        raise AdqlSyntaxError("empty query", token="end of query")
    for i, tok in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        text = tok.text
        tt = tok.token_type
        if tt == TokenType.STRING or tt == TokenType.IDENTIFIER:
            continue
        if tt == TokenType.NUMBER:
            if not _NUMBER.match(text):
                raise _err(f"{text} is not an ADQL number", tok)
            continue
        if all(_WORDY.match(w) for w in text.split()):
            if not all(_REGULAR.match(w) for w in text.split()):
                raise _err(
                    f"{text} is not a regular identifier (it must start with a letter and hold only "
                    f'letters, digits and _); write it as a delimited identifier "{text}"',
                    tok,
                )
            upper = text.upper()
            called = nxt is not None and nxt.token_type == TokenType.L_PAREN
            prev = toks[i - 1] if i else None
            cast_type = prev is not None and prev.token_type == TokenType.ALIAS and upper in _GEOMETRY_TYPES
            if tt == TokenType.VAR and upper in RESERVED_WORDS and not called and not cast_type:
                raise _err(f'{text} is a reserved word; write it as a delimited identifier "{text}"', tok)
            continue
        if text not in _SYMBOLS:
            raise _err(f"{text!r} is not an ADQL operator or punctuation", tok)
        if text == "," and (
            nxt is None or nxt.token_type in (TokenType.FROM, TokenType.R_PAREN) or nxt.text == ","
        ):
            raise _err("expected an expression after ','", nxt)
    _check_clause_order(toks)
    return toks


def _check_clause_order(toks: list[Token]) -> None:
    ranks: list[int] = [0]
    for tok in toks:
        upper = tok.text.upper().split()[0] if tok.text.strip() else ""
        if tok.token_type == TokenType.L_PAREN:
            ranks.append(0)
        elif tok.token_type == TokenType.R_PAREN:
            if len(ranks) > 1:
                ranks.pop()
        elif tok.token_type in (TokenType.STRING, TokenType.IDENTIFIER):
            continue
        elif upper in _CLAUSE_RESET:
            ranks[-1] = 0
        elif upper in _CLAUSE_RANK or tok.token_type == TokenType.JOIN:
            rank = _CLAUSE_RANK.get(upper, 1)
            if rank < ranks[-1]:
                raise _err(
                    f"{upper} is out of place (clauses go FROM, WHERE, GROUP BY, HAVING, ORDER BY, OFFSET)",
                    tok,
                )
            ranks[-1] = rank


def _tokenizer_position(query: str, message: str) -> tuple[int | None, int | None]:
    m = re.search(r"Error tokenizing '(.*)'", message, re.S)
    if not m:
        return None, None
    prefix = m.group(1)
    idx = query.rfind(prefix[-20:]) if prefix else -1
    if idx < 0:
        return None, None
    pos = idx + len(prefix[-20:])
    # the offending token starts at the last unmatched quote before pos
    quote = max(query.rfind('"', 0, pos), query.rfind("'", 0, pos))
    pos = quote if quote >= 0 else pos
    line = query.count("\n", 0, pos) + 1
    col = pos - (query.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _tokenizer_reason(query: str, message: str) -> str:
    if query.count('"') % 2:
        return 'unterminated delimited identifier (")'
    if query.count("'") % 2:
        return "unterminated string literal (')"
    return message


def parse(query: str) -> exp.Expr:
    """Parse ADQL text into a sqlglot tree (lexical checks + grammar; no structural checks)."""
    toks = lex(query)
    try:
        trees = Adql().parser().parse(toks, query)
    except ParseError as e:
        info = e.errors[0] if e.errors else {}
        desc = str(info.get("description") or e)
        highlight = info.get("highlight") or "end of query"
        line, col = info.get("line"), info.get("col")
        if isinstance(col, int) and isinstance(highlight, str):
            col = max(1, col - len(highlight) + 1)
        if desc.startswith("Required keyword"):
            desc = "incomplete expression"
        desc = re.sub(
            r"<Token token_type: TokenType\.(\w+), text: (.*?), line: .*?>",
            lambda m: "end of query" if m.group(1) == "SENTINEL" else repr(m.group(2)),
            desc,
        )
        if isinstance(highlight, str) and highlight.upper() == "LIMIT":
            desc = "LIMIT is not ADQL; use SELECT TOP n"
        if not info.get("end_context") and highlight == toks[-1].text:
            desc += " (unexpected end of query)"
        raise AdqlSyntaxError(desc, line, col, highlight) from None
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        raise AdqlSyntaxError("expected exactly one query", token=";")
    tree = trees[0]
    assert tree is not None
    tree.meta["adql_tokens"] = toks
    return tree


# -- structural validation ------------------------------------------------------------------------

_ALLOWED: tuple[type[exp.Expr], ...] = (
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.With, exp.CTE,
    exp.TableAlias, exp.From, exp.Join, exp.Table, exp.Identifier, exp.Column, exp.Star,
    exp.Alias, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit, exp.Offset,
    exp.Distinct, exp.Paren, exp.Literal, exp.Null, exp.Neg, exp.Add, exp.Sub, exp.Mul, exp.Div,
    exp.DPipe, exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.Between, exp.In, exp.Like,
    exp.ILike, exp.Is, exp.Not, exp.And, exp.Or, exp.Exists, exp.Cast, exp.DataType,
    exp.DataTypeParam, exp.Anonymous, exp.Abs, exp.Ceil, exp.Degrees, exp.Exp, exp.Floor, exp.Ln,
    exp.Log, exp.Mod, exp.Pi, exp.Pow, exp.Radians, exp.Sqrt, exp.Rand, exp.Round, exp.Trunc,
    exp.Acos, exp.Asin, exp.Atan, exp.Atan2, exp.Cos, exp.Cot, exp.Sin, exp.Tan, exp.Count,
    exp.Avg, exp.Sum, exp.Min, exp.Max, exp.Lower, exp.Upper, exp.Coalesce, nodes.InUnit,
    *nodes.GEOMETRY_FUNCTIONS,
)  # fmt: skip
_PREDICATES = (
    exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.Between, exp.In, exp.Like, exp.ILike,
    exp.Is, exp.Exists,
)  # fmt: skip
_NAMES = {
    exp.Case: "CASE",
    exp.Window: "OVER",
    exp.Boolean: "TRUE/FALSE",
    exp.Dot: "a name with too many qualifiers",
    exp.Bracket: "[ ]",
    exp.Interval: "INTERVAL",
    exp.Values: "VALUES",
    exp.Placeholder: "placeholders",
    exp.Parameter: "parameters",
    exp.Semicolon: "';'",
}


@dataclass
class _Ctx:
    udfs: dict[str, Udf]
    prefixes: tuple[str, ...]
    toks: list[Token] = field(default_factory=list)
    query: str = ""


def validate(
    query: str | exp.Expr,
    udfs: Iterable[str | Udf] = (),
    udf_prefixes: Iterable[str] = DEFAULT_UDF_PREFIXES,
) -> exp.Expr:
    """Parse (if needed) and check ``query`` against ADQL 2.1; return the tree.

    ``udfs`` declares extra user-defined functions (names or :class:`Udf`), on top of :data:`UDFS`;
    undeclared functions whose names start with one of ``udf_prefixes`` are accepted too.
    """
    tree = parse(query) if isinstance(query, str) else query
    declared = dict(UDFS)
    for u in udfs:
        udf = u if isinstance(u, Udf) else Udf(u)
        declared[udf.name.lower()] = udf
    ctx = _Ctx(declared, tuple(p.lower() for p in udf_prefixes), tree.meta.get("adql_tokens") or [])
    if not isinstance(tree, exp.Query):
        raise _at(ctx, tree, f"expected a SELECT query, got {type(tree).__name__.upper()}")
    for node in tree.walk():
        _check_node(ctx, node)
    return tree


def _at(ctx: _Ctx, node: exp.Expr, reason: str, name: str | None = None) -> AdqlSyntaxError:
    """An error located at ``node``: at the token ``name`` nearest before it, else at its (or its
    first descendant's) position."""
    pos: int | None = None
    located: tuple[int, int, str | None] | None = None
    for sub in node.walk():
        meta = sub.meta if sub._meta else {}
        if "line" in meta and "col" in meta:
            pos = meta.get("start")
            text = next((t.text for t in ctx.toks if t.start == pos and t.end == meta.get("end")), None)
            text = text or (sub.name or None)
            col = meta["col"] - len(text) + 1 if text else meta["col"]
            located = (meta["line"], max(1, col), text)
            break
    if name:
        hits = [
            t
            for i, t in enumerate(ctx.toks)
            if t.text.upper().split() and t.text.upper().split()[0] == name.upper().split()[0]
        ]
        if hits:
            before = [t for t in hits if pos is None or t.start <= pos]
            return _err(reason, before[-1] if before else hits[0])
    if located:
        return AdqlSyntaxError(reason, *located)
    return AdqlSyntaxError(reason, token=name or node.sql(dialect=Adql)[:40])


def _check_node(ctx: _Ctx, node: exp.Expr) -> None:
    if not isinstance(node, _ALLOWED):
        what = next((v for k, v in _NAMES.items() if isinstance(node, k)), None)
        what = what or type(node).__name__
        token = node.sql() if isinstance(node, exp.Boolean) else what
        raise _at(ctx, node, f"{what}: not ADQL 2.1", token)
    if isinstance(node, exp.Select):
        _check_select(ctx, node)
    elif isinstance(node, exp.Where | exp.Having):
        _check_condition(ctx, node.this, node.key.upper())
    elif isinstance(node, exp.Join):
        _check_join(ctx, node)
    elif isinstance(node, exp.Limit):
        if not node.meta.get("top"):
            raise _at(ctx, node, "LIMIT is not ADQL; use SELECT TOP n", "LIMIT")
        _check_count(ctx, node.expression, "TOP")
    elif isinstance(node, exp.Offset):
        _check_count(ctx, node.expression, "OFFSET")
    elif isinstance(node, exp.Subquery):
        parent_ok = isinstance(node.parent, exp.From | exp.Join)
        if parent_ok and isinstance(node.this, exp.Query) and not node.alias:
            raise _at(ctx, node, "a subquery in FROM needs a name: ( SELECT ... ) AS name", ")")
    elif isinstance(node, exp.With):
        holder = node.parent
        if holder is not None and any(isinstance(a, exp.Subquery | exp.CTE) for a in _ancestors(holder)):
            raise _at(ctx, node, "WITH is only allowed at the top of a query", "WITH")
        if (
            holder is not None
            and holder.parent is not None
            and not isinstance(holder.parent, exp.SetOperation)
        ):
            raise _at(ctx, node, "WITH is only allowed at the top of a query", "WITH")
    elif isinstance(node, exp.Is):
        if not isinstance(node.expression, exp.Null):
            raise _at(ctx, node.expression, "IS must be followed by [NOT] NULL")
    elif isinstance(node, exp.In):
        has_list = bool(node.expressions) or node.args.get("query") is not None
        if not has_list or node.args.get("field") is not None or node.args.get("unnest") is not None:
            raise _at(ctx, node, "IN needs a parenthesised list or subquery", "IN")
    elif isinstance(node, exp.Exists):
        if not isinstance(node.this, exp.Query | exp.Subquery):
            raise _at(ctx, node, "EXISTS needs a subquery", "EXISTS")
    elif isinstance(node, exp.Column):
        if isinstance(node.this, exp.Star) and node.table == "":
            raise _at(ctx, node, "bad qualified *")
    elif isinstance(node, exp.Cast):
        name = node.meta.get("adql_type")
        if name not in CAST_TYPES:
            types = ", ".join(sorted(CAST_TYPES)).replace("DOUBLE", "DOUBLE PRECISION")
            raise _at(ctx, node, f"CAST to {name or node.to.sql()} is not ADQL (types: {types})", "CAST")
    elif isinstance(node, exp.Anonymous):
        _check_call(ctx, node)
    elif isinstance(node, exp.DPipe):
        for side in (node.this, node.expression):
            if isinstance(_unparen(side), nodes.GEOMETRY_CONSTRUCTORS):
                raise _at(ctx, node, "geometry values do not admit string operators (||)", "||")
    elif isinstance(node, nodes.GEOMETRY_FUNCTIONS):
        _check_geometry(ctx, node)
    elif isinstance(node, exp.Identifier):
        if not node.quoted and node.name.upper() in RESERVED_WORDS:
            raise _at(
                ctx, node, f'{node.name} is a reserved word; write it as a delimited identifier "{node.name}"'
            )


def _ancestors(node: exp.Expr) -> list[exp.Expr]:
    out = []
    p = node.parent
    while p is not None:
        out.append(p)
        p = p.parent
    return out


def _unparen(e: exp.Expr | None) -> exp.Expr | None:
    while isinstance(e, exp.Paren):
        e = e.this
    return e


def _check_select(ctx: _Ctx, node: exp.Select) -> None:
    if node.args.get("from_") is None:
        raise _at(ctx, node, "a query needs a FROM clause", "SELECT")
    if not node.expressions:
        raise _at(ctx, node, "empty select list", "SELECT")
    for key in ("where", "having"):
        clause = node.args.get(key)
        if clause is not None and clause.this is None:
            raise _at(ctx, node, f"empty {key.upper()} clause", key.upper())
    for k in ("distinct",):
        d = node.args.get(k)
        if d is not None and d.args.get("on") is not None:
            raise _at(ctx, d, "DISTINCT ON is not ADQL", "DISTINCT")
    for k in ("qualify", "windows", "sample", "settings", "format", "connect", "prewhere", "locks", "kind"):
        if node.args.get(k):
            raise _at(ctx, node, f"{k.upper()} is not ADQL", k.upper())


def _check_condition(ctx: _Ctx, cond: exp.Expr | None, where: str) -> None:
    if cond is None:
        return
    if isinstance(cond, exp.Paren):
        _check_condition(ctx, cond.this, where)
    elif isinstance(cond, exp.And | exp.Or):
        _check_condition(ctx, cond.this, where)
        _check_condition(ctx, cond.expression, where)
    elif isinstance(cond, exp.Not):
        _check_condition(ctx, cond.this, where)
    elif not isinstance(cond, _PREDICATES):
        raise _at(
            ctx,
            cond,
            f"{where} needs a condition (a comparison, BETWEEN, IN, LIKE, IS NULL, EXISTS...), "
            f"not the value {cond.sql(dialect=Adql)[:60]}; compare it, e.g. 1 = CONTAINS(...)",
        )


def _check_join(ctx: _Ctx, node: exp.Join) -> None:
    on = node.args.get("on")
    if on is not None:
        _check_condition(ctx, on, "ON")
    if node.args.get("kind") == "CROSS":
        raise _at(ctx, node, "CROSS JOIN is not ADQL; use a comma", "CROSS")
    natural = (node.args.get("method") or "").upper() == "NATURAL"
    if (
        (node.args.get("kind") or "").upper() == "INNER"
        and on is None
        and not node.args.get("using")
        and not natural
        and isinstance(node.this, exp.Table)
    ):
        raise _at(ctx, node.this, "INNER JOIN needs a join condition: ON ... or USING (...)")
    if natural and (on is not None or node.args.get("using")):
        raise _at(ctx, node, "NATURAL JOIN takes no ON or USING", "NATURAL")


def _check_count(ctx: _Ctx, value: exp.Expr | None, what: str) -> None:
    if not (isinstance(value, exp.Literal) and value.is_int):
        shown = value.sql(dialect=Adql) if value is not None else "nothing"
        raise _at(ctx, value or exp.Null(), f"{what} needs an unsigned integer, got {shown}", what)


def _check_call(ctx: _Ctx, node: exp.Anonymous) -> None:
    name = str(node.this)
    args = node.expressions
    arity = node.meta.get("arity")
    if arity:
        lo, hi, got = arity
        want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
        raise _at(ctx, node, f"{name.upper()} takes {want} argument(s), got {got}", name)
    udf = ctx.udfs.get(name.lower())
    if udf is None:
        if name.lower().startswith(ctx.prefixes) and ctx.prefixes:
            return
        known = ", ".join(sorted(ADQL_FUNCTIONS))
        raise _at(ctx, node, f"unknown function {name}: neither ADQL ({known}) nor a declared UDF", name)
    if len(args) < udf.min_args or (udf.max_args is not None and len(args) > udf.max_args):
        raise _at(
            ctx,
            node,
            f"{udf.name} takes {udf.min_args}..{udf.max_args or 'n'} arguments, got {len(args)}",
            name,
        )


def _is_scalar_literal(e: exp.Expr | None) -> bool:
    e = _unparen(e)
    if isinstance(e, exp.Neg):
        e = _unparen(e.this)
    return isinstance(e, exp.Literal)


def _could_be_point(e: exp.Expr | None) -> bool:
    """A value that may be a point: not a literal, not arithmetic."""
    e = _unparen(e)
    return not (_is_scalar_literal(e) or isinstance(e, exp.Binary | exp.Neg | exp.Null))


def _check_geometry(ctx: _Ctx, node: exp.Expr) -> None:
    name = type(node).sql_name() if isinstance(node, exp.Func) else type(node).__name__
    coordsys = node.args.get("coordsys")
    if coordsys is not None and not (isinstance(coordsys, exp.Null) or coordsys.is_string):
        raise _at(ctx, coordsys, f"{name}'s coordinate system must be a string")
    vals = list(node.expressions) if isinstance(node, nodes._Shape | nodes.Distance) else []
    n = len(vals)
    ok = True
    if isinstance(node, nodes.Point):
        ok = n == 2
    elif isinstance(node, nodes.Circle):
        ok = n == 3 or (n == 2 and _could_be_point(vals[0]))
    elif isinstance(node, nodes.Box):
        ok = n == 4 or (n == 3 and _could_be_point(vals[0]))
    elif isinstance(node, nodes.Polygon):
        literal = [_is_scalar_literal(v) for v in vals]
        ok = (n >= 6 and n % 2 == 0) or (n >= 3 and not any(literal))
    elif isinstance(node, nodes.Distance):
        ok = (n == 2 and all(_could_be_point(v) for v in vals)) or n == 4
    elif isinstance(node, nodes.Region):
        ok = not _is_scalar_literal(node.this) or node.this.is_string
    elif isinstance(node, nodes.Contains | nodes.Intersects):
        ok = all(
            not _is_scalar_literal(a) and not isinstance(a, exp.Null) for a in (node.this, node.expression)
        )
    if not ok:
        raise _at(ctx, node, f"wrong arguments for {name}: {_GEOMETRY_FORMS.get(name, name)}", name)


_GEOMETRY_FORMS = {
    "POINT": "POINT([coordsys,] lon, lat)",
    "CIRCLE": "CIRCLE([coordsys,] lon, lat, radius) or CIRCLE([coordsys,] point, radius)",
    "BOX": "BOX([coordsys,] lon, lat, width, height)",
    "POLYGON": "POLYGON([coordsys,] lon1, lat1, lon2, lat2, lon3, lat3, ...) or POLYGON(p1, p2, p3, ...)",
    "DISTANCE": "DISTANCE(point, point) or DISTANCE(lon1, lat1, lon2, lat2)",
    "REGION": "REGION('STC-S string')",
    "CONTAINS": "CONTAINS(geometry, geometry)",
    "INTERSECTS": "INTERSECTS(geometry, geometry)",
}
