"""Kernel side: daf_butler's own client (``RemoteButler``) on the box's Butler server.

The box serves the release's Butler repository at ``<jupyter base URL>/lsstbox/butler/repo/box``
(:func:`remote_butler_url`).  daf_butler's client reads its access token from the environment:
``BUTLER_RUBIN_ACCESS_TOKEN`` (sent to any server; ``ACCESS_TOKEN`` is only sent to Rubin's own
hosts), and the box accepts the Jupyter token there.  The release's images use the storage class
``ExposureFits``, which a remote client must know before ``get``: :func:`register_storage_classes`
(or ``DAF_BUTLER_CONFIG_PATH`` pointing at :func:`storage_class_config_dir`) defines it.  So::

    import os
    os.environ["BUTLER_RUBIN_ACCESS_TOKEN"] = "<the Jupyter token>"
    from server_ext.butler.client import register_storage_classes, remote_butler_url
    register_storage_classes()
    from lsst.daf.butler import Butler
    butler = Butler(remote_butler_url("http://127.0.0.1:8888/"), collections="LSSTComCamSim/DP1")
    refs = butler.query_datasets("visit_image", where="visit_detector_region.region OVERLAPS "
                                 "POINT(ra, dec)", bind={"ra": 53.1, "dec": -28.1})
    image = butler.get(refs[0], parameters={"bbox": (100, 100, 50, 50)})

or, in a kernel of the box's Jupyter server (the server and its token are found as
:func:`kernel_lib.rsp.find_server` finds them: ``$LSSTBOX_TAP_URL``/``$LSSTBOX_TOKEN``, else the
running Jupyter server), simply ``butler = make_remote_butler()``.

Files are downloaded over HTTP through the box (``/lsstbox/files/...``) with the same token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "DATASTORE_SENTINEL",
    "REPOSITORY",
    "SENTINEL_ORIGIN",
    "TOKEN_ENV",
    "make_remote_butler",
    "register_storage_classes",
    "remote_butler_url",
    "storage_class_config_dir",
]

#: the repository label: ``/lsstbox/butler/repo/<REPOSITORY>``
REPOSITORY = "box"
#: where daf_butler's client looks for its token first (sent to any server)
TOKEN_ENV = "BUTLER_RUBIN_ACCESS_TOKEN"
#: origin of the file URLs inside the Butler server; the proxy rewrites it to the box's URL
SENTINEL_ORIGIN = "http://lsstbox.invalid/"
#: the Butler server's datastore root: the box's files endpoint under the sentinel origin
DATASTORE_SENTINEL = SENTINEL_ORIGIN + "lsstbox/files/"


def remote_butler_url(base_url: str) -> str:
    """The Butler server's URL for a Jupyter server at ``base_url`` (e.g. ``http://host:8888/``
    or ``https://hub/user/me/``): what ``Butler(...)`` takes."""
    return base_url.rstrip("/") + f"/lsstbox/butler/repo/{REPOSITORY}"


def storage_class_config_dir() -> Path:
    """A folder holding ``storageClasses.yaml`` with the release's storage classes: put it in
    ``DAF_BUTLER_CONFIG_PATH`` (before daf_butler is first used) instead of calling
    :func:`register_storage_classes`."""
    return Path(__file__).parent / "config"


def register_storage_classes() -> None:
    """Define the release's storage classes (``ExposureFits`` & co.) in this process's
    ``StorageClassFactory``; idempotent.  A ``DirectButler`` on the repository does this itself
    (they are in the repository's ``butler.yaml``); a ``RemoteButler`` does not."""
    from lsst.daf.butler import StorageClassConfig, StorageClassFactory

    from kernel_lib.release.formatters import STORAGE_CLASSES

    factory = StorageClassFactory()
    if all(name in factory for name in STORAGE_CLASSES):
        return
    factory.addFromConfig(StorageClassConfig({"storageClasses": STORAGE_CLASSES}))


def make_remote_butler(
    base_url: str | None = None,
    token: str | None = None,
    collections: str | list[str] | None = None,
    **kwargs: Any,
) -> Any:
    """A ``RemoteButler`` on the box's Butler server (default collection: the release's
    ``LSSTComCamSim/DP1``).  ``base_url`` and ``token``: the Jupyter server's, found as
    :func:`kernel_lib.rsp.find_server` finds them when not given.  ``kwargs``: default data ID
    values, as for ``Butler(...)``."""
    from lsst.daf.butler import LabeledButlerFactory

    from kernel_lib.release.butler_repo import COLLECTION

    if base_url is None or token is None:
        from kernel_lib.rsp import find_server

        info = find_server()
        base_url = base_url or info.base_url.removesuffix("/lsstbox")
        token = token if token is not None else info.token
    register_storage_classes()
    factory = LabeledButlerFactory({REPOSITORY: remote_butler_url(base_url)})
    butler = factory.create_butler(label=REPOSITORY, access_token=token)
    return butler.clone(
        collections=collections if collections is not None else COLLECTION, dataId=kwargs or ...
    )
