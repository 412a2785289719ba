"""UWS 1.1 job machinery: the SQLite job store, the threaded runner and the UWS documents.

Real SQLite files and real threads throughout; the UWS documents are validated against the UWS
1.1 schema bundled in STILTS (``stilts xsdvalidate``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server_ext.tap.uws import (
    Execute,
    Job,
    JobForbidden,
    JobNotFound,
    JobParameterError,
    JobRunner,
    JobStateError,
    JobStore,
    Result,
    job_json,
    job_list_xml,
    job_xml,
    results_xml,
)

BASE = "https://lsst.example/tap/async"
UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK = "{http://www.w3.org/1999/xlink}"
QUERY = {"lang": "ADQL", "query": "SELECT TOP 5 * FROM dp1.Object WHERE r_mag < 20 & 1=1"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    with JobStore(tmp_path / "uws") as s:
        yield s


@pytest.fixture
def make_runner(store: JobStore) -> Iterator[Callable[..., JobRunner]]:
    runners: list[JobRunner] = []

    def make(execute: Execute, **kwargs: Any) -> JobRunner:
        runner = JobRunner(store, execute, **kwargs)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.shutdown(timeout=2)


def _finished(runner: JobRunner, job: Job, timeout: float = 10) -> Job:
    """Wait (blocking, not polling) until the job leaves the active phases."""
    deadline = time.monotonic() + timeout
    while job.phase in ("PENDING", "QUEUED", "EXECUTING") and time.monotonic() < deadline:
        job = runner.wait(job.job_id, job.owner, deadline - time.monotonic())
    return job


def _reach(runner: JobRunner, job: Job, phase: str, timeout: float = 10) -> Job:
    """Wait until the job reaches ``phase`` from an earlier active phase."""
    deadline = time.monotonic() + timeout
    while job.phase != phase and time.monotonic() < deadline:
        job = runner.wait(job.job_id, job.owner, deadline - time.monotonic(), job.phase)
    assert job.phase == phase
    return job


def _write_result(store: JobStore, job: Job, text: str = "<VOTABLE/>") -> Path:
    """Write a result file completely (temporary name, then rename), as an execute function must."""
    out = store.result_dir(job.job_id) / "result.vot"
    part = out.with_suffix(".part")
    part.write_text(text)
    part.replace(out)
    return out


def _cancellable(seconds: float = 10) -> Execute:
    """An execute that works in small units for ``seconds``, stopping when cancelled."""

    def execute(
        job: Job, cancel: threading.Event, progress: Callable[[dict[str, Any]], None]
    ) -> list[Result]:
        deadline = time.monotonic() + seconds
        while not cancel.wait(0.01):
            if time.monotonic() > deadline:
                break
        return []

    return execute


# -- the store ----------------------------------------------------------------------------------


def test_create_and_get(store: JobStore) -> None:
    job = store.create("alice", {**QUERY, "runid": "my-run", "MaxRec": "100"})
    assert job.phase == "PENDING"
    assert job.owner == "alice"
    assert job.run_id == "my-run"
    assert job.parameters == {"LANG": "ADQL", "QUERY": QUERY["query"], "MAXREC": "100"}
    assert job.execution_duration == 600
    assert job.creation_time.tzinfo is not None and job.creation_time.microsecond % 1000 == 0
    assert job.destruction == job.creation_time + timedelta(days=7)
    assert job.start_time is None and job.end_time is None and job.quote is None
    assert job.error is None and job.results == [] and job.progress == {}
    assert store.get(job.job_id, "alice") == job
    assert store.create("alice", QUERY, run_id="explicit").run_id == "explicit"
    with pytest.raises(JobParameterError, match="PHASE is an action"):
        store.create("alice", {**QUERY, "PHASE": "RUN"})


def test_list_filters(store: JobStore) -> None:
    jobs = []
    for _ in range(4):
        jobs.append(store.create("alice", QUERY))
        time.sleep(0.003)  # distinct millisecond creation times
    first, second, third, fourth = jobs
    store.mark_aborted(second.job_id)
    store.mark_queued(third.job_id)
    store.mark_executing(third.job_id)
    store.create("bob", QUERY)

    def ids(found: Iterable[Job]) -> list[str]:
        return [j.job_id for j in found]

    assert ids(store.list("alice")) == ids(jobs)  # oldest first
    assert ids(store.list("alice", phases=["PENDING"])) == [first.job_id, fourth.job_id]
    assert ids(store.list("alice", phases=["ABORTED", "executing"])) == [second.job_id, third.job_id]
    assert store.list("alice", phases=["ARCHIVED"]) == []
    assert ids(store.list("alice", after=first.creation_time)) == ids(jobs[1:])
    assert ids(store.list("alice", after=first.creation_time.replace(tzinfo=None))) == ids(jobs[1:])
    assert ids(store.list("alice", last=2)) == [fourth.job_id, third.job_id]  # most recent first
    assert ids(store.list("alice", last=10)) == ids(reversed(jobs))
    assert ids(store.list("alice", phases=["PENDING"], after=first.creation_time, last=5)) == [fourth.job_id]
    with pytest.raises(JobParameterError, match="unknown PHASE 'RUNNING'"):
        store.list("alice", phases=["RUNNING"])
    with pytest.raises(JobParameterError, match="LAST must be a positive integer"):
        store.list("alice", last=0)


def test_owners_are_isolated(store: JobStore) -> None:
    job = store.create("alice", QUERY)
    with pytest.raises(JobForbidden, match="belongs to another user"):
        store.get(job.job_id, "bob")
    with pytest.raises(JobForbidden):
        store.update_parameters(job.job_id, "bob", {"MAXREC": "1"})
    with pytest.raises(JobForbidden):
        store.delete(job.job_id, "bob")
    assert store.list("bob") == []
    with pytest.raises(JobNotFound, match="list your jobs"):
        store.get("0123456789abcdef", "alice")
    with pytest.raises(JobNotFound):
        store.get("../../etc/passwd", "alice")
    assert store.get(job.job_id, "alice").phase == "PENDING"


def test_parameters_and_properties_change_only_while_pending(store: JobStore) -> None:
    job = store.create("alice", QUERY)
    job = store.update_parameters(job.job_id, "alice", {"maxrec": "10", "RUNID": "r2", "query": "SELECT 1"})
    assert job.parameters == {"LANG": "ADQL", "QUERY": "SELECT 1", "MAXREC": "10"}
    assert job.run_id == "r2"
    assert store.set_execution_duration(job.job_id, "alice", "120").execution_duration == 120
    assert store.set_execution_duration(job.job_id, "alice", 0).execution_duration == 3600  # no unlimited
    assert store.set_execution_duration(job.job_id, "alice", 10**6).execution_duration == 3600
    for bad in ("-1", "ten", "1.5", -3):
        with pytest.raises(JobParameterError, match="EXECUTIONDURATION must be a whole number of seconds"):
            store.set_execution_duration(job.job_id, "alice", bad)
    wanted = job.creation_time + timedelta(days=2)
    as_text = wanted.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert store.set_destruction(job.job_id, "alice", as_text).destruction == wanted
    far = store.set_destruction(job.job_id, "alice", "2999-01-01T00:00:00Z")
    assert far.destruction == job.creation_time + timedelta(days=30)
    with pytest.raises(JobParameterError, match="DESTRUCTION must be an ISO 8601 date"):
        store.set_destruction(job.job_id, "alice", "next tuesday")
    with pytest.raises(JobParameterError, match="in the past"):
        store.set_destruction(job.job_id, "alice", "2001-01-01T00:00:00Z")

    store.mark_queued(job.job_id)
    with pytest.raises(JobStateError, match="is QUEUED: its parameters can only change while it is PENDING"):
        store.update_parameters(job.job_id, "alice", {"MAXREC": "5"})
    with pytest.raises(JobStateError, match="execution duration"):
        store.set_execution_duration(job.job_id, "alice", 5)
    assert store.set_destruction(job.job_id, "alice", as_text).destruction == wanted  # any phase
    assert store.get(job.job_id, "alice").parameters["MAXREC"] == "10"


def test_store_persists_across_instances(store: JobStore) -> None:
    job = store.create("alice", {**QUERY, "UPLOAD": "t1,https://example.org/t1.xml"}, run_id="persist")
    store.mark_queued(job.job_id)
    store.set_progress(job.job_id, {"ignored": True})  # not EXECUTING: not recorded
    with JobStore(store.root) as other:
        seen = other.get(job.job_id, "alice")
        assert seen == store.get(job.job_id, "alice")
        assert seen.phase == "QUEUED" and seen.run_id == "persist" and seen.progress == {}
        assert other.mark_executing(job.job_id) is not None
        assert store.mark_executing(job.job_id) is None  # the other instance already moved it
    assert store.get(job.job_id, "alice").phase == "EXECUTING"


def test_delete_and_destroy_expired(store: JobStore) -> None:
    job = store.create("alice", QUERY)
    folder = store.result_dir(job.job_id)
    (folder / "partial.vot").write_text("x")
    store.delete(job.job_id, "alice")
    assert not folder.exists()
    with pytest.raises(JobNotFound):
        store.get(job.job_id, "alice")
    with pytest.raises(JobNotFound):
        store.delete(job.job_id, "alice")
    with pytest.raises(JobNotFound):
        store.result_dir(job.job_id)

    soon = store.create("alice", QUERY)
    later = store.create("alice", QUERY)
    store.set_destruction(soon.job_id, "alice", datetime.now(UTC) + timedelta(hours=1))
    (store.result_dir(soon.job_id) / "result.vot").write_text("x")
    assert store.destroy_expired() == 0
    assert store.destroy_expired(datetime.now(UTC) + timedelta(hours=2)) == 1
    assert not (store.root / "results" / soon.job_id).exists()
    assert [j.job_id for j in store.list("alice")] == [later.job_id]
    assert store.destroy_expired(datetime.now(UTC) + timedelta(days=8)) == 1
    assert store.list("alice") == []


def test_recover_after_a_dead_process(tmp_path: Path) -> None:
    root = tmp_path / "uws"
    dead = JobStore(root)  # the process that dies: never closed, never recovers
    executing = dead.create("alice", QUERY)
    dead.mark_queued(executing.job_id)
    dead.mark_executing(executing.job_id)
    dead.set_progress(executing.job_id, {"partitions_done": 3, "partitions": 12})
    (dead.result_dir(executing.job_id) / "result.part").write_text("<VOTABLE><half")
    queued = dead.create("alice", QUERY)
    dead.mark_queued(queued.job_id)
    pending = dead.create("alice", QUERY)
    done = dead.create("alice", QUERY)
    dead.mark_queued(done.job_id)
    dead.mark_executing(done.job_id)
    out = _write_result(dead, done)
    dead.mark_completed(done.job_id, [Result("result", out, "application/x-votable+xml", rows=3)])
    orphan = root / "results" / "deadbeefdeadbeef"
    orphan.mkdir()

    with JobStore(root) as fresh:
        assert fresh.recover() == 2
        job = fresh.get(executing.job_id, "alice")
        assert job.phase == "ERROR"
        assert job.error == "the service restarted while the job was EXECUTING; run it again"
        assert job.end_time is not None and job.results == []
        assert job.progress == {"partitions_done": 3, "partitions": 12}
        assert not (root / "results" / executing.job_id).exists()
        assert b"<uws:result " not in results_xml(job, BASE)
        assert fresh.get(queued.job_id, "alice").error == (
            "the service restarted while the job was QUEUED; run it again"
        )
        assert fresh.get(pending.job_id, "alice").phase == "PENDING"
        completed = fresh.get(done.job_id, "alice")
        assert completed.phase == "COMPLETED" and completed.results[0].path == out.resolve()
        assert completed.results[0].size == len("<VOTABLE/>")
        assert not orphan.exists()
        assert fresh.recover() == 0
    dead.close()


def test_results_must_be_complete_files_in_the_result_dir(store: JobStore, tmp_path: Path) -> None:
    job = store.create("alice", QUERY)
    store.mark_queued(job.job_id)
    store.mark_executing(job.job_id)
    elsewhere = tmp_path / "elsewhere.vot"
    elsewhere.write_text("x")
    with pytest.raises(ValueError, match="outside the job's result folder"):
        store.mark_completed(job.job_id, [Result("result", elsewhere, "text/xml")])
    with pytest.raises(ValueError, match="no file at"):
        store.mark_completed(job.job_id, [Result("result", store.result_dir(job.job_id) / "x", "text/xml")])
    assert store.get(job.job_id, "alice").phase == "EXECUTING"


# -- the runner ---------------------------------------------------------------------------------


def test_full_lifecycle(store: JobStore, make_runner: Callable[..., JobRunner]) -> None:
    gate = threading.Event()

    def execute(
        job: Job, cancel: threading.Event, progress: Callable[[dict[str, Any]], None]
    ) -> list[Result]:
        progress({"partitions_done": 0, "partitions": 2, "rows": 0})
        assert gate.wait(10)
        out = _write_result(store, job, "<VOTABLE>three rows</VOTABLE>")
        progress({"partitions_done": 2, "partitions": 2, "rows": 3})
        return [Result("result", out, "application/x-votable+xml", rows=3)]

    runner = make_runner(execute, max_workers=1)
    job = store.create("alice", QUERY)
    queued = runner.run(job.job_id, "alice")
    assert queued.phase == "QUEUED"
    executing = _reach(runner, queued, "EXECUTING")
    assert executing.start_time is not None
    assert runner.run(job.job_id, "alice").phase == "EXECUTING"  # RUN again: no-op
    with pytest.raises(JobStateError, match="its parameters can only change while it is PENDING"):
        store.update_parameters(job.job_id, "alice", {"MAXREC": "1"})
    gate.set()
    done = _finished(runner, executing)
    assert done.phase == "COMPLETED"
    assert done.end_time is not None and done.end_time >= executing.start_time
    assert done.progress == {"partitions_done": 2, "partitions": 2, "rows": 3}
    [result] = done.results
    assert (result.id, result.mime, result.rows, result.overflow) == (
        "result",
        "application/x-votable+xml",
        3,
        False,
    )
    assert result.size == result.path.stat().st_size > 0
    assert b'xlink:href="https://lsst.example/tap/async/%b/results/result"' % job.job_id.encode() in (
        results_xml(done, BASE)
    )
    with pytest.raises(JobStateError, match="is COMPLETED: only a PENDING job can be run; create a new job"):
        runner.run(job.job_id, "alice")
    with pytest.raises(JobStateError, match="already COMPLETED; there is nothing to abort"):
        runner.abort(job.job_id, "alice")
    with pytest.raises(JobForbidden):
        runner.run(job.job_id, "bob")


def test_abort_running_and_queued_jobs(store: JobStore, make_runner: Callable[..., JobRunner]) -> None:
    runner = make_runner(_cancellable(10), max_workers=1)
    running = store.create("alice", QUERY)
    waiting = store.create("alice", QUERY)
    pending = store.create("alice", QUERY)
    running = _reach(runner, runner.run(running.job_id, "alice"), "EXECUTING")
    assert runner.run(waiting.job_id, "alice").phase == "QUEUED"  # the only worker is busy

    assert runner.abort(waiting.job_id, "alice").phase == "ABORTED"  # at once
    assert runner.abort(pending.job_id, "alice").phase == "ABORTED"
    start = time.monotonic()
    runner.abort(running.job_id, "alice")
    aborted = _finished(runner, running)
    assert aborted.phase == "ABORTED" and aborted.error is None
    assert time.monotonic() - start < 5
    with pytest.raises(JobStateError, match="already ABORTED"):
        runner.abort(running.job_id, "alice")


def test_abort_of_an_execute_that_ignores_it(store: JobStore, make_runner: Callable[..., JobRunner]) -> None:
    release = threading.Event()

    def stubborn(
        job: Job, cancel: threading.Event, progress: Callable[[dict[str, Any]], None]
    ) -> list[Result]:
        release.wait(10)
        return []

    runner = make_runner(stubborn, max_workers=1, abort_grace=0.3)
    stuck = store.create("alice", QUERY)
    stuck = _reach(runner, runner.run(stuck.job_id, "alice"), "EXECUTING")
    runner.abort(stuck.job_id, "alice")
    assert _finished(runner, stuck, timeout=5).phase == "ABORTED"  # recorded without the thread
    nxt = store.create("alice", QUERY)
    runner.run(nxt.job_id, "alice")
    assert _reach(runner, store.get(nxt.job_id, "alice"), "EXECUTING", timeout=5)  # a fresh worker
    release.set()
    assert _finished(runner, store.get(nxt.job_id, "alice")).phase == "COMPLETED"
    assert store.get(stuck.job_id, "alice").phase == "ABORTED"  # the late return changes nothing


def test_execution_duration_is_enforced(store: JobStore, make_runner: Callable[..., JobRunner]) -> None:
    runner = make_runner(_cancellable(10))
    job = store.create("alice", {**QUERY, "EXECUTIONDURATION": "1"})
    assert job.execution_duration == 1
    start = time.monotonic()
    done = _finished(runner, runner.run(job.job_id, "alice"))
    assert time.monotonic() - start < 5
    assert done.phase == "ERROR"
    assert done.error == "execution duration of 1 s exceeded"


def test_execute_raising_is_an_error(store: JobStore, make_runner: Callable[..., JobRunner]) -> None:
    def failing(
        job: Job, cancel: threading.Event, progress: Callable[[dict[str, Any]], None]
    ) -> list[Result]:
        raise RuntimeError("table dp1.Nope does not exist; see TAP_SCHEMA.tables")

    runner = make_runner(failing)
    job = store.create("alice", QUERY)
    done = _finished(runner, runner.run(job.job_id, "alice"))
    assert done.phase == "ERROR"
    assert done.error == "table dp1.Nope does not exist; see TAP_SCHEMA.tables"
    assert done.results == []
    assert b"Traceback" not in job_xml(done, BASE)


def test_wait_blocks_until_the_phase_changes(store: JobStore, make_runner: Callable[..., JobRunner]) -> None:
    gate = threading.Event()

    def gated(job: Job, cancel: threading.Event, progress: Callable[[dict[str, Any]], None]) -> list[Result]:
        gate.wait(10)
        return []

    runner = make_runner(gated)
    job = store.create("alice", QUERY)
    start = time.monotonic()
    assert runner.wait(job.job_id, "alice", 0.3).phase == "PENDING"  # timeout honoured
    assert 0.25 < time.monotonic() - start < 2

    executing = _reach(runner, runner.run(job.job_id, "alice"), "EXECUTING")
    threading.Timer(0.2, gate.set).start()
    start = time.monotonic()
    done = runner.wait(job.job_id, "alice", 30)
    assert done.phase == "COMPLETED"
    assert time.monotonic() - start < 5  # woken by the change, not by the timeout
    assert executing.phase == "EXECUTING"

    start = time.monotonic()
    assert runner.wait(job.job_id, "alice", 30).phase == "COMPLETED"  # finished: no blocking
    assert runner.wait(job.job_id, "alice", 30, phase="EXECUTING").phase == "COMPLETED"
    assert time.monotonic() - start < 1
    with pytest.raises(JobParameterError, match="unknown PHASE"):
        runner.wait(job.job_id, "alice", 1, phase="RUNNING")


def test_delete_stops_a_running_job(store: JobStore, make_runner: Callable[..., JobRunner]) -> None:
    writing, stopped = threading.Event(), threading.Event()

    def execute(
        job: Job, cancel: threading.Event, progress: Callable[[dict[str, Any]], None]
    ) -> list[Result]:
        (store.result_dir(job.job_id) / "partial.vot").write_text("x")
        writing.set()
        cancel.wait(10)
        stopped.set()
        return []

    runner = make_runner(execute)
    job = store.create("alice", QUERY)
    runner.run(job.job_id, "alice")
    assert writing.wait(5)
    store.delete(job.job_id, "alice")
    assert stopped.wait(5)
    assert not (store.root / "results" / job.job_id).exists()
    with pytest.raises(JobNotFound):
        store.delete(job.job_id, "alice")


def test_shutdown_ends_running_and_queued_jobs(store: JobStore) -> None:
    runner = JobRunner(store, _cancellable(10), max_workers=1)
    running = store.create("alice", QUERY)
    waiting = store.create("alice", QUERY)
    _reach(runner, runner.run(running.job_id, "alice"), "EXECUTING")
    runner.run(waiting.job_id, "alice")
    runner.shutdown(timeout=5)
    assert store.get(running.job_id, "alice").error == (
        "the service shut down while the job was EXECUTING; run it again"
    )
    assert store.get(waiting.job_id, "alice").error == (
        "the service shut down while the job was QUEUED; run it again"
    )
    with pytest.raises(JobStateError, match="shutting down"):
        runner.run(store.create("alice", QUERY).job_id, "alice")


# -- documents ----------------------------------------------------------------------------------


def _xsdvalidate(path: Path) -> None:
    stilts = shutil.which("stilts")
    if stilts is None:
        if os.environ.get("CI"):
            pytest.fail("stilts is needed to validate UWS documents (apt-get install stilts)")
        pytest.skip("stilts is not installed (apt-get install stilts)")
    proc = subprocess.run(
        [stilts, "xsdvalidate", "uselocals=true", str(path)], capture_output=True, text=True, timeout=120
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "ERROR" not in output, f"{path.name} is not valid UWS 1.1:\n{output}"


def _documented_jobs(store: JobStore) -> list[Job]:
    """Jobs covering the document's optional and nillable parts."""
    pending = store.create("", {"QUERY": "SELECT '<&>\"' FROM t WHERE x < 1\x01", "LANG": "ADQL"})
    done = store.create(
        "alice",
        {**QUERY, "RUNID": "run <1>", "UPLOAD": "t1,https://example.org/t1.xml", "REF": "https://x.org/q"},
    )
    store.mark_queued(done.job_id)
    store.mark_executing(done.job_id)
    store.set_progress(done.job_id, {"partitions_done": 12, "partitions": 12, "rows": 3})
    out = _write_result(store, done)
    completed = store.mark_completed(
        done.job_id, [Result("result", out, "application/x-votable+xml", rows=3)]
    )
    failed = store.create("alice", QUERY)
    store.mark_queued(failed.job_id)
    error = store.mark_error(failed.job_id, "syntax error at <line 1>: expected FROM & a table")
    assert completed is not None and error is not None
    return [pending, completed, error]


