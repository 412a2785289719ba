"""A fast numpy renderer of visit images and deep coadds from the truth sky (no GalSim).

Pixels are in nJy and background-subtracted, like DP1 ``visit_image`` and ``deep_coadd``.

* PSF: a circular Gaussian of the visit's seeing (``visit.psf_sigma_pix``); the coadd uses the
  median seeing of the band's visits.  The pixel response is folded in as a box of variance 1/12
  pixel², so the sampled profile sums to the source flux.
* Galaxies: elliptical Gaussians (``sigma_major``/``sigma_minor`` arcsec, ``pa_deg`` east of
  north) convolved analytically with the PSF; stars and transients are points.
* Visit images use :func:`~kernel_lib.release.truth.flux_at` and
  :func:`~kernel_lib.release.truth.position_at` at the visit's mid-exposure time; the coadd uses
  the mean of ``flux_at`` over the band's visits and the reference positions.
* Noise: the (Gaussian limit of the) Poisson noise of sky + source electrons, with
  ``e-/nJy = exp_time * 10**(-0.4 * (31.4 - zero_point))``; the variance plane is exactly the
  variance of the noise added.  Coadd noise is a visit's divided by the number of the band's
  visits covering the pixel (coverage computed on a 4-pixel grid).
* Mask: ``EDGE`` border, ``BAD``+``INTRP`` columns on some detectors, ``SAT`` above full well,
  ``CR`` hits in visit images, ``DETECTED`` where the noiseless model is above 5 sigma, and in
  coadds ``NO_DATA`` where no visit covers.

Rendering functions are top-level and deterministic for a seed, so a process pool can run them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

from .exposure import MASK_PLANES, Exposure
from .model import (
    INSTRUMENT,
    NJY_ZERO_POINT,
    PHYSICAL_FILTERS,
    SKYMAP,
    Detector,
    ImageRecord,
    Profile,
    Visit,
)
from .truth import flux_at, position_at

__all__ = [
    "EDGE_PIXELS",
    "FULL_WELL_ELECTRONS",
    "TELESCOPE",
    "bad_columns",
    "electrons_per_njy",
    "image_record_for",
    "render_coadd_patch",
    "render_visit_detector",
    "visit_covers_patch",
]

TELESCOPE = "Rubin:Simonyi"
#: detector full well; pixels with more electrons (sky + source) are saturated.
FULL_WELL_ELECTRONS = 1.0e5
#: width of the EDGE mask border of visit images.
EDGE_PIXELS = 4
#: DETECTED threshold on the noiseless model, in units of the pixel noise.
DETECTION_SIGMA = 5.0
#: stamps are truncated where the profile falls below this fraction of the sky noise ...
_TRUNCATE_NOISE_FRACTION = 0.02
#: ... but never closer than this many sigma of the profile's major axis.
_MIN_RADIUS_SIGMA = 3.5
_MAX_HALF_SIZE = 192
_HALF_SIZES = np.array([3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64, 80, 96, 128, 160, 192])
_COVERAGE_STEP = 4

_BIT = {name: np.int32(1 << b) for name, b in MASK_PLANES.items()}


def electrons_per_njy(exp_time: float, zero_point: float) -> float:
    """Conversion from nJy to detected electrons for an exposure (``zero_point`` in mag for 1 e-/s)."""
    return float(exp_time * 10.0 ** (-0.4 * (NJY_ZERO_POINT - zero_point)))


def bad_columns(detector: Detector, width: int) -> tuple[int, ...]:
    """The bad columns of a detector (a property of the hardware: the same in every visit)."""
    if detector.id % 3 != 1:
        return ()
    rng = np.random.default_rng([7919, detector.id])
    n = 1 + detector.id % 2
    lo, hi = EDGE_PIXELS + 2, width - EDGE_PIXELS - 2
    cols: list[int] = []
    while len(cols) < n and hi - lo > 4:
        c = int(rng.integers(lo, hi))
        if all(abs(c - o) > 2 for o in cols):
            cols.append(c)
    return tuple(sorted(cols))


# --------------------------------------------------------------------------------------------
# the model


def _pixel_covariances(
    wcs: WCS, truth: pd.DataFrame, idx: np.ndarray, psf_sigma_pix: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cxx, cxy, cyy) pixel² of the PSF-convolved, pixel-integrated profiles of sources ``idx``."""
    base = psf_sigma_pix**2 + 1.0 / 12.0
    smaj = truth["sigma_major"].to_numpy()[idx]
    smin = truth["sigma_minor"].to_numpy()[idx]
    pa = np.radians(truth["pa_deg"].to_numpy()[idx])
    # sky covariance in (east, north) arcsec
    s, c = np.sin(pa), np.cos(pa)
    a2, b2 = smaj**2, smin**2
    see = a2 * s * s + b2 * c * c
    sen = (a2 - b2) * s * c
    snn = a2 * c * c + b2 * s * s
    # pixel offset -> (east, north) arcsec is the CD matrix (intermediate world coords: xi = east)
    m = wcs.pixel_scale_matrix * 3600.0
    mi = np.linalg.inv(m)
    # C_pix = Mi C_sky Mi^T
    p, q, r, t = mi[0, 0], mi[0, 1], mi[1, 0], mi[1, 1]
    cxx = p * p * see + 2 * p * q * sen + q * q * snn
    cxy = p * r * see + (p * t + q * r) * sen + q * t * snn
    cyy = r * r * see + 2 * r * t * sen + t * t * snn
    return cxx + base, cxy, cyy + base


