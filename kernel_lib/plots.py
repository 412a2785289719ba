"""Plots of the release's tables: sky density, colour–magnitude and colour–colour diagrams, light
curves and image cutout galleries, as HoloViews objects (bokeh: pan, zoom, hover, box select).

Large inputs never come into memory. A :class:`~kernel_lib.catalog.Catalog` (or a
:class:`~kernel_lib.catalog.execute.LazyFrame`, or a dask DataFrame) is read as a dask DataFrame of
only the columns a plot needs, and datashader aggregates it partition by partition: a sky map of
10⁸ rows holds one partition's two columns at a time, plus the image. Tables in memory (pandas,
astropy, pyarrow) are drawn as points up to :data:`MAX_POINTS` rows and rasterised above.

Fluxes are in nJy, as in the release (DP1): an AB magnitude is ``-2.5 log10(flux) + 31.4``.

Examples
--------
>>> from jupyterlab_lsp import open_catalog, plots           # doctest: +SKIP
>>> obj = open_catalog("Object")                              # doctest: +SKIP
>>> plots.sky_density(obj)          # datashader, per partition              # doctest: +SKIP
>>> plots.cmd(obj.cone_search(53.16, -28.1, 120).compute())  # g-r against r  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .widgets.tables import DEC_NAMES, RA_NAMES, guess_column

__all__ = [
    "BAND_COLOURS",
    "MAX_POINTS",
    "LinkedSelection",
    "ab_mag",
    "cmd",
    "color_color",
    "cutout_gallery",
    "light_curve",
    "link_selection",
    "sky_counts",
    "sky_density",
]

#: Above this many rows an in-memory table is rasterised (datashader) instead of drawn as points.
MAX_POINTS = 50_000
#: The zero point of nJy fluxes: ``m_AB = -2.5 log10(f / nJy) + 31.4``.
NJY_ZERO_POINT = 31.4
#: Rubin's band colours (as in the Rubin tutorials' plotting conventions).
BAND_COLOURS = {
    "u": "#1600ea",
    "g": "#31de1f",
    "r": "#b52626",
    "i": "#370201",
    "z": "#ba52ff",
    "y": "#61a2b3",
}


def _hv() -> Any:
    import holoviews as hv

    if not hv.Store.current_backend or "bokeh" not in hv.Store.renderers:
        hv.extension("bokeh", logo=False, inline=True)  # BokehJS from the kernel: offline, no CDN
    return hv


def ab_mag(flux: Any) -> np.ndarray:
    """AB magnitudes of nJy fluxes (NaN where the flux is not positive)."""
    f = np.asarray(flux, dtype="f8")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f > 0, -2.5 * np.log10(f) + NJY_ZERO_POINT, np.nan)


def _columns(data: Any) -> list[str]:
    for attr in ("all_columns", "colnames", "column_names"):
        if hasattr(data, attr):
            return list(getattr(data, attr))
    if hasattr(data, "columns"):
        return [str(c) for c in data.columns]
    raise TypeError(
        f"cannot plot a {type(data).__name__}: pass a Catalog, a DataFrame (pandas or dask), "
        "an astropy Table or a pyarrow Table"
    )


def _pick(columns: Sequence[str], given: str | None, names: Iterable[str], what: str) -> str:
    if given is not None:
        if given not in columns:
            raise KeyError(f"no column {given!r} (columns: {', '.join(columns)})")
        return given
    found = guess_column(columns, names)
    if found is not None:
        return found
    raise KeyError(f"no {what} column among {', '.join(columns)}: pass {what}=")


def _frame(data: Any, columns: Sequence[str]) -> Any:
    """Only ``columns`` of ``data``: a dask DataFrame for lazy inputs, else pandas."""
    cols = list(dict.fromkeys(columns))
    if hasattr(data, "select") and hasattr(data, "to_dask"):  # Catalog: read these columns only
        return data.select(cols).to_dask()[cols]
    if hasattr(data, "to_dask"):  # LazyFrame
        return data.to_dask()[cols]
    if hasattr(data, "dask") and hasattr(data, "npartitions"):  # dask DataFrame
        return data[cols]
    if hasattr(data, "colnames"):  # astropy
        return pd.DataFrame({c: np.asarray(getattr(data[c], "value", data[c])) for c in cols})
    if hasattr(data, "column_names"):  # pyarrow
        return data.select(cols).to_pandas()
    if isinstance(data, pd.DataFrame):
        return data[cols]
    if isinstance(data, Mapping):
        return pd.DataFrame({c: np.asarray(data[c]) for c in cols})
    raise TypeError(f"cannot plot a {type(data).__name__}")


def _bounds(values: Any) -> tuple[float, float]:
    lo, hi = (float(v) for v in (values.min(), values.max()))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("no finite values to plot")
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def sky_counts(
    data: Any,
    ra: str | None = None,
    dec: str | None = None,
    *,
    width: int = 600,
    height: int = 500,
    ra_range: tuple[float, float] | None = None,
    dec_range: tuple[float, float] | None = None,
) -> Any:
    """The number of rows per pixel of a ``width`` x ``height`` RA/Dec grid (an xarray DataArray).

    A Catalog, LazyFrame or dask DataFrame is aggregated by datashader partition by partition
    (dask); only the two position columns are read, and nothing is collected. Ranges default to
    the data's extent (one pass over the position columns; give them to skip it).
    """
    import datashader as ds

    cols = _columns(data)
    ra_c = _pick(cols, ra, RA_NAMES, "ra")
    dec_c = _pick(cols, dec, DEC_NAMES, "dec")
    frame = _frame(data, [ra_c, dec_c])
    if ra_range is None or dec_range is None:
        extents = _per_partition(frame, _extent, ra_c, dec_c)
        stats = np.asarray([e for e in extents if e is not None], dtype="f8").reshape(-1, 4)
        lo_ra, hi_ra = _bounds(np.concatenate([stats[:, 0], stats[:, 1]]))
        lo_dec, hi_dec = _bounds(np.concatenate([stats[:, 2], stats[:, 3]]))
        ra_range = ra_range or (lo_ra, hi_ra)
        dec_range = dec_range or (lo_dec, hi_dec)
    canvas = ds.Canvas(plot_width=width, plot_height=height, x_range=ra_range, y_range=dec_range)
    agg = None
    for a in _per_partition(frame, _count, ra_c, dec_c, canvas):
        agg = a if agg is None else agg + a
    if agg is None:
        agg = _count(pd.DataFrame({ra_c: [], dec_c: []}, dtype="f8"), ra_c, dec_c, canvas)
    if (ra_c, dec_c) != ("ra", "dec"):
        agg = agg.rename({ra_c: "ra", dec_c: "dec"})
    return agg.rename("count")


def _per_partition(frame: Any, fn: Any, *args: Any) -> Iterable[Any]:
    """``fn(partition, *args)`` for each partition of a dask frame (or once for pandas), a few
    partitions at a time (as many as dask has threads): memory is bounded by those partitions,
    whatever the catalog's size. (A single dask graph — datashader's own dask path, or min/max
    reductions — lets the scheduler hold many partitions and every partition's aggregate.)"""
    import dask
    import pyarrow as pa

    if not hasattr(frame, "to_delayed"):
        yield fn(frame, *args)
        return
    parts = frame.to_delayed()
    step = max(1, _threads())
    for start in range(0, len(parts), step):
        yield from dask.compute(*[dask.delayed(fn)(p, *args) for p in parts[start : start + step]])
        # Arrow's allocator (mimalloc) keeps freed buffers for reuse: hand them back
        pa.default_memory_pool().release_unused()


