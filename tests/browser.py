"""Headless Chromium for the report tests: dump the rendered DOM and take a screenshot of a local file."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    """Path of an installed Chromium, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def render_page(html_path: Path, screenshot: Path, width: int = 1366, height: int = 2400) -> str:
    """Open ``html_path`` in headless Chromium; write a PNG screenshot and return the rendered DOM."""
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium installed")
    url = html_path.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        common = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]
        dom = subprocess.run(
            [*common, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
        ).stdout
        subprocess.run(
            [*common, f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=120, check=True
        )
    return dom


def non_blank_fraction(png_path: Path) -> float:
    """Fraction of screenshot pixels that are not (near-)white."""
    import matplotlib.image as mpimg
    import numpy as np

    image = mpimg.imread(png_path)[..., :3]
    return float(np.mean(image.min(axis=-1) < 0.95))
