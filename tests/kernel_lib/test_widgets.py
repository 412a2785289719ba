"""``SkyView``'s kernel side, without a kernel or a browser: the widget runs over a recording comm
(the ``comm`` package's documented hook, ``comm.create_comm``), and front-end messages are fed
to the comm exactly as ipykernel would deliver them.

What this proves: nothing is sent before a view says it is ready; then everything queued is
delivered to that view in the order it was posted, binary buffers intact; layers (not one-shot
commands) are replayed to views rendered later, and queued again when no view is left; what
the view reports (selection, click, drawn, errors) lands in the traits, mapped to the ids of
the rows given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import traitlets
from widget_helpers import RecordingComm, from_view, record_comms, sent

from kernel_lib.widgets import sky
from kernel_lib.widgets.sky import SkyView, parse_s_region


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> None:
    record_comms(monkeypatch)


@pytest.fixture
def objects() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 50
    return pd.DataFrame(
        {
            "objectId": np.arange(n, dtype="i8") + 1_651_000_000_000_000_000,  # > 2**53
            "coord_ra": 53.16 + rng.uniform(-0.02, 0.02, n),
            "coord_dec": -28.1 + rng.uniform(-0.02, 0.02, n),
        }
    )


def test_messages_before_ready_are_delivered_in_order_after_it(recording, objects):
    view = SkyView(target=(53.16, -28.1), fov=0.05, survey="color")
    assert isinstance(view.comm, RecordingComm)
    view.add_catalog(objects, name="Object", color="#ff0000")
    view.add_moc("Object")
    view.start_selection("circle")
    view.add_footprints(["POLYGON ICRS 53.15 -28.11 53.17 -28.11 53.17 -28.09 53.15 -28.09"], name="fp")
    assert sent(view) == []  # no view yet: nothing goes out
    assert not view.ready and view.pending == 4

    from_view(view, {"type": "ready", "view": "v1"})
    out = sent(view)
    assert [m["type"] for m, _ in out] == ["add_catalog", "add_moc", "start_selection", "add_footprints"]
    assert all(m["view"] == "v1" for m, _ in out)  # a replay is addressed to the view that asked

    cat, buffers = out[0]
    assert cat["layer"] == "Object" and cat["n"] == len(objects) and cat["coords"] == "f32-offsets"
    # float32 offsets from a reference point: 8 bytes a row, ~0.01 mas here; ids stay here
    dra, ddec = (np.frombuffer(b, dtype="<f4") for b in buffers)
    ra0, dec0 = cat["ref"]
    np.testing.assert_allclose(ra0 + dra.astype("f8"), objects.coord_ra.to_numpy(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(dec0 + ddec.astype("f8"), objects.coord_dec.to_numpy(), rtol=0, atol=1e-8)
    moc = out[1][0]
    assert (moc["source"], moc["ref"], moc["layer"]) == ("id", "Object", "MOC Object")
    assert out[2][0]["mode"] == "circle"
    fp_coords = np.frombuffer(out[3][1][0], "<f8").reshape(-1, 2)
    assert fp_coords.shape == (4, 2) and np.frombuffer(out[3][1][1], "<i4").tolist() == [0, 4]
    assert view.ready and view.pending == 0

    # a catalog spanning the sky is sent as float64 positions
    wide = pd.DataFrame({"coord_ra": [0.5, 120.0, 359.5], "coord_dec": [-80.0, 0.0, 80.0]})
    view.add_catalog(wide, name="wide")
    msg, buffers = sent(view)[-1]
    assert msg["coords"] == "f64" and np.frombuffer(buffers[0], "<f8").tolist() == [0.5, 120.0, 359.5]

    # after ready: sent at once, to every view
    view.add_catalog(objects.head(5), name="few")
    assert sent(view)[-1][0]["type"] == "add_catalog" and "view" not in sent(view)[-1][0]
    assert len(sent(view)) == 6


def test_later_views_get_the_layers_not_the_one_shot_commands(recording, objects):
    view = SkyView(target=(53.16, -28.1))
    view.add_catalog(objects, name="a")
    view.start_selection()
    view.add_catalog(objects, name="b")
    view.add_catalog(objects.head(3), name="a")  # replaces "a": only the new one is delivered
    from_view(view, {"type": "ready", "view": "v1"})
    assert [(m["type"], m.get("layer"), m.get("n")) for m, _ in sent(view)] == [
        ("start_selection", None, None),
        ("add_catalog", "b", 50),
        ("add_catalog", "a", 3),
    ]

    from_view(view, {"type": "ready", "view": "v2"})  # a second display of the same widget
    replay = sent(view)[3:]
    assert [(m["type"], m["layer"], m["view"]) for m, _ in replay] == [
        ("add_catalog", "b", "v2"),
        ("add_catalog", "a", "v2"),
    ]

    view.remove_layer("b")
    assert sent(view)[-1][0] == {"type": "remove_layer", "layer": "b"}
    # every view closed (output cleared): calls queue again; a new view gets all the layers
    from_view(view, {"type": "closed", "view": "v1"})
    from_view(view, {"type": "closed", "view": "v2"})
    n_before = len(sent(view))
    view.add_moc("Source", name="src")
    view.clear_selection()
    assert len(sent(view)) == n_before and view.pending == 3
    from_view(view, {"type": "ready", "view": "v3"})
    assert [(m["type"], m.get("layer")) for m, _ in sent(view)[n_before:]] == [
        ("add_catalog", "a"),
        ("add_moc", "src"),
        ("clear_selection", None),
    ]
    assert [o["name"] for o in view.overlays] == ["a", "src"]


def test_view_reports_land_in_the_traits_as_row_ids(recording, objects):
    view = SkyView(target=(53.16, -28.1))
    view.add_catalog(objects, name="Object")
    view.add_footprints(
        pd.DataFrame(
            {
                "obs_id": ["visit-1", "bad", "visit-2"],
                "s_region": [
                    "POLYGON ICRS 53.15 -28.11 53.17 -28.11 53.17 -28.09",
                    "POINT ICRS 53.16 -28.1",
                    "CIRCLE ICRS 53.16 -28.1 0.01",
                ],
            }
        ),
        name="visits",
    )
    from_view(view, {"type": "ready", "view": "v1"})
    from_view(view, {"type": "drawn", "view": "v1", "layer": "Object", "n": 50, "ms": 12.5})
    by_name = {o["name"]: o for o in view.overlays}
    assert by_name["Object"]["drawn"] and by_name["Object"]["draw_ms"] == 12.5
    assert by_name["Object"]["latency_s"] > 0 and not by_name["visits"]["drawn"]
    assert (by_name["visits"]["rows"], by_name["visits"]["skipped"]) == (2, 1)

    region = {"type": "circle", "ra": 53.16, "dec": -28.1, "radius": 0.01}
    from_view(
        view,
        {"type": "selection", "view": "v1", "region": region, "indices": {"Object": [0, 7], "visits": [1]}},
    )
    ids = objects.objectId.tolist()
    assert view.selection == {"region": region, "ids": {"Object": [ids[0], ids[7]], "visits": ["visit-2"]}}
    assert isinstance(view.selection["ids"]["Object"][0], int)
    picked = view.selected_rows("Object")
    assert picked.objectId.tolist() == [ids[0], ids[7]]

    from_view(
        view, {"type": "clicked", "view": "v1", "layer": "Object", "index": 3, "ra": 53.1, "dec": -28.0}
    )
    assert view.clicked == {"layer": "Object", "id": ids[3], "ra": 53.1, "dec": -28.0}
    # the view that was clicked gets the id to show (exact: > 2**53 does not survive JS numbers)
    assert sent(view)[-1][0] == {"type": "clicked_label", "view": "v1", "text": f"Object {ids[3]}"}
    from_view(view, {"type": "error", "view": "v1", "message": "MOC x: could not load"})
    assert view.errors == ["MOC x: could not load"]


def test_inputs_are_checked(recording, objects, monkeypatch, tiny_release):
    monkeypatch.setenv("LSSTBOX_RELEASE", str(tiny_release))
    view = SkyView()
    assert view.target == pytest.approx((53.16, -28.1))  # the release's field by default
    with pytest.raises(traitlets.TraitError, match="no HiPS 'w'"):
        view.survey = "w"
    view.survey = "g"
    with pytest.raises(traitlets.TraitError):
        view.target = (10, 95)
    view.target = (-10, 5)
    assert view.target == (350.0, 5.0)
    with pytest.raises(traitlets.TraitError):
        view.fov = 0
    with pytest.raises(KeyError, match="no MOC 'Nope'"):
        view.add_moc("Nope")
    with pytest.raises(KeyError, match="ra=/dec="):
        view.add_catalog(objects, ra="ra")
    view.max_points = 10
    with pytest.raises(ValueError, match="more than SkyView draws"):
        view.add_catalog(objects)
    # no id column: row numbers; non-finite positions are skipped (and ids stay aligned)
    view.max_points = 100
    df = objects.drop(columns="objectId").reset_index(drop=True)
    df.loc[2, "coord_ra"] = np.nan
    name = view.add_catalog(df)
    assert name == "catalog 1" and view.overlays[-1]["skipped"] == 1
    from_view(view, {"type": "ready", "view": "v"})
    from_view(view, {"type": "selection", "view": "v", "region": None, "indices": {name: [1, 2]}})
    assert view.selection["ids"][name] == [1, 3]


def test_a_missing_bundle_shows_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setattr(sky, "STATIC", tmp_path)  # a source checkout where js/widgets was never built
    assert sky._asset("sky.js", sky.MISSING_BUNDLE_ESM) == sky.MISSING_BUNDLE_ESM
    assert "scripts/setup.sh" in sky.MISSING_BUNDLE_ESM


def test_s_region_parsing():
    assert parse_s_region("POLYGON ICRS 1 2 3 4 5 6") == [(1, 2), (3, 4), (5, 6)]
    assert parse_s_region("Polygon 359.5 0 0.5 0 0.5 1") == [(359.5, 0), (0.5, 0), (0.5, 1)]
    circle = parse_s_region("CIRCLE ICRS 10 -30 0.5")
    assert circle is not None and len(circle) == 48
    assert all(
        abs(np.hypot((ra - 10) * np.cos(np.radians(-30)), dec + 30) - 0.5) < 0.01 for ra, dec in circle
    )
    assert parse_s_region("BOX ICRS 10 0 2 2") == [(9.0, -1.0), (11.0, -1.0), (11.0, 1.0), (9.0, 1.0)]
    assert parse_s_region("POINT ICRS 1 2") is None
    assert parse_s_region("POLYGON ICRS 1 2 3") is None
