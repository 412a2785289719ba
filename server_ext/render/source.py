"""What ``src=`` names and the file it resolves to.

* ``file:<path>`` -- a FITS file under the Jupyter server's root directory, ``<path>`` relative to it
  as the contents API spells paths (``data/m31.fits``).  Absolute paths and ``..`` are refused, and so
  is a path whose symlinks lead outside the root; hidden files only if the contents manager allows
  them (``ContentsManager.allow_hidden``).
* ``did:<obs_publisher_did>`` -- a release image by its ObsCore ``obs_publisher_did`` (its
  ``lsst_file`` column, relative to the release's root).
* ``butler:<dataset uuid>`` -- the same files by Butler dataset id, through the release's read-only
  Butler.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import RenderError, first_line

__all__ = ["SRC_KINDS", "ButlerCache", "Resolved", "parse_src", "resolve_did", "resolve_file"]

SRC_KINDS = ("file", "did", "butler")
_MAX_SRC = 2000


@dataclass(frozen=True)
class Resolved:
    """A ``src`` resolved to a local file: ``product`` is the dataset type when known
    (``visit_image``, ``deep_coadd``); ``release`` says the file belongs to the release (immutable)."""

    src: str
    path: Path
    product: str = ""
    release: bool = False


def parse_src(src: str | None) -> tuple[str, str]:
    """``(kind, value)`` of ``src``; a :class:`RenderError` naming the kinds if it is not one."""
    if src is None or not src.strip():
        raise RenderError(
            "missing parameter src: send src=file:<path>, did:<obs_publisher_did> or butler:<uuid>"
        )
    src = src.strip()
    if len(src) > _MAX_SRC:
        raise RenderError(f"src is too long ({len(src)} characters; at most {_MAX_SRC})")
    kind, sep, value = src.partition(":")
    if not sep or kind not in SRC_KINDS:
        raise RenderError(
            f"unknown src {src[:80]!r}: use file:<path under the server's root>, did:<obs_publisher_did> "
            "or butler:<dataset uuid>"
        )
    if not value.strip():
        raise RenderError(f"src {src!r} names nothing after {kind}:")
    return kind, value.strip() if kind != "file" else value


_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def resolve_file(root: str | Path, rel: str, allow_hidden: bool = False) -> Resolved:
    """The file ``rel`` (a path relative to ``root``, '/'-separated) as an absolute path inside ``root``."""
    shown = rel[:200]
    if "\0" in rel:
        raise RenderError("file: path contains a NUL byte")
    if rel.startswith(("/", "\\", "~")) or _DRIVE.match(rel):
        raise RenderError(
            f"file:{shown}: absolute paths are refused; give the path relative to the server's root "
            "directory (as in the file browser)"
        )
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    if ".." in parts:
        raise RenderError(f"file:{shown}: '..' is not allowed in file paths")
    if not parts:
        raise RenderError("file: needs a path relative to the server's root directory")
    if not allow_hidden and any(p.startswith(".") for p in parts):
        raise RenderError(f"file:{shown}: hidden files are not served (ContentsManager.allow_hidden)", 403)
    base = Path(root).resolve()
    try:
        real = base.joinpath(*parts).resolve(strict=True)
    except FileNotFoundError:
        raise RenderError(f"file:{shown}: no such file under the server's root directory", 404) from None
    except (OSError, RuntimeError) as e:  # a symlink loop, a permission error
        raise RenderError(f"file:{shown}: cannot be opened ({first_line(e)})", 404) from None
    if real != base and base not in real.parents:
        raise RenderError(f"file:{shown}: resolves outside the server's root directory", 403)
    if not real.is_file():
        raise RenderError(f"file:{shown}: is not a file", 400)
    return Resolved(f"file:{rel}", real)


# -- release images -----------------------------------------------------------------------------------

_INDEX_LOCK = threading.Lock()
_INDEX: dict[int, tuple[Any, dict[str, tuple[str, str]]]] = {}


def _did_index(obscore: Any) -> dict[str, tuple[str, str]]:
    """``obs_publisher_did -> (lsst_file, product)`` of an ObsCore table (built once per table)."""
    with _INDEX_LOCK:
        hit = _INDEX.get(id(obscore))
        if hit is not None and hit[0] is obscore:
            return hit[1]
        names = set(obscore.column_names)
        cols = obscore.select(
            [c for c in ("obs_publisher_did", "lsst_file", "dataproduct_subtype") if c in names]
        ).to_pydict()
        subtypes = cols.get("dataproduct_subtype") or [""] * len(cols["obs_publisher_did"])
        index = {
            d: (f, (s or "").removeprefix("lsst."))
            for d, f, s in zip(cols["obs_publisher_did"], cols.get("lsst_file", []), subtypes, strict=False)
            if d and f
        }
        _INDEX.clear()
        _INDEX[id(obscore)] = (obscore, index)
        return index


def resolve_did(release: Any, obscore: Any, did: str) -> Resolved:
    """The file of the release image whose ``obs_publisher_did`` is ``did``."""
    if obscore is None:
        raise RenderError("this release has no images (no ObsCore table)", 404)
    entry = _did_index(obscore).get(did)
    if entry is None:
        raise RenderError(f"did:{did[:200]}: no such image in ObsCore", 404)
    try:
        path = Path(release.resolve(entry[0]))
    except Exception as e:  # ReleaseError: the manifest path escapes the release
        raise RenderError(f"did:{did[:200]}: {first_line(e)}", 404) from None
    return Resolved(f"did:{did}", path, entry[1], release=True)


class ButlerCache:
    """One read-only Butler per release root, created on first use (about 2 s) and shared; its
    registry is queried under a lock (a DirectButler's SQLite connection is not for threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._butlers: dict[str, Any] = {}
        self._refs: dict[tuple[str, uuid.UUID], tuple[str, str]] = {}

    def resolve(self, release: Any, text: str) -> Resolved:
        try:
            dataset_id = uuid.UUID(text)
        except ValueError:
            raise RenderError(f"butler:{text[:80]}: not a dataset UUID", 400) from None
        key = str(release.root)
        with self._lock:
            hit = self._refs.get((key, dataset_id))
            if hit is None:
                hit = self._lookup(release, key, dataset_id)
                if len(self._refs) > 10000:
                    self._refs.clear()
                self._refs[(key, dataset_id)] = hit
        return Resolved(f"butler:{dataset_id}", Path(hit[0]), hit[1], release=True)

    def _lookup(self, release: Any, key: str, dataset_id: uuid.UUID) -> tuple[str, str]:
        butler = self._butlers.get(key)
        if butler is None:
            try:
                butler = release.get_butler()
            except Exception as e:  # no Butler repo, a broken one
                raise RenderError(f"the release's Butler cannot be opened: {first_line(e)}", 503) from None
            self._butlers.clear()
            self._butlers[key] = butler
        try:
            ref = butler.get_dataset(dataset_id)
        except Exception as e:
            raise RenderError(f"butler:{dataset_id}: {first_line(e)}", 404) from None
        if ref is None:
            raise RenderError(f"butler:{dataset_id}: no such dataset in the release's Butler", 404)
        try:
            uri = butler.getURI(ref)
        except Exception as e:  # no artifact, a disassembled composite
            msg = f"butler:{dataset_id}: no file for this dataset ({first_line(e)})"
            raise RenderError(msg, 404) from None
        if uri.scheme not in ("file", ""):
            raise RenderError(f"butler:{dataset_id}: its file is not local ({uri})", 400)
        return str(uri.ospath), str(ref.datasetType.name)
