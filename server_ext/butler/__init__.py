"""daf_butler's own Butler server (``RemoteButler``'s server side) behind the box's authentication.

The release's Butler repository is served by daf_butler's real FastAPI Butler server, run as a
managed subprocess on a unix socket in a private folder (:mod:`.process`), started on the first
request.  The Jupyter server proxies ``/lsstbox/butler/repo/box/...`` to it once Jupyter's
authentication has passed (:mod:`.handlers`), so daf_butler's own client works against the box::

    import os
    os.environ["BUTLER_RUBIN_ACCESS_TOKEN"] = "<the Jupyter token>"
    from lsst.daf.butler import Butler
    butler = Butler("http://127.0.0.1:8888/lsstbox/butler/repo/box", collections="LSSTComCamSim/DP1")

(:mod:`.client` has the kernel-side helpers).  This package's ``__init__`` imports nothing heavy:
kernels import :mod:`.client` without tornado or the server.
"""

from __future__ import annotations

__all__: list[str] = []
