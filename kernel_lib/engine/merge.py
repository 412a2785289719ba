"""Splitting one SELECT into a per-partition query and a final merge query.

Three shapes (see :func:`decompose`):

* **scan** -- no aggregate: each partition runs the SELECT (with ``DISTINCT``; with ``ORDER BY``
  and ``LIMIT k`` when a row cap ``k`` applies: top-k per partition), hidden ``_o*`` columns carry
  ORDER BY keys that are not in the select list; the merge concatenates and, if the query orders,
  deduplicates or skips rows, runs ``SELECT [DISTINCT] _c0.. FROM _merged ORDER BY .. LIMIT ..``;
* **aggregate** -- partial aggregates per partition and group (``COUNT``/``SUM``/``MIN``/``MAX``
  as themselves, ``AVG`` as ``SUM`` and ``COUNT``), combined by ``SUM``/``MIN``/``MAX``; the final
  query groups by the ``_g*`` keys and applies HAVING, ORDER BY, OFFSET and LIMIT;
* **distinct aggregate** -- with ``COUNT(DISTINCT x)`` and the like, each partition emits its
  distinct (group keys, arguments) and the final query aggregates them.

Anything else raises :class:`NotPartitionable` and the planner runs the query globally.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

__all__ = ["Decomposition", "NotPartitionable", "decompose", "norm"]

_AGGS = (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max)


class NotPartitionable(Exception):
    """This SELECT cannot run partition by partition; the message says why."""


def norm(e: exp.Expr) -> str:
    """A key comparing expressions up to table qualifiers and case."""
    c = e.copy()
    cols = [c] if isinstance(c, exp.Column) else list(c.find_all(exp.Column))
    for col in cols:
        col.set("table", None)
    return c.sql(dialect="duckdb").lower()


def _col(name: str) -> exp.Column:
    return exp.column(name)


def _int(node: exp.Expr | None, what: str) -> int | None:
    if node is None:
        return None
    value = node.args.get("expression") or node.this
    if isinstance(value, exp.Literal) and value.is_int:
        return int(value.this)
    raise NotPartitionable(f"{what} is not an integer literal")


def _is_star(e: exp.Expr) -> bool:
    return isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))


@dataclass
class Decomposition:
    """The per-partition query and the recipe of the final one."""

    kind: str  # "scan" | "aggregate" | "distinct-aggregate"
    partition: exp.Select
    ordered: bool
    distinct: bool
    limit: int | None
    offset: int
    hidden: int = 0
    order: list[exp.Ordered] = field(default_factory=list)
    final_items: list[exp.Expr] = field(default_factory=list)
    groups: int = 0
    having: exp.Expr | None = None

    @property
    def streaming(self) -> bool:
        """Rows can be taken as partitions finish (no global ordering/dedup/aggregation)."""
        return self.kind == "scan" and not self.ordered and not self.distinct

    def partition_sql(self, k: int | None) -> str:
        """The per-partition SQL; ``k`` caps the rows a partition may contribute (scans only)."""
        sel = self.partition.copy()
        if self.kind == "scan" and k is not None:
            sel.set("limit", exp.Limit(expression=exp.Literal.number(k)))
            if not self.ordered:
                sel.set("order", None)
        elif self.kind == "scan":
            sel.set("order", None)
        return sel.sql(dialect="duckdb")

    def column_names(self, ncols: int) -> list[str]:
        """Positional names of the merged table's ``ncols`` columns."""
        if self.kind == "scan":
            visible = ncols - self.hidden
            return [f"_c{i}" for i in range(visible)] + [f"_o{j}" for j in range(self.hidden)]
        prefix = "_a" if self.kind == "distinct-aggregate" else "_p"
        return [f"_g{i}" for i in range(self.groups)] + [f"{prefix}{j}" for j in range(ncols - self.groups)]

    def needs_final(self) -> bool:
        return self.kind != "scan" or self.ordered or self.distinct or self.hidden > 0

    def final_sql(self, ncols: int, k: int | None = None, reduce: bool = False) -> str:
        """The merge query over ``_merged``; ``reduce`` keeps every column (incremental top-k)."""
        sel = exp.select()
        if self.kind == "scan":
            visible = ncols - self.hidden
            names = [f"_c{i}" for i in range(visible)]
            if reduce:
                names += [f"_o{j}" for j in range(self.hidden)]
            sel = sel.select(*[_col(n) for n in names])
        else:
            sel = sel.select(*[exp.alias_(e.copy(), f"_r{i}") for i, e in enumerate(self.final_items)])
            if self.groups:
                sel = sel.group_by(*[_col(f"_g{i}") for i in range(self.groups)])
            if self.having is not None:
                sel = sel.having(self.having.copy())
        sel = sel.from_("_merged")
        if self.distinct:
            sel.set("distinct", exp.Distinct())
        if self.order:
            sel.set("order", exp.Order(expressions=[o.copy() for o in self.order]))
        if reduce:
            if k is not None:
                sel.set("limit", exp.Limit(expression=exp.Literal.number(k)))
            return sel.sql(dialect="duckdb")
        if self.limit is not None:
            sel.set("limit", exp.Limit(expression=exp.Literal.number(self.limit)))
        if self.offset:
            sel.set("offset", exp.Offset(expression=exp.Literal.number(self.offset)))
        return sel.sql(dialect="duckdb")


