"""MkDocs hook: the scenario schema tables, generated from the pydantic models at build time.

A page that contains ``<!-- scenario-schema -->`` gets, in its place, one table per scenario section
(key, type, range, default) read from :class:`occupancy.simulation.scenario.Scenario` and the
``[design]`` and ``[reanalysis]`` section models, so the reference cannot drift from the validation.
The build also writes the JSON Schema of a scenario file as ``reference/scenario.schema.json``.
"""

from __future__ import annotations

import json
import typing

MARKER = "<!-- scenario-schema -->"


def _type_name(annotation) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" if isinstance(a, str) else str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args)
    if origin in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return f"list of {_type_name(args[0])}" if args else "list"
    if hasattr(annotation, "model_fields"):
        return f"section `{annotation.__name__}`"
    return getattr(annotation, "__name__", str(annotation))


def _default(field) -> str:
    from pydantic_core import PydanticUndefined

    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None:
        return "—"
    if hasattr(value, "model_dump"):
        return "defaults"
    return f"`{json.dumps(value, default=str)}`"


def _sections():
    from occupancy.simulation.scenario import Scenario
    from occupancy.workflows.planning.design import DesignSection
    from occupancy.workflows.reanalysis.settings import ReanalysisSection

    out = [("top level", Scenario)]
    for name, field in Scenario.model_fields.items():
        for candidate in (field.annotation, *typing.get_args(field.annotation)):
            for inner in (candidate, *typing.get_args(candidate)):
                if hasattr(inner, "model_fields") and all(inner is not m for _, m in out):
                    out.append((f"[{name}]" if name not in ("doses", "assessments") else f"[[{name}]]", inner))
    out += [("[design]", DesignSection), ("[reanalysis]", ReanalysisSection)]
    return out


def schema_markdown() -> str:
    """The tables that replace :data:`MARKER`."""
    from occupancy.simulation.scenario import field_range

    parts = []
    for title, model in _sections():
        doc = (model.__doc__ or "").strip().splitlines()
        parts.append(f"### `{title}` ({model.__name__})\n")
        if doc:
            parts.append(doc[0] + "\n")
        parts.append("| key | type | range | default |\n|---|---|---|---|")
        for key, field in model.model_fields.items():
            rng = field_range(model, key) or "—"
            parts.append(f"| `{key}` | {_type_name(field.annotation)} | {rng} | {_default(field)} |")
        parts.append("")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, schema_markdown())
    return markdown


def on_files(files, config):
    """Add the JSON Schema as a generated file (so pages can link to it and strict mode finds it)."""
    from mkdocs.structure.files import File

    from occupancy.simulation.scenario import Scenario

    files.append(File.generated(config, "reference/scenario.schema.json",
                                content=json.dumps(Scenario.model_json_schema(), indent=2) + "\n"))
    return files
