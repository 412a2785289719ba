"""The kernel side of the lab's link between its panels (the sky panel, the image viewer) and
the variables of a notebook: one comm, target ``lsstbox.link``, per kernel and browser page
(shared by the page's panels).

The lab silently runs ``import kernel_lib.link as _lsstbox_link; _lsstbox_link.register()``
in the kernel, then opens the comm. Over it the panels list the notebook's tables
(``variables``), draw one (``draw``: an ``add_catalog`` with the positions as binary buffers,
encoded as :class:`~kernel_lib.widgets.sky.SkyView` does), assign the rows selected in a region
to a variable (``selection``), and ask for one row's values (``row``). Every drawn variable is
watched: after each cell, a variable that changed is drawn again and one that is gone (or no
longer a drawable table) is removed, each with a ``notice``; nothing is sent when nothing changed.

From a notebook, :func:`show_on_sky` draws a table in the linked sky panels; a call made before
any panel linked is kept and delivered when one does.

Other views of a table (the plots of :mod:`kernel_lib.plots`) share its selections with the
panels: :func:`select_rows` highlights rows of a table in every panel layer drawn from that very
object, and :func:`on_selection` calls back with the table and its selected rows when a region is
selected in a panel.

Examples
--------
>>> from jupyterlab_lsp import show_on_sky     # doctest: +SKIP
>>> objects = obj.cone_search(53.16, -28.1, 60).compute()   # doctest: +SKIP
>>> show_on_sky(objects)                       # doctest: +SKIP
"'objects': 1,234 rows sent to the linked sky panels"
"""

from __future__ import annotations

import hashlib
import keyword
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .widgets.tables import (
    DEC_NAMES,
    NOT_SCALAR,
    PALETTE,
    RA_NAMES,
    SHAPES,
    _column,
    _pick_id_column,
    _positions,
    _take,
    guess_column,
    json_scalar,
)

__all__ = ["MAX_POINTS", "TARGET", "on_selection", "register", "select_rows", "show_on_sky"]

#: The comm target the lab opens.
TARGET = "lsstbox.link"

#: A panel draws at most this many rows of a variable (as :attr:`SkyView.max_points`).
MAX_POINTS = 100_000

#: At most this many columns in a ``row`` reply.
MAX_ROW_COLUMNS = 60

LAZY_REASON = "lazy: compute or select a cone first"
TABLES_HINT = "draw a pandas DataFrame, an astropy Table or a pyarrow Table with RA/Dec columns"
DEFAULT_TARGET = "sky_selection"

#: The requests of the lab (``h_<type>`` below).
REQUESTS = frozenset({"variables", "draw", "undraw", "forget_panel", "selection", "row"})

_HIDDEN = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
_NOT_VARIABLES = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)
_JOB_CACHE = 4


class LinkError(Exception):
    """A request the kernel refuses; its message goes back to the panel as it is."""


# ---------------------------------------------------------------------------------- tables
@dataclass
class _Info:
    """What a variable is, as the panels see it."""

    kind: str | None  # pandas, astropy, pyarrow, numpy, lazy; None: not a table
    rows: int | None
    columns: list[str]
    ra: str | None
    dec: str | None

    def problem(self) -> str | None:
        """Why the table cannot be drawn (short, for the listing), or None."""
        if self.kind is None:
            return "not a table"
        if self.kind == "lazy":
            return LAZY_REASON
        if self.ra is None and self.dec is None:
            return "no RA/Dec columns"
        if self.ra is None:
            return "no RA column"
        if self.dec is None:
            return "no Dec column"
        if self.rows is not None and self.rows > MAX_POINTS:
            return f"{self.rows:,} rows: more than {MAX_POINTS:,} (select or sample first)"
        return None


def _module(name: str) -> Any:
    """A module if it is loaded already (a variable of its type exists only then)."""
    return sys.modules.get(name)


def _is_lazy(obj: Any) -> bool:
    cls = type(obj)
    if callable(getattr(cls, "compute", None)) and hasattr(cls, "npartitions"):
        return True  # dask collections, kernel_lib's Catalog and LazyFrame
    catalog = _module("kernel_lib.catalog")
    return catalog is not None and isinstance(obj, catalog.Catalog | catalog.LazyFrame)


