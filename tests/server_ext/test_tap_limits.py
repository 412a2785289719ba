"""Per-user limits of the TAP service (``LsstBoxApp.tap_limits``): queries queued or executing at
once (``max_active_jobs``) and the rows of a result (``hard_maxrec``), in the job runner and
through a real server configured as a classroom's single-user servers are."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from held_upload import HeldUpload
from jupyter_subprocess import JupyterProcess, box_server
from no_jupyter_loop import jp_asyncio_loop, jp_server_cleanup  # noqa: F401
from traitlets import TraitError

from server_ext.app import LsstBoxApp
from server_ext.tap.uws import Job, JobLimitError, JobRunner, JobStore, Result

# -- the runner ---------------------------------------------------------------------------------


def _blocking(gate: threading.Event) -> Callable[..., list[Result]]:
    def execute(
        job: Job, cancel: threading.Event, progress: Callable[[dict[str, Any]], None]
    ) -> list[Result]:
        while not gate.wait(0.01) and not cancel.is_set():
            pass
        return []

    return execute


def _phase(store: JobStore, job: Job, phases: tuple[str, ...], timeout: float = 10) -> Job:
    deadline = time.monotonic() + timeout
    while (job := store.get(job.job_id, job.owner)).phase not in phases:
        assert time.monotonic() < deadline, job.phase
        time.sleep(0.01)
    return job


def test_runner_refuses_a_run_past_max_active(tmp_path: Path) -> None:
    gate = threading.Event()
    with JobStore(tmp_path / "uws") as store:
        runner = JobRunner(store, _blocking(gate), max_active=1)
        try:
            first = store.create("alice", {"QUERY": "q1"})
            second = store.create("alice", {"QUERY": "q2"})
            runner.run(first.job_id, "alice")
            _phase(store, first, ("EXECUTING",))
            with pytest.raises(JobLimitError, match=r"1 of your queries .* limit is 1 .* stays PENDING"):
                runner.run(second.job_id, "alice")
            assert store.get(second.job_id, "alice").phase == "PENDING"
            # running again what is already running is not a new query
            assert runner.run(first.job_id, "alice").phase == "EXECUTING"
            # the limit is per owner
            other = store.create("bob", {"QUERY": "q3"})
            runner.run(other.job_id, "bob")
            gate.set()
            assert _phase(store, first, ("COMPLETED",)).phase == "COMPLETED"
            runner.run(second.job_id, "alice")
            assert _phase(store, second, ("COMPLETED",)).phase == "COMPLETED"
            assert _phase(store, other, ("COMPLETED",)).phase == "COMPLETED"
        finally:
            gate.set()
            runner.shutdown(timeout=2)


def test_no_limit_by_default(tmp_path: Path) -> None:
    gate = threading.Event()
    with JobStore(tmp_path / "uws") as store:
        runner = JobRunner(store, _blocking(gate), max_workers=1)
        try:
            jobs = [store.create("alice", {"QUERY": f"q{i}"}) for i in range(3)]
            for job in jobs:
                runner.run(job.job_id, "alice")  # one executes, two wait QUEUED
            gate.set()
            for job in jobs:
                assert _phase(store, job, ("COMPLETED",)).phase == "COMPLETED"
        finally:
            gate.set()
            runner.shutdown(timeout=2)
    with pytest.raises(ValueError, match="max_active"):
        JobRunner(JobStore(tmp_path / "other"), _blocking(gate), max_active=-1)


# -- the configuration --------------------------------------------------------------------------


def test_tap_limits_are_checked_and_applied() -> None:
    app = LsstBoxApp(tap_limits={"max_active_jobs": 2, "hard_maxrec": 500})
    lim = app.service_limits()
    assert (lim.max_active_jobs, lim.hard_maxrec) == (2, 500)
    assert lim.default_maxrec == 500  # the default MAXREC (100 000) is lowered to the hard limit
    assert LsstBoxApp().service_limits().max_active_jobs == 0  # a single user's box: no limit
    with pytest.raises(TraitError, match=r"unknown limit 'max_rows'.*hard_maxrec"):
        LsstBoxApp(tap_limits={"max_rows": 5})
    with pytest.raises(TraitError, match="upload_bytes=-1 must be positive"):
        LsstBoxApp(tap_limits={"upload_bytes": -1})


# -- a real server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(tiny_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterProcess]:
    home = tmp_path_factory.mktemp("tap-limits")
    (home / "root").mkdir()
    (home / "config").mkdir()
    config = {"LsstBoxApp": {"tap_limits": {"max_active_jobs": 1, "hard_maxrec": 3}}}
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
    with box_server(tiny_release, home, secrets.token_hex(16)) as server:
        yield server


def _job_phase(s: requests.Session, url: str) -> str:
    return s.get(f"{url}/phase", timeout=30).text


def test_server_enforces_the_configured_limits(limited: JupyterProcess) -> None:
    tap = f"{limited.url}lsstbox/tap"
    s = requests.Session()
    s.headers.update(limited.headers)
    slow = HeldUpload()
    try:
        # one query executing (its upload is held back) ...
        r = s.post(
            f"{tap}/async",
            data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": f"t,{slow.url}"},
            params={"PHASE": "RUN"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        first = r.url.rstrip("/")
        deadline = time.monotonic() + 30
        while _job_phase(s, first) != "EXECUTING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # ... so a second is refused with a UWS error saying what to do, and stays PENDING
        query = {"LANG": "ADQL", "QUERY": "SELECT objectId FROM dp1.Object", "RESPONSEFORMAT": "votable/td"}
        r = s.post(f"{tap}/async", data={**query, "PHASE": "RUN"}, allow_redirects=False, timeout=30)
        assert r.status_code == 429, r.text
        assert "queued or executing and the limit is 1 at once" in r.text
        listed = s.get(f"{tap}/async", params={"PHASE": "PENDING"}, timeout=30).text
        (second,) = re.findall(r'uws:jobref id="([^"]+)"', listed)
        assert _job_phase(s, f"{tap}/async/{second}") == "PENDING"
        slow.gate.set()
        s.get(first, params={"WAIT": "30", "PHASE": "EXECUTING"}, timeout=60)
        assert _job_phase(s, first) == "COMPLETED"
        # now it runs; the result is cut at the hard limit of 3 rows, flagged as overflow
        r = s.post(f"{tap}/async/{second}/phase", data={"PHASE": "RUN"}, timeout=30)
        assert r.status_code == 200, r.text
        s.get(f"{tap}/async/{second}", params={"WAIT": "60", "PHASE": "QUEUED"}, timeout=90)
        s.get(f"{tap}/async/{second}", params={"WAIT": "60", "PHASE": "EXECUTING"}, timeout=90)
        assert _job_phase(s, f"{tap}/async/{second}") == "COMPLETED"
        vot = s.get(f"{tap}/async/{second}/results/result", timeout=30).text
        assert vot.count("<TR>") == 3 and 'name="QUERY_STATUS" value="OVERFLOW"' in vot
        # sync queries too, with a MAXREC above the limit or none; the limit is advertised
        for params in ({"MAXREC": "1000"}, {}):
            r = s.get(f"{tap}/sync", params={**query, **params}, timeout=60)
            assert r.status_code == 200 and r.text.count("<TR>") == 3, r.text[:300]
        caps = s.get(f"{tap}/capabilities", timeout=30).text
        assert re.search(r'<outputLimit>.*?<hard unit="row">3</hard>', caps, re.S), caps
    finally:
        slow.close()
        s.close()
