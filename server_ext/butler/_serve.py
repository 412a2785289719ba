"""The Butler server process: ``python -m server_ext.butler._serve <repo> <socket> <workdir>``.

Writes the server's own configuration of the release's repository into ``<workdir>`` (the
release is never written to), configures daf_butler's Butler server through its
``DAF_BUTLER_SERVER_*`` environment and runs it with uvicorn on the unix socket ``<socket>``.

The repository configuration differs from the release's in two places only:

* ``registry.db`` is the release's SQLite file by absolute path (opened read-only: the server's
  butlers are not writeable);
* ``datastore.root`` is :data:`~server_ext.butler.client.DATASTORE_SENTINEL` plus the datastore's
  folder below the repository: an HTTP URL, because the server reports file locations as HTTP
  URLs (``FileInfoRecord.url``).  The server never reads the files; the proxy rewrites the
  sentinel origin to the box's own URL, so clients download through ``/lsstbox/files/``.

The server runs in daf_butler's ``cadc`` authentication mode, whose file answers are the
datastore URL as it is (``rubin_science_platform`` mode would try to pre-sign them, which an
HTTP root cannot do without asking the sentinel host); the proxy turns their ``auth`` into
``gafaelfawr`` (the client sends its bearer token, that is the Jupyter token) and serves the
client configuration itself, in ``rubin_science_platform`` mode.  Gafaelfawr is disabled: the
Jupyter server has authenticated every request before proxying it.

The process exits when its standard input closes (the Jupyter server that started it is gone),
so a killed Jupyter server leaves no orphan behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from pathlib import Path

from .client import DATASTORE_SENTINEL, REPOSITORY

APP = "lsst.daf.butler.remote_butler.server:create_app"


def write_server_config(repo: Path, workdir: Path) -> Path:
    """The server's ``butler.yaml`` for the repository at ``repo``, written in ``workdir``."""
    from lsst.daf.butler import Config

    source = repo / "butler.yaml"
    if not source.is_file():
        raise SystemExit(f"lsstbox-butler: no butler.yaml in the release's Butler repository {repo}")
    config = Config(str(source))
    root = repo.resolve().as_posix()

    def expand(value: str) -> str:
        return value.replace("<butlerRoot>", root)

    db = str(config.get(("registry", "db"), ""))
    if not db.startswith("sqlite:"):
        raise SystemExit(f"lsstbox-butler: the repository's registry is not SQLite ({db.split(':')[0]})")
    config["registry", "db"] = expand(db)
    datastore = config.get("datastore")
    if datastore is None or "FileDatastore" not in str(datastore.get("cls", "")):
        raise SystemExit("lsstbox-butler: the repository's datastore is not a FileDatastore")
    store = Path(expand(str(datastore.get("root", "<butlerRoot>"))).removeprefix("file://")).resolve()
    try:
        below = store.relative_to(repo.resolve()).as_posix()
    except ValueError:
        raise SystemExit(f"lsstbox-butler: the datastore root {store} is outside the repository") from None
    config["datastore", "root"] = DATASTORE_SENTINEL + ("" if below == "." else below.strip("/") + "/")
    out = workdir / "repo" / "butler.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    config.dumpToUri(str(out))
    return out


def _exit_with_parent(workdir: Path) -> None:
    """Wait for the end of standard input (the parent closed it, or is gone), then clean up
    the private folder and exit."""
    try:
        while os.read(0, 65536):  # the raw descriptor: no lock held at interpreter shutdown
            pass
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    repo, socket_path, workdir = (Path(a) for a in (argv or sys.argv[1:]))
    threading.Thread(
        target=_exit_with_parent, args=(workdir,), name="lsstbox-butler-parent", daemon=True
    ).start()
    config = write_server_config(repo, workdir)
    os.environ.update(
        {
            "DAF_BUTLER_SERVER_REPOSITORIES": json.dumps(
                {REPOSITORY: {"config_uri": str(config), "authorized_groups": ["*"]}}
            ),
            "DAF_BUTLER_SERVER_GAFAELFAWR_URL": "DISABLED",
            "DAF_BUTLER_SERVER_AUTHENTICATION": "cadc",
        }
    )
    import uvicorn

    uvicorn.run(
        APP,
        factory=True,
        uds=str(socket_path),
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
