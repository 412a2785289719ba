"""Benchmark: the catalog browser's result grid on a 10^6-row TAP result, in a real JupyterLab.

Starts ``jupyter lab`` (as ``tests/ui/conftest.py`` does) on a release (default ``/tmp/demo5``,
whose ForcedSource has ~384 k rows: a cross join with Visit gives 10^6 rows), submits an async TAP
job returning exactly 1,000,000 rows and drives Debian's chromium (headless, Playwright) like a
user. What is measured:

Server alone (HTTP from this process, no browser):
  * the TAP job: POST ``/lsstbox/tap/async`` (PHASE=RUN) until the phase is COMPLETED;
  * first conversion: the first ``GET /lsstbox/api/results/<job>?offset=0&limit=200`` of a fresh
    job, which reads the result file into the grid's Arrow cache;
  * ``GET /lsstbox/api/results/<job>?offset=999800&limit=200``: median (and max) of 20 requests.

Browser (times from ``performance.now()`` in the page; a paint is the first animation frame after
the event, taken with a ``requestAnimationFrame`` callback, i.e. when the frame is produced):
  * editor Run: the query typed into an ADQL editor with Max rows = 1000000, Run clicked, until the
    job is COMPLETED, then until the grid shows its first page (``data-state=ready`` and a frame);
    the latter includes the server's first conversion of that job;
  * first page shown, warm: a second, already converted job opened from the query history
    ("Open" button), from the click to the first frame with the first page;
  * jump to the end: a first-row cell selected, Ctrl+ArrowDown (the DataGrid moves the cursor to
    the last row and scrolls to it), until the first frame after the page at offset 999800 has
    arrived; then Ctrl+C copies the selected cell, which must be the last row's ``forcedSourceId``
    as the API gives it (proof that row 1,000,000 is in the grid's model);
  * wheel steps in the middle (after dragging the scrollbar thumb to the middle): a ``wheel``
    event of 100 px (one mouse notch) or 4400 px (200 rows, so each step needs a new page), 50 of
    each, from the event to the next frame ("scroll"), and to the first frame after the pages the
    grid asked for have arrived ("rows filled"; equals "scroll" when no page was missing).

Headless chromium here has no GPU (``--disable-gpu``): the DataGrid's canvases are rasterised in
software, so paint times are an upper bound of what a desktop browser does. They are dominated by
Lumino's DataGrid blitting each cell from its off-screen buffer canvas with ``drawImage``: in this
software canvas each such call costs ~3 ms (it snapshots the whole 1536x1024 buffer), i.e. ~0.5 s
for a full repaint of ~35 rows x 5 columns; with a GPU-backed canvas that copy is cheap. Browser and
server run on the same machine and share its CPUs. ``--chromium-arg`` adds chromium flags.

Run: ``.venv/bin/python benchmarks/bench_grid.py [--release /tmp/demo5]``; prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "ui"), str(ROOT / "tests")]

from browser_flags import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from conftest import LAB_OVERRIDES  # noqa: E402  (tests/ui/conftest.py)
from jupyter_subprocess import jupyter_process  # noqa: E402

ROWS = 1_000_000
QUERY = (
    f"SELECT TOP {ROWS} f.forcedSourceId, f.objectId, f.psfFlux, v.visit "
    "FROM dp1.ForcedSource AS f, dp1.Visit AS v"
)
PAGE = 200
LAST_OFFSET = ROWS - PAGE
TIMEOUT = 300_000  # ms

# Installed before JupyterLab's scripts: follows the grid's page requests and the clipboard.
INIT_SCRIPT = """
(() => {
  const s = (window.__lsb = { inflight: 0, started: 0, log: [], frames: null, copied: null });
  const orig = window.fetch.bind(window);
  window.fetch = async (...args) => {
    const url = String(args[0] instanceof Request ? args[0].url : args[0]);
    if (!url.includes('/lsstbox/api/results/')) {
      return orig(...args);
    }
    const entry = { url, t0: performance.now(), t1: null };
    s.log.push(entry);
    s.inflight++;
    s.started++;
    try {
      const response = await orig(...args);
      await response.clone().arrayBuffer();
      return response;
    } finally {
      entry.t1 = performance.now();
      s.inflight--;
    }
  };
  const setData = DataTransfer.prototype.setData;
  DataTransfer.prototype.setData = function (type, data) {
    s.copied = data;
    return setData.call(this, type, data);
  };
  const afterTask = key => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => { s[key] = performance.now(); };
    ch.port2.postMessage(0);
  };
  window.addEventListener('keydown', () => { s.lastKey = performance.now(); afterTask('keyDone'); }, true);
  window.addEventListener('click', e => { s.lastClick = performance.now(); }, true);
  s.nextFrame = () =>
    new Promise(resolve => requestAnimationFrame(() => resolve(performance.now())));
  s.recordFrames = () => {
    s.frames = [];
    const loop = () => {
      if (s.frames) {
        s.frames.push(performance.now());
        requestAnimationFrame(loop);
      }
    };
    requestAnimationFrame(loop);
  };
  s.frameAfter = t => (s.frames || []).find(f => f >= t) ?? null;
})();
"""

WHEEL_JS = """
async ({ x, y, dy, steps }) => {
  const s = window.__lsb;
  const el = document.elementFromPoint(x, y);
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const out = [];
  for (let i = 0; i < steps; i++) {
    await s.nextFrame();
    await s.nextFrame();
    const before = s.started;
    const t0 = performance.now();
    el.dispatchEvent(new WheelEvent('wheel', {
      deltaY: dy, deltaMode: 0, bubbles: true, cancelable: true, clientX: x, clientY: y
    }));
    const th = performance.now();
    const t1 = await s.nextFrame();
    // the model asks for missing pages 20 ms after the grid wanted them
    while (s.started === before && performance.now() - t1 < 40) {
      await sleep(2);
    }
    let t2 = t1;
    if (s.started > before) {
      while (s.inflight > 0) {
        await sleep(1);
      }
      t2 = await s.nextFrame();
    }
    out.push([t1 - t0, t2 - t0, s.started - before, th - t0]);
  }
  return out;
}
"""


SCROLL_POS_JS = """
g => {
  const bar = g.querySelector('.lm-ScrollBar[data-orientation="vertical"]');
  const track = bar.querySelector('.lm-ScrollBar-track').getBoundingClientRect();
  const thumb = bar.querySelector('.lm-ScrollBar-thumb').getBoundingClientRect();
  return (thumb.top - track.top) / Math.max(1, track.height - thumb.height);
}
"""


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def submit(url: str, token: str, query: str) -> tuple[str, float]:
    """Run ``query`` as an async TAP job; its id and the seconds until COMPLETED."""
    t0 = time.perf_counter()
    r = requests.post(
        f"{url}lsstbox/tap/async",
        data={"LANG": "ADQL", "REQUEST": "doQuery", "QUERY": query, "MAXREC": str(ROWS), "PHASE": "RUN"},
        headers=_headers(token),
        allow_redirects=False,
        timeout=60,
    )
    r.raise_for_status()
    job = r.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    while True:
        phase = requests.get(f"{url}lsstbox/tap/async/{job}/phase", headers=_headers(token), timeout=60)
        phase = phase.text.strip()
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            break
        time.sleep(0.05)
    if phase != "COMPLETED":
        raise RuntimeError(f"job {job} ended {phase}")
    return job, time.perf_counter() - t0


def results_page(url: str, token: str, job: str, offset: int) -> tuple[dict, float]:
    t0 = time.perf_counter()
    r = requests.get(
        f"{url}lsstbox/api/results/{job}",
        params={"offset": offset, "limit": PAGE},
        headers=_headers(token),
        timeout=300,
    )
    r.raise_for_status()
    return r.json(), time.perf_counter() - t0


def server_side(url: str, token: str, rows: list[tuple[str, str, str]]) -> tuple[str, str]:
    job, run = submit(url, token, QUERY)
    rows.append(("TAP job (POST until COMPLETED)", f"{run * 1000:.0f} ms", "server"))
    first, conv = results_page(url, token, job, 0)
    if first["total"] != ROWS:
        raise RuntimeError(f"the query gives {first['total']} rows, not {ROWS}")
    rows.append(("first results page, incl. conversion to Arrow", f"{conv * 1000:.0f} ms", "server"))
    times = []
    last: dict = {}
    for _ in range(20):
        last, dt = results_page(url, token, job, LAST_OFFSET)
        times.append(dt * 1000)
    rows.append(
        (
            f"results page offset={LAST_OFFSET}&limit={PAGE} (20 requests)",
            f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms",
            "server",
        )
    )
    return job, str(last["rows"][-1][0])


def browser_side(
    url: str, token: str, warm_job: str, last_id: str, rows: list[tuple[str, str, str]], extra: list[str]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    def add(what: str, ms: float | str) -> None:
        rows.append((what, ms if isinstance(ms, str) else f"{ms:.0f} ms", "chromium"))

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, *extra],
            viewport={"width": 1440, "height": 900},
        )
        context.add_init_script(INIT_SCRIPT)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(f"{url}lab?reset&token={token}")
        expect(page.locator(".jp-Launcher")).to_be_visible()
        page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="lsstbox-catalog-browser"]').click()
        browser = page.get_by_test_id("lsstbox-catalog-browser")
        expect(browser.get_by_test_id("lsstbox-schema-tree")).to_have_attribute("data-state", "ready")

        # 1. the user's path: an editor, Max rows, Run
        browser.get_by_test_id("lsstbox-catalog-new-query").click()
        panel = page.locator('[data-testid="lsstbox-adql-panel"]:visible')
        expect(panel).to_have_count(1)
        content = panel.locator(".cm-content")
        content.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(QUERY)
        expect(content).to_have_text(QUERY)
        panel.get_by_test_id("lsstbox-adql-maxrec").fill(str(ROWS))
        panel.get_by_test_id("lsstbox-adql-run").click()
        page.wait_for_function(
            """() => {
              const p = [...document.querySelectorAll('[data-testid="lsstbox-adql-panel"]')]
                .find(e => e.offsetParent !== null);
              if (p && p.dataset.phase === 'COMPLETED' && !window.__lsb.completed) {
                window.__lsb.completed = performance.now();
              }
              const g = p && p.querySelector('[data-testid="lsstbox-result-grid"]');
              return g && g.dataset.state === 'ready';
            }""",
            polling="raf",
        )
        shown = page.evaluate("window.__lsb.nextFrame()")
        clicked, completed = page.evaluate("[window.__lsb.lastClick, window.__lsb.completed]")
        add("editor Run until job COMPLETED (UWS polling included)", completed - clicked)
        add("COMPLETED until first page shown (cold: includes conversion)", shown - completed)
        grid = panel.get_by_test_id("lsstbox-result-grid")
        expect(grid).to_have_attribute("data-total", str(ROWS))

        # 2. a converted job opened from the query history
        jobs = browser.get_by_test_id("lsstbox-job-list")
        row = jobs.locator(f'[data-testid="lsstbox-job-row"][data-job-id="{warm_job}"]')
        jobs.get_by_test_id("lsstbox-jobs-refresh").click()
        expect(row).to_be_visible()
        row.get_by_test_id("lsstbox-job-open").click()
        grid = page.locator(f'[data-testid="lsstbox-result-grid"][data-job-id="{warm_job}"]:visible')
        page.wait_for_function(
            """job => {
              const g = [...document.querySelectorAll(`[data-testid="lsstbox-result-grid"]`)]
                .find(e => e.dataset.jobId === job && e.offsetParent !== null);
              return g && g.dataset.state === 'ready';
            }""",
            arg=warm_job,
            polling="raf",
        )
        shown = page.evaluate("window.__lsb.nextFrame()")
        click, req0, req1 = page.evaluate(
            """job => {
              const s = window.__lsb;
              const e = s.log.filter(e => e.url.includes(job) && e.t1 !== null).pop();
              return [s.lastClick, e.t0, e.t1];
            }""",
            warm_job,
        )
        add(
            "history Open until first page shown (warm)",
            f"{shown - click:.0f} ms (page request sent at +{req0 - click:.0f} ms, "
            f"took {req1 - req0:.0f} ms)",
        )
        expect(grid).to_have_attribute("data-total", str(ROWS))
        expect(grid.get_by_test_id("lsstbox-grid-summary")).to_have_text("1,000,000 rows")

        # 3. jump to the end: select a first-row cell, Ctrl+ArrowDown
        canvas = grid.locator(".lsstbox-ResultGrid-grid")
        box = canvas.bounding_box()
        assert box
        x = box["x"] + int(grid.get_attribute("data-row-header-width") or "56") + 20
        y = box["y"] + 2 * int(grid.get_attribute("data-column-header-height") or "22") + 11
        page.mouse.click(x, y)
        page.wait_for_timeout(300)
        page.evaluate("window.__lsb.recordFrames()")
        page.keyboard.press("Control+ArrowDown")
        page.wait_for_function(
            f"""() => window.__lsb.log.some(e => e.url.includes('offset={LAST_OFFSET}&') && e.t1 !== null)""",
            polling="raf",
        )
        page.evaluate("window.__lsb.nextFrame().then(() => window.__lsb.nextFrame())")
        jump = page.evaluate(
            f"""() => {{
              const s = window.__lsb;
              const e = s.log.find(e => e.url.includes('offset={LAST_OFFSET}&') && e.t1 !== null);
              const r = [s.lastKey, s.frameAfter(s.lastKey), e.t0, e.t1, s.frameAfter(e.t1), s.keyDone];
              s.frames = null;
              return r;
            }}"""
        )
        key, first_frame, req0, req1, painted, key_done = jump
        add(
            "Ctrl+ArrowDown until next frame (last rows still empty)",
            f"{first_frame - key:.0f} ms (key handler task {key_done - key:.0f} ms)",
        )
        position = grid.evaluate(SCROLL_POS_JS)
        add("scroll position after the jump (scrollbar thumb, 0..1)", f"{position:.4f}")
        add(
            f"Ctrl+ArrowDown until last page (offset {LAST_OFFSET}) painted",
            f"{painted - key:.0f} ms (request {req1 - req0:.0f} ms)",
        )
        page.evaluate("window.__lsb.copied = null")
        page.keyboard.press("Control+c")
        page.wait_for_function("() => window.__lsb.copied !== null")
        copied = page.evaluate("window.__lsb.copied").strip()
        if copied != last_id:
            raise RuntimeError(f"the last row's cell copies as {copied!r}, the API says {last_id!r}")
        add("last row's forcedSourceId in the grid (Ctrl+C) = API's row 1,000,000", copied)

        # 4. back to the top (Ctrl+ArrowUp), drag the vertical scrollbar's thumb to the middle, then
        # wheel steps (at the end the thumb lies partly under JupyterLab's status bar)
        page.keyboard.press("Control+ArrowUp")
        page.wait_for_timeout(300)
        page.wait_for_function("() => window.__lsb.inflight === 0")
        add("scroll position after Ctrl+ArrowUp (0..1)", f"{grid.evaluate(SCROLL_POS_JS):.4f}")
        vbar = grid.locator('.lm-ScrollBar[data-orientation="vertical"]')
        track = vbar.locator(".lm-ScrollBar-track")
        thumb = vbar.locator(".lm-ScrollBar-thumb")
        tb = thumb.bounding_box()
        kb = track.bounding_box()
        assert tb and kb
        page.mouse.move(tb["x"] + tb["width"] / 2, tb["y"] + tb["height"] / 2)
        page.mouse.down()
        page.mouse.move(tb["x"] + tb["width"] / 2, kb["y"] + kb["height"] / 2, steps=5)
        page.mouse.up()
        page.wait_for_function("() => window.__lsb.inflight === 0")
        page.wait_for_timeout(300)
        add("scroll position after dragging the thumb (0..1)", f"{grid.evaluate(SCROLL_POS_JS):.4f}")
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        for dy, label in ((100, "100 px, one notch"), (4400, "4400 px = 200 rows")):
            start = grid.evaluate(SCROLL_POS_JS)
            steps = page.evaluate(WHEEL_JS, {"x": cx, "y": cy, "dy": dy, "steps": 50})
            end = grid.evaluate(SCROLL_POS_JS)
            scroll = statistics.median(s[0] for s in steps)
            filled = statistics.median(s[1] for s in steps)
            fetched = [s[1] for s in steps if s[2] > 0]
            add(
                f"wheel step {label}: event until next frame (median of 50)",
                f"{scroll:.1f} ms (max {max(s[0] for s in steps):.1f})",
            )
            add(
                f"wheel step {label}: until rows filled (median of 50)",
                f"{filled:.1f} ms; {len(fetched)} steps fetched a page"
                + (f", median of those {statistics.median(fetched):.1f} ms" if fetched else ""),
            )
            add(
                f"wheel step {label}: handler task (median), thumb moved",
                f"{statistics.median(s[3] for s in steps):.1f} ms, {start:.4f} -> {end:.4f}",
            )
        errors = page.evaluate("window.__lsb.log.filter(e => e.t1 === null).length")
        if errors:
            rows.append(("results requests not finished", str(errors), "chromium"))
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", type=Path, default=Path("/tmp/demo5"))
    parser.add_argument(
        "--chromium-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="an extra chromium flag (repeatable), e.g. --chromium-arg=--disable-accelerated-2d-canvas",
    )
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-grid-") as tmp:
        home = Path(tmp)
        root, settings = home / "root", home / "app-settings"
        for d in (root, settings, home / "user-settings", home / "workspaces", home / "runtime"):
            d.mkdir()
        (settings / "overrides.json").write_text(json.dumps(LAB_OVERRIDES))
        env = {
            "LSSTBOX_RELEASE": str(args.release),
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        }
        lab_args = [
            f"--ServerApp.root_dir={root}",
            f"--LabApp.app_settings_dir={settings}",
            f"--LabApp.user_settings_dir={home / 'user-settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
            f"--LsstBoxApp.jobs_dir={home / 'jobs'}",
        ]
        token = secrets.token_hex(16)
        with jupyter_process("jupyterlab", lab_args, env, root, home / "jupyter-lab.log", token) as proc:
            warm_job, last_id = server_side(proc.url, token, rows)
            browser_side(proc.url, token, warm_job, last_id, rows, args.chromium_arg)
    flags = " ".join([*CHROMIUM_ARGS, *args.chromium_arg])
    print(f"\nResult grid, {ROWS:,} rows ({args.release}); query: `{QUERY}`; chromium flags: `{flags}`\n")
    print("| measurement | time | where |")
    print("|---|---|---|")
    for what, value, where in rows:
        print(f"| {what} | {value} | {where} |")


if __name__ == "__main__":
    main()
