"""Multilevel random-effects meta-analysis with nested random intercepts (metafor ``rma.mv``), in O(k).

``fit_multilevel(yi, vi, {"study": s, "esid": e})`` is metafor's
``rma.mv(yi, vi, random = ~ 1 | study/esid)``: REML (default) or ML estimates of one variance component per
level, GLS estimates of the fixed effects with Wald z (or t) tests, Cochran's QE, the omnibus QM, fit
statistics, multilevel I², the prediction interval, and profile-likelihood CIs / likelihood-ratio tests for
every variance component (:mod:`meta.profile_likelihood`).

Notes
-----
*Model.* ``y ~ N(Xβ, M)``, ``M = diag(v) + Σ_l σ²_l Z_l Z_l'`` where the level-``l`` grouping factor is the
combination of the ids of levels ``1..l`` (metafor's ``study/esid``).  A factor with a single level has its
σ² fixed at 0, as metafor does.

*Likelihood and estimates.* As metafor 3.8 (``.ll.rma.mv``, Viechtbauer 2010 *J Stat Softw* 36(3)):
ML and REML log-likelihoods including REML's ``+½log|X'X|`` constant, ``b = (X'WX)⁻¹X'Wy`` and
``vb = (X'WX)⁻¹`` with ``W = M⁻¹``; QE from the fixed-effects fit with ``V`` only; ``QM`` over all
coefficients except the intercept; AIC/BIC/AICc with ``p + #(estimated σ²)`` parameters, ``log(k−p)`` in
the REML BIC and ``k−p`` in the REML AICc; ML deviance relative to the saturated model.  All of it is
computed with the O(k) algebra of :mod:`meta.nested_covariance`.

*Optimisation.* The variance components are maximised directly on the box ``σ² ≥ 0`` (projected
average-information scoring, then projected Newton, L-BFGS-B as fallback) by
:func:`meta.variance_components.optimise_variance_components`, so every derived quantity agrees with a
tightly converged metafor fit to better than 1e-6 and a component that belongs at 0 is exactly 0; that
module says why metafor's ``nlminb`` on ``log σ²`` is not copied.

*Degrees of freedom.* ``test="t"`` uses ``k − p``; ``dfs="contain"`` reproduces metafor's ``.ddf.calc``:
for coefficient ``j`` the smallest number of levels among the grouping factors within every level of which
``X[:, j]`` is constant (otherwise ``k``), minus ``p``, floored at 1.  As in metafor, ``dfs="contain"``
implies ``test="t"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from meta.display import ResultDisplay
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from meta.errors import MetaInputError
from meta.heterogeneity import fixed_effects_q, i_squared, typical_variance
from meta.inference import Coefficient, coefficient_table, omnibus_test, prediction_interval
from meta.model_matrix import DesignMatrix, check_model_matrix, missing_inputs, model_matrix
from meta.nested_covariance import NestedStructure
from meta.variance_components import OptResult, optimise_variance_components
from meta.validation import as_float_column, check_effect_sizes, format_rows, omit_missing

_LOG2PI = float(np.log(2.0 * np.pi))


# ---------------------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class MultilevelResult(ResultDisplay):
    """A fitted multilevel model (field names shared with the univariate result, ``sigma2`` for ``tau2``)."""

    k: int
    p: int
    method: str
    test: str
    level_names: tuple[str, ...]
    sigma2: tuple[float, ...]
    coefficients: tuple[Coefficient, ...]
    beta: np.ndarray
    vb: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    QE: float
    QE_df: int
    QE_p: float
    QM: float
    QM_df: int
    QM_p: float  # QM is metafor's: the Wald χ² for z tests, F = χ²/m on (m, min ddf) for t tests
    logLik: float
    deviance: float
    AIC: float
    BIC: float
    AICc: float
    I2_total: float
    I2_levels: tuple[float, ...]
    pred_interval: tuple[float, float] | None
    converged: bool
    n_iter: int
    optimizer_message: str
    # ---- further detail (metafor names in comments)
    coef_names: tuple[str, ...] = ()
    factor_names: tuple[str, ...] = ()  # "study", "study/esid" (metafor's factor column)
    nlevels: tuple[int, ...] = ()  # s.nlevels
    sigma2_fixed: tuple[bool, ...] = ()  # components fixed at 0 (single-level factor) or by the caller
    dfs: str = "residual"
    ddf: tuple[float, ...] | None = None  # per-coefficient df for t tests
    QM_chi2: float = float("nan")  # the Wald χ² b'vb⁻¹b (equals QM for z tests; QM = QM_chi2/m for t tests)
    QM_ddf: float | None = None
    level: float = 0.95
    ll_ML: float = float("nan")
    ll_REML: float = float("nan")
    parms: int = 0
    typical_variance: float = float("nan")
    _structure: NestedStructure | None = field(default=None, repr=False)
    _diag_w: np.ndarray | None = field(default=None, repr=False)
    omitted_rows: tuple[int, ...] = ()  # 1-based input rows left out for missing values (na.omit)
    design: DesignMatrix | None = field(default=None, repr=False)  # formula, levels: predictions at new values
    level_ids: tuple[np.ndarray, ...] = field(default=(), repr=False)  # raw ids per level (outer → inner)

    @property
    def int_only(self) -> bool:
        """True for the intercept-only model."""
        return self.p == 1 and bool(np.all(self.X[:, 0] == 1.0))

    def predict(self, newmods=None, *, level: float | None = None):
        """Predicted effects with CI and prediction interval (see :func:`meta.prediction.predict`)."""
        from meta.prediction import predict

        return predict(self, newmods, level=level)

    # ------------------------------------------------------------------ accessors
    def weights(self) -> np.ndarray:
        """Weights in percent, metafor ``weights.rma.mv(type="diagonal")``: ``100·diag(W)/Σdiag(W)``."""
        w = np.asarray(self._diag_w, dtype=float)
        return 100.0 * w / w.sum()

    def fitted(self) -> np.ndarray:
        """Fitted values ``X b`` (metafor ``fitted.rma``)."""
        return self.X @ self.beta

    def residuals(self) -> np.ndarray:
        """Raw residuals ``y − X b`` (metafor ``residuals.rma``, type "response")."""
        return self.yi - self.fitted()

    @property
    def sigma(self) -> tuple[float, ...]:
        return tuple(float(np.sqrt(s)) for s in self.sigma2)

    def profile_ci(self, component: int | str = 0, *, level: float | None = None):
        """Profile-likelihood CI for one σ² (see :func:`meta.profile_likelihood.profile_ci`)."""
        from meta.profile_likelihood import profile_ci

        return profile_ci(self, component, level=level)

    def lrt(self, component: int | str = 0):
        """Likelihood-ratio test of ``σ²_component = 0`` (see :func:`meta.profile_likelihood.lrt`)."""
        from meta.profile_likelihood import lrt

        return lrt(self, component)

    # ------------------------------------------------------------------ output
    def to_frame(self) -> pd.DataFrame:
        """Coefficient table (estimate, se, z, p, ci_lb, ci_ub[, df]) indexed by coefficient name."""
        rows = [c.to_dict() for c in self.coefficients]
        df = pd.DataFrame(rows).set_index("name")
        if self.test == "z":
            df = df.drop(columns="df")
        return df

    def variance_frame(self) -> pd.DataFrame:
        """Variance components table (metafor's "Variance Components" block plus I² per level)."""
        return pd.DataFrame(
            {
                "estim": self.sigma2, "sqrt": self.sigma, "nlvls": self.nlevels,
                "fixed": ["yes" if f else "no" for f in self.sigma2_fixed], "factor": self.factor_names,
                "I2": self.I2_levels,
            },
            index=[f"sigma^2.{i + 1}" for i in range(len(self.sigma2))],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the ``blockade meta pool --json`` object)."""
        return {
            "model": "multilevel",
            "k": self.k,
            "p": self.p,
            "method": self.method,
            "test": self.test,
            "dfs": self.dfs,
            "levels": list(self.level_names),
            "coefficients": [
                {kk: vv for kk, vv in c.to_dict().items() if not (kk == "df" and vv is None)} for c in self.coefficients
            ],
            "sigma2": list(self.sigma2),
            "sigma2_fixed": list(self.sigma2_fixed),
            "nlevels": list(self.nlevels),
            "QE": self.QE, "QE_df": self.QE_df, "QE_p": self.QE_p,
            "QM": self.QM, "QM_df": self.QM_df, "QM_p": self.QM_p,
            "QM_chi2": self.QM_chi2, "QM_ddf": self.QM_ddf,
            "logLik": self.logLik, "deviance": self.deviance, "AIC": self.AIC, "BIC": self.BIC, "AICc": self.AICc,
            "I2": {"total": self.I2_total, "levels": list(self.I2_levels)},
            "pred_interval": None if self.pred_interval is None else list(self.pred_interval),
            "converged": self.converged,
            "omitted_rows": list(self.omitted_rows),
            "n_iter": self.n_iter,
            "optimizer_message": self.optimizer_message,
        }

    def key_numbers(self) -> list[tuple[str, str]]:
        """k, the pooled estimate (or first coefficient) with CI and p, and σ² per level (notebook display)."""
        from meta.display import coefficient_numbers, format_number

        out = [("k", str(self.k)), ("method", self.method)]
        out += coefficient_numbers(self.coefficients, getattr(self, "level", None))
        out.append(("σ²", ", ".join(f"{n} {format_number(v)}" for n, v in zip(self.level_names, self.sigma2))))
        return out

    def summary(self, digits: int = 4) -> str:
        """A metafor-like printed summary (``print.rma.mv``) with multilevel I² added."""
        d = digits

        def f(x: float) -> str:
            return f"{x:.{d}f}"

        def pval(p: float) -> str:
            return f"< .{'0' * (d - 1)}1" if p < 10.0 ** (-d) else f"= {p:.{d}f}"

        lines = [f"Multivariate Meta-Analysis Model (k = {self.k}; method: {self.method})", ""]
        if self.omitted_rows:
            lines[-1:] = [f"({len(self.omitted_rows)} row(s) with missing values omitted: "
                          f"{', '.join(str(r) for r in self.omitted_rows[:20])}"
                          f"{' ...' if len(self.omitted_rows) > 20 else ''})", ""]
        heads = ["logLik", "Deviance", "AIC", "BIC", "AICc"]
        vals = [self.logLik, self.deviance, self.AIC, self.BIC, self.AICc]
        w = max(len(f(v)) for v in vals) + 2
        lines.append("".join(h.rjust(w) for h in heads))
        lines.append("".join(f(v).rjust(w) for v in vals))
        lines += ["", "Variance Components:", ""]
        fac_w = max(len("factor"), *(len(n) for n in self.factor_names))
        lines.append(
            " " * 10 + "estim".rjust(9) + "sqrt".rjust(9) + "nlvls".rjust(7) + "fixed".rjust(7)
            + "I2(%)".rjust(9) + "  " + "factor".rjust(fac_w)
        )
        for i, (s, n, fx, fac, i2) in enumerate(
            zip(self.sigma2, self.nlevels, self.sigma2_fixed, self.factor_names, self.I2_levels)
        ):
            lines.append(
                f"sigma^2.{i + 1}".ljust(10) + f(s).rjust(9) + f(np.sqrt(s)).rjust(9) + str(n).rjust(7)
                + ("yes" if fx else "no").rjust(7) + f"{i2:.2f}".rjust(9) + "  " + fac.rjust(fac_w)
            )
        lines += ["", f"Multilevel I^2 (total): {self.I2_total:.2f}%", ""]
        lines += ["Test for Residual Heterogeneity:" if self.p > 1 else "Test for Heterogeneity:",
                  f"QE(df = {self.QE_df}) = {f(self.QE)}, p-val {pval(self.QE_p)}", ""]
        if self.p > 1:
            if self.test == "t":
                lines += [f"Test of Moderators (coefficients 2:{self.p}):",
                          f"F(df1 = {self.QM_df}, df2 = {self.QM_ddf:g}) = {f(self.QM)}, p-val {pval(self.QM_p)}", ""]
            else:
                lines += [f"Test of Moderators (coefficients 2:{self.p}):",
                          f"QM(df = {self.QM_df}) = {f(self.QM)}, p-val {pval(self.QM_p)}", ""]
        lines += ["Model Results:", ""]
        stat = "tval" if self.test == "t" else "zval"
        cols = ["estimate", "se", stat] + (["df"] if self.test == "t" else []) + ["pval", "ci.lb", "ci.ub"]
        nw = max(len(c.name) for c in self.coefficients)
        table = []
        for c in self.coefficients:
            row = [f(c.estimate), f(c.se), f(c.z)] + ([f"{c.df:g}"] if self.test == "t" else [])
            row += [f"{c.p:.{d}f}" if c.p >= 10.0 ** (-d) else "<." + "0" * (d - 1) + "1", f(c.ci_lb), f(c.ci_ub)]
            stars = "***" if c.p < 0.001 else "**" if c.p < 0.01 else "*" if c.p < 0.05 else "." if c.p < 0.1 else ""
            table.append((c.name, row, stars))
        cw = [max(len(h), *(len(r[1][i]) for r in table)) + 2 for i, h in enumerate(cols)]
        lines.append(" " * nw + "".join(h.rjust(cw[i]) for i, h in enumerate(cols)))
        for name, row, stars in table:
            lines.append(name.ljust(nw) + "".join(v.rjust(cw[i]) for i, v in enumerate(row)) + "  " + stars)
        if self.pred_interval is not None:
            lines += ["", f"{int(round(self.level * 100))}% prediction interval: [{f(self.pred_interval[0])}, {f(self.pred_interval[1])}]"]
        lines += ["", "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
        if not self.converged:
            lines.append(f"WARNING: optimiser did not converge: {self.optimizer_message}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.summary()


# ---------------------------------------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------------------------------------
def _column(x: Any, data: pd.DataFrame | None, what: str) -> tuple[Any, str]:
    if isinstance(x, str):
        if data is None:
            raise MetaInputError(f"{what} given as column name {x!r} but no data table")
        if x not in data.columns:
            raise MetaInputError(f"column {x!r} not found in data")
        return data[x].to_numpy(), x
    return x, what


def parse_levels(levels: Any, data: pd.DataFrame | None, k: int) -> tuple[list[str], list[np.ndarray]]:
    """Level names and id arrays (outer → inner) from a mapping, DataFrame or list of column names.

    Missing ids raise a one-line error naming the level column and rows.
    """
    if isinstance(levels, pd.DataFrame):
        items = [(str(c), levels[c].to_numpy()) for c in levels.columns]
    elif isinstance(levels, Mapping):
        items = [(str(n), ids.to_numpy() if hasattr(ids, "to_numpy") else np.asarray(ids)) for n, ids in levels.items()]
    elif isinstance(levels, str) or (isinstance(levels, Sequence) and all(isinstance(c, str) for c in levels)):
        cols = [c.strip() for c in levels.split(",")] if isinstance(levels, str) else list(levels)
        if data is None:
            raise MetaInputError("levels given as column names need a data table")
        items = []
        for c in cols:
            if c not in data.columns:
                raise MetaInputError(f"level column {c!r} not found in data")
            items.append((c, data[c].to_numpy()))
    elif isinstance(levels, Sequence) or isinstance(levels, np.ndarray):
        # a sequence of id arrays, outer → inner, named level1, level2, ...
        items = [(f"level{j + 1}", np.asarray(ids)) for j, ids in enumerate(levels)]
    else:
        raise MetaInputError("levels must be a mapping of level name to ids, a DataFrame or a list of column names")
    if not items:
        raise MetaInputError("at least one random-effect level is needed")
    names, arrays = [], []
    for name, ids in items:
        arr = np.asarray(ids)
        if arr.ndim != 1 or arr.size != k:
            raise MetaInputError(f"level column {name!r} has {arr.size} ids for {k} estimates")
        miss = pd.isna(pd.Series(arr)).to_numpy()
        if miss.any():
            raise MetaInputError(f"level column {name!r}: missing id in row(s) {format_rows(miss)}")
        names.append(name)
        # ids compared as strings when of mixed/object type, so 1 and "1" are one group (as R factors)
        if arr.dtype.kind == "O":
            arr = arr.astype(str)
        arrays.append(arr)
    return names, arrays


def contain_ddf(X: np.ndarray, struct: NestedStructure) -> np.ndarray:
    """metafor ``.ddf.calc(dfs="contain")`` for nested random intercepts."""
    k, p = X.shape
    ddf = np.full(p, float(k))
    for j in range(p):
        col = X[:, j]
        for l in range(struct.L):
            g, n = struct.codes[l], struct.n_groups[l]
            lo = np.full(n, np.inf)
            hi = np.full(n, -np.inf)
            np.minimum.at(lo, g, col)
            np.maximum.at(hi, g, col)
            if np.all(lo == hi):
                ddf[j] = min(ddf[j], n)
    ddf = ddf - p
    ddf[ddf < 1] = 1
    return ddf


# ---------------------------------------------------------------------------------------------------------
# the fit
# ---------------------------------------------------------------------------------------------------------
def fit_multilevel(
    yi: Any,
    vi: Any,
    levels: Any,
    X: np.ndarray | None = None,
    *,
    names: Sequence[str] | None = None,
    mods: str | None = None,
    data: pd.DataFrame | None = None,
    method: str = "REML",
    test: str = "z",
    dfs: str = "residual",
    level: float = 0.95,
    sigma2: Sequence[float | None] | None = None,
    start: Sequence[float] | None = None,
    yi_name: str | None = None,
    vi_name: str | None = None,
    na: str = "omit",
) -> MultilevelResult:
    """Fit a multilevel random-effects model with nested random intercepts (metafor ``rma.mv``).

    Parameters
    ----------
    yi, vi : array-like or str
        Effect sizes and sampling variances (or column names in ``data``).
    levels : mapping, DataFrame or list of column names
        Level name → ids, ordered outer → inner: ``{"study": s, "esid": e}`` ≡ ``random = ~ 1 | study/esid``.
    X : ndarray, optional
        Model matrix (include the intercept column yourself); ``names`` gives its column names.
    mods : str, optional
        Moderator formula evaluated on ``data`` (``"~ pubstatus"``); alternative to ``X``.
    data : DataFrame, optional
        Table with moderators (and columns named by ``yi``/``vi``/``levels`` if given as names).
    method : {"REML", "ML"}
    test : {"z", "t"}
    dfs : {"residual", "contain"}
        Degrees of freedom for t tests; ``"contain"`` implies ``test="t"`` (metafor).
    level : float
        Confidence level.
    sigma2 : sequence of float or None, optional
        Fix components at given values (``None``/NaN = estimate), metafor's ``sigma2=`` argument.
    start : sequence of float, optional
        Starting values of the free components.
    yi_name, vi_name : str, optional
        Column names used in error messages.
    na : {"omit", "fail"}
        metafor's ``na.action``: ``"omit"`` (default) drops rows with a missing ``yi``, ``vi`` or moderator
        and warns once (:class:`~meta.errors.OmittedRowsWarning`) naming the 1-based rows, kept in
        the result's ``omitted_rows``; ``"fail"`` raises a one-line :class:`~meta.errors.MetaInputError`.  A missing
        level id is always an error (as in ``rma.mv``, which refuses NAs in the ``random`` variables).

    Returns
    -------
    MultilevelResult

    Raises
    ------
    MetaInputError
        Bad effect sizes, variances, level ids or moderators (one line naming column and rows).
    ConvergenceError
        The optimiser did not reach a stationary point; the message carries its report.

    Notes
    -----
    See the module docstring; reference: Viechtbauer (2010); Konstantopoulos (2011, *Res Synth Methods*
    2:61–76) for the three-level model; Assink & Wibbelink (2016, *Quant Methods Psychol* 12:154–174).
    """
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise MetaInputError(f"method {method!r} is not available for multilevel models (use REML or ML)")
    if test not in ("z", "t"):
        raise MetaInputError(f"test must be 'z' or 't' (got {test!r})")
    if dfs not in ("residual", "contain"):
        raise MetaInputError(f"dfs must be 'residual' or 'contain' (got {dfs!r})")
    if dfs == "contain":
        test = "t"
    yi_raw, yname = _column(yi, data, "yi")
    vi_raw, vname = _column(vi, data, "vi")
    yname, vname = yi_name or yname, vi_name or vname
    y = as_float_column(yi_raw, yname)
    v = as_float_column(vi_raw, vname)
    if y.size != v.size:
        raise MetaInputError(f"columns {yname!r} and {vname!r} have different lengths ({y.size} vs {v.size})")
    k_all = y.size
    # a missing level id is an error, not an omitted row: rma.mv stops with "No NAs allowed in variables
    # specified in the 'random' argument" whatever na.action says
    lnames, ids = parse_levels(levels, data, k_all)
    missing, X = missing_inputs(y, v, X, mods, data, yname, vname)
    keep = omit_missing(missing, k_all, na=na, stacklevel=3)
    omitted = tuple(int(i) + 1 for i in np.flatnonzero(~keep))
    check_effect_sizes(np.where(keep, y, 0.0), np.where(keep, v, 1.0), yi_name=yname, vi_name=vname, min_k=1)
    y, v = y[keep], v[keep]
    ids = [np.asarray(a)[keep] for a in ids]
    k = y.size
    if k < 2:
        raise MetaInputError(f"need at least 2 estimates (got {k}"
                             f"{f' after omitting {len(omitted)} row(s) with missing values' if omitted else ''})")
    if X is not None:
        X = X[keep]
        cnames = list(names) if names is not None else (
            ["intrcpt"] + [f"X{j}" for j in range(1, X.shape[1])] if np.all(X[:, 0] == 1) else [f"X{j + 1}" for j in range(X.shape[1])]
        )
        if len(cnames) != X.shape[1]:
            raise MetaInputError(f"got {len(cnames)} coefficient names for {X.shape[1]} model-matrix columns")
        check_model_matrix(X, cnames)
        design = DesignMatrix(X=X, names=tuple(cnames))
    else:
        if data is None or mods is None:
            design = model_matrix(mods, None, k)
        else:  # evaluated on all rows and the kept ones taken, as R's model.frame(na.action = na.pass)
            design = model_matrix(mods, data, k, rows=keep)
        X, cnames = design.X, list(design.names)
    k, p = X.shape
    if k - p < 1:
        raise MetaInputError(f"need more estimates ({k}) than model coefficients ({p})")

    struct = NestedStructure.from_ids(ids)
    L = struct.L
    fixed = np.full(L, np.nan)
    if sigma2 is not None:
        if len(sigma2) != L:
            raise MetaInputError(f"sigma2 has {len(sigma2)} values for {L} levels")
        for j, s in enumerate(sigma2):
            if s is not None and np.isfinite(s):
                if s < 0:
                    raise MetaInputError(f"sigma2 for level {lnames[j]!r} must be >= 0")
                fixed[j] = float(s)
    single = np.array([n == 1 for n in struct.n_groups])
    fixed[single & np.isnan(fixed)] = 0.0
    reml = method == "REML"
    logdet_xtx = float(np.linalg.slogdet(X.T @ X)[1])
    opt = optimise_variance_components(
        struct, y, v, X, reml=reml, fixed=fixed,
        start=None if start is None else np.asarray(start, float), logdet_xtx=logdet_xtx,
    )
    res = _assemble(
        struct, y, v, X, cnames, lnames, opt, method=method, test=test, dfs=dfs, level=level,
        fixed_mask=~np.isnan(fixed), logdet_xtx=logdet_xtx,
    )
    return replace(res, omitted_rows=omitted, design=design, level_ids=tuple(ids))


def _assemble(
    struct: NestedStructure, y, v, X, cnames, lnames, opt: OptResult, *, method, test, dfs, level, fixed_mask,
    logdet_xtx,
) -> MultilevelResult:
    k, p = X.shape
    s2 = opt.sigma2
    ev = struct.evaluate(s2, v, X, y, gradient=False, logdet_xtx=logdet_xtx)
    beta, vb = ev.beta, ev.vb
    if test == "t":
        ddf = contain_ddf(X, struct) if dfs == "contain" else np.full(p, float(k - p))
    else:
        ddf = None
    coefs = coefficient_table(cnames, beta, vb, test=test, df=ddf, level=level)
    has_int = bool(np.any(np.all(X == 1.0, axis=0))) and p > 1
    btt = list(range(1, p)) if has_int else list(range(p))
    om = omnibus_test(beta, vb, btt, test=test, ddf=None if ddf is None else float(np.min(ddf[btt])))
    qe, qe_df, qe_p = fixed_effects_q(y, v, X)
    ll_ml, ll_reml = ev.ll_ml, ev.ll_reml
    reml = method == "REML"
    parms = p + int(np.sum(~fixed_mask))
    if reml:
        ll = ll_reml
        dev = -2.0 * ll_reml
        n_eff = k - p
    else:
        ll = ll_ml
        ll_qe = -0.5 * k * _LOG2PI - 0.5 * float(np.sum(np.log(v)))
        dev = -2.0 * (ll_ml - ll_qe)
        n_eff = k
    aic = -2.0 * ll + 2.0 * parms
    bic = -2.0 * ll + parms * np.log(n_eff)
    m = max(n_eff, parms + 2)
    aicc = -2.0 * ll + 2.0 * parms * m / (m - parms - 1)
    i2_total, i2_levels = i_squared(v, s2, X)
    typ = typical_variance(v, X)
    int_only = p == 1 and np.all(X[:, 0] == 1.0)
    pi = None
    if int_only:
        pi = prediction_interval(
            float(beta[0]), float(np.sqrt(vb[0, 0])), float(np.sum(s2)), test=test,
            df=None if ddf is None else float(ddf[0]), level=level,
        )
    factor_names = tuple("/".join(lnames[: j + 1]) for j in range(len(lnames)))
    return MultilevelResult(
        k=k, p=p, method=method, test=test, level_names=tuple(lnames), sigma2=tuple(float(x) for x in s2),
        coefficients=coefs, beta=beta, vb=vb, yi=y, vi=v, X=X,
        QE=qe, QE_df=qe_df, QE_p=qe_p, QM=float(om.statistic), QM_df=om.df, QM_p=om.p,
        logLik=float(ll), deviance=float(dev), AIC=float(aic), BIC=float(bic), AICc=float(aicc),
        I2_total=i2_total, I2_levels=i2_levels, pred_interval=pi, converged=opt.converged, n_iter=opt.n_iter,
        optimizer_message=opt.message, coef_names=tuple(cnames), factor_names=factor_names,
        nlevels=struct.n_groups, sigma2_fixed=tuple(bool(f) for f in fixed_mask), dfs=dfs,
        ddf=None if ddf is None else tuple(float(x) for x in ddf), QM_chi2=float(om.QM),
        QM_ddf=om.ddf, level=level, ll_ML=float(ll_ml), ll_REML=float(ll_reml), parms=parms,
        typical_variance=typ, _structure=struct, _diag_w=struct.diag_inverse(s2, v),
    )
