"""Package layout, CLI group and atomic output: the foundations every feature builds on."""

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from meta.atomic_write import write_text_atomic
from occupancy.atomic_output import atomic_directory
from occupancy.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_cli_group_help_and_version():
    runner = CliRunner()
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "blockade" in result.output.lower()
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0 and "0.1.0" in version.output


def test_write_text_atomic_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out" / "a.csv"
    write_text_atomic(target, "x\n1\n")
    write_text_atomic(target, "x\n2\n")
    assert target.read_text() == "x\n2\n"
    assert sorted(os.listdir(target.parent)) == ["a.csv"]


def test_atomic_directory_keeps_old_folder_on_failure(tmp_path):
    target = tmp_path / "report"
    with atomic_directory(target) as staging:
        (staging / "report.html").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staging:
            (staging / "report.html").write_text("half new")
            raise RuntimeError("interrupted")
    assert (target / "report.html").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["report"]
    with atomic_directory(target) as staging:
        (staging / "new.html").write_text("new")
    assert sorted(os.listdir(target)) == [".blockade-output", "new.html"]
