"""Write the release's data repository: a real ``lsst.daf.butler`` repo (SQLite + files).

No afw or obs_lsst: images are :class:`astropy.nddata.CCDData` read by
:class:`kernel_lib.release.formatters.ExposureFitsFormatter`; catalogs are Parquet files in the
standard ``ArrowAstropy`` storage class (get them ``storageClass="DataFrame"`` for pandas).

Layout: the repository sits in ``<release>/butler``; its config and registry use paths relative
to the repository root (``<butlerRoot>``), images are ingested in place (``transfer=None``)
so the release directory can be moved or copied anywhere.

Collections: every dataset lives in the RUN collection :data:`RUN_COLLECTION`; users query the
CHAINED collection :data:`COLLECTION` (``Butler(repo, collections=COLLECTION)``).

Dimension records have real sky regions (``lsst.sphgeom.ConvexPolygon``) so spatial queries
such as ``visit_detector_region.region OVERLAPS POINT(ra, dec)`` or
``patch.region OVERLAPS POINT(ra, dec)`` work, and visits/exposures carry TAI timespans.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from astropy.time import Time
from lsst.daf.butler import (
    Butler,
    CollectionType,
    Config,
    DataCoordinate,
    DatasetRef,
    DatasetType,
    FileDataset,
    Timespan,
)
from lsst.sphgeom import ConvexPolygon, LonLat, UnitVector3d

from .formatters import DATASTORE_FORMATTERS, STORAGE_CLASSES
from .model import BANDS, INSTRUMENT, PHYSICAL_FILTERS, SKYMAP, Detector, ImageRecord, Profile, Visit

__all__ = [
    "BUTLER_DIR",
    "CATALOG_DATASET_TYPES",
    "COLLECTION",
    "IMAGE_DATASET_TYPES",
    "RUN_COLLECTION",
    "butler_repo_layout",
    "create_butler_repo",
    "detector_corners",
    "detector_region",
    "ingest_images",
    "put_catalogs",
    "repo_path",
]

#: the repository's folder inside the release root.
BUTLER_DIR = "butler"
#: the RUN collection holding every dataset.
RUN_COLLECTION = f"{INSTRUMENT}/runs/DP1-box/v1"
#: the CHAINED collection users query (DP1 calls its own ``LSSTComCam/DP1``).
COLLECTION = f"{INSTRUMENT}/DP1"

IMAGE_STORAGE_CLASS = "ExposureFits"
CATALOG_STORAGE_CLASS = "ArrowAstropy"
#: image dataset type name -> dimensions.
IMAGE_DATASET_TYPES: dict[str, tuple[str, ...]] = {
    "visit_image": ("instrument", "visit", "detector"),
    "deep_coadd": ("skymap", "tract", "patch", "band"),
}
#: catalog dataset type name -> dimensions (all ``ArrowAstropy`` Parquet, as in DP1).
CATALOG_DATASET_TYPES: dict[str, tuple[str, ...]] = {
    "object": ("skymap", "tract"),
    "source": ("instrument", "visit"),
    "visit_table": ("instrument",),
    "visit_detector_table": ("instrument",),
    "dia_object": ("skymap", "tract"),
    "dia_source": ("skymap", "tract"),
}

# File templates.  ``{run:/}`` keeps the run's slashes as directories.  The ingest path
# (``butler_repo_layout``) and the put template must agree.
_TEMPLATES = {
    "visit_image": (
        "{run:/}/visit_image/{day_obs}/{band}/{physical_filter}/"
        "visit_image_{instrument}_{band}_{physical_filter}_{visit}_{detector.full_name}"
    ),
    "deep_coadd": "{run:/}/deep_coadd/{tract}/{patch}/{band}/deep_coadd_{tract}_{patch}_{band}",
}

_TARGET = "ECDFS"
_PROGRAM = "BLOCK-T248"
_VISIT_SYSTEM = 0  # "one-to-one": one exposure per visit


def _repo_config() -> Config:
    """What goes into ``butler.yaml`` beyond the defaults (read by every later ``Butler``)."""
    return Config(
        {
            "storageClasses": STORAGE_CLASSES,
            "datastore": {
                "formatters": DATASTORE_FORMATTERS,
                "templates": _TEMPLATES,
                # files are local: nothing to gain from a cache of copies
                "cached": {"default": False},
            },
        }
    )


# --------------------------------------------------------------------------- geometry


def _polygon(ra_dec: Iterable[tuple[float, float]] | np.ndarray) -> ConvexPolygon:
    """Convex polygon (the hull of the given vertices) on the unit sphere."""
    pts = [UnitVector3d(LonLat.fromDegrees(float(ra) % 360.0, float(dec))) for ra, dec in ra_dec]
    return ConvexPolygon(pts)


def _pixel_corners(nx: int, ny: int) -> tuple[np.ndarray, np.ndarray]:
    return np.array([0, nx, nx, 0]) - 0.5, np.array([0, 0, ny, ny]) - 0.5


def detector_corners(profile: Profile, visit: Visit, detector: Detector) -> np.ndarray:
    """(4, 2) RA, Dec of the outer pixel-grid corners of one detector in one visit."""
    cam = profile.camera
    wcs = cam.detector_wcs(detector, visit.ra, visit.dec, visit.rotation_deg)
    px, py = _pixel_corners(cam.det_size, cam.det_size)
    ra, dec = wcs.wcs_pix2world(px, py, 0)
    return np.column_stack([ra, dec])


def detector_region(profile: Profile, visit: Visit, detector: Detector) -> ConvexPolygon:
    """The ``visit_detector_region`` region: the detector's footprint through its WCS."""
    return _polygon(detector_corners(profile, visit, detector))


