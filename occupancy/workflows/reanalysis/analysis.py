"""Blockade-adjusted reanalysis of an antagonist meta-analysis (default: Løseth, Trøstheim & Leknes 2024).

Pipeline (:func:`reanalyse`)
----------------------------
1. **Annotate** every outcome with the MOR blockade in the drug and placebo conditions and the contrast
   (:mod:`occupancy.annotation.annotate`).
2. **Pool** the effect sizes: a three-level random-effects model (random intercepts for studies and for
   outcomes within studies, REML; :func:`meta.multilevel.fit_multilevel`) when the data are outcome-level
   (``yi``/``vi`` per outcome); otherwise a random-effects model (REML; :func:`meta.univariate.fit_random_effects`)
   on the study aggregates of the bundled study table, ``vi`` from the 95 % CI
   (``se = (ub − lb)/(2·1.959964)``).  On the bundled review this reproduces g = −0.1965 [−0.3244, −0.0685]
   (review: −0.20 [−0.32, −0.07]); each study's blockade contrast is then the mean over its outcomes.
3. **Meta-regression** of g on the MOR contrast (percentage points), and on the contrast together with the
   review's moderators where present: Jadad quality; mood (bundled study table, six studies); relationship
   type (outcome level only, treatment coding with ``new`` as reference).
4. **Blockade-adjusted estimates** (both label their assumption):

   * *rescaled*: each g is divided by its contrast and multiplied by the full contrast (100 pp, i.e. 100 %
     vs 0 % MOR blockade), ``g·100/c``, with variance ``v·(100/c)²``, then pooled with the same model.
     Assumes the effect is **proportional** to the MOR contrast (no effect at zero contrast, none from KOR
     or DOR), so that an outcome measured with a 73-pp contrast shows 73 % of the full effect.
   * *regression prediction*: the contrast-only meta-regression's prediction at a 100-pp contrast.
     Assumes a **linear** dose–response in the contrast with a free intercept (allowing effects not carried
     by MOR blockade); with few low-contrast outcomes it is an extrapolation and its CI is wide.

   Beside each model-based CI (pooled, rescaled, regression) the result reports cluster-robust CR2
   inference with the studies as clusters (:func:`cluster_robust_inference`; clubSandwich's CR2 with
   Satterthwaite df, as metafor's ``robust(fit, cluster = study, clubSandwich = TRUE)``).  With one
   aggregate per study (the bundled review) every cluster is one estimate and CR2 is the HC2-type
   small-sample correction ``e_i²/(1 − h_ii)`` of the working model's weighted regression.

5. **Sensitivity** of the adjusted estimate, one choice at a time: the model (``pkpd`` with its other
   hysteresis variant, ``washout``, ``emax``), the blockade half-life (72 / 108 h, Lee 1988; only for a base
   model with a half-life, ``washout``), the window summary (start / end instead of the mean); the **parameter
   uncertainty** of a ``pkpd`` base model (the outcomes re-annotated with ``uncertainty_draws`` typical-
   subject parameter sets drawn from the calibration's bootstrap, same population and seed; the sensitivity
   table's last row gives the median adjusted estimate and the 2.5–97.5 % spread over the draws); and Monte
   Carlo draws of the population parameters (each draw applies one virtual subject's multipliers — pkpd:
   clearance, absorption, affinity, ke0 — to all participants; seeded; tqdm progress bars on stderr).
6. **Small-study and power checks** (:mod:`meta.small_study`, :mod:`meta.power`): trim-and-fill on the study
   aggregates (review: 0 missing, SE 2) and each study's power to detect g = −0.20 at α = .05 from its SE
   (review: median 0.15); and the three-parameter selection model (:func:`meta.selection.selection_model`,
   metafor ``selmodel(type = "stepfun", steps = 0.025)``) on the same aggregates, with its likelihood-ratio
   test against the unadjusted model.  A benefit of blockade is a *negative* g, so the literature would
   publish results that are significant in that direction: the one-sided p-values are
   ``alternative = "less"`` (``p = Φ(y/√v)``), not metafor's default ``"greater"``, which would model
   selection for significantly *harmful* effects.  A fit that does not converge, or whose selection
   weight δ sits on its bound (0 or 100), is reported as such (see :func:`~occupancy.workflows.reanalysis.result.selmodel_status`).

The pooled g and the adjusted estimates (steps 1–4) need only the base annotation, so ``on_partial`` receives
them as a :class:`PartialReanalysis` before the long draws of step 5 start (the web app shows them while the
Monte Carlo runs).  The result is frozen (:class:`ReanalysisResult`: ``summary()``, ``to_dict()``, ``to_frame()``), and
:func:`reanalysis_report_section` turns it into an :class:`occupancy.report.html.ReportSection` for
``blockade run``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from occupancy.annotation.annotate import Annotation, AnnotationSettings, annotate_outcomes
from occupancy.annotation.literature import (
    OutcomeTable,
    bundled_studies,
    load_outcomes,
    study_aggregates,
    validate_outcome_table,
)
from occupancy.errors import InputError
from occupancy.workflows.reanalysis.result import (
    CI_INTERVAL, DRAWS_INTERVAL, MIN_DRAWS_FOR_95, PartialReanalysis, ReanalysisResult, coefficient_dict,
    draws_interval, draws_range_label,
)
from occupancy.workflows.reanalysis.settings import ReanalysisSettings

Z = 1.959963984540054


# --------------------------------------------------------------------------------------------------
# Fitting helpers
# --------------------------------------------------------------------------------------------------


class _Fitter:
    """Fits the mode's model (univariate on studies, three-level on outcomes) to any y/v/X."""

    def __init__(self, mode: str, units: pd.DataFrame):
        self.mode = mode
        self.units = units

    def fit(self, yi, vi, X=None, names=None, rows=None):
        yi = np.asarray(yi, float)
        vi = np.asarray(vi, float)
        if rows is not None:
            yi, vi = yi[rows], vi[rows]
            X = None if X is None else np.asarray(X)[rows]
        if self.mode == "study":
            from meta.univariate import fit_random_effects

            return fit_random_effects(yi, vi, X, names=names, method="REML")
        from meta.multilevel import fit_multilevel

        sub = self.units if rows is None else self.units.loc[np.asarray(rows, bool)]
        levels = {"study": sub["study_id"].to_numpy(), "outcome": sub["outcome_key"].to_numpy()}
        return fit_multilevel(yi, vi, levels, X, names=names, method="REML")


