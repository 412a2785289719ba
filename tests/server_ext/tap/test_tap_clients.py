"""The TAP service through real clients: pyvo (sync, async, upload, tables), STILTS, raw HTTP."""

from __future__ import annotations

import io
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import pyvo
import requests
from astropy.io.votable import parse_single_table
from astropy.table import Table

from kernel_lib.engine import Engine

CONE = "1 = CONTAINS(POINT('ICRS', coord_ra, coord_dec), CIRCLE('ICRS', {ra}, {dec}, 0.01))"


@pytest.fixture(scope="module")
def engine(tiny_release: Path) -> Engine:
    return Engine(tiny_release)


@pytest.fixture(scope="module")
def tap(tap_url: str, session: requests.Session) -> pyvo.dal.TAPService:
    return pyvo.dal.TAPService(tap_url, session=session)


@pytest.fixture(scope="module")
def centre(engine: Engine) -> tuple[float, float]:
    t = engine.adql("SELECT AVG(coord_ra) AS ra, AVG(coord_dec) AS dec FROM dp1.Object").table
    return float(t.column("ra")[0].as_py()), float(t.column("dec")[0].as_py())


def _error_text(resp: requests.Response) -> str:
    vot = ET.fromstring(resp.content)
    infos = [e for e in vot.iter() if e.tag.endswith("INFO") and e.get("name") == "QUERY_STATUS"]
    assert infos and infos[0].get("value") == "ERROR", resp.text[:500]
    return infos[0].text or ""


# -- sync ----------------------------------------------------------------------------------------
def test_sync_cone_search_equals_the_engine(tap: pyvo.dal.TAPService, engine: Engine, centre) -> None:
    q = (
        "SELECT objectId, coord_ra, coord_dec, scisql_nanojanskyToAbMag(r_psfFlux) AS r_mag "
        f"FROM dp1.Object WHERE {CONE.format(ra=centre[0], dec=centre[1])}"
    )
    got = tap.run_sync(q).to_table()
    want = engine.adql(q).table
    assert 0 < len(got) == want.num_rows
    assert sorted(got["objectId"]) == sorted(want.column("objectId").to_pylist())
    assert str(got["coord_ra"].unit) == "deg"
    assert got["coord_ra"].info.meta or got["coord_ra"].description


def test_sync_aggregate_and_object_source_join(tap: pyvo.dal.TAPService, engine: Engine) -> None:
    agg = "SELECT band, COUNT(*) AS n FROM dp1.ForcedSource GROUP BY band ORDER BY band"
    got = tap.run_sync(agg).to_table()
    want = engine.adql(agg).table
    assert list(got["band"]) == want.column("band").to_pylist()
    assert list(got["n"]) == want.column("n").to_pylist()
    oid = int(
        engine.adql("SELECT TOP 1 objectId FROM dp1.Object ORDER BY objectId").table.column(0)[0].as_py()
    )
    join = (
        "SELECT f.visit, f.band, f.psfFlux, v.expMidptMJD FROM dp1.ForcedSource AS f "
        f"JOIN dp1.Visit AS v ON f.visit = v.visit WHERE f.objectId = {oid} ORDER BY v.expMidptMJD"
    )
    lc = tap.run_sync(join).to_table()
    assert len(lc) == engine.adql(join).table.num_rows > 3
    assert np.all(np.diff(np.asarray(lc["expMidptMJD"])) >= 0)


