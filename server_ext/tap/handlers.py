"""HTTP handlers of the TAP service under ``/lsstbox/tap``, behind Jupyter's authentication.

``/sync`` and ``/async`` (UWS 1.1), VOSI ``/capabilities``, ``/availability``, ``/tables``, DALI
``/examples``, and ``/async/<id>/json`` for the web frontend.  Query errors are VOTable error
documents (``QUERY_STATUS=ERROR``) with a 4xx status; UWS errors are plain text saying what to
do; nothing the user sends gives a 500 or a traceback.  Engine calls run in a thread pool, and
results are written to a spooled file then streamed to the client in chunks.
"""

from __future__ import annotations

import asyncio
import functools
import io
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from kernel_lib.release.manifest import ReleaseError
from server_ext.handlers import ReleaseFileHandler, release_of

from .service import TapError, TapService, parse_query
from .uws import (
    JobForbidden,
    JobLimitError,
    JobNotFound,
    JobParameterError,
    JobStateError,
    job_json,
    job_list_xml,
    job_xml,
    results_xml,
)
from .votable import error_document, parse_format

__all__ = ["job_owner", "tap_handlers"]

PREFIX = "/lsstbox/tap"
XML = "text/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
CHUNK = 1 << 20


def job_owner(handler: web.RequestHandler) -> str:
    """The owner of the TAP jobs a request makes and may see.

    A Jupyter server belongs to one user (JupyterHub starts one per user), but Jupyter's own
    token login gives every cookie-less client (pyvo, STILTS) a fresh anonymous identity; so
    by default jobs belong to the server's user (``$JUPYTERHUB_USER``, else the account).
    ``LsstBoxApp.tap_owner = "identity"`` uses the authenticated identity instead, for
    identity providers with stable names."""
    if handler.settings.get("lsstbox_tap_owner") == "identity":
        u = handler.current_user
        return str(getattr(u, "username", None) or getattr(u, "name", None) or u)
    import getpass
    import os

    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


