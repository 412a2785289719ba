"""``python -m kernel_lib.adql.check [--udf NAME ...] [--udf-prefix P ...]``: is stdin valid ADQL 2.1?

Exit status 0 if the query on standard input is accepted, 1 (with the reason on standard error)
if not.  ``--udf`` declares a service's user-defined function; undeclared functions whose names
start with an ``--udf-prefix`` (default ``ivo_``) are accepted too.
"""

from __future__ import annotations

import argparse
import sys

from .errors import AdqlError
from .validate import DEFAULT_UDF_PREFIXES, validate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kernel_lib.adql.check", description=__doc__)
    ap.add_argument("--udf", action="append", default=[], help="a declared UDF name (repeatable)")
    ap.add_argument(
        "--udf-prefix", action="append", default=None, help="accept undeclared UDFs with this prefix"
    )
    args = ap.parse_args(argv)
    query = sys.stdin.read()
    prefixes = tuple(args.udf_prefix) if args.udf_prefix is not None else DEFAULT_UDF_PREFIXES
    try:
        validate(query, udfs=args.udf, udf_prefixes=prefixes)
    except AdqlError as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