@pytest.mark.parametrize("fmt", ["votable", "votable/td", "csv", "parquet"])
def test_response_formats(session: requests.Session, tap_url: str, engine: Engine, fmt: str) -> None:
    q = "SELECT TOP 50 objectId, coord_ra, r_psfFlux FROM dp1.Object ORDER BY objectId"
    r = session.post(f"{tap_url}/sync", data={"LANG": "ADQL", "QUERY": q, "RESPONSEFORMAT": fmt})
    assert r.status_code == 200, r.text[:300]
    want = engine.adql(q).table.column("objectId").to_pylist()
    if fmt == "csv":
        assert r.headers["Content-Type"].startswith("text/csv")
        got = Table.read(r.text, format="ascii.csv")["objectId"]
    elif fmt == "parquet":
        got = pq.read_table(io.BytesIO(r.content)).column("objectId").to_pylist()
    else:
        assert "votable" in r.headers["Content-Type"]
        got = parse_single_table(io.BytesIO(r.content)).to_table()["objectId"]
    assert list(got) == want


def test_maxrec_overflow_is_flagged(tap: pyvo.dal.TAPService) -> None:
    res = tap.run_sync("SELECT objectId FROM dp1.Object", maxrec=7)
    assert len(res) == 7
    assert res.query_status == "OVERFLOW"


def test_tap_schema_and_tables(tap: pyvo.dal.TAPService, tiny_release: Path) -> None:
    names = {t.name for t in tap.tables}
    assert {"dp1.Object", "dp1.ForcedSource", "TAP_SCHEMA.columns"} <= names
    obj = tap.tables["dp1.Object"]
    assert {"objectId", "coord_ra"} <= {c.name for c in obj.columns}
    cols = tap.run_sync(
        "SELECT column_name, unit FROM TAP_SCHEMA.columns "
        "WHERE table_name = 'dp1.Object' AND column_name = 'coord_ra'"
    ).to_table()
    assert list(cols["unit"]) == ["deg"]


# -- async ---------------------------------------------------------------------------------------
def test_async_submit_run_wait_fetch_and_retrieve_by_url(
    tap: pyvo.dal.TAPService, session: requests.Session, engine: Engine
) -> None:
    q = "SELECT objectId, r_psfFlux FROM dp1.Object WHERE r_psfFlux > 1000"
    job = tap.submit_job(q, maxrec=100000)
    assert job.phase == "PENDING"
    job.run()
    job.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=120)
    assert job.phase == "COMPLETED", job.phase
    got = job.fetch_result().to_table()
    assert len(got) == engine.adql(q).table.num_rows > 0
    again = pyvo.dal.AsyncTAPJob(job.url, session=session)  # retrieve_query(url) in lsst.rsp terms
    assert again.phase == "COMPLETED" and len(again.fetch_result()) == len(got)
    info = session.get(f"{job.url}/json").json()
    assert info["phase"] == "COMPLETED"
    url = job.url
    job.delete()
    assert session.get(url).status_code == 404


def test_async_error_is_reported(tap: pyvo.dal.TAPService, session: requests.Session) -> None:
    r = session.post(
        f"{tap.baseurl}/async", data={"LANG": "ADQL", "QUERY": "SELECT nope FROM dp1.Object", "PHASE": "RUN"}
    )
    # an unknown column is caught when running: the job ends in ERROR with the message
    url = r.url
    job = pyvo.dal.AsyncTAPJob(url, session=session)
    job.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=60)
    assert job.phase == "ERROR"
    err = session.get(f"{url}/error")
    assert "nope" in _error_text(err)
    job.delete()


