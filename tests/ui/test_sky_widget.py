"""``SkyView`` (Aladin Lite v3 in an anywidget) in a real JupyterLab notebook, in Debian's chromium.

What this proves, end to end: the bundle built from ``js/widgets`` loads as an anywidget in
JupyterLab; Aladin Lite gets WebGL2 in headless chromium (SwiftShader) and draws the release's
colour HiPS from ``<base url>lsstbox/hips/color/`` (the view's pixels are a dark sky with bright
sources, not Aladin's grey background); a catalog added *before* the widget was displayed, in the
same cell, is drawn (the kernel-side queue delivered it once the view was ready); a MOC and
footprints added after display are drawn; a rectangle dragged with the mouse comes back to the
kernel as ``view.selection``, with the ids of exactly the objects inside it; a click on an object
sets ``view.clicked``; the traits go both ways (survey, target, fov from the kernel; a pan with
the mouse back to it); a second display of the widget gets the layers replayed; and the page never
contacts any host but the Jupyter server (the Playwright request log of the whole browser
context, workers included).
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from lab_notebook import cell_json, open_notebook, put_notebook, run_cell, wait_for_sky

from kernel_lib.catalog import open_catalog

pytestmark = pytest.mark.ui

LOAD_TIMEOUT = 60_000  # ms
NOTEBOOK = "sky.ipynb"
FIELD = (53.16, -28.1)
RED = "#ff0000"


CELLS = [
    # 0: the release's Object catalog as a DataFrame, its ObsCore table for footprints
    "import json\n"
    "import pandas as pd\n"
    "from jupyterlab_lsp import open_release\n"
    "from jupyterlab_lsp.widgets import SkyView\n"
    "from kernel_lib.catalog import open_catalog\n"
    'df = open_catalog("Object", columns=["objectId", "coord_ra", "coord_dec"]).compute()\n'
    "rel = open_release()\n"
    'obscore = pd.read_parquet(rel.resolve(rel.manifest["obscore"]["path"]))\n'
    "print(len(df))",
    # 1: the catalog is added before the widget is displayed, in the same cell
    f"view = SkyView(target={FIELD}, fov=0.05, survey='color')\n"
    f'view.add_catalog(df, name="Object", color="{RED}", size=10)\n'
    "view",
    # 2: calls after display are sent at once
    'view.add_moc("Object", color="#ffd600", opacity=0.1)\n'
    'coadds = obscore[(obscore.dataproduct_subtype == "lsst.deep_coadd") & (obscore.lsst_band == "r")]\n'
    'view.add_footprints(coadds, name="r coadds", color="#00e5ff")',
    # 3: what the kernel got back from the view
    "print(json.dumps({'selection': view.selection, 'clicked': view.clicked,"
    " 'overlays': view.overlays, 'errors': view.errors, 'target': view.target, 'fov': view.fov}))",
]


# Aladin Lite needs WebGL2 (see conftest.browser_context)
CHROMIUM_EXTRA_ARGS = ["--enable-unsafe-swiftshader"]
VIEWPORT = {"width": 1440, "height": 1000}


def _sin_xy(ra, dec, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """Orthographic (SIN) projection about (ra0, dec0): what Aladin's screen is, up to scale."""
    r, d, r0, d0 = (np.radians(v) for v in (np.asarray(ra), np.asarray(dec), ra0, dec0))
    x = np.cos(d) * np.sin(r - r0)
    y = np.sin(d) * np.cos(d0) - np.cos(d) * np.sin(d0) * np.cos(r - r0)
    return x, y


