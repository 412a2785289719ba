"""Lazy, dask-backed access to HATS catalogs: searches, projections, predicates, crossmatch, joins.

>>> from kernel_lib.catalog import open_catalog
>>> obj = open_catalog("Object")  # doctest: +SKIP  (the release of $LSSTBOX_RELEASE)
>>> obj.cone_search(53.16, -28.1, 30).select(["objectId", "r_psfMag"]).compute()  # doctest: +SKIP
"""

from __future__ import annotations

from .catalog import Catalog, open_catalog
from .execute import LazyFrame
from .io import STATS, ReadStats
from .search import BoxSearch, ConeSearch, MOCSearch, PolygonSearch, Search

__all__ = [
    "STATS",
    "BoxSearch",
    "Catalog",
    "ConeSearch",
    "LazyFrame",
    "MOCSearch",
    "PolygonSearch",
    "ReadStats",
    "Search",
    "open_catalog",
]
