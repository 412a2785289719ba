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

    def inner_ranges(self) -> np.ndarray | None:
        """Order-29 ranges lying wholly inside the region (``None``: not known)."""
        return None

    def select(self, ra: np.ndarray, dec: np.ndarray, hp29: np.ndarray | None = None) -> np.ndarray:
        """Which rows are inside; ``hp29``: the rows' own order-29 indices, if known.

        With the indices, rows outside the coverage are out and rows in :meth:`inner_ranges`
        are in without their exact test (on a sorted leaf both are slices): only the rows near
        the border pay for trigonometry."""
        if hp29 is None:
            return self.contains(ra, dec)
        out = hp.in_ranges(hp29, self.ranges())
        inner = self.inner_ranges()
        sure = hp.in_ranges(hp29, inner) if inner is not None else np.zeros(len(out), dtype=bool)
        todo = np.flatnonzero(out & ~sure)
        out = sure
        out[todo] = self.contains(ra[todo], dec[todo])
        return out


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

    def inner_ranges(self) -> np.ndarray | None:
        if "inner" not in self.__dict__:
            moc = hp.cone_inner_moc(self.ra, self.dec, self.radius_arcsec)
            self.inner = hp.moc_ranges(moc) if moc is not None else None
        return self.inner


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

    def select(self, ra: np.ndarray, dec: np.ndarray, hp29: np.ndarray | None = None) -> np.ndarray:
        return self.contains(ra, dec) if hp29 is None else hp.in_ranges(hp29, self.exact)


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

    def select(self, ra: np.ndarray, dec: np.ndarray, hp29: np.ndarray | None = None) -> np.ndarray:
        return self.contains(ra, dec)
