"""The page's inputs in its URL: a shareable link that restores them (plain Python, no Shiny).

Only inputs that differ from their defaults are written (``?drug=naloxone&dose_mg=0.1&tab=simulate``), so
links stay short.  Reading a link gives widget values by each input's kind; they are then validated like
any typed value (a hand-edited link with ``dose_mg=abc`` shows the usual error at the field).

Notes
-----
Shiny's own bookmarking would write every input (several hundred here, most of them hidden table rows) and
needs a server-side store for file inputs; uploads are never part of a link.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, urlencode

from occupancy.app.forms import InputDef

TAB_KEY = "tab"
TABS = ("simulate", "plan", "reanalyse")
_MAX_QUERY = 8000


def _text(kind: str, value) -> str | None:
    """The link text of a widget value (None: leave it out)."""
    if value is None:
        return ""
    if kind == "bool":
        return "1" if value else "0"
    if kind == "choices":
        return ",".join(str(v) for v in (value or ()))
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def query_from_values(defs: Iterable[InputDef], values: Mapping[str, Any], tab: str = "simulate") -> str:
    """``key=value&...`` of the inputs whose value differs from the default, and the open tab."""
    pairs = []
    for d in defs:
        if d.id not in values:
            continue
        now, default = _text(d.kind, values[d.id]), _text(d.kind, d.default)
        if now != default:
            pairs.append((d.id, now))
    if tab in TABS and tab != "simulate":
        pairs.append((TAB_KEY, tab))
    return urlencode(pairs)[:_MAX_QUERY]


def _value(kind: str, text: str):
    text = text.strip()
    if kind in ("number", "integer"):
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return text  # shown as the usual error at the field
        return int(number) if kind == "integer" and number.is_integer() else number
    if kind == "bool":
        return text.lower() in ("1", "true", "yes", "on")
    if kind == "choices":
        return tuple(x for x in text.split(",") if x)
    return text


def values_from_query(defs: Iterable[InputDef], query: str) -> tuple[dict[str, Any], str | None]:
    """``(widget values, tab)`` of a link's query string; unknown keys are ignored."""
    kinds = {d.id: d for d in defs}
    values, tab = {}, None
    for key, text in parse_qsl((query or "").lstrip("?")[:_MAX_QUERY], keep_blank_values=True):
        if key == TAB_KEY:
            tab = text if text in TABS else None
        elif key in kinds:
            d = kinds[key]
            value = _value(d.kind, text)
            if d.kind in ("choice", "radio") and d.choices and value not in d.choice_values():
                continue  # a choice the select does not have would leave it blank
            values[key] = value
    return values, tab
