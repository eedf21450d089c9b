"""Take the screenshots of docs/how-to/app.md: ``python docs/img/make_app_screenshots.py`` from the checkout.

Starts ``blockade app`` on a free port, opens each tab in Debian's Chromium (headless, via Playwright's
executable_path; never ``playwright install``) and saves ``docs/img/app-<tab>.png``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.app_server import running_app  # noqa: E402


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
        page.screenshot(path=str(out / "app-simulate.png"))
        page.click("a[data-value='plan']")
        page.wait_for_selector("#plan_power_curve .svg-figure")
        page.wait_for_selector("#plan_outputs:not(.outdated)")
        page.screenshot(path=str(out / "app-plan.png"))
        page.click("a[data-value='reanalyse']")
        page.click("button:has-text('Reanalysis settings')")
        page.fill("#ra__draws", "0")
        page.wait_for_selector("#forest_plot .svg-figure")
        page.wait_for_selector("#reanalyse_outputs:not(.outdated)")
        page.screenshot(path=str(out / "app-reanalyse.png"))
        page.click("a[data-value='simulate']")
        page.fill("#dose_mg", "-5")
        page.wait_for_selector("#dose_mg_error")
        page.screenshot(path=str(out / "app-field-error.png"))
        browser.close()


if __name__ == "__main__":
    main()
