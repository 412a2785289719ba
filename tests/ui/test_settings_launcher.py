"""JupyterLab conventions of the lsstbox panels in a real JupyterLab.

The launcher has an "LSST box" section whose "ADQL query" card opens an ADQL editor (with the
``defaultMaxrec`` of the settings) and whose "Catalog browser" card shows the sidebar; a
``defaultStretch`` of ``asinh`` put through the settings API is the stretch of a FITS image opened
afterwards; Ctrl+Enter in an ADQL editor runs its query through ``lsstbox:run-query``.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.ui

LOAD_TIMEOUT = 60_000  # ms
JOB_TIMEOUT = 120_000  # ms
IMAGE_PLUGIN = "@lsstbox/jupyterlab:image-viewer"
CATALOG_PLUGIN = "@lsstbox/jupyterlab:catalog"
QUERY = "SELECT TOP 5 objectId FROM dp1.Object ORDER BY objectId"


def _put_settings(lab_server, plugin: str, values: dict) -> None:
    r = requests.put(
        f"{lab_server.url}lab/api/settings/{plugin}",
        headers={"Authorization": f"token {lab_server.token}"},
        json={"raw": json.dumps(values)},
        timeout=30,
    )
    assert r.status_code == 204, r.text


def _launcher_card(page, label: str):
    section = page.locator(".jp-Launcher-section").filter(
        has=page.locator(".jp-Launcher-sectionTitle", has_text=re.compile(r"^LSST box$"))
    )
    return section.locator(".jp-LauncherCard").filter(
        has=page.locator(".jp-LauncherCard-label", has_text=re.compile(rf"^{re.escape(label)}$"))
    )


def _reload(page, lab_server) -> None:
    from playwright.sync_api import expect

    page.goto(lab_server.lab_url())
    expect(page.locator(".jp-Launcher")).to_be_visible(timeout=LOAD_TIMEOUT)


def test_launcher_items_open_the_panels(lab_page):
    from playwright.sync_api import expect

    page = lab_page
    query_card = _launcher_card(page, "ADQL query")
    browser_card = _launcher_card(page, "Catalog browser")
    expect(query_card).to_have_count(1, timeout=LOAD_TIMEOUT)
    expect(browser_card).to_have_count(1)
    # with the extension's icons
    expect(query_card.locator("svg")).to_have_count(1)
    expect(browser_card.locator("svg")).to_have_count(1)

    browser_card.click()
    expect(page.get_by_test_id("lsstbox-catalog-browser")).to_be_visible(timeout=LOAD_TIMEOUT)

    query_card = _launcher_card(page, "ADQL query")
    query_card.click()
    panel = page.locator('[data-testid="lsstbox-adql-panel"]:visible')
    expect(panel).to_have_count(1, timeout=LOAD_TIMEOUT)
    expect(panel.get_by_test_id("lsstbox-adql-maxrec")).to_have_value("100000")
    assert page.lsstbox_errors == []  # type: ignore[attr-defined]


def test_settings_apply_to_new_viewers_and_editors(lab_page, lab_server, tiny_release: Path):
    from playwright.sync_api import expect

    page = lab_page
    found = sorted(tiny_release.glob("butler/**/visit_image/**/*.fits"))
    assert found, f"no visit_image FITS under {tiny_release}/butler"
    r = requests.put(
        f"{lab_server.url}api/contents/settings.fits",
        headers={"Authorization": f"token {lab_server.token}"},
        json={
            "type": "file",
            "format": "base64",
            "content": base64.b64encode(found[0].read_bytes()).decode(),
        },
        timeout=60,
    )
    assert r.status_code in (200, 201), r.text
    _put_settings(lab_server, IMAGE_PLUGIN, {"defaultStretch": "asinh", "defaultColormap": "viridis"})
    _put_settings(lab_server, CATALOG_PLUGIN, {"defaultMaxrec": 42})
    try:
        _reload(page, lab_server)
        tab = page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="filebrowser"]')
        if "lm-mod-current" not in (tab.get_attribute("class") or ""):
            tab.click()
        item = page.locator("#filebrowser .jp-DirListing-item").filter(
            has=page.locator(".jp-DirListing-itemText", has_text=re.compile(r"^settings\.fits$"))
        )
        if item.count() == 0:
            page.locator("#filebrowser").get_by_title("Refresh the file browser").first.click()
        expect(item).to_have_count(1, timeout=LOAD_TIMEOUT)
        item.dblclick()
        viewer = page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden) .lsstbox-ImageViewer")
        expect(viewer).to_have_count(1, timeout=LOAD_TIMEOUT)
        expect(viewer).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
        expect(viewer.get_by_test_id("lsstbox-image-stretch")).to_have_value("asinh")
        expect(viewer.get_by_test_id("lsstbox-image-cmap")).to_have_value("viridis")
        canvas = viewer.get_by_test_id("lsstbox-image-canvas")
        expect(canvas).to_have_attribute("data-tile", re.compile(r"stretch=asinh"), timeout=LOAD_TIMEOUT)

        _launcher_card_after_new_launcher(page).click()
        panel = page.locator('[data-testid="lsstbox-adql-panel"]:visible')
        expect(panel).to_have_count(1, timeout=LOAD_TIMEOUT)
        expect(panel.get_by_test_id("lsstbox-adql-maxrec")).to_have_value("42")
    finally:
        _put_settings(lab_server, IMAGE_PLUGIN, {})
        _put_settings(lab_server, CATALOG_PLUGIN, {})
    assert page.lsstbox_errors == []  # type: ignore[attr-defined]


def _launcher_card_after_new_launcher(page):
    """The "ADQL query" card of a new launcher (Accel Shift L is the launcher's)."""
    from playwright.sync_api import expect

    page.locator("#jp-main-dock-panel").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+Shift+L")
    launcher = page.locator(".jp-Launcher:visible")
    expect(launcher).to_have_count(1, timeout=LOAD_TIMEOUT)
    card = _launcher_card(page, "ADQL query").locator("visible=true")
    expect(card).to_have_count(1)
    return card


def _job_ids(lab_server) -> set[str]:
    jobs = lab_server.api("lsstbox/tap/async")
    assert jobs.status_code == 200, jobs.text
    return set(re.findall(r'jobref id="([^"]+)"', jobs.text))


def test_ctrl_enter_runs_the_query(lab_page, lab_server):
    from playwright.sync_api import expect

    page = lab_page
    _launcher_card(page, "ADQL query").click()
    panel = page.locator('[data-testid="lsstbox-adql-panel"]:visible')
    expect(panel).to_have_count(1, timeout=LOAD_TIMEOUT)
    content = panel.locator(".cm-content")
    content.click()
    page.keyboard.insert_text(QUERY)
    expect(content).to_have_text(QUERY)
    page.keyboard.press("Escape")  # no completion popup in the way
    before = _job_ids(lab_server)
    page.keyboard.press("Control+Enter")
    expect(panel).to_have_attribute("data-phase", "COMPLETED", timeout=JOB_TIMEOUT)
    job = panel.get_attribute("data-job-id")
    assert job and job not in before
    # one job (the shortcut's), and the key did not reach the editor as a line break
    assert _job_ids(lab_server) - before == {job}
    assert content.inner_text() == QUERY
    assert page.lsstbox_errors == []  # type: ignore[attr-defined]
