"""The image renderer and the exposure FITS files, on the tiny profile."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from kernel_lib.release.exposure import MASK_PLANES, Exposure, mask_bits, read_exposure, write_exposure
from kernel_lib.release.images import (
    EDGE_PIXELS,
    FULL_WELL_ELECTRONS,
    bad_columns,
    electrons_per_njy,
    image_record_for,
    render_coadd_patch,
    render_visit_detector,
)
from kernel_lib.release.model import get_profile, plan_visits
from kernel_lib.release.truth import flux_at, make_truth, position_at

SEED = 3


@pytest.fixture(scope="module")
def sky():
    p = get_profile("tiny")
    rng = np.random.default_rng(11)
    truth = make_truth(p, rng)
    visits = plan_visits(p, rng)
    return p, truth, visits


def _on_detector(p, visit, ra, dec, margin=20.0):
    """(detector, x, y) of the first detector of ``visit`` with (ra, dec) well inside, else None."""
    for det in p.camera.detectors:
        w = p.camera.detector_wcs(det, visit.ra, visit.dec, visit.rotation_deg)
        x, y = w.wcs_world2pix([ra], [dec], 0)
        x, y = float(x[0]), float(y[0])
        if margin <= x < p.det_size - margin and margin <= y < p.det_size - margin:
            return det, x, y
    return None


def _isolated_star(truth, idx_pool, radius_arcsec=8.0, fraction=0.02):
    """Index of the brightest (r band) star in ``idx_pool`` with no neighbour above ``fraction`` of it."""
    ra, dec = truth["ra"].to_numpy(), truth["dec"].to_numpy()
    flux = truth["flux_r"].to_numpy() + truth["flux_i"].to_numpy() + truth["flux_g"].to_numpy()
    for i in sorted(idx_pool, key=lambda k: -flux[k]):
        d = np.hypot((ra - ra[i]) * math.cos(math.radians(dec[i])), dec - dec[i]) * 3600.0
        near = (d < radius_arcsec) & (d > 0)
        if not np.any(flux[near] > fraction * flux[i]):
            return int(i)
    raise AssertionError("no isolated star")


def _aperture(img, x, y, r):
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    return float(img[(xx - x) ** 2 + (yy - y) ** 2 <= r * r].sum())


# ------------------------------------------------------------------------------------------ WCS


def test_wcs_puts_bright_star_at_its_pixel(sky):
    p, truth, visits = sky
    stars = np.flatnonzero((truth["kind"] == "star").to_numpy() & (truth["var_type"] == 0).to_numpy())
    visit = next(v for v in visits if v.band == "r")
    ra_v, dec_v = position_at(truth, visit.mjd_mid)
    flux_v = flux_at(truth, "r", visit.mjd_mid)
    gain = electrons_per_njy(visit.exp_time, visit.zero_point)
    sat_flux = (FULL_WELL_ELECTRONS / gain - visit.sky_njy_per_pix) * 2 * math.pi * visit.psf_sigma_pix**2
    pool = [
        i for i in stars if 50 * math.sqrt(visit.sky_njy_per_pix / gain) * 10 < flux_v[i] < 0.5 * sat_flux
    ]
    pool = [i for i in pool if _on_detector(p, visit, ra_v[i], dec_v[i]) is not None]
    i = _isolated_star(truth, pool)
    det, x, y = _on_detector(p, visit, ra_v[i], dec_v[i])
    exp = render_visit_detector(p, truth, visit, det, SEED)
    ix, iy = round(x), round(y)
    cut = exp.image[iy - 6 : iy + 7, ix - 6 : ix + 7]
    py, px = np.unravel_index(np.argmax(cut), cut.shape)
    assert (px + ix - 6, py + iy - 6) == (ix, iy)
    yy, xx = np.mgrid[iy - 6 : iy + 7, ix - 6 : ix + 7]
    w = np.clip(cut, 0, None)
    cx, cy = (w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()
    assert abs(cx - x) < 0.15 and abs(cy - y) < 0.15
    # and the WCS of the exposure is the camera's
    ra_c, dec_c = exp.wcs.wcs_pix2world([x], [y], 0)
    assert abs(ra_c[0] - ra_v[i]) < 1e-9 and abs(dec_c[0] - dec_v[i]) < 1e-9


# ------------------------------------------------------------------------------------- variability


def test_variable_star_flux_follows_flux_at(sky):
    p, truth, visits = sky
    truth = truth.copy()
    stars = np.flatnonzero((truth["kind"] == "star").to_numpy())
    rv = [v for v in visits if v.band == "r"]
    pairs = [(a, b) for k, a in enumerate(rv) for b in rv[k + 1 :]]
    ra0, dec0 = truth["ra"].to_numpy(), truth["dec"].to_numpy()
    pool = [
        i
        for i in stars
        if 3e4 < truth.at[i, "flux_r"] < 3e5
        and any(
            _on_detector(p, a, ra0[i], dec0[i], 25) and _on_detector(p, b, ra0[i], dec0[i], 25)
            for a, b in pairs
        )
    ]
    i = _isolated_star(truth, pool)
    # make it a strong RR Lyrae-like variable so the visits differ clearly
    truth.loc[i, ["var_type", "amp_mag", "period_d", "phase"]] = [1, 1.0, 0.6137, 0.1]
    a, b = next(
        (a, b)
        for a, b in sorted(
            pairs,
            key=lambda ab: (
                -abs(math.log(flux_at(truth, "r", ab[0].mjd_mid)[i] / flux_at(truth, "r", ab[1].mjd_mid)[i]))
            ),
        )
        if _on_detector(p, a, ra0[i], dec0[i], 25) and _on_detector(p, b, ra0[i], dec0[i], 25)
    )
    measured, expected = [], []
    for v in (a, b):
        ra, dec = position_at(truth, v.mjd_mid)
        det, x, y = _on_detector(p, v, ra[i], dec[i], 25)
        exp = render_visit_detector(p, truth, v, det, SEED)
        r = 4.0 * v.psf_sigma_pix
        measured.append(_aperture(exp.image, x, y, r))
        expected.append(float(flux_at(truth, "r", v.mjd_mid)[i]))
        # within the aperture: the flux (>99.9 % enclosed at 4 sigma) plus noise
        noise = math.sqrt(_aperture(exp.variance, x, y, r))
        assert measured[-1] == pytest.approx(expected[-1], abs=5 * noise + 0.01 * expected[-1])
    assert abs(expected[0] / expected[1] - 1) > 0.15  # the star really varied ...
    assert measured[0] / measured[1] == pytest.approx(
        expected[0] / expected[1], rel=0.03
    )  # ... in the images


def test_transient_appears_and_fades(sky):
    _p, truth, visits = sky
    tr = np.flatnonzero((truth["kind"] == "transient").to_numpy())
    assert len(tr) > 0
    fluxes = np.array([flux_at(truth, v.band, v.mjd_mid)[tr] for v in visits])
    # some visit sees it much fainter than another: the renderer takes flux_at per visit
    assert (fluxes.max(axis=0) / np.maximum(fluxes.min(axis=0), 1e-3) > 2).any()


# ------------------------------------------------------------------------------------------ noise


def test_variance_matches_noise_on_empty_sky(sky):
    p, truth, visits = sky
    v = visits[0]
    exp = render_visit_detector(p, truth.iloc[:0], v, p.camera.detectors[4], SEED)
    good = (exp.mask & mask_bits("CR", "BAD", "EDGE")) == 0
    z = exp.image[good] / np.sqrt(exp.variance[good])
    assert np.std(z) == pytest.approx(1.0, abs=0.02)
    assert abs(np.mean(z)) < 0.02
    gain = electrons_per_njy(v.exp_time, v.zero_point)
    assert np.median(exp.variance) == pytest.approx(v.sky_njy_per_pix / gain, rel=1e-4)


def test_variance_matches_noise_between_sources(sky):
    p, truth, visits = sky
    v = visits[1]
    exp = render_visit_detector(p, truth, v, p.camera.detectors[4], SEED)
    empty = exp.mask == 0
    z = exp.image[empty] / np.sqrt(exp.variance[empty])
    robust_sigma = 1.4826 * np.median(np.abs(z - np.median(z)))
    assert robust_sigma == pytest.approx(1.0, abs=0.05)


def test_coadd_is_deeper_than_a_visit(sky):
    p, truth, visits = sky
    band = "i"
    exp = render_coadd_patch(p, truth, visits, band, 0, SEED)
    md = exp.metadata
    nvis = md["NVISITS"]
    assert 1 <= nvis <= sum(v.band == band for v in visits)
    bvis = [v for v in visits if v.band == band]
    assert md["SEEING"] == pytest.approx(float(np.median([v.seeing_arcsec for v in bvis])), abs=1e-3)
    visit_var = np.mean([v.sky_njy_per_pix / electrons_per_njy(v.exp_time, v.zero_point) for v in bvis])
    sky_var = np.nanmin(exp.variance)
    assert sky_var == pytest.approx(visit_var / nvis, rel=0.25)
    for key in ("TRACT", "PATCH", "SKYMAP", "BAND", "NVISITS", "INSTRUME", "TELESCOP", "FILTER", "MJD-OBS"):
        assert key in md
    assert exp.image.shape == (p.patch_size, p.patch_size)


# ------------------------------------------------------------------------------------------ masks


def test_mask_planes(sky):
    p, truth, visits = sky
    truth = truth.copy()
    v = visits[2]
    det = next(d for d in p.camera.detectors if bad_columns(d, p.det_size))
    w = p.camera.detector_wcs(det, v.ra, v.dec, v.rotation_deg)
    # put a very bright star in the middle of the detector
    ra, dec = w.wcs_pix2world([p.det_size / 2], [p.det_size / 2], 0)
    star = int(np.flatnonzero((truth["kind"] == "star").to_numpy())[0])
    truth.loc[star, ["ra", "dec", "pm_ra", "pm_dec", "var_type"]] = [ra[0], dec[0], 0.0, 0.0, 0]
    truth.loc[star, f"flux_{v.band}"] = 3e8
    exp = render_visit_detector(p, truth, v, det, SEED)
    m = exp.mask
    n = p.det_size
    c = n // 2
    assert exp.plane("SAT")[c, c] and exp.plane("DETECTED")[c, c]
    gain = electrons_per_njy(v.exp_time, v.zero_point)
    assert exp.image[c, c] == pytest.approx(FULL_WELL_ELECTRONS / gain - v.sky_njy_per_pix, rel=1e-5)
    edge = exp.plane("EDGE")
    assert edge[:EDGE_PIXELS].all() and edge[-EDGE_PIXELS:].all() and edge[:, :EDGE_PIXELS].all()
    assert not edge[EDGE_PIXELS:-EDGE_PIXELS, EDGE_PIXELS:-EDGE_PIXELS].any()
    for col in bad_columns(det, n):
        assert exp.plane("BAD")[:, col].all() and exp.plane("INTRP")[:, col].all()
    bad_cols = set(np.flatnonzero(exp.plane("BAD").any(axis=0)))
    assert bad_cols == set(bad_columns(det, n))
    assert 1 <= exp.plane("CR").sum() <= 40
    assert not exp.plane("NO_DATA").any()
    assert (m >> (max(MASK_PLANES.values()) + 1) == 0).all()
    # DETECTED is a (roughly) 5-sigma footprint: most detected pixels are well above the noise
    det_px = exp.plane("DETECTED") & ~exp.plane("SAT")
    assert np.median(exp.image[det_px] / np.sqrt(exp.variance[det_px])) > 5


def test_coadd_no_data_where_no_visit_covers(sky):
    p, truth, visits = sky
    one = [next(v for v in visits if v.band == "g")]
    covered, partial = [], []
    for patch in p.skymap.patches:
        exp = render_coadd_patch(p, truth, one, "g", patch, SEED)
        nd = exp.plane("NO_DATA")
        assert np.isnan(exp.image[nd]).all() and np.isnan(exp.variance[nd]).all()
        assert np.isfinite(exp.image[~nd]).all()
        covered.append(exp.metadata["NVISITS"])
        if 0.001 < nd.mean() < 0.999:
            partial.append(patch)
    assert max(covered) == 1
    assert partial  # one visit with chip gaps cannot cover a patch completely


def test_determinism_and_seed(sky):
    p, truth, visits = sky
    a = render_visit_detector(p, truth, visits[0], p.camera.detectors[0], SEED)
    b = render_visit_detector(p, truth, visits[0], p.camera.detectors[0], SEED)
    c = render_visit_detector(p, truth, visits[0], p.camera.detectors[0], SEED + 1)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.image, c.image)
    assert pickle.loads(pickle.dumps(render_visit_detector)) is render_visit_detector
    assert pickle.loads(pickle.dumps(render_coadd_patch)) is render_coadd_patch


def test_visit_metadata(sky):
    p, truth, visits = sky
    v = visits[0]
    det = p.camera.detectors[5]
    md = render_visit_detector(p, truth, v, det, SEED).metadata
    assert md["TELESCOP"] == "Rubin:Simonyi" and md["BUNIT"] == "nJy"
    assert md["VISIT"] == v.id and md["DETECTOR"] == det.id and md["DETNAME"] == det.name
    assert md["FILTER"] == v.physical_filter and md["BAND"] == v.band and md["DAYOBS"] == v.day_obs
    assert md["MJD-OBS"] == v.mjd_start and md["MJD-END"] == pytest.approx(v.mjd_start + 30 / 86400)
    assert md["EXPTIME"] == v.exp_time and md["DATE-OBS"].startswith(str(v.day_obs)[:4])
    for key in ("INSTRUME", "SEEING", "ZEROPT"):
        assert key in md


# ------------------------------------------------------------------------------------------- I/O


@pytest.fixture(scope="module")
def written(sky, tmp_path_factory):
    p, truth, visits = sky
    exp = render_visit_detector(p, truth, visits[3], p.camera.detectors[1], SEED)
    path = tmp_path_factory.mktemp("exp") / "visit.fits"
    size = write_exposure(path, exp)
    return exp, path, size


def test_roundtrip(written):
    exp, path, size = written
    assert size == path.stat().st_size
    assert size < exp.image.nbytes * 3 / 3  # compressed: all three planes in less than one raw plane
    back = read_exposure(path)
    assert np.array_equal(back.mask, exp.mask)
    step = np.sqrt(np.median(exp.variance)) / 16
    assert np.abs(back.image - exp.image).max() <= step * 0.51 + 1e-3
    assert np.allclose(back.variance, exp.variance, rtol=2e-3)
    assert back.metadata["VISIT"] == exp.metadata["VISIT"]
    assert back.metadata["DATE-OBS"] == exp.metadata["DATE-OBS"]
    assert np.allclose(
        back.wcs.wcs_pix2world([[10, 20]], 0), exp.wcs.wcs_pix2world([[10, 20]], 0), atol=1e-10
    )


def test_file_layout_readable_by_astropy(written):
    exp, path, _ = written
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with fits.open(path) as hdul:
            assert [h.name for h in hdul][1:] == ["IMAGE", "MASK", "VARIANCE"]
            assert hdul[0].data is None and hdul[0].header["TELESCOP"] == "Rubin:Simonyi"
            assert hdul["IMAGE"].header["BUNIT"] == "nJy"
            assert hdul["VARIANCE"].header["BUNIT"] == "nJy**2"
            assert isinstance(hdul["IMAGE"], fits.CompImageHDU)
            assert hdul["IMAGE"].header["ZCMPTYPE"] if "ZCMPTYPE" in hdul["IMAGE"].header else True
            mh = hdul["MASK"].header
            assert {k[3:]: mh[k] for k in mh if k.startswith("MP_")} == MASK_PLANES
            for name in ("IMAGE", "MASK", "VARIANCE"):
                w = WCS(hdul[name].header)
                assert np.allclose(w.wcs_pix2world([[5, 7]], 0), exp.wcs.wcs_pix2world([[5, 7]], 0))
            assert np.array_equal(hdul["MASK"].data, exp.mask)
            sec = hdul["IMAGE"].section[10:20, 30:50]
            assert sec.shape == (10, 20)


def test_bbox_read_matches_full_read(written):
    _exp, path, _ = written
    full = read_exposure(path)
    x0, y0, w, h = 37, 101, 64, 50
    cut = read_exposure(path, bbox=(x0, y0, w, h))
    assert cut.image.shape == (h, w)
    assert np.array_equal(cut.image, full.image[y0 : y0 + h, x0 : x0 + w])
    assert np.array_equal(cut.mask, full.mask[y0 : y0 + h, x0 : x0 + w])
    assert np.array_equal(cut.variance, full.variance[y0 : y0 + h, x0 : x0 + w])
    for x, y in [(0, 0), (w - 1, h - 1), (12.5, 33.25)]:
        a = cut.wcs.wcs_pix2world([[x, y]], 0)
        b = full.wcs.wcs_pix2world([[x + x0, y + y0]], 0)
        assert np.allclose(a, b, rtol=0, atol=1e-10)
    assert cut.metadata["VISIT"] == full.metadata["VISIT"]


def test_bad_inputs(written, tmp_path):
    exp, path, _ = written
    with pytest.raises(FileNotFoundError, match="no such exposure"):
        read_exposure(tmp_path / "missing.fits")
    junk = tmp_path / "junk.fits"
    junk.write_text("this is not FITS\n" * 100)
    with pytest.raises(ValueError, match="not a readable FITS"):
        read_exposure(junk)
    other = tmp_path / "other.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI")]).writeto(other)
    with pytest.raises(ValueError, match="no IMAGE extension"):
        read_exposure(other)
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(ValueError, match="FITS"):
        read_exposure(truncated)
    n = exp.width
    for bbox in [(-1, 0, 10, 10), (n - 5, 0, 10, 10), (0, 0, 0, 5), (0, 0, n + 1, 1), ("a", 0, 1, 1), (1, 2)]:
        with pytest.raises(ValueError, match="bbox"):
            read_exposure(path, bbox=bbox)
    with pytest.raises(ValueError, match="shape"):
        Exposure(np.zeros((3, 3)), np.zeros((3, 4)), np.zeros((3, 3)), exp.wcs, fits.Header())
    with pytest.raises(ValueError, match="unknown mask plane"):
        mask_bits("NOPE")


def test_write_is_atomic_and_leaves_no_temp_files(written, tmp_path):
    exp, _, _ = written
    target = tmp_path / "sub" / "x.fits"
    write_exposure(target, exp)
    write_exposure(target, exp)  # overwrite
    assert sorted(q.name for q in target.parent.iterdir()) == ["x.fits"]


def test_coadd_roundtrip_with_nan(sky, tmp_path):
    p, truth, visits = sky
    one = [next(v for v in visits if v.band == "g")]
    exps = [render_coadd_patch(p, truth, one, "g", patch, SEED) for patch in p.skymap.patches]
    exp = next((e for e in exps if e.plane("NO_DATA").any()), exps[0])
    path = tmp_path / "coadd.fits"
    write_exposure(path, exp)
    back = read_exposure(path)
    assert np.array_equal(np.isnan(back.image), np.isnan(exp.image))
    assert np.array_equal(back.mask, exp.mask)
    assert back.metadata["PATCH"] == exp.metadata["PATCH"]


# ----------------------------------------------------------------------------------------- records


def test_image_record_for(sky, written):
    p, truth, visits = sky
    exp, _path, size = written
    rec = image_record_for(exp, "visit_image", "butler/x/visit.fits", size)
    assert rec.kind == "visit_image" and rec.path == "butler/x/visit.fits" and rec.size_bytes == size
    assert rec.visit == exp.metadata["VISIT"] and rec.detector == exp.metadata["DETECTOR"]
    assert rec.tract is None and rec.patch is None
    assert (rec.nx, rec.ny) == (p.det_size, p.det_size)
    assert rec.mjd_start < rec.mjd_end and rec.exp_time == 30.0
    c = np.array(rec.corners)
    assert c.shape == (4, 2)
    # counter-clockwise on the sky (east to the left): positive signed area in (-ra cos dec, dec)
    x = -(c[:, 0] - c[0, 0]) * math.cos(math.radians(c[0, 1]))
    y = c[:, 1]
    area = 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)
    assert area > 0
    side = p.det_size * 0.2 / 3600
    assert area == pytest.approx(side * side, rel=0.01)
    coadd = render_coadd_patch(p, truth, visits, "r", 1, SEED)
    crec = image_record_for(coadd, "deep_coadd", "butler/c.fits", 10)
    assert crec.tract == p.tract and crec.patch == 1 and crec.visit is None
    assert np.allclose(np.array(crec.corners), p.skymap.patch_corners(1), atol=1e-9)
    with pytest.raises(ValueError):
        image_record_for(coadd, "calexp", "x.fits", 1)