def _lincomb(fit, x: Sequence[float]) -> dict:
    """Estimate, SE and Wald 95 % CI of ``x'β`` (z, as the fits)."""
    x = np.asarray(x, float)
    est = float(x @ np.asarray(fit.beta, float))
    se = float(np.sqrt(x @ np.asarray(fit.vb, float) @ x))
    return {"estimate": est, "se": se, "z": est / se if se > 0 else float("nan"),
            "ci_lb": est - Z * se, "ci_ub": est + Z * se}


def cluster_robust_inference(fit, clusters, x: Sequence[float] | None = None) -> dict:
    """CR2 cluster-robust inference on the intercept of ``fit`` (``x`` None) or on ``x'β``.

    Parameters
    ----------
    fit : UnivariateResult or MultilevelResult
        The working model (its estimates are kept).
    clusters : array_like
        Cluster (study) id of every estimate of the fit.
    x : sequence of float, optional
        A row of the model matrix, intercept first (e.g. ``[1, 100]``: the regression's prediction at a
        100-pp contrast).

    Returns
    -------
    dict
        ``vcov`` ("CR2"), ``cluster`` ("study"), ``n_clusters``, ``estimate``, ``se``, ``t``, ``df``
        (Satterthwaite), ``p``, ``ci_lb``, ``ci_ub`` (95 % t interval).

    Notes
    -----
    :func:`meta.cluster_robust.robust` (``vcov="CR2"``) and, for ``x``, :func:`meta.prediction.predict` on the
    robust result (clubSandwich ``linear_contrast`` with Satterthwaite df).  Checked against R in
    ``tests/r/reanalysis_robust_reference.R``.
    """
    from scipy import stats

    from meta.cluster_robust import robust

    rob = robust(fit, np.asarray(clusters), vcov="CR2", level=0.95)
    if x is None:
        c = rob.coefficients[0]
        est, se, df, lb, ub = c.estimate, c.se, float(c.df), c.ci_lb, c.ci_ub
    else:
        from meta.prediction import predict

        x = np.asarray(x, float)
        pr = predict(rob, x[None, 1:], level=0.95)
        est, se, df = float(pr.pred[0]), float(pr.se[0]), float(pr.ddf[0])
        lb, ub = float(pr.ci_lb[0]), float(pr.ci_ub[0])
    t = est / se if se > 0 else float("nan")
    return {"vcov": "CR2", "cluster": "study", "n_clusters": int(rob.n_clusters), "estimate": est, "se": se,
            "t": t, "df": df, "p": float(2 * stats.t.sf(abs(t), df)), "ci_lb": lb, "ci_ub": ub}


def _robust_estimates(units: pd.DataFrame, pooled, rescaled_fit, keep, reg_fit, full: float, warnings: list):
    """CR2 inference (clusters = studies) for the pooled, rescaled and regression estimates; None where it cannot
    be computed (with a warning naming why)."""
    from meta.errors import MetaInputError

    studies = units["study_id"].astype(str).to_numpy()
    finite = np.isfinite(units["MOR_contrast"].to_numpy(float))
    out: dict[str, Any] = {}
    for name, fit, rows, x in (("pooled", pooled, None, None), ("rescaled", rescaled_fit, keep, None),
                               ("regression", reg_fit, finite, [1.0, full])):
        if fit is None:
            out[name] = None
            continue
        ids = studies if rows is None or np.all(rows) else studies[np.asarray(rows, bool)]
        try:
            out[name] = cluster_robust_inference(fit, ids, x)
        except MetaInputError as exc:
            out[name] = None
            warnings.append(f"cluster-robust (CR2) CI of the {name} estimate not computed: {exc}")
    return out


def _unit_contrasts(mode: str, annotation: Annotation, units: pd.DataFrame, column: str = "MOR_contrast"):
    """The contrast of each analysed unit (study mean over its outcomes, or the outcome's own)."""
    if mode == "outcome":
        return annotation.table[column].to_numpy(float)
    means = annotation.table.groupby("study_id", sort=False)[column].mean()
    return means.reindex(units["study_id"]).to_numpy(float)


def _draw_unit_contrasts(mode: str, annotation: Annotation, units: pd.DataFrame, i: int) -> np.ndarray:
    """Draw ``i``'s contrast of every analysed unit (outcomes, or study means of their outcomes)."""
    row = annotation.mor_contrast_draw(i)
    if mode == "outcome":
        return row
    codes = pd.Categorical(annotation.table["study_id"], categories=list(units["study_id"])).codes
    sums = np.bincount(codes, weights=row, minlength=len(units))
    counts = np.bincount(codes, minlength=len(units))
    return sums / counts


#: Smallest spread (pp) of the analysed units' contrasts for which the meta-regression on it is fitted.
MIN_CONTRAST_SPREAD = 1.0

#: An estimate that could not be computed (the reason is a warning); JSON ``null``, text "not estimable".
NOT_ESTIMABLE = {"estimate": float("nan"), "se": float("nan"), "z": float("nan"), "p": float("nan"),
                 "ci_lb": float("nan"), "ci_ub": float("nan")}


