"""Checks on effect-size data shared by every model, with one-line messages naming columns and rows.

Row numbers in messages are 1-based data rows (the first line after a CSV header is row 1).
"""

from __future__ import annotations

from typing import Sequence

import warnings
from typing import Mapping

import numpy as np

from meta.errors import MetaInputError, OmittedRowsWarning

NA_ACTIONS = ("omit", "fail")


def format_rows(mask: np.ndarray, limit: int = 8) -> str:
    """The 1-based row numbers where ``mask`` is true, e.g. ``"3, 5"``; past ``limit`` rows adds ``" (+n more)"``.

    Parameters
    ----------
    mask : numpy.ndarray
        Boolean mask over the data rows.
    limit : int, optional
        How many row numbers to list before summarising the rest as a count.

    Returns
    -------
    str
        The comma-separated row numbers, for messages such as ``"... in row(s) 3, 5"``.
    """
    idx = np.flatnonzero(mask) + 1
    shown = ", ".join(str(i) for i in idx[:limit])
    return shown + (f" (+{idx.size - limit} more)" if idx.size > limit else "")


def as_float_column(x, name: str) -> np.ndarray:
    """``x`` as a 1-D float array (``None`` → NaN); non-numeric values raise a one-line error naming ``name``."""
    try:
        a = np.asarray(x, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        import pandas as pd

        num = pd.to_numeric(pd.Series(np.asarray(x, dtype=object).reshape(-1)), errors="coerce")
        bad = num.isna().to_numpy() & ~pd.isna(pd.Series(np.asarray(x, dtype=object).reshape(-1))).to_numpy()
        rows = f" in row(s) {format_rows(bad)}" if bad.any() else ""
        raise MetaInputError(f"column {name!r}: non-numeric value{rows}") from None
    return a


def omit_missing(missing: Mapping[str, np.ndarray], k: int, *, na: str = "omit", stacklevel: int = 3) -> np.ndarray:
    """Rows to keep under metafor's ``na.action``: drop incomplete rows with one warning, or fail.

    Parameters
    ----------
    missing : mapping of str to ndarray of bool
        For each input column (``yi``, ``vi``, a moderator, a level id ...), the rows where it is missing.
    k : int
        Number of rows.
    na : {"omit", "fail"}
        ``"omit"`` (metafor's default ``na.omit``): drop every row with a missing value and warn once
        (:class:`~meta.errors.OmittedRowsWarning`) naming the 1-based rows; ``"fail"`` (``na.fail``): raise a
        one-line :class:`~meta.errors.MetaInputError` naming the columns and rows.

    Returns
    -------
    ndarray of bool
        The rows to keep (all true when nothing is missing).
    """
    if na not in NA_ACTIONS:
        raise MetaInputError(f"na must be 'omit' or 'fail' (got {na!r})")
    drop = np.zeros(k, dtype=bool)
    parts = []
    for name, mask in missing.items():
        mask = np.asarray(mask, dtype=bool).reshape(-1)
        if mask.any():
            drop |= mask
            parts.append(f"{name!r} row(s) {format_rows(mask)}")
    if not drop.any():
        return ~drop
    detail = "; ".join(parts)
    if na == "fail":
        raise MetaInputError(f"missing values (na='fail'): {detail}")
    warnings.warn(f"rows with missing values omitted from the model: row(s) {format_rows(drop, limit=50)} "
                  f"({detail})", OmittedRowsWarning, stacklevel=stacklevel)
    return ~drop


def check_effect_sizes(
    yi: Sequence[float], vi: Sequence[float], *, yi_name: str = "yi", vi_name: str = "vi", min_k: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``yi`` and ``vi`` as float arrays after checking they can be meta-analysed.

    Raises :class:`~meta.errors.MetaInputError` for non-numeric or missing values, non-positive or
    non-finite sampling variances, mismatched lengths and fewer than ``min_k`` estimates.
    """
    try:
        y = np.asarray(yi, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise MetaInputError(f"column {yi_name!r}: non-numeric values") from None
    try:
        v = np.asarray(vi, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise MetaInputError(f"column {vi_name!r}: non-numeric values") from None
    if y.size != v.size:
        raise MetaInputError(f"columns {yi_name!r} and {vi_name!r} have different lengths ({y.size} vs {v.size})")
    bad_y = ~np.isfinite(y)
    if bad_y.any():
        raise MetaInputError(f"column {yi_name!r}: missing or non-finite value in row(s) {format_rows(bad_y)}")
    bad_v = ~np.isfinite(v)
    if bad_v.any():
        raise MetaInputError(f"column {vi_name!r}: missing or non-finite value in row(s) {format_rows(bad_v)}")
    nonpos = v <= 0
    if nonpos.any():
        raise MetaInputError(f"column {vi_name!r}: sampling variances must be > 0; row(s) {format_rows(nonpos)}")
    if y.size < min_k:
        raise MetaInputError(f"need at least {min_k} estimates (got {y.size})")
    return y, v
