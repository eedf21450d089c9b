"""`blockade app` in a real browser: Playwright for Python drives Debian's Chromium against the running app.

The app is started as the user starts it (``blockade app --no-browser --port P``, on a free port) and every
number on the page is checked against the library or the CLI for the same inputs.  Skipped, with the
reason, where Chromium, Playwright or the ``[app]`` extra is missing.  Never downloads a browser.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from occupancy.bundled import examples_dir
from occupancy.cli import main
from tests.app_server import running_app

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian package 'chromium')"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="Playwright for Python is not installed (pip install '.[test]')"),
    pytest.mark.skipif(importlib.util.find_spec("shiny") is None,
                       reason="the app's extra is not installed (pip install '.[app]')"),
]

REPORT_EPOCH = "1700000000"  # the app's reports and the CLI's carry the same date
TIMEOUT = 60_000  # ms; the machine may be busy (2 shared cores)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app"), env={"SOURCE_DATE_EPOCH": REPORT_EPOCH}) as (url, log):
        yield url
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(app_url)
    _wait_text(page, "#mor_at_assessment")
    yield page
    context.close()


def _wait_text(page, selector: str) -> str:
    page.wait_for_function(f"document.querySelector({selector!r})?.innerText.trim().length > 0", timeout=TIMEOUT)
    return page.inner_text(selector).strip()


def _expect(page, selector: str, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_have_text(text, timeout=TIMEOUT)


def _set_checkbox(page, selector: str, value: bool) -> None:
    """Set a Shiny checkbox/switch and tell Shiny, without a pointer click that an overlay could swallow."""
    page.wait_for_selector(selector, state="attached")
    page.eval_on_selector(selector, "(el, v) => { if (el.checked !== v) { el.checked = v; "
                          "el.dispatchEvent(new Event('change', {bubbles: true})); } }", value)
    assert page.is_checked(selector) is value


def _cli(*args: str):
    out = CliRunner().invoke(main, list(args))
    return out


def _cli_json(*args: str) -> dict:
    out = _cli(*args)
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def _quick_mor(dose: str, assess: str) -> str:
    data = _cli_json("simulate", "--drug", "naltrexone", "--dose", f"{dose}mg@0h", "--assess", assess, "--json")
    return f"{data['assessments'][0]['MOR']:.1f}"


def test_simulate_shows_the_librarys_mor_for_the_dose_and_time(page):
    from occupancy import Schedule, get_model, simulate

    assert page.input_value("#drug") == "naltrexone"
    _expect(page, "#mor_at_assessment", _quick_mor("50", "2h"))
    page.fill("#dose_mg", "5")
    page.fill("#assess_h", "49")
    library = simulate(get_model("naltrexone"), Schedule.single(5.0), [("task", 49.0)]).assessments[0]["MOR"]
    _expect(page, "#mor_at_assessment", f"{library:.1f}")
    assert f"{library:.1f}" == _quick_mor("5", "49h")
    assert page.locator("#timecourse_plot svg").count() >= 1
    assert page.inner_text("#app_error").strip() == ""


def test_the_dose_curve_number_sits_beside_the_time_course_number_with_what_each_is(page):
    from occupancy.models.dose_response import dose_curve

    _expect(page, "#time_course_mor", page.inner_text("#mor_at_assessment").strip() + " %")
    _expect(page, "#dose_curve_mor", f"{dose_curve('naltrexone').at(50.0):.1f} %")
    text = page.inner_text("#dose_curve_compare")
    assert "8 h" in text and "typical subject" in text and "different questions" in text


def test_long_defaults_show_rounded_and_the_exact_default_is_used(page, tmp_path):
    from occupancy.models import get_model

    ka = "#p__naltrexone__pkpd__ka_per_h"
    exact = get_model("naltrexone", "pkpd").ka_per_h
    assert page.input_value(ka) == f"{exact:.4g}" != repr(exact)  # e.g. 2.852, not 2.852291831966985
    _expect(page, "#mor_at_assessment", _quick_mor("50", "2h"))  # the CLI's numbers: the exact default is used
    with page.expect_download() as download:
        page.click("#scenario_download")
    path = tmp_path / "saved.toml"
    download.value.save_as(path)
    assert "ka_per_h" not in path.read_text(encoding="utf-8")
    assert "ka_per_h" not in page.evaluate("location.search")


def test_downloaded_scenario_gives_the_same_number_in_the_cli(page, tmp_path):
    page.fill("#dose_mg", "30")
    page.fill("#assess_h", "26")
    _set_checkbox(page, "#pop_on", True)  # a population, so the file carries [population] too
    _expect(page, "#mor_at_assessment", _quick_mor("30", "26h"))
    page.wait_for_function("document.querySelector('#mor_detail')?.innerText.includes('population')")
    shown = page.inner_text("#mor_at_assessment").strip()
    with page.expect_download() as download:
        page.click("#scenario_download")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name == "blockade-simulate.toml"
    text = path.read_text(encoding="utf-8")
    assert "amount_mg = 30.0" in text and "[population]" in text
    data = _cli_json("simulate", str(path), "--json")
    assert f"{data['assessments'][0]['MOR']:.1f}" == shown
    ran = _cli("run", str(path), "--out", str(tmp_path / "out"), "--quiet")
    assert ran.exit_code == 0, ran.output
    written = json.loads((tmp_path / "out" / "simulation.json").read_text())
    assert f"{written['assessments'][0]['MOR']:.1f}" == shown
    assert written["assessments"][0]["MOR_p95"] == data["assessments"][0]["MOR_p95"]


def test_malformed_upload_shows_the_cli_line_and_the_app_keeps_working(page, tmp_path):
    bad = b"[drug]\nname = 'naltrexone'\n[[doses]]\ntime_h = 0\namount_mg = -5\n"
    (tmp_path / "bad.toml").write_bytes(bad)
    cli = _cli("run", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "out"))
    assert cli.exit_code == 2
    expected = cli.stderr.strip()
    assert "\n" not in expected and expected.startswith("blockade: error: bad.toml: ")
    page.set_input_files("#scenario_upload", files=[{"name": "bad.toml", "mimeType": "application/toml",
                                                     "buffer": bad}])
    _expect(page, "#app_error", expected)
    page.set_input_files("#scenario_upload", files=[{"name": "broken.toml", "mimeType": "application/toml",
                                                     "buffer": b"[drug\n"}])
    (tmp_path / "broken.toml").write_bytes(b"[drug\n")
    _expect(page, "#app_error", _cli("run", str(tmp_path / "broken.toml")).stderr.strip())
    page.set_input_files("#scenario_upload", files=[{"name": "huge.toml", "mimeType": "application/toml",
                                                     "buffer": b"#" * (5 * 1024 * 1024 + 10)}])
    _expect(page, "#app_error", "blockade: error: huge.toml: the file is 5.0 MB; uploads are limited to 5.0 MB")
    page.fill("#dose_mg", "12.5")  # still alive: recomputes, and the error goes once something succeeds
    _expect(page, "#mor_at_assessment", _quick_mor("12.5", "2h"))
    _expect(page, "#app_error", "")


def test_a_valid_upload_restores_the_scenario(page):
    path = examples_dir() / "inagaki_titration_crossover_10d.toml"
    page.set_input_files("#scenario_upload", str(path))
    data = _cli_json("simulate", str(path), "--json")
    _expect(page, "#mor_at_assessment", f"{data['assessments'][0]['MOR']:.1f}")
    assert page.input_value("#dose_mg") == "25" and page.input_value("#dose_rows") == "4"
    assert page.inner_text("#app_error").strip() == ""


def test_plan_matches_blockade_plan(page, tmp_path):
    page.click("a[data-value='plan']")
    page.fill("#isi_days", "10")
    page.fill("#participants", "30")
    equivalent = tmp_path / "equivalent.toml"
    equivalent.write_text('[drug]\nname = "naltrexone"\n[[doses]]\ntime_h = 0\namount_mg = 50\n'
                          '[[assessments]]\nlabel = "task"\ntime_h = 2\n'
                          '[design]\nkind = "within"\nisi_days = 10\nparticipants = 30\n', encoding="utf-8")
    cli = _cli_json("plan", str(equivalent), "--json", "--quiet")
    _expect(page, "#plan_power", f"{cli['power_attenuated']:.3f}")
    _expect(page, "#plan_min_isi_days", f"{cli['min_isi_days']:.1f}")
    advice = page.inner_text("#plan_recommendations")
    assert "0.95 × 90 % criterion" in advice and f"Recruit {cli['n_required_attenuated']} participants" in advice
    with page.expect_download() as download:
        page.click("#scenario_download")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "blockade-plan.toml"
    again = _cli_json("plan", str(saved), "--json", "--quiet")
    assert (again["min_isi_days"], again["power_attenuated"]) == (cli["min_isi_days"], cli["power_attenuated"])


def test_a_plan_downloaded_with_a_blank_n_gives_the_apps_n_and_power_in_the_cli(page, tmp_path):
    from occupancy.workflows.planning.plan import plan

    page.click("a[data-value='plan']")
    page.fill("#participants", "")
    page.wait_for_function("document.querySelector('#plan_power_note')?.innerText.includes('attenuation')")
    page.wait_for_selector("#plan_outputs:not(.outdated)")
    note = page.inner_text("#plan_power_note")
    with page.expect_download() as download:
        page.click("#scenario_download")
    saved = tmp_path / "blockade-plan.toml"
    download.value.save_as(saved)
    cli = plan(saved)
    assert f"N = {cli.n_planned} (" in note
    assert page.inner_text("#plan_power").strip() == f"{cli.power_attenuated:.3f}"


def test_plan_shows_the_model_uncertainty_of_blockade_plan(page, tmp_path):
    """The Plan tab shows the model uncertainty in the words of blockade plan's summary (computed after the plan,
    per schedule, in the background)."""
    from occupancy.workflows.planning.plan import plan

    equivalent = tmp_path / "equivalent.toml"
    equivalent.write_text('[drug]\nname = "naltrexone"\n[[doses]]\ntime_h = 0\namount_mg = 50\n'
                          '[[assessments]]\nlabel = "task"\ntime_h = 2\n'
                          '[design]\nkind = "within"\nisi_days = 15\nparticipants = 30\n', encoding="utf-8")
    cli = plan(equivalent)
    power_words = cli.model_uncertainty_sentences()["power_attenuated"]
    page.click("a[data-value='plan']")
    page.fill("#participants", "30")
    page.wait_for_function("(s) => document.querySelector('#plan_uncertainty_done')?.innerText.includes(s)",
                           arg=power_words)
    shown = page.inner_text("#plan_uncertainty")
    assert cli.model_uncertainty_note in shown
    for sentence in cli.model_uncertainty_sentences().values():
        assert sentence in shown, (sentence, shown)
    assert "Minimum delay:" in shown


def test_reanalysis_runs_in_the_background_and_never_blocks_simulate(page):
    page.click("a[data-value='reanalyse']")
    page.click("button:has-text('Reanalysis settings')")
    page.fill("#ra__draws", "3000")  # long enough to watch: tens of seconds
    page.wait_for_function("document.querySelector('#reanalysis_running')?.innerText.includes('Monte Carlo draw')")
    page.click("a[data-value='simulate']")
    started = time.monotonic()
    page.fill("#dose_mg", "7.5")
    _expect(page, "#mor_at_assessment", _quick_mor("7.5", "2h"))
    assert time.monotonic() - started < 20, "the Simulate tab waited for the reanalysis"
    page.click("a[data-value='reanalyse']")
    assert page.locator("#reanalysis_running").count() == 1  # still running: the edit did not wait for it
    page.fill("#ra__draws", "0")  # replaces the running reanalysis (it stops at its next draw)
    review = _cli_json("reanalyse", "--draws", "0", "--json", "--quiet")["pooled"]
    expected = f"{review['estimate']:.4f} [{review['ci_lb']:.4f}, {review['ci_ub']:.4f}]"
    _expect(page, "#reanalysis_pooled", expected)
    page.wait_for_selector("#forest_plot svg")
    assert page.inner_text("#app_error").strip() == ""


def test_a_page_from_another_origin_cannot_drive_the_app(browser, app_url):
    """Issue 18: a web page the user happens to visit opens the app's websocket; the app refuses it."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.route("http://evil.test/**", lambda route: route.fulfill(
            status=200, content_type="text/html", body="<html><body>elsewhere</body></html>"))
        page.goto("http://evil.test/")
        ws = app_url.replace("http://", "ws://") + "websocket/"
        outcome = page.evaluate("""(url) => new Promise((done) => {
            const ws = new WebSocket(url);
            ws.onopen = () => { ws.close(); done('open'); };
            ws.onerror = () => done('refused');
            setTimeout(() => done('timeout'), 20000);
        })""", ws)
        assert outcome == "refused"
        own = context.new_page()  # the app's own page in the same browser still connects
        own.goto(app_url)
        _wait_text(own, "#mor_at_assessment")
    finally:
        context.close()