def fit_errors() -> tuple[type[BaseException], ...]:
    """Exceptions of a fit that make one estimate impossible without invalidating the rest of the result."""
    from meta.errors import ConvergenceError, MetaInputError

    return (MetaInputError, ConvergenceError, np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError,
            OverflowError)


def _adjusted(fitter: _Fitter, yi, vi, contrast, full: float, min_contrast: float):
    """Rescaled pooled estimate and the contrast-only regression prediction at ``full``.

    Returns ``(rescaled, rescaled_fit, regression, reg_fit, y_adj, v_adj, keep, notes)``; an estimate that
    cannot be computed is :data:`NOT_ESTIMABLE` (rescaled) or ``None`` (regression) and ``notes`` says why.
    """
    contrast = np.asarray(contrast, float)
    notes: list[str] = []
    keep = np.isfinite(contrast) & (contrast >= min_contrast)
    factor = np.where(keep, full / np.where(keep, contrast, 1.0), np.nan)
    y_adj = np.asarray(yi) * factor
    v_adj = np.asarray(vi) * factor**2
    rescaled, rescaled_fit = dict(NOT_ESTIMABLE), None
    if keep.sum() < 2:
        notes.append(f"the rescaled adjusted estimate is not estimable: fewer than 2 units have a MOR contrast of at "
                     f"least {min_contrast:g} pp")
    else:
        try:
            rescaled_fit = fitter.fit(y_adj, v_adj, rows=keep if not keep.all() else None)
            rescaled = coefficient_dict(rescaled_fit.coefficients[0])
        except fit_errors() as exc:
            notes.append(f"the rescaled adjusted estimate is not estimable: {' '.join(str(exc).split())}")
    regression, reg_fit = None, None
    finite = np.isfinite(contrast)
    if finite.sum() < 3:
        notes.append("meta-regression on the MOR contrast not fitted: fewer than 3 units have a contrast")
    elif np.ptp(contrast[finite]) < MIN_CONTRAST_SPREAD:
        notes.append(f"meta-regression on the MOR contrast not fitted: the contrasts vary by less than "
                     f"{MIN_CONTRAST_SPREAD:g} pp ({np.min(contrast[finite]):.1f} to {np.max(contrast[finite]):.1f}), "
                     "so their effect cannot be estimated")
    else:
        X = np.column_stack([np.ones(contrast.size), np.where(finite, contrast, 0.0)])
        try:
            reg_fit = fitter.fit(yi, vi, X, names=["intrcpt", "MOR_contrast"],
                                 rows=finite if not finite.all() else None)
            regression = _lincomb(reg_fit, [1.0, full])
            if not all(np.isfinite(regression[k]) for k in ("estimate", "ci_lb", "ci_ub")):
                raise FloatingPointError("the prediction is not finite")
        except fit_errors() as exc:
            regression, reg_fit = None, None
            notes.append(f"meta-regression on the MOR contrast not fitted: {' '.join(str(exc).split())}")
    return rescaled, rescaled_fit, regression, reg_fit, y_adj, v_adj, keep, notes


# --------------------------------------------------------------------------------------------------
# Main entry point
# --------------------------------------------------------------------------------------------------


def _prepare(data, settings: ReanalysisSettings):
    """(mode, OutcomeTable, units DataFrame, study table for power/trim-and-fill)."""
    dw = settings.annotation.default_window_h
    if data is None:
        table = load_outcomes(None, default_window_h=dw)
        studies = study_aggregates(bundled_studies())
        missing = set(studies["study_id"]) - {d.study_id for d in table.designs}
        if missing:  # pragma: no cover - bundled data are consistent (tested)
            raise InputError(f"bundled data: studies without outcomes: {', '.join(sorted(missing))}")
        units = studies[["study_id", "label", "yi", "vi", "sei", "jadad_quality", "g_mood2", "design",
                         "n_outcomes"]].copy()
        return "study", table, units
    if isinstance(data, OutcomeTable):
        table = data
    elif isinstance(data, pd.DataFrame):
        table = validate_outcome_table(data, source="outcomes", default_window_h=dw)
    else:
        table = load_outcomes(data, default_window_h=dw)
    if not table.has_effects:
        raise InputError(f"{table.source}: reanalyse needs effect sizes: columns 'yi' and 'vi', or "
                         "m_drug, sd_drug, m_placebo, sd_placebo with n_drug, n_placebo (between) or n, r (within)")
    frame = table.frame
    units = pd.DataFrame({
        "study_id": frame["study_id"].astype(str).to_numpy(),
        "outcome": frame["outcome"].astype(str).to_numpy(),
        "yi": frame["yi"].to_numpy(float), "vi": frame["vi"].to_numpy(float),
    })
    units["outcome_key"] = units["study_id"] + "/" + units["outcome"]
    units["sei"] = np.sqrt(units["vi"])
    for col in ("jadad_quality", "relationship", "design", "context"):
        if col in frame.columns:
            units[col] = frame[col].to_numpy()
    if units["study_id"].nunique() < 2:
        raise InputError(f"{table.source}: a reanalysis needs outcomes from at least 2 studies")
    return "outcome", table, units


def _aggregate_units(mode: str, units: pd.DataFrame, rho: float) -> pd.DataFrame:
    """Study-level yi/vi for trim-and-fill and power (outcome mode: meta.aggregate with correlation rho)."""
    if mode == "study":
        return units[["study_id", "yi", "vi", "sei"]].copy()
    from meta.aggregate import aggregate_estimates

    agg = aggregate_estimates(units["yi"].to_numpy(float), units["vi"].to_numpy(float),
                              units["study_id"].to_numpy(), rho=rho)
    out = pd.DataFrame({"study_id": [str(c) for c in agg.cluster], "yi": agg.yi, "vi": agg.vi})
    out["sei"] = np.sqrt(out["vi"])
    return out


