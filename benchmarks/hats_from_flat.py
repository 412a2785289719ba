"""Write flat Parquet (e.g. the peers' gen.py output) as HATS with our HatsWriter.

    python benchmarks/hats_from_flat.py FLAT_DIR OUT_DIR NAME [--order 4] [--ra ra --dec dec]

The same rows as hats-import's catalog, in our layout (leaves sorted by ``_healpix_29`` in
16 k-row groups, 5" margin), so both engines can be measured on the same data, each on the layout
its own writer makes.  Prints the wall time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from kernel_lib.release.hats_writer import HatsWriter
from kernel_lib.release.schema import Column, TableSpec

_NAMES = {
    pa.int64(): "long",
    pa.int32(): "int",
    pa.int16(): "short",
    pa.float64(): "double",
    pa.float32(): "float",
    pa.bool_(): "boolean",
    pa.string(): "char",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("flat", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("name")
    ap.add_argument("--order", type=int, default=4)
    ap.add_argument("--ra", default="ra")
    ap.add_argument("--dec", default="dec")
    a = ap.parse_args()
    t0 = time.perf_counter()
    table = pq.read_table(sorted(a.flat.glob("*.parquet")))
    spec = TableSpec(
        name=a.name,
        description=f"{a.name} from {a.flat.name}",
        columns=tuple(Column(f.name, _NAMES[f.type]) for f in table.schema),
        ra_column=a.ra,
        dec_column=a.dec,
    )
    writer = HatsWriter(spec, a.out, order=a.order)
    frame = table.to_pandas()
    del table
    writer.add(frame, frame[a.ra].to_numpy(), frame[a.dec].to_numpy())
    res = writer.finish()
    print(f"{a.name}: {res.rows:,} rows, {res.partitions} partitions, {res.margin_rows:,} margin rows")
    print(f"written in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
