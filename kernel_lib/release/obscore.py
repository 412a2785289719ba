"""The ObsCore 1.1 table of the release's images (one row per image file).

Columns are the ObsCore 1.1 mandatory ones plus Rubin's extensions (``dataproduct_subtype`` and
the ``lsst_*`` columns), with an extra ``lsst_file`` (the image path relative to the release
root) so services can open the file behind a row.  :data:`OBSCORE_COLUMNS` carries each
column's datatype, unit, UCD, utype and description in TAP_SCHEMA terms; the same metadata is
stored in the Parquet schema's field metadata (keys ``unit``, ``ucd``, ``utype``,
``description``).

``obs_publisher_did`` is ``ivo://org.rubinobs/usdac/lsst-dp1-box?repo=box&id=<id>`` where
``<id>`` is the Butler dataset UUID when ``dataset_ids`` (``record.path -> UUID``) has one, else
the record's path without its ``.fits`` suffix.  ``access_url`` is the relative DataLink URL
``datalink/links?ID=<url-encoded DID>``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .model import BAND_RANGE_NM, BAND_WAVELENGTH_NM, INSTRUMENT, ImageRecord

__all__ = [
    "ACCESS_FORMAT",
    "DID_PREFIX",
    "OBSCORE_COLUMNS",
    "OBS_COLLECTION",
    "obscore_table",
    "publisher_did",
    "write_obscore",
]

OBS_COLLECTION = "LSST.DP1-box"
DID_PREFIX = "ivo://org.rubinobs/usdac/lsst-dp1-box?repo=box&id="
ACCESS_FORMAT = "application/x-votable+xml;content=datalink"
FACILITY_NAME = "Rubin:Simonyi"
TARGET_NAME = "ECDFS"
CALIB_LEVEL = {"visit_image": 2, "deep_coadd": 3}
SUBTYPE = {"visit_image": "lsst.visit_image", "deep_coadd": "lsst.deep_coadd"}


def _col(
    datatype: str,
    unit: str,
    ucd: str,
    utype: str,
    description: str,
    *,
    std: bool = True,
    principal: bool = False,
    indexed: bool = False,
) -> dict[str, Any]:
    return {
        "datatype": datatype,  # TAP_SCHEMA / VOTable datatype
        "arraysize": "*" if datatype == "char" else None,
        "unit": unit,
        "ucd": ucd,
        "utype": utype,
        "description": description,
        "std": std,
        "principal": principal,
        "indexed": indexed,
    }


_O = "obscore:"
#: Column metadata in TAP_SCHEMA terms, in table order.
OBSCORE_COLUMNS: dict[str, dict[str, Any]] = {
    "dataproduct_type": _col(
        "char",
        "",
        "meta.code.class",  # ObsCore 1.1 erratum 1 (was meta.id)
        _O + "ObsDataset.dataProductType",
        "Data product (file content) primary type",
        principal=True,
        indexed=True,
    ),
    "dataproduct_subtype": _col(
        "char",
        "",
        "meta.code.class",
        _O + "ObsDataset.dataProductSubtype",
        "Data product specific type (Rubin dataset type)",
        principal=True,
        indexed=True,
    ),
    "calib_level": _col(
        "int",
        "",
        "meta.code;obs.calib",
        _O + "ObsDataset.calibLevel",
        "Calibration level of the observation: in {0, 1, 2, 3, 4}",
        principal=True,
    ),
    "obs_collection": _col(
        "char", "", "meta.id", _O + "DataID.Collection", "Name of the data collection", principal=True
    ),
    "obs_id": _col(
        "char",
        "",
        "meta.id",
        _O + "DataID.observationID",
        "Internal ID given by the ObsTAP service",
        principal=True,
        indexed=True,
    ),
    "obs_publisher_did": _col(
        "char",
        "",
        "meta.ref.ivoid",
        _O + "Curation.PublisherDID",
        "ID for the Dataset given by the publisher",
        principal=True,
        indexed=True,
    ),
    "access_url": _col(
        "char",
        "",
        "meta.ref.url",
        _O + "Access.Reference",
        "URL used to access the dataset (DataLink links service)",
        principal=True,
    ),
    "access_format": _col(
        "char", "", "meta.code.mime", _O + "Access.Format", "Content format of the dataset", principal=True
    ),
    "access_estsize": _col(
        "long",
        "kbyte",
        "phys.size;meta.file",
        _O + "Access.Size",
        "Estimated size of dataset: in kilobytes",
        principal=True,
    ),
    "target_name": _col("char", "", "meta.id;src", _O + "Target.name", "Object of interest", principal=True),
    "s_ra": _col(
        "double",
        "deg",
        "pos.eq.ra",
        _O + "Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1",
        "Central Spatial Position in ICRS; Right ascension",
        principal=True,
        indexed=True,
    ),
    "s_dec": _col(
        "double",
        "deg",
        "pos.eq.dec",
        _O + "Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2",
        "Central Spatial Position in ICRS; Declination",
        principal=True,
        indexed=True,
    ),
    "s_fov": _col(
        "double",
        "deg",
        "phys.angSize;instr.fov",
        _O + "Char.SpatialAxis.Coverage.Bounds.Extent.diameter",
        "Estimated size of the covered region as the diameter of a containing circle",
        principal=True,
    ),
    "s_region": _col(
        "char",
        "",
        "pos.outline;obs.field",
        _O + "Char.SpatialAxis.Coverage.Support.Area",
        "Sky region covered by the data product (STC-S polygon, ICRS)",
        principal=True,
    ),
    "s_resolution": _col(
        "double",
        "arcsec",
        "pos.angResolution",
        _O + "Char.SpatialAxis.Resolution.Refval.value",
        "Spatial resolution of data as FWHM of the PSF",
        principal=True,
    ),
    "s_xel1": _col(
        "long",
        "",
        "meta.number",
        _O + "Char.SpatialAxis.numBins1",
        "Number of elements along the first spatial axis",
    ),
    "s_xel2": _col(
        "long",
        "",
        "meta.number",
        _O + "Char.SpatialAxis.numBins2",
        "Number of elements along the second spatial axis",
    ),
    "t_xel": _col(
        "long", "", "meta.number", _O + "Char.TimeAxis.numBins", "Number of elements along the time axis"
    ),
    "t_min": _col(
        "double",
        "d",
        "time.start;obs.exposure",
        _O + "Char.TimeAxis.Coverage.Bounds.Limits.StartTime",
        "Start time in MJD (TAI)",
        principal=True,
        indexed=True,
    ),
    "t_max": _col(
        "double",
        "d",
        "time.end;obs.exposure",
        _O + "Char.TimeAxis.Coverage.Bounds.Limits.StopTime",
        "Stop time in MJD (TAI)",
        principal=True,
        indexed=True,
    ),
    "t_exptime": _col(
        "double",
        "s",
        "time.duration;obs.exposure",
        _O + "Char.TimeAxis.Coverage.Support.Extent",
        "Total exposure time",
        principal=True,
    ),
    "t_resolution": _col(
        "double",
        "s",
        "time.resolution",
        _O + "Char.TimeAxis.Resolution.Refval.value",
        "Temporal resolution FWHM",
    ),
    "em_min": _col(
        "double",
        "m",
        "em.wl;stat.min",
        _O + "Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit",
        "Start in spectral coordinates (vacuum wavelength)",
        principal=True,
        indexed=True,
    ),
    "em_max": _col(
        "double",
        "m",
        "em.wl;stat.max",
        _O + "Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit",
        "Stop in spectral coordinates (vacuum wavelength)",
        principal=True,
        indexed=True,
    ),
    "em_res_power": _col(
        "double",
        "",
        "spect.resolution",
        _O + "Char.SpectralAxis.Resolution.ResolPower.refVal",
        "Value of the resolving power along the spectral axis (R)",
    ),
    "em_xel": _col(
        "long",
        "",
        "meta.number",
        _O + "Char.SpectralAxis.numBins",
        "Number of elements along the spectral axis",
    ),
    "o_ucd": _col(
        "char",
        "",
        "meta.ucd",
        _O + "Char.ObservableAxis.ucd",
        "UCD of observable (e.g. phot.flux.density, phot.count, etc.)",
        principal=True,
    ),
    "pol_states": _col(
        "char",
        "",
        "meta.code;phys.polarization",
        _O + "Char.PolarizationAxis.stateList",
        "List of polarization states or NULL if not applicable",
    ),
    "pol_xel": _col(
        "long", "", "meta.number", _O + "Char.PolarizationAxis.numBins", "Number of polarization samples"
    ),
    "facility_name": _col(
        "char",
        "",
        "meta.id;instr.tel",
        _O + "Provenance.ObsConfig.Facility.name",
        "Name of the facility used for this observation",
        principal=True,
    ),
    "instrument_name": _col(
        "char",
        "",
        "meta.id;instr",
        _O + "Provenance.ObsConfig.Instrument.name",
        "Name of the instrument used for this observation",
        principal=True,
    ),
    "lsst_visit": _col(
        "long",
        "",
        "meta.id;obs",
        "",
        "Rubin visit id (visit images)",
        std=False,
        principal=True,
        indexed=True,
    ),
    "lsst_detector": _col(
        "int", "", "meta.id;instr.det", "", "Rubin detector id (visit images)", std=False, principal=True
    ),
    "lsst_tract": _col("long", "", "meta.id", "", "Sky map tract (coadds)", std=False, principal=True),
    "lsst_patch": _col("long", "", "meta.id", "", "Sky map patch (coadds)", std=False, principal=True),
    "lsst_band": _col(
        "char",
        "",
        "meta.id;instr.filter",
        "",
        "Abstract filter (band): u, g, r, i, z or y",
        std=False,
        principal=True,
        indexed=True,
    ),
    "lsst_filter": _col("char", "", "meta.id;instr.filter", "", "Physical filter", std=False),
    "lsst_file": _col("char", "", "meta.ref", "", "Image file path relative to the release root", std=False),
}

_ARROW_TYPES = {"char": pa.string(), "int": pa.int32(), "long": pa.int64(), "double": pa.float64()}


def _schema() -> pa.Schema:
    fields = []
    for name, meta in OBSCORE_COLUMNS.items():
        md = {k: str(meta[k]) for k in ("unit", "ucd", "utype", "description") if meta[k]}
        fields.append(pa.field(name, _ARROW_TYPES[meta["datatype"]], nullable=True, metadata=md))
    return pa.schema(fields, metadata={"table": "ivoa.ObsCore", "obscore_version": "1.1"})


def publisher_did(record: ImageRecord, dataset_ids: Mapping[str, str] | None = None) -> str:
    """The IVOA publisher DID of an image (the Butler UUID if known, else path-derived)."""
    ident = (dataset_ids or {}).get(record.path)
    if not ident:
        ident = record.path[:-5] if record.path.endswith(".fits") else record.path
    return DID_PREFIX + str(ident)


def _unit_vectors(corners: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(corners[:, 0]), np.radians(corners[:, 1])
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


def _centre_and_fov(corners: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    c = np.asarray(corners, dtype=float)
    v = _unit_vectors(c)
    m = v.mean(axis=0)
    m /= np.linalg.norm(m)
    ra = math.degrees(math.atan2(m[1], m[0])) % 360.0
    dec = math.degrees(math.asin(max(-1.0, min(1.0, m[2]))))
    radius = float(np.degrees(np.arccos(np.clip(v @ m, -1.0, 1.0))).max())
    return ra, dec, 2.0 * radius


def _stc_polygon(corners: Sequence[Sequence[float]]) -> str:
    return "POLYGON ICRS " + " ".join(f"{ra % 360.0:.8f} {dec:.8f}" for ra, dec in corners)


def _obs_id(rec: ImageRecord) -> str:
    if rec.kind == "visit_image" and rec.visit is not None:
        day_obs, seq = divmod(int(rec.visit), 100000)
        prefix = "CC_S" if INSTRUMENT.endswith("Sim") else "CC_O"
        return f"{prefix}_{day_obs}_{seq:06d}"
    return f"{rec.kind}_{rec.tract}_{rec.patch}_{rec.band}"


def obscore_table(
    records: list[ImageRecord],
    *,
    dataset_ids: Mapping[str, str] | None = None,
    seeing: Mapping[str, float] | None = None,
    target_name: str = TARGET_NAME,
) -> pa.Table:
    """One ObsCore row per image record.

    ``dataset_ids`` maps ``record.path`` to the Butler dataset UUID (used in the publisher DID);
    ``seeing`` maps ``record.path`` to the PSF FWHM in arcsec for ``s_resolution``; without an
    entry, the record's own ``seeing_arcsec`` is used (NULL when it has none).
    """
    cols: dict[str, list[Any]] = {name: [] for name in OBSCORE_COLUMNS}
    for rec in records:
        if rec.kind not in CALIB_LEVEL:
            raise ValueError(f"{rec.path}: unknown image kind {rec.kind!r}")
        if rec.band not in BAND_RANGE_NM:
            raise ValueError(f"{rec.path}: unknown band {rec.band!r}")
        if len(rec.corners) < 3:
            raise ValueError(f"{rec.path}: needs at least 3 corners, got {len(rec.corners)}")
        did = publisher_did(rec, dataset_ids)
        ra, dec, fov = _centre_and_fov(rec.corners)
        lo, hi = BAND_RANGE_NM[rec.band]
        fwhm = seeing.get(rec.path) if seeing is not None else None
        if fwhm is None:
            fwhm = rec.seeing_arcsec
        is_visit = rec.kind == "visit_image"
        span_s = (rec.mjd_end - rec.mjd_start) * 86400.0
        row = {
            "dataproduct_type": "image",
            "dataproduct_subtype": SUBTYPE[rec.kind],
            "calib_level": CALIB_LEVEL[rec.kind],
            "obs_collection": OBS_COLLECTION,
            "obs_id": _obs_id(rec),
            "obs_publisher_did": did,
            "access_url": "datalink/links?ID=" + quote(did, safe=""),
            "access_format": ACCESS_FORMAT,
            "access_estsize": math.ceil(rec.size_bytes / 1024.0),
            "target_name": target_name,
            "s_ra": ra,
            "s_dec": dec,
            "s_fov": fov,
            "s_region": _stc_polygon(rec.corners),
            "s_resolution": float(fwhm) if fwhm is not None else None,
            "s_xel1": int(rec.nx),
            "s_xel2": int(rec.ny),
            "t_xel": 1,
            "t_min": float(rec.mjd_start),
            "t_max": float(rec.mjd_end),
            "t_exptime": float(rec.exp_time),
            "t_resolution": float(rec.exp_time) if is_visit else float(span_s),
            "em_min": lo / 1e9,
            "em_max": hi / 1e9,
            "em_res_power": BAND_WAVELENGTH_NM[rec.band] / (hi - lo),
            "em_xel": 1,
            "o_ucd": "phot.flux.density",
            "pol_states": None,
            "pol_xel": 0,
            "facility_name": FACILITY_NAME,
            "instrument_name": INSTRUMENT,
            "lsst_visit": rec.visit,
            "lsst_detector": rec.detector,
            "lsst_tract": rec.tract,
            "lsst_patch": rec.patch,
            "lsst_band": rec.band,
            "lsst_filter": rec.physical_filter,
            "lsst_file": rec.path,
        }
        for k, v in row.items():
            cols[k].append(v)
    schema = _schema()
    return pa.table({f.name: pa.array(cols[f.name], type=f.type) for f in schema}, schema=schema)


def write_obscore(table: pa.Table, path: str | os.PathLike) -> None:
    """Write the ObsCore table as Parquet (atomically), keeping the column metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if table.schema.field(0).metadata is None:
        table = table.cast(_schema())
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
