"""The Butler of a built release: region queries and bbox reads on the real rendered images."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from astropy.wcs import WCS
from lsst.daf.butler import Butler

from kernel_lib.release.manifest import Release

COLLECTION = "LSSTComCamSim/DP1"


@pytest.fixture(scope="module")
def butler(tiny_release: Path) -> Butler:
    return Butler(str(Release.open(tiny_release).resolve("butler")), collections=COLLECTION)


def test_release_gives_a_read_only_butler(tiny_release: Path) -> None:
    b = Release.open(tiny_release).get_butler()
    assert not b.isWriteable()
    assert len(b.query_datasets("deep_coadd", where="band = 'r'")) == 4


def test_visit_images_overlapping_a_point(butler: Butler) -> None:
    ra, dec = 53.16, -28.10
    refs = butler.query_datasets(
        "visit_image",
        where="visit_detector_region.region OVERLAPS POINT(ra, dec)",
        bind={"ra": ra, "dec": dec},
        instrument="LSSTComCamSim",
    )
    assert len(refs) >= 3
    bands = {r.dataId["band"] for r in refs}
    assert len(bands) >= 2
    # every returned image really contains the point (within a few pixels of slack at edges)
    for ref in refs[:6]:
        wcs = butler.get(ref.makeComponentRef("wcs"))
        x, y = wcs.world_to_pixel_values(ra, dec)
        assert -5 <= x <= 256 + 5 and -5 <= y <= 256 + 5


def test_get_with_bbox_reads_a_cutout_with_a_correct_wcs(butler: Butler) -> None:
    ra, dec = 53.16, -28.10
    ref = butler.query_datasets(
        "deep_coadd", where="patch.region OVERLAPS POINT(ra, dec) AND band = 'r'", bind={"ra": ra, "dec": dec}
    )[0]
    full = butler.get(ref)
    x, y = (int(v) for v in full.wcs.world_to_pixel_values(ra, dec))
    ny, nx = full.data.shape
    x0, y0 = min(max(x - 20, 0), nx - 40), min(max(y - 15, 0), ny - 30)
    cut = butler.get(ref, parameters={"bbox": (x0, y0, 40, 30)})
    assert cut.data.shape == (30, 40)
    np.testing.assert_array_equal(cut.data, full.data[y0 : y0 + 30, x0 : x0 + 40])
    assert isinstance(cut.wcs, WCS)
    a = cut.wcs.pixel_to_world_values(5.0, 7.0)
    b = full.wcs.pixel_to_world_values(x0 + 5.0, y0 + 7.0)
    np.testing.assert_allclose(a, b, atol=1e-9)
    assert cut.unit.to_string() == "nJy"


def test_catalogs_in_the_butler_match_the_hats_catalogs(butler: Butler, tiny_release: Path) -> None:
    rel = Release.open(tiny_release)
    ref = butler.query_datasets("object")[0]
    assert butler.get(ref.makeComponentRef("rowcount")) == rel.catalogs["Object"]["rows"]
    visits = butler.query_datasets("source")
    total = sum(butler.get(r.makeComponentRef("rowcount")) for r in visits)
    assert total == rel.catalogs["Source"]["rows"]


def test_a_new_process_reads_the_release_butler(tiny_release: Path) -> None:
    code = textwrap.dedent(
        f"""
        from lsst.daf.butler import Butler
        b = Butler({str(tiny_release / "butler")!r}, collections={COLLECTION!r})
        refs = b.query_datasets("visit_image", instrument="LSSTComCamSim", limit=1)
        img = b.get(refs[0], parameters={{"bbox": (0, 0, 16, 16)}})
        print(img.data.shape)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(16, 16)"
