"""Benchmark: SODA image cutouts (and SIAv2 queries) of our server side by side with GAVO DaCHS.

What is compared, in one run, over raw HTTP (``requests``, one keep-alive session per service, the
same client code for every side; a request's time is from sending it to having read the whole
body):

* **SODA sync cutouts** of the same pixels: 12 visit images and 6 deep coadds of the release
  (``--release``, default the demo release /tmp/demo5), chosen evenly spaced over the release's
  sorted file list.  Each is cut with the same shapes on every side, centred 7.3" east and 4.1"
  south of the image's centre (``s_ra``/``s_dec``): ``CIRCLE ra dec r`` with r = 5", 20" and 60",
  and a 4-vertex ``POLYGON`` (a skewed quadrilateral, bounding box 60" x 55" centred there).
    - *ours*: ``GET <server>/lsstbox/soda/sync?ID=<obs_publisher_did>&CIRCLE=...``
      (``CUTOUTDETAIL`` left at its default, Image: the IMAGE plane; token header) on the
      release's own files: multi-extension FITS, IMAGE/MASK/VARIANCE tile-compressed (RICE).
    - *DaCHS plain*: ``GET <dachs>/lsstimg/q/dl/dlget?ID=<DaCHS pubDID>&CIRCLE=...`` on a plain
      FITS copy of each image: the IMAGE plane, decompressed (the very float32 values our server
      serves), uncompressed in the primary HDU with the same WCS and the release's primary
      header cards: DaCHS's fast case (header read with its quick reader, pixels memory-mapped).
    - *DaCHS MEF*: ``GET <dachs>/lsstimg/q/dlmef/dlget?...`` on byte copies of the release's own
      tile-compressed files (``//soda#fits_genDesc`` with ``qnd=False``, which DaCHS needs for
      compressed images).  DaCHS cuts the IMAGE extension but returns MASK and VARIANCE whole,
      and writes the cut IMAGE tile-compressed again, re-quantized (RICE, NO_DITHER, q=16): its
      pixel values are not the release's.  Shown for information.
  Before timing, every (image, shape) is fetched once from each side and checked: the IMAGE
  cutout has the same shape (within a pixel a side) as the first side's (ours if timed), the
  requested centre falls within a pixel of the cutout's centre per the cutout's own WCS, and the
  pixel holding the centre has the value of that pixel in the release's file (decompressed by
  astropy).  Then a warm-up pass, then ``--repeat`` (N, default 15)
  timed passes over all 18 images per shape; the table gives the median over the N x 18 requests
  and ours/DaCHS-plain (goal <= 0.5).  Passes alternate which side goes first.
* **SIAv2 queries** (extra rows): ``POS=CIRCLE <field centre> r`` (r = 0.01 deg and 0.05 deg,
  ``MAXREC=1000``) against ours (``/lsstbox/sia/query``) and DaCHS's sitewide SIAv2
  (``/__system__/siap2/sitewide/siap2.xml``, on ``ivoa.obscore``, where the plain copies of *all*
  the release's images are published, so both answer the same images; row counts are shown).
  Median of N after a warm-up, each timed twice: on the kept-alive session and on a new
  connection per request, because DaCHS's chunked SIAv2 answers often stall ~40 ms on a
  kept-alive connection (a Nagle/delayed-ACK pattern; its cutouts, sent with a Content-Length,
  do not: ``--new-connections`` times the cutouts that way too).  The answers' columns differ
  (DaCHS: ObsCore's; ours: ObsCore's plus the ``lsst_*`` columns).

DaCHS setup (``--setup-dachs``, needs root; repeatable): starts DaCHS with the shared peers'
script if it is not answering (``SKIP_APT=1 dachs_setup.sh``: PostgreSQL 15, ``//obscore``, the
server on 127.0.0.1:8080), writes the plain copies of all images of the release and the byte
copies of the 18 into ``/var/gavo/inputs/lsstimg/data/{plain,mef}/``, the resource descriptor
``/var/gavo/inputs/lsstimg/q.rd`` (tables ``lsstimg.main``, published to ObsCore/SIAv2, and
``lsstimg.mef``; DataLink/SODA services ``dl`` and ``dlmef``) and ``images.json`` (which release
image is which DaCHS dataset), then ``dachs imp q`` and ``dachs serve reload``, and checks the
row counts and a 20" cutout of each of the 18 on both DaCHS services.  Our server: a Jupyter
server with the extension on ``--release``, started here on loopback with a token
(``tests/jupyter_subprocess.box_server``), stopped at the end.

    .venv/bin/python benchmarks/bench_soda.py --setup-dachs        # once (~40 s)
    .venv/bin/python benchmarks/bench_soda.py                      # both sides
    .venv/bin/python benchmarks/bench_soda.py --only dachs --repeat 5
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

DEFAULT_RELEASE = Path("/tmp/demo5")
DEFAULT_DACHS = "http://127.0.0.1:8080"
DACHS_SETUP = Path("/work/shared/peers/dachs/dachs_setup.sh")
INPUTS = Path("/var/gavo/inputs")
RES = "lsstimg"
RESDIR = INPUTS / RES
N_VISIT, N_COADD = 12, 6
GOAL = 0.5
#: the cutout centre's offset from the image centre, arcsec (east, north)
OFFSET = (7.3, -4.1)
#: POLYGON vertices, arcsec offsets (east, north) from the cutout centre
POLYGON = [(-30.0, -20.0), (25.0, -27.5), (30.0, 24.0), (-22.0, 27.5)]
#: (row label, shape, radius arcsec)
SHAPES = [
    ('CIRCLE r=5"', "CIRCLE", 5.0),
    ('CIRCLE r=20"', "CIRCLE", 20.0),
    ('CIRCLE r=60"', "CIRCLE", 60.0),
    ('POLYGON 60"x55"', "POLYGON", 0.0),
]
#: SIAv2 cones at the field centre, radius degrees
SIA_RADII = [0.01, 0.05]
SIA_MAXREC = 1000

RD = """<resource schema="lsstimg" resdir=".">
  <!-- written by benchmarks/bench_soda.py -setup-dachs; do not edit -->
  <meta name="creationDate">2025-01-01T00:00:00Z</meta>
  <meta name="title">lsstbox release images (SODA benchmark peer)</meta>
  <meta name="description">The images of an lsstbox release for DaCHS's SIAv2 and SODA:
    plain FITS copies of their IMAGE planes (lsstimg.main, in ObsCore) and byte copies of some
    of the tile-compressed multi-extension originals (lsstimg.mef).</meta>
  <meta name="creator">lsstbox benchmarks</meta>
  <meta name="subject">astronomical-images</meta>
  <meta name="contentLevel">Research</meta>
  <meta name="type">Archive</meta>
  <meta name="coverage.waveband">Optical</meta>
  <meta name="instrument">LSSTComCamSim</meta>

  <table id="main" onDisk="True" mixin="//siap#pgs" adql="True">
    <meta name="_associatedDatalinkService">
      <meta name="serviceId">dl</meta>
      <meta name="idColumn">accref</meta>
    </meta>
    <mixin calibLevel="2" collectionName="'lsstbox'" targetName="'lsstbox field'"
      expTime="30" targetClass="'field'">//obscore#publishSIAP</mixin>
  </table>

  <table id="mef" onDisk="True" mixin="//siap#pgs" adql="True"/>

  <data id="import">
    <sources pattern="data/plain/*.fits"/>
    <fitsProdGrammar>
      <rowfilter procDef="//products#define">
        <bind key="table">"\\schema.main"</bind>
      </rowfilter>
    </fitsProdGrammar>
    <make table="main">
      <rowmaker>
        <apply procDef="//siap#setMeta">
          <bind key="dateObs">@MJD_OBS</bind>
          <bind key="bandpassId">@BAND</bind>
          <bind key="instrument">@INSTRUME</bind>
          <bind key="pixflags">"F"</bind>
          <bind key="title">"lsstbox "+@BAND+" plain"</bind>
        </apply>
        <apply procDef="//siap#computePGS"/>
      </rowmaker>
    </make>
  </data>

  <data id="import_mef">
    <sources pattern="data/mef/*.fits"/>
    <fitsProdGrammar qnd="False" hdusField="_H">
      <rowfilter procDef="//products#define">
        <bind key="table">"\\schema.mef"</bind>
      </rowfilter>
    </fitsProdGrammar>
    <make table="mef">
      <rowmaker>
        <apply procDef="//siap#setMeta">
          <bind key="dateObs">vars["_H"][0].header["MJD-OBS"]</bind>
          <bind key="bandpassId">vars["_H"][0].header["BAND"]</bind>
          <bind key="instrument">vars["_H"][0].header["INSTRUME"]</bind>
          <bind key="pixflags">"F"</bind>
          <bind key="title">"lsstbox "+vars["_H"][0].header["BAND"]+" MEF"</bind>
        </apply>
        <apply name="closeHDUs"><code>vars.pop("_H").close()</code></apply>
        <apply procDef="//siap#computePGS"/>
      </rowmaker>
    </make>
  </data>

  <service id="dl" allowed="dlget,dlmeta">
    <meta name="title">lsstbox images: DataLink + SODA (plain FITS)</meta>
    <datalinkCore>
      <descriptorGenerator procDef="//soda#fits_genDesc">
        <bind key="accrefPrefix">"lsstimg/data/plain/"</bind>
      </descriptorGenerator>
      <FEED source="//soda#fits_standardDLFuncs"/>
    </datalinkCore>
  </service>

  <service id="dlmef" allowed="dlget,dlmeta">
    <meta name="title">lsstbox images: DataLink + SODA (tile-compressed MEF)</meta>
    <datalinkCore>
      <descriptorGenerator procDef="//soda#fits_genDesc">
        <bind key="accrefPrefix">"lsstimg/data/mef/"</bind>
        <bind key="qnd">False</bind>
      </descriptorGenerator>
      <FEED source="//soda#fits_standardDLFuncs"/>
    </datalinkCore>
  </service>