def _day_obs_timespan(day_obs: int) -> Timespan:
    """Rubin day_obs: the 24 h starting at 12:00 TAI on that date (UTC-12h rule)."""
    y, m, d = day_obs // 10000, day_obs // 100 % 100, day_obs % 100
    begin = Time(f"{y:04d}-{m:02d}-{d:02d}T12:00:00", format="isot", scale="tai")
    return Timespan(begin, Time(begin.mjd + 1.0, format="mjd", scale="tai"))


def _visit_timespan(visit: Visit) -> Timespan:
    begin = Time(visit.mjd_start, format="mjd", scale="tai")
    end = Time(visit.mjd_start + visit.exp_time / 86400.0, format="mjd", scale="tai")
    return Timespan(begin, end)


def _obs_id(visit: Visit) -> str:
    return f"CC_S_{visit.day_obs}_{visit.seq_num:06d}"


# --------------------------------------------------------------------------- layout


def butler_repo_layout(
    profile: Profile,
    visit: Visit | None = None,
    detector: Detector | int | None = None,
    *,
    band: str | None = None,
    patch: int | None = None,
) -> str:
    """Where an image file must be written, relative to the repository root (POSIX).

    ``butler_repo_layout(profile, visit, detector)`` for a ``visit_image``;
    ``butler_repo_layout(profile, band="r", patch=3)`` for a ``deep_coadd``.  The release path
    is ``f"{BUTLER_DIR}/{butler_repo_layout(...)}"``.  Matches the repository's file templates,
    so ``butler.put`` would write to the same place.
    """
    if visit is not None:
        if detector is None:
            raise TypeError("a visit image needs a detector")
        det = profile.camera.detectors[detector] if isinstance(detector, int) else detector
        return (
            f"{RUN_COLLECTION}/visit_image/{visit.day_obs}/{visit.band}/{visit.physical_filter}/"
            f"visit_image_{INSTRUMENT}_{visit.band}_{visit.physical_filter}_{visit.id}_{det.name}.fits"
        )
    if band is None or patch is None:
        raise TypeError("give either visit and detector, or band and patch")
    if band not in BANDS:
        raise ValueError(f"unknown band {band!r}")
    t = profile.tract
    return f"{RUN_COLLECTION}/deep_coadd/{t}/{patch}/{band}/deep_coadd_{t}_{patch}_{band}.fits"


# --------------------------------------------------------------------------- creation


