"""Sky geometry for the catalog engine: regions as HEALPix coverages and exact point tests.

Everything spherical lives here so the rest of :mod:`kernel_lib.catalog` only deals with
*order-29 ranges*: a sorted array of disjoint half-open intervals ``[start, end)`` of nested
HEALPix indices at order 29 (the order of the ``_healpix_29`` column of HATS catalogs).  A
partition ``(order, pixel)`` is the range ``[pixel << 2(29-order), (pixel+1) << 2(29-order))``;
a Parquet row group is the closed interval ``[min, max]`` of its ``_healpix_29`` statistics.

Coverages come from mocpy (cdshealpix underneath) and are always supersets of the region, so
the coarse phase of a search never loses a row; the fine phase uses the exact tests below
(haversine distance for cones, meridians/parallels for boxes, great-circle edges for polygons).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import astropy.units as u
import numpy as np
from astropy.coordinates import Latitude, Longitude, SkyCoord
from mocpy import MOC

__all__ = [
    "ORDER29",
    "box_contains",
    "box_moc",
    "chord_for_arcsec",
    "cone_contains",
    "cone_moc",
    "coverage_depth",
    "dilate",
    "healpix29",
    "in_ranges",
    "intervals_intersect",
    "moc_ranges",
    "neighbour_ranges",
    "overlapping",
    "pixel_moc",
    "pixel_ranges",
    "polygon_contains",
    "polygon_moc",
    "polygon_normals",
    "unit_vectors",
]

ORDER29 = 29
#: side of a HEALPix pixel of order 0, in arcsec (sqrt of 4π/12 sr)
_ORDER0_ARCSEC = math.degrees(math.sqrt(4 * math.pi / 12)) * 3600.0
#: cap on the depth of region coverages: finer cells only make longer range lists
_MAX_DEPTH = 18


def coverage_depth(size_arcsec: float, cells_across: float = 8.0) -> int:
    """The HEALPix depth whose cells are about ``size_arcsec / cells_across`` wide (0..18)."""
    target = max(size_arcsec, 1e-3) / cells_across
    depth = math.ceil(math.log2(_ORDER0_ARCSEC / target))
    return int(min(max(depth, 0), _MAX_DEPTH))


def _depth_for_resolution(arcsec: float) -> int:
    """The deepest order whose cells are still at least ``arcsec`` wide."""
    depth = math.floor(math.log2(_ORDER0_ARCSEC / max(arcsec, 1e-6)))
    return int(min(max(depth, 0), ORDER29))


# -- coverages --------------------------------------------------------------------------------
def cone_moc(ra: float, dec: float, radius_arcsec: float, cells_across: float = 8.0) -> MOC:
    """A MOC covering the cone (every cell touching it)."""
    depth = coverage_depth(2 * radius_arcsec, cells_across)
    return MOC.from_cone(
        lon=Longitude(ra * u.deg), lat=Latitude(dec * u.deg), radius=radius_arcsec * u.arcsec, max_depth=depth
    )


def cone_inner_moc(ra: float, dec: float, radius_arcsec: float) -> MOC | None:
    """A MOC of cells lying wholly inside the cone (``None`` for cones too small to bother).

    Cells touching the cone shrunk by four cell sizes: a cell's points are within a cell
    diagonal (< 1.5 sizes) of any of its points, so even a coverage that overshoots by a
    cell stays inside.  Rows in these cells need no trigonometry."""
    depth = min(coverage_depth(2 * radius_arcsec, 128.0) + 1, _MAX_DEPTH)
    size = _ORDER0_ARCSEC / 2**depth
    inner = radius_arcsec - 4.0 * size
    if inner <= 0.5 * radius_arcsec:
        return None
    return MOC.from_cone(
        lon=Longitude(ra * u.deg), lat=Latitude(dec * u.deg), radius=inner * u.arcsec, max_depth=depth
    )


def box_moc(ra_range: tuple[float, float], dec_range: tuple[float, float]) -> MOC:
    """A MOC covering the RA/Dec box (meridian sides, parallel top and bottom).

    ``ra_range[0] > ra_range[1]`` means the box wraps through RA 0 (e.g. ``(350, 10)``).
    """
    ra0, ra1 = (float(x) % 360.0 for x in ra_range)
    dec0, dec1 = float(dec_range[0]), float(dec_range[1])
    width = (ra1 - ra0) % 360.0 or 360.0
    size = 3600.0 * min(width * max(math.cos(math.radians(max(abs(dec0), abs(dec1)))), 1e-3), dec1 - dec0)
    depth = coverage_depth(size)
    if ra_range[0] == ra_range[1]:
        ra0, ra1 = 0.0, 360.0
    elif ra0 > ra1 and ra1 == 0.0:
        ra1 = 360.0
    if ra0 == 0.0 and ra1 < 360.0:
        ra0 = 1e-9  # cdshealpix's zone starting exactly at 0 misses cells (0.21); the ring below adds them
    if ra1 - ra0 >= 360.0:
        # every RA: cdshealpix's 0..360 zone misses cells; the band is the meet of two polar caps
        # (a cap wider than a hemisphere: the whole sky, which covers it)
        caps = [cone_moc(0.0, 90.0, (90.0 - dec0) * 3600.0)] if dec0 > 0.0 else []
        caps += [cone_moc(0.0, -90.0, (90.0 + dec1) * 3600.0)] if dec1 < 0.0 else []
        if not caps:
            return MOC.from_str("0/0-11")
        return caps[0] if len(caps) == 1 else caps[0].intersection(caps[1])
    moc = MOC.from_zone(SkyCoord([[ra0, dec0], [ra1, dec1]], unit="deg"), max_depth=depth)
    return moc.extended()  # the zone's top/right edges are open: one ring of cells makes it a cover


def polygon_moc(vertices: Sequence[tuple[float, float]]) -> MOC:
    """A MOC covering the convex spherical polygon with these (ra, dec) vertices in degrees."""
    ra = np.array([v[0] for v in vertices], dtype=float)
    dec = np.array([v[1] for v in vertices], dtype=float)
    xyz = unit_vectors(ra, dec)
    centre = xyz.mean(axis=0)
    centre /= np.linalg.norm(centre)
    radius = math.degrees(max(math.acos(float(np.clip(c @ centre, -1, 1))) for c in xyz)) * 3600.0
    moc = MOC.from_polygon(
        lon=Longitude(ra * u.deg), lat=Latitude(dec * u.deg), max_depth=coverage_depth(2 * radius)
    )
    return moc.extended()


def dilate(moc: MOC, arcsec: float) -> MOC:
    """A MOC containing every point within ``arcsec`` of ``moc`` (coarsened, then one ring more)."""
    if arcsec <= 0:
        return moc
    depth = _depth_for_resolution(arcsec)
    if depth < int(moc.max_order):
        moc = moc.degrade_to_order(depth)
    return moc.extended()


def pixel_moc(order: int, pixel: int) -> MOC:
    """The MOC of one HEALPix pixel."""
    return MOC.from_healpix_cells(
        ipix=np.array([pixel], dtype=np.uint64), depth=np.array([order], dtype=np.uint8), max_depth=order
    )


def neighbour_ranges(order: int, pixel: int) -> np.ndarray:
    """Order-29 ranges of a pixel and its (up to 8) neighbours, sorted, shape ``(n, 2)``."""
    from cdshealpix.nested import neighbours

    pix = np.asarray(neighbours(np.array([pixel], dtype=np.uint64), order), dtype=np.int64).ravel()
    pix = np.unique(pix[pix >= 0])
    lo, hi = pixel_ranges(np.full(len(pix), order), pix)
    return np.column_stack([lo, hi])


def moc_ranges(moc: MOC) -> np.ndarray:
    """The MOC as sorted disjoint order-29 ranges, shape ``(n, 2)``, int64, half-open."""
    return np.asarray(moc.to_depth29_ranges, dtype=np.int64).reshape(-1, 2)


def pixel_ranges(orders: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The half-open order-29 ranges ``[lo, hi)`` of HEALPix pixels ``(order, pixel)``."""
    shift = 2 * (ORDER29 - np.asarray(orders, dtype=np.int64))
    pix = np.asarray(pixels, dtype=np.int64)
    return pix << shift, (pix + 1) << shift


