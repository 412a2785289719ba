"""Sky regions held in columns (ObsCore's ``s_region``) and given as IVOA ``POS`` values.

A region column holds STC-S-like strings such as ``POLYGON ICRS 53.1 -28.1 53.2 -28.1 ...``
(``CIRCLE ICRS ra dec r`` and ``RANGE``/``BOX`` are read too); parameters of SIAv2 and SODA are
DALI ``POS`` strings (``CIRCLE ra dec r``, ``RANGE ra1 ra2 dec1 dec2``, ``POLYGON ra1 dec1 ...``).
Both become :mod:`lsst.sphgeom` regions -- the spherical geometry the Butler's own spatial
queries use -- so containment and overlap are exact on the sphere (polygons are convex, as
image footprints are; a non-convex one is refused).

The ADQL engine evaluates ``CONTAINS(POINT(...), s_region)`` and
``INTERSECTS(CIRCLE|POLYGON|BOX(...), s_region)`` with the DuckDB functions registered by
:func:`register_duckdb_functions` (vectorised over Arrow batches; parsed regions are cached).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "RegionError",
    "overlaps",
    "parse_pos",
    "parse_region",
    "polygon_vertices",
    "register_duckdb_functions",
    "relate",
    "shape_of_pos",
]


class RegionError(ValueError):
    """A malformed region or POS value; the message says what is wrong."""


_FRAMES = {"ICRS", "FK5", "J2000", "UNKNOWNFRAME", "GEOCENTER", "TOPOCENTER", "BARYCENTER"}


def _floats(words: Sequence[str], what: str) -> list[float]:
    try:
        vals = [float(w) for w in words]
    except ValueError:
        raise RegionError(f"{what}: {' '.join(words)!r} are not all numbers") from None
    return vals


def _check_lat(lat: float, what: str) -> None:
    if not -90.0 <= lat <= 90.0:
        raise RegionError(f"{what}: declination {lat:g} is outside [-90, 90]")


def shape_of_pos(text: str) -> tuple[str, list[float]]:
    """``(kind, numbers)`` of a DALI POS / STC-S string: kind is CIRCLE, RANGE or POLYGON
    (STC-S ``BOX ra dec w h`` becomes a RANGE); frames such as ``ICRS`` are skipped.  Checks
    counts and ranges; raises :class:`RegionError` naming the problem."""
    words = str(text).replace(",", " ").split()
    if not words:
        raise RegionError(
            "empty region: use CIRCLE ra dec radius, RANGE ra1 ra2 dec1 dec2 or POLYGON ra1 dec1 ..."
        )
    kind = words[0].upper()
    rest = [w for w in words[1:] if w.upper() not in _FRAMES]
    if kind == "CIRCLE":
        if len(rest) != 3:
            raise RegionError(f"CIRCLE needs 3 numbers (ra dec radius in degrees), got {len(rest)}: {text!r}")
        ra, dec, r = _floats(rest, "CIRCLE")
        _check_lat(dec, "CIRCLE")
        if not (0.0 < r <= 180.0) or not math.isfinite(ra):
            raise RegionError(f"CIRCLE radius must be in (0, 180] degrees, got {r:g}")
        return "CIRCLE", [ra % 360.0, dec, r]
    if kind == "RANGE":
        if len(rest) != 4:
            raise RegionError(
                f"RANGE needs 4 numbers (ra1 ra2 dec1 dec2 in degrees), got {len(rest)}: {text!r}"
            )
        ra1, ra2, dec1, dec2 = _floats(rest, "RANGE")
        ra1 = 0.0 if ra1 == -math.inf else ra1
        ra2 = 360.0 if ra2 == math.inf else ra2
        dec1 = max(dec1, -90.0)
        dec2 = min(dec2, 90.0)
        if not all(math.isfinite(v) for v in (ra1, ra2, dec1, dec2)):
            raise RegionError(f"RANGE values must be numbers or -Inf/+Inf at the ends: {text!r}")
        if dec1 > dec2:
            raise RegionError(f"RANGE dec1 {dec1:g} is above dec2 {dec2:g}")
        _check_lat(dec1, "RANGE")
        _check_lat(dec2, "RANGE")
        return "RANGE", [ra1, ra2, dec1, dec2]
    if kind == "BOX":
        if len(rest) != 4:
            raise RegionError(f"BOX needs 4 numbers (ra dec width height), got {len(rest)}: {text!r}")
        ra, dec, w, h = _floats(rest, "BOX")
        half = w / 2.0 / max(math.cos(math.radians(dec)), 1e-9)
        return "RANGE", [ra - half, ra + half, max(dec - h / 2.0, -90.0), min(dec + h / 2.0, 90.0)]
    if kind == "POLYGON":
        if len(rest) < 6 or len(rest) % 2:
            raise RegionError(
                f"POLYGON needs at least 3 vertices as ra dec pairs, got {len(rest)} numbers: {text!r}"
            )
        vals = _floats(rest, "POLYGON")
        for lat in vals[1::2]:
            _check_lat(lat, "POLYGON")
        return "POLYGON", vals
    raise RegionError(f"unknown shape {words[0]!r}: use CIRCLE, RANGE or POLYGON")


def _sphgeom_region(kind: str, vals: list[float]) -> Any:
    from lsst import sphgeom

    if kind == "CIRCLE":
        ra, dec, r = vals
        return sphgeom.Circle(
            sphgeom.UnitVector3d(sphgeom.LonLat.fromDegrees(ra, dec)), sphgeom.Angle.fromDegrees(r)
        )
    if kind == "RANGE":
        ra1, ra2, dec1, dec2 = vals
        if ra2 - ra1 >= 360.0:
            ra1, ra2 = 0.0, 360.0
        lon = sphgeom.NormalizedAngleInterval.fromDegrees(
            ra1 % 360.0, ra2 % 360.0 if ra2 - ra1 < 360.0 else 360.0
        )
        lat = sphgeom.AngleInterval.fromDegrees(dec1, dec2)
        return sphgeom.Box(lon, lat)
    points = [
        sphgeom.UnitVector3d(sphgeom.LonLat.fromDegrees(a, b))
        for a, b in zip(vals[0::2], vals[1::2], strict=True)
    ]
    try:
        poly = sphgeom.ConvexPolygon(points)
    except Exception:
        try:
            poly = sphgeom.ConvexPolygon(points[::-1])
        except Exception:
            raise RegionError(
                "POLYGON must be convex with distinct vertices (a footprint-like shape)"
            ) from None
    return poly


@functools.lru_cache(maxsize=65536)
def parse_region(text: str) -> Any:
    """The :mod:`lsst.sphgeom` region of an STC-S / POS string (cached)."""
    kind, vals = shape_of_pos(text)
    return _sphgeom_region(kind, vals)


def parse_pos(text: str) -> Any:
    """A SIAv2/SODA ``POS`` (or ``CIRCLE``/``POLYGON`` value with its keyword) as a region."""
    return parse_region(str(text).strip())


def polygon_vertices(region: Any) -> list[tuple[float, float]]:
    """(ra, dec) degrees of a polygon's vertices (of a box's corners)."""
    from lsst import sphgeom

    if isinstance(region, sphgeom.ConvexPolygon):
        out = []
        for v in region.getVertices():
            ll = sphgeom.LonLat(v)
            out.append((ll.getLon().asDegrees(), ll.getLat().asDegrees()))
        return out
    raise RegionError(f"not a polygon: {region}")


# -- DuckDB functions -----------------------------------------------------------------------------


def _regions(col: Any) -> list[Any]:
    out: list[Any] = []
    for s in col.to_pylist():
        if s is None:
            out.append(None)
            continue
        try:
            out.append(parse_region(s))
        except RegionError:
            out.append(None)
    return out


def _contains_point(region_col: Any, ra: Any, dec: Any) -> Any:
    import pyarrow as pa

    regions = _regions(region_col)
    ras = np.radians(np.asarray(ra.to_numpy(zero_copy_only=False), dtype=float))
    decs = np.radians(np.asarray(dec.to_numpy(zero_copy_only=False), dtype=float))
    out = np.zeros(len(regions), dtype=bool)
    for i, r in enumerate(regions):
        if r is not None and np.isfinite(ras[i]) and np.isfinite(decs[i]):
            out[i] = bool(r.contains(ras[i : i + 1], decs[i : i + 1])[0])
    return pa.array(out)


def _relate(region_col: Any, shape: Any, mode: Any) -> Any:
    import pyarrow as pa
    from lsst import sphgeom

    regions = _regions(region_col)
    shapes = _regions(shape)
    modes = mode.to_pylist()
    out: list[bool] = []
    for r, s, m in zip(regions, shapes, modes, strict=True):
        if r is None or s is None:
            out.append(False)
            continue
        rel = relate(r, s)
        if m == "contains":
            out.append(bool(rel & sphgeom.CONTAINS))
        elif m == "within":
            out.append(bool(rel & sphgeom.WITHIN))
        else:
            out.append(not rel & sphgeom.DISJOINT)
    return pa.array(out, pa.bool_())


def relate(a: Any, b: Any) -> int:
    """sphgeom's relationship of region ``a`` to ``b`` (DISJOINT / CONTAINS / WITHIN bits),
    whichever of the two knows how to relate to the other."""
    try:
        return int(a.relate(b))
    except TypeError:  # sphgeom relates some pairs one way only
        return _flip(b.relate(a))


def overlaps(a: Any, b: Any) -> bool:
    """Whether regions ``a`` and ``b`` share any point (sphgeom; may err towards True)."""
    from lsst import sphgeom

    return not relate(a, b) & sphgeom.DISJOINT


def _flip(rel: int) -> int:
    from lsst import sphgeom

    out = rel & sphgeom.DISJOINT
    if rel & sphgeom.CONTAINS:
        out |= sphgeom.WITHIN
    if rel & sphgeom.WITHIN:
        out |= sphgeom.CONTAINS
    return out


def register_duckdb_functions(db: Any) -> None:
    """``lsstbox_region_contains(region, ra, dec)`` and ``lsstbox_region_relate(region, shape,
    mode)`` (``shape`` a POS-like string; ``mode`` overlaps, contains or within: how the region
    relates to the shape) as vectorised Arrow UDFs of ``db``."""
    db.create_function(
        "lsstbox_region_contains", _contains_point, ["VARCHAR", "DOUBLE", "DOUBLE"], "BOOLEAN", type="arrow"
    )
    db.create_function(
        "lsstbox_region_relate", _relate, ["VARCHAR", "VARCHAR", "VARCHAR"], "BOOLEAN", type="arrow"
    )
