"""The files that ship with blockade: example scenarios and datasets (the top-level ``scenarios/`` folder).

``scenarios/`` is their one copy in the source tree.  The wheel carries it as ``occupancy/_scenarios/``
(pyproject.toml maps the package ``occupancy._scenarios`` onto the folder ``scenarios``), so an installed
package reads that copy and a source checkout or editable install reads ``scenarios/`` itself
(:func:`examples_dir`).

``blockade examples [--out DIR]`` copies them into a folder (:func:`write_examples`), and every command that
reads a scenario also accepts a bundled scenario's name without the folder or the ``.toml`` suffix
(:func:`resolve_scenario`): ``blockade simulate single_dose_50mg``.  A file of that name in the current
folder wins over the bundled one.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from occupancy.errors import InputError

#: Where the wheel puts ``scenarios/`` inside the ``occupancy`` package.
_PACKAGE_FOLDER = "_scenarios"
#: The folder in a source checkout, beside ``occupancy/``.
_SOURCE_FOLDER = "scenarios"
#: The planning example of ``blockade run`` without a scenario.
DEFAULT_PLAN = "plan_crossover_15d.toml"


def examples_dir() -> Path:
    """The folder of bundled example files: ``occupancy/_scenarios`` when installed, else ``scenarios/``.

    Notes
    -----
    An installed wheel has ``occupancy/_scenarios`` (package data built from ``scenarios/``); a source
    checkout (``PYTHONPATH``) or an editable install imports ``occupancy`` from the checkout, where the
    folder is ``scenarios/`` beside it.  The installed copy is preferred so that an installed package
    never reads a folder that merely happens to sit next to ``site-packages/occupancy``.
    """
    package = Path(str(resources.files("occupancy")))
    installed = package / _PACKAGE_FOLDER
    if installed.is_dir():
        return installed
    source = package.parent / _SOURCE_FOLDER
    if source.is_dir() and (package.parent / "pyproject.toml").is_file():
        return source
    raise InputError(f"{installed}: the bundled scenarios are missing (reinstall the package: "
                     "pip install opioid-blockade)")


def example_files() -> list[Path]:
    """Every bundled example file (scenarios, datasets and ``ABOUT.md``), sorted by name."""
    return sorted(p for p in examples_dir().iterdir() if p.is_file() and not p.name.startswith((".", "_")))


def scenario_names() -> list[str]:
    """Names of the bundled scenarios (without ``.toml``)."""
    return [p.stem for p in example_files() if p.suffix == ".toml"]


def resolve_scenario(path: str | os.PathLike) -> Path:
    """``path`` itself when it exists; otherwise the bundled scenario of that name (``name`` or ``name.toml``).

    Raises
    ------
    InputError
        Neither a file nor a bundled scenario, with one line listing the bundled names.
    """
    p = Path(path)
    if p.exists():
        return p
    text = str(path)
    if os.sep not in text and "/" not in text:
        stem = text[:-5] if text.endswith(".toml") else text
        candidate = examples_dir() / f"{stem}.toml"
        if candidate.is_file():
            return candidate
    raise InputError(f"{text}: file not found (bundled scenarios, usable by name: {', '.join(scenario_names())})")


def write_examples(out_dir: str | os.PathLike = ".") -> tuple[list[str], list[str]]:
    """Copy the bundled example files into ``out_dir`` (created if needed).

    A file that already exists there with the same content is left as it is; one with *different* content
    is never overwritten: nothing at all is written and :class:`InputError` names the file.

    Returns
    -------
    (written, unchanged) : lists of file names
    """
    from meta.atomic_write import write_atomic

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out_dir}: exists and is a file, not a folder")
    files = example_files()
    from meta.atomic_write import check_output_file
    from meta.errors import MetaInputError

    try:
        check_output_file(out / files[0].name, "--out")
    except MetaInputError as exc:
        raise InputError(str(exc).replace(f"--out {out / files[0].name}", f"--out {out_dir}")) from None
    written, unchanged, clashes = [], [], []
    for src in files:
        dest = out / src.name
        if dest.is_dir() or dest.is_symlink():
            clashes.append(src.name)
        elif dest.exists():
            (unchanged if dest.read_bytes() == src.read_bytes() else clashes).append(src.name)
    if clashes:
        shown = ", ".join(clashes[:3]) + (", ..." if len(clashes) > 3 else "")
        raise InputError(f"--out {out_dir}: {shown} already exist(s) with other content; blockade does not overwrite "
                         "them (move them away or give another folder)")
    for src in files:
        if src.name in unchanged:
            continue
        data = src.read_bytes()
        try:
            write_atomic(out / src.name, lambda handle, data=data: handle.write(data), binary=True)
        except OSError as exc:
            raise InputError(f"--out {out_dir}: cannot write {src.name} ({exc.strerror or exc})") from None
        written.append(src.name)
    return written, unchanged
