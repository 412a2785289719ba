"""Every tutorial notebook runs top to bottom on the tiny release (its asserts are checks) and its
text outputs match those recorded in ``docs/tutorials/expected/`` -- through the engine of
``lsstbox notebooks test`` (:func:`jupyterlab_lsp.nbtest.check_notebook`), so this test and the
command are one code path. Re-record with
``lsstbox notebooks test --start --release <tiny release> --update docs/tutorials``.

Notebooks whose metadata says ``{"lsstbox": {"needs_server": true}}`` (TAP, images) run against a
real Jupyter server with the box's extension, started here in a subprocess; the kernel finds it
through ``$LSSTBOX_TAP_URL``/``$LSSTBOX_TOKEN`` as ``get_tap_service`` documents.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import nbformat
import pytest
from jupyter_subprocess import JupyterProcess, box_server

from jupyterlab_lsp.nbtest import check_notebook, sidecar_path

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "docs" / "tutorials").glob("*.ipynb"))


class LazyServer:
    """A Jupyter server started on first use and stopped with the fixture."""

    def __init__(self, release: Path, home: Path, stack: ExitStack) -> None:
        self.release, self.home, self.stack = release, home, stack
        self.server: JupyterProcess | None = None

    def get(self) -> JupyterProcess:
        if self.server is None:
            (self.home / "root").mkdir()
            cm = box_server(self.release, self.home, secrets.token_hex(16))
            self.server = self.stack.enter_context(cm)
        return self.server


@pytest.fixture(scope="module")
def server(tiny_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LazyServer]:
    with ExitStack() as stack:
        yield LazyServer(tiny_release, tmp_path_factory.mktemp("tutorial-server"), stack)


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path: Path, tiny_release: Path, tmp_path: Path, server: LazyServer) -> None:
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "store tutorials without outputs"
    )
    assert sidecar_path(path).exists(), f"no expected outputs for {path.name}: record them with --update"
    env = {"LSSTBOX_RELEASE": str(tiny_release)}
    if nb.metadata.get("lsstbox", {}).get("needs_server"):
        running = server.get()
        env |= {"LSSTBOX_TAP_URL": f"{running.url}lsstbox/tap", "LSSTBOX_TOKEN": running.token}
    result = check_notebook(path, env=env, cwd=tmp_path, timeout=300)
    assert result.ok, result.report()
