"""Overrides of pytest-jupyter's autouse fixtures for modules whose tests talk to a Jupyter server
in a subprocess (:mod:`jupyter_subprocess`): they need no pytest-jupyter event loop, and
Playwright's own loop clashes with it.  Import both names into such a module (or its conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    yield None
