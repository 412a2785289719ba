"""A real Jupyter server in a subprocess, for tests that talk to it with real clients
(browsers, pyvo, STILTS) which block and so cannot share the test's event loop.

The launcher lives in :mod:`jupyterlab_lsp.nbtest` (``lsstbox notebooks test --start`` uses it
too); this module keeps the names the tests import."""

from __future__ import annotations

from jupyterlab_lsp.nbtest import (
    START_TIMEOUT,
    JupyterProcess,
    box_server,
    free_port,
    jupyter_process,
    tail,
)

__all__ = ["START_TIMEOUT", "JupyterProcess", "box_server", "free_port", "jupyter_process", "tail"]
