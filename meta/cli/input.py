"""Input handling shared by the ``blockade meta`` commands: CSV tables, numeric columns, effect sizes, levels.

Every function raises :class:`meta.errors.MetaInputError` with a one-line message that names the file, the
option, the column and the 1-based data rows involved (the first line after the CSV header is row 1); the
``blockade`` group prints it as ``blockade: error: ...`` with exit status 2.

pandas, numpy and :mod:`meta` are imported inside the functions so that importing this module (and so
``blockade --help``) stays fast.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Mapping

#: Largest |estimate| and the range of sampling variances the fitting routines handle in double precision;
#: values outside are unit mistakes or placeholders (README "Bad input").
MAX_ABS_YI = 1e6
VI_RANGE = (1e-12, 1e12)


def _not_found(df, label: str, name: str, source: str | None):
    """The one-line error for an absent column, listing the columns there are."""
    from meta.errors import MetaInputError

    where = repr(str(source)) if source is not None else "the data"
    return MetaInputError(f"{label} {name!r} not found in {where} (columns: {', '.join(map(str, df.columns))})")


def read_csv(path: str, *, label: str = "data file"):
    """Read the CSV file ``path`` into a DataFrame.

    Parameters
    ----------
    path : str
        The file named on the command line.
    label : str, optional
        What the file is, for messages (``"data file"``, ``"--newmods file"``).

    Returns
    -------
    pandas.DataFrame
        The table, header line as column names.

    Raises
    ------
    meta.errors.MetaInputError
        If the file does not exist, cannot be opened, is empty or is not valid CSV text, or if a row has more
        fields than the header or two columns share a name (:func:`meta.csv_safety.read_csv_strict`: these
        export mistakes would otherwise shift the columns silently).
    """
    import pandas as pd

    from meta.csv_safety import read_csv_strict
    from meta.errors import MetaInputError

    try:
        return read_csv_strict(path, label=f"{label} {path!r}")
    except FileNotFoundError:
        raise MetaInputError(f"{label} {path!r} not found") from None
    except pd.errors.EmptyDataError:
        raise MetaInputError(f"{label} {path!r} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise MetaInputError(f"{label} {path!r}: cannot read as CSV ({' '.join(str(exc).split())})") from None
    except OSError as exc:  # a directory, no permission, ...
        raise MetaInputError(f"{label} {path!r}: cannot read ({exc.strerror or exc})") from None


def require_columns(df, columns: Mapping[str, str | None], *, source: str | None = None) -> None:
    """Check that every named column is in ``df``.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    columns : mapping of str to str or None
        The option that named each column (``"--label"``; ``""`` for none) → column name; ``None`` entries
        (options not given) are skipped.
    source : str, optional
        The file the table was read from, named in the message.

    Raises
    ------
    meta.errors.MetaInputError
        ``"--yi: column 'g' not found in 'data.csv' (columns: ...)"`` for the first absent column.
    """
    for option, name in columns.items():
        if name is not None and name not in df.columns:
            raise _not_found(df, f"{option}: column" if option else "column", name, source)


def numeric_column(df, name: str, *, option: str | None = None, source: str | None = None,
                   allow_missing: bool = True):
    """The column ``name`` of ``df`` as floats.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    name : str
        Column name.
    option : str, optional
        The option that named the column (``"--yi"``), for the not-found message.
    source : str, optional
        The file the table was read from, for the not-found message.
    allow_missing : bool, optional
        Whether empty cells are allowed (they become NaN for later checks); if not, they are errors.

    Returns
    -------
    numpy.ndarray
        The values as a float array.

    Raises
    ------
    meta.errors.MetaInputError
        If the column is absent, or (with the rows) holds text that is not a number, an infinite value or,
        with ``allow_missing=False``, an empty cell.
    """
    import numpy as np
    import pandas as pd

    from meta.errors import MetaInputError
    from meta.validation import format_rows

    require_columns(df, {option or "": name}, source=source)
    raw = df[name]
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    present = raw.notna().to_numpy()
    checks = [(present & np.isnan(num), "non-numeric"), (np.isinf(num), "non-finite")]
    if not allow_missing:
        checks.append((~present, "missing"))
    for bad, what in checks:
        if bad.any():
            hint = ""
            if what == "non-numeric":
                from meta.csv_safety import decimal_comma_hint

                first = raw[bad].iloc[0]
                hint = f" (e.g. {str(first)!r}{decimal_comma_hint(first)})" if decimal_comma_hint(first) else ""
            raise MetaInputError(f"column {name!r}: {what} value in row(s) {format_rows(bad)}{hint}")
    return num


def effect_columns(columns, yi: str | None, vi: str | None, sei: str | None = None) -> tuple[str, str, bool]:
    """The estimate and variance columns a command uses: ``(yi column, vi or sei column, is_sei)``.

    ``--yi`` defaults to a column named ``yi`` (what ``meta effect-size`` writes, metafor's name), the variances
    to a column ``vi`` or else ``sei`` (standard errors, squared into variances as metafor's ``sei=``).  Giving
    both ``--vi`` and ``--sei`` is an error, and so is a missing default, with the columns the file has.

    Notes
    -----
    Why defaults: the file written by ``meta effect-size`` (and most metafor-style data) already names its
    columns yi and vi, so ``meta pool data.csv`` should just work; any other naming still works with the options.
    """
    from meta.errors import MetaInputError

    columns = [str(c) for c in columns]
    listing = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
    if vi is not None and sei is not None:
        raise MetaInputError("--vi and --sei: give one of them (sampling variances or standard errors)")
    if yi is None:
        if "yi" not in columns:
            raise MetaInputError(f"--yi: give the column of effect sizes (there is no column 'yi'; columns: {listing})")
        yi = "yi"
    if vi is None and sei is None:
        if "vi" in columns:
            vi = "vi"
        elif "sei" in columns:
            sei = "sei"
        else:
            raise MetaInputError("--vi or --sei: give the column of sampling variances or of standard errors "
                                 f"(there is no column 'vi' or 'sei'; columns: {listing})")
    return (yi, sei, True) if sei is not None else (yi, vi, False)


def variance_column(df, name: str, is_sei: bool, *, source: str, allow_missing: bool = True):
    """Sampling variances from column ``name``: as they are (``--vi``) or squared standard errors (``--sei``)."""
    import numpy as np

    from meta.errors import MetaInputError
    from meta.validation import format_rows

    values = numeric_column(df, name, option="--sei" if is_sei else "--vi", source=source,
                            allow_missing=allow_missing)
    if not is_sei:
        return values
    bad = values <= 0
    if bad.any():
        raise MetaInputError(f"column {name!r}: standard errors must be > 0; row(s) {format_rows(bad)}")
    return np.square(values)


def load_effects(data: str, yi: str, vi: str, *, min_k: int = 2, na: str | None = None, also=(),
                 sei: bool = False):
    """Read ``data`` and return its table with the checked effect sizes and sampling variances.

    Parameters
    ----------
    data : str
        CSV file.
    yi, vi : str
        Columns of the estimates and of their sampling variances (options ``--yi`` and ``--vi``).
    min_k : int, optional
        Fewest estimates accepted (after omitting incomplete rows).
    na : {None, "omit", "fail"}
        Missing values in ``yi``, ``vi`` or the ``also`` columns: ``None`` treats them as bad values (the
        validator's message), ``"omit"`` drops those rows with one warning line naming them (metafor's
        ``na.action = "na.omit"``), ``"fail"`` stops with one line naming them (``--na fail``).
    also : sequence of str
        Further columns a row needs (cluster levels, labels, moderator variables); absent ones are ignored
        here and reported by the caller.
    sei : bool, optional
        ``vi`` names a column of standard errors (``--sei``), squared into sampling variances.

    Returns
    -------
    df : pandas.DataFrame
        The table (without omitted rows, renumbered from 0).
    y, v : numpy.ndarray
        ``yi`` and ``vi`` as float arrays, checked by :func:`meta.validation.check_effect_sizes` (finite
        estimates, finite positive variances, at least ``min_k`` rows); present values are checked with their
        original row numbers before any row is omitted.

    Raises
    ------
    meta.errors.MetaInputError
        For an unreadable file, an absent column or a bad value (named by column and rows).
    """
    import numpy as np
    import pandas as pd

    from meta.errors import MetaInputError
    from meta.validation import check_effect_sizes, format_rows

    df = read_csv(data)
    y = numeric_column(df, yi, option="--yi", source=data)
    v = variance_column(df, vi, sei, source=data)
    if na is None:
        y, v = check_effect_sizes(y, v, yi_name=yi, vi_name=vi, min_k=min_k)
        check_effect_ranges(data, yi, vi, y, v)
        return df, y, v
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    gaps = {yi: np.isnan(y), vi: np.isnan(v)}
    for column in dict.fromkeys(c for c in also if c and c in df.columns):
        gaps[column] = pd.isna(df[column]).to_numpy()
    missing = np.logical_or.reduce(list(gaps.values()))
    # present values are checked in place, so every message keeps the file's row numbers
    check_effect_sizes(np.where(missing, 0.0, y), np.where(missing, 1.0, v), yi_name=yi, vi_name=vi, min_k=1)
    check_effect_ranges(data, yi, vi, np.where(missing, 0.0, y), np.where(missing, 1.0, v))
    if missing.any():
        detail = "; ".join(f"{c!r} row(s) {format_rows(m)}" for c, m in gaps.items() if m.any())
        if na == "fail":
            raise MetaInputError(f"missing values (--na fail): {detail}")
        from meta.cli.group import warn

        warn(f"rows with missing values omitted: row(s) {format_rows(missing, limit=50)} ({detail})")
    keep = ~missing
    if int(keep.sum()) < min_k:
        raise MetaInputError(f"need at least {min_k} complete estimates (got {int(keep.sum())})")
    return df.loc[keep].reset_index(drop=True), y[keep], v[keep]


def check_effect_ranges(data: str, yi: str, vi: str, y, v) -> None:
    """One-line error for estimates or variances outside what double precision fits handle (missing values pass).

    |estimate| above :data:`MAX_ABS_YI` or a sampling variance outside :data:`VI_RANGE` is a unit or
    placeholder mistake, not data.
    """
    import numpy as np

    from meta.errors import MetaInputError
    from meta.validation import format_rows

    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    big = np.abs(y) > MAX_ABS_YI
    if big.any():
        raise MetaInputError(f"{data}: column {yi!r}: |estimate| above {MAX_ABS_YI:g} in row(s) {format_rows(big)} "
                             "(a unit or placeholder mistake?)")
    odd = (v > 0) & ((v < VI_RANGE[0]) | (v > VI_RANGE[1]))  # v <= 0 gets the validator's own message
    if odd.any():
        raise MetaInputError(f"{data}: column {vi!r}: sampling variance outside {VI_RANGE[0]:g} to {VI_RANGE[1]:g} "
                             f"in row(s) {format_rows(odd)} (a unit or placeholder mistake?)")


def names_data_file(command):
    """Decorator for a command with a ``data`` argument: its one-line errors start with the file's name.

    A message that already names the file is left as it is; ``ConvergenceError`` is reported the same way.
    """
    import functools

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from meta.errors import ConvergenceError, MetaInputError

        data = kwargs.get("data")
        try:
            return command(*args, **kwargs)
        except (MetaInputError, ConvergenceError) as exc:
            message = " ".join(str(exc).split())
            if data is None or str(data) in message:
                raise
            message = message.replace("; give side='left' or 'right'", " (trim-and-fill needs unequal variances)")
            raise MetaInputError(f"{data}: {message}") from None

    return wrapper


@contextlib.contextmanager
def numerical_guard(data: str, what: str) -> Iterator[None]:
    """Turn a numerical breakdown inside a fit or a plot into one line naming the file and the columns.

    ``what`` names the columns, e.g. ``"columns 'yi'/'vi'"``.
    """
    import numpy as np

    from meta.errors import MetaInputError

    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            yield
    except (np.linalg.LinAlgError, ZeroDivisionError, FloatingPointError, OverflowError) as exc:
        raise MetaInputError(f"{data}: {what}: the model cannot be fitted to these values ({exc}); check for "
                             "extreme or degenerate estimates and variances") from None


def require_finite(data: str, what: str, *values) -> None:
    """One-line error when a fitted number that the output needs is not finite (never ``nan`` in a result)."""
    import math

    from meta.errors import MetaInputError

    for value in values:
        if value is None or not math.isfinite(float(value)):
            raise MetaInputError(f"{data}: {what}: the fit gives no finite estimate (got {value}); check for "
                                 "extreme or degenerate estimates and variances")


def split_levels(levels: str) -> list[str]:
    """Column names from a ``--levels`` value such as ``"study,esid"`` (outer to inner).

    Parameters
    ----------
    levels : str
        Comma-separated column names; blanks around names and empty entries (``"study,esid,"``) are dropped.

    Returns
    -------
    list of str
        The names, outer to inner.

    Raises
    ------
    meta.errors.MetaInputError
        If no name is given or a name is repeated.
    """
    from meta.errors import MetaInputError

    cols = [c.strip() for c in levels.split(",") if c.strip()]
    if not cols or len(set(cols)) != len(cols):
        raise MetaInputError(f"--levels {levels!r}: give distinct column names, outer to inner, separated by commas")
    return cols


def level_ids(df, levels: str, *, source: str | None = None) -> dict:
    """The ids of each ``--levels`` column, checked to be present in every row.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    levels : str
        Comma-separated column names, outer to inner (see :func:`split_levels`).
    source : str, optional
        The file the table was read from, for the not-found message.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{column: ids}`` in the order given; object columns (text or mixed) as strings, so that ``1`` and
        ``"1"`` are one group.

    Raises
    ------
    meta.errors.MetaInputError
        ``"level column 'esid': missing id in row(s) 4, 8"`` for empty cells, or an absent column.
    """
    import numpy as np
    import pandas as pd

    from meta.errors import MetaInputError
    from meta.validation import format_rows

    out = {}
    for col in split_levels(levels):
        if col not in df.columns:
            raise _not_found(df, "level column", col, source)
        miss = pd.isna(df[col]).to_numpy()
        if miss.any():
            raise MetaInputError(f"level column {col!r}: missing id in row(s) {format_rows(miss)}")
        ids = df[col].to_numpy()
        out[col] = ids.astype(str) if ids.dtype.kind == "O" else np.asarray(ids)
    return out
