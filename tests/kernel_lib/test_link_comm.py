"""``kernel_lib.link``, the kernel side of the lab's link between its panels and a notebook's
variables, in a real IPython kernel (started with jupyter_client, as the lab starts one), driven
over a real comm the way the lab's ``KernelLink`` drives it: the registration code run silently,
a ``comm_open`` with target ``lsstbox.link``, then ``comm_msg`` requests on the shell channel
and the kernel's messages read from iopub.

What this proves: the variables listing, drawing (the positions decoded back from the binary
buffers), every refusal's message, the watch after each cell (a changed variable is redrawn, an
unchanged one sends nothing, a deleted one is removed), a selection assigned as a table of the
source's type, one row's values (a 64-bit id exact), and ``show_on_sky`` queued until a link opens.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from kernel_lib import link

REPO = Path(__file__).resolve().parents[2]
REGISTER = "import kernel_lib.link as _lsstbox_link\n_lsstbox_link.register()"
TIMEOUT = 30.0

pytestmark = pytest.mark.timeout(120)


class Kernel:
    """A client of one kernel that sends shell messages and collects their iopub messages."""

    def __init__(self, km: KernelManager) -> None:
        self.km = km
        self.kc = km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def _send(self, msg_type: str, content: dict[str, Any]) -> list[dict[str, Any]]:
        """Send a shell message and return the iopub messages it caused (until idle)."""
        msg = self.kc.session.msg(msg_type, content)
        self.kc.shell_channel.send(msg)
        out = []
        deadline = time.monotonic() + TIMEOUT
        while True:
            m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if m["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
                continue
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                return out
            out.append(m)

    def execute(self, code: str, silent: bool = False) -> tuple[str, list[dict[str, Any]]]:
        """Run a cell: its stdout (errors raise) and the link's messages it caused."""
        msgs = self._send("execute_request", {"code": code, "silent": silent, "store_history": not silent})
        errors = [m["content"] for m in msgs if m["msg_type"] == "error"]
        assert not errors, "\n".join(errors[0]["traceback"])
        stdout = "".join(
            m["content"]["text"]
            for m in msgs
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )
        return stdout, comm_msgs(msgs)

    def open(self) -> tuple[str, list[tuple[dict[str, Any], list[bytes]]]]:
        """Open a link (as the lab does): its comm id and what the kernel sent on opening."""
        comm_id = uuid.uuid4().hex
        msgs = self._send(
            "comm_open", {"comm_id": comm_id, "target_name": link.TARGET, "data": {"version": 1}}
        )
        return comm_id, comm_msgs(msgs)

    def close(self, comm_id: str) -> None:
        self._send("comm_close", {"comm_id": comm_id, "data": {}})

    def send(self, comm_id: str, data: dict[str, Any]) -> list[tuple[dict[str, Any], list[bytes]]]:
        """Send one message on a link; every message the kernel sent back, in order."""
        return comm_msgs(self._send("comm_msg", {"comm_id": comm_id, "data": data}))


def comm_msgs(msgs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[bytes]]]:
    return [
        (m["content"]["data"], [bytes(b) for b in m.get("buffers") or []])
        for m in msgs
        if m["msg_type"] == "comm_msg"
    ]


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    # a kernel spec of this interpreter (the venv's), whatever kernels the machine has
    specs = tmp_path_factory.mktemp("kernels")
    spec = specs / "lsstbox-link-test"
    spec.mkdir()
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "link test",
                "language": "python",
            }
        )
    )
    km = KernelManager(
        kernel_name="lsstbox-link-test", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)])
    )
    km.start_kernel(cwd=str(tmp_path_factory.mktemp("cwd")), env={**_env(), "PYTHONPATH": str(REPO)})
    k = Kernel(km)
    try:
        k.execute(REGISTER, silent=True)
        k.execute(
            "import json\nimport numpy as np, pandas as pd\nfrom astropy.table import Table\n"
            "import pyarrow as pa\n"
            "from jupyterlab_lsp import show_on_sky"
        )
        yield k
    finally:
        k.kc.stop_channels()
        km.shutdown_kernel(now=True)


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("LSSTBOX_")}


@pytest.fixture
def comm(kernel: Kernel) -> Iterator[str]:
    comm_id, sent = kernel.open()
    assert sent == []  # nothing queued
    yield comm_id
    kernel.send(comm_id, {"type": "forget_panel", "panel": "p1"})
    kernel.close(comm_id)


