"""The release builder's contract: deterministic, atomic, and clear about bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from kernel_lib.release.builder import STAGING_PREFIX, BuildError, build_release
from kernel_lib.release.manifest import Release, ReleaseError

LSSTBOX = [sys.executable, "-m", "jupyterlab_lsp.cli"]


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*LSSTBOX, *args], capture_output=True, text=True, timeout=300, **kw)


def test_catalogs_are_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = build_release("tiny", tmp_path / "a", seed=7, progress=False, images=False)
    b = build_release("tiny", tmp_path / "b", seed=7, progress=False, images=False)
    c = build_release("tiny", tmp_path / "c", seed=8, progress=False, images=False)
    ra, rb, rc = (Release.open(p) for p in (a, b, c))
    for name in ("Object", "ForcedSource", "DiaSource"):
        fa = pd.read_parquet(ra.catalog_path(name) / "dataset")
        fb = pd.read_parquet(rb.catalog_path(name) / "dataset")
        pd.testing.assert_frame_equal(fa, fb)
    assert ra.catalogs["Object"]["rows"] != rc.catalogs["Object"]["rows"] or not pd.read_parquet(
        ra.catalog_path("Object") / "dataset"
    ).equals(pd.read_parquet(rc.catalog_path("Object") / "dataset"))


def test_unknown_profile_is_one_clear_line(tmp_path: Path) -> None:
    r = _cli("release", "build", "--profile", "huge", "--out", str(tmp_path / "x"))
    assert r.returncode == 2
    assert r.stderr.strip() == "lsstbox: error: unknown profile 'huge'; choose one of tiny, demo, large"
    assert not (tmp_path / "x").exists()


def test_refuses_a_non_empty_directory_and_leaves_it_alone(tmp_path: Path) -> None:
    out = tmp_path / "full"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = _cli("release", "build", "--profile", "tiny", "--out", str(out))
    assert r.returncode == 2
    assert "not empty" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


def test_refuses_an_unwritable_place(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"not writable|does not exist"):
        build_release("tiny", Path("/proc/lsstbox-release"), progress=False)
    target = tmp_path / "missing-parent" / "release"
    with pytest.raises(BuildError, match="does not exist"):
        build_release("tiny", target, progress=False)


def test_builds_into_an_existing_empty_directory(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    build_release("tiny", out, progress=False, images=False)
    assert Release.open(out).catalogs["Object"]["rows"] > 0


@pytest.mark.parametrize("phase", ["catalogs", "images"])
def test_interrupted_build_leaves_nothing_behind(tmp_path: Path, phase: str) -> None:
    """Ctrl-C (SIGINT to the whole process group, rendering workers included) cleans up."""
    out = tmp_path / "rel"
    proc = subprocess.Popen(
        [*LSSTBOX, "release", "build", "--profile", "tiny", "--out", str(out), "--no-progress"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    pattern = f"{STAGING_PREFIX}*" if phase == "catalogs" else f"{STAGING_PREFIX}*/butler/**/*.fits"
    deadline = time.time() + 180  # a loaded 2-core machine (CI) can take long to import and start
    while time.time() < deadline and not list(tmp_path.glob(pattern)) and proc.poll() is None:
        time.sleep(0.02)
    if not list(tmp_path.glob(pattern)):
        proc.kill()
        _, err = proc.communicate(timeout=60)
        pytest.fail(f"the build never reached its {phase} phase (exit {proc.returncode}):\n{err[-3000:]}")
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_killed_build_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    out = tmp_path / "rel"
    proc = subprocess.Popen(
        [*LSSTBOX, "release", "build", "--profile", "tiny", "--out", str(out), "--no-progress"],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list(tmp_path.glob(f"{STAGING_PREFIX}*")):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stale = list(tmp_path.glob(f"{STAGING_PREFIX}*"))
    assert stale and not out.exists()
    with pytest.raises(ReleaseError):  # a staging folder is never mistaken for a release
        Release.open(stale[0])
    build_release("tiny", out, progress=False, images=False)
    assert not list(tmp_path.glob(f"{STAGING_PREFIX}*"))


def test_manifest_pointing_at_missing_files(tmp_path: Path, tiny_release: Path) -> None:
    manifest = json.loads((tiny_release / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        ReleaseError, match=r"^manifest points at a missing file: hats/Object \(catalog Object\)$"
    ):
        Release.open(tmp_path)
    r = _cli("release", "check", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "lsstbox: error: manifest points at a missing file: hats/Object (catalog Object)"
    ]


def test_manifest_paths_cannot_escape_the_release(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps({"format": "lsstbox-release", "name": "x", "catalogs": {"Object": {"path": "../../etc"}}})
    )
    with pytest.raises(ReleaseError, match="escapes the release folder"):
        Release.open(tmp_path)


@pytest.mark.parametrize("text", ["", "{not json", "[]", '{"format": "something-else"}'])
def test_bad_manifests_are_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ReleaseError):
        Release.open(tmp_path)


def test_an_external_hats_catalog_described_by_hand(tmp_path: Path, tiny_release: Path) -> None:
    """A release built elsewhere plugs in through a hand-written manifest with absolute paths."""
    obj = Release.open(tiny_release).catalog_path("Object")
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {"format": "lsstbox-release", "name": "elsewhere", "catalogs": {"Object": {"path": str(obj)}}}
        )
    )
    rel = Release.open(tmp_path)
    assert rel.name == "elsewhere"
    assert rel.catalog_path("Object") == obj
    assert rel.summary()["catalogs"][0]["name"] == "Object"
