"""jupyterlab-lsstbox: the Rubin Science Platform experience in JupyterLab.

This is the public facade.  Its import name is ``jupyterlab_lsp`` because the design card fixes
the folder name; note that the unrelated PyPI package ``jupyterlab-lsp`` (Language Server
Protocol) uses the same import name, so the two cannot be installed in one environment.
The distribution is ``jupyterlab-lsstbox``, the npm package ``@lsstbox/jupyterlab`` and the URL
namespace ``/lsstbox/``.
"""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "@lsstbox/jupyterlab"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from server_ext.app import LsstBoxApp

    return [{"module": "jupyterlab_lsp", "app": LsstBoxApp}]
