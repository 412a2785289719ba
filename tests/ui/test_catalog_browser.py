"""The catalog browser in a real JupyterLab, against the real TAP service of the box.

End to end: the sidebar reads the tables from ``/lsstbox/api/schema`` and finds a column with its
unit; a double-click on ``dp1.Object`` opens an ADQL editor (JupyterLab's CodeMirror) on it; Run
creates an async UWS job, follows its phase and shows the result in a Lumino DataGrid whose pages
come from ``/lsstbox/api/results/<job>``; sorting asks the server for another order; an unknown
column ends the job in ERROR with the service's message shown in the panel; "Send to notebook"
runs the pyvo code in a notebook's kernel, whose ``result`` then has the 20 rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lab_notebook import palette_command, replace_query

pytestmark = pytest.mark.ui

BROWSER_ID = "lsstbox-catalog-browser"
LOAD_TIMEOUT = 60_000  # ms
JOB_TIMEOUT = 120_000  # ms
QUERY = "SELECT TOP 20 objectId, coord_ra, coord_dec FROM dp1.Object ORDER BY objectId"


def _open_browser(page) -> object:
    from playwright.sync_api import expect

    tab = page.locator(f'.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="{BROWSER_ID}"]')
    expect(tab).to_be_visible(timeout=LOAD_TIMEOUT)
    tab.click()
    browser = page.get_by_test_id(BROWSER_ID)
    expect(browser).to_be_visible()
    tree = browser.get_by_test_id("lsstbox-schema-tree")
    expect(tree).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
    return browser


def _set_theme(page, name: str) -> None:
    from playwright.sync_api import expect

    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette")
    expect(palette).to_be_visible()
    palette.locator("input").fill(name)
    palette.get_by_role("menuitemcheckbox", name=f"Use Theme: {name}", exact=True).click()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-name", name, timeout=LOAD_TIMEOUT)
    expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=LOAD_TIMEOUT)
    page.wait_for_timeout(300)  # the grid repaints on the next animation frame


def _run(panel, phase: str = "COMPLETED") -> None:
    from playwright.sync_api import expect

    panel.get_by_test_id("lsstbox-adql-run").click()
    expect(panel).to_have_attribute("data-phase", phase, timeout=JOB_TIMEOUT)


def test_browser_finds_columns_with_their_units(lab_page, lab_server, results_dir: Path):
    from playwright.sync_api import expect

    page = lab_page
    schema = lab_server.api("lsstbox/api/schema").json()
    browser = _open_browser(page)
    tree = browser.get_by_test_id("lsstbox-catalog-tree")

    # services -> schemas -> tables, as the server lists them (dp1 is open at first)
    expect(tree.get_by_test_id("lsstbox-service-node").first).to_contain_text("LSST box TAP")
    expect(tree.locator('[data-testid="lsstbox-schema-node"]')).to_have_count(len(schema["schemas"]))
    dp1 = next(s for s in schema["schemas"] if s["name"] == "dp1")
    expect(tree.locator('[data-testid="lsstbox-table-node"]')).to_have_count(len(dp1["tables"]))

    search = browser.get_by_test_id("lsstbox-catalog-search")
    search.fill("psfFlux")
    flux = tree.locator('[data-testid="lsstbox-column-node"][data-table="dp1.Object"][data-name="g_psfFlux"]')
    expect(flux).to_be_visible()
    expect(flux).to_have_attribute("data-unit", "nJy")
    expect(flux.get_by_test_id("lsstbox-column-unit")).to_have_text("nJy")
    shown = tree.locator('[data-testid="lsstbox-column-node"]')
    want = sum(
        1
        for s in schema["schemas"]
        for t in s["tables"]
        for c in t["columns"]
        if "psfflux" in c["name"].lower()
    )
    expect(shown).to_have_count(want)
    for name in shown.evaluate_all("els => els.map(e => e.dataset.name)"):
        assert "psfflux" in name.lower(), name

    search.fill("coord_ra")
    ra = tree.locator('[data-testid="lsstbox-column-node"][data-table="dp1.Object"][data-name="coord_ra"]')
    expect(ra).to_be_visible()
    expect(ra).to_have_attribute("data-unit", "deg")
    expect(ra).to_contain_text("pos.eq.ra")
    expect(ra).to_contain_text("double")
    page.screenshot(path=str(results_dir / "catalog-browser.png"))

    search.fill("")
    expect(tree.locator('[data-testid="lsstbox-table-node"][data-name="dp1.Object"]')).to_be_visible()
    assert not [e for e in page.lsstbox_errors if "lsstbox" in e.lower()], page.lsstbox_errors


def test_query_grid_sort_and_notebook(lab_page, lab_server, results_dir: Path):
    from playwright.sync_api import expect

    page = lab_page
    browser = _open_browser(page)

    # double-click a table: an editor on it
    table = browser.locator('[data-testid="lsstbox-table-node"][data-name="dp1.Object"]')
    table.dblclick()
    panel = page.locator('[data-testid="lsstbox-adql-panel"]:visible')
    expect(panel).to_have_count(1, timeout=LOAD_TIMEOUT)
    expect(panel.locator(".cm-content")).to_have_text("SELECT TOP 100 * FROM dp1.Object")
    # SQL highlighting from the ADQL dialect: keywords are marked up
    expect(panel.locator(".cm-content span").first).to_be_visible()

    # completion of the columns of the table the query names, with their units
    panel.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(" WHERE coord_d", delay=30)
    popup = page.locator(".cm-tooltip-autocomplete")
    expect(popup).to_be_visible()
    option = popup.locator("li", has_text="coord_dec").first
    expect(option).to_be_visible()
    expect(option).to_contain_text("[deg]")
    page.screenshot(path=str(results_dir / "adql-editor.png"))
    page.keyboard.press("Escape")

    replace_query(page, panel, QUERY)
    _run(panel)
    job_id = panel.get_attribute("data-job-id")
    assert job_id

    grid = panel.get_by_test_id("lsstbox-result-grid")
    expect(grid).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
    expect(grid).to_have_attribute("data-total", "20")
    expect(grid.get_by_test_id("lsstbox-grid-summary")).to_have_text("20 rows")
    columns = grid.get_by_test_id("lsstbox-grid-column")
    expect(columns).to_have_count(3)
    assert columns.evaluate_all("els => els.map(e => [e.dataset.name, e.dataset.unit])") == [
        ["objectId", ""],
        ["coord_ra", "deg"],
        ["coord_dec", "deg"],
    ]
    api = lab_server.api(f"lsstbox/api/results/{job_id}?limit=100").json()
    assert api["total"] == 20
    assert json.loads(grid.get_attribute("data-first-row") or "null") == api["rows"][0]

    # sort: by a column chosen in the toolbar, then by clicking a header (objectId, twice: descending)
    grid.get_by_test_id("lsstbox-grid-sort").select_option("coord_ra")
    expect(grid).to_have_attribute("data-sort", "coord_ra")
    expect(grid).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
    by_ra = lab_server.api(f"lsstbox/api/results/{job_id}?limit=1&sort=coord_ra").json()
    assert json.loads(grid.get_attribute("data-first-row") or "null") == by_ra["rows"][0]
    assert by_ra["rows"][0][1] == min(r[1] for r in api["rows"])

    canvas = grid.locator(".lsstbox-ResultGrid-grid")
    box = canvas.bounding_box()
    assert box
    x = box["x"] + int(grid.get_attribute("data-row-header-width") or "56") + 12
    y = box["y"] + 8
    page.mouse.click(x, y)
    expect(grid).to_have_attribute("data-sort", "objectId")
    expect(grid).to_have_attribute("data-desc", "false")
    page.mouse.click(x, y)
    expect(grid).to_have_attribute("data-desc", "true")
    expect(grid).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
    last = max(api["rows"], key=lambda r: int(r[0]))
    assert json.loads(grid.get_attribute("data-first-row") or "null") == last
    page.screenshot(path=str(results_dir / "result-grid.png"))
    # the grid's canvas follows the theme too (it reads JupyterLab's CSS variables)
    _set_theme(page, "JupyterLab Dark")
    try:
        page.screenshot(path=str(results_dir / "result-grid-dark.png"))
    finally:
        _set_theme(page, "JupyterLab Light")

    # the job is in the history, with its query
    jobs = browser.get_by_test_id("lsstbox-job-list")
    row = jobs.locator(f'[data-testid="lsstbox-job-row"][data-job-id="{job_id}"]')
    expect(row).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(row).to_have_attribute("data-phase", "COMPLETED")
    expect(row).to_contain_text("SELECT TOP 20 objectId")

    # a notebook, then "Send to notebook": its kernel gets `result`
    page.locator(".lm-TabBar-tab", has_text="Launcher").click()
    page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook).to_have_count(1, timeout=LOAD_TIMEOUT)
    expect(
        page.locator(".jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator[data-status='idle']")
    ).to_have_count(1, timeout=LOAD_TIMEOUT)
    notebook = page.locator(".jp-NotebookPanel:visible")
    cells = notebook.locator(".jp-CodeCell")

    # "Insert code": the code in the notebook's (empty) first cell, not run
    page.locator(".lm-TabBar-tab", has_text="ADQL query").click()
    expect(panel).to_be_visible()
    panel.get_by_test_id("lsstbox-grid-variable").fill("result")
    panel.get_by_test_id("lsstbox-grid-insert").click()
    expect(notebook).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(cells).to_have_count(1)
    expect(cells.first.locator(".cm-content")).to_contain_text("retrieve_query(")
    expect(cells.first.locator(".jp-InputPrompt")).to_have_text("[ ]:")

    # "Send to notebook": a new cell, run in the kernel
    page.locator(".lm-TabBar-tab", has_text="ADQL query").click()
    expect(panel).to_be_visible()
    panel.get_by_test_id("lsstbox-grid-send").click()
    expect(notebook).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(cells).to_have_count(2)
    code = cells.nth(1)
    source = code.locator(".cm-content")
    expect(source).to_contain_text("from jupyterlab_lsp import get_tap_service, retrieve_query")
    expect(source).to_contain_text(f"/lsstbox/tap/async/{job_id}")
    expect(source).to_contain_text("result = job.fetch_result().to_table()")
    expect(code.locator(".jp-InputPrompt")).to_have_text("[1]:", timeout=JOB_TIMEOUT)
    assert code.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0

    notebook.locator(".jp-Notebook").focus()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.insert_text("print(len(result))")
    page.keyboard.press("Shift+Enter")
    printed = cells.nth(2)
    expect(printed.locator(".jp-OutputArea-output")).to_have_text("20", timeout=JOB_TIMEOUT)
    assert not [e for e in page.lsstbox_errors if "lsstbox" in e.lower()], page.lsstbox_errors


def test_query_errors_are_shown_in_the_panel(lab_page, results_dir: Path):
    from playwright.sync_api import expect

    page = lab_page
    palette_command(page, "New ADQL query", "lsstbox:new-adql-query")
    panel = page.locator('[data-testid="lsstbox-adql-panel"]:visible')
    expect(panel).to_have_count(1, timeout=LOAD_TIMEOUT)

    replace_query(page, panel, "SELECT TOP 5 objectId, no_such_column FROM dp1.Object")
    _run(panel, "ERROR")
    error = panel.get_by_test_id("lsstbox-adql-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("no_such_column")
    expect(panel.get_by_test_id("lsstbox-adql-status")).to_contain_text("ERROR")
    expect(panel.get_by_test_id("lsstbox-result-grid")).to_have_count(0)

    # a syntax error: the message says where, and the next good query clears it
    replace_query(page, panel, "SELECT TOP 5 FROM dp1.Object")
    _run(panel, "ERROR")
    expect(error).to_contain_text("line 1")
    page.screenshot(path=str(results_dir / "adql-error.png"))
    replace_query(page, panel, "SELECT TOP 5 objectId FROM dp1.Object ORDER BY objectId")
    _run(panel)
    expect(error).to_be_hidden()
    expect(panel.get_by_test_id("lsstbox-result-grid")).to_have_attribute(
        "data-total", "5", timeout=LOAD_TIMEOUT
    )


def test_browser_and_editors_are_restored_on_reload(lab_page, lab_server):
    from playwright.sync_api import expect

    page = lab_page
    browser = _open_browser(page)
    browser.get_by_test_id("lsstbox-catalog-new-query").click()
    panel = page.locator('[data-testid="lsstbox-adql-panel"]:visible')
    expect(panel).to_have_count(1, timeout=LOAD_TIMEOUT)
    query = "SELECT TOP 3 objectId FROM dp1.Object"
    replace_query(page, panel, query)
    page.wait_for_timeout(2500)  # the editor's text is saved a second after the last change

    page.goto(f"{lab_server.url}lab?token={lab_server.token}")
    expect(page.get_by_test_id(BROWSER_ID)).to_be_visible(timeout=LOAD_TIMEOUT)
    restored = page.locator('[data-testid="lsstbox-adql-panel"]')
    expect(restored).to_have_count(1, timeout=LOAD_TIMEOUT)
    expect(restored.locator(".cm-content")).to_have_text(query)
