"""``TableView``: a table that stays in the kernel, shown page by page in a Lumino DataGrid.

An anywidget; the front end (``static/table.js``) asks for pages of rows (200 at a time) as the
grid scrolls, with custom messages; the kernel answers with JSON rows (integers beyond 2**53 as
strings, NaN as null). A click on a column header sorts the whole table here, in the kernel;
clicks, shift-clicks and ctrl-clicks on rows select (the ``selection`` trait: row positions in
the table, both ways). :meth:`TableView.link` ties the selection to a
:class:`~kernel_lib.widgets.sky.SkyView` layer that drew the same rows.

Examples
--------
>>> from jupyterlab_lsp.widgets import SkyView, TableView          # doctest: +SKIP
>>> table = TableView(objects_df)                                  # doctest: +SKIP
>>> table                                                          # doctest: +SKIP
>>> table.selected_rows              # a DataFrame of the rows selected in the view   # doctest: +SKIP
>>> sky = SkyView(); sky.add_catalog(objects_df, name="Object")    # doctest: +SKIP
>>> link = table.link(sky, "Object")                               # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets as t

from .base import QueuedWidget, _asset, column_values, missing_bundle_esm
from .tables import _column, _take

#: Rows per page the view asks for (at most).
PAGE_SIZE = 200
MAX_PAGE = 1000


def _check_table(table: Any) -> None:
    lazy = (hasattr(table, "compute") and not hasattr(table, "iloc")) or (
        hasattr(table, "collect") and not hasattr(table, "columns")
    )
    if lazy or type(table).__name__ == "LazyFrame":
        raise TypeError(
            f"{type(table).__name__} is lazy: compute or select it first "
            "(e.g. .compute(), .head(n) or .collect()) to show its rows"
        )
    if hasattr(table, "to_table") and not hasattr(table, "colnames"):  # pyvo results
        raise TypeError("pass results.to_table() (a pyvo result set is not a table)")
    if not (hasattr(table, "iloc") or hasattr(table, "colnames") or hasattr(table, "column_names")):
        raise TypeError(
            "TableView shows pandas DataFrames, astropy Tables and pyarrow Tables, "
            f"not {type(table).__name__}"
        )


def _units(table: Any, columns: list[str]) -> dict[str, str]:
    units: dict[str, str] = {}
    if hasattr(table, "colnames"):  # astropy
        for c in columns:
            unit = getattr(table[c], "unit", None)
            if unit is not None:
                units[c] = str(unit)
    elif hasattr(table, "schema") and hasattr(table, "column_names"):  # pyarrow field metadata
        for f in table.schema:
            meta = f.metadata or {}
            unit = meta.get(b"unit") or meta.get(b"units")
            if unit:
                units[f.name] = unit.decode()
    else:  # pandas: df.attrs["units"] (what the box's catalogs set), else none
        attrs = getattr(table, "attrs", {}) or {}
        for c, u in dict(attrs.get("units", {}) or {}).items():
            if u:
                units[str(c)] = str(u)
    return {c: u for c, u in units.items() if c in columns}


def _numeric(table: Any, name: str) -> bool:
    dtype = getattr(table[name], "dtype", None)
    if dtype is None and hasattr(table, "schema"):  # pyarrow
        import pyarrow as pa

        typ = table.schema.field(name).type
        return bool(pa.types.is_integer(typ) or pa.types.is_floating(typ))
    try:
        return np.dtype(dtype).kind in "iuf"
    except TypeError:
        return str(dtype).lower().startswith(("int", "uint", "float"))


def _sort_order(values: np.ndarray, ascending: bool) -> np.ndarray:
    """Positions of ``values`` in sorted order, stable, missing values last."""
    import pandas as pd

    s = pd.Series(values)
    try:
        order = s.sort_values(ascending=ascending, kind="stable", na_position="last").index
    except TypeError:  # mixed types: as text
        order = s.astype(str).sort_values(ascending=ascending, kind="stable").index
    return np.asarray(order, dtype="i8")


class TableLink:
    """A :meth:`TableView.link`: the table's selection highlights a SkyView layer's sources and
    a selection in the SkyView selects the table's rows. :meth:`unlink` ends it."""

    def __init__(self, table: TableView, sky: Any, layer: str) -> None:
        self.table, self.sky, self.layer = table, sky, layer
        self._busy = False
        table.observe(self._from_table, names="selection")
        sky.observe(self._from_sky, names="selection")
        self.linked = True
        if table.selection:
            self._from_table({"new": table.selection})

    def __repr__(self) -> str:
        state = "linked" if self.linked else "unlinked"
        return f"<TableLink {state}: TableView -> SkyView layer {self.layer!r}>"

    def _from_table(self, change: dict[str, Any]) -> None:
        if self._busy or self.layer not in self.sky._layers:
            return
        self.sky.highlight_rows(self.layer, list(change["new"]))

    def _from_sky(self, change: dict[str, Any]) -> None:
        if self.layer not in self.sky._layers or self.layer not in (change["new"] or {}).get("ids", {}):
            return
        positions = self.sky.selection_positions(self.layer).tolist()
        self._busy = True  # the SkyView shows this selection already
        try:
            self.table.selection = positions
        finally:
            self._busy = False

    def unlink(self) -> None:
        if self.linked:
            self.table.unobserve(self._from_table, names="selection")
            self.sky.unobserve(self._from_sky, names="selection")
            self.linked = False
            if self in self.table._links:
                self.table._links.remove(self)