def intervals_intersect(ranges: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """For each closed interval ``[lo, hi]``, whether it meets any of the half-open ``ranges``."""
    lo, hi = np.atleast_1d(np.asarray(lo, np.int64)), np.atleast_1d(np.asarray(hi, np.int64))
    if len(ranges) == 0:
        return np.zeros(len(lo), dtype=bool)
    idx = np.searchsorted(ranges[:, 1], lo, side="right")  # first range ending after lo
    ok = idx < len(ranges)
    out = np.zeros(len(lo), dtype=bool)
    out[ok] = ranges[idx[ok], 0] <= hi[ok]
    return out


def overlapping(lo: np.ndarray, hi: np.ndarray, qlo: int, qhi: int) -> np.ndarray:
    """Indices of the sorted disjoint half-open ranges ``[lo, hi)`` meeting ``[qlo, qhi)``."""
    start = int(np.searchsorted(hi, qlo, side="right"))
    end = int(np.searchsorted(lo, qhi, side="left"))
    return np.arange(start, max(start, end))


def in_ranges(values: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Whether each order-29 index lies in the half-open ``ranges``.

    Values sorted ascending (a HATS leaf's ``_healpix_29``) take a fast path: the ranges' bounds
    are located in the values (``O(ranges x log rows)``) and the mask is painted by slices."""
    values = np.asarray(values, dtype=np.int64)
    if len(ranges) == 0:
        return np.zeros(len(values), dtype=bool)
    if len(values) > 1 and not bool((values[1:] < values[:-1]).any()):
        # disjoint sorted ranges -> monotone bounds lo0 <= hi0 <= lo1 ...: runs of out/in rows
        bounds = np.searchsorted(values, ranges.ravel(), side="left")
        lengths = np.diff(bounds, prepend=0, append=len(values))
        runs = np.zeros(len(lengths), dtype=bool)
        runs[1::2] = True
        return np.repeat(runs, lengths)
    idx = np.searchsorted(ranges[:, 0], values, side="right") - 1
    ok = idx >= 0
    out = np.zeros(len(values), dtype=bool)
    out[ok] = values[ok] < ranges[idx[ok], 1]
    return out


def healpix29(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Nested HEALPix index at order 29 of each position (degrees)."""
    from cdshealpix.nested import lonlat_to_healpix

    ra = np.asarray(ra, dtype=float) % 360.0
    dec = np.clip(np.asarray(dec, dtype=float), -90.0, 90.0)
    return np.asarray(lonlat_to_healpix(Longitude(ra * u.deg), Latitude(dec * u.deg), ORDER29), np.int64)


# -- exact point tests -------------------------------------------------------------------------
def unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Cartesian unit vectors, shape ``(n, 3)``, of positions in degrees."""
    r, d = np.radians(np.asarray(ra, dtype=float)), np.radians(np.asarray(dec, dtype=float))
    c = np.cos(d)
    return np.column_stack([c * np.cos(r), c * np.sin(r), np.sin(d)])


def chord_for_arcsec(arcsec: float) -> float:
    """Chord length on the unit sphere of an angular separation in arcsec."""
    return 2.0 * math.sin(math.radians(arcsec / 3600.0) / 2.0)


def cone_contains(
    ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float, radius_arcsec: float
) -> np.ndarray:
    """Rows within ``radius_arcsec`` (inclusive) of ``(ra0, dec0)``: the haversine test."""
    r, d = np.radians(np.asarray(ra, dtype=float)), np.radians(np.asarray(dec, dtype=float))
    r0, d0 = math.radians(ra0), math.radians(dec0)
    hav = np.sin((d - d0) / 2) ** 2 + math.cos(d0) * np.cos(d) * np.sin((r - r0) / 2) ** 2
    return np.asarray(hav <= math.sin(math.radians(radius_arcsec / 3600.0) / 2) ** 2)


def box_contains(
    ra: np.ndarray, dec: np.ndarray, ra_range: tuple[float, float], dec_range: tuple[float, float]
) -> np.ndarray:
    """Rows with ``dec`` in ``dec_range`` and ``ra`` in ``ra_range`` (which may wrap through 0)."""
    ra = np.asarray(ra, dtype=float) % 360.0
    dec = np.asarray(dec, dtype=float)
    a, b = float(ra_range[0]) % 360.0, float(ra_range[1]) % 360.0
    if ra_range[0] == ra_range[1]:
        in_ra = np.ones(len(ra), dtype=bool)
    elif a <= b:
        in_ra = (ra >= a) & (ra <= b)
    else:
        in_ra = (ra >= a) | (ra <= b)
    return np.asarray(in_ra & (dec >= dec_range[0]) & (dec <= dec_range[1]))


def polygon_normals(vertices: Sequence[tuple[float, float]]) -> np.ndarray:
    """Inward normals of the great-circle edges of a convex polygon, shape ``(n, 3)``.

    Raises
    ------
    ValueError
        Fewer than three vertices, or a polygon that is not convex.
    """
    if len(vertices) < 3:
        raise ValueError("a polygon needs at least three vertices")
    xyz = unit_vectors(np.array([v[0] for v in vertices]), np.array([v[1] for v in vertices]))
    normals = np.cross(xyz, np.roll(xyz, -1, axis=0))
    centre = xyz.sum(axis=0)
    normals *= np.where(normals @ centre >= 0, 1.0, -1.0)[:, None]
    # convex: every vertex is on the inner side of every edge (within rounding)
    if np.any(xyz @ normals.T < -1e-12):
        raise ValueError("polygon_search needs a convex polygon (vertices in order, no self-crossing)")
    return np.asarray(normals)


def polygon_contains(ra: np.ndarray, dec: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Rows inside the convex polygon given by its inward edge normals."""
    return np.asarray(np.all(unit_vectors(ra, dec) @ normals.T >= 0.0, axis=1))
