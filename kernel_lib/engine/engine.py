"""The query engine: :class:`Engine`, :class:`QueryResult` and :func:`adql`.

``Engine(release).adql(query)`` parses, validates and resolves the ADQL against the release's
schema (errors with positions and suggestions come from :mod:`kernel_lib.adql`), plans it
(:mod:`.planner`), runs the per-partition DuckDB queries as dask tasks -- on the active
``dask.distributed`` client if there is one, else on the threaded scheduler -- in waves, so a
query without ORDER BY stops reading partitions once it has ``maxrec + 1`` rows, and merges
(:mod:`.merge`).  Intermediate and final results are bounded by ``hard_limit`` rows
(:class:`ResultTooLargeError`).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from kernel_lib.adql import AdqlError, resolve, validate
from kernel_lib.catalog.execute import active_client
from kernel_lib.release.manifest import Release, ReleaseError

from .describe import output_metadata
from .planner import Plan, Planner
from .source import ViewSpec, connect, fetch, release_tables

__all__ = ["RELEASE_ENV", "Engine", "QueryCancelledError", "QueryResult", "ResultTooLargeError", "adql"]

RELEASE_ENV = "LSSTBOX_RELEASE"
Format = Literal["arrow", "pandas", "astropy"]


class ResultTooLargeError(AdqlError):
    """A result or intermediate result exceeds the engine's hard row limit."""


class QueryCancelledError(AdqlError):
    """The query was cancelled (its ``cancel`` event was set) between waves of partitions."""


#: extra tables given to a query: qualified ADQL name (``"TAP_UPLOAD.mine"``) -> rows
Tables = Mapping[str, pa.Table]
Progress = Callable[[dict[str, int]], None]
#: tables registered by name in every DuckDB connection of a query
Env = dict[str, pa.Table]


def _field_datatype(f: pa.Field) -> str:
    """The resolver's datatype of an extra table's column: a string column whose UCD is
    ``pos.outline`` (ObsCore's ``s_region``) or whose xtype names a region holds regions."""
    meta = f.metadata or {}
    ucd = meta.get(b"ucd", b"").decode(errors="replace")
    xtype = meta.get(b"xtype", b"").decode(errors="replace").lower()
    if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
        if ucd.startswith("pos.outline") or xtype in ("adql:region", "region"):
            return "region"
    return _datatype(f.type)


def _datatype(t: pa.DataType) -> str:
    """The ADQL/VOTable datatype name the resolver knows for an Arrow type."""
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "long"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "double"
    return "char"


def _internal(name: str) -> str:
    return "_x_" + "".join(ch if ch.isalnum() else "_" for ch in name.lower())


@dataclass
class QueryResult:
    """The rows of a query and how they were obtained.

    Attributes
    ----------
    table
        The rows as an Arrow table (column metadata: unit, UCD, description when known).
    overflow
        True when the query had more rows than ``maxrec``: ``table`` holds the first ``maxrec``.
    plan
        The :class:`~kernel_lib.engine.planner.Plan` that ran (``plan.explain()``).
    fmt
        The format of :attr:`data`.
    """

    table: pa.Table
    overflow: bool
    plan: Plan = field(repr=False)
    fmt: Format = "arrow"
    partitions_read: int = 0

    @property
    def data(self) -> Any:
        """The rows in the requested format (Arrow table, pandas DataFrame or astropy Table)."""
        if self.fmt == "pandas":
            return self.to_pandas()
        if self.fmt == "astropy":
            return self.to_astropy()
        return self.table

    def __len__(self) -> int:
        return self.table.num_rows

    def to_pandas(self) -> Any:
        return self.table.replace_schema_metadata(None).to_pandas()

    def to_astropy(self) -> Any:
        from kernel_lib.catalog.catalog import frame_to_astropy

        return frame_to_astropy(self.to_pandas(), self.table.schema)


def _workers() -> int:
    client = active_client()
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    return max(1, os.cpu_count() or 1)


def _run_task(views: list[ViewSpec], sql: str, max_rows: int | None, tables: dict[str, pa.Table]) -> pa.Table:
    """One partition: a DuckDB connection over its views (module level: picklable)."""
    con = connect(views, tables)
    try:
        return fetch(con, sql, max_rows)
    finally:
        con.close()


