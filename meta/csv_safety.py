"""CSV safety shared by every table blockade reads or writes (:mod:`meta` and :mod:`occupancy`).

Reading (:func:`read_csv_strict`): common export mistakes are refused with one line instead of giving a
silently wrong table -- a row with more fields than the header (pandas would otherwise turn the first
column into an index and shift every column by one: a trailing comma on every row, or numbers written with
decimal commas ``0,5``), duplicate column names (pandas would rename the second ``yi`` to ``yi.1`` and the
first would be used silently) and a semicolon-separated file.  :func:`decimal_comma_hint` words the message
for a cell such as ``"0,5"``.

Writing (:func:`neutralise_formulas`, :func:`csv_text`): a text cell that a spreadsheet would run as a
formula gets a leading ``'`` (the OWASP rule for CSV injection: text starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return, unless the whole cell is a number).

Notes
-----
Lives on :mod:`meta`'s lowest floor so that :mod:`occupancy` uses the same rules without :mod:`meta` ever
importing :mod:`occupancy`.  pandas is imported inside the functions (fast start).  See
docs/explanation/safety.md.
"""

from __future__ import annotations

import re

#: First characters that make a spreadsheet treat a cell as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE)
_DECIMAL_COMMA = re.compile(r"\s*[+-]?\d+,\d+\s*")
_EXPECTED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
LIKELY_CAUSES = ("a trailing comma at the end of the rows, numbers written with decimal commas (0,5 instead "
                 "of 0.5) or a text with an unquoted comma")


def is_formula_text(value) -> bool:
    """Whether ``value`` is text a spreadsheet would run as a formula (and not a plain number)."""
    return (isinstance(value, str) and value[:1] in FORMULA_START and value != ""
            and not _NUMBER.fullmatch(value.strip()))


def neutralise_cell(value):
    """``value`` with a leading ``'`` when it is formula text (see :func:`is_formula_text`), else unchanged."""
    return "'" + value if is_formula_text(value) else value


def neutralise_formulas(frame):
    """A copy of the DataFrame ``frame`` whose text cells, column names and index labels cannot run as
    spreadsheet formulas (numeric columns are left as they are; see :func:`neutralise_cell`)."""
    import pandas as pd

    out = frame.copy()
    for i, column in enumerate(out.columns):
        series = out.iloc[:, i]
        if series.dtype == object or isinstance(series.dtype, pd.StringDtype) or isinstance(
                series.dtype, pd.CategoricalDtype):
            text = series.astype(object)
            is_str = text.map(lambda v: isinstance(v, str))
            if not is_str.any():
                continue
            strings = text[is_str].astype(str)
            risky = strings.str[:1].isin(FORMULA_START) & ~strings.str.strip().str.fullmatch(_NUMBER.pattern,
                                                                                             case=False)
            if risky.any():
                text = text.copy()
                text.loc[risky[risky].index] = "'" + strings[risky]
                out.isetitem(i, text)
    out.columns = [neutralise_cell(c) for c in out.columns]
    if out.index.dtype == object:
        out.index = [neutralise_cell(v) for v in out.index]
    return out


def csv_text(frame, **to_csv) -> str:
    """``frame.to_csv(**to_csv)`` after :func:`neutralise_formulas`: the one way blockade writes a CSV table."""
    return neutralise_formulas(frame).to_csv(**to_csv)


def decimal_comma_hint(text) -> str:
    """``"; a decimal comma? write 0.5"`` when ``text`` looks like ``0,5``, else ``""``."""
    if isinstance(text, str) and _DECIMAL_COMMA.fullmatch(text):
        return f"; a decimal comma? write {text.strip().replace(',', '.')}"
    return ""


def _header(path) -> list[str] | None:
    """The first record of the CSV file ``path`` (``None`` when it cannot be read here)."""
    import csv

    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
            return next(csv.reader(handle), None)
    except (OSError, csv.Error):
        return None


def read_csv_strict(path, *, error=None, label: str | None = None, strip_names: bool = False, **read_csv):
    """``pandas.read_csv(path, **read_csv)`` that refuses the export mistakes which shift or hide columns.

    Parameters
    ----------
    path : str or Path
        The file.
    error : type, optional
        The exception class for the one-line message (default :class:`meta.errors.MetaInputError`).
    label : str, optional
        How the message names the file (default ``repr(str(path))``).
    strip_names : bool, optional
        Compare column names after stripping blanks (when the caller strips them too).
    **read_csv
        Passed to :func:`pandas.read_csv` (file errors such as a missing file propagate unchanged).

    Returns
    -------
    pandas.DataFrame
        The table, with a plain 0..n-1 index (never a column silently turned into an index).

    Raises
    ------
    error
        A row with more fields than the header (naming the line and the last column, with the likely causes),
        duplicate column names, or a semicolon-separated file.
    """
    import pandas as pd

    if error is None:
        from meta.errors import MetaInputError as error
    where = label if label is not None else repr(str(path))
    header = _header(path)
    if header is not None:
        names = [h.strip() if strip_names else h for h in header]
        seen, dup = set(), []
        for name in names:
            if name and name in seen and name not in dup:  # empty names become 'Unnamed: i': not ambiguous
                dup.append(name)
            seen.add(name)
        if dup:
            raise error(f"{where}: column name(s) {', '.join(map(repr, dup))} appear more than once in the header; "
                        "give every column its own name (otherwise which one is used is a guess)")
        if len(names) == 1 and ";" in names[0]:
            raise error(f"{where}: the header {names[0]!r} looks semicolon-separated (a spreadsheet's regional "
                        "export); save the file as comma-separated with decimal points")
    try:
        frame = pd.read_csv(path, **read_csv)
    except pd.errors.ParserError as exc:
        found = _EXPECTED.search(str(exc))
        if found is None:
            raise
        expected, line, saw = (int(g) for g in found.groups())
        last = f" (after column {header[-1]!r})" if header else ""
        raise error(f"{where}: line {line} (data row {line - 1}) has {saw} fields but the header names {expected} "
                    f"columns{last}; likely {LIKELY_CAUSES}") from None
    if not isinstance(frame.index, pd.RangeIndex):
        n = len(header) if header is not None else len(frame.columns)
        extra = frame.index.nlevels
        raise error(f"{where}: data row 1 has {n + extra} fields but the header names {n} columns (after column "
                    f"{str(frame.columns[-1]) if len(frame.columns) else ''!r}); likely {LIKELY_CAUSES}")
    return frame
