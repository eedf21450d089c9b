"""The frozen result of a reanalysis and the assumptions its numbers rest on.

:class:`ReanalysisResult` has ``summary()`` (terminal text), ``to_dict()`` (``--json`` and
``results.json``) and ``to_frame()`` (the annotated outcome table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from meta.display import ResultDisplay
from typing import Any, Mapping

import numpy as np
import pandas as pd

from occupancy.annotation.annotate import Annotation
from occupancy.workflows.reanalysis.settings import ReanalysisSettings

#: ``interval`` of a sensitivity row: the variant's own 95 % CI, or the spread over parameter draws.
CI_INTERVAL = "95 % CI"
DRAWS_INTERVAL = "2.5–97.5 % of the draws"
#: Fewest draws whose 2.5th and 97.5th percentiles are reported as a "95 % range" (each tail then has at least
#: one draw beyond it); with fewer the interval is the plain range (min to max) of the draws, labelled so.
MIN_DRAWS_FOR_95 = 40


def draws_range_label(n: int) -> str:
    """How the interval over ``n`` draws is labelled: ``"95 % range"`` or ``"range of the n draws"``."""
    return "95 % range" if n >= MIN_DRAWS_FOR_95 else f"range of the {n} draws"


def draws_interval(n: int) -> str:
    """The ``interval`` of a sensitivity row summarising ``n`` draws (:data:`DRAWS_INTERVAL` from 40 draws)."""
    return DRAWS_INTERVAL if n >= MIN_DRAWS_FOR_95 else f"min–max of the {n} draws"


def is_draws_interval(label) -> bool:
    """True for a sensitivity row's interval over draws (not a variant's own 95 % CI)."""
    return isinstance(label, str) and label != CI_INTERVAL

#: Most analysed units drawn in a forest plot (one text line each); with more the plot is left out (warning).
MAX_PLOTTED_UNITS = 1000

#: Assumptions behind the numbers of every reanalysis, with their sources (reports and ``--json``).
GENERAL_ASSUMPTIONS: tuple[tuple[str, str], ...] = (
    ("Crossovers are counterbalanced unless the table says otherwise: half the participants had the drug session "
     "first, so the placebo condition's mean MOR blockade is half the residual blockade of those participants "
     "one ISI later.", "assumption (crossover_order column)"),
    ("The ISI is the time between corresponding doses of the two sessions (or from the drug session's last "
     "dose, isi_from = last_dose).", "assumption; see PROVENANCE.md"),
    ("Rescaled adjusted estimate: effects are proportional to the MOR contrast (g·100/c, variance ·(100/c)²) — "
     "no effect at zero contrast and no KOR/DOR contribution.", "modelling assumption"),
    ("Regression-adjusted estimate: g is linear in the MOR contrast; the prediction at 100 pp extrapolates "
     "beyond the observed contrasts.", "modelling assumption"),
    ("Monte Carlo sensitivity: each draw applies one virtual subject's between-subject multipliers (log-normal "
     "spreads of the model's parameters, e.g. clearance, absorption, affinity and ke0 for pkpd) to every "
     "participant, so the spread reflects uncertainty about the typical participant's pharmacology, not sampling "
     "noise.", "occupancy.simulation.population.default_variability"),
)

#: The parameter-uncertainty assumption (only when the parameter draws were made: a pkpd base model).
UNCERTAINTY_ASSUMPTION = (
    "Parameter uncertainty (pkpd): the outcomes are re-annotated with typical-subject parameter sets drawn from "
    "the multivariate log-normal of the calibration's parametric bootstrap (clipped to the fit's bounds; held and "
    "overridden parameters fixed), with the same virtual population; the sensitivity table's last row gives the "
    "median adjusted estimate and the 2.5–97.5 % spread over the draws (below 40 draws their min–max range). It is "
    "uncertainty of the model's fit, "
    "separate from between-subject variability.",
    "occupancy.models.pkpd_base.PKPDModel.parameter_draws; calibration record 'uncertainty'")

#: Assumptions about the bundled review's tables (only when the bundled review is the data).
REVIEW_ASSUMPTIONS: tuple[tuple[str, str], ...] = (
    ("Assessment windows are those the review names per reference (60–95 min or 2–24 h after the dose); rows "
     "without one use the default 1–24 h window.",
     "Løseth et al. 2024, Results ('Social connectedness was often assessed 60–95 min after administration')"),
    ("Inagaki [20, 59]: 25, 25, 50, 50 mg daily; outcomes after the two 50 mg doses only.",
     "Løseth et al. 2024, Results"),
    ("The review does not report the crossover order; ISIs 7 and 10 days are from its Table 1.",
     "Løseth et al. 2024, Table 1"),
    ("Study aggregates: vi from the 95 % CI of Table 1, se = (ub − lb)/(2·1.959964); the review aggregated "
     "outcomes within studies with metafor's aggregate().", "Løseth et al. 2024, Table 1"),
)


def assumptions_for(mode: str, settings: ReanalysisSettings) -> tuple[tuple[str, str], ...]:
    """The assumptions of a reanalysis: its model, the general ones and (bundled review only) the review's."""
    model = settings.annotation.build_model()
    params = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                       for k, v in model.parameters().items())
    doc = (type(model).__doc__ or "").strip().splitlines()
    first = (f"Blockade is simulated for oral naltrexone with the {model.name} model ({params}).",
             f"occupancy.models ({doc[0] if doc else model.name})")
    extra = (UNCERTAINTY_ASSUMPTION,) if settings.uncertainty_draws >= 2 and hasattr(model, "parameter_draws") else ()
    from occupancy.models.pkpd_naltrexone import version_note

    note = version_note(model)
    return ((first,) + ((note,) if note else ()) + GENERAL_ASSUMPTIONS + extra
            + (REVIEW_ASSUMPTIONS if mode == "study" else ()))