def _field_error(page, input_id: str) -> str:
    """The message under a field, checked to be tied to it by aria-invalid and aria-describedby."""
    page.wait_for_function(f"document.getElementById({input_id!r})?.getAttribute('aria-invalid') === 'true'",
                           timeout=TIMEOUT)
    described = page.get_attribute(f"#{input_id}", "aria-describedby")
    assert f"{input_id}_error" in described.split()
    return page.inner_text(f"#{input_id}_error").strip()


def _no_field_error(page, input_id: str) -> None:
    page.wait_for_function(f"!document.getElementById({input_id!r})?.hasAttribute('aria-invalid') && "
                           f"!document.getElementById({input_id!r} + '_error')", timeout=TIMEOUT)


def test_errors_sit_at_the_field_mark_outputs_outdated_and_clear_per_tab(page):
    shown = _wait_text(page, "#mor_at_assessment")
    page.fill("#dose_mg", "-5")
    assert _field_error(page, "dose_mg") == "Dose 1 – amount: must be > 0 (got -5)"
    _expect(page, "#app_error", "blockade: error: Simulate tab: doses[0].amount_mg: must be > 0 (got -5)")
    page.wait_for_selector("#simulate_outputs.outdated")
    assert "Outdated" in page.inner_text("#simulate_outdated")
    assert page.inner_text("#mor_at_assessment").strip() == shown  # the last result stays, greyed
    # the Plan tab, which uses the dose, says so and marks its numbers outdated
    page.click("a[data-value='plan']")
    page.wait_for_selector("#plan_outputs.outdated")
    _expect(page, "#app_error", "blockade: error: Plan tab: doses[0].amount_mg: must be > 0 (got -5)")
    assert "Simulate tab" in page.inner_text("#plan_outdated")
    page.click("a[data-value='simulate']")
    page.fill("#dose_mg", "50")
    _no_field_error(page, "dose_mg")
    page.wait_for_selector("#simulate_outputs:not(.outdated)")
    _expect(page, "#app_error", "")
    page.click("a[data-value='plan']")
    page.wait_for_selector("#plan_outputs:not(.outdated)")
    page.fill("#participants", "1000000000")
    assert _field_error(page, "participants").startswith("Participants")
    page.wait_for_selector("#plan_outputs.outdated")
    page.click("a[data-value='reanalyse']")  # another tab's errors are not shown here
    _expect(page, "#app_error", "")
    page.click("a[data-value='plan']")
    page.fill("#participants", "30")
    _no_field_error(page, "participants")
    page.wait_for_selector("#plan_outputs:not(.outdated)")
    page.click("a[data-value='simulate']")
    page.fill("#dose_rows", "2")  # a second dose row left blank: the row's own field is marked
    page.click("a[data-value='simulate']")
    assert _field_error(page, "dose_time_h_2").startswith("Dose 2 – time (h): required")


