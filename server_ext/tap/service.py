"""The TAP service's logic, independent of HTTP: parameters, uploads, running queries.

One :class:`TapService` per server: it opens the engine of the release (the same
:class:`~kernel_lib.engine.Engine` notebooks use), the ``TAP_SCHEMA`` tables, the UWS job store
under ``<jobs root>`` and its runner.  The handlers (:mod:`.handlers`) call :meth:`sync` for
``/sync`` and the store/runner for ``/async``; every failure the user can fix is a
:class:`TapError` with an HTTP status and a message saying what to fix.
"""

from __future__ import annotations

import io
import threading
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from kernel_lib.adql import AdqlError
from kernel_lib.engine import Engine, QueryCancelledError, ResultTooLargeError
from kernel_lib.release.manifest import Release

from .datalink import absolute_access_urls, describe
from .uws import Job, JobRunner, JobStore, Result
from .votable import Format, UnknownFormatError, parse_format, write_result

__all__ = ["Limits", "TapError", "TapQuery", "TapService", "parse_query", "read_upload"]

LANGS = ("ADQL", "ADQL-2.0", "ADQL-2.1")


class TapError(Exception):
    """A request the service refuses, with the HTTP status to answer and what to fix."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Limits:
    """The service's limits (also advertised in the capabilities)."""

    default_maxrec: int = 100_000
    hard_maxrec: int = 20_000_000
    #: results up to this many rows are computed in memory; larger ones spill to Parquet first
    in_memory_rows: int = 1_000_000
    upload_bytes: int = 64 * 1024 * 1024
    upload_rows: int = 1_000_000
    default_duration_s: int = 600
    max_duration_s: int = 3600
    retention_days: int = 7
    #: async jobs one owner may have QUEUED or EXECUTING at once (0: no limit)
    max_active_jobs: int = 0


@dataclass
class TapQuery:
    """A validated TAP query request."""

    query: str
    lang: str
    maxrec: int
    fmt: Format
    #: table name -> URI (``param:<part>`` for inline uploads, or http(s))
    uploads: dict[str, str] = field(default_factory=dict)
    #: MAXREC above the hard limit: the result is cut there and flagged as overflow
    capped: bool = False


def _upper(params: Mapping[str, str]) -> dict[str, str]:
    return {k.upper(): v for k, v in params.items()}


def parse_query(params: Mapping[str, str], limits: Limits) -> TapQuery:
    """Check TAP 1.1 query parameters (names case-insensitive); :class:`TapError` if wrong."""
    p = _upper(params)
    request = p.get("REQUEST")
    if request is not None and request.lower() != "doquery":
        raise TapError(f"REQUEST={request!r} is not supported; use REQUEST=doQuery (or leave it out)")
    lang = p.get("LANG")
    if not lang:
        raise TapError("LANG is missing: send LANG=ADQL with the QUERY")
    if lang.upper() not in LANGS:
        raise TapError(f"LANG={lang!r} is not supported; use one of {', '.join(LANGS)}")
    query = p.get("QUERY", "")
    if not query.strip():
        raise TapError("QUERY is missing or empty: send the ADQL text in QUERY")
    maxrec, capped = limits.default_maxrec, False
    if p.get("MAXREC", "").strip():
        try:
            maxrec = int(p["MAXREC"])
        except ValueError:
            raise TapError(f"MAXREC={p['MAXREC']!r} is not an integer") from None
        if maxrec < 0:
            raise TapError(f"MAXREC={maxrec} is negative; send 0 (metadata only) or more")
        if maxrec > limits.hard_maxrec:
            maxrec, capped = limits.hard_maxrec, True
    try:
        fmt = parse_format(p.get("RESPONSEFORMAT") or p.get("FORMAT"))
    except UnknownFormatError as e:
        raise TapError(str(e)) from None
    uploads: dict[str, str] = {}
    for item in filter(None, (s.strip() for s in p.get("UPLOAD", "").split(";"))):
        name, sep, uri = item.partition(",")
        name, uri = name.strip(), uri.strip()
        if not sep or not name or not uri:
            raise TapError(f"UPLOAD item {item!r} is not 'table_name,URI' (e.g. mytable,param:file1)")
        if not name.replace("_", "a").isalnum() or not name[0].isalpha():
            raise TapError(f"UPLOAD table name {name!r} must be a letter followed by letters, digits or _")
        if not uri.startswith(("param:", "http://", "https://")):
            raise TapError(f"UPLOAD {name}: URI {uri!r} must be param:<part> or http(s)://...")
        uploads[name] = uri
    return TapQuery(query, lang, maxrec, fmt, uploads, capped)


