"""CLI habits (issue 20, item 6): compound durations and clock times, units in TOML, the plan quick form,
did-you-mean suggestions, progress bars only on a terminal, the exit-code table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from occupancy.cli import main
from occupancy.dosing.quantities import dose_clock, parse_dose, parse_time_h
from occupancy.errors import InputError
from occupancy.simulation.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args])


# -- durations and clock times ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, hours", [("1h30min", 1.5), ("7d1.5h", 169.5), ("2d 6h", 54.0), ("1w1d", 192.0),
                                         ("90min", 1.5), ("0", 0.0), ("1h30min15s", 1.5 + 15 / 3600)])
def test_compound_durations(text, hours):
    assert parse_time_h(text) == pytest.approx(hours)


@pytest.mark.parametrize("text", ["1h30", "h", "1h-30min", "5", "1h 30 min x", "25:00"])
def test_unreadable_times_are_one_line_errors(text):
    with pytest.raises(InputError) as err:
        parse_time_h(text, what="--assess", clock_origin=(1, 9.0))
    assert str(err.value).startswith("--assess: ") and "\n" not in str(err.value)


def test_clock_times_count_from_the_first_dose_clock_time():
    origin = dose_clock("50mg@09:00")
    assert origin == (1, 9.0)
    assert parse_time_h("10:30", clock_origin=origin) == pytest.approx(1.5)
    assert parse_time_h("d8 10:30", clock_origin=origin) == pytest.approx(7 * 24 + 1.5)
    assert parse_dose("25mg@d2 21:00", clock_origin=origin).time_h == pytest.approx(36.0)
    with pytest.raises(InputError, match="before the first dose"):
        parse_time_h("08:00", clock_origin=origin)
    with pytest.raises(InputError, match="needs the first dose at a clock time"):
        parse_time_h("10:30", what="--assess")


def test_simulate_clock_times_equal_hours():
    clock = run(["simulate", "--drug", "naltrexone", "--dose", "50mg@09:00", "--dose", "25mg@d2 09:00",
                 "--assess", "10:30,d8 10:30", "--json"])
    hours = run(["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--dose", "25mg@1d",
                 "--assess", "1h30min,7d1.5h", "--json"])
    assert clock.exit_code == 0 and hours.exit_code == 0, clock.output + hours.output
    a, b = json.loads(clock.stdout), json.loads(hours.stdout)
    assert [x["time_h"] for x in a["assessments"]] == [1.5, 169.5]
    assert [x["MOR"] for x in a["assessments"]] == [x["MOR"] for x in b["assessments"]]
    r = run(["simulate", "--drug", "naltrexone", "--dose", "50mg@09:00", "--assess", "10:30", "--residual-at",
             "d16 09:00", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["summaries"]["residual_at_h"] == 360.0


# -- units in scenario files -------------------------------------------------------------------------------

_BASE = {"drug": {"name": "naltrexone"}, "doses": [{"time_h": 0.0, "amount_mg": 50.0}],
         "assessments": [{"label": "task", "time_h": 1.5}]}


def test_toml_time_fields_take_units_and_clock_times():
    from occupancy.workflows.planning.design import PlanScenario

    sc = scenario_from_dict({**_BASE, "design": {"kind": "within", "isi_days": "1w", "max_delay_h": "1d"}},
                            "p.toml", PlanScenario)
    assert sc.design.isi_days == 7.0 and sc.design.max_delay_h == 24.0
    sc = scenario_from_dict({"drug": {"name": "naloxone"}, "subject": {"weight_kg": 70},
                             "doses": [{"time_h": "09:00", "amount_mg": 0.4, "duration_min": "1h30min"}],
                             "assessments": [{"label": "a", "time_h": "10:30", "end_h": "d2 09:00"}],
                             "summary": {"residual_at_h": "2d"}})
    assert sc.doses[0].time_h == 0.0 and sc.doses[0].duration_min == 90.0
    assert (sc.assessments[0].time_h, sc.assessments[0].end_h) == (1.5, 24.0)
    assert sc.summary.residual_at_h == 48.0


@pytest.mark.parametrize("change, message", [
    ({"design": {"kind": "within", "isi_days": "7"}}, "p.toml: design.isi_days: '7' has no unit"),
    ({"design": {"kind": "within", "isi_days": "10:00"}}, "p.toml: design.isi_days: the clock time"),
    ({"assessments": [{"label": "t", "time_h": "10:30"}]}, "p.toml: assessments[0].time_h: the clock time"),
    ({"design": {"kind": "within", "isi_days": 7, "participant": 40}},
     "p.toml: design.participant: unknown key (did you mean 'participants'?)"),
    ({"desing": {"kind": "within"}}, "p.toml: desing: unknown key (did you mean 'design'?)"),
    ({"doses": [{"time_h": 0, "amount_mgs": 50}]}, "p.toml: doses[0].amount_mgs: unknown key (did you mean 'amount_mg'?)"),
])
def test_scenario_errors_are_one_line_with_suggestions(change, message):
    from occupancy.workflows.planning.design import PlanScenario

    data = {**_BASE, "design": {"kind": "within", "isi_days": 7}, **change}
    with pytest.raises(InputError) as err:
        scenario_from_dict(data, "p.toml", PlanScenario)
    assert str(err.value).startswith(message), str(err.value)


# -- did-you-mean for commands and options -----------------------------------------------------------------

def test_misspelt_commands_and_options_get_suggestions():
    r = run(["simulat"])
    assert r.exit_code == 2 and "Did you mean 'simulate'?" in r.output
    r = run(["meta", "pol"])
    assert r.exit_code == 2 and "Did you mean 'pool'?" in r.output
    r = run(["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--asess", "2h"])
    assert r.exit_code == 2 and "--assess" in r.output
    r = run(["zzzzz"])
    assert r.exit_code == 2 and "Did you mean" not in r.output


# -- the plan quick form equals the file ------------------------------------------------------------------

def test_plan_quick_form_equals_the_equivalent_toml(tmp_path):
    quick = run(["plan", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "1.5h", "--design", "within",
                 "--isi", "7d", "--participants", "40", "--effect", "-0.2", "--json", "--quiet"])
    assert quick.exit_code == 0, quick.output
    toml = tmp_path / "quick.toml"
    toml.write_text('task = "plan"\n[drug]\nname = "naltrexone"\n[[doses]]\ntime_h = 0.0\namount_mg = 50.0\n'
                    '[[assessments]]\nlabel = "1.5h"\ntime_h = 1.5\n'
                    '[design]\nkind = "within"\nisi_days = 7\nparticipants = 40\neffect = -0.2\n', encoding="utf-8")
    file = run(["plan", toml, "--json", "--quiet"])
    assert file.exit_code == 0, file.output
    a, b = json.loads(quick.stdout), json.loads(file.stdout)
    for key in ("scenario", "source"):  # the input's name: "plan" / "" for the command line, the file's otherwise
        a.pop(key), b.pop(key)
    assert a == b
    assert a["isi_days"] == 7.0 and a["n_planned"] == 40


@pytest.mark.parametrize("args, message", [
    (["--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "1.5h", "--design", "within"], "--isi: required"),
    (["--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "1.5h", "--design", "within", "--isi", "7"],
     "--isi: '7' has no unit"),
    (["--drug", "naltrexone", "--dose", "50mg@0h", "--design", "between"], "--assess"),
    (["--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "1.5h", "--design", "between", "--isi", "7d"],
     "--isi: only for kind"),
])
def test_plan_quick_form_errors(args, message):
    r = run(["plan", *args])
    assert r.exit_code == 2 and message in r.output and r.output.count("\n") == 1, r.output


# -- progress bars only on a terminal ---------------------------------------------------------------------

def test_progress_bar_only_when_stderr_is_a_terminal(capsys, monkeypatch):
    import sys

    from occupancy.workflows.reanalysis.analysis import _with_bar

    list(_with_bar(range(3), 3, "Monte Carlo draws", "draw", on=True))
    assert "Monte Carlo draws" not in capsys.readouterr().err  # captured stderr is not a terminal
    monkeypatch.setattr(type(sys.stderr), "isatty", lambda self: True, raising=False)
    list(_with_bar(range(3), 3, "Monte Carlo draws", "draw", on=True))
    assert "Monte Carlo draws" in capsys.readouterr().err
    list(_with_bar(range(3), 3, "Monte Carlo draws", "draw", on=False))  # --quiet
    assert capsys.readouterr().err == ""


def test_reanalyse_prints_no_bar_into_a_pipe():
    r = CliRunner().invoke(main, ["reanalyse", "--n", "0", "--draws", "3"])
    assert r.exit_code == 0 and "Monte Carlo draws" not in r.stderr and "\r" not in r.stderr


# -- exit codes ----------------------------------------------------------------------------------------------

def test_exit_code_table_in_help_and_docs_matches_the_code():
    import re

    from meta.cli.group import Interrupted, UserError
    from occupancy.cli.group import EXIT_CODES

    codes = [c for c, _ in EXIT_CODES]
    doc = (ROOT / "docs" / "reference" / "exit-codes.md").read_text(encoding="utf-8")
    assert [int(c) for c in re.findall(r"^\| (\d+) \|", doc, flags=re.M)] == codes
    help_text = run(["--help"]).output
    assert "Exit codes:" in help_text
    for code, text in EXIT_CODES:
        assert re.search(rf"^\s+{code}\s+{re.escape(text)}", help_text, flags=re.M), code
    assert UserError.exit_code == 2 and Interrupted.exit_code == 130
    assert run(["simulate", "--drug", "naltrexone", "--dose", "-5mg@0h"]).exit_code == 2
    assert run(["--version"]).exit_code == 0


# -- meta: yi/vi columns by default, --sei ----------------------------------------------------------------

@pytest.fixture
def effect_files(tmp_path):
    y = [-0.31, -0.12, -0.25, 0.05, -0.2, -0.4]
    v = [0.02, 0.035, 0.015, 0.05, 0.03, 0.025]
    rows = list(zip(y, v))
    (tmp_path / "yivi.csv").write_text("study,yi,vi\n" + "".join(f"s{i},{a},{b}\n" for i, (a, b) in enumerate(rows)))
    (tmp_path / "sei.csv").write_text("study,yi,sei\n" + "".join(f"s{i},{a},{b ** 0.5!r}\n"
                                                                  for i, (a, b) in enumerate(rows)))
    (tmp_path / "other.csv").write_text("study,g,se\n" + "".join(f"s{i},{a},{b ** 0.5!r}\n"
                                                                 for i, (a, b) in enumerate(rows)))
    return tmp_path


@pytest.mark.parametrize("command", [["pool"], ["bias"]])
def test_meta_defaults_to_yi_vi_and_takes_sei(effect_files, command):
    default = run(["meta", *command, effect_files / "yivi.csv", "--json"])
    named = run(["meta", *command, effect_files / "yivi.csv", "--yi", "yi", "--vi", "vi", "--json"])
    sei = run(["meta", *command, effect_files / "sei.csv", "--json"])
    other = run(["meta", *command, effect_files / "other.csv", "--yi", "g", "--sei", "se", "--json"])
    for r in (default, named, sei, other):
        assert r.exit_code == 0, r.output
    assert default.stdout == named.stdout
    a, b, c = json.loads(default.stdout), json.loads(sei.stdout), json.loads(other.stdout)

    def close(x, y):
        if isinstance(x, dict):
            return x.keys() == y.keys() and all(close(x[k], y[k]) for k in x)
        if isinstance(x, list):
            return len(x) == len(y) and all(close(p, q) for p, q in zip(x, y))
        if isinstance(x, float) and isinstance(y, float):
            return x == pytest.approx(y, rel=1e-9, abs=1e-12)
        return x == y or {x, y} <= {"vi", "sei", "se"}  # the variance column's name may appear

    # standard errors squared are the variances (up to the last bit of the CSV round trip)
    assert close(a, b)
    assert c.keys() == b.keys()


def test_meta_column_errors_name_the_options(effect_files):
    r = run(["meta", "pool", effect_files / "other.csv"])
    assert r.exit_code == 2 and "--yi: give the column of effect sizes" in r.output and "g, se" in r.output
    r = run(["meta", "pool", effect_files / "yivi.csv", "--vi", "vi", "--sei", "vi"])
    assert r.exit_code == 2 and "--vi and --sei" in r.output
    r = run(["meta", "study-power", effect_files / "sei.csv", "--effect", "0.2", "--json"])
    named = run(["meta", "study-power", effect_files / "sei.csv", "--effect", "0.2", "--se", "sei", "--json"])
    assert r.exit_code == 0 and r.stdout == named.stdout


def test_toml_amounts_take_mass_units():
    sc = scenario_from_dict({**_BASE, "doses": [{"time_h": 0.0, "amount_mg": "0.05g"}]})
    assert sc.doses[0].amount_mg == pytest.approx(50.0)
    sc = scenario_from_dict({"drug": {"name": "naloxone"}, "subject": {"weight_kg": 70},
                             "doses": [{"time_h": 0.0, "amount_ug": "0.4mg"}]})
    assert sc.doses[0].amount_ug == pytest.approx(400.0)
    with pytest.raises(InputError, match=r"doses\[0\]\.amount_mg: must be a number \(got '50'\); a text needs"):
        scenario_from_dict({**_BASE, "doses": [{"time_h": 0.0, "amount_mg": "50"}]}, "x.toml")


def test_meta_help_has_the_same_exit_codes():
    import subprocess
    import sys

    from occupancy.cli.group import EXIT_CODES

    out = subprocess.run([sys.executable, "-m", "meta", "--help"], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout
    assert "Exit codes:" in out and all(f"  {code:<4} " in out for code, _ in EXIT_CODES)


def test_plan_quick_form_report_holds_the_equivalent_toml(tmp_path):
    out = tmp_path / "plan"
    r = run(["plan", "--drug", "naltrexone", "--dose", "50mg@09:00", "--assess", "10:30", "--design", "between",
             "--participants", "100", "--out", out, "--quiet"])
    assert r.exit_code == 0, r.output
    page = (out / "report.html").read_text(encoding="utf-8")
    scenario = page[page.index("<pre>") + 5:page.index("</pre>")]
    assert scenario.startswith("# blockade plan --drug naltrexone") and "[design]" in scenario
    assert 'kind = &#34;between&#34;' in scenario or 'kind = "between"' in scenario
    assert json.loads((out / "plan.json").read_text())["primary_assessment"] == "10:30"
