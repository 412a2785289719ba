"""The catalog browser's JSON endpoints against a real server: ``/lsstbox/api/schema`` and
``/lsstbox/api/results/<job_id>``, checked against TAP_SCHEMA and the full result of each job."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import requests
from astropy.io.votable import parse_single_table
from jupyter_subprocess import JupyterProcess, box_server
from no_jupyter_loop import jp_asyncio_loop, jp_server_cleanup  # noqa: F401

from server_ext.result_table import MAX_SAFE_INTEGER, read_result


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("api-schema")
    (home / "root").mkdir()
    return home


@pytest.fixture(scope="module")
def server(tiny_release: Path, home: Path) -> Iterator[JupyterProcess]:
    with box_server(tiny_release, home, secrets.token_hex(16)) as s:
        yield s


@pytest.fixture(scope="module")
def session(server: JupyterProcess) -> Iterator[requests.Session]:
    s = requests.Session()
    s.headers.update(server.headers)
    yield s
    s.close()


def _sync_csv(session: requests.Session, server: JupyterProcess, query: str) -> pa.Table:
    r = session.get(
        f"{server.url}lsstbox/tap/sync",
        params={"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv", "MAXREC": "100000"},
        timeout=120,
    )
    assert r.status_code == 200, r.text[:500]
    return pacsv.read_csv(pa.py_buffer(r.content))


def _run_job(session: requests.Session, server: JupyterProcess, query: str, **params: str) -> str:
    r = session.post(
        f"{server.url}lsstbox/tap/async",
        data={"LANG": "ADQL", "QUERY": query, "PHASE": "RUN", **params},
        timeout=60,
    )
    assert r.status_code == 200, r.text[:500]
    job_id = r.url.rstrip("/").rsplit("/", 1)[-1]
    deadline = time.monotonic() + 120
    while True:
        info = session.get(f"{server.url}lsstbox/tap/async/{job_id}/json", timeout=30).json()
        if info["phase"] in ("COMPLETED", "ERROR", "ABORTED"):
            return job_id
        assert time.monotonic() < deadline, info
        time.sleep(0.2)


def _results(
    session: requests.Session, server: JupyterProcess, job_id: str, **params: object
) -> requests.Response:
    return session.get(f"{server.url}lsstbox/api/results/{job_id}", params=params, timeout=120)


def _cell(value: object) -> object:
    """A value as the endpoint sends it (see ``server_ext.result_table.json_value``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        return str(value)
    return value


# -- schema -----------------------------------------------------------------------------------------
def test_schema_matches_tap_schema(
    session: requests.Session, server: JupyterProcess, tiny_release: Path
) -> None:
    r = session.get(f"{server.url}lsstbox/api/schema", timeout=60)
    assert r.status_code == 200, r.text[:500]
    doc = r.json()
    assert doc["service"]["url"].endswith("/lsstbox/tap")

    schemas = _sync_csv(session, server, "SELECT schema_name FROM TAP_SCHEMA.schemas ORDER BY schema_index")
    assert [s["name"] for s in doc["schemas"]] == schemas.column("schema_name").to_pylist()

    tables = _sync_csv(
        session, server, "SELECT schema_name, table_name FROM TAP_SCHEMA.tables ORDER BY table_index"
    )
    got_tables = [(s["name"], t["name"]) for s in doc["schemas"] for t in s["tables"]]
    assert got_tables == list(
        zip(tables.column("schema_name").to_pylist(), tables.column("table_name").to_pylist(), strict=True)
    )

    columns = _sync_csv(
        session,
        server,
        "SELECT table_name, column_name, datatype, unit, ucd, description, principal, indexed "
        "FROM TAP_SCHEMA.columns ORDER BY table_name, column_index",
    ).to_pylist()
    by_table: dict[str, list[dict]] = {}
    for c in columns:
        by_table.setdefault(c["table_name"], []).append(c)
    for schema in doc["schemas"]:
        for table in schema["tables"]:
            want = by_table[table["name"]]
            got = table["columns"]
            assert [c["name"] for c in got] == [c["column_name"] for c in want], table["name"]
            for g, w in zip(got, want, strict=True):
                assert g["datatype"] == w["datatype"]
                assert g["unit"] == (w["unit"] or "")
                assert g["ucd"] == (w["ucd"] or "")
                assert g["description"] == (w["description"] or "")
                assert g["principal"] is bool(w["principal"])
                assert g["indexed"] is bool(w["indexed"])

    import json

    manifest = json.loads((tiny_release / "manifest.json").read_text())
    dp1 = next(s for s in doc["schemas"] if s["name"] == "dp1")
    obj = next(t for t in dp1["tables"] if t["name"] == "dp1.Object")
    assert obj["rows"] == manifest["catalogs"]["Object"]["rows"]
    ra = next(c for c in obj["columns"] if c["name"] == "coord_ra")
    assert ra["unit"] == "deg" and ra["ucd"].startswith("pos.eq.ra") and ra["indexed"] is True
    assert any(c["name"].endswith("_psfFlux") and c["unit"] == "nJy" for c in obj["columns"])


# -- results ----------------------------------------------------------------------------------------
QUERY = (
    "SELECT TOP 300 objectId, coord_ra, coord_dec, g_psfFlux, r_psfFlux, r_psfFlux_flag "
    "FROM dp1.Object ORDER BY objectId"
)


@pytest.fixture(scope="module")
def job(session: requests.Session, server: JupyterProcess) -> str:
    return _run_job(session, server, QUERY)


@pytest.fixture(scope="module")
def full(job: str, home: Path) -> pa.Table:
    """The job's whole result, read with astropy from its file."""
    folder = home / "jobs" / "results" / job
    (path,) = folder.glob("result.vot")
    vot = parse_single_table(str(path)).to_table()
    arrays = {}
    for name in vot.colnames:
        col = vot[name]
        mask = getattr(col, "mask", None)
        values = [None if mask is not None and mask[i] else v for i, v in enumerate(col.tolist())]
        arrays[name] = values
    return pa.table(arrays)


def test_results_first_page_columns_and_rows(
    session: requests.Session, server: JupyterProcess, job: str, full: pa.Table
) -> None:
    r = _results(session, server, job, offset=0, limit=50)
    assert r.status_code == 200, r.text[:500]
    page = r.json()
    assert page["job_id"] == job
    assert page["total"] == page["rows_in_result"] == full.num_rows == 300
    assert [c["name"] for c in page["columns"]] == full.column_names
    cols = {c["name"]: c for c in page["columns"]}
    assert cols["coord_ra"]["unit"] == "deg" and cols["coord_ra"]["datatype"] == "double"
    assert cols["g_psfFlux"]["unit"] == "nJy" and "phot.flux" in cols["g_psfFlux"]["ucd"]
    assert cols["objectId"]["datatype"] == "long"
    assert cols["r_psfFlux_flag"]["datatype"] == "boolean"
    want = [[_cell(v) for v in row.values()] for row in full.slice(0, 50).to_pylist()]
    assert page["rows"] == want
    # object ids are beyond 2**53: strings, exactly
    assert all(isinstance(row[0], str) for row in page["rows"])


def test_results_paging_covers_the_result(
    session: requests.Session, server: JupyterProcess, job: str, full: pa.Table
) -> None:
    rows: list[list] = []
    for offset in range(0, 320, 70):
        page = _results(session, server, job, offset=offset, limit=70).json()
        assert page["offset"] == offset and page["limit"] == 70
        rows += page["rows"]
    assert rows == [[_cell(v) for v in row.values()] for row in full.to_pylist()]
    past = _results(session, server, job, offset=10_000, limit=10).json()
    assert past["rows"] == [] and past["total"] == 300


@pytest.mark.parametrize("column", ["coord_ra", "g_psfFlux", "objectId", "r_psfFlux_flag"])
@pytest.mark.parametrize("desc", [False, True])
def test_results_sort(
    session: requests.Session, server: JupyterProcess, job: str, full: pa.Table, column: str, desc: bool
) -> None:
    page = _results(session, server, job, offset=0, limit=1000, sort=column, desc=str(desc).lower()).json()
    assert page["sort"] == column and page["desc"] is desc
    i = full.column_names.index(column)
    got = [row[i] for row in page["rows"]]
    values = full.column(column).to_pylist()
    present = sorted((v for v in values if v is not None and v == v), reverse=desc)
    missing = [v for v in values if v is None or v != v]  # nulls and NaNs last, either way
    assert got[: len(present)] == [_cell(v) for v in present]
    assert len(got) == len(present) + len(missing)
    # the rows stay whole: the id of each row comes with its own values
    ids = {_cell(r["objectId"]): r for r in full.to_pylist()}
    for row in page["rows"][:20]:
        assert [_cell(v) for v in ids[row[0]].values()] == row


def test_results_filter(session: requests.Session, server: JupyterProcess, job: str, full: pa.Table) -> None:
    rows = full.to_pylist()
    median = sorted(r["coord_ra"] for r in rows)[150]
    page = _results(session, server, job, limit=1000, filter=f"coord_ra > {median}").json()
    want = [r for r in rows if r["coord_ra"] > median]
    assert page["total"] == len(want) == len(page["rows"]) and page["rows_in_result"] == 300
    assert page["rows"] == [[_cell(v) for v in r.values()] for r in want]
    # filter and sort together
    page = _results(
        session, server, job, limit=1000, filter=f"coord_ra > {median}", sort="g_psfFlux", desc="true"
    ).json()
    fluxes = [r[3] for r in page["rows"] if isinstance(r[3], float)]
    assert fluxes == sorted(fluxes, reverse=True) and page["total"] == len(want)
    # free text: a substring of one object id matches that row (and maybe others)
    oid = str(rows[17]["objectId"])
    page = _results(session, server, job, limit=1000, filter=oid[-9:]).json()
    assert oid in [r[0] for r in page["rows"]]
    assert all(any(oid[-9:].lower() in str(v).lower() for v in r) for r in page["rows"])
    flagged = _results(session, server, job, limit=1000, filter="r_psfFlux_flag = true").json()
    assert flagged["total"] == sum(1 for r in rows if r["r_psfFlux_flag"] is True)
    none = _results(session, server, job, limit=10, filter="no such text anywhere").json()
    assert none["total"] == 0 and none["rows"] == []


def test_results_of_other_formats(session: requests.Session, server: JupyterProcess, home: Path) -> None:
    query = "SELECT TOP 40 objectId, coord_ra, coord_dec FROM dp1.Object ORDER BY objectId"
    reference = None
    for fmt in ("csv", "parquet", "votable/td"):
        job = _run_job(session, server, query, RESPONSEFORMAT=fmt)
        page = _results(session, server, job, limit=100).json()
        assert page["total"] == 40, (fmt, page)
        if reference is None:
            reference = page["rows"]
        assert page["rows"] == reference, fmt
        if fmt != "csv":  # CSV has no units
            assert {c["name"]: c["unit"] for c in page["columns"]}["coord_ra"] == "deg", fmt
        (cache,) = (home / "jobs" / "results" / job).glob("*.grid.arrow")
        assert cache.stat().st_size > 0


def test_reader_agrees_with_astropy_and_parquet(job: str, home: Path, full: pa.Table) -> None:
    (path,) = (home / "jobs" / "results" / job).glob("result.vot")
    fast = read_result(path, "application/x-votable+xml")
    assert fast.column_names == full.column_names
    for name in full.column_names:
        got = fast.column(name).to_pylist()
        want = full.column(name).to_pylist()
        assert [_cell(v) for v in got] == [_cell(v) for v in want], name
    assert bytes(fast.schema.field("coord_ra").metadata[b"unit"]) == b"deg"
    pq.write_table(fast, home / "check.parquet")  # every type it makes can be written back


# -- errors -----------------------------------------------------------------------------------------
def test_unknown_and_foreign_jobs_are_404(
    session: requests.Session, server: JupyterProcess, home: Path
) -> None:
    r = _results(session, server, "nosuchjob")
    assert r.status_code == 404 and "nosuchjob" in r.json()["error"]
    from server_ext.tap.uws import JobStore

    with JobStore(home / "jobs") as store:  # the server's own store, shared through SQLite
        other = store.create(
            "someone-else", {"LANG": "ADQL", "QUERY": "SELECT TOP 1 objectId FROM dp1.Object"}
        )
    r = _results(session, server, other.job_id)
    assert r.status_code == 404 and "someone-else" not in r.text


def test_jobs_without_rows_are_409(session: requests.Session, server: JupyterProcess) -> None:
    failed = _run_job(session, server, "SELECT nope FROM dp1.Object")
    r = _results(session, server, failed)
    assert r.status_code == 409
    assert "ERROR" in r.json()["error"] and "nope" in r.json()["error"]
    pending = session.post(
        f"{server.url}lsstbox/tap/async",
        data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 objectId FROM dp1.Object"},
    ).url.rsplit("/", 1)[-1]
    r = _results(session, server, pending)
    assert r.status_code == 409 and "PENDING" in r.json()["error"]


@pytest.mark.parametrize(
    "params",
    [
        {"offset": "-1"},
        {"offset": "ten"},
        {"limit": "0.5"},
        {"limit": "-3"},
        {"limit": "1000000"},
        {"desc": "maybe"},
        {"sort": "no_such_column"},
        {"filter": "coord_ra > north"},
    ],
)
def test_bad_parameters_are_400_json(
    session: requests.Session, server: JupyterProcess, job: str, params: dict[str, str]
) -> None:
    r = _results(session, server, job, **params)
    assert r.status_code == 400, (params, r.status_code, r.text[:300])
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["status"] == 400 and body["error"]


def test_unauthenticated_requests_are_refused(server: JupyterProcess, job: str) -> None:
    for path in ("lsstbox/api/schema", f"lsstbox/api/results/{job}"):
        r = requests.get(f"{server.url}{path}", allow_redirects=False, timeout=30)
        assert r.status_code in (401, 403), (path, r.status_code)
        assert "objectId" not in r.text


def test_results_with_strings(session: requests.Session, server: JupyterProcess, home: Path) -> None:
    """Variable-length strings in BINARY2 (the row scan), against astropy's reading of the file."""
    query = "SELECT TOP 200 objectId, band, psfFlux, visit FROM dp1.ForcedSource ORDER BY objectId, visit"
    job = _run_job(session, server, query)
    (path,) = (home / "jobs" / "results" / job).glob("result.vot")
    want = parse_single_table(str(path)).to_table()
    page = _results(session, server, job, limit=1000).json()
    assert page["total"] == len(want) == 200
    assert [r[1] for r in page["rows"]] == [str(b) for b in want["band"]]
    assert [r[0] for r in page["rows"]] == [_cell(int(v)) for v in want["objectId"]]
    g = _results(session, server, job, limit=1000, filter="band = 'g'", sort="band").json()
    assert g["total"] == sum(1 for b in want["band"] if str(b) == "g") > 0
    assert {r[1] for r in g["rows"]} == {"g"}
    by_band = _results(session, server, job, limit=1000, sort="band", desc="true").json()
    bands = [r[1] for r in by_band["rows"]]
    assert bands == sorted(bands, reverse=True)