#: Backwards-compatible name: the assumptions of the bundled review's reanalysis with the default settings.
ASSUMPTIONS = GENERAL_ASSUMPTIONS + REVIEW_ASSUMPTIONS


def _clean(x):
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return None if not math.isfinite(x) else x
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_clean(v) for v in x.tolist()]
    return x


@dataclass(frozen=True)
class ReanalysisResult(ResultDisplay):
    """The frozen result of :func:`reanalyse`.

    Attributes
    ----------
    mode : {"study", "outcome"}
        Study aggregates (random-effects) or outcome-level data (three-level model).
    settings : ReanalysisSettings
    annotation : Annotation
        The annotated outcome table (all outcomes).
    units : DataFrame
        The analysed units (studies or outcomes): ids, ``yi``, ``vi``, ``MOR_contrast``, moderators, the
        rescaled ``yi_adj``/``vi_adj``.
    pooled : fit
        The primary model (``meta.univariate.UnivariateResult`` or ``meta.multilevel`` result).
    regressions : dict
        ``name → fit`` of the meta-regressions (``"contrast"``, ``"contrast + quality"``, …).
    adjusted : dict
        ``{"rescaled": {...}, "regression": {...}}`` — estimate, se, ci_lb, ci_ub and the assumption.
    rescaled_fit : fit
        The model pooled on the rescaled effects.
    sensitivity : DataFrame
        One row per variant (base, models, half-lives, window ends) with both adjusted estimates and their
        95 % CIs (``interval`` = "95 % CI"); with a pkpd base model a last row gives the parameter uncertainty
        (median over the draws and their 2.5–97.5 % spread, ``interval`` = "2.5–97.5 % of the draws"; below 40 draws
        their min–max range, ``interval`` = "min–max of the k draws").
    mc : dict
        Monte Carlo draws: arrays ``rescaled`` and ``regression`` and their summaries.
    uncertainty : dict
        Parameter-uncertainty draws of a pkpd base model (``{"n": 0}`` when none): ``n``, ``seed``, arrays
        ``rescaled``, ``regression``, ``contrast_min``, ``contrast_mean`` and their summaries
        (``rescaled_p025``, ``rescaled_median``, ``rescaled_p975``, ...).
    trimfill : TrimFillResult or None
        ``None`` (with a warning) when trim-and-fill cannot be run on the aggregates (e.g. < 3 studies).
    selmodel : SelectionModelResult or None
        The three-parameter selection model on the same aggregates (:func:`meta.selection.selection_model`,
        step function with a cut point at one-sided p = 0.025, ``alternative="less"`` because a benefit is a
        negative g); ``None`` (with a warning) when it cannot be fitted (e.g. no study in one p-value interval).
    power : ndarray
        Per-study power to detect ``settings.power_effect``.
    warnings : tuple of str
    robust : dict
        CR2 cluster-robust inference (clusters = studies) beside the model-based CIs: ``"pooled"``,
        ``"rescaled"``, ``"regression"`` → ``{vcov, cluster, n_clusters, estimate, se, t, df, p, ci_lb, ci_ub}``
        or None where it could not be computed.
    """

    mode: str
    settings: ReanalysisSettings
    annotation: Annotation
    units: pd.DataFrame
    pooled: Any
    regressions: Mapping[str, Any]
    adjusted: Mapping[str, Mapping[str, Any]]
    rescaled_fit: Any
    sensitivity: pd.DataFrame
    mc: Mapping[str, Any]
    trimfill: Any
    power: np.ndarray
    power_units: pd.DataFrame
    warnings: tuple[str, ...] = ()
    robust: Mapping[str, Any] = field(default_factory=dict)
    uncertainty: Mapping[str, Any] = field(default_factory=lambda: {"n": 0})
    selmodel: Any = None

    @property
    def median_power(self) -> float:
        """Median per-study power."""
        return float(np.median(self.power))

    @property
    def slope(self) -> Mapping[str, Any] | None:
        """The MOR-contrast coefficient of the contrast-only meta-regression (per percentage point)."""
        fit = self.regressions.get("contrast")
        if fit is None:
            return None
        c = next(c for c in fit.coefficients if c.name == "MOR_contrast")
        return {"estimate": c.estimate, "se": c.se, "z": c.z, "p": c.p, "ci_lb": c.ci_lb, "ci_ub": c.ci_ub}

    def sensitivity_variants(self) -> pd.DataFrame:
        """The sensitivity rows of single analyses (base and one-at-a-time variants), without the
        parameter-uncertainty summary row."""
        s = self.sensitivity
        if "interval" not in s.columns:
            return s
        return s[s["interval"] == CI_INTERVAL]

    def pooled_dict(self) -> dict:
        """``{estimate, se, z, p, ci_lb, ci_ub}`` of the primary model's intercept."""
        return coefficient_dict(self.pooled.coefficients[0])

    def to_frame(self) -> pd.DataFrame:
        """The annotated outcome table (one row per outcome)."""
        return self.annotation.to_frame()

    def write_json(self, handle) -> None:
        """Write :meth:`to_dict` as indented JSON with the outcome records streamed (bounded memory)."""
        from occupancy.json_stream import write_json

        payload = self.to_dict(outcomes=False)
        write_json(payload, handle, {"outcomes": self.annotation.iter_outcome_records})

    def to_dict(self, outcomes: bool = True) -> dict:
        """JSON-ready result (what ``blockade reanalyse --json`` prints); ``outcomes=False`` leaves the
        per-outcome records as a placeholder (``None``) for :meth:`write_json`."""
        regressions = {}
        for name, fit in self.regressions.items():
            regressions[name] = None if fit is None else {
                "k": fit.k, "coefficients": [c.to_dict() for c in fit.coefficients],
                "QM": getattr(fit, "QM", None), "QM_p": getattr(fit, "QM_p", None),
            }
        out = {
            "mode": self.mode,
            "model": "random-effects (REML) on study aggregates" if self.mode == "study"
            else "three-level random-effects (REML): outcomes within studies",
            "k": int(len(self.units)),
            "k_studies": int(self.units["study_id"].nunique()),
            "k_outcomes": int(len(self.annotation)),
            "pooled": {**self.pooled_dict(), **_heterogeneity(self.pooled), "robust": self.robust.get("pooled")},
            "adjusted": {**self.adjusted["rescaled"], "robust": self.robust.get("rescaled")},
            "adjusted_regression": {**self.adjusted["regression"], "robust": self.robust.get("regression")},
            "regression": self.slope,
            "regressions": regressions,
            "trimfill": {"k0": None, "se_k0": None, "note": "not computed (see warnings)"}
            if self.trimfill is None else
            {"k0": int(self.trimfill.k0), "se_k0": self.trimfill.se_k0, "side": self.trimfill.side,
             "estimate": self.trimfill.estimate, "ci_lb": self.trimfill.ci_lb, "ci_ub": self.trimfill.ci_ub},
            "selmodel": selmodel_dict(self.selmodel),
            "power_effect": self.settings.power_effect,
            "median_power": self.median_power,
            "power": [{"study_id": s, "se": se, "power": p} for s, se, p in
                      zip(self.power_units["study_id"], self.power_units["sei"], self.power)],
            "sensitivity": self.sensitivity.to_dict("records"),
            "monte_carlo": {k: v for k, v in self.mc.items() if not isinstance(v, np.ndarray)},
            "parameter_uncertainty": {k: v for k, v in self.uncertainty.items() if not isinstance(v, np.ndarray)},
            "study_contrasts": self.units[["study_id", "MOR_contrast"]].to_dict("records")
            if self.mode == "study" else self.annotation.study_contrasts().to_dict("records"),
            "outcomes": self.annotation.outcome_records() if outcomes else None,
            "settings": self.settings.to_dict(),
            "assumptions": [{"text": t, "source": s} for t, s in assumptions_for(self.mode, self.settings)],
            "warnings": list(self.warnings),
        }
        return _clean(out)

    def heterogeneity(self) -> dict:
        """Heterogeneity of the pooled model: variance components, I² (percent) per level and total, Q, p."""
        return heterogeneity(self.pooled)

    def key_numbers(self) -> list[tuple[str, str]]:
        """k, the pooled g and both blockade-adjusted estimates with their 95 % CIs, heterogeneity."""
        p = self.pooled_dict()
        a, b = self.adjusted["rescaled"], self.adjusted["regression"]
        return [("data", f"{self.mode} level, k = {len(self.units)}"),
                ("pooled g", format_estimate_ci(p)),
                ("blockade-adjusted g (rescaled)", format_estimate_ci(a)),
                ("blockade-adjusted g (regression)", format_estimate_ci(b)),
                ("heterogeneity", format_heterogeneity(self.heterogeneity()))]

    def reading(self) -> str:
        """What the adjusted numbers mean, in one sentence."""
        return ("The pooled g is the naltrexone effect as published; the adjusted estimates are what full, "
                "residual-free MOR blockade would give under the two assumptions shown in .summary().")

    def summary(self) -> str:
        """A plain-text account of the key numbers."""
        p = self.pooled_dict()
        a, b = self.adjusted["rescaled"], self.adjusted["regression"]
        lines = [
            f"Blockade-adjusted reanalysis ({self.mode} level, k = {len(self.units)}; "
            f"{self.settings.annotation.describe()})",
            f"  pooled g            {format_estimate_ci(p)}",
            f"  heterogeneity       {format_heterogeneity(self.heterogeneity())}",
            f"  adjusted (rescaled) {format_estimate_ci(a)}   [{a['assumes']}]",
            f"  adjusted (regr.)    {format_estimate_ci(b)}   [{b['assumes']}]",
        ]
        if any(self.robust.get(k) for k in ("pooled", "rescaled", "regression")):
            n = next(r["n_clusters"] for r in self.robust.values() if r)
            lines.append(f"  cluster-robust 95 % CIs (CR2, Satterthwaite df; clusters = {n} studies):")
            for key, label in (("pooled", "pooled g"), ("rescaled", "adjusted (rescaled)"),
                               ("regression", "adjusted (regr.)")):
                r = self.robust.get(key)
                if r:
                    lines.append(f"    {label:<19s} {format_estimate_ci(r)}   [df {r['df']:.1f}]")
        s = self.slope
        if s is not None:
            lines.append(f"  slope on MOR contrast {s['estimate']:.4f} per pp (SE {s['se']:.4f}, p = {s['p']:.3f})")
        if self.trimfill is None:
            lines.append("  trim-and-fill       not computed (see warnings)")
        else:
            lines.append(f"  trim-and-fill       k0 = {self.trimfill.k0} (SE {format_number(self.trimfill.se_k0, '.2f')}), "
                         f"g = {format_estimate_ci(trimfill_dict(self.trimfill))}")
        lines.append(f"  selection model     {selmodel_line(self.selmodel)}")
        lines.append(f"  median power (g = {self.settings.power_effect:g}): {self.median_power:.3f}")
        single = self.sensitivity_variants()
        if len(single):
            values = single["rescaled"].to_numpy(float)
            if np.isfinite(values).any():
                lines.append(f"  sensitivity (rescaled) over {len(single)} variants: {np.nanmin(values):.4f} to "
                             f"{np.nanmax(values):.4f}")
        u = self.uncertainty
        if u.get("n") and "rescaled_median" in u:
            lines.append(f"  parameter uncertainty ({u['n']} pkpd parameter draws, rescaled): median "
                         f"{u['rescaled_median']:.4f}, {u['rescaled_range_label']} {u['rescaled_lo']:.4f} to "
                         f"{u['rescaled_hi']:.4f}")
        lines += [f"  {text}" for text in model_uncertainty_words(u)]
        if self.mc.get("n") and "rescaled_median" in self.mc:
            lines.append(f"  Monte Carlo ({self.mc['n']} draws, rescaled): median {self.mc['rescaled_median']:.4f}, "
                         f"{self.mc['rescaled_range_label']} {self.mc['rescaled_lo']:.4f} to "
                         f"{self.mc['rescaled_hi']:.4f}")
        lines.append("")
        lines.append(self.annotation.summary())
        return "\n".join(lines)