def request(kernel: Kernel, comm_id: str, data: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """A request's reply (the message with its ``req`` that is not unsolicited) and the rest."""
    data = {**data, "req": 7}
    got = kernel.send(comm_id, data)
    replies = [m for m, _ in got if m.get("req") == 7]
    assert len(replies) == 1, got
    return replies[0], [g for g in got if g[0] is not replies[0]]


def decode(msg: dict[str, Any], buffers: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """The positions of an ``add_catalog`` message, as the front end decodes them."""
    if msg["coords"] == "f32-offsets":
        ra0, dec0 = msg["ref"]
        dra, ddec = (np.frombuffer(b, "<f4").astype("f8") for b in buffers)
        return (ra0 + dra) % 360.0, dec0 + ddec
    return np.frombuffer(buffers[0], "<f8"), np.frombuffer(buffers[1], "<f8")


OBJECTS = """
rng = np.random.default_rng(1)
{name} = pd.DataFrame({{
    "objectId": np.arange(1000, 1000 + {n}, dtype="i8"),
    "coord_ra": 53.1 + rng.uniform(-0.05, 0.05, {n}),
    "coord_dec": -28.1 + rng.uniform(-0.05, 0.05, {n}),
    "r_psfMag": rng.uniform(18, 24, {n}),
}})
"""


def test_variables_lists_tables_with_their_position_columns(kernel: Kernel, comm: str) -> None:
    kernel.execute(
        OBJECTS.format(name="v_df", n=20)
        + "v_tab = Table({'RA': [10.0, 10.1], 'DEC': [-5.0, -5.1], 'mag': [20.0, 21.0]})\n"
        "v_arrow = pa.table({'ra_deg': [1.0], 'x': [2]})\n"
        "v_rec = np.zeros(3, dtype=[('ra', 'f8'), ('dec', 'f8')])\n"
        "v_big = pd.DataFrame({'ra': np.zeros(100_001), 'dec': np.zeros(100_001)})\n"
        "from kernel_lib.catalog import LazyFrame\n"
        "v_lazy = LazyFrame(len, [], pd.DataFrame({'coord_ra': [], 'coord_dec': []}))\n"
        "v_int = 5\nv_list = [1, 2]\n_hidden = v_df\n"
    )
    reply, rest = request(kernel, comm, {"type": "variables"})
    assert reply["type"] == "variables" and rest == []
    found = {v["name"]: v for v in reply["variables"]}
    assert found["v_df"] == {
        "name": "v_df",
        "kind": "pandas",
        "rows": 20,
        "columns": 4,
        "ra": "coord_ra",
        "dec": "coord_dec",
        "drawable": True,
        "reason": None,
    }
    assert (found["v_tab"]["kind"], found["v_tab"]["ra"], found["v_tab"]["dec"]) == ("astropy", "RA", "DEC")
    assert found["v_tab"]["drawable"] is True
    assert (found["v_arrow"]["ra"], found["v_arrow"]["dec"], found["v_arrow"]["drawable"]) == (
        "ra_deg",
        None,
        False,
    )
    assert found["v_arrow"]["reason"] == "no Dec column"
    assert found["v_rec"]["kind"] == "numpy" and found["v_rec"]["drawable"] is True
    assert found["v_big"]["drawable"] is False and "100,001 rows" in found["v_big"]["reason"]
    assert found["v_lazy"]["kind"] == "lazy" and found["v_lazy"]["rows"] is None
    assert found["v_lazy"]["reason"] == "lazy: compute or select a cone first"
    assert not {"v_int", "v_list", "_hidden", "np", "pd", "Table", "show_on_sky", "In", "Out"} & set(found)


def test_draw_sends_the_positions_and_refuses_what_it_cannot_draw(kernel: Kernel, comm: str) -> None:
    kernel.execute(OBJECTS.format(name="d_df", n=50) + "d_df.loc[3, 'coord_ra'] = np.nan\nd_int = 3\n")
    reply, rest = request(kernel, comm, {"type": "draw", "panel": "p1", "name": "d_df", "color": "#ff0000"})
    assert reply == {
        "type": "drawn_var",
        "req": 7,
        "panel": "p1",
        "layer": "d_df",
        "name": "d_df",
        "rows": 49,
        "skipped": 1,
    }
    [(msg, buffers)] = rest
    assert msg["type"] == "add_catalog" and msg["coords"] == "f32-offsets"
    assert {k: msg[k] for k in ("panel", "layer", "n", "color", "size", "shape", "id_column", "source")} == {
        "panel": "p1",
        "layer": "d_df",
        "n": 49,
        "color": "#ff0000",
        "size": 8,
        "shape": "circle",
        "id_column": "objectId",
        "source": {"kind": "variable", "name": "d_df"},
    }
    ra, dec = decode(msg, buffers)
    out, _ = kernel.execute("print(json.dumps(d_df.dropna()[['coord_ra', 'coord_dec']].values.tolist()))")
    expected = np.array(json.loads(out.replace("NaN", "null")))
    assert np.abs(ra - expected[:, 0]).max() < 1e-6 and np.abs(dec - expected[:, 1]).max() < 1e-6

    reply, _ = request(kernel, comm, {"type": "draw", "panel": "p1", "name": "d_int"})
    assert reply["type"] == "error" and reply["message"] == (
        "'d_int' is a int, not a table: draw a pandas DataFrame, an astropy Table or a pyarrow Table "
        "with RA/Dec columns"
    )
    reply, _ = request(kernel, comm, {"type": "draw", "panel": "p1", "name": "nowhere"})
    assert reply == {"type": "error", "req": 7, "message": "no variable 'nowhere' in the kernel"}
    reply, _ = request(
        kernel, comm, {"type": "draw", "panel": "p1", "name": "d_df", "ra": "r_psfMag", "dec": "x"}
    )
    assert reply["type"] == "error" and "no column 'x'" in reply["message"] and "objectId" in reply["message"]
    kernel.execute("d_nopos = pd.DataFrame({'a': [1], 'b': [2]})")
    reply, _ = request(kernel, comm, {"type": "draw", "panel": "p1", "name": "d_nopos"})
    assert reply["type"] == "error" and "no RA/Dec columns" in reply["message"] and "a, b" in reply["message"]
    reply, _ = request(kernel, comm, {"type": "bogus"})
    assert reply["type"] == "error" and "\n" not in reply["message"]


def test_a_drawn_variable_is_watched_after_each_cell(kernel: Kernel, comm: str) -> None:
    kernel.execute(OBJECTS.format(name="w_df", n=30))
    request(kernel, comm, {"type": "draw", "panel": "p1", "name": "w_df", "layer": "mine"})

    _, sent = kernel.execute("w_df.head(); x_w = 1")  # nothing changes
    assert sent == []
    _, sent = kernel.execute("w_df = w_df.copy()")  # a new object, the same positions
    assert sent == []

    _, sent = kernel.execute("w_df = w_df.iloc[:10]")
    assert [m["type"] for m, _ in sent] == ["add_catalog", "notice"]
    (added, buffers), (notice, _) = sent
    assert (added["panel"], added["layer"], added["n"]) == ("p1", "mine", 10)
    assert notice == {
        "type": "notice",
        "panel": "p1",
        "layer": "mine",
        "message": "'w_df' changed: 10 rows redrawn",
    }
    ra, _dec = decode(added, buffers)
    assert len(ra) == 10

    _, sent = kernel.execute("w_df.loc[w_df.index[0], 'coord_dec'] = -28.0")  # in place
    assert [m["type"] for m, _ in sent] == ["add_catalog", "notice"]
    assert abs(decode(*sent[0])[1][0] - -28.0) < 1e-6

    _, sent = kernel.execute("del w_df")
    assert [m for m, _ in sent] == [
        {"type": "remove_layer", "panel": "p1", "layer": "mine"},
        {
            "type": "notice",
            "panel": "p1",
            "layer": "mine",
            "message": "'w_df' no longer exists in the kernel: layer removed",
        },
    ]
    _, sent = kernel.execute("w_df = 4")  # no longer watched
    assert sent == []

    kernel.execute(OBJECTS.format(name="w_df2", n=5))
    request(kernel, comm, {"type": "draw", "panel": "p1", "name": "w_df2"})
    _, sent = kernel.execute("w_df2 = 'text'")
    assert [m["type"] for m, _ in sent] == ["remove_layer", "notice"]
    assert sent[1][0]["message"] == "'w_df2' can no longer be drawn (now a str, not a table): layer removed"

    kernel.execute(OBJECTS.format(name="w_df3", n=5))
    request(kernel, comm, {"type": "draw", "panel": "p1", "name": "w_df3"})
    kernel.send(comm, {"type": "undraw", "panel": "p1", "layer": "w_df3"})
    _, sent = kernel.execute("del w_df3")
    assert sent == []


def test_a_selection_is_assigned_in_the_source_type(kernel: Kernel, comm: str) -> None:
    kernel.execute(
        OBJECTS.format(name="s_df", n=40)
        + "s_df.loc[0, 'coord_ra'] = np.nan\n"  # not sent: row numbers sent differ from positions
        "s_tab = Table({'ra': [10.0, 10.1, 10.2], 'dec': [-5.0, -5.1, -5.2], 'id': [7, 8, 9]})\n"
    )
    request(kernel, comm, {"type": "draw", "panel": "p1", "name": "s_df"})
    region = {"type": "circle", "ra": 53.1, "dec": -28.1, "radius": 0.01}
    reply, _ = request(
        kernel,
        comm,
        {"type": "selection", "panel": "p1", "region": region, "indices": {"s_df": [0, 2, 5], "other": [1]}},
    )
    assert reply == {
        "type": "assigned",
        "req": 7,
        "name": "sky_selection",
        "rows": 3,
        "layers": {"s_df": 3},
        "ignored": ["other"],
        "also": [],
    }
    out, _ = kernel.execute(
        "print(type(sky_selection).__name__, sky_selection.objectId.tolist(), sky_selection.attrs['region'])"
    )
    assert out.strip() == f"DataFrame [1001, 1003, 1006] {region}"

    request(kernel, comm, {"type": "draw", "panel": "p1", "name": "s_tab"})
    reply, _ = request(
        kernel,
        comm,
        {"type": "selection", "panel": "p1", "indices": {"s_tab": [2], "s_df": [1]}, "target": "picked"},
    )
    assert reply.get("layers") == {"s_tab": 1, "s_df": 1} and reply["name"] == "picked", reply
    out, _ = kernel.execute(
        "print(sorted(picked), type(picked['s_tab']).__name__, picked['s_tab']['id'].tolist())"
    )
    assert out.strip() == "['s_df', 's_tab'] Table [9]"

    for bad in ("1x", "class", "a-b"):
        reply, _ = request(
            kernel, comm, {"type": "selection", "panel": "p1", "indices": {"s_df": [1]}, "target": bad}
        )
        assert reply["type"] == "error" and "not a valid Python variable name" in reply["message"]
    reply, _ = request(kernel, comm, {"type": "selection", "panel": "p1", "indices": {"s_df": [99]}})
    assert reply["type"] == "error" and "no row 99" in reply["message"]
    reply, _ = request(kernel, comm, {"type": "selection", "panel": "p1", "indices": {"query 1": [0]}})
    assert reply["type"] == "error" and "query 1" in reply["message"]


def test_row_details_are_json_safe(kernel: Kernel, comm: str) -> None:
    kernel.execute(
        "r_df = pd.DataFrame({'objectId': np.array([2**62 + 1, 5], dtype='i8'), 'ra': [1.0, 2.0], "
        "'dec': [3.0, 4.0], 'flux': [np.nan, 1.5], 'band': [b'r', b'g'], 'ok': [True, False], "
        "'n': np.array([3, 4], dtype='i2')})\n" + "".join(f"r_df['c{i}'] = {i}\n" for i in range(70))
    )
    request(kernel, comm, {"type": "draw", "panel": "p1", "name": "r_df"})
    reply, _ = request(kernel, comm, {"type": "row", "panel": "p1", "layer": "r_df", "index": 0})
    assert reply["type"] == "row" and (reply["layer"], reply["index"]) == ("r_df", 0)
    assert reply["id"] == str(2**62 + 1)
    row = reply["row"]
    assert len(row) == link.MAX_ROW_COLUMNS
    assert {k: row[k] for k in ("objectId", "ra", "dec", "flux", "band", "ok", "n", "c0")} == {
        "objectId": str(2**62 + 1),
        "ra": 1.0,
        "dec": 3.0,
        "flux": None,
        "band": "r",
        "ok": True,
        "n": 3,
        "c0": 0,
    }
    reply, _ = request(kernel, comm, {"type": "row", "panel": "p1", "layer": "r_df", "index": 1})
    assert reply["id"] == 5 and reply["row"]["flux"] == 1.5
    reply, _ = request(kernel, comm, {"type": "row", "panel": "p1", "layer": "r_df", "index": 2})
    assert reply["type"] == "error" and "no row 2" in reply["message"]
    reply, _ = request(kernel, comm, {"type": "row", "panel": "p1", "layer": "nope", "index": 0})
    assert reply["type"] == "error" and "'nope'" in reply["message"]


def test_show_on_sky_before_a_link_is_queued_then_delivered(kernel: Kernel) -> None:
    out, sent = kernel.execute(OBJECTS.format(name="q_df", n=12) + "print(show_on_sky(q_df))")
    assert "queued" in out and sent == []
    out, _ = kernel.execute("print(show_on_sky(q_df.iloc[:5], name='five'))")
    assert "queued" in out
    comm_id, delivered = kernel.open()
    try:
        assert [(m["type"], m["panel"], m["layer"], m["n"]) for m, _ in delivered] == [
            ("add_catalog", None, "q_df", 12),
            ("add_catalog", None, "five", 5),
        ]
        assert len(decode(*delivered[0])[0]) == 12
        out, sent = kernel.execute("print(show_on_sky(q_df, color='#123456'))")
        assert "sent" in out and [(m["type"], m["color"]) for m, _ in sent] == [("add_catalog", "#123456")]
        # a layer of every panel is watched too, and its rows can be selected from any panel
        reply, _ = request(kernel, comm_id, {"type": "selection", "panel": "px", "indices": {"q_df": [1]}})
        assert reply["rows"] == 1
        _, sent = kernel.execute("del q_df")
        assert [(m["type"], m["panel"]) for m, _ in sent] == [("remove_layer", None), ("notice", None)]
        with pytest.raises(AssertionError, match="pass name="):
            kernel.execute("show_on_sky(pd.DataFrame({'ra': [1.0], 'dec': [2.0]}))")
    finally:
        kernel.send(comm_id, {"type": "undraw", "panel": None, "layer": "five"})
        kernel.close(comm_id)


def test_the_fingerprint_of_100k_rows_is_cheap() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"coord_ra": rng.uniform(0, 1, 100_000), "coord_dec": rng.uniform(0, 1, 100_000)})
    best = min(
        _timed(lambda: link._fingerprint(*link._coords(df, "coord_ra", "coord_dec"))) for _ in range(5)
    )
    assert best < 0.005, f"{best * 1e3:.2f} ms"