def _extent(frame: pd.DataFrame, ra: str, dec: str) -> tuple[float, float, float, float] | None:
    r, d = frame[ra].to_numpy(dtype="f8"), frame[dec].to_numpy(dtype="f8")
    ok = np.isfinite(r) & np.isfinite(d)
    if not ok.any():
        return None
    return float(r[ok].min()), float(r[ok].max()), float(d[ok].min()), float(d[ok].max())


def _count(frame: pd.DataFrame, ra: str, dec: str, canvas: Any) -> Any:
    import datashader as ds

    return canvas.points(frame, ra, dec, agg=ds.count())


def _threads() -> int:
    import os

    import dask

    workers = dask.config.get("num_workers", None)
    return int(workers or os.cpu_count() or 1)


def sky_density(
    data: Any,
    ra: str | None = None,
    dec: str | None = None,
    *,
    width: int = 600,
    height: int = 500,
    cmap: str = "fire",
    title: str | None = None,
) -> Any:
    """A sky density map: a HoloViews image of :func:`sky_counts` (log colour scale, RA growing to
    the left as on the sky). For a Catalog, the aggregation is datashader per partition."""
    hv = _hv()
    agg = sky_counts(data, ra, dec, width=width, height=height)
    # empty pixels as NaN (the dark sky shows through), and a log colour scale from 1: one starting
    # at 0 (holoviews' default here) makes BokehJS draw nothing at all
    agg = agg.where(agg > 0)
    top = float(agg.max()) if bool(agg.notnull().any()) else 1.0
    palette: Any = cmap
    if cmap == "fire":
        import colorcet

        palette = colorcet.fire[80:]  # fire starts black: single objects would vanish on the sky
    image = hv.Image(agg, kdims=["ra", "dec"], vdims=["count"]).redim.label(ra="RA (deg)", dec="Dec (deg)")
    name = title or f"{getattr(data, 'name', 'rows')} per pixel"
    return image.opts(
        cmap=palette,
        cnorm="log",
        clim=(1.0, max(top, 2.0)),
        colorbar=True,
        invert_xaxis=True,
        width=width,
        height=height,
        tools=["hover"],
        title=name,
        bgcolor="black",
        clipping_colors={"min": "transparent", "NaN": "transparent"},
    )


