"""``SkyView``: the release's HiPS maps in Aladin Lite v3, with catalogs, MOCs and footprints.

An anywidget; the front end (``static/sky.js``, built from ``js/widgets/`` with esbuild, Aladin Lite
bundled in) talks only to the Jupyter server that serves the page: the HiPS of the release at
``<base url>lsstbox/hips/<id>/``, its MOCs at ``<base url>lsstbox/moc/<id>.fits``.

Layers are sent to the front end as custom widget messages with binary buffers (RA/Dec as float32
offsets from a reference point, or float64 for catalogs wider than 10 deg); the rows' ids stay in
the kernel, which maps the row numbers a selection or a click reports back to them. Anything sent
before a view exists is kept and delivered, in order, once a view says it is ready; layers are
also replayed to every view rendered later (a second ``display``, a page reload), so no call is
lost.

Examples
--------
>>> from jupyterlab_lsp.widgets import SkyView                       # doctest: +SKIP
>>> view = SkyView(target=(53.16, -28.1), fov=0.05, survey="color")  # doctest: +SKIP
>>> view.add_catalog(objects_df, name="Object")                     # doctest: +SKIP
>>> view                                                            # doctest: +SKIP
>>> view.selection["ids"]["Object"]     # after a selection in the view   # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import traitlets as t

from .base import QueuedWidget, RaDec, _Msg
from .tables import (  # noqa: F401  (re-exported: SkyView's helpers used to live here)
    F32_SPAN,
    ID_COLUMNS,
    PALETTE,
    SHAPES,
    _column,
    _columns_of,
    _f64,
    _pick_id_column,
    _positions,
    _sky_rows,
    _take,
)

STATIC = Path(__file__).with_name("static")

#: What the widget shows when the bundle was never built (a source checkout without setup.sh).
MISSING_BUNDLE_ESM = """
export default {
  render({ el }) {
    el.textContent = "SkyView: the front end (kernel_lib/widgets/static/sky.js) is not built; "
      + "run scripts/setup.sh, or `npm ci && npm run build` in js/widgets.";
  }
};
"""

_ID_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")


def _asset(name: str, fallback: str) -> Path | str:
    path = STATIC / name
    return path if path.is_file() else fallback


@lru_cache(maxsize=4)
def _release_manifest(path: str) -> dict[str, Any]:
    try:
        return dict(json.loads((Path(path) / "manifest.json").read_text()))
    except (OSError, ValueError):
        return {}


def _release() -> dict[str, Any]:
    """The manifest of ``$LSSTBOX_RELEASE`` (the release the Jupyter server serves), or ``{}``."""
    path = os.environ.get("LSSTBOX_RELEASE")
    return _release_manifest(path) if path else {}


@dataclass
class _Layer:
    kind: str
    ids: np.ndarray | list[Any]  # id of each row the front end got, by its index there
    rows: np.ndarray  # position of each of those rows in the table given
    table: Any = None
    posted_at: float = field(default_factory=time.perf_counter)  # the call (perf_counter)
    sent_at: float | None = None  # last sent to a view (epoch seconds)


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_FRAME = r"(?:ICRS|FK5|J2000|UNKNOWNFRAME|GEOCENTER|BARYCENTER|TOPOCENTER|\s)*"


def _circle_polygon(ra: float, dec: float, radius: float, n: int = 48) -> list[tuple[float, float]]:
    """A small circle on the sphere as an ``n``-gon (vertices in degrees)."""
    d2r = math.pi / 180
    r, ra0, dec0 = radius * d2r, ra * d2r, dec * d2r
    out = []
    for k in range(n):
        pa = 2 * math.pi * k / n
        sin_dec = math.sin(dec0) * math.cos(r) + math.cos(dec0) * math.sin(r) * math.cos(pa)
        dec_k = math.asin(max(-1.0, min(1.0, sin_dec)))
        ra_k = ra0 + math.atan2(
            math.sin(pa) * math.sin(r) * math.cos(dec0), math.cos(r) - math.sin(dec0) * sin_dec
        )
        out.append(((ra_k / d2r) % 360.0, dec_k / d2r))
    return out


def parse_s_region(text: str) -> list[tuple[float, float]] | None:
    """The vertices of an ObsCore ``s_region`` (STC-S ``POLYGON``, ``CIRCLE`` or ``BOX``), or None."""
    if not isinstance(text, str):
        return None
    m = re.match(rf"^\s*(POLYGON|CIRCLE|BOX)\b{_FRAME}(.*)$", text, re.IGNORECASE)
    if not m:
        return None
    shape = m.group(1).upper()
    nums = [float(v) for v in re.findall(_NUM, m.group(2))]
    if shape == "POLYGON" and len(nums) >= 6 and len(nums) % 2 == 0:
        return [(nums[i] % 360.0, nums[i + 1]) for i in range(0, len(nums), 2)]
    if shape == "CIRCLE" and len(nums) == 3 and nums[2] > 0:
        return _circle_polygon(nums[0], nums[1], nums[2])
    if shape == "BOX" and len(nums) == 4:
        ra, dec, w, h = nums
        cos_dec = max(math.cos(math.radians(dec)), 1e-9)
        dra = w / 2 / cos_dec
        return [
            ((ra - dra) % 360.0, dec - h / 2),
            ((ra + dra) % 360.0, dec - h / 2),
            ((ra + dra) % 360.0, dec + h / 2),
            ((ra - dra) % 360.0, dec + h / 2),
        ]
    return None


class SkyView(QueuedWidget):
    """Aladin Lite on the release's HiPS maps, with overlays, selection and clicks.

    Parameters
    ----------
    target : (ra, dec) in degrees or a SkyCoord; default the release's field centre
    fov : field of view (the view's width), degrees
    survey : a HiPS id of the release: ``u g r i z y color``
    height : height of the view in pixels

    Traits the kernel reads: ``target`` and ``fov`` follow the view as the user pans and zooms;
    ``overlays`` lists the layers (with ``drawn`` once a view drew them); ``selection`` is the
    last region selected in the view (``{"region": ..., "ids": {layer: [ids]}}``); ``clicked``
    the last object clicked (``{"layer", "id", "ra", "dec"}``); ``errors`` what the view reported.
    """

    _esm = _asset("sky.js", MISSING_BUNDLE_ESM)
    _css = _asset("sky.css", "")

    target = RaDec().tag(sync=True)
    fov = t.Float(0.1, help="field of view (the view's width) in degrees").tag(sync=True)
    survey = t.Unicode("color", help="HiPS id of the release (u g r i z y color)").tag(sync=True)
    height = t.Int(400, help="height of the view in pixels").tag(sync=True)

    overlays = t.List(t.Dict(), read_only=True, help="the layers: name, kind, rows, colour, drawn")
    selection = t.Dict(read_only=True, help="last selection in the view: region and ids per layer")
    clicked = t.Dict(read_only=True, help="last object clicked in the view: layer, id, ra, dec")
    errors = t.List(t.Unicode(), read_only=True, help="errors the view reported")

    #: ``add_catalog`` refuses more rows than this (the browser draws every point).
    max_points = 100_000

    def __init__(
        self,
        target: Any = None,
        fov: float = 0.1,
        survey: str = "color",
        *,
        height: int = 400,
        **kwargs: Any,
    ) -> None:
        self._layers: dict[str, _Layer] = {}
        if target is None:
            f = _release().get("field") or {}
            target = (f.get("ra", 0.0), f.get("dec", 0.0))
        super().__init__(target=target, fov=fov, survey=survey, height=height, **kwargs)

    def __repr__(self) -> str:
        ra, dec = self.target
        return f"SkyView(target=({ra:.6f}, {dec:.6f}), fov={self.fov:g}, survey={self.survey!r})"

    # ---------------------------------------------------------------- validation
    @t.validate("fov")
    def _check_fov(self, proposal: Any) -> float:
        fov = float(proposal["value"])
        if not (math.isfinite(fov) and 0 < fov <= 360):
            raise t.TraitError(f"fov must be in (0, 360] degrees, not {fov}")
        return fov

    @t.validate("survey")
    def _check_survey(self, proposal: Any) -> str:
        survey = str(proposal["value"])
        if not _ID_RE.match(survey):
            raise t.TraitError(f"survey must be a HiPS id of the release (like 'color'), not {survey!r}")
        known = [h["id"] for h in _release().get("hips", [])]
        if known and survey not in known:
            raise t.TraitError(f"no HiPS {survey!r} in the release; its HiPS: {', '.join(known)}")
        return survey

    @t.validate("height")
    def _check_height(self, proposal: Any) -> int:
        return max(150, min(4000, int(proposal["value"])))

    # ---------------------------------------------------------------- the message queue (QueuedWidget)
    def _delivered(self, msg: _Msg) -> None:
        if msg.persistent and msg.layer in self._layers:
            self._layers[msg.layer].sent_at = time.time()

    def _on_message(self, kind: str, content: dict[str, Any], view: str, buffers: list[Any]) -> None:
        if kind == "drawn":
            self._on_drawn(str(content.get("layer")), content)
        elif kind == "selection":
            self._on_selection(content.get("region"), content.get("indices") or {})
        elif kind == "clicked":
            self._on_clicked(content, view)
        elif kind == "error":
            self.set_trait("errors", [*self.errors, str(content.get("message", ""))])

    # ---------------------------------------------------------------- events from the view
    def _ids(self, layer: str, indices: Sequence[int]) -> list[Any]:
        ids = self._layers[layer].ids
        idx = [int(i) for i in indices if 0 <= int(i) < len(ids)]
        if isinstance(ids, np.ndarray):
            return list(ids[idx].tolist())
        return [ids[i] for i in idx]

    def _on_drawn(self, layer: str, content: Mapping[str, Any]) -> None:
        if layer not in self._layers:
            return
        info = self._layers[layer]
        timing: dict[str, Any] = {
            "draw_ms": content.get("ms"),  # the view: message received -> drawn
            "latency_s": time.perf_counter() - info.posted_at,  # the call -> this message here
        }
        received, drawn = content.get("received"), content.get("drawn")
        if info.sent_at is not None and isinstance(received, float | int) and isinstance(drawn, float | int):
            # epoch clocks of kernel and browser: only meaningful on one machine
            timing["to_view_ms"] = received - info.sent_at * 1e3
            timing["back_ms"] = time.time() * 1e3 - drawn
        self.set_trait(
            "overlays",
            [{**o, "drawn": True, **timing} if o["name"] == layer else o for o in self.overlays],
        )

    def _on_selection(self, region: Any, indices: Mapping[str, Sequence[int]]) -> None:
        ids = {layer: self._ids(layer, idx) for layer, idx in indices.items() if layer in self._layers}
        self.set_trait("selection", {"region": region, "ids": ids})

    def _on_clicked(self, content: Mapping[str, Any], view: str) -> None:
        layer = str(content.get("layer"))
        if layer not in self._layers:
            return
        found = self._ids(layer, [int(content.get("index", -1))])
        if found:
            self.set_trait(
                "clicked",
                {"layer": layer, "id": found[0], "ra": content.get("ra"), "dec": content.get("dec")},
            )
            # the view knows row numbers only: tell it the id (exact, even beyond 2**53)
            if view:
                self.send({"type": "clicked_label", "view": view, "text": f"{layer} {found[0]}"})

    # ---------------------------------------------------------------- layers
    def _layer_name(self, name: str | None, kind: str) -> str:
        if name:
            return str(name)
        k = 1 + sum(1 for o in self.overlays if o["kind"] == kind)
        while f"{kind} {k}" in self._layers:
            k += 1
        return f"{kind} {k}"

    def _colour(self, color: str | None) -> str:
        return color or PALETTE[len(self.overlays) % len(PALETTE)]

    def _register(self, name: str, layer: _Layer, info: dict[str, Any]) -> None:
        self._layers[name] = layer
        others = [o for o in self.overlays if o["name"] != name]
        self.set_trait("overlays", [*others, {"name": name, **info, "drawn": False}])

    def add_catalog(
        self,
        table: Any,
        ra: str = "coord_ra",
        dec: str = "coord_dec",
        *,
        name: str | None = None,
        color: str | None = None,
        size: int = 8,
        shape: str = "circle",
        id: str | bool | None = None,
    ) -> str:
        """Draw the rows of ``table`` (DataFrame, astropy/pyarrow Table, mapping of arrays) as points.

        ``id`` names the column whose values ``selection``/``clicked`` report (default: the first
        of :data:`ID_COLUMNS` present, else the row number; ``False`` for row numbers). Rows
        without finite coordinates are skipped. A layer of the same ``name`` is replaced.
        Returns the layer's name.
        """
        t0 = time.perf_counter()
        columns, ra_v, dec_v, rows = _sky_rows(table, ra, dec)
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {', '.join(SHAPES)}, not {shape!r}")
        if len(rows) > self.max_points:
            raise ValueError(
                f"{len(rows):,} points is more than SkyView draws ({self.max_points:,}): "
                "select or sample the rows first (or raise SkyView.max_points)"
            )
        id_col = _pick_id_column(columns, id)
        if id_col is not None:
            ids = _column(table, id_col)[rows]
        elif hasattr(table, "index") and getattr(table.index, "dtype", np.dtype("O")).kind in "iu":
            ids = np.asarray(table.index)[rows]
        else:
            ids = rows.astype("i8")
        coords, buffers = _positions(ra_v[rows] % 360.0, dec_v[rows])
        name = self._layer_name(name, "catalog")
        color = self._colour(color)
        self._register(
            name,
            _Layer("catalog", ids, rows, table, posted_at=t0),
            {
                "kind": "catalog",
                "rows": len(rows),
                "skipped": int(len(ra_v) - len(rows)),
                "color": color,
                "id_column": id_col,
            },
        )
        self._post(
            {
                "type": "add_catalog",
                "layer": name,
                "n": len(rows),
                "color": color,
                "size": int(size),
                "shape": shape,
                **coords,
            },
            buffers,
            layer=name,
            persistent=True,
        )
        return name

    def add_moc(
        self,
        moc: Any,
        *,
        name: str | None = None,
        color: str | None = None,
        opacity: float = 0.3,
        fill: bool = True,
        line_width: int = 1,
    ) -> str:
        """Draw a MOC: an id of the release (``GET <base>lsstbox/moc/`` lists them), a URL, or a
        ``mocpy.MOC``. Returns the layer's name."""
        content: dict[str, Any] = {"type": "add_moc"}
        buffers: list[bytes] = []
        if isinstance(moc, str):
            if re.match(r"^(https?://|/)", moc):
                content.update(source="url", ref=moc)
                default = moc.rstrip("/").rsplit("/", 1)[-1]
            elif _ID_RE.match(moc):
                known = [m["id"] for m in _release().get("mocs", [])]
                if known and moc not in known:
                    raise KeyError(f"no MOC {moc!r} in the release; its MOCs: {', '.join(known)}")
                content.update(source="id", ref=moc)
                default = f"MOC {moc}"
            else:
                raise ValueError(f"not a MOC id or URL: {moc!r}")
        elif hasattr(moc, "serialize"):  # mocpy.MOC
            out = io.BytesIO()
            moc.serialize(format="fits").writeto(out)
            content.update(source="buffer", ref=None)
            buffers = [out.getvalue()]
            default = None
        else:
            raise TypeError(f"add_moc takes a MOC id, a URL or a mocpy.MOC, not {type(moc).__name__}")
        name = self._layer_name(name or default, "moc")
        color = self._colour(color)
        content.update(
            layer=name, color=color, opacity=float(opacity), fill=bool(fill), line_width=line_width
        )
        self._register(name, _Layer("moc", [], np.zeros(0, "i8")), {"kind": "moc", "rows": 1, "color": color})
        self._post(content, buffers, layer=name, persistent=True)
        return name

    def add_footprints(
        self,
        rows: Any,
        *,
        name: str | None = None,
        color: str | None = None,
        region: str = "s_region",
        id: str | bool | None = None,
        line_width: int = 2,
    ) -> str:
        """Draw the ``s_region`` polygons of ObsCore rows (a table, ``pyvo`` results, a list of
        dicts or of STC-S strings). Rows whose region is not a POLYGON, CIRCLE or BOX are skipped.
        ``selection``/``clicked`` report ``id`` (default ``obs_publisher_did``/``obs_id``)."""
        if hasattr(rows, "to_table") and not hasattr(rows, "colnames"):  # pyvo results
            rows = rows.to_table()
        if isinstance(rows, str):
            rows = [rows]
        if isinstance(rows, Sequence) and not isinstance(rows, Mapping):
            if all(isinstance(r, str) for r in rows):
                rows = {region: list(rows)}
            elif all(isinstance(r, Mapping) for r in rows):
                keys = list(dict.fromkeys(k for r in rows for k in r))
                rows = {k: [r.get(k) for r in rows] for k in keys}
        columns = _columns_of(rows)
        if region not in columns:
            raise KeyError(f"no column {region!r} (columns: {', '.join(columns)})")
        texts = _column(rows, region)
        polygons = [parse_s_region(str(s)) if s is not None else None for s in texts]
        kept = np.array([i for i, p in enumerate(polygons) if p], dtype="i8")
        id_col = _pick_id_column(columns, id)
        ids = _column(rows, id_col)[kept] if id_col is not None else kept
        coords: list[float] = []
        offsets = [0]
        for i in kept:
            for ra_k, dec_k in polygons[i] or ():
                coords += (ra_k, dec_k)
            offsets.append(len(coords) // 2)
        name = self._layer_name(name, "footprints")
        color = self._colour(color)
        self._register(
            name,
            _Layer("footprints", np.asarray(ids), kept, rows),
            {
                "kind": "footprints",
                "rows": len(kept),
                "skipped": len(polygons) - len(kept),
                "color": color,
                "id_column": id_col,
            },
        )
        self._post(
            {
                "type": "add_footprints",
                "layer": name,
                "n": len(kept),
                "color": color,
                "line_width": line_width,
            },
            [_f64(np.asarray(coords)), np.asarray(offsets, dtype="<i4").tobytes()],
            layer=name,
            persistent=True,
        )
        return name

    def remove_layer(self, name: str) -> None:
        """Remove a layer (catalog, MOC or footprints) by name."""
        if name not in self._layers:
            raise KeyError(f"no layer {name!r}; layers: {', '.join(self._layers) or '(none)'}")
        del self._layers[name]
        self.set_trait("overlays", [o for o in self.overlays if o["name"] != name])
        self._forget(name)
        if self._views:
            self._post({"type": "remove_layer", "layer": name})

    def clear_layers(self) -> None:
        """Remove every layer."""
        for name in list(self._layers):
            self.remove_layer(name)

    # ---------------------------------------------------------------- selection
    def start_selection(self, mode: str = "rect") -> None:
        """Let the user drag a selection in the view (``"rect"`` or ``"circle"``), like the
        toolbar's buttons; the result lands in ``selection``."""
        if mode not in ("rect", "circle"):
            raise ValueError(f"mode must be 'rect' or 'circle', not {mode!r}")
        self._post({"type": "start_selection", "mode": mode})

    def clear_selection(self) -> None:
        """Forget the selection (here and in the views)."""
        self.set_trait("selection", {})
        self._post({"type": "clear_selection"})

    def highlight_rows(self, layer: str, positions: Sequence[int]) -> int:
        """Highlight in the views the rows at ``positions`` of the table given to ``add_catalog``/
        ``add_footprints`` (rows the layer skipped are ignored; ``[]`` clears the highlight),
        without changing ``selection``. Returns the number of objects highlighted."""
        if layer not in self._layers:
            raise KeyError(f"no layer {layer!r}; layers: {', '.join(self._layers) or '(none)'}")
        kept = np.asarray(self._layers[layer].rows, dtype="i8")  # ascending table positions
        pos = np.asarray(list(positions), dtype="i8")
        indices: list[int] = []
        if len(kept) and len(pos):
            at = np.minimum(np.searchsorted(kept, pos), len(kept) - 1)
            indices = sorted(set(at[kept[at] == pos].tolist()))
        self._post({"type": "select_rows", "layer": layer, "rows": indices})
        return len(indices)

    def selection_positions(self, layer: str) -> np.ndarray:
        """The positions, in the table given to ``add_catalog``/``add_footprints``, of the rows
        of ``layer`` in ``selection``."""
        if layer not in self._layers:
            raise KeyError(f"no layer {layer!r}; layers: {', '.join(self._layers) or '(none)'}")
        info = self._layers[layer]
        chosen = set(self.selection.get("ids", {}).get(layer, []))
        ids = info.ids.tolist() if isinstance(info.ids, np.ndarray) else list(info.ids)
        return np.array([int(info.rows[k]) for k, v in enumerate(ids) if v in chosen], dtype="i8")

    def selected_rows(self, layer: str) -> Any:
        """The rows of the table given to ``add_catalog``/``add_footprints`` that are selected."""
        if layer not in self._layers:
            raise KeyError(f"no layer {layer!r}; layers: {', '.join(self._layers) or '(none)'}")
        return _take(self._layers[layer].table, self.selection_positions(layer))
