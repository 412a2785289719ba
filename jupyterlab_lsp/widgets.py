"""Notebook widgets: ``from jupyterlab_lsp.widgets import SkyView``."""

from __future__ import annotations

from kernel_lib.widgets.sky import SkyView

__all__ = ["SkyView"]
