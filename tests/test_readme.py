"""The README stays true: set-up commands, the scenario key reference and the worked example."""

import re
import typing
from pathlib import Path

from click.testing import CliRunner

from occupancy.cli import main
from occupancy.workflows.planning.design import DesignSection
from occupancy.workflows.reanalysis.settings import ReanalysisSection
from occupancy.simulation.scenario import Scenario

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


def test_every_scenario_key_is_in_the_reference():
    reference = _section("## Scenario file reference")
    missing = []
    for name, field in Scenario.model_fields.items():
        models = _section_models(field.annotation)
        if not models:
            if f"`{name}`" not in reference:
                missing.append(name)
            continue
        for model in models:
            for key in model.model_fields:
                if not re.search(rf"\[+{name}\]+[^|]*`?\b{key}\b", reference):
                    missing.append(f"{name}.{key}")
    for section, model in (("design", DesignSection), ("reanalysis", ReanalysisSection)):
        for key in model.model_fields:
            if not re.search(rf"\[{section}\][^|]*\b{key}\b", reference):
                missing.append(f"{section}.{key}")
    assert missing == []


def test_worked_simulate_example_matches_the_program():
    block = _section("## Simulate a dose")
    shown = block.split("$ blockade simulate scenarios/single_dose_50mg.toml\n", 1)[1].split("```", 1)[0]
    result = CliRunner().invoke(main, ["simulate", str(ROOT / "scenarios" / "single_dose_50mg.toml"), "--quiet"])
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
    import os
    import shlex
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
