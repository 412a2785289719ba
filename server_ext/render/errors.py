"""The one error type of the renderer: a one-line message and the HTTP status it maps to."""

from __future__ import annotations

__all__ = ["RenderError"]


class RenderError(ValueError):
    """A request the renderer refuses (bad parameter, unknown image, unreadable file)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def first_line(e: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type's name."""
    for line in str(e).splitlines():
        if line.strip():
            return line.strip()[:300]
    return type(e).__name__
