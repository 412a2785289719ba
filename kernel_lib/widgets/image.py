"""``ImageView``: the lab's FITS image viewer in a notebook output, with sources and clicks.

An anywidget; the front end (``static/image.js``, built from ``js/widgets/`` with esbuild) is the
very viewer of the lab's image panel (``js/src/imageViewer.ts``), rendering tiles from the
server's ``<base url>lsstbox/image/*`` API. The image is named by ``src``: ``file:<path under the
Jupyter root>``, ``did:<obs_publisher_did>`` or ``butler:<dataset uuid>``; :class:`ImageView`
also takes a butler ``DatasetRef``, a pyvo SIA/ObsCore record, or a path.

Sources (:meth:`ImageView.add_sources`) go to the view as RA/Dec in binary buffers; their ids and
rows stay in the kernel, which turns the index a click reports into the row (``clicked``). As
with :class:`~kernel_lib.widgets.sky.SkyView`, calls made before the view exists are queued and
delivered once it is ready, and the sources are replayed to views rendered later.

Examples
--------
>>> from jupyterlab_lsp.widgets import ImageView                    # doctest: +SKIP
>>> view = ImageView("did:ivo://...", stretch="asinh", cmap="viridis")   # doctest: +SKIP
>>> view.add_sources(objects_df)                                    # doctest: +SKIP
>>> view                                                            # doctest: +SKIP
>>> view.clicked["row"]              # after a click on a source     # doctest: +SKIP
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import traitlets as t

from .base import QueuedWidget, RaDec, _asset, json_value, missing_bundle_esm, row_dict
from .tables import _column, _f64, _pick_id_column, _sky_rows

#: The stretches and colormaps of the viewer (js/src/settings.ts).
STRETCHES = ("linear", "log", "sqrt", "asinh", "zscale")
CMAPS = tuple(c for base in ("gray", "viridis", "magma", "inferno", "cividis") for c in (base, f"{base}_r"))
SRC_KINDS = ("file:", "did:", "butler:")

#: ``add_sources`` refuses more rows than this (the viewer's limit).
MAX_SOURCES = 100_000


def jupyter_root() -> Path:
    """The root directory of the Jupyter server this kernel belongs to.

    ``$LSSTBOX_JUPYTER_ROOT`` if set; else the running server whose root holds the kernel's
    working directory (the deepest); else the working directory itself.
    """
    env = os.environ.get("LSSTBOX_JUPYTER_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    cwd = Path.cwd().resolve()
    try:
        from jupyter_server.serverapp import list_running_servers

        roots = [
            Path(str(s.get("root_dir") or s.get("notebook_dir") or "")).resolve()
            for s in list_running_servers()
        ]
    except Exception:  # no jupyter_server, unreadable runtime dir: fall back
        roots = []
    holding = [r for r in roots if str(r) and (r == cwd or r in cwd.parents)]
    return max(holding, key=lambda r: len(r.parts)) if holding else cwd


def image_src(value: Any) -> str:
    """The viewer's ``src`` for an image given as ``file:``/``did:``/``butler:`` text, a butler
    ``DatasetRef`` (``butler:<uuid>``), a pyvo SIA/ObsCore record or a row with an
    ``obs_publisher_did`` (``did:<it>``), or a path under the Jupyter root (``file:<relative>``).
    """
    if isinstance(value, str) and value.startswith(SRC_KINDS):
        kind, _, rest = value.partition(":")
        if not rest.strip():
            raise ValueError(f"empty {kind}: image source")
        if kind == "butler":
            try:
                uuid.UUID(rest)
            except ValueError:
                raise ValueError(f"butler: takes a dataset UUID, not {rest!r}") from None
        return value
    if isinstance(value, uuid.UUID):
        return f"butler:{value}"
    if hasattr(value, "datasetType") and hasattr(value, "id"):  # lsst.daf.butler.DatasetRef
        return f"butler:{value.id}"
    did = _did_of(value)
    if did:
        return f"did:{did}"
    if isinstance(value, str | os.PathLike):
        return _file_src(Path(value))
    raise TypeError(
        f"ImageView takes 'file:...', 'did:...', 'butler:...', a path, a DatasetRef or an "
        f"SIA/ObsCore record, not {type(value).__name__}"
    )


def _did_of(value: Any) -> str | None:
    did = getattr(value, "obs_publisher_did", None)  # pyvo SIA2/ObsCore records
    if did is None and not isinstance(value, str | bytes | os.PathLike):
        try:
            did = value["obs_publisher_did"]  # a pyvo Record, a dict, a pandas row
        except (KeyError, TypeError, IndexError, ValueError):
            did = None
    if isinstance(did, bytes):
        did = did.decode()
    return str(did) if did is not None and str(did).strip() else None


def _file_src(path: Path) -> str:
    full = (Path.cwd() / path.expanduser()).resolve()
    root = jupyter_root()
    try:
        rel = full.relative_to(root)
    except ValueError:
        raise ValueError(
            f"{full} is outside the Jupyter root {root}: the server shows only files under its root. "
            "Copy or link the file there, or pass 'did:<obs_publisher_did>' / 'butler:<uuid>' "
            "(set LSSTBOX_JUPYTER_ROOT if the root was not found)."
        ) from None
    if not full.is_file():
        raise FileNotFoundError(f"no file {full}")
    return f"file:{rel.as_posix()}"


class ImageSrc(t.Unicode):
    """An image ``src``; accepts what :func:`image_src` does."""

    info_text = "'file:...', 'did:...', 'butler:...', a path, a DatasetRef or an SIA record"

    def validate(self, obj: Any, value: Any) -> str:
        return image_src(value)


class Target(RaDec):
    """An ICRS position ``(ra, dec)`` in degrees (or a SkyCoord), or None."""

    info_text = "an (ra, dec) pair in degrees, an astropy SkyCoord, or None"
    allow_none = True
    default_value = None

    def validate(self, obj: Any, value: Any) -> tuple[float, float] | None:  # type: ignore[override]
        return None if value is None else super().validate(obj, value)


class ImageView(QueuedWidget):
    """A FITS image (the lab's viewer) with pan, zoom, display settings and clickable sources.

    Parameters
    ----------
    src : the image: ``file:<path>``, ``did:<obs_publisher_did>``, ``butler:<uuid>``, a path
        under the Jupyter root, a butler ``DatasetRef`` or a pyvo SIA/ObsCore record
    stretch : ``linear log sqrt asinh zscale``
    cmap : ``gray viridis magma inferno cividis`` (``_r``: reversed)
    height : height of the output in pixels
    target : (ra, dec) to centre the view on; then follows the view as the user pans

    Traits the kernel reads: ``target`` (the view's centre), ``stretch``/``cmap`` (also when
    changed in the view), ``clicked`` (the last click: a source's ``{index, id, ra, dec, row}``,
    or a pixel's ``{x, y, ix, iy, value, ra, dec, ...}``), ``errors`` what the view reported.
    """

    _esm = _asset("image.js", missing_bundle_esm("ImageView", "image.js"))

    src = ImageSrc(help="the image: file:<path>, did:<obs_publisher_did> or butler:<uuid>").tag(sync=True)
    stretch = t.Enum(STRETCHES, "asinh", help="stretch of the display").tag(sync=True)
    cmap = t.Enum(CMAPS, "gray", help="colormap of the display").tag(sync=True)
    height = t.Int(500, help="height of the output in pixels").tag(sync=True)
    target = Target().tag(sync=True)

    clicked = t.Dict(read_only=True, help="last click: a source's row, or a pixel's values")
    sources = t.Dict(read_only=True, help="the sources drawn: rows, skipped, id_column")
    errors = t.List(t.Unicode(), read_only=True, help="errors the view reported")

    def __init__(
        self,
        src: Any,
        *,
        stretch: str = "asinh",
        cmap: str = "gray",
        height: int = 500,
        target: Any = None,
        **kwargs: Any,
    ) -> None:
        self._table: Any = None
        self._rows = np.zeros(0, dtype="i8")  # table position of each source sent, by its index
        self._ids: Any = np.zeros(0, dtype="i8")
        self._columns: list[str] = []
        super().__init__(src=src, stretch=stretch, cmap=cmap, height=height, target=target, **kwargs)

    def __repr__(self) -> str:
        return f"ImageView({self.src!r}, stretch={self.stretch!r}, cmap={self.cmap!r})"

    @t.validate("height")
    def _check_height(self, proposal: Any) -> int:
        return max(150, min(4000, int(proposal["value"])))

    # ---------------------------------------------------------------- sources
    def add_sources(
        self,
        table: Any,
        ra: str = "coord_ra",
        dec: str = "coord_dec",
        id: str | bool | None = None,
    ) -> int:
        """Draw the rows of ``table`` (DataFrame, astropy/pyarrow Table, mapping of arrays) over the
        image, replacing any sources drawn before. A click on one sets ``clicked`` to
        ``{"index", "id", "ra", "dec", "row": {column: value}}``. ``id`` names the id column
        (default: the first of ``ID_COLUMNS`` present, else the row position; ``False``: the row
        position). Rows without finite coordinates are skipped. Returns the number drawn."""
        columns, ra_v, dec_v, rows = _sky_rows(table, ra, dec)
        if len(rows) > MAX_SOURCES:
            raise ValueError(
                f"{len(rows):,} sources is more than the viewer draws ({MAX_SOURCES:,}): "
                "select or sample the rows first"
            )
        id_col = _pick_id_column(columns, id)
        ids = _column(table, id_col)[rows] if id_col is not None else rows.astype("i8")
        self._table, self._rows, self._ids, self._columns = table, rows, ids, columns
        self.set_trait(
            "sources",
            {"rows": len(rows), "skipped": int(len(ra_v) - len(rows)), "id_column": id_col},
        )
        self._post(
            {"type": "set_sources", "n": len(rows)},
            [_f64(ra_v[rows] % 360.0), _f64(dec_v[rows])],
            layer="sources",
            persistent=True,
        )
        return len(rows)

    def clear_sources(self) -> None:
        """Remove the sources (here and in the views)."""
        self._table, self._rows, self._ids, self._columns = None, np.zeros(0, "i8"), np.zeros(0, "i8"), []
        self.set_trait("sources", {})
        self._forget("sources")
        self._post({"type": "clear_sources"})

    # ---------------------------------------------------------------- events from the view
    def _on_message(self, kind: str, content: dict[str, Any], view: str, buffers: list[Any]) -> None:
        if kind == "clicked":
            self._on_source(content, view)
        elif kind == "pixel":
            keys = ("x", "y", "ix", "iy", "inside", "value", "variance", "mask", "mask_names", "ra", "dec")
            self.set_trait("clicked", {"pixel": True, **{k: content[k] for k in keys if k in content}})
        elif kind == "error":
            self.set_trait("errors", [*self.errors, str(content.get("message", ""))])

    def _on_source(self, content: Mapping[str, Any], view: str) -> None:
        try:
            index = int(content.get("index", -1))
        except (TypeError, ValueError):
            return
        if self._table is None or not 0 <= index < len(self._rows):
            return
        position = int(self._rows[index])
        ident = self._ids[index]
        ident = ident.item() if isinstance(ident, np.generic) else ident
        self.set_trait(
            "clicked",
            {
                "index": position,
                "id": ident,
                "ra": content.get("ra"),
                "dec": content.get("dec"),
                "row": row_dict(self._table, self._columns, position),
            },
        )
        if view:  # the view knows indices only: tell it the id (exact, even beyond 2**53)
            self.send({"type": "clicked_label", "view": view, "text": f"Source {json_value(ident)}"})
