"""UWS 1.1 asynchronous jobs for the TAP service, independent of HTTP and of what a job computes.

* :class:`JobStore` keeps jobs in one SQLite file (WAL mode) and their result files in a folder
  beside it (``<root>/jobs.sqlite``, ``<root>/results/<job_id>/``).  Every change is one
  transaction, and phase changes are conditional on the phase they leave, so concurrent
  threads (or a second process) cannot move a job twice.
* :class:`JobRunner` runs jobs in a pool of worker threads with a caller-supplied ``execute``
  function, and enforces ABORT, EXECUTIONDURATION and blocking WAIT.
* :func:`job_xml`, :func:`job_list_xml` and :func:`results_xml` write the UWS 1.1 documents;
  :func:`job_json` a JSON view for the web frontend.

Crash truthfulness: a job's results are registered in the same transaction that makes it
COMPLETED, after ``execute`` has returned (so after its files are written); a process that dies
leaves its jobs QUEUED or EXECUTING, which :meth:`JobStore.recover` turns into ERROR at the next
start-up, discarding their partial files.
"""

from __future__ import annotations

import builtins
import json
import queue
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

__all__ = [
    "MAX_WAIT",
    "PHASES",
    "WAITABLE_PHASES",
    "Execute",
    "Job",
    "JobForbidden",
    "JobLimitError",
    "JobNotFound",
    "JobParameterError",
    "JobRunner",
    "JobStateError",
    "JobStore",
    "Result",
    "job_json",
    "job_list_xml",
    "job_xml",
    "parse_datetime",
    "results_xml",
]

PHASES = (
    "PENDING",
    "QUEUED",
    "EXECUTING",
    "COMPLETED",
    "ERROR",
    "ABORTED",
    "UNKNOWN",
    "HELD",
    "SUSPENDED",
    "ARCHIVED",
)
#: Phases a blocking WAIT can wait in (UWS 1.1 §2.2.1.1).
WAITABLE_PHASES = ("PENDING", "QUEUED", "EXECUTING")
#: Longest blocking WAIT, in seconds; a negative WAIT means this long.
MAX_WAIT = 60.0

UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

#: Job properties that clients may send along with the parameters (at creation or later).
_UWS_PROPERTIES = ("RUNID", "EXECUTIONDURATION", "DESTRUCTION")
_RESTART_MESSAGE = "the service restarted while the job was {phase}; run it again"
_SHUTDOWN_MESSAGE = "the service shut down while the job was {phase}; run it again"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class JobNotFound(LookupError):
    """No job with that id (never created, deleted or destroyed)."""


class JobForbidden(PermissionError):
    """The job belongs to another user."""


class JobStateError(ValueError):
    """The job is in a phase that does not allow the request."""


class JobLimitError(JobStateError):
    """The owner already has as many jobs QUEUED or EXECUTING as the runner allows."""


class JobParameterError(ValueError):
    """A value sent by the client is invalid (a parameter, PHASE, AFTER, LAST, DESTRUCTION...)."""


@dataclass
class Result:
    """One result file of a job.

    Parameters
    ----------
    id : str
        The UWS result id (``"result"`` for the TAP result table).
    path : Path
        The file, under :meth:`JobStore.result_dir` of the job.
    mime : str
        Its media type, e.g. ``application/x-votable+xml``.
    rows : int
        Rows in the result table.
    overflow : bool
        Whether the table was cut at MAXREC.
    size : int
        Size in bytes; set from the file when the result is registered.
    """

    id: str
    path: Path
    mime: str
    rows: int = 0
    overflow: bool = False
    size: int = 0


@dataclass
class Job:
    """A UWS job as stored; times are timezone-aware UTC with millisecond precision."""

    job_id: str
    owner: str
    phase: str
    run_id: str | None
    parameters: dict[str, str]
    creation_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    execution_duration: int
    destruction: datetime
    quote: datetime | None
    error: str | None
    results: list[Result]
    progress: dict[str, Any]


# -- times --------------------------------------------------------------------------------------


def _now() -> datetime:
    return _ms(datetime.now(UTC))


def _ms(dt: datetime) -> datetime:
    """``dt`` in UTC (naive means UTC), truncated to whole milliseconds as UWS documents show it."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def _iso(dt: datetime) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``; fixed width, so strings sort as times do."""
    return _ms(dt).strftime(_TIME_FORMAT)[:-4] + "Z"


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def parse_datetime(value: str | datetime, what: str = "time") -> datetime:
    """An aware UTC datetime from an ISO 8601 string (``Z`` or an offset; none means UTC).

    Raises
    ------
    JobParameterError
        If ``value`` is not an ISO 8601 date and time; the message names ``what``.
    """
    if isinstance(value, datetime):
        return _ms(value)
    try:
        return _ms(datetime.fromisoformat(value.strip()))
    except ValueError:
        raise JobParameterError(
            f"{what} must be an ISO 8601 date and time such as 2030-01-31T12:00:00Z, not {value!r}"
        ) from None