def _in_subquery(node: exp.Expr, root: exp.Expr) -> bool:
    p = node.parent
    while p is not None and p is not root:
        if isinstance(p, exp.Query):
            return True
        p = p.parent
    return False


def _aggregates(sel: exp.Select) -> list[exp.AggFunc]:
    parts: list[exp.Expr] = list(sel.expressions)
    for key in ("having", "order"):
        if sel.args.get(key) is not None:
            parts.append(sel.args[key])
    out = []
    for part in parts:
        for a in part.find_all(exp.AggFunc):
            if not _in_subquery(a, sel):
                out.append(a)
    return out


def decompose(sel: exp.Select) -> Decomposition:
    """Split the (translated, DuckDB) SELECT ``sel``; raises :class:`NotPartitionable`."""
    if sel.args.get("with_") is not None:
        raise NotPartitionable("WITH inside the partitioned SELECT")
    limit = _int(sel.args.get("limit"), "TOP/LIMIT")
    offset = _int(sel.args.get("offset"), "OFFSET") or 0
    distinct = sel.args.get("distinct") is not None
    if distinct and sel.args["distinct"].args.get("on") is not None:
        raise NotPartitionable("DISTINCT ON")
    aggs = _aggregates(sel)
    if aggs or sel.args.get("group") is not None or sel.args.get("having") is not None:
        return _aggregate(sel, aggs, limit, offset, distinct)
    return _scan(sel, limit, offset, distinct)


def _select_maps(items: list[exp.Expr]) -> tuple[dict[str, int], dict[str, int], int | None]:
    aliases: dict[str, int] = {}
    exprs: dict[str, int] = {}
    first_star = next((i for i, it in enumerate(items) if _is_star(it)), None)
    for i, it in enumerate(items):
        if isinstance(it, exp.Alias):
            aliases.setdefault(it.alias.lower(), i)
        if not _is_star(it):
            exprs.setdefault(norm(it.unalias()), i)
    return aliases, exprs, first_star


def _scan(sel: exp.Select, limit: int | None, offset: int, distinct: bool) -> Decomposition:
    items = list(sel.expressions)
    aliases, exprs, first_star = _select_maps(items)
    hidden: list[exp.Expr] = []
    order: list[exp.Ordered] = []
    order_node = sel.args.get("order")
    for o in order_node.expressions if order_node is not None else []:
        key = o.this
        idx: int | None = None
        if isinstance(key, exp.Literal) and key.is_int:
            idx = int(key.this) - 1
        elif isinstance(key, exp.Column) and not key.table and key.name.lower() in aliases:
            idx = aliases[key.name.lower()]
        elif norm(key) in exprs:
            idx = exprs[norm(key)]
        if (
            idx is not None
            and first_star is not None
            and idx > first_star
            and not isinstance(key, exp.Literal)
        ):
            raise NotPartitionable("ORDER BY an item after '*' in the select list")
        if idx is not None:
            ref = f"_c{idx}"
        else:
            if distinct:
                raise NotPartitionable("SELECT DISTINCT ordered by an expression not selected")
            hidden.append(key.copy())
            ref = f"_o{len(hidden) - 1}"
        new = o.copy()
        new.set("this", _col(ref))
        order.append(new)
    part = sel.copy()
    part.set("offset", None)
    part.set("limit", None)
    for j, h in enumerate(hidden):
        part.append("expressions", exp.alias_(h, f"_o{j}"))
    return Decomposition(
        kind="scan",
        partition=part,
        ordered=bool(order),
        distinct=distinct,
        limit=limit,
        offset=offset,
        hidden=len(hidden),
        order=order,
    )


def _group_exprs(sel: exp.Select) -> list[exp.Expr]:
    items = list(sel.expressions)
    aliases, _, _ = _select_maps(items)
    out: list[exp.Expr] = []
    group = sel.args.get("group")
    for g in group.expressions if group is not None else []:
        if isinstance(g, exp.Literal) and g.is_int:
            out.append(items[int(g.this) - 1].unalias())
        elif isinstance(g, exp.Column) and not g.table and g.name.lower() in aliases:
            out.append(items[aliases[g.name.lower()]].unalias())
        else:
            out.append(g)
    if group is not None and (group.args.get("rollup") or group.args.get("cube")):
        raise NotPartitionable("ROLLUP/CUBE")
    return out