def test_sky_view_in_a_notebook(lab_server, browser_context, tiny_release: Path, results_dir: Path):
    from playwright.sync_api import expect

    t_start = time.monotonic()
    put_notebook(lab_server, NOTEBOOK, CELLS)
    server = urlsplit(lab_server.url).netloc
    requests_seen: list[str] = []
    responses: list[tuple[int, str]] = []
    browser_context.on("request", lambda r: requests_seen.append(r.url))
    browser_context.on("response", lambda r: responses.append((r.status, r.url)))
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{lab_server.url}lab/tree/{NOTEBOOK}?reset&token={lab_server.token}")
        expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=LOAD_TIMEOUT)
        # the kernel is up (the status bar names it and says Idle)
        expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=LOAD_TIMEOUT)

        # -- the catalog was added before display: the queued call survived
        n_objects = int(run_cell(page, 0).locator(".jp-OutputArea-output").last.inner_text().strip())
        assert n_objects > 100
        sky = run_cell(page, 1).locator(".lsstbox-sky")
        expect(sky).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        expect(sky).to_have_attribute(
            "data-layers", re.compile(r'"Object":\{[^}]*"drawn":true'), timeout=LOAD_TIMEOUT
        )
        assert json.loads(sky.get_attribute("data-layers") or "{}") == {
            "Object": {"kind": "catalog", "n": n_objects, "drawn": True}
        }

        # -- the colour HiPS is drawn: the release's sky, from our server only
        canvas = sky.locator(".lsstbox-sky-aladin")
        stats = wait_for_sky(page, canvas)
        hips = [(st, u) for st, u in responses if "/lsstbox/hips/color/" in u]
        assert any(u.endswith("/lsstbox/hips/color/properties") for _, u in hips), hips
        assert any("/Norder11/" in u for _, u in hips), hips
        assert all(st == 200 for st, _ in hips), [h for h in hips if h[0] != 200]
        # the catalog is on Aladin's 2-D catalog canvas, in its colour
        red_pixels = page.evaluate(
            """(el) => {
                const c = el.querySelector('canvas.aladin-catalogCanvas');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 0; i < d.length; i += 4) {
                    if (d[i + 3] > 128 && d[i] > 200 && d[i + 1] < 60 && d[i + 2] < 60) n++;
                }
                return n;
            }""",
            sky.element_handle(),
        )
        assert red_pixels > 500, red_pixels

        # -- a MOC and footprints added after display
        run_cell(page, 2)
        expect(sky).to_have_attribute(
            "data-layers", re.compile(r'"r coadds":\{[^}]*"drawn":true'), timeout=LOAD_TIMEOUT
        )
        expect(sky).to_have_attribute(
            "data-layers", re.compile(r'"MOC Object":\{[^}]*"drawn":true'), timeout=LOAD_TIMEOUT
        )
        assert any(st == 200 and u.endswith("/lsstbox/moc/Object.fits") for st, u in responses)
        page.wait_for_timeout(500)
        sky.screenshot(path=str(results_dir / "sky-widget.png"))

        # -- a rectangle dragged in the view comes back to the kernel as the selected ids
        box = canvas.bounding_box()
        assert box is not None
        sky.get_by_role("button", name="▭ select").click()
        expect(sky).to_have_attribute("data-selecting", "rect")
        x0, y0 = box["x"] + box["width"] * 0.30, box["y"] + box["height"] * 0.30
        x1, y1 = box["x"] + box["width"] * 0.60, box["y"] + box["height"] * 0.65
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x1, y1, steps=12)
        page.mouse.up()
        expect(sky).to_have_attribute("data-selection", re.compile(r'"Object":[1-9]'), timeout=LOAD_TIMEOUT)
        shown = json.loads(sky.get_attribute("data-selection") or "{}")
        sky.screenshot(path=str(results_dir / "sky-widget-selection.png"))

        state = cell_json(page, 3)
        sel = state["selection"]
        assert sel["region"]["type"] == "rect" and len(sel["region"]["vertices"]) == 4
        chosen = sel["ids"]["Object"]
        assert len(chosen) == shown["Object"] > 0
        assert set(sel["ids"]) == {"Object", "r coadds"}  # MOCs have no rows to select
        assert all(did.startswith("ivo://") for did in sel["ids"]["r coadds"])  # obs_publisher_did
        # exactly the objects inside the dragged rectangle (the screen is the SIN plane, north up)
        df = open_catalog(
            "Object", release=tiny_release, columns=["objectId", "coord_ra", "coord_dec"]
        ).compute()
        ra0, dec0 = state["target"]
        corners = np.asarray(sel["region"]["vertices"])
        vx, vy = _sin_xy(corners[:, 0], corners[:, 1], ra0, dec0)
        px, py = _sin_xy(df.coord_ra.to_numpy(), df.coord_dec.to_numpy(), ra0, dec0)
        eps = 1e-3 * (vx.max() - vx.min())
        inside = (px > vx.min() + eps) & (px < vx.max() - eps) & (py > vy.min() + eps) & (py < vy.max() - eps)
        near = (px > vx.min() - eps) & (px < vx.max() + eps) & (py > vy.min() - eps) & (py < vy.max() + eps)
        ids = df.objectId.to_numpy()
        assert set(ids[inside].tolist()) <= set(chosen) <= set(ids[near].tolist())
        overlays = {o["name"]: o for o in state["overlays"]}
        assert overlays["Object"]["drawn"] and overlays["Object"]["rows"] == n_objects
        assert overlays["r coadds"]["rows"] == 4 and overlays["r coadds"]["skipped"] == 0
        assert state["errors"] == []
        assert math.isclose(state["fov"], 0.05, rel_tol=1e-3)

        # -- a click on one object sets view.clicked to its id
        first = int(chosen[0])
        row = df[df.objectId == first].iloc[0]
        xy = page.evaluate(
            "([el, ra, dec]) => el.lsstboxSky.aladin.world2pix(ra, dec)",
            [sky.element_handle(), float(row.coord_ra), float(row.coord_dec)],
        )
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()  # running a cell may have scrolled the notebook
        assert box is not None
        page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
        expect(sky).to_have_attribute("data-clicked", re.compile(r"^Object:"), timeout=LOAD_TIMEOUT)
        clicked = cell_json(page, 3)["clicked"]
        assert clicked["layer"] == "Object" and clicked["id"] == first, clicked
        # the view knows row numbers only; the kernel told it the id to show
        expect(sky.locator(".lsstbox-sky-status")).to_have_text(f"clicked: Object {first}")

        # -- nothing but the Jupyter server was contacted, by the page or any worker
        hosts = {
            urlsplit(u).netloc for u in requests_seen if urlsplit(u).scheme in ("http", "https", "ws", "wss")
        }
        assert hosts == {server}, sorted(hosts - {server})
        others = [
            u
            for u in requests_seen
            if urlsplit(u).scheme not in ("http", "https", "ws", "wss", "data", "blob")
        ]
        assert not others, others
        assert not [e for e in errors if "aladin" in e.lower() or "lsstbox" in e.lower()], errors
        print(
            f"\nsky widget: {len(requests_seen)} requests, all to {server} ({len(hips)} colour HiPS), "
            f"view {stats}, {red_pixels} catalog pixels, {len(chosen)} selected, "
            f"{time.monotonic() - t_start:.1f}s"
        )
    finally:
        page.close()