def _timed(f: Any) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


JOB_XML = """<?xml version="1.0" encoding="UTF-8"?>
<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink"
         version="1.1">
  <uws:jobId>j1</uws:jobId>
  <uws:phase>COMPLETED</uws:phase>
  <uws:results><uws:result id="result" xlink:href="{base}/async/j1/results/result"/></uws:results>
</uws:job>"""

VOTABLE = """<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results"><INFO name="QUERY_STATUS" value="OK"/><TABLE>
<FIELD name="objectId" datatype="long"/><FIELD name="coord_ra" datatype="double"/>
<FIELD name="coord_dec" datatype="double"/>
<DATA><TABLEDATA>
<TR><TD>11</TD><TD>53.1</TD><TD>-28.1</TD></TR>
<TR><TD>12</TD><TD>53.2</TD><TD>-28.2</TD></TR>
<TR><TD>13</TD><TD>53.3</TD><TD>-28.3</TD></TR>
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"""


@pytest.fixture
def tap_job() -> Iterator[tuple[str, list[str]]]:
    """A TAP service with one completed async job (the UWS job document and its VOTable, as
    the box serves them): its URL, and the Authorization header of each request it got."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            base = f"http://127.0.0.1:{self.server.server_address[1]}/lsstbox/tap"
            path = self.path.split("?")[0]
            if path == "/lsstbox/tap/async/j1":
                body, kind = JOB_XML.format(base=base), "text/xml"
            elif path == "/lsstbox/tap/async/j1/results/result":
                body, kind = VOTABLE, "application/x-votable+xml"
            else:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/lsstbox/tap", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_selection_of_a_query_layer_fetches_the_job_result(
    kernel: Kernel, comm: str, tap_job: tuple[str, list[str]]
) -> None:
    tap, seen = tap_job
    kernel.execute(f"import os\nos.environ['LSSTBOX_TAP_URL'] = {tap!r}\nos.environ['LSSTBOX_TOKEN'] = 'tok'")
    try:
        reply, _ = request(
            kernel,
            comm,
            {
                "type": "selection",
                "panel": "p1",
                "indices": {"query 1": [0, 2]},
                "jobs": {"query 1": f"{tap}/async/j1"},
                "target": "from_job",
            },
        )
        assert reply["type"] == "assigned" and reply["layers"] == {"query 1": 2}, reply
        out, _ = kernel.execute("print(type(from_job).__name__, from_job['objectId'].tolist())")
        assert out.strip() == "Table [11, 13]"
        assert seen and set(seen) == {"token tok"}
        reply, _ = request(
            kernel,
            comm,
            {"type": "selection", "panel": "p1", "indices": {"q": [0]}, "jobs": {"q": f"{tap}/async/nope"}},
        )
        assert reply["type"] == "error" and "could not fetch the result" in reply["message"]
    finally:
        kernel.execute("del os.environ['LSSTBOX_TAP_URL'], os.environ['LSSTBOX_TOKEN']")


def test_a_linked_plot_and_a_panel_share_their_selections(kernel: Kernel, comm: str) -> None:
    """plots.link_selection: the plot's selection is highlighted in the panel layer drawn from
    the same table (as the layer's row numbers), and a region selected in the panel becomes the
    plot's selection (variable + highlight)."""
    kernel.execute(
        OBJECTS.format(name="b_df", n=60)
        + "b_df['g_psfFlux'] = 10 ** (-0.4 * (b_df.r_psfMag + 0.5 - 31.4))\n"
        "b_df['r_psfFlux'] = 10 ** (-0.4 * (b_df.r_psfMag - 31.4))\n"
        "b_df.loc[2, 'coord_dec'] = np.nan\n"  # not drawn: layer row numbers differ from positions
        "b_other = b_df.copy()\n"  # an equal table, not the same object
        "from jupyterlab_lsp import plots\n"
        "b_points = plots.cmd(b_df)\n"
        "b_linked = plots.link_selection(b_points, b_df)\n"
    )
    request(kernel, comm, {"type": "draw", "panel": "p1", "name": "b_df"})
    request(kernel, comm, {"type": "draw", "panel": "p1", "name": "b_other"})
    # a box selection in the plot (what bokeh's Selection1D stream receives: plot row numbers)
    _, sent = kernel.execute(
        "labels = b_points.data.index[[1, 3, 4, 10]]\n"
        "b_linked.stream.event(index=[1, 3, 4, 10])\n"
        "print(sorted(b_df.index.get_indexer(labels)))"
    )
    selects = [m for m, _ in sent if m["type"] == "select_rows"]
    assert len(selects) == 1, sent  # only the layer drawn from b_df itself, not b_other
    msg = selects[0]
    assert msg["panel"] == "p1" and msg["layer"] == "b_df"
    out, _ = kernel.execute(
        "rows = b_df.index.get_indexer(b_points.data.index[[1, 3, 4, 10]])\n"
        "drawn = np.flatnonzero(np.isfinite(b_df.coord_dec.to_numpy()))\n"
        "print(json.dumps(sorted(int(i) for i in np.flatnonzero(np.isin(drawn, rows)))),"
        " json.dumps(sorted(int(i) for i in plot_selection.index)), sep='|')"
    )
    layer_rows, selected = (json.loads(x) for x in out.split("|"))
    assert msg["rows"] == layer_rows and len(layer_rows) == len(selected) - (2 in selected)
    assert "plot_selection ← 4 rows selected in the plot" == msg["message"]

    # a region selected in the panel: sky_selection, plot_selection and the plot's highlight
    reply, sent = request(kernel, comm, {"type": "selection", "panel": "p1", "indices": {"b_df": [0, 5, 6]}})
    assert reply["rows"] == 3 and not [m for m, _ in sent if m["type"] == "select_rows"]  # no echo
    assert reply["also"] == ["plot_selection"]  # the panel says so
    out, _ = kernel.execute(
        "print(sky_selection.objectId.tolist() == plot_selection.objectId.tolist(),"
        " plot_selection.objectId.tolist(), b_linked.highlighted.tolist(), sep='|')"
    )
    same, ids, highlighted = out.strip().split("|")
    assert same == "True"
    # layer rows 0, 5, 6 are table rows 0, 6, 7 (row 2 was not drawn)
    assert json.loads(ids) == [1000, 1006, 1007] and json.loads(highlighted) == [0, 6, 7]
    # a selection in the other table's layer is not the plot's
    request(kernel, comm, {"type": "selection", "panel": "p1", "indices": {"b_other": [1]}})
    out, _ = kernel.execute("print(plot_selection.objectId.tolist())")
    assert out.strip() == "[1000, 1006, 1007]"
    # unlinked: neither way any more
    kernel.execute("b_linked.unlink()")
    request(kernel, comm, {"type": "selection", "panel": "p1", "indices": {"b_df": [9]}})
    _, sent = kernel.execute("b_linked.stream.event(index=[2])")
    out, _ = kernel.execute("print(plot_selection.objectId.tolist())")
    assert out.strip() == "[1000, 1006, 1007]" and not [m for m, _ in sent if m["type"] == "select_rows"]
