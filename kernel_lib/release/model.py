"""The shape of a data release: profiles, field, camera, sky map and observing cadence.

Everything the release builder's parts share lives here as frozen value objects, so the
catalog writer, the image renderer, the Butler writer and the HiPS builder agree on one
geometry.  Nothing in this module touches the disk.

Conventions (LSST / DP1):

* fluxes are in nJy; AB magnitudes are ``31.4 - 2.5 log10(flux / nJy)``;
* times are MJD (TAI), exposure starts;
* positions are ICRS degrees;
* the camera is ComCam-like: 3 x 3 detectors named ``R22_S{row}{col}``, 0.2"/pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from astropy.wcs import WCS

__all__ = [
    "BANDS",
    "BAND_RANGE_NM",
    "BAND_WAVELENGTH_NM",
    "FIVE_SIGMA_DEPTH",
    "INSTRUMENT",
    "PHYSICAL_FILTERS",
    "PROFILES",
    "SKYMAP",
    "SKY_MAG",
    "ZERO_POINT",
    "Camera",
    "Detector",
    "ImageRecord",
    "Profile",
    "SkyMap",
    "Visit",
    "ab_mag_to_njy",
    "get_profile",
    "make_tan_wcs",
    "njy_to_ab_mag",
    "plan_visits",
]

BANDS: tuple[str, ...] = ("u", "g", "r", "i", "z", "y")
#: effective wavelengths (nm) of the LSST filters.
BAND_WAVELENGTH_NM = {"u": 367.0, "g": 482.5, "r": 622.2, "i": 754.5, "z": 869.1, "y": 971.0}
#: filter bandpass edges (nm), used for ObsCore em_min/em_max.
BAND_RANGE_NM = {
    "u": (320.0, 400.0),
    "g": (400.0, 552.0),
    "r": (552.0, 691.0),
    "i": (691.0, 818.0),
    "z": (818.0, 922.0),
    "y": (922.0, 1060.0),
}
#: ComCam physical filter names as in DP1.
PHYSICAL_FILTERS = {"u": "u_02", "g": "g_01", "r": "r_03", "i": "i_06", "z": "z_03", "y": "y_04"}
#: typical 5-sigma point-source depth of one 30 s visit (AB mag).
FIVE_SIGMA_DEPTH = {"u": 23.7, "g": 24.9, "r": 24.5, "i": 24.0, "z": 23.4, "y": 22.6}
#: sky brightness (AB mag / arcsec^2), dark time.
SKY_MAG = {"u": 22.9, "g": 22.3, "r": 21.2, "i": 20.5, "z": 19.6, "y": 18.6}
#: nominal photometric zero point (AB mag giving 1 electron per second).
ZERO_POINT = {"u": 26.5, "g": 28.3, "r": 28.1, "i": 27.9, "z": 27.5, "y": 26.7}

INSTRUMENT = "LSSTComCamSim"
SKYMAP = "lsst_cells_box"
NJY_ZERO_POINT = 31.4  # AB mag of 1 nJy


def ab_mag_to_njy(mag: np.ndarray | float) -> np.ndarray:
    """AB magnitude to flux in nJy (a 0-d array for a scalar)."""
    return np.asarray(10.0 ** ((NJY_ZERO_POINT - np.asarray(mag, dtype=float)) / 2.5))


def njy_to_ab_mag(flux: np.ndarray | float) -> np.ndarray:
    """Flux in nJy to AB magnitude (NaN for non-positive flux)."""
    f = np.asarray(flux, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f > 0, NJY_ZERO_POINT - 2.5 * np.log10(f), np.nan)


def make_tan_wcs(
    ra: float, dec: float, crpix: tuple[float, float], scale_arcsec: float, rotation_deg: float = 0.0
) -> WCS:
    """A TAN WCS with north up / east left at rotation 0 (FITS 1-based ``crpix``)."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = list(crpix)
    s = scale_arcsec / 3600.0
    c, sn = math.cos(math.radians(rotation_deg)), math.sin(math.radians(rotation_deg))
    w.wcs.cd = np.array([[-s * c, s * sn], [s * sn, s * c]])
    w.wcs.radesys = "ICRS"
    w.wcs.equinox = 2000.0
    w.wcs.cunit = ["deg", "deg"]
    return w


