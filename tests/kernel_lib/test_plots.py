"""``kernel_lib.plots``: the numbers behind each plot, on the tiny release, and that bokeh renders
them. The sky map of a Catalog is aggregated per partition: its counts must equal a histogram of
the collected positions, and the dask graph must read only the position columns."""

from __future__ import annotations

from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from kernel_lib import plots
from kernel_lib.catalog import open_catalog


@pytest.fixture(scope="module")
def objects(tiny_release: Path):
    return open_catalog("Object", release=tiny_release)


def test_sky_counts_per_partition_equal_a_histogram(objects) -> None:
    pos = objects.select(["coord_ra", "coord_dec"]).compute()
    ra_range = (float(pos.coord_ra.min()), float(pos.coord_ra.max()))
    dec_range = (float(pos.coord_dec.min()), float(pos.coord_dec.max()))
    agg = plots.sky_counts(objects, width=40, height=30, ra_range=ra_range, dec_range=dec_range)
    assert agg.shape == (30, 40) and agg.name == "count"
    assert int(agg.sum()) == len(pos)
    # datashader's pixel of each point: floor((x - lo) / (hi - lo) * n), the upper edge in the last
    ix = np.clip(((pos.coord_ra - ra_range[0]) / (ra_range[1] - ra_range[0]) * 40).astype(int), 0, 39)
    iy = np.clip(((pos.coord_dec - dec_range[0]) / (dec_range[1] - dec_range[0]) * 30).astype(int), 0, 29)
    expected = np.zeros((30, 40), dtype=int)
    np.add.at(expected, (iy.to_numpy(), ix.to_numpy()), 1)
    assert np.array_equal(agg.to_numpy().astype(int), expected)


def test_sky_counts_read_only_the_position_columns(objects) -> None:
    frame = plots._frame(objects, ["coord_ra", "coord_dec"])
    assert list(frame.columns) == ["coord_ra", "coord_dec"]
    assert frame.npartitions == objects.npartitions  # one task per partition, not one collected frame


def test_sky_density_renders_with_ra_to_the_left(objects) -> None:
    image = plots.sky_density(objects, width=120, height=90)
    assert isinstance(image, hv.Image)
    assert image.opts.get().kwargs["invert_xaxis"] is True
    fig = hv.render(image, backend="bokeh")
    assert fig.x_range.start > fig.x_range.end  # RA grows to the left
    # BokehJS draws nothing with a log colour scale from 0: empty pixels are NaN, the scale starts
    # at the smallest count (found blank in JupyterLab by tests/ui/test_tutorials_lab.py)
    for size in ({}, {"width": 120, "height": 90}):  # sparse (most pixels empty) and dense
        fig = hv.render(plots.sky_density(objects, **size), backend="bokeh")
        (mapper,) = {r.glyph.color_mapper for r in fig.renderers if hasattr(r.glyph, "color_mapper")}
        assert type(mapper).__name__ == "LogColorMapper" and mapper.low == 1 and mapper.high >= 2


def test_ab_magnitudes() -> None:
    assert plots.ab_mag([3631e9])[0] == pytest.approx(0.0, abs=1e-3)  # 3631 Jy is AB 0
    assert plots.ab_mag([1.0])[0] == pytest.approx(31.4)
    assert np.isnan(plots.ab_mag([0.0, -5.0])).all()


def test_cmd_values_and_rasterising(objects) -> None:
    table = objects.compute()
    points = plots.cmd(table)
    assert isinstance(points, hv.Points)
    data = points.data
    g, r = plots.ab_mag(table.g_psfFlux), plots.ab_mag(table.r_psfFlux)
    ok = np.isfinite(g - r) & np.isfinite(r)
    assert len(data) == int(ok.sum())
    assert np.allclose(np.sort(data["g-r"].to_numpy()), np.sort((g - r)[ok]))
    assert points.opts.get().kwargs["invert_yaxis"] is True  # bright at the top
    hv.render(points, backend="bokeh")
    # a lazy catalog is rasterised (a DynamicMap), never collected into points
    lazy = plots.cmd(objects)
    assert isinstance(lazy, hv.DynamicMap)
    hv.render(lazy, backend="bokeh")
    with pytest.raises(KeyError, match="no column q_psfFlux"):
        plots.cmd(table, blue="q")


