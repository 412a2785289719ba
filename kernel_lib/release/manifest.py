"""The release manifest: what a release holds and where, and the :class:`Release` that reads it.

``manifest.json`` sits at the root of a release.  Paths in it are relative to the manifest's
folder, or absolute for a release built elsewhere (an existing HATS catalog or Butler repo can
be described by hand: only ``format``, ``name`` and the sections you have are required).
Opening a release checks that everything the manifest names exists, so a broken or
half-written release fails at once with one clear line instead of deep inside a query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST_NAME", "Release", "ReleaseError"]

FORMAT = "lsstbox-release"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


class ReleaseError(ValueError):
    """A release that cannot be used; the message is one line saying why."""


@dataclass
class Release:
    """A data release on disk, described by its manifest."""

    root: Path
    manifest: dict[str, Any] = field(repr=False)

    @classmethod
    def open(cls, path: str | Path) -> Release:
        """Open the release at ``path`` (its folder or its ``manifest.json``) and check it."""
        p = Path(path).expanduser()
        mpath = p if p.name == MANIFEST_NAME or p.is_file() else p / MANIFEST_NAME
        if not mpath.exists():
            raise ReleaseError(f"no release at {p}: {MANIFEST_NAME} not found")
        try:
            manifest = json.loads(mpath.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ReleaseError(f"unreadable manifest {mpath}: {e}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ReleaseError(f"{mpath} is not an lsstbox release manifest (format != {FORMAT!r})")
        if manifest.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
            raise ReleaseError(
                f"{mpath} has format_version {manifest['format_version']}; this lsstbox reads up to "
                f"{FORMAT_VERSION}"
            )
        rel = cls(mpath.parent.resolve(), manifest)
        rel.check()
        return rel

    # -- paths ---------------------------------------------------------------------------------
    def resolve(self, rel: str) -> Path:
        """An absolute path for a manifest path; refuses paths escaping a relative root."""
        p = Path(rel)
        if p.is_absolute():
            return p
        full = (self.root / p).resolve()
        if self.root not in full.parents and full != self.root:
            raise ReleaseError(f"manifest path {rel!r} escapes the release folder")
        return full

    def check(self) -> None:
        """Raise :class:`ReleaseError` naming the first thing the manifest points at that is missing."""
        for what, rel in self._referenced_paths():
            if not self.resolve(rel).exists():
                raise ReleaseError(f"manifest points at a missing file: {rel} ({what})")

    def _referenced_paths(self):
        for name, cat in self.catalogs.items():
            yield f"catalog {name}", cat["path"]
            if cat.get("margin"):
                yield f"margin of catalog {name}", cat["margin"]
        if self.butler:
            yield "Butler repository", self.butler["root"]
        if self.manifest.get("obscore"):
            yield "ObsCore table", self.manifest["obscore"]["path"]
        for h in self.hips:
            yield f"HiPS {h['id']}", h["path"]
        for m in self.mocs:
            yield f"MOC {m['id']}", m["path"]

    # -- contents ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.root.name))

    @property
    def catalogs(self) -> dict[str, dict[str, Any]]:
        return dict(self.manifest.get("catalogs", {}))

    @property
    def hips(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("hips", []))

    @property
    def mocs(self) -> list[dict[str, Any]]:
        """The MOCs of the catalogs and image collections (empty for a release built before them)."""
        return list(self.manifest.get("mocs", []))

    @property
    def butler(self) -> dict[str, Any] | None:
        return self.manifest.get("butler")

    def catalog_path(self, name: str) -> Path:
        try:
            return self.resolve(self.catalogs[name]["path"])
        except KeyError:
            known = ", ".join(sorted(self.catalogs)) or "none"
            raise ReleaseError(f"no catalog {name!r} in release {self.name} (known: {known})") from None

    def get_butler(self) -> Any:
        """A read-only ``lsst.daf.butler.Butler`` on the release's repository, default collection set.

        Examples
        --------
        >>> butler = Release.open(path).get_butler()  # doctest: +SKIP
        >>> butler.query_datasets("deep_coadd", where="band = 'r'")  # doctest: +SKIP
        """
        from lsst.daf.butler import Butler

        if not self.butler:
            raise ReleaseError(f"release {self.name} has no Butler repository")
        collections = self.butler.get("collections") or None
        root = str(self.resolve(self.butler["root"]))
        return Butler.from_config(root, collections=collections, writeable=False)

    def summary(self, base_url: str = "/") -> dict[str, Any]:
        """The JSON the frontend's release panel shows (see ``js/src/tokens.ts``)."""
        base = base_url.rstrip("/")
        m = self.manifest
        cats = [
            {
                "name": name,
                "rows": c.get("rows", 0),
                "columns": len(c.get("columns", [])),
                "partitions": c.get("partitions", 0),
                "description": c.get("description", ""),
                "path": c["path"],
            }
            for name, c in self.catalogs.items()
        ]
        images = [
            {"kind": kind, "count": i.get("count", 0), "bands": i.get("bands", [])}
            for kind, i in m.get("images", {}).items()
        ]
        hips = [
            {
                "id": h["id"],
                "title": h.get("title", h["id"]),
                "band": h.get("band", ""),
                "url": f"{base}/lsstbox/hips/{h['id']}/",
            }
            for h in self.hips
        ]
        mocs = [
            {
                "id": mo["id"],
                "title": mo.get("title", mo["id"]),
                "kind": mo.get("kind", ""),
                "band": mo.get("band", ""),
                "order": mo.get("order"),
                "sky_fraction": mo.get("sky_fraction"),
                "url": f"{base}/lsstbox/moc/{mo['id']}.fits",
            }
            for mo in self.mocs
        ]
        services = [
            {"name": "Release manifest", "url": f"{base}/lsstbox/api/release", "status": "ok"},
        ]
        if hips:
            services.append({"name": "HiPS", "url": f"{base}/lsstbox/hips/", "status": "ok"})
        if mocs:
            services.append({"name": "MOC", "url": f"{base}/lsstbox/moc/", "status": "ok"})
        butler = None
        if self.butler:
            butler = {
                "root": self.butler["root"],
                "collections": self.butler.get("collections", []),
                "datasets": self.butler.get("datasets", {}),
            }
        return {
            "name": self.name,
            "profile": m.get("profile", ""),
            "seed": m.get("seed"),
            "created": m.get("created", ""),
            "root": str(self.root),
            "field": m.get("field", {}),
            "catalogs": cats,
            "images": images,
            "hips": hips,
            "mocs": mocs,
            "butler": butler,
            "services": services,
        }