# -- the store ----------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    phase TEXT NOT NULL,
    run_id TEXT,
    parameters TEXT NOT NULL,
    creation_time TEXT NOT NULL,
    start_time TEXT,
    end_time TEXT,
    execution_duration INTEGER NOT NULL,
    destruction TEXT NOT NULL,
    error TEXT,
    results TEXT NOT NULL DEFAULT '[]',
    progress TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, creation_time);
CREATE INDEX IF NOT EXISTS jobs_by_destruction ON jobs (destruction);
"""


def _split_parameters(parameters: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Upper-case the names and separate the UWS job properties from the service parameters."""
    params: dict[str, str] = {}
    props: dict[str, str] = {}
    for name, value in parameters.items():
        key = name.strip().upper()
        if not key:
            raise JobParameterError("a job parameter has an empty name")
        if key == "PHASE":
            raise JobParameterError("PHASE is an action, not a job parameter: create the job, then run it")
        if not isinstance(value, str):
            raise JobParameterError(f"job parameter {key} must be a string, not {type(value).__name__}")
        (props if key in _UWS_PROPERTIES else params)[key] = value
    return params, props


class JobStore:
    """UWS jobs in SQLite, their result files in a folder beside it.

    Parameters
    ----------
    root : Path
        Folder holding ``jobs.sqlite`` and ``results/``; created if missing.
    default_duration, max_duration : int
        EXECUTIONDURATION of a new job and the most a client may ask for, in seconds
        (0 = unlimited; a request for more than ``max_duration``, or for 0 when
        ``max_duration`` is set, gets ``max_duration``).
    default_destruction, max_destruction : timedelta
        Lifetime of a new job, and the longest lifetime a client may ask for, counted from the
        job's creation.

    Notes
    -----
    One connection shared by the threads of the process under a lock; other processes may open
    the same root (SQLite locking, WAL mode).  :attr:`changed` is notified after every phase
    change and deletion made through this store, for blocking waits.
    """

    def __init__(
        self,
        root: Path,
        *,
        default_duration: int = 600,
        max_duration: int = 3600,
        default_destruction: timedelta = timedelta(days=7),
        max_destruction: timedelta = timedelta(days=30),
    ) -> None:
        if default_duration < 0 or max_duration < 0:
            raise ValueError("execution durations must be >= 0 seconds")
        if max_destruction < default_destruction:
            raise ValueError("max_destruction must be at least default_destruction")
        self.root = Path(root).resolve()
        self.max_duration = max_duration
        self.default_duration = self._clamp_duration(default_duration)
        self.default_destruction = default_destruction
        self.max_destruction = max_destruction
        self.changed = threading.Condition()
        self._results_root = self.root / "results"
        self._results_root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._delete_listeners: builtins.list[Callable[[str], None]] = []
        self._db = sqlite3.connect(
            self.root / "jobs.sqlite", isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once so read-check-write sequences are atomic."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    @staticmethod
    def _owned(db: sqlite3.Connection, job_id: str, owner: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(
                f"no job {job_id!r}: it was never created, or was deleted or destroyed; "
                "list your jobs to see the current ones"
            )
        if row["owner"] != owner:
            raise JobForbidden(f"job {job_id!r} belongs to another user; you can only use your own jobs")
        return row

    def _to_job(self, row: sqlite3.Row) -> Job:
        folder = self._results_root / row["job_id"]
        results = [
            Result(r["id"], folder / r["path"], r["mime"], r["rows"], r["overflow"], r["size"])
            for r in json.loads(row["results"])
        ]
        creation = _from_iso(row["creation_time"])
        destruction = _from_iso(row["destruction"])
        assert creation is not None and destruction is not None
        return Job(
            job_id=row["job_id"],
            owner=row["owner"],
            phase=row["phase"],
            run_id=row["run_id"],
            parameters=json.loads(row["parameters"]),
            creation_time=creation,
            start_time=_from_iso(row["start_time"]),
            end_time=_from_iso(row["end_time"]),
            execution_duration=row["execution_duration"],
            destruction=destruction,
            quote=None,
            error=row["error"],
            results=results,
            progress=json.loads(row["progress"]),
        )

    def _clamp_duration(self, seconds: int) -> int:
        if self.max_duration and (seconds == 0 or seconds > self.max_duration):
            return self.max_duration
        return seconds

    def _duration(self, value: int | str) -> int:
        """A validated, clamped EXECUTIONDURATION."""
        try:
            if isinstance(value, bool):
                raise ValueError
            seconds = int(value.strip()) if isinstance(value, str) else int(value)
            if seconds < 0:
                raise ValueError
        except ValueError:
            raise JobParameterError(
                f"EXECUTIONDURATION must be a whole number of seconds >= 0 (0 = as long as the service "
                f"allows), not {value!r}"
            ) from None
        return self._clamp_duration(seconds)

    def _destruction(self, value: str | datetime, creation: datetime) -> datetime:
        """A validated DESTRUCTION, clamped to ``creation + max_destruction``."""
        when = parse_datetime(value, "DESTRUCTION")
        if when < _now():
            raise JobParameterError(
                f"DESTRUCTION {_iso(when)} is in the past; give a later time, or delete the job to "
                "remove it now"
            )
        return min(when, _ms(creation + self.max_destruction))

    # -- the client's operations -----------------------------------------------------------------
    def create(self, owner: str, parameters: Mapping[str, str], run_id: str | None = None) -> Job:
        """Create a PENDING job.

        Parameters
        ----------
        owner : str
            The user owning the job ("" for an anonymous user).
        parameters : mapping of str to str
            The parameters as sent; names are upper-cased.  RUNID, EXECUTIONDURATION and
            DESTRUCTION among them set those job properties instead of being kept as parameters.
        run_id : str, optional
            The client's RUNID; overrides a RUNID among ``parameters``.

        Raises
        ------
        JobParameterError
            For a PHASE parameter (run the job with :meth:`JobRunner.run`) or an invalid
            EXECUTIONDURATION or DESTRUCTION.
        """
        params, props = _split_parameters(parameters)
        now = _now()
        duration = self._duration(props.get("EXECUTIONDURATION", self.default_duration))
        if "DESTRUCTION" in props:
            destruction = self._destruction(props["DESTRUCTION"], now)
        else:
            destruction = _ms(now + self.default_destruction)
        job_id = secrets.token_hex(8)
        with self._write() as db:
            db.execute(
                "INSERT INTO jobs (job_id, owner, phase, run_id, parameters, creation_time, "
                "execution_duration, destruction) VALUES (?, ?, 'PENDING', ?, ?, ?, ?, ?)",
                (
                    job_id,
                    owner,
                    run_id if run_id is not None else props.get("RUNID"),
                    json.dumps(params),
                    _iso(now),
                    duration,
                    _iso(destruction),
                ),
            )
            return self._to_job(self._owned(db, job_id, owner))

    def get(self, job_id: str, owner: str) -> Job:
        """The job ``job_id`` of ``owner``.

        Raises
        ------
        JobNotFound
            If there is no such job.
        JobForbidden
            If it belongs to another owner.
        """
        with self._lock:
            return self._to_job(self._owned(self._db, job_id, owner))

    def list(
        self,
        owner: str,
        *,
        phases: Sequence[str] = (),
        after: datetime | None = None,
        last: int | None = None,
    ) -> builtins.list[Job]:
        """The jobs of ``owner``, filtered as the UWS 1.1 job list is.

        Parameters
        ----------
        owner : str
            Whose jobs.
        phases : sequence of str
            Keep jobs in any of these phases (PHASE, repeatable); none given keeps all but
            ARCHIVED.
        after : datetime, optional
            Keep jobs created strictly after this time (AFTER; naive means UTC).
        last : int, optional
            Keep the ``last`` most recently created (LAST), most recent first; without it the
            jobs come oldest first.

        Raises
        ------
        JobParameterError
            For an unknown phase or a LAST that is not a positive integer.
        """
        where = ["owner = ?"]
        args: builtins.list[Any] = [owner]
        wanted = [p.strip().upper() for p in phases]
        unknown = [p for p in wanted if p not in PHASES]
        if unknown:
            raise JobParameterError(f"unknown PHASE {unknown[0]!r}; use one of {', '.join(PHASES)}")
        if wanted:
            where.append(f"phase IN ({', '.join('?' * len(wanted))})")
            args.extend(wanted)
        else:
            where.append("phase != 'ARCHIVED'")
        if after is not None:
            where.append("creation_time > ?")
            args.append(_iso(after))
        order = "ASC"
        limit = ""
        if last is not None:
            if isinstance(last, bool) or not isinstance(last, int) or last <= 0:
                raise JobParameterError(f"LAST must be a positive integer, not {last!r}")
            order = "DESC"
            limit = " LIMIT ?"
            args.append(last)
        sql = (
            f"SELECT * FROM jobs WHERE {' AND '.join(where)} "
            f"ORDER BY creation_time {order}, seq {order}{limit}"
        )
        with self._lock:
            return [self._to_job(row) for row in self._db.execute(sql, args)]

    def _modify(
        self,
        job_id: str,
        owner: str,
        pending_only: str | None,
        change: Callable[[sqlite3.Row], dict[str, Any]],
    ) -> Job:
        """Apply the column values ``change(row)`` returns, in one transaction.

        ``pending_only`` names what changes when only a PENDING job may change.
        """
        with self._write() as db:
            row = self._owned(db, job_id, owner)
            if pending_only and row["phase"] not in ("PENDING", "HELD"):
                raise JobStateError(
                    f"job {job_id} is {row['phase']}: its {pending_only} can only change while it is "
                    "PENDING; create a new job instead"
                )
            columns = change(row)
            assignments = ", ".join(f"{name} = ?" for name in columns)
            db.execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?", [*columns.values(), job_id])
            return self._to_job(self._owned(db, job_id, owner))

    def update_parameters(self, job_id: str, owner: str, params: Mapping[str, str]) -> Job:
        """Set or replace parameters of a PENDING job (names upper-cased, as in :meth:`create`).

        Raises
        ------
        JobStateError
            If the job is no longer PENDING.
        JobParameterError
            As :meth:`create` does.
        """
        new, props = _split_parameters(params)

        def change(row: sqlite3.Row) -> dict[str, Any]:
            columns: dict[str, Any] = {"parameters": json.dumps(json.loads(row["parameters"]) | new)}
            if "RUNID" in props:
                columns["run_id"] = props["RUNID"]
            if "EXECUTIONDURATION" in props:
                columns["execution_duration"] = self._duration(props["EXECUTIONDURATION"])
            if "DESTRUCTION" in props:
                creation = _from_iso(row["creation_time"])
                assert creation is not None
                columns["destruction"] = _iso(self._destruction(props["DESTRUCTION"], creation))
            return columns

        return self._modify(job_id, owner, "parameters", change)

    def set_execution_duration(self, job_id: str, owner: str, seconds: int | str) -> Job:
        """Set EXECUTIONDURATION of a PENDING job (seconds >= 0; clamped to ``max_duration``).

        Raises
        ------
        JobStateError
            If the job is no longer PENDING.
        JobParameterError
            If ``seconds`` is not a whole number >= 0.
        """
        duration = self._duration(seconds)
        return self._modify(job_id, owner, "execution duration", lambda row: {"execution_duration": duration})

    def set_destruction(self, job_id: str, owner: str, when: str | datetime) -> Job:
        """Set DESTRUCTION (ISO 8601 or datetime), clamped to the job's creation + ``max_destruction``.

        Raises
        ------
        JobParameterError
            If ``when`` is not an ISO 8601 time or is in the past.
        """

        def change(row: sqlite3.Row) -> dict[str, Any]:
            creation = _from_iso(row["creation_time"])
            assert creation is not None
            return {"destruction": _iso(self._destruction(when, creation))}

        return self._modify(job_id, owner, None, change)

    def result_dir(self, job_id: str) -> Path:
        """The folder for the job's result files, created on demand.

        Raises
        ------
        JobNotFound
            If the job does not exist (e.g. it was deleted while running).
        """
        with self._lock:
            row = self._db.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}: it was deleted or destroyed; its results are not kept")
        folder = self._results_root / job_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def on_delete(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(job_id)`` whenever a job is deleted or destroyed (a runner aborts it)."""
        self._delete_listeners.append(listener)

    def _forget(self, job_id: str) -> None:
        """After a job's row is gone: stop it, remove its files, wake waiters."""
        for listener in self._delete_listeners:
            listener(job_id)
        shutil.rmtree(self._results_root / job_id, ignore_errors=True)
        self._notify()

    def delete(self, job_id: str, owner: str) -> None:
        """Delete the job and its result files, aborting it first if it runs.

        Raises
        ------
        JobNotFound, JobForbidden
            As :meth:`get` does (so deleting twice raises JobNotFound).
        """
        with self._write() as db:
            self._owned(db, job_id, owner)
            db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
        self._forget(job_id)

    def destroy_expired(self, now: datetime | None = None) -> int:
        """Delete every job whose destruction time has come; returns how many."""
        cutoff = _iso(now if now is not None else _now())
        with self._write() as db:
            expired = [
                row["job_id"]
                for row in db.execute("SELECT job_id FROM jobs WHERE destruction <= ?", (cutoff,))
            ]
            db.execute("DELETE FROM jobs WHERE destruction <= ?", (cutoff,))
        for job_id in expired:
            self._forget(job_id)
        return len(expired)

    def recover(self) -> int:
        """Make the store truthful after a dead process; call at start-up, before serving.

        Jobs left QUEUED or EXECUTING become ERROR ("the service restarted while the job was
        <phase>; run it again") and lose their partial files; result folders of jobs that no
        longer exist are removed.  Other jobs are kept as they are.

        Returns
        -------
        int
            How many jobs were made ERROR.
        """
        now = _iso(_now())
        with self._write() as db:
            stale = db.execute(
                "SELECT job_id, phase FROM jobs WHERE phase IN ('QUEUED', 'EXECUTING')"
            ).fetchall()
            for row in stale:
                db.execute(
                    "UPDATE jobs SET phase = 'ERROR', error = ?, end_time = ? WHERE job_id = ?",
                    (_RESTART_MESSAGE.format(phase=row["phase"]), now, row["job_id"]),
                )
            known = {row["job_id"] for row in db.execute("SELECT job_id FROM jobs")}
        for row in stale:
            shutil.rmtree(self._results_root / row["job_id"], ignore_errors=True)
        for folder in self._results_root.iterdir():
            if folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)
        if stale:
            self._notify()
        return len(stale)

    # -- the runner's state changes ----------------------------------------------------------
    def _transition(
        self, job_id: str, from_phases: Sequence[str], to_phase: str, **columns: Any
    ) -> Job | None:
        """Move the job to ``to_phase`` if it is in one of ``from_phases``; None if it is not (or gone)."""
        with self._write() as db:
            row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None or row["phase"] not in from_phases:
                return None
            values = {"phase": to_phase, **columns}
            assignments = ", ".join(f"{name} = ?" for name in values)
            db.execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?", [*values.values(), job_id])
            job = self._to_job(self._owned(db, job_id, row["owner"]))
        self._notify()
        return job

    def mark_queued(self, job_id: str) -> Job | None:
        """PENDING (or HELD) -> QUEUED; None if the job is in another phase."""
        return self._transition(job_id, ("PENDING", "HELD"), "QUEUED")

    def mark_executing(self, job_id: str) -> Job | None:
        """QUEUED -> EXECUTING, setting the start time; None if the job is in another phase."""
        return self._transition(job_id, ("QUEUED",), "EXECUTING", start_time=_iso(_now()))

    def mark_completed(self, job_id: str, results: Sequence[Result]) -> Job | None:
        """EXECUTING -> COMPLETED, registering ``results`` (files already completely written).

        Raises
        ------
        ValueError
            If a result file is missing, outside :meth:`result_dir`, or two results share an id.
        """
        folder = self._results_root / job_id
        registered: builtins.list[dict[str, Any]] = []
        for result in results:
            path = Path(result.path).resolve()
            if not path.is_relative_to(folder):
                raise ValueError(
                    f"result {result.id!r} at {path} is outside the job's result folder {folder}; "
                    "write results under JobStore.result_dir(job_id)"
                )
            if not path.is_file():
                raise ValueError(f"result {result.id!r}: no file at {path}")
            if any(r["id"] == result.id for r in registered):
                raise ValueError(f"two results have the id {result.id!r}; result ids must be unique")
            registered.append(
                {
                    "id": result.id,
                    "path": str(path.relative_to(folder)),
                    "mime": result.mime,
                    "rows": result.rows,
                    "overflow": result.overflow,
                    "size": path.stat().st_size,
                }
            )
        return self._transition(
            job_id, ("EXECUTING",), "COMPLETED", end_time=_iso(_now()), results=json.dumps(registered)
        )

    def mark_error(
        self, job_id: str, message: str, from_phases: Sequence[str] = ("QUEUED", "EXECUTING")
    ) -> Job | None:
        """-> ERROR with ``message`` as the error summary; None if not in one of ``from_phases``."""
        return self._transition(job_id, from_phases, "ERROR", end_time=_iso(_now()), error=message)

    def mark_aborted(
        self, job_id: str, from_phases: Sequence[str] = ("PENDING", "HELD", "QUEUED", "EXECUTING")
    ) -> Job | None:
        """-> ABORTED; None if not in one of ``from_phases``."""
        return self._transition(job_id, from_phases, "ABORTED", end_time=_iso(_now()))

    def set_progress(self, job_id: str, progress: Mapping[str, Any]) -> bool:
        """Record the progress of an EXECUTING job (JSON-serialisable); False if it is not EXECUTING."""
        text = json.dumps(dict(progress))
        with self._write() as db:
            cursor = db.execute(
                "UPDATE jobs SET progress = ? WHERE job_id = ? AND phase = 'EXECUTING'", (text, job_id)
            )
            return cursor.rowcount == 1


# -- the runner ---------------------------------------------------------------------------------

#: ``execute(job, cancel, progress) -> results``: run the job, checking ``cancel`` between units of
#: work (return or raise soon after it is set), reporting progress with ``progress(dict)``, and
#: writing result files completely under ``JobStore.result_dir(job.job_id)`` before returning.
Execute = Callable[[Job, threading.Event, Callable[[dict[str, Any]], None]], Sequence[Result]]


@dataclass(eq=False)
class _Run:
    """A job handed to the runner, from RUN until its worker is done with it."""

    job_id: str
    cancel: threading.Event = field(default_factory=threading.Event)
    reason: str | None = None  # why cancel was set: abort, duration, shutdown or deleted
    duration: int = 0
    started: bool = False
    finished: bool = False
    timers: list[threading.Timer] = field(default_factory=list)


class JobRunner:
    """Runs jobs of a :class:`JobStore` in worker threads.

    Parameters
    ----------
    store : JobStore
        Where the jobs are; every phase change goes through it.
    execute : callable
        ``execute(job, cancel, progress) -> list[Result]`` (see :data:`Execute`).
    max_workers : int
        Jobs executing at once; more RUNs wait QUEUED.
    abort_grace : float
        Seconds ``execute`` has to return after its cancel event is set (ABORT, execution
        duration exceeded, deletion); after that the job's phase is recorded anyway, the thread is
        left to finish on its own and a new worker replaces it.
    max_active : int
        Jobs one owner may have QUEUED or EXECUTING at once (0: no limit); a RUN beyond that is
        refused with :class:`JobLimitError` and the job stays PENDING.

    Notes
    -----
    Worker threads are daemons, so an ``execute`` that never returns cannot keep the process
    alive.  Blocking :meth:`wait` only sees changes made through this process's store.
    """

    def __init__(
        self,
        store: JobStore,
        execute: Execute,
        *,
        max_workers: int = 2,
        abort_grace: float = 30.0,
        max_active: int = 0,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if max_active < 0:
            raise ValueError("max_active must be 0 (no limit) or more")
        self.store = store
        self.max_active = max_active
        self._execute = execute
        self._abort_grace = abort_grace
        self._lock = threading.RLock()
        self._queue: queue.SimpleQueue[_Run | None] = queue.SimpleQueue()
        self._runs: dict[str, _Run] = {}
        self._workers: list[threading.Thread] = []
        self._surplus = 0  # workers to retire, replacing abandoned threads that came back
        self._accepting = True
        store.on_delete(self._deleted)
        for _ in range(max_workers):
            self._start_worker()

    # -- the client's operations -----------------------------------------------------------------
    def run(self, job_id: str, owner: str) -> Job:
        """Queue a PENDING (or HELD) job; a QUEUED or EXECUTING job is left as it is.

        Raises
        ------
        JobNotFound, JobForbidden
            As :meth:`JobStore.get` does.
        JobStateError
            If the job has finished, or the runner is shutting down.
        JobLimitError
            If the owner already has ``max_active`` jobs QUEUED or EXECUTING.
        """
        with self._lock:
            if not self._accepting:
                raise JobStateError("the service is shutting down; run the job again once it is back")
            job = self.store.get(job_id, owner)
            if job.phase in ("QUEUED", "EXECUTING"):
                return job
            if self.max_active and job.phase in ("PENDING", "HELD"):
                active = self.store.list(owner, phases=("QUEUED", "EXECUTING"))
                if len(active) >= self.max_active:
                    raise JobLimitError(
                        f"{len(active)} of your queries are queued or executing and the limit is "
                        f"{self.max_active} at once: wait for one to finish (or abort it), then run "
                        f"job {job_id} again; it stays PENDING"
                    )
            queued = self.store.mark_queued(job_id) if job.phase in ("PENDING", "HELD") else None
            if queued is None:
                raise JobStateError(
                    f"job {job_id} is {job.phase}: only a PENDING job can be run; create a new job to "
                    "run the query again"
                )
            run = _Run(job_id, duration=queued.execution_duration)
            self._runs[job_id] = run
            self._queue.put(run)
            return queued

    def abort(self, job_id: str, owner: str) -> Job:
        """Abort a job: PENDING/QUEUED ones at once, an EXECUTING one when ``execute`` stops.

        Returns the job as it is now (an EXECUTING job may still show EXECUTING).

        Raises
        ------
        JobNotFound, JobForbidden
            As :meth:`JobStore.get` does.
        JobStateError
            If the job has already finished.
        """
        job = self.store.get(job_id, owner)
        if job.phase in ("PENDING", "HELD", "QUEUED"):
            with self._lock:
                run = self._runs.get(job_id)
                if run is not None:
                    self._cancel(run, "abort")
            aborted = self.store.mark_aborted(job_id, ("PENDING", "HELD", "QUEUED"))
            if aborted is not None:
                return aborted
            job = self.store.get(job_id, owner)  # a worker took it meanwhile
        if job.phase == "EXECUTING":
            with self._lock:
                run = self._runs.get(job_id)
                if run is not None:
                    self._cancel(run, "abort")
            if run is None:  # executing in no thread of this process
                return self.store.mark_aborted(job_id, ("EXECUTING",)) or self.store.get(job_id, owner)
            return self.store.get(job_id, owner)
        raise JobStateError(
            f"job {job_id} is already {job.phase}; there is nothing to abort (delete the job to remove it)"
        )

    def wait(self, job_id: str, owner: str, timeout: float, phase: str | None = None) -> Job:
        """UWS 1.1 blocking: return the job once its phase differs from ``phase``, or after ``timeout``.

        Parameters
        ----------
        job_id, owner : str
            The job.
        timeout : float
            Seconds to wait at most (WAIT); capped at :data:`MAX_WAIT`, which a negative value
            also means.
        phase : str, optional
            Wait while the job is in this phase (PHASE); by default its current phase.  Only
            PENDING, QUEUED and EXECUTING are waited in; otherwise the job is returned at once.

        Raises
        ------
        JobNotFound, JobForbidden
            As :meth:`JobStore.get` does, also when the job is deleted during the wait.
        JobParameterError
            For an unknown ``phase``.
        """
        job = self.store.get(job_id, owner)
        if phase is None:
            phase = job.phase
        elif phase.strip().upper() not in PHASES:
            raise JobParameterError(f"unknown PHASE {phase!r}; use one of {', '.join(PHASES)}")
        phase = phase.strip().upper()
        if phase not in WAITABLE_PHASES or job.phase != phase:
            return job
        deadline = time.monotonic() + (MAX_WAIT if timeout < 0 else min(timeout, MAX_WAIT))
        with self.store.changed:
            while True:
                job = self.store.get(job_id, owner)
                remaining = deadline - time.monotonic()
                if job.phase != phase or remaining <= 0:
                    return job
                self.store.changed.wait(remaining)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop accepting jobs, end queued ones, cancel running ones and join the workers briefly.

        QUEUED jobs and EXECUTING ones still running after ``timeout`` seconds become ERROR
        ("the service shut down while the job was <phase>; run it again").
        """
        with self._lock:
            if not self._accepting:
                return
            self._accepting = False
            runs = list(self._runs.values())
            workers = list(self._workers)
        while True:
            try:
                queued = self._queue.get_nowait()
            except queue.Empty:
                break
            if queued is not None:
                self.store.mark_error(queued.job_id, _SHUTDOWN_MESSAGE.format(phase="QUEUED"), ("QUEUED",))
                self._finish(queued)
        for run in runs:
            with self._lock:
                self._cancel(run, "shutdown")
        for _ in workers:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        for run in runs:
            self._give_up(run)
            self._finish(run)

    # -- workers -------------------------------------------------------------------------------
    def _start_worker(self) -> None:
        worker = threading.Thread(target=self._work, name=f"uws-worker-{len(self._workers)}", daemon=True)
        self._workers.append(worker)
        worker.start()

    def _work(self) -> None:
        while True:
            run = self._queue.get()
            if run is None:
                return
            self._run_job(run)
            with self._lock:
                if self._surplus > 0:
                    self._surplus -= 1
                    self._workers.remove(threading.current_thread())
                    return

    def _run_job(self, run: _Run) -> None:
        job = self.store.mark_executing(run.job_id)
        if job is None:  # aborted, deleted or ended by a shutdown while queued
            self._finish(run)
            return
        with self._lock:
            run.started = True
            if run.cancel.is_set():  # cancelled between QUEUED and EXECUTING: its grace starts now
                self._start_timer(run, self._abort_grace, lambda: self._give_up(run))
            elif job.execution_duration > 0:
                self._start_timer(run, job.execution_duration, lambda: self._timed_out(run))
        results: Sequence[Result] | None = None
        failure: str | None = None
        try:
            results = list(self._execute(job, run.cancel, lambda p: self._progress(run, p)))
        except Exception as exc:
            failure = str(exc) or type(exc).__name__
        with self._lock:
            run.finished = True
        self._conclude(run, results, failure)
        self._finish(run)

    def _progress(self, run: _Run, progress: dict[str, Any]) -> None:
        self.store.set_progress(run.job_id, progress)

    def _conclude(self, run: _Run, results: Sequence[Result] | None, failure: str | None) -> None:
        """Record how an EXECUTING job ended (no-op if its phase was already recorded)."""
        store, job_id = self.store, run.job_id
        if run.reason == "abort":
            store.mark_aborted(job_id, ("EXECUTING",))
        elif run.reason == "duration":
            store.mark_error(job_id, f"execution duration of {run.duration} s exceeded", ("EXECUTING",))
        elif run.reason == "shutdown":
            store.mark_error(job_id, _SHUTDOWN_MESSAGE.format(phase="EXECUTING"), ("EXECUTING",))
        elif run.reason == "deleted":
            return
        elif failure is not None:
            store.mark_error(job_id, failure, ("EXECUTING",))
        elif results is not None:
            try:
                store.mark_completed(job_id, results)
            except (ValueError, OSError) as exc:
                store.mark_error(
                    job_id, f"the job ran but its results could not be kept: {exc}", ("EXECUTING",)
                )

    def _finish(self, run: _Run) -> None:
        with self._lock:
            if self._runs.get(run.job_id) is run:
                del self._runs[run.job_id]
            for timer in run.timers:
                timer.cancel()

    # -- cancellation (callers hold self._lock) ------------------------------------------------
    def _start_timer(self, run: _Run, seconds: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        run.timers.append(timer)
        timer.start()

    def _cancel(self, run: _Run, reason: str) -> None:
        """Set the run's cancel event; the first reason wins; start the abort grace timer once."""
        if run.cancel.is_set():
            return
        run.reason = reason
        run.cancel.set()
        if not run.finished:
            self._start_timer(run, self._abort_grace, lambda: self._give_up(run))

    def _timed_out(self, run: _Run) -> None:
        with self._lock:
            self._cancel(run, "duration")

    def _deleted(self, job_id: str) -> None:
        with self._lock:
            run = self._runs.get(job_id)
            if run is not None:
                self._cancel(run, "deleted")

    def _give_up(self, run: _Run) -> None:
        """``execute`` ignored its cancel event: record the phase anyway and replace its thread."""
        with self._lock:
            if not run.started or run.finished:
                return
            run.finished = True
            if self._accepting:
                self._surplus += 1
                self._start_worker()
        self._conclude(run, None, None)


# -- documents ----------------------------------------------------------------------------------

_XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>'
_NAMESPACES = f'xmlns:uws="{UWS_NS}" xmlns:xlink="{XLINK_NS}" xmlns:xsi="{XSI_NS}"'
# Characters XML 1.0 cannot hold at all; they are replaced by U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_URL = re.compile(r"(?:https?|ftp)://\S+", re.IGNORECASE)


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value), {"\r": "&#13;"})


