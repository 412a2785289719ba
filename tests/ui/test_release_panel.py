"""The "LSST box" sidebar panel in a real JupyterLab, against the real server extension.

What this proves, end to end: the prebuilt labextension installed by ``pip`` loads in
JupyterLab; its sidebar tab and palette command exist; the panel calls
``GET /lsstbox/api/release`` through Jupyter's authenticated request path; and it renders
what the server extension reports for the session's tiny release (names and row counts agree
with the API and with the release's own manifest). The error-state test stubs one response in
the browser (Playwright routing) to show that a failing request is reported with its status
and the server's ``{"error": ...}`` message, and that Refresh recovers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui

PANEL_ID = "lsstbox-release-panel"
COMMAND_ID = "lsstbox:open-release-panel"
COMMAND_LABEL = "Show LSST box release"
LOAD_TIMEOUT = 60_000  # ms


def _open_panel_from_sidebar(page) -> object:
    from playwright.sync_api import expect

    tab = page.locator(f'.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="{PANEL_ID}"]')
    expect(tab).to_be_visible(timeout=LOAD_TIMEOUT)
    tab.click()
    panel = page.get_by_test_id(PANEL_ID)
    expect(panel).to_be_visible()
    return panel


def _set_theme(page, name: str) -> None:
    from playwright.sync_api import expect

    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette")
    expect(palette).to_be_visible()
    palette.locator("input").fill(name)
    palette.get_by_role("menuitemcheckbox", name=f"Use Theme: {name}", exact=True).click()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-name", name, timeout=LOAD_TIMEOUT)
    expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=LOAD_TIMEOUT)


def test_release_panel_shows_the_release(lab_page, lab_server, tiny_release: Path, results_dir: Path):
    from playwright.sync_api import expect

    page = lab_page
    api = lab_server.api("lsstbox/api/release")
    assert api.status_code == 200, api.text
    release = api.json()
    manifest = json.loads((tiny_release / "manifest.json").read_text())

    panel = _open_panel_from_sidebar(page)

    row = panel.locator('[data-testid="lsstbox-catalog-row"]').filter(
        has=page.locator("td:first-child").get_by_text("Object", exact=True)
    )
    expect(row.first).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(panel).to_have_attribute("data-state", "ready")
    assert row.count() == 1
    assert row.locator("td").first.inner_text().strip() == "Object"
    rows = int(row.get_attribute("data-rows") or "0")
    assert rows > 0
    assert int(row.locator("td").nth(1).inner_text().replace(",", "")) == rows
    assert panel.get_by_test_id("lsstbox-release-error").count() == 0

    # The panel shows exactly what the server reports, which is what the release holds.
    by_name = {c["name"]: c for c in release["catalogs"]}
    assert rows == by_name["Object"]["rows"]
    shown = [
        r.locator("td").first.inner_text().strip()
        for r in panel.locator('[data-testid="lsstbox-catalog-row"]').all()
    ]
    assert shown == [c["name"] for c in release["catalogs"]]
    assert set(shown) == set(manifest["catalogs"])
    expect(panel.get_by_test_id("lsstbox-release-facts")).to_contain_text(release["name"])
    expect(panel.get_by_test_id("lsstbox-release-facts")).to_contain_text(release["profile"])
    expect(panel.get_by_test_id("lsstbox-service-row")).to_have_count(len(release["services"]))
    expect(panel.get_by_test_id("lsstbox-image-row")).to_have_count(len(release["images"]))
    expect(panel.get_by_test_id("lsstbox-hips-row")).to_have_count(len(release["hips"]))
    for tree in release["hips"]:
        link = panel.locator(f'[data-testid="lsstbox-hips-row"][data-id="{tree["id"]}"] a')
        href = link.get_attribute("href") or ""
        assert href.startswith(lab_server.url) and href.endswith(tree["url"].lstrip("/")), href
    if release["butler"]:
        expect(panel.get_by_test_id("lsstbox-butler-collection")).to_have_count(
            len(release["butler"]["collections"])
        )

    # Refresh re-fetches and lands in the same state.
    panel.get_by_test_id("lsstbox-refresh").click()
    expect(panel).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
    expect(row.first).to_be_visible()

    assert not [e for e in page.lsstbox_errors if "lsstbox" in e.lower()], page.lsstbox_errors
    # A tall window so that the whole panel is in the picture.
    page.set_viewport_size({"width": 1440, "height": 2000})
    page.screenshot(path=str(results_dir / "release-panel.png"))

    # The panel follows the theme (JupyterLab CSS variables only).
    _set_theme(page, "JupyterLab Dark")
    try:
        expect(row.first).to_be_visible()
        page.screenshot(path=str(results_dir / "release-panel-dark.png"))
    finally:
        _set_theme(page, "JupyterLab Light")


def test_palette_command_opens_the_panel(lab_page):
    from playwright.sync_api import expect

    page = lab_page
    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette")
    expect(palette).to_be_visible()
    palette.locator("input").fill(COMMAND_LABEL)
    item = palette.locator(f'.lm-CommandPalette-item[data-command="{COMMAND_ID}"]')
    expect(item).to_be_visible()
    expect(item).to_contain_text(COMMAND_LABEL)
    expect(item.locator(".lm-CommandPalette-itemLabel")).to_have_text(COMMAND_LABEL)
    item.click()
    panel = page.get_by_test_id(PANEL_ID)
    expect(panel).to_be_visible()
    expect(panel.get_by_test_id("lsstbox-catalog-row").first).to_be_visible(timeout=LOAD_TIMEOUT)


def test_release_panel_reports_errors_and_recovers(lab_page, results_dir: Path):
    from playwright.sync_api import expect

    page = lab_page
    message = "the release at /nowhere has no manifest.json"
    page.route(
        "**/lsstbox/api/release*",
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body=json.dumps({"error": message, "status": 503}),
        ),
    )
    panel = _open_panel_from_sidebar(page)
    error = panel.get_by_test_id("lsstbox-release-error")
    expect(error).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(panel).to_have_attribute("data-state", "error")
    expect(error).to_have_attribute("data-status", "503")
    expect(error).to_contain_text("HTTP 503")
    expect(error).to_contain_text(message)
    page.screenshot(path=str(results_dir / "release-panel-error.png"))

    page.unroute("**/lsstbox/api/release*")
    panel.get_by_test_id("lsstbox-refresh").click()
    expect(panel.get_by_test_id("lsstbox-catalog-row").first).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(error).to_have_count(0)
