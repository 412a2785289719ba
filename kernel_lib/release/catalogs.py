"""Catalogs of the release, measured from the truth sky the way the pipelines would.

Measurements are simulated, not run on the rendered pixels: each flux is the truth flux seen
through the visit's (or coadd's) PSF, with the noise that visit's depth implies.  The same
noise model draws the images, so a forced measurement on a visit image agrees with its
ForcedSource row within the quoted error.

:func:`make_catalogs` returns one :class:`CatalogData` per table: the rows, in the schema's
column order, and the position each row is sharded by (its director's position for dependent
tables, so Object-Source joins stay inside a partition).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .model import BANDS, Profile, Visit, ab_mag_to_njy, njy_to_ab_mag
from .schema import TABLES
from .truth import GAIA_EPOCH_MJD, REF_MJD, flux_at, position_at

__all__ = ["CatalogData", "coadd_depth", "make_catalogs", "mean_fluxes", "measure_objects", "reference_rows"]

PSF_SIGMA_REF_ARCSEC = 0.8 / 2.3548


@dataclass
class CatalogData:
    """Rows of one table and the (RA, Dec) each row is sharded by."""

    name: str
    frame: pd.DataFrame
    shard_ra: np.ndarray
    shard_dec: np.ndarray


def _size_factor(truth: pd.DataFrame, psf_sigma_arcsec: float | np.ndarray) -> np.ndarray:
    """Noise inflation of an extended source relative to a point source (Gaussian profiles)."""
    area = truth["sigma_major"].to_numpy() * truth["sigma_minor"].to_numpy()
    return np.sqrt(1.0 + area / np.square(psf_sigma_arcsec))


def _psf_fraction(truth: pd.DataFrame, psf_sigma_arcsec: float | np.ndarray) -> np.ndarray:
    """Fraction of a Gaussian galaxy's flux a PSF-model fit recovers."""
    s2 = np.square(psf_sigma_arcsec)
    a = truth["sigma_major"].to_numpy() ** 2
    b = truth["sigma_minor"].to_numpy() ** 2
    return np.sqrt(s2 * s2 / ((s2 + a) * (s2 + b)))


def _mag_err(flux: np.ndarray, err: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, 2.5 / math.log(10) * err / flux, np.nan)


def make_catalogs(
    profile: Profile, truth: pd.DataFrame, visits: list[Visit], rng: np.random.Generator
) -> dict[str, CatalogData]:
    """Every table of the release from the truth sky and the visits."""
    out: dict[str, CatalogData] = {}
    obj, obj_truth_idx = _objects(profile, truth, visits, rng)
    out["Object"] = CatalogData("Object", obj, obj["coord_ra"].to_numpy(), obj["coord_dec"].to_numpy())
    footprints = _visit_footprints(profile, truth, visits)
    out["Visit"], out["CcdVisit"] = _visit_tables(profile, visits)
    out["Source"], out["ForcedSource"] = _sources(profile, truth, visits, footprints, obj, obj_truth_idx, rng)
    dia = _dia_tables(profile, truth, visits, footprints, rng)
    out.update(dia)
    out["Reference"] = _reference(profile, truth, rng)
    for name, cd in out.items():
        cols = [c.name for c in TABLES[name].columns]
        cd.frame = cd.frame[cols].reset_index(drop=True)
    return out


def coadd_depth(visits: list[Visit]) -> dict[str, tuple[float, float]]:
    """Per band: 5-sigma depth of the coadd and its PSF sigma (arcsec)."""
    res = {}
    for b in BANDS:
        vs = [v for v in visits if v.band == b]
        depth = float(np.median([v.depth_5sigma for v in vs])) + 1.25 * math.log10(max(len(vs), 1))
        seeing = float(np.median([v.seeing_arcsec for v in vs]))
        res[b] = (depth, seeing / 2.3548)
    return res


