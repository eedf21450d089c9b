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


# -- readable reports (issue 20, item 7) ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_reanalysis():
    from occupancy.annotation.annotate import AnnotationSettings
    from occupancy.workflows.reanalysis.analysis import reanalyse
    from occupancy.workflows.reanalysis.settings import ReanalysisSettings

    return reanalyse(settings=ReanalysisSettings(annotation=AnnotationSettings(n=0), draws=0, progress=False,
                                                 sensitivity_models=(), sensitivity_half_lives_h=(),
                                                 sensitivity_windows=(), uncertainty_draws=0))


@pytest.fixture(scope="module")
def small_simulation():
    from occupancy.dosing.schedule import Schedule
    from occupancy.models import get_model
    from occupancy.simulation.simulate import simulate

    return simulate(get_model("naltrexone"), Schedule.single(50), [("task", 1.5), ("15 days", 360.0)], n=50)


@pytest.fixture(scope="module")
def small_plan():
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.workflows.planning.design import PlanScenario
    from occupancy.workflows.planning.plan import plan_study

    data = {"drug": {"name": "naltrexone"}, "doses": [{"time_h": 0.0, "amount_mg": 50.0}],
            "assessments": [{"label": "task", "time_h": 1.5}], "population": {"n": 200, "seed": 1},
            "design": {"kind": "within", "isi_days": 7.0, "participants": 40}}
    return plan_study(scenario_from_dict(data, "p", PlanScenario))


@pytest.fixture(scope="module")
def pages(small_simulation, small_plan, small_reanalysis):
    from occupancy.report.plan import plan_report_section
    from occupancy.report.reanalysis import reanalysis_report_section
    from occupancy.report.simulation import simulation_report_section

    sections = {"simulate": simulation_report_section(small_simulation), "plan": plan_report_section(small_plan),
                "reanalyse": reanalysis_report_section(small_reanalysis)}
    params = (("drug", "naltrexone"), ("ka_per_h", "1.2"), ("k_mor_ng_ml", "0.1"))
    out = {name: render_report(Report(title=name, scenario_name="x.toml", scenario_text="task = 'x'\nisi_days = 7",
                                      parameters=params, sections=(s,))) for name, s in sections.items()}
    out["run"] = render_report(Report(title="run", scenario_name="x.toml", scenario_text="", parameters=params,
                                      sections=(sections["reanalyse"], sections["plan"])))
    return sections, out


def _headers(page):
    return re.findall(r"<th\b[^>]*>(.*?)</th>", page, flags=re.S)


@pytest.mark.parametrize("name", ["simulate", "plan", "reanalyse", "run"])
def test_reports_open_with_key_numbers_and_a_reading_and_end_with_the_model(pages, name):
    page = pages[1][name]
    body = page[page.index("<main>"):]
    first_section = re.search(r'<section id="([a-z-]+)"', body).group(1)
    assert first_section == "key-numbers"
    assert '<p class="reading">' in body[: body.index('id="key-number-table"')]
    order = [body.index(f'id="{s}"') for s in ("key-numbers", "figures", "tables", "assumptions", "what-was-run")]
    assert order == sorted(order)
    params = body[body.index('id="what-was-run"'):]
    assert "ka (per h)" in params and "k MOR (ng/mL)" in params  # parameter names as words with units


@pytest.mark.parametrize("name", ["simulate", "plan", "reanalyse", "run"])
def test_column_headers_are_words_not_snake_case(pages, name):
    headers = _headers(pages[1][name])
    assert headers and not [h for h in headers if "_" in h]


def test_long_key_number_cells_wrap_inside_their_column():
    page = render_report(_toy_report())
    style = page[page.index("<style>"):page.index("</style>")]
    assert "table-layout: fixed" in style and "nowrap" not in style
    assert re.search(r"col\.reading\s*\{\s*width:\s*50%", style)
    assert "overflow-wrap: anywhere" not in style  # that broke headers mid-word ("M OR")


def test_simulate_and_plan_say_typical_subject_or_population_mean(pages, small_plan):
    sections = pages[0]
    sim, plan = sections["simulate"], sections["plan"]
    assert all("typical subject" in k.label for k in sim.key_numbers if k.label.startswith("MOR at"))
    assert "typical subject" in sim.reading and "mean" in sim.reading
    assert any("population mean" in k.label for k in plan.key_numbers)
    assert "population means" in plan.reading and "typical subject" in plan.reading
    first = plan.key_numbers[0]
    assert "blockade-adjusted" in first.label and first.value == str(small_plan.n_required_attenuated_balanced)
    delay = next(k for k in plan.key_numbers if k.label == "Minimum delay after dosing")
    # 50 mg: the default model reaches P(MOR >= 90 %) >= 0.95 a few hours after the tablet
    assert small_plan.min_delay_h is not None and delay.value == f"{small_plan.min_delay_h:.2f} h"
    assert delay.reading.startswith("From this delay on at least 95% of people have MOR blockade ≥ 90 %")


def test_time_course_shows_the_first_day_beside_the_washout(small_simulation):
    from occupancy.report.timecourse_figure import timecourse_figure

    fig = timecourse_figure(small_simulation)
    top = [ax for ax in fig.axes if ax.get_ylabel() == "receptor blockade (%)"]
    assert len(top) == 2
    assert top[0].get_xlim() == (0.0, 24.0) and top[0].get_xlabel() in ("", "time (h)")
    assert top[1].get_xlim()[1] == pytest.approx(small_simulation.timecourse_arrays["time_h"][-1] / 24.0)


def test_bubble_plot_labels_do_not_overlap(small_reanalysis):
    from occupancy.report.reanalysis import bubble_figure

    fig = bubble_figure(small_reanalysis)
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text()]
    assert len(boxes) >= 8
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)
