"""The message queue the box's anywidgets share: nothing is lost before a view is rendered.

A widget's custom messages (``widget.send``) reach only the views that exist when they are sent;
a call made in the cell that creates the widget, before it is displayed, would be lost (the
lesson of ipyaladin). :class:`QueuedWidget` keeps what it posts until a view says ``ready``,
then delivers it, in order, to that view; messages posted as *persistent* (a layer, an overlay)
are also replayed to every view rendered later (a second ``display``, a page reload), tagged
with that view's id so that the views already up ignore them.

Protocol: the view sends ``{type: 'ready', view}`` once it can apply messages and
``{type: 'closed', view}`` when it goes; every other message from the view goes to
:meth:`QueuedWidget._on_message`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from .tables import NOT_SCALAR, json_scalar

STATIC = Path(__file__).with_name("static")


def _asset(name: str, fallback: str) -> Path | str:
    """A built front-end file of ``static/`` (its path), else ``fallback`` (ESM or CSS text)."""
    path = STATIC / name
    return path if path.is_file() else fallback


def missing_bundle_esm(widget: str, bundle: str) -> str:
    """The ESM a widget shows when its bundle was never built (a checkout without setup.sh)."""
    return (
        "export default { render({ el }) { el.textContent = "
        f'"{widget}: the front end (kernel_lib/widgets/static/{bundle}) is not built; "'
        ' + "run scripts/setup.sh, or `npm ci && npm run build` in js/widgets."; } };'
    )


@dataclass
class _Msg:
    content: dict[str, Any]
    buffers: list[bytes]
    layer: str | None = None
    persistent: bool = False  # replayed to every view that becomes ready later


class QueuedWidget(anywidget.AnyWidget):
    """An anywidget whose custom messages wait for a view (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        self._log: list[_Msg] = []
        self._views: set[str] = set()
        super().__init__(**kwargs)
        self.on_msg(self._on_view_msg)

    @property
    def ready(self) -> bool:
        """True once a view said it is ready (and has not closed since)."""
        return bool(self._views)

    @property
    def pending(self) -> int:
        """Messages waiting for a view (persistent ones are kept for later views too; they count once)."""
        return len(self._log) if not self._views else 0

    def _post(
        self,
        content: dict[str, Any],
        buffers: Sequence[bytes] = (),
        *,
        layer: str | None = None,
        persistent: bool = False,
    ) -> None:
        """Send now to the views, or keep until one is ready; ``persistent`` messages are kept for
        later views too, a new one of the same ``layer`` replacing the old."""
        msg = _Msg(dict(content), list(buffers), layer, persistent)
        if persistent and layer is not None:  # a new version of a layer replaces the old one
            self._log = [m for m in self._log if m.layer != layer]
        if self._views:
            self._deliver(msg)
            if persistent:
                self._log.append(msg)
        else:
            self._log.append(msg)

    def _forget(self, layer: str) -> None:
        """Drop what is kept of ``layer`` (queued or for later views)."""
        self._log = [m for m in self._log if m.layer != layer]

    def _on_ready(self, view: str) -> None:
        self._views.add(view)
        # in order: everything queued while no view listened, then only the persistent ones stay
        for m in self._log:
            self._deliver(m, view)
        self._log = [m for m in self._log if m.persistent]

    def _deliver(self, msg: _Msg, view: str | None = None) -> None:
        self.send({**msg.content, "view": view} if view else msg.content, msg.buffers)
        self._delivered(msg)

    def _delivered(self, msg: _Msg) -> None:
        """Called after each delivery (a hook for timings)."""

    def _on_view_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind, view = content.get("type"), str(content.get("view", ""))
        if kind == "ready":
            self._on_ready(view)
        elif kind == "closed":
            self._views.discard(view)
        else:
            self._on_message(str(kind), content, view, list(buffers or []))

    def _on_message(self, kind: str, content: dict[str, Any], view: str, buffers: list[Any]) -> None:
        """A message of the view other than ``ready``/``closed``."""


class RaDec(t.TraitType):
    """An ICRS position ``(ra, dec)`` in degrees; also accepts an astropy ``SkyCoord``."""

    info_text = "an (ra, dec) pair in degrees or an astropy SkyCoord"
    default_value: Any = (0.0, 0.0)

    def validate(self, obj: Any, value: Any) -> tuple[float, float]:
        if hasattr(value, "icrs") and hasattr(value, "frame"):  # SkyCoord
            icrs = value.icrs
            value = (icrs.ra.deg, icrs.dec.deg)
        try:
            ra, dec = (float(v) for v in value)
        except (TypeError, ValueError):
            self.error(obj, value)
        if not (math.isfinite(ra) and math.isfinite(dec) and -90.0 <= dec <= 90.0):
            self.error(obj, value)
        return (ra % 360.0, dec)


def json_value(value: Any) -> Any:
    """One table cell as JSON for a view (:func:`~kernel_lib.widgets.tables.json_scalar`): arrays
    and lists as flat lists of their first 100 values, anything else as a (short) string."""
    out = json_scalar(value, json_value)
    if out is not NOT_SCALAR:
        return out
    if isinstance(value, np.ndarray):
        return [json_value(v) for v in value.ravel()[:100].tolist()]
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value[:100]]
    return str(value)[:500]


def column_values(table: Any, name: str) -> list[Any]:
    """A column of a (small) table as JSON values, masked entries as ``None``."""
    col = table[name]
    mask = getattr(col, "mask", None)
    if hasattr(col, "to_pylist"):  # pyarrow (Chunked)Array: nulls are None
        return [json_value(v) for v in col.to_pylist()]
    values = getattr(col, "value", col)  # astropy Column/Quantity
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        values = values.to_numpy()
    values = np.asarray(values)
    out = [json_value(v) for v in (values.tolist() if values.dtype.kind in "biuf" else values)]
    if mask is not None and np.ndim(mask) and np.any(mask):
        out = [None if m else v for v, m in zip(out, np.asarray(mask).ravel(), strict=False)]
    return out


def row_dict(table: Any, columns: Sequence[str], position: int) -> dict[str, Any]:
    """Row ``position`` of a table as ``{column: JSON value}``."""
    from .tables import _take

    one = _take(table, np.array([int(position)], dtype="i8"))
    return {c: (column_values(one, c) or [None])[0] for c in columns}
