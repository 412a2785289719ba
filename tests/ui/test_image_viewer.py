"""The LSST image viewer in a real JupyterLab, against the real ``/lsstbox/image/*`` API.

End to end: a visit image of the tiny release, copied under the Jupyter root as ``visit.fits``,
opens from the file browser (double-click) in the "LSST Image Viewer"; the canvas shows the
server's tiles; hovering over a known pixel shows its value and the RA/Dec that astropy's WCS of
the ``IMAGE`` HDU gives for it; changing the stretch and showing a mask plane re-render the canvas;
drag pans and the wheel zooms around the cursor; sources given to the overlay API are drawn and
one is picked with a click.  A file of random bytes named ``broken.fits`` shows the server's error
in the panel, and the rest of JupyterLab goes on working.

The canvas exposes its view as ``data-scale`` (CSS px per image pixel) and ``data-ox``,
``data-oy`` (the canvas position of the centre of pixel (0, 0)); y grows upwards.
"""

from __future__ import annotations

import base64
import random
import re
from pathlib import Path

import numpy as np
import pytest
import requests

pytestmark = pytest.mark.ui

LOAD_TIMEOUT = 60_000  # ms
PIXEL = (100, 150)  # 0-based (x, y) hovered
CANVAS_DIGEST = """canvas => {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let opaque = 0, hash = 0;
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 0) { opaque++; }
        const v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        hash = (Math.imul(hash, 31) + v + data[i + 3]) | 0;
        if (colours.size < 4096) { colours.add(v); }
    }
    return { opaque, colours: colours.size, hash, pixels: data.length / 4 };
}"""


def _visit_image(release: Path) -> Path:
    found = sorted(release.glob("butler/**/visit_image/**/*.fits"))
    assert found, f"no visit_image FITS under {release}/butler"
    return found[0]


def _put(lab_server, name: str, data: bytes) -> None:
    r = requests.put(
        f"{lab_server.url}api/contents/{name}",
        headers={"Authorization": f"token {lab_server.token}"},
        json={"type": "file", "format": "base64", "content": base64.b64encode(data).decode()},
        timeout=60,
    )
    assert r.status_code in (200, 201), r.text


@pytest.fixture(scope="module")
def fits_files(lab_server, tiny_release: Path) -> Path:
    """``visit.fits`` (a release visit image), ``broken.fits`` (random bytes) and ``notes.txt``
    under the Jupyter root, put there through the Contents API."""
    source = _visit_image(tiny_release)
    _put(lab_server, "visit.fits", source.read_bytes())
    _put(lab_server, "broken.fits", random.Random(7).randbytes(20_000))
    _put(lab_server, "notes.txt", b"the lab still works\n")
    return source


def _open_from_file_browser(page, name: str) -> None:
    from playwright.sync_api import expect

    tab = page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="filebrowser"]')
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    listing = page.locator("#filebrowser .jp-DirListing-content")
    item = listing.locator(".jp-DirListing-item").filter(
        has=page.locator(".jp-DirListing-itemText", has_text=re.compile(rf"^{re.escape(name)}$"))
    )
    if item.count() == 0:
        page.locator("#filebrowser").get_by_title("Refresh the file browser").first.click()
    expect(item).to_have_count(1, timeout=LOAD_TIMEOUT)
    item.dblclick()


def _viewer(page, name: str):
    """The viewer in the main-area tab titled ``name``."""
    from playwright.sync_api import expect

    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=name)
    expect(tab).to_have_count(1, timeout=LOAD_TIMEOUT)
    expect(tab).to_have_class(re.compile(r"lm-mod-current"))
    viewer = page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden) .lsstbox-ImageViewer")
    expect(viewer).to_have_count(1, timeout=LOAD_TIMEOUT)
    return viewer


def _digest(canvas) -> dict:
    return canvas.evaluate(CANVAS_DIGEST)


