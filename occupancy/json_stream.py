"""JSON output whose long lists are written record by record, so memory stays bounded for any table size.

``json.dumps(payload, indent=2)`` of a reanalysis of 200,000 outcomes holds every record as Python objects
and the whole text at once (about 4 GB).  :func:`write_json` writes the same text, byte for byte, but takes
the long lists as callables that yield their records in chunks (e.g. 10,000 table rows at a time).
"""

from __future__ import annotations

import json
from typing import Callable, Iterable, Mapping, TextIO


def write_json(payload: Mapping, handle: TextIO, lazy: Mapping[str, Callable[[], Iterable]] | None = None, *,
               indent: int = 2) -> None:
    """Write ``payload`` as ``json.dumps(payload, indent=indent, ensure_ascii=False, allow_nan=False)`` would.

    ``lazy`` maps top-level keys to callables yielding the items of that key's list; their position is the
    key's position in ``payload`` (its value there is ignored), or the end when the key is absent.
    """
    lazy = dict(lazy or {})
    keys = list(payload) + [k for k in lazy if k not in payload]
    pad = " " * indent
    if not keys:
        handle.write("{}")
        return
    handle.write("{")
    for n, key in enumerate(keys):
        handle.write(("," if n else "") + "\n" + pad + json.dumps(key, ensure_ascii=False) + ": ")
        if key in lazy:
            first = True
            for item in lazy[key]():
                text = json.dumps(item, indent=indent, ensure_ascii=False, allow_nan=False)
                handle.write(("[" if first else ",") + "\n" + _indent(text, 2 * indent))
                first = False
            handle.write("[]" if first else "\n" + pad + "]")
        else:
            text = json.dumps(payload[key], indent=indent, ensure_ascii=False, allow_nan=False)
            handle.write(_indent(text, indent, first_line=False))
    handle.write("\n}")


def _indent(text: str, width: int, first_line: bool = True) -> str:
    pad = " " * width
    lines = text.split("\n")
    head = (pad + lines[0]) if first_line else lines[0]
    return "\n".join([head] + [pad + line for line in lines[1:]])
