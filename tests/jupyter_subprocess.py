"""A real Jupyter server in a subprocess, for tests that talk to it with real clients
(browsers, pyvo, STILTS) which block and so cannot share the test's event loop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

START_TIMEOUT = 120.0


@dataclass(frozen=True)
class JupyterProcess:
    url: str  # base URL, ending with "/"
    token: str
    log: Path
    proc: subprocess.Popen

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(f"{self.url}{path.lstrip('/')}", headers=self.headers, timeout=60, **kwargs)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@contextmanager
def jupyter_process(
    module: str,
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    log: Path,
    token: str,
    port: int | None = None,
) -> Iterator[JupyterProcess]:
    """Run ``python -m <module> <args>`` on 127.0.0.1 and wait until ``/api/status`` answers."""
    port = port or free_port()
    cmd = [
        sys.executable,
        "-m",
        module,
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        *args,
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )
    server = JupyterProcess(url=f"http://127.0.0.1:{port}/", token=token, log=log, proc=proc)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{module} exited with {proc.returncode}:\n{tail(log)}")
            try:
                if server.get("api/status").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not answer /api/status in {START_TIMEOUT}s:\n{tail(log)}")
            time.sleep(0.25)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def box_server(
    release: Path, home: Path, token: str, port: int | None = None, extra: list[str] | None = None
) -> AbstractContextManager[JupyterProcess]:
    """``jupyter server`` with the box's extension serving ``release``, its state in ``home``
    (which must contain ``root/``); the TAP job store is ``home/jobs``, so a server started
    again on the same ``home`` finds its jobs."""
    env = {
        "LSSTBOX_RELEASE": str(release),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    args = [f"--ServerApp.root_dir={home / 'root'}", f"--LsstBoxApp.jobs_dir={home / 'jobs'}", *(extra or [])]
    return jupyter_process("jupyter_server", args, env, home / "root", home / "server.log", token, port)
