"""Spatial searches, two-phase like LSDB's ``AbstractSearch``: coarse, then fine.

*Coarse*: the region's HEALPix coverage as order-29 ranges (:meth:`Search.ranges`); the
catalog keeps the partitions whose pixel meets them and, inside a leaf, the row groups whose
``_healpix_29`` min/max meet them, so a small cone reads a few kilobytes.  *Fine*: the exact
test of each row's position (:meth:`Search.contains`).  Searches hold numpy arrays only, so
they pickle to dask workers; all geometry is in :mod:`kernel_lib.catalog.healpix`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from mocpy import MOC

from . import healpix as hp

__all__ = ["BoxSearch", "ConeSearch", "MOCSearch", "PolygonSearch", "RangesPrune", "Search"]


class Search(ABC):
    """A region of the sky: a coverage for the coarse phase and an exact test for the fine one."""

    def __init__(self) -> None:
        self._ranges: dict[float, np.ndarray] = {}

    @abstractmethod
    def moc(self) -> MOC:
        """A MOC covering the region (a superset)."""

    @abstractmethod
    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        """Exact per-row test: which positions (degrees) are inside the region."""

    def ranges(self, dilate_arcsec: float = 0.0) -> np.ndarray:
        """Order-29 ranges covering the region grown by ``dilate_arcsec`` (cached)."""
        if dilate_arcsec not in self._ranges:
            self._ranges[dilate_arcsec] = hp.moc_ranges(hp.dilate(self.moc(), dilate_arcsec))
        return self._ranges[dilate_arcsec]


class ConeSearch(Search):
    """Rows within ``radius_arcsec`` of ``(ra, dec)`` (degrees)."""

    def __init__(self, ra: float, dec: float, radius_arcsec: float) -> None:
        super().__init__()
        if radius_arcsec <= 0 or not -90 <= dec <= 90:
            raise ValueError("cone_search needs radius_arcsec > 0 and -90 <= dec <= 90")
        self.ra, self.dec, self.radius_arcsec = float(ra) % 360.0, float(dec), float(radius_arcsec)

    def moc(self) -> MOC:
        return hp.cone_moc(self.ra, self.dec, self.radius_arcsec)

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        return hp.cone_contains(ra, dec, self.ra, self.dec, self.radius_arcsec)


class BoxSearch(Search):
    """Rows with RA in ``ra_range`` (may wrap: ``(350, 10)``) and Dec in ``dec_range``, degrees."""

    def __init__(self, ra_range: tuple[float, float], dec_range: tuple[float, float]) -> None:
        super().__init__()
        if not -90 <= dec_range[0] < dec_range[1] <= 90:
            raise ValueError("box_search needs -90 <= dec_min < dec_max <= 90")
        self.ra_range = (float(ra_range[0]), float(ra_range[1]))
        self.dec_range = (float(dec_range[0]), float(dec_range[1]))

    def moc(self) -> MOC:
        return hp.box_moc(self.ra_range, self.dec_range)

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        return hp.box_contains(ra, dec, self.ra_range, self.dec_range)


class PolygonSearch(Search):
    """Rows inside the convex polygon with these ``(ra, dec)`` vertices (degrees, in order)."""

    def __init__(self, vertices: Sequence[tuple[float, float]]) -> None:
        super().__init__()
        self.vertices = [(float(r), float(d)) for r, d in vertices]
        self.normals = hp.polygon_normals(self.vertices)

    def moc(self) -> MOC:
        return hp.polygon_moc(self.vertices)

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        return hp.polygon_contains(ra, dec, self.normals)


class MOCSearch(Search):
    """Rows whose position lies in a mocpy ``MOC`` (exact at order 29)."""

    def __init__(self, moc: MOC) -> None:
        super().__init__()
        self.exact = hp.moc_ranges(moc)  # arrays pickle; MOC objects need not travel
        self.max_order = int(moc.max_order)

    def moc(self) -> MOC:
        return MOC.from_depth29_ranges(self.max_order, self.exact.astype(np.uint64))

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        return hp.in_ranges(hp.healpix29(ra, dec), self.exact)


class RangesPrune(Search):
    """Internal: prune partitions and row groups to given order-29 ranges, no per-row test.

    Used to read only the neighbourhood of a partition (crossmatch) or the row groups of a
    dependent table whose director rows a search kept (joins).
    """

    def __init__(self, ranges: np.ndarray) -> None:
        super().__init__()
        self.exact = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)

    def moc(self) -> MOC:
        return MOC.from_depth29_ranges(hp.ORDER29, self.exact.astype(np.uint64))

    def ranges(self, dilate_arcsec: float = 0.0) -> np.ndarray:
        return self.exact  # already as wide as the caller needs

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        return np.ones(len(np.atleast_1d(ra)), dtype=bool)
