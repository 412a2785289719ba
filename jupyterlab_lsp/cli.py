"""The ``lsstbox`` command.

``lsstbox release build --profile {tiny,demo,large} --out DIR [--seed N]``
    build a data release.
``lsstbox release check DIR``
    open a release and check everything its manifest points at.
``lsstbox release info DIR``
    print the release summary as JSON.
``lsstbox lab [--release DIR] [jupyter lab options...]``
    launch JupyterLab on a release (the demo release is built on first use).
``lsstbox notebooks test [PATHS...] [--update] [--start | --url URL --token TOKEN] ...``
    run notebooks headless and compare their outputs with the stored expected outputs
    (:mod:`jupyterlab_lsp.nbtest`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

__all__ = ["default_release_dir", "main", "resolve_release"]


def default_release_dir() -> Path:
    """Where the demo release lives when none is configured: ``$LSSTBOX_HOME/releases/demo``."""
    home = Path(os.environ.get("LSSTBOX_HOME", Path.home() / ".local" / "share" / "lsstbox"))
    return home / "releases" / "demo"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lsstbox", description="The LSST science platform in a box.")
    sub = p.add_subparsers(dest="cmd", required=True)
    rel = sub.add_parser("release", help="build and inspect data releases")
    rsub = rel.add_subparsers(dest="rcmd", required=True)
    b = rsub.add_parser("build", help="build a release")
    b.add_argument("--profile", default="demo", help="tiny (tests), demo (default) or large (benchmarks)")
    b.add_argument("--out", required=True, type=Path, help="an empty or missing directory")
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--workers", type=int, default=None, help="processes for rendering (default: 2)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    c = rsub.add_parser("check", help="check a release")
    c.add_argument("path", type=Path)
    i = rsub.add_parser("info", help="print a release's summary as JSON")
    i.add_argument("path", type=Path)
    lab = sub.add_parser("lab", help="launch JupyterLab on a release")
    lab.add_argument("--release", type=Path, default=None, help="release folder (default: the demo)")
    nb = sub.add_parser("notebooks", help="notebook regression tests")
    nsub = nb.add_subparsers(dest="ncmd", required=True)
    nsub.add_parser(
        "test",
        add_help=False,
        help="run notebooks and compare their outputs with the expected ones "
        "(`lsstbox notebooks test -h` for its options)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["notebooks", "test"]:
        from .nbtest import main as nbtest_main

        try:
            return nbtest_main(argv[2:])
        except KeyboardInterrupt:
            print("lsstbox: interrupted", file=sys.stderr)
            return 130
    args, rest = _parser().parse_known_args(argv)
    try:
        if args.cmd == "release":
            if rest:
                raise SystemExit(f"lsstbox: unrecognised arguments: {' '.join(rest)}")
            return _release(args)
        if args.cmd == "notebooks":  # `test` is handled above; argparse rejects anything else
            return 2
        return _lab(args.release, rest)
    except KeyboardInterrupt:
        print("lsstbox: interrupted; nothing was left half-written", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError) as e:
        print(f"lsstbox: error: {e}", file=sys.stderr)
        return 2


def _release(args: argparse.Namespace) -> int:
    from kernel_lib.release.builder import build_release
    from kernel_lib.release.manifest import Release

    if args.rcmd == "build":
        out = build_release(
            args.profile, args.out, seed=args.seed, workers=args.workers, progress=not args.no_progress
        )
        rel = Release.open(out)
        secs = rel.manifest.get("build", {}).get("seconds", {}).get("total")
        size = rel.manifest.get("build", {}).get("bytes", 0)
        print(f"built {rel.name} in {out} ({secs} s, {size / 1e6:.0f} MB)")
        return 0
    rel = Release.open(args.path)
    if args.rcmd == "check":
        print(f"ok: {rel.name} ({len(rel.catalogs)} catalogs, {len(rel.hips)} HiPS) at {rel.root}")
    else:
        print(json.dumps(rel.summary(), indent=1))
    return 0


def resolve_release(release: Path | None) -> Path:
    """The release ``lsstbox lab`` serves: ``release``, else ``$LSSTBOX_RELEASE``, else the demo
    release of :func:`default_release_dir` (built there on first use)."""
    from kernel_lib.release.builder import build_release
    from kernel_lib.release.manifest import MANIFEST_NAME

    if release is None:
        release = Path(os.environ["LSSTBOX_RELEASE"]) if os.environ.get("LSSTBOX_RELEASE") else None
    if release is None:
        release = default_release_dir()
        if not (release / MANIFEST_NAME).exists():
            print(f"lsstbox: building the demo release in {release} (first use)", file=sys.stderr)
            release.parent.mkdir(parents=True, exist_ok=True)
            build_release("demo", release)
    return release


def _lab(release: Path | None, rest: list[str]) -> int:
    release = resolve_release(release)
    os.environ["LSSTBOX_RELEASE"] = str(release)
    from jupyterlab.labapp import LabApp

    argv = list(rest)
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in argv:
        argv.append("--allow-root")
    LabApp.launch_instance(argv=argv)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
