"""Moderator formulas → model matrices with R-style (metafor) column names and order.

Notes
-----
metafor builds ``X`` with R's ``model.matrix(mods, data)``: treatment contrasts with the first
(alphabetically sorted) level as reference, terms ordered by degree, the intercept first and called
``intrcpt``, and a dummy column named by pasting the variable name and the level (``deltypegeneral``).
formulaic (https://matthewwardrop.github.io/formulaic/) uses the same treatment coding, level order and term
order, so only the names need translating: ``Intercept`` → ``intrcpt`` and ``x[T.b]`` / ``x[b]`` → ``xb``.

Bad moderators are rejected before fitting, because a singular ``X'WX`` would otherwise surface as an
optimiser failure far from its cause: a missing column, missing values (with 1-based data rows), a constant
non-intercept column, and a column that is a linear combination of earlier ones (metafor stops with
"Model matrix not of full rank"; here the offending column is named).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd

from meta.errors import MetaInputError
from meta.validation import format_rows

_LEVEL = re.compile(r"\[(?:T\.)?([^\]]*)\]")


def r_style_name(name: str) -> str:
    """formulaic column name → R ``model.matrix`` name (``Intercept`` → ``intrcpt``, ``g[T.b]`` → ``gb``)."""
    if name == "Intercept":
        return "intrcpt"
    return _LEVEL.sub(r"\1", name)


def build_model_matrix(formula: str | None, data: pd.DataFrame | None, k: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Evaluate a moderator formula on ``data`` and return ``(X, names)`` in metafor's column order.

    Parameters
    ----------
    formula : str or None
        One-sided formula such as ``"~ pubstatus"`` or ``"~ x + g"`` (``"- 1"`` drops the intercept).
        ``None`` or ``"~ 1"`` gives the intercept-only model.
    data : DataFrame
        Data holding the moderators (one row per estimate).
    k : int, optional
        Number of estimates (needed when ``data`` is None).

    Raises
    ------
    MetaInputError
        Missing column, missing moderator values (rows named), constant or collinear moderator.
    """
    if formula is None or formula.strip() in ("", "~1", "~ 1", "1"):
        n = len(data) if data is not None else k
        if n is None:
            raise MetaInputError("cannot build an intercept-only model matrix without the number of estimates")
        return np.ones((n, 1)), ["intrcpt"]
    if data is None:
        raise MetaInputError(f"moderator formula {formula!r} needs a data table")
    from formulaic import Formula, model_matrix
    from formulaic.errors import FormulaicError

    text = formula.strip()
    if not text.startswith("~"):
        text = "~ " + text
    try:
        required = Formula(text).required_variables
    except Exception as exc:  # formula syntax
        raise MetaInputError(f"moderator formula {formula!r} cannot be parsed: {' '.join(str(exc).split())}") from None
    for var in sorted(required):
        if var in data.columns:
            miss = pd.isna(data[var]).to_numpy()
            if miss.any():
                raise MetaInputError(f"column {var!r}: missing moderator value in row(s) {format_rows(miss)}")
    try:
        mm = model_matrix(text, data, na_action="raise")
    except FormulaicError as exc:
        msg = " ".join(str(exc).split())
        m = re.search(r"`([^`]+)` is not present", msg)
        if m:
            raise MetaInputError(f"column {m.group(1)!r} not found in data (moderators {formula!r})") from None
        raise MetaInputError(f"moderators {formula!r}: {msg}") from None
    except Exception as exc:  # pragma: no cover - formulaic raises various errors for bad data
        raise MetaInputError(f"moderators {formula!r}: {' '.join(str(exc).split())}") from None
    names = [r_style_name(str(c)) for c in mm.columns]
    X = np.asarray(mm, dtype=float)
    check_model_matrix(X, names)
    return X, names


def check_model_matrix(X: np.ndarray, names: Sequence[str]) -> None:
    """Raise :class:`MetaInputError` for non-finite, constant or collinear moderator columns (named).

    Notes
    -----
    Columns are added one at a time and the rank of the growing matrix is checked with an SVD tolerance of
    ``max(shape)·ε·σ_max`` (numpy's default, as ``lm``/``rma`` would drop or reject an aliased column); the
    first column that does not raise the rank is reported together with the columns it depends on.
    """
    X = np.asarray(X, dtype=float)
    names = list(names)
    bad = ~np.isfinite(X)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        raise MetaInputError(f"moderator column {names[j]!r}: non-finite value in row(s) {format_rows(bad[:, j])}")
    has_intercept = bool(np.any(np.all(X == 1.0, axis=0)))
    for j, name in enumerate(names):
        col = X[:, j]
        if name != "intrcpt" and np.ptp(col) == 0 and (has_intercept or col[0] == 0):
            raise MetaInputError(f"moderator column {name!r} is constant (value {col[0]:g} in every row)")
    rank = 0
    for j in range(X.shape[1]):
        r = np.linalg.matrix_rank(X[:, : j + 1])
        if r <= rank:
            raise MetaInputError(
                f"moderator column {names[j]!r} is collinear with {', '.join(repr(n) for n in names[:j])} "
                "(model matrix not of full rank)"
            )
        rank = r
    if X.shape[1] >= X.shape[0]:
        raise MetaInputError(f"{X.shape[1]} model coefficients need more than {X.shape[0]} estimates")
