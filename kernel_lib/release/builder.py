"""Build a whole data release, deterministically for a seed, atomically, with a progress bar.

The release is written into a hidden staging folder beside the target and renamed into place
only when complete, with ``manifest.json`` written last: an interrupted build leaves nothing
that looks like a release (the staging folder is removed, or, after a hard kill, ignored and
cleaned up by the next build).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .catalogs import make_catalogs
from .hats_writer import HatsResult, write_hats_catalog
from .manifest import FORMAT, FORMAT_VERSION, MANIFEST_NAME
from .moc import write_release_mocs
from .model import BANDS, INSTRUMENT, ImageRecord, Profile, Visit, get_profile, plan_visits
from .schema import TABLES, TableSpec
from .truth import make_truth

__all__ = ["BuildError", "build_release", "catalog_entry"]

STAGING_PREFIX = ".lsstbox-building-"


def catalog_entry(
    spec: TableSpec, res: HatsResult, path: str, margin_arcsec: float, partition_order: int
) -> dict[str, Any]:
    """The manifest entry of a HATS catalog written at ``path`` (relative to the release)."""
    return {
        "path": path,
        "margin": f"{path}_margin" if res.margin_path else None,
        "margin_arcsec": margin_arcsec,
        "rows": res.rows,
        "margin_rows": res.margin_rows,
        "partitions": res.partitions,
        "partition_order": partition_order,
        "description": spec.description,
        "ra_column": spec.ra_column,
        "dec_column": spec.dec_column,
        "primary_key": spec.primary_key,
        "director": list(spec.director) if spec.director else None,
        "columns": [
            {
                "name": c.name,
                "datatype": c.datatype,
                "unit": c.unit,
                "ucd": c.ucd,
                "description": c.description,
            }
            for c in spec.columns
        ],
    }


class BuildError(RuntimeError):
    """The release cannot be built; the message is one line saying why."""


def _check_target(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise BuildError(f"cannot build into {out}: it exists and is not a directory")
        if any(out.iterdir()):
            raise BuildError(f"cannot build into {out}: the directory is not empty")
    parent = out.parent
    if not parent.exists():
        raise BuildError(f"cannot build into {out}: parent directory {parent} does not exist")
    try:  # a real probe: permissions, read-only file systems and root alike
        with tempfile.NamedTemporaryFile(dir=parent, prefix=STAGING_PREFIX):
            pass
    except OSError as e:
        raise BuildError(f"cannot build into {out}: {parent} is not writable ({e.strerror})") from None


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    parent = out.parent
    for stale in parent.glob(f"{STAGING_PREFIX}{out.name}-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    stage = parent / f"{STAGING_PREFIX}{out.name}-{os.getpid()}"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- image rendering in worker processes -------------------------------------------------------
_W: dict[str, Any] = {}


def _init_worker(profile: Profile, truth: pd.DataFrame, visits: list[Visit], stage: Path, seed: int) -> None:
    _W.update(profile=profile, truth=truth, visits=visits, stage=stage, seed=seed)


def _render_task(task: tuple) -> ImageRecord:
    from .butler_repo import BUTLER_DIR, butler_repo_layout
    from .exposure import write_exposure
    from .images import image_record_for, render_coadd_patch, render_visit_detector

    profile, truth, visits, stage, seed = (_W[k] for k in ("profile", "truth", "visits", "stage", "seed"))
    kind = task[0]
    if kind == "visit_image":
        _, vi, det_id = task
        visit = visits[vi]
        det = profile.camera.detectors[det_id]
        exp = render_visit_detector(profile, truth, visit, det, seed * 1_000_003 + vi * 97 + det_id)
        rel = f"{BUTLER_DIR}/{butler_repo_layout(profile, visit, det)}"
    else:
        _, band, patch = task
        exp = render_coadd_patch(
            profile, truth, visits, band, patch, seed * 7_000_001 + patch * 13 + BANDS.index(band)
        )
        rel = f"{BUTLER_DIR}/{butler_repo_layout(profile, band=band, patch=patch)}"
    path = stage / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    write_exposure(path, exp)
    return image_record_for(exp, kind, rel, path.stat().st_size)


def _render_all(profile, truth, visits, stage, seed, workers, bar) -> list[ImageRecord]:
    tasks: list[tuple] = [("deep_coadd", b, p) for b in BANDS for p in profile.skymap.patches]
    tasks += [("visit_image", vi, d.id) for vi in range(len(visits)) for d in profile.camera.detectors]
    records: list[ImageRecord] = []
    if workers <= 1:
        _init_worker(profile, truth, visits, stage, seed)
        for t in tasks:
            records.append(_render_task(t))
            bar.update(1)
        return records
    ctx = multiprocessing.get_context("fork")
    with cf.ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(profile, truth, visits, stage, seed)
    ) as ex:
        for rec in ex.map(_render_task, tasks, chunksize=4):
            records.append(rec)
            bar.update(1)
    return records


# -- the build ---------------------------------------------------------------------------------
def build_release(
    profile: str | Profile,
    out: str | Path,
    *,
    seed: int = 1,
    workers: int | None = None,
    progress: bool = True,
    images: bool = True,
    hips: bool = True,
) -> Path:
    """Build a release for ``profile`` into the empty or missing folder ``out``; return its path."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    out = Path(out).expanduser().absolute()
    _check_target(out)
    workers = workers or min(2, os.cpu_count() or 1)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    n_images = len(BANDS) * len(prof.skymap.patches) + prof.visits_per_band * len(BANDS) * len(
        prof.camera.detectors
    )
    total = 4 + len(TABLES) + (n_images + 3 if images else 0) + (1 if hips and images else 0)
    if prof.wide_area_deg2 > 0:
        from .wide import wide_pixels

        total += len(wide_pixels(prof))
    with (
        _staging(out) as stage,
        tqdm(total=total, desc=f"release {prof.name}", unit="step", disable=not progress) as bar,
    ):

        def step(name: str, t0: float) -> float:
            timings[name] = round(time.perf_counter() - t0, 3)
            return time.perf_counter()

        t = time.perf_counter()
        rng = np.random.default_rng(seed)
        truth = make_truth(prof, rng)
        visits = plan_visits(prof, rng)
        bar.update(1)
        cats = make_catalogs(prof, truth, visits, rng)
        bar.update(1)
        t = step("catalogs", t)
        catalogs: dict[str, Any] = {}
        wide = _wide_rows(prof, visits, seed, bar) if prof.wide_area_deg2 > 0 else {}
        for name, cd in cats.items():
            spec = TABLES[name]
            res = _write_catalog(prof, spec, cd, stage / "hats", wide.get(name))
            catalogs[name] = catalog_entry(
                spec, res, f"hats/{name}", prof.margin_arcsec, prof.partition_order
            )
            bar.update(1)
        t = step("hats", t)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": f"lsstbox-{prof.name}",
            "profile": prof.name,
            "seed": seed,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "generator": _generator(),
            "field": {
                "ra": prof.field_ra,
                "dec": prof.field_dec,
                "area_deg2": round(prof.tract_area_deg2, 6),
                "tract": prof.tract,
                "skymap": "lsst_cells_box",
                "instrument": INSTRUMENT,
                "mjd_range": [prof.mjd_first, prof.mjd_last],
                "pixel_scale_arcsec": prof.camera.pixel_scale_arcsec,
            },
            "catalogs": catalogs,
        }
        if images:
            manifest.update(
                _images_butler_hips(prof, truth, visits, cats, stage, seed, workers, bar, hips, step)
            )
        t = time.perf_counter()
        manifest["mocs"] = write_release_mocs(stage, manifest)  # after the catalogs and ObsCore
        bar.update(1)
        step("moc", t)
        timings["total"] = round(time.perf_counter() - t_start, 3)
        manifest["build"] = {"seconds": timings, "bytes": _du(stage)}
        (stage / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
        bar.update(1)
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(stage, out)
    return out


def _wide_rows(prof: Profile, visits: list[Visit], seed: int, bar) -> dict[str, Iterator]:
    """Object and Reference rows of the catalog-only wide area, one partition at a time."""
    from .catalogs import coadd_depth
    from .wide import wide_chunks

    chunks = wide_chunks(prof, visits, seed, coadd_depth(visits))
    cache: dict[int, pd.DataFrame] = {}

    def stream(which: int) -> Iterator[tuple[int, pd.DataFrame]]:
        # Object is written first and fills the cache of Reference rows (small), so the
        # expensive draw happens once per partition
        if which == 0:
            for pix, obj, ref in chunks:
                cache[pix] = ref  # keep nothing of obj: even an empty slice would pin its arrays
                bar.update(1)
                yield pix, obj
        else:
            for pix in sorted(cache):
                yield pix, cache.pop(pix)

    return {"Object": stream(0), "Reference": stream(1)}


def _write_catalog(prof: Profile, spec, cd, out_dir: Path, wide: Iterator | None):
    from .hats_writer import HatsWriter

    if wide is None:
        return write_hats_catalog(
            cd,
            spec,
            out_dir,
            order=prof.partition_order,
            row_group_rows=prof.row_group_rows,
            margin_arcsec=prof.margin_arcsec,
        )
    from hats.pixel_math.spatial_index import compute_spatial_index

    writer = HatsWriter(
        spec,
        out_dir,
        order=prof.partition_order,
        row_group_rows=prof.row_group_rows,
        margin_arcsec=prof.margin_arcsec,
    )
    ra_col, dec_col = spec.ra_column or "", spec.dec_column or ""
    deep_pix = compute_spatial_index(np.asarray(cd.shard_ra) % 360.0, np.asarray(cd.shard_dec)) >> (
        2 * (29 - prof.partition_order)
    )
    pending = set(np.unique(deep_pix).tolist())
    for pix, rows in wide:
        deep = cd.frame[deep_pix == pix]
        frame = pd.concat([deep, rows], ignore_index=True) if len(deep) else rows
        writer.add(frame, frame[ra_col].to_numpy(), frame[dec_col].to_numpy())
        pending.discard(pix)
    for pix in sorted(pending):
        sel = deep_pix == pix
        writer.add(cd.frame[sel], cd.shard_ra[sel], cd.shard_dec[sel])
    return writer.finish()


def _images_butler_hips(prof, truth, visits, cats, stage, seed, workers, bar, hips, step) -> dict[str, Any]:
    from .butler_repo import create_butler_repo, ingest_images, put_catalogs
    from .obscore import obscore_table, write_obscore

    t = time.perf_counter()
    butler_root = stage / "butler"
    butler = create_butler_repo(butler_root, prof, visits)
    bar.update(1)
    t = step("butler_create", t)
    records = _render_all(prof, truth, visits, stage, seed, workers, bar)
    t = step("images", t)
    ids = ingest_images(butler, stage, records)
    put_catalogs(butler, _butler_catalogs(prof, cats))
    bar.update(1)
    t = step("butler_ingest", t)
    table = obscore_table(records, dataset_ids=ids)
    write_obscore(table, stage / "obscore" / "obscore.parquet")
    bar.update(1)
    t = step("obscore", t)
    out: dict[str, Any] = {
        "images": {
            kind: {
                "count": sum(1 for r in records if r.kind == kind),
                "bands": [b for b in BANDS if any(r.kind == kind and r.band == b for r in records)],
                "butler_dataset_type": kind,
            }
            for kind in ("visit_image", "deep_coadd")
        },
        "butler": {
            "root": "butler",
            "collections": _butler_collections(),
            "datasets": _butler_counts(butler),
            "instrument": INSTRUMENT,
        },
        "obscore": {"path": "obscore/obscore.parquet", "rows": table.num_rows},
    }
    if hips:
        from .hips import build_hips

        coadds: dict[str, list[Path]] = {b: [] for b in BANDS}
        for r in records:
            if r.kind == "deep_coadd":
                coadds[r.band].append(stage / r.path)
        trees = build_hips(coadds, stage / "hips", release_name=f"lsstbox-{prof.name}", workers=workers)
        out["hips"] = [
            {
                "id": h["id"],
                "title": h.get("title", h["id"]),
                "band": h.get("band", ""),
                "path": str(Path(h["path"]).relative_to(stage)),
                "max_order": h.get("max_order"),
                "formats": h.get("formats", []),
            }
            for h in trees
        ]
        bar.update(1)
        step("hips", t)
    return out


def _butler_catalogs(prof: Profile, cats) -> list[tuple[str, dict[str, Any], pd.DataFrame]]:
    """The DP1-style per-tract / per-visit catalog datasets the Butler holds beside the images."""
    out: list[tuple[str, dict[str, Any], pd.DataFrame]] = [
        ("object", {"tract": prof.tract}, cats["Object"].frame),
        ("dia_object", {"tract": prof.tract}, cats["DiaObject"].frame),
        ("dia_source", {"tract": prof.tract}, cats["DiaSource"].frame),
        ("visit_table", {}, cats["Visit"].frame),
        ("visit_detector_table", {}, cats["CcdVisit"].frame),
    ]
    src = cats["Source"].frame
    for visit, rows in src.groupby("visit", sort=True):
        out.append(("source", {"visit": int(visit)}, rows.reset_index(drop=True)))
    return out


def _butler_collections() -> list[str]:
    from .butler_repo import COLLECTION, RUN_COLLECTION

    return [COLLECTION, RUN_COLLECTION]


def _butler_counts(butler) -> dict[str, int]:
    from .butler_repo import COLLECTION

    counts = {}
    for dt in sorted(butler.registry.queryDatasetTypes(), key=lambda d: d.name):
        refs = butler.query_datasets(dt.name, collections=COLLECTION, explain=False, limit=None)
        counts[dt.name] = len(refs)
    return counts


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _generator() -> str:
    try:
        from jupyterlab_lsp import __version__
    except ImportError:  # pragma: no cover
        __version__ = "unknown"
    return f"jupyterlab-lsstbox {__version__}"
