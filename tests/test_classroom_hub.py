"""The classroom deployment (``deploy/classroom/jupyterhub_config.py``) in a real JupyterHub with its
real proxy (configurable-http-proxy) and two students, alice and bob, each with their own
single-user server started through the hub's REST API, talking to the box only through the proxy.

It proves that the shared password logs students in; that neither student can list, fetch or
delete the other's TAP jobs, uploads, results or result pages (through their own server the job
does not exist: 404; through the other's the hub refuses the token: 403), each student's job store
being in their own home; that a student's notebook code finds their own box; that one release
serves both, and that it stays unwritten (a read-only bind mount where the machine allows it, as
CI does); and that the per-user limits hold (a second concurrent query refused with 429, results
cut at the classroom's row limit).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from held_upload import HeldUpload
from jupyter_subprocess import free_port, tail
from no_jupyter_loop import jp_asyncio_loop, jp_server_cleanup  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "deploy" / "classroom" / "jupyterhub_config.py"
LOCAL_PROXY = Path(sys.prefix) / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"
PASSWORD = "a-classroom-secret"
STUDENTS = ("alice", "bob")
QUERY = {
    "LANG": "ADQL",
    "QUERY": "SELECT TOP 2 objectId FROM dp1.Object ORDER BY objectId",
    "RESPONSEFORMAT": "votable/td",
}


def _proxy_command() -> str | None:
    found = shutil.which("configurable-http-proxy")
    return found or (str(LOCAL_PROXY) if LOCAL_PROXY.exists() else None)


def _missing() -> str | None:
    if importlib.util.find_spec("jupyterhub") is None:
        return "jupyterhub is not installed (scripts/setup.sh --test installs it)"
    if _proxy_command() is None:
        return "configurable-http-proxy is not installed (scripts/setup.sh --test puts it in .venv/chp)"
    return None


MISSING = _missing()
pytestmark = pytest.mark.skipif(MISSING is not None and not os.environ.get("CI"), reason=str(MISSING))


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file of ``root`` with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _ok(*cmd: str) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True).returncode == 0
    except OSError:  # no such command
        return False


@contextmanager
def _read_only(release: Path, where: Path) -> Iterator[Path | None]:
    """``release`` seen through a read-only bind mount at ``where``, where the machine allows it
    (root with CAP_SYS_ADMIN, as CI); else None."""
    where.mkdir()
    mounted = _ok("mount", "--bind", str(release), str(where))
    try:
        yield where if mounted and _ok("mount", "-o", "remount,ro,bind", str(where)) else None
    finally:
        if mounted and not _ok("umount", str(where)):
            _ok("umount", "-l", str(where))


@dataclass
class Hub:
    url: str  # the proxy's public URL, ending with "/"
    admin: requests.Session
    homes: Path
    release: Path  # what the students' servers serve
    release_before: dict[str, tuple[int, int]]
    read_only_mount: bool  # the release is a read-only mount (else: checked unchanged)
    tokens: dict[str, str] = field(default_factory=dict)

    def session(self, name: str) -> requests.Session:
        s = requests.Session()
        s.headers["Authorization"] = f"token {self.tokens[name]}"
        return s

    def box(self, name: str) -> str:
        """The base URL of ``name``'s box (``/user/<name>/lsstbox/``)."""
        return f"{self.url}user/{name}/lsstbox/"


@pytest.fixture(scope="module")
def shared_release(
    tiny_release: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, bool]]:
    """The classroom's release: the tiny release through a read-only mount where possible."""
    with _read_only(tiny_release, tmp_path_factory.mktemp("shared") / "release") as mount:
        yield (mount, True) if mount else (tiny_release, False)