def _kind(obj: Any) -> str | None:
    if isinstance(obj, _NOT_VARIABLES) or isinstance(obj, str | bytes | int | float | complex):
        return None
    pd = _module("pandas")
    if pd is not None and isinstance(obj, pd.DataFrame):
        return "pandas"
    at = _module("astropy.table")
    if at is not None and isinstance(obj, at.Table):
        return "astropy"
    pa = _module("pyarrow")
    if pa is not None and isinstance(obj, pa.Table):
        return "pyarrow"
    if isinstance(obj, np.ndarray) and obj.dtype.names and obj.ndim == 1:
        return "numpy"
    if _is_lazy(obj):
        return "lazy"
    return None


def _columns(obj: Any, kind: str) -> list[str]:
    if kind == "pandas":
        return [str(c) for c in obj.columns]
    if kind == "astropy":
        return list(obj.colnames)
    if kind == "pyarrow":
        return list(obj.column_names)
    if kind == "numpy":
        return list(obj.dtype.names)
    # lazy: whatever it tells without computing
    for attr in ("columns", "meta"):
        try:
            value = getattr(obj, attr)
            value = getattr(value, "columns", value)
            return [str(c) for c in value]
        except Exception:  # a lazy object that cannot list its columns cheaply
            pass
    return []


def _rows(obj: Any, kind: str) -> int | None:
    if kind == "lazy":
        return None
    if kind == "pyarrow":
        return int(obj.num_rows)
    return len(obj)


def _inspect(obj: Any, ra: str | None = None, dec: str | None = None) -> _Info:
    """The kind, size and position columns of ``obj`` (``ra``/``dec``: wanted columns, kept
    only if present; else guessed)."""
    kind = _kind(obj)
    if kind is None:
        return _Info(None, None, [], None, None)
    columns = _columns(obj, kind)
    if ra is None or ra not in columns:
        ra = getattr(obj, "ra_column", None) if kind == "lazy" else None
        ra = ra if ra in columns else guess_column(columns, RA_NAMES)
    if dec is None or dec not in columns:
        dec = getattr(obj, "dec_column", None) if kind == "lazy" else None
        dec = dec if dec in columns else guess_column(columns, DEC_NAMES)
    return _Info(kind, _rows(obj, kind), columns, ra, dec)


def _listing(name: str, obj: Any) -> dict[str, Any] | None:
    info = _inspect(obj)
    if info.kind is None:
        return None
    problem = info.problem()
    return {
        "name": name,
        "kind": info.kind,
        "rows": info.rows,
        "columns": len(info.columns),
        "ra": info.ra,
        "dec": info.dec,
        "drawable": problem is None,
        "reason": problem,
    }


def _some(columns: list[str], n: int = 20) -> str:
    shown = ", ".join(columns[:n])
    return shown + (f", … ({len(columns) - n} more)" if len(columns) > n else "") if columns else "(none)"


def _drawable(name: str, obj: Any, ra: str | None = None, dec: str | None = None) -> _Info:
    """``obj``'s description, or :class:`LinkError` saying why it cannot be drawn."""
    info = _inspect(obj)
    if info.kind is None:
        raise LinkError(f"{name!r} is a {type(obj).__name__}, not a table: {TABLES_HINT}")
    if info.kind == "lazy":
        raise LinkError(f"{name!r} is {LAZY_REASON}")
    for wanted in (ra, dec):
        if wanted is not None and wanted not in info.columns:
            raise LinkError(f"{name!r} has no column {wanted!r}: its columns are {_some(info.columns)}")
    info.ra, info.dec = ra or info.ra, dec or info.dec
    if info.ra is None or info.dec is None:
        missing = (
            "RA/Dec columns" if info.ra is None and info.dec is None else "RA" if info.ra is None else "Dec"
        )
        if missing != "RA/Dec columns":
            missing += " column"
        raise LinkError(
            f"{name!r} has no {missing} (looked for {', '.join(RA_NAMES[:3])}, … and "
            f"{', '.join(DEC_NAMES[:3])}, …): its columns are {_some(info.columns)}; choose them"
        )
    if info.rows is not None and info.rows > MAX_POINTS:
        raise LinkError(
            f"{name!r} has {info.rows:,} rows, more than a sky panel draws ({MAX_POINTS:,}): "
            "select or sample the rows first"
        )
    return info


