"""The catalog-only wide area of the ``large`` profile.

Benchmarks need tens of millions of Objects; images of that area would not fit any laptop.
So ``large`` keeps the demo's deep field (images, Butler, time-domain tables) and adds, around
it, a cap of ``wide_area_deg2`` covered by Object and Reference rows only, drawn and measured
with the same truth model and coadd depths, one HEALPix partition at a time so memory stays
bounded.  A wide-area row whose measured position falls across its partition's edge (a few
per million) is dropped.  Wide-area Objects carry ``tract = 100000 + <HEALPix order-6 pixel>`` (there is no
sky map there) and ``patch = -1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cdshealpix.nested as hpn
import numpy as np
import pandas as pd
from astropy.coordinates import Angle, Latitude, Longitude

from .catalogs import mean_fluxes, measure_objects, reference_rows
from .model import Profile, Visit
from .truth import draw_sources

__all__ = ["WIDE_TRACT_BASE", "cap_radius_deg", "wide_chunks", "wide_pixels"]

WIDE_TRACT_BASE = 100_000
_ID_BASE = np.int64(1) << 61


def cap_radius_deg(area_deg2: float) -> float:
    sr = area_deg2 * (math.pi / 180.0) ** 2
    return math.degrees(math.acos(1.0 - sr / (2.0 * math.pi)))


def wide_pixels(profile: Profile) -> np.ndarray:
    """Partition-order HEALPix pixels touching the wide cap, sorted."""
    radius = cap_radius_deg(profile.wide_area_deg2)
    ipix, _, _ = hpn.cone_search(
        Longitude(profile.field_ra, "deg"),
        Latitude(profile.field_dec, "deg"),
        Angle(radius, "deg"),
        profile.partition_order,
        flat=True,
    )
    return np.sort(np.asarray(ipix, dtype=np.int64))


def _angular_distance_deg(ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float) -> np.ndarray:
    r1, d1, r0, d0 = np.radians(ra), np.radians(dec), math.radians(ra0), math.radians(dec0)
    c = np.sin(d1) * math.sin(d0) + np.cos(d1) * math.cos(d0) * np.cos(r1 - r0)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def wide_chunks(
    profile: Profile, visits: list[Visit], seed: int, depths: dict[str, tuple[float, float]]
) -> Iterator[tuple[int, pd.DataFrame, pd.DataFrame]]:
    """For each wide-area partition: (pixel, Object rows, Reference rows), outside the tract."""
    order = profile.partition_order
    k = 2 * (29 - order)
    area = 4 * math.pi * (180.0 / math.pi) ** 2 / (12 * 4**order)
    radius = cap_radius_deg(profile.wide_area_deg2)
    sm = profile.skymap
    for pix in wide_pixels(profile):
        rng = np.random.default_rng([seed, 7, int(pix)])
        n = int(rng.poisson(profile.object_density_deg2 * area))
        sub = rng.integers(int(pix) << k, (int(pix) + 1) << k, size=n, dtype=np.int64)
        lon, lat = hpn.healpix_to_lonlat(sub, 29)
        ra, dec = np.asarray(lon.deg, float), np.asarray(lat.deg, float)
        _, _, patch = sm.locate(ra, dec)
        keep = (_angular_distance_deg(ra, dec, profile.field_ra, profile.field_dec) <= radius) & (patch < 0)
        ra, dec = ra[keep], dec[keep]
        if not len(ra):
            continue
        truth = draw_sources(ra, dec, rng)
        tract = WIDE_TRACT_BASE + (int(pix) >> (2 * (order - 6)) if order >= 6 else int(pix))

        def place(r: np.ndarray, d: np.ndarray, idx: np.ndarray, pix: int = int(pix), tract: int = tract):
            m = len(r)
            return {
                "objectId": _ID_BASE + (np.int64(pix) << 24) + np.arange(1, m + 1, dtype=np.int64),
                "tract": np.full(m, tract, dtype=np.int64),
                "patch": np.full(m, -1, dtype=np.int64),
                "x": np.full(m, np.nan),
                "y": np.full(m, np.nan),
            }

        obj, _ = measure_objects(
            truth, mean_fluxes(truth, visits), depths, np.ones(len(truth), dtype=bool), place, rng
        )
        ref = reference_rows(truth, rng, id_base=(np.int64(4875) << 35) + (np.int64(pix) << 28))
        # a measured (or J2016) position can fall a few mas across the partition's edge; such
        # rows (a few per million) are dropped so each partition is complete when written
        obj = obj[_pixel_of(obj["coord_ra"], obj["coord_dec"], order) == pix].reset_index(drop=True)
        ref = ref[_pixel_of(ref["ra"], ref["dec"], order) == pix].reset_index(drop=True)
        yield int(pix), obj, ref


def _pixel_of(ra: pd.Series, dec: pd.Series, order: int) -> np.ndarray:
    lon = Longitude(ra.to_numpy() % 360.0, "deg")
    return np.asarray(hpn.lonlat_to_healpix(lon, Latitude(dec.to_numpy(), "deg"), order), dtype=np.int64)
