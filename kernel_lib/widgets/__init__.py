"""Notebook widgets of the box (anywidget): :class:`SkyView`, Aladin Lite on the release's HiPS."""

from __future__ import annotations

from typing import Any

__all__ = ["SkyView"]


def __getattr__(name: str) -> Any:
    # anywidget/ipywidgets load when a widget is first used, not with kernel_lib
    if name == "SkyView":
        from .sky import SkyView

        return SkyView
    raise AttributeError(f"module 'kernel_lib.widgets' has no attribute {name!r}")