def read_upload(name: str, data: bytes, limits: Limits) -> pa.Table:
    """An uploaded table (VOTable, or CSV with a header line) as Arrow; :class:`TapError` if it is
    neither or too large."""
    if len(data) > limits.upload_bytes:
        raise TapError(
            f"upload {name} is {len(data)} bytes; the limit is {limits.upload_bytes} bytes", status=413
        )
    head = data[:512].lstrip()
    if head.startswith(b"<"):
        import warnings

        from astropy.io.votable import parse_single_table

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                vot = parse_single_table(io.BytesIO(data))
                table = vot.to_table(use_names_over_ids=True)
        except Exception as e:
            raise TapError(f"upload {name} is not a readable VOTable: {str(e).splitlines()[0]}") from None
        out = pa.Table.from_pandas(table.to_pandas(), preserve_index=False).replace_schema_metadata(None)
        # the FIELDs' metadata travels with the rows (results of the upload keep it)
        described = {}
        for f in vot.fields:
            md = {k: str(getattr(f, k)) for k in ("unit", "ucd", "utype", "xtype") if getattr(f, k, None)}
            if f.description:
                md["description"] = str(f.description)
            described[f.name or f.ID] = md
        out = out.cast(pa.schema([fld.with_metadata(described.get(fld.name) or None) for fld in out.schema]))
    else:
        import pyarrow.csv as pacsv

        try:
            out = pacsv.read_csv(io.BytesIO(data))
        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
            raise TapError(f"upload {name} is neither a VOTable nor a CSV table: {e}") from None
    if out.num_rows > limits.upload_rows:
        raise TapError(
            f"upload {name} has {out.num_rows} rows; the limit is {limits.upload_rows}", status=413
        )
    if out.num_columns == 0:
        raise TapError(f"upload {name} has no columns")
    return out.replace_schema_metadata(None)


def _fetch(uri: str, limits: Limits) -> bytes:
    try:
        with urllib.request.urlopen(uri, timeout=30) as r:
            data = r.read(limits.upload_bytes + 1)
    except OSError as e:
        raise TapError(f"could not fetch the upload {uri}: {e}") from None
    return data


def _with_obscore_metadata(table: pa.Table) -> pa.Table:
    """ObsCore's units, UCDs, utypes and descriptions on the Arrow fields (results carry them)."""
    from kernel_lib.release.obscore import OBSCORE_COLUMNS

    fields = []
    for f in table.schema:
        c = OBSCORE_COLUMNS.get(f.name, {})
        md = {k.encode(): str(c[k]).encode() for k in ("unit", "ucd", "utype", "description") if c.get(k)}
        fields.append(f.with_metadata(md) if md else f)
    return table.cast(pa.schema(fields))


