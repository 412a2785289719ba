"""Screenshot the release panel of a running JupyterLab (for the README tour).

    python scripts/screenshot.py URL TOKEN OUT.png

Uses Debian's chromium through Playwright, with the flags this project's UI tests use.
"""

from __future__ import annotations

import sys
import tempfile

from playwright.sync_api import expect, sync_playwright

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main(url: str, token: str, out: str) -> None:
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            args=FLAGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        page = ctx.new_page()
        page.goto(f"{url.rstrip('/')}/lab?reset&token={token}")
        tab = page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="lsstbox-release-panel"]')
        expect(tab).to_be_visible(timeout=60_000)
        tab.click()
        panel = page.get_by_test_id("lsstbox-release-panel")
        expect(panel).to_have_attribute("data-state", "ready", timeout=60_000)
        no_news = page.get_by_role("button", name="No", exact=True)
        if no_news.count():
            no_news.first.click()
        page.keyboard.press("Control+Shift+L")  # a launcher in the main area, as a user sees it
        page.wait_for_timeout(1000)
        page.screenshot(path=out)
        ctx.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
