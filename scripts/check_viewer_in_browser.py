"""Check that the episode viewer renders and responds in a real browser: JupyterLab on 127.0.0.1,
driven by headless Chromium.

    apt-get install chromium                 # Debian's Chromium (/usr/bin/chromium)
    pip install playwright                   # its Python driver; no browser download needed
    python scripts/check_viewer_in_browser.py [--out runs/viewer/browser]

It starts JupyterLab on a free local port with a one-time token, opens
``notebooks/08_viewer.ipynb``, runs every cell (at the small budget), waits for the last one and
for the viewer's widget (tabs and figure), and then uses it as a person would: moves the step
slider one step with the keyboard, picks "ablate" in the intervention tab and clicks "apply
intervention", and in the board editor clicks the top-left square (robot 0 moves there) and
"play this board". After each action it checks that the figure changed, and saves a screenshot
of the page. It exits non-zero, saying which step failed, if anything does not render
or respond; the server and the browser are stopped in any case. Not part of the test suite: the
suite drives the same widget model headlessly (``tests/viewer``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "08_viewer.ipynb"
CHROMIUM_FLAGS = [  # a closed network: no background connections, no component updates
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-proxy-server",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_server(url: str, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer at {url} within {seconds:.0f} s")


def figure_source(page: Page) -> str:
    """The viewer figure's image source (a new blob URL each time the figure is redrawn)."""
    return page.locator(".widget-image").last.get_attribute("src") or ""


def wait_for_change(page: Page, before: str, what: str, seconds: float = 60.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = figure_source(page)
        if now and now != before:
            return now
        page.wait_for_timeout(250)
    raise RuntimeError(f"the figure did not change after: {what}")


def check(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    env = os.environ | {"GRIDLAB_NOTEBOOK_BUDGET": "small", "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'notebooks'}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            try:
                use_the_viewer(page, f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}", out)
            except Exception:
                page.screenshot(path=str(out / "failed.png"))
                print(f"failed; the page at that moment: {out / 'failed.png'}", file=sys.stderr)
                raise
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def use_the_viewer(page: Page, url: str, out: Path) -> None:
    """Open the notebook, run it, and use the viewer (module docstring)."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    select = page.get_by_role("button", name="Select", exact=True)  # JupyterLab may ask which kernel to start
    try:
        select.wait_for(timeout=15_000)
        select.click()
    except PlaywrightTimeout:
        pass  # it started the notebook's kernel by itself
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    # wait for the last cell, so that every later change of the figure comes from the clicks below
    code_cells = sum(cell.cell_type == "code" for cell in nbformat.read(NOTEBOOK, as_version=4).cells)
    page.locator(".jp-InputPrompt", has_text=f"[{code_cells}]:").wait_for(timeout=300_000)
    page.wait_for_selector(".widget-tab", timeout=60_000)
    viewer = page.locator(".widget-tab").first
    viewer.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('.widget-image')?.getAttribute('src')", timeout=60_000)
    page.screenshot(path=str(out / "1_rendered.png"))
    print("rendered: the viewer's tabs and figure are on the page")

    before = figure_source(page)
    slider = page.locator(".widget-slider .noUi-handle").first
    slider.focus()
    page.keyboard.press("ArrowRight")
    before = wait_for_change(page, before, "moving the step slider")
    page.screenshot(path=str(out / "2_step.png"))
    print("responds: the step slider redraws the figure")

    page.get_by_role("tab", name="intervene").first.click()
    page.locator(".widget-dropdown select").filter(has_text="ablate").first.select_option("ablate")
    page.get_by_role("button", name="apply intervention").first.click()
    before = wait_for_change(page, before, "applying an ablation")
    page.screenshot(path=str(out / "3_intervention.png"))
    print("responds: an intervention is replayed beside the unmodified run")

    page.get_by_role("tab", name="draw a board").first.click()
    corner = page.locator(".widget-gridbox button").first
    corner.click()
    if corner.inner_text().strip() != "0":
        raise RuntimeError("clicking a square with the robot-0 brush did not move robot 0 there")
    page.get_by_role("button", name="play this board").first.click()
    wait_for_change(page, before, "playing the drawn board")
    page.screenshot(path=str(out / "4_drawn_board.png"))
    print("responds: a square clicked in the board editor moves the robot, and that board is played")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "viewer" / "browser", help="screenshots")
    check(parser.parse_args().out)


if __name__ == "__main__":
    main()
