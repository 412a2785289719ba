"""The truth sky of a release: stars, galaxies, variable stars and transients.

One table, one row per astrophysical source, from which every catalog and image is derived.
Columns (a pandas ``DataFrame``):

``truth_id`` int64, ``ra``/``dec`` deg at :data:`REF_MJD`, ``kind`` (``"star"``,
``"galaxy"``, ``"transient"``), ``flux_<band>`` mean flux in nJy for u g r i z y,
``pm_ra`` (mas/yr, includes cos dec), ``pm_dec`` (mas/yr), ``parallax`` (mas),
``sigma_major``/``sigma_minor`` (arcsec, Gaussian profile of galaxies; 0 for point sources),
``pa_deg`` (position angle east of north), ``var_type`` (0 constant, 1 RR Lyrae-like,
2 eclipsing/sinusoidal, 3 supernova-like), ``period_d``, ``amp_mag``, ``phase``,
``t0_mjd``, ``rise_d``, ``decay_d``, ``host_id`` (-1 when none).

:func:`flux_at` gives the flux of every source in a band at a time; :func:`position_at` the
position at a time (proper motion).  Both are what the renderer and the catalog writers use,
so images and catalogs tell the same story.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .model import BANDS, Profile, ab_mag_to_njy

__all__ = [
    "GAIA_EPOCH_MJD",
    "REF_MJD",
    "draw_sources",
    "flux_at",
    "make_truth",
    "position_at",
    "sample_in_tract",
]

#: reference epoch of the truth positions (the middle of the observing run).
REF_MJD = 60634.5
#: Gaia DR3 reference epoch J2016.0.
GAIA_EPOCH_MJD = 57388.0
STAR_FRACTION = 0.06
VARIABLE_FRACTION = 0.12  # of stars


def sample_in_tract(profile: Profile, n: int, rng: np.random.Generator, pad: float = 0.0):
    """Uniform positions over the tract (plus ``pad`` pixels each side), via the tract WCS."""
    sm = profile.skymap
    x = rng.uniform(-0.5 - pad, sm.size - 0.5 + pad, n)
    y = rng.uniform(-0.5 - pad, sm.size - 0.5 + pad, n)
    ra, dec = sm.wcs.wcs_pix2world(x, y, 0)
    return np.asarray(ra) % 360.0, np.asarray(dec)


def _power_law_mags(rng: np.random.Generator, n: int, slope: float, lo: float, hi: float):
    k = slope * math.log(10)
    u = rng.uniform(0.0, 1.0, n)
    return np.log(np.exp(k * lo) + u * (np.exp(k * hi) - np.exp(k * lo))) / k


def make_truth(profile: Profile, rng: np.random.Generator) -> pd.DataFrame:
    """Draw the truth sky for a profile (deterministic for a given generator state)."""
    n = round(profile.object_density_deg2 * profile.tract_area_deg2)
    ra, dec = sample_in_tract(profile, n, rng, pad=20.0)
    df = draw_sources(ra, dec, rng)
    return pd.concat([df, _transients(profile, df, rng)], ignore_index=True)


def draw_sources(
    ra: np.ndarray, dec: np.ndarray, rng: np.random.Generator, first_id: int = 1
) -> pd.DataFrame:
    """Stars and galaxies (with variable stars among them) at the given positions."""
    n = len(ra)
    n_star = round(n * STAR_FRACTION)
    n_gal = n - n_star
    kind = np.array(["star"] * n_star + ["galaxy"] * n_gal, dtype=object)
    r = np.empty(n)
    r[:n_star] = _power_law_mags(rng, n_star, 0.12, 15.0, 25.5)
    r[n_star:] = _power_law_mags(rng, n_gal, 0.33, 17.0, 27.0)
    # colours: stars along a temperature sequence, galaxies a broad red/blue mixture
    t = rng.uniform(0.0, 1.0, n)
    gr = np.where(kind == "star", 0.25 + 1.25 * t, rng.normal(0.65, 0.3, n))
    ug = np.where(kind == "star", 0.9 + 1.6 * t, rng.normal(0.9, 0.4, n))
    ri = np.where(kind == "star", 0.08 + 0.9 * t**2, rng.normal(0.35, 0.18, n))
    iz = np.where(kind == "star", 0.03 + 0.45 * t**2, rng.normal(0.2, 0.12, n))
    zy = np.where(kind == "star", 0.02 + 0.25 * t**2, rng.normal(0.1, 0.08, n))
    mags = {"r": r, "g": r + gr, "u": r + gr + ug, "i": r - ri}
    mags["z"] = mags["i"] - iz
    mags["y"] = mags["z"] - zy
    df = pd.DataFrame({"truth_id": np.arange(first_id, first_id + n, dtype=np.int64), "ra": ra, "dec": dec})
    df["kind"] = pd.Series(kind, dtype="str")
    for b in BANDS:
        df[f"flux_{b}"] = ab_mag_to_njy(mags[b])
    is_star = kind == "star"
    df["pm_ra"] = np.where(is_star, rng.normal(0.0, 6.0, n), 0.0)
    df["pm_dec"] = np.where(is_star, rng.normal(-3.0, 6.0, n), 0.0)
    df["parallax"] = np.where(is_star, rng.lognormal(math.log(0.4), 0.8, n), 0.0)
    hlr = np.clip(0.9 * 10 ** (-0.12 * (r - 22.0)) * rng.lognormal(0.0, 0.35, n), 0.15, 6.0)
    q = rng.uniform(0.3, 1.0, n)
    df["sigma_major"] = np.where(is_star, 0.0, hlr / 1.1774)
    df["sigma_minor"] = np.where(is_star, 0.0, hlr * q / 1.1774)
    df["pa_deg"] = np.where(is_star, 0.0, rng.uniform(0.0, 180.0, n))
    var_type = np.zeros(n, dtype=np.int16)
    star_idx = np.flatnonzero(is_star & (r < 23.0))
    nvar = round(len(star_idx) * VARIABLE_FRACTION)
    chosen = rng.choice(star_idx, size=min(nvar, len(star_idx)), replace=False)
    var_type[chosen] = rng.choice(np.array([1, 2], dtype=np.int16), size=len(chosen), p=[0.4, 0.6])
    df["var_type"] = var_type
    df["period_d"] = np.where(
        var_type == 1, rng.uniform(0.45, 0.75, n), np.where(var_type == 2, rng.uniform(0.8, 9.0, n), 0.0)
    )
    df["amp_mag"] = np.where(
        var_type == 1, rng.uniform(0.4, 1.0, n), np.where(var_type == 2, rng.uniform(0.1, 0.6, n), 0.0)
    )
    df["phase"] = np.where(var_type > 0, rng.uniform(0.0, 1.0, n), 0.0)
    df["t0_mjd"] = 0.0
    df["rise_d"] = 0.0
    df["decay_d"] = 0.0
    df["host_id"] = np.int64(-1)
    return df


def _transients(profile: Profile, truth: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Supernova-like transients offset from bright-ish host galaxies, peaking during the run."""
    gal = truth[(truth["kind"] == "galaxy") & (truth["flux_r"] > ab_mag_to_njy(22.5))]
    n = min(profile.n_transients, len(gal))
    hosts = gal.iloc[rng.choice(len(gal), size=n, replace=False)] if n else gal.iloc[:0]
    off = rng.normal(0.0, 0.6, (n, 2)) / 3600.0
    peak_r = rng.uniform(19.5, 22.0, n)
    colour = {"u": 0.6, "g": 0.15, "r": 0.0, "i": 0.1, "z": 0.25, "y": 0.35}
    rows = {
        "truth_id": np.arange(len(truth) + 1, len(truth) + n + 1, dtype=np.int64),
        "ra": hosts["ra"].to_numpy() + off[:, 0] / np.cos(np.radians(hosts["dec"].to_numpy())),
        "dec": hosts["dec"].to_numpy() + off[:, 1],
        "kind": ["transient"] * n,
    }
    for b in BANDS:
        rows[f"flux_{b}"] = ab_mag_to_njy(peak_r + colour[b])  # peak flux; see flux_at
    rows |= {
        "pm_ra": np.zeros(n),
        "pm_dec": np.zeros(n),
        "parallax": np.zeros(n),
        "sigma_major": np.zeros(n),
        "sigma_minor": np.zeros(n),
        "pa_deg": np.zeros(n),
        "var_type": np.full(n, 3, dtype=np.int16),
        "period_d": np.zeros(n),
        "amp_mag": np.zeros(n),
        "phase": np.zeros(n),
        "t0_mjd": rng.uniform(profile.mjd_first + 3, profile.mjd_last - 5, n),
        "rise_d": rng.uniform(3.0, 6.0, n),
        "decay_d": rng.uniform(12.0, 25.0, n),
        "host_id": hosts["truth_id"].to_numpy(),
    }
    out = pd.DataFrame(rows)
    out["kind"] = out["kind"].astype("str")
    return out