def _aggregate(
    sel: exp.Select, aggs: list[exp.AggFunc], limit: int | None, offset: int, distinct: bool
) -> Decomposition:
    for a in aggs:
        if not isinstance(a, _AGGS):
            raise NotPartitionable(f"aggregate {a.sql_name()}")
    groups = _group_exprs(sel)
    gmap = {norm(g): f"_g{i}" for i, g in enumerate(groups)}
    has_distinct = any(isinstance(a.this, exp.Distinct) for a in aggs)
    partials: list[exp.Expr] = []
    combine: dict[str, exp.Expr] = {}
    if has_distinct:
        kind, prefix = "distinct-aggregate", "_a"
        args: dict[str, str] = {}
        for a in aggs:
            inner = a.this.expressions if isinstance(a.this, exp.Distinct) else [a.this]
            if not isinstance(a.this, exp.Distinct) and not isinstance(a, exp.Min | exp.Max):
                raise NotPartitionable("DISTINCT aggregates mixed with COUNT/SUM/AVG of all rows")
            if len(inner) != 1 or _is_star(inner[0]):
                raise NotPartitionable("an aggregate of several DISTINCT arguments")
            key = norm(inner[0])
            if key not in args:
                args[key] = f"_a{len(partials)}"
                partials.append(inner[0].copy())
            new = a.copy()
            ref = _col(args[key])
            new.set("this", exp.Distinct(expressions=[ref]) if isinstance(a.this, exp.Distinct) else ref)
            combine[norm(a)] = new
    else:
        kind, prefix = "aggregate", "_p"

        def add(e: exp.Expr) -> exp.Column:
            partials.append(e)
            return _col(f"_p{len(partials) - 1}")

        for a in aggs:
            key = norm(a)
            if key in combine:
                continue
            if isinstance(a, exp.Count):
                combine[key] = exp.Sum(this=add(a.copy()))
            elif isinstance(a, exp.Sum):
                combine[key] = exp.Sum(this=add(a.copy()))
            elif isinstance(a, exp.Min | exp.Max):
                combine[key] = type(a)(this=add(a.copy()))
            else:  # AVG = SUM / COUNT
                s = add(exp.Sum(this=a.this.copy()))
                c = add(exp.Count(this=a.this.copy()))
                combine[key] = exp.Div(
                    this=exp.Sum(this=s),
                    expression=exp.Nullif(this=exp.Sum(this=c), expression=exp.Literal.number(0)),
                )

    def rewrite(e: exp.Expr) -> exp.Expr:
        def fn(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Identifier | exp.Literal | exp.Star):
                return node
            key = norm(node)
            if key in gmap:
                return _col(gmap[key])
            if isinstance(node, exp.AggFunc) and key in combine:
                return combine[key].copy()
            return node

        out = e.copy().transform(fn)
        for col in [out] if isinstance(out, exp.Column) else out.find_all(exp.Column):
            if not col.name.startswith(("_g", "_p", "_a", "_r")) or col.table:
                raise NotPartitionable(f"{col.sql()} is neither grouped nor aggregated")
        return out

    items = list(sel.expressions)
    if any(_is_star(it) for it in items):
        raise NotPartitionable("'*' in an aggregate query")
    final_items = [rewrite(it.unalias()) for it in items]
    aliases, exprs, _ = _select_maps(items)
    order: list[exp.Ordered] = []
    order_node = sel.args.get("order")
    for o in order_node.expressions if order_node is not None else []:
        key = o.this
        new = o.copy()
        if isinstance(key, exp.Literal) and key.is_int:
            new.set("this", _col(f"_r{int(key.this) - 1}"))
        elif isinstance(key, exp.Column) and not key.table and key.name.lower() in aliases:
            new.set("this", _col(f"_r{aliases[key.name.lower()]}"))
        elif norm(key) in exprs:
            new.set("this", _col(f"_r{exprs[norm(key)]}"))
        else:
            new.set("this", rewrite(key))
        order.append(new)
    having = sel.args.get("having")
    part = sel.copy()
    for k in ("having", "order", "limit", "offset", "distinct"):
        part.set(k, None)
    sel_items = [exp.alias_(g.copy(), f"_g{i}") for i, g in enumerate(groups)]
    sel_items += [exp.alias_(p, f"{prefix}{j}") for j, p in enumerate(partials)]
    part.set("expressions", sel_items)
    if has_distinct:
        part.set("group", None)
        part.set("distinct", exp.Distinct())
    elif groups:
        part.set("group", exp.Group(expressions=[g.copy() for g in groups]))
    return Decomposition(
        kind=kind,
        partition=part,
        ordered=bool(order),
        distinct=distinct,
        limit=limit,
        offset=offset,
        order=order,
        final_items=final_items,
        groups=len(groups),
        having=rewrite(having.this) if having is not None else None,
    )
