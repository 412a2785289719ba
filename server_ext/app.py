"""The Jupyter server extension: finds the release and mounts the box's handlers under ``/lsstbox/``."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Int, TraitError, Unicode, default, validate

from kernel_lib.release.manifest import MANIFEST_NAME, Release, ReleaseError

from .handlers import handlers

if TYPE_CHECKING:
    from .tap.service import Limits

__all__ = ["LsstBoxApp", "ReleaseState"]


class ReleaseState:
    """The release the server serves, opened lazily; a broken or missing one is an error message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.building = False
        self.build_error: str | None = None
        self._release: Release | None = None
        self._lock = threading.Lock()

    def get(self) -> Release:
        """The open release, or :class:`ReleaseError` saying why there is none."""
        with self._lock:
            if self._release is not None:
                return self._release
            if self.building:
                raise ReleaseError(f"the demo release is being built in {self.path}; try again shortly")
            if self.build_error:
                raise ReleaseError(self.build_error)
            self._release = Release.open(self.path)
            return self._release

    def build_in_background(self, log, profile: str = "demo") -> None:
        from kernel_lib.release.builder import build_release

        self.building = True

        def run() -> None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                build_release(profile, self.path, progress=False)
                log.info("lsstbox: %s release built in %s", profile, self.path)
            except Exception as e:  # reported through the API, not a traceback
                self.build_error = f"building the demo release failed: {e}"
                log.error("lsstbox: %s", self.build_error)
            finally:
                self.building = False

        threading.Thread(target=run, name="lsstbox-build-demo", daemon=True).start()


class LsstBoxApp(ExtensionApp):
    """Serves an LSST-like data release inside Jupyter: the release summary and HiPS (more to come)."""

    name = "lsstbox"
    load_other_extensions = True

    release = Unicode(
        "",
        help="Folder of the data release to serve (default: $LSSTBOX_RELEASE, else the demo release).",
    ).tag(config=True)

    build_demo_if_missing = Bool(
        True, help="Build the demo release in the background when no release is configured."
    ).tag(config=True)

    first_use_profile = Unicode(
        "demo", help="Profile of the release built on first use (tests use 'tiny')."
    ).tag(config=True)

    jobs_dir = Unicode(
        "",
        help="Folder of the TAP service's job store and results (default: $LSSTBOX_HOME/tap-jobs).",
    ).tag(config=True)

    tap_owner = Unicode(
        "server",
        help="Who owns TAP jobs: 'server' (the server's user: $JUPYTERHUB_USER or the account) or "
        "'identity' (the authenticated identity, for identity providers with stable user names).",
    ).tag(config=True)

    tap_limits = Dict(
        value_trait=Int(),
        help="Limits of the TAP service, over the defaults of server_ext.tap.service.Limits: "
        "{'max_active_jobs': 2, 'hard_maxrec': 1000000, 'upload_bytes': 16777216, ...} (on the "
        "command line: --LsstBoxApp.tap_limits=hard_maxrec=1000000, once per limit).  Each Jupyter "
        "server has its own, so under JupyterHub they are per-user limits.",
    ).tag(config=True)

    upstreams = Dict(
        help="Remote services reachable at /lsstbox/proxy/<name>/: {name: {'url': ..., 'token' | "
        "'token_env' | 'token_file': ..., 'header': 'Authorization', 'timeout': 60}}, over those of "
        "$LSSTBOX_UPSTREAMS (JSON, same form).",
    ).tag(config=True)

    @default("release")
    def _default_release(self) -> str:
        return os.environ.get("LSSTBOX_RELEASE", "")

    @validate("tap_limits")
    def _check_tap_limits(self, proposal: dict) -> dict:
        import dataclasses

        from .tap.service import Limits

        names = [f.name for f in dataclasses.fields(Limits)]
        for key, value in proposal["value"].items():
            if key not in names:
                raise TraitError(f"LsstBoxApp.tap_limits: unknown limit {key!r}; the limits are {names}")
            if value < 0 or (value == 0 and key not in ("max_active_jobs", "default_maxrec")):
                raise TraitError(f"LsstBoxApp.tap_limits: {key}={value} must be positive")
        return proposal["value"]

    def service_limits(self) -> Limits:
        """The TAP service's :class:`~server_ext.tap.service.Limits` with :attr:`tap_limits` applied;
        a default MAXREC above the hard limit is lowered to it."""
        import dataclasses

        from .tap.service import Limits

        lim = Limits(**self.tap_limits)
        return dataclasses.replace(lim, default_maxrec=min(lim.default_maxrec, lim.hard_maxrec))

    def initialize_settings(self) -> None:
        from jupyterlab_lsp.cli import default_release_dir

        configured = bool(self.release)
        path = Path(self.release).expanduser() if configured else default_release_dir()
        state = ReleaseState(path)
        if not configured and not (path / MANIFEST_NAME).exists() and self.build_demo_if_missing:
            self.log.info("lsstbox: no release configured; building the demo release in %s", path)
            state.build_in_background(self.log, self.first_use_profile)
        else:
            try:
                rel = state.get()
                self.log.info("lsstbox: serving release %s from %s", rel.name, rel.root)
            except ReleaseError as e:
                self.log.error("lsstbox: %s", e)
        self.settings["lsstbox_release"] = state
        from .tap.service import TapService

        jobs = (
            Path(self.jobs_dir).expanduser()
            if self.jobs_dir
            else default_release_dir().parent.parent / "tap-jobs"
        )
        self.settings["lsstbox_tap"] = self.tap = TapService(state.get, jobs, self.service_limits())
        self.settings["lsstbox_tap_owner"] = self.tap_owner
        from .proxy import load_upstreams

        self.settings["lsstbox_upstreams"] = load_upstreams(
            self.upstreams, os.environ.get("LSSTBOX_UPSTREAMS", ""), self.log
        )

    async def stop_extension(self) -> None:
        tap = getattr(self, "tap", None)
        if tap is not None:
            tap.runner.shutdown()
        butler_server = getattr(self, "butler_server", None)
        if butler_server is not None:
            butler_server.stop()

    def initialize_handlers(self) -> None:
        from .tap.handlers import tap_handlers

        self.handlers.extend(handlers())
        self.handlers.extend(tap_handlers())
        from .api_schema import api_schema_handlers

        self.handlers.extend(api_schema_handlers())
        from .proxy import proxy_handlers

        self.handlers.extend(proxy_handlers())
        from .images.handlers import image_handlers

        self.handlers.extend(image_handlers())
        from .render.handlers import render_handlers

        self.handlers.extend(render_handlers())
        from .static import static_handlers

        self.handlers.extend(static_handlers())
        from .butler.handlers import butler_handlers
        from .butler.process import ButlerServer

        # daf_butler's Butler server: a subprocess started on the first /lsstbox/butler request
        self.butler_server = ButlerServer(self.log)
        self.handlers.extend(butler_handlers(self.butler_server))