@dataclass(frozen=True)
class PartialReanalysis(ResultDisplay):
    """The estimates a reanalysis knows before its long draws (``reanalyse(..., on_partial=...)``).

    Attributes
    ----------
    mode : {"study", "outcome"}
        Study aggregates (random-effects) or outcome-level data (three-level model).
    k : int
        Analysed units (studies or outcomes).
    n_outcomes : int
        Annotated outcomes.
    pooled : dict
        ``{estimate, se, z, p, ci_lb, ci_ub}`` of the unadjusted pooled g.
    rescaled : dict
        The rescaled blockade-adjusted estimate (as ``ReanalysisResult.adjusted["rescaled"]``: estimate, CI, the
        ``k`` units it pools, the assumption).
    regression : dict
        The contrast meta-regression's prediction at the full contrast (``adjusted["regression"]``).
    annotation : str
        How the outcomes were annotated (``AnnotationSettings.describe()``).
    draws_total : int
        The draws still to run: parameter-uncertainty plus Monte Carlo draws (the ``total`` that
        ``on_progress`` will report).
    pending : tuple of str
        What still runs, in order (e.g. ``"200 Monte Carlo draws"``).

    Notes
    -----
    The pooled g and both adjusted estimates depend only on the effect sizes and the base annotation, which are
    done before the parameter-uncertainty, sensitivity and Monte Carlo re-annotations; so these numbers are
    already the final result's (equal to ``ReanalysisResult.pooled_dict()`` and ``adjusted``), and only their
    spreads, the sensitivity table and the small-study checks are still to come.  Reporting them early lets the
    web app show the pooled estimate while the draws run (issue 21.5).
    """

    mode: str
    k: int
    n_outcomes: int
    pooled: Mapping[str, Any]
    rescaled: Mapping[str, Any]
    regression: Mapping[str, Any]
    annotation: str
    draws_total: int
    pending: tuple[str, ...] = ()

    def key_numbers(self) -> list[tuple[str, str]]:
        """k, the pooled g and the rescaled adjusted g with their 95 % CIs, and what still runs."""
        return [("data", f"{self.mode} level, k = {self.k}"),
                ("pooled g", format_estimate_ci(self.pooled)),
                ("blockade-adjusted g (rescaled)", format_estimate_ci(self.rescaled)),
                ("still running", ", ".join(self.pending) or "nothing")]

    def reading(self) -> str:
        """What is final and what is not yet."""
        return ("The pooled and adjusted estimates are final; their spreads over the draws, the sensitivity "
                "table and the small-study checks are still being computed.")

    def summary(self) -> str:
        """A plain-text account: the estimates known so far and what is still running."""
        return "\n".join([
            f"Blockade-adjusted reanalysis, preliminary ({self.mode} level, k = {self.k}; {self.annotation})",
            f"  pooled g            {format_estimate_ci(self.pooled)}",
            f"  adjusted (rescaled) {format_estimate_ci(self.rescaled)}",
            f"  adjusted (regr.)    {format_estimate_ci(self.regression)}",
            f"  still running       {', '.join(self.pending) or 'nothing'}",
        ])

    def to_frame(self) -> pd.DataFrame:
        """One row per estimate (pooled, rescaled, regression): estimate, se, ci_lb, ci_ub."""
        rows = [{"estimate_of": name, **{key: d.get(key, float("nan")) for key in ("estimate", "se", "ci_lb", "ci_ub")}}
                for name, d in (("pooled", self.pooled), ("rescaled", self.rescaled),
                                ("regression", self.regression))]
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        """JSON-ready (non-finite numbers as ``None``)."""
        return _clean({"mode": self.mode, "k": self.k, "n_outcomes": self.n_outcomes, "pooled": dict(self.pooled),
                       "adjusted": dict(self.rescaled), "adjusted_regression": dict(self.regression),
                       "annotation": self.annotation, "draws_total": self.draws_total,
                       "pending": list(self.pending)})


