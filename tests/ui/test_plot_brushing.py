"""Brushing between a colour–magnitude diagram, the notebook and the sky panel, in chromium.

What this proves, through the UI only (a real ``jupyter lab``, its kernel, BokehJS and the
holoviews streams over pyviz_comms; nothing mocked):

* ``plots.cmd(df)`` linked by ``plots.link_selection(p, df)`` draws in the notebook; a box dragged
  over the plot with bokeh's box select tool assigns ``plot_selection`` in the kernel: a
  DataFrame of exactly the rows of ``df`` whose plotted (colour, magnitude) lie inside the box in
  data coordinates, and the plot draws those rows (and only those) in the highlight colour
  (``#ff4081``), which was absent before.
* With ``show_on_sky(df)`` in a sky panel, the same box highlights the same rows in the panel's
  ``df`` layer (with a notice), an empty box clears both highlights, and a box dragged in the
  panel assigns ``sky_selection`` and ``plot_selection`` (the same rows), highlighted in the plot.
* With ``df`` drawn over a deep coadd in the image viewer (its link bar's Draw), the same box
  highlights the same rows among the viewer's sources, in pink (with a notice), and an empty box
  clears that highlight.

Bokeh is driven as a user does it: the toolbar's "Box Select" button, then a mouse drag over the
plot's frame. The box's data coordinates are read from the tool's own overlay (a BoxAnnotation in
data units that follows the drag) just before the mouse is released, and checked against the
mouse positions through the figure's ranges and frame geometry.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from lab_notebook import (
    colour_pixels,
    dock_right,
    dock_tab_right,
    open_notebook,
    palette_command,
    poll,
    put_notebook,
    run_cell,
    tap_csv,
    wait_for_sky,
)

pytestmark = pytest.mark.ui

LOAD_TIMEOUT = 60_000  # ms
WAIT = 60.0  # s, for polls
PINK = (0xFF, 0x40, 0x81)  # link_selection's highlight colour
FIELD = (53.16, -28.1)

# Aladin Lite needs WebGL2 (see conftest.browser_context); no host but the Jupyter server
# resolves, so that a CDN (BokehJS, panel's stylesheets) is never contacted, whatever the network
CHROMIUM_EXTRA_ARGS = [
    "--enable-unsafe-swiftshader",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
VIEWPORT = {"width": 1800, "height": 1000}

CELLS = [
    # 0: objects with the PSF fluxes cmd() reads by default (g and r), rows labelled by objectId
    "import json\n"
    "import holoviews as hv\n"
    "from jupyterlab_lsp import open_catalog, plots, show_on_sky\n"
    "df = open_catalog('Object', columns=['objectId', 'coord_ra', 'coord_dec', 'g_psfFlux', 'r_psfFlux'])"
    ".compute()\n"
    "df = df.set_index('objectId')\n"
    "print(len(df))",
    # 1: no hv.extension() by hand: plots loads BokehJS itself, from the kernel (no CDN: offline)
    "assert 'bokeh' not in hv.Store.renderers",
    # 2: the linked plot
    "p = plots.cmd(df)\nlinked = plots.link_selection(p, df)\nlinked",
    # 3: what was assigned, and where each row of df is plotted
    "print(json.dumps({'type': type(plot_selection).__name__, 'n': len(plot_selection),\n"
    "    'index': [int(i) for i in plot_selection.index],\n"
    "    'in_df': bool(plot_selection.index.isin(df.index).all()),\n"
    "    'plotted': [[int(i), float(x), float(y)]\n"
    "                for i, x, y in zip(p.data.index, p.dimension_values(0), p.dimension_values(1))]}))",
    # 4: the table on the linked sky panels
    "show_on_sky(df)",
    # 5: a region selected in the sky panel
    "print(json.dumps({'sky': [int(i) for i in sky_selection.index],\n"
    "    'plot': [int(i) for i in plot_selection.index], 'n_plot': len(plot_selection)}))",
    # 6: the row positions in df of plot_selection (the image viewer's source indices)
    "print(json.dumps(sorted(int(i) for i in df.index.get_indexer(plot_selection.index))))",
]

# The linked plot's bokeh figure (the one drawing the pink highlight), and what it shows now:
# its frame on the page, its ranges, the box select tool and its overlay (data units), the
# number of points and of highlighted points, and the highlighted points' coordinates.
FIGURE_STATE = """() => {
  const found = [];
  const walk = v => {
    const m = v.model;
    if (m.type === 'Figure' && m.renderers.some(r => r.glyph && r.glyph.fill_color
        && String(r.glyph.fill_color.value).toLowerCase() === '#ff4081')) {
      found.push(v);
    }
    for (const c of v.children()) walk(c);
  };
  for (const v of Object.values((window.Bokeh && window.Bokeh.index) || {})) walk(v);
  if (found.length !== 1) return null;
  const pv = found[0];
  const glyphs = pv.model.renderers.filter(r => r.type === 'GlyphRenderer');
  const isPink = r => String(r.glyph.fill_color.value).toLowerCase() === '#ff4081';
  const hl = glyphs.find(isPink);
  const points = glyphs.find(r => !isPink(r));
  const column = (r, spec) => Array.from(r.data_source.data[r.glyph[spec].field] || []);
  const hx = column(hl, 'x'), hy = column(hl, 'y');
  const tool = pv.model.toolbar.tools.find(t => t.type === 'BoxSelectTool');
  const o = tool.overlay;
  const el = pv.canvas_view.events_el.getBoundingClientRect();
  const f = pv.frame.bbox;
  return {
    frame: {x: el.left + f.left, y: el.top + f.top, width: f.width, height: f.height},
    x_range: [pv.model.x_range.start, pv.model.x_range.end],
    y_range: [pv.model.y_range.start, pv.model.y_range.end],
    box_select: tool.active,
    overlay: o.visible ? [o.left, o.right, o.top, o.bottom] : null,
    points: points.data_source.get_length(),
    highlighted: hl.data_source.get_length(),
    highlight_xy: hx.map((x, i) => [x, hy[i]]),
  };
}"""


def _poll(what: str, fn: Callable[[], Any], timeout: float = WAIT) -> Any:
    return poll(what, fn, timeout)


def _state(page) -> dict:
    return page.evaluate(FIGURE_STATE)


def _to_data(state: dict, px: float, py: float) -> tuple[float, float]:
    """Page coordinates -> data coordinates, through the frame and the ranges (linear scales:
    the range's start is at the frame's left/bottom, its end at the right/top)."""
    f = state["frame"]
    (x_start, x_end), (y_start, y_end) = state["x_range"], state["y_range"]
    x = x_start + (px - f["x"]) / f["width"] * (x_end - x_start)
    y = y_end + (py - f["y"]) / f["height"] * (y_start - y_end)
    return x, y


def _frame_png(page, state: dict) -> bytes:
    f = state["frame"]
    return page.screenshot(clip={"x": f["x"], "y": f["y"], "width": f["width"], "height": f["height"]})


def _pink(page, out) -> int:
    """Highlight-coloured pixels in the plot's frame (scrolled into view first)."""
    out.scroll_into_view_if_needed()
    return colour_pixels(_frame_png(page, _state(page)), PINK)


