"""Moderator formulas → model matrices with R-style (metafor) column names and order.

Notes
-----
metafor builds ``X`` with R's ``model.matrix(mods, data)``: treatment contrasts with the first
(alphabetically sorted) level as reference, terms ordered by degree, the intercept first and called
``intrcpt``, and a dummy column named by pasting the variable name and the level (``deltypegeneral``).
formulaic (https://matthewwardrop.github.io/formulaic/) uses the same treatment coding, level order and term
order, so only the names need translating: ``Intercept`` → ``intrcpt`` and ``x[T.b]`` / ``x[b]`` → ``xb``.

:func:`model_matrix` also returns the fitted formulaic ``ModelSpec``; :func:`new_model_rows` re-applies it to new
raw moderator values (same factor levels, reference level and column order), which is what
:func:`meta.prediction.predict` needs for ``newmods`` given as a data table.

Bad moderators are rejected before fitting, because a singular ``X'WX`` would otherwise surface as an
optimiser failure far from its cause: a missing column, missing values (with 1-based data rows), a constant
non-intercept column, and a column that is a linear combination of earlier ones (metafor stops with
"Model matrix not of full rank"; here the offending column is named).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

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


@dataclass(frozen=True)
class DesignMatrix:
    """A model matrix with R-style column names and what is needed to build rows for new moderator values.

    Attributes
    ----------
    X : ndarray, shape (k, p)
    names : tuple of str
        metafor / R ``model.matrix`` column names (``intrcpt`` first).
    formula : str or None
        The moderator formula (``None`` for the intercept-only model).
    variables : tuple of str
        Raw data columns the formula uses.
    spec : formulaic ModelSpec or None
        The fitted encoding (factor levels, contrasts, stateful transforms).
    """

    X: np.ndarray
    names: tuple[str, ...]
    formula: str | None = None
    variables: tuple[str, ...] = ()
    spec: Any = field(default=None, repr=False, compare=False)


def _formula_text(formula: str | None) -> str | None:
    if formula is None or formula.strip() in ("", "~1", "~ 1", "1"):
        return None
    text = formula.strip()
    return text if text.startswith("~") else "~ " + text


def moderator_variables(formula: str | None) -> tuple[str, ...]:
    """Raw data columns a moderator formula uses (``()`` for the intercept-only model).

    Raises
    ------
    MetaInputError
        The formula cannot be parsed.
    """
    text = _formula_text(formula)
    if text is None:
        return ()
    from formulaic import Formula

    try:
        required = Formula(text).required_variables
    except Exception as exc:  # formula syntax
        raise MetaInputError(f"moderator formula {formula!r} cannot be parsed: {' '.join(str(exc).split())}") from None
    return tuple(sorted(str(v) for v in required))


def missing_moderators(formula: str | None, data: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """``{column: mask of rows with a missing value}`` for the data columns the formula uses."""
    if data is None:
        return {}
    out = {}
    for var in moderator_variables(formula):
        if var in data.columns:
            miss = pd.isna(data[var]).to_numpy()
            if miss.any():
                out[var] = miss
    return out


def missing_inputs(y: np.ndarray, v: np.ndarray, X, mods: str | None, data: pd.DataFrame | None,
                   yi_name: str, vi_name: str) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Which rows lack an input, by column, and the model matrix as a 2-D float array (or None).

    The estimates, the variances, any row of a given matrix ``X`` with a NaN, and the data columns a
    moderator formula uses; both model kinds then apply metafor's ``na.action`` to these masks
    (:func:`meta.validation.omit_missing`).
    """
    k = y.size
    if X is not None and mods is not None:
        raise MetaInputError("give moderators either as a formula (mods) or as a matrix (X), not both")
    missing = {yi_name: np.isnan(y), vi_name: np.isnan(v)}
    Xa = None
    if X is not None:
        Xa = np.asarray(X, dtype=float)
        if Xa.ndim == 1:
            Xa = Xa[:, None]
        if Xa.shape[0] != k:
            raise MetaInputError(f"model matrix has {Xa.shape[0]} rows for {k} estimates")
        missing["X"] = np.any(np.isnan(Xa), axis=1)
    elif mods is not None:
        if data is None:
            raise MetaInputError(f"moderator formula {mods!r} needs a data table")
        if len(data) != k:
            raise MetaInputError(f"data has {len(data)} rows for {k} estimates")
        missing.update(missing_moderators(mods, data))
    return missing, Xa