@pytest.mark.parametrize("tab", ["simulate", "plan", "reanalyse"])
def test_each_tab_downloads_the_clis_report(page, tab, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", REPORT_EPOCH)
    page.fill("#dose_mg", "25")
    _expect(page, "#mor_at_assessment", _quick_mor("25", "2h"))
    if tab == "plan":
        page.click(f"a[data-value='{tab}']")
        page.fill("#participants", "24")
    elif tab == "reanalyse":
        page.click(f"a[data-value='{tab}']")
        page.click("button:has-text('Reanalysis settings')")
        page.fill("#ra__draws", "0")
    wanted = {"simulate": "amount_mg = 25.0", "plan": "participants = 24", "reanalyse": "draws = 0"}[tab]
    for _ in range(20):  # the server has the new value once the downloaded scenario holds it
        with page.expect_download() as scenario:
            page.click("#scenario_download")
        saved = tmp_path / scenario.value.suggested_filename
        scenario.value.save_as(saved)
        if wanted in saved.read_text(encoding="utf-8"):
            break
        time.sleep(0.5)
    with page.expect_download(timeout=TIMEOUT) as report:
        page.click(f"#{tab}_report_download")
    assert report.value.suggested_filename == f"blockade-{tab}-report.html"
    html = Path(report.value.path()).read_text(encoding="utf-8")
    ran = _cli("run", str(saved), "--out", str(tmp_path / "out"), "--quiet")
    assert ran.exit_code == 0, ran.output
    assert html == (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<html" in html and (tab == "reanalyse" or "25" in html)


def test_the_time_course_downloads_as_png_and_svg(page):
    for button, head in (("#download_timecourse_png", b"\x89PNG"), ("#download_timecourse_svg", b"<?xml")):
        with page.expect_download() as download:
            page.click(button)
        assert Path(download.value.path()).read_bytes().startswith(head)


AXE = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


def _axe_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.filter(v => v.impact === 'critical' || v.impact === 'serious')
                 .map(v => v.id + ' (' + v.impact + '): '
                      + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join('; '));
    }""")
    return found


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed: npm install --prefix tests/axe "
                                              "(.ci/run does it where npm is available)")
def test_every_tab_passes_axe_core_and_figures_are_named(page):
    assert page.get_attribute("html", "lang") == "en"
    assert page.evaluate("document.activeElement?.id") == "drug"  # keyboard users start at the inputs
    page.keyboard.press("Tab")
    assert page.evaluate("!!document.activeElement.closest('.sidebar')")
    page.wait_for_selector("#timecourse_plot svg")
    assert _axe_violations(page) == []
    page.click("a[data-value='plan']")
    page.wait_for_selector("#plan_timeline .svg-figure")
    page.wait_for_selector("#plan_outputs:not(.outdated)")
    assert _axe_violations(page) == []
    page.click("a[data-value='reanalyse']")
    page.wait_for_selector("#reanalysis_running")
    assert _axe_violations(page) == []
    unnamed = page.evaluate("""() => [...document.querySelectorAll('svg, .svg-figure')]
        .filter(el => !el.closest('[role=img][aria-label]') && el.getBoundingClientRect().width > 100
                && !el.closest('button, .btn, .bslib-sidebar-resize-handle, .accordion-button'))
        .map(el => el.outerHTML.slice(0, 80))""")
    assert unnamed == []
    page.click("button:has-text('Reanalysis settings')")
    page.fill("#ra__draws", "0")  # end the reanalysis before the page closes (no progress timer left behind)
    page.wait_for_selector("#forest_plot svg")
    page.wait_for_selector("#reanalysis_running", state="detached")


def test_choosing_naloxone_opens_with_its_own_dose_and_asks_for_the_weight(page):
    from occupancy import simulate
    from occupancy.simulation.scenario import scenario_from_dict

    page.select_option("#drug", "naloxone")
    page.wait_for_function("document.getElementById('dose_mg').value === '0.1'")
    assert page.input_value("#dose_unit") == "amount_mg_per_kg"
    assert _field_error(page, "weight_kg").startswith("Body weight (kg): needed for this dose")
    page.fill("#weight_kg", "70")
    _no_field_error(page, "weight_kg")
    scenario = scenario_from_dict({"drug": {"name": "naloxone"}, "subject": {"weight_kg": 70.0},
                                   "doses": [{"time_h": 0.0, "amount_mg_per_kg": 0.1}],
                                   "assessments": [{"label": "task", "time_h": 2.0}]}, "test")
    expected = simulate(scenario).assessments[0]["MOR"]
    _expect(page, "#mor_at_assessment", f"{expected:.1f}")
    page.select_option("#drug", "naltrexone")
    page.wait_for_function("document.getElementById('dose_mg').value === '50'")
    assert page.input_value("#dose_unit") == "amount_mg"


def test_naloxone_doses_have_a_route_column_that_round_trips(page, browser, tmp_path):
    assert not page.is_visible("#dose_route")  # naltrexone is oral only: no Route column
    page.select_option("#drug", "naloxone")
    page.wait_for_function("document.getElementById('dose_mg').value === '0.1'")
    page.fill("#weight_kg", "70")
    page.select_option("#dose_unit", "amount_mg")
    page.fill("#dose_mg", "4")
    page.wait_for_selector("#dose_route", state="visible")
    page.select_option("#dose_route", "intranasal")
    cli = _cli_json("simulate", "--drug", "naloxone", "--dose", "4mg@0h", "--route", "intranasal", "--assess", "2h",
                    "--weight", "70", "--json")
    _expect(page, "#mor_at_assessment", f"{cli['assessments'][0]['MOR']:.1f}")
    page.wait_for_function("location.search.includes('dose_route=intranasal')")
    with page.expect_download() as download:
        page.click("#scenario_download")
    saved = tmp_path / "blockade-simulate.toml"
    download.value.save_as(saved)
    assert 'route = "intranasal"' in saved.read_text(encoding="utf-8")
    assert _cli_json("simulate", str(saved), "--json")["assessments"][0]["MOR"] == cli["assessments"][0]["MOR"]
    page.fill("#dose_duration_min", "10")  # an intranasal dose is no infusion: the error sits at the route
    assert "cannot be an infusion" in _field_error(page, "dose_route")
    page.fill("#dose_duration_min", "0")
    _no_field_error(page, "dose_route")
    link = page.url
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        other = context.new_page()
        other.set_default_timeout(TIMEOUT)
        other.goto(link)
        _expect(other, "#mor_at_assessment", f"{cli['assessments'][0]['MOR']:.1f}")
        assert other.input_value("#dose_route") == "intranasal" and other.is_visible("#dose_route")
    finally:
        context.close()
    page.select_option("#dose_route", "")
    page.set_input_files("#scenario_upload", str(saved))  # the upload restores the route
    page.wait_for_function("document.getElementById('dose_route').value === 'intranasal'")


def test_the_url_restores_the_inputs(page, browser):
    page.fill("#dose_mg", "30")
    page.fill("#assess_h", "26")
    _expect(page, "#mor_at_assessment", _quick_mor("30", "26h"))
    page.wait_for_function("location.search.includes('dose_mg=30') && location.search.includes('assess_h=26')")
    link = page.url
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        other = context.new_page()
        other.set_default_timeout(TIMEOUT)
        other.goto(link)  # a colleague opens the link
        _expect(other, "#mor_at_assessment", _quick_mor("30", "26h"))
        assert other.input_value("#dose_mg") == "30" and other.input_value("#assess_h") == "26"
        other.wait_for_function("location.search.includes('dose_mg=30')")  # the link survives the restore
    finally:
        context.close()


_SMALLEST_TEXT = """(sel) => Math.min(...[...document.querySelectorAll(sel + ' svg text')].map(t => {
    const size = parseFloat(getComputedStyle(t).fontSize);
    const m = t.getScreenCTM();
    return size * Math.hypot(m.a, m.b);
}))"""


#: The rendered size (px) of one point of a matplotlib SVG (its text is drawn as paths, so it has no font size).
_PX_PER_PT = """(sel) => { const svg = document.querySelector(sel + ' svg');
    return svg.getBoundingClientRect().width / svg.viewBox.baseVal.width; }"""


@contextlib.contextmanager
def _phone(browser, app_url):
    """A 390 × 844 touch page on the app, its Simulate chart drawn; the browser context closes afterwards."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        phone.set_default_timeout(TIMEOUT)
        phone.goto(app_url)
        phone.wait_for_selector("#timecourse_plot svg text")
        yield phone
    finally:
        context.close()


def test_on_a_phone_chart_text_is_at_least_10_px(browser, app_url):
    with _phone(browser, app_url) as phone:
        phone.wait_for_selector("#dose_curve_plot svg text")
        for chart in ("#timecourse_plot", "#dose_curve_plot"):
            assert phone.evaluate(_SMALLEST_TEXT, chart) >= 10.0, chart


def test_on_a_phone_the_inputs_open_with_a_labelled_button_and_the_menu_closes_after_a_choice(browser, app_url):
    """Issue 21.6 at 390 × 844: a "Show inputs" button of at least 44 px (not only bslib's small chevron) opens and
    closes each tab's inputs; choosing a tab in the collapsed menu closes the menu; the Plan tab's charts keep text
    of at least 10 px (its matplotlib timeline: the smallest font in points times the rendered px per point)."""
    import matplotlib

    from occupancy.app.forms import PlanForm
    from occupancy.app.server import plan_scenario, run_plan
    from occupancy.report.plan_figures import _pyplot, timeline_figure

    with _phone(browser, app_url) as phone:
        button = phone.locator("#simulate_inputs_toggle")
        box = button.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44
        assert not phone.is_visible("#drug") and button.get_attribute("aria-expanded") == "false"
        button.tap()
        phone.wait_for_selector("#drug", state="visible")
        phone.wait_for_function("document.getElementById('simulate_inputs_toggle').innerText.trim() === 'Hide inputs'")
        assert button.get_attribute("aria-expanded") == "true"
        assert button.get_attribute("aria-controls") == phone.get_attribute(
            "#simulate_outputs >> xpath=ancestor::div[contains(@class,'bslib-sidebar-layout')]/aside", "id")
        phone.fill("#assess_h", "3")  # the inputs work from there
        button.tap()
        _expect(phone, "#mor_at_assessment", _quick_mor("50", "3h"))
        button.tap()
        phone.wait_for_selector("#drug", state="visible")
        button.tap()
        phone.wait_for_selector("#drug", state="hidden")
        phone.wait_for_function("document.getElementById('simulate_inputs_toggle').innerText.trim() === 'Show inputs'")
        assert button.get_attribute("aria-expanded") == "false"
        phone.tap(".navbar-toggler")
        phone.wait_for_selector("a[data-value='plan']", state="visible")
        phone.tap("a[data-value='plan']")
        phone.wait_for_selector(".navbar-collapse", state="hidden")  # the menu closed after the choice
        assert phone.locator("#plan_inputs_toggle").bounding_box()["height"] >= 44
        phone.wait_for_selector("#plan_power_curve svg text")
        assert phone.evaluate(_SMALLEST_TEXT, "#plan_power_curve") >= 10.0
        phone.wait_for_selector("#plan_timeline svg")
        fig = timeline_figure(run_plan(plan_scenario(PlanForm(), {}, {}).scenario, defer_uncertainty=True).value)
        smallest_pt = min(t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text())
        _pyplot().close(fig)
        assert smallest_pt * phone.evaluate(_PX_PER_PT, "#plan_timeline") >= 10.0
        phone.tap("#plan_inputs_toggle")
        phone.wait_for_selector("#participants", state="visible")


def test_a_running_reanalysis_can_be_cancelled(page):
    page.click("a[data-value='reanalyse']")
    page.click("button:has-text('Reanalysis settings')")
    page.fill("#ra__draws", "3000")
    page.wait_for_function("document.querySelector('#reanalysis_preliminary_status')?.innerText"
                           ".includes('of 3020 draws')")
    page.click("#reanalysis_cancel")
    page.wait_for_selector("#reanalysis_running", state="detached", timeout=30_000)
    assert page.locator("#reanalysis_preliminary_status").count() == 0  # a cancelled run leaves no preliminary g
    assert "cancelled" in page.inner_text(".app-notice")
    assert page.inner_text("#app_error").strip() == ""


def test_the_pooled_g_shows_as_preliminary_while_the_draws_run_and_the_final_result_replaces_it(page):
    page.click("a[data-value='reanalyse']")
    page.click("button:has-text('Reanalysis settings')")
    page.fill("#ra__draws", "1500")  # with the 20 parameter draws: about 20 s of draws after the pooled g is known
    page.wait_for_function("document.querySelector('#reanalysis_preliminary_status')?.innerText"
                           ".includes('of 1520 draws')", timeout=TIMEOUT)
    status = page.inner_text("#reanalysis_preliminary_status")
    assert status.startswith("Preliminary — Monte Carlo running (") and "of 1520 draws)" in status
    assert page.locator("#reanalysis_running").count() == 1  # shown while the run is still in progress
    preliminary = page.inner_text("#reanalysis_preliminary").strip()
    pooled = page.inner_text("#reanalysis_preliminary_pooled").strip()
    rescaled = preliminary.split("adjusted (rescaled) ")[1].split(";")[0]
    review = _cli_json("reanalyse", "--draws", "0", "--json", "--quiet")["pooled"]
    assert pooled == f"{review['estimate']:.4f} [{review['ci_lb']:.4f}, {review['ci_ub']:.4f}]"
    if AXE.exists():  # the preliminary box is accessible too (the axe test may miss it: it lasts seconds)
        assert _axe_violations(page) == []
    # the run ends: the preliminary box goes and the final result of the same run (1500 draws) shows the same g
    page.wait_for_selector("#reanalysis_preliminary_status", state="detached", timeout=4 * TIMEOUT)
    page.wait_for_function("document.querySelector('#reanalysis_text')?.innerText.includes('Monte Carlo (1500 draws')",
                           timeout=TIMEOUT)
    assert page.locator("#reanalysis_running").count() == 0
    _expect(page, "#reanalysis_pooled", pooled)
    assert f"adjusted (rescaled) {rescaled}" in page.inner_text("#reanalysis_text")
    assert page.inner_text("#app_error").strip() == ""


def test_the_time_axis_opens_on_the_first_day_and_switches_to_the_washout(page):
    page.wait_for_selector("#timecourse_plot svg")
    assert "time (h)" in page.inner_text("#timecourse_plot")
    page.check("input[name='time_view'][value='washout']")
    page.wait_for_function("document.querySelector('#timecourse_plot')?.textContent.includes('time (days)')")


def test_a_large_population_runs_off_the_event_loop_and_never_blocks_another_session(page, browser, app_url):
    """Issue 21.2: Simulate at n = 100,000 runs in the session's worker thread; while it runs its tab is marked
    as computing and another browser session's edit is answered (the event loop is free)."""
    _set_checkbox(page, "#pop_on", True)
    page.fill("#pop_n", "100000")
    page.wait_for_function("document.querySelector('#simulate_outdated')?.innerText.includes('large population')")
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        other.set_default_timeout(TIMEOUT)
        other.goto(app_url)
        _wait_text(other, "#mor_at_assessment")
        other.fill("#dose_mg", "7.5")
        _expect(other, "#mor_at_assessment", _quick_mor("7.5", "2h"))
        # the other session was answered while this one still computes (the mark clears only at its end)
        still_running = page.inner_text("#simulate_outdated")
        page.wait_for_selector("#simulate_outputs:not(.outdated)", timeout=4 * TIMEOUT)
    finally:
        other.context.close()
    assert "large population" in still_running  # answered before the large run ended: the loop was not blocked
    assert page.inner_text("#app_error").strip() == ""


def test_csv_downloads_neutralise_spreadsheet_formulas_like_the_cli(page):
    """A label typed as a formula reaches the CSV as text ('=...), as `blockade simulate --out` writes it."""
    page.fill("#assess_label", "=HYPERLINK(\"http://x\")")
    page.wait_for_function("document.querySelector('#assessment_table')?.innerText.includes('HYPERLINK')")
    with page.expect_download() as download:
        page.click("#download_assessments")
    text = Path(download.value.path()).read_text()
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text


def test_plan_figures_download_as_png_and_svg(page):
    page.click("a[data-value='plan']")
    _wait_text(page, "#plan_power")
    for stem in ("plan_timeline", "plan_power_curve"):
        for fmt, head in (("png", b"\x89PNG"), ("svg", b"<?xml")):
            with page.expect_download() as download:
                page.click(f"#download_{stem}_{fmt}")
            assert download.value.suggested_filename == f"{stem}.{fmt}"
            assert Path(download.value.path()).read_bytes().startswith(head)


def test_reanalysis_figures_download_as_png_and_svg(page):
    page.click("a[data-value='reanalyse']")
    page.click("button:has-text('Reanalysis settings')")
    page.fill("#ra__draws", "0")
    page.wait_for_selector("#forest_plot svg")
    page.wait_for_selector("#bubble_plot svg")
    for stem in ("forest_plot", "bubble_plot"):
        for fmt, head in (("png", b"\x89PNG"), ("svg", b"<?xml")):
            with page.expect_download() as download:
                page.click(f"#download_{stem}_{fmt}")
            assert Path(download.value.path()).read_bytes().startswith(head)


def test_hovering_the_time_course_shows_mor_kor_dor_at_that_time(page):
    """Issue 21.3: a crosshair anywhere on the chart lists MOR/KOR/DOR (and concentrations) at the nearest time."""
    area = page.locator("#timecourse_plot rect.hover-area").first
    box = area.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    crosshair = page.locator("#timecourse_plot g.crosshair").first
    page.wait_for_function("document.querySelector('#timecourse_plot g.crosshair')"
                           "?.getAttribute('visibility') === 'visible'")
    text = crosshair.text_content()
    assert "time " in text and "MOR (%):" in text and "KOR (%):" in text and "DOR (%):" in text
    mor_at = float(text.split("MOR (%):")[1].split("KOR")[0].strip())
    assert 0.0 <= mor_at <= 100.0
    page.mouse.move(1, 1)  # leaving the chart hides it
    page.wait_for_function("document.querySelector('#timecourse_plot g.crosshair')"
                           "?.getAttribute('visibility') === 'hidden'")


def test_find_the_best_design_shows_ranked_designs_and_fills_the_plan_inputs(page):
    page.click("a[data-value='plan']")
    _wait_text(page, "#plan_recommendations")  # the plan of the opening inputs is there
    page.click("#plan_explore")
    page.wait_for_selector("#plan_explore_results tbody tr", timeout=TIMEOUT)
    heads = [h.strip() for h in page.locator("#plan_explore_results thead th").all_inner_texts()]
    assert heads[0] == "Dose (mg)" and "P(MOR ≥ 90 % at the task)" in heads and heads[3] == "N"
    best = [c.strip() for c in page.locator("#plan_explore_results tbody tr").first.locator("td").all_inner_texts()]
    assert len(best) == len(heads) and float(best[4]) >= 0.95  # the search's constraint, fitted model
    assert "searched around earlier" not in page.inner_text("#plan_explore_results")
    page.click("#plan_explore_use")
    page.wait_for_function(f"Number(document.querySelector('#isi_days').value) === {float(best[2])}")
    assert float(page.input_value("#dose_mg")) == float(best[0])
    assert int(page.input_value("#participants")) == int(best[3])
    assert float(page.input_value("#assess_h")) == float(best[1])  # one dose at 0 h: start = delay
    # the table stays, marked as searched around the earlier inputs
    page.wait_for_function("document.querySelector('#plan_explore_results')?.innerText"
                           ".includes('searched around earlier Plan inputs')")