def model_uncertainty_words(u: Mapping[str, Any]) -> list[str]:
    """Plain words on the model uncertainty of the reanalysis (structures, contrasts, slope), for the text and
    the report: which admissible structures, and whether an answer depends on the structure."""
    if not u.get("n") or not u.get("structures"):
        return []
    st = u["structures"]
    s = len(st)
    names = ", ".join(f"{x['name']} (weight {x['weight']:.2f})" for x in st)
    out = [f"model uncertainty over {u['n']} draws of {s} admissible structure{'s' if s != 1 else ''}: {names}"]
    if "contrast_mean_median" in u:
        out.append(f"mean MOR contrast {u['contrast_mean_median']:.1f} pp (model uncertainty, "
                   f"{u['contrast_mean_range_label']} {u['contrast_mean_lo']:.1f} to {u['contrast_mean_hi']:.1f} pp)")
    if "slope_median" in u:
        out.append(f"meta-regression slope on the MOR contrast {u['slope_median']:.5f} per pp (model uncertainty, "
                   f"{u['slope_range_label']} {u['slope_lo']:.5f} to {u['slope_hi']:.5f})")
    if s > 1:
        for key, what, tol, fmt in (("rescaled", "rescaled estimate", 0.01, ".3f"),
                                    ("regression", "regression prediction", 0.01, ".3f"),
                                    ("contrast_mean", "mean MOR contrast", 2.0, ".1f")):
            lo, hi = u.get(f"{key}_across_structures", [None, None])
            missing = [x["name"] for x in st if not np.isfinite(x.get(f"{key}_median", np.nan))]
            if missing:
                out.append(f"the {what} is not estimable under {len(missing)} of {s} admissible structures "
                           f"({', '.join(missing)})")
            if lo is not None and hi - lo > tol:
                out.append(f"the {what} depends on the model structure: the structures' medians range from "
                           f"{lo:{fmt}} to {hi:{fmt}}")
    return out