#: Selection model of the small-study section: the three-parameter selection model (one cut point at
#: p = 0.025, Vevea & Hedges 1995) on one-sided p-values for a *negative* g (benefit of blockade).
SELMODEL_TYPE = "stepfun"
SELMODEL_STEPS = (0.025,)
SELMODEL_ALTERNATIVE = "less"


def _selection_model(agg: pd.DataFrame, warnings: list[str]):
    """The 3PSM (metafor ``selmodel``) on the study aggregates, or ``None`` with a warning saying why.

    Notes
    -----
    ``alternative = "less"``: the review's benefit is a negative g, so a study is "significant" in the
    direction a journal would favour when ``Φ(y/√v) ≤ 0.025`` (Vevea & Hedges 1995; metafor ``selmodel``
    documents ``alternative`` as the direction of the one-sided tests).  The model is fitted on the REML fit
    of the aggregates (refitted by ML, as metafor).  The optimiser's own warnings (no convergence, δ on its
    bound, singular Hessian) go to the result's warnings; :func:`~occupancy.workflows.reanalysis.result.selmodel_status` reads the same conditions
    from the fitted values for the text, JSON and report.
    """
    import warnings as _warnings

    from meta.selection import selection_model
    from meta.univariate import fit_random_effects

    y, v = agg["yi"].to_numpy(float), agg["vi"].to_numpy(float)
    try:
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always")
            with np.errstate(all="ignore"):
                sel = selection_model(fit_random_effects(y, v, method="REML"), type=SELMODEL_TYPE,
                                      steps=SELMODEL_STEPS, alternative=SELMODEL_ALTERNATIVE)
    except fit_errors() as exc:
        warnings.append(f"selection model (3PSM) not computed: {' '.join(str(exc).split())}")
        return None
    for w in caught:
        if issubclass(w.category, (RuntimeWarning, UserWarning)):
            warnings.append(f"selection model (3PSM): {' '.join(str(w.message).split())}")
    return sel


def _study_power(se: np.ndarray, effect: float) -> np.ndarray:
    """Per-study power to detect ``effect`` at α = .05 from the SEs (meta.power, metameta ``mapower_se``)."""
    from meta.power import study_power

    return np.asarray(study_power(se, effect).power, float)