def _points(frame: Any, x: str, y: str, title: str, *, invert_yaxis: bool = False, **opts: Any) -> Any:
    """Points for a small table, a datashader raster above :data:`MAX_POINTS` (or lazy data)."""
    hv = _hv()
    lazy = hasattr(frame, "dask")
    n = None if lazy else len(frame)
    points = hv.Points(frame, kdims=[x, y])
    if lazy or (n is not None and n > MAX_POINTS):
        from holoviews.operation.datashader import rasterize

        return rasterize(points).opts(
            cmap="viridis", cnorm="log", colorbar=True, invert_yaxis=invert_yaxis, title=title, **opts
        )
    tools = ["hover", "box_select", "lasso_select"]
    return points.opts(size=3, alpha=0.6, tools=tools, invert_yaxis=invert_yaxis, title=title, **opts)


def _with_colour(
    data: Any, pairs: Sequence[tuple[str, str]], mags: Sequence[str], flux: str
) -> tuple[Any, list[str]]:
    """A frame with the magnitudes and colours a diagram needs (names like ``g-r``, ``r``)."""
    bands = sorted({b for pair in pairs for b in pair} | set(mags))
    cols = _columns(data)
    need = [f"{b}_{flux}" for b in bands]
    missing = [c for c in need if c not in cols]
    if missing:
        raise KeyError(f"no column {', '.join(missing)} (flux columns are <band>_{flux}; pass flux=)")
    frame = _frame(data, need)

    def add(df: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=df.index)
        for b in bands:
            out[b] = ab_mag(df[f"{b}_{flux}"].to_numpy())
        for a, b in pairs:
            out[f"{a}-{b}"] = out[a] - out[b]
        return out

    names = [*mags, *(f"{a}-{b}" for a, b in pairs)]
    if hasattr(frame, "map_partitions"):
        meta = pd.DataFrame({c: pd.Series(dtype="f8") for c in [*bands, *(f"{a}-{b}" for a, b in pairs)]})
        return frame.map_partitions(add, meta=meta), names
    return add(frame), names


def cmd(
    data: Any, blue: str = "g", red: str = "r", mag: str = "r", *, flux: str = "psfFlux", **opts: Any
) -> Any:
    """A colour–magnitude diagram: ``blue - red`` against ``mag`` (AB, from nJy ``<band>_<flux>``
    columns; bright at the top). Points up to :data:`MAX_POINTS` rows, a datashader raster above."""
    frame, _ = _with_colour(data, [(blue, red)], [mag], flux)
    colour = f"{blue}-{red}"
    frame = frame.dropna(subset=[colour, mag]) if hasattr(frame, "dropna") else frame
    return _points(frame, colour, mag, f"{colour} vs {mag}", invert_yaxis=True, **opts)


def color_color(
    data: Any,
    x: tuple[str, str] = ("g", "r"),
    y: tuple[str, str] = ("r", "i"),
    *,
    flux: str = "psfFlux",
    **opts: Any,
) -> Any:
    """A colour–colour diagram, e.g. ``g-r`` against ``r-i`` (AB, from nJy fluxes)."""
    frame, _ = _with_colour(data, [x, y], [], flux)
    cx, cy = f"{x[0]}-{x[1]}", f"{y[0]}-{y[1]}"
    frame = frame.dropna(subset=[cx, cy]) if hasattr(frame, "dropna") else frame
    return _points(frame, cx, cy, f"{cy} vs {cx}", **opts)