def _coords(table: Any, ra: str, dec: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        ra_v = np.asarray(_column(table, ra), dtype="f8")
        dec_v = np.asarray(_column(table, dec), dtype="f8")
    except (TypeError, ValueError) as e:
        raise LinkError(f"the columns {ra!r}/{dec!r} are not numbers in degrees ({e})") from None
    return ra_v, dec_v


def _fingerprint(ra: np.ndarray, dec: np.ndarray) -> bytes:
    """A cheap digest of the positions (about 1 ms for 100,000 rows)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(len(ra).to_bytes(8, "little"))
    h.update(np.ascontiguousarray(ra, dtype="<f8").data)
    h.update(np.ascontiguousarray(dec, dtype="<f8").data)
    return h.digest()


# ---------------------------------------------------------------------------------- layers
@dataclass
class _Watch:
    """A layer drawn from a variable, watched for changes after each cell."""

    panel: str | None  # None: every sky panel (show_on_sky)
    layer: str
    var: str | None  # the variable it was drawn from (None: not bound to one, never updated)
    table: Any
    ra: str
    dec: str
    rows: np.ndarray  # table position of each row sent, by its index in the panel
    ids: np.ndarray
    id_column: str | None
    n: int  # rows of the table (sent or not)
    fingerprint: bytes
    color: str
    size: int
    shape: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.panel or "*", self.layer)


# ---------------------------------------------------------------------------------- values
def _json(value: Any, depth: int = 0) -> Any:
    """A JSON-safe version of one cell (:func:`~kernel_lib.widgets.tables.json_scalar`); arrays,
    lists and mappings become (short) lists and dicts, two levels deep."""
    out = json_scalar(value, lambda v: _json(v, depth))
    if out is not NOT_SCALAR:
        return out
    if isinstance(value, np.ndarray):
        value = value.tolist()
        if not isinstance(value, list):  # a 0-d array
            return _json(value, depth + 1)
    if isinstance(value, list | tuple) and depth < 2:
        return [_json(v, depth + 1) for v in value[:100]]
    if isinstance(value, Mapping) and depth < 2:
        return {str(k): _json(v, depth + 1) for k, v in list(value.items())[:100]}
    return str(value)[:500]


def _cell(table: Any, column: str, j: int, position: int) -> Any:
    """The value of one cell (``j``: the column's number) in the table's own type."""
    if hasattr(table, "colnames"):  # astropy (before iloc: its Table.iloc needs an index)
        return table[column][position]
    if hasattr(table, "iloc"):
        return table.iloc[position, j]
    if hasattr(table, "column_names"):  # pyarrow
        return table.column(j)[position].as_py()
    return np.asarray(table)[column][position]


def _with_region(table: Any, region: Any) -> Any:
    """``table`` carrying the selection's region (DataFrame ``.attrs``, astropy ``.meta``)."""
    if region is None:
        return table
    try:
        if hasattr(table, "meta") and hasattr(table, "colnames"):  # astropy
            table.meta["region"] = region
        elif hasattr(table, "attrs") and hasattr(table, "iloc"):  # pandas
            table.attrs["region"] = region
        elif hasattr(table, "replace_schema_metadata"):  # pyarrow: bytes only
            import json

            meta = dict(table.schema.metadata or {})
            meta[b"region"] = json.dumps(region).encode()
            table = table.replace_schema_metadata(meta)
    except Exception:  # the region is a courtesy; the rows are what was asked for
        pass
    return table


def _one_line(e: BaseException) -> str:
    if isinstance(e, LinkError):
        text = str(e)
    else:
        detail = e.args[0] if isinstance(e, KeyError) and e.args else e
        text = f"{type(e).__name__}: {detail}"
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    return (lines[0] if lines else type(e).__name__)[:1000]


# ---------------------------------------------------------------------------------- the link
def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _user_ns() -> dict[str, Any]:
    ip = _shell()
    if ip is None:
        raise RuntimeError("kernel_lib.link works in an IPython kernel only")
    ns: dict[str, Any] = ip.user_ns
    return ns


@dataclass
class _Queued:
    key: tuple[str, str] | None
    content: dict[str, Any]
    buffers: list[bytes]


@dataclass
class _Links:
    comms: dict[str, Any] = field(default_factory=dict)  # comm id -> open comm
    watches: dict[tuple[str, str], _Watch] = field(default_factory=dict)
    queue: list[_Queued] = field(default_factory=list)  # sent when no comm was open
    jobs: dict[str, Any] = field(default_factory=dict)  # job URL -> its result (astropy Table)
    # called with (table, positions) for each layer drawn from a variable when a panel selects;
    # a listener returns the name of a variable it assigned too, or None
    listeners: list[Callable[[Any, np.ndarray], str | None]] = field(default_factory=list)
    registered_events: bool = False

    # ----------------------------------------------------------------- comms
    def on_open(self, comm: Any, msg: Any) -> None:
        self.comms[comm.comm_id] = comm
        comm.on_msg(lambda m: self.on_msg(comm, m))
        comm.on_close(lambda m: self.comms.pop(comm.comm_id, None))
        queued, self.queue = self.queue, []
        for q in queued:
            self._send(comm, q.content, q.buffers)

    def _send(self, comm: Any, content: dict[str, Any], buffers: list[bytes] | None = None) -> bool:
        try:
            comm.send(content, buffers=buffers or None)
            return True
        except Exception:  # a comm closed under us: forget it
            self.comms.pop(getattr(comm, "comm_id", ""), None)
            return False

    def broadcast(self, content: dict[str, Any], buffers: list[bytes] | None = None, key: Any = None) -> int:
        """Send to every open link; with none, queue (a newer message of a layer replaces its
        queued ones). The number of links it reached."""
        sent = sum(self._send(c, content, buffers) for c in list(self.comms.values()))
        if not sent:
            if key is not None and content.get("type") in ("add_catalog", "remove_layer"):
                self.queue = [q for q in self.queue if q.key != key]
            self.queue.append(_Queued(key, content, list(buffers or [])))
        return sent

    def on_msg(self, comm: Any, msg: Any) -> None:
        data: Any = None
        try:
            data = msg["content"]["data"]
            if not isinstance(data, dict):
                return
            kind = str(data.get("type"))
            handler = getattr(self, f"h_{kind}", None) if kind in REQUESTS else None
            if handler is None:
                raise LinkError(f"unknown request {data.get('type')!r}")
            reply = handler(comm, data, [bytes(b) for b in msg.get("buffers") or []])
        except Exception as e:
            reply = {"type": "error", "message": _one_line(e)}
        if reply is not None:
            if isinstance(data, dict) and "req" in data:
                reply = {**reply, "req": data["req"]}
            self._send(comm, reply)

    # ----------------------------------------------------------------- requests
    def h_variables(self, comm: Any, data: dict[str, Any], buffers: list[bytes]) -> dict[str, Any]:
        out = []
        for name, obj in list(_user_ns().items()):
            if name.startswith("_") or name in _HIDDEN or isinstance(obj, _NOT_VARIABLES):
                continue
            try:
                entry = _listing(name, obj)
            except Exception:  # a strange object: not listed
                continue
            if entry is not None:
                out.append(entry)
        return {"type": "variables", "variables": out}

    def h_draw(self, comm: Any, data: dict[str, Any], buffers: list[bytes]) -> dict[str, Any]:
        name = str(data.get("name") or "")
        ns = _user_ns()
        if name not in ns:
            raise LinkError(f"no variable {name!r} in the kernel")
        panel = data.get("panel")
        panel = None if panel is None else str(panel)
        layer = str(data.get("layer") or name)
        shape = str(data.get("shape") or "circle")
        if shape not in SHAPES:
            raise LinkError(f"shape must be one of {', '.join(SHAPES)}, not {shape!r}")
        obj = ns[name]
        info = _drawable(name, obj, _opt_str(data.get("ra")), _opt_str(data.get("dec")))
        color, size = data.get("color"), int(data.get("size") or 8)
        watch, content, bufs = self._draw(
            obj, info, panel, layer, var=name, label=name, color=color, size=size, shape=shape
        )
        self._send(comm, content, bufs)
        return {
            "type": "drawn_var",
            "panel": panel,
            "layer": layer,
            "name": name,
            "rows": len(watch.rows),
            "skipped": watch.n - len(watch.rows),
        }

    def h_undraw(self, comm: Any, data: dict[str, Any], buffers: list[bytes]) -> None:
        panel = data.get("panel")
        self.watches.pop((str(panel) if panel is not None else "*", str(data.get("layer"))), None)

    def h_forget_panel(self, comm: Any, data: dict[str, Any], buffers: list[bytes]) -> None:
        panel = str(data.get("panel"))
        for key in [k for k in self.watches if k[0] == panel]:
            del self.watches[key]

    def h_selection(self, comm: Any, data: dict[str, Any], buffers: list[bytes]) -> dict[str, Any]:
        target = str(data.get("target") or DEFAULT_TARGET)
        if not target.isidentifier() or keyword.iskeyword(target):
            raise LinkError(f"{target!r} is not a valid Python variable name")
        panel = data.get("panel")
        region = data.get("region")
        indices = data.get("indices") or {}
        jobs = data.get("jobs") or {}
        if not isinstance(indices, Mapping):
            raise LinkError("indices must map layers to row numbers")
        parts: dict[str, Any] = {}
        counts: dict[str, int] = {}
        ignored: list[str] = []
        selected: list[tuple[Any, np.ndarray]] = []  # (a variable's table, its rows) for listeners
        for layer, idx in indices.items():
            watch = self._watch(panel, str(layer))
            if watch is not None:
                positions = watch.rows[_valid(idx, len(watch.rows), layer)]
                table = watch.table
                selected.append((table, positions))
            elif isinstance(jobs, Mapping) and jobs.get(layer):
                table = self._job_result(str(jobs[layer]))
                positions = _valid(idx, _rows(table, "astropy") or 0, layer)
            else:
                ignored.append(str(layer))
                continue
            parts[str(layer)] = _with_region(_take(table, positions), region)
            counts[str(layer)] = len(positions)
        if not parts:
            raise LinkError(
                "nothing to assign: "
                + (
                    f"the selected layers ({', '.join(ignored)}) are not drawn from this kernel's "
                    "variables and have no job to fetch"
                    if ignored
                    else "no layer was selected"
                )
            )
        _user_ns()[target] = next(iter(parts.values())) if len(parts) == 1 else parts
        also = self._tell_listeners(selected)
        return {
            "type": "assigned",
            "name": target,
            "rows": sum(counts.values()),
            "layers": counts,
            "ignored": ignored,
            "also": also,
        }

    def h_row(self, comm: Any, data: dict[str, Any], buffers: list[bytes]) -> dict[str, Any]:
        layer = str(data.get("layer"))
        watch = self._watch(data.get("panel"), layer)
        if watch is None:
            raise LinkError(f"no layer {layer!r} drawn from this kernel's variables")
        try:
            index = int(data.get("index"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise LinkError(f"not a row number: {data.get('index')!r}") from None
        if not 0 <= index < len(watch.rows):
            raise LinkError(f"no row {index} in layer {layer!r} (it has {len(watch.rows)} rows)")
        position = int(watch.rows[index])
        columns = _inspect(watch.table).columns
        row = {c: _json(_cell(watch.table, c, j, position)) for j, c in enumerate(columns[:MAX_ROW_COLUMNS])}
        return {"type": "row", "layer": layer, "index": index, "id": _json(watch.ids[index]), "row": row}

    # ----------------------------------------------------------------- other views
    def select_rows(self, table: Any, positions: Any, message: str | None = None) -> int:
        """Highlight the rows at ``positions`` (of ``table``) in each layer drawn from ``table``
        (this very object); the number of layers told (nothing is queued for panels to come)."""
        positions = np.asarray(positions, dtype="i8").ravel()
        told = 0
        for watch in list(self.watches.values()):
            if watch.table is not table:
                continue
            rows = np.flatnonzero(np.isin(watch.rows, positions))
            content: dict[str, Any] = {
                "type": "select_rows",
                "panel": watch.panel,
                "layer": watch.layer,
                "rows": rows.tolist(),
            }
            if message:
                content["message"] = message
            if sum(self._send(c, content) for c in list(self.comms.values())):
                told += 1
        return told

    def _tell_listeners(self, selected: list[tuple[Any, np.ndarray]]) -> list[str]:
        """Call the listeners; the variables they assigned too."""
        also: list[str] = []
        for table, positions in selected:
            for listener in list(self.listeners):
                try:
                    name = listener(table, positions)
                except Exception as e:  # a broken view must not undo the assignment
                    print(
                        f"lsstbox: a linked view failed on the sky selection: {_one_line(e)}", file=sys.stderr
                    )
                    continue
                if name and name not in also:
                    also.append(str(name))
        return also

    # ----------------------------------------------------------------- helpers
    def _draw(
        self,
        table: Any,
        info: _Info,
        panel: str | None,
        layer: str,
        *,
        var: str | None,
        label: str,
        color: str | None,
        size: int = 8,
        shape: str = "circle",
    ) -> tuple[_Watch, dict[str, Any], list[bytes]]:
        """Layer ``layer`` of ``table``, watched in place of the one of that name (whose colour it
        keeps unless given one; a new layer gets the panel's next), and its ``add_catalog``
        message (+ buffers)."""
        old = self.watches.get((panel or "*", layer))
        color = str(color or (old.color if old else self._next_colour(panel)))
        assert info.ra is not None and info.dec is not None
        ra_v, dec_v = _coords(table, info.ra, info.dec)
        keep = np.isfinite(ra_v) & np.isfinite(dec_v) & (np.abs(dec_v) <= 90)
        rows = np.flatnonzero(keep)
        id_col = _pick_id_column(info.columns, None)
        if id_col is not None:
            ids = np.asarray(_column(table, id_col))[rows]
        elif hasattr(table, "index") and getattr(table.index, "dtype", np.dtype("O")).kind in "iu":
            ids = np.asarray(table.index)[rows]
        else:
            ids = rows.astype("i8")
        coords, buffers = _positions(ra_v[rows] % 360.0, dec_v[rows])
        watch = _Watch(
            panel=panel,
            layer=layer,
            var=var,
            table=table,
            ra=info.ra,
            dec=info.dec,
            rows=rows,
            ids=ids,
            id_column=id_col,
            n=len(ra_v),
            fingerprint=_fingerprint(ra_v, dec_v),
            color=color,
            size=size,
            shape=shape,
        )
        content = {
            "type": "add_catalog",
            "panel": panel,
            "layer": layer,
            "n": len(rows),
            "color": color,
            "size": size,
            "shape": shape,
            **coords,
            "source": {"kind": "variable", "name": label},
            "id_column": id_col,
        }
        self.watches[watch.key] = watch
        return watch, content, buffers

    def _watch(self, panel: Any, layer: str) -> _Watch | None:
        if panel is not None and (str(panel), layer) in self.watches:
            return self.watches[(str(panel), layer)]
        return self.watches.get(("*", layer))

    def _next_colour(self, panel: str | None) -> str:
        used = {w.color for w in self.watches.values() if w.panel == panel}
        free = [c for c in PALETTE if c not in used]
        return free[0] if free else PALETTE[len(used) % len(PALETTE)]

    def _job_result(self, url: str) -> Any:
        if url not in self.jobs:
            from .rsp import retrieve_query

            try:
                table = retrieve_query(url).fetch_result().to_table()
            except Exception as e:
                raise LinkError(f"could not fetch the result of {url}: {_one_line(e)}") from None
            while len(self.jobs) >= _JOB_CACHE:
                self.jobs.pop(next(iter(self.jobs)))
            self.jobs[url] = table
        return self.jobs[url]

    # ----------------------------------------------------------------- after each cell
    def after_cell(self, *_: Any) -> None:
        if not self.watches:
            return
        try:
            ns = _user_ns()
        except Exception:
            return
        for key, watch in list(self.watches.items()):
            if watch.var is None or self.watches.get(key) is not watch:
                continue
            try:
                self._update(watch, ns)
            except Exception as e:  # never into the cell's output: tell the panel, stop watching
                self._remove(watch, f"{watch.var!r} could not be checked ({_one_line(e)}): layer removed")

    def _unchanged(self, watch: _Watch, obj: Any) -> bool:
        if obj is not watch.table:
            return False
        info = _inspect(obj, watch.ra, watch.dec)
        if info.ra != watch.ra or info.dec != watch.dec or info.rows != watch.n:
            return False
        return _fingerprint(*_coords(obj, watch.ra, watch.dec)) == watch.fingerprint

    def _update(self, watch: _Watch, ns: Mapping[str, Any]) -> None:
        var = watch.var
        assert var is not None
        if var not in ns:
            self._remove(watch, f"{var!r} no longer exists in the kernel: layer removed")
            return
        obj = ns[var]
        if self._unchanged(watch, obj):
            return
        info = _inspect(obj, watch.ra, watch.dec)
        problem = info.problem()
        if problem == "not a table":
            problem = f"now a {type(obj).__name__}, not a table"
        if problem is not None:
            self._remove(watch, f"{var!r} can no longer be drawn ({problem}): layer removed")
            return
        new, content, buffers = self._draw(
            obj,
            info,
            watch.panel,
            watch.layer,
            var=var,
            label=var,
            color=watch.color,
            size=watch.size,
            shape=watch.shape,
        )
        if (new.fingerprint, new.n, new.ra, new.dec) == (watch.fingerprint, watch.n, watch.ra, watch.dec):
            return  # a new object with the same positions: nothing to redraw
        self.broadcast(content, buffers, watch.key)
        self.broadcast(
            {
                "type": "notice",
                "panel": watch.panel,
                "layer": watch.layer,
                "message": f"{var!r} changed: {len(new.rows):,} rows redrawn",
            },
            key=watch.key,
        )

    def _remove(self, watch: _Watch, message: str) -> None:
        self.watches.pop(watch.key, None)
        self.broadcast({"type": "remove_layer", "panel": watch.panel, "layer": watch.layer}, key=watch.key)
        self.broadcast(
            {"type": "notice", "panel": watch.panel, "layer": watch.layer, "message": message}, key=watch.key
        )


def _opt_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _valid(indices: Any, n: int, layer: Any) -> np.ndarray:
    """Row numbers as an index array, each checked against the layer's ``n`` rows."""
    try:
        idx = np.asarray(list(indices), dtype="i8")
    except (TypeError, ValueError):
        raise LinkError(f"the rows of layer {layer!r} must be row numbers") from None
    bad = idx[(idx < 0) | (idx >= n)]
    if len(bad):
        raise LinkError(
            f"no row {int(bad[0])} in layer {layer!r} (it has {n} rows): redraw it and select again"
        )
    return idx


_LINKS = _Links()


def register() -> None:
    """Accept the lab's link comms in this kernel and watch the drawn variables (idempotent)."""
    ip = _shell()
    if ip is None or getattr(ip, "kernel", None) is None:
        raise RuntimeError("kernel_lib.link.register() works in an IPython kernel only")
    import comm

    comm.get_comm_manager().register_target(TARGET, _LINKS.on_open)
    if not _LINKS.registered_events:
        ip.events.register("post_run_cell", _LINKS.after_cell)
        _LINKS.registered_events = True


def select_rows(table: Any, positions: Any, message: str | None = None) -> int:
    """Highlight the rows of ``table`` at ``positions`` (0-based row positions, as ``iloc``) in
    every sky panel layer drawn from this very object (by :func:`show_on_sky` or the panel's Draw);
    an empty list clears the highlight. ``message`` is shown in the panels. Returns the number of
    layers told; 0 when no linked panel shows ``table``."""
    return _LINKS.select_rows(table, positions, message)


def on_selection(callback: Callable[[Any, np.ndarray], str | None]) -> Callable[[], None]:
    """Call ``callback(table, positions)`` whenever a region selected in a sky panel takes rows
    of a layer drawn from a notebook variable (``table`` is the drawn object, ``positions`` its
    selected row positions); the callback returns the name of a variable it assigned too (shown
    in the panel), or ``None``. Returns a function that stops the calls."""
    _LINKS.listeners.append(callback)

    def stop() -> None:
        if callback in _LINKS.listeners:
            _LINKS.listeners.remove(callback)

    return stop


def show_on_sky(
    table: Any,
    name: str | None = None,
    *,
    ra: str | None = None,
    dec: str | None = None,
    color: str | None = None,
    panel: str | None = None,
) -> str:
    """Draw ``table`` (a pandas DataFrame, an astropy or pyarrow Table with RA/Dec columns) in
    the sky panels linked to this notebook, as a layer watched like those drawn from the panel.

    ``name`` is the layer's name; by default the name of the notebook variable bound to
    ``table``. ``ra``/``dec`` name the position columns (default: guessed, e.g. ``coord_ra``,
    ``ra``, ``RAJ2000``); ``panel`` the id of one panel (default: every sky panel). Before any
    panel linked to this kernel, the layer is queued and drawn when one links.

    Returns a short sentence saying whether it was delivered or queued.
    """
    register()
    ns = _user_ns()
    var = next((k for k, v in ns.items() if v is table and not k.startswith("_")), None)
    if name is None:
        if var is None:
            raise ValueError(
                "show_on_sky: this table is not bound to a notebook variable: pass name='...' "
                "(the layer's name)"
            )
        name = var
    name = str(name)
    info = _drawable(name, table, ra, dec)
    watch, content, buffers = _LINKS._draw(table, info, panel, name, var=var, label=var or name, color=color)
    sent = _LINKS.broadcast(content, buffers, watch.key)
    rows = f"{len(watch.rows):,} rows"
    if sent:
        return f"{name!r}: {rows} sent to the linked sky panels"
    return f"{name!r}: {rows} queued; drawn when a sky panel links to this notebook"