def _wait_pink(page, out, what: str, ok: Callable[[int], bool]) -> int:
    """Screenshots of the plot's frame until its count of highlight-coloured pixels is ``ok``
    (BokehJS repaints on the next animation frame after a change)."""
    seen: list[int] = []

    def check() -> bool:
        seen.append(_pink(page, out))
        return ok(seen[-1])

    try:
        _poll(what, check)
        return seen[-1]
    except AssertionError:
        raise AssertionError(f"{what}: highlight-coloured pixels seen {seen[-5:]}") from None


def _open_plot(page, lab_server, name: str) -> tuple[Any, dict, int]:
    """Open notebook ``name``, run its first three cells; the plot's output, state and len(df)."""

    open_notebook(page, lab_server, name, LOAD_TIMEOUT)
    n_df = int(run_cell(page, 0).locator(".jp-OutputArea-output").last.inner_text().strip())
    assert 100 < n_df < 50_000  # points (box select), not a raster
    run_cell(page, 1)
    out = run_cell(page, 2).locator(".jp-OutputArea-output").last
    state = _poll("the linked plot drawn by BokehJS", lambda: (s := _state(page)) and s["points"] > 0 and s)
    assert state["points"] == n_df and state["highlighted"] == 0, state
    return out, state, n_df


def _box_select(page, out) -> dict:
    """Make bokeh's box select the active drag tool (cmd() leaves pan active): its button."""
    out.scroll_into_view_if_needed()
    state = _state(page)
    if not state["box_select"]:
        out.get_by_title("Box Select").click()
        state = _poll("box select active", lambda: (s := _state(page))["box_select"] and s)
    return state


