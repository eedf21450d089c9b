"""The README stays true: set-up commands, the scenario key reference and the worked example."""

import json
import os
import re
import shlex
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from occupancy.cli import main
from occupancy.workflows.planning.design import DesignSection
from occupancy.workflows.reanalysis.settings import ReanalysisSection
from occupancy.simulation.scenario import Scenario, field_range

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + len(title))
    return README[start:end if end != -1 else None]


def test_setup_commands_and_ci_agree():
    setup = _section("## Set up")
    assert "pip install . && blockade run" in setup
    assert 'pip install ".[test]" && python -m pytest' in setup
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -q ".[test]"' in ci and "python -m pytest" in ci


def _section_models(annotation) -> list:
    found = []
    for candidate in (annotation, *typing.get_args(annotation)):
        for inner in (candidate, *typing.get_args(candidate)):
            if hasattr(inner, "model_fields"):
                found.append(inner)
    return found


def _reference_rows() -> list[str]:
    return [line for line in _section("## Scenario file reference").splitlines() if line.startswith("| `")]


def _row_for(rows: list[str], section: str | None, key: str) -> str | None:
    pattern = (rf"\[+{section}\]+[^|]*`?\b{key}\b" if section else rf"`{key}`")
    return next((row for row in rows if re.search(pattern, row.split("|")[1])), None)


def test_every_scenario_key_is_in_the_reference_with_its_range():
    """Each key has a row, and each numeric key's row shows the range its pydantic field enforces."""
    rows = _reference_rows()
    missing, wrong_range = [], []
    sections = []
    for name, field in Scenario.model_fields.items():
        models = _section_models(field.annotation)
        if not models:
            if _row_for(rows, None, name) is None:
                missing.append(name)
            continue
        sections += [(name, model) for model in models]
    sections += [("design", DesignSection), ("reanalysis", ReanalysisSection)]
    for name, model in sections:
        for key in model.model_fields:
            row = _row_for(rows, name, key)
            if row is None:
                missing.append(f"{name}.{key}")
                continue
            expected = field_range(model, key)
            if expected is not None and expected not in row.split("|")[3]:
                wrong_range.append(f"{name}.{key}: {expected}")
    assert missing == []
    assert wrong_range == []


def _readme_commands() -> list[str]:
    """Every line of a ```bash block that starts with `blockade` (continuation lines joined).

    ``blockade app`` lines are left out (a server; tests/test_app_browser.py runs it).  A block that writes
    its own data with a heredoc (the BCG worked example) is a script of its own, run
    whole by :func:`test_bcg_example_runs_and_matches_the_program`; its lines are not taken here.
    """
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        if "<<'EOF'" in block:
            continue
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip().startswith("blockade ")
                     or line.strip() == "blockade"]
    # `blockade app` serves a page until stopped: tests/test_app_browser.py starts and drives it instead
    commands = [c for c in commands if not (c == "blockade app" or c.startswith("blockade app "))]
    return commands


def test_the_readme_shows_commands_only_with_files_blockade_examples_writes():
    from occupancy.bundled import example_files

    shipped = {p.name for p in example_files()}
    for command in _readme_commands():
        for word in shlex.split(command, comments=True):
            if re.fullmatch(r"[\w.-]+\.(csv|toml)", word) and word not in {"outcomes_g.csv",
                                                                           "my_outcomes_annotated.csv"}:
                assert word in shipped, f"{word} (in: {command}) is not written by blockade examples"


@pytest.mark.slow
def test_every_readme_command_runs_in_an_empty_folder(tmp_path, monkeypatch):
    """After `blockade examples`, every `blockade ...` line of the README runs (in order) and exits 0."""
    monkeypatch.chdir(tmp_path)
    commands = _readme_commands()
    assert len(commands) >= 25 and any(c.startswith("blockade meta power") for c in commands)
    runner = CliRunner()
    assert runner.invoke(main, ["examples", "--out", "."]).exit_code == 0
    for command in commands:
        args = shlex.split(command, comments=True)[1:]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, f"{command}\n{result.stdout[-800:]}\n{result.stderr[-800:]}"
        assert result.exception is None or isinstance(result.exception, SystemExit), command
    assert (tmp_path / "blockade-output" / "report.html").is_file() and (tmp_path / "outcomes_g.csv").is_file()


def test_worked_simulate_example_matches_the_program():
    block = _section("## Simulate a dose")
    shown = block.split("$ blockade simulate single_dose_50mg.toml\n", 1)[1].split("```", 1)[0]
    result = CliRunner().invoke(main, ["simulate", "single_dose_50mg", "--quiet"])
    assert result.exit_code == 0
    assert result.output.strip() == shown.strip()


def _meta_transcripts(block: str) -> list[tuple[str, list[str]]]:
    """``$ blockade meta ...`` commands of the fenced transcripts in ``block`` with the lines shown after each."""
    out = []
    for fence in re.findall(r"```\n(\$ blockade meta .*?)```", block, flags=re.S):
        for chunk in re.split(r"^\$ ", fence, flags=re.M)[1:]:
            command, *shown = chunk.rstrip("\n").split("\n")
            out.append((command, shown))
    return out