def _attr(value: str) -> str:
    return quoteattr(_NOT_XML.sub("\ufffd", value))


def _element(name: str, value: str | None, indent: str = "  ") -> str:
    """``<uws:name>value</uws:name>``, or a nil element for None."""
    if value is None:
        return f'{indent}<uws:{name} xsi:nil="true"/>'
    return f"{indent}<uws:{name}>{_text(value)}</uws:{name}>"


def _optional_time(dt: datetime | None) -> str | None:
    return None if dt is None else _iso(dt)


def _job_url(job: Job, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/{job.job_id}"


def _result_lines(job: Job, base_url: str, indent: str) -> builtins.list[str]:
    lines = []
    for result in job.results:
        href = f"{_job_url(job, base_url)}/results/{result.id}"
        lines.append(
            f'{indent}<uws:result id={_attr(result.id)} xlink:type="simple" xlink:href={_attr(href)} '
            f'mime-type={_attr(result.mime)} size="{result.size}"/>'
        )
    return lines


def job_xml(job: Job, base_url: str) -> bytes:
    """The UWS 1.1 ``<uws:job>`` document of ``job``.

    Parameters
    ----------
    job : Job
        The job.
    base_url : str
        URL of the job list (e.g. ``https://host/tap/async``); the job is at ``<base_url>/<id>``.

    Notes
    -----
    Parameter ids are lower-case, as TAP clients send them.  A parameter whose whole value is an
    http(s) or ftp URL is marked ``byReference="true"``.
    """
    lines = [_XML_HEADER, f'<uws:job {_NAMESPACES} version="1.1">', _element("jobId", job.job_id)]
    if job.run_id is not None:
        lines.append(_element("runId", job.run_id))
    lines += [
        _element("ownerId", job.owner or None),
        _element("phase", job.phase),
        _element("quote", _optional_time(job.quote)),
        _element("creationTime", _iso(job.creation_time)),
        _element("startTime", _optional_time(job.start_time)),
        _element("endTime", _optional_time(job.end_time)),
        _element("executionDuration", str(job.execution_duration)),
        _element("destruction", _iso(job.destruction)),
        "  <uws:parameters>",
    ]
    for name, value in job.parameters.items():
        by_reference = ' byReference="true"' if _URL.fullmatch(value.strip()) else ""
        lines.append(
            f"    <uws:parameter id={_attr(name.lower())}{by_reference}>{_text(value)}</uws:parameter>"
        )
    lines.append("  </uws:parameters>")
    results = _result_lines(job, base_url, "    ")
    lines += ["  <uws:results>", *results, "  </uws:results>"] if results else ["  <uws:results/>"]
    if job.error is not None:
        lines += [
            '  <uws:errorSummary type="fatal" hasDetail="false">',
            _element("message", job.error, "    "),
            "  </uws:errorSummary>",
        ]
    lines.append("</uws:job>")
    return ("\n".join(lines) + "\n").encode()


def job_list_xml(jobs: Sequence[Job], base_url: str) -> bytes:
    """The UWS 1.1 ``<uws:jobs>`` job list; ``base_url`` as for :func:`job_xml`."""
    lines = [_XML_HEADER, f'<uws:jobs {_NAMESPACES} version="1.1">']
    for job in jobs:
        href = _attr(_job_url(job, base_url))
        lines.append(f'  <uws:jobref id={_attr(job.job_id)} xlink:type="simple" xlink:href={href}>')
        lines.append(_element("phase", job.phase, "    "))
        if job.run_id is not None:
            lines.append(_element("runId", job.run_id, "    "))
        lines.append(_element("ownerId", job.owner or None, "    "))
        lines.append(_element("creationTime", _iso(job.creation_time), "    "))
        lines.append("  </uws:jobref>")
    lines.append("</uws:jobs>")
    return ("\n".join(lines) + "\n").encode()


def results_xml(job: Job, base_url: str) -> bytes:
    """The UWS 1.1 ``<uws:results>`` document of ``job``; ``base_url`` as for :func:`job_xml`."""
    lines = [_XML_HEADER, f'<uws:results xmlns:uws="{UWS_NS}" xmlns:xlink="{XLINK_NS}">']
    lines += _result_lines(job, base_url, "  ")
    lines.append("</uws:results>")
    return ("\n".join(lines) + "\n").encode()


def job_json(job: Job, base_url: str) -> dict[str, Any]:
    """A JSON-serialisable view of ``job`` for the web frontend (UWS names, ISO times, URLs)."""
    url = _job_url(job, base_url)
    return {
        "jobId": job.job_id,
        "href": url,
        "runId": job.run_id,
        "ownerId": job.owner,
        "phase": job.phase,
        "quote": _optional_time(job.quote),
        "creationTime": _iso(job.creation_time),
        "startTime": _optional_time(job.start_time),
        "endTime": _optional_time(job.end_time),
        "executionDuration": job.execution_duration,
        "destruction": _iso(job.destruction),
        "parameters": dict(job.parameters),
        "results": [
            {
                "id": r.id,
                "href": f"{url}/results/{r.id}",
                "mimeType": r.mime,
                "size": r.size,
                "rows": r.rows,
                "overflow": r.overflow,
            }
            for r in job.results
        ],
        "errorSummary": None if job.error is None else {"type": "fatal", "message": job.error},
        "progress": dict(job.progress),
    }
