"""The Butler server behind a Jupyter server with a base URL (pytest-jupyter's ``/a%40b/``):
file URLs point at this server's files endpoint under its base URL, as the client reached it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lsst.daf.butler import Butler

from kernel_lib.release.butler_repo import COLLECTION


async def test_file_urls_follow_the_base_url(jp_fetch: Any, jp_base_url: str, tiny_release: Path) -> None:
    direct = Butler.from_config(str(tiny_release / "butler"), collections=COLLECTION)
    ref = direct.query_datasets("object", limit=1)[0]
    r = await jp_fetch("lsstbox", "butler", "repo", "box", "v1", "get_file", str(ref.id))
    (info,) = json.loads(r.body)["artifact"]["file_info"]
    host = r.effective_url.split("/")[2]
    assert info["url"].startswith(f"http://{host}{jp_base_url}lsstbox/files/")
    assert info["auth"] == "gafaelfawr"
    path = info["url"].removeprefix(f"http://{host}{jp_base_url}")
    data = await jp_fetch(*path.split("/"))
    assert data.body.startswith(b"PAR1")  # the Parquet file, through the authenticated endpoint
    index = json.loads((await jp_fetch("lsstbox", "butler")).body)
    assert index["repositories"]["box"]["url"] == f"http://{host}{jp_base_url}lsstbox/butler/repo/box"