</resource>
"""


def log(msg: str = "") -> None:
    print(msg, flush=True)


# -- the images -------------------------------------------------------------------------------------
def release_images(release: Path) -> list[dict[str, Any]]:
    """The release's images (ObsCore rows), sorted by file; ``bench`` marks the 12 + 6."""
    import pyarrow.parquet as pq

    cols = ["obs_publisher_did", "lsst_file", "s_ra", "s_dec", "dataproduct_subtype"]
    rows = pq.read_table(release / "obscore" / "obscore.parquet", columns=cols).to_pylist()
    rows = [r for r in rows if r["lsst_file"]]
    rows.sort(key=lambda r: r["lsst_file"])
    out = []
    for r in rows:
        kind = "coadd" if "coadd" in (r["dataproduct_subtype"] or "") else "visit"
        out.append(
            {
                "did": r["obs_publisher_did"],
                "file": r["lsst_file"],
                "kind": kind,
                "ra": float(r["s_ra"]),
                "dec": float(r["s_dec"]),
                "name": Path(r["lsst_file"]).name,
                "bench": False,
            }
        )
    for kind, n in (("visit", N_VISIT), ("coadd", N_COADD)):
        of_kind = [r for r in out if r["kind"] == kind]
        if len(of_kind) < n:
            raise SystemExit(f"{release} has {len(of_kind)} {kind} images, need {n}")
        for i in np.linspace(0, len(of_kind) - 1, n).round().astype(int):
            of_kind[i]["bench"] = True
    if len({r["name"] for r in out}) != len(out):
        raise SystemExit("image file names are not unique in the release")
    return out