class TapHandler(APIHandler):
    """Common parts: the service, parameters, errors as documents, streaming of files."""

    #: errors of this handler are VOTable documents (query endpoints) or plain text (UWS)
    votable_errors = True

    @property
    def service(self) -> TapService:
        return self.settings["lsstbox_tap"]

    @property
    def server_url(self) -> str:
        """This server's public base URL, ending with ``/``."""
        return f"{self.request.protocol}://{self.request.host}{self.base_url.rstrip('/')}/"

    @property
    def tap_url(self) -> str:
        return f"{self.server_url.rstrip('/')}{PREFIX}"

    async def prepare(self) -> None:  # type: ignore[override]
        self.service.public_url = self.server_url  # async jobs describe their results with it
        await super().prepare()

    # -- the request body: streamed in and parsed here (see _parse_body) -------------------------
    def initialize(self, **kwargs: Any) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._too_large = False
        self._parsed: tuple[dict[str, list[bytes]], dict[str, list[Any]]] | None = None

    def data_received(self, chunk: bytes) -> None:
        # past the limit the rest is read and dropped, so that the client gets its 413 answer
        # (raising here would reset the connection)
        self._size += len(chunk)
        if self._size > self.service.limits.upload_bytes + (1 << 20):
            self._chunks.clear()
            self._too_large = True
        else:
            self._chunks.append(chunk)

    def _parse_body(self) -> tuple[dict[str, list[bytes]], dict[str, list[Any]]]:
        """Form fields and files of the body.  Parsed here rather than by tornado, whose strict
        multipart parser rejects the CRLF preamble some clients (STILTS, taplint) send before
        the first boundary, which RFC 2046 allows."""
        if self._too_large:
            limit = self.service.limits.upload_bytes
            raise web.HTTPError(413, reason=f"the request is larger than the {limit}-byte upload limit")
        if self._parsed is None:
            from tornado.httputil import HTTPInputError, parse_body_arguments

            body = b"".join(self._chunks)
            ctype = self.request.headers.get("Content-Type", "")
            if ctype.startswith("multipart/"):
                body = body.lstrip(b"\r\n")
            args: dict[str, list[bytes]] = {}
            files: dict[str, list[Any]] = {}
            if body:
                try:
                    parse_body_arguments(ctype, body, args, files)
                except HTTPInputError as e:
                    raise web.HTTPError(400, reason=f"the request body cannot be read: {e}") from None
            self._parsed = (args, files)
        return self._parsed

    def files(self) -> dict[str, bytes]:
        """Uploaded file parts by form name."""
        return {name: parts[0].body for name, parts in self._parse_body()[1].items() if parts}

    def _arguments(self) -> dict[str, list[str]]:
        """Every parameter of the query string and the form body, names upper-cased."""
        merged: dict[str, list[str]] = {}
        for source in (self.request.query_arguments, self._parse_body()[0]):
            for name, values in source.items():
                merged.setdefault(name.upper(), []).extend(v.decode("utf-8", "replace") for v in values)
        return merged

    def params(self) -> dict[str, str]:
        """Request parameters (query string and form body), names upper-cased, last value wins."""
        return {name: values[-1] for name, values in self._arguments().items() if values}

    def arguments(self, name: str) -> list[str]:
        """Every value of parameter ``name`` (case-insensitive), query string and body."""
        return self._arguments().get(name.upper(), [])

    def user(self) -> str:
        """The owner of jobs made by this request (see :func:`job_owner`)."""
        return job_owner(self)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.reason:
            message = exc.reason
        elif status_code >= 500:
            message = "internal error of the TAP service; see the server log"
        else:
            message = self._reason
        phrase = (message or "").splitlines()[0][:200] if message else ""
        self.set_status(status_code, reason=phrase.encode("ascii", "replace").decode() or None)
        if self.votable_errors:
            self.finish(error_document(message), set_content_type="application/x-votable+xml")
        else:
            self.finish(message + "\n", set_content_type=TEXT)

    def send_error_for(self, e: Exception) -> None:
        status = {
            JobLimitError: 429,  # before JobStateError, its base class
            JobNotFound: 404,
            JobForbidden: 403,
            JobStateError: 400,
            JobParameterError: 400,
            ReleaseError: 503,
        }
        for cls, code in status.items():
            if isinstance(e, cls):
                raise web.HTTPError(code, reason=str(e).splitlines()[0]) from None
        raise e

    async def in_thread(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))
        except (JobNotFound, JobForbidden, JobStateError, JobParameterError, ReleaseError) as e:
            self.send_error_for(e)
        except TapError as e:
            raise web.HTTPError(e.status, reason=e.message) from None

    async def run_and_stream(self, q: Any, tables: dict[str, Any], base_url: str | None = None) -> None:
        """Run ``q`` in a worker thread into a spooled file (spill folder removed after), then
        stream it to the client."""
        spill = Path(tempfile.mkdtemp(prefix="lsstbox-tap-"))
        try:
            with tempfile.SpooledTemporaryFile(max_size=32 << 20) as out:
                await self.in_thread(self.service.run, q, tables, out, spill_dir=spill, base_url=base_url)
                out.seek(0)
                await self.stream_file(out, q.fmt.mime)
        finally:
            shutil.rmtree(spill, ignore_errors=True)

    async def stream_file(self, f: Any, mime: str) -> None:
        self.set_header("Content-Type", mime)
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            self.write(chunk)
            await self.flush()
        self.finish(set_content_type=mime)


# -- synchronous queries ------------------------------------------------------------------------
@web.stream_request_body
class SyncHandler(TapHandler):
    """``GET|POST /lsstbox/tap/sync``: run the query now and answer with the result."""

    @web.authenticated
    async def get(self) -> None:
        await self._query()

    @web.authenticated
    async def post(self) -> None:
        await self._query()

    async def _query(self) -> None:
        svc = self.service
        try:
            q = parse_query(self.params(), svc.limits)
        except TapError as e:
            raise web.HTTPError(e.status, reason=e.message) from None
        tables = await self.in_thread(svc.tables_for, q, self.files())
        await self.run_and_stream(q, tables, self.server_url)


