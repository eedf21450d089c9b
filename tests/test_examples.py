"""``blockade examples`` and bundled scenario names: the files come from scenarios/ (installed: occupancy/_scenarios)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from occupancy.bundled import example_files, examples_dir, resolve_scenario, scenario_names
from occupancy.cli import main
from occupancy.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_the_top_level_scenarios_folder_is_the_one_copy_the_package_reads():
    """In a source checkout the bundled files are ``scenarios/`` itself; no other copy sits in the tree."""
    assert examples_dir() == ROOT / "scenarios"
    assert not (ROOT / "occupancy" / "examples").exists() and not (ROOT / "occupancy" / "_scenarios").exists()
    names = {p.name for p in example_files()}
    assert {"single_dose_50mg.toml", "plan_crossover_15d.toml", "my_outcomes.csv", "my_reanalysis.toml",
            "konstantopoulos2011.csv", "assink2016.csv", "ABOUT.md"} <= names
    about = (examples_dir() / "ABOUT.md").read_text(encoding="utf-8")
    assert all(f"`{n}`" in about for n in names - {"ABOUT.md"}), "ABOUT.md must describe every example file"


def test_package_data_covers_every_example_file():
    """The wheel maps ``scenarios/`` to ``occupancy._scenarios`` and takes every kind of file in it."""
    import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"]["occupancy._scenarios"] == "scenarios"
    assert "occupancy._scenarios" in setuptools["packages"]
    patterns = setuptools["package-data"]["occupancy._scenarios"]
    suffixes = {p.split("*")[-1] for p in patterns}
    assert {p.suffix for p in example_files()} <= suffixes


def test_an_installed_copy_is_preferred_to_a_folder_beside_the_package(tmp_path, monkeypatch):
    """Installed layout (site-packages/occupancy/_scenarios) wins; a stray site-packages/scenarios is not read."""
    import occupancy.bundled as bundled

    package = tmp_path / "site-packages" / "occupancy"
    (package / "_scenarios").mkdir(parents=True)
    (package / "_scenarios" / "only_here.toml").write_text("x")
    (tmp_path / "site-packages" / "scenarios").mkdir()
    monkeypatch.setattr(bundled.resources, "files", lambda name: package)
    assert bundled.examples_dir() == package / "_scenarios"
    assert bundled.scenario_names() == ["only_here"]
    (package / "_scenarios" / "only_here.toml").unlink()
    (package / "_scenarios").rmdir()
    with pytest.raises(InputError, match="bundled scenarios are missing"):
        bundled.examples_dir()  # no pyproject.toml beside it: not a checkout, so not read


def test_examples_writes_every_file_once_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["examples"])
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in example_files())
    for p in example_files():
        assert (tmp_path / p.name).read_bytes() == p.read_bytes()
    again = CliRunner().invoke(main, ["examples"])
    assert again.exit_code == 0 and "already there" in again.stdout
    (tmp_path / "single_dose_50mg.toml").write_text("# my edits\n")
    (tmp_path / "my_outcomes.csv").unlink()
    r = CliRunner().invoke(main, ["examples"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "single_dose_50mg.toml" in r.stderr
    assert (tmp_path / "single_dose_50mg.toml").read_text() == "# my edits\n"
    assert not (tmp_path / "my_outcomes.csv").exists()  # nothing written when anything clashes


def test_examples_into_a_new_folder_and_bad_folders(tmp_path):
    assert CliRunner().invoke(main, ["examples", "--out", str(tmp_path / "a" / "b")]).exit_code == 0
    assert (tmp_path / "a" / "b" / "ABOUT.md").is_file()
    (tmp_path / "file").write_text("x")
    for target in ("file", "file/sub"):
        r = CliRunner().invoke(main, ["examples", "--out", str(tmp_path / target)])
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("args", [["simulate", "single_dose_50mg", "--quiet"],
                                  ["simulate", "single_dose_50mg.toml", "--quiet"],
                                  ["plan", "plan_between_50mg", "--quiet"],
                                  ["reanalyse", "--scenario", "reanalysis_emax", "--draws", "0", "--quiet"]])
def test_bundled_scenarios_by_name_from_an_empty_folder(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert os.listdir(tmp_path) == []


def test_bundled_reanalysis_scenario_finds_its_data_next_to_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["run", "my_reanalysis", "--out", "res", "--quiet"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "res" / "results.json").is_file()


def test_a_local_file_wins_and_unknown_names_list_the_bundled_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "single_dose_50mg.toml").write_text("x")
    assert resolve_scenario("single_dose_50mg.toml") == Path("single_dose_50mg.toml")
    assert resolve_scenario("plan_crossover_7d") == examples_dir() / "plan_crossover_7d.toml"
    with pytest.raises(InputError, match="bundled scenarios, usable by name: crossover_7d"):
        resolve_scenario("nope")
    with pytest.raises(InputError, match="file not found"):
        resolve_scenario("sub/plan_crossover_7d.toml")  # a path is never looked up in the package
    assert "single_dose_50mg" in scenario_names() and "my_reanalysis" in scenario_names()