def write_plain(src: Path, dst: Path) -> None:
    """The IMAGE plane of a release image as a plain FITS: primary HDU, float32, its WCS and the
    release's primary header cards."""
    from astropy.io import fits

    with fits.open(src) as hl:
        hdr = fits.Header()
        skip = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "COMMENT", "HISTORY", ""}
        for card in hl[0].header.cards:
            if card.keyword not in skip:
                hdr.append(card)
        img = hl["IMAGE"]
        skip |= {"XTENSION", "PCOUNT", "GCOUNT", "EXTNAME"}
        for card in img.header.cards:
            if card.keyword not in skip:
                hdr[card.keyword] = (card.value, card.comment)
        data = np.asarray(img.data, dtype=np.float32)
    tmp = dst.with_suffix(".tmp")
    fits.PrimaryHDU(data, header=hdr).writeto(tmp, overwrite=True)
    tmp.replace(dst)


def dachs_alive(url: str) -> str | None:
    try:
        r = requests.get(url.rstrip("/") + "/tap/availability", timeout=10)
        r.raise_for_status()
    except requests.RequestException as e:
        return f"{type(e).__name__}: {e}"
    return None


def tap_count(url: str, query: str) -> int:
    r = requests.post(
        url.rstrip("/") + "/tap/sync",
        data={"LANG": "ADQL", "REQUEST": "doQuery", "QUERY": query, "RESPONSEFORMAT": "csv"},
        timeout=60,
    )
    r.raise_for_status()
    return int(r.text.splitlines()[1].strip())