def _half_sizes(flux: np.ndarray, cxx, cxy, cyy, noise_sigma: float) -> np.ndarray:
    det = cxx * cyy - cxy * cxy
    tr = 0.5 * (cxx + cyy)
    lam = tr + np.sqrt(np.maximum(tr * tr - det, 0.0))
    smax = np.sqrt(lam)
    peak = np.abs(flux) / (2 * np.pi * np.sqrt(det))
    thresh = max(_TRUNCATE_NOISE_FRACTION * noise_sigma, 1e-6)
    ratio = np.maximum(peak / thresh, 1.0)
    r = smax * np.maximum(np.sqrt(2.0 * np.log(ratio)), _MIN_RADIUS_SIGMA)
    k = np.searchsorted(_HALF_SIZES, np.minimum(np.ceil(r), _MAX_HALF_SIZE))
    return _HALF_SIZES[np.minimum(k, len(_HALF_SIZES) - 1)]


def _render_model(
    nx: int,
    ny: int,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    cxx: np.ndarray,
    cxy: np.ndarray,
    cyy: np.ndarray,
    half: np.ndarray,
) -> np.ndarray:
    """Sum of Gaussian stamps (flux-normalised) on an ``ny x nx`` float64 image."""
    det = cxx * cyy - cxy * cxy
    norm = (flux / (2.0 * np.pi * np.sqrt(det))).astype(np.float32)
    ia = (cyy / det).astype(np.float32)  # inverse covariance
    ib = (-cxy / det).astype(np.float32)
    ic = (cxx / det).astype(np.float32)
    circular = (cxy == 0.0) & (cxx == cyy)
    flats: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for h in np.unique(half):
        sel_h = half == h
        for circ in (True, False):
            sel = np.flatnonzero(sel_h & (circular if circ else ~circular))
            if sel.size == 0:
                continue
            ar = np.arange(-int(h), int(h) + 1)
            xc = np.rint(x[sel]).astype(np.int64)
            yc = np.rint(y[sel]).astype(np.int64)
            px = xc[:, None] + ar[None, :]  # (N, n)
            py = yc[:, None] + ar[None, :]
            dx = (px - x[sel, None]).astype(np.float32)
            dy = (py - y[sel, None]).astype(np.float32)
            if circ:
                gx = np.exp(-0.5 * ia[sel, None] * dx * dx)
                gy = np.exp(-0.5 * ia[sel, None] * dy * dy) * norm[sel, None]
                val = gy[:, :, None] * gx[:, None, :]
            else:
                dxx = dx[:, None, :]
                dyy = dy[:, :, None]
                q = (ia[sel, None, None] * dxx) * dxx + (ic[sel, None, None] * dyy) * dyy
                q *= -0.5
                q -= (ib[sel, None, None] * dxx) * dyy
                val = np.exp(q, out=q)
                val *= norm[sel, None, None]
            inside_x = (px >= 0) & (px < nx)
            inside_y = (py >= 0) & (py < ny)
            flat = py[:, :, None] * nx + px[:, None, :]
            full = inside_x.all(axis=1) & inside_y.all(axis=1)
            if full.all():
                flats.append(flat.ravel())
                vals.append(val.ravel())
            else:
                inside = inside_y[:, :, None] & inside_x[:, None, :]
                flats.append(flat[inside])
                vals.append(val[inside])
    if not flats:
        return np.zeros((ny, nx), dtype=np.float64)
    out = np.bincount(np.concatenate(flats), weights=np.concatenate(vals), minlength=nx * ny)
    return out.reshape(ny, nx)