def _drag_plot(page, state: dict, fx: tuple[float, float], fy: tuple[float, float]) -> list[float]:
    """Drag a box over the plot's frame between fractions ``fx``, ``fy`` of its width and height;
    returns the box in data coordinates [x0, x1, y0, y1] as the tool had it at the release."""
    f = state["frame"]
    x0, x1 = (f["x"] + f["width"] * a for a in fx)
    y0, y1 = (f["y"] + f["height"] * a for a in fy)
    (ex0, ey0), (ex1, ey1) = _to_data(state, x0, y0), _to_data(state, x1, y1)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=12)

    # the overlay follows the mouse (data units): wait for the last move, then read the box
    def at_end() -> list[float] | None:
        o = _state(page)["overlay"]
        return o if o and abs(o[1] - max(ex0, ex1)) < 1e-3 * abs(ex1 - ex0) else None

    left, right, top, bottom = _poll("the box select overlay at the mouse", at_end)
    page.mouse.up()
    page.mouse.move(5, 5)  # no hover tooltip over the frame
    # the tool's box is where the mouse went (within a pixel): a check on the geometry used here
    px_x = abs(state["x_range"][1] - state["x_range"][0]) / f["width"]
    px_y = abs(state["y_range"][1] - state["y_range"][0]) / f["height"]
    assert abs(min(left, right) - min(ex0, ex1)) <= px_x and abs(max(left, right) - max(ex0, ex1)) <= px_x
    assert abs(min(top, bottom) - min(ey0, ey1)) <= px_y and abs(max(top, bottom) - max(ey0, ey1)) <= px_y
    return [min(left, right), max(left, right), min(top, bottom), max(top, bottom)]


def _inside(plotted: list[list[float]], box: list[float]) -> tuple[set[int], set[int]]:
    """Rows plotted inside ``box`` (inclusive, as bokeh's hit test): those surely inside and those
    maybe inside. They differ only for a point within 1e-9 of the range of an edge, where the
    float rounding of BokehJS's screen <-> data transform could decide either way."""
    x0, x1, y0, y1 = box
    ex, ey = 1e-9 * (x1 - x0 + 1), 1e-9 * (y1 - y0 + 1)
    sure = {int(i) for i, x, y in plotted if x0 + ex <= x <= x1 - ex and y0 + ey <= y <= y1 - ey}
    maybe = {int(i) for i, x, y in plotted if x0 - ex <= x <= x1 + ex and y0 - ey <= y <= y1 + ey}
    return sure, maybe


def _xy(plotted: list[list[float]], labels: set[int]) -> list[tuple[float, float]]:
    return sorted((x, y) for i, x, y in plotted if int(i) in labels)


def _selection(page, notebook: str | None = None) -> dict:
    cell = run_cell(page, 3, notebook_name=notebook)
    return json.loads(cell.locator(".jp-OutputArea-output").last.inner_text())


@contextmanager
def _notebook_page(lab_server, browser_context, name: str) -> Iterator[tuple[Any, list[str]]]:
    """A page for the notebook ``name`` (written with CELLS) and the page errors seen, closed after."""
    put_notebook(lab_server, name, CELLS)
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page, errors
    finally:
        page.close()