# -- asynchronous jobs (UWS 1.1) -----------------------------------------------------------------
@web.stream_request_body
class JobListHandler(TapHandler):
    """``GET /async``: this user's jobs (PHASE, AFTER, LAST filters); ``POST``: a new job."""

    votable_errors = False

    @web.authenticated
    async def get(self) -> None:
        phases = [v.upper() for v in self.arguments("PHASE")]
        p = self.params()
        after = None
        if p.get("AFTER"):
            try:
                after = datetime.fromisoformat(p["AFTER"].replace("Z", "+00:00"))
            except ValueError:
                raise web.HTTPError(400, reason=f"AFTER={p['AFTER']!r} is not an ISO 8601 time") from None
        last = None
        if p.get("LAST"):
            try:
                last = int(p["LAST"])
            except ValueError:
                last = -1
            if last < 0:
                raise web.HTTPError(400, reason=f"LAST={p['LAST']!r} must be a non-negative integer")
        jobs = await self.in_thread(
            self.service.store.list, self.user(), phases=phases, after=after, last=last
        )
        self.finish(job_list_xml(jobs, self.tap_url + "/async"), set_content_type=XML)

    @web.authenticated
    async def post(self) -> None:
        svc = self.service
        p = self.params()
        run = p.pop("PHASE", "").upper()
        if run and run != "RUN":
            raise web.HTTPError(400, reason=f"PHASE={run} when creating a job: only PHASE=RUN is allowed")
        # the parameters are checked when the job runs: a bad one ends the job in ERROR (UWS)
        job = await self.in_thread(svc.store.create, self.user(), p, p.get("RUNID"))
        rdir = svc.store.result_dir(job.job_id)
        for name, data in self.files().items():
            (rdir / f"upload-{Path(name).name}").write_bytes(data)
        if run == "RUN":
            await self.in_thread(svc.runner.run, job.job_id, self.user())
        self.redirect(f"{self.tap_url}/async/{job.job_id}", status=303)


@web.stream_request_body
class JobHandler(TapHandler):
    """``/async/<id>``: GET the job (WAIT blocking), POST phase/parameters/ACTION=DELETE, DELETE."""

    votable_errors = False

    @web.authenticated
    async def get(self, job_id: str) -> None:
        svc = self.service
        p = self.params()
        job = await self.in_thread(svc.store.get, job_id, self.user())
        if "WAIT" in p:
            try:
                wait = float(p["WAIT"])
            except ValueError:
                raise web.HTTPError(400, reason=f"WAIT={p['WAIT']!r} is not a number of seconds") from None
            timeout = 60.0 if wait < 0 else min(wait, 60.0)
            phase = p.get("PHASE", "").upper() or None
            job = await self.in_thread(svc.runner.wait, job_id, self.user(), timeout, phase)
        self.finish(job_xml(job, self.tap_url + "/async"), set_content_type=XML)

    @web.authenticated
    async def post(self, job_id: str) -> None:
        p = self.params()
        if p.get("ACTION", "").upper() == "DELETE":
            await self.in_thread(self.service.store.delete, job_id, self.user())
            self.redirect(f"{self.tap_url}/async", status=303)
            return
        if "ACTION" in p:
            raise web.HTTPError(400, reason=f"ACTION={p['ACTION']!r} is not supported; use ACTION=DELETE")
        await update_job(self, job_id, p)
        self.redirect(f"{self.tap_url}/async/{job_id}", status=303)

    @web.authenticated
    async def delete(self, job_id: str) -> None:
        await self.in_thread(self.service.store.delete, job_id, self.user())
        self.redirect(f"{self.tap_url}/async", status=303)


async def update_job(h: TapHandler, job_id: str, p: dict[str, str]) -> None:
    """Apply POSTed PHASE / EXECUTIONDURATION / DESTRUCTION / query parameters to a job."""
    svc, user = h.service, h.user()
    phase = p.pop("PHASE", "").upper()
    if "EXECUTIONDURATION" in p:
        await h.in_thread(svc.store.set_execution_duration, job_id, user, p.pop("EXECUTIONDURATION"))
    if "DESTRUCTION" in p:
        await h.in_thread(svc.store.set_destruction, job_id, user, p.pop("DESTRUCTION"))
    if p:
        await h.in_thread(svc.store.update_parameters, job_id, user, p)
    if phase == "RUN":
        await h.in_thread(svc.runner.run, job_id, user)
    elif phase == "ABORT":
        await h.in_thread(svc.runner.abort, job_id, user)
    elif phase:
        raise web.HTTPError(400, reason=f"PHASE={phase} is not a request; use PHASE=RUN or PHASE=ABORT")


