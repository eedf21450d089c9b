"""The documentation stays true: it builds, every command it shows runs, and its numbers come from the program.

Pages are README.md and every Markdown file under docs/ (pages other developers add are picked up too).
Commands are taken from ```bash blocks (lines starting with ``blockade``; a block with a heredoc is a
script of its own and runs whole, first); transcripts are fenced blocks starting with ``$ blockade`` and
show lines the program prints (``...`` stands for lines left out).  Each page runs in its own empty
folder where ``blockade examples`` has run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from occupancy.cli import main
from occupancy.simulation.scenario import Scenario, field_range
from occupancy.workflows.planning.design import DesignSection
from occupancy.workflows.reanalysis.settings import ReanalysisSection

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)]


def _page(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _section(text: str, title: str) -> str:
    """From ``title`` to the next heading of the same or a higher level."""
    start = text.index(title)
    level = len(title) - len(title.lstrip("#"))
    following = re.search(rf"^#{{1,{level}}} ", text[start + len(title):], flags=re.M)
    return text[start:start + len(title) + following.start()] if following else text[start:]


def _fences(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced block, in order."""
    return re.findall(r"^```([^\n`]*)\n(.*?)^```", text, flags=re.S | re.M)


def _scripts(text: str) -> list[str]:
    """```bash blocks that write their own data with a heredoc: run whole, before the other commands."""
    return [body for info, body in _fences(text) if info.strip() == "bash" and "<<'EOF'" in body]


def _commands(text: str) -> list[str]:
    """Every ``blockade`` line of a ```bash block (continuation lines joined), in order.

    ``blockade app`` serves a page until stopped: tests/test_app_browser.py starts and drives it instead.
    """
    commands = []
    for info, body in _fences(text):
        if info.strip() != "bash" or "<<'EOF'" in body:
            continue
        joined = re.sub(r"\\\n\s*", " ", body)
        commands += [line.strip() for line in joined.splitlines()
                     if line.strip().startswith("blockade ") or line.strip() == "blockade"]
    return [c for c in commands if not (c == "blockade app" or c.startswith("blockade app "))]


def _transcripts(text: str) -> list[tuple[str, list[str]]]:
    """``$ blockade ...`` commands of the fenced transcripts with the lines shown after each."""
    out = []
    for info, body in _fences(text):
        if info.strip() or not body.startswith("$ blockade"):
            continue
        for chunk in re.split(r"^\$ ", body, flags=re.M)[1:]:
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


def test_the_transcript_matcher_can_fail():
    assert _shown_in(["a", "...", "c"], ["a", "b", "c"])
    assert not _shown_in(["a", "c"], ["a", "b", "c"])  # a run without "..." is contiguous
    assert not _shown_in(["c", "...", "a"], ["a", "b", "c"])  # in order