def _sources_model(
    wcs: WCS,
    nx: int,
    ny: int,
    truth: pd.DataFrame,
    ra: np.ndarray,
    dec: np.ndarray,
    flux: np.ndarray,
    psf_sigma_pix: float,
    noise_sigma: float,
) -> np.ndarray:
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    near = (
        (x > -_MAX_HALF_SIZE) & (x < nx + _MAX_HALF_SIZE) & (y > -_MAX_HALF_SIZE) & (y < ny + _MAX_HALF_SIZE)
    )
    near &= flux != 0
    idx = np.flatnonzero(near)
    cxx, cxy, cyy = _pixel_covariances(wcs, truth, idx, psf_sigma_pix)
    f = flux[idx]
    half = _half_sizes(f, cxx, cxy, cyy, noise_sigma)
    xs, ys = x[idx], y[idx]
    keep = (xs + half >= -0.5) & (xs - half <= nx - 0.5) & (ys + half >= -0.5) & (ys - half <= ny - 0.5)
    return _render_model(nx, ny, xs[keep], ys[keep], f[keep], cxx[keep], cxy[keep], cyy[keep], half[keep])


def _add_noise(rng: np.random.Generator, model: np.ndarray, variance: np.ndarray) -> np.ndarray:
    noise = rng.standard_normal(model.shape, dtype=np.float32)
    noise *= np.sqrt(variance)
    noise += model
    return noise


def _isot(mjd: float) -> str:
    return Time(mjd, format="mjd", scale="tai").isot


def _base_metadata(band: str) -> fits.Header:
    h = fits.Header()
    h["INSTRUME"] = (INSTRUMENT, "instrument")
    h["TELESCOP"] = (TELESCOPE, "telescope")
    h["FILTER"] = (PHYSICAL_FILTERS[band], "physical filter")
    h["BAND"] = (band, "abstract filter (band)")
    h["TIMESYS"] = ("TAI", "time scale of MJD-OBS, MJD-END, DATE-OBS")
    return h


# --------------------------------------------------------------------------------------------
# visit images