def test_box_select_in_a_cmd_assigns_plot_selection(lab_server, browser_context, results_dir: Path):
    """Part A: a box in the plot -> plot_selection (exactly the rows inside) and the highlight."""
    with _notebook_page(lab_server, browser_context, "brush.ipynb") as (page, errors):
        t0 = time.monotonic()
        out, _, n_df = _open_plot(page, lab_server, "brush.ipynb")
        state = _box_select(page, out)
        # drawn (the points are there), with nothing highlighted yet
        area = state["frame"]["width"] * state["frame"]["height"]
        _poll(
            "points drawn",
            lambda: colour_pixels(_frame_png(page, _state(page)), (255, 255, 255), 10) < 0.98 * area,
        )
        before = _pink(page, out)
        assert before <= 3, f"{before} highlight-coloured pixels before any selection"
        page.screenshot(path=str(results_dir / "brush-plot-before.png"))

        box = _drag_plot(page, state, (0.25, 0.75), (0.25, 0.75))
        # the kernel assigned the rows and sent them back to the plot's highlight
        _poll("the highlight drawn", lambda: _state(page)["highlighted"] > 0)
        sel = _selection(page)
        assert sel["type"] == "DataFrame" and sel["in_df"], {k: sel[k] for k in ("type", "n", "in_df")}
        assert 0 < sel["n"] < n_df and len(set(sel["index"])) == sel["n"]
        sure, maybe = _inside(sel["plotted"], box)
        chosen = set(sel["index"])
        assert sure <= chosen <= maybe, (
            f"box {box}: {len(chosen)} selected; missing {sorted(sure - chosen)[:10]}, "
            f"outside {sorted(chosen - maybe)[:10]}"
        )
        # the highlight draws those rows, where they are plotted
        shown = _poll(
            "every selected row highlighted", lambda: (s := _state(page))["highlighted"] == sel["n"] and s
        )
        assert sorted(map(tuple, shown["highlight_xy"])) == _xy(sel["plotted"], chosen)
        pink = _wait_pink(page, out, "the selected rows in pink", lambda n: n > 50)
        page.screenshot(path=str(results_dir / "brush-plot-selected.png"))
        assert not [e for e in errors if "bokeh" in e.lower() or "lsstbox" in e.lower()], errors
        print(
            f"\nbrushing: {sel['n']}/{n_df} rows in box {[round(v, 3) for v in box]} "
            f"(exact: {sure == maybe}), {pink} pink px (before {before}), {time.monotonic() - t0:.1f}s"
        )