def _wait_tile(page, canvas, contains: str, frames_after: int) -> None:
    """Until a new frame whose tile query contains ``contains`` is on the canvas."""
    from playwright.sync_api import expect

    expect(canvas).to_have_attribute("data-tile", re.compile(re.escape(contains)), timeout=LOAD_TIMEOUT)
    page.wait_for_function(
        "([c, n]) => Number(c.dataset.frames) > n && c.dataset.loading === 'false'",
        arg=[canvas.element_handle(), frames_after],
        timeout=LOAD_TIMEOUT,
    )
    page.wait_for_timeout(100)  # drawn on the next animation frame


def _screen(canvas, x: float, y: float) -> tuple[float, float]:
    """The page position of pixel (x, y) from the canvas's view attributes."""
    box = canvas.bounding_box()
    scale = float(canvas.get_attribute("data-scale"))
    ox = float(canvas.get_attribute("data-ox"))
    oy = float(canvas.get_attribute("data-oy"))
    return box["x"] + ox + x * scale, box["y"] + oy - y * scale


def _image_point(canvas, px: float, py: float) -> tuple[float, float]:
    """The image position (pixels) under a page position."""
    box = canvas.bounding_box()
    scale = float(canvas.get_attribute("data-scale"))
    ox = float(canvas.get_attribute("data-ox"))
    oy = float(canvas.get_attribute("data-oy"))
    return (px - box["x"] - ox) / scale, (oy - (py - box["y"])) / scale


def _hover_pixel(page, canvas, status, x: int, y: int) -> None:
    from playwright.sync_api import expect

    page.mouse.move(*_screen(canvas, x, y))
    expect(status).to_have_attribute("data-ix", str(x), timeout=LOAD_TIMEOUT)
    expect(status).to_have_attribute("data-iy", str(y), timeout=LOAD_TIMEOUT)


