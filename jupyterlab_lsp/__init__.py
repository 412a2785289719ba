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

__all__ = [
    "BuildError",
    "Catalog",
    "Engine",
    "ImageView",
    "Release",
    "ReleaseError",
    "SkyView",
    "TableView",
    "__version__",
    "adql",
    "build_release",
    "get_datalink_result",
    "get_pyvo_auth",
    "get_query_history",
    "get_siav2_service",
    "get_tap_service",
    "make_remote_butler",
    "open_catalog",
    "open_release",
    "plots",
    "retrieve_query",
    "show_on_sky",
]


_LAZY = {
    "BuildError": "kernel_lib.release.builder",
    "build_release": "kernel_lib.release.builder",
    "Release": "kernel_lib.release.manifest",
    "ReleaseError": "kernel_lib.release.manifest",
    "open_catalog": "kernel_lib.catalog",
    "adql": "kernel_lib.engine",
    "Engine": "kernel_lib.engine",
    "Catalog": "kernel_lib.catalog",
    "get_tap_service": "kernel_lib.rsp",
    "retrieve_query": "kernel_lib.rsp",
    "get_query_history": "kernel_lib.rsp",
    "get_siav2_service": "kernel_lib.rsp",
    "get_datalink_result": "kernel_lib.rsp",
    "get_pyvo_auth": "kernel_lib.rsp",
    "make_remote_butler": "server_ext.butler.client",
    "SkyView": "kernel_lib.widgets.sky",
    "ImageView": "kernel_lib.widgets.image",
    "TableView": "kernel_lib.widgets.table",
    "show_on_sky": "kernel_lib.link",
}


#: submodules re-exported as they are (``from jupyterlab_lsp import plots``)
_LAZY_MODULES = {"plots": "kernel_lib.plots"}


def __getattr__(name: str) -> Any:
    # heavy modules (pandas, astropy, daf_butler) load on first use, not when Jupyter
    # imports this package to find the extension's paths
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _LAZY_MODULES:
        return importlib.import_module(_LAZY_MODULES[name])
    raise AttributeError(f"module 'jupyterlab_lsp' has no attribute {name!r}")


def open_release(path: str | None = None) -> Any:
    """The release at ``path``, else ``$LSSTBOX_RELEASE``, else the demo release (built if missing).

    Examples
    --------
    >>> rel = open_release()                       # doctest: +SKIP
    >>> rel.catalogs["Object"]["rows"]             # doctest: +SKIP
    """
    import os
    from pathlib import Path

    from kernel_lib.release.builder import build_release
    from kernel_lib.release.manifest import Release

    from .cli import default_release_dir

    if path is None:
        path = os.environ.get("LSSTBOX_RELEASE") or None
    if path is None:
        target = default_release_dir()
        if not (target / "manifest.json").exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            build_release("demo", target)
        path = str(target)
    return Release.open(Path(path))


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "@lsstbox/jupyterlab"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from server_ext.app import LsstBoxApp

    return [{"module": "jupyterlab_lsp", "app": LsstBoxApp}]
