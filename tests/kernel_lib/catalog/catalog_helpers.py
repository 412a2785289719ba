"""Helpers shared by the catalog-engine tests (the brute-force side of every comparison)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq


def read_all_leaves(path: Path) -> pd.DataFrame:
    """Every row of a HATS catalog, read straight from its leaf files (the brute-force side)."""
    files = sorted((path / "dataset").glob("Norder=*/Dir=*/Npix=*.parquet"))
    return pq.read_table([str(f) for f in files]).replace_schema_metadata(None).to_pandas()