def test_viewer_shows_a_visit_image(fits_files: Path, lab_page, lab_server, results_dir: Path):
    from astropy.io import fits
    from astropy.wcs import WCS
    from playwright.sync_api import expect

    page = lab_page
    with fits.open(fits_files) as hdul:
        header = hdul["IMAGE"].header
        data = np.asarray(hdul["IMAGE"].data, dtype=np.float64)
        mask = np.asarray(hdul["MASK"].data)
    wcs = WCS(header)
    height, width = data.shape

    _open_from_file_browser(page, "visit.fits")
    viewer = _viewer(page, "visit.fits")
    expect(viewer).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
    canvas = viewer.get_by_test_id("lsstbox-image-canvas")
    status = viewer.get_by_test_id("lsstbox-image-status")
    expect(canvas).to_have_attribute("data-image-width", str(width))
    expect(canvas).to_have_attribute("data-image-height", str(height))
    _wait_tile(page, canvas, "stretch=linear", 0)

    # a real image: most of the (fitted) image area is opaque, with many grey levels
    before = _digest(canvas)
    scale = float(canvas.get_attribute("data-scale"))
    dpr = page.evaluate("window.devicePixelRatio")
    image_area = (width * scale * dpr) * (height * scale * dpr)
    assert before["opaque"] > 0.9 * image_area, (before, image_area)
    assert before["colours"] > 50, before
    # the viewer reads the file through /lsstbox/image only: no checkpoint copy of it
    checkpoints = lab_server.api("api/contents/visit.fits/checkpoints")
    assert checkpoints.status_code == 200 and checkpoints.json() == [], checkpoints.text
    # the limits come from the server's zscale
    info = lab_server.api("lsstbox/image/info?src=file:visit.fits").json()
    assert float(viewer.get_by_test_id("lsstbox-image-vmin").input_value()) == pytest.approx(
        info["limits"]["vmin"], rel=1e-5
    )

    # status bar: the value and the WCS position of a known pixel
    x, y = PIXEL
    _hover_pixel(page, canvas, status, x, y)
    radec = viewer.get_by_test_id("lsstbox-image-radec")
    expect(radec).to_contain_text("RA ", timeout=LOAD_TIMEOUT)
    m = re.search(r"RA (-?[\d.]+)\u00b0\s+Dec ([-\u2212]?[\d.]+)\u00b0", radec.inner_text())
    assert m, radec.inner_text()
    ra_shown, dec_shown = float(m[1]), float(m[2].replace("\u2212", "-"))
    ra, dec = (float(v) for v in wcs.pixel_to_world_values(x, y))
    assert abs(ra_shown - ra) < 1e-5 and abs(dec_shown - dec) < 1e-5, (ra_shown, dec_shown, ra, dec)
    assert abs(float(status.get_attribute("data-ra")) - ra) < 1e-8
    assert abs(float(status.get_attribute("data-dec")) - dec) < 1e-8
    assert float(status.get_attribute("data-value")) == pytest.approx(data[y, x], rel=1e-6, abs=1e-6)
    expect(viewer.get_by_test_id("lsstbox-image-value")).to_contain_text(info["bunit"])
    sexagesimal = viewer.get_by_test_id("lsstbox-image-sexagesimal").inner_text()
    h = int(ra // 15)
    assert sexagesimal.startswith(f"{h:02d}:"), sexagesimal
    assert viewer.get_by_test_id("lsstbox-image-pos").inner_text().split() == ["x", str(x), "y", str(y)]
    # a corner pixel: its mask planes by name
    _hover_pixel(page, canvas, status, 0, 0)
    planes = {k: v for k, v in info["mask_planes"].items() if int(mask[0, 0]) >> v & 1}
    assert planes, "pixel (0, 0) has no mask bit: pick another"
    for name in planes:
        expect(viewer.get_by_test_id("lsstbox-image-masknames")).to_contain_text(name)

    # stretch: a new tile, a different picture
    frames = int(canvas.get_attribute("data-frames"))
    viewer.get_by_test_id("lsstbox-image-stretch").select_option("asinh")
    _wait_tile(page, canvas, "stretch=asinh", frames)
    after = _digest(canvas)
    assert after["hash"] != before["hash"]

    # colormap
    frames = int(canvas.get_attribute("data-frames"))
    viewer.get_by_test_id("lsstbox-image-cmap").select_option("viridis")
    _wait_tile(page, canvas, "cmap=viridis", frames)
    coloured = _digest(canvas)
    assert coloured["hash"] != after["hash"]

    # mask plane: EDGE (set on the border pixels) composited over the image
    edge = viewer.locator('[data-testid="lsstbox-image-mask"][data-plane="EDGE"]')
    expect(edge).to_be_visible()
    frames = int(canvas.get_attribute("data-frames"))
    edge.check()
    _wait_tile(page, canvas, "mask=EDGE", frames)
    masked = _digest(canvas)
    assert masked["hash"] != coloured["hash"]

    # pan: a drag moves the view by the same number of CSS px
    ox0, oy0 = float(canvas.get_attribute("data-ox")), float(canvas.get_attribute("data-oy"))
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 40, cy + 25, steps=5)
    page.mouse.up()
    assert float(canvas.get_attribute("data-ox")) == pytest.approx(ox0 + 40, abs=0.01)
    assert float(canvas.get_attribute("data-oy")) == pytest.approx(oy0 + 25, abs=0.01)

    # wheel: zoom in around the cursor (the image point under it stays there)
    px, py = (round(v) for v in _screen(canvas, x, y))
    u, v = _image_point(canvas, px, py)
    page.mouse.move(px, py)
    scale0 = canvas.get_attribute("data-scale")
    frames = int(canvas.get_attribute("data-frames"))
    page.mouse.wheel(0, -300)
    expect(canvas).not_to_have_attribute("data-scale", scale0)
    assert float(canvas.get_attribute("data-scale")) > float(scale0)
    qx, qy = _screen(canvas, u, v)
    assert abs(qx - px) < 0.01 and abs(qy - py) < 0.01, (qx, qy, px, py)
    _wait_tile(page, canvas, "mask=EDGE", frames)
    # Fit: back to the whole image
    viewer.get_by_test_id("lsstbox-image-fit").click()
    page.wait_for_function(
        "([c, s]) => Math.abs(Number(c.dataset.scale) - s) < 1e-9",
        arg=[canvas.element_handle(), scale],
        timeout=LOAD_TIMEOUT,
    )

    # overlay: three sources from their sky positions, one picked by a click
    points = [(40.0, 60.0), (128.0, 128.0), (200.0, 90.0)]
    sky = [wcs.pixel_to_world_values(px_, py_) for px_, py_ in points]
    drawn = page.evaluate(
        "([ra, dec, ids]) => window.lsstboxImageViewer.setSources(ra, dec, ids)",
        [[float(s[0]) for s in sky], [float(s[1]) for s in sky], ["src-a", "src-b", "src-c"]],
    )
    assert drawn == 3
    expect(canvas).to_have_attribute("data-sources", "3")
    page.wait_for_timeout(100)
    page.mouse.click(*(v + 3 for v in _screen(canvas, *points[2])))  # within 10 screen px
    expect(viewer.get_by_test_id("lsstbox-image-source")).to_have_attribute("data-id", "src-c")
    expect(viewer.get_by_test_id("lsstbox-image-source")).to_contain_text("src-c")
    _hover_pixel(page, canvas, status, x, y)

    # Ctrl+S neither rewrites the file nor complains
    size = lab_server.api("api/contents/visit.fits?content=0").json()["size"]
    canvas.focus()
    page.keyboard.press("Control+s")
    page.wait_for_timeout(500)
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    assert (
        lab_server.api("api/contents/visit.fits?content=0").json()["size"]
        == size
        == fits_files.stat().st_size
    )

    assert not [e for e in page.lsstbox_errors if "lsstbox" in e.lower()], page.lsstbox_errors
    page.screenshot(path=str(results_dir / "image-viewer.png"))