def render_visit_detector(
    profile: Profile, truth: pd.DataFrame, visit: Visit, detector: Detector, seed: int
) -> Exposure:
    """The calibrated, background-subtracted image of one detector of one visit."""
    cam = profile.camera
    nx = ny = cam.det_size
    wcs = cam.detector_wcs(detector, visit.ra, visit.dec, visit.rotation_deg)
    rng = np.random.default_rng([int(seed), int(visit.id), int(detector.id), 1])
    gain = electrons_per_njy(visit.exp_time, visit.zero_point)  # e- per nJy
    sky = visit.sky_njy_per_pix
    sky_sigma = math.sqrt(sky / gain)

    ra, dec = position_at(truth, visit.mjd_mid)
    flux = flux_at(truth, visit.band, visit.mjd_mid)
    model = _sources_model(wcs, nx, ny, truth, ra, dec, flux, visit.psf_sigma_pix, sky_sigma)

    variance = ((model + sky) * (1.0 / gain)).astype(np.float32)
    image = _add_noise(rng, model.astype(np.float32), variance)
    mask = np.zeros((ny, nx), dtype=np.int32)

    # detection on the noiseless model
    mask[model > DETECTION_SIGMA * np.sqrt(variance)] |= _BIT["DETECTED"]

    # saturation: sky + source electrons above full well; clip at the saturation level
    sat_level = FULL_WELL_ELECTRONS / gain - sky
    sat = model > sat_level
    if sat.any():
        mask[sat] |= _BIT["SAT"]
        np.minimum(image, np.float32(sat_level), out=image)

    # cosmic rays: short tracks of a few pixels
    n_cr = int(rng.integers(2, 7))
    for _ in range(n_cr):
        length = int(rng.integers(1, 6))
        cx, cy = rng.uniform(0, nx), rng.uniform(0, ny)
        ang = rng.uniform(0, np.pi)
        t = np.arange(length)
        px = np.clip(np.rint(cx + t * math.cos(ang)).astype(int), 0, nx - 1)
        py = np.clip(np.rint(cy + t * math.sin(ang)).astype(int), 0, ny - 1)
        image[py, px] += np.float32(rng.uniform(3000.0, 30000.0) / gain)
        mask[py, px] |= _BIT["CR"]

    # bad columns, interpolated from their neighbours
    for c in bad_columns(detector, nx):
        image[:, c] = 0.5 * (image[:, c - 1] + image[:, c + 1])
        variance[:, c] = 0.5 * (variance[:, c - 1] + variance[:, c + 1])
        mask[:, c] |= _BIT["BAD"] | _BIT["INTRP"]

    e = EDGE_PIXELS
    edge = _BIT["EDGE"]
    mask[:e, :] |= edge
    mask[-e:, :] |= edge
    mask[:, :e] |= edge
    mask[:, -e:] |= edge

    mjd_end = visit.mjd_start + visit.exp_time / 86400.0
    h = _base_metadata(visit.band)
    h["MJD-OBS"] = (visit.mjd_start, "exposure start (MJD, TAI)")
    h["MJD-END"] = (mjd_end, "exposure end (MJD, TAI)")
    h["DATE-OBS"] = (_isot(visit.mjd_start), "exposure start (TAI)")
    h["EXPTIME"] = (visit.exp_time, "[s] exposure time")
    h["VISIT"] = (int(visit.id), "visit id")
    h["DETECTOR"] = (int(detector.id), "detector id")
    h["DETNAME"] = (detector.name, "detector name")
    h["DAYOBS"] = (int(visit.day_obs), "observing day (YYYYMMDD)")
    h["SEQNUM"] = (int(visit.seq_num), "sequence number within the day")
    h["SEEING"] = (round(visit.seeing_arcsec, 4), "[arcsec] PSF FWHM")
    h["ZEROPT"] = (round(visit.zero_point, 5), "[mag] zero point for 1 e-/s")
    h["AIRMASS"] = (round(visit.airmass, 4), "airmass")
    h["SKYLEVEL"] = (round(sky, 3), "[nJy] subtracted sky per pixel")
    h["GAIN"] = (round(gain, 6), "[e-/nJy] electrons per nJy")
    h["BORE-RA"] = (round(visit.ra, 7), "[deg] boresight RA")
    h["BORE-DEC"] = (round(visit.dec, 7), "[deg] boresight Dec")
    h["ROTPA"] = (round(visit.rotation_deg, 5), "[deg] rotation angle")
    h["BUNIT"] = ("nJy", "pixel unit")
    return Exposure(image=image, mask=mask, variance=variance, wcs=wcs, metadata=h)


# --------------------------------------------------------------------------------------------
# deep coadds


