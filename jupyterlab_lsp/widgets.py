"""Notebook widgets: ``from jupyterlab_lsp.widgets import SkyView, ImageView, TableView``."""

from __future__ import annotations

from kernel_lib.widgets.image import ImageView
from kernel_lib.widgets.sky import SkyView
from kernel_lib.widgets.table import TableView

__all__ = ["ImageView", "SkyView", "TableView"]