def coefficient_dict(c) -> dict:
    """A fitted coefficient as the dict used in ``results.json`` (estimate, se, z, p, CI)."""
    return {"estimate": c.estimate, "se": c.se, "z": c.z, "p": c.p, "ci_lb": c.ci_lb, "ci_ub": c.ci_ub}


#: τ² below this counts as on its lower bound 0 (the selection module itself zeroes only ~1e-15)
_TAU2_ZERO = 1e-8


def selmodel_status(sel) -> dict:
    """Whether a selection model's numbers can be read as they stand.

    Returns ``{"converged": bool, "on_bound": [names], "status": "ok" | "on a bound" | "not converged"}``:
    ``on_bound`` lists the selection weights δ at (within the optimiser's tolerance of) their bounds — 0 or
    100 for the step function, 1e-5 or 100 for the beta model — and ``"tau2"`` when τ² is at 0.

    Notes
    -----
    A δ on its bound means the likelihood keeps rising towards "no study of that interval is ever
    published" (δ → 0) or "every one is" (δ → 100): the data cannot pin the amount of selection down, and the
    adjusted estimate, its SE and the δ's SE are not interpretable (metafor warns in the same case).  τ² at 0
    only makes its SE meaningless; it does not invalidate the adjusted estimate, so it is named but the
    status stays ``"ok"``.
    """
    lo = 0.0 if sel.type == "stepfun" else 1e-5
    free = range(1, len(sel.delta)) if sel.type == "stepfun" else range(len(sel.delta))
    tol = np.finfo(float).eps ** 0.25  # meta.selection's own test for "at the bound"
    on = [f"delta{j + 1}" for j in free
          if not (lo + tol < float(sel.delta[j]) < 100 - 100 * tol)]
    if math.isfinite(sel.tau2) and sel.tau2 < _TAU2_ZERO and not np.isnan(sel.se_tau2):
        on.append("tau2")
    converged = bool(sel.converged) and math.isfinite(sel.estimate)
    status = ("not converged" if not converged else
              "on a bound" if any(n.startswith("delta") for n in on) else "ok")
    return {"converged": converged, "on_bound": on, "status": status}