def test_broken_fits_shows_the_error(fits_files: Path, lab_page, lab_server, results_dir: Path):
    from playwright.sync_api import expect

    page = lab_page
    expected = lab_server.api("lsstbox/image/info?src=file:broken.fits")
    assert expected.status_code >= 400
    message = expected.json()["error"]

    _open_from_file_browser(page, "broken.fits")
    viewer = _viewer(page, "broken.fits")
    expect(viewer).to_have_attribute("data-state", "error", timeout=LOAD_TIMEOUT)
    error = viewer.get_by_test_id("lsstbox-image-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(message)
    expect(viewer.get_by_test_id("lsstbox-image-stretch")).to_be_disabled()
    page.screenshot(path=str(results_dir / "image-viewer-error.png"))

    # the rest of the lab is unaffected: another file opens from the file browser
    _open_from_file_browser(page, "notes.txt")
    expect(page.locator(".jp-FileEditor").filter(has_text="the lab still works")).to_be_visible(
        timeout=LOAD_TIMEOUT
    )
    # and the viewer works for a good file next to the broken one
    _open_from_file_browser(page, "visit.fits")
    good = _viewer(page, "visit.fits")
    expect(good).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
    assert not page.lsstbox_errors, page.lsstbox_errors


def test_open_image_command(fits_files: Path, lab_page):
    from playwright.sync_api import expect

    page = lab_page
    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette")
    expect(palette).to_be_visible()
    palette.locator("input").fill("Open Image")
    item = palette.locator('.lm-CommandPalette-item[data-command="lsstbox:open-image"]')
    expect(item).to_be_visible()
    item.click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible()
    dialog.locator("input").fill("visit.fits")
    dialog.get_by_role("button", name="Open").click()
    viewer = page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden) .lsstbox-ImageViewer")
    expect(viewer).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT)
    # the tab takes the image's title from the server
    expect(page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")).to_contain_text("visit")
