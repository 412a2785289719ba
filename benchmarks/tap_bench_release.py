"""The release ``bench_tap.py`` serves: a tiny base release plus DaCHS's 1 M-row ``synth.main``.

The rows are read from the CSV DaCHS imported (``/var/gavo/inputs/synth/data/synth.csv``), the
column types, units, UCDs and descriptions from DaCHS's resource descriptor (``synth/q.rd`` of the
peers), and written as a HATS catalog with our :class:`~kernel_lib.release.hats_writer.HatsWriter`
into a copy of a tiny base release, whose manifest gets a ``main`` catalog entry in schema
``synth`` (keys as :mod:`kernel_lib.release.builder` writes them).  The result is cached: a stamp
file records what it was built from, and a rerun with the same inputs reuses it.

    .venv/bin/python benchmarks/tap_bench_release.py --work /tmp/lsstbox-tap-bench
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = Path("/var/gavo/inputs/synth/data/synth.csv")
DEFAULT_PEERS = ROOT.parent / "shared" / "peers"
#: a tiny release other tools may have built already (copied, never modified)
SHARED_TINY = Path("/tmp/vosi-tiny")
SCHEMA = "synth"
TABLE = "main"
MARGIN_ARCSEC = 5.0
#: bump when the layout of the bench release changes, so cached ones are rebuilt
LAYOUT_VERSION = 1
STAMP = "tap_bench_stamp.json"

#: DaCHS (PostgreSQL) column types -> VOTable datatypes, as TableSpec/Column take them
_PG_TYPES = {
    "bigint": "long",
    "integer": "int",
    "smallint": "short",
    "double precision": "double",
    "real": "float",
    "boolean": "boolean",
    "text": "char",
}


def dachs_table(rd: Path) -> dict[str, Any]:
    """Description, primary key and columns (name, datatype, unit, ucd, description) of the
    ``main`` table of DaCHS's resource descriptor ``rd``."""
    table = ET.parse(rd).getroot().find(f"table[@id='{TABLE}']")
    if table is None:
        raise SystemExit(f"{rd}: no <table id={TABLE!r}>")
    meta = table.find("meta[@name='description']")
    primary = table.find("primary")
    columns = []
    for c in table.findall("column"):
        pg = c.get("type", "real")
        if pg not in _PG_TYPES:
            raise SystemExit(f"{rd}: column {c.get('name')} has type {pg!r}, unknown here")
        columns.append(
            {
                "name": c.get("name", ""),
                "datatype": _PG_TYPES[pg],
                "unit": c.get("unit", ""),
                "ucd": c.get("ucd", ""),
                "description": " ".join(c.get("description", "").split()),
            }
        )
    return {
        "description": " ".join((meta.text or "").split()) if meta is not None else "",
        "primary_key": (primary.text or "").strip() if primary is not None else None,
        "columns": columns,
    }


def read_csv(csv: Path, columns: list[dict[str, Any]]) -> pa.Table:
    """The CSV's rows with the RD's types; floats parsed correctly rounded (as PostgreSQL does),
    ``real`` columns straight to float32."""
    import pyarrow.csv as pcsv

    from kernel_lib.release.schema import Column

    types = {c["name"]: Column(c["name"], c["datatype"]).arrow_type for c in columns}
    table = pcsv.read_csv(csv, convert_options=pcsv.ConvertOptions(column_types=types))
    return table.select([c["name"] for c in columns])


def auto_order(rows: int, target: int = 200_000) -> int:
    """The lowest HEALPix order whose whole-sky partitions hold at most ``target`` rows each."""
    order = 0
    while rows / (12 * 4**order) > target:
        order += 1
    return order


def base_release(work: Path, base: Path | None, python: str) -> Path:
    """A tiny release to copy: ``base`` if given, else /tmp/vosi-tiny, else one built in ``work``."""
    for cand in [base] if base else [SHARED_TINY, work / "base-tiny"]:
        if cand and (cand / "manifest.json").exists():
            return cand
    if base:
        raise SystemExit(f"--base-release {base}: no manifest.json there")
    out = work / "base-tiny"
    shutil.rmtree(out, ignore_errors=True)
    cli = Path(python).with_name("lsstbox")
    cmd = [str(cli), "release", "build", "--profile", "tiny", "--out", str(out), "--no-progress"]
    print(f"building the tiny base release: {' '.join(cmd)}", flush=True)
    subprocess.run(cmd, check=True)
    return out


def _stamp(csv: Path, rd: Path, base: Path, order: int) -> dict[str, Any]:
    st = csv.stat()
    return {
        "layout": LAYOUT_VERSION,
        "csv": str(csv.resolve()),
        "csv_size": st.st_size,
        "csv_mtime": int(st.st_mtime),
        "rd_mtime": int(rd.stat().st_mtime),
        "base": str(base.resolve()),
        "order": order,
    }


