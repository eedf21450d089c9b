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

R formula habits (:func:`formula_context`): ``factor(x)`` (a categorical moderator, R's level order and
``factor(x)b`` column names), ``scale(x)``/``center(x)``, ``poly(x, d)`` (R's orthogonal polynomials, same signs),
``I(x^2)`` (``^`` is R's power inside a call), ``log``, ``exp``, ``sqrt``, ``abs`` and interactions.  metafor
evaluates the formula with ``model.frame(mods, data, na.action = na.pass)`` on *all* input rows and drops the
incomplete rows afterwards, so ``scale(x)`` is centred and scaled over every row where ``x`` is present —
including rows dropped later for a missing ``yi`` (checked against metafor 3.8.1: ``dat.bcg`` with ``yi[5]``
missing gives β = (−0.65944, −0.37455), not the (−0.70657, −0.35355) of scaling the complete rows).
:func:`model_matrix` therefore evaluates on all rows (``rows`` selects the kept ones afterwards) with NaN-aware
``scale``/``center``; functions formulaic cannot evaluate are reported in one line.

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
    """formulaic column name → R ``model.matrix`` name (``Intercept`` → ``intrcpt``, ``g[T.b]`` → ``gb``,
    ``I(x ** 2)`` → ``I(x^2)``, ``I(x / 10)`` → ``I(x/10)``: R's deparse writes ``^`` and ``/`` without spaces)."""
    if name == "Intercept":
        return "intrcpt"
    def level(m):  # R prints logical levels as TRUE/FALSE
        return {"True": "TRUE", "False": "FALSE"}.get(m.group(1), m.group(1))

    return _LEVEL.sub(level, name).replace(" ** ", "^").replace(" / ", "/")


#: functions a moderator formula may call (besides interactions, ``-1`` and ``+0``)
SUPPORTED_FUNCTIONS = ("factor", "scale", "center", "poly", "I", "log", "log2", "log10", "exp", "sqrt", "abs")


def _nan_scale(data, center=True, scale=True, _state=None):
    """R ``scale()``: centre by the mean and divide by the root mean square (n − 1) of the non-missing values.

    Notes
    -----
    R's ``scale`` uses ``colMeans(x, na.rm = TRUE)`` and ``sqrt(sum(x^2, na.rm = TRUE)/(n − 1))`` over the
    non-missing values; formulaic's ``scale`` would return NaN for every row as soon as one value is missing.
    The state (centre, scale) is kept, so new moderator values are transformed as the fitted data were.
    """
    x = np.asarray(data, dtype=float)
    if "center" not in _state:
        _state["center"] = float(np.nanmean(x)) if center is True else (None if center is False else float(center))
    if _state["center"] is not None:
        x = x - _state["center"]
    if "scale" not in _state:
        n = int(np.sum(~np.isnan(x)))
        _state["scale"] = (float(np.sqrt(np.nansum(x**2) / (n - 1))) if scale is True
                           else None if scale is False else float(scale))
    if _state["scale"] is not None:
        x = x / _state["scale"]
    return x


def _factor(data, levels=None):
    """R ``factor()``: a categorical moderator (treatment contrasts, first sorted level as reference)."""
    from formulaic.transforms import C

    return C(data, levels=levels)


def formula_context() -> dict:
    """Names available in moderator formulas: R's ``factor``, NaN-aware ``scale``/``center``, and formulaic's
    ``poly``, ``I``, ``log`` & co."""
    from formulaic.transforms import TRANSFORMS
    from formulaic.utils.stateful_transforms import stateful_transform

    scale = stateful_transform(_nan_scale)

    def center(data, _state=None):
        return scale(data, center=True, scale=False, _state=_state)

    poly = TRANSFORMS["poly"]

    def r_poly(x, degree=1, raw=False, _state=None):
        if np.any(pd.isna(np.asarray(x, dtype=object))):
            raise ValueError("missing values are not allowed in poly() (as in R)")
        return poly(x, degree, raw, _state=_state)

    ctx = {name: TRANSFORMS[name] for name in ("I", "log", "log2", "log10", "exp", "np") if name in TRANSFORMS}
    ctx.update(factor=_factor, scale=scale, center=stateful_transform(center), poly=stateful_transform(r_poly),
               sqrt=np.sqrt, abs=np.abs)
    return ctx


_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*\(")
_NAME = re.compile(r"(?<![A-Za-z0-9_.'\"])([A-Za-z_.][A-Za-z0-9_.]*)(?![A-Za-z0-9_.]*\s*\()")


def _python_powers(text: str) -> str:
    """R's ``^`` means a power inside a function call (``I(x^2)``, ``log(x^2)``); formulaic needs ``**`` there.

    ``^`` outside calls (``(a + b)^2``) keeps its formula meaning (interactions up to that order).
    """
    out, depth_in_call, stack = [], 0, []
    for i, ch in enumerate(text):
        if ch == "(":
            before = text[:i].rstrip()
            is_call = bool(before) and (before[-1].isalnum() or before[-1] in "_.")
            stack.append(is_call)
            depth_in_call += is_call
        elif ch == ")" and stack:
            depth_in_call -= stack.pop()
        out.append("**" if ch == "^" and depth_in_call > 0 else ch)
    return "".join(out)


def _unsupported_calls(text: str) -> list[str]:
    return [f for f in dict.fromkeys(_CALL.findall(text)) if f not in SUPPORTED_FUNCTIONS and not f.startswith("np.")]


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
    return _python_powers(text if text.startswith("~") else "~ " + text)


def moderator_variables(formula: str | None, columns=None) -> tuple[str, ...]:
    """Raw data columns a moderator formula uses (``()`` for the intercept-only model).

    formulaic's ``required_variables`` misses the arguments of stateful transforms (``scale(x)``, ``poly(x, 2)``)
    and counts ``factor`` as a variable, so names are also read from the formula text; with ``columns`` given
    only names that are data columns are returned.

    Raises
    ------
    MetaInputError
        The formula cannot be parsed, or calls a function that is not supported.
    """
    text = _formula_text(formula)
    if text is None:
        return ()
    from formulaic import Formula

    bad = _unsupported_calls(text)
    if bad:
        raise MetaInputError(f"moderators {formula!r}: function {bad[0]}() is not supported (supported: "
                             f"{', '.join(f + '()' for f in SUPPORTED_FUNCTIONS)}, interactions a:b and a*b, - 1)")
    try:
        required = {str(v) for v in Formula(text, _context=formula_context()).required_variables}
    except Exception as exc:  # formula syntax
        raise MetaInputError(f"moderator formula {formula!r} cannot be parsed: {' '.join(str(exc).split())}") from None
    names = required | set(_NAME.findall(text))
    names -= set(SUPPORTED_FUNCTIONS) | {"np", "True", "False", "None"}
    if columns is not None:
        cols = {str(c) for c in columns}
        names = {n for n in names if n in cols}
    else:
        names = {n for n in names if not n.replace(".", "").isdigit()}
    return tuple(sorted(names))


def missing_moderators(formula: str | None, data: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """``{column: mask of rows with a missing value}`` for the data columns the formula uses."""
    if data is None:
        return {}
    out = {}
    for var in moderator_variables(formula, data.columns):
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


def model_matrix(formula: str | None, data: pd.DataFrame | None, k: int | None = None,
                 rows: np.ndarray | None = None) -> DesignMatrix:
    """Evaluate a moderator formula on ``data``: the model matrix in metafor's column order, and its spec.

    Parameters
    ----------
    formula : str or None
        One-sided formula such as ``"~ pubstatus"``, ``"~ factor(year) + scale(x)"`` or ``"~ poly(x, 2)"``
        (``"- 1"`` drops the intercept).  ``None`` or ``"~ 1"`` gives the intercept-only model.
    data : DataFrame
        Data holding the moderators (one row per input estimate).
    k : int, optional
        Number of estimates (needed when ``data`` is None).
    rows : ndarray of bool, optional
        The rows kept for fitting (metafor's ``not.na``).  The formula is evaluated on *all* rows of ``data``
        first and these rows are taken afterwards, as ``rma(..., na.action = na.omit)`` does, so data-dependent
        transforms (``scale``, ``poly``, ``factor`` levels) see the same rows as in R.

    Raises
    ------
    MetaInputError
        Missing column, missing moderator values in kept rows (rows named), unsupported function, constant or
        collinear moderator.
    """
    text = _formula_text(formula)
    if text is None:
        n = len(data) if data is not None else k
        if rows is not None:
            n = int(np.sum(rows))
        if n is None:
            raise MetaInputError("cannot build an intercept-only model matrix without the number of estimates")
        return DesignMatrix(X=np.ones((n, 1)), names=("intrcpt",), formula=None)
    if data is None:
        raise MetaInputError(f"moderator formula {formula!r} needs a data table")
    from formulaic import model_matrix as _formulaic_model_matrix
    from formulaic.errors import FormulaicError

    data = data.reset_index(drop=True)
    keep = np.ones(len(data), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    variables = moderator_variables(formula, data.columns)
    for var, miss in missing_moderators(formula, data).items():
        if np.any(miss & keep):
            raise MetaInputError(f"column {var!r}: missing moderator value in row(s) {format_rows(miss & keep)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # log(0) etc.: reported below as non-finite rows
            mm = _formulaic_model_matrix(text, data, na_action="ignore", context=formula_context())
    except FormulaicError as exc:
        msg = " ".join(str(exc).split())
        m = re.search(r"`([^`]+)` is not present", msg) or re.search(r"name '([^']+)' is not defined", msg)
        if m:
            raise MetaInputError(f"column {m.group(1)!r} not found in data (moderators {formula!r})") from None
        raise MetaInputError(f"moderators {formula!r}: {msg}") from None
    except Exception as exc:  # pragma: no cover - formulaic raises various errors for bad data
        raise MetaInputError(f"moderators {formula!r}: {' '.join(str(exc).split())}") from None
    names = [r_style_name(str(c)) for c in mm.columns]
    X = np.asarray(mm, dtype=float)
    if X.shape[0] != len(data):  # pragma: no cover - na_action="ignore" keeps every row
        raise MetaInputError(f"moderators {formula!r}: the model matrix lost rows")
    X = X[keep]
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
            mm = design.spec.get_model_matrix(newdata.reset_index(drop=True), context=formula_context())
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
