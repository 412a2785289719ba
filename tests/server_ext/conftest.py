from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def jp_server_config(tiny_release: Path) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterlab_lsp": True}},
        "LsstBoxApp": {"release": str(tiny_release)},
    }