def mean_fluxes(truth: pd.DataFrame, visits: list[Visit]) -> dict[str, np.ndarray]:
    """Per band, each source's flux averaged over that band's visits (what a coadd sees)."""
    out = {}
    var = truth["var_type"].to_numpy() > 0
    for b in BANDS:
        times = np.array([v.mjd_mid for v in visits if v.band == b])
        f = truth[f"flux_{b}"].to_numpy().copy()
        if var.any():
            f[var] = np.mean([flux_at(truth, b, t)[var] for t in times], axis=0)
        out[b] = f
    return out


#: ``place(ra, dec, idx) -> {"objectId", "tract", "patch", "x", "y"}`` for the kept rows.
Placer = Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]


def measure_objects(
    truth: pd.DataFrame,
    mean_flux: dict[str, np.ndarray],
    depths: dict[str, tuple[float, float]],
    inside: np.ndarray,
    place: Placer,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Object rows for the truth sources detected on the coadds (any band above 5 sigma).

    Returns the frame sorted by ``objectId`` and, for each row, its truth index.
    """
    n = len(truth)
    snr = np.zeros((len(BANDS), n))
    sig = {}
    for k, b in enumerate(BANDS):
        depth, psf_s = depths[b]
        sig[b] = float(ab_mag_to_njy(depth)) / 5.0 * _size_factor(truth, psf_s)
        snr[k] = mean_flux[b] / sig[b]
    ra0, dec0 = truth["ra"].to_numpy(), truth["dec"].to_numpy()
    keep = (snr.max(axis=0) > 5.0) & inside
    idx = np.flatnonzero(keep)
    t = truth.iloc[idx]
    m = len(idx)
    ref_k = np.where(snr[3, idx] > 5.0, 3, snr[:, idx].argmax(axis=0))
    ref_snr = snr[ref_k, idx]
    err_deg = 0.5 * 0.8 / np.maximum(ref_snr, 1.0) / 3600.0 + 5e-3 / 3600.0
    cosd = np.cos(np.radians(dec0[idx]))
    ra = ra0[idx] + rng.normal(0.0, 1.0, m) * err_deg / cosd
    dec = dec0[idx] + rng.normal(0.0, 1.0, m) * err_deg
    where = place(ra, dec, idx)
    cols: dict[str, np.ndarray] = {"objectId": where["objectId"]}
    cols["coord_ra"] = ra % 360.0
    cols["coord_dec"] = dec
    cols["coord_raErr"] = err_deg.astype(np.float32)
    cols["coord_decErr"] = err_deg.astype(np.float32)
    for key in ("tract", "patch", "x", "y"):
        cols[key] = where[key]
    cols["refBand"] = np.array(BANDS, dtype=object)[ref_k]
    cols["detect_isPrimary"] = np.ones(m, dtype=bool)
    cols["ebv"] = 0.008 + 0.002 * np.sin(np.radians(ra * 40.0)) * np.cos(np.radians(dec * 40.0))
    ext_ref = np.zeros(m)
    for k, b in enumerate(BANDS):
        _, psf_s = depths[b]
        s_point = float(ab_mag_to_njy(depths[b][0])) / 5.0
        f = mean_flux[b][idx]
        e_model = sig[b][idx]
        cm = f + rng.normal(0.0, 1.0, m) * e_model
        ps = f * _psf_fraction(t, psf_s) + rng.normal(0.0, 1.0, m) * s_point
        cols[f"{b}_psfFlux"] = ps
        cols[f"{b}_psfFluxErr"] = np.full(m, s_point)
        cols[f"{b}_psfMag"] = njy_to_ab_mag(ps)
        cols[f"{b}_psfMagErr"] = _mag_err(ps, cols[f"{b}_psfFluxErr"])
        cols[f"{b}_cModelFlux"] = cm
        cols[f"{b}_cModelFluxErr"] = e_model
        cols[f"{b}_cModelMag"] = njy_to_ab_mag(cm)
        cols[f"{b}_cModelMagErr"] = _mag_err(cm, e_model)
        ext = ((cm - ps) > 3.0 * np.hypot(e_model, s_point)).astype(float)
        cols[f"{b}_extendedness"] = np.where(np.abs(cm) / e_model > 3.0, ext, np.nan)
        cols[f"{b}_psfFlux_flag"] = ~np.isfinite(ps)
        ext_ref = np.where(ref_k == k, cols[f"{b}_extendedness"], ext_ref)
    cols["refExtendedness"] = ext_ref
    frame = pd.DataFrame(cols)
    frame["refBand"] = frame["refBand"].astype("str")
    order = np.argsort(cols["objectId"])
    return frame.iloc[order].reset_index(drop=True), idx[order]


def _objects(profile: Profile, truth: pd.DataFrame, visits: list[Visit], rng: np.random.Generator):
    sm = profile.skymap
    _, _, patch = sm.locate(truth["ra"].to_numpy(), truth["dec"].to_numpy())

    def place(ra: np.ndarray, dec: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
        xo, yo, po = sm.locate(ra, dec)
        po = np.where(po >= 0, po, patch[idx])
        order = np.lexsort((xo, yo, po))
        serial = np.empty(len(ra), dtype=np.int64)
        serial[order] = np.arange(len(ra))
        return {
            "objectId": (np.int64(profile.tract) << 43) + (po.astype(np.int64) << 34) + serial + 1,
            "tract": np.full(len(ra), profile.tract, dtype=np.int64),
            "patch": po.astype(np.int64),
            "x": xo,
            "y": yo,
        }

    return measure_objects(truth, mean_fluxes(truth, visits), coadd_depth(visits), patch >= 0, place, rng)


def _visit_footprints(profile: Profile, truth: pd.DataFrame, visits: list[Visit]):
    """For each visit: truth index, detector id and detector pixel x, y of every truth source on it."""
    cam = profile.camera
    res = []
    for v in visits:
        ra, dec = position_at(truth, v.mjd_mid)
        parts = []
        for det in cam.detectors:
            w = cam.detector_wcs(det, v.ra, v.dec, v.rotation_deg)
            px, py = w.wcs_world2pix(ra, dec, 0)
            on = (px >= -0.5) & (py >= -0.5) & (px < cam.det_size - 0.5) & (py < cam.det_size - 0.5)
            i = np.flatnonzero(on)
            parts.append((i, np.full(len(i), det.id), px[i], py[i]))
        idx = np.concatenate([p[0] for p in parts])
        res.append(
            (
                idx,
                np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]),
                np.concatenate([p[3] for p in parts]),
                ra[idx],
                dec[idx],
            )
        )
    return res


def _visit_noise(v: Visit) -> float:
    """1-sigma point-source flux noise (nJy) of a visit, from its 5-sigma depth."""
    return float(ab_mag_to_njy(v.depth_5sigma)) / 5.0


def _sources(profile, truth, visits, footprints, obj, obj_truth_idx, rng):
    n_truth = len(truth)
    truth_to_obj = np.full(n_truth, -1, dtype=np.int64)
    truth_to_obj[obj_truth_idx] = np.arange(len(obj))
    host = truth["host_id"].to_numpy()
    id_to_idx = pd.Series(np.arange(n_truth), index=truth["truth_id"].to_numpy())
    host_idx = np.where(host > 0, id_to_idx.reindex(host).fillna(-1).to_numpy().astype(np.int64), -1)
    assoc = truth_to_obj.copy()
    orphan = (assoc < 0) & (host_idx >= 0)
    assoc[orphan] = truth_to_obj[host_idx[orphan]]
    obj_ra, obj_dec = obj["coord_ra"].to_numpy(), obj["coord_dec"].to_numpy()
    obj_template = {b: obj[f"{b}_psfFlux"].to_numpy() for b in BANDS}
    src_parts, fs_parts = [], []
    for v, (idx, det, px, py, ra, dec) in zip(visits, footprints, strict=True):
        psf_s = v.seeing_arcsec / 2.3548
        s_point = _visit_noise(v)
        t = truth.iloc[idx]
        f_true = flux_at(t, v.band, v.mjd_mid)
        gfac = _size_factor(t, psf_s)
        frac = _psf_fraction(t, psf_s)
        e_per_njy = v.exp_time * 10 ** (-0.4 * (31.4 - v.zero_point))
        err = np.sqrt(s_point**2 * gfac**2 + np.maximum(f_true, 0) / e_per_njy)
        seq = np.zeros(len(idx), dtype=np.int64)
        for d in np.unique(det):
            on = det == d
            seq[on] = np.arange(on.sum())
        # Source: detections above 5 sigma, associated with an Object
        det_ok = (f_true / err > 5.0) & (assoc[idx] >= 0)
        k = np.flatnonzero(det_ok)
        if len(k):
            meas = f_true[k] * frac[k] + rng.normal(0, 1, len(k)) * s_point
            ap = f_true[k] * 0.98 + rng.normal(0, 1, len(k)) * err[k] * 1.4
            pos_err = 0.5 * v.seeing_arcsec / np.maximum(f_true[k] / err[k], 1.0) / 3600.0 + 5e-3 / 3600.0
            cosd = np.cos(np.radians(dec[k]))
            src_parts.append(
                pd.DataFrame(
                    {
                        "sourceId": (np.int64(v.id) << 21) | (det[k].astype(np.int64) << 17) | seq[k],
                        "objectId": obj["objectId"].to_numpy()[assoc[idx[k]]],
                        "visit": np.int64(v.id),
                        "detector": det[k].astype(np.int32),
                        "band": v.band,
                        "coord_ra": (ra[k] + rng.normal(0, 1, len(k)) * pos_err / cosd) % 360.0,
                        "coord_dec": dec[k] + rng.normal(0, 1, len(k)) * pos_err,
                        "coord_raErr": pos_err.astype(np.float32),
                        "coord_decErr": pos_err.astype(np.float32),
                        "x": px[k],
                        "y": py[k],
                        "psfFlux": meas,
                        "psfFluxErr": np.full(len(k), s_point),
                        "apFlux_12_0": ap,
                        "apFlux_12_0Err": err[k] * 1.4,
                        "extendedness": (t["sigma_major"].to_numpy()[k] > 0.6 * psf_s).astype(float),
                        "pixelFlags_saturated": f_true[k] > ab_mag_to_njy(16.0),
                        "_shard": assoc[idx[k]],
                    }
                )
            )
        # ForcedSource: every Object on this detector
        on_obj = truth_to_obj[idx] >= 0
        k = np.flatnonzero(on_obj)
        oi = truth_to_obj[idx[k]]
        meas = f_true[k] * frac[k] + rng.normal(0, 1, len(k)) * s_point
        tmpl = obj_template[v.band][oi]
        fs_parts.append(
            pd.DataFrame(
                {
                    "forcedSourceId": (np.int64(v.id) << 21) | (det[k].astype(np.int64) << 17) | seq[k],
                    "objectId": obj["objectId"].to_numpy()[oi],
                    "visit": np.int64(v.id),
                    "detector": det[k].astype(np.int32),
                    "band": v.band,
                    "coord_ra": obj_ra[oi],
                    "coord_dec": obj_dec[oi],
                    "tract": np.int64(profile.tract),
                    "patch": obj["patch"].to_numpy()[oi],
                    "psfFlux": meas,
                    "psfFluxErr": np.full(len(k), s_point),
                    "psfDiffFlux": meas - tmpl,
                    "psfDiffFluxErr": np.full(len(k), s_point * 1.05),
                    "psfFlux_flag": np.zeros(len(k), dtype=bool),
                    "_shard": oi,
                }
            )
        )
    src = pd.concat(src_parts, ignore_index=True)
    fs = pd.concat(fs_parts, ignore_index=True)
    for f in (src, fs):
        f["band"] = f["band"].astype("str")
    s_i, f_i = src.pop("_shard").to_numpy(), fs.pop("_shard").to_numpy()
    return (
        CatalogData("Source", src, obj_ra[s_i], obj_dec[s_i]),
        CatalogData("ForcedSource", fs, obj_ra[f_i], obj_dec[f_i]),
    )


def _dia_tables(profile, truth, visits, footprints, rng) -> dict[str, CatalogData]:
    var_idx = np.flatnonzero(truth["var_type"].to_numpy() > 0)
    is_var = np.zeros(len(truth), dtype=bool)
    is_var[var_idx] = True
    template = {}
    for b in BANDS:
        times = [v.mjd_mid for v in visits if v.band == b]
        template[b] = np.mean([flux_at(truth, b, t) for t in times], axis=0)
    rows = []
    for v, (idx, det, px, py, ra, dec) in zip(visits, footprints, strict=True):
        k = np.flatnonzero(is_var[idx])
        if not len(k):
            continue
        ti = idx[k]
        t = truth.iloc[ti]
        f_true = flux_at(t, v.band, v.mjd_mid)
        s_point = _visit_noise(v)
        diff_true = f_true - template[v.band][ti]
        diff = diff_true + rng.normal(0, 1, len(k)) * s_point * 1.05
        sci = f_true + rng.normal(0, 1, len(k)) * s_point
        rows.append(
            pd.DataFrame(
                {
                    "_truth": ti,
                    "visit": np.int64(v.id),
                    "detector": det[k].astype(np.int32),
                    "band": v.band,
                    "ra": ra[k],
                    "dec": dec[k],
                    "x": px[k],
                    "y": py[k],
                    "midpointMjdTai": v.mjd_mid,
                    "psfFlux": diff,
                    "psfFluxErr": s_point * 1.05,
                    "scienceFlux": sci,
                    "scienceFluxErr": s_point,
                }
            )
        )
    allrows = pd.concat(rows, ignore_index=True)
    snr = np.abs(allrows["psfFlux"].to_numpy()) / allrows["psfFluxErr"].to_numpy()
    dets = allrows[snr > 5.0].copy()
    dets["snr"] = (np.abs(dets["psfFlux"]) / dets["psfFluxErr"]).astype(np.float32)
    dets["reliability"] = np.clip(1.0 - 2.0 / dets["snr"], 0.0, 1.0).astype(np.float32)
    pos_err = (0.4 / dets["snr"].to_numpy() / 3600.0).astype(np.float32)
    dets["raErr"], dets["decErr"] = pos_err, pos_err
    dets["ra"] = dets["ra"] + rng.normal(0, 1, len(dets)) * pos_err / np.cos(np.radians(dets["dec"]))
    dets["dec"] = dets["dec"] + rng.normal(0, 1, len(dets)) * pos_err
    # DiaObjects: truth sources with at least two DiaSources
    counts = dets.groupby("_truth").size()
    members = counts[counts >= 2].index.to_numpy()
    dets = dets[dets["_truth"].isin(members)].sort_values(["_truth", "midpointMjdTai"])
    dia_ids = {
        int(ti): (np.int64(profile.tract) << 43) + (np.int64(1) << 42) + j + 1 for j, ti in enumerate(members)
    }
    dets["diaObjectId"] = dets["_truth"].map(dia_ids).astype(np.int64)
    seq = dets.groupby(["visit", "detector"]).cumcount().to_numpy()
    dets["diaSourceId"] = (
        (dets["visit"].to_numpy() << 21) | (dets["detector"].to_numpy().astype(np.int64) << 17) | seq
    )
    g = dets.groupby("_truth")
    dobj = pd.DataFrame(
        {
            "diaObjectId": g["diaObjectId"].first(),
            "ra": g["ra"].mean(),
            "dec": g["dec"].mean(),
            "raErr": (g["raErr"].mean() / np.sqrt(g.size())).astype(np.float32),
            "decErr": (g["decErr"].mean() / np.sqrt(g.size())).astype(np.float32),
            "nDiaSources": g.size().astype(np.int32),
            "firstDiaSourceMjdTai": g["midpointMjdTai"].min(),
            "lastDiaSourceMjdTai": g["midpointMjdTai"].max(),
        }
    )
    for b in BANDS:
        gb = dets[dets["band"] == b].groupby("_truth")
        dobj[f"{b}_psfFluxMean"] = gb["psfFlux"].mean()
        dobj[f"{b}_psfFluxMeanErr"] = gb["psfFluxErr"].mean() / np.sqrt(gb.size())
        dobj[f"{b}_psfFluxSigma"] = gb["psfFlux"].std()
        dobj[f"{b}_psfFluxNdata"] = gb.size().reindex(dobj.index).fillna(0).astype(np.int32)
    dobj = dobj.reset_index(drop=True)
    pos = {int(i): j for j, i in enumerate(dobj["diaObjectId"].to_numpy())}
    dra, ddec = dobj["ra"].to_numpy(), dobj["dec"].to_numpy()
    s_idx = dets["diaObjectId"].map(pos).to_numpy()
    dets["band"] = dets["band"].astype("str")
    # forced photometry on every visit covering each DiaObject
    truth_of_member = {int(ti): pos[int(dia_ids[int(ti)])] for ti in members}
    fs_rows = []
    for v, (idx, det, _px, _py, _ra, _dec) in zip(visits, footprints, strict=True):
        on = np.isin(idx, members)
        k = np.flatnonzero(on)
        if not len(k):
            continue
        ti = idx[k]
        oi = np.array([truth_of_member[int(x)] for x in ti], dtype=np.int64)
        f_true = flux_at(truth.iloc[ti], v.band, v.mjd_mid)
        s_point = _visit_noise(v)
        meas = f_true + rng.normal(0, 1, len(k)) * s_point
        fs_rows.append(
            pd.DataFrame(
                {
                    "diaObjectId": dobj["diaObjectId"].to_numpy()[oi],
                    "visit": np.int64(v.id),
                    "detector": det[k].astype(np.int32),
                    "band": v.band,
                    "coord_ra": dra[oi],
                    "coord_dec": ddec[oi],
                    "psfFlux": meas,
                    "psfFluxErr": s_point,
                    "psfDiffFlux": meas - template[v.band][ti],
                    "psfDiffFluxErr": s_point * 1.05,
                    "_shard": oi,
                }
            )
        )
    fsod = pd.concat(fs_rows, ignore_index=True)
    fsod["band"] = fsod["band"].astype("str")
    seq = fsod.groupby(["visit", "detector"]).cumcount().to_numpy()
    fsod["forcedSourceOnDiaObjectId"] = (
        (fsod["visit"].to_numpy() << 21) | (fsod["detector"].to_numpy().astype(np.int64) << 17) | seq
    )
    f_i = fsod.pop("_shard").to_numpy()
    return {
        "DiaObject": CatalogData("DiaObject", dobj, dra, ddec),
        "DiaSource": CatalogData("DiaSource", dets, dra[s_idx], ddec[s_idx]),
        "ForcedSourceOnDiaObject": CatalogData("ForcedSourceOnDiaObject", fsod, dra[f_i], ddec[f_i]),
    }


def _visit_tables(profile: Profile, visits: list[Visit]) -> tuple[CatalogData, CatalogData]:
    cam = profile.camera
    vrows, crows = [], []
    for v in visits:
        vrows.append(
            {
                "visit": v.id,
                "physical_filter": v.physical_filter,
                "band": v.band,
                "ra": v.ra,
                "dec": v.dec,
                "skyRotation": v.rotation_deg,
                "airmass": v.airmass,
                "expTime": v.exp_time,
                "expMidptMJD": v.mjd_mid,
                "obsStartMJD": v.mjd_start,
                "day_obs": v.day_obs,
                "seq_num": v.seq_num,
            }
        )
        for det in cam.detectors:
            w = cam.detector_wcs(det, v.ra, v.dec, v.rotation_deg)
            n = cam.det_size
            cx, cy = w.wcs_pix2world([(n - 1) / 2.0], [(n - 1) / 2.0], 0)
            xs = np.array([-0.5, -0.5, n - 0.5, n - 0.5])
            ys = np.array([-0.5, n - 0.5, n - 0.5, -0.5])
            cra, cdec = w.wcs_pix2world(xs, ys, 0)
            sky_noise = math.sqrt(v.sky_njy_per_pix / (v.exp_time * 10 ** (-0.4 * (31.4 - v.zero_point))))
            row = {
                "ccdVisitId": v.id * 1000 + det.id,
                "visitId": v.id,
                "detector": det.id,
                "band": v.band,
                "physical_filter": v.physical_filter,
                "ra": float(cx[0]),
                "dec": float(cy[0]),
                "expTime": v.exp_time,
                "expMidptMJD": v.mjd_mid,
                "obsStartMJD": v.mjd_start,
                "seeing": v.seeing_arcsec,
                "psfSigma": v.psf_sigma_pix,
                "zeroPoint": v.zero_point,
                "skyBg": v.sky_njy_per_pix,
                "skyNoise": sky_noise,
                "magLim": v.depth_5sigma,
                "xSize": n,
                "ySize": n,
                "pixelScale": cam.pixel_scale_arcsec,
            }
            for j, key in enumerate(("llc", "ulc", "urc", "lrc")):
                row[f"{key}ra"] = float(cra[j])
                row[f"{key}dec"] = float(cdec[j])
            crows.append(row)
    vt = pd.DataFrame(vrows).astype({"day_obs": np.int32, "seq_num": np.int32})
    ct = pd.DataFrame(crows).astype({"detector": np.int32, "xSize": np.int32, "ySize": np.int32})
    for f in (vt, ct):
        for c in ("band", "physical_filter"):
            f[c] = f[c].astype("str")
    return (
        CatalogData("Visit", vt, vt["ra"].to_numpy(), vt["dec"].to_numpy()),
        CatalogData("CcdVisit", ct, ct["ra"].to_numpy(), ct["dec"].to_numpy()),
    )


def _reference(profile: Profile, truth: pd.DataFrame, rng: np.random.Generator) -> CatalogData:
    frame = reference_rows(truth, rng, id_base=np.int64(4874) << 35)
    return CatalogData("Reference", frame, frame["ra"].to_numpy() % 360.0, frame["dec"].to_numpy())


def reference_rows(truth: pd.DataFrame, rng: np.random.Generator, id_base: np.int64) -> pd.DataFrame:
    """Gaia-like rows (G < 20.7, epoch J2016.0) for the stars of a truth table."""
    stars = truth[(truth["kind"] == "star")]
    gr = -2.5 * np.log10(stars["flux_g"].to_numpy() / stars["flux_r"].to_numpy())
    r = njy_to_ab_mag(stars["flux_r"].to_numpy())
    g_mag = r - 0.12 - 0.25 * gr - 0.05 * gr**2
    keep = g_mag < 20.7
    s = stars[keep]
    g_mag, gr = g_mag[keep], gr[keep]
    n = len(s)
    ra, dec = position_at(s, GAIA_EPOCH_MJD)
    sig = 0.02 * 10 ** (0.2 * np.maximum(g_mag - 15.0, 0.0))  # mas, ~0.5 mas at G=20.7
    pm_sig = 1.1 * sig
    frame = pd.DataFrame(
        {
            "source_id": id_base + np.arange(1, n + 1, dtype=np.int64) * 1031,
            "ra": ra + rng.normal(0, 1, n) * sig / 3.6e6 / np.cos(np.radians(dec)),
            "dec": dec + rng.normal(0, 1, n) * sig / 3.6e6,
            "ra_error": sig.astype(np.float32),
            "dec_error": sig.astype(np.float32),
            "parallax": s["parallax"].to_numpy() + rng.normal(0, 1, n) * sig,
            "parallax_error": sig.astype(np.float32),
            "pmra": s["pm_ra"].to_numpy() + rng.normal(0, 1, n) * pm_sig,
            "pmra_error": pm_sig.astype(np.float32),
            "pmdec": s["pm_dec"].to_numpy() + rng.normal(0, 1, n) * pm_sig,
            "pmdec_error": pm_sig.astype(np.float32),
            "phot_g_mean_mag": g_mag.astype(np.float32),
            "phot_bp_mean_mag": (g_mag + 0.35 + 0.45 * gr).astype(np.float32),
            "phot_rp_mean_mag": (g_mag - 0.55 - 0.4 * gr).astype(np.float32),
            "ref_epoch": 2016.0,
        }
    )
    assert REF_MJD > GAIA_EPOCH_MJD
    return frame
