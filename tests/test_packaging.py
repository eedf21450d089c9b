"""What gets published: the distribution's name, version, licence, URLs, citation and the wheel's contents."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_distribution_name_is_not_the_command_name_taken_on_pypi():
    """PyPI's `blockade` and `meta` belong to other projects; the command and import packages stay ours."""
    project = PYPROJECT["project"]
    assert project["name"] == "opioid-blockade"
    assert project["scripts"] == {"blockade": "occupancy.cli:main"}


def test_the_listed_packages_are_the_packages_of_the_tree():
    """The hand-written list (needed for the scenarios/ mapping) misses no package and names no stale one."""
    from setuptools import find_namespace_packages

    found = set(find_namespace_packages(str(ROOT), include=["occupancy*", "meta*"], exclude=["*__pycache__*"]))
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert listed - {"occupancy._scenarios"} == found


def test_the_version_is_written_in_one_place():
    from meta.version import __version__

    assert PYPROJECT["project"]["dynamic"] == ["version"] and "version" not in PYPROJECT["project"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "meta.version.__version__"}
    import meta
    import occupancy

    assert occupancy.__version__ == meta.__version__ == __version__
    literal = re.compile(r"""__version__\s*=\s*["']""")
    places = [p for pkg in ("occupancy", "meta") for p in (ROOT / pkg).rglob("*.py")
              if literal.search(p.read_text(encoding="utf-8"))]
    assert places == [ROOT / "meta" / "version.py"]
    assert not re.search(r"^version:", (ROOT / "CITATION.cff").read_text(encoding="utf-8"), re.M)
    released = re.findall(r"^## \[(\d[^\]]*)\]", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    assert released and released[0] == __version__, "CHANGELOG's newest release should be the version"


def test_licence_is_an_spdx_expression_with_its_file():
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_project_urls_and_citation_name_the_same_repository():
    urls = PYPROJECT["project"]["urls"]
    assert {"Homepage", "Documentation", "Repository", "Issues", "Changelog"} <= set(urls)
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert f'repository-code: "{urls["Repository"]}"' in cff
    assert f"git clone {urls['Repository']}.git" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_citation_file_is_valid():
    """`cffconvert --validate` (the [test] extra installs it); skipped with a reason only when it is missing."""
    exe = shutil.which("cffconvert", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if exe is None:
        pytest.skip("cffconvert is not installed (pip install '.[test]' installs it)")
    done = subprocess.run([exe, "--validate", "--infile", str(ROOT / "CITATION.cff")], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_invalid_citation_file_is_refused(tmp_path):
    """The validity check above can fail: a CITATION.cff without authors is refused."""
    exe = shutil.which("cffconvert", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if exe is None:
        pytest.skip("cffconvert is not installed (pip install '.[test]' installs it)")
    bad = tmp_path / "CITATION.cff"
    bad.write_text(re.sub(r"authors:\n(  - .*\n)+", "", (ROOT / "CITATION.cff").read_text(encoding="utf-8")))
    done = subprocess.run([exe, "--validate", "--infile", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built (about a second, offline) from a copy of what the build reads."""
    try:
        import setuptools
    except ImportError:
        pytest.skip("setuptools is not installed")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} < 77 cannot read an SPDX licence (pip builds in isolation)")
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("occupancy", "meta", "scenarios"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(work / "dist"), str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warning" not in done.stderr.lower(), done.stderr[-2000:]  # e.g. the old licence-table deprecation
    (built,) = (work / "dist").glob("opioid_blockade-*.whl")
    return built


def test_the_wheel_carries_scenarios_as_package_data_once(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(p.name for p in (ROOT / "scenarios").iterdir() if p.is_file())
    assert sorted(n.split("/")[-1] for n in names if n.startswith("occupancy/_scenarios/")) == shipped
    assert not any(n.startswith(("scenarios/", "occupancy/examples/")) for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    with zipfile.ZipFile(wheel) as z:
        for name in shipped:
            assert z.read(f"occupancy/_scenarios/{name}") == (ROOT / "scenarios" / name).read_bytes()


def test_the_installed_layout_reads_its_own_copy(wheel, tmp_path):
    """Unpacked as pip would install it, `blockade examples` and name lookup use occupancy/_scenarios."""
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import sys\nfrom occupancy.bundled import examples_dir, resolve_scenario\n"
            "from occupancy.cli import main\n"
            "print(examples_dir())\nprint(resolve_scenario('single_dose_50mg'))\n"
            "main(['examples', '--out', sys.argv[1]], standalone_mode=False)\n")
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, cwd=tmp_path,
                          env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == str(site / "occupancy" / "_scenarios")
    assert lines[1] == str(site / "occupancy" / "_scenarios" / "single_dose_50mg.toml")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (ROOT / "scenarios").iterdir()
                                                            if p.is_file())


def test_the_sdist_carries_scenarios_so_a_wheel_built_from_it_does_too(wheel):
    """pip install from PyPI's sdist builds the wheel from it: scenarios/ must be in the sdist."""
    import tarfile

    src = wheel.parent.parent / "src"
    done = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
                           "print(b.build_sdist(sys.argv[1]))", str(wheel.parent.parent / "sdist")], cwd=src,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (sdist,) = (wheel.parent.parent / "sdist").glob("opioid_blockade-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    shipped = {f"scenarios/{p.name}" for p in (ROOT / "scenarios").iterdir() if p.is_file()}
    assert shipped <= names and "LICENSE" in names