# -- upload ----------------------------------------------------------------------------------------
def test_upload_crossmatch(tap: pyvo.dal.TAPService, engine: Engine) -> None:
    objs = engine.adql("SELECT TOP 25 objectId, coord_ra, coord_dec FROM dp1.Object ORDER BY objectId").table
    mine = Table({"my_id": np.arange(25), "ra": objs.column("coord_ra"), "dec": objs.column("coord_dec")})
    q = (
        "SELECT u.my_id, o.objectId FROM TAP_UPLOAD.mine AS u JOIN dp1.Object AS o "
        "ON 1 = CONTAINS(POINT('ICRS', o.coord_ra, o.coord_dec), CIRCLE('ICRS', u.ra, u.dec, 0.0001))"
    )
    got = tap.run_sync(q, uploads={"mine": mine}).to_table()
    assert sorted(got["objectId"]) == sorted(objs.column("objectId").to_pylist())


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"LANG": "ADQL", "QUERY": "SELEC objectId FROM dp1.Object"}, 400, "line 1"),
        ({"LANG": "ADQL", "QUERY": "SELECT objectId FROM dp1.Objet"}, 400, "Object"),
        ({"LANG": "ADQL", "QUERY": "SELECT objectid, coord_raa FROM dp1.Object"}, 400, "coord_ra"),
        ({"QUERY": "SELECT TOP 1 * FROM dp1.Object"}, 400, "LANG"),
        ({"LANG": "SQL", "QUERY": "SELECT 1"}, 400, "ADQL"),
        ({"LANG": "ADQL", "QUERY": "SELECT TOP 1 objectId FROM dp1.Object", "MAXREC": "-3"}, 400, "negative"),
        (
            {"LANG": "ADQL", "QUERY": "SELECT TOP 1 objectId FROM dp1.Object", "RESPONSEFORMAT": "xls"},
            400,
            "csv",
        ),
        (
            {"LANG": "ADQL", "QUERY": "SELECT TOP 1 objectId FROM dp1.Object", "UPLOAD": "t,param:nothere"},
            400,
            "nothere",
        ),
    ],
)
def test_bad_queries_get_votable_errors(
    session: requests.Session, tap_url: str, params: dict, status: int, needle: str
) -> None:
    r = session.post(f"{tap_url}/sync", data=params)
    assert r.status_code == status
    assert needle in _error_text(r)


def test_bad_uploads_are_refused(session: requests.Session, tap_url: str) -> None:
    q = {"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": "t,param:f"}
    r = session.post(f"{tap_url}/sync", data=q, files={"f": ("t.xml", b"<VOTABLE><oops", "text/xml")})
    assert r.status_code == 400 and "VOTable" in _error_text(r)


def test_unknown_and_deleted_jobs(session: requests.Session, tap_url: str) -> None:
    assert session.get(f"{tap_url}/async/nosuchjob").status_code == 404
    r = session.post(
        f"{tap_url}/async", data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 objectId FROM dp1.Object"}
    )
    url = r.url
    assert session.get(f"{url}/phase").text.strip() == "PENDING"
    assert session.delete(url, allow_redirects=False).status_code == 303
    assert session.delete(url, allow_redirects=False).status_code == 404


def test_unauthenticated_requests_are_refused(tap_url: str) -> None:
    for path in ("sync?LANG=ADQL&QUERY=SELECT%201", "async", "tables", "capabilities"):
        r = requests.get(f"{tap_url}/{path}", allow_redirects=False, timeout=30)
        assert r.status_code in (401, 403), (path, r.status_code)
    series = tap_url.replace("/lsstbox/tap", "/lsstbox/timeseries/forced?ID=1")
    assert requests.get(series, allow_redirects=False, timeout=30).status_code in (401, 403)


# -- STILTS ------------------------------------------------------------------------------------------
def test_stilts_tapquery(open_tap_url: str, tmp_path: Path) -> None:
    if shutil.which("stilts") is None:
        pytest.fail("stilts is not installed (scripts/setup.sh --system installs it)")
    out = tmp_path / "out.csv"
    cmd = ["stilts", "tapquery", f"tapurl={open_tap_url}", "sync=true", f"out={out}", "ofmt=csv"]
    cmd.append("adql=SELECT TOP 5 objectId FROM dp1.Object ORDER BY objectId")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(out.read_text().splitlines()) == 6


