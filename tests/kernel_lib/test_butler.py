"""The release's daf_butler repository: dimension regions, ingest in place, formatter, catalogs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.nddata import CCDData, VarianceUncertainty
from astropy.time import Time
from astropy.wcs import WCS
from lsst.daf.butler import Butler, Timespan

from kernel_lib.release.butler_repo import (
    BUTLER_DIR,
    COLLECTION,
    RUN_COLLECTION,
    butler_repo_layout,
    create_butler_repo,
    detector_corners,
    ingest_images,
    put_catalogs,
)
from kernel_lib.release.formatters import read_exposure_fits, write_exposure_fits
from kernel_lib.release.model import (
    INSTRUMENT,
    SKYMAP,
    ImageRecord,
    Profile,
    Visit,
    get_profile,
    plan_visits,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
N_IMAGE_VISITS = 4  # visits whose detector images are written (keeps the test files small)
COADD_BANDS = ("g", "r")


def _ccd(wcs: WCS, nx: int, ny: int, meta: dict) -> CCDData:
    """An image whose pixel value encodes its position: value = x + 1000 y."""
    y, x = np.mgrid[0:ny, 0:nx]
    data = (x + 1000.0 * y).astype(np.float32)
    mask = np.zeros((ny, nx), dtype=np.int32)
    mask[0, :] = 1 << 4  # EDGE
    return CCDData(
        data,
        unit="nJy",
        wcs=wcs,
        flags=mask,
        uncertainty=VarianceUncertainty(np.full((ny, nx), 4.0, dtype=np.float32)),
        meta=meta,
    )


def _visit_record(profile: Profile, visit: Visit, det_index: int, compression: str | None) -> ImageRecord:
    cam = profile.camera
    det = cam.detectors[det_index]
    rel = f"{BUTLER_DIR}/{butler_repo_layout(profile, visit, det)}"
    return ImageRecord(
        kind="visit_image",
        path=rel,
        band=visit.band,
        physical_filter=visit.physical_filter,
        mjd_start=visit.mjd_start,
        mjd_end=visit.mjd_start + visit.exp_time / 86400.0,
        exp_time=visit.exp_time,
        corners=tuple(map(tuple, detector_corners(profile, visit, det))),
        nx=cam.det_size,
        ny=cam.det_size,
        visit=visit.id,
        detector=det.id,
    )


def _write_release(root: Path, profile: Profile, visits: list[Visit]) -> list[ImageRecord]:
    """Write small MEF files for some visits and all coadd patches (as the renderer will)."""
    cam, sm = profile.camera, profile.skymap
    records: list[ImageRecord] = []
    for k, visit in enumerate(visits[:N_IMAGE_VISITS]):
        for det in cam.detectors:
            compression = "GZIP_2" if (k + det.id) % 2 else None  # both layouts are read
            rec = _visit_record(profile, visit, det.id, compression)
            path = root / rec.path
            path.parent.mkdir(parents=True, exist_ok=True)
            wcs = cam.detector_wcs(det, visit.ra, visit.dec, visit.rotation_deg)
            meta = {"VISIT": visit.id, "DETECTOR": det.id, "BAND": visit.band, "EXPTIME": visit.exp_time}
            write_exposure_fits(
                str(path), _ccd(wcs, cam.det_size, cam.det_size, meta), compression=compression
            )
            records.append(rec)
    for band in COADD_BANDS:
        for patch in sm.patches:
            rel = f"{BUTLER_DIR}/{butler_repo_layout(profile, band=band, patch=patch)}"
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            meta = {"TRACT": sm.tract, "PATCH": patch, "BAND": band}
            ccd = _ccd(sm.patch_wcs(patch), sm.patch_size, sm.patch_size, meta)
            write_exposure_fits(str(path), ccd, compression="GZIP_2")
            records.append(
                ImageRecord(
                    kind="deep_coadd",
                    path=rel,
                    band=band,
                    physical_filter=band,
                    mjd_start=visits[0].mjd_start,
                    mjd_end=visits[-1].mjd_start,
                    exp_time=0.0,
                    corners=tuple(map(tuple, sm.patch_corners(patch))),
                    nx=sm.patch_size,
                    ny=sm.patch_size,
                    tract=sm.tract,
                    patch=patch,
                )
            )
    return records


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A tiny release: repo + images ingested in place + one catalog."""
    root = tmp_path_factory.mktemp("release")
    profile = get_profile("tiny")
    visits = plan_visits(profile, np.random.default_rng(1))
    t0 = time.perf_counter()
    butler = create_butler_repo(root / BUTLER_DIR, profile, visits)
    t_create = time.perf_counter() - t0
    records = _write_release(root, profile, visits)
    t0 = time.perf_counter()
    ids = ingest_images(butler, root, records)
    t_ingest = time.perf_counter() - t0
    print(f"create {t_create:.2f} s, ingest {len(records)} images {t_ingest:.2f} s")
    return {
        "root": root,
        "profile": profile,
        "visits": visits,
        "records": records,
        "ids": ids,
        "butler": butler,
        "t_create": t_create,
    }


