"""SIA 2.0 queries over the release's ObsCore table.

:func:`parse_sia` reads the parameters of SIA 2.0 §2.2 (and Rubin's ``DPSUBTYPE``) into
:class:`SiaQuery`; :func:`select` applies it to the ObsCore Arrow table.  Values of one
parameter are OR-ed, different parameters AND-ed, as the standard says.  Positions are exact on
the sphere (:mod:`kernel_lib.adql.regions`: lsst.sphgeom, as the Butler's spatial queries);
intervals are DALI intervals (``lo hi``, ``-Inf``/``+Inf`` open ends, one number = a point).

================  ==================  ===================================================
parameter         ObsCore column(s)   match
================  ==================  ===================================================
POS               s_region            the footprint overlaps CIRCLE / RANGE / POLYGON
BAND (m)          em_min, em_max      the interval overlaps the band (a value: inside)
TIME (MJD)        t_min, t_max        the interval overlaps the observation
POL               pol_states          the state is among the product's states
FOV (deg)         s_fov               s_fov in the interval
SPATRES (arcsec)  s_resolution        s_resolution in the interval
EXPTIME (s)       t_exptime           t_exptime in the interval
TIMERES (s)       t_resolution        in the interval
SPECRP            em_res_power        in the interval
ID                obs_publisher_did   equal
COLLECTION ...    obs_collection, facility_name, instrument_name, dataproduct_type,
                  dataproduct_subtype (DPSUBTYPE), calib_level (CALIB), target_name
                  (TARGET), access_format (FORMAT): equal (CALIB an integer)
================  ==================  ===================================================

Unknown parameters are ignored (DALI); ``MAXREC=0`` asks for the service's self-description
(:func:`self_description`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kernel_lib.adql.regions import RegionError, parse_pos

__all__ = [
    "INTERVALS",
    "SIA_STANDARD_ID",
    "STRINGS",
    "SiaError",
    "SiaQuery",
    "capabilities_xml",
    "parse_sia",
    "select",
    "self_description",
]

SIA_STANDARD_ID = "ivo://ivoa.net/std/SIA#query-2.0"


class SiaError(ValueError):
    """A malformed SIA parameter (the message names it)."""


#: interval parameters: name -> (low column, high column, unit, description)
INTERVALS: dict[str, tuple[str, str, str, str]] = {
    "BAND": ("em_min", "em_max", "m", "Energy interval in vacuum wavelength (m)"),
    "TIME": ("t_min", "t_max", "d", "Time interval (MJD)"),
    "FOV": ("s_fov", "s_fov", "deg", "Range of field of view (deg)"),
    "SPATRES": ("s_resolution", "s_resolution", "arcsec", "Range of spatial resolution (arcsec)"),
    "EXPTIME": ("t_exptime", "t_exptime", "s", "Range of exposure time (s)"),
    "TIMERES": ("t_resolution", "t_resolution", "s", "Range of time resolution (s)"),
    "SPECRP": ("em_res_power", "em_res_power", "", "Range of spectral resolving power"),
}
#: equality parameters: name -> (column, description)
STRINGS: dict[str, tuple[str, str]] = {
    "ID": ("obs_publisher_did", "Publisher dataset identifier (obs_publisher_did)"),
    "COLLECTION": ("obs_collection", "Collection name"),
    "FACILITY": ("facility_name", "Facility name"),
    "INSTRUMENT": ("instrument_name", "Instrument name"),
    "DPTYPE": ("dataproduct_type", "Data product type (image)"),
    "DPSUBTYPE": ("dataproduct_subtype", "Data product subtype (lsst.visit_image, lsst.deep_coadd)"),
    "TARGET": ("target_name", "Target name"),
    "FORMAT": ("access_format", "Format of the access_url (MIME type)"),
}


@dataclass
class SiaQuery:
    """Constraints of one SIA request (each list OR-ed; lists AND-ed); ``maxrec`` None = default."""

    pos: list[object] = field(default_factory=list)  # lsst.sphgeom regions
    intervals: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    strings: dict[str, list[str]] = field(default_factory=dict)
    calib: list[int] = field(default_factory=list)
    pol: list[str] = field(default_factory=list)
    maxrec: int | None = None
    responseformat: str | None = None


def _interval(name: str, text: str) -> tuple[float, float]:
    words = text.split()
    try:
        vals = [float(w) for w in words]
    except ValueError:
        raise SiaError(
            f"{name}={text!r}: an interval is one number or two (lo hi; -Inf/+Inf for open ends)"
        ) from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or any(math.isnan(v) for v in vals):
        raise SiaError(f"{name}={text!r}: an interval is one number or two (lo hi; -Inf/+Inf for open ends)")
    lo, hi = vals
    if lo > hi:
        raise SiaError(f"{name}={text!r}: the low end is above the high end")
    return lo, hi


def parse_sia(params: Mapping[str, Sequence[str]], *, default_maxrec: int, hard_maxrec: int) -> SiaQuery:
    """Read SIA parameters (names upper-cased, every value of each)."""
    q = SiaQuery()
    for text in params.get("POS", []):
        text = text.strip()
        if not text:
            continue
        try:
            q.pos.append(parse_pos(text))
        except RegionError as e:
            raise SiaError(f"POS={text!r}: {e}") from None
    for name in INTERVALS:
        vals = [_interval(name, v) for v in params.get(name, []) if v.strip()]
        if vals:
            q.intervals[name] = vals
    for name in STRINGS:
        words = [v.strip() for v in params.get(name, []) if v.strip()]
        if words:
            q.strings[name] = words
    for v in params.get("CALIB", []):
        try:
            level = int(v.strip())
        except ValueError:
            raise SiaError(f"CALIB={v!r}: a calibration level is an integer 0..4") from None
        if not 0 <= level <= 4:
            raise SiaError(f"CALIB={v!r}: a calibration level is an integer 0..4")
        q.calib.append(level)
    allowed_pol = {"I", "Q", "U", "V", "RR", "LL", "RL", "LR", "XX", "YY", "XY", "YX", "POLI", "POLA"}
    for v in params.get("POL", []):
        state = v.strip().upper()
        if state not in allowed_pol:
            raise SiaError(f"POL={v!r}: use one of {' '.join(sorted(allowed_pol))}")
        q.pol.append(state)
    maxrec = params.get("MAXREC", [])
    if maxrec:
        try:
            q.maxrec = int(maxrec[-1])
        except ValueError:
            raise SiaError(f"MAXREC={maxrec[-1]!r} is not an integer") from None
        if q.maxrec < 0:
            raise SiaError(f"MAXREC={q.maxrec} is negative")
        q.maxrec = min(q.maxrec, hard_maxrec)
    else:
        q.maxrec = default_maxrec
    fmt = params.get("RESPONSEFORMAT", [])
    q.responseformat = fmt[-1] if fmt else None
    return q


def _any(masks: list[np.ndarray], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for m in masks:
        out |= m
    return out


def _numbers(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=float)


def select(obscore: pa.Table, q: SiaQuery) -> tuple[pa.Table, bool]:
    """The rows of ``obscore`` matching ``q`` (at most ``q.maxrec``) and whether more matched."""
    from kernel_lib.adql.regions import overlaps, parse_region

    n = obscore.num_rows
    keep = np.ones(n, dtype=bool)
    for name, intervals in q.intervals.items():
        lo_col, hi_col, _, _ = INTERVALS[name]
        lo, hi = _numbers(obscore, lo_col), _numbers(obscore, hi_col)
        with np.errstate(invalid="ignore"):
            keep &= _any([(lo <= b) & (hi >= a) for a, b in intervals], n)
    for name, values in q.strings.items():
        col = obscore.column(STRINGS[name][0])
        keep &= np.asarray(
            pc.is_in(col, pa.array(values, col.type)).fill_null(False).to_numpy(zero_copy_only=False)
        )
    if q.calib:
        col = obscore.column("calib_level")
        keep &= np.asarray(
            pc.is_in(col, pa.array(q.calib, col.type)).fill_null(False).to_numpy(zero_copy_only=False)
        )
    if q.pol:
        states = obscore.column("pol_states").to_pylist()
        keep &= np.array([bool(s) and any(f"/{p}/" in s for p in q.pol) for s in states], dtype=bool)
    if q.pos and keep.any():
        regions = obscore.column("s_region").to_pylist()
        for i in np.flatnonzero(keep):
            try:
                footprint = parse_region(regions[i])
            except (RegionError, TypeError):
                keep[i] = False
                continue
            keep[i] = any(overlaps(footprint, shape) for shape in q.pos)
    rows = obscore.filter(pa.array(keep))
    limit = q.maxrec if q.maxrec is not None else rows.num_rows
    return rows.slice(0, limit), rows.num_rows > limit


def capabilities_xml(
    base_url: str, standard_id: str = SIA_STANDARD_ID, endpoint: str = "query", version: str = "2.0"
) -> bytes:
    """VOSI capabilities of a DAL service (SIA 2.0 query by default; SODA sync uses it too)
    and of its VOSI capabilities/availability endpoints."""
    base = escape(base_url.rstrip("/"))
    caps = [
        (standard_id, f"{base}/{endpoint}", f'role="std" version="{version}"'),
        ("ivo://ivoa.net/std/VOSI#capabilities", f"{base}/capabilities", ""),
        ("ivo://ivoa.net/std/VOSI#availability", f"{base}/availability", ""),
    ]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" '
        'xmlns:vr="http://www.ivoa.net/xml/VOResource/v1.0" '
        'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
    ]
    for sid, url, extra in caps:
        parts.append(
            f'  <capability standardID="{sid}">\n'
            f'    <interface xsi:type="vs:ParamHTTP" {extra}>\n'
            f'      <accessURL use="base">{url}</accessURL>\n'
            "    </interface>\n  </capability>\n"
        )
    parts.append("</vosi:capabilities>\n")
    return "".join(parts).encode()


def self_description(query_url: str) -> str:
    """The service descriptor of ``MAXREC=0`` (SIA 2.0 §2.4): the query's input parameters."""

    def param(
        name: str, datatype: str, desc: str, *, unit: str = "", arraysize: str = "*", xtype: str = ""
    ) -> str:
        attrs = f'name="{name}" datatype="{datatype}" arraysize="{arraysize}" value=""'
        if unit:
            attrs += f" unit={quoteattr(unit)}"
        if xtype:
            attrs += f' xtype="{xtype}"'
        return f"<PARAM {attrs}><DESCRIPTION>{escape(desc)}</DESCRIPTION></PARAM>\n"

    params = [
        param(
            "POS",
            "char",
            "Region: CIRCLE ra dec radius, RANGE ra1 ra2 dec1 dec2 or POLYGON ra1 dec1 ... (deg)",
        ),
        *(
            param(name, "double", desc, unit=unit, arraysize="2", xtype="interval")
            for name, (_, _, unit, desc) in INTERVALS.items()
        ),
        param("POL", "char", "Polarization state (I Q U V ...)"),
        param("CALIB", "int", "Calibration level (0-4)", arraysize="1"),
        *(param(name, "char", desc) for name, (_, desc) in STRINGS.items()),
        param("MAXREC", "int", "Maximum number of records (0: this description)", arraysize="1"),
        param("RESPONSEFORMAT", "char", "votable (default), csv or parquet"),
    ]
    return (
        '<RESOURCE type="meta" utype="adhoc:service" name="sia-query">\n'
        "<DESCRIPTION>SIA 2.0 query of the release's images (ivoa.ObsCore)</DESCRIPTION>\n"
        f'<PARAM name="standardID" datatype="char" arraysize="*" value="{SIA_STANDARD_ID}"/>\n'
        f'<PARAM name="accessURL" datatype="char" arraysize="*" value={quoteattr(query_url)}/>\n'
        '<GROUP name="inputParams">\n' + "".join(params) + "</GROUP>\n</RESOURCE>\n"
    )