def selmodel_dict(sel) -> dict:
    """The selection model as in ``results.json`` (key ``selmodel``; ``{"note": ...}`` when not fitted).

    The keys of ``blockade meta bias --selmodel --json`` (``type``, ``estimate``, ``se``, ``tau2``, ``delta``,
    ``LRT``, ``LRT_p``) plus the CI, ``alternative``, ``steps``, ``LRT_df`` and :func:`selmodel_status`.
    """
    if sel is None:
        return {"type": None, "estimate": None, "note": "not computed (see warnings)"}
    d = sel.to_dict()
    out = {key: d[key] for key in ("type", "alternative", "steps", "k", "estimate", "se", "ci_lb", "ci_ub",
                                   "p", "tau2", "se_tau2", "delta", "se_delta", "delta_p", "k_per_interval",
                                   "LRT", "LRT_df", "LRT_p")}
    out.update(selmodel_status(sel))
    return out


def selmodel_line(sel) -> str:
    """One line of text for the summary: estimate, τ², δ, LRT — or why they are not to be read as fine."""
    if sel is None:
        return "not computed (see warnings)"
    st = selmodel_status(sel)
    if st["status"] == "not converged":
        return "3PSM did not converge: no estimate reported (see warnings)"
    text = (f"3PSM (p < {sel.steps[0]:g}, {sel.alternative}) g = "
            f"{format_estimate_ci({'estimate': sel.estimate, 'ci_lb': float(sel.ci_lb[0]), 'ci_ub': float(sel.ci_ub[0])})}"
            f" (SE {format_number(float(sel.se[0]), '.4f')}), tau^2 = {format_number(sel.tau2, '.4f')}, "
            f"delta = {', '.join(format_number(float(x), '.3f') for x in sel.delta)}, "
            f"LRT({sel.LRT_df}) = {sel.LRT:.3f}, p = {sel.LRT_p:.3f}")
    if st["status"] == "on a bound":
        text += f"  [UNRELIABLE: {', '.join(n for n in st['on_bound'] if n != 'tau2')} at its bound]"
    elif "tau2" in st["on_bound"]:
        text += "  [tau^2 at its bound 0]"
    return text