def reanalyse(data=None, settings: ReanalysisSettings | None = None, *,
              on_progress: Callable[[int, int], None] | None = None,
              on_partial: Callable[[PartialReanalysis], None] | None = None) -> ReanalysisResult:
    """Run the blockade-adjusted reanalysis.

    Parameters
    ----------
    data : path, DataFrame, OutcomeTable or None
        An outcome-level table with effect sizes (three-level model), or ``None`` for the bundled review
        (random-effects on the 8 study aggregates, all 17 outcomes annotated).
    settings : ReanalysisSettings, optional
    on_progress : callable, optional
        Called as ``on_progress(done, total)`` after each parameter-uncertainty draw and each Monte Carlo draw
        (the long steps; ``total`` counts both), e.g. by the web app's progress bar; an exception it raises
        stops the reanalysis (how the app cancels a stale run).
    on_partial : callable, optional
        Called once with a :class:`PartialReanalysis` (the pooled g and the blockade-adjusted estimates with
        their CIs, and what still runs) as soon as they are known: after the base annotation and the pooled
        fits, before the first parameter-uncertainty or Monte Carlo draw.  An exception it raises stops the
        reanalysis, as ``on_progress``'s.

    Returns
    -------
    ReanalysisResult
    """
    settings = ReanalysisSettings() if settings is None else settings
    mode, table, units = _prepare(data, settings)
    warnings: list[str] = []
    ens, reason = uncertainty_ensemble(settings)
    _check_work(table, settings, len(ens.members) if ens is not None else 0)
    annotation = annotate_outcomes(table, settings.annotation, keep_draws=False, progress=settings.progress)
    warnings.extend(annotation.warnings)
    fitter = _Fitter(mode, units)
    yi, vi = units["yi"].to_numpy(float), units["vi"].to_numpy(float)

    # 1. pooled
    try:
        pooled = fitter.fit(yi, vi)
    except fit_errors() as exc:
        raise InputError(f"{table.source}: columns 'yi'/'vi': the pooled model cannot be fitted to these values "
                         f"({' '.join(str(exc).split())})") from None
    if not all(np.isfinite(getattr(c, k)) for c in pooled.coefficients[:1] for k in ("estimate", "se")):
        raise InputError(f"{table.source}: columns 'yi'/'vi': the pooled model gives no finite estimate; check for "
                         "extreme or degenerate effect sizes")

    # 2. contrasts and meta-regressions
    contrast = _unit_contrasts(mode, annotation, units)
    units = units.copy()
    units["MOR_contrast"] = contrast
    units["MOR_drug"] = _unit_contrasts(mode, annotation, units, "MOR_drug")
    units["MOR_placebo"] = _unit_contrasts(mode, annotation, units, "MOR_placebo")
    units["KOR_contrast"] = _unit_contrasts(mode, annotation, units, "KOR_contrast")
    regressions: dict[str, Any] = {}
    rescaled, rescaled_fit, regression, reg_fit, y_adj, v_adj, keep, notes = _adjusted(
        fitter, yi, vi, contrast, settings.full_contrast, settings.min_contrast)
    undefined = ~np.isfinite(contrast)
    low = np.isfinite(contrast) & ~keep
    if undefined.any():
        warnings.append(f"{int(undefined.sum())} unit(s) without a MOR contrast (the model gives no blockade in their "
                        "window) were left out of the adjusted estimates")
    if low.any():
        warnings.append(f"{int(low.sum())} unit(s) with a MOR contrast below {settings.min_contrast:g} pp were "
                        "left out of the rescaled estimate")
    warnings.extend(notes)
    units["yi_adj"], units["vi_adj"] = y_adj, v_adj
    regressions["contrast"] = reg_fit
    for extra, (X, names, rows) in _moderator_builders(mode, units).items():
        try:
            regressions[extra] = fitter.fit(yi, vi, X, names=names, rows=rows)
        except fit_errors() as exc:
            warnings.append(f"meta-regression '{extra}' not fitted: {' '.join(str(exc).split())}")
            regressions[extra] = None

    robust = _robust_estimates(units, pooled, rescaled_fit, keep, reg_fit, settings.full_contrast, warnings)

    adjusted = {
        "rescaled": {**rescaled, "k": int(keep.sum()), "full_contrast": settings.full_contrast,
                     "assumes": "effect proportional to the MOR contrast (g·100/c); none at zero contrast"},
        "regression": {**(regression or NOT_ESTIMABLE),
                       "full_contrast": settings.full_contrast,
                       "assumes": "g linear in the MOR contrast; prediction at a full contrast (extrapolation)"},
    }

    # 3. parameter uncertainty (pkpd), sensitivity (one at a time) and Monte Carlo draws
    if reason:
        warnings.append(reason)
    n_members = len(ens.members) if ens is not None else 0
    n_draws = int(settings.draws) if settings.draws >= 2 else 0
    if on_partial is not None:  # the pooled and adjusted estimates are final already: report them now
        on_partial(PartialReanalysis(
            mode=mode, k=int(len(units)), n_outcomes=int(len(annotation)), pooled=coefficient_dict(
                pooled.coefficients[0]), rescaled=dict(adjusted["rescaled"]), regression=dict(adjusted["regression"]),
            annotation=settings.annotation.describe(), draws_total=n_members + n_draws,
            pending=_pending(settings, n_members, n_draws)))
    progress = _Progress(n_members + n_draws, on_progress)
    uncertainty = _parameter_uncertainty(mode, table, units, fitter, settings, ens, progress)
    sensitivity = _sensitivity(mode, table, units, fitter, settings, rescaled, regression, uncertainty)
    mc = _monte_carlo(mode, table, units, fitter, settings, progress)
    for spread, kind in ((mc, "Monte Carlo draws"), (uncertainty, "parameter-uncertainty draws")):
        for name, what, base in (("rescaled", "rescaled estimate", np.isfinite(rescaled["estimate"])),
                                 ("regression", "regression prediction", regression is not None)):
            missing = spread.get(f"{name}_not_estimable", 0)
            if missing and base:  # (when the base estimate is not estimable either, its warning says why)
                warnings.append(f"{missing} of {spread['n']} {kind} gave no {what} (not estimable with that "
                                "draw's contrasts) and are left out of its spread")

    # 4. small-study and power checks on the study aggregates
    from meta.small_study import trim_and_fill

    agg = _aggregate_units(mode, units, settings.aggregate_rho)
    try:
        trimfill = trim_and_fill(agg["yi"].to_numpy(float), agg["vi"].to_numpy(float), estimator="L0",
                                 method="REML")
    except fit_errors() as exc:
        trimfill = None
        reason = " ".join(str(exc).split()).replace("; give side='left' or 'right'", "")
        warnings.append(f"trim-and-fill not computed: {reason}")
    selmodel = _selection_model(agg, warnings)
    power = _study_power(agg["sei"].to_numpy(float), settings.power_effect)
    from occupancy.workflows.reanalysis.result import MAX_PLOTTED_UNITS

    if len(units) > MAX_PLOTTED_UNITS:
        warnings.append(f"the forest plot is left out: {len(units)} analysed units are more than a readable plot "
                        f"holds ({MAX_PLOTTED_UNITS}); every unit's numbers are in analysis_units.csv")

    return ReanalysisResult(
        mode=mode, settings=settings, annotation=annotation, units=units, pooled=pooled, regressions=regressions,
        adjusted=adjusted, rescaled_fit=rescaled_fit, sensitivity=sensitivity, mc=mc, trimfill=trimfill,
        selmodel=selmodel, power=power, power_units=agg, warnings=tuple(dict.fromkeys(warnings)), robust=robust,
        uncertainty=uncertainty,
    )


def _pending(settings: ReanalysisSettings, n_members: int, n_draws: int) -> tuple[str, ...]:
    """What a reanalysis still runs after its pooled fits, in order (the ``pending`` of :class:`PartialReanalysis`)."""
    def count(n: int, what: str) -> str:
        return "" if not n else f"{n} {what}" + ("s" if n != 1 else "")

    steps = [count(n_members, "parameter-uncertainty draw"), count(len(_variants(settings)), "sensitivity variant"),
             count(n_draws, "Monte Carlo draw"), "small-study checks (trim-and-fill, selection model, power)"]
    return tuple(x for x in steps if x)