def _reader(root: Path) -> Butler:
    return Butler.from_config(str(root / BUTLER_DIR), collections=COLLECTION)


def _contains(wcs: WCS, n: int, ra: float, dec: float, margin: float = 0.0) -> bool:
    x, y = wcs.wcs_world2pix([[ra, dec]], 0)[0]
    return bool(-0.5 + margin <= x <= n - 0.5 - margin and -0.5 + margin <= y <= n - 0.5 - margin)


def _near_edge(wcs: WCS, n: int, ra: float, dec: float, margin: float = 2.0) -> bool:
    return _contains(wcs, n, ra, dec, -margin) and not _contains(wcs, n, ra, dec, margin)


def test_repo_created_quickly_with_collections(release):
    assert release["t_create"] < 5.0
    butler = _reader(release["root"])
    assert COLLECTION in butler.collections.query("*")
    info = butler.collections.get_info(COLLECTION)
    assert info.type.name == "CHAINED"
    assert list(info.children) == [RUN_COLLECTION]
    assert len(release["ids"]) == len(release["records"])
    cfg = (release["root"] / BUTLER_DIR / "butler.yaml").read_text()
    assert str(release["root"]) not in cfg  # relative roots only


def test_visit_detector_region_point_query(release):
    profile, visits = release["profile"], release["visits"]
    cam = profile.camera
    butler = _reader(release["root"])
    imaged = visits[:N_IMAGE_VISITS]
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(40):
        v0 = imaged[int(rng.integers(len(imaged)))]
        det = cam.detectors[int(rng.integers(len(cam.detectors)))]
        wcs = cam.detector_wcs(det, v0.ra, v0.dec, v0.rotation_deg)
        ra, dec = wcs.wcs_pix2world([rng.uniform(0, cam.det_size - 1, 2)], 0)[0]
        footprints = {
            (v.id, d.id): cam.detector_wcs(d, v.ra, v.dec, v.rotation_deg)
            for v in imaged
            for d in cam.detectors
        }
        if any(_near_edge(w, cam.det_size, ra, dec) for w in footprints.values()):
            continue  # the polygon's great-circle edges and the TAN edges differ by a hair
        expected = {k for k, w in footprints.items() if _contains(w, cam.det_size, ra, dec)}
        refs = butler.query_datasets(
            "visit_image",
            where="visit_detector_region.region OVERLAPS POINT(ra, dec)",
            bind={"ra": float(ra), "dec": float(dec)},
            instrument=INSTRUMENT,
        )
        got = {(ref.dataId["visit"], ref.dataId["detector"]) for ref in refs}
        assert got == expected, (ra, dec)
        assert (v0.id, det.id) in got
        checked += 1
    assert checked >= 10


