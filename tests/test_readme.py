"""The README: short, honest, and its set-up block works verbatim from an empty folder.

Its commands and transcripts run in tests/test_docs.py with every documentation page.
"""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]["Repository"]


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + len(title))
    return README[start:end if end != -1 else None]


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)


def test_the_readme_is_a_short_start_page():
    assert len(README.splitlines()) <= 250
    assert "a research tool, not dosing advice" in README.lower()
    for heading in ("## Install", "## Quickstart", "## Documentation", "## How to cite"):
        assert f"\n{heading}" in README, heading
    quick = _section("## Quickstart")
    assert len(re.findall(r"^\$ blockade ", quick, flags=re.M)) == 3  # three commands, each with its output
    assert "CITATION.cff" in _section("## How to cite")
    assert "pip install meta" in README and "virtual environment" in README  # living with PyPI's `meta`


def test_the_app_section_shows_a_small_screenshot_of_each_tab():
    """Issue 21: the README's app section shows each tab (made by docs/img/make_app_screenshots.py), small enough
    for a start page, and points to the app's guide."""
    app = _section("## The web app")
    assert "blockade app" in app and "docs/how-to/app.md" in app and (ROOT / "docs/how-to/app.md").is_file()
    images = re.findall(r"!\[([^\]]+)\]\(([^)]+)\)", app)
    assert [Path(path).name for _alt, path in images] == ["app-simulate.png", "app-plan.png", "app-reanalyse.png"]
    for alt, path in images:
        image = ROOT / path
        assert alt and image.is_file(), path
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
        assert image.stat().st_size < 150_000, (path, image.stat().st_size)


def _setup_block() -> str:
    setup, tests = _bash_blocks(_section("## Install"))[:2]
    return setup


def _test_command() -> str:
    return _bash_blocks(_section("## Install"))[1].strip()


def test_the_setup_block_clones_makes_an_environment_installs_and_runs():
    lines = _setup_block().strip().splitlines()
    assert lines[0] == f"git clone {REPOSITORY}.git"
    assert lines[1] == f"cd {REPOSITORY.rsplit('/', 1)[1]}"
    assert "python3 -m venv .venv" in lines and ". .venv/bin/activate" in lines
    assert lines[-2:] == ["python -m pip install .", "blockade run"]
    assert not any(line.lstrip().startswith("#") for line in lines)  # zsh (macOS) runs no pasted comments
    assert _test_command() == 'python -m pip install ".[test]" && python -m pytest'


def test_ci_installs_and_tests_exactly_as_the_readme_says():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'python3 -m venv "$venv"' in ci
    assert f"\n{_test_command()}\n" in ci
    assert "playwright install" not in ci.replace("NEVER run `playwright install`", "")


def _checkout_copy(dest: Path) -> None:
    """The working tree as a clone would give it (the test has no network)."""
    skip = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", "*.egg-info", "build", "dist", "site",
                                  "blockade-output", ".pytest_cache", ".hypothesis", ".benchmarks")
    shutil.copytree(ROOT, dest, ignore=skip, symlinks=True)


@pytest.mark.slow
def test_the_setup_block_runs_verbatim_from_an_empty_folder(tmp_path):
    """The README's set-up block, run by bash in an empty folder, then its test command.

    Two substitutions keep it offline: ``git clone URL`` copies this checkout instead, and the new virtual
    environment sees this environment's installed dependencies through a ``.pth`` file (its own
    site-packages stay first, so the package it installs is the one imported) with pip told not to use
    the index.  Everything else runs as written.  The test command runs one quick test file instead of the
    whole suite.
    """
    try:
        import setuptools
    except ImportError:
        pytest.skip("setuptools is not installed here (the [test] extra installs it)")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} < 77 cannot build offline (the [test] extra needs >= 77)")
    work = tmp_path / "empty"
    work.mkdir()
    name = REPOSITORY.rsplit("/", 1)[1]
    source = tmp_path / "checkout"
    _checkout_copy(source)
    outer = os.pathsep.join(site.getsitepackages())
    offline = (
        f"printf '%s\\n' {' '.join(repr(p) for p in site.getsitepackages())} "
        "> \"$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')/_outer.pth\"\n"
        ".venv/bin/python -m pip uninstall -q -y setuptools 2>/dev/null || true\n")  # the outer, newer one builds
    script = _setup_block().replace(f"git clone {REPOSITORY}.git", f"cp -R '{source}' {name}")
    script = script.replace("python3 -m venv .venv\n", "python3 -m venv .venv\n" + offline)
    assert f"cp -R '{source}' {name}" in script and "_outer.pth" in script
    quick = "python -m pytest -q -p no:cacheprovider tests/test_packaging.py -k 'one_place or spdx'"
    script += "\n" + _test_command().replace("python -m pytest", quick) + "\n"
    script += "cd / && python -c 'import occupancy, sys; print(\"IMPORTED\", occupancy.__file__, sys.prefix)'\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", PIP_NO_INDEX="1",
               PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1", HOME=str(tmp_path))
    assert outer
    done = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    venv = work / name / ".venv"
    assert (venv / "bin" / "blockade").is_file()
    assert (work / name / "blockade-output" / "report.html").is_file()
    assert "Study plan: plan_crossover_15d" in done.stdout and "2 passed" in done.stdout
    imported = next(line for line in done.stdout.splitlines() if line.startswith("IMPORTED"))
    assert f"{venv}/lib/" in imported and "site-packages/occupancy/__init__.py" in imported
