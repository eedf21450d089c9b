"""The meta package: lazy public API (PEP 562), no import circles, no dependency on occupancy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import meta

META = Path(meta.__file__).parent


def test_import_meta_is_lazy():
    code = ("import sys, meta; heavy = [m for m in ('numpy', 'scipy', 'pandas', 'meta.univariate') if m in sys.modules];"
            " print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


@pytest.mark.parametrize("name", meta.__all__)
def test_every_export_resolves(name):
    obj = getattr(meta, name)
    assert obj is not None and name in dir(meta)
    if callable(obj) and not isinstance(obj, type) and name != "variance_component_lrt":
        assert obj.__name__ == name


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        meta.nope  # noqa: B018
    assert meta.univariate.fit_random_effects is meta.fit_random_effects
    assert meta.variance_component_lrt is meta.profile_likelihood.lrt


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):  # top-level and function-level (lazy) imports alike
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_no_export_shares_a_name_with_a_submodule():
    """``import meta.x`` sets ``meta.x`` to the module; a function exported as ``meta.x`` would be shadowed."""
    modules = {p.stem for p in META.glob("*.py")} | {p.name for p in META.iterdir() if p.is_dir()}
    assert not (set(meta.__all__) & modules)
    assert set(meta._SUBMODULES) == ({p.stem for p in META.glob("*.py")} - {"__init__", "__main__"}
                                     | {p.name for p in META.iterdir() if (p / "__init__.py").exists()})