@dataclass(frozen=True, order=True)
class Detector:
    """One detector of the camera; ``x0, y0`` is its lower-left pixel in the focal plane."""

    id: int
    name: str
    x0: int
    y0: int


@dataclass(frozen=True)
class Camera:
    """A 3 x 3 detector mosaic (ComCam-like), square detectors with gaps between them."""

    det_size: int
    gap: int
    n_side: int = 3
    pixel_scale_arcsec: float = 0.2

    @cached_property
    def detectors(self) -> tuple[Detector, ...]:
        dets = []
        for row in range(self.n_side):
            for col in range(self.n_side):
                dets.append(
                    Detector(
                        id=row * self.n_side + col,
                        name=f"R22_S{row}{col}",
                        x0=col * (self.det_size + self.gap),
                        y0=row * (self.det_size + self.gap),
                    )
                )
        return tuple(dets)

    @property
    def focal_plane_size(self) -> int:
        """Side of the focal plane in pixels (detectors plus gaps)."""
        return self.n_side * self.det_size + (self.n_side - 1) * self.gap

    def detector_wcs(self, det: Detector, ra: float, dec: float, rotation_deg: float) -> WCS:
        """WCS of one detector for a boresight at ``ra, dec``: the boresight is the focal-plane centre."""
        c = (self.focal_plane_size + 1) / 2.0
        return make_tan_wcs(ra, dec, (c - det.x0, c - det.y0), self.pixel_scale_arcsec, rotation_deg)


