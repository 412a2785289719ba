"""JSON for the catalog browser of the web frontend, behind Jupyter's authentication.

* ``GET /lsstbox/api/schema``: the TAP service's schemas, tables and columns, from its
  ``TAP_SCHEMA`` tables (the same the service answers ``TAP_SCHEMA`` queries from)::

      {"service": {"name", "url"},
       "schemas": [{"name", "description",
                    "tables": [{"name", "description", "rows",
                                "columns": [{"name", "datatype", "unit", "ucd", "description",
                                             "principal", "indexed"}]}]}]}

* ``GET /lsstbox/api/results/<job_id>?offset=&limit=&sort=&desc=&filter=``: one page of the
  result of a COMPLETED async TAP job of the user (the TAP service's ownership rule)::

      {"job_id", "columns": [{"name", "datatype", "unit", "ucd", "description", "xtype"}],
       "total", "rows_in_result", "overflow", "offset", "limit", "sort", "desc", "filter",
       "rows": [[...]]}

  ``total`` counts the rows matching ``filter`` (``rows_in_result`` all of them); ``sort`` is a
  column name (nulls and NaNs last), ``desc`` true/false; ``filter`` is either
  ``<column> <op> <value>`` (op = == != < <= > >=) or text some cell of the row contains (any
  case).  Integers beyond 2**53 and non-finite floats come as strings.  See
  :mod:`server_ext.result_table` for how the result file is read.

Errors are the box's JSON ``{"error", "status"}``: a bad parameter 400, a job that is not the
user's or has no result 404, a job not COMPLETED 409, no release 503.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import pyarrow as pa
from tornado import web

from kernel_lib.release.manifest import ReleaseError

from .handlers import BoxAPIHandler
from .result_table import ResultTables, ResultViewError
from .tap.handlers import PREFIX as TAP_PREFIX
from .tap.handlers import job_owner
from .tap.service import TapService
from .tap.uws import JobForbidden, JobNotFound

__all__ = ["MAX_LIMIT", "api_schema_handlers", "schema_json"]

#: most rows one results request may ask for
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100
RELEASE_SCHEMA = "dp1"


def schema_json(tap_schema: dict[str, pa.Table], rows: dict[str, int] | None = None) -> dict[str, Any]:
    """The schemas -> tables -> columns tree of ``tap_schema`` (``TapService.tap_schema()``), in
    TAP_SCHEMA's listing order; ``rows`` gives row counts by qualified table name."""
    rows = rows or {}
    schemas = sorted(
        tap_schema["TAP_SCHEMA.schemas"].to_pylist(),
        key=lambda s: (s.get("schema_index") or 0, s["schema_name"]),
    )
    tables = sorted(
        tap_schema["TAP_SCHEMA.tables"].to_pylist(),
        key=lambda t: (t.get("table_index") or 0, t["table_name"]),
    )
    columns: dict[str, list[dict[str, Any]]] = {}
    for c in sorted(
        tap_schema["TAP_SCHEMA.columns"].to_pylist(),
        key=lambda c: (c["table_name"], c.get("column_index") or 0),
    ):
        columns.setdefault(c["table_name"], []).append(
            {
                "name": c["column_name"],
                "datatype": c.get("datatype") or "",
                "arraysize": c.get("arraysize") or "",
                "xtype": c.get("xtype") or "",
                "unit": c.get("unit") or "",
                "ucd": c.get("ucd") or "",
                "description": c.get("description") or "",
                "principal": bool(c.get("principal")),
                "indexed": bool(c.get("indexed")),
                "std": bool(c.get("std")),
            }
        )
    by_schema: dict[str, list[dict[str, Any]]] = {s["schema_name"]: [] for s in schemas}
    for t in tables:
        name = t["table_name"]
        by_schema.setdefault(t["schema_name"], []).append(
            {
                "name": name,
                "description": t.get("description") or "",
                "type": t.get("table_type") or "table",
                "rows": rows.get(name),
                "columns": columns.get(name, []),
            }
        )
    described = {s["schema_name"]: s.get("description") or "" for s in schemas}
    return {
        "schemas": [
            {"name": name, "description": described.get(name, ""), "tables": members}
            for name, members in by_schema.items()
        ]
    }