def setup_dachs(release: Path, dachs: str, with_all: bool) -> dict[str, Any]:
    """Give DaCHS the release's pixels (see the module doc); returns the manifest."""
    if dachs_alive(dachs):
        log(f"DaCHS not answering at {dachs}: SKIP_APT=1 bash {DACHS_SETUP}")
        subprocess.run(["bash", str(DACHS_SETUP)], env={**os.environ, "SKIP_APT": "1"}, check=True)
    authority = subprocess.run(
        ["dachs", "config", "ivoa", "authority"], capture_output=True, text=True, check=True
    ).stdout.strip()
    images = release_images(release)
    (RESDIR / "data" / "plain").mkdir(parents=True, exist_ok=True)
    (RESDIR / "data" / "mef").mkdir(parents=True, exist_ok=True)
    for sub in ("plain", "mef"):  # copies of another release
        for f in (RESDIR / "data" / sub).glob("*"):
            f.unlink()
    t = time.perf_counter()
    for i, im in enumerate(images):
        src = release / im["file"]
        im["plain"] = f"{RES}/data/plain/{im['name']}" if (with_all or im["bench"]) else None
        im["mef"] = f"{RES}/data/mef/{im['name']}" if im["bench"] else None
        if im["plain"]:
            write_plain(src, INPUTS / im["plain"])
        if im["mef"]:
            shutil.copyfile(src, INPUTS / im["mef"])
        if (i + 1) % 100 == 0:
            log(f"  {i + 1}/{len(images)} images written")
    n_plain = sum(1 for im in images if im["plain"])
    log(f"wrote {n_plain} plain FITS and {N_VISIT + N_COADD} MEF copies in {time.perf_counter() - t:.0f} s")
    (RESDIR / "q.rd").write_text(RD)
    manifest = {
        "release": str(release.resolve()),
        "authority": authority,
        "written": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "images": images,
    }
    (RESDIR / "images.json").write_text(json.dumps(manifest, indent=1) + "\n")
    subprocess.run(["chown", "-R", "gavo:gavo", str(RESDIR)], check=False)
    t = time.perf_counter()
    subprocess.run(["dachs", "imp", "q"], cwd=RESDIR, check=True, stdout=subprocess.DEVNULL)
    log(f"dachs imp q: {time.perf_counter() - t:.0f} s")
    subprocess.run(["dachs", "serve", "reload"], check=False)
    time.sleep(2)
    n_main = tap_count(dachs, f"SELECT COUNT(*) FROM {RES}.main")
    n_mef = tap_count(dachs, f"SELECT COUNT(*) FROM {RES}.mef")
    n_obs = tap_count(dachs, f"SELECT COUNT(*) FROM ivoa.obscore WHERE obs_publisher_did LIKE '%?{RES}/%'")
    log(f"DaCHS: {RES}.main {n_main} rows, {RES}.mef {n_mef} rows, ivoa.obscore {n_obs} rows of ours")
    if (n_main, n_mef, n_obs) != (n_plain, N_VISIT + N_COADD, n_plain):
        raise SystemExit("DaCHS did not import every image")
    bench = [im for im in images if im["bench"]]
    prefix = f"ivo://{authority}/~?"
    sides = [
        Side("dachs", f"{dachs.rstrip('/')}/{RES}/q/dl/dlget", "plain", {}, prefix),
        Side("dachs-mef", f"{dachs.rstrip('/')}/{RES}/q/dlmef/dlget", "mef", {}, prefix),
    ]
    reqs = {label: v for label, v in requests_for(bench).items() if label == SHAPES[1][0]}
    chk = check(sides, reqs, truth(release, bench))
    for name, c in chk["sides"].items():
        log(f"DaCHS {name}, {SHAPES[1][0]}: {c}")
    if chk["sides"]["dachs"]["centre_off"] or chk["sides"]["dachs"]["value_differs"]:
        raise SystemExit("DaCHS's plain cutouts are not right:\n" + "\n".join(chk["problems"][:10]))
    return manifest


def load_manifest(release: Path) -> dict[str, Any]:
    path = RESDIR / "images.json"
    if not path.exists():
        raise SystemExit(f"{path} missing: run with --setup-dachs first")
    m = json.loads(path.read_text())
    if m["release"] != str(release.resolve()):
        raise SystemExit(f"DaCHS holds the images of {m['release']}, not {release}: rerun --setup-dachs")
    return m


# -- requests ---------------------------------------------------------------------------------------
def offset(ra: float, dec: float, east: float, north: float) -> tuple[float, float]:
    """(ra, dec) moved by arcsec east/north on the tangent plane (small offsets)."""
    return ra + east / 3600.0 / math.cos(math.radians(dec)), dec + north / 3600.0


