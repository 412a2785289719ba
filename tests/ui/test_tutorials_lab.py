"""Every tutorial (``docs/tutorials/*.ipynb``), run as a user runs it: opened in a real JupyterLab,
Run > Run All Cells, in chromium with no host but the Jupyter server resolving (no CDN, whatever
the network). ``tests/test_tutorials.py`` checks their text outputs headless; this checks what is
drawn:

* every code cell ran (an execution count) and none has an error output (else: the cell and its
  traceback);
* every output holding a holoviews/bokeh bundle (``application/vnd.holoviews_exec.v0+json`` or
  ``application/vnd.bokehjs_exec.v0+json``, in the notebook as saved from the lab) has a BokehJS
  root view in its cell (panel's invisible ``BrowserInfo`` root aside), whose figures all hold
  data and draw something in their frames on screen (pixels not of the background colour);
* every widget output (``application/vnd.jupyter.widget-view+json``) is one of the box's widgets
  and shows something: a SkyView the release's sky, an ImageView a ready, non-flat image, a
  TableView a grid with its rows;
* every image output (matplotlib) is a decoded, non-empty ``<img>``;
* no uncaught error in the page.

The notebooks are copied into the lab server's root and run there: the kernel finds the release
through ``$LSSTBOX_RELEASE`` and the server (TAP, SIA, Butler) as a running Jupyter server, as in
the lab. Screenshots: ``test-results/tutorial-NN.png`` (the notebook at its first drawn output)
and ``tutorial-NN-cellK-*.png`` (each drawn output); the notebook as saved, ``tutorial-NN.ipynb``.
Each test prints its wall time.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from lab_notebook import get_notebook, open_notebook, pixel_stats, poll, put_notebook_content, wait_for_sky

pytestmark = pytest.mark.ui

TUTORIALS = sorted((Path(__file__).resolve().parents[2] / "docs" / "tutorials").glob("*.ipynb"))

LOAD_TIMEOUT = 60_000  # ms
RUN_TIMEOUT = 600.0  # s, for a whole notebook
WAIT = 60.0  # s, for polls
INK = 20  # pixels drawn in a plot's frame, at least

# Aladin Lite needs WebGL2 (see conftest.browser_context); no host but the Jupyter server
# resolves, so that a CDN (BokehJS, panel's stylesheets, Aladin's surveys) is never contacted
CHROMIUM_EXTRA_ARGS = [
    "--enable-unsafe-swiftshader",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
VIEWPORT = {"width": 1800, "height": 1000}

BOKEH_MIMES = ("application/vnd.holoviews_exec.v0+json", "application/vnd.bokehjs_exec.v0+json")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
IMAGE_MIMES = ("image/png", "image/jpeg")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

NOTEBOOK_JS = "[...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null)"

# The notebook's progress: how many cells, the code cells' prompts, the kernel's status.
PROGRESS = f"""() => {{
  const nb = {NOTEBOOK_JS};
  if (!nb) return null;
  const cells = [...nb.querySelectorAll('.jp-Notebook .jp-Cell')];
  const prompts = cells.filter(c => c.classList.contains('jp-CodeCell'))
    .map(c => c.querySelector('.jp-InputArea-prompt').textContent.trim());
  const status = document.querySelector('#jp-main-statusbar').textContent;
  return {{cells: cells.length, prompts, idle: /\\| Idle/.test(status)}};
}}"""

# BokehJS's root views in the notebook: for each, the index of its cell, and its figures (how many
# data rows their glyphs hold). The figure views are kept in window.__tutorialFigures.
BOKEH_VIEWS = f"""() => {{
  const nb = {NOTEBOOK_JS};
  const cells = [...nb.querySelectorAll('.jp-Notebook .jp-Cell')];
  const figures = window.__tutorialFigures = [];
  const roots = [];
  const index = (window.Bokeh && window.Bokeh.index) || {{}};
  const all = Array.isArray(index.roots) ? index.roots : Object.values(index).filter(v => v && v.model);
  for (const root of all) {{
    const cell = root.el instanceof Element ? root.el.closest('.jp-Cell') : null;
    const mine = [];
    const walk = v => {{
      if (v.model.type === 'Figure' || v.model.type === 'Plot') {{
        const rows = v.model.renderers.filter(r => r.type === 'GlyphRenderer')
          .map(r => r.data_source.get_length() || 0);
        mine.push({{figure: figures.length, rows: rows.reduce((a, b) => a + b, 0),
                    title: v.model.title ? String(v.model.title.text) : ''}});
        figures.push(v);
      }}
      for (const c of v.children()) walk(c);
    }};
    walk(root);
    roots.push({{cell: cell ? cells.indexOf(cell) : -1, type: root.model && root.model.type, figures: mine}});
  }}
  return roots;
}}"""

# A figure of window.__tutorialFigures scrolled into view; its frame's box on the page.
FIGURE_FRAME = """i => {
  const v = window.__tutorialFigures[i];
  v.el.scrollIntoView({block: 'center'});
  const el = v.canvas_view.events_el.getBoundingClientRect();
  const f = v.frame.bbox;
  return {x: el.left + f.left, y: el.top + f.top, width: f.width, height: f.height};
}"""


def _poll(what: str, fn: Callable[[], Any], timeout: float = WAIT) -> Any:
    return poll(what, fn, timeout)


def _mimes(cell: dict) -> set[str]:
    return {m for o in cell.get("outputs", []) for m in o.get("data", {})}


def _is_plot(output: dict) -> bool:
    """A holoviews/bokeh plot: an exec bundle naming its root, which is not panel's invisible
    ``BrowserInfo`` (displayed, with the comm manager, when holoviews loads its extension)."""
    data, meta = output.get("data", {}), output.get("metadata", {})
    if BOKEH_MIMES[1] in data:
        return True
    root = (meta.get(BOKEH_MIMES[0]) or {}).get("id")
    if BOKEH_MIMES[0] not in data or not root:
        return False
    html = data.get("text/html", "")
    html = "".join(html) if isinstance(html, list) else html
    name = re.search(rf'"name":"([^"]+)","id":"{re.escape(root)}"', html)
    return not (name and name.group(1).endswith("BrowserInfo"))


def _errors(nb: dict) -> list[str]:
    """The error outputs of a saved notebook, as "cell K: ename: evalue" and the traceback."""
    found = []
    for k, cell in enumerate(nb["cells"]):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                tb = ANSI.sub("", "\n".join(o.get("traceback", [])))
                found.append(f"cell {k}: {o.get('ename')}: {o.get('evalue')}\n{tb}")
    return found


def _stderr(nb: dict) -> list[str]:
    return [
        f"cell {k}: {''.join(o['text']) if isinstance(o['text'], list) else o['text']}".strip()
        for k, cell in enumerate(nb["cells"])
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stderr"
    ]


def _command(page, name: str, text: str, command: str) -> None:
    """``command`` from the palette, with the notebook ``name`` in front (a tutorial may open
    another panel, e.g. the sky panel); the palette's shortcut again if it did not open."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.locator(f'.lm-DockPanel-tabBar .lm-TabBar-tab[title*="{name}"]').first.click()
    palette = page.locator("#command-palette")
    for _ in range(3):
        if palette.is_visible():
            break
        page.keyboard.press("Control+Shift+C")
        try:
            palette.wait_for(state="visible", timeout=3000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    palette.locator("input").fill(text)
    palette.locator(f'.lm-CommandPalette-item[data-command="{command}"]').click()


def _run_all(page, name: str, n_cells: int) -> dict:
    """Run > Run All Cells; waits until the kernel is idle with no cell queued or running."""
    _command(page, name, "Run All Cells", "notebook:run-all-cells")
    _poll("the run started", lambda: any(p != "[ ]:" for p in page.evaluate(PROGRESS)["prompts"]))

    def finished() -> dict | None:
        progress = page.evaluate(PROGRESS)
        busy = any(p.startswith("[*]") for p in progress["prompts"])
        return progress if progress["idle"] and not busy else None

    progress = _poll("all cells run", finished, timeout=RUN_TIMEOUT)
    # with windowing, cells out of view may not be in the DOM: then the prompts say nothing
    assert progress["cells"] == n_cells, f"{progress['cells']} cells in the DOM, {n_cells} in the notebook"
    return progress


def _save(page, lab_server, name: str, prompts: list[str]) -> dict:
    """Save the notebook from the lab; the saved notebook once its counts are the page's."""
    shown = [int(m.group(1)) if (m := re.match(r"\[(\d+)\]", p)) else None for p in prompts]
    last: list = []

    tab = page.locator(f'.lm-DockPanel-tabBar .lm-TabBar-tab[title*="{name}"]').first

    def saved() -> dict | None:
        # read only once the lab says the save is done: a read racing jupyter_server's atomic
        # write (temp file renamed over the notebook) made the server lose the file in one CI run
        if "jp-mod-dirty" in (tab.get_attribute("class") or ""):
            return None
        nb = get_notebook(lab_server, name)
        last[:] = [c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"]
        return nb if last == shown else None

    for _ in range(4):  # the save command, again if nothing was saved (the palette missed it)
        _command(page, name, "Save Notebook", "docmanager:save")
        try:
            return _poll("the notebook saved with its outputs", saved, timeout=15)
        except AssertionError:
            pass
    raise AssertionError(f"the notebook not saved: counts on the page {shown}, saved {last}")


def _cell(page, k: int):
    return page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(k)


def _check_bokeh(page, nb: dict, stem: str, results_dir: Path) -> list[str]:
    """Every holoviews/bokeh output drawn: a root view in its cell, figures with data, not blank."""
    cells = [k for k, c in enumerate(nb["cells"]) if any(_is_plot(o) for o in c.get("outputs", []))]
    if not cells:
        return []
    roots = _poll(
        "a BokehJS root view in every holoviews/bokeh output's cell",
        lambda: (r := page.evaluate(BOKEH_VIEWS)) and set(cells) <= {x["cell"] for x in r} and r,
    )
    problems = []
    for k in cells:
        expected = sum(1 for o in nb["cells"][k]["outputs"] if _is_plot(o))
        mine = [r for r in roots if r["cell"] == k]
        if len(mine) < expected:
            problems.append(f"cell {k}: {expected} holoviews/bokeh outputs, {len(mine)} BokehJS views")
        figures = [f for r in mine for f in r["figures"]]
        if not figures:
            problems.append(f"cell {k}: no bokeh figure in its views {mine}")
        for f in figures:
            if f["rows"] == 0:
                problems.append(f"cell {k}: figure {f['title']!r} has no data")
            frame = page.evaluate(FIGURE_FRAME, f["figure"])
            page.mouse.move(2, 2)  # no hover tooltip over the frame
            png = page.screenshot(clip=frame)
            (results_dir / f"{stem}-cell{k}-fig{f['figure']}.png").write_bytes(png)
            # inside the frame (its border and the axes' ticks left out), a figure with nothing
            # drawn is its background colour only (holoviews draws no grid lines)
            ink = _ink(png)
            print(f"  cell {k}: figure {f['title']!r}: {f['rows']} rows, {ink} pixels drawn")
            if ink < INK:
                problems.append(f"cell {k}: figure {f['title']!r} is blank on screen ({ink} pixels drawn)")
    return problems


def _ink(png: bytes, inset: int = 4) -> int:
    """How many pixels inside a plot's frame (``inset`` pixels in) are not its background (the
    most common colour)."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int32)[inset:-inset, inset:-inset]
    keys = ((img[..., 0] << 16) | (img[..., 1] << 8) | img[..., 2]).ravel()
    _, counts = np.unique(keys, return_counts=True)
    return int(keys.size - counts.max())


def _check_widgets(page, nb: dict, stem: str, results_dir: Path) -> list[str]:
    """Every widget output one of the box's widgets, showing something."""
    from playwright.sync_api import expect

    problems = []
    for k, c in enumerate(nb["cells"]):
        if WIDGET_MIME not in _mimes(c):
            continue
        cell = _cell(page, k)
        cell.scroll_into_view_if_needed()
        out = cell.locator(".jp-OutputArea-output")
        if out.get_by_text("Error displaying widget").count():
            problems.append(f"cell {k}: Error displaying widget")
            continue
        sky, image, table = (
            out.locator(".lsstbox-sky"),
            out.locator(".lsstbox-image-widget"),
            out.locator(".lsstbox-table-widget"),
        )
        try:
            if sky.count():
                expect(sky).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
                view = sky.locator(".lsstbox-sky-aladin")
                view.scroll_into_view_if_needed()
                page.mouse.move(2, 2)
                stats = wait_for_sky(page, view)
                view.screenshot(path=str(results_dir / f"{stem}-cell{k}-sky.png"))
            elif image.count():
                expect(image).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
                canvas = image.get_by_test_id("lsstbox-image-canvas")
                expect(canvas).to_have_attribute("data-tile", re.compile("."), timeout=LOAD_TIMEOUT)
                canvas.scroll_into_view_if_needed()
                page.mouse.move(2, 2)
                stats = _poll("the image drawn", lambda c=canvas: _drawn(pixel_stats(c.screenshot())))
                canvas.screenshot(path=str(results_dir / f"{stem}-cell{k}-image.png"))
            elif table.count():
                expect(table).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
                total = int(table.get_attribute("data-total") or 0)
                first = json.loads(table.get_attribute("data-first-row") or "null")
                assert total > 0 and first, f"table: {total} rows, first row {first}"
                grid = table.locator(".lsstbox-table-grid")
                grid.scroll_into_view_if_needed()
                stats = pixel_stats(grid.screenshot())
                assert stats["colours"] > 3 and stats["modal"] < 0.98, f"table grid blank: {stats}"
                table.screenshot(path=str(results_dir / f"{stem}-cell{k}-table.png"))
            else:
                problems.append(f"cell {k}: a widget output that is none of SkyView, ImageView, TableView")
                continue
            print(f"  cell {k}: {'sky' if sky.count() else 'image' if image.count() else 'table'} {stats}")
        except AssertionError as e:
            problems.append(f"cell {k}: {e}")
            cell.screenshot(path=str(results_dir / f"{stem}-cell{k}-failed.png"))
    return problems


def _drawn(stats: dict) -> dict | None:
    """``stats`` of an image viewer's canvas if it shows an image (many shades), else None."""
    return stats if stats["colours"] > 8 and stats["std"] > 5 else None


def _check_images(page, nb: dict) -> list[str]:
    problems = []
    for k, c in enumerate(nb["cells"]):
        if not _mimes(c) & set(IMAGE_MIMES):
            continue
        imgs = _cell(page, k).locator(".jp-OutputArea-output img")
        sizes = [img.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]") for img in imgs.all()]
        if not sizes or not all(ok and w > 0 and h > 0 for ok, w, h in sizes):
            problems.append(f"cell {k}: image outputs not drawn: {sizes}")
    return problems


def _stop_kernels(lab_server) -> None:
    headers = {"Authorization": f"token {lab_server.token}"}
    for s in lab_server.api("api/sessions").json():
        requests.delete(f"{lab_server.url}api/sessions/{s['id']}", headers=headers, timeout=30)


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_in_lab(path: Path, lab_server, browser_context, results_dir: Path, capsys) -> None:

    source = json.loads(path.read_text())
    n_cells = len(source["cells"])
    name = path.name
    stem = f"tutorial-{path.stem[:2]}"
    put_notebook_content(lab_server, name, source)
    page = browser_context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    t0 = time.monotonic()
    try:
        open_notebook(page, lab_server, name, LOAD_TIMEOUT)
        t_open = time.monotonic()
        progress = _run_all(page, name, n_cells)
        t_run = time.monotonic()
        nb = _save(page, lab_server, name, progress["prompts"])
        (results_dir / f"{stem}.ipynb").write_text(json.dumps(nb, indent=1))
        errors = _errors(nb)
        code = [k for k, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
        not_run = [k for k in code if nb["cells"][k].get("execution_count") is None]
        mimes = sorted({m for c in nb["cells"] for m in _mimes(c)})
        problems = []
        with capsys.disabled():
            print(f"\n{path.stem}: outputs {mimes}")
            for s in _stderr(nb):
                print(f"  stderr {s[:300]}")
            if not errors:
                problems += _check_bokeh(page, nb, stem, results_dir)
                problems += _check_widgets(page, nb, stem, results_dir)
                problems += _check_images(page, nb)
        # the notebook as a user sees it: at its first drawn output (else its top)
        drawn = [
            k for k, c in enumerate(nb["cells"]) if _mimes(c) & {*BOKEH_MIMES, WIDGET_MIME, *IMAGE_MIMES}
        ]
        if drawn:
            _cell(page, drawn[0]).scroll_into_view_if_needed()
        page.mouse.move(2, 2)
        page.screenshot(path=str(results_dir / f"{stem}.png"))
        with capsys.disabled():
            print(
                f"{path.stem}: {time.monotonic() - t0:.1f} s wall (open {t_open - t0:.1f} s, "
                f"run all {t_run - t_open:.1f} s, checks {time.monotonic() - t_run:.1f} s); "
                f"page errors: {page_errors}"
            )
        assert not errors, "error output:\n" + "\n\n".join(errors)
        assert not not_run, f"code cells never run: {not_run}"
        assert not problems, "\n".join(problems)
        assert not page_errors, f"errors in the page: {page_errors}"
    finally:
        page.close()
        _stop_kernels(lab_server)