def flux_at(truth: pd.DataFrame, band: str, mjd: float | np.ndarray) -> np.ndarray:
    """Flux (nJy) of every truth source in ``band`` at time ``mjd``."""
    base = truth[f"flux_{band}"].to_numpy()
    vt = truth["var_type"].to_numpy()
    flux = base.copy()
    m = vt == 1  # RR Lyrae-like: fast rise, slow decline (sawtooth in magnitude)
    if m.any():
        ph = ((mjd - REF_MJD) / truth["period_d"].to_numpy()[m] + truth["phase"].to_numpy()[m]) % 1.0
        shape = np.where(ph < 0.15, ph / 0.15, 1.0 - (ph - 0.15) / 0.85)  # 0..1
        dm = truth["amp_mag"].to_numpy()[m] * (0.5 - shape)
        flux[m] = base[m] * 10 ** (-0.4 * dm)
    m = vt == 2  # sinusoidal / ellipsoidal
    if m.any():
        ph = ((mjd - REF_MJD) / truth["period_d"].to_numpy()[m] + truth["phase"].to_numpy()[m]) % 1.0
        dm = 0.5 * truth["amp_mag"].to_numpy()[m] * np.sin(2 * math.pi * ph)
        flux[m] = base[m] * 10 ** (-0.4 * dm)
    m = vt == 3  # supernova-like: exponential rise then exponential decline
    if m.any():
        dt = mjd - truth["t0_mjd"].to_numpy()[m]
        rise = truth["rise_d"].to_numpy()[m]
        decay = truth["decay_d"].to_numpy()[m]
        shape = np.where(dt < 0, np.exp(np.maximum(dt, -50 * rise) / rise), np.exp(-dt / decay))
        flux[m] = base[m] * shape
    return flux


def position_at(truth: pd.DataFrame, mjd: float) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (deg) of every source at ``mjd`` (linear proper motion; parallax ignored)."""
    dt_yr = (mjd - REF_MJD) / 365.25
    dec = truth["dec"].to_numpy() + truth["pm_dec"].to_numpy() * dt_yr / 3.6e6
    ra = truth["ra"].to_numpy() + truth["pm_ra"].to_numpy() * dt_yr / 3.6e6 / np.cos(
        np.radians(truth["dec"].to_numpy())
    )
    return ra % 360.0, dec