def test_get_bbox_cutout_and_components(release):
    butler = _reader(release["root"])
    refs = butler.query_datasets("visit_image", instrument=INSTRUMENT, limit=None)
    assert len(refs) == N_IMAGE_VISITS * 9
    for ref in refs[:2]:  # one plain, one tile-compressed
        full = butler.get(ref)
        assert isinstance(full, CCDData)
        n = release["profile"].det_size
        assert full.shape == (n, n)
        assert full.unit == "nJy"
        assert full.meta["VISIT"] == ref.dataId["visit"]
        assert full.flags.dtype == np.int32 and full.meta["MP_EDGE"] == 4
        assert full.mask.dtype == bool
        assert full.mask[0].all() and not full.mask[1:].any()  # EDGE row is unusable
        assert (full.flags[0] == 1 << 4).all()
        np.testing.assert_allclose(full.uncertainty.array, 4.0)
        x0, y0, w, h = 17, 40, 50, 30
        cut = butler.get(ref, parameters={"bbox": (x0, y0, w, h)})
        assert cut.shape == (h, w)
        np.testing.assert_array_equal(cut.data, full.data[y0 : y0 + h, x0 : x0 + w])
        assert cut.data[0, 0] == x0 + 1000 * y0
        assert cut.uncertainty.array.shape == (h, w)
        assert cut.flags.shape == (h, w)
        assert cut.meta["LTV1"] == -x0 and cut.meta["LTV2"] == -y0
        px = np.array([0.0, w - 1.0, 13.5])
        py = np.array([0.0, h - 1.0, 7.25])
        np.testing.assert_allclose(
            np.array(cut.wcs.wcs_pix2world(px, py, 0)),
            np.array(full.wcs.wcs_pix2world(px + x0, py + y0, 0)),
            rtol=0,
            atol=1e-10,
        )
        wcs = butler.get(ref.makeComponentRef("wcs"), parameters={"bbox": (x0, y0, w, h)})
        np.testing.assert_allclose(wcs.wcs.crpix, full.wcs.wcs.crpix - [x0, y0])
        image = butler.get(ref.makeComponentRef("image"), parameters={"bbox": (x0, y0, w, h)})
        np.testing.assert_array_equal(image, cut.data)
        bits = butler.get(ref.makeComponentRef("mask"), parameters={"bbox": (0, 0, 5, 5)})
        assert bits.dtype == np.int32 and bits[0, 0] == 1 << 4 and bits[1, 0] == 0
        assert butler.get(ref.makeComponentRef("bbox")) == [0, 0, n, n]
        assert butler.get(ref.makeComponentRef("metadata"))["DETECTOR"] == ref.dataId["detector"]
    with pytest.raises(ValueError, match=r"is outside the \d+x\d+ image"):
        butler.get(refs[0], parameters={"bbox": (250, 0, 20, 20)})


def test_deep_coadd_patch_point_query(release):
    profile = release["profile"]
    sm = profile.skymap
    butler = _reader(release["root"])
    for patch in sm.patches:
        x0, y0 = sm.patch_origin(patch)
        ra, dec = sm.wcs.wcs_pix2world([[x0 + 0.3 * sm.patch_size, y0 + 0.6 * sm.patch_size]], 0)[0]
        refs = butler.query_datasets(
            "deep_coadd",
            where="patch.region OVERLAPS POINT(ra, dec)",
            bind={"ra": float(ra), "dec": float(dec)},
            skymap=SKYMAP,
        )
        assert {(r.dataId["patch"], r.dataId["band"]) for r in refs} == {(patch, b) for b in COADD_BANDS}
    ref = refs[0]
    cut = butler.get(ref, parameters={"bbox": (100, 200, 64, 32)})
    assert cut.shape == (32, 64)
    full_wcs = butler.get(ref.makeComponentRef("wcs"))
    np.testing.assert_allclose(
        np.array(cut.wcs.wcs_pix2world([5.0], [6.0], 0)),
        np.array(full_wcs.wcs_pix2world([105.0], [206.0], 0)),
        atol=1e-10,
        rtol=0,
    )