def _shown_in(shown: list[str], actual: list[str]) -> bool:
    """The shown lines occur in order in ``actual``; runs between ``...`` lines are contiguous."""
    runs, run = [], []
    for line in shown:
        if line.strip() == "...":
            runs.append(run)
            run = []
        else:
            run.append(line.rstrip())
    runs.append(run)
    actual = [line.rstrip() for line in actual]
    pos = 0
    for run in (r for r in runs if r):
        for start in range(pos, len(actual) - len(run) + 1):
            if actual[start:start + len(run)] == run:
                pos = start + len(run)
                break
        else:
            return False
    return True


def test_meta_worked_example_runs_from_an_empty_folder(tmp_path, monkeypatch):
    """The BCG example: its script runs in an empty folder and every transcript shows what the program prints."""
    import subprocess
    import sys

    block = _section("### Worked example: the BCG vaccine trials")
    script = re.search(r"```bash\n(cat > bcg.csv.*?)```", block, flags=re.S).group(1)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert {"bcg.csv", "bcg_rr.csv", "new.csv", "bcg_gap.csv"} <= {p.name for p in tmp_path.iterdir()}
    monkeypatch.chdir(tmp_path)
    transcripts = _meta_transcripts(block)
    assert len(transcripts) >= 10
    for command, shown in transcripts:
        args = shlex.split(command)
        result = CliRunner().invoke(main, args[1:])
        fails = any(line.startswith("blockade: error:") for line in shown)
        assert result.exit_code == (2 if fails else 0), (command, result.output)
        assert _shown_in(shown, result.output.splitlines()), (command, result.output)


@pytest.mark.parametrize("name", sorted(__import__("tests.readme_blocks", fromlist=["BLOCKS"]).BLOCKS))
def test_calibration_tables_are_generated_from_the_committed_records(name):
    """The README's pkpd parameter, comparison and prediction tables equal what the calibration records give.

    Regenerate them with ``python tests/readme_blocks.py`` after a refit (``blockade calibrate --refit --write``).
    """
    from tests.readme_blocks import BLOCKS

    table = BLOCKS[name]()
    assert table in README, f"README's {name} table is stale; it should read:\n{table}"


def test_readme_numbers_in_the_text_follow_the_calibration_record():
    """Numbers quoted in the Models prose are the record's (rounded as shown)."""
    import json

    record = json.loads((ROOT / "occupancy" / "data" / "pkpd_naltrexone_calibration.json").read_text())
    held = record["held"]["nol_potency_ratio"]["value"]
    models = _section("## Models and their sources")
    assert f"It\nis held at {held:.0f}" in models or f"is held at {held:.0f}" in models.replace("\n", " ")
    check = record["variants"][record["default_hysteresis"]]["iv_naltrexol_check"]
    peak = check["peak_mor_20mg_bolus_fm1"]
    assert f"peak MOR {peak:.0f} %" in models.replace("\n", " ")
    rows = record["variants"][record["default_hysteresis"]]["profiles"]["nol_potency_ratio"]["rows"]
    at_100 = next(r for r in rows if r["value"] == 100.0)
    key = record["variants"][record["default_hysteresis"]]["key_predictions"]
    text = models.replace("\n", " ")
    assert f"leave {at_100['mor_15d']:.1f} % MOR rather than {key['mor_15d']:.1f} %" in text


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_plan_worked_example_numbers_come_from_the_program():
    """The 7-day crossover paragraph quotes what `blockade plan plan_crossover_7d` computes."""
    result = CliRunner().invoke(main, ["plan", "plan_crossover_7d", "--json", "--quiet"])
    assert result.exit_code == 0
    d = json.loads(result.stdout)
    drug_first = next(r for r in d["residual_per_order"] if r["order"] == "drug→placebo")
    text = _flat(_section("## Plan a study"))
    for shown in (f"leaves {drug_first['first_assessment_MOR']:.1f} % MOR blockade",
                  f"Averaged over orders that is {d['residual_placebo']['MOR']:.1f} %",
                  f"the contrast is {d['contrast_pp']:.1f} percentage points",
                  f"to {d['effect_attenuated']:.3f}",
                  f"from {d['n_required_balanced']} to {d['n_required_attenuated_balanced']}",
                  f"is {d['min_isi_days']:.1f} days ({d['min_isi_days_median']:.1f} days for the median person)"):
        assert shown.replace("-", "−") in text or shown in text, shown
    assert d["min_delay_h"] is None and "never reaches 0.95 within 24 h" in text


def test_reanalysis_paragraph_numbers_come_from_the_program():
    """The bundled-review paragraph quotes what `blockade reanalyse` computes."""
    result = CliRunner().invoke(main, ["reanalyse", "--json", "--quiet"])
    assert result.exit_code == 0
    d = json.loads(result.stdout)
    text = _flat(_section("## Reanalyse data"))
    adj = d["adjusted"]
    shown = f"The rescaled estimate is {adj['estimate']:.2f} [{adj['ci_lb']:.2f}, {adj['ci_ub']:.2f}]"
    assert shown.replace("-", "−") in text, shown
    for key, label in (("pooled", "pooled"), ("adjusted", "rescaled"), ("adjusted_regression", "regression")):
        rob = d[key]["robust"]
        shown = f"{label} [{rob['ci_lb']:.3f}, {rob['ci_ub']:.3f}] (df {rob['df']:.1f})"
        assert shown.replace("-", "−") in text, shown