class TableView(QueuedWidget):
    """A pandas DataFrame, astropy Table or pyarrow Table in a grid; the rows stay in the kernel.

    Parameters
    ----------
    table : the table (a lazy frame must be computed or selected first)
    height : height of the grid in pixels

    Traits: ``selection`` (positions of the rows selected, in the table's order; set it to
    select from Python), ``sort`` (``[column, ascending]`` or ``[]``: the table's order).
    :attr:`selected_rows` is those rows, in the table's own type.
    """

    _esm = _asset("table.js", missing_bundle_esm("TableView", "table.js"))

    height = t.Int(400, help="height of the grid in pixels").tag(sync=True)
    selection = t.List(t.Int(), help="positions of the selected rows in the table").tag(sync=True)
    sort: t.List[Any] = t.List(help="[column, ascending] or [] (the table's order)").tag(sync=True)
    errors = t.List(t.Unicode(), read_only=True, help="errors the view reported")

    def __init__(self, table: Any, height: int = 400, **kwargs: Any) -> None:
        _check_table(table)
        self._table = table
        names = getattr(table, "colnames", None) or getattr(table, "column_names", None)
        self._columns = [str(c) for c in (names if names is not None else table.columns)]
        self._n = int(table.num_rows if hasattr(table, "num_rows") else len(table))
        self._order: np.ndarray | None = None  # view row -> table position (None: identity)
        self._links: list[TableLink] = []
        super().__init__(height=height, **kwargs)

    def __repr__(self) -> str:
        return f"TableView({type(self._table).__name__}, {self._n} rows, {len(self._columns)} columns)"

    def __len__(self) -> int:
        return self._n

    @property
    def table(self) -> Any:
        """The table shown."""
        return self._table

    @property
    def selected_rows(self) -> Any:
        """The selected rows (in ``selection``'s order), as the same type as the table."""
        return _take(self._table, np.asarray(self.selection, dtype="i8"))

    # ---------------------------------------------------------------- validation
    @t.validate("height")
    def _check_height(self, proposal: Any) -> int:
        return max(120, min(4000, int(proposal["value"])))

    @t.validate("selection")
    def _check_selection(self, proposal: Any) -> list[int]:
        rows = sorted({int(r) for r in proposal["value"]})
        bad = [r for r in rows if not 0 <= r < self._n]
        if bad:
            raise t.TraitError(f"row positions must be in [0, {self._n}), not {bad[:5]}")
        return rows

    @t.validate("sort")
    def _check_sort(self, proposal: Any) -> list[Any]:
        value = list(proposal["value"] or [])
        if not value:
            return []
        column, ascending = [*value, True][:2]
        if column not in self._columns:
            raise t.TraitError(f"no column {column!r} to sort by (columns: {', '.join(self._columns)})")
        return [str(column), bool(ascending)]

    @t.observe("sort")
    def _on_sort(self, change: dict[str, Any]) -> None:
        if change["new"]:
            column, ascending = change["new"]
            self._order = _sort_order(_column(self._table, column), ascending)
        else:
            self._order = None
        self._post({"type": "reset", "total": self._n, "sort": list(change["new"])})

    # ---------------------------------------------------------------- the view's requests
    def schema(self) -> dict[str, Any]:
        """What a view is told first: columns (name, unit, numeric), row count, sort."""
        units = _units(self._table, self._columns)
        return {
            "type": "schema",
            "columns": [
                {"name": c, "unit": units.get(c, ""), "numeric": _numeric(self._table, c)}
                for c in self._columns
            ],
            "total": self._n,
            "sort": list(self.sort),
            "page_size": PAGE_SIZE,
        }

    def page(self, page: int, size: int = PAGE_SIZE) -> dict[str, Any]:
        """Rows ``page * size`` to ``(page + 1) * size`` of the (sorted) table, as JSON lists."""
        size = max(1, min(MAX_PAGE, int(size)))
        start = max(0, int(page)) * size
        stop = min(self._n, start + size)
        positions = self._positions(start, stop)
        sub = _take(self._table, positions)
        columns = [column_values(sub, c) for c in self._columns]
        rows = [list(r) for r in zip(*columns, strict=True)] if columns else [[] for _ in positions]
        return {
            "type": "page",
            "page": int(page),
            "size": size,
            "sort": list(self.sort),
            "positions": positions.tolist(),
            "rows": rows,
        }

    def _positions(self, start: int, stop: int) -> np.ndarray:
        if stop <= start:
            return np.zeros(0, dtype="i8")
        if self._order is None:
            return np.arange(start, stop, dtype="i8")
        return self._order[start:stop]

    def _on_ready(self, view: str) -> None:
        self.send({**self.schema(), "view": view})
        super()._on_ready(view)

    def _on_message(self, kind: str, content: dict[str, Any], view: str, buffers: list[Any]) -> None:
        if kind == "page":
            try:
                answer = self.page(int(content.get("page", 0)), int(content.get("size", PAGE_SIZE)))
            except Exception as e:  # the view shows it; the kernel goes on
                answer = {"type": "page_error", "page": content.get("page"), "message": str(e)}
            self.send({**answer, "view": view})
        elif kind == "select_range":  # shift-click: view rows a..b (in the sorted order)
            a, b = sorted((int(content.get("from", 0)), int(content.get("to", 0))))
            rows = self._positions(max(0, a), min(self._n, b + 1)).tolist()
            base = list(self.selection) if content.get("add") else []
            self.selection = base + rows
        elif kind == "error":
            self.set_trait("errors", [*self.errors, str(content.get("message", ""))])

    # ---------------------------------------------------------------- linking
    def link(self, sky: Any, layer: str) -> TableLink:
        """Tie the selection to the SkyView layer ``layer`` that drew this table's rows (the same
        rows, in the same order): a selection here highlights them in the sky view, a selection
        there selects them here. Returns the link (``.unlink()`` ends it)."""
        layers = getattr(sky, "_layers", None)
        if layers is None or not hasattr(sky, "highlight_rows"):
            raise TypeError(f"link takes a SkyView, not {type(sky).__name__}")
        if layer not in layers:
            raise KeyError(f"no layer {layer!r} in the SkyView; layers: {', '.join(layers) or '(none)'}")
        drawn = layers[layer].table
        n = None if drawn is None else int(drawn.num_rows if hasattr(drawn, "num_rows") else len(drawn))
        if n != self._n:
            raise ValueError(
                f"layer {layer!r} drew a table of {n} rows, this one has {self._n}: "
                "link a layer drawn from the same table (same rows, same order)"
            )
        handle = TableLink(self, sky, layer)
        self._links.append(handle)
        return handle

    def unlink(self, sky: Any = None) -> None:
        """End the links (to ``sky`` only, if given)."""
        for handle in list(self._links):
            if sky is None or handle.sky is sky:
                handle.unlink()
