"""Browser fixtures: one real ``jupyter lab`` per session, driven by Debian's chromium.

The server runs the installed frontend extension (``@lsstbox/jupyterlab``) and the server
extension over the session's ``tiny_release`` (from ``tests/conftest.py``). Playwright never
downloads a browser here: it drives ``/usr/bin/chromium`` (or ``$LSSTBOX_CHROMIUM``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from browser_flags import CHROMIUM, CHROMIUM_ARGS
from jupyter_subprocess import jupyter_process

# JupyterLab settings for a quiet, deterministic UI: no news or update toasts.
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


@dataclass(frozen=True)
class LabServer:
    url: str  # base URL, ending with "/"
    token: str
    log: Path

    def lab_url(self) -> str:
        return f"{self.url}lab?reset&token={self.token}"

    def api(self, path: str) -> requests.Response:
        return requests.get(
            f"{self.url}{path.lstrip('/')}",
            headers={"Authorization": f"token {self.token}"},
            timeout=30,
        )


@pytest.fixture(scope="module")
def lab_server(tiny_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A real ``jupyter lab`` subprocess serving ``tiny_release``; stopped after the UI tests.

    Module-scoped (like ``browser_context``) so that Playwright's event loop and the server are
    gone before any test outside this module runs (``package`` scope would mean the session
    here, as ``tests/ui`` has no ``__init__.py``).
    """
    home = tmp_path_factory.mktemp("lab")
    root = home / "root"
    settings = home / "app-settings"
    for d in (root, settings, home / "user-settings", home / "workspaces", home / "runtime"):
        d.mkdir()
    (settings / "overrides.json").write_text(json.dumps(LAB_OVERRIDES))
    env = {
        "LSSTBOX_RELEASE": str(tiny_release),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    args = [
        f"--ServerApp.root_dir={root}",
        f"--LabApp.app_settings_dir={settings}",
        f"--LabApp.user_settings_dir={home / 'user-settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        f"--LsstBoxApp.jobs_dir={home / 'jobs'}",
    ]
    log = home / "jupyter-lab.log"
    try:
        with jupyter_process("jupyterlab", args, env, root, log, secrets.token_hex(16)) as proc:
            yield LabServer(url=proc.url, token=proc.token, log=log)
    except RuntimeError as e:  # did not start: fail with its log
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def browser_context(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    """A Playwright browser context on Debian's chromium with a fresh profile.

    A test module may set ``VIEWPORT`` (a dict) and ``CHROMIUM_EXTRA_ARGS`` (a list): the sky
    tests add ``--enable-unsafe-swiftshader`` (Aladin Lite needs WebGL2; headless chromium with
    --disable-gpu offers it through SwiftShader only when asked).
    """
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (set LSSTBOX_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    viewport = getattr(request.module, "VIEWPORT", {"width": 1440, "height": 900})
    extra = list(getattr(request.module, "CHROMIUM_EXTRA_ARGS", []))
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, *extra],
            viewport=viewport,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def lab_page(lab_server: LabServer, browser_context) -> Iterator[object]:
    """A fresh JupyterLab page (``/lab?reset``), ready once the shell is up."""
    from playwright.sync_api import expect

    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(lab_server.lab_url())
    # The launcher is the last thing the default layout opens.
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=60_000)
    expect(page.locator(".jp-Launcher")).to_be_visible(timeout=60_000)
    page.lsstbox_errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        page.close()


@pytest.fixture(scope="session")
def results_dir(pytestconfig: pytest.Config) -> Path:
    """``test-results/`` at the repository root (git-ignored): screenshots land here."""
    out = Path(pytestconfig.rootpath) / "test-results"
    out.mkdir(exist_ok=True)
    return out


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    """Replace pytest-jupyter's autouse event loop (loaded by ``tests/conftest.py``) for UI tests.

    Playwright's sync API runs its own loop in this thread; pytest-jupyter's fixture would try
    to close that running loop at teardown. The UI tests talk to a server in a subprocess and
    need no loop of their own.
    """
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    """Replace pytest-jupyter's autouse in-process server cleanup: UI tests use a subprocess."""
    yield None