def trimfill_dict(tf) -> dict:
    """Trim-and-fill's adjusted estimate as ``{estimate, ci_lb, ci_ub}``."""
    return {"estimate": tf.estimate, "ci_lb": tf.ci_lb, "ci_ub": tf.ci_ub}


def _heterogeneity(fit) -> dict:
    out = {}
    for name in ("tau2", "sigma2", "level_names", "QE", "QE_df", "QE_p", "I2", "I2_total", "I2_levels"):
        if hasattr(fit, name):
            value = getattr(fit, name)
            if isinstance(value, (tuple, list, np.ndarray)):
                value = [v if isinstance(v, str) else float(v) for v in value]
            elif isinstance(value, dict):
                value = {str(k): v for k, v in value.items()}
            out[name] = value
    if "I2" in out or "I2_total" in out:
        out["I2_unit"] = "percent"
    return out


def heterogeneity(fit) -> dict:
    """``{"components": [(name, variance)], "I2_levels": [(name, %)], "I2_total": %, "Q", "Q_df", "Q_p"}``.

    A univariate model has one component, τ² (``"tau2"``); a multilevel model one σ² per level.
    """
    if hasattr(fit, "sigma2"):
        names = [str(n) for n in fit.level_names]
        components = [(f"sigma2 ({n})", float(v)) for n, v in zip(names, fit.sigma2)]
        levels = [(n, float(v)) for n, v in zip(names, fit.I2_levels)]
        total = float(fit.I2_total)
    else:
        components = [("tau2", float(fit.tau2))]
        total = float(fit.I2)
        levels = [("total", total)]
    return {"components": components, "I2_levels": levels, "I2_total": total, "Q": float(fit.QE),
            "Q_df": int(fit.QE_df), "Q_p": float(fit.QE_p)}