def _mkdocs() -> str:
    exe = shutil.which("mkdocs", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if exe is None:
        pytest.skip("mkdocs is not installed (pip install '.[test]' installs it)")
    return exe


def test_the_site_builds_strictly(tmp_path):
    """`mkdocs build --strict`: no broken link, missing snippet, docstring or CLI reference problem."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([_mkdocs(), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    site = tmp_path / "site"
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert all(f"blockade {c}" in cli for c in ("simulate", "plan", "reanalyse", "run", "examples", "meta pool"))
    api = (site / "reference" / "python-api" / "index.html").read_text(encoding="utf-8")
    assert "fit_multilevel" in api and "Parameters" in api  # numpydoc sections rendered
    schema = (site / "reference" / "scenario-files" / "index.html").read_text(encoding="utf-8")
    assert "<!-- scenario-schema -->" not in schema and "ReanalysisSection" in schema
    assert json.loads((site / "reference" / "scenario.schema.json").read_text())["title"] == "Scenario"


def test_every_page_is_in_the_navigation():
    """A page missing from mkdocs.yml's nav is built but unreachable; pages reserved for others are listed."""
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {p.relative_to(DOCS).as_posix() for p in PAGES if DOCS in p.parents}
    missing = sorted(p for p in pages if f": {p}" not in nav and f"- {p}" not in nav)
    assert missing == [], f"add these pages to the nav of mkdocs.yml: {missing}"


def test_the_scenario_schema_tables_come_from_the_models():
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        import scenario_schema
    finally:
        sys.path.remove(str(DOCS / "hooks"))
    tables = scenario_schema.schema_markdown()
    for model in (Scenario, DesignSection, ReanalysisSection):
        for key in model.model_fields:
            assert f"| `{key}` |" in tables, key
    assert "| `isi_days` | float | (0, 365] |" in tables.replace("float or ", "") or "(0, 365]" in tables
    assert scenario_schema.MARKER in _page("docs/reference/scenario-files.md")


@pytest.mark.parametrize("page", [p for p in PAGES if "blockade " in p.read_text(encoding="utf-8")],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_docs_show_commands_only_with_files_blockade_examples_writes(page):
    from occupancy.bundled import example_files

    shipped = {p.name for p in example_files()}
    text = page.read_text(encoding="utf-8")
    made = {"outcomes_g.csv", "my_outcomes_annotated.csv", "bcg.csv", "bcg_rr.csv", "new.csv", "bcg_gap.csv",
            "bcg_gap_rr.csv"}
    commands = _commands(text) + [c for c, _ in _transcripts(text)]
    for command in commands:
        for word in shlex.split(command, comments=True):
            if re.fullmatch(r"[\w.-]+\.(csv|toml)", word) and word not in made:
                assert word in shipped, f"{word} (in: {command}) is not written by blockade examples"


def _steps(text: str) -> list[tuple[str, object]]:
    """The page's runnable items in document order: ("script", body), ("command", line), ("transcript", ...)."""
    steps = []
    for info, body in _fences(text):
        if info.strip() == "bash" and "<<'EOF'" in body:
            steps.append(("script", body))
        elif info.strip() == "bash":
            steps += [("command", c) for c in _commands(f"```bash\n{body}```\n")]
        elif not info.strip() and body.startswith("$ blockade"):
            steps += [("transcript", t) for t in _transcripts(f"```\n{body}```\n")]
    return steps


def _run_page(page: Path, folder: Path, monkeypatch) -> int:
    """Run the page's steps in order in ``folder`` (with the examples, unless the page writes them itself)."""
    steps = _steps(page.read_text(encoding="utf-8"))
    monkeypatch.chdir(folder)
    runner = CliRunner()
    if not any(kind == "transcript" and step[0] == "blockade examples" for kind, step in steps):
        assert runner.invoke(main, ["examples", "--out", "."]).exit_code == 0
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for kind, step in steps:
        if kind == "script":
            done = subprocess.run(["bash", "-e", "-c", step], cwd=folder, env=env, capture_output=True, text=True)
            assert done.returncode == 0, f"{page.name}: {step[:200]}\n{done.stderr[-800:]}"
        elif kind == "command":
            result = runner.invoke(main, shlex.split(step, comments=True)[1:])
            assert result.exit_code == 0, f"{page.name}: {step}\n{result.stdout[-800:]}\n{result.stderr[-800:]}"
            assert result.exception is None or isinstance(result.exception, SystemExit), step
        else:
            command, shown = step
            result = runner.invoke(main, shlex.split(command)[1:])
            fails = any(line.startswith("blockade: error:") for line in shown)
            assert result.exit_code == (2 if fails else 0), (page.name, command, result.output[-800:])
            separate = result.stdout.splitlines() + result.stderr.splitlines()
            assert _shown_in(shown, result.output.splitlines()) or _shown_in(shown, separate), \
                (page.name, command, result.output[-1500:])
    return len(steps)


RUNNABLE = [p for p in PAGES if _commands(p.read_text(encoding="utf-8")) or _transcripts(p.read_text(encoding="utf-8"))]


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_command_shown_runs_in_a_folder_with_the_examples(page, tmp_path, monkeypatch):
    """After `blockade examples`, every `blockade ...` line of the page runs (in order) and exits 0, and
    every transcript shows what the program prints."""
    assert _run_page(page, tmp_path, monkeypatch) > 0


def test_the_docs_show_the_commands_the_readme_used_to():
    """Nothing was lost moving the README's reference into the docs: its ~50 commands are all still shown."""
    every = [c for p in PAGES for c in _commands(p.read_text(encoding="utf-8"))]
    assert len(every) >= 30 and any(c.startswith("blockade meta power") for c in every)
    transcripts = [c for p in PAGES for c, _ in _transcripts(p.read_text(encoding="utf-8"))]
    assert len([c for c in transcripts if c.startswith("blockade meta")]) >= 10
    assert "blockade simulate single_dose_50mg.toml" in transcripts


# -- the scenario key reference ---------------------------------------------------------------------------

def _section_models(annotation) -> list:
    found = []
    for candidate in (annotation, *typing.get_args(annotation)):
        for inner in (candidate, *typing.get_args(candidate)):
            if hasattr(inner, "model_fields"):
                found.append(inner)
    return found


def _reference_rows() -> list[str]:
    return [line for line in _page("docs/reference/scenario-files.md").splitlines() if line.startswith("| `")
            and "|---" not in line][:1000]


def _row_for(rows: list[str], section: str | None, key: str) -> str | None:
    pattern = (rf"\[+{section}\]+[^|]*`?\b{key}\b" if section else rf"`{key}`")
    return next((row for row in rows if re.search(pattern, row.split("|")[1])), None)


def test_every_scenario_key_is_in_the_reference_with_its_range():
    """Each key has a row in the hand-written table, and each numeric key's row shows its pydantic range."""
    text = _page("docs/reference/scenario-files.md")
    rows = [r for r in _reference_rows() if text.index(r) < text.index("## Schema, generated")]
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


# -- numbers quoted in the text ----------------------------------------------------------------------------

CALIBRATION_PAGE = "docs/explanation/calibration.md"


@pytest.mark.parametrize("name", sorted(__import__("tests.readme_blocks", fromlist=["BLOCKS"]).BLOCKS))
def test_calibration_tables_are_generated_from_the_committed_records(name):
    """The pkpd parameter, comparison and prediction tables equal what the calibration records give.

    Regenerate them with ``python tests/readme_blocks.py`` after a refit (``blockade calibrate --refit --write``).
    """
    from tests.readme_blocks import BLOCKS

    table = BLOCKS[name]()
    pages = (CALIBRATION_PAGE, "docs/explanation/models.md")
    assert any(table in _page(p) for p in pages), f"{pages}: the {name} table is stale; it should read:\n{table}"


def test_numbers_in_the_models_text_follow_the_calibration_record():
    """Numbers quoted in the models prose are the record's (rounded as shown)."""
    record = json.loads((ROOT / "occupancy" / "data" / "pkpd_naltrexone_calibration.json").read_text())
    held = record["held"]["nol_potency_ratio"]["value"]
    text = _flat(_page(CALIBRATION_PAGE))
    assert f"is held at {held:.0f}" in text
    check = record["variants"][record["default_hysteresis"]]["iv_naltrexol_check"]
    assert f"peak MOR {check['peak_mor_20mg_bolus_fm1']:.0f} %" in text
    rows = record["variants"][record["default_hysteresis"]]["profiles"]["nol_potency_ratio"]["rows"]
    at_100 = next(r for r in rows if r["value"] == 100.0)
    key = record["variants"][record["default_hysteresis"]]["key_predictions"]
    assert f"leave {at_100['mor_15d']:.1f} % MOR rather than {key['mor_15d']:.1f} %" in text


def test_plan_worked_example_numbers_come_from_the_program():
    """The 7-day crossover paragraph quotes what `blockade plan plan_crossover_7d` computes."""
    result = CliRunner().invoke(main, ["plan", "plan_crossover_7d", "--json", "--quiet"])
    assert result.exit_code == 0
    d = json.loads(result.stdout)
    drug_first = next(r for r in d["residual_per_order"] if r["order"] == "drug→placebo")
    text = _flat(_section(_page("docs/tutorials/plan-a-crossover.md"), "## Plan a study"))
    for shown in (f"leaves {drug_first['first_assessment_MOR']:.1f} % MOR blockade",
                  f"Averaged over orders that is {d['residual_placebo']['MOR']:.1f} %",
                  f"the contrast is {d['contrast_pp']:.1f} percentage points",
                  f"to {d['effect_attenuated']:.3f}",
                  f"from {d['n_required_balanced']} to {d['n_required_attenuated_balanced']}",
                  f"is {d['min_isi_days']:.1f} days ({d['min_isi_days_median']:.1f} days for the median person)"):
        assert shown.replace("-", "−") in text or shown in text, shown
    assert f"before the minimum delay of {d['min_delay_h']:.2f} h" in text


def test_reanalysis_paragraph_numbers_come_from_the_program():
    """The bundled-review paragraph quotes what `blockade reanalyse` computes."""
    result = CliRunner().invoke(main, ["reanalyse", "--json", "--quiet"])
    assert result.exit_code == 0
    d = json.loads(result.stdout)
    text = _flat(_section(_page("docs/tutorials/reanalyse-your-meta-analysis.md"), "## Reanalyse data"))
    adj = d["adjusted"]
    shown = f"The rescaled estimate is {adj['estimate']:.2f} [{adj['ci_lb']:.2f}, {adj['ci_ub']:.2f}]"
    assert shown.replace("-", "−") in text, shown
    for key, label in (("pooled", "pooled"), ("adjusted", "rescaled"), ("adjusted_regression", "regression")):
        rob = d[key]["robust"]
        shown = f"{label} [{rob['ci_lb']:.3f}, {rob['ci_ub']:.3f}] (df {rob['df']:.1f})"
        assert shown.replace("-", "−") in text, shown


def test_the_meta_worked_example_writes_its_files(tmp_path):
    """The BCG example's script runs in an empty folder and writes the files its transcripts read."""
    text = _page("docs/how-to/meta-analysis.md")
    (script,) = _scripts(text)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert {"bcg.csv", "bcg_rr.csv", "new.csv", "bcg_gap.csv"} <= {p.name for p in tmp_path.iterdir()}
    assert len([c for c, _ in _transcripts(text) if c.startswith("blockade meta")]) >= 10


def test_the_models_page_quotes_todays_plan_and_reanalysis_in_its_after_column():
    """The before/after table of docs/explanation/models.md: every "after" number is what the program prints."""
    plan = CliRunner().invoke(main, ["plan", "plan_crossover_15d", "--json", "--quiet", "--model-draws", "0"])
    assert plan.exit_code == 0, plan.output
    p = json.loads(plan.stdout)
    re_ = CliRunner().invoke(main, ["reanalyse", "--json", "--quiet"])
    assert re_.exit_code == 0, re_.output
    r = json.loads(re_.stdout)
    text = _flat(_section(_page("docs/explanation/models.md"), "## 6. What changed for researchers"))

    def ci(d):
        return f"{d['estimate']:.3f} [{d['ci_lb']:.3f}, {d['ci_ub']:.3f}]".replace("-", "−")

    rutgen = next(s for s in r["study_contrasts"] if s["study_id"] == "rutgen_lamm_63")
    for shown in (f"| {p['min_delay_h']:.2f} h |",
                  f"| {p['min_isi_days']:.1f} days (median person {p['min_isi_days_median']:.1f}) |",
                  f"| {p['residual_at_isi_p50']:.1f} / {p['residual_at_isi_p95']:.1f} % |",
                  f"| {p['contrast_pp']:.1f} pp |",
                  f"| {p['n_required_attenuated_balanced']} |",
                  f"| {ci(r['pooled'])} |",
                  f"| {ci(r['adjusted'])} |",
                  f"| {ci(r['adjusted_regression'])} |",
                  f"| {rutgen['MOR_contrast']:.0f} pp |"):
        assert shown in text, shown