def _focal_plane_coverage(
    profile: Profile, visit: Visit, wcs: WCS, gx: np.ndarray, gy: np.ndarray
) -> np.ndarray:
    """Boolean: which grid points (pixel coords of ``wcs``) land on a detector of ``visit``."""
    cam = profile.camera
    fp_wcs = cam.detector_wcs(cam.detectors[0], visit.ra, visit.dec, visit.rotation_deg)
    # the map between two nearby TAN grids is affine to far below a pixel: fit it on a few points
    n = max(float(gx.max()), float(gy.max()), 1.0)
    cx = np.array([0.0, n, 0.0, n, n / 2])
    cy = np.array([0.0, 0.0, n, n, n / 2])
    ra, dec = wcs.wcs_pix2world(cx, cy, 0)
    u, v = fp_wcs.wcs_world2pix(ra, dec, 0)
    a = np.column_stack([cx, cy, np.ones_like(cx)])
    cu = np.linalg.lstsq(a, u, rcond=None)[0]
    cv = np.linalg.lstsq(a, v, rcond=None)[0]
    uu = cu[0] * gx[None, :] + cu[1] * gy[:, None] + cu[2] + 0.5
    vv = cv[0] * gx[None, :] + cv[1] * gy[:, None] + cv[2] + 0.5
    pitch = cam.det_size + cam.gap
    fp = cam.focal_plane_size
    ok = (uu >= 0) & (uu < fp) & (vv >= 0) & (vv < fp)
    ok &= np.mod(uu, pitch) < cam.det_size
    ok &= np.mod(vv, pitch) < cam.det_size
    return ok


def visit_covers_patch(profile: Profile, visit: Visit, patch: int) -> bool:
    """Whether any detector of ``visit`` lands on ``patch`` (on a 4-pixel grid)."""
    sm = profile.skymap
    g = np.arange(_COVERAGE_STEP / 2 - 0.5, sm.patch_size, _COVERAGE_STEP)
    return bool(_focal_plane_coverage(profile, visit, sm.patch_wcs(patch), g, g).any())


