"""Where Debian's chromium is and the flags every UI test starts it with (imported by the UI
tests' conftest and by modules that start a browser context of their own)."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("LSSTBOX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