def test_rsp_helpers(tap_server, tap_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """lsst.rsp-style helpers: the service, a job's retrieval by URL, the query history."""
    import jupyterlab_lsp as box

    monkeypatch.setenv("LSSTBOX_TAP_URL", tap_url)
    monkeypatch.setenv("LSSTBOX_TOKEN", tap_server.token)
    service = box.get_tap_service("tap")
    job = service.submit_job("SELECT TOP 3 objectId FROM dp1.Object ORDER BY objectId")
    job.run()
    job.wait(phases=["COMPLETED", "ERROR"], timeout=60)
    assert job.url in box.get_query_history()
    assert box.get_query_history(1) == [box.get_query_history()[0]]
    assert len(box.retrieve_query(job.url).fetch_result()) == 3
    with pytest.raises(ValueError, match="one TAP service"):
        box.get_tap_service("ssotap")


def test_jobs_of_another_user_are_forbidden(session: requests.Session, tap_url: str, tap_home: Path) -> None:
    from server_ext.tap.uws import JobStore

    with JobStore(tap_home / "jobs") as store:  # the server's own store, shared through SQLite
        other = store.create(
            "someone-else", {"LANG": "ADQL", "QUERY": "SELECT TOP 1 objectId FROM dp1.Object"}
        )
    r = session.get(f"{tap_url}/async/{other.job_id}")
    assert r.status_code == 403 and "someone-else" not in r.text
    assert other.job_id not in session.get(f"{tap_url}/async").text
    assert session.delete(f"{tap_url}/async/{other.job_id}", allow_redirects=False).status_code == 403


def test_a_server_killed_mid_job_restarts_with_truthful_jobs(tiny_release: Path, tmp_path: Path) -> None:
    """kill -9 while jobs are PENDING, COMPLETED and QUEUED/EXECUTING: after a restart every job
    is there, finished ones with their results, interrupted ones in ERROR saying why."""
    import os
    import signal

    from jupyter_subprocess import box_server

    (tmp_path / "root").mkdir()
    s = requests.Session()
    s.headers["Authorization"] = "token t0k"
    q = "SELECT TOP 5 objectId FROM dp1.Object ORDER BY objectId"
    heavy = "SELECT objectId, COUNT(*) AS n FROM dp1.ForcedSource GROUP BY objectId ORDER BY n DESC"
    with box_server(tiny_release, tmp_path, "t0k") as server:
        url = f"{server.url}lsstbox/tap"
        pending = s.post(f"{url}/async", data={"LANG": "ADQL", "QUERY": q}).url
        done = s.post(f"{url}/async", data={"LANG": "ADQL", "QUERY": q, "PHASE": "RUN"}).url
        pyvo.dal.AsyncTAPJob(done, session=s).wait(phases=["COMPLETED"], timeout=60)
        busy = [
            s.post(f"{url}/async", data={"LANG": "ADQL", "QUERY": heavy, "PHASE": "RUN"}).url
            for _ in range(6)
        ]
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=30)
    with box_server(tiny_release, tmp_path, "t0k") as server:
        url = f"{server.url}lsstbox/tap"
        fix = lambda u: f"{url}/async/{u.rsplit('/', 1)[1]}"  # noqa: E731 (new port)
        assert s.get(f"{fix(pending)}/phase").text.strip() == "PENDING"
        assert s.get(f"{fix(done)}/phase").text.strip() == "COMPLETED"
        assert len(pyvo.dal.AsyncTAPJob(fix(done), session=s).fetch_result()) == 5
        for u in busy:
            phase = s.get(f"{fix(u)}/phase").text.strip()
            assert phase in ("COMPLETED", "ERROR"), phase
            if phase == "ERROR":
                assert "restarted" in _error_text(s.get(f"{fix(u)}/error"))