def test_visit_timespan_query(release):
    visits = release["visits"]
    butler = _reader(release["root"])
    mid = visits[len(visits) // 2]
    begin = Time(mid.mjd_start - 1.0, format="mjd", scale="tai")
    end = Time(mid.mjd_start + 0.5, format="mjd", scale="tai")
    expected = {
        v.id for v in visits if v.mjd_start < end.mjd and v.mjd_start + v.exp_time / 86400.0 > begin.mjd
    }
    assert 0 < len(expected) < len(visits)
    recs = butler.query_dimension_records(
        "visit", where="visit.timespan OVERLAPS ts", bind={"ts": Timespan(begin, end)}, instrument=INSTRUMENT
    )
    assert {r.id for r in recs} == expected
    # the same through a literal time range and the dataset query
    where = f"visit.timespan OVERLAPS (T'{begin.isot}/tai', T'{end.isot}/tai')"
    refs = butler.query_datasets("visit_image", where=where, instrument=INSTRUMENT, explain=False)
    imaged = {v.id for v in visits[:N_IMAGE_VISITS]}
    assert {r.dataId["visit"] for r in refs} == expected & imaged
    rec = next(iter(recs))
    assert rec.timespan.begin.scale == "tai"
    data_id = {"instrument": INSTRUMENT, "exposure": rec.id}
    (exp,) = butler.query_dimension_records("exposure", data_id=data_id)
    assert exp.tracking_dec == pytest.approx(next(v.dec for v in visits if v.id == rec.id))


def test_catalog_round_trip(release):
    butler = release["butler"]
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "objectId": np.arange(1, 101, dtype=np.int64),
            "coord_ra": rng.uniform(53, 53.3, 100),
            "coord_dec": rng.uniform(-28.2, -28.0, 100),
            "r_psfFlux": rng.uniform(1e3, 1e5, 100).astype(np.float32),
        }
    )
    visit = release["visits"][0]
    src = df.rename(columns={"objectId": "sourceId"}).assign(visit=np.int64(visit.id))
    ids = put_catalogs(
        butler,
        [
            ("object", {"tract": release["profile"].tract}, df),
            ("source", {"visit": visit.id}, src),
            ("visit_table", {}, pd.DataFrame({"visitId": [v.id for v in release["visits"]]})),
        ],
    )
    assert len(ids) == 3
    reader = _reader(release["root"])
    (ref,) = reader.query_datasets("object", skymap=SKYMAP)
    assert reader.get(ref.makeComponentRef("rowcount")) == 100
    assert list(reader.get(ref.makeComponentRef("columns"))) == list(df.columns)
    table = reader.get(ref)
    np.testing.assert_array_equal(np.asarray(table["objectId"]), df["objectId"].to_numpy())
    back = reader.get(ref, storageClass="DataFrame")
    pd.testing.assert_frame_equal(back.reset_index(drop=True), df)
    part = reader.get(ref, storageClass="DataFrame", parameters={"columns": ["objectId", "r_psfFlux"]})
    assert list(part.columns) == ["objectId", "r_psfFlux"]
    (sref,) = reader.query_datasets("source", instrument=INSTRUMENT, where=f"visit = {visit.id}")
    assert reader.get(sref.makeComponentRef("rowcount")) == 100
    (vref,) = reader.query_datasets("visit_table", instrument=INSTRUMENT)
    assert reader.get(vref.makeComponentRef("rowcount")) == len(release["visits"])