def _moderator_builders(mode: str, units: pd.DataFrame) -> dict[str, tuple[np.ndarray, list[str], np.ndarray | None]]:
    """Model matrices (and the rows they use; None = all) for the contrast + review-moderator regressions
    that the data support.

    Notes
    -----
    The review regressed g on study quality, relationship type and the effect of naltrexone on mood.  Mood
    enters only with the bundled study table, whose second effect-size column is most likely positive mood
    (six studies; the label is uncertain, see PROVENANCE.md); studies without a value are left out of that
    regression only.
    """
    out = {}
    c = units["MOR_contrast"].to_numpy(float)
    one = np.ones(len(units))
    if "jadad_quality" in units.columns:
        q = pd.to_numeric(units["jadad_quality"], errors="coerce").to_numpy(float)
        if np.isfinite(q).all() and np.ptp(q) > 0:
            out["contrast + quality"] = (np.column_stack([one, c, q]), ["intrcpt", "MOR_contrast", "jadad_quality"],
                                         None)
    if mode == "outcome" and "relationship" in units.columns:
        rel = units["relationship"].fillna("unspecified").astype(str).str.lower().to_numpy()
        levels = [lv for lv in ("unspecified", "established") if lv in set(rel)]
        if "new" in set(rel) and levels:
            cols = [one, c] + [(rel == lv).astype(float) for lv in levels]
            out["contrast + relationship"] = (np.column_stack(cols),
                                              ["intrcpt", "MOR_contrast"] + [f"relationship{lv}" for lv in levels],
                                              None)
    if mode == "study" and "g_mood2" in units.columns:
        mood = pd.to_numeric(units["g_mood2"], errors="coerce").to_numpy(float)
        rows = np.isfinite(mood)
        if rows.sum() >= 4 and np.ptp(mood[rows]) > 0:
            out["contrast + mood (positive mood, label uncertain)"] = (
                np.column_stack([one, c, np.where(rows, mood, 0.0)]), ["intrcpt", "MOR_contrast", "g_mood"], rows)
    return out


def _has_half_life(model_name: str) -> bool:
    from dataclasses import fields

    from occupancy.models import model_class

    return "half_life_h" in {f.name for f in fields(model_class("naltrexone", model_name))}


def _variant_settings(base: AnnotationSettings, model: str, params: dict) -> AnnotationSettings:
    """``base`` with another model: its ``[population]`` variability is kept when it fits the new model's
    multipliers (washout ↔ emax), otherwise the new model's documented variability is used."""
    ann = replace(base, model=model, model_params=params, variability=None)
    var = base.variability
    if var is not None and set(var.names) == set(ann.build_model().variability_scales):
        ann = replace(ann, variability=var)
    return ann


def _check_work(table, settings: ReanalysisSettings, n_members: int) -> None:
    """Refuse, before the first annotation, a reanalysis whose annotations together exceed the work limits.

    Notes
    -----
    A reanalysis annotates the outcomes once, once per sensitivity variant and once per parameter-uncertainty
    draw (each with ``n`` virtual subjects), and once with ``draws`` subjects for the Monte Carlo draws; the
    limits of ``blockade simulate`` (:func:`occupancy.simulation.simulate.check_population_work`) apply to
    each annotation's memory and to their time together (issue 18, item 8).
    """
    from occupancy.annotation.annotate import check_annotation_runs

    base = settings.annotation
    variants = _variants(settings)
    draws = int(settings.draws) if settings.draws >= 2 else 0
    runs = [(base, 1 + n_members)] + [(v, 1) for _label, v in variants]
    if draws:
        runs.append((replace(base, n=draws, seed=settings.draws_seed), 1))
    what = (f"the base annotation, {len(variants)} sensitivity variants and {n_members} parameter-uncertainty draws "
            f"(n = {base.n} each) and {draws} Monte Carlo draws")
    check_annotation_runs(table, runs, field=f"{table.source}: population.n", what=what,
                          advice="use a smaller --n, fewer --draws or --uncertainty-draws, or fewer sensitivity "
                                 "variants")


def _variants(settings: ReanalysisSettings) -> list[tuple[str, AnnotationSettings]]:
    """The one-at-a-time variants: models (pkpd per hysteresis variant, washout, emax), half-lives (a base model
    with a blockade half-life), window ends."""
    base = settings.annotation
    base_hysteresis = getattr(base.build_model(), "hysteresis", None)
    out = []
    for m in settings.sensitivity_models:
        if m == "pkpd":
            for h in settings.sensitivity_hysteresis:
                if base.model == "pkpd" and h == base_hysteresis:
                    continue
                out.append((f"model = pkpd ({h})", _variant_settings(base, "pkpd", {"hysteresis": h})))
        elif m != base.model:
            out.append((f"model = {m}", _variant_settings(base, m, {})))
    if _has_half_life(base.model):
        for h in settings.sensitivity_half_lives_h:
            params = dict(base.model_params)
            params["half_life_h"] = h
            out.append((f"half-life = {h:g} h", replace(base, model_params=params)))
    for w in settings.sensitivity_windows:
        if w != base.window_point:
            out.append((f"window = {w}", replace(base, window_point=w)))
    return out


def _sensitivity_row(label: str, ann: AnnotationSettings, rescaled: dict, regression: dict | None,
                     contrast: np.ndarray) -> dict:
    model = ann.build_model()
    half_life = model.parameters().get("half_life_h")
    reg = regression or NOT_ESTIMABLE
    return {"variant": label, "model": model.name, "hysteresis": getattr(model, "hysteresis", ""),
            "half_life_h": half_life if half_life is not None else float("nan"),
            "window": ann.window_point, "rescaled": rescaled["estimate"], "rescaled_ci_lb": rescaled["ci_lb"],
            "rescaled_ci_ub": rescaled["ci_ub"], "regression": reg["estimate"], "regression_ci_lb": reg["ci_lb"],
            "regression_ci_ub": reg["ci_ub"], "interval": CI_INTERVAL, "contrast_min": _nan_stat(np.nanmin, contrast),
            "contrast_mean": _nan_stat(np.nanmean, contrast)}


def _nan_stat(func, values) -> float:
    """``func`` over the finite values, or NaN when there are none (no RuntimeWarning)."""
    values = np.asarray(values, float)
    return float(func(values)) if np.isfinite(values).any() else float("nan")