@pytest.fixture(scope="module")
def hub(shared_release: tuple[Path, bool], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    if MISSING:  # CI must run it (the skip above is for machines set up without it)
        pytest.fail(f"the classroom test cannot run: {MISSING}")
    release, read_only = shared_release
    tmp = tmp_path_factory.mktemp("classroom")
    state, homes = tmp / "hub", tmp / "homes"
    state.mkdir()
    admin_token = secrets.token_hex(24)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "LSSTBOX_CLASSROOM_RELEASE": str(release),
        "LSSTBOX_CLASSROOM_PASSWORD": PASSWORD,
        "LSSTBOX_CLASSROOM_USERS": ",".join(STUDENTS),
        "LSSTBOX_CLASSROOM_ADMIN_TOKEN": admin_token,
        "LSSTBOX_CLASSROOM_HOMES": str(homes),
        "LSSTBOX_CLASSROOM_MAX_ACTIVE_JOBS": "1",
        "LSSTBOX_CLASSROOM_MAX_ROWS": "3",
        "LSSTBOX_CLASSROOM_PROXY": _proxy_command() or "",
    }
    for key in ("LSSTBOX_RELEASE", "LSSTBOX_HOME", "JUPYTERHUB_USER", "JUPYTER_CONFIG_DIR"):
        env.pop(key, None)
    cmd = [
        sys.executable,
        "-m",
        "jupyterhub",
        "-f",
        str(CONFIG),
        f"--JupyterHub.bind_url=http://127.0.0.1:{port}",
        f"--JupyterHub.hub_port={free_port()}",
        f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{free_port()}",
    ]
    log = tmp / "hub.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=state, stdout=out, stderr=subprocess.STDOUT)
    admin = requests.Session()
    admin.headers["Authorization"] = f"token {admin_token}"
    url = f"http://127.0.0.1:{port}/"
    h = Hub(url, admin, homes, release, _tree(release), read_only)
    api = f"{url}hub/api"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"jupyterhub exited with {proc.returncode}:\n{tail(log)}"
            try:
                if requests.get(f"{api}/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"the hub did not answer in 60 s:\n{tail(log)}"
            time.sleep(0.25)
        # the instructor's service creates the students, issues their tokens, starts their servers
        for name in STUDENTS:
            r = admin.post(f"{api}/users/{name}", timeout=30)
            assert r.status_code in (201, 409), r.text  # 409: made at start-up from the allowed users
            r = admin.post(f"{api}/users/{name}/tokens", json={"note": "classroom test"}, timeout=30)
            assert r.status_code == 201, r.text
            h.tokens[name] = r.json()["token"]
            r = admin.post(f"{api}/users/{name}/server", timeout=60)
            assert r.status_code in (201, 202), r.text
        deadline = time.monotonic() + 120
        for name in STUDENTS:
            while not admin.get(f"{api}/users/{name}", timeout=30).json()["servers"].get("", {}).get("ready"):
                assert proc.poll() is None, tail(log)
                assert time.monotonic() < deadline, f"{name}'s server did not start:\n{tail(log, 120)}"
                time.sleep(0.5)
        yield h
    finally:
        for name in STUDENTS:
            try:
                admin.delete(f"{api}/users/{name}/server", timeout=30)
            except requests.RequestException:
                pass
        proc.terminate()  # the hub stops the proxy and any server left
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        admin.close()


def _run(s: requests.Session, box: str, params: dict[str, str], files: dict[str, bytes] | None = None) -> str:
    """Create and run an async job; return its URL once it has finished."""
    r = s.post(f"{box}tap/async", data={**params, "PHASE": "RUN"}, files=files, timeout=60)
    assert r.status_code == 200 and "/tap/async/" in r.url, (r.status_code, r.text[:300])
    job = r.url.rstrip("/")
    deadline = time.monotonic() + 60
    while (phase := s.get(f"{job}/phase", timeout=30).text) not in ("COMPLETED", "ERROR", "ABORTED"):
        assert time.monotonic() < deadline, phase
        s.get(job, params={"WAIT": "10"}, timeout=30)
    assert phase == "COMPLETED", s.get(f"{job}/error", timeout=30).text
    return job


def _job_ids(s: requests.Session, box: str) -> list[str]:
    r = s.get(f"{box}tap/async", timeout=30)
    assert r.status_code == 200, r.text
    return re.findall(r'uws:jobref id="([^"]+)"', r.text)


def test_the_shared_password_logs_students_in(hub: Hub) -> None:
    for password, status in ((PASSWORD, 302), ("not-the-password", 403)):
        s = requests.Session()
        page = s.get(f"{hub.url}hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        assert xsrf, page.text[:500]
        r = s.post(
            f"{hub.url}hub/login",
            data={"username": "alice", "password": password, "_xsrf": xsrf.group(1)},
            allow_redirects=False,
            timeout=30,
        )
        assert r.status_code == status, r.text[:300]


def test_students_cannot_see_each_others_jobs(hub: Hub) -> None:
    alice, bob = hub.session("alice"), hub.session("bob")
    a_box, b_box = hub.box("alice"), hub.box("bob")
    job = _run(alice, a_box, QUERY)
    job_id = job.rsplit("/", 1)[-1]
    assert alice.get(f"{job}/owner", timeout=30).text == "alice"
    result = alice.get(f"{job}/results/result", timeout=30)
    assert result.status_code == 200 and result.text.count("<TR>") == 2
    page = alice.get(f"{a_box}api/results/{job_id}", timeout=30)
    assert page.status_code == 200, page.text
    assert job_id in _job_ids(alice, a_box)
    # and a job with alice's own table uploaded
    upload = {"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.mine", "UPLOAD": "mine,param:t"}
    upload_job = _run(alice, a_box, {**upload, "RESPONSEFORMAT": "csv"}, {"t": b"secret\nalice-only-42\n"})
    upload_id = upload_job.rsplit("/", 1)[-1]
    assert "alice-only-42" in alice.get(f"{upload_job}/results/result", timeout=30).text

    # bob's own server does not know the jobs; alice's refuses bob's token (JupyterHub's scopes)
    assert not {job_id, upload_id} & set(_job_ids(bob, b_box))
    for (box, status), jid in itertools.product(((b_box, 404), (a_box, 403)), (job_id, upload_id)):
        for r in (
            bob.get(f"{box}tap/async/{jid}", timeout=30),
            bob.get(f"{box}tap/async/{jid}/results/result", timeout=30),
            bob.get(f"{box}tap/async/{jid}/json", timeout=30),
            bob.get(f"{box}api/results/{jid}", timeout=30),
            bob.delete(f"{box}tap/async/{jid}", allow_redirects=False, timeout=30),
            bob.post(f"{box}tap/async/{jid}", data={"ACTION": "DELETE"}, allow_redirects=False, timeout=30),
        ):
            assert r.status_code == status, (r.request.method, r.url, r.status_code, r.text[:200])
    r = bob.get(f"{a_box}tap/async", timeout=30)
    assert r.status_code == 403, (r.status_code, r.text[:200])
    # nor can anyone without a token
    r = requests.get(f"{a_box}tap/async/{job_id}/results/result", allow_redirects=False, timeout=30)
    assert r.status_code in (302, 403), r.status_code

    # alice's job is intact; bob's own job works and alice cannot see it either
    assert alice.get(f"{job}/phase", timeout=30).text == "COMPLETED"
    assert alice.get(f"{job}/results/result", timeout=30).content == result.content
    bobs = _run(bob, b_box, QUERY)
    assert bob.get(f"{bobs}/results/result", timeout=30).text.count("<TR>") == 2
    assert bobs.rsplit("/", 1)[-1] not in _job_ids(alice, a_box)
    assert alice.get(f"{b_box}tap/async", timeout=30).status_code == 403
    # each student's jobs and results live in their own home
    assert (hub.homes / "alice" / ".lsstbox" / "tap-jobs" / "results" / job_id).is_dir()
    assert (hub.homes / "alice" / ".lsstbox" / "tap-jobs" / "results" / upload_id / "upload-t").is_file()
    assert not any((hub.homes / "bob").rglob(f"*{job_id}*")) and not any(
        (hub.homes / "bob").rglob("upload-*")
    )
    assert (hub.homes / "alice" / "notebooks" / "03-tap-with-pyvo.ipynb").is_file()
    alice.close()
    bob.close()


def test_a_students_notebook_uses_their_own_box(hub: Hub) -> None:
    """Code in alice's notebooks (here: alice's environment, in her notebooks folder) finds her
    server and its TAP service through the helpers, and its jobs are hers."""
    home = hub.homes / "alice"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LSSTBOX_", "JUPYTER"))}
    env |= {"HOME": str(home), "LSSTBOX_RELEASE": str(hub.release)}
    code = (
        "from jupyterlab_lsp import get_tap_service\n"
        "job = get_tap_service('tap').submit_job('SELECT TOP 2 objectId FROM dp1.Object')\n"
        "job.run().wait(timeout=60)\n"
        "print(job.job_id, len(job.fetch_result().to_table()))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=home / "notebooks",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    job_id, rows = run.stdout.split()[-2:]
    assert rows == "2"
    alice, bob = hub.session("alice"), hub.session("bob")
    assert job_id in _job_ids(alice, hub.box("alice")) and job_id not in _job_ids(bob, hub.box("bob"))
    alice.close()
    bob.close()


def test_per_user_limits(hub: Hub) -> None:
    bob, alice = hub.session("bob"), hub.session("alice")
    box = hub.box("bob")
    held = HeldUpload()
    try:
        upload = {"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": f"t,{held.url}"}
        r = bob.post(f"{box}tap/async", data={**upload, "PHASE": "RUN"}, timeout=60)
        assert r.status_code == 200, r.text
        first = r.url.rstrip("/")
        deadline = time.monotonic() + 30
        while bob.get(f"{first}/phase", timeout=30).text != "EXECUTING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # bob's second query at once is refused, with a UWS error saying what to do
        r = bob.post(f"{box}tap/async", data={**QUERY, "PHASE": "RUN"}, allow_redirects=False, timeout=60)
        assert r.status_code == 429, (r.status_code, r.text)
        assert "queued or executing and the limit is 1 at once" in r.text
        # the limit is bob's, not the classroom's: alice runs a query meanwhile
        _run(alice, hub.box("alice"), QUERY)
        held.gate.set()
        bob.get(first, params={"WAIT": "30", "PHASE": "EXECUTING"}, timeout=60)
        assert bob.get(f"{first}/phase", timeout=30).text == "COMPLETED"
        # results are cut at the classroom's 3 rows, and flagged so
        r = bob.get(
            f"{box}tap/sync", params={**QUERY, "QUERY": "SELECT objectId FROM dp1.Object"}, timeout=60
        )
        assert r.status_code == 200 and r.text.count("<TR>") == 3, r.text[:300]
        assert 'name="QUERY_STATUS" value="OVERFLOW"' in r.text
    finally:
        held.close()
        bob.close()
        alice.close()


def test_one_read_only_release_for_everyone(hub: Hub) -> None:
    summaries, seen = [], []
    for name in STUDENTS:
        s = hub.session(name)
        r = s.get(f"{hub.box(name)}api/release", timeout=30)
        assert r.status_code == 200, r.text
        summaries.append(r.json())
        # the same tables, images and ObsCore rows for both, from the one release
        obscore = {"LANG": "ADQL", "QUERY": "SELECT COUNT(*) AS n FROM ivoa.ObsCore", "RESPONSEFORMAT": "csv"}
        sia = s.get(
            f"{hub.box(name)}sia/query",
            params={"POS": "CIRCLE 53.16 -28.10 0.05", "RESPONSEFORMAT": "votable/td"},
            timeout=60,
        )
        assert sia.status_code == 200, sia.text[:300]
        seen.append(
            (
                s.get(f"{hub.box(name)}tap/tables", timeout=30).text,
                s.get(f"{hub.box(name)}tap/sync", params=obscore, timeout=60).text,
                sia.text.count("<TR>"),
            )
        )
        s.close()
    assert summaries[0]["root"] == summaries[1]["root"] == str(hub.release)
    assert summaries[0]["name"] == summaries[1]["name"]
    assert seen[0] == seen[1] and "dp1.Object" in seen[0][0] and seen[0][2] > 0
    # nothing the students did (queries, results, uploads) wrote to the release, and on a machine
    # that allows the read-only mount, nothing could
    assert _tree(hub.release) == hub.release_before
    if hub.read_only_mount:
        with pytest.raises(OSError, match="Read-only file system"):
            (hub.release / "written-by-a-student").write_text("no")