@dataclass(frozen=True)
class SkyMap:
    """One tract of a ``lsst_cells``-like sky map: a TAN projection split into square patches.

    Patch ``p`` sits at column ``p % n_patches`` and row ``p // n_patches`` (LSST numbering).
    Patches do not overlap in the box (real LSST patches have 100-pixel borders).
    """

    tract: int
    ra: float
    dec: float
    n_patches: int
    patch_size: int
    pixel_scale_arcsec: float = 0.2

    @property
    def size(self) -> int:
        return self.n_patches * self.patch_size

    @cached_property
    def wcs(self) -> WCS:
        c = (self.size + 1) / 2.0
        return make_tan_wcs(self.ra, self.dec, (c, c), self.pixel_scale_arcsec)

    @property
    def patches(self) -> range:
        return range(self.n_patches * self.n_patches)

    def patch_origin(self, patch: int) -> tuple[int, int]:
        """Lower-left pixel (x, y) of a patch in tract pixel coordinates (0-based)."""
        return (patch % self.n_patches) * self.patch_size, (patch // self.n_patches) * self.patch_size

    def patch_wcs(self, patch: int) -> WCS:
        """The tract WCS shifted to the patch's own pixel grid."""
        x0, y0 = self.patch_origin(patch)
        w = self.wcs.deepcopy()
        w.wcs.crpix = [w.wcs.crpix[0] - x0, w.wcs.crpix[1] - y0]
        return w

    def patch_corners(self, patch: int) -> np.ndarray:
        """(4, 2) array of RA, Dec of a patch's outer corners, counter-clockwise on the sky."""
        x0, y0 = self.patch_origin(patch)
        px = np.array([x0, x0 + self.patch_size, x0 + self.patch_size, x0]) - 0.5
        py = np.array([y0, y0, y0 + self.patch_size, y0 + self.patch_size]) - 0.5
        ra, dec = self.wcs.wcs_pix2world(px, py, 0)
        return np.column_stack([ra, dec])

    def tract_corners(self) -> np.ndarray:
        px = np.array([0, self.size, self.size, 0]) - 0.5
        py = np.array([0, 0, self.size, self.size]) - 0.5
        ra, dec = self.wcs.wcs_pix2world(px, py, 0)
        return np.column_stack([ra, dec])

    def locate(self, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tract pixel x, y (0-based) and patch index (-1 outside the tract) of positions."""
        x, y = self.wcs.wcs_world2pix(np.asarray(ra, float), np.asarray(dec, float), 0)
        ix = np.floor((x + 0.5) / self.patch_size).astype(int)
        iy = np.floor((y + 0.5) / self.patch_size).astype(int)
        inside = (ix >= 0) & (iy >= 0) & (ix < self.n_patches) & (iy < self.n_patches)
        return x, y, np.where(inside, iy * self.n_patches + ix, -1)


@dataclass(frozen=True)
class Visit:
    """One exposure of the whole camera."""

    id: int
    band: str
    physical_filter: str
    day_obs: int
    seq_num: int
    mjd_start: float
    exp_time: float
    ra: float
    dec: float
    rotation_deg: float
    airmass: float
    seeing_arcsec: float
    sky_njy_per_pix: float
    zero_point: float  # magnitude giving 1 instrumental count per second (DP1 CcdVisit.zeroPoint)
    depth_5sigma: float

    @property
    def mjd_mid(self) -> float:
        return self.mjd_start + self.exp_time / 2.0 / 86400.0

    @property
    def psf_sigma_pix(self) -> float:
        return self.seeing_arcsec / 2.3548 / 0.2


@dataclass(frozen=True)
class ImageRecord:
    """One image file of the release, as the Butler writer, ObsCore and HiPS builder see it.

    ``path`` is POSIX, relative to the release root.  Visit images carry ``visit``/``detector``;
    deep coadds carry ``tract``/``patch``.  ``corners`` are (RA, Dec) of the four pixel-grid
    corners, counter-clockwise on the sky.
    """

    kind: str  # "visit_image" | "deep_coadd"
    path: str
    band: str
    physical_filter: str
    mjd_start: float
    mjd_end: float
    exp_time: float
    corners: tuple[tuple[float, float], ...]
    nx: int
    ny: int
    visit: int | None = None
    detector: int | None = None
    tract: int | None = None
    patch: int | None = None
    size_bytes: int = 0
    seeing_arcsec: float | None = None


@dataclass(frozen=True)
class Profile:
    """Size knobs of a release.  ``tiny`` for tests, ``demo`` the default, ``large`` for benchmarks."""

    name: str
    det_size: int
    det_gap: int
    n_patches: int
    patch_size: int
    visits_per_band: int
    object_density_deg2: float
    partition_order: int
    n_transients: int
    wide_area_deg2: float = 0.0  # extra catalog-only area (``large``), no images there
    field_ra: float = 53.16  # the Extended Chandra Deep Field South, a DP1 field
    field_dec: float = -28.10
    tract: int = 5063
    mjd_first: float = 60623.0
    mjd_last: float = 60646.0
    margin_arcsec: float = 5.0
    row_group_rows: int = 16384  # see hats_writer.DEFAULT_ROW_GROUP_ROWS
    extras: dict[str, float] = field(default_factory=dict, compare=False, hash=False)

    @cached_property
    def camera(self) -> Camera:
        return Camera(det_size=self.det_size, gap=self.det_gap)

    @cached_property
    def skymap(self) -> SkyMap:
        return SkyMap(self.tract, self.field_ra, self.field_dec, self.n_patches, self.patch_size)

    @property
    def tract_area_deg2(self) -> float:
        side = self.skymap.size * self.skymap.pixel_scale_arcsec / 3600.0
        return side * side


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="tiny",
            det_size=256,
            det_gap=10,
            n_patches=2,
            patch_size=400,
            visits_per_band=3,
            object_density_deg2=1.5e6,
            partition_order=11,
            n_transients=2,
            row_group_rows=1024,  # small leaves: still several row groups each
        ),
        Profile(
            name="demo",
            det_size=800,
            det_gap=20,
            n_patches=3,
            patch_size=1000,
            visits_per_band=8,
            object_density_deg2=1.5e6,
            partition_order=10,
            n_transients=6,
            row_group_rows=8192,
        ),
        Profile(
            name="large",
            det_size=800,
            det_gap=20,
            n_patches=3,
            patch_size=1000,
            visits_per_band=8,
            object_density_deg2=1.5e6,
            partition_order=7,
            n_transients=6,
            wide_area_deg2=50.0,
        ),
    )
}


def get_profile(name: str) -> Profile:
    """The named profile, or a ``ValueError`` listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


def plan_visits(profile: Profile, rng: np.random.Generator) -> list[Visit]:
    """The observing sequence: ``visits_per_band`` visits per band spread over the nights.

    Boresights dither around the field centre so the union of visits covers the tract; seeing,
    airmass and sky vary from visit to visit, and the 5-sigma depth follows from them.
    """
    cam = profile.camera
    fp_deg = cam.focal_plane_size * cam.pixel_scale_arcsec / 3600.0
    tract_deg = profile.skymap.size * profile.skymap.pixel_scale_arcsec / 3600.0
    dither = max(0.0, (tract_deg - fp_deg) / 2.0) + 0.05 * fp_deg
    n_nights = int(profile.mjd_last - profile.mjd_first) + 1
    slots = []
    for band in BANDS:
        for k in range(profile.visits_per_band):
            slots.append((band, k))
    order = rng.permutation(len(slots))
    nights = np.sort(rng.integers(0, n_nights, size=len(slots)))
    visits: list[Visit] = []
    seq_by_day: dict[int, int] = {}
    for night, idx in zip(nights, order, strict=True):
        band, _ = slots[idx]
        mjd_night = profile.mjd_first + float(night) + 0.05  # ~01:00 local in Chile
        seq = seq_by_day.get(int(night), 0) + 1
        seq_by_day[int(night)] = seq
        mjd = mjd_night + seq * 40.0 / 86400.0 + rng.uniform(0, 0.25)
        day_obs = _mjd_to_day_obs(mjd_night)
        cosd = math.cos(math.radians(profile.field_dec))
        ra = profile.field_ra + rng.uniform(-dither, dither) / cosd
        dec = profile.field_dec + rng.uniform(-dither, dither)
        airmass = float(rng.uniform(1.0, 1.6))
        seeing = float(np.clip(rng.lognormal(math.log(0.85), 0.2), 0.55, 1.8)) * airmass**0.6
        sky_mag = SKY_MAG[band] + rng.normal(0.0, 0.15)
        exp_time = 30.0
        sky_per_pix = float(ab_mag_to_njy(sky_mag)) * cam.pixel_scale_arcsec**2
        # depth degrades with seeing and sky relative to the nominal 0.8" / nominal sky
        depth = (
            FIVE_SIGMA_DEPTH[band]
            - 2.5 * math.log10(seeing / 0.8)
            + 1.25 * (sky_mag - SKY_MAG[band]) / 2.5
            - 0.1 * (airmass - 1.0)
        )
        visits.append(
            Visit(
                id=day_obs * 100000 + seq,
                band=band,
                physical_filter=PHYSICAL_FILTERS[band],
                day_obs=day_obs,
                seq_num=seq,
                mjd_start=round(mjd, 6),
                exp_time=exp_time,
                ra=ra,
                dec=dec,
                rotation_deg=float(rng.uniform(-2.0, 2.0)),
                airmass=airmass,
                seeing_arcsec=seeing,
                sky_njy_per_pix=sky_per_pix,
                zero_point=float(ZERO_POINT[band] - 0.1 * (airmass - 1.0) + rng.normal(0, 0.02)),
                depth_5sigma=float(depth),
            )
        )
    return sorted(visits, key=lambda v: v.id)


def _mjd_to_day_obs(mjd: float) -> int:
    """Rubin ``day_obs`` (YYYYMMDD of the night's local date, UTC-12h rule)."""
    from astropy.time import Time

    t = Time(mjd - 0.5, format="mjd", scale="tai")
    ymd = t.ymdhms
    return int(ymd["year"]) * 10000 + int(ymd["month"]) * 100 + int(ymd["day"])
