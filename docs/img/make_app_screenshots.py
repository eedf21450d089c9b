"""Take the screenshots of docs/how-to/app.md and the README: ``python docs/img/make_app_screenshots.py`` from the
checkout.

Starts ``blockade app`` on a free port, opens each tab in Debian's Chromium (headless, via Playwright's
executable_path; never ``playwright install``) and saves ``docs/img/app-<tab>.png``, reduced to a 128-colour
palette (Pillow, which matplotlib needs anyway) so each stays under :data:`MAX_BYTES` (tests/test_readme.py).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.app_server import running_app  # noqa: E402

#: Largest screenshot (bytes): the README shows three of them.
MAX_BYTES = 150_000


def shoot(page, path: Path) -> None:
    """A screenshot of the page as a small palette PNG."""
    from PIL import Image

    page.screenshot(path=str(path))
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    if path.stat().st_size > MAX_BYTES:
        raise SystemExit(f"{path.name}: {path.stat().st_size} bytes, more than {MAX_BYTES}")


def main() -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    out = ROOT / "docs" / "img"
    with tempfile.TemporaryDirectory() as folder, running_app(Path(folder)) as (url, _log), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(url + "?pop_on=1")
        page.wait_for_selector("#timecourse_plot svg")
        page.wait_for_function("document.querySelector('#mor_detail')?.innerText.includes('population')")
        shoot(page, out / "app-simulate.png")
        page.click("a[data-value='plan']")
        page.wait_for_selector("#plan_power_curve svg")
        page.wait_for_selector("#plan_timeline .svg-figure")
        page.wait_for_selector("#plan_uncertainty_done")
        page.wait_for_selector("#plan_outputs:not(.outdated)")
        shoot(page, out / "app-plan.png")
        page.click("a[data-value='reanalyse']")
        page.click("button:has-text('Reanalysis settings')")
        page.fill("#ra__draws", "0")
        page.wait_for_selector("#forest_plot .svg-figure")
        page.wait_for_selector("#reanalyse_outputs:not(.outdated)")
        page.wait_for_selector("#reanalysis_running", state="detached")
        shoot(page, out / "app-reanalyse.png")
        page.click("a[data-value='simulate']")
        page.fill("#dose_mg", "-5")
        page.wait_for_selector("#dose_mg_error")
        shoot(page, out / "app-field-error.png")
        browser.close()


if __name__ == "__main__":
    main()
