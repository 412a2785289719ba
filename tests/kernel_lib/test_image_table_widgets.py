"""``ImageView`` and ``TableView``'s kernel sides, without a kernel or a browser: the widgets run
over a recording comm (``comm.create_comm``), front-end messages are fed to the comm as ipykernel
would deliver them.

What this proves: ``src`` is normalised from every form it may take (and a path outside the
Jupyter root is refused with the reason); nothing is sent before a view is ready, then the
queue is delivered in order, the sources replayed to later views; a click on a source comes
back as its table row; TableView answers pages as JSON (big integers as strings, NaN as null),
sorts the whole table in the kernel, selects ranges in its sorted order, returns the selected
rows in the table's own type, refuses lazy frames; and ``link`` ties a TableView to a SkyView
layer both ways.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import traitlets
from widget_helpers import from_view, record_comms, sent

from kernel_lib.widgets.base import QueuedWidget, json_value
from kernel_lib.widgets.image import ImageView, image_src
from kernel_lib.widgets.sky import SkyView
from kernel_lib.widgets.table import PAGE_SIZE, TableView


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    record_comms(monkeypatch)
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "img.fits").write_bytes(b"SIMPLE")
    monkeypatch.setenv("LSSTBOX_JUPYTER_ROOT", str(root))
    monkeypatch.chdir(root / "sub")
    return root


BIG = 1_651_000_000_000_000_000  # > 2**53


@pytest.fixture
def objects() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 450
    df = pd.DataFrame(
        {
            "objectId": np.arange(n, dtype="i8") + BIG,
            "coord_ra": 53.16 + rng.uniform(-0.02, 0.02, n),
            "coord_dec": -28.1 + rng.uniform(-0.02, 0.02, n),
            "mag": rng.uniform(18, 25, n),
            "name": [f"s{i:03d}" for i in range(n)],
        }
    )
    df.loc[3, "mag"] = np.nan
    df.attrs["units"] = {"coord_ra": "deg", "coord_dec": "deg", "mag": "mag"}
    return df


# ------------------------------------------------------------------------------ ImageView
def test_src_normalisation(recording: Path):
    ref_id = uuid.uuid4()

    class Ref:  # a DatasetRef's shape
        datasetType = "calexp"
        id = ref_id

    class SiaRecord:
        obs_publisher_did = "ivo://org.lsst/obs?visit_image/1"

    assert image_src("did:ivo://x/y?z") == "did:ivo://x/y?z"
    assert image_src(f"butler:{ref_id}") == f"butler:{ref_id}"
    assert image_src(Ref()) == f"butler:{ref_id}"
    assert image_src(ref_id) == f"butler:{ref_id}"
    assert image_src(SiaRecord()) == "did:ivo://org.lsst/obs?visit_image/1"
    assert image_src({"obs_publisher_did": "ivo://a?b"}) == "did:ivo://a?b"
    assert image_src(pd.Series({"obs_publisher_did": "ivo://a?c", "s_ra": 1.0})) == "did:ivo://a?c"
    # paths: relative to the kernel's directory, given to the server relative to its root
    assert image_src("img.fits") == "file:sub/img.fits"
    assert image_src(recording / "sub" / "img.fits") == "file:sub/img.fits"
    with pytest.raises(ValueError, match="outside the Jupyter root"):
        image_src("/etc/hostname")
    with pytest.raises(FileNotFoundError):
        image_src("missing.fits")
    with pytest.raises(ValueError, match="UUID"):
        image_src("butler:not-a-uuid")
    with pytest.raises(TypeError, match="DatasetRef"):
        image_src(3.5)
    view = ImageView("img.fits")
    assert view.src == "file:sub/img.fits"
    view.src = {"obs_publisher_did": "ivo://a?d"}
    assert view.src == "did:ivo://a?d"
    with pytest.raises(ValueError, match="outside"):
        view.src = "/etc/hostname"


def test_image_traits(recording: Path):
    view = ImageView("did:ivo://x?1", stretch="log", cmap="viridis_r", target=(53.1, -28.1), height=320)
    assert (view.stretch, view.cmap, view.height, view.target) == ("log", "viridis_r", 320, (53.1, -28.1))
    state = view.get_state()
    assert state["src"] == "did:ivo://x?1" and state["target"] == (53.1, -28.1)
    assert ImageView("did:a").stretch == "asinh" and ImageView("did:a").target is None
    with pytest.raises(traitlets.TraitError):
        view.stretch = "cubic"
    with pytest.raises(traitlets.TraitError):
        view.cmap = "jet"
    with pytest.raises(traitlets.TraitError):
        view.target = (10, 95)
    view.target = [361.0, 1.0]  # what the front end sends: a list
    assert view.target == (1.0, 1.0)
    view.target = None
    assert isinstance(view, QueuedWidget)


def test_sources_are_queued_then_clicks_give_rows(recording: Path, objects: pd.DataFrame):
    view = ImageView("did:ivo://x?1")
    df = objects.copy()
    df.loc[1, "coord_ra"] = np.nan  # skipped
    assert view.add_sources(df) == len(df) - 1
    assert sent(view) == [] and view.pending == 1
    assert view.sources == {"rows": len(df) - 1, "skipped": 1, "id_column": "objectId"}
    from_view(view, {"type": "ready", "view": "a"})
    (msg, bufs), *_ = sent(view)
    assert msg["type"] == "set_sources" and msg["n"] == len(df) - 1 and msg["view"] == "a"
    ra = np.frombuffer(bufs[0], "<f8")
    assert np.allclose(ra, df.coord_ra.drop(index=1).to_numpy())
    # a click on index 1 of what the view got: row 2 of the table
    from_view(view, {"type": "clicked", "view": "a", "index": 1, "ra": 53.1, "dec": -28.1, "x": 1, "y": 2})
    c = view.clicked
    assert c["index"] == 2 and c["id"] == BIG + 2 and c["ra"] == 53.1
    assert c["row"]["objectId"] == str(BIG + 2) and c["row"]["name"] == "s002"
    assert sent(view)[-1][0] == {"type": "clicked_label", "view": "a", "text": f"Source {BIG + 2}"}
    from_view(view, {"type": "clicked", "view": "a", "index": 10_000})  # ignored
    assert view.clicked["index"] == 2
    # a later view gets the sources again; a pixel click
    from_view(view, {"type": "ready", "view": "b"})
    assert sent(view)[-1][0]["type"] == "set_sources" and sent(view)[-1][0]["view"] == "b"
    from_view(view, {"type": "pixel", "view": "a", "x": 3.2, "y": 4.0, "ix": 3, "iy": 4, "value": 1.5})
    assert view.clicked == {"pixel": True, "x": 3.2, "y": 4.0, "ix": 3, "iy": 4, "value": 1.5}
    view.clear_sources()
    assert sent(view)[-1][0] == {"type": "clear_sources"} and view.sources == {}
    from_view(view, {"type": "closed", "view": "a"})
    from_view(view, {"type": "closed", "view": "b"})
    assert not view.ready
    from_view(view, {"type": "ready", "view": "c"})  # nothing to replay after clear_sources
    assert [m["view"] for m, _ in sent(view) if m.get("type") == "set_sources"] == ["a", "b"]
    from_view(view, {"type": "error", "view": "c", "message": "no such image"})
    assert view.errors == ["no such image"]


def test_add_sources_errors(recording: Path, objects: pd.DataFrame):
    view = ImageView("did:a")
    with pytest.raises(KeyError, match="ra="):
        view.add_sources(objects, ra="ra")
    big = pd.DataFrame({"coord_ra": np.zeros(100_001), "coord_dec": np.zeros(100_001)})
    with pytest.raises(ValueError, match="100,000"):
        view.add_sources(big)


# ------------------------------------------------------------------------------ TableView
def test_json_values():
    assert json_value(np.int64(BIG)) == str(BIG)
    assert json_value(np.int64(5)) == 5
    assert json_value(np.float32("nan")) is None and json_value(float("inf")) is None
    assert json_value(pd.NA) is None and json_value(b"ab") == "ab"
    assert json_value(np.datetime64("2024-01-02")) == "2024-01-02"


def test_table_pages_sort_and_selection(recording: Path, objects: pd.DataFrame):
    view = TableView(objects, height=300)
    assert sent(view) == []
    from_view(view, {"type": "ready", "view": "v"})
    schema = sent(view)[0][0]
    assert schema["type"] == "schema" and schema["total"] == 450 and schema["view"] == "v"
    assert [(c["name"], c["unit"], c["numeric"]) for c in schema["columns"]] == [
        ("objectId", "", True),
        ("coord_ra", "deg", True),
        ("coord_dec", "deg", True),
        ("mag", "mag", True),
        ("name", "", False),
    ]
    from_view(view, {"type": "page", "view": "v", "page": 0, "size": PAGE_SIZE})
    page = sent(view)[-1][0]
    assert page["type"] == "page" and page["view"] == "v" and len(page["rows"]) == PAGE_SIZE
    assert page["positions"][:3] == [0, 1, 2]
    assert page["rows"][0][0] == str(BIG) and page["rows"][3][3] is None  # big int, NaN
    from_view(view, {"type": "page", "view": "v", "page": 2, "size": PAGE_SIZE})
    assert len(sent(view)[-1][0]["rows"]) == 50

    # sort (as the view sets the trait): the whole table, NaN last
    view.sort = ["mag", False]
    reset = sent(view)[-1][0]
    assert reset == {"type": "reset", "total": 450, "sort": ["mag", False]}
    from_view(view, {"type": "page", "view": "v", "page": 0})
    page = sent(view)[-1][0]
    top = int(objects.mag.idxmax())
    assert page["positions"][0] == top and page["sort"] == ["mag", False]
    from_view(view, {"type": "page", "view": "v", "page": 2})
    assert sent(view)[-1][0]["positions"][-1] == 3  # the NaN
    with pytest.raises(traitlets.TraitError, match="no column"):
        view.sort = ["nope", True]

    # selection: a range in the sorted order, then selected_rows in the table's type
    from_view(view, {"type": "select_range", "view": "v", "from": 2, "to": 0})
    expected = objects.mag.sort_values(ascending=False).index[:3].tolist()
    assert view.selection == sorted(expected)
    rows = view.selected_rows
    assert isinstance(rows, pd.DataFrame) and sorted(rows.index) == sorted(expected)
    from_view(view, {"type": "select_range", "view": "v", "from": 5, "to": 5, "add": True})
    assert len(view.selection) == 4
    view.selection = [7, 3, 3]
    assert view.selection == [3, 7]
    with pytest.raises(traitlets.TraitError):
        view.selection = [450]
    view.sort = []
    assert sent(view)[-1][0]["sort"] == []
    from_view(view, {"type": "page", "view": "v", "page": 0})
    assert sent(view)[-1][0]["positions"][0] == 0


def test_table_types(recording: Path, objects: pd.DataFrame):
    import pyarrow as pa
    from astropy.table import Table

    at = Table.from_pandas(objects)
    at["coord_ra"].unit = "deg"
    view = TableView(at)
    assert view.schema()["columns"][1]["unit"] == "deg"
    view.selection = [4, 1]
    assert isinstance(view.selected_rows, Table)
    assert list(view.selected_rows["objectId"]) == [BIG + 1, BIG + 4]
    assert view.page(0, 5)["rows"][1][0] == str(BIG + 1)

    pt = pa.Table.from_pandas(objects, preserve_index=False)
    view = TableView(pt)
    view.selection = [2]
    assert isinstance(view.selected_rows, pa.Table) and view.selected_rows.num_rows == 1
    view.sort = ["name", False]
    assert view.page(0, 2)["positions"] == [449, 448]
    assert view.page(0, 5)["rows"][0][4] == "s449"

    class Lazy:  # a dask-like frame
        columns = ("a",)

        def compute(self) -> None: ...

    with pytest.raises(TypeError, match="lazy"):
        TableView(Lazy())
    with pytest.raises(TypeError, match="DataFrames"):
        TableView([1, 2, 3])


def test_link_with_a_sky_view(recording: Path, objects: pd.DataFrame):
    df = objects.copy()
    df.loc[0, "coord_dec"] = np.nan  # not drawn: positions and the view's indices differ by one
    sky = SkyView(target=(53.16, -28.1), fov=0.05)
    sky.add_catalog(df, name="Object")
    table = TableView(df)
    with pytest.raises(ValueError, match="same table"):
        TableView(df.iloc[:10]).link(sky, "Object")
    with pytest.raises(KeyError):
        table.link(sky, "nope")
    link = table.link(sky, "Object")
    from_view(sky, {"type": "ready", "view": "s"})
    table.selection = [0, 5, 6]
    msg = sent(sky)[-1][0]
    assert msg == {"type": "select_rows", "layer": "Object", "rows": [4, 5]}  # row 0 was skipped
    # a selection in the sky view selects the table's rows
    from_view(sky, {"type": "selection", "view": "s", "region": None, "indices": {"Object": [0, 9]}})
    assert table.selection == [1, 10]
    n = len(sent(sky))
    link.unlink()
    table.selection = [2]
    assert len(sent(sky)) == n
    from_view(sky, {"type": "selection", "view": "s", "region": None, "indices": {"Object": [3]}})
    assert table.selection == [2]
    assert "unlinked" in repr(link)
    table.link(sky, "Object")
    table.unlink()
    assert table._links == []