FOLLOW_CELLS = [
    # 0: default target (the release's field), a mocpy MOC sent as bytes, displayed
    "import json\n"
    "import astropy.units as u\n"
    "from astropy.coordinates import Latitude, Longitude\n"
    "from mocpy import MOC\n"
    "from jupyterlab_lsp.widgets import SkyView\n"
    "view = SkyView(fov=0.05, height=300)\n"
    "cone = MOC.from_cone(\n"
    "    lon=Longitude(53.16 * u.deg), lat=Latitude(-28.1 * u.deg), radius=20 * u.arcsec, max_depth=16\n"
    ")\n"
    'view.add_moc(cone, name="cone", color="#ff9100", opacity=0.4)\n'
    "view",
    # 1: the kernel moves the view and changes the survey
    "view.survey = 'r'\nview.target = (53.17, -28.09)\nview.fov = 0.03",
    # 2: a second display of the same widget
    "view",
    # 3: the view's position as the kernel sees it
    "print(json.dumps({'target': view.target, 'fov': view.fov, 'overlays': view.overlays}))",
]


def test_sky_view_follows_the_kernel_and_back(lab_server, browser_context, results_dir: Path):
    """Traits both ways (survey, target, fov; a pan in the view), a mocpy MOC, a second display."""
    from playwright.sync_api import expect

    put_notebook(lab_server, "sky-follow.ipynb", FOLLOW_CELLS)
    server = urlsplit(lab_server.url).netloc
    responses: list[tuple[int, str]] = []
    browser_context.on("response", lambda r: responses.append((r.status, r.url)))
    page = browser_context.new_page()
    try:
        open_notebook(page, lab_server, "sky-follow.ipynb", LOAD_TIMEOUT)
        sky = run_cell(page, 0).locator(".lsstbox-sky")
        expect(sky).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        expect(sky).to_have_attribute("data-layers", re.compile(r'"cone":\{"kind":"moc","n":1,"drawn":true'))
        center = page.evaluate("(el) => el.lsstboxSky.aladin.getRaDec()", sky.element_handle())
        assert center == pytest.approx(FIELD, abs=1e-6)  # the release's field by default

        run_cell(page, 1)
        expect(sky.locator("select.lsstbox-sky-survey")).to_have_value("r", timeout=LOAD_TIMEOUT)
        page.wait_for_function(
            "(el) => { const [ra, dec] = el.lsstboxSky.aladin.getRaDec();"
            " return Math.abs(ra - 53.17) < 1e-6 && Math.abs(dec + 28.09) < 1e-6"
            " && Math.abs(el.lsstboxSky.aladin.getFov()[0] - 0.03) < 1e-6; }",
            arg=sky.element_handle(),
            timeout=LOAD_TIMEOUT,
        )
        deadline = time.monotonic() + 30
        while not any(st == 200 and "/lsstbox/hips/r/Norder" in u for st, u in responses):
            assert time.monotonic() < deadline, [u for _, u in responses if "/hips/" in u]
            page.wait_for_timeout(200)

        # a second display: a new view, ready, with the layer replayed to it
        second = run_cell(page, 2).locator(".lsstbox-sky")
        expect(second).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        expect(second).to_have_attribute(
            "data-layers", re.compile(r'"cone":\{"kind":"moc","n":1,"drawn":true')
        )
        assert second.get_attribute("data-view") != sky.get_attribute("data-view")
        expect(second.locator("select.lsstbox-sky-survey")).to_have_value("r")
        second.screenshot(path=str(results_dir / "sky-widget-second-view.png"))

        # a pan with the mouse in the view reaches the kernel
        canvas = sky.locator(".lsstbox-sky-aladin")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        assert box is not None
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + 200, cy + 60, steps=10)
        page.mouse.up()
        page.wait_for_timeout(600)  # the view reports after 250 ms of quiet
        state = cell_json(page, 3)
        ra, dec = state["target"]
        moved = math.hypot((ra - 53.17) * math.cos(math.radians(dec)), dec + 28.09)
        assert moved > 0.003, state["target"]  # 200 px of a 0.03 deg view is ~0.006 deg
        assert state["fov"] == pytest.approx(0.03, rel=1e-3)
        assert [o["name"] for o in state["overlays"]] == ["cone"]
        assert {urlsplit(u).netloc for _, u in responses if urlsplit(u).scheme.startswith("http")} == {server}
    finally:
        page.close()