def build_model_matrix(formula: str | None, data: pd.DataFrame | None, k: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Evaluate a moderator formula on ``data`` and return ``(X, names)`` in metafor's column order.

    A thin wrapper of :func:`model_matrix` for callers that need no more than the matrix and its names.
    """
    built = model_matrix(formula, data, k)
    return built.X, list(built.names)


def model_matrix(formula: str | None, data: pd.DataFrame | None, k: int | None = None) -> DesignMatrix:
    """Evaluate a moderator formula on ``data``: the model matrix in metafor's column order, and its spec.

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
    text = _formula_text(formula)
    if text is None:
        n = len(data) if data is not None else k
        if n is None:
            raise MetaInputError("cannot build an intercept-only model matrix without the number of estimates")
        return DesignMatrix(X=np.ones((n, 1)), names=("intrcpt",), formula=None)
    if data is None:
        raise MetaInputError(f"moderator formula {formula!r} needs a data table")
    from formulaic import model_matrix as _formulaic_model_matrix
    from formulaic.errors import FormulaicError

    variables = moderator_variables(formula)
    for var, miss in missing_moderators(formula, data).items():
        raise MetaInputError(f"column {var!r}: missing moderator value in row(s) {format_rows(miss)}")
    try:
        mm = _formulaic_model_matrix(text, data, na_action="raise")
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
    return DesignMatrix(X=X, names=tuple(names), formula=formula, variables=variables, spec=mm.model_spec)


def new_model_rows(design: DesignMatrix, newdata: pd.DataFrame) -> np.ndarray:
    """Model-matrix rows (intercept included) for new raw moderator values, encoded as in the fit.

    Parameters
    ----------
    design : DesignMatrix
        The design of a fitted model (:func:`model_matrix`).
    newdata : pandas.DataFrame
        One column per variable the formula uses, one row per prediction.

    Raises
    ------
    MetaInputError
        A variable is missing, has missing values (rows named), or a categorical moderator has a level the
        fit never saw.

    Notes
    -----
    The fitted formulaic ``ModelSpec`` is re-applied, so factor levels, the reference level, column order and
    stateful transforms (``center(x)``, ``scale(x)``) are those of the fit — as R's
    ``model.matrix(delete.response(terms(fit)), newdata, xlev = fit$xlevels)`` would build them.  Plain
    functions such as ``I(x - mean(x))`` are re-evaluated on ``newdata`` (use ``center(x)`` to centre at the
    fitted mean).
    """
    if not isinstance(newdata, pd.DataFrame):
        raise MetaInputError("newmods given as raw moderator values must be a pandas DataFrame (one column per variable)")
    if design.spec is None:
        return np.ones((len(newdata), 1))
    absent = [v for v in design.variables if v not in newdata.columns]
    if absent:
        raise MetaInputError(f"newmods: column(s) {', '.join(repr(a) for a in absent)} missing "
                             f"(moderators {design.formula!r} use {', '.join(design.variables)})")
    for var in design.variables:
        miss = pd.isna(newdata[var]).to_numpy()
        if miss.any():
            raise MetaInputError(f"newmods: column {var!r}: missing value in row(s) {format_rows(miss)}")
    for factor, (kind, state) in getattr(design.spec, "encoder_state", {}).items():
        if str(getattr(kind, "value", kind)) == "categorical" and factor in newdata.columns:
            seen = list(state.get("categories", []))
            unseen = [u for u in pd.unique(newdata[factor]) if u not in seen]
            if unseen:
                raise MetaInputError(f"newmods: column {factor!r}: level(s) {', '.join(repr(u) for u in unseen)} "
                                     f"not in the fitted data (levels {', '.join(repr(x) for x in seen)})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            mm = design.spec.get_model_matrix(newdata.reset_index(drop=True))
    except Exception as exc:  # formulaic's errors, and its warnings turned into errors above
        raise MetaInputError(f"newmods: {' '.join(str(exc).split())}") from None
    names = [r_style_name(str(c)) for c in mm.columns]
    if tuple(names) != tuple(design.names):
        raise MetaInputError(f"newmods: built columns {names} do not match the model's {list(design.names)}")
    X = np.asarray(mm, dtype=float)
    if not np.all(np.isfinite(X)):
        bad = ~np.all(np.isfinite(X), axis=1)
        raise MetaInputError(f"newmods: non-finite moderator value in row(s) {format_rows(bad)}")
    return X


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