def shape_params(shape: str, radius: float, ra: float, dec: float) -> dict[str, str]:
    if shape == "CIRCLE":
        return {"CIRCLE": f"{ra:.8f} {dec:.8f} {radius / 3600.0:.8f}"}
    pts = [offset(ra, dec, e, n) for e, n in POLYGON]
    return {"POLYGON": " ".join(f"{a:.8f} {d:.8f}" for a, d in pts)}


class Side:
    """One service: a keep-alive session, its URL and how it names an image."""

    def __init__(self, name: str, url: str, id_key: str, headers: dict[str, str], prefix: str = ""):
        self.name, self.url, self.id_key, self.prefix = name, url, id_key, prefix
        self.session = requests.Session()
        self.session.headers.update(headers)

    def image_id(self, im: dict[str, Any]) -> str:
        return self.prefix + im[self.id_key]

    def get(self, url: str, params: dict[str, str], fresh: bool = False) -> tuple[float, bytes]:
        """Seconds to send the request and read all of the answer, and the answer; ``fresh``: on
        a new connection, closed after the answer, instead of the session's kept-alive one."""
        t = time.perf_counter()
        if fresh:
            headers = {**self.session.headers, "Connection": "close"}
            r = requests.get(url, params=params, headers=headers, timeout=300)
        else:
            r = self.session.get(url, params=params, timeout=300)
        body = r.content
        dt = time.perf_counter() - t
        if r.status_code != 200:
            raise RuntimeError(f"{self.name}: HTTP {r.status_code} {r.reason} for {r.url}\n{body[:500]!r}")
        return dt, body

    def cutout(self, im: dict[str, Any], params: dict[str, str], fresh: bool = False) -> tuple[float, bytes]:
        return self.get(self.url, {"ID": self.image_id(im), **params}, fresh)