def _empty_corner(state: dict, plotted: list[list[float]]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Fractions of the frame of a small box (in a corner) that holds no plotted point."""
    for fx, fy in (((0.02, 0.1), (0.02, 0.1)), ((0.9, 0.98), (0.02, 0.1)), ((0.02, 0.1), (0.9, 0.98))):
        f = state["frame"]
        (x0, y0) = _to_data(state, f["x"] + f["width"] * fx[0], f["y"] + f["height"] * fy[0])
        (x1, y1) = _to_data(state, f["x"] + f["width"] * fx[1], f["y"] + f["height"] * fy[1])
        box = [min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)]
        margin = 0.05  # (mag) a few pixels: no marker even touches the box
        if not _inside(plotted, [box[0] - margin, box[1] + margin, box[2] - margin, box[3] + margin])[1]:
            return fx, fy
    raise AssertionError("no empty corner in the plot")


def test_plot_and_sky_panel_share_selections(lab_server, browser_context, results_dir: Path):
    """Part B: the plot and a sky panel showing the same table highlight each other's selections."""
    from playwright.sync_api import expect

    with _notebook_page(lab_server, browser_context, "brush-sky.ipynb") as (page, errors):
        t0 = time.monotonic()
        out, _, n_df = _open_plot(page, lab_server, "brush-sky.ipynb")

        # -- the sky panel, beside the notebook, drawing df as the layer 'df'
        palette_command(page, "Open Sky Panel", "lsstbox:open-sky-panel")
        panel = page.get_by_test_id("lsstbox-sky-panel")
        expect(panel).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        page.evaluate(
            f"(el) => {{ el.lsstboxSky.setTarget({FIELD[0]}, {FIELD[1]}); el.lsstboxSky.setFov(0.06); }}",
            panel.element_handle(),
        )
        aladin = panel.get_by_test_id("lsstbox-sky-aladin")
        wait_for_sky(page, aladin)
        # the file browser closed, and the panel beside the notebook: both in view at once
        palette_command(page, "Show Left Sidebar", "application:toggle-left-area")
        dock_right(page, "HiPS sky panel")
        nb_box = page.locator(".jp-NotebookPanel:visible").bounding_box()
        panel_box = _poll("the sky panel docked right of the notebook", panel.bounding_box)
        assert nb_box is not None and panel_box["x"] >= nb_box["x"] + nb_box["width"] - 10, (
            nb_box,
            panel_box,
        )
        page.screenshot(path=str(results_dir / "brush-docked.png"))
        shown = run_cell(page, 4, notebook_name="brush-sky.ipynb").locator(".jp-OutputArea-output").last
        expect(shown).to_contain_text(f"'df': {n_df:,} rows sent to the linked sky panels")
        expect(panel).to_have_attribute(
            "data-layers",
            re.compile(rf'"df":\{{"kind":"catalog","n":{n_df},"drawn":true'),
            timeout=LOAD_TIMEOUT,
        )
        assert panel.get_attribute("data-highlighted") is None

        # -- (1) a box in the plot: the same rows highlighted in the panel's layer, with a notice
        state = _box_select(page, out)
        _drag_plot(page, state, (0.25, 0.75), (0.25, 0.75))
        _poll("the plot's highlight", lambda: _state(page)["highlighted"] > 0)
        sel = _selection(page, "brush-sky.ipynb")
        n_plot = sel["n"]
        assert 0 < n_plot < n_df
        expect(panel).to_have_attribute(
            "data-highlighted", json.dumps({"df": n_plot}, separators=(",", ":")), timeout=LOAD_TIMEOUT
        )
        message = panel.get_by_test_id("lsstbox-sky-message")
        expect(message).to_contain_text("plot_selection", timeout=LOAD_TIMEOUT)
        expect(message).to_contain_text(f"{n_plot:,}")
        out.scroll_into_view_if_needed()
        page.screenshot(path=str(results_dir / "brush-plot-to-sky.png"))

        # -- an empty box in the plot clears both highlights
        state = _box_select(page, out)
        fx, fy = _empty_corner(state, sel["plotted"])
        _drag_plot(page, state, fx, fy)
        _poll("the plot's highlight cleared", lambda: _state(page)["highlighted"] == 0)
        _wait_pink(page, out, "no pink left in the plot", lambda n: n <= 3)
        expect(panel).to_have_attribute("data-highlighted", '{"df":0}', timeout=LOAD_TIMEOUT)

        # -- (2) a box in the panel: sky_selection and plot_selection, highlighted in the plot
        box = aladin.bounding_box()
        assert box is not None
        pix = page.evaluate(
            "(el) => { const sky = el.lsstboxSky;"
            " return sky.layers.get('df').obj.getSources().map(s => sky.aladin.world2pix(s.ra, s.dec)); }",
            panel.element_handle(),
        )
        xs = sorted(p[0] for p in pix if p)
        ys = sorted(p[1] for p in pix if p)
        assert len(xs) == n_df, f"{len(xs)} of {n_df} sources in the view"
        # the middle of the drawn sources: some of them, not all
        x0, x1 = box["x"] + xs[len(xs) * 3 // 10], box["x"] + xs[len(xs) * 7 // 10]
        y0, y1 = box["y"] + ys[len(ys) // 4], box["y"] + ys[len(ys) * 3 // 4]
        panel.get_by_test_id("lsstbox-sky-select-rect").click()
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x1, y1, steps=12)
        page.mouse.up()
        page.mouse.move(5, 5)
        expect(panel).to_have_attribute(
            "data-assigned", re.compile(r"^sky_selection:[1-9]"), timeout=LOAD_TIMEOUT
        )
        n_sky = int((panel.get_attribute("data-assigned") or ":0").split(":")[1])
        assert 0 < n_sky < n_df
        assert json.loads(panel.get_attribute("data-selection") or "{}") == {"df": n_sky}
        expect(message).to_contain_text(f"sky_selection ← {n_sky:,} selected rows", timeout=LOAD_TIMEOUT)
        expect(message).to_contain_text("also plot_selection")
        shown_state = _poll(
            "the panel's selection highlighted in the plot",
            lambda: (s := _state(page))["highlighted"] == n_sky and s,
        )
        pink = _wait_pink(page, out, "the panel's rows in pink", lambda n: n > 50)
        cell = run_cell(page, 5, notebook_name="brush-sky.ipynb")
        both = json.loads(cell.locator(".jp-OutputArea-output").last.inner_text())
        sky_rows, plot_rows = set(both["sky"]), set(both["plot"])
        assert len(sky_rows) == len(both["sky"]) == n_sky, (len(both["sky"]), n_sky)
        assert plot_rows == sky_rows and both["n_plot"] == n_sky, (
            f"sky_selection {n_sky} rows, plot_selection {both['n_plot']}: "
            f"{len(sky_rows - plot_rows)} only in sky_selection, "
            f"{len(plot_rows - sky_rows)} only in plot_selection"
        )
        assert sorted(map(tuple, shown_state["highlight_xy"])) == _xy(sel["plotted"], sky_rows)
        out.scroll_into_view_if_needed()
        page.screenshot(path=str(results_dir / "brush-sky-to-plot.png"))
        assert not [e for e in errors if any(w in e.lower() for w in ("bokeh", "lsstbox", "aladin"))], errors
        print(
            f"\nplot <-> sky: {n_plot} rows from the plot, {n_sky} from the panel ({pink} pink px), "
            f"{time.monotonic() - t0:.1f}s"
        )


def _deep_coadd_did(lab_server, ra: float, dec: float) -> str:
    """The ObsCore DID of a deep coadd covering (ra, dec) (an r-band one if any), from TAP."""
    header, rows = tap_csv(
        lab_server,
        "SELECT obs_publisher_did, lsst_band FROM ivoa.ObsCore "
        f"WHERE CONTAINS(POINT('ICRS', {ra}, {dec}), s_region) = 1 "
        "AND dataproduct_subtype = 'lsst.deep_coadd'",
    )
    assert rows, f"no deep coadd covers {ra}, {dec}"
    assert "obs_publisher_did" in header and "lsst_band" in header, header
    i_did, i_band = header.index("obs_publisher_did"), header.index("lsst_band")
    return next((row for row in rows if row[i_band] == "r"), rows[0])[i_did]


def test_plot_selection_highlighted_in_the_image_viewer(lab_server, browser_context, results_dir: Path):
    """Part C: a box in the plot highlights the same rows among the image viewer's sources."""
    from playwright.sync_api import expect

    name = "brush-image.ipynb"
    with _notebook_page(lab_server, browser_context, name) as (page, errors):
        t0 = time.monotonic()
        out, _, n_df = _open_plot(page, lab_server, name)

        # -- the deep coadd under the field in the image viewer, beside the notebook
        did = _deep_coadd_did(lab_server, *FIELD)
        palette_command(page, "Open Image", "lsstbox:open-image")
        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_be_visible()
        dialog.locator("input").fill(f"did:{did}")
        dialog.get_by_role("button", name="Open").click()
        viewer = page.locator('[data-testid="lsstbox-image-viewer"]:visible')
        expect(viewer).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        canvas = viewer.get_by_test_id("lsstbox-image-canvas")
        palette_command(page, "Show Left Sidebar", "application:toggle-left-area")
        dock_tab_right(page, page.locator(f'.lm-DockPanel-tabBar .lm-TabBar-tab[title*="did:{did}"]').first)
        nb_box = page.locator(".jp-NotebookPanel:visible").bounding_box()
        viewer_box = _poll("the image viewer docked right of the notebook", viewer.bounding_box)
        assert nb_box is not None and viewer_box["x"] >= nb_box["x"] + nb_box["width"] - 10, (
            nb_box,
            viewer_box,
        )

        # -- its link bar draws df (every row) over the image
        expect(viewer.get_by_test_id("lsstbox-link-notebook")).to_contain_text(name, timeout=LOAD_TIMEOUT)
        expect(viewer.get_by_test_id("lsstbox-link-status")).to_have_attribute(
            "data-status", "ready", timeout=LOAD_TIMEOUT
        )
        viewer.get_by_test_id("lsstbox-link-variable").fill("df")
        viewer.get_by_test_id("lsstbox-link-draw").click()
        expect(viewer).to_have_attribute("data-linked-layer", f"df:{n_df}", timeout=LOAD_TIMEOUT)
        expect(canvas).to_have_attribute("data-sources", str(n_df))
        assert canvas.get_attribute("data-highlighted") is None
        time.sleep(0.5)  # a drawn frame
        before = colour_pixels(canvas.screenshot(), PINK)
        assert before <= 3, f"{before} highlight-coloured pixels in the image before any selection"

        # -- a box in the plot: the same rows highlighted among the viewer's sources, in pink
        state = _box_select(page, out)
        _drag_plot(page, state, (0.25, 0.75), (0.25, 0.75))
        _poll("the plot's highlight", lambda: _state(page)["highlighted"] > 0)
        sel = _selection(page, name)
        n_plot = sel["n"]
        assert 0 < n_plot < n_df
        # every row of df is a source of the viewer (the layer has n_df rows): all of them
        expect(canvas).to_have_attribute("data-highlighted", str(n_plot), timeout=LOAD_TIMEOUT)
        expect(viewer.get_by_test_id("lsstbox-image-notice")).to_contain_text(
            f"plot_selection ← {n_plot:,} rows selected", timeout=LOAD_TIMEOUT
        )
        # the highlighted sources are the selected rows (df's row positions of their labels)
        highlighted = page.evaluate("() => window.lsstboxImageViewer.highlightedSources")
        cell = run_cell(page, 6, notebook_name=name)
        positions = json.loads(cell.locator(".jp-OutputArea-output").last.inner_text())
        assert highlighted == positions, (len(highlighted), len(positions))
        # those inside the image (the viewer's pixel positions of its sources) are drawn in pink
        inside = page.evaluate(
            "(rows) => { const v = window.lsstboxImageViewer, i = v.info;"
            " return rows.filter(r => { const [x, y] = [v._sources.x[r], v._sources.y[r]];"
            " return x >= 0 && y >= 0 && x < i.width && y < i.height; }).length; }",
            highlighted,
        )
        pink = _poll(
            "the selected rows in pink in the image",
            lambda: (n := colour_pixels(canvas.screenshot(), PINK)) > 50 and n,
        )
        out.scroll_into_view_if_needed()
        page.screenshot(path=str(results_dir / "brush-plot-to-image.png"))
        canvas.screenshot(path=str(results_dir / "brush-image-canvas.png"))

        # -- an empty box in the plot clears the viewer's highlight
        state = _box_select(page, out)
        fx, fy = _empty_corner(state, sel["plotted"])
        _drag_plot(page, state, fx, fy)
        _poll("the plot's highlight cleared", lambda: _state(page)["highlighted"] == 0)
        _poll("the image's highlight cleared", lambda: canvas.get_attribute("data-highlighted") is None)
        _poll("no pink left in the image", lambda: colour_pixels(canvas.screenshot(), PINK) <= 3)
        assert not [e for e in errors if "bokeh" in e.lower() or "lsstbox" in e.lower()], errors
        print(
            f"\nplot -> image: {n_plot}/{n_df} rows highlighted ({inside} inside the image, {pink} pink px), "
            f"{time.monotonic() - t0:.1f}s"
        )