def _row_counts(svc: TapService) -> dict[str, int]:
    """Rows of the release's tables by qualified name (as :mod:`.tap.vosi` names them)."""
    release = svc.release_getter()
    counts: dict[str, int] = {}
    for name, entry in release.catalogs.items():
        if "rows" in entry:
            counts[f"{entry.get('schema') or RELEASE_SCHEMA}.{name}"] = int(entry["rows"])
    obscore = release.manifest.get("obscore") or {}
    if obscore.get("rows") is not None:
        counts["ivoa.ObsCore"] = int(obscore["rows"])
    return counts


class _Handler(BoxAPIHandler):
    @property
    def service(self) -> TapService:
        return self.settings["lsstbox_tap"]

    async def in_thread(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))
        except ReleaseError as e:
            raise web.HTTPError(503, reason=str(e).splitlines()[0]) from None


class SchemaHandler(_Handler):
    """``GET /lsstbox/api/schema``: schemas, tables and columns of the TAP service."""

    @web.authenticated
    async def get(self) -> None:
        svc = self.service

        def build() -> dict[str, Any]:
            return schema_json(svc.tap_schema(), _row_counts(svc))

        doc = await self.in_thread(build)
        base = f"{self.request.protocol}://{self.request.host}{self.base_url.rstrip('/')}"
        doc = {"service": {"name": "LSST box TAP", "url": f"{base}{TAP_PREFIX}"}, **doc}
        self.finish(json.dumps(doc))


def _int_param(handler: web.RequestHandler, name: str, default: int, low: int, high: int | None) -> int:
    raw = handler.get_argument(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPError(400, reason=f"{name}={raw!r} is not a whole number") from None
    if value < low or (high is not None and value > high):
        upper = f" and {high}" if high is not None else ""
        between = f"between {low}{upper}" if high is not None else f"at least {low}"
        raise web.HTTPError(400, reason=f"{name}={value} must be {between}")
    return value


def _bool_param(handler: web.RequestHandler, name: str) -> bool:
    raw = handler.get_argument(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise web.HTTPError(400, reason=f"{name}={raw!r} must be true or false")


class ResultsHandler(_Handler):
    """``GET /lsstbox/api/results/<job_id>``: a page of a job's result (see the module docstring)."""

    @property
    def tables(self) -> ResultTables:
        tables = self.settings.get("lsstbox_result_tables")
        if tables is None:
            tables = self.settings["lsstbox_result_tables"] = ResultTables()
        return tables

    @web.authenticated
    async def get(self, job_id: str) -> None:
        offset = _int_param(self, "offset", 0, 0, None)
        limit = _int_param(self, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
        sort = self.get_argument("sort", "").strip()
        desc = _bool_param(self, "desc")
        text = self.get_argument("filter", "").strip()
        if len(text) > 1000:
            raise web.HTTPError(400, reason="filter is longer than 1000 characters")
        svc = self.service
        try:
            job = await self.in_thread(svc.store.get, job_id, job_owner(self))
        except (JobNotFound, JobForbidden):
            # another user's job is answered as if it did not exist
            raise web.HTTPError(404, reason=f"no job {job_id!r} among your TAP jobs") from None
        if job.phase != "COMPLETED":
            why = f": {job.error}" if job.error else ""
            raise web.HTTPError(
                409, reason=f"job {job_id} is {job.phase}{why}; only a COMPLETED job has rows"
            )
        result = next((r for r in job.results if r.id == "result"), None)
        if result is None or not result.path.is_file():
            raise web.HTTPError(404, reason=f"job {job_id} has no result file")
        try:
            page = await self.in_thread(
                self.tables.page,
                result.path,
                result.mime,
                offset=offset,
                limit=limit,
                sort=sort,
                desc=desc,
                text=text,
            )
        except ResultViewError as e:
            raise web.HTTPError(400, reason=str(e)) from None
        body = {
            "job_id": job_id,
            "columns": page.columns,
            "total": page.total,
            "rows_in_result": page.rows_in_result,
            "overflow": result.overflow,
            "offset": offset,
            "limit": limit,
            "sort": sort,
            "desc": desc,
            "filter": text,
            "rows": page.rows,
        }
        self.finish(json.dumps(body, allow_nan=False))


def api_schema_handlers() -> list[tuple[str, type]]:
    return [
        (r"/lsstbox/api/schema/?", SchemaHandler),
        (r"/lsstbox/api/results/([A-Za-z0-9_-]+)/?", ResultsHandler),
    ]
