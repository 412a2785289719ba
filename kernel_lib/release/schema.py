"""Column definitions of the release's tables: DP1 names, types, units, UCDs and descriptions.

One :class:`Column` per column.  The HATS writer stores unit/UCD/description in the Parquet
field metadata, the manifest repeats them, and TAP_SCHEMA will be generated from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from .model import BANDS

__all__ = ["TABLES", "Column", "TableSpec", "arrow_schema"]

_TYPES = {
    "long": pa.int64(),
    "int": pa.int32(),
    "short": pa.int16(),
    "double": pa.float64(),
    "float": pa.float32(),
    "boolean": pa.bool_(),
    "char": pa.string(),
}


@dataclass(frozen=True)
class Column:
    name: str
    datatype: str  # ADQL/VOTable-ish: long int short double float boolean char
    unit: str = ""
    ucd: str = ""
    description: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        return _TYPES[self.datatype]


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[Column, ...]
    ra_column: str | None = None
    dec_column: str | None = None
    primary_key: str | None = None
    #: for dependent tables: (their key column, the director table, its key) -- Qserv's idea.
    director: tuple[str, str, str] | None = None

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def C(name: str, datatype: str, unit: str = "", ucd: str = "", description: str = "") -> Column:
    return Column(name, datatype, unit, ucd, description)


def _per_band(template: list[tuple[str, str, str, str, str]]) -> list[Column]:
    out = []
    for b in BANDS:
        for name, dt, unit, ucd, desc in template:
            out.append(Column(f"{b}_{name}", dt, unit, ucd.replace("{em}", _EM[b]), desc.replace("{b}", b)))
    return out


#: IVOA UCD words for the LSST bands (the closest Johnson-like words, as the DP1 schema does).
_EM = {"u": "em.opt.U", "g": "em.opt.B", "r": "em.opt.R", "i": "em.opt.I", "z": "em.opt.I", "y": "em.IR.NIR"}

_POS = [
    C("coord_ra", "double", "deg", "pos.eq.ra;meta.main", "Fiducial ICRS Right Ascension of centroid"),
    C("coord_dec", "double", "deg", "pos.eq.dec;meta.main", "Fiducial ICRS Declination of centroid"),
    C("coord_raErr", "float", "deg", "stat.error;pos.eq.ra", "Error in Right Ascension"),
    C("coord_decErr", "float", "deg", "stat.error;pos.eq.dec", "Error in Declination"),
]

OBJECT = TableSpec(
    name="Object",
    description="Astrophysical objects detected and measured on the deep coadds, one row per object.",
    ra_column="coord_ra",
    dec_column="coord_dec",
    primary_key="objectId",
    columns=(
        C("objectId", "long", "", "meta.id;src", "Unique id of the object"),
        *_POS,
        C("tract", "long", "", "meta.id.parent", "Skymap tract ID"),
        C("patch", "long", "", "meta.id.part", "Skymap patch ID"),
        C("x", "double", "pix", "pos.cartesian.x", "Centroid x in tract pixel coordinates"),
        C("y", "double", "pix", "pos.cartesian.y", "Centroid y in tract pixel coordinates"),
        C("refBand", "char", "", "meta.code;instr.filter", "Band used as the reference for this object"),
        C(
            "refExtendedness",
            "double",
            "",
            "src.class.starGalaxy",
            "Extendedness in the reference band: 0 point source, 1 extended",
        ),
        C("detect_isPrimary", "boolean", "", "meta.code", "True for deblended, inner-patch objects"),
        C("ebv", "double", "mag", "phot.color.excess", "E(B-V) of the Milky Way (SFD) at the object"),
        *_per_band(
            [
                ("psfFlux", "double", "nJy", "phot.flux;{em}", "Flux from the PSF model, {b} band"),
                ("psfFluxErr", "double", "nJy", "stat.error;phot.flux;{em}", "Error of {b}_psfFlux"),
                ("psfMag", "double", "mag", "phot.mag;{em}", "AB magnitude from {b}_psfFlux"),
                ("psfMagErr", "double", "mag", "stat.error;phot.mag;{em}", "Error of {b}_psfMag"),
                ("cModelFlux", "double", "nJy", "phot.flux;{em}", "Flux from the composite model, {b} band"),
                ("cModelFluxErr", "double", "nJy", "stat.error;phot.flux;{em}", "Error of {b}_cModelFlux"),
                ("cModelMag", "double", "mag", "phot.mag;{em}", "AB magnitude from {b}_cModelFlux"),
                ("cModelMagErr", "double", "mag", "stat.error;phot.mag;{em}", "Error of {b}_cModelMag"),
                ("extendedness", "double", "", "src.class.starGalaxy", "Extendedness in the {b} band"),
                ("psfFlux_flag", "boolean", "", "meta.code.error", "Failure of the {b} PSF flux"),
            ]
        ),
    ),
)

SOURCE = TableSpec(
    name="Source",
    description=(
        "Sources detected on single visit images, one row per detection, associated with the "
        "nearest Object; sharded with their Object."
    ),
    ra_column="coord_ra",
    dec_column="coord_dec",
    primary_key="sourceId",
    director=("objectId", "Object", "objectId"),
    columns=(
        C("sourceId", "long", "", "meta.id;obs.image", "Unique id of the source"),
        C("objectId", "long", "", "meta.id;src", "Object this source is associated with"),
        C("visit", "long", "", "meta.id;obs", "Visit id"),
        C("detector", "int", "", "meta.id;instr.det", "Detector id"),
        C("band", "char", "", "instr.bandpass", "Band of the observation"),
        *_POS,
        C("x", "double", "pix", "pos.cartesian.x", "Centroid x on the detector"),
        C("y", "double", "pix", "pos.cartesian.y", "Centroid y on the detector"),
        C("psfFlux", "double", "nJy", "phot.flux", "Flux from the PSF model"),
        C("psfFluxErr", "double", "nJy", "stat.error;phot.flux", "Error of psfFlux"),
        C("apFlux_12_0", "double", "nJy", "phot.flux", "Flux in a 12-pixel radius aperture"),
        C("apFlux_12_0Err", "double", "nJy", "stat.error;phot.flux", "Error of apFlux_12_0"),
        C("extendedness", "double", "", "src.class.starGalaxy", "Extendedness: 0 point source, 1 extended"),
        C("pixelFlags_saturated", "boolean", "", "meta.code", "A saturated pixel lies in the footprint"),
    ),
)

FORCED_SOURCE = TableSpec(
    name="ForcedSource",
    description=(
        "Forced PSF photometry on visit and difference images at the position of every Object, "
        "one row per Object per overlapping visit detector; sharded with its Object."
    ),
    ra_column="coord_ra",
    dec_column="coord_dec",
    primary_key="forcedSourceId",
    director=("objectId", "Object", "objectId"),
    columns=(
        C("forcedSourceId", "long", "", "meta.id", "Unique id of the forced measurement"),
        C("objectId", "long", "", "meta.id;src", "Object measured"),
        C("visit", "long", "", "meta.id;obs", "Visit id"),
        C("detector", "int", "", "meta.id;instr.det", "Detector id"),
        C("band", "char", "", "instr.bandpass", "Band of the observation"),
        C("coord_ra", "double", "deg", "pos.eq.ra;meta.main", "Right Ascension of the Object"),
        C("coord_dec", "double", "deg", "pos.eq.dec;meta.main", "Declination of the Object"),
        C("tract", "long", "", "meta.id.parent", "Skymap tract of the Object"),
        C("patch", "long", "", "meta.id.part", "Skymap patch of the Object"),
        C("psfFlux", "double", "nJy", "phot.flux", "Forced PSF flux on the visit image"),
        C("psfFluxErr", "double", "nJy", "stat.error;phot.flux", "Error of psfFlux"),
        C("psfDiffFlux", "double", "nJy", "phot.flux", "Forced PSF flux on the difference image"),
        C("psfDiffFluxErr", "double", "nJy", "stat.error;phot.flux", "Error of psfDiffFlux"),
        C("psfFlux_flag", "boolean", "", "meta.code.error", "Failure of the PSF flux"),
    ),
)

DIA_OBJECT = TableSpec(
    name="DiaObject",
    description="Objects detected in difference images (variable and transient), one row per DiaObject.",
    ra_column="ra",
    dec_column="dec",
    primary_key="diaObjectId",
    columns=(
        C("diaObjectId", "long", "", "meta.id;src", "Unique id of the DiaObject"),
        C("ra", "double", "deg", "pos.eq.ra;meta.main", "Mean ICRS Right Ascension of its DiaSources"),
        C("dec", "double", "deg", "pos.eq.dec;meta.main", "Mean ICRS Declination of its DiaSources"),
        C("raErr", "float", "deg", "stat.error;pos.eq.ra", "Error of ra"),
        C("decErr", "float", "deg", "stat.error;pos.eq.dec", "Error of dec"),
        C("nDiaSources", "int", "", "meta.number", "Number of associated DiaSources"),
        C("firstDiaSourceMjdTai", "double", "d", "time.epoch", "MJD (TAI) of the first DiaSource"),
        C("lastDiaSourceMjdTai", "double", "d", "time.epoch", "MJD (TAI) of the last DiaSource"),
        *_per_band(
            [
                ("psfFluxMean", "double", "nJy", "phot.flux;stat.mean;{em}", "Mean {b} difference flux"),
                ("psfFluxMeanErr", "double", "nJy", "stat.error;phot.flux;{em}", "Error of the mean"),
                ("psfFluxSigma", "double", "nJy", "stat.stdev;phot.flux;{em}", "Std. dev. of {b} fluxes"),
                ("psfFluxNdata", "int", "", "meta.number", "Number of {b} DiaSources"),
            ]
        ),
    ),
)

DIA_SOURCE = TableSpec(
    name="DiaSource",
    description="Detections on difference images, one row per detection; sharded with their DiaObject.",
    ra_column="ra",
    dec_column="dec",
    primary_key="diaSourceId",
    director=("diaObjectId", "DiaObject", "diaObjectId"),
    columns=(
        C("diaSourceId", "long", "", "meta.id;obs.image", "Unique id of the DiaSource"),
        C("diaObjectId", "long", "", "meta.id;src", "DiaObject this DiaSource belongs to"),
        C("visit", "long", "", "meta.id;obs", "Visit id"),
        C("detector", "int", "", "meta.id;instr.det", "Detector id"),
        C("band", "char", "", "instr.bandpass", "Band of the observation"),
        C("ra", "double", "deg", "pos.eq.ra;meta.main", "ICRS Right Ascension"),
        C("dec", "double", "deg", "pos.eq.dec;meta.main", "ICRS Declination"),
        C("raErr", "float", "deg", "stat.error;pos.eq.ra", "Error of ra"),
        C("decErr", "float", "deg", "stat.error;pos.eq.dec", "Error of dec"),
        C("x", "double", "pix", "pos.cartesian.x", "Centroid x on the detector"),
        C("y", "double", "pix", "pos.cartesian.y", "Centroid y on the detector"),
        C("midpointMjdTai", "double", "d", "time.epoch", "Effective mid-exposure time (MJD, TAI)"),
        C("psfFlux", "double", "nJy", "phot.flux", "PSF flux on the difference image"),
        C("psfFluxErr", "double", "nJy", "stat.error;phot.flux", "Error of psfFlux"),
        C("scienceFlux", "double", "nJy", "phot.flux", "PSF flux on the visit image"),
        C("scienceFluxErr", "double", "nJy", "stat.error;phot.flux", "Error of scienceFlux"),
        C("snr", "float", "", "stat.snr", "Signal-to-noise ratio of the detection"),
        C("reliability", "float", "", "stat.probability", "Probability the detection is astrophysical"),
    ),
)

FORCED_SOURCE_ON_DIA_OBJECT = TableSpec(
    name="ForcedSourceOnDiaObject",
    description=(
        "Forced photometry at DiaObject positions on every overlapping visit, one row per DiaObject "
        "per visit detector; sharded with its DiaObject."
    ),
    ra_column="coord_ra",
    dec_column="coord_dec",
    primary_key="forcedSourceOnDiaObjectId",
    director=("diaObjectId", "DiaObject", "diaObjectId"),
    columns=(
        C("forcedSourceOnDiaObjectId", "long", "", "meta.id", "Unique id of the forced measurement"),
        C("diaObjectId", "long", "", "meta.id;src", "DiaObject measured"),
        C("visit", "long", "", "meta.id;obs", "Visit id"),
        C("detector", "int", "", "meta.id;instr.det", "Detector id"),
        C("band", "char", "", "instr.bandpass", "Band of the observation"),
        C("coord_ra", "double", "deg", "pos.eq.ra;meta.main", "Right Ascension of the DiaObject"),
        C("coord_dec", "double", "deg", "pos.eq.dec;meta.main", "Declination of the DiaObject"),
        C("psfFlux", "double", "nJy", "phot.flux", "Forced PSF flux on the visit image"),
        C("psfFluxErr", "double", "nJy", "stat.error;phot.flux", "Error of psfFlux"),
        C("psfDiffFlux", "double", "nJy", "phot.flux", "Forced PSF flux on the difference image"),
        C("psfDiffFluxErr", "double", "nJy", "stat.error;phot.flux", "Error of psfDiffFlux"),
    ),
)

VISIT = TableSpec(
    name="Visit",
    description="One row per visit (exposure of the whole camera).",
    ra_column="ra",
    dec_column="dec",
    primary_key="visit",
    columns=(
        C("visit", "long", "", "meta.id;obs", "Visit id"),
        C("physical_filter", "char", "", "meta.id;instr.filter", "Physical filter name"),
        C("band", "char", "", "instr.bandpass", "Band"),
        C("ra", "double", "deg", "pos.eq.ra;meta.main", "Boresight Right Ascension"),
        C("dec", "double", "deg", "pos.eq.dec;meta.main", "Boresight Declination"),
        C("skyRotation", "double", "deg", "pos.posAng", "Sky rotation angle"),
        C("airmass", "double", "", "obs.airMass", "Airmass at mid-exposure"),
        C("expTime", "double", "s", "time.duration;obs.exposure", "Exposure time"),
        C("expMidptMJD", "double", "d", "time.epoch;obs", "Mid-exposure time (MJD, TAI)"),
        C("obsStartMJD", "double", "d", "time.start;obs", "Start of the exposure (MJD, TAI)"),
        C("day_obs", "int", "", "time.epoch", "Observing night (YYYYMMDD)"),
        C("seq_num", "int", "", "meta.number", "Sequence number within the night"),
    ),
)

_CORNERS = []
for _k, _n in (("llc", "lower left"), ("ulc", "upper left"), ("urc", "upper right"), ("lrc", "lower right")):
    _CORNERS += [
        C(f"{_k}ra", "double", "deg", "pos.eq.ra", f"Right Ascension of the {_n} corner"),
        C(f"{_k}dec", "double", "deg", "pos.eq.dec", f"Declination of the {_n} corner"),
    ]

CCD_VISIT = TableSpec(
    name="CcdVisit",
    description="One row per detector of each visit, with its quality and calibration.",
    ra_column="ra",
    dec_column="dec",
    primary_key="ccdVisitId",
    columns=(
        C("ccdVisitId", "long", "", "meta.id;obs", "Unique id of the detector visit"),
        C("visitId", "long", "", "meta.id;obs", "Visit id"),
        C("detector", "int", "", "meta.id;instr.det", "Detector id"),
        C("band", "char", "", "instr.bandpass", "Band"),
        C("physical_filter", "char", "", "meta.id;instr.filter", "Physical filter name"),
        C("ra", "double", "deg", "pos.eq.ra;meta.main", "Right Ascension of the detector centre"),
        C("dec", "double", "deg", "pos.eq.dec;meta.main", "Declination of the detector centre"),
        C("expTime", "double", "s", "time.duration;obs.exposure", "Exposure time"),
        C("expMidptMJD", "double", "d", "time.epoch;obs", "Mid-exposure time (MJD, TAI)"),
        C("obsStartMJD", "double", "d", "time.start;obs", "Start of the exposure (MJD, TAI)"),
        C("seeing", "double", "arcsec", "instr.obsty.seeing", "FWHM of the PSF"),
        C("psfSigma", "double", "pix", "instr.det.psf", "Gaussian sigma of the PSF"),
        C("zeroPoint", "double", "mag", "phot.mag;arith.zp", "Zero point: magnitude of 1 electron/s"),
        C("skyBg", "double", "nJy", "instr.skyLevel", "Average sky background per pixel"),
        C("skyNoise", "double", "nJy", "stat.stdev;instr.skyLevel", "RMS of the sky per pixel"),
        C("magLim", "double", "mag", "phot.mag;stat.max", "5-sigma point-source depth"),
        C("xSize", "int", "pix", "meta.number;instr.pixel", "Number of columns"),
        C("ySize", "int", "pix", "meta.number;instr.pixel", "Number of rows"),
        C("pixelScale", "double", "arcsec", "instr.scale", "Pixel scale"),
        *_CORNERS,
    ),
)

REFERENCE = TableSpec(
    name="Reference",
    description=(
        "Gaia-like astrometric and photometric reference catalog (epoch J2016.0) with proper motions."
    ),
    ra_column="ra",
    dec_column="dec",
    primary_key="source_id",
    columns=(
        C("source_id", "long", "", "meta.id;meta.main", "Unique source identifier"),
        C("ra", "double", "deg", "pos.eq.ra;meta.main", "Right Ascension at ref_epoch"),
        C("dec", "double", "deg", "pos.eq.dec;meta.main", "Declination at ref_epoch"),
        C("ra_error", "float", "mas", "stat.error;pos.eq.ra", "Standard error of ra * cos(dec)"),
        C("dec_error", "float", "mas", "stat.error;pos.eq.dec", "Standard error of dec"),
        C("parallax", "double", "mas", "pos.parallax.trig", "Parallax"),
        C("parallax_error", "float", "mas", "stat.error;pos.parallax.trig", "Standard error of parallax"),
        C("pmra", "double", "mas/yr", "pos.pm;pos.eq.ra", "Proper motion in RA * cos(dec)"),
        C("pmra_error", "float", "mas/yr", "stat.error;pos.pm;pos.eq.ra", "Standard error of pmra"),
        C("pmdec", "double", "mas/yr", "pos.pm;pos.eq.dec", "Proper motion in Dec"),
        C("pmdec_error", "float", "mas/yr", "stat.error;pos.pm;pos.eq.dec", "Standard error of pmdec"),
        C("phot_g_mean_mag", "float", "mag", "phot.mag;em.opt", "G-band mean magnitude (Vega)"),
        C("phot_bp_mean_mag", "float", "mag", "phot.mag;em.opt.B", "BP mean magnitude (Vega)"),
        C("phot_rp_mean_mag", "float", "mag", "phot.mag;em.opt.R", "RP mean magnitude (Vega)"),
        C("ref_epoch", "double", "yr", "meta.ref;time.epoch", "Reference epoch (Julian year)"),
    ),
)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        OBJECT,
        SOURCE,
        FORCED_SOURCE,
        DIA_OBJECT,
        DIA_SOURCE,
        FORCED_SOURCE_ON_DIA_OBJECT,
        VISIT,
        CCD_VISIT,
        REFERENCE,
    )
}


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """Arrow schema with unit/UCD/description in each field's metadata and the table's own."""
    fields = []
    for c in spec.columns:
        md = {b"description": c.description.encode()}
        if c.unit:
            md[b"unit"] = c.unit.encode()
        if c.ucd:
            md[b"ucd"] = c.ucd.encode()
        fields.append(pa.field(c.name, c.arrow_type, metadata=md))
    return pa.schema(
        fields, metadata={b"lsstbox.table": spec.name.encode(), b"description": spec.description.encode()}
    )
