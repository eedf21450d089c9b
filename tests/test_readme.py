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
    shown = block.split("$ blockade simulate single_dose_50mg.toml\n", 1)[1].split("```", 1)[0]
    result = CliRunner().invoke(main, ["simulate", str(ROOT / "occupancy" / "examples" / "single_dose_50mg.toml"), "--quiet"])
    assert result.exit_code == 0
    assert result.output.strip() == shown.strip()
