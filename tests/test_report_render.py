"""The HTML report renderer: self-contained output, escaping, and rendering in a real browser."""

import re

import pytest

from occupancy.report.html import (
    Assumption, KeyNumber, Report, ReportFigure, ReportSection, ReportTable, figure_to_svg, render_report,
)
from tests.browser import find_chromium, non_blank_fraction, render_page


def _toy_report():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([0, 1, 2], [100, 60, 30], color="tab:red")
    ax.set_title("toy")
    svg = figure_to_svg(fig)
    plt.close(fig)
    frame = pd.DataFrame({"time_h": [2.0, 49.0], "MOR": [94.123, 90.5]})
    section = ReportSection(
        title="Simulation",
        key_numbers=(KeyNumber("MOR at task", "94 %", "90 % of people above 91 % <script>"),),
        figures=(ReportFigure("Time course", svg, "MOR over time"),),
        tables=(ReportTable.from_frame("Assessments", frame),),
        assumptions=(Assumption("Blockade half-life 72 h", "Lee 1988"),),
    )
    return Report(title="Toy report", scenario_name="toy.toml", scenario_text="[drug]\nname = 'naltrexone'",
                  parameters=(("model", "washout"),), sections=(section,))


def test_report_is_self_contained_and_escaped():
    page = render_report(_toy_report())
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page and "<?xml" not in page
    # no network references of any kind
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.index('id="key-numbers"') < page.index('id="figures"') < page.index('id="tables"') \
        < page.index('id="assumptions"')
    assert "94.1" in page and "Lee 1988" in page


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="headless Chromium is not installed (Debian package 'chromium')")
def test_report_renders_in_headless_chromium(tmp_path):
    html_path = tmp_path / "report.html"
    html_path.write_text(render_report(_toy_report()), encoding="utf-8")
    png = tmp_path / "shot.png"
    dom = render_page(html_path, png)
    assert 'id="key-number-table"' in dom and "MOR at task" in dom
    assert "<svg" in dom
    assert png.stat().st_size > 1000
    assert non_blank_fraction(png) > 0.01
