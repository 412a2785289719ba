"""Notebook helpers for the UI tests (a plain module: test modules import it by name, like
``browser_flags``): write a notebook through the contents API, run a cell from the page, read
a cell's JSON output, and tell the release's sky from a blank canvas (``wait_for_sky``)."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import numpy as np
import requests

DONE = re.compile(r"\[\d+\]")


def notebook(cells: list[str]) -> dict:
    return {
        "cells": [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}
            for src in cells
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def put_notebook(lab_server, name: str, cells: list[str]) -> None:
    put_notebook_content(lab_server, name, notebook(cells))


def put_notebook_content(lab_server, name: str, content: dict) -> None:
    """Write a whole notebook (nbformat JSON, e.g. a file's) as ``name`` in the server's root."""
    r = requests.put(
        f"{lab_server.url}api/contents/{name}",
        headers={"Authorization": f"token {lab_server.token}"},
        json={"type": "notebook", "format": "json", "content": content},
        timeout=30,
    )
    assert r.status_code in (200, 201), r.text


def get_notebook(lab_server, name: str) -> dict:
    """The notebook ``name`` as saved on the server (nbformat JSON)."""
    r = lab_server.api(f"api/contents/{name}?type=notebook&content=1")
    assert r.status_code == 200, r.text
    return r.json()["content"]


def pixel_stats(png: bytes) -> dict[str, float]:
    """Is a screenshot blank? Its number of distinct colours (quantised to 4096 cells), the share
    of its most common colour, and the spread of its luminance."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int32)
    q = img // 16
    keys = ((q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]).ravel()
    _, counts = np.unique(keys, return_counts=True)
    return {
        "colours": len(counts),
        "modal": float(counts.max() / keys.size),
        "std": float(img.mean(axis=2).std()),
    }


def run_cell(page, index: int, timeout: float = 120_000, notebook_name: str | None = None) -> object:
    """Run cell ``index`` (Shift+Enter) and wait until the kernel has finished it.

    With ``notebook_name``, the notebook's tab is activated first (another panel may be in front).
    """
    from playwright.sync_api import expect

    if notebook_name:
        page.locator(f'.lm-DockPanel-tabBar .lm-TabBar-tab[title*="{notebook_name}"]').first.click()
    cell = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputArea-prompt")
    before = prompt.inner_text()
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    expect(prompt).not_to_have_text(before, timeout=10_000)  # "[*]:" (or done already)
    expect(prompt).to_have_text(DONE, timeout=timeout)
    return cell


def cell_json(page, index: int, notebook_name: str | None = None) -> dict:
    cell = run_cell(page, index, notebook_name=notebook_name)
    text = cell.locator(".jp-OutputArea-output").last.inner_text()
    return json.loads(text)


def sky_pixels(png: bytes) -> dict[str, float]:
    """Statistics of a screenshot of a sky view: is it the release's sky (a dark background with
    bright sources), not Aladin's flat grey (rgb 60,60,60) with overlays on it?"""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int32)
    h, w, _ = img.shape
    core = img[h // 8 : -h // 8, w // 8 : -w // 8]  # away from Aladin's controls
    q = core // 16  # 4096 colour cells: a noise-free count
    keys = (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]
    return {
        "colours": len(np.unique(keys)),
        "dark": float((core.max(axis=2) < 40).mean()),  # sky background
        "bright": int((core.min(axis=2) > 170).sum()),  # stars and galaxy cores
    }


def wait_for_sky(page, view, timeout: float = 60) -> dict[str, float]:
    """Screenshots of ``view`` until it shows the release's sky (many colours, a dark background,
    bright sources); fails with the last statistics if it never does."""
    stats: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = sky_pixels(view.screenshot())
        if stats["colours"] > 200 and stats["dark"] > 0.5 and stats["bright"] > 50:
            return stats
        page.wait_for_timeout(500)
    raise AssertionError(f"no sky drawn in {timeout} s: {stats}")


def palette_command(page, text: str, command: str) -> None:
    """Run ``command`` from JupyterLab's command palette, found by typing ``text``."""
    from playwright.sync_api import expect

    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette")
    expect(palette).to_be_visible()
    palette.locator("input").fill(text)
    palette.locator(f'.lm-CommandPalette-item[data-command="{command}"]').click()


def replace_query(page, panel, text: str) -> None:
    """Replace the text of an ADQL editor (``panel``) by ``text``."""
    from playwright.sync_api import expect

    content = panel.locator(".cm-content")
    content.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    expect(content).to_have_text(text)


def colour_pixels(png: bytes, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    """How many pixels of a screenshot are within ``tolerance`` (per channel) of ``rgb``."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int32)
    return int((np.abs(img - np.asarray(rgb, dtype=np.int32)).max(axis=2) <= tolerance).sum())


def open_notebook(page, lab_server, name: str, timeout: float = 60_000) -> None:
    """Open the notebook ``name`` (in the server's root) in a fresh layout; once its kernel is idle."""
    from playwright.sync_api import expect

    page.goto(f"{lab_server.url}lab/tree/{name}?reset&token={lab_server.token}")
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=timeout)


def tap_csv(lab_server, query: str) -> tuple[list[str], list[list[str]]]:
    """An ADQL query through the box's TAP sync endpoint: the CSV header and rows."""
    r = requests.post(
        f"{lab_server.url}lsstbox/tap/sync",
        headers={"Authorization": f"token {lab_server.token}"},
        data={"LANG": "ADQL", "RESPONSEFORMAT": "csv", "QUERY": query},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    header, *rows = list(csv.reader(io.StringIO(r.text.strip())))
    return [h.strip().lstrip("\ufeff") for h in header], rows


def dock_right(page, tab_title: str) -> None:
    """Drag the main-area tab titled ``tab_title`` to the right edge of the main dock panel, as a
    user does to see two documents side by side (the panel then fills the right part)."""
    dock_tab_right(page, page.locator(f'.lm-DockPanel-tabBar .lm-TabBar-tab[title="{tab_title}"]'))


def dock_tab_right(page, tab) -> None:
    """Drag the main-area ``tab`` (a locator) to the right edge of the main dock panel."""
    start = tab.bounding_box()
    dock = page.locator("#jp-main-dock-panel").bounding_box()
    assert start is not None and dock is not None
    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y + 30, steps=5)  # past Lumino's drag threshold
    page.mouse.move(dock["x"] + dock["width"] - 10, dock["y"] + dock["height"] / 2, steps=10)
    page.mouse.up()


def poll(what: str, fn, timeout: float = 60.0, every: float = 0.2):
    """``fn()`` until it returns something truthy (returned); fails with ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {value!r})")