def format_number(value, spec: str = ".4f", missing: str = "not estimable") -> str:
    """``value`` with ``spec``; ``missing`` for None, NaN or infinity (never ``nan`` in a report)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return missing
    return format(v, spec) if math.isfinite(v) else missing


def format_heterogeneity(h: Mapping) -> str:
    """``tau^2 = 0.0003, I^2 = 0.7 %, Q(7) = 14.92, p = 0.037`` (σ² and I² per level for multilevel models)."""
    comps = ", ".join(f"{n.replace('tau2', 'tau^2').replace('sigma2', 'sigma^2')} = {v:.4g}" for n, v in h["components"])
    if len(h["I2_levels"]) > 1:
        i2 = (f"I^2 = {h['I2_total']:.1f} % (" + ", ".join(f"{n} {v:.1f} %" for n, v in h["I2_levels"]) + ")")
    else:
        i2 = f"I^2 = {h['I2_total']:.1f} %"
    return f"{comps}; {i2}; Q({h['Q_df']}) = {h['Q']:.2f}, {format_p(h['Q_p'])}"


def format_p(p: float) -> str:
    """``p = 0.037`` (three decimals), or ``p < 0.001``."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def format_estimate_ci(d: Mapping) -> str:
    """``estimate [ci_lb, ci_ub]`` to four decimals, or ``not estimable (see warnings)``."""
    values = [d.get(k) for k in ("estimate", "ci_lb", "ci_ub")]
    if not all(v is not None and math.isfinite(float(v)) for v in values):
        return "not estimable (see warnings)"
    return f"{d['estimate']:.4f} [{d['ci_lb']:.4f}, {d['ci_ub']:.4f}]"


# ----------------------------------------------------------------------------------------------------------
# Plain-language readings: every sentence follows from the numbers it reads
# ----------------------------------------------------------------------------------------------------------


def effect_size_word(g: float) -> str:
    """Cohen's labels for |g|: negligible (< 0.1), very small (< 0.2), small (< 0.5), moderate (< 0.8), large."""
    a = round(abs(g), 2)  # the band of the value as shown (g = -0.1965 reads as -0.20: small)
    return ("negligible" if a < 0.1 else "very small" if a < 0.2 else "small" if a < 0.5 else "moderate" if a < 0.8
            else "large")


def read_effect(d: Mapping, what: str = "the outcomes") -> str:
    """Direction, size and whether the 95 % CI includes 0, read off ``{estimate, ci_lb, ci_ub}``."""
    est, lb, ub = (float(d[k]) if d.get(k) is not None else float("nan") for k in ("estimate", "ci_lb", "ci_ub"))
    if not all(math.isfinite(v) for v in (est, lb, ub)):
        return "Not estimable from these data (see the warnings)."
    direction = "lower" if est < 0 else "higher" if est > 0 else "no different"
    text = (f"On average {what} were {direction} under naltrexone than under placebo "
            f"({effect_size_word(est)} effect, g = {est:+.2f})")
    if lb <= 0 <= ub:
        text += "; the 95 % CI includes 0, so the data are also compatible with no effect."
    else:
        side = "below" if ub < 0 else "above"
        text += f"; the whole 95 % CI lies {side} 0."
    return text


def read_heterogeneity(h: Mapping) -> str:
    """Plain reading of I² (Higgins' 25/50/75 % bands) and of the Q test."""
    i2 = h["I2_total"]
    band = "low" if i2 < 25 else "moderate" if i2 < 50 else "substantial" if i2 < 75 else "high"
    text = f"{band.capitalize()} heterogeneity: I² = {i2:.1f} % of the variation in the estimates is "
    if len(h["I2_levels"]) <= 1:
        text += "between-study variation rather than sampling error"
    else:
        text += ("variation of the true effects rather than sampling error (" +
                 ", ".join(f"{n} level {v:.1f} %" for n, v in h["I2_levels"]) + ")")
    if h["Q_p"] < 0.05:
        text += f"; Q({h['Q_df']}) = {h['Q']:.1f}, {format_p(h['Q_p'])}: more spread than sampling error alone gives."
    else:
        text += (f"; Q({h['Q_df']}) = {h['Q']:.1f}, {format_p(h['Q_p'])}: no more spread than sampling error "
                 "alone would give.")
    return text