def test_color_color(objects) -> None:
    table = objects.compute()
    cc = plots.color_color(table, ("g", "r"), ("r", "i"))
    assert [d.name for d in cc.kdims] == ["g-r", "r-i"]
    hv.render(cc, backend="bokeh")


def test_light_curve_per_band(tiny_release: Path) -> None:
    fs = open_catalog("ForcedSource", release=tiny_release).compute()
    visits = open_catalog("Visit", release=tiny_release).compute()[["visit", "expMidptMJD"]]
    one = fs[fs.objectId == fs.objectId.iloc[0]].merge(visits, on="visit")
    lc = plots.light_curve(one)
    bands = sorted(set(one.band))
    assert len(lc) == 2 * len(bands)  # error bars + points per band
    labels = sorted({el.label for el in lc})
    assert labels == sorted([*bands, ""]) or labels == bands
    scatter = [el for el in lc if isinstance(el, hv.Scatter)]
    assert sum(len(s) for s in scatter) == len(one)
    mags = plots.light_curve(one, magnitudes=True)
    first = next(el for el in mags if isinstance(el, hv.Scatter))
    rows = one[one.band == first.label].sort_values("expMidptMJD")
    assert np.allclose(first.dimension_values(1), plots.ab_mag(rows.psfFlux), equal_nan=True)
    hv.render(mags, backend="bokeh")
    with pytest.raises(ValueError, match="no rows"):
        plots.light_curve(one.iloc[:0])


def test_cutout_gallery() -> None:
    a = np.arange(12.0).reshape(3, 4)
    gallery = plots.cutout_gallery({"a": a, "b": np.ones((5, 5))}, ncols=2)
    assert len(gallery) == 2
    first = next(iter(gallery.values()))
    assert first.data.shape == (3, 4)
    # row 0 of the image (FITS: the bottom) is drawn at the bottom
    assert first.data[-1, 0] == pytest.approx(0.0)
    hv.render(gallery, backend="bokeh")
    with pytest.raises(ValueError, match="2-d"):
        plots.cutout_gallery([np.ones(3)])


def test_plots_refuse_what_is_not_a_table() -> None:
    with pytest.raises(TypeError, match="cannot plot a int"):
        plots.sky_counts(5)
    with pytest.raises(KeyError, match="no ra column"):
        plots.sky_counts(pd.DataFrame({"x": [1.0]}))


def test_position_columns_are_guessed_as_the_sky_panel_does() -> None:
    # the same names, case-insensitively, as kernel_lib.link (VizieR's RAJ2000/DEJ2000 here)
    frame = pd.DataFrame({"RAJ2000": [10.0, 10.5, 11.0], "DEJ2000": [-5.0, -5.0, -4.0]})
    agg = plots.sky_counts(frame, width=4, height=4)
    assert int(agg.sum()) == 3 and list(agg.dims) == ["dec", "ra"]


def test_link_selection_both_ways(objects) -> None:
    from kernel_lib.widgets.sky import SkyView

    table = objects.compute().reset_index(drop=True)
    points = plots.cmd(table)
    sky = SkyView()
    sky.add_catalog(table, name="Object")
    ns: dict = {}
    linked = plots.link_selection(points, table, sky=sky, layer="Object", namespace=ns)
    assert isinstance(linked.plot, hv.DynamicMap)  # the points with the highlighted ones over them
    # a selection in the plot: the rows go to the variable (by the plot's index labels)
    plot_rows = [0, 5, 7]
    labels = points.data.index[plot_rows]
    linked.stream.event(index=plot_rows)  # what bokeh's box select sends
    assert list(ns["plot_selection"].index) == sorted(table.index.get_indexer(labels))
    # a selection in the sky view (ids per layer, as the view reports it): the variable follows
    ids = table.objectId.iloc[[3, 4]].tolist()
    # (read-only for users; the view's message handler sets it like this)
    sky.set_trait(
        "selection", {"region": {"type": "circle", "ra": 0, "dec": 0, "radius": 1}, "ids": {"Object": ids}}
    )
    assert ns["plot_selection"].objectId.tolist() == ids
    linked.unlink()
    sky.set_trait("selection", {"region": {}, "ids": {"Object": []}})
    assert ns["plot_selection"].objectId.tolist() == ids  # no longer followed
    with pytest.raises(TypeError, match="only a points plot"):
        plots.link_selection(plots.cmd(objects), table)