def _uncertainty_row(settings: ReanalysisSettings, unc: dict) -> dict:
    """The sensitivity row of the parameter uncertainty: the median over the draws and their 2.5–97.5 % spread
    (the min–max range below 40 draws; ``interval`` says which)."""
    ann = settings.annotation
    model = ann.build_model()

    def q(name, key):
        return unc.get(f"{name}_{key}", float("nan"))

    return {"variant": f"pkpd parameter uncertainty ({unc['n']} draws)", "model": model.name,
            "hysteresis": getattr(model, "hysteresis", ""), "half_life_h": float("nan"), "window": ann.window_point,
            "rescaled": q("rescaled", "median"), "rescaled_ci_lb": q("rescaled", "lo"),
            "rescaled_ci_ub": q("rescaled", "hi"), "regression": q("regression", "median"),
            "regression_ci_lb": q("regression", "lo"), "regression_ci_ub": q("regression", "hi"),
            "interval": unc.get("rescaled_interval", DRAWS_INTERVAL),
            "contrast_min": _nan_stat(np.nanmin, unc["contrast_min"]),
            "contrast_mean": _nan_stat(np.nanmedian, unc["contrast_mean"])}


def _sensitivity(mode, table, units, fitter, settings, rescaled, regression, uncertainty=None) -> pd.DataFrame:
    """One row per variant with both adjusted estimates, the model, half-life and window it used; the parameter
    uncertainty (when computed) is the last row, with the spread over its draws as the interval."""
    rows = [_sensitivity_row("base", settings.annotation, rescaled, regression, units["MOR_contrast"].to_numpy(float))]
    yi, vi = units["yi"].to_numpy(float), units["vi"].to_numpy(float)
    variants = _variants(settings)
    for label, ann_settings in _with_bar(variants, len(variants), "sensitivity variants", "variant",
                                         settings.progress and bool(variants)):
        ann = annotate_outcomes(table, ann_settings, keep_draws=False)
        c = _unit_contrasts(mode, ann, units)
        r, _, reg, _, _, _, _, _ = _adjusted(fitter, yi, vi, c, settings.full_contrast, settings.min_contrast)
        rows.append(_sensitivity_row(label, ann_settings, r, reg, c))
    if uncertainty and uncertainty.get("n"):
        rows.append(_uncertainty_row(settings, uncertainty))
    return pd.DataFrame(rows)


def _with_bar(iterable, total: int, desc: str, unit: str, on: bool):
    """``iterable``, shown as a progress bar on stderr when ``on`` (tqdm closes the bar when the loop ends)."""
    if not on:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                   disable=None)  # disable=None: no bar unless stderr is a terminal


class _Progress:
    """Reports ``on_progress(done, total)`` over the draws of several steps (Monte Carlo and parameter draws)."""

    def __init__(self, total: int, on_progress):
        self.total, self.done, self.on_progress = total, 0, on_progress

    def step(self) -> None:
        self.done += 1
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)


def uncertainty_models(settings: ReanalysisSettings) -> tuple[list, str | None]:
    """The base model's parameter draws for the uncertainty sensitivity, or ``([], reason)`` when there are none.

    The draws are the model ensemble of :func:`occupancy.simulation.model_uncertainty.ensemble`: posterior
    draws of every admissible structure (one structure, the bootstrap of the fit, until the Bayesian
    calibration provides ``structure_draws``); the list is the ensemble's members, and the ensemble itself is
    returned by :func:`uncertainty_ensemble`.  ``reason`` is None when the draws were switched off
    (``uncertainty_draws = 0``) or the model has no parameter-uncertainty estimate (``washout``, ``emax``:
    nothing to say); otherwise it says why the draws cannot be made (a warning).
    """
    ens, reason = uncertainty_ensemble(settings)
    return ([m for _s, m in ens.members] if ens is not None else []), reason


def uncertainty_ensemble(settings: ReanalysisSettings):
    """``(Ensemble or None, reason)``: the weighted structures × posterior draws of the base model."""
    from occupancy.simulation.model_uncertainty import ensemble

    k = int(settings.uncertainty_draws)
    if k < 2:
        return None, None
    model = settings.annotation.build_model()
    if not hasattr(model, "parameter_draws") and not hasattr(model, "structure_draws"):
        return None, None
    try:
        return ensemble(model, k, settings.uncertainty_seed), None
    except InputError as exc:
        return None, f"parameter uncertainty not computed: {exc}"


