"""Seeded runs give byte-identical files (SVG, HTML, CSV, JSON), and text and report show the same numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from occupancy.atomic_output import MARKER
from occupancy.cli import main


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MARKER}


@pytest.mark.parametrize("args", [
    ["simulate", "single_dose_50mg", "--n", "200"],
    ["reanalyse", "my_outcomes.csv", "--draws", "5", "--n", "100"],
    ["run", "plan_crossover_7d"],
])
def test_the_same_seeded_run_twice_gives_identical_bytes(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert CliRunner().invoke(main, ["examples"]).exit_code == 0
    first = CliRunner().invoke(main, [*args, "--out", "a", "--quiet"])
    second = CliRunner().invoke(main, [*args, "--out", "b", "--quiet"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a.keys() == b.keys() and {"report.html"} <= set(a) and any(k.endswith(".svg") for k in a)
    differ = [name for name in a if a[name] != b[name]]
    assert differ == []
    page = a["report.html"].decode()
    assert "2023-11-14 22:13 UTC" in page  # SOURCE_DATE_EPOCH, not the clock


def test_svg_ids_and_dates_are_fixed_without_source_date_epoch(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    for out in ("a", "b"):
        r = CliRunner().invoke(main, ["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2h",
                                      "--out", str(tmp_path / out), "--quiet"])
        assert r.exit_code == 0
    svg = (tmp_path / "a" / "timecourse.svg").read_bytes()
    assert svg == (tmp_path / "b" / "timecourse.svg").read_bytes()
    assert b"<dc:date>" not in svg


def test_text_output_and_report_show_the_same_percentiles(tmp_path):
    out = tmp_path / "res"
    r = CliRunner().invoke(main, ["simulate", "single_dose_50mg", "--out", str(out), "--quiet"])
    assert r.exit_code == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    rows = [line.split() for line in r.stdout.splitlines() if re.match(r"^\S.*\s\d+(\.\d+)?h\s", line)]
    assert rows
    for row in rows:
        bands = [x for x in row if re.fullmatch(r"\d+\.\d-\d+\.\d", x)]  # "65.9-89.8" in the text table
        assert len(bands) == 2, row  # MOR 95% CI (parameter uncertainty), then the 5-95th percentiles
        low, high = bands[1].split("-")
        assert f"[{low}–{high}]" in page, bands  # the report's key number shows the same two percentiles
        low, high = bands[0].split("-")
        assert f"parameter uncertainty {low}–{high} %" in page, bands  # and the typical subject's interval
