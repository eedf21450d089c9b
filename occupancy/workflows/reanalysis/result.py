"""The frozen result of a reanalysis and the assumptions its numbers rest on.

:class:`ReanalysisResult` has ``summary()`` (terminal text), ``to_dict()`` (``--json`` and
``results.json``) and ``to_frame()`` (the annotated outcome table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from occupancy.annotation.annotate import Annotation
from occupancy.workflows.reanalysis.settings import ReanalysisSettings

#: Most analysed units drawn in a forest plot (one text line each); with more the plot is left out (warning).
MAX_PLOTTED_UNITS = 1000

#: Assumptions behind the numbers, with their sources (shown in reports and ``--json``).
ASSUMPTIONS: tuple[tuple[str, str], ...] = (
    ("Blockade is simulated for oral naltrexone with the package's calibrated washout model (ED50, "
     "super-saturation and tmax fitted; blockade half-life 72 h; capped at 100 %) unless the scenario chooses "
     "emax.",
     "occupancy.models.washout; Rabiner 2011 via Trøstheim 2023; Lee 1988; Weerts 2008"),
    ("Assessment windows are those the review names per reference (60–95 min or 2–24 h after the dose); rows "
     "without one use the default 1–24 h window.",
     "Løseth et al. 2024, Results ('Social connectedness was often assessed 60–95 min after administration')"),
    ("Inagaki [20, 59]: 25, 25, 50, 50 mg daily; outcomes after the two 50 mg doses only.",
     "Løseth et al. 2024, Results"),
    ("Crossovers are counterbalanced: half the participants had the drug session first, so the placebo "
     "condition's mean MOR blockade is half the residual blockade of those participants one ISI later.",
     "assumption (order not reported in the review); ISIs 7 and 10 days from Table 1"),
    ("The ISI is the time between corresponding doses of the two sessions.", "assumption; see PROVENANCE.md"),
    ("Rescaled adjusted estimate: effects are proportional to the MOR contrast (g·100/c, variance ·(100/c)²) — "
     "no effect at zero contrast and no KOR/DOR contribution.", "modelling assumption"),
    ("Regression-adjusted estimate: g is linear in the MOR contrast; the prediction at 100 pp extrapolates "
     "beyond the observed contrasts.", "modelling assumption"),
    ("Monte Carlo sensitivity: each draw applies one virtual subject's ED50, half-life and absorption "
     "(log-normal between-subject spreads of occupancy.simulation.population) to every participant, so the spread reflects "
     "uncertainty about the typical participant's pharmacology, not sampling noise.",
     "occupancy.simulation.population.default_variability (Rabiner 2011 scatter, Lee 1988 range, plasma tmax SD)"),
    ("Study aggregates: vi from the 95 % CI of Table 1, se = (ub − lb)/(2·1.959964); the review aggregated "
     "outcomes within studies with metafor's aggregate().", "Løseth et al. 2024, Table 1"),
)


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
class ReanalysisResult:
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
        One row per variant (base, models, half-lives, window ends) with both adjusted estimates.
    mc : dict
        Monte Carlo draws: arrays ``rescaled`` and ``regression`` and their summaries.
    trimfill : TrimFillResult or None
        ``None`` (with a warning) when trim-and-fill cannot be run on the aggregates (e.g. < 3 studies).
    power : ndarray
        Per-study power to detect ``settings.power_effect``.
    warnings : tuple of str
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
            "pooled": {**self.pooled_dict(), **_heterogeneity(self.pooled)},
            "adjusted": dict(self.adjusted["rescaled"]),
            "adjusted_regression": dict(self.adjusted["regression"]),
            "regression": self.slope,
            "regressions": regressions,
            "trimfill": {"k0": None, "se_k0": None, "note": "not computed (see warnings)"}
            if self.trimfill is None else
            {"k0": int(self.trimfill.k0), "se_k0": self.trimfill.se_k0, "side": self.trimfill.side,
             "estimate": self.trimfill.estimate, "ci_lb": self.trimfill.ci_lb, "ci_ub": self.trimfill.ci_ub},
            "power_effect": self.settings.power_effect,
            "median_power": self.median_power,
            "power": [{"study_id": s, "se": se, "power": p} for s, se, p in
                      zip(self.power_units["study_id"], self.power_units["sei"], self.power)],
            "sensitivity": self.sensitivity.to_dict("records"),
            "monte_carlo": {k: v for k, v in self.mc.items() if not isinstance(v, np.ndarray)},
            "study_contrasts": self.units[["study_id", "MOR_contrast"]].to_dict("records")
            if self.mode == "study" else self.annotation.study_contrasts().to_dict("records"),
            "outcomes": self.annotation.outcome_records() if outcomes else None,
            "settings": self.settings.to_dict(),
            "assumptions": [{"text": t, "source": s} for t, s in ASSUMPTIONS],
            "warnings": list(self.warnings),
        }
        return _clean(out)

    def summary(self) -> str:
        """A plain-text account of the key numbers."""
        p = self.pooled_dict()
        a, b = self.adjusted["rescaled"], self.adjusted["regression"]
        lines = [
            f"Blockade-adjusted reanalysis ({self.mode} level, k = {len(self.units)}; "
            f"{self.settings.annotation.describe()})",
            f"  pooled g            {format_estimate_ci(p)}",
            f"  adjusted (rescaled) {format_estimate_ci(a)}   [{a['assumes']}]",
            f"  adjusted (regr.)    {format_estimate_ci(b)}   [{b['assumes']}]",
        ]
        s = self.slope
        if s is not None:
            lines.append(f"  slope on MOR contrast {s['estimate']:.4f} per pp (SE {s['se']:.4f}, p = {s['p']:.3f})")
        if self.trimfill is None:
            lines.append("  trim-and-fill       not computed (see warnings)")
        else:
            lines.append(f"  trim-and-fill       k0 = {self.trimfill.k0} (SE {self.trimfill.se_k0:.2f}), "
                         f"g = {self.trimfill.estimate:.4f} [{self.trimfill.ci_lb:.4f}, {self.trimfill.ci_ub:.4f}]")
        lines.append(f"  median power (g = {self.settings.power_effect:g}): {self.median_power:.3f}")
        if len(self.sensitivity):
            lo, hi = self.sensitivity["rescaled"].min(), self.sensitivity["rescaled"].max()
            lines.append(f"  sensitivity (rescaled) over {len(self.sensitivity)} variants: {lo:.4f} to {hi:.4f}")
        if self.mc.get("n"):
            lines.append(f"  Monte Carlo ({self.mc['n']} draws, rescaled): median {self.mc['rescaled_median']:.4f}, "
                         f"95 % range {self.mc['rescaled_p025']:.4f} to {self.mc['rescaled_p975']:.4f}")
        lines.append("")
        lines.append(self.annotation.summary())
        return "\n".join(lines)


def coefficient_dict(c) -> dict:
    """A fitted coefficient as the dict used in ``results.json`` (estimate, se, z, p, CI)."""
    return {"estimate": c.estimate, "se": c.se, "z": c.z, "p": c.p, "ci_lb": c.ci_lb, "ci_ub": c.ci_ub}


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
    return out


def format_estimate_ci(d: Mapping) -> str:
    """``estimate [ci_lb, ci_ub]`` to four decimals."""
    return f"{d['estimate']:.4f} [{d['ci_lb']:.4f}, {d['ci_ub']:.4f}]"