def _parameter_uncertainty(mode, table, units, fitter, settings, ens, progress: _Progress) -> dict:
    """Re-annotate with each drawn typical-subject model (same population and seed) and re-estimate.

    The spread of the adjusted estimates over the draws is the part of their uncertainty that comes from the
    pkpd model: its parameters (posterior draws; the bootstrap of the calibration until the Bayesian fit lands)
    and its structure (the admissible structures, pooled by weight), separate from the between-subject Monte
    Carlo draws.  Besides the adjusted estimates, the contrast meta-regression's slope and every unit's MOR
    contrast get their range; ``structures`` gives each structure's medians and ``*_across_structures`` their
    smallest and largest.
    """
    if ens is None or not ens.members:
        return {"n": 0}
    members = ens.members
    k = len(members)
    yi, vi = units["yi"].to_numpy(float), units["vi"].to_numpy(float)
    rescaled, regression, slope = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    c_min, c_mean = np.full(k, np.nan), np.full(k, np.nan)
    contrasts = np.full((k, len(units)), np.nan)
    for i, (_si, model) in _with_bar(enumerate(members), k, "parameter draws", "draw", settings.progress):
        ann = annotate_outcomes(table, settings.annotation, keep_draws=False, model=model)
        c = _unit_contrasts(mode, ann, units)
        contrasts[i] = c
        c_min[i], c_mean[i] = _nan_stat(np.nanmin, c), _nan_stat(np.nanmean, c)
        r, _, reg, reg_fit, _, _, _, _ = _adjusted(fitter, yi, vi, c, settings.full_contrast, settings.min_contrast)
        rescaled[i] = r["estimate"]
        regression[i] = reg["estimate"] if reg else np.nan
        slope[i] = coefficient_dict(reg_fit.coefficients[1])["estimate"] if reg_fit is not None else np.nan
        progress.step()
    pooled = np.asarray(ens.pooled, dtype=bool)
    of = np.array([si for si, _m in members])
    n_pool = int(pooled.sum())
    out = {"n": n_pool, "seed": settings.uncertainty_seed, "rescaled": rescaled[pooled],
           "regression": regression[pooled], "slope": slope[pooled], "contrast_min": c_min[pooled],
           "contrast_mean": c_mean[pooled]}
    _summarise_draws(out, n_pool)
    structures = []
    for si, (name, weight, n_s, n_eval) in enumerate(ens.structures):
        sel = of == si
        structures.append({"name": name, "weight": weight, "draws_pooled": n_s, "draws_evaluated": n_eval,
                           **{f"{key}_median": _nan_stat(np.nanmedian, arr[sel])
                              for key, arr in (("rescaled", rescaled), ("regression", regression),
                                               ("slope", slope), ("contrast_mean", c_mean))}})
    out["structures"] = structures
    for key in ("rescaled", "regression", "slope", "contrast_mean"):
        meds = [s[f"{key}_median"] for s in structures if np.isfinite(s[f"{key}_median"])]
        out[f"{key}_across_structures"] = [min(meds), max(meds)] if meds else [None, None]
    for key, arr in (("slope", slope[pooled]), ("contrast_mean", c_mean[pooled])):
        finite = arr[np.isfinite(arr)]
        if finite.size:  # the rule of _summarise_draws: 2.5–97.5 % from MIN_DRAWS_FOR_95 draws, else min–max
            q = np.quantile(finite, [0.025, 0.5, 0.975])
            wide = finite.size >= MIN_DRAWS_FOR_95
            out.update({f"{key}_median": float(q[1]), f"{key}_lo": float(q[0] if wide else finite.min()),
                        f"{key}_hi": float(q[2] if wide else finite.max()),
                        f"{key}_range_label": draws_range_label(int(finite.size))})
    ids = units["study_id"].astype(str).tolist() if "study_id" in units else [str(i) for i in range(len(units))]
    unit_rows = []
    for j, sid in enumerate(ids):
        col = contrasts[pooled, j]
        finite = col[np.isfinite(col)]
        meds = [_nan_stat(np.nanmedian, contrasts[of == si, j]) for si in range(len(structures))]
        meds = [m for m in meds if np.isfinite(m)]
        unit_rows.append({"study_id": sid,
                          "median": float(np.median(finite)) if finite.size else None,
                          "lo": float(np.quantile(finite, 0.025)) if finite.size else None,
                          "hi": float(np.quantile(finite, 0.975)) if finite.size else None,
                          "across_structures": [min(meds), max(meds)] if meds else [None, None]})
    out["unit_contrasts"] = unit_rows
    return out


def _summarise_draws(out: dict, n: int) -> None:
    """Add ``<name>_p025/_median/_p975/_sd`` and ``<name>_not_estimable`` for ``rescaled`` and ``regression``,
    and the interval to report: ``<name>_lo``/``_hi`` with ``<name>_range_label`` — the 2.5th–97.5th percentiles
    ("95 % range") from :data:`~occupancy.workflows.reanalysis.result.MIN_DRAWS_FOR_95` finite draws, else the
    plain min–max ("range of the k draws"; two draws' percentiles would only interpolate between them)."""
    for name in ("rescaled", "regression"):
        arr = out[name]
        finite = arr[np.isfinite(arr)]
        out[f"{name}_not_estimable"] = int(n - finite.size)
        if finite.size:
            q = np.quantile(finite, [0.025, 0.5, 0.975])
            wide = finite.size >= MIN_DRAWS_FOR_95
            out.update({f"{name}_p025": q[0], f"{name}_median": q[1], f"{name}_p975": q[2],
                        f"{name}_sd": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
                        f"{name}_lo": q[0] if wide else float(finite.min()),
                        f"{name}_hi": q[2] if wide else float(finite.max()),
                        f"{name}_range_label": draws_range_label(int(finite.size)),
                        f"{name}_interval": draws_interval(int(finite.size))})


def _monte_carlo(mode, table, units, fitter, settings, progress: _Progress) -> dict:
    n = int(settings.draws)
    if n < 2:
        return {"n": 0}
    ann = annotate_outcomes(table, replace(settings.annotation, n=n, seed=settings.draws_seed), keep_draws=True)
    yi, vi = units["yi"].to_numpy(float), units["vi"].to_numpy(float)
    rescaled = np.full(n, np.nan)
    regression = np.full(n, np.nan)
    for i in _with_bar(range(n), n, "Monte Carlo draws", "draw", settings.progress):
        contrasts = _draw_unit_contrasts(mode, ann, units, i)
        r, _, reg, _, _, _, _, _ = _adjusted(fitter, yi, vi, contrasts, settings.full_contrast, settings.min_contrast)
        rescaled[i] = r["estimate"]
        regression[i] = reg["estimate"] if reg else np.nan
        progress.step()
    out = {"n": n, "seed": settings.draws_seed, "rescaled": rescaled, "regression": regression}
    _summarise_draws(out, n)
    return out