def test_documents_validate_against_the_uws_schema(store: JobStore, tmp_path: Path) -> None:
    pending, done, failed = _documented_jobs(store)
    documents = {
        "pending.xml": job_xml(pending, BASE),
        "completed.xml": job_xml(done, BASE + "/"),
        "error.xml": job_xml(failed, BASE),
        "jobs.xml": job_list_xml([pending, done, failed], BASE),
        "results.xml": results_xml(done, BASE),
    }
    for name, document in documents.items():
        (tmp_path / name).write_bytes(document)
        _xsdvalidate(tmp_path / name)

    root = ET.fromstring(documents["completed.xml"])
    assert root.tag == f"{UWS}job" and root.get("version") == "1.1"
    assert [child.tag.removeprefix(UWS) for child in root] == [
        "jobId",
        "runId",
        "ownerId",
        "phase",
        "quote",
        "creationTime",
        "startTime",
        "endTime",
        "executionDuration",
        "destruction",
        "parameters",
        "results",
    ]
    assert root.findtext(f"{UWS}runId") == "run <1>"
    assert (
        root.findtext(f"{UWS}creationTime") == done.creation_time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    )
    params = {p.get("id"): p for p in root.iter(f"{UWS}parameter")}
    assert params["query"].text == QUERY["query"]
    assert params["upload"].text == "t1,https://example.org/t1.xml"
    assert params["upload"].get("byReference") is None
    assert params["ref"].get("byReference") == "true"
    [result] = root.iter(f"{UWS}result")
    assert result.get(f"{XLINK}href") == f"{BASE}/{done.job_id}/results/result"
    assert result.get("size") == str(done.results[0].size)

    pending_root = ET.fromstring(documents["pending.xml"])
    owner = pending_root.find(f"{UWS}ownerId")
    assert owner is not None and owner.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    query = next(p for p in pending_root.iter(f"{UWS}parameter") if p.get("id") == "query")
    assert query.text == "SELECT '<&>\"' FROM t WHERE x < 1\ufffd"

    error_root = ET.fromstring(documents["error.xml"])
    summary = error_root.find(f"{UWS}errorSummary")
    assert summary is not None and summary.get("type") == "fatal" and summary.get("hasDetail") == "false"
    assert summary.findtext(f"{UWS}message") == "syntax error at <line 1>: expected FROM & a table"

    jobs_root = ET.fromstring(documents["jobs.xml"])
    assert jobs_root.get("version") == "1.1"
    refs = jobs_root.findall(f"{UWS}jobref")
    assert [r.get("id") for r in refs] == [pending.job_id, done.job_id, failed.job_id]
    assert [child.tag.removeprefix(UWS) for child in refs[1]] == ["phase", "runId", "ownerId", "creationTime"]


def test_job_json_round_trips(store: JobStore) -> None:
    for job in _documented_jobs(store):
        view = job_json(job, BASE)
        assert json.loads(json.dumps(view)) == view
        assert view["jobId"] == job.job_id and view["phase"] == job.phase
        assert view["href"] == f"{BASE}/{job.job_id}"
        assert view["creationTime"].endswith("Z")
    done = job_json(_documented_jobs(store)[1], BASE)
    assert done["progress"] == {"partitions_done": 12, "partitions": 12, "rows": 3}
    assert done["results"][0]["href"].endswith("/results/result")
    assert done["results"][0]["rows"] == 3