def light_curve(
    data: Any,
    *,
    time: str = "expMidptMJD",
    flux: str = "psfFlux",
    err: str | None = "psfFluxErr",
    band: str = "band",
    magnitudes: bool = False,
    title: str = "light curve",
) -> Any:
    """A light curve per band with error bars: ``data`` holds one object's measurements (e.g. its
    ForcedSource rows joined with Visit for the time). Fluxes in nJy, or AB magnitudes with
    ``magnitudes=True`` (errors propagated: 1.0857 σ_f / f)."""
    hv = _hv()
    cols = [time, flux, band] + ([err] if err else [])
    frame = _frame(data, cols)
    if hasattr(frame, "compute"):
        frame = frame.compute()
    if frame.empty:
        raise ValueError("no rows: a light curve needs an object's measurements")
    layers = []
    y_label = "mag (AB)" if magnitudes else f"{flux} (nJy)"
    for b in [b for b in BAND_COLOURS if b in set(frame[band])] + sorted(
        set(frame[band]) - set(BAND_COLOURS)
    ):
        rows = frame[frame[band] == b].sort_values(time)
        t = rows[time].to_numpy(dtype="f8")
        f = rows[flux].to_numpy(dtype="f8")
        e = rows[err].to_numpy(dtype="f8") if err else np.zeros_like(f)
        if magnitudes:
            with np.errstate(divide="ignore", invalid="ignore"):
                e = 2.5 / np.log(10) * e / f
            f = ab_mag(f)
        colour = BAND_COLOURS.get(str(b), "#555555")
        pts = hv.Scatter((t, f), kdims=[time], vdims=[y_label], label=str(b)).opts(
            color=colour, size=5, tools=["hover"]
        )
        bars = hv.ErrorBars((t, f, e), kdims=[time], vdims=[y_label, "err"]).opts(color=colour)
        layers += [bars, pts]
    return hv.Overlay(layers).opts(
        title=title, invert_yaxis=magnitudes, legend_position="right", width=700, height=350, show_legend=True
    )


def _stretch(image: np.ndarray, percentile: float = 99.5) -> np.ndarray:
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return np.zeros_like(image, dtype="f8")
    lo, hi = np.percentile(finite, [100 - percentile, percentile])
    scale = max(hi - lo, 1e-12)
    return np.arcsinh(np.clip((image - lo) / scale, 0, None) * 10) / np.arcsinh(10)


def cutout_gallery(images: Any, *, ncols: int = 4, size: int = 200, cmap: str = "gray") -> Any:
    """Image cutouts side by side (asinh stretch, each to its own limits): ``images`` is a mapping
    title -> 2-d array (or anything with ``.image.array``, ``.array`` or ``.data``: an lsst
    Exposure-like object, an astropy HDU), or a sequence of them."""
    hv = _hv()
    if isinstance(images, Mapping):
        items = list(images.items())
    else:
        items = [(str(i), im) for i, im in enumerate(images)]
    if not items:
        raise ValueError("no images")
    tiles = []
    for title, im in items:
        arr = im
        for attr in ("image", "array", "data"):
            arr = getattr(arr, attr, arr)
        if hasattr(arr, "array"):
            arr = arr.array
        a = np.asarray(arr, dtype="f8")
        if a.ndim != 2:
            raise ValueError(f"{title}: a cutout must be a 2-d image, not shape {a.shape}")
        h, w = a.shape
        tile = hv.Image(_stretch(a)[::-1], bounds=(0, 0, w, h), label=str(title)).opts(
            cmap=cmap, xaxis=None, yaxis=None, width=size, height=size, title=str(title), toolbar=None
        )
        tiles.append(tile)
    return hv.Layout(tiles).cols(ncols)


class LinkedSelection:
    """Brushing between a points plot, a notebook variable, the lab's sky panels and a SkyView.

    Made by :func:`link_selection`; ``plot`` is what to display (the points with the highlighted
    ones drawn over them); ``stream`` the plot's ``Selection1D`` stream; ``highlighted`` the row
    positions (in the table) highlighted now, whoever selected them; :meth:`unlink` stops
    following all of them.
    """

    def __init__(self, plot: Any, stream: Any, unlink: Any) -> None:
        self.plot = plot
        self.stream = stream
        self.highlighted = np.empty(0, dtype="i8")
        self._unlink = unlink

    def unlink(self) -> None:
        self._unlink()

    def _repr_mimebundle_(self, *args: Any, **kwargs: Any) -> Any:
        return self.plot._repr_mimebundle_(*args, **kwargs)


