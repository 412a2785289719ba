"""From a resolved ADQL tree to a :class:`Plan`: partitioned, global or set operation.

Classification of a SELECT (its FROM/JOIN tables only; subqueries are materialised first):

* the *primary* table is the largest catalog (Visit/CcdVisit only if nothing else); its family is
  its director's (Object for Source/ForcedSource, DiaObject for DiaSource/ForcedSourceOnDiaObject);
* family tables linked to the primary by equalities of the director key (``o.objectId =
  f.objectId`` in an inner ON or the WHERE, a LEFT JOIN's own ON, or USING) are *sharded*: each
  partition joins them inside itself;
* other tables are *broadcast* (read once, registered in every partition's connection) when they
  are Visit/CcdVisit, materialised results, or have at most ``broadcast_rows`` rows -- so a
  positional join with a small table (Reference, or a small release's Object) runs partitioned;
* otherwise, and for RIGHT/FULL joins, a LEFT JOIN whose preserved side has no sharded table,
  subqueries in FROM, correlated subqueries and what :mod:`.merge` cannot split, the plan is
  *global*: DuckDB once over every needed file.

IN/EXISTS/scalar subqueries that do not refer to the outer query, CTEs and UNION/EXCEPT/INTERSECT
branches are materialised: planned on their own, run first, registered by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from kernel_lib.adql import UnsupportedFeatureError, spatial_constraints
from kernel_lib.adql.geometry import positional_link
from kernel_lib.adql.translate import translate
from kernel_lib.catalog import healpix as hp
from kernel_lib.catalog.search import ConeSearch

from .merge import Decomposition, NotPartitionable, decompose
from .source import SMALL_TABLES, TableInfo, ViewSpec, connect, table_schema

__all__ = ["Plan", "Planner"]


@dataclass
class Plan:
    """An executable, explainable plan (see :meth:`explain`)."""

    kind: str  # "partitioned" | "global" | "set"
    sql: str
    schema: pa.Schema
    reason: str = ""
    inputs: list[tuple[str, Plan]] = field(default_factory=list)
    decomposition: Decomposition | None = None
    parts: list[list[ViewSpec]] = field(default_factory=list)
    part_labels: list[str] = field(default_factory=list)
    total_parts: int = 0
    broadcast: list[ViewSpec] = field(default_factory=list)
    views: list[ViewSpec] = field(default_factory=list)  # global plans
    tables: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: unit/UCD/description of each output column, by position (see :mod:`.describe`)
    output_meta: list[dict[str, str]] | None = None

    def explain(self, indent: int = 0) -> str:
        """A readable description of the plan."""
        pad = " " * indent
        out: list[str] = []
        for name, sub in self.inputs:
            out.append(f"{pad}materialise {name}:")
            out.append(sub.explain(indent + 4))
        if self.kind == "partitioned" and self.decomposition is not None:
            d = self.decomposition
            out.append(f"{pad}plan: partitioned ({self.reason})")
            out += [f"{pad}  table {t}" for t in self.tables]
            out += [f"{pad}  {n}" for n in self.notes]
            shown = ", ".join(self.part_labels[:12]) + (" ..." if len(self.part_labels) > 12 else "")
            out.append(f"{pad}  partitions: {len(self.parts)} of {self.total_parts} read: {shown}")
            out.append(f"{pad}  per-partition DuckDB SQL ({d.kind}):")
            out.append(f"{pad}    {d.partition_sql(None if d.kind != 'scan' else (d.limit or None))}")
            if d.kind == "scan" and not d.needs_final():
                rows = "" if d.limit is None else f", first {d.limit} rows"
                off = f" after {d.offset}" if d.offset else ""
                out.append(f"{pad}  merge: concatenate partitions in order{rows}{off} (stops early)")
            else:
                step = {"scan": "top-k/distinct", "aggregate": "partial aggregates combined"}
                out.append(f"{pad}  merge: concatenate, then ({step.get(d.kind, 'distinct values')}):")
                out.append(f"{pad}    {d.final_sql(len(self.schema) + d.hidden)}")
        elif self.kind == "set":
            out.append(f"{pad}plan: set operation over materialised branches")
            out.append(f"{pad}  final DuckDB SQL: {self.sql}")
        else:
            out.append(f"{pad}plan: global ({self.reason})")
            out += [f"{pad}  table {t}" for t in self.tables]
            out.append(f"{pad}  DuckDB SQL over all files: {self.sql}")
        return "\n".join(out)


class _Global(Exception):
    pass


@dataclass
class _Inst:
    alias: str
    name: str
    info: TableInfo | None
    side: str = ""
    on: exp.Expr | None = None
    using: list[str] = field(default_factory=list)
    role: str = ""
    #: for a "neighbour" (positionally joined) table: how far around a partition to read it
    reach_arcsec: float = 0.0


def _conjuncts(e: exp.Expr | None) -> list[exp.Expr]:
    while isinstance(e, exp.Paren):
        e = e.this
    if e is None:
        return []
    if isinstance(e, exp.And):
        return _conjuncts(e.this) + _conjuncts(e.expression)
    return [e]


def _nested_queries(node: exp.Expr) -> list[exp.Query]:
    """Queries directly nested in ``node`` (not descending into them)."""
    out: list[exp.Query] = []
    for child in node.iter_expressions():
        if isinstance(child, exp.Query):
            out.append(child)
        else:
            out += _nested_queries(child)
    return out


def _sources(q: exp.Expr) -> tuple[set[str], set[str]]:
    """Aliases/names defined inside ``q`` and the CTE names it defines."""
    names = {t.alias_or_name.lower() for t in q.find_all(exp.Table)}
    names |= {t.name.lower() for t in q.find_all(exp.Table)}
    names |= {s.alias.lower() for s in q.find_all(exp.Subquery) if s.alias}
    ctes = {c.alias.lower() for c in q.find_all(exp.CTE)}
    return names | ctes, ctes


class Planner:
    """Plans queries against the release's tables (``infos``: lower-case name -> TableInfo)."""

    def __init__(self, infos: dict[str, TableInfo], broadcast_rows: int, join_product_limit: float):
        self.infos = infos
        self.broadcast_rows = broadcast_rows
        self.join_product_limit = join_product_limit
        self.materialised: dict[str, pa.Schema] = {}
        self.counter = 0

    # -- helpers --------------------------------------------------------------------------------
    def _name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _catalog(self, t: exp.Table) -> TableInfo | None:
        if t.name.lower() in self.materialised and not t.db:
            return None
        return self.infos.get(t.name.lower())

    def _columns_of(self, inst: _Inst) -> list[str]:
        if inst.info is not None:
            return inst.info.columns
        return list(self.materialised.get(inst.name.lower(), pa.schema([])).names)

    def _needed(self, tree: exp.Expr, info: TableInfo) -> list[str]:
        stars = [s for s in tree.find_all(exp.Star) if not isinstance(s.parent, exp.Count)]
        if stars:
            return info.columns
        used = {c.name.lower() for c in tree.find_all(exp.Column)}
        cols = [c for c in info.columns if c.lower() in used]
        return cols or info.columns[:1]

    def probe(self, tree: exp.Expr) -> tuple[str, list[ViewSpec], pa.Schema]:
        """The whole-table DuckDB SQL of ``tree``, its views, and its result schema (run on empty
        tables: names and types exactly as the reference gets them)."""
        used: dict[str, TableInfo] = {}

        def mapping(t: exp.Table) -> exp.Expr | None:
            info = self._catalog(t)
            if info is None:
                return None
            used[info.name] = info
            return exp.to_table(f"t_{info.name.lower()}")

        sql = translate(tree, mapping).sql(dialect="duckdb")
        views = [
            ViewSpec(f"t_{i.name.lower()}", tuple(i.files()), tuple(i.columns), table_schema(i))
            for i in used.values()
        ]
        empty = [ViewSpec(v.name, (), v.columns, v.schema) for v in views]
        tables = {n: s.empty_table() for n, s in self.materialised.items()}
        con = connect(empty, tables)
        try:
            schema = con.sql(sql).to_arrow_table().schema
        finally:
            con.close()
        return sql, views, schema

    # -- entry point ----------------------------------------------------------------------------
    def plan(self, tree: exp.Expr) -> Plan:
        """Plan a (resolved) ADQL query tree."""
        while isinstance(tree, exp.Subquery | exp.Paren):
            tree = tree.this
        if isinstance(tree, exp.SetOperation):
            return self._set(tree)
        if not isinstance(tree, exp.Select):
            raise UnsupportedFeatureError(f"cannot execute a {type(tree).__name__}")
        saved = dict(self.materialised)
        try:
            return self._partitioned(tree)
        except _Global as why:
            self.materialised = saved
            return self._global(tree, str(why))

    def _global(self, tree: exp.Expr, reason: str) -> Plan:
        sql, views, schema = self.probe(tree)
        return Plan(
            kind="global",
            sql=sql,
            schema=schema,
            reason=reason,
            views=views,
            tables=[f"{v.name}: {len(v.files)} files" for v in views],
        )

    def _set(self, tree: exp.SetOperation) -> Plan:
        inputs: list[tuple[str, Plan]] = []
        final = tree.copy()

        def branch(node: exp.Expr) -> exp.Expr:
            while isinstance(node, exp.Subquery | exp.Paren):
                node = node.this
            if isinstance(node, exp.SetOperation):
                node.set("this", branch(node.this))
                node.set("expression", branch(node.expression))
                return node
            sub = self.plan(node)
            name = self._name("_u")
            inputs.append((name, sub))
            self.materialised[name] = sub.schema
            return exp.select("*").from_(name)

        final.set("this", branch(final.this))
        final.set("expression", branch(final.expression))
        sql = translate(final).sql(dialect="duckdb")
        con = connect([], {n: s.empty_table() for n, s in self.materialised.items()})
        try:
            schema = con.sql(sql).to_arrow_table().schema
        finally:
            con.close()
        return Plan(kind="set", sql=sql, schema=schema, inputs=inputs, reason="set operation")

    # -- partitioned ----------------------------------------------------------------------------
    def _materialise(self, sel: exp.Select, inputs: list[tuple[str, Plan]]) -> exp.Select:
        sel = sel.copy()
        with_ = sel.args.get("with_")
        if with_ is not None:
            if with_.args.get("recursive"):
                raise _Global("recursive WITH")
            for cte in with_.expressions:
                sub = self.plan(cte.this)
                inputs.append((cte.alias, sub))
                self.materialised[cte.alias.lower()] = sub.schema
            sel.set("with_", None)
        for key in ("from_", "joins"):
            node = sel.args.get(key)
            for n in node if isinstance(node, list) else [node] if node is not None else []:
                if _nested_queries(n):
                    raise _Global("subquery in FROM")
        for q in _nested_queries(sel):
            defined, _ = _sources(q)
            visible = {c.lower() for t in q.find_all(exp.Table) for c in self._table_columns(t)}
            for col in q.find_all(exp.Column):
                if col.table and col.table.lower() not in defined:
                    raise _Global(f"correlated subquery (refers to {col.table})")
                if not col.table and col.name.lower() not in visible and not isinstance(col.this, exp.Star):
                    raise _Global(f"correlated subquery (refers to {col.name})")
            sub = self.plan(q)
            name = self._name("_sq")
            inputs.append((name, sub))
            self.materialised[name] = sub.schema
            star = exp.select("*").from_(name)
            if isinstance(q, exp.Subquery):
                q.set("this", star)
            else:
                q.replace(star)
        return sel

    def _table_columns(self, t: exp.Table) -> list[str]:
        info = self._catalog(t)
        if info is not None:
            return info.columns
        return list(self.materialised.get(t.name.lower(), pa.schema([])).names)

    def _instances(self, sel: exp.Select) -> list[_Inst]:
        out: list[_Inst] = []
        from_ = sel.args.get("from_")
        sources: list[tuple[exp.Expr, exp.Join | None]] = [(from_.this, None)] if from_ is not None else []
        sources += [(j.this, j) for j in sel.args.get("joins") or []]
        for src, join in sources:
            if not isinstance(src, exp.Table):
                raise _Global(f"{type(src).__name__} in FROM")
            side = str(join.side).upper() if join is not None and join.side else ""
            if join is not None and str(join.kind).upper() == "NATURAL":
                side = side or ""
            using = [u.name for u in (join.args.get("using") or [])] if join is not None else []
            on = join.args.get("on") if join is not None else None
            out.append(_Inst(src.alias_or_name, src.name, self._catalog(src), side, on, using))
        if not out:
            raise _Global("no FROM clause")
        return out

    def _owner(self, col: exp.Column, insts: list[_Inst]) -> _Inst | None:
        if col.table:
            return next((i for i in insts if i.alias.lower() == col.table.lower()), None)
        owners = [i for i in insts if col.name.lower() in {c.lower() for c in self._columns_of(i)}]
        return owners[0] if len(owners) == 1 else None

    def _classify(self, sel: exp.Select, insts: list[_Inst]) -> _Inst:
        cats = [i for i in insts if i.info is not None]
        if not cats:
            raise _Global("only materialised tables")
        big = [i for i in cats if i.name.lower() not in SMALL_TABLES] or cats
        primary = max(big, key=lambda i: i.info.rows if i.info else 0)
        assert primary.info is not None
        family = primary.info.family
        fam = [i for i in cats if i.info is not None and i.info.family == family]
        parent = {id(i): id(i) for i in fam}

        def find(x: int) -> int:
            while parent[x] != x:
                x = parent[x]
            return x

        def link(a: _Inst, b: _Inst, ca: str, cb: str) -> None:
            if id(a) in parent and id(b) in parent and a is not b and a.info and b.info:
                if ca.lower() == (a.info.key or "").lower() and cb.lower() == (b.info.key or "").lower():
                    parent[find(id(a))] = find(id(b))

        terms = _conjuncts(sel.args["where"].this) if sel.args.get("where") is not None else []
        for i, inst in enumerate(insts):
            if inst.side and inst.side != "LEFT":
                raise _Global(f"{inst.side} JOIN")
            for t in _conjuncts(inst.on) if (not inst.side or inst.side == "LEFT") else []:
                terms.append(t)
            for u in inst.using:
                for prev in insts[:i]:
                    link(inst, prev, u, u)
        for t in terms:
            if (
                isinstance(t, exp.EQ)
                and isinstance(t.this, exp.Column)
                and isinstance(t.expression, exp.Column)
            ):
                a, b = self._owner(t.this, insts), self._owner(t.expression, insts)
                if a is not None and b is not None:
                    link(a, b, t.this.name, t.expression.name)
        root = find(id(primary))
        large: list[_Inst] = []
        for inst in insts:
            if inst.info is None:
                inst.role = "materialised"
            elif id(inst) in parent and find(id(inst)) == root:
                inst.role = "sharded"
            elif inst.name.lower() in SMALL_TABLES or inst.info.rows <= self.broadcast_rows:
                inst.role = "broadcast"
            else:
                large.append(inst)
        for inst in list(large):
            reach = self._positional_reach(
                terms, inst, insts, lambda i: id(i) in parent and find(id(i)) == root
            )
            if reach is not None:
                inst.role, inst.reach_arcsec = "neighbour", reach
                large.remove(inst)
        if large:
            product = float(primary.info.rows) * float(np.prod([i.info.rows for i in large if i.info]))
            names = ", ".join(i.name for i in large)
            if product > self.join_product_limit:
                raise UnsupportedFeatureError(
                    f"a join of {primary.name} with the large table(s) {names} that is not on the director "
                    "key (e.g. a positional crossmatch of two large catalogs) is not supported; restrict "
                    "one side to a small region or use kernel_lib.catalog's crossmatch"
                )
            raise _Global(f"join of {primary.name} with {names} not on the director key")
        for i, inst in enumerate(insts):
            if inst.side == "LEFT" and inst.role == "sharded":
                if not any(p.role == "sharded" for p in insts[:i]):
                    raise _Global("LEFT JOIN whose preserved side is not partitioned")
        return primary

    def _positional_reach(
        self, terms: list[exp.Expr], inst: _Inst, insts: list[_Inst], sharded: Any
    ) -> float | None:
        """If a term bounds the separation of ``inst``'s positions from a sharded table's, how far
        (arcsec) around a partition's pixel ``inst``'s rows can lie: the radius, grown by the
        margins of dependent tables (whose ``_healpix_29`` is their director's position)."""
        best: float | None = None
        for t in terms:
            link = positional_link(t)
            if link is None or not 0 < link.radius_deg < 1.0:
                continue
            for mine, other in ((link.first, link.second), (link.second, link.first)):
                a, b = self._owner(mine[0], insts), self._owner(other[0], insts)
                if a is not inst or b is None or b is inst or not sharded(b):
                    continue
                if self._owner(mine[1], insts) is not a or self._owner(other[1], insts) is not b:
                    continue
                ok = True
                for i, (ra, dec) in ((a, mine), (b, other)):
                    lay = i.info.layout if i.info else None
                    if lay is None or (ra.name.lower(), dec.name.lower()) != (
                        lay.ra_column.lower(),
                        lay.dec_column.lower(),
                    ):
                        ok = False
                if not ok:
                    continue
                reach = link.radius_deg * 3600.0 + 0.01
                for i in (a, b):
                    if i.info is not None and i.info.director:
                        reach += i.info.margin_arcsec
                best = reach if best is None else min(best, reach)
        return best

    def _partitioned(self, tree: exp.Select) -> Plan:
        inputs: list[tuple[str, Plan]] = []
        sel = self._materialise(tree, inputs)
        insts = self._instances(sel)
        self._classify(sel, insts)
        sharded = [i for i in insts if i.role == "sharded"]
        unit = next((i for i in sharded if i.info and i.info.director is None), sharded[0]).info
        assert unit is not None
        # spatial pruning
        lo, hi = hp.pixel_ranges(unit.layout.orders, unit.layout.pixels)
        keep = np.ones(len(lo), dtype=bool)
        ranges: np.ndarray | None = None
        notes: list[str] = []
        for c in spatial_constraints(sel):
            inst = self._constraint_owner(c, insts)
            if inst is None or inst.role != "sharded" or inst.info is None:
                continue
            cone = c.shape.bounding_cone()
            dilate = inst.info.margin_arcsec if inst.info.director else 0.0
            r = ConeSearch(cone.ra, cone.dec, cone.radius * 3600.0 + 0.01).ranges(dilate)
            keep &= hp.intervals_intersect(r, lo, hi - 1)
            ranges = r if ranges is None else ranges
            shape = type(c.shape).__name__.replace("Constraint", "").lower()
            notes.append(
                f"spatial pruning: {shape} on {inst.alias}.({c.ra_column}, {c.dec_column}) "
                f"(partitions and row groups by _healpix_29{f', dilated {dilate:.0f}″' if dilate else ''})"
            )
        # translation with per-instance view names
        prefix = {"sharded": "s", "neighbour": "n"}
        names = {
            i.alias.lower(): (
                f"s_{i.name.lower()}"
                if i.role == "sharded"
                else f"{prefix.get(i.role, 'b')}_{i.alias.lower()}"
            )
            for i in insts
            if i.info is not None
        }

        def mapping(t: exp.Table) -> exp.Expr | None:
            v = names.get(t.alias_or_name.lower())
            return exp.to_table(v) if v and self._catalog(t) is not None else None

        translated = translate(sel, mapping)
        try:
            dec = decompose(translated)  # type: ignore[arg-type]
        except NotPartitionable as e:
            raise _Global(str(e)) from None
        _, _, schema = self.probe(tree)
        # views
        broadcast = [
            ViewSpec(
                f"b_{i.alias.lower()}",
                tuple(i.info.files()),
                tuple(self._needed(sel, i.info)),
                table_schema(i.info),
            )
            for i in insts
            if i.role == "broadcast" and i.info is not None
        ]
        tables = {i.name: i.info for i in sharded if i.info is not None}
        neighbours = [i for i in insts if i.role == "neighbour"]
        for i in neighbours:
            notes.append(
                f"positional join: {i.name} AS {i.alias} read around each partition "
                f"(its rows within {i.reach_arcsec:.2f}″ of the partition's pixel, row groups by _healpix_29)"
            )
        parts, labels = [], []
        for p in np.flatnonzero(keep):
            views = []
            for info in tables.values():
                files, clip = self._files_for(info, unit, int(p), lo, hi)
                cols = self._needed(sel, info)
                views.append(
                    ViewSpec(
                        f"s_{info.name.lower()}",
                        tuple(files),
                        tuple(cols),
                        table_schema(info, None),
                        ranges=ranges,
                        clip=clip,
                        ra_column=info.layout.ra_column,
                        dec_column=info.layout.dec_column,
                    )
                )
            for i in neighbours:
                views.append(
                    self._neighbour_view(i, sel, int(unit.layout.orders[p]), int(unit.layout.pixels[p]))
                )
            parts.append(views)
            labels.append(f"{unit.layout.orders[p]}/{unit.layout.pixels[p]}")
        if not parts:  # everything pruned: one empty partition gives the right columns
            parts.append(
                [
                    ViewSpec(f"s_{i.name.lower()}", (), tuple(i.columns), table_schema(i))
                    for i in tables.values()
                ]
                + [
                    ViewSpec(f"n_{i.alias.lower()}", (), tuple(i.info.columns), table_schema(i.info))
                    for i in neighbours
                    if i.info is not None
                ]
            )
        kinds = sorted({i.name for i in sharded})
        what = f"director join {' ⋈ '.join(kinds)}" if len(kinds) > 1 else f"scan of {kinds[0]}"
        desc = [
            f"{i.name} AS {i.alias}: {i.role}"
            + (f" ({i.info.rows} rows, read once)" if i.role == "broadcast" and i.info else "")
            for i in insts
        ]
        return Plan(
            kind="partitioned",
            sql=dec.partition_sql(None),
            schema=schema,
            reason=what,
            inputs=inputs,
            decomposition=dec,
            parts=parts,
            part_labels=labels,
            total_parts=len(lo),
            broadcast=broadcast,
            tables=desc,
            notes=notes,
        )

    def _neighbour_view(self, inst: _Inst, sel: exp.Select, order: int, pixel: int) -> ViewSpec:
        """``inst``'s rows around partition ``order/pixel``: the partitions meeting the pixel grown
        by ``inst.reach_arcsec``, their row groups pruned to it (rows further away may come
        along; the join condition drops them)."""
        info = inst.info
        assert info is not None
        grown = hp.moc_ranges(hp.dilate(hp.pixel_moc(order, pixel), inst.reach_arcsec))
        tlo, thi = hp.pixel_ranges(info.layout.orders, info.layout.pixels)
        keep = np.flatnonzero(hp.intervals_intersect(grown, tlo, thi - 1))
        return ViewSpec(
            f"n_{inst.alias.lower()}",
            tuple(info.files(keep)),
            tuple(self._needed(sel, info)),
            table_schema(info, None),
            ranges=grown,
            ra_column=info.layout.ra_column,
            dec_column=info.layout.dec_column,
        )

    def _constraint_owner(self, c: Any, insts: list[_Inst]) -> _Inst | None:
        if c.table is not None:
            name = str(c.table).split(".")[-1].lower()
            hits = [i for i in insts if i.name.lower() == name]
            return hits[0] if len(hits) == 1 else None
        hits = [
            i
            for i in insts
            if {c.ra_column.lower(), c.dec_column.lower()} <= {x.lower() for x in self._columns_of(i)}
        ]
        return hits[0] if len(hits) == 1 else None

    @staticmethod
    def _files_for(
        info: TableInfo, unit: TableInfo, p: int, lo: np.ndarray, hi: np.ndarray
    ) -> tuple[list[str], tuple[int, int] | None]:
        if info.name == unit.name:
            return info.layout.leaf_files(p), None
        tlo, thi = hp.pixel_ranges(info.layout.orders, info.layout.pixels)
        js = hp.overlapping(tlo, thi, int(lo[p]), int(hi[p]))
        files = [f for j in js for f in info.layout.leaf_files(int(j))]
        coarser = bool(np.any(info.layout.orders[js] < unit.layout.orders[p]))
        return files, ((int(lo[p]), int(hi[p])) if coarser else None)
