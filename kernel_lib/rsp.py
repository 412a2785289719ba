"""Helpers with the names of ``lsst.rsp``'s, pointed at the box's services.

A notebook written for the Rubin Science Platform runs unchanged::

    from jupyterlab_lsp import get_tap_service, retrieve_query
    service = get_tap_service("tap")
    job = service.submit_job("SELECT TOP 10 * FROM dp1.Object")

    from jupyterlab_lsp import get_siav2_service, get_datalink_result, get_pyvo_auth
    sia = get_siav2_service("dp1")
    images = sia.search(pos=(53.16, -28.1, 0.01), calib=3)
    dl = get_datalink_result(images[0])
    cutout = SodaQuery.from_resource(dl, dl.get_adhocservice_by_id("cutout-sync"),
                                     session=get_pyvo_auth())

The service is found from ``$LSSTBOX_TAP_URL`` (and ``$LSSTBOX_TOKEN``), else from the Jupyter
server this kernel belongs to (``jupyter_server.serverapp.list_running_servers``: the one whose
root folder holds the working directory, else the most recent); the token goes into the HTTP
session's ``Authorization`` header, so the user never handles it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ServerInfo",
    "find_server",
    "get_datalink_result",
    "get_pyvo_auth",
    "get_query_history",
    "get_siav2_service",
    "get_tap_service",
    "retrieve_query",
]


@dataclass(frozen=True)
class ServerInfo:
    tap_url: str
    token: str

    @property
    def base_url(self) -> str:
        """The box's URL namespace (``<server>/lsstbox``)."""
        return self.tap_url.rstrip("/").removesuffix("/tap")


def find_server() -> ServerInfo:
    """The box's TAP URL and token (see the module docstring); ``RuntimeError`` if none."""
    url = os.environ.get("LSSTBOX_TAP_URL")
    if url:
        return ServerInfo(url.rstrip("/"), os.environ.get("LSSTBOX_TOKEN", ""))
    from jupyter_server.serverapp import list_running_servers

    servers = list(list_running_servers())
    if not servers:
        raise RuntimeError(
            "no running Jupyter server found and LSSTBOX_TAP_URL is not set; start one with "
            "`lsstbox lab` or set LSSTBOX_TAP_URL (and LSSTBOX_TOKEN)"
        )
    cwd = Path.cwd().resolve()

    def holds(s: dict[str, Any]) -> bool:
        root = Path(str(s.get("root_dir") or s.get("notebook_dir") or "/")).resolve()
        return cwd == root or root in cwd.parents

    mine = [s for s in servers if holds(s)] or servers
    best = max(mine, key=lambda s: int(s.get("pid", 0)))
    return ServerInfo(str(best["url"]).rstrip("/") + "/lsstbox/tap", str(best.get("token", "")))


def _session(token: str) -> Any:
    import requests

    s = requests.Session()
    if token:
        s.headers["Authorization"] = f"token {token}"
    return s


def get_tap_service(name: str = "tap") -> Any:
    """A ``pyvo.dal.TAPService`` for the release's catalogs (``name``: "tap", as on the RSP;
    "ssotap"/"live" have no counterpart in the box and raise ``ValueError``)."""
    import pyvo

    if name not in ("tap", "TAP"):
        raise ValueError(f"the box has one TAP service, 'tap'; there is no {name!r}")
    info = find_server()
    return pyvo.dal.TAPService(info.tap_url, session=_session(info.token))


def retrieve_query(query_url: str) -> Any:
    """The ``pyvo.dal.AsyncTAPJob`` at ``query_url`` (a job URL from the history)."""
    import pyvo

    return pyvo.dal.AsyncTAPJob(query_url, session=_session(find_server().token))


def get_query_history(n: int | None = None) -> list[str]:
    """The URLs of this user's async TAP jobs, most recent first (at most ``n``)."""
    import xml.etree.ElementTree as ET

    info = find_server()
    params = {"LAST": str(n)} if n is not None else {}
    r = _session(info.token).get(f"{info.tap_url}/async", params=params, timeout=60)
    r.raise_for_status()
    root = ET.fromstring(r.content)
    out = []
    for ref in root.iter("{http://www.ivoa.net/xml/UWS/v1.0}jobref"):
        href = ref.get("{http://www.w3.org/1999/xlink}href") or f"{info.tap_url}/async/{ref.get('id')}"
        out.append(href)
    return out


def get_pyvo_auth() -> Any:
    """An HTTP session carrying the box's token, for pyvo calls that take ``session=`` (as
    ``lsst.rsp.get_pyvo_auth`` gives an authenticated session on the RSP)."""
    return _session(find_server().token)


def get_siav2_service(label: str = "dp1") -> Any:
    """A ``pyvo.dal.SIA2Service`` over the release's images (``label``: "dp1", as on the RSP)."""
    from pyvo.dal.sia2 import SIA2Service

    if label.lower() not in ("dp1", "lsstbox"):
        raise ValueError(f"the box serves one image collection, 'dp1'; there is no {label!r}")
    info = find_server()
    return SIA2Service(f"{info.base_url}/sia", session=_session(info.token))


def get_datalink_result(record: Any) -> Any:
    """The ``pyvo.dal.adhoc.DatalinkResults`` of one SIA/ObsCore result row (its DataLink
    links: ``#this``, ``#cutout`` with the ``cutout-sync`` descriptor, ``#progenitor``)."""
    from pyvo.dal.adhoc import DatalinkResults

    session = _session(find_server().token)
    url = None
    try:
        url = record["access_url"]
    except (KeyError, TypeError, IndexError):
        url = getattr(record, "access_url", None)
    if not url:
        raise ValueError("this record has no access_url: pass a row of an SIA or ivoa.ObsCore result")
    url = url.decode() if isinstance(url, bytes) else str(url)
    return DatalinkResults.from_result_url(url, session=session)
