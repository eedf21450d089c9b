"""Blockade-adjusted reanalysis of an antagonist meta-analysis (default: Løseth, Trøstheim & Leknes 2024).

Pipeline (:func:`reanalyse`)
----------------------------
1. **Annotate** every outcome with the MOR blockade in the drug and placebo conditions and the contrast
   (:mod:`occupancy.annotation`).
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

5. **Sensitivity** of the adjusted estimate: the model (``washout`` vs ``emax``), the blockade half-life
   (72 / 108 h, Lee 1988), the window summary (start / end instead of the mean), and Monte Carlo draws of
   the population parameters (each draw applies one virtual subject's ED50, half-life and absorption to all
   participants; seeded; tqdm progress bar on stderr).
6. **Small-study and power checks** (:mod:`meta.small_study`, :mod:`meta.power`): trim-and-fill on the study
   aggregates (review: 0 missing, SE 2) and each study's power to detect g = −0.20 at α = .05 from its SE
   (review: median 0.15).

The result is frozen (:class:`ReanalysisResult`: ``summary()``, ``to_dict()``, ``to_frame()``), and
:func:`reanalysis_report_section` turns it into an :class:`occupancy.report.ReportSection` for
``blockade run``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from occupancy.annotation import Annotation, AnnotationSettings, annotate_outcomes
from occupancy.errors import InputError
from occupancy.literature import (
    DEFAULT_WINDOW_H,
    OutcomeTable,
    bundled_studies,
    load_outcomes,
    study_aggregates,
    validate_outcome_table,
)
from occupancy.scenario import (
    DoseSection,
    DrugSection,
    ModelSection,
    PopulationSection,
    Scenario,
    _STRICT,
    _Finite,
)

__all__ = [
    "ReanalysisSection",
    "ReanalysisScenario",
    "ReanalysisSettings",
    "ReanalysisResult",
    "load_reanalysis_scenario",
    "settings_from_scenario",
    "reanalyse",
    "reanalysis_report_section",
    "forest_figure",
    "bubble_figure",
    "write_reanalysis_outputs",
    "OUTPUT_FILES",
    "ASSUMPTIONS",
]

Z = 1.959963984540054

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
     "(log-normal between-subject spreads of occupancy.population) to every participant, so the spread reflects "
     "uncertainty about the typical participant's pharmacology, not sampling noise.",
     "occupancy.population.default_variability (Rabiner 2011 scatter, Lee 1988 range, plasma tmax SD)"),
    ("Study aggregates: vi from the 95 % CI of Table 1, se = (ub − lb)/(2·1.959964); the review aggregated "
     "outcomes within studies with metafor's aggregate().", "Løseth et al. 2024, Table 1"),
)


# --------------------------------------------------------------------------------------------------
# Scenario
# --------------------------------------------------------------------------------------------------


class ReanalysisSection(_Finite, BaseModel):
    """``[reanalysis]``: annotation and sensitivity choices (all optional)."""

    model_config = _STRICT
    data: Optional[str] = None
    default_window_h: list[float] = Field(default_factory=lambda: list(DEFAULT_WINDOW_H), min_length=2,
                                          max_length=2)
    window_point: Literal["mean", "start", "end"] = "mean"
    grid_points: int = Field(default=25, ge=2, le=10_000)
    isi_from: Literal["first_dose", "last_dose"] = "first_dose"
    full_contrast: float = Field(default=100.0, gt=0, le=100)
    min_contrast: float = Field(default=5.0, ge=0, le=100)
    power_effect: float = -0.20
    aggregate_rho: float = Field(default=0.5, ge=0, lt=1)
    sensitivity_models: list[Literal["washout", "emax"]] = Field(default_factory=lambda: ["washout", "emax"])
    sensitivity_half_lives_h: list[float] = Field(default_factory=lambda: [72.0, 108.0])
    sensitivity_windows: list[Literal["start", "end"]] = Field(default_factory=lambda: ["start", "end"])
    draws: int = Field(default=200, ge=0, le=100_000)
    draws_seed: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _check(self):
        lo, hi = self.default_window_h
        if not (0 <= lo <= hi):
            raise ValueError(f"reanalysis.default_window_h: need 0 <= min <= max (got {lo:g}, {hi:g})")
        for h in self.sensitivity_half_lives_h:
            if not h > 0:
                raise ValueError(f"reanalysis.sensitivity_half_lives_h: must be > 0 (got {h:g})")
        if self.draws == 1:
            raise ValueError("reanalysis.draws: must be 0 (none) or >= 2 (got 1)")
        return self


class ReanalysisScenario(Scenario):
    """A reanalysis scenario: ``[drug]`` (naltrexone), ``[model]``, ``[population]`` and ``[reanalysis]``.

    Dosing comes from the outcome table, so ``[[doses]]`` and ``[[assessments]]`` are not allowed.

    .. code-block:: toml

        task = "reanalyse"
        [drug]
        name = "naltrexone"
        [model]
        name = "washout"          # or "emax"
        half_life_h = 72          # optional overrides
        [population]
        n = 1000
        seed = 1
        [reanalysis]
        data = "my_outcomes.csv"  # optional; relative to this file; default: the bundled review
        default_window_h = [1.0, 24.0]
        sensitivity_half_lives_h = [72, 108]
        draws = 200
    """

    task: Literal["reanalyse"] = "reanalyse"
    drug: DrugSection = Field(default_factory=lambda: DrugSection(name="naltrexone"))
    doses: list[DoseSection] = Field(default_factory=list)
    population: Optional[PopulationSection] = Field(default_factory=PopulationSection)
    reanalysis: ReanalysisSection = Field(default_factory=ReanalysisSection)

    @model_validator(mode="after")
    def _consistent(self):  # replaces Scenario's dose/assessment checks
        from dataclasses import fields as dc_fields

        from occupancy.models import model_class

        if self.drug.name != "naltrexone":
            raise ValueError("drug.name: the reanalysis simulates oral naltrexone (got "
                             f"{self.drug.name!r})")
        if self.doses:
            raise ValueError("doses: not used by a reanalysis (schedules come from the outcome table)")
        if self.assessments:
            raise ValueError("assessments: not used by a reanalysis (windows come from the outcome table)")
        name = self.model.name
        if name is not None and name.strip().lower() not in ("washout", "emax"):
            raise ValueError(f"model.name: unknown model {name!r} for naltrexone (choose washout or emax)")
        cls = model_class("naltrexone", name)
        allowed = {f.name for f in dc_fields(cls)}
        for key in self.model.overrides():
            if key not in allowed:
                raise ValueError(f"model.{key}: not a parameter of the {cls.name} model "
                                 f"(parameters: {', '.join(sorted(allowed))})")
        return self


def scenario_data_path(scenario: ReanalysisScenario | None, scenario_path=None) -> Path | None:
    """The outcome CSV named by ``[reanalysis] data`` (relative paths are relative to the scenario file)."""
    if scenario is None or scenario.reanalysis.data is None:
        return None
    path = Path(scenario.reanalysis.data).expanduser()
    if not path.is_absolute() and scenario_path is not None:
        path = Path(scenario_path).resolve().parent / path
    return path


def load_reanalysis_scenario(path) -> ReanalysisScenario:
    """Read and validate a reanalysis TOML file; problems → one-line :class:`InputError` naming file and field."""
    from occupancy.scenario import load_scenario

    return load_scenario(path, schema=ReanalysisScenario)


# --------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReanalysisSettings:
    """Everything :func:`reanalyse` needs besides the data.

    Parameters
    ----------
    annotation : AnnotationSettings
        Model, overrides, population and window choices of the primary annotation.
    full_contrast : float
        Contrast (pp) the adjusted estimates refer to (100 = 100 % vs 0 % MOR blockade).
    min_contrast : float
        Outcomes/studies with a smaller contrast are left out of the rescaled estimate (warning).
    power_effect : float
        Effect (g) for the per-study power (review: −0.20).
    aggregate_rho : float
        Within-study correlation for aggregating outcome-level data (trim-and-fill, power).
    sensitivity_models, sensitivity_half_lives_h, sensitivity_windows :
        The one-at-a-time variants of the sensitivity analysis.
    draws, draws_seed : int
        Monte Carlo draws of the population parameters (0 = none) and their seed.
    progress : bool
        Show a tqdm progress bar (stderr) for the draws.
    """

    annotation: AnnotationSettings = field(default_factory=AnnotationSettings)
    full_contrast: float = 100.0
    min_contrast: float = 5.0
    power_effect: float = -0.20
    aggregate_rho: float = 0.5
    sensitivity_models: tuple[str, ...] = ("washout", "emax")
    sensitivity_half_lives_h: tuple[float, ...] = (72.0, 108.0)
    sensitivity_windows: tuple[str, ...] = ("start", "end")
    draws: int = 200
    draws_seed: int = 2
    progress: bool = False

    def __post_init__(self) -> None:
        if not (0 < self.full_contrast <= 100):
            raise InputError(f"reanalysis.full_contrast: must be in (0, 100] (got {self.full_contrast})")
        if self.draws < 0 or self.draws == 1:
            raise InputError(f"reanalysis.draws: must be 0 (none) or >= 2 (got {self.draws})")
        object.__setattr__(self, "sensitivity_models", tuple(self.sensitivity_models))
        object.__setattr__(self, "sensitivity_half_lives_h", tuple(float(h) for h in self.sensitivity_half_lives_h))
        object.__setattr__(self, "sensitivity_windows", tuple(self.sensitivity_windows))

    def to_dict(self) -> dict:
        """JSON-ready settings."""
        return {"annotation": self.annotation.to_dict(), "full_contrast": self.full_contrast,
                "min_contrast": self.min_contrast, "power_effect": self.power_effect,
                "aggregate_rho": self.aggregate_rho, "sensitivity_models": list(self.sensitivity_models),
                "sensitivity_half_lives_h": list(self.sensitivity_half_lives_h),
                "sensitivity_windows": list(self.sensitivity_windows), "draws": self.draws,
                "draws_seed": self.draws_seed}


def settings_from_scenario(scenario: ReanalysisScenario | None = None, *, model: str | None = None,
                           half_life_h: float | None = None, n: int | None = None, seed: int | None = None,
                           draws: int | None = None, window_point: str | None = None,
                           progress: bool = False) -> ReanalysisSettings:
    """Settings from a scenario (or the defaults), with command-line overrides applied on top."""
    sc = ReanalysisScenario() if scenario is None else scenario
    r = sc.reanalysis
    params = sc.model.overrides()
    name = (sc.model.name or "washout").strip().lower()
    if model is not None:
        if model != name:
            params = {}
        name = model
    if half_life_h is not None:
        if name == "emax":
            raise InputError("--half-life: the emax model has no time course (use --model washout)")
        params["half_life_h"] = float(half_life_h)
    pop = sc.population
    variability = sc.variability() if pop is not None else None
    ann = AnnotationSettings(
        model=name, model_params=params,
        n=int(n) if n is not None else (pop.n if pop is not None else 0),
        seed=int(seed) if seed is not None else (pop.seed if pop is not None else 1),
        variability=variability, window_point=window_point or r.window_point, grid_points=r.grid_points,
        isi_from=r.isi_from, default_window_h=(float(r.default_window_h[0]), float(r.default_window_h[1])),
    )
    return ReanalysisSettings(
        annotation=ann, full_contrast=r.full_contrast, min_contrast=r.min_contrast, power_effect=r.power_effect,
        aggregate_rho=r.aggregate_rho, sensitivity_models=tuple(r.sensitivity_models),
        sensitivity_half_lives_h=tuple(r.sensitivity_half_lives_h), sensitivity_windows=tuple(r.sensitivity_windows),
        draws=int(draws) if draws is not None else r.draws, draws_seed=r.draws_seed, progress=progress,
    )


# --------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------


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
        return _coef_dict(self.pooled.coefficients[0])

    def to_frame(self) -> pd.DataFrame:
        """The annotated outcome table (one row per outcome)."""
        return self.annotation.to_frame()

    def to_dict(self) -> dict:
        """JSON-ready result (what ``blockade reanalyse --json`` prints)."""
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
            "outcomes": self.annotation.outcome_records(),
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
            f"  pooled g            {_ci(p)}",
            f"  adjusted (rescaled) {_ci(a)}   [{a['assumes']}]",
            f"  adjusted (regr.)    {_ci(b)}   [{b['assumes']}]",
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


def _coef_dict(c) -> dict:
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


def _ci(d: Mapping) -> str:
    return f"{d['estimate']:.4f} [{d['ci_lb']:.4f}, {d['ci_ub']:.4f}]"


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


def _unit_contrasts(mode: str, annotation: Annotation, units: pd.DataFrame, column: str = "MOR_contrast"):
    """The contrast of each analysed unit (study mean over its outcomes, or the outcome's own)."""
    if mode == "outcome":
        return annotation.table[column].to_numpy(float)
    means = annotation.table.groupby("study_id", sort=False)[column].mean()
    return means.reindex(units["study_id"]).to_numpy(float)


def _draw_unit_contrasts(mode: str, annotation: Annotation, units: pd.DataFrame) -> np.ndarray:
    """``(draws, k_units)`` contrasts from the per-subject draws of an annotation."""
    draws = annotation.mor_contrast_draws
    if mode == "outcome":
        return draws
    sids = annotation.table["study_id"].to_numpy()
    cols = []
    for sid in units["study_id"]:
        cols.append(draws[:, sids == sid].mean(axis=1))
    return np.column_stack(cols)


def _adjusted(fitter: _Fitter, yi, vi, contrast, full: float, min_contrast: float):
    """Rescaled pooled estimate and the contrast-only regression prediction at ``full``."""
    contrast = np.asarray(contrast, float)
    keep = np.isfinite(contrast) & (contrast >= min_contrast)
    factor = np.where(keep, full / np.where(keep, contrast, 1.0), np.nan)
    y_adj = np.asarray(yi) * factor
    v_adj = np.asarray(vi) * factor**2
    rescaled_fit = fitter.fit(y_adj, v_adj, rows=keep if not keep.all() else None)
    rescaled = _coef_dict(rescaled_fit.coefficients[0])
    regression, reg_fit = None, None
    finite = np.isfinite(contrast)
    if finite.sum() >= 3 and np.ptp(contrast[finite]) > 1e-8:
        X = np.column_stack([np.ones(contrast.size), np.where(finite, contrast, 0.0)])
        try:
            reg_fit = fitter.fit(yi, vi, X, names=["intrcpt", "MOR_contrast"],
                                 rows=finite if not finite.all() else None)
            regression = _lincomb(reg_fit, [1.0, full])
        except Exception as exc:  # noqa: BLE001 - a collinear or unfittable regression is reported, not fatal
            from meta.errors import ConvergenceError, MetaInputError

            if not isinstance(exc, (MetaInputError, ConvergenceError)):
                raise
    return rescaled, rescaled_fit, regression, reg_fit, y_adj, v_adj, keep


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


def _study_power(se: np.ndarray, effect: float) -> np.ndarray:
    """Per-study power to detect ``effect`` at α = .05 from the SEs (meta.power, metameta ``mapower_se``)."""
    from meta.power import study_power

    return np.asarray(study_power(se, effect).power, float)


def reanalyse(data=None, settings: ReanalysisSettings | None = None) -> ReanalysisResult:
    """Run the blockade-adjusted reanalysis.

    Parameters
    ----------
    data : path, DataFrame, OutcomeTable or None
        An outcome-level table with effect sizes (three-level model), or ``None`` for the bundled review
        (random-effects on the 8 study aggregates, all 17 outcomes annotated).
    settings : ReanalysisSettings, optional

    Returns
    -------
    ReanalysisResult
    """
    settings = ReanalysisSettings() if settings is None else settings
    mode, table, units = _prepare(data, settings)
    warnings: list[str] = []
    annotation = annotate_outcomes(table, settings.annotation)
    warnings.extend(annotation.warnings)
    fitter = _Fitter(mode, units)
    yi, vi = units["yi"].to_numpy(float), units["vi"].to_numpy(float)

    # 1. pooled
    pooled = fitter.fit(yi, vi)

    # 2. contrasts and meta-regressions
    contrast = _unit_contrasts(mode, annotation, units)
    units = units.copy()
    units["MOR_contrast"] = contrast
    units["MOR_drug"] = _unit_contrasts(mode, annotation, units, "MOR_drug")
    units["MOR_placebo"] = _unit_contrasts(mode, annotation, units, "MOR_placebo")
    units["KOR_contrast"] = _unit_contrasts(mode, annotation, units, "KOR_contrast")
    regressions: dict[str, Any] = {}
    rescaled, rescaled_fit, regression, reg_fit, y_adj, v_adj, keep = _adjusted(
        fitter, yi, vi, contrast, settings.full_contrast, settings.min_contrast)
    if not keep.all():
        warnings.append(f"{int((~keep).sum())} unit(s) with a MOR contrast below {settings.min_contrast:g} pp were "
                        "left out of the rescaled estimate")
    units["yi_adj"], units["vi_adj"] = y_adj, v_adj
    regressions["contrast"] = reg_fit
    if reg_fit is None:
        warnings.append("meta-regression on the MOR contrast not fitted: the contrast is (nearly) constant")
    for extra, (X, names, rows) in _moderator_builders(mode, units).items():
        try:
            regressions[extra] = fitter.fit(yi, vi, X, names=names, rows=rows)
        except Exception as exc:  # noqa: BLE001
            from meta.errors import ConvergenceError, MetaInputError

            if not isinstance(exc, (MetaInputError, ConvergenceError)):
                raise
            warnings.append(f"meta-regression '{extra}' not fitted: {exc}")
            regressions[extra] = None

    adjusted = {
        "rescaled": {**rescaled, "k": int(keep.sum()), "full_contrast": settings.full_contrast,
                     "assumes": "effect proportional to the MOR contrast (g·100/c); none at zero contrast"},
        "regression": {**(regression or {"estimate": float("nan"), "se": float("nan"), "ci_lb": float("nan"),
                                         "ci_ub": float("nan")}),
                       "full_contrast": settings.full_contrast,
                       "assumes": "g linear in the MOR contrast; prediction at a full contrast (extrapolation)"},
    }

    # 3. sensitivity (one at a time) and Monte Carlo draws
    sensitivity = _sensitivity(mode, table, units, fitter, settings, rescaled, regression)
    mc = _monte_carlo(mode, table, units, fitter, settings)

    # 4. small-study and power checks on the study aggregates
    from meta.small_study import trim_and_fill

    agg = _aggregate_units(mode, units, settings.aggregate_rho)
    from meta.errors import ConvergenceError, MetaInputError

    try:
        trimfill = trim_and_fill(agg["yi"].to_numpy(float), agg["vi"].to_numpy(float), estimator="L0",
                                 method="REML")
    except (MetaInputError, ConvergenceError) as exc:
        trimfill = None
        warnings.append(f"trim-and-fill not computed: {exc}")
    power = _study_power(agg["sei"].to_numpy(float), settings.power_effect)

    return ReanalysisResult(
        mode=mode, settings=settings, annotation=annotation, units=units, pooled=pooled, regressions=regressions,
        adjusted=adjusted, rescaled_fit=rescaled_fit, sensitivity=sensitivity, mc=mc, trimfill=trimfill,
        power=power, power_units=agg, warnings=tuple(dict.fromkeys(warnings)),
    )


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


def _variants(settings: ReanalysisSettings) -> list[tuple[str, AnnotationSettings]]:
    base = settings.annotation
    out = []
    for m in settings.sensitivity_models:
        if m != base.model:
            out.append((f"model = {m}", replace(base, model=m, model_params={})))
    if base.model == "washout":
        for h in settings.sensitivity_half_lives_h:
            params = dict(base.model_params)
            params["half_life_h"] = h
            out.append((f"half-life = {h:g} h", replace(base, model_params=params)))
    for w in settings.sensitivity_windows:
        if w != base.window_point:
            out.append((f"window = {w}", replace(base, window_point=w)))
    return out


def _sensitivity(mode, table, units, fitter, settings, rescaled, regression) -> pd.DataFrame:
    rows = [{"variant": "base", "rescaled": rescaled["estimate"], "rescaled_ci_lb": rescaled["ci_lb"],
             "rescaled_ci_ub": rescaled["ci_ub"],
             "regression": regression["estimate"] if regression else float("nan"),
             "contrast_min": float(np.nanmin(units["MOR_contrast"])),
             "contrast_mean": float(np.nanmean(units["MOR_contrast"]))}]
    yi, vi = units["yi"].to_numpy(float), units["vi"].to_numpy(float)
    for label, ann_settings in _variants(settings):
        ann = annotate_outcomes(table, ann_settings)
        c = _unit_contrasts(mode, ann, units)
        r, _, reg, _, _, _, _ = _adjusted(fitter, yi, vi, c, settings.full_contrast, settings.min_contrast)
        rows.append({"variant": label, "rescaled": r["estimate"], "rescaled_ci_lb": r["ci_lb"],
                     "rescaled_ci_ub": r["ci_ub"], "regression": reg["estimate"] if reg else float("nan"),
                     "contrast_min": float(np.nanmin(c)), "contrast_mean": float(np.nanmean(c))})
    return pd.DataFrame(rows)


def _monte_carlo(mode, table, units, fitter, settings) -> dict:
    n = int(settings.draws)
    if n < 2:
        return {"n": 0}
    ann = annotate_outcomes(table, replace(settings.annotation, n=n, seed=settings.draws_seed))
    contrasts = _draw_unit_contrasts(mode, ann, units)
    yi, vi = units["yi"].to_numpy(float), units["vi"].to_numpy(float)
    rescaled = np.full(n, np.nan)
    regression = np.full(n, np.nan)
    iterator = range(n)
    bar = None
    if settings.progress:
        from tqdm import tqdm

        bar = tqdm(iterator, total=n, desc="Monte Carlo draws", unit="draw", file=sys.stderr, leave=False)
        iterator = bar
    for i in iterator:
        r, _, reg, _, _, _, _ = _adjusted(fitter, yi, vi, contrasts[i], settings.full_contrast, settings.min_contrast)
        rescaled[i] = r["estimate"]
        regression[i] = reg["estimate"] if reg else np.nan
    if bar is not None:
        bar.close()
    out = {"n": n, "seed": settings.draws_seed, "rescaled": rescaled, "regression": regression}
    for name, arr in (("rescaled", rescaled), ("regression", regression)):
        finite = arr[np.isfinite(arr)]
        if finite.size:
            q = np.quantile(finite, [0.025, 0.5, 0.975])
            out.update({f"{name}_p025": q[0], f"{name}_median": q[1], f"{name}_p975": q[2],
                        f"{name}_sd": float(finite.std(ddof=1)) if finite.size > 1 else 0.0})
    return out


# --------------------------------------------------------------------------------------------------
# Figures and report
# --------------------------------------------------------------------------------------------------


def forest_figure(result: ReanalysisResult):
    """Forest plot of the analysed units with their MOR contrast (pp) in an extra column."""
    from matplotlib.figure import Figure

    from meta.plots import forest_plot

    units = result.units
    contrast = [f"{c:.0f}" if math.isfinite(c) else "–" for c in units["MOR_contrast"]]
    rows = len(units) + (units["study_id"].nunique() if result.mode == "outcome" else 0) + 4
    fig = Figure(figsize=(12.0, 1.4 + 0.3 * rows), layout="constrained")
    ax = fig.add_subplot()
    if result.mode == "study":
        labels = [str(x) for x in units.get("label", units["study_id"])]
        forest_plot(result.pooled, labels=labels, extra_columns={"MOR contrast (pp)": contrast},
                    effect_label="g", digits=2, xlabel="Hedges' g (negative = lower under naltrexone)", ax=ax)
    else:
        names = units["context"] if "context" in units.columns else units["outcome"]
        labels = [str(c) if isinstance(c, str) and c.strip() else str(o) for c, o in zip(names, units["outcome"])]
        forest_plot(result.pooled, labels=labels, groups=units["study_id"].tolist(),
                    extra_columns={"MOR contrast (pp)": contrast}, effect_label="g", digits=2,
                    xlabel="Hedges' g (negative = lower under naltrexone)", ax=ax)
    return fig


def bubble_figure(result: ReanalysisResult):
    """Bubble plot of g against the MOR contrast with the meta-regression line (None if not fitted)."""
    fit = result.regressions.get("contrast")
    if fit is None:
        return None
    from meta.plots import bubble_plot

    ax = bubble_plot(fit, "MOR_contrast", xlabel="MOR blockade contrast, drug − placebo (pp)",
                     ylabel="Hedges' g")
    return ax.figure


#: Files written by :func:`write_reanalysis_outputs` (the bubble plot only when the regression was fitted).
OUTPUT_FILES = ("annotated_outcomes.csv", "analysis_units.csv", "sensitivity.csv", "results.json",
                "forest.png", "forest.svg", "bubble.png", "bubble.svg")


def write_reanalysis_outputs(result: ReanalysisResult, directory, *, json_text: str | None = None) -> list[Path]:
    """Write the annotated table, analysis units, sensitivity table, results JSON and the forest and bubble
    plots (PNG + SVG) into ``directory``.

    ``directory`` should be a fresh staging folder (:func:`occupancy.atomic_output.atomic_directory`), so a
    failure never leaves a partial result.  The figures are drawn before anything is written.
    """
    import json

    from meta.plots import save_figure

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    figures = {"forest": forest_figure(result), "bubble": bubble_figure(result)}
    if json_text is None:
        json_text = json.dumps(result.to_dict(), indent=2, allow_nan=False, ensure_ascii=False)
    written = []
    for name, frame in (("annotated_outcomes.csv", result.annotation.table), ("analysis_units.csv", result.units),
                        ("sensitivity.csv", result.sensitivity)):
        frame.to_csv(directory / name, index=False, float_format="%.6g")
        written.append(directory / name)
    (directory / "results.json").write_text(json_text + "\n", encoding="utf-8")
    written.append(directory / "results.json")
    for name, fig in figures.items():
        if fig is None:
            continue
        for suffix in (".png", ".svg"):
            written.append(save_figure(fig, directory / f"{name}{suffix}"))
    return written


def _share(fraction: float) -> str:
    return {0.0: "none", 0.5: "half", 1.0: "all"}.get(fraction, f"{100 * fraction:.0f} %")


def reanalysis_report_section(result: ReanalysisResult):
    """The reanalysis as an :class:`occupancy.report.ReportSection` (key numbers, figures, tables, assumptions)."""
    from occupancy.report import Assumption, KeyNumber, ReportFigure, ReportSection, ReportTable, figure_to_svg

    p = result.pooled_dict()
    a, b = result.adjusted["rescaled"], result.adjusted["regression"]
    table = result.annotation.table
    within = table[table["design"] == "within"]
    keys = [
        KeyNumber("Pooled effect (Hedges' g)", _ci(p),
                  "Naltrexone lowered social connectedness slightly; negative = lower under the drug."
                  + (" Reproduces the review's −0.20 [−0.32, −0.07]." if result.mode == "study" else "")),
        KeyNumber("Adjusted to a full MOR contrast (rescaled)", _ci(a),
                  "If the effect is proportional to how much more MOR blockade the drug condition had than "
                  "placebo, this is the effect of 100 % vs 0 % blockade."),
        KeyNumber("Adjusted (meta-regression at 100 pp)", _ci(b) if math.isfinite(b["estimate"]) else "–",
                  "Linear extrapolation of g to a full contrast; wide because few outcomes had a reduced contrast."),
    ]
    s = result.slope
    if s is not None:
        keys.append(KeyNumber("Slope of g on the MOR contrast", f"{s['estimate']:.4f} per pp (p = {s['p']:.2f})",
                              "How much g changes per percentage point of blockade contrast; a negative slope "
                              "means larger contrasts go with more negative effects."))
    for sid, grp in within.groupby("study_id", sort=False):
        keys.append(KeyNumber(f"MOR contrast, {sid}",
                              ", ".join(f"{v:.0f}" for v in grp["MOR_contrast"]) + " pp",
                              f"Drug {grp['MOR_drug'].mean():.0f} % vs placebo {grp['MOR_placebo'].mean():.0f} %: "
                              f"residual blockade from a drug session {grp['isi_days'].iloc[0]:g} days earlier "
                              f"({_share(float(grp['residual_fraction'].iloc[0]))} of the participants)."))
    if result.trimfill is not None:
        keys.append(KeyNumber("Trim-and-fill (study aggregates)", f"{result.trimfill.k0} missing (SE {result.trimfill.se_k0:.1f})",
                              "No studies were imputed; the review reports 0 missing (SE = 2)."
                              if result.trimfill.k0 == 0 else "Studies imputed on the funnel's sparse side."))
    keys.append(KeyNumber(f"Median power to detect g = {result.settings.power_effect:g}", f"{result.median_power:.2f}",
                          "Each study alone had a small chance of detecting an effect this size (review: 0.15)."))
    if len(result.sensitivity) > 1:
        lo, hi = result.sensitivity["rescaled"].min(), result.sensitivity["rescaled"].max()
        keys.append(KeyNumber("Sensitivity of the rescaled estimate", f"{lo:.3f} to {hi:.3f}",
                              "Range over models, half-lives and window ends."))
    if result.mc.get("n"):
        keys.append(KeyNumber("Monte Carlo spread (rescaled)",
                              f"{result.mc['rescaled_p025']:.3f} to {result.mc['rescaled_p975']:.3f}",
                              f"95 % of {result.mc['n']} draws of the population parameters."))

    figures = []
    for title, make, caption in (
        ("Forest plot with the MOR blockade contrast", forest_figure,
         "Each row's MOR contrast (drug − placebo, pp) is shown alongside its effect."),
        ("Effect size against the MOR blockade contrast", bubble_figure,
         "Meta-regression of g on the contrast; bubble size = model weight."),
    ):
        fig = make(result)
        if fig is not None:
            figures.append(ReportFigure(title=title, svg=figure_to_svg(fig), caption=caption))

    cols = ["study_id", "outcome", "design", "schedule_label", "window_h", "MOR_drug", "MOR_placebo", "MOR_contrast",
            "MOR_drug_p05", "MOR_drug_p95", "KOR_contrast", "DOR_contrast"]
    tables = [
        ReportTable.from_frame("Blockade annotation per outcome", table[cols],
                               caption="Percent blockade; contrast in percentage points."),
        ReportTable.from_frame("Sensitivity of the adjusted estimates", result.sensitivity),
    ]
    return ReportSection(
        title="Blockade-adjusted reanalysis of the naltrexone literature",
        intro=(("Each outcome of Løseth, Trøstheim & Leknes (2024) is annotated" if result.mode == "study" else
                f"Each of the {len(result.annotation)} outcomes of {result.annotation.source} is annotated")
               + " with the MOR blockade its participants most likely had, including residual blockade carried into "
               "the placebo session of short-washout crossovers; the blockade contrast feeds a meta-regression and "
               "a blockade-adjusted pooled estimate."),
        key_numbers=tuple(keys), figures=tuple(figures), tables=tuple(tables),
        assumptions=tuple(Assumption(text=t, source=s) for t, s in ASSUMPTIONS),
    )
