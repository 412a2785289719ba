"""What the widget tests without a kernel or a browser share (``test_widgets.py``,
``test_image_table_widgets.py``): a comm that records what a widget publishes, installed through
the ``comm`` package's documented hook (``comm.create_comm``), and front-end messages fed to the
comm exactly as ipykernel would deliver them."""

from __future__ import annotations

from typing import Any

import comm
import pytest
from comm.base_comm import BaseComm


class RecordingComm(BaseComm):
    """A comm that keeps what the widget publishes (``comm_open`` state, ``comm_msg``s)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.published: list[tuple[str, dict[str, Any], list[bytes]]] = []
        super().__init__(*args, **kwargs)

    def publish_msg(
        self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any
    ):
        self.published.append((msg_type, data or {}, [bytes(b) for b in buffers or []]))

    def custom(self) -> list[tuple[dict[str, Any], list[bytes]]]:
        """The custom messages sent to the front end (``widget.send``), in order."""
        return [
            (data["content"], bufs)
            for kind, data, bufs in self.published
            if kind == "comm_msg" and data.get("method") == "custom"
        ]


def record_comms(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widgets created from now on (in this test) talk over a :class:`RecordingComm`; no release
    (``LSSTBOX_RELEASE`` unset): ids are not checked against one."""
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    monkeypatch.delenv("LSSTBOX_RELEASE", raising=False)


def from_view(widget: Any, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
    """Deliver a front-end custom message the way ipykernel's comm manager does."""
    widget.comm.handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": buffers or []}
    )


def sent(widget: Any) -> list[tuple[dict[str, Any], list[bytes]]]:
    """The custom messages the widget sent to its views, in order."""
    return widget.comm.custom()