@web.stream_request_body
class JobPartHandler(TapHandler):
    """``/async/<id>/<part>``: phase, executionduration, destruction, quote, owner, error,
    parameters, results, json (GET); phase, executionduration, destruction (POST)."""

    votable_errors = False

    @web.authenticated
    async def get(self, job_id: str, part: str) -> None:
        svc = self.service
        job = await self.in_thread(svc.store.get, job_id, self.user())
        iso = _iso
        if part == "phase":
            self.finish(job.phase, set_content_type=TEXT)
        elif part == "executionduration":
            self.finish(str(job.execution_duration), set_content_type=TEXT)
        elif part == "destruction":
            self.finish(iso(job.destruction), set_content_type=TEXT)
        elif part == "quote":
            self.finish(iso(job.quote), set_content_type=TEXT)
        elif part == "owner":
            self.finish(job.owner, set_content_type=TEXT)
        elif part == "error":
            if job.phase != "ERROR":
                raise web.HTTPError(404, reason=f"job {job_id} is {job.phase}: it has no error")
            self.finish(
                error_document(job.error or "the job failed"), set_content_type="application/x-votable+xml"
            )
        elif part == "parameters":
            self.finish(_parameters_xml(job.parameters), set_content_type=XML)
        elif part == "results":
            self.finish(results_xml(job, self.tap_url + "/async"), set_content_type=XML)
        elif part == "json":
            self.finish(job_json(job, self.tap_url + "/async"))
        else:
            raise web.HTTPError(404, reason=f"a job has no {part!r}")

    @web.authenticated
    async def post(self, job_id: str, part: str) -> None:
        p = self.params()
        if part == "parameters":  # UWS 1.1: more or changed parameters while PENDING
            await update_job(self, job_id, p)
            self.redirect(f"{self.tap_url}/async/{job_id}", status=303)
            return
        key = _SETTABLE.get(part)
        if key is None:
            raise web.HTTPError(405, reason=f"POST to {part} is not allowed")
        if key not in p:
            raise web.HTTPError(400, reason=f"send {key}=... to change the job's {part}")
        await update_job(self, job_id, {key: p[key]})
        self.redirect(f"{self.tap_url}/async/{job_id}", status=303)


_SETTABLE = {"phase": "PHASE", "executionduration": "EXECUTIONDURATION", "destruction": "DESTRUCTION"}


class ResultHandler(TapHandler):
    """``GET /async/<id>/results/<result id>``: the result file."""

    votable_errors = False

    @web.authenticated
    async def get(self, job_id: str, result_id: str) -> None:
        job = await self.in_thread(self.service.store.get, job_id, self.user())
        hit = next((r for r in job.results if r.id == result_id), None)
        if hit is None or not Path(hit.path).is_file():
            raise web.HTTPError(404, reason=f"job {job_id} ({job.phase}) has no result {result_id!r}")
        with open(hit.path, "rb") as f:
            await self.stream_file(f, hit.mime)


def _iso(t: datetime | None) -> str:
    return "" if t is None else t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parameters_xml(params: dict[str, str]) -> bytes:
    from xml.sax.saxutils import escape, quoteattr

    body = "".join(
        f"<uws:parameter id={quoteattr(k.lower())}>{escape(v)}</uws:parameter>" for k, v in params.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<uws:parameters xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0">{body}</uws:parameters>\n'
    ).encode()


# -- VOSI and examples ---------------------------------------------------------------------------
class VosiHandler(TapHandler):
    """``/capabilities``, ``/availability``, ``/tables[/<name>]``, ``/examples``."""

    @web.authenticated
    async def get(self, what: str, name: str | None = None) -> None:
        from . import vosi

        svc = self.service
        if what == "availability":
            try:
                svc.release_getter()
                ok, note = True, "the TAP service is accepting queries"
            except ReleaseError as e:
                ok, note = False, str(e).splitlines()[0]
            self.finish(vosi.availability_xml(ok, note), set_content_type=XML)
            return
        if what == "capabilities":
            lim = svc.limits
            try:
                obscore = bool(svc.release_getter().manifest.get("obscore"))
            except ReleaseError:
                obscore = False
            doc = vosi.capabilities_xml(
                self.tap_url,
                upload_limit_bytes=lim.upload_bytes,
                output_limit_rows=lim.hard_maxrec,
                default_limit_rows=lim.default_maxrec,
                max_duration_s=lim.max_duration_s,
                retention_days=lim.retention_days,
                obscore=obscore,
            )
            self.finish(doc, set_content_type=XML)
            return
        try:
            release = svc.release_getter()
        except ReleaseError as e:
            raise web.HTTPError(503, reason=str(e).splitlines()[0]) from None
        if what == "examples":
            self.finish(vosi.examples_xhtml(self.tap_url), set_content_type="application/xhtml+xml")
        elif name:
            try:
                doc = vosi.table_xml(release, name)
            except KeyError:
                raise web.HTTPError(
                    404, reason=f"no table {name!r}; GET {PREFIX}/tables lists them"
                ) from None
            self.finish(doc, set_content_type=XML)
        else:
            self.finish(vosi.tableset_xml(release), set_content_type=XML)