def ensure_release(
    work: Path,
    *,
    csv: Path = DEFAULT_CSV,
    peers: Path = DEFAULT_PEERS,
    base: Path | None = None,
    order: int | None = None,
    rebuild: bool = False,
    python: str = sys.executable,
) -> tuple[Path, dict[str, Any]]:
    """The bench release in ``work/release`` (built unless a matching cached one is there) and
    the facts about its ``synth.main`` (rows, partitions, order, build seconds or ``cached``)."""
    from kernel_lib.release.manifest import Release

    rd = peers / "dachs" / "synth" / "q.rd"
    if not csv.exists():
        raise SystemExit(f"{csv} not found: the CSV DaCHS imported (run dachs_setup.sh) or pass --csv")
    if not rd.exists():
        raise SystemExit(f"{rd} not found: pass --peers")
    work.mkdir(parents=True, exist_ok=True)
    base = base_release(work, base, python)
    out = work / "release"
    info = dachs_table(rd)
    if order is None:
        order = auto_order(sum(1 for _ in open(csv, "rb")) - 1)
    stamp = _stamp(csv, rd, base, order)
    if not rebuild and (out / STAMP).exists() and json.loads((out / STAMP).read_text()) == stamp:
        try:
            entry = Release.open(out).catalogs[TABLE]
            return out, {**_facts(entry), "build_s": None, "cached": True}
        except Exception as e:
            print(f"cached bench release unusable ({e}); rebuilding", flush=True)
    t0 = time.perf_counter()
    tmp = work / "release.part"
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"copying the base release {base} -> {out}", flush=True)
    shutil.copytree(base, tmp, symlinks=False)
    (tmp / STAMP).unlink(missing_ok=True)
    entry = _write_synth(tmp, csv, info, order)
    mpath = tmp / "manifest.json"
    manifest = json.loads(mpath.read_text())
    manifest.setdefault("catalogs", {})[TABLE] = entry
    manifest["name"] = f"{manifest.get('name', 'lsstbox')}+synth"
    mpath.write_text(json.dumps(manifest, indent=1) + "\n")
    Release.open(tmp).check()
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    (out / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
    build_s = time.perf_counter() - t0
    print(f"bench release ready in {build_s:.1f} s: {out}", flush=True)
    return out, {**_facts(entry), "build_s": round(build_s, 2), "cached": False}


def _facts(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in ("rows", "margin_rows", "partitions", "partition_order")}


def _write_synth(release: Path, csv: Path, info: dict[str, Any], order: int) -> dict[str, Any]:
    """Write the CSV's rows as HATS under ``release/hats_synth`` and return the manifest entry."""
    from kernel_lib.release.hats_writer import HatsWriter
    from kernel_lib.release.schema import Column, TableSpec

    t0 = time.perf_counter()
    table = read_csv(csv, info["columns"])
    print(f"read {table.num_rows:,} rows of {csv} in {time.perf_counter() - t0:.1f} s", flush=True)
    spec = TableSpec(
        name=TABLE,
        description=info["description"],
        columns=tuple(
            Column(c["name"], c["datatype"], c["unit"], c["ucd"], c["description"]) for c in info["columns"]
        ),
        ra_column="ra",
        dec_column="dec",
        primary_key=info["primary_key"],
    )
    frame = table.to_pandas()
    del table
    t0 = time.perf_counter()
    writer = HatsWriter(spec, release / "hats_synth", order=order, margin_arcsec=MARGIN_ARCSEC)
    writer.add(frame, frame["ra"].to_numpy(), frame["dec"].to_numpy())
    res = writer.finish()
    print(
        f"HATS {res.rows:,} rows, {res.partitions} partitions (order {order}), "
        f"{res.margin_rows:,} margin rows in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    from kernel_lib.release.builder import catalog_entry

    return {"schema": SCHEMA} | catalog_entry(spec, res, f"hats_synth/{TABLE}", MARGIN_ARCSEC, order)


def rows_per_partition(rows: int, order: int) -> float:
    return rows / (12 * 4**order)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/lsstbox-tap-bench"))
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--peers", type=Path, default=DEFAULT_PEERS)
    ap.add_argument("--base-release", type=Path)
    ap.add_argument("--order", type=int)
    ap.add_argument("--rebuild", action="store_true")
    a = ap.parse_args()
    path, facts = ensure_release(
        a.work, csv=a.csv, peers=a.peers, base=a.base_release, order=a.order, rebuild=a.rebuild
    )
    per = rows_per_partition(facts["rows"], facts["partition_order"])
    print(f"{path}: {facts}  (~{math.floor(per):,} rows per partition)")


if __name__ == "__main__":
    main()