def test_taplint_finds_no_errors_or_warnings(open_tap_url: str, tmp_path: Path) -> None:
    """STILTS taplint, every stage: no errors, no warnings; the one failure allowed is the
    missing ObsLocTAP table (ivoa.obsplan), which the box does not serve."""
    if shutil.which("stilts") is None:
        pytest.fail("stilts is not installed (scripts/setup.sh --system installs it)")
    res = subprocess.run(
        ["stilts", "taplint", f"tapurl={open_tap_url}", "maxrepeat=20", "truncate=1000", "format=text"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = res.stdout
    (tmp_path / "taplint.txt").write_text(report)
    totals = [ln for ln in report.splitlines() if ln.startswith("Totals:")]
    assert totals, report[-3000:]
    problems = [ln for ln in report.splitlines() if ln[:2] in ("E-", "W-", "F-")]
    assert [p for p in problems if not p.startswith("F-LOC-")] == [], "\n".join(problems)
    assert "Errors: 0;" in totals[0] and "Warnings: 0;" in totals[0], totals[0]


def test_upload_limits_and_formats() -> None:
    """Uploads: VOTable and CSV read with their metadata; too many bytes or rows is a 413 with the
    limit named; something else is a 400 saying what it is not."""
    from server_ext.tap.service import Limits, TapError, read_upload

    lim = Limits(upload_bytes=2000, upload_rows=5)
    vot = io.BytesIO()
    t = Table({"a": [1, 2, 3], "ra": [1.0, 2.0, 3.0]})
    t["ra"].unit = "deg"
    t.write(vot, format="votable")
    got = read_upload("t", vot.getvalue(), Limits())
    assert got.column("a").to_pylist() == [1, 2, 3]
    assert got.schema.field("ra").metadata[b"unit"] == b"deg"
    assert read_upload("c", b"x,y\n1,2\n3,4\n", lim).num_rows == 2
    with pytest.raises(TapError, match="limit is 2000 bytes") as e:
        read_upload("big", b"x\n" + b"1\n" * 2000, lim)
    assert e.value.status == 413
    with pytest.raises(TapError, match="limit is 5") as e:
        read_upload("long", b"x\n" + b"1\n" * 6, lim)
    assert e.value.status == 413
    with pytest.raises(TapError, match="neither a VOTable nor a CSV"):
        read_upload("bin", bytes(range(256)) * 3, Limits())


def test_result_votables_pass_astropy_volint(session: requests.Session, tap_url: str, tmp_path: Path) -> None:
    """Every column of every release table: UCDs and units that astropy's VOTable checker accepts."""
    import warnings

    from astropy.io.votable import parse
    from astropy.io.votable.exceptions import VOWarning

    for table in (
        "dp1.Object",
        "dp1.ForcedSource",
        "dp1.Source",
        "dp1.DiaObject",
        "dp1.Visit",
        "ivoa.ObsCore",
    ):
        r = session.get(f"{tap_url}/sync", params={"LANG": "ADQL", "QUERY": f"SELECT TOP 3 * FROM {table}"})
        assert r.status_code == 200, r.text[:300]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", VOWarning)
            parse(io.BytesIO(r.content), verify="warn")
        problems = [str(w.message) for w in caught if issubclass(w.category, VOWarning)]
        assert problems == [], (table, problems)


def test_object_ids_come_with_light_curve_services(
    tap: pyvo.dal.TAPService, session: requests.Session, engine: Engine
) -> None:
    """objectId columns carry a DataLink service descriptor (as on the RSP): pyvo finds it, and
    calling it with a row's id gives that object's forced photometry; DiaObject the same."""
    res = tap.run_sync("SELECT TOP 3 objectId, coord_ra FROM dp1.Object ORDER BY objectId")
    services = list(res.iter_adhocservices())
    assert len(services) == 1
    svc = services[0]
    url = next(p.value for p in svc.params if p.name == "accessURL")
    ref = next(p.ref for g in svc.groups if g.name == "inputParams" for p in g.entries)
    field = next(f for f in res.votable.get_first_table().fields if f.ID == ref)
    assert field.name == "objectId"
    oid = int(res.to_table()["objectId"][0])
    lc = session.get(url, params={"ID": oid})
    assert lc.status_code == 200
    got = parse_single_table(io.BytesIO(lc.content)).to_table()
    want = engine.adql(f"SELECT COUNT(*) AS n FROM dp1.ForcedSource WHERE objectId = {oid}").table
    assert len(got) == want.column("n")[0].as_py() > 0
    assert np.all(np.diff(np.asarray(got["expMidptMJD"])) >= 0)
    dia = tap.run_sync("SELECT TOP 1 diaObjectId FROM dp1.DiaObject ORDER BY diaObjectId")
    (dsvc,) = list(dia.iter_adhocservices())
    durl = next(p.value for p in dsvc.params if p.name == "accessURL")
    did = int(dia.to_table()["diaObjectId"][0])
    rows = parse_single_table(io.BytesIO(session.get(durl, params={"ID": did}).content)).to_table()
    assert len(rows) > 0 and set(rows["diaObjectId"]) == {did}
    bad = session.get(url, params={"ID": "1; DROP TABLE x"})
    assert bad.status_code == 400 and "not an integer" in _error_text(bad)
    assert session.get(url.replace("forced", "nonsense"), params={"ID": oid}).status_code == 404


def test_obscore_rows_link_to_their_files(
    tap: pyvo.dal.TAPService, session: requests.Session, tap_server, tap_url: str, tmp_path: Path
) -> None:
    """ivoa.ObsCore results: absolute access_url (DataLink), a links descriptor pyvo follows,
    #this -> the FITS file from the Butler datastore; unknown ids and path tricks refused."""
    from astropy.io import fits

    res = tap.run_sync(
        "SELECT TOP 2 obs_id, obs_publisher_did, access_url, access_format FROM ivoa.ObsCore "
        "WHERE dataproduct_subtype = 'lsst.visit_image' ORDER BY obs_id"
    )
    rows = res.to_table()
    assert len(rows) == 2 and all(str(u).startswith(tap_server.url) for u in rows["access_url"])
    links = next(res.iter_datalinks())
    this = [r for r in links if r.semantics == "#this"]
    assert len(this) == 1 and this[0].content_type == "application/fits"
    data = session.get(this[0].access_url)
    assert data.status_code == 200
    with fits.open(io.BytesIO(data.content)) as hdul:
        assert hdul[1].data is not None and hdul[1].data.ndim == 2
    direct = session.get(str(rows["access_url"][0]))  # the ObsCore URL is the same links service
    assert direct.status_code == 200
    assert list(parse_single_table(io.BytesIO(direct.content)).to_table()["semantics"]) == [
        "#this",
        "#cutout",
    ]
    lint = tmp_path / "links.vot"
    lint.write_bytes(direct.content)
    report = subprocess.run(
        ["stilts", "datalinklint", f"votable={lint}"], capture_output=True, text=True, timeout=120
    ).stdout
    assert "Errors: 0;" in report and "Warnings: 0;" in report, report
    unknown = session.get(f"{tap_server.url}lsstbox/datalink/links", params={"ID": "ivo://nowhere?x"})
    errors = parse_single_table(io.BytesIO(unknown.content)).to_table()["error_message"]
    assert str(errors[0]).startswith("NotFoundFault")
    for trick in ("../manifest.json", "%2e%2e/manifest.json", "LSSTComCamSim/../../manifest.json"):
        assert session.get(f"{tap_server.url}lsstbox/files/{trick}").status_code in (403, 404), trick
    assert requests.get(this[0].access_url, timeout=30, allow_redirects=False).status_code in (302, 401, 403)


def test_a_huge_upload_is_refused_with_a_413(session: requests.Session, tap_url: str) -> None:
    """A request body beyond the upload limit (64 MB) stops being read: 413 and a VOTable error."""
    big = b"x\n" + b"1\n" * (33 * 1024 * 1024)  # 66 MB
    r = session.post(
        f"{tap_url}/sync",
        data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": "t,param:f"},
        files={"f": ("t.csv", big, "text/csv")},
    )
    assert r.status_code == 413
    assert "larger than" in _error_text(r)
