"""Checks on effect-size data shared by every model, with one-line messages naming columns and rows.

Row numbers in messages are 1-based data rows (the first line after a CSV header is row 1).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from meta.errors import MetaInputError


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
