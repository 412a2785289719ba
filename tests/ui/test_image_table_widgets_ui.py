"""``ImageView`` and ``TableView`` (anywidgets) in a real JupyterLab notebook, in Debian's chromium.

End to end: an ImageView of a release deep coadd, given as its ObsCore row (``did:``), with the
release's objects added *before* display, shows the server's tiles and draws every source (the
canvas's ``data-sources``); a click on one source, at the screen position computed from the
canvas's view attributes and the server's ``world2pix``, sets ``view.clicked`` to that object's
row, read by the kernel in the next cell. A TableView of the same DataFrame shows its first page;
a click on a column header sorts the whole table in the kernel (``view.sort``, the first row is
the smallest); clicks and a shift-click on rows set ``view.selection``; a selection set from
Python is shown; and ``TableView.link`` with a SkyView highlights the selected rows there.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from lab_notebook import cell_json, open_notebook, put_notebook, run_cell

pytestmark = pytest.mark.ui

LOAD_TIMEOUT = 60_000  # ms
NOTEBOOK = "image-table.ipynb"

CELLS = [
    # 0: the release's objects, a deep coadd's ObsCore row
    "import json\n"
    "import pandas as pd\n"
    "from jupyterlab_lsp import open_release\n"
    "from jupyterlab_lsp.widgets import ImageView, SkyView, TableView\n"
    "from kernel_lib.catalog import open_catalog\n"
    'df = open_catalog("Object", columns=["objectId", "coord_ra", "coord_dec"]).compute()\n'
    "df = df.reset_index(drop=True)\n"
    "rel = open_release()\n"
    'obscore = pd.read_parquet(rel.resolve(rel.manifest["obscore"]["path"]))\n'
    'coadds = obscore[obscore.dataproduct_subtype == "lsst.deep_coadd"]\n'
    'coadd = coadds[coadds.lsst_band == "r"].iloc[0]\n'
    'print(json.dumps({"n": len(df), "did": coadd.obs_publisher_did}))',
    # 1: sources added before display (queued)
    "iv = ImageView(coadd, stretch='asinh', height=420)\niv.add_sources(df)\niv",
    # 2: what the kernel got back
    "print(json.dumps({'src': iv.src, 'clicked': iv.clicked, 'target': iv.target,"
    " 'errors': iv.errors}, default=str))",
    # 3: a table
    "tv = TableView(df, height=260)\ntv",
    # 4: its state
    "print(json.dumps({'sort': tv.sort, 'selection': tv.selection, 'errors': tv.errors}))",
    # 5: a selection from Python; a SkyView linked to the table
    "tv.sort = []\ntv.selection = [0, 1, 2]\n"
    "sky = SkyView(target=(53.16, -28.1), fov=0.05, height=300)\n"
    "sky.add_catalog(df, name='Object')\n"
    "link = tv.link(sky, 'Object')\nsky",
]


# the SkyView needs WebGL2 (see conftest.browser_context)
CHROMIUM_EXTRA_ARGS = ["--enable-unsafe-swiftshader"]
VIEWPORT = {"width": 1440, "height": 1000}


def _api(lab_server, path: str, body: dict) -> dict:
    r = requests.post(
        f"{lab_server.url}{path}",
        headers={"Authorization": f"token {lab_server.token}"},
        json=body,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _pick_isolated(x: np.ndarray, y: np.ndarray, w: int, h: int, min_sep: float) -> int:
    """A source inside the image (away from its edges) with no other within ``min_sep`` pixels."""
    ok = np.isfinite(x) & np.isfinite(y) & (x > 20) & (y > 20) & (x < w - 20) & (y < h - 20)
    for i in np.flatnonzero(ok):
        d = np.hypot(x - x[i], y - y[i])
        d[i] = np.inf
        if np.nanmin(d) > min_sep:
            return int(i)
    raise AssertionError("no isolated source in the image")


def test_image_and_table_views(lab_server, browser_context, tiny_release: Path, results_dir: Path):
    from playwright.sync_api import expect

    from kernel_lib.catalog import open_catalog

    t0 = time.monotonic()
    put_notebook(lab_server, NOTEBOOK, CELLS)
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        open_notebook(page, lab_server, NOTEBOOK, LOAD_TIMEOUT)
        setup = json.loads(run_cell(page, 0).locator(".jp-OutputArea-output").last.inner_text())
        n, did = setup["n"], setup["did"]
        assert n > 100 and did.startswith("ivo://")

        # -- ImageView: the coadd, its sources (added before display) drawn
        widget = run_cell(page, 1).locator(".lsstbox-image-widget")
        expect(widget).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        canvas = widget.get_by_test_id("lsstbox-image-canvas")
        expect(canvas).to_have_attribute("data-sources", str(n), timeout=LOAD_TIMEOUT)
        expect(canvas).to_have_attribute("data-tile", re.compile("stretch=asinh"), timeout=LOAD_TIMEOUT)
        expect(widget.get_by_test_id("lsstbox-image-stretch")).to_have_value("asinh")
        box = widget.bounding_box()
        assert box is not None and abs(box["height"] - 420) < 2, box

        # a click on an isolated source: its screen position from the server's world2pix
        df = open_catalog(
            "Object", release=tiny_release, columns=["objectId", "coord_ra", "coord_dec"]
        ).compute()
        df = df.reset_index(drop=True)
        src = f"did:{did}"
        xy = _api(
            lab_server,
            "lsstbox/image/world2pix",
            {"src": src, "ra": df.coord_ra.tolist(), "dec": df.coord_dec.tolist()},
        )
        x = np.array([np.nan if v is None else v for v in xy["x"]], dtype=float)
        y = np.array([np.nan if v is None else v for v in xy["y"]], dtype=float)
        w, h = int(canvas.get_attribute("data-image-width")), int(canvas.get_attribute("data-image-height"))
        scale = float(canvas.get_attribute("data-scale"))
        i = _pick_isolated(x, y, w, h, min_sep=24 / scale)
        canvas.scroll_into_view_if_needed()
        cbox = canvas.bounding_box()
        assert cbox is not None
        scale = float(canvas.get_attribute("data-scale"))
        ox, oy = float(canvas.get_attribute("data-ox")), float(canvas.get_attribute("data-oy"))
        page.mouse.click(cbox["x"] + ox + x[i] * scale, cbox["y"] + oy - y[i] * scale)
        expect(widget).to_have_attribute("data-clicked", str(i), timeout=LOAD_TIMEOUT)
        expect(widget.get_by_test_id("lsstbox-image-source")).to_have_text(
            f"Source {int(df.objectId.iloc[i])}", timeout=LOAD_TIMEOUT
        )
        page.wait_for_timeout(400)  # the target report (250 ms debounce)
        state = cell_json(page, 2)
        clicked = state["clicked"]
        assert clicked["index"] == i and clicked["id"] == int(df.objectId.iloc[i]), clicked
        row = clicked["row"]
        assert int(row["objectId"]) == int(df.objectId.iloc[i])
        assert row["coord_ra"] == pytest.approx(float(df.coord_ra.iloc[i]))
        assert state["src"] == src and state["errors"] == []
        assert state["target"] is not None  # the view reported its centre
        widget.screenshot(path=str(results_dir / "image-widget.png"))

        # -- TableView: the first page, a header click sorts in the kernel, row clicks select
        table = run_cell(page, 3).locator(".lsstbox-table-widget")
        expect(table).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        expect(table).to_have_attribute("data-total", str(n))
        first = json.loads(table.get_attribute("data-first-row") or "null")
        assert int(first[0]) == int(df.objectId.iloc[0])
        columns = json.loads(table.get_attribute("data-columns") or "[]")
        assert [c[0] for c in columns] == ["objectId", "coord_ra", "coord_dec"]
        table.scroll_into_view_if_needed()
        geo = page.evaluate(
            """(el) => { const g = el.lsstboxTable.grid;
                return { hw: g.headerWidth, hh: g.headerHeight,
                         widths: [0, 1, 2].map(i => g.columnSize('body', i)),
                         rh: g.rowSize('body', 0) }; }""",
            table.element_handle(),
        )
        tbox = table.bounding_box()
        assert tbox is not None
        ra_x = tbox["x"] + geo["hw"] + geo["widths"][0] + geo["widths"][1] / 2
        page.mouse.click(ra_x, tbox["y"] + 8)  # the name row of the coord_ra header
        expect(table).to_have_attribute("data-sort", '["coord_ra",true]', timeout=LOAD_TIMEOUT)
        expect(table).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        smallest = int(df.coord_ra.idxmin())
        expect(table).to_have_attribute("data-first-position", str(smallest), timeout=LOAD_TIMEOUT)
        first = json.loads(table.get_attribute("data-first-row") or "null")
        assert first[1] == pytest.approx(float(df.coord_ra.min()))

        def row_y(k: int) -> float:
            return tbox["y"] + geo["hh"] + (k + 0.5) * geo["rh"]

        body_x = tbox["x"] + geo["hw"] + 20
        page.mouse.click(body_x, row_y(0))
        page.keyboard.down("Shift")
        page.mouse.click(body_x, row_y(2))
        page.keyboard.up("Shift")
        expect(table).to_have_attribute("data-selected", "3", timeout=LOAD_TIMEOUT)  # the kernel's range
        page.keyboard.down("Control")
        page.mouse.click(body_x, row_y(4))
        page.keyboard.up("Control")
        expect(table).to_have_attribute("data-selected", "4", timeout=LOAD_TIMEOUT)
        state = cell_json(page, 4)
        order = np.argsort(df.coord_ra.to_numpy(), kind="stable")
        assert state["sort"] == ["coord_ra", True]
        assert state["selection"] == sorted(order[[0, 1, 2, 4]].tolist()), state
        assert state["errors"] == []
        table.screenshot(path=str(results_dir / "table-widget.png"))

        # -- a selection from Python is shown; the linked SkyView highlights it
        sky = run_cell(page, 5).locator(".lsstbox-sky")
        expect(table).to_have_attribute("data-selected", "3", timeout=LOAD_TIMEOUT)
        expect(sky).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        expect(sky).to_have_attribute("data-highlighted", '{"Object":3}', timeout=LOAD_TIMEOUT)
        assert not [e for e in errors if "lsstbox" in e.lower()], errors
        print(f"\nimage/table widgets: {n} sources, clicked {clicked['id']}, {time.monotonic() - t0:.1f}s")
    finally:
        page.close()
