"""The package layout: floors, no import circles, ``meta`` free of ``occupancy``, a fast ``simulate --json``.

Every import in ``occupancy/`` and ``meta/`` is read with :mod:`ast`, including the lazy ones inside
functions (they run too, just later).  A module may import only from its own floor or below; the public
API of each package (its top ``__init__``) sits above everything and nothing inside imports it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: occupancy's floors, lowest first (module-name prefixes).  docs/reference/code-map.md says the same.
OCCUPANCY_FLOORS = (
    ("occupancy.version", "occupancy.errors", "occupancy.atomic_output", "occupancy.bundled", "occupancy.json_stream"),
    ("occupancy.models", "occupancy.dosing"),
    ("occupancy.simulation", "occupancy.calibration"),
    ("occupancy.annotation",),
    ("occupancy.workflows",),
    ("occupancy.report",),
    ("occupancy.cli", "occupancy.app"),
)

#: meta's floors, lowest first.
META_FLOORS = (
    ("meta.version", "meta.errors", "meta.validation", "meta.atomic_write", "meta.lazy_exports", "meta.display",
     "meta.csv_safety"),
    ("meta.effect_sizes", "meta.effect_measures", "meta.model_matrix", "meta.nested_covariance",
     "meta.heterogeneity", "meta.inference", "meta.variance_components"),
    ("meta.univariate", "meta.multilevel", "meta.profile_likelihood", "meta.tau2_estimators", "meta.prediction"),
    ("meta.aggregate", "meta.small_study", "meta.selection", "meta.diagnostics", "meta.power", "meta.cluster_robust",
     "meta.hypothesis_tests", "meta.confint"),
    ("meta.plots",),
    ("meta.cli", "meta.__main__"),
)

TOP = 10**6  # the packages' public API (``occupancy/__init__.py``, ``meta/__init__.py``)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in ("occupancy", "meta") for p in (ROOT / pkg).rglob("*.py")}


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module an import refers to: the longest known module prefix of ``name``."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in MODULES:
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Modules of this project that ``path`` imports (module level and inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("occupancy", "meta"):
                target = _resolve(name)
                if target is not None:
                    out.add(target)
    return out


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _floor(module: str) -> int:
    if module in ("occupancy", "meta"):
        return TOP
    floors = OCCUPANCY_FLOORS if module.startswith("occupancy") else META_FLOORS
    for level, prefixes in enumerate(floors):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    raise AssertionError(f"{module} is on no floor: add it to tests/test_layout.py and docs/reference/code-map.md")


def test_every_module_is_on_a_floor():
    for module in MODULES:
        _floor(module)


def test_meta_never_imports_occupancy():
    offenders = sorted(m for m, deps in GRAPH.items() if m.startswith("meta")
                       for d in deps if d.startswith("occupancy"))
    assert offenders == []


def test_no_import_runs_up_a_floor():
    offenders = []
    for module, deps in GRAPH.items():
        for dep in deps:
            if module.startswith("occupancy") and dep.startswith("meta"):
                # meta is a library below all of occupancy; only occupancy's interfaces may mount meta's CLI
                bad = dep == "meta" or (dep.startswith("meta.cli") and _floor(module) < _floor("occupancy.cli"))
            else:
                bad = _floor(dep) > _floor(module)
            if bad:
                offenders.append(f"{module} -> {dep}")
    assert offenders == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert _cycles(GRAPH) == []


def test_the_circle_detector_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("command", [["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2h",
                                      "--json"]])
def test_simulate_json_imports_neither_pandas_nor_matplotlib(command):
    code = ("import sys\nfrom occupancy.cli import main\n"
            f"try:\n    main({command!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('pandas', 'matplotlib', 'scipy.optimize') if m in sys.modules)\n"
            "print('HEAVY', heavy, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "HEAVY []" in done.stderr
    assert '"MOR"' in done.stdout


@pytest.mark.parametrize("package", ["occupancy"])  # meta: tests/test_meta_package.py
def test_public_api_resolves_lazily(package):
    code = (f"import sys\nimport {package} as p\nassert 'pandas' not in sys.modules and 'numpy' not in sys.modules\n"
            "missing = [n for n in p.__all__ if getattr(p, n, None) is None]\n"
            "print('MISSING', missing)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "MISSING []" in done.stdout
