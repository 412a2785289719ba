"""Fixtures of the catalog-engine tests: the session's tiny release and synthetic HATS catalogs.

The synthetic catalogs sit where our field never goes -- across RA 0 and around the north pole --
and are written by our own :class:`~kernel_lib.release.hats_writer.HatsWriter` with small row
groups (50 rows), so the row-group pruning and the wrap-around geometry can both be checked.
``sky`` is at order 5, ``sky_xm`` (a perturbed subset of ``sky`` plus randoms) at order 4, so a
crossmatch meets partitions of different sizes; ``sky_xm_nomargin`` has no margin catalog.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kernel_lib.release.hats_writer import HatsWriter
from kernel_lib.release.schema import Column, TableSpec


def _spec(name: str) -> TableSpec:
    return TableSpec(
        name,
        f"synthetic catalog {name}",
        (
            Column("id", "long", "", "meta.id;meta.main", "row id"),
            Column("ra", "double", "deg", "pos.eq.ra;meta.main", "Right Ascension"),
            Column("dec", "double", "deg", "pos.eq.dec;meta.main", "Declination"),
            Column("mag", "float", "mag", "phot.mag", "a magnitude"),
        ),
        ra_column="ra",
        dec_column="dec",
        primary_key="id",
    )


def _sky_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Half in a band across RA 0 (|dec| < 3), half in a cap of 3 deg around the north pole."""
    m = n // 2
    ra1 = rng.uniform(-4.0, 4.0, m) % 360.0
    dec1 = rng.uniform(-3.0, 3.0, m)
    z = rng.uniform(np.cos(np.radians(3.0)), 1.0, n - m)
    ra2 = rng.uniform(0.0, 360.0, n - m)
    dec2 = np.degrees(np.arcsin(z))
    return np.concatenate([ra1, ra2]), np.concatenate([dec1, dec2])


def _write(
    out: Path, name: str, ra: np.ndarray, dec: np.ndarray, ids: np.ndarray, order: int, margin: bool
) -> Path:
    frame = pd.DataFrame(
        {"id": ids, "ra": ra, "dec": dec, "mag": np.linspace(15, 25, len(ra)).astype(np.float32)}
    )
    w = HatsWriter(_spec(name), out, order=order, row_group_rows=50, margin_arcsec=5.0 if margin else None)
    w.add(frame, ra, dec)
    return w.finish().path


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("synthetic-hats")
    rng = np.random.default_rng(3)
    ra, dec = _sky_points(rng, 20_000)
    sky = _write(out, "sky", ra, dec, np.arange(len(ra)), 5, True)
    pick = rng.choice(len(ra), 3000, replace=False)
    sig = 0.6 / 3600.0
    pra = (ra[pick] + rng.normal(0, sig, len(pick)) / np.cos(np.radians(dec[pick]))) % 360.0
    pdec = np.clip(dec[pick] + rng.normal(0, sig, len(pick)), -90, 90)
    rra, rdec = _sky_points(rng, 1000)
    xra, xdec = np.concatenate([pra, rra]), np.concatenate([pdec, rdec])
    xid = np.arange(len(xra)) + 10**9
    xm = _write(out, "sky_xm", xra, xdec, xid, 4, True)
    bare = _write(out / "bare", "sky_xm_nomargin", xra, xdec, xid, 6, False)
    return {"sky": sky, "sky_xm": xm, "sky_xm_nomargin": bare}