def cutout_info(body: bytes, ra: float, dec: float) -> dict[str, Any]:
    """Shape of the IMAGE cutout, where (ra, dec) falls in it, and the value of that pixel."""
    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    with fits.open(io.BytesIO(body)) as hl:
        cands = [h for h in hl if h.header.get("NAXIS", 0) == 2 or isinstance(h, fits.CompImageHDU)]
        hdu = next((h for h in cands if h.name == "IMAGE"), cands[0] if cands else None)
        if hdu is None:
            raise RuntimeError("no 2-d image in the cutout")
        data = np.asarray(hdu.data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            w = WCS(hdu.header)
        x, y = (float(v) for v in w.wcs_world2pix(ra, dec, 0))
        ny, nx = data.shape
        i, j = round(x), round(y)
        value = float(data[j, i]) if 0 <= i < nx and 0 <= j < ny else None
        return {
            "shape": [ny, nx],
            "hdus": [f"{h.name}{list(h.data.shape) if h.data is not None else ''}" for h in hl],
            "centre_px": [round(x, 2), round(y, 2)],
            "centre_off": [round(x - (nx - 1) / 2, 2), round(y - (ny - 1) / 2, 2)],
            "value": value,
            "bytes": len(body),
        }


def requests_for(images: list[dict[str, Any]]) -> dict[str, list[tuple[dict, dict, tuple]]]:
    """label -> [(image, shape params, (ra, dec) of the centre)]."""
    out: dict[str, list] = {}
    for label, shape, radius in SHAPES:
        out[label] = []
        for im in images:
            ra, dec = offset(im["ra"], im["dec"], *OFFSET)
            out[label].append((im, shape_params(shape, radius, ra, dec), (ra, dec)))
    return out


def truth(release: Path, images: list[dict[str, Any]]) -> dict[str, float]:
    """The value of the pixel holding each cutout's centre, from the release's own file
    (astropy decompressing its IMAGE extension)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    out = {}
    for im in images:
        ra, dec = offset(im["ra"], im["dec"], *OFFSET)
        with fits.open(release / im["file"]) as hl:
            hdu = hl["IMAGE"]
            x, y = WCS(hdu.header).wcs_world2pix(ra, dec, 0)
            out[im["name"]] = float(hdu.section[round(float(y)), round(float(x))])
    return out


def check(sides: list[Side], reqs: dict[str, list], true_value: dict[str, float]) -> dict[str, Any]:
    """Fetch every cutout once from every side.  Per side: cutouts whose shape differs by more
    than a pixel from the first side's (ours if timed), whose centre is more than a pixel off the
    requested one, or whose centre pixel is not the release's value."""
    ref = sides[0]
    infos: dict[str, dict[str, list]] = {s.name: {} for s in sides}
    out: dict[str, Any] = {"sides": {}, "problems": []}
    for s in sides:
        shape, off, value, rel = [], [], [], 0.0
        for label, items in reqs.items():
            infos[s.name][label] = []
            for im, params, (ra, dec) in items:
                _, body = s.cutout(im, params)
                info = cutout_info(body, ra, dec)
                infos[s.name][label].append(info)
                what = f"{s.name} {label} {im['name']}"
                if max(abs(v) for v in info["centre_off"]) > 1.0:
                    off.append(f"{what}: requested centre {info['centre_off']} px off the cutout centre")
                want = true_value[im["name"]]
                if info["value"] != want:
                    value.append(f"{what}: centre pixel {info['value']} (release: {want})")
                    if info["value"] is not None:
                        rel = max(rel, abs(info["value"] - want) / max(abs(want), 1e-30))
        for label, items in reqs.items():
            for (im, _, _), a, b in zip(items, infos[ref.name][label], infos[s.name][label], strict=True):
                if any(abs(p - q) > 1 for p, q in zip(a["shape"], b["shape"], strict=True)):
                    shape.append(
                        f"{s.name} {label} {im['name']}: shape {b['shape']} ({ref.name} {a['shape']})"
                    )
        n = sum(len(v) for v in reqs.values())
        out["sides"][s.name] = {
            "cutouts": n,
            "shape_differs": len(shape),
            "centre_off": len(off),
            "value_differs": len(value),
            "max_rel_value_diff": rel,
        }
        out["problems"] += shape + off + value
    out["infos"] = infos
    return out


def warm_up(sides: list[Side], reqs: dict[str, list], sia: list[tuple[Side, str, dict]]) -> None:
    for s in sides:
        for items in reqs.values():
            for im, params, _ in items:
                s.cutout(im, params)
    for s, url, params in sia:
        s.get(url, params)


def time_cutouts(
    sides: list[Side], reqs: dict[str, list], repeat: int, fresh: bool = False
) -> dict[str, dict[str, list]]:
    times: dict[str, dict[str, list]] = {s.name: {label: [] for label in reqs} for s in sides}
    for p in range(repeat):
        order = sides if p % 2 == 0 else sides[::-1]
        for label, items in reqs.items():
            for s in order:
                for im, params, _ in items:
                    dt, _ = s.cutout(im, params, fresh)
                    times[s.name][label].append((im["kind"], dt))
    return times


def sia_requests(sides: list[Side], field: tuple[float, float]) -> list[tuple[str, Side, str, dict]]:
    out = []
    for r in SIA_RADII:
        for s in sides:
            url = s.sia_url  # type: ignore[attr-defined]
            if not url:
                continue
            pos = f"CIRCLE {field[0]:.6f} {field[1]:.6f} {r}"
            out.append((f"SIAv2 POS=CIRCLE r={r} deg", s, url, {"POS": pos, "MAXREC": str(SIA_MAXREC)}))
    return out


def votable_rows(body: bytes) -> int:
    from astropy.io.votable import parse_single_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return len(parse_single_table(io.BytesIO(body)).array)


def time_sia(sia: list[tuple[str, Side, str, dict]], repeat: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for label, s, url, params in sia:
        _, body = s.get(url, params)
        out.setdefault(label, {})[s.name] = {
            "rows": votable_rows(body),
            "bytes": len(body),
            "times": [],
            "times_fresh": [],
        }
    for p in range(repeat):
        for label, s, url, params in sia if p % 2 == 0 else sia[::-1]:
            out[label][s.name]["times"].append(s.get(url, params)[0])
            out[label][s.name]["times_fresh"].append(s.get(url, params, fresh=True)[0])
    return out


# -- our server -------------------------------------------------------------------------------------
@contextmanager
def our_server(release: Path, work: Path) -> Iterator[tuple[str, str]]:
    from jupyter_subprocess import box_server

    home = work / "jupyter"
    for sub in ("root", "jobs", "config", "runtime"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    with box_server(release, home, token) as srv:
        yield srv.url, token


# -- report -----------------------------------------------------------------------------------------
def _med(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1000:.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}"


def report(res: dict[str, Any]) -> str:
    names = res["sides"]
    ours, plain, mef = "ours" in names, "dachs" in names, "dachs-mef" in names
    out = [
        f"### SODA cutouts: ours vs DaCHS, same pixels ({N_VISIT} visit images + {N_COADD} coadds), "
        f"median of {res['repeat']} passes x {res['n_images']} requests, raw HTTP "
        f"(connections {res['cutout_connections']}), {res['date']}",
        "",
        "| request | DaCHS ms (plain FITS) | ours ms | ours/DaCHS (goal <= 0.5) "
        "| DaCHS ms (tile-compressed MEF) | ours/DaCHS-MEF | cutout px ours / DaCHS "
        "| KB ours / DaCHS / DaCHS-MEF | visit, coadd ms: ours; DaCHS |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for label, row in res["cutouts"].items():
        m = {n: _med([t for _, t in row["times"].get(n, [])]) for n in names}
        by = {
            n: [_med([t for k, t in row["times"].get(n, []) if k == kind]) for kind in ("visit", "coadd")]
            for n in names
        }
        r = None if not (ours and plain) else m["ours"] / m["dachs"]
        verdict = "" if r is None else f" {'PASS' if r <= GOAL else 'FAIL'}"
        shp = {n: row["shape"].get(n) for n in names}
        kb = " / ".join(
            f"{row['bytes'][n] / 1024:.0f}" if n in row["bytes"] else "-"
            for n in ("ours", "dachs", "dachs-mef")
        )
        split = "; ".join(f"{_ms(by[n][0])}, {_ms(by[n][1])}" for n in ("ours", "dachs") if n in names)
        out.append(
            f"| {label} | {_ms(m.get('dachs'))} | {_ms(m.get('ours'))} | "
            f"{'-' if r is None else f'**{r:.2f}**'}{verdict} | {_ms(m.get('dachs-mef')) if mef else '-'} "
            f"| {_ratio(m.get('ours'), m.get('dachs-mef')) if mef else '-'} "
            f"| {shp.get('ours') or '-'} / {shp.get('dachs') or '-'} | {kb} | {split} |"
        )
    for label, row in res.get("sia", {}).items():
        rows = " / ".join(str(row[n]["rows"]) if n in row else "-" for n in ("ours", "dachs"))
        kb = " / ".join(f"{row[n]['bytes'] / 1024:.0f}" if n in row else "-" for n in ("ours", "dachs"))
        for key, how in (("times", "kept-alive"), ("times_fresh", "new connection each")):
            m = {n: _med(row[n][key]) if n in row else None for n in names}
            out.append(
                f"| {label} ({how}) | {_ms(m.get('dachs'))} | {_ms(m.get('ours'))} "
                f"| {_ratio(m.get('ours'), m.get('dachs'))} | | | rows {rows} | {kb} | |"
            )
    out.append("")
    chk = res.get("check", {})
    if chk:
        out.append(
            "Check, before timing, of every image x shape on every side: the cutout's shape "
            f"(vs {names[0]}'s, within 1 px a side), the requested centre within 1 px of the cutout's "
            "centre (its own WCS), the centre pixel's value = the release file's:"
        )
        for n, c in chk["sides"].items():
            bad = [
                f"{c[k]} {k.replace('_', ' ')}"
                for k in ("shape_differs", "centre_off", "value_differs")
                if c[k]
            ]
            extra = f" (max relative difference {c['max_rel_value_diff']:.1e})" if c["value_differs"] else ""
            out.append(f"- {n}: {c['cutouts']} cutouts, {'all OK' if not bad else ', '.join(bad)}{extra}")
        out.append("")
    first = next(iter(res["cutouts"].values()), None)
    if first:
        out.append("HDUs answered (first image, first shape):")
        out += [f"- {n}: {', '.join(h)}" for n, h in first["hdus"].items()]
        out.append("")
    out.append(f"loadavg {res['loadavg_start']} -> {res['loadavg_end']} ({res['cpus']} CPUs)")
    return "\n".join(out)


# -- main -------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--release", type=Path, default=DEFAULT_RELEASE, help="the release (demo profile)")
    ap.add_argument("--repeat", type=int, default=15, help="timed passes (N) after the warm-up")
    ap.add_argument("--dachs-url", default=DEFAULT_DACHS, help="DaCHS's root URL")
    ap.add_argument("--only", choices=["dachs", "ours"], help="time one side only")
    ap.add_argument("--no-mef", action="store_true", help="skip DaCHS on the tile-compressed MEF copies")
    ap.add_argument("--no-sia", action="store_true", help="skip the SIAv2 rows")
    ap.add_argument(
        "--new-connections", action="store_true", help="time cutouts on a new connection per request"
    )
    ap.add_argument("--setup-dachs", action="store_true", help="(re)load DaCHS with the release's images")
    ap.add_argument(
        "--setup-subset",
        action="store_true",
        help="with --setup-dachs: only the 18 images (SIAv2 not comparable)",
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/lsstbox-soda-bench"), help="server home, JSON")
    a = ap.parse_args()
    release = a.release.resolve()
    if not (release / "obscore" / "obscore.parquet").exists():
        log(f"{release} is not a release with images; build one with:")
        log(f"  {ROOT}/.venv/bin/python -m jupyterlab_lsp.cli release build --profile demo --out {release}")
        return 2
    a.work.mkdir(parents=True, exist_ok=True)
    log(f"loadavg {os.getloadavg()}  cpus {os.cpu_count()}  release {release}")

    if a.setup_dachs:
        setup_dachs(release, a.dachs_url, not a.setup_subset)
    use_dachs = a.only != "ours"
    if use_dachs:
        why = dachs_alive(a.dachs_url)
        if why:
            log(f"DaCHS is not answering at {a.dachs_url} ({why}); run with --setup-dachs")
            return 2
        manifest = load_manifest(release)
        images = [im for im in manifest["images"] if im["bench"]]
        prefix = f"ivo://{manifest['authority']}/~?"
    else:
        images = [im for im in release_images(release) if im["bench"]]
        prefix = ""
    reqs = requests_for(images)
    every = release_images(release)
    field = (statistics.fmean(im["ra"] for im in every), statistics.fmean(im["dec"] for im in every))

    res: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "release": str(release),
        "repeat": a.repeat,
        "cutout_connections": "new per request" if a.new_connections else "kept alive",
        "n_images": len(images),
        "images": [im["file"] for im in images],
        "field_centre": field,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    with our_server(release, a.work) if a.only != "dachs" else _nothing() as srv:
        sides: list[Side] = []
        if srv:
            base, token = srv
            s = Side("ours", f"{base}lsstbox/soda/sync", "did", {"Authorization": f"token {token}"})
            s.sia_url = f"{base}lsstbox/sia/query"  # type: ignore[attr-defined]
            sides.append(s)
            log(f"our server: {base}")
        if use_dachs:
            d = a.dachs_url.rstrip("/")
            s = Side("dachs", f"{d}/{RES}/q/dl/dlget", "plain", {}, prefix)
            s.sia_url = f"{d}/__system__/siap2/sitewide/siap2.xml"  # type: ignore[attr-defined]
            sides.append(s)
            if not a.no_mef:
                s = Side("dachs-mef", f"{d}/{RES}/q/dlmef/dlget", "mef", {}, prefix)
                s.sia_url = None  # type: ignore[attr-defined]
                sides.append(s)
        res["sides"] = [s.name for s in sides]
        res["urls"] = {s.name: s.url for s in sides}
        sia = [] if a.no_sia else sia_requests(sides, field)

        log("checking every cutout on every side ...")
        t = time.perf_counter()
        res["check"] = check(sides, reqs, truth(release, images))
        log(f"  {time.perf_counter() - t:.1f} s; problems: {len(res['check']['problems'])}")
        for p in res["check"]["problems"][:6]:
            log(f"  {p}")
        if len(res["check"]["problems"]) > 6:
            log(f"  ... (all in {a.work / 'bench_soda_results.json'})")
        warm_up(sides, reqs, [(s, u, p) for _, s, u, p in sia])
        log(f"timing {a.repeat} passes x {len(images)} images x {len(reqs)} shapes x {len(sides)} sides ...")
        t = time.perf_counter()
        times = time_cutouts(sides, reqs, a.repeat, a.new_connections)
        log(f"  {time.perf_counter() - t:.1f} s")
        res["cutouts"] = {}
        for label in reqs:
            infos = {n: res["check"]["infos"][n][label] for n in res["sides"]}
            res["cutouts"][label] = {
                "times": {n: times[n][label] for n in res["sides"]},
                "shape": {n: "x".join(map(str, infos[n][0]["shape"])) for n in res["sides"]},
                "bytes": {n: statistics.median(i["bytes"] for i in infos[n]) for n in res["sides"]},
                "hdus": {n: infos[n][0]["hdus"] for n in res["sides"]},
            }
        if sia:
            res["sia"] = time_sia(sia, a.repeat)
    res["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    log("\n" + report(res) + "\n")
    out = a.work / "bench_soda_results.json"
    out.write_text(json.dumps(res, indent=1, default=str) + "\n")
    log(f"figures written to {out}")
    return 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    sys.exit(main())
