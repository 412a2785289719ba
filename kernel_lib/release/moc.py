"""IVOA MOCs (Multi-Order Coverage maps, MOC 2.0) of the release's catalogs and image collections.

A MOC is the set of HEALPix cells (nested, ICRS) a data set covers, what a sky viewer overlays to
show where the data is (Aladin, ipyaladin, the CDS MOC server) and what a client intersects to
know whether a region is worth a query.  The release writes one per catalog and one per image
collection under ``moc/<id>.fits`` (MOC 2.0 FITS, range-encoded, as mocpy writes it) and lists
them in the manifest's ``"mocs"``:

* a catalog's MOC is the cells holding at least one row: the cells of the rows' own coordinates
  (the manifest's ``ra_column``/``dec_column``), or of the ``_healpix_29`` index of the HATS
  leaves for a row without them (see :func:`catalog_moc`), read leaf by leaf, those columns
  only, holding nothing but the cell numbers;
* an image collection's MOC is the union of the ObsCore ``s_region`` polygons of its images
  (cells overlapping a footprint, so it covers the footprints, overshooting by at most a cell):
  ``visit_image`` and ``deep_coadd``, and ``visit_image_<band>`` per band, since visits are
  dithered and each band covers its own area (the coadds of every band share the skymap's
  patches, so their per-band MOCs would all equal ``deep_coadd``'s).

Order :data:`MOC_ORDER` = 14 (cells of 12.9", 4 x 4 cells on the tiny profile's 51" detectors,
~45 x 45 on the demo tract): fine enough that a detector's footprint still looks like one, coarse
enough that a MOC is a few KB (8.6 KB, FITS's minimum of three 2880-byte blocks, on tiny; up to
14 KB on demo).  A MOC that would still be large (more than :data:`MAX_RANGES` ranges: a sparse
catalog over a wide area) is degraded to a coarser order (:func:`bounded`); the manifest
records each MOC's order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.coordinates import Latitude, Longitude
from numpy.typing import ArrayLike

from .model import BANDS

__all__ = [
    "MOC_DIR",
    "MOC_ORDER",
    "bounded",
    "catalog_moc",
    "image_moc",
    "parse_stcs_polygon",
    "write_release_mocs",
]

MOC_ORDER = 14
#: a MOC with more ranges than this (64 KiB of FITS data) is degraded an order at a time, down to
#: :data:`MIN_ORDER`: a sparse catalog (the wide area's Reference stars) would otherwise be a MOC
#: of one cell per row, megabytes for a sky panel to fetch and draw
MAX_RANGES = 4096
MIN_ORDER = 8
MOC_DIR = "moc"
HEALPIX_29 = "_healpix_29"
#: ObsCore ``dataproduct_subtype`` -> image collection id, in the order they are listed
IMAGE_COLLECTIONS = {"lsst.visit_image": "visit_image", "lsst.deep_coadd": "deep_coadd"}
#: collections that also get one MOC per band
PER_BAND = ("visit_image",)


def _leaves(hats_dir: Path) -> list[Path]:
    """The Parquet leaves of a HATS catalog (``Npix=<n>.parquet`` files or ``Npix=<n>/`` folders)."""
    leaves: list[Path] = []
    for leaf in sorted((hats_dir / "dataset").glob("Norder=*/Dir=*/Npix=*")):
        leaves.extend(sorted(leaf.rglob("*.parquet")) if leaf.is_dir() else [leaf])
    return leaves


def _cells_moc(cells: np.ndarray, order: int) -> Any:
    from mocpy import MOC

    if cells.size == 0:
        return MOC.new_empty(order)
    cells = cells.astype(np.uint64)
    return MOC.from_healpix_cells(cells, np.full(cells.shape, order, dtype=np.uint8), order)


def catalog_moc(
    hats_dir: str | Path,
    order: int = MOC_ORDER,
    ra_column: str | None = None,
    dec_column: str | None = None,
) -> Any:
    """The MOC (mocpy ``MOC``) of the cells of ``order`` holding at least one row of a HATS catalog.

    A row is placed by its own position when ``ra_column``/``dec_column`` are given and finite,
    else by its ``_healpix_29`` index.  The two differ for the tables sharded by their parent
    object's position (``Source``, ``ForcedSource``, ``DiaSource``...: a source a fraction of an
    arcsecond from its object can sit in the next cell), so the MOC of a table with coordinates
    is the MOC of its rows' coordinates.  Only those columns are read, a batch at a time.
    """
    import pyarrow.parquet as pq
    from cdshealpix.nested import lonlat_to_healpix

    if not 0 <= order <= 29:
        raise ValueError(f"MOC order must be in 0..29, got {order}")
    shift = np.uint64(2 * (29 - order))
    use_pos = bool(ra_column and dec_column)
    columns = [HEALPIX_29, *([ra_column, dec_column] if use_pos else [])]
    cells: list[np.ndarray] = []
    for leaf in _leaves(Path(hats_dir)):
        pf = pq.ParquetFile(leaf)
        for batch in pf.iter_batches(columns=columns, batch_size=1 << 16):
            idx = batch.column(0).to_numpy(zero_copy_only=False)
            if not idx.size:
                continue
            cell = idx.astype(np.uint64) >> shift
            if use_pos:
                ra = np.asarray(batch.column(1).to_numpy(zero_copy_only=False), float)
                dec = np.asarray(batch.column(2).to_numpy(zero_copy_only=False), float)
                ok = np.isfinite(ra) & np.isfinite(dec)
                if ok.any():
                    lon, lat = Longitude(ra[ok] % 360.0, u.deg), Latitude(dec[ok], u.deg)
                    cell[ok] = lonlat_to_healpix(lon, lat, order).astype(np.uint64)
            cells.append(np.unique(cell))
        pf.close()
    return _cells_moc(np.unique(np.concatenate(cells)) if cells else np.empty(0, np.uint64), order)


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_POLYGON = re.compile(rf"^\s*POLYGON(?:\s+(?:ICRS|UNKNOWNFRAME))?((?:\s+{_NUM})+)\s*$", re.IGNORECASE)


def parse_stcs_polygon(region: str) -> tuple[np.ndarray, np.ndarray]:
    """(ra, dec) in degrees of an STC-S ``POLYGON [ICRS] ra1 dec1 ra2 dec2 ...`` (ObsCore ``s_region``)."""
    m = _POLYGON.match(region)
    if not m:
        raise ValueError(f"not an STC-S ICRS polygon: {region[:80]!r}")
    vals = np.array(m.group(1).split(), dtype=float)
    if vals.size % 2 or vals.size < 6:
        raise ValueError(f"an STC-S polygon needs >= 3 (ra, dec) pairs: {region[:80]!r}")
    return vals[0::2] % 360.0, vals[1::2]


def image_moc(polygons: Iterable[str | tuple[ArrayLike, ArrayLike]], order: int = MOC_ORDER) -> Any:
    """The MOC of the union of image footprints: STC-S polygon strings or (ra, dec) vertex arrays (deg).

    The cells overlapping a polygon are kept, so the MOC covers each footprint whole (and
    overshoots it by at most a cell); each polygon is taken as its smaller side, whatever its
    winding.
    """
    from astropy.coordinates import SkyCoord
    from mocpy import MOC

    coords = []
    for p in polygons:
        ra, dec = parse_stcs_polygon(p) if isinstance(p, str) else (np.asarray(p[0]), np.asarray(p[1]))
        coords.append(SkyCoord(ra * u.deg, dec * u.deg, frame="icrs"))
    if not coords:
        return MOC.new_empty(order)
    mocs = MOC.from_polygons(coords, max_depth=order, n_threads=1)
    return mocs[0].union(*mocs[1:]) if len(mocs) > 1 else mocs[0]


def bounded(moc: Any, max_ranges: int = MAX_RANGES, min_order: int = MIN_ORDER) -> Any:
    """``moc``, degraded an order at a time while it has more than ``max_ranges`` ranges (to no
    coarser than ``min_order``): a superset of it, so whatever it covered it still covers."""
    while len(moc.to_depth29_ranges) > max_ranges and moc.max_order > min_order:
        moc = moc.degrade_to_order(moc.max_order - 1)
    return moc


def _band_key(band: str) -> tuple[int, str]:
    return (BANDS.index(band) if band in BANDS else len(BANDS), band)


def write_release_mocs(
    root: str | Path, manifest: Mapping[str, Any], order: int = MOC_ORDER
) -> list[dict[str, Any]]:
    """Write the MOCs of a release's catalogs and image collections into ``root/moc/``; return the
    manifest's ``"mocs"`` entries (catalogs in manifest order, then image collections).

    ``manifest`` needs its ``"catalogs"`` and (for images) ``"obscore"`` sections, with paths
    relative to ``root`` or absolute.
    """
    import pyarrow.parquet as pq

    root = Path(root)
    (root / MOC_DIR).mkdir(parents=True, exist_ok=True)
    release = str(manifest.get("name", root.name))
    entries: list[dict[str, Any]] = []

    def save(moc: Any, mid: str, title: str, kind: str, **extra: Any) -> None:
        moc = bounded(moc)
        rel = f"{MOC_DIR}/{mid}.fits"
        keywords = {
            "MOCTYPE": "CATALOG" if kind == "catalog" else "IMAGE",
            "MOCID": f"ivo://lsstbox/{release}/moc/{mid}",
            "ORIGIN": "lsstbox",
        }
        moc.save(root / rel, format="fits", overwrite=True, fits_keywords=keywords)
        entries.append(
            {
                "id": mid,
                "title": title,
                "kind": kind,
                "path": rel,
                "order": int(moc.max_order),
                "sky_fraction": float(moc.sky_fraction),
                **extra,
                "bytes": (root / rel).stat().st_size,
            }
        )

    def resolve(path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else root / p

    for name, cat in manifest.get("catalogs", {}).items():
        rows = int(cat.get("rows", 0))
        moc = catalog_moc(resolve(cat["path"]), order, cat.get("ra_column"), cat.get("dec_column"))
        save(moc, name, f"{name} catalog ({rows:,} rows)", "catalog", catalog=name, rows=rows)

    obscore = manifest.get("obscore")
    if not obscore:
        return entries
    cols = pq.read_table(resolve(obscore["path"]), columns=["dataproduct_subtype", "lsst_band", "s_region"])
    by_coll: dict[str, list[tuple[str, str]]] = {}
    for sub, band, region in zip(*(cols.column(i).to_pylist() for i in range(3)), strict=True):
        if sub in IMAGE_COLLECTIONS and region:
            by_coll.setdefault(IMAGE_COLLECTIONS[sub], []).append((band or "", region))
    for coll in IMAGE_COLLECTIONS.values():
        images = by_coll.get(coll, [])
        if not images:
            continue
        moc = image_moc([r for _, r in images], order)
        save(moc, coll, f"{coll} footprints ({len(images)} images)", "images",
             collection=coll, band="", images=len(images))  # fmt: skip
        if coll not in PER_BAND:
            continue
        for band in sorted({b for b, _ in images if b}, key=_band_key):
            regions = [r for b, r in images if b == band]
            moc = image_moc(regions, order)
            save(moc, f"{coll}_{band}", f"{coll} {band}-band footprints ({len(regions)} images)", "images",
                 collection=coll, band=band, images=len(regions))  # fmt: skip
    return entries
