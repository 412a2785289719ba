"""Units, UCDs and descriptions of a query's output columns, from its SELECT list.

A plain column keeps its table's metadata (whatever its alias); common derivations carry what an
astronomer expects, in the conventions DaCHS uses so that the two services describe results alike:

* ``FLOOR``/``CEILING``/``ROUND``/``ABS``/``TRUNCATE``/negation of ``x``: ``x`` 's unit and UCD;
* ``AVG(x)``: unit, ``<ucd>;stat.mean``; ``MIN``/``MAX(x)``: unit, ``stat.min;<ucd>`` /
  ``stat.max;<ucd>``; ``SUM(x)``: unit; ``COUNT``: ``meta.number``;
* ``DISTANCE``/``scisql_angSep``: ``deg``, ``pos.angDistance``;
* ``scisql_nanojanskyToAbMag(f)``: ``mag``, ``f`` 's UCD with ``phot.flux`` -> ``phot.mag``;
  ``...Sigma``: ``mag``, ``stat.error;`` + that.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from kernel_lib.adql import nodes

__all__ = ["Lookup", "output_metadata"]

Meta = dict[str, str]
#: (table name or alias, or None; column name) -> the column's metadata, or None if unknown
Lookup = Callable[[str | None, str], Meta | None]

_SAME = (exp.Floor, exp.Ceil, exp.Round, exp.Abs, exp.Neg, exp.Paren)


def _sources(select: exp.Select) -> dict[str, str]:
    """alias (and name) -> qualified table name of the SELECT's FROM and JOIN tables."""
    out: dict[str, str] = {}
    from_ = select.args.get("from_")
    for src in [from_.this if from_ is not None else None, *(j.this for j in select.args.get("joins") or [])]:
        if isinstance(src, exp.Table):
            full = ".".join(p for p in (src.db, src.name) if p)
            out[src.alias_or_name.lower()] = full
            out.setdefault(src.name.lower(), full)
    return out


def output_metadata(tree: exp.Expr, lookup: Lookup) -> list[Meta] | None:
    """Metadata of each output column of ``tree`` (a resolved ADQL query), or ``None`` when the
    columns cannot be told apart by position (``SELECT *``)."""
    while isinstance(tree, exp.Subquery | exp.Paren):
        tree = tree.this
    if isinstance(tree, exp.SetOperation):
        return output_metadata(tree.this, lookup)
    if not isinstance(tree, exp.Select):
        return None
    tables = _sources(tree)
    known = list(dict.fromkeys(tables.values()))

    def column(col: exp.Column) -> Meta:
        if col.table:
            return lookup(tables.get(col.table.lower(), col.table), col.name) or {}
        for t in known:
            hit = lookup(t, col.name)
            if hit is not None:
                return hit
        return {}

    def derive(e: exp.Expr) -> Meta:
        if isinstance(e, exp.Alias):
            return derive(e.this)
        if isinstance(e, exp.Column):
            return column(e)
        if isinstance(e, _SAME) or (isinstance(e, exp.Anonymous) and str(e.this).lower() == "truncate"):
            inner = e.this if not isinstance(e, exp.Anonymous) else (e.expressions or [None])[0]
            m = derive(inner) if inner is not None else {}
            return {k: v for k, v in m.items() if k in ("unit", "ucd")}
        if isinstance(e, exp.Count):
            return {"ucd": "meta.number"}
        if isinstance(e, exp.Avg | exp.Min | exp.Max | exp.Sum):
            m = derive(e.this)
            out = {"unit": m["unit"]} if m.get("unit") else {}
            ucd = m.get("ucd")
            if ucd and isinstance(e, exp.Avg):
                out["ucd"] = f"{ucd};stat.mean"
            elif ucd and isinstance(e, exp.Min | exp.Max):
                out["ucd"] = f"stat.{'min' if isinstance(e, exp.Min) else 'max'};{ucd}"
            return out
        if isinstance(e, nodes.Distance) or (
            isinstance(e, exp.Anonymous) and str(e.this).lower() == "scisql_angsep"
        ):
            return {"unit": "deg", "ucd": "pos.angDistance"}
        if isinstance(e, exp.Anonymous) and str(e.this).lower().startswith("scisql_nanojanskytoabmag"):
            flux = derive(e.expressions[0]) if e.expressions else {}
            ucd = flux.get("ucd", "phot.flux").replace("phot.flux", "phot.mag")
            if str(e.this).lower().endswith("sigma"):
                ucd = f"stat.error;{ucd}"
            return {"unit": "mag", "ucd": ucd}
        return {}

    items = tree.expressions
    if any(
        isinstance(i, exp.Star) or (isinstance(i, exp.Column) and isinstance(i.this, exp.Star)) for i in items
    ):
        return None
    return [derive(i) for i in items]
