"""Notebook widgets of the box (anywidget): :class:`SkyView` (Aladin Lite on the release's HiPS),
:class:`ImageView` (the lab's image viewer in an output) and :class:`TableView` (a table that stays
in the kernel, in a grid)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["ImageView", "SkyView", "TableView"]

_MODULES = {"SkyView": ".sky", "ImageView": ".image", "TableView": ".table"}


def __getattr__(name: str) -> Any:
    # anywidget/ipywidgets load when a widget is first used, not with kernel_lib
    if name in _MODULES:
        return getattr(import_module(_MODULES[name], __name__), name)
    raise AttributeError(f"module 'kernel_lib.widgets' has no attribute {name!r}")