def link_selection(
    points: Any,
    table: Any,
    *,
    sky: Any = None,
    layer: str | None = None,
    variable: str = "plot_selection",
    namespace: dict[str, Any] | None = None,
    panels: bool = True,
) -> LinkedSelection:
    """Link a points plot of ``table`` (from :func:`cmd`, :func:`color_color` or any ``hv.Points``
    over a pandas ``table``, rows labelled by its index) to a notebook variable, the lab's sky
    panels and a SkyView, all ways round.

    A box or lasso selection in the plot assigns the selected rows of ``table`` to ``variable`` in
    the notebook and highlights them in every sky panel layer drawn from ``table`` (this very
    object: ``show_on_sky(table)`` or the panel's Draw; ``panels=False`` to leave the panels
    alone) and in ``sky``'s ``layer`` (a SkyView drawn from the same ``table``). A region selected
    in a sky panel or in ``sky`` assigns those rows to ``variable`` too (the panel also sets its
    own target, ``sky_selection``) and highlights them in the plot and in the other views.

    Examples
    --------
    >>> points = plots.cmd(objects)                 # doctest: +SKIP
    >>> show_on_sky(objects)                        # doctest: +SKIP
    >>> plots.link_selection(points, objects)       # doctest: +SKIP
    """
    hv = _hv()
    if not isinstance(points, hv.Points):
        raise TypeError(
            f"only a points plot can be linked, not a {type(points).__name__}: a rasterised plot "
            f"(more than {MAX_POINTS:,} rows, or a lazy catalog) has no rows to select; select fewer rows"
        )
    if not isinstance(table, pd.DataFrame):
        raise TypeError("link_selection needs the pandas DataFrame the plot was made from")
    if not variable.isidentifier():
        raise ValueError(f"{variable!r} is not a Python variable name")
    if sky is not None and layer is None:
        raise ValueError("name the sky view's layer that holds the table's rows: layer=")
    if namespace is None:
        from IPython import get_ipython

        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else {}
    data = points.data
    if not isinstance(data, pd.DataFrame):
        raise TypeError("the plot's data must be a pandas DataFrame (rows labelled like the table's)")
    from . import link

    kdims = [d.name for d in points.kdims]
    pipe = hv.streams.Pipe(data=data.iloc[:0])
    highlight = hv.DynamicMap(
        lambda data: hv.Points(data, kdims=kdims).opts(color="#ff4081", size=6, line_color="black"),
        streams=[pipe],
    )
    selection = hv.streams.Selection1D(source=points)
    busy = [False]  # a highlight we send must not come back as a selection

    def show(positions: np.ndarray, *, plot: bool, widget: bool, lab: bool, who: str) -> None:
        positions = np.unique(np.asarray(positions, dtype="i8"))
        namespace[variable] = table.iloc[positions]
        linked.highlighted = positions
        busy[0] = True
        try:
            if plot:
                labels = table.index[positions]
                pipe.send(data.loc[data.index.intersection(labels)])
            if widget and sky is not None:
                sky.highlight_rows(layer, positions.tolist())
            if lab and panels:
                link.select_rows(table, positions, f"{variable} ← {len(positions):,} rows selected in {who}")
        finally:
            busy[0] = False

    def on_plot(index: list[int]) -> None:
        if busy[0]:
            return
        labels = data.index[np.asarray(index, dtype="i8")]
        positions = table.index.get_indexer(labels)
        show(positions[positions >= 0], plot=True, widget=True, lab=True, who="the plot")

    def on_sky(_change: Any = None) -> None:
        if busy[0]:
            return
        show(
            np.asarray(sky.selection_positions(layer), dtype="i8"),
            plot=True,
            widget=False,
            lab=True,
            who="a SkyView",
        )

    def on_panel(drawn: Any, positions: np.ndarray) -> str | None:
        if drawn is not table or busy[0]:
            return None
        show(positions, plot=True, widget=True, lab=False, who="a sky panel")
        return variable

    selection.add_subscriber(on_plot)
    if sky is not None:
        sky.observe(on_sky, names="selection")
    stop_panels = link.on_selection(on_panel) if panels else (lambda: None)

    def unlink() -> None:
        selection.clear()
        stop_panels()
        if sky is not None:
            sky.unobserve(on_sky, names="selection")

    linked = LinkedSelection(points * highlight, selection, unlink)
    return linked
