"""Scenario → TOML: write a validated scenario back as a file that ``blockade run`` reproduces exactly.

:func:`scenario_to_toml` serialises any scenario schema (:class:`~occupancy.simulation.scenario.Scenario`
and its subclasses with ``[design]``, ``[reanalysis]`` or sections added later) without knowing its
sections: it writes the keys the scenario was *given* (pydantic's ``exclude_unset``), so a value left at
its default stays a default when the file is read again, and cross-field rules that look at which keys
were given (e.g. "``isi_days`` only for a crossover") see the same keys.  Floats are written with
Python's shortest round-trip representation, so reading the file gives bit-identical numbers:

>>> from occupancy.simulation.scenario import scenario_from_dict
>>> sc = scenario_from_dict({"drug": {"name": "naltrexone"}, "doses": [{"time_h": 0, "amount_mg": 50}],
...                          "assessments": [{"label": "task", "time_h": 1.5}]})
>>> print(scenario_to_toml(sc))
task = "simulate"
<BLANKLINE>
[drug]
name = "naltrexone"
<BLANKLINE>
[[doses]]
time_h = 0.0
amount_mg = 50.0
<BLANKLINE>
[[assessments]]
label = "task"
time_h = 1.5
<BLANKLINE>

:func:`toml_dumps` is the small TOML writer underneath (tables, arrays of tables, strings, numbers,
booleans and arrays of those: everything a scenario holds).
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

__all__ = ["scenario_to_dict", "scenario_to_toml", "toml_dumps"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _key(key: str) -> str:
    key = str(key)
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest string that reads back as the same double; always has "." or "e"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v, where) for v in value) + "]"
    raise TypeError(f"{where}: cannot write a {type(value).__name__} to TOML")


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(_is_table(v) for v in value)


def _write_table(lines: list[str], path: list[str], table: Mapping, header: str | None) -> None:
    scalars = [(k, v) for k, v in table.items() if v is not None and not _is_table(v) and not _is_table_array(v)]
    nested = [(k, v) for k, v in table.items() if _is_table(v) or _is_table_array(v)]
    if header is not None:
        if lines:
            lines.append("")
        lines.append(header)
    for k, v in scalars:
        lines.append(f"{_key(k)} = {_scalar(v, '.'.join(path + [str(k)]))}")
    for k, v in nested:  # in the given order: [drug], [model], [[doses]], [[assessments]], ...
        sub = path + [str(k)]
        name = ".".join(_key(p) for p in sub)
        for item in ([v] if _is_table(v) else v):
            _write_table(lines, sub, item, f"[{name}]" if _is_table(v) else f"[[{name}]]")


def toml_dumps(data: Mapping[str, Any]) -> str:
    """``data`` (nested mappings, lists, strings, numbers, booleans) as TOML text; ``None`` values are left out.

    Inside a table, plain keys come first (as TOML requires), then sub-tables and arrays of tables in the
    order given.

    Raises
    ------
    TypeError
        A value TOML cannot hold (e.g. a date object or a list mixing tables and numbers).
    """
    lines: list[str] = []
    _write_table(lines, [], data, None)
    return "\n".join(lines) + "\n"


def scenario_to_dict(scenario) -> dict[str, Any]:
    """The keys a scenario was given (recursively), with ``task`` first: what :func:`scenario_to_toml` writes.

    Keys are written under the names the TOML uses (``by_alias``: an explore range's ``from``, not ``start``).
    """
    data = scenario.model_dump(mode="python", exclude_unset=True, exclude_none=True, by_alias=True)
    data.pop("task", None)
    return {"task": scenario.task, **data}


def scenario_to_toml(scenario, *, comment: str | None = None) -> str:
    """A validated scenario as TOML text that loads back to an equal scenario (and the same results).

    Parameters
    ----------
    scenario : Scenario
        Any scenario schema (simulate, plan, reanalyse, explore).
    comment : str, optional
        Written first as ``#`` comment lines (e.g. where the file came from).
    """
    text = toml_dumps(scenario_to_dict(scenario))
    if comment:
        head = "\n".join("# " + line if line else "#" for line in comment.splitlines())
        text = head + "\n" + text
    return text