class TimeSeriesHandler(TapHandler):
    """``GET /lsstbox/timeseries/(forced|dia)?ID=<id>``: an object's light curve (the services
    of :mod:`.datalink`), through the TAP engine; ``RESPONSEFORMAT`` as for TAP."""

    @web.authenticated
    async def get(self, kind: str) -> None:
        from .datalink import timeseries_query

        p = self.params()
        if not p.get("ID"):
            raise web.HTTPError(400, reason="send ID=<object id>")
        try:
            query = timeseries_query(kind, p["ID"])
        except ValueError as e:
            raise web.HTTPError(400, reason=str(e)) from None
        params = {"LANG": "ADQL", "QUERY": query, "MAXREC": str(self.service.limits.default_maxrec)}
        if p.get("RESPONSEFORMAT"):
            params["RESPONSEFORMAT"] = p["RESPONSEFORMAT"]
        try:
            q = parse_query(params, self.service.limits)
        except TapError as e:
            raise web.HTTPError(e.status, reason=e.message) from None
        await self.run_and_stream(q, {})


@web.stream_request_body
class LinksHandler(TapHandler):
    """``GET|POST /lsstbox/datalink/links?ID=<obs_publisher_did>[&ID=...]``: DataLink 1.1 links."""

    @web.authenticated
    async def post(self) -> None:
        await self._links()

    @web.authenticated
    async def get(self) -> None:
        await self._links()

    async def _links(self) -> None:
        from .datalink import links_table
        from .votable import write_result

        ids = self.arguments("ID")
        if not ids:
            raise web.HTTPError(400, reason="send ID=<obs_publisher_did> (from ivoa.ObsCore)")
        if len(ids) > 1000:
            raise web.HTTPError(400, reason=f"{len(ids)} IDs: at most 1000 per request")
        obscore = self.service.obscore().get("ivoa.ObsCore")
        if obscore is None:
            raise web.HTTPError(404, reason="this release has no ObsCore table, so no DataLink links")
        table, descriptors = links_table(ids, obscore, self.server_url)
        try:  # DataLink 1.1: TABLEDATA unless another serialization is asked for
            fmt = parse_format(self.params().get("RESPONSEFORMAT") or "votable/td")
        except ValueError as e:
            raise web.HTTPError(400, reason=str(e)) from None
        out = io.BytesIO()  # at most 1000 IDs
        write_result(out, fmt, table.schema, table.to_batches(), service_descriptors=descriptors)
        out.seek(0)
        mime = "application/x-votable+xml;content=datalink" if fmt.name.startswith("votable") else fmt.mime
        await self.stream_file(out, mime)


class FilesHandler(ReleaseFileHandler):
    """``GET /lsstbox/files/<path>``: files of the release's Butler datastore (what DataLink
    ``#this`` links point at); nothing outside it."""

    @web.authenticated
    def get(self, path: str, include_body: bool = True) -> Any:  # type: ignore[override]
        release = release_of(self)
        self.root = str(release.resolve(release.manifest["butler"]["root"]))
        return super().get(path, include_body=include_body)


class RootHandler(TapHandler):
    """``GET /lsstbox/tap``: where the service's endpoints are."""

    votable_errors = False

    @web.authenticated
    def get(self) -> None:
        parts = ["sync", "async", "capabilities", "availability", "tables", "examples"]
        self.finish({p: f"{self.tap_url}/{p}" for p in parts})


def tap_handlers() -> list[tuple[str, type]]:
    job = r"/async/([A-Za-z0-9_-]+)"
    return [
        (rf"{PREFIX}/?", RootHandler),
        (rf"{PREFIX}/sync/?", SyncHandler),
        (rf"{PREFIX}/async/?", JobListHandler),
        (rf"{PREFIX}{job}/?", JobHandler),
        (rf"{PREFIX}{job}/results/([A-Za-z0-9_.-]+)", ResultHandler),
        (rf"{PREFIX}{job}/([a-z]+)", JobPartHandler),
        (rf"{PREFIX}/(capabilities|availability|examples)/?", VosiHandler),
        (rf"{PREFIX}/(tables)/?", VosiHandler),
        (rf"{PREFIX}/(tables)/([^/]+)", VosiHandler),
        (r"/lsstbox/timeseries/(forced|dia)/?", TimeSeriesHandler),
        (r"/lsstbox/datalink/links/?", LinksHandler),
        (r"/lsstbox/files/(.+)", FilesHandler),
    ]