class TapService:
    """The TAP service over one release (see the module docstring).

    Parameters
    ----------
    release_getter
        Returns the open release, or raises :class:`~kernel_lib.release.manifest.ReleaseError`.
    jobs_root
        Folder of the job store (SQLite database and result files).
    """

    def __init__(
        self, release_getter: Callable[[], Release], jobs_root: Path, limits: Limits | None = None
    ) -> None:
        self.release_getter = release_getter
        self.limits = limits or Limits()
        self.store = JobStore(
            jobs_root,
            default_duration=self.limits.default_duration_s,
            max_duration=self.limits.max_duration_s,
        )
        self.store.recover()
        self.runner = JobRunner(self.store, self._execute_job, max_active=self.limits.max_active_jobs)
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._tap_schema: dict[str, pa.Table] | None = None
        self._obscore: dict[str, pa.Table] | None = None
        #: the server's public base URL (``http://host:port/base/``), as the last request saw it:
        #: async jobs describe their results' services with it
        self.public_url: str | None = None

    # -- the release ------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = Engine(self.release_getter())
            return self._engine

    def tap_schema(self) -> dict[str, pa.Table]:
        from .vosi import tap_schema_tables

        with self._lock:
            if self._tap_schema is None:
                self._tap_schema = tap_schema_tables(self.release_getter())
            return self._tap_schema

    def obscore(self) -> dict[str, pa.Table]:
        """``ivoa.ObsCore`` (the release's ObsCore Parquet), if the release has one."""
        with self._lock:
            if self._obscore is None:
                rel = self.release_getter()
                entry = rel.manifest.get("obscore")
                self._obscore = (
                    {"ivoa.ObsCore": _with_obscore_metadata(pq.read_table(rel.resolve(entry["path"])))}
                    if entry
                    else {}
                )
            return self._obscore

    # -- queries ----------------------------------------------------------------------------------
    def tables_for(self, q: TapQuery, parts: Mapping[str, bytes]) -> dict[str, pa.Table]:
        """TAP_SCHEMA (if the query mentions it) and the uploads, by qualified name."""
        tables: dict[str, pa.Table] = {}
        text = q.query.lower()
        if "tap_schema" in text:
            tables.update(self.tap_schema())
        if "obscore" in text:
            tables.update(self.obscore())
        for name, uri in q.uploads.items():
            if uri.startswith("param:"):
                part = uri[len("param:") :]
                if part not in parts:
                    raise TapError(f"UPLOAD {name} refers to param:{part} but no file part {part!r} was sent")
                data = parts[part]
            else:
                data = _fetch(uri, self.limits)
            tables[f"TAP_UPLOAD.{name}"] = read_upload(name, data, self.limits)
        return tables

    def run(
        self,
        q: TapQuery,
        tables: Mapping[str, pa.Table],
        out: BinaryIO,
        *,
        spill_dir: Path,
        cancel: threading.Event | None = None,
        progress: Callable[[dict[str, int]], None] | None = None,
        base_url: str | None = None,
    ) -> tuple[int, bool]:
        """Run ``q`` and write its result in ``q.fmt`` to ``out``; return (rows, overflow).

        Results up to ``limits.in_memory_rows`` rows are computed in memory; larger ``MAXREC`` s go
        through a Parquet file in ``spill_dir`` so that memory stays bounded."""
        try:
            if q.maxrec <= self.limits.in_memory_rows:
                res = self.engine.adql(q.query, maxrec=q.maxrec, tables=tables, cancel=cancel)
                table, overflow = res.table, res.overflow or (q.capped and res.table.num_rows >= q.maxrec)
                if progress is not None:
                    progress({"rows": table.num_rows})
                schema, descriptors = describe(table.schema, base_url) if base_url else (table.schema, [])
                batches = table.to_batches(65536)
                if base_url:
                    batches = [absolute_access_urls(b, base_url) for b in batches]
                rows = write_result(
                    out,
                    q.fmt,
                    schema,
                    batches,
                    overflow=overflow,
                    query=q.query,
                    service_descriptors=descriptors,
                )
                return rows, overflow
            spill_dir.mkdir(parents=True, exist_ok=True)
            tmp = spill_dir / "result.parquet"
            try:
                _, overflow = self.engine.adql_to_parquet(
                    q.query, tmp, maxrec=q.maxrec, tables=tables, cancel=cancel, progress=progress
                )
                pf = pq.ParquetFile(tmp)
                schema, descriptors = (
                    describe(pf.schema_arrow, base_url) if base_url else (pf.schema_arrow, [])
                )
                stream: Iterable[pa.RecordBatch] = pf.iter_batches(65536)
                if base_url:
                    stream = (absolute_access_urls(b, base_url) for b in stream)
                rows = write_result(
                    out,
                    q.fmt,
                    schema,
                    stream,
                    overflow=overflow,
                    query=q.query,
                    service_descriptors=descriptors,
                )
                return rows, overflow
            finally:
                tmp.unlink(missing_ok=True)
        except QueryCancelledError:
            raise
        except ResultTooLargeError as e:
            raise TapError(f"{e}; or run the query asynchronously (/async) with a larger MAXREC") from None
        except AdqlError as e:
            raise TapError(str(e)) from None

    # -- async jobs -------------------------------------------------------------------------------
    def _execute_job(
        self, job: Job, cancel: threading.Event, progress: Callable[[dict[str, Any]], None]
    ) -> list[Result]:
        q = parse_query(job.parameters, self.limits)
        rdir = self.store.result_dir(job.job_id)
        parts = {p.name[len("upload-") :]: p.read_bytes() for p in rdir.glob("upload-*")}
        tables = self.tables_for(q, parts)
        path = rdir / f"result.{q.fmt.extension}"
        tmp = path.with_name(path.name + ".part")
        try:
            with open(tmp, "wb") as f:
                rows, overflow = self.run(
                    q,
                    tables,
                    f,
                    spill_dir=rdir / "spill",
                    cancel=cancel,
                    progress=progress,
                    base_url=self.public_url,
                )
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return [
            Result(
                id="result",
                path=path,
                mime=q.fmt.mime,
                rows=rows,
                overflow=overflow,
                size=path.stat().st_size,
            )
        ]
