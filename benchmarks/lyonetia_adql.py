"""Benchmark: our strict ADQL validator against the IVOA lyonetia ADQL corpus.

The corpus (github.com/ivoa/lyonetia, ``src/adql/**.xml``) holds queries marked
``valid="true|false"``; some files declare the UDFs their queries use (``<functions><function>
<form>NAME(...) -> TYPE</form>``), which we pass to :func:`kernel_lib.adql.validate` as declared
UDFs for the queries of that file, as a TAP service would declare its own.

Prints accepted-valid/total-valid, rejected-invalid/total-invalid and lists every disagreement
with our reason.  The corpus is not copied into the repository: pass its path.

    .venv/bin/python benchmarks/lyonetia_adql.py [CORPUS_DIR]
    (CORPUS_DIR defaults to ../shared/peers/data/lyonetia/src/adql from the repository root)
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kernel_lib.adql import AdqlError, validate  # noqa: E402


@dataclass(frozen=True)
class Case:
    file: str
    uuid: str
    valid: bool
    adql: str
    description: str
    udfs: tuple[str, ...]


def load(root: Path) -> list[Case]:
    cases = []
    for path in sorted(root.rglob("*.xml")):
        try:
            tree = ET.parse(path)
        except ET.ParseError:
            continue
        udfs = tuple(
            m.group(1)
            for form in tree.iter("form")
            if (m := re.match(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*\(", form.text or ""))
        )
        for q in tree.iter("query"):
            for a in q.iter("adql"):
                v = a.get("valid")
                if v not in ("true", "false"):
                    continue
                cases.append(
                    Case(
                        file=str(path.relative_to(root)),
                        uuid=q.get("uuid") or "",
                        valid=v == "true",
                        adql=(a.text or "").strip(),
                        description=" ".join((q.findtext("description") or "").split()),
                        udfs=udfs,
                    )
                )
    return cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", default=str(ROOT / ".." / "shared/peers/data/lyonetia/src/adql"))
    args = ap.parse_args(argv)
    root = Path(args.corpus)
    cases = load(root)
    if not cases:
        print(f"no lyonetia cases under {root}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    disagreements = []
    acc_valid = rej_invalid = 0
    for c in cases:
        try:
            validate(c.adql, udfs=c.udfs)
            accepted, reason = True, ""
        except AdqlError as e:
            accepted, reason = False, str(e)
        if accepted == c.valid:
            acc_valid += c.valid
            rej_invalid += not c.valid
        else:
            disagreements.append((c, reason))
    dt = time.perf_counter() - t0
    n_valid = sum(c.valid for c in cases)
    n_invalid = len(cases) - n_valid
    print(f"lyonetia ADQL corpus: {len(cases)} cases from {root}")
    print(f"accepted valid:   {acc_valid}/{n_valid}")
    print(f"rejected invalid: {rej_invalid}/{n_invalid}")
    print(f"agreement: {acc_valid + rej_invalid}/{len(cases)}  ({dt * 1000 / len(cases):.2f} ms/query)")
    for c, reason in disagreements:
        verdict = "valid query REJECTED" if c.valid else "invalid query ACCEPTED"
        print(f"--- {verdict}: {c.file} {c.uuid}\n    {c.description[:100]}")
        print("    " + " ".join(c.adql.split())[:200])
        if reason:
            print(f"    our reason: {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