def _compute(
    tasks: list[tuple[list[ViewSpec], str, int | None]], tables: dict[str, pa.Table]
) -> list[pa.Table]:
    import dask

    if not tasks:
        return []
    if len(tasks) == 1:
        return [_run_task(*tasks[0], tables)]
    shared = dask.delayed(tables, traverse=False)
    delayed = [dask.delayed(_run_task, pure=False)(v, s, m, shared) for v, s, m in tasks]
    client = active_client()
    if client is not None:
        return list(client.gather(client.compute(delayed)))
    return list(dask.compute(*delayed, scheduler="threads"))


def _concat(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")


def _run_sql(
    sql: str,
    tables: dict[str, pa.Table],
    max_rows: int | None,
    views: list[ViewSpec] | None = None,
    cancel: threading.Event | None = None,
) -> pa.Table:
    """Run ``sql`` in one DuckDB query; setting ``cancel`` interrupts it (a global plan is one
    long query: the wave checks of partitioned plans never see it)."""
    import duckdb

    con = connect(views or [], tables, threads=None)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if cancel is not None and cancel.wait(0.05):
                con.interrupt()
                return

    watcher = threading.Thread(target=watch, name="lsstbox-query-cancel", daemon=True) if cancel else None
    if watcher is not None:
        watcher.start()
    try:
        return fetch(con, sql, max_rows)
    except duckdb.InterruptException:
        raise QueryCancelledError("the query was cancelled while running") from None
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
        con.close()


class Engine:
    """Runs ADQL on a release.

    Parameters
    ----------
    release
        A :class:`~kernel_lib.release.manifest.Release` or its folder.
    hard_limit
        The most rows a result or a merge intermediate may hold.
    broadcast_rows
        Tables outside the partitioned family with at most this many rows are broadcast.
    join_product_limit
        A join of two large tables not on the director key runs globally when the product of their
        row counts is below this, else it is refused (:class:`UnsupportedFeatureError`).

    Examples
    --------
    >>> eng = Engine("releases/demo")  # doctest: +SKIP
    >>> eng.adql("SELECT TOP 5 objectId, r_psfMag FROM dp1.Object ORDER BY r_psfMag").data  # doctest: +SKIP
    """

    def __init__(
        self,
        release: Release | str | os.PathLike[str],
        *,
        hard_limit: int = 5_000_000,
        broadcast_rows: int = 200_000,
        join_product_limit: float = 1e10,
    ) -> None:
        self.release = release if isinstance(release, Release) else Release.open(Path(release))
        self.infos = release_tables(self.release)
        self.hard_limit = int(hard_limit)
        self.broadcast_rows = int(broadcast_rows)
        self.join_product_limit = float(join_product_limit)
        #: per-thread state of the running query (one engine serves concurrent TAP jobs)
        self._local = threading.local()
        #: unit/UCD/description of the release's columns by name (the first table's wins)
        self._release_meta: dict[str, dict[bytes, bytes]] = {}
        for info in self.infos.values():
            for c in info.entry.get("columns", []):
                md = {k.encode(): str(c[k]).encode() for k in ("unit", "ucd", "description") if c.get(k)}
                self._release_meta.setdefault(str(c["name"]), md)
        self.schema: dict[str, dict[str, str]] = {}
        for info in self.infos.values():
            cols = {str(c["name"]): str(c.get("datatype", "double")) for c in info.entry.get("columns", [])}
            self.schema[info.name] = cols
            self.schema[f"{info.entry.get('schema') or 'dp1'}.{info.name}"] = cols

    # -- planning ---------------------------------------------------------------------------------
    def plan(self, query: str, tables: Tables | None = None) -> Plan:
        """Parse, validate, resolve and plan ``query``; ``tables`` are extra tables it may use
        by their qualified names (``TAP_SCHEMA.columns``, ``TAP_UPLOAD.mine``): they are sent
        to every partition like the small release tables."""
        from sqlglot import exp

        extra = {name.lower(): (name, t) for name, t in (tables or {}).items()}
        schema = dict(self.schema)
        for name, t in extra.values():
            schema[name] = {f.name: _field_datatype(f) for f in t.schema}
        tree = resolve(validate(query), schema)
        output_meta = output_metadata(tree, functools.partial(self._column_meta, extra))
        planner = Planner(self.infos, self.broadcast_rows, self.join_product_limit)
        if extra:
            for node in list(tree.find_all(exp.Table)):
                full = ".".join(p for p in (node.db, node.name) if p).lower()
                if full not in extra:
                    continue
                internal = _internal(full)
                planner.materialised[internal] = extra[full][1].schema
                new = exp.to_table(internal)
                new.set("alias", exp.TableAlias(this=exp.to_identifier(node.alias or node.name)))
                node.replace(new)
        plan = planner.plan(tree)
        plan.output_meta = output_meta
        return plan

    def _column_meta(self, extra: dict[str, tuple[str, pa.Table]], table: str | None, column: str) -> Any:
        """Unit/UCD/description of ``table.column`` (a release or extra table), or None."""
        if table is None:
            return None
        hit = extra.get(table.lower())
        if hit is not None:
            names = {f.name.lower(): f for f in hit[1].schema}
            f = names.get(column.lower())
            if f is None:
                return None
            return {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        info = self.infos.get(table.split(".")[-1].lower())
        if info is None:
            return None
        for c in info.entry.get("columns", []):
            if str(c["name"]).lower() == column.lower():
                return {k: str(c[k]) for k in ("unit", "ucd", "description") if c.get(k)}
        return None

    def explain(self, query: str, tables: Tables | None = None) -> str:
        """The plan of ``query`` as text: partitions kept, per-partition SQL, merge steps."""
        return self.plan(query, tables).explain()

    @staticmethod
    def _env(tables: Tables | None) -> dict[str, pa.Table]:
        return {_internal(name): t for name, t in (tables or {}).items()}

    # -- running ----------------------------------------------------------------------------------
    def adql(
        self,
        query: str,
        *,
        maxrec: int | None = None,
        fmt: Format = "arrow",
        tables: Tables | None = None,
        cancel: threading.Event | None = None,
    ) -> QueryResult:
        """Run ``query``; at most ``maxrec`` rows are returned (``overflow`` says if there were more).
        ``tables``: extra tables by qualified name (see :meth:`plan`); ``cancel``: set it from
        another thread to stop the query between waves (:class:`QueryCancelledError`).

        Raises
        ------
        AdqlError
            Syntax (with line/column/token), unknown table/column (with suggestions), type errors,
            unsupported features, or :class:`ResultTooLargeError`.
        """
        if fmt not in ("arrow", "pandas", "astropy"):
            raise ValueError(f"fmt must be 'arrow', 'pandas' or 'astropy', not {fmt!r}")
        if maxrec is not None and maxrec < 0:
            raise ValueError("maxrec must be >= 0")
        plan = self.plan(query, tables)
        self._local.read, self._local.cancel, self._local.progress = 0, cancel, None
        self._set_extra_meta(tables)
        self._local.output_meta = plan.output_meta
        cap = (maxrec + 1) if maxrec is not None else self.hard_limit + 1
        table = self._execute(plan, cap, self._env(tables))
        overflow = False
        if maxrec is not None and table.num_rows > maxrec:
            table, overflow = table.slice(0, maxrec), True
        elif maxrec is None and table.num_rows > self.hard_limit:
            raise ResultTooLargeError(
                f"the result has more than {self.hard_limit} rows; add TOP, a WHERE clause or pass maxrec"
            )
        return QueryResult(self._annotate(table), overflow, plan, fmt, self._local.read)

    def adql_to_parquet(
        self,
        query: str,
        path: str | os.PathLike[str],
        *,
        maxrec: int | None = None,
        tables: Tables | None = None,
        cancel: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> tuple[int, bool]:
        """Run ``query`` and write its rows to the Parquet file ``path``; return (rows, overflow).
        ``tables`` and ``cancel`` as for :meth:`adql`; ``progress`` is called after each wave
        with ``{"partitions_done", "partitions", "rows"}``.

        Nothing here holds the result in memory, so results larger than RAM (or than
        ``hard_limit``) can be written:

        * plain scans (no ORDER BY, DISTINCT, aggregate, TOP/OFFSET) stream: each wave of
          partitions is appended as it finishes;
        * other partitioned queries (ORDER BY, DISTINCT, GROUP BY...) spill each partition's
          result to a Parquet file beside ``path``, then DuckDB runs the merge query over those
          files under a memory limit (its sort and aggregation spill to disk) straight into the
          output, which is then given the result's names and column metadata batch by batch;
        * global plans and set operations run as :meth:`adql` does (bounded by ``hard_limit``).

        The file appears only when complete (written beside ``path``, then renamed); spill files
        are removed whatever happens.
        """
        import pyarrow.parquet as pq

        if maxrec is not None and maxrec < 0:
            raise ValueError("maxrec must be >= 0")
        target = Path(path)
        plan = self.plan(query, tables)
        env = self._env(tables)
        self._local.read, self._local.cancel, self._local.progress = 0, cancel, progress
        self._set_extra_meta(tables)
        self._local.output_meta = plan.output_meta
        d = plan.decomposition
        tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
        try:
            if plan.kind == "partitioned" and not plan.inputs and d is not None and d.streaming:
                rows, overflow = self._stream(plan, tmp, maxrec, env)
            elif plan.kind == "partitioned" and d is not None:
                rows, overflow = self._spill(plan, tmp, maxrec, env)
            else:
                res = self.adql(query, maxrec=maxrec, tables=tables, cancel=cancel)
                pq.write_table(res.table, tmp)
                rows, overflow = res.table.num_rows, res.overflow
            os.replace(tmp, target)
            return rows, overflow
        finally:
            tmp.unlink(missing_ok=True)

    #: DuckDB's memory limit for the out-of-core merge of :meth:`adql_to_parquet`
    spill_memory_limit = "1GB"

    def _wave_done(self, done: int, total: int, rows: int) -> None:
        """Between waves: report progress, honour cancellation."""
        progress = getattr(self._local, "progress", None)
        if progress is not None:
            progress({"partitions_done": done, "partitions": total, "rows": rows})
        self._check_cancel(done, total)

    def _check_cancel(self, done: int, total: int) -> None:
        cancel = getattr(self._local, "cancel", None)
        if cancel is not None and cancel.is_set() and done < total:
            raise QueryCancelledError(f"the query was cancelled after {done} of {total} partitions")

    def _spill(self, plan: Plan, tmp: Path, maxrec: int | None, env: Env) -> tuple[int, bool]:
        import shutil

        import duckdb
        import pyarrow.parquet as pq

        d = plan.decomposition
        assert d is not None
        spill = tmp.with_name(tmp.name + ".spill")
        spill.mkdir()
        try:
            env = dict(env)
            for name, sub in plan.inputs:  # materialised inputs are bounded by hard_limit
                env[name] = self._execute(sub, self.hard_limit + 1, env)
            tables = env | _broadcast_tables(plan)
            k = None if d.kind != "scan" or d.limit is None else d.offset + d.limit
            sql = d.partition_sql(k)
            files: list[str] = []
            ncols = 0
            for start in range(0, len(plan.parts), _workers()):
                self._check_cancel(start, len(plan.parts))
                chunk = plan.parts[start : start + _workers()]
                for r in _compute([(v, sql, k) for v in chunk], tables):
                    r = _positional(r, d)
                    ncols = r.num_columns
                    f = spill / f"part-{len(files):06d}.parquet"
                    pq.write_table(r, f)
                    files.append(str(f))
                self._local.read += len(chunk)
                self._wave_done(start + len(chunk), len(plan.parts), 0)
            final = d.final_sql(ncols)
            if maxrec is not None:
                final = f"SELECT * FROM ({final}) LIMIT {int(maxrec) + 1}"
            merged = spill / "merged.parquet"
            con = duckdb.connect()
            try:
                con.execute(f"SET memory_limit = '{self.spill_memory_limit}'")
                con.execute(f"SET temp_directory = {_sql_string(str(spill / 'duckdb'))}")
                con.execute("SET preserve_insertion_order = true")
                listed = ", ".join(_sql_string(f) for f in files)
                con.execute(f"CREATE VIEW _merged AS SELECT * FROM read_parquet([{listed}])")
                con.execute(f"COPY ({final}) TO {_sql_string(str(merged))} (FORMAT parquet)")
            finally:
                con.close()
            rows = 0
            limit = None if maxrec is None else maxrec
            writer: pq.ParquetWriter | None = None
            try:
                for batch in pq.ParquetFile(merged).iter_batches(65536):
                    t = self._annotate(_cast(pa.Table.from_batches([batch]), plan.schema))
                    if limit is not None:
                        t = t.slice(0, max(0, limit - rows))
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, t.schema)
                    writer.write_table(t)
                    rows += t.num_rows
                if writer is None:
                    empty = pq.read_schema(merged).empty_table()
                    writer = pq.ParquetWriter(tmp, self._annotate(_cast(empty, plan.schema)).schema)
            finally:
                if writer is not None:
                    writer.close()
            total = pq.ParquetFile(merged).metadata.num_rows
            return rows, maxrec is not None and total > maxrec
        finally:
            shutil.rmtree(spill, ignore_errors=True)

    def _stream(
        self, plan: Plan, tmp: Path, maxrec: int | None, env: dict[str, pa.Table]
    ) -> tuple[int, bool]:
        import pyarrow.parquet as pq

        d = plan.decomposition
        assert d is not None
        tables = dict(env) | _broadcast_tables(plan)
        # rows still wanted: OFFSET/TOP of the query itself, then maxrec (+1 to detect overflow)
        skip = d.offset
        wanted = [x for x in (d.limit, None if maxrec is None else maxrec + 1) if x is not None]
        left = min(wanted) if wanted else None
        sql = d.partition_sql(None if left is None else skip + left)
        per_task = None if left is None else skip + left  # a streamed partition is never truncated
        writer: pq.ParquetWriter | None = None
        rows = 0
        try:
            for start in range(0, len(plan.parts), _workers()):
                self._check_cancel(start, len(plan.parts))
                chunk = plan.parts[start : start + _workers()]
                for r in _compute([(v, sql, per_task) for v in chunk], tables):
                    r = self._annotate(_cast(_positional(r, d), plan.schema))
                    if skip:
                        cut = min(skip, r.num_rows)
                        r, skip = r.slice(cut), skip - cut
                    if left is not None:
                        r = r.slice(0, left - rows)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, r.schema)
                    writer.write_table(r)
                    rows += r.num_rows
                self._local.read += len(chunk)
                if left is not None and rows >= left:
                    break
                self._wave_done(start + len(chunk), len(plan.parts), rows)
            if writer is None:  # nothing at all: an empty file with the result's columns
                first = _run_sql(sql, tables, 0, plan.parts[0])
                writer = pq.ParquetWriter(
                    tmp, self._annotate(_cast(_positional(first, d), plan.schema)).schema
                )
        finally:
            if writer is not None:
                writer.close()
        overflow = maxrec is not None and rows > maxrec
        if overflow:
            table = pq.read_table(tmp).slice(0, maxrec)  # at most maxrec + 1 rows: small
            pq.write_table(table, tmp)
            rows = table.num_rows
        return rows, overflow

    def _execute(self, plan: Plan, cap: int, env: dict[str, pa.Table]) -> pa.Table:
        env = dict(env)
        for name, sub in plan.inputs:
            t = self._execute(sub, self.hard_limit + 1, env)
            if t.num_rows > self.hard_limit:
                raise ResultTooLargeError(f"the subquery/branch {name} has more than {self.hard_limit} rows")
            env[name] = t
        if plan.kind == "partitioned":
            return self._partitioned(plan, cap, env)
        self._local.read += sum(len(v.files) for v in plan.views)
        cancel = getattr(self._local, "cancel", None)
        if cancel is not None and cancel.is_set():
            raise QueryCancelledError("the query was cancelled before it ran")
        out = _run_sql(plan.sql, env, cap, plan.views, cancel)
        return _cast(out, plan.schema)

    def _partitioned(self, plan: Plan, cap: int, env: dict[str, pa.Table]) -> pa.Table:
        d = plan.decomposition
        assert d is not None
        tables = dict(env) | _broadcast_tables(plan)
        want = cap if d.limit is None else min(d.limit, cap)
        k = d.offset + want if d.kind == "scan" else None
        sql = d.partition_sql(k)
        per_task = k if k is not None else self.hard_limit + 1
        wave = _workers() if d.streaming else 4 * _workers()
        gathered: list[pa.Table] = []
        total = 0
        for start in range(0, len(plan.parts), wave):
            self._check_cancel(start, len(plan.parts))
            chunk = plan.parts[start : start + wave]
            results = [_positional(r, d) for r in _compute([(v, sql, per_task) for v in chunk], tables)]
            self._local.read += len(chunk)
            gathered += results
            total += sum(r.num_rows for r in results)
            if d.streaming and k is not None and total >= k:
                break
            self._wave_done(start + len(chunk), len(plan.parts), total)
            if d.kind == "scan" and d.needs_final() and k is not None and total > 2 * k and gathered:
                merged = _concat(gathered)
                gathered = [
                    _run_sql(d.final_sql(merged.num_columns, k, reduce=True), {"_merged": merged}, None)
                ]
                total = gathered[0].num_rows
            if total > self.hard_limit:
                raise ResultTooLargeError(
                    f"an intermediate result has more than {self.hard_limit} rows ({plan.reason}); "
                    "add TOP, a WHERE clause or a narrower GROUP BY"
                )
        merged = _concat(gathered)
        if not d.needs_final():
            out = merged.slice(d.offset, d.limit if d.limit is not None else None)
        else:
            out = _run_sql(d.final_sql(merged.num_columns), {"_merged": merged}, cap)
        return _cast(out, plan.schema)

    def _annotate(self, table: pa.Table) -> pa.Table:
        """Attach unit/UCD/description to the result's fields: from the query's SELECT list by
        position (:mod:`.describe`), else those of same-named columns (the query's extra tables'
        first, then the release's)."""
        meta = dict(getattr(self._local, "extra_meta", None) or {})
        for name, md in self._release_meta.items():
            meta.setdefault(name, md)
        by_position = getattr(self._local, "output_meta", None)
        if by_position is not None and len(by_position) != table.num_columns:
            by_position = None
        fields = []
        for i, f in enumerate(table.schema):
            found = {k.encode(): v.encode() for k, v in by_position[i].items()} if by_position else None
            found = found or meta.get(f.name)
            fields.append(f.with_metadata(found) if found else f)
        return table.cast(pa.schema(fields))

    def _set_extra_meta(self, tables: Tables | None) -> None:
        extra: dict[str, dict[bytes, bytes]] = {}
        for t in (tables or {}).values():
            for f in t.schema:
                if f.metadata:
                    extra.setdefault(f.name, dict(f.metadata))
        self._local.extra_meta = extra


def _sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _broadcast_tables(plan: Plan) -> dict[str, pa.Table]:
    """The plan's small tables, read once and shipped to every partition."""
    return {b.name: _run_sql(f'SELECT * FROM "{b.name}"', {}, None, [b]) for b in plan.broadcast}


def _positional(table: pa.Table, d: Any) -> pa.Table:
    return table.rename_columns(d.column_names(table.num_columns))


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Give ``table`` the reference names and, where possible, types of ``schema``."""
    if table.num_columns != len(schema):
        return table
    table = table.rename_columns(schema.names)
    if table.schema.equals(schema):
        return table
    cols = []
    for col, f in zip(table.columns, schema, strict=True):
        try:
            cols.append(col.cast(f.type) if col.type != f.type else col)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            cols.append(col)
    return pa.Table.from_arrays(cols, names=schema.names)


def adql(
    query: str,
    release: Release | str | os.PathLike[str] | None = None,
    *,
    maxrec: int | None = None,
    fmt: Format = "arrow",
) -> QueryResult:
    """Run ADQL on ``release`` (default: ``$LSSTBOX_RELEASE``); see :meth:`Engine.adql`."""
    if release is None:
        env = os.environ.get(RELEASE_ENV)
        if not env:
            raise ReleaseError(f"no release given (pass release= or set ${RELEASE_ENV})")
        release = env
    key = str(release.root if isinstance(release, Release) else Path(release).expanduser().resolve())
    eng = _ENGINES.get(key)
    if eng is None:
        eng = _ENGINES[key] = Engine(release)
    return eng.adql(query, maxrec=maxrec, fmt=fmt)


_ENGINES: dict[str, Engine] = {}
