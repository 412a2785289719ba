"""The HiPS sky panel (main area) linked to a notebook's kernel, in Debian's chromium.

What this proves, end to end, through the UI only: the panel opens from the command palette,
loads the shared sky core from the server and draws the release's colour HiPS (a real sky, not a
blank canvas); a notebook DataFrame typed into the panel's variable box is drawn (every row);
a variable that is not a table, or no variable at all, gets a clear message in the panel and
nothing breaks; running a cell that changes the DataFrame redraws the layer with the new rows;
a box dragged in the panel becomes ``sky_selection`` in the kernel, holding exactly the rows the
panel selected, read in the next cell; a click on an object shows its row (from the kernel); MOC
and ObsCore footprint overlays draw; "Open image here" opens the deep coadd under the centre in
the image viewer, centred there; the image viewer draws the same variable over the image; and a
kernel that dies leaves the panel working with a message saying so. Nothing but the Jupyter
server is contacted.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from lab_notebook import (
    cell_json,
    open_notebook,
    palette_command,
    put_notebook,
    replace_query,
    run_cell,
    tap_csv,
    wait_for_sky,
)

pytestmark = pytest.mark.ui

LOAD_TIMEOUT = 60_000  # ms
NOTEBOOK = "panel.ipynb"
FIELD = (53.16, -28.1)

CELLS = [
    # 0: a DataFrame with positions, and a variable that is not a table
    "import json\n"
    "from kernel_lib.catalog import open_catalog\n"
    'df = open_catalog("Object", columns=["objectId", "coord_ra", "coord_dec"]).compute()\n'
    "df = df.reset_index(drop=True)\n"
    "x = 5\n"
    "print(len(df))",
    # 1: the variable changes
    "df = df.iloc[: len(df) // 2]\nprint(len(df))",
    # 2: what the panel's selection assigned
    "print(json.dumps({'type': type(sky_selection).__name__, 'n': len(sky_selection),"
    " 'ids': [int(i) for i in sky_selection.objectId],"
    " 'in_df': bool(sky_selection.objectId.isin(df.objectId).all())}))",
    # 3: the kernel dies
    "import os\nos._exit(1)",
]


# Aladin Lite needs WebGL2 (see conftest.browser_context)
CHROMIUM_EXTRA_ARGS = ["--enable-unsafe-swiftshader"]
VIEWPORT = {"width": 1500, "height": 1000}


def _layers(panel) -> dict:
    return json.loads(panel.get_attribute("data-layers") or "{}")


def _draw(panel, name: str) -> None:
    box = panel.get_by_test_id("lsstbox-link-variable")
    box.fill(name)
    panel.get_by_test_id("lsstbox-link-draw").click()


def test_sky_panel_linked_to_a_notebook(lab_server, browser_context, results_dir: Path):
    from playwright.sync_api import expect

    put_notebook(lab_server, NOTEBOOK, CELLS)
    server = urlsplit(lab_server.url).netloc
    seen: list[str] = []
    browser_context.on("request", lambda r: seen.append(r.url))
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    t0 = time.monotonic()
    try:
        open_notebook(page, lab_server, NOTEBOOK, LOAD_TIMEOUT)
        n_all = int(run_cell(page, 0).locator(".jp-OutputArea-output").last.inner_text().strip())
        assert n_all > 100

        # -- the panel from the palette, drawing the release's sky
        palette_command(page, "Open Sky Panel", "lsstbox:open-sky-panel")
        panel = page.get_by_test_id("lsstbox-sky-panel")
        expect(panel).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        expect(panel.get_by_test_id("lsstbox-sky-survey")).to_have_value("color")
        panel.get_by_test_id("lsstbox-sky-goto").fill(f"{FIELD[0]}, {FIELD[1]}")
        panel.get_by_test_id("lsstbox-sky-goto").press("Enter")
        page.evaluate("(el) => el.lsstboxSky.setFov(0.05)", panel.element_handle())
        aladin = panel.get_by_test_id("lsstbox-sky-aladin")
        wait_for_sky(page, aladin)

        # -- the linked notebook, and bad variables: a clear message, nothing lost
        expect(panel.get_by_test_id("lsstbox-link-notebook")).to_contain_text(NOTEBOOK)
        message = panel.get_by_test_id("lsstbox-sky-message")
        _draw(panel, "x")
        expect(message).to_contain_text("'x' is a int, not a table", timeout=LOAD_TIMEOUT)
        expect(message).to_have_attribute("data-kind", "error")
        expect(panel.get_by_test_id("lsstbox-link-status")).to_have_attribute("data-status", "ready")
        _draw(panel, "nothere")
        expect(message).to_contain_text("no variable 'nothere'", timeout=LOAD_TIMEOUT)

        # -- a DataFrame from the notebook, every row
        _draw(panel, "df")
        expect(message).to_contain_text(f"df: {n_all:,} rows drawn", timeout=LOAD_TIMEOUT)
        expect(panel).to_have_attribute(
            "data-layers",
            re.compile(rf'"df":\{{"kind":"catalog","n":{n_all},"drawn":true'),
            timeout=LOAD_TIMEOUT,
        )

        # -- MOC and footprint overlays
        panel.get_by_test_id("lsstbox-sky-overlay").select_option("moc:Object")
        panel.get_by_test_id("lsstbox-sky-overlay").select_option("footprints:lsst.deep_coadd")
        expect(panel).to_have_attribute(
            "data-layers", re.compile(r'"footprints deep_coadd":\{[^}]*"drawn":true'), timeout=LOAD_TIMEOUT
        )
        expect(panel).to_have_attribute(
            "data-layers", re.compile(r'"MOC Object":\{[^}]*"drawn":true'), timeout=LOAD_TIMEOUT
        )
        assert _layers(panel)["footprints deep_coadd"]["n"] >= 6
        page.wait_for_timeout(500)
        panel.screenshot(path=str(results_dir / "sky-panel.png"))

        # -- the cell that changes df redraws the layer
        run_cell(page, 1, notebook_name=NOTEBOOK)
        n_half = n_all // 2
        page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab[title="HiPS sky panel"]').click()
        expect(panel).to_have_attribute(
            "data-layers", re.compile(rf'"df":\{{"kind":"catalog","n":{n_half},'), timeout=LOAD_TIMEOUT
        )
        expect(message).to_contain_text("'df' changed", timeout=LOAD_TIMEOUT)
        # the layer list shows it
        expect(panel.locator('[data-layer="df"]')).to_contain_text(f"{n_half:,}")

        # -- a box dragged in the panel becomes sky_selection in the kernel
        for name in ("MOC Object", "footprints deep_coadd"):  # keep the test about df's rows
            panel.locator(f'[data-layer="{name}"] button').click()
        box = aladin.bounding_box()
        assert box is not None
        panel.get_by_test_id("lsstbox-sky-select-rect").click()
        x0, y0 = box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.25
        x1, y1 = box["x"] + box["width"] * 0.70, box["y"] + box["height"] * 0.75
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x1, y1, steps=12)
        page.mouse.up()
        assigned = re.compile(r"^sky_selection:[1-9]")
        expect(panel).to_have_attribute("data-assigned", assigned, timeout=LOAD_TIMEOUT)
        n_sel = int((panel.get_attribute("data-assigned") or ":0").split(":")[1])
        shown = json.loads(panel.get_attribute("data-selection") or "{}")
        assert shown.get("df") == n_sel, shown
        expect(message).to_contain_text(f"sky_selection ← {n_sel:,} selected rows")
        sel = cell_json(page, 2, notebook_name=NOTEBOOK)
        assert sel["type"] == "DataFrame" and sel["n"] == n_sel and sel["in_df"], sel
        assert len(set(sel["ids"])) == n_sel

        # -- a click on an object shows its row, from the kernel
        page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab[title="HiPS sky panel"]').click()
        first = sel["ids"][0]
        pos = page.evaluate(
            """([el, id]) => {
                // the panel knows rows by number; find the one the kernel selected first
                return el.lsstboxSky.layers.get('df').obj.getSources()
                    .map(s => [s.ra, s.dec]);
            }""",
            [panel.element_handle(), first],
        )
        assert len(pos) == n_half
        screen = page.evaluate(
            "([el, pos]) => pos.map(([ra, dec]) => el.lsstboxSky.aladin.world2pix(ra, dec))",
            [panel.element_handle(), pos],
        )
        cx, cy = box["width"] / 2, box["height"] / 2
        # the object nearest the centre (away from Aladin's controls)
        xy = min((p for p in screen if p), key=lambda p: math.hypot(p[0] - cx, p[1] - cy), default=None)
        assert xy is not None
        page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
        details = panel.get_by_test_id("lsstbox-sky-details")
        expect(details).to_contain_text("objectId", timeout=LOAD_TIMEOUT)
        expect(details).to_contain_text("coord_ra")

        # -- open the deep coadd under the centre in the image viewer, centred there
        centre = page.evaluate("(el) => el.lsstboxSky.getView()", panel.element_handle())
        panel.get_by_test_id("lsstbox-sky-open-image").click()
        viewer = page.locator('[data-testid="lsstbox-image-viewer"]:visible')
        expect(viewer).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        canvas = viewer.get_by_test_id("lsstbox-image-canvas")
        expect(canvas).to_have_attribute("data-centre", re.compile(r"^\d"), timeout=LOAD_TIMEOUT)
        cx, cy = (float(v) for v in (canvas.get_attribute("data-centre") or "").split(","))
        src = page.evaluate("() => window.lsstboxImageViewer.src")
        info = requests.get(
            f"{lab_server.url}lsstbox/image/info",
            params={"src": src},
            headers={"Authorization": f"token {lab_server.token}"},
            timeout=30,
        ).json()
        assert src.startswith("did:") and "deep_coadd" in str(info.get("product")), info
        world = requests.post(
            f"{lab_server.url}lsstbox/image/pix2world",
            headers={"Authorization": f"token {lab_server.token}"},
            json={"src": src, "x": [cx], "y": [cy]},
            timeout=30,
        ).json()
        ra_c, dec_c = world["ra"][0], world["dec"][0]
        assert math.hypot((ra_c - centre["ra"]) * math.cos(math.radians(dec_c)), dec_c - centre["dec"]) < 1e-6

        # -- the image viewer draws the same variable over the image
        _draw(viewer, "df")
        expect(viewer).to_have_attribute("data-linked-layer", re.compile(r"^df:\d+"), timeout=LOAD_TIMEOUT)
        assert int((viewer.get_attribute("data-linked-layer") or ":0").split(":")[1]) == n_half
        expect(canvas).to_have_attribute("data-sources", str(n_half))

        # -- linked views: the sky panel moves the image viewer, and the other way round
        viewer.get_by_test_id("lsstbox-image-link-views").check()
        sky_tab = page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab[title="HiPS sky panel"]')
        sky_tab.click()
        panel.get_by_test_id("lsstbox-sky-link-views").check()
        # somewhere else inside the coadd (the view's centre may sit on its edge): its own centre
        middle = requests.post(
            f"{lab_server.url}lsstbox/image/pix2world",
            headers={"Authorization": f"token {lab_server.token}"},
            json={"src": src, "x": [info["width"] / 2], "y": [info["height"] / 2]},
            timeout=30,
        ).json()
        goal = (middle["ra"][0], middle["dec"][0])
        assert (
            math.hypot((goal[0] - centre["ra"]) * math.cos(math.radians(goal[1])), goal[1] - centre["dec"])
            > 1e-4
        )
        page.evaluate(f"(el) => el.lsstboxSky.setTarget({goal[0]}, {goal[1]})", panel.element_handle())
        followed = re.compile(rf"^{goal[0]:.6f},{goal[1]:.6f}$")
        hidden_viewer = page.get_by_test_id("lsstbox-image-viewer")  # behind the sky panel's tab
        expect(hidden_viewer).to_have_attribute("data-followed", followed, timeout=LOAD_TIMEOUT)
        # the image viewer pans: the sky panel follows to the sky position of its new centre
        page.locator(f'.lm-DockPanel-tabBar .lm-TabBar-tab[title*="{src}"]').first.click()
        page.evaluate("() => window.lsstboxImageViewer.centerOn(100, 120)")
        there = requests.post(
            f"{lab_server.url}lsstbox/image/pix2world",
            headers={"Authorization": f"token {lab_server.token}"},
            json={"src": src, "x": [100], "y": [120]},
            timeout=30,
        ).json()
        page.wait_for_function(
            "([el, ra, dec]) => { const v = el.lsstboxSky.getView();"
            " return Math.abs(v.ra - ra) < 1e-6 && Math.abs(v.dec - dec) < 1e-6; }",
            arg=[panel.element_handle(), there["ra"][0], there["dec"][0]],
            timeout=LOAD_TIMEOUT,
        )

        # -- the kernel dies: the panel says so and keeps working
        page.locator(f'.lm-DockPanel-tabBar .lm-TabBar-tab[title*="{NOTEBOOK}"]').first.click()
        cell = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(3)
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        # JupyterLab's "kernel restarting" dialog, if any, is dismissed
        dialog = page.locator(".jp-Dialog")
        try:
            dialog.wait_for(timeout=15_000)
            dialog.locator("button").last.click()
        except Exception:  # no dialog is fine
            pass
        page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab[title="HiPS sky panel"]').click()
        status = panel.get_by_test_id("lsstbox-link-status")
        expect(status).to_have_attribute("data-status", re.compile("restarting|dead"), timeout=LOAD_TIMEOUT)
        expect(message).to_contain_text(re.compile("kernel (restarted|is dead)"))
        # the panel still works: another survey, and the kernel's new life answers again
        panel.get_by_test_id("lsstbox-sky-survey").select_option("r")
        expect(panel).to_have_attribute("data-state", "ready")
        _draw(panel, "df")
        expect(message).to_contain_text("no variable 'df'", timeout=LOAD_TIMEOUT)
        expect(status).to_have_attribute("data-status", "ready")

        hosts = {urlsplit(u).netloc for u in seen if urlsplit(u).scheme in ("http", "https", "ws", "wss")}
        assert hosts == {server}, sorted(hosts - {server})
        assert not [e for e in errors if "lsstbox" in e.lower() or "aladin" in e.lower()], errors
        print(f"\nsky panel: {n_all} rows, {n_sel} selected, {time.monotonic() - t0:.1f}s")
    finally:
        page.close()


JOB_CELLS = [
    "import json",
    "print(json.dumps({'type': type(sky_selection).__name__, 'n': len(sky_selection),"
    " 'ids': sorted(int(i) for i in sky_selection['objectId'])}))",
    # from Python to the linked panels
    "import pandas as pd\n"
    "from jupyterlab_lsp import show_on_sky\n"
    "centre = pd.DataFrame({'ra': [53.16, 53.161], 'dec': [-28.1, -28.1], 'id': [1, 2]})\n"
    "print(show_on_sky(centre))",
]


def test_query_result_on_the_sky_and_selected_into_the_notebook(lab_server, browser_context):
    """An ADQL result's "Show on sky" draws its rows; a selection of them is fetched by the kernel."""
    from playwright.sync_api import expect

    put_notebook(lab_server, "job.ipynb", JOB_CELLS)
    page = browser_context.new_page()
    try:
        open_notebook(page, lab_server, "job.ipynb", LOAD_TIMEOUT)
        run_cell(page, 0)
        palette_command(page, "New ADQL query", "lsstbox:new-adql-query")
        editor = page.locator('[data-testid="lsstbox-adql-panel"]:visible')
        expect(editor).to_have_count(1, timeout=LOAD_TIMEOUT)
        query = (
            "SELECT objectId, coord_ra, coord_dec FROM dp1.Object "
            "WHERE CONTAINS(POINT('ICRS', coord_ra, coord_dec), "
            f"CIRCLE('ICRS', {FIELD[0]}, {FIELD[1]}, 0.01)) = 1"
        )
        replace_query(page, editor, query)
        editor.get_by_test_id("lsstbox-adql-run").click()
        expect(editor).to_have_attribute("data-phase", "COMPLETED", timeout=LOAD_TIMEOUT)
        grid = editor.get_by_test_id("lsstbox-result-grid")
        expect(grid).to_have_attribute("data-total", re.compile(r"^[1-9]"), timeout=LOAD_TIMEOUT)
        total = int(grid.get_attribute("data-total") or 0)
        job_id = grid.get_attribute("data-job-id")

        grid.get_by_test_id("lsstbox-grid-sky").click()
        panel = page.locator('[data-testid="lsstbox-sky-panel"]:visible')
        expect(panel).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        layer = f"job {job_id}"
        expect(panel).to_have_attribute(
            "data-layers",
            re.compile(rf'"{layer}":\{{"kind":"catalog","n":{total},"drawn":true'),
            timeout=LOAD_TIMEOUT,
        )
        page.evaluate(
            f"(el) => {{ el.lsstboxSky.setTarget({FIELD[0]}, {FIELD[1]}); el.lsstboxSky.setFov(0.03); }}",
            panel.element_handle(),
        )
        page.wait_for_timeout(800)
        # a circle around the field's centre: the kernel fetches the job's rows it holds
        box = panel.get_by_test_id("lsstbox-sky-aladin").bounding_box()
        assert box is not None
        panel.get_by_test_id("lsstbox-sky-select-circle").click()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + box["height"] * 0.3, cy, steps=10)
        page.mouse.up()
        expect(panel).to_have_attribute(
            "data-assigned", re.compile(r"^sky_selection:[1-9]"), timeout=LOAD_TIMEOUT
        )
        n_sel = int((panel.get_attribute("data-assigned") or ":0").split(":")[1])
        assert n_sel < total
        sel = cell_json(page, 1, notebook_name="job.ipynb")
        ids = ",".join(map(str, sel["ids"]))
        assert sel["n"] == n_sel == len(set(sel["ids"])), sel
        # show_on_sky from a cell: the linked panel draws the table
        out = run_cell(page, 2, notebook_name="job.ipynb").locator(".jp-OutputArea-output").last
        expect(out).to_contain_text("'centre': 2 rows sent to the linked sky panels")
        page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab[title="HiPS sky panel"]').click()
        expect(panel).to_have_attribute(
            "data-layers", re.compile(r'"centre":\{"kind":"catalog","n":2,"drawn":true'), timeout=LOAD_TIMEOUT
        )
        # the rows are the job's: ask TAP for them by id
        _, rows = tap_csv(lab_server, f"SELECT objectId FROM dp1.Object WHERE objectId IN ({ids})")
        assert len(rows) == n_sel

        # -- a reload brings the panel back with its map and position (JupyterLab's layout)
        panel.get_by_test_id("lsstbox-sky-survey").select_option("g")
        page.evaluate("(el) => el.lsstboxSky.setTarget(53.15, -28.11)", panel.element_handle())

        # the view is reported after 250 ms, the panel's state saved after 500 ms, and JupyterLab
        # writes the workspace to the server after its own debounce: wait until the server has it
        def saved_ras(node) -> list[float]:
            if isinstance(node, dict):
                found = [float(node["ra"])] if isinstance(node.get("ra"), (int, float)) else []
                return found + [r for v in node.values() for r in saved_ras(v)]
            if isinstance(node, list):
                return [r for v in node for r in saved_ras(v)]
            return []

        deadline = time.monotonic() + 60
        while True:
            spaces = requests.get(
                f"{lab_server.url}lab/api/workspaces",
                headers={"Authorization": f"token {lab_server.token}"},
                timeout=30,
            ).json()
            if any(abs(ra - 53.15) < 1e-6 for ra in saved_ras(spaces)):
                break
            assert time.monotonic() < deadline, "the sky panel's view never reached the workspace"
            page.wait_for_timeout(250)
        page.goto(f"{lab_server.url}lab/tree/job.ipynb?token={lab_server.token}")
        restored = page.get_by_test_id("lsstbox-sky-panel")
        expect(restored).to_have_count(1, timeout=LOAD_TIMEOUT)
        page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab[title="HiPS sky panel"]').click()
        expect(restored).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        expect(restored.get_by_test_id("lsstbox-sky-survey")).to_have_value("g")
        view = page.evaluate("(el) => el.lsstboxSky.getView()", restored.element_handle())
        assert view["ra"] == pytest.approx(53.15, abs=1e-6) and view["dec"] == pytest.approx(-28.11, abs=1e-6)
    finally:
        page.close()