def test_put_image_lands_on_layout(release):
    """``butler.put`` of an exposure writes where ``butler_repo_layout`` says (one template)."""
    profile, visits = release["profile"], release["visits"]
    butler = release["butler"]
    visit = visits[-1]
    det = profile.camera.detectors[5]
    wcs = profile.camera.detector_wcs(det, visit.ra, visit.dec, visit.rotation_deg)
    ccd = _ccd(wcs, 32, 24, {"VISIT": visit.id})
    ref = butler.put(ccd, "visit_image", instrument=INSTRUMENT, visit=visit.id, detector=det.id)
    uri = butler.getURI(ref)
    repo = (release["root"] / BUTLER_DIR).resolve()
    assert Path(uri.ospath).resolve().relative_to(repo).as_posix() == butler_repo_layout(profile, visit, det)
    back = _reader(release["root"]).get(ref, parameters={"bbox": (2, 3, 10, 5)})
    np.testing.assert_array_equal(back.data, ccd.data[3:8, 2:12])
    assert read_exposure_fits(uri.ospath, component="bbox") == [0, 0, 32, 24]


def test_fresh_process_reads_relocated_release(release, tmp_path):
    """Moving the release keeps the repository readable, from a process that knows nothing."""
    moved = tmp_path / "elsewhere" / "release-copy"
    shutil.copytree(release["root"], moved)
    old = tmp_path / "old"
    shutil.move(str(moved), str(old))  # move it once more: nothing may point at a former place
    rec = release["records"][0]
    script = f"""
import json
from lsst.daf.butler import Butler
b = Butler.from_config({str(old / BUTLER_DIR)!r}, collections={COLLECTION!r})
refs = b.query_datasets("visit_image", instrument="{INSTRUMENT}",
                        where="visit = {rec.visit} AND detector = {rec.detector}")
ccd = b.get(refs[0], parameters={{"bbox": (1, 2, 3, 4)}})
n = len(b.query_datasets("deep_coadd", skymap="{SKYMAP}"))
print(json.dumps({{"shape": list(ccd.shape), "v": float(ccd.data[0, 0]), "id": str(refs[0].id),
                  "uri": b.getURI(refs[0]).ospath, "n": n}}))
"""
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["shape"] == [4, 3]
    assert got["v"] == 1 + 1000 * 2
    assert got["id"] == release["ids"][rec.path]
    assert got["uri"].startswith(str(old))
    assert got["n"] == len(COADD_BANDS) * len(release["profile"].skymap.patches)


def test_ingest_demo_sized_release_is_fast(tmp_path):
    """~490 images (the demo profile) ingest in a few seconds: one batch, no file reads."""
    profile = get_profile("demo")
    visits = plan_visits(profile, np.random.default_rng(2))
    t0 = time.perf_counter()
    butler = create_butler_repo(tmp_path / BUTLER_DIR, profile, visits)
    t_create = time.perf_counter() - t0
    template = tmp_path / "template.fits"
    wcs = profile.camera.detector_wcs(profile.camera.detectors[0], visits[0].ra, visits[0].dec, 0.0)
    write_exposure_fits(str(template), _ccd(wcs, 8, 8, {}))
    records = []
    for v in visits:
        for d in profile.camera.detectors:
            records.append(_visit_record(profile, v, d.id, None))
    for band in ("u", "g", "r", "i", "z", "y"):
        for patch in profile.skymap.patches:
            rel = f"{BUTLER_DIR}/{butler_repo_layout(profile, band=band, patch=patch)}"
            records.append(
                ImageRecord(
                    "deep_coadd", rel, band, band, 0, 0, 0, (), 8, 8, tract=profile.tract, patch=patch
                )
            )
    for rec in records:
        path = tmp_path / rec.path
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, path)
    t0 = time.perf_counter()
    ids = ingest_images(butler, tmp_path, records)
    t_ingest = time.perf_counter() - t0
    print(f"demo: create {t_create:.2f} s, ingest {len(records)} images {t_ingest:.2f} s")
    assert len(ids) == len(records) >= 480
    assert t_ingest < 10.0
    refs = butler.query_datasets("visit_image", instrument=INSTRUMENT, limit=None, collections=COLLECTION)
    assert len(refs) == len(visits) * 9