def _skymap_hash(profile: Profile) -> bytes:
    sm = profile.skymap
    key = f"{SKYMAP}:{sm.tract}:{sm.ra!r}:{sm.dec!r}:{sm.n_patches}:{sm.patch_size}:{sm.pixel_scale_arcsec!r}"
    return hashlib.sha1(key.encode()).digest()


def _dimension_records(profile: Profile, visits: list[Visit]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every dimension record of the repository, in insertion order."""
    cam = profile.camera
    sm = profile.skymap
    max_id = max((v.id for v in visits), default=0)
    recs: list[tuple[str, list[dict[str, Any]]]] = []
    recs.append(
        (
            "instrument",
            [
                {
                    "name": INSTRUMENT,
                    # something harmless: the Butler never imports it (no obs_lsst here)
                    "class_name": "kernel_lib.release.model.Camera",
                    "visit_max": max(max_id + 1, 2**31 - 1),
                    "exposure_max": max(max_id + 1, 2**31 - 1),
                    "detector_max": 1000,
                    "visit_system": _VISIT_SYSTEM,
                }
            ],
        )
    )
    # band has no table of its own: its values come from physical_filter records
    recs.append(
        (
            "physical_filter",
            [{"instrument": INSTRUMENT, "name": PHYSICAL_FILTERS[b], "band": b} for b in BANDS],
        )
    )
    recs.append(
        (
            "detector",
            [
                {
                    "instrument": INSTRUMENT,
                    "id": d.id,
                    "full_name": d.name,
                    "raft": d.name.split("_")[0],
                    "name_in_raft": d.name.split("_")[1],
                    "purpose": "SCIENCE",
                }
                for d in cam.detectors
            ],
        )
    )
    recs.append(("visit_system", [{"instrument": INSTRUMENT, "id": _VISIT_SYSTEM, "name": "one-to-one"}]))
    day_obs = sorted({v.day_obs for v in visits})
    recs.append(
        ("day_obs", [{"instrument": INSTRUMENT, "id": d, "timespan": _day_obs_timespan(d)} for d in day_obs])
    )
    recs.append(("group", [{"instrument": INSTRUMENT, "name": _obs_id(v)} for v in visits]))

    exposures, visit_rows, defs, members, vdr = [], [], [], [], []
    for v in visits:
        zenith = math.degrees(math.acos(min(1.0, 1.0 / v.airmass)))
        azimuth = float((v.id * 37) % 360)  # deterministic stand-in
        span = _visit_timespan(v)
        exposures.append(
            {
                "instrument": INSTRUMENT,
                "id": v.id,
                "day_obs": v.day_obs,
                "group": _obs_id(v),
                "physical_filter": v.physical_filter,
                "obs_id": _obs_id(v),
                "exposure_time": v.exp_time,
                "dark_time": v.exp_time + 0.3,
                "observation_type": "science",
                "observation_reason": "science",
                "seq_num": v.seq_num,
                "seq_start": v.seq_num,
                "seq_end": v.seq_num,
                "target_name": _TARGET,
                "science_program": _PROGRAM,
                "tracking_ra": v.ra % 360.0,
                "tracking_dec": v.dec,
                "sky_angle": v.rotation_deg % 360.0,
                "azimuth": azimuth,
                "zenith_angle": zenith,
                "has_simulated": True,
                "can_see_sky": True,
                "timespan": span,
            }
        )
        corners = [detector_corners(profile, v, d) for d in cam.detectors]
        visit_rows.append(
            {
                "instrument": INSTRUMENT,
                "id": v.id,
                "day_obs": v.day_obs,
                "physical_filter": v.physical_filter,
                "name": _obs_id(v),
                "seq_num": v.seq_num,
                "exposure_time": v.exp_time,
                "target_name": _TARGET,
                "observation_reason": "science",
                "science_program": _PROGRAM,
                "azimuth": azimuth,
                "zenith_angle": zenith,
                "region": _polygon(np.concatenate(corners)),
                "timespan": span,
            }
        )
        defs.append({"instrument": INSTRUMENT, "exposure": v.id, "visit": v.id})
        members.append({"instrument": INSTRUMENT, "visit_system": _VISIT_SYSTEM, "visit": v.id})
        for d, c in zip(cam.detectors, corners, strict=True):
            vdr.append({"instrument": INSTRUMENT, "visit": v.id, "detector": d.id, "region": _polygon(c)})
    recs += [
        ("exposure", exposures),
        ("visit", visit_rows),
        ("visit_definition", defs),
        ("visit_system_membership", members),
        ("visit_detector_region", vdr),
    ]
    recs.append(
        (
            "skymap",
            [
                {
                    "name": SKYMAP,
                    "hash": _skymap_hash(profile),
                    "tract_max": max(profile.tract + 1, 18938),
                    "patch_nx_max": sm.n_patches,
                    "patch_ny_max": sm.n_patches,
                }
            ],
        )
    )
    recs.append(("tract", [{"skymap": SKYMAP, "id": sm.tract, "region": _polygon(sm.tract_corners())}]))
    recs.append(
        (
            "patch",
            [
                {
                    "skymap": SKYMAP,
                    "tract": sm.tract,
                    "id": p,
                    "cell_x": p % sm.n_patches,
                    "cell_y": p // sm.n_patches,
                    "region": _polygon(sm.patch_corners(p)),
                }
                for p in sm.patches
            ],
        )
    )
    return recs


def create_butler_repo(root: Path, profile: Profile, visits: list[Visit]) -> Butler:
    """Create the repository at ``root`` and return a writeable Butler on it.

    Writes ``butler.yaml`` (with the ``ExposureFits`` storage class and formatter) and
    ``gen3.sqlite3``, inserts every dimension record (instrument, bands/filters, detectors,
    day_obs, exposures, visits with regions and timespans, visit_detector_regions, the sky map
    with tract and patch regions), registers the dataset types, the RUN collection
    :data:`RUN_COLLECTION` and the CHAINED collection :data:`COLLECTION` ``-> [RUN_COLLECTION]``.
    The returned Butler's default run is :data:`RUN_COLLECTION`.
    """
    root = Path(root)
    Butler.makeRepo(str(root), config=_repo_config())
    butler = Butler.from_config(str(root), writeable=True, run=RUN_COLLECTION)
    registry = butler.registry
    with butler.transaction():
        for element, rows in _dimension_records(profile, visits):
            if rows:
                registry.insertDimensionData(element, *rows)
    # (dataset type registration creates tables: not inside a transaction)
    universe = butler.dimensions
    for name, dims in IMAGE_DATASET_TYPES.items():
        registry.registerDatasetType(DatasetType(name, dims, IMAGE_STORAGE_CLASS, universe=universe))
    for name, dims in CATALOG_DATASET_TYPES.items():
        registry.registerDatasetType(DatasetType(name, dims, CATALOG_STORAGE_CLASS, universe=universe))
    registry.registerRun(RUN_COLLECTION, doc="lsstbox simulated DP1-like release")
    registry.registerCollection(
        COLLECTION, CollectionType.CHAINED, doc="The lsstbox data release (DP1-like): query this."
    )
    registry.setCollectionChain(COLLECTION, [RUN_COLLECTION])
    return butler


# --------------------------------------------------------------------------- datasets


def _image_data_id(rec: ImageRecord, tract: int | None) -> dict[str, Any]:
    if rec.kind == "visit_image":
        if rec.visit is None or rec.detector is None:
            raise ValueError(f"{rec.path}: visit_image without visit/detector")
        return {"instrument": INSTRUMENT, "visit": rec.visit, "detector": rec.detector}
    if rec.kind == "deep_coadd":
        if rec.patch is None:
            raise ValueError(f"{rec.path}: deep_coadd without patch")
        return {
            "skymap": SKYMAP,
            "tract": rec.tract if rec.tract is not None else tract,
            "patch": rec.patch,
            "band": rec.band,
        }
    raise ValueError(f"{rec.path}: unknown image kind {rec.kind!r}")


def ingest_images(butler: Butler, release_root: Path, records: list[ImageRecord]) -> dict[str, str]:
    """Ingest image files that already sit inside the repository, in place (``transfer=None``).

    ``record.path`` is relative to ``release_root``; the repository root must be an ancestor of
    every file (normally ``release_root / BUTLER_DIR``).  The datastore stores paths relative to
    the repository root, so the release stays relocatable.  Returns ``record.path -> dataset
    UUID`` (string).  One registry transaction for all files.
    """
    from .formatters import ExposureFitsFormatter

    release_root = Path(release_root).resolve()
    roots = [r for r in butler.get_datastore_roots().values() if r is not None]
    if len(roots) != 1:
        raise ValueError(f"expected one file datastore root, got {roots}")
    repo_root = Path(roots[0].ospath).resolve()
    dataset_types = {name: butler.get_dataset_type(name) for name in IMAGE_DATASET_TYPES}
    run = butler.run or RUN_COLLECTION
    tract: int | None = None  # the repository's tract, looked up once if a record lacks it
    files: list[FileDataset] = []
    ids: dict[str, str] = {}
    for rec in records:
        abs_path = (release_root / rec.path).resolve()
        try:
            rel = abs_path.relative_to(repo_root)
        except ValueError:
            raise ValueError(f"{rec.path} is not inside the repository {repo_root}") from None
        if rec.kind == "deep_coadd" and rec.tract is None and tract is None:
            tract = _default_tract(butler)
        data_id = DataCoordinate.standardize(_image_data_id(rec, tract), universe=butler.dimensions)
        ref = DatasetRef(dataset_types[rec.kind], data_id, run=run)
        files.append(FileDataset(path=rel.as_posix(), refs=[ref], formatter=ExposureFitsFormatter))
        ids[rec.path] = str(ref.id)
    butler.ingest(*files, transfer=None, record_validation_info=True)
    return ids


def _default_tract(butler: Butler) -> int:
    tracts = [r.id for r in butler.registry.queryDimensionRecords("tract", skymap=SKYMAP)]
    if len(tracts) != 1:
        raise ValueError(f"expected one tract in the repository, found {tracts}")
    return int(tracts[0])


def put_catalogs(butler: Butler, catalogs: Iterable[tuple[str, Mapping[str, Any], Any]]) -> dict[str, str]:
    """Put Parquet catalogs: ``(dataset_type, data_id, table)`` triples.

    ``table`` is a pandas ``DataFrame``, an astropy ``Table`` or a ``pyarrow.Table``; it is
    stored as ``ArrowAstropy`` Parquet (units/descriptions of an astropy table are kept).  Data
    IDs need only the dataset type's own keys (``instrument``/``skymap``/``tract`` are filled in
    when missing).  Read back with ``butler.get(ref)`` (astropy), ``storageClass="DataFrame"``,
    ``parameters={"columns": [...]}`` or the ``.rowcount``/``.columns``/``.schema`` components.
    Returns ``"<dataset_type> <data_id>" -> dataset UUID``.
    """
    import pandas as pd
    import pyarrow as pa
    from lsst.daf.butler.formatters.parquet import arrow_to_astropy, pandas_to_astropy

    out: dict[str, str] = {}
    default_tract: int | None = None
    for name, data_id, table in catalogs:
        if name not in CATALOG_DATASET_TYPES:
            raise ValueError(f"unknown catalog dataset type {name!r}")
        did = dict(data_id)
        dims = CATALOG_DATASET_TYPES[name]
        if "instrument" in dims:
            did.setdefault("instrument", INSTRUMENT)
        if "skymap" in dims:
            did.setdefault("skymap", SKYMAP)
        if "tract" in dims and "tract" not in did:
            if default_tract is None:
                default_tract = _default_tract(butler)
            did["tract"] = default_tract
        if isinstance(table, pd.DataFrame):
            table = pandas_to_astropy(table)
        elif isinstance(table, pa.Table):
            table = arrow_to_astropy(table)
        ref = butler.put(table, name, did)
        out[f"{name} {did}"] = str(ref.id)
    return out


def repo_path(release_root: Path) -> Path:
    """The repository inside a release."""
    return Path(release_root) / BUTLER_DIR
