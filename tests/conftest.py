"""Shared fixtures: one real tiny release per test session, built by the real builder.

Set ``LSSTBOX_TEST_RELEASE`` to a built tiny release to reuse it across runs while developing (one
built before the current release format -- without MOCs -- is ignored and a fresh one built).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kernel_lib.release.builder import build_release

    reuse = os.environ.get("LSSTBOX_TEST_RELEASE")
    if reuse and (Path(reuse) / "manifest.json").exists():
        manifest = json.loads((Path(reuse) / "manifest.json").read_text())
        if "mocs" in manifest:  # built by the current builder
            return Path(reuse)
    out = tmp_path_factory.mktemp("releases") / "tiny"
    return build_release("tiny", out, seed=1, progress=False)
