"""JupyterHub for a classroom or workshop: every student gets a JupyterLab with the box, all of them
serving one shared, read-only release; each student's TAP jobs, uploads and results stay in their
own server (and home), and each server has the same per-user limits.

Run it from the hub's state folder (JupyterHub keeps ``jupyterhub.sqlite`` and its cookie secret
in the current folder)::

    LSSTBOX_CLASSROOM_RELEASE=/srv/lsstbox/release LSSTBOX_CLASSROOM_PASSWORD='a shared secret' \\
        jupyterhub -f /path/to/deploy/classroom/jupyterhub_config.py

Settings, from the environment (docs/user-guide.md, "Classrooms (JupyterHub)"):

LSSTBOX_CLASSROOM_RELEASE
    The shared release (``lsstbox release build ... --out DIR`` once, then make it read-only).
LSSTBOX_CLASSROOM_PASSWORD
    The workshop's shared password (8 characters or more); without it nobody logs in with one.
LSSTBOX_CLASSROOM_USERS
    Comma-separated names allowed to log in; unset: anyone who knows the password, with any name.
LSSTBOX_CLASSROOM_ADMIN_TOKEN
    Token of the ``classroom-admin`` service, for the REST API (create users, issue their tokens,
    start and stop their servers); unset: no such service.
LSSTBOX_CLASSROOM_SPAWNER
    ``simple`` (default): no system accounts needed; every server runs as the hub's account with
    its home in ``$LSSTBOX_CLASSROOM_HOMES/<name>``, so users cannot see each other's jobs through
    the box, but their notebooks' code could read each other's files.  ``local``: each user is a
    system account and their server runs as them in their home, so files are private too.
LSSTBOX_CLASSROOM_HOMES
    Where ``simple`` puts the homes (default ``/srv/lsstbox/homes``).
LSSTBOX_CLASSROOM_NOTEBOOKS
    A folder copied into each new home as ``notebooks/`` (default: the repository's tutorials).
LSSTBOX_CLASSROOM_MAX_ACTIVE_JOBS, _MAX_ROWS, _MAX_UPLOAD_MB, _MAX_DURATION_S
    Per-user TAP limits: async queries queued or executing at once (default 2), rows of a result
    (the hard MAXREC, default 1000000), upload size (default 16 MB), run time of a job (default
    600 s).
LSSTBOX_CLASSROOM_PROXY
    The ``configurable-http-proxy`` command (default: on PATH, else the one ``scripts/setup.sh
    --test`` installs in the environment, ``<venv>/chp``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from pathlib import Path
from typing import Any

c = get_config()  # noqa: F821

REPO = Path(__file__).resolve().parents[2]


def _setting(name: str, default: str = "") -> str:
    return os.environ.get(f"LSSTBOX_CLASSROOM_{name}", default).strip()


RELEASE = _setting("RELEASE")
if not RELEASE or not (Path(RELEASE) / "manifest.json").is_file():
    raise SystemExit(
        f"LSSTBOX_CLASSROOM_RELEASE={RELEASE!r} is not a release: build one with "
        "'lsstbox release build --profile demo --out DIR' and point LSSTBOX_CLASSROOM_RELEASE at it"
    )
RELEASE = str(Path(RELEASE).resolve())
SPAWNER = _setting("SPAWNER", "simple")
if SPAWNER not in ("simple", "local"):
    raise SystemExit(f"LSSTBOX_CLASSROOM_SPAWNER={SPAWNER!r}: use 'simple' or 'local'")
HOMES = Path(_setting("HOMES", "/srv/lsstbox/homes"))
NOTEBOOKS = Path(_setting("NOTEBOOKS", str(REPO / "docs" / "tutorials")))
LIMITS = {
    "max_active_jobs": int(_setting("MAX_ACTIVE_JOBS", "2")),
    "hard_maxrec": int(_setting("MAX_ROWS", "1000000")),
    "upload_bytes": int(float(_setting("MAX_UPLOAD_MB", "16")) * 1024 * 1024),
    "max_duration_s": int(_setting("MAX_DURATION_S", "600")),
}

# -- who logs in --------------------------------------------------------------------------------
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = _setting("PASSWORD") or None
users = {u.strip() for u in _setting("USERS").split(",") if u.strip()}
if users:
    c.Authenticator.allowed_users = users
else:
    c.Authenticator.allow_all = True
admin_token = _setting("ADMIN_TOKEN")
if admin_token:
    c.JupyterHub.services = [{"name": "classroom-admin", "api_token": admin_token}]
    c.JupyterHub.load_roles = [
        {
            "name": "classroom-admin",
            "scopes": ["admin:users", "admin:servers", "tokens", "list:users"],
            "services": ["classroom-admin"],
        }
    ]

# -- the proxy ----------------------------------------------------------------------------------
proxy = _setting("PROXY") or shutil.which("configurable-http-proxy")
local_proxy = Path(sys.prefix) / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"
if not proxy and local_proxy.exists():
    proxy = str(local_proxy)
if proxy:
    c.ConfigurableHTTPProxy.command = [proxy]

# -- each user's server -------------------------------------------------------------------------
c.JupyterHub.spawner_class = SPAWNER
c.SimpleLocalProcessSpawner.home_dir_template = str(HOMES / "{username}")
# the hub's Python (the environment the box is installed in) runs every user's server
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {"LSSTBOX_RELEASE": RELEASE}


def _home(spawner: Any) -> Path:
    if SPAWNER == "simple":
        return Path(spawner.home_dir)
    return Path(pwd.getpwnam(spawner.user.name).pw_dir)


def per_user(spawner: Any) -> None:
    """The user's own job store (TAP jobs, uploads, results) and box state under their home;
    the shared release, never built or written by a user's server; the per-user limits."""
    home = _home(spawner)
    state = home / ".lsstbox"
    spawner.environment = {**spawner.environment, "LSSTBOX_HOME": str(state)}
    spawner.args = [
        f"--LsstBoxApp.release={RELEASE}",
        "--LsstBoxApp.build_demo_if_missing=False",
        f"--LsstBoxApp.jobs_dir={state / 'tap-jobs'}",
        *(f"--LsstBoxApp.tap_limits={k}={v}" for k, v in LIMITS.items()),
    ]
    if SPAWNER == "simple" and os.geteuid() == 0:
        # a hub run as root (a container) runs the servers as root too: Jupyter wants to be told
        spawner.log.warning("the classroom hub runs as root; run it as an unprivileged account")
        spawner.args.append("--ServerApp.allow_root=True")
    notebooks = home / "notebooks"
    if NOTEBOOKS.is_dir() and not notebooks.exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copytree(NOTEBOOKS, notebooks)
        if SPAWNER == "local":
            pw = pwd.getpwnam(spawner.user.name)
            for path in [notebooks, *notebooks.rglob("*")]:
                os.chown(path, pw.pw_uid, pw.pw_gid)


c.Spawner.pre_spawn_hook = per_user
