"""The README's notebook example runs as written, on the tiny release, beside a real server
(its TAP lines find it as a notebook of that server would, here through ``$LSSTBOX_TAP_URL``)."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

from jupyter_subprocess import box_server

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tiny_release: Path, tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    code = blocks[0] + "\nprint(len(cone), len(refs), cutout.data.shape)\nassert len(bright) == 5\n"
    env = {"LSSTBOX_RELEASE": str(tiny_release), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    (tmp_path / "root").mkdir()
    with box_server(tiny_release, tmp_path, secrets.token_hex(16)) as server:
        env |= {"LSSTBOX_TAP_URL": f"{server.url}lsstbox/tap", "LSSTBOX_TOKEN": server.token}
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
        )
    assert run.returncode == 0, run.stderr[-3000:]
    n_cone, n_refs, shape = run.stdout.strip().splitlines()[-1].split(" ", 2)
    assert int(n_cone) > 0 and int(n_refs) > 0
    assert shape == "(64, 64)"