def render_coadd_patch(
    profile: Profile, truth: pd.DataFrame, visits: list[Visit], band: str, patch: int, seed: int
) -> Exposure:
    """The deep coadd of one patch in one band from the band's visits in ``visits``."""
    sm = profile.skymap
    nx = ny = sm.patch_size
    wcs = sm.patch_wcs(patch)
    bvis = [v for v in visits if v.band == band]
    rng = np.random.default_rng([int(seed), int(sm.tract), int(patch), "ugrizy".index(band), 2])

    # per-pixel visit count on a coarse grid, expanded to pixels
    step = _COVERAGE_STEP
    g = np.arange(step / 2 - 0.5, nx, step)
    gyy = np.arange(step / 2 - 0.5, ny, step)
    count = np.zeros((len(gyy), len(g)), dtype=np.int16)
    covering: list[Visit] = []
    for v in bvis:
        cov = _focal_plane_coverage(profile, v, wcs, g, gyy)
        if cov.any():
            covering.append(v)
            count += cov
    nvis = np.repeat(np.repeat(count, step, axis=0), step, axis=1)[:ny, :nx]

    if bvis:
        psf_sigma = float(np.median([v.psf_sigma_pix for v in bvis]))
        seeing = float(np.median([v.seeing_arcsec for v in bvis]))
        mean_flux = np.mean([flux_at(truth, band, v.mjd_mid) for v in bvis], axis=0)
    else:
        seeing = 0.8
        psf_sigma = seeing / 2.3548 / sm.pixel_scale_arcsec
        mean_flux = truth[f"flux_{band}"].to_numpy()
    src = covering or bvis
    if src:
        gain = float(np.mean([electrons_per_njy(v.exp_time, v.zero_point) for v in src]))
        sky = float(np.mean([v.sky_njy_per_pix for v in src]))
    else:
        gain, sky = 1.0, 1000.0
    n_max = max(int(count.max()), 1)
    noise_sigma = math.sqrt(sky / gain / n_max)

    model = _sources_model(
        wcs, nx, ny, truth, truth["ra"].to_numpy(), truth["dec"].to_numpy(), mean_flux, psf_sigma, noise_sigma
    )
    no_data = nvis == 0
    inv_n = (1.0 / np.maximum(nvis, 1)).astype(np.float32)
    variance = ((model + sky) * (1.0 / gain)).astype(np.float32)
    variance *= inv_n
    image = _add_noise(rng, model.astype(np.float32), variance)
    mask = np.zeros((ny, nx), dtype=np.int32)
    mask[model > DETECTION_SIGMA * np.sqrt(variance)] |= _BIT["DETECTED"]
    mask[model > FULL_WELL_ELECTRONS / gain - sky] |= _BIT["SAT"]
    if no_data.any():
        mask[no_data] = _BIT["NO_DATA"]
        image[no_data] = np.nan
        variance[no_data] = np.nan

    h = _base_metadata(band)
    if covering:
        t0 = min(v.mjd_start for v in covering)
        t1 = max(v.mjd_start + v.exp_time / 86400.0 for v in covering)
        h["MJD-OBS"] = (t0, "start of the first input exposure (MJD, TAI)")
        h["MJD-END"] = (t1, "end of the last input exposure (MJD, TAI)")
        h["DATE-OBS"] = (_isot(t0), "start of the first input exposure (TAI)")
    h["EXPTIME"] = (float(sum(v.exp_time for v in covering)), "[s] summed exposure time of the inputs")
    h["TRACT"] = (int(sm.tract), "tract")
    h["PATCH"] = (int(patch), "patch")
    h["SKYMAP"] = (SKYMAP, "sky map")
    h["NVISITS"] = (len(covering), "number of input visits")
    h["SEEING"] = (round(seeing, 4), "[arcsec] PSF FWHM")
    h["SKYLEVEL"] = (round(sky, 3), "[nJy] mean subtracted sky per pixel of the inputs")
    h["GAIN"] = (round(gain * n_max, 6), "[e-/nJy] effective electrons per nJy (deepest)")
    h["BUNIT"] = ("nJy", "pixel unit")
    return Exposure(image=image, mask=mask, variance=variance, wcs=wcs, metadata=h)


# --------------------------------------------------------------------------------------------
# records


def image_record_for(exp: Exposure, kind: str, path_rel: str, size_bytes: int) -> ImageRecord:
    """The :class:`ImageRecord` of an exposure written at ``path_rel`` (relative to the release root)."""
    if kind not in ("visit_image", "deep_coadd"):
        raise ValueError(f"kind must be 'visit_image' or 'deep_coadd', got {kind!r}")
    md = exp.metadata
    ny, nx = exp.image.shape
    px = np.array([0, nx, nx, 0], dtype=float) - 0.5
    py = np.array([0, 0, ny, ny], dtype=float) - 0.5
    ra, dec = exp.wcs.wcs_pix2world(px, py, 0)
    corners = tuple((float(r) % 360.0, float(d)) for r, d in zip(ra, dec, strict=True))
    band = str(md["BAND"])

    def opt_int(key: str) -> int | None:
        return int(md[key]) if key in md else None

    mjd_start = float(md.get("MJD-OBS", math.nan))
    return ImageRecord(
        kind=kind,
        path=str(path_rel).replace("\\", "/"),
        band=band,
        physical_filter=str(md.get("FILTER", PHYSICAL_FILTERS.get(band, band))),
        mjd_start=mjd_start,
        mjd_end=float(md.get("MJD-END", mjd_start)),
        exp_time=float(md.get("EXPTIME", 0.0)),
        corners=corners,
        nx=int(nx),
        ny=int(ny),
        visit=opt_int("VISIT"),
        detector=opt_int("DETECTOR"),
        tract=opt_int("TRACT"),
        patch=opt_int("PATCH"),
        size_bytes=int(size_bytes),
        seeing_arcsec=float(md["SEEING"]) if "SEEING" in md else None,
    )
