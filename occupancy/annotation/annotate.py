"""Blockade annotation of meta-analysis outcomes: how blocked were the receptors when the outcome was measured?

For every outcome of a validated outcome table (:mod:`occupancy.annotation.literature`) this module simulates the drug
session's naltrexone schedule and adds, for MOR, KOR and DOR:

* **drug condition** — blockade over the assessment window after each assessed dose: ``{R}_drug_min``,
  ``{R}_drug_mean``, ``{R}_drug_max`` (typical subject, i.e. the model's median parameters), and over a
  virtual population (per-subject window means): ``{R}_drug_p05``, ``{R}_drug_p95``, ``{R}_drug_popmean``.
* **placebo condition** — residual blockade in within-subject designs.  The placebo session's doses are
  ``isi_days`` after the corresponding drug-session doses (``isi_from="first_dose"``; or after the drug
  session's last dose, ``isi_from="last_dose"``).  Only participants who had the drug session *first* carry
  residual blockade: all of them for ``crossover_order="drug_first"``, none for ``placebo_first``, and
  **half** for ``counterbalanced`` (the default: randomised, balanced order).  The placebo condition's
  mean blockade is therefore ``fraction × residual`` of the carriers; its population percentiles are those
  of the mixture (a point mass at 0 with weight ``1 − fraction`` and the carriers' residuals).  Between-
  subject designs have 0 in the placebo condition.
* **contrast** — ``{R}_contrast = {R}_drug − {R}_placebo`` in percentage points, where ``{R}_drug`` and
  ``{R}_placebo`` are the population means over the window (``n ≥ 2``) or the typical subject's window
  mean (``n = 0``).

The window summary is the time average over ``grid_points`` equally spaced times per assessed dose
(``window_point="mean"``), or the blockade at the window's start or end (``"start"``/``"end"``, used by the
sensitivity analysis).  With the ``emax`` model (plantrexone's curve, defined only within 8 h of a dose),
times outside its validity are ignored in the drug condition, and a placebo session days later has no
residual blockade (the model has no time course) — both are reported as warnings.

Everything is vectorised over the time grid and the virtual subjects; the only Python loop is over
outcomes (×3 receptors).  The per-subject contrasts are kept (``Annotation.mor_contrast_draws``, shape
``(n, k)``): each row is one draw of the population parameters applied to every participant, which the
reanalysis's Monte Carlo sensitivity uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from occupancy.errors import InputError
from occupancy.annotation.literature import DEFAULT_WINDOW_H, OutcomeDesign, OutcomeTable

__all__ = [
    "AnnotationSettings",
    "Annotation",
    "annotate",
    "annotate_outcomes",
    "RESIDUAL_FRACTION",
    "ANNOTATION_COLUMNS",
    "WINDOW_POINTS",
]

RECEPTORS = ("MOR", "KOR", "DOR")

#: Share of participants whose placebo session follows a drug session, by crossover order.
RESIDUAL_FRACTION = {"counterbalanced": 0.5, "drug_first": 1.0, "placebo_first": 0.0, "": 0.0}

#: How a window is summarised.
WINDOW_POINTS = ("mean", "start", "end")

_STATS = ("min", "mean", "max", "p05", "p95", "popmean")

#: Columns added by :func:`annotate` (besides ``schedule_label``, ``window_h`` and ``residual_fraction``).
ANNOTATION_COLUMNS: tuple[str, ...] = tuple(
    [f"{r}_{cond}_{s}" for r in RECEPTORS for cond in ("drug", "placebo") for s in _STATS]
    + [f"{r}_{x}" for r in RECEPTORS for x in ("drug", "placebo", "contrast")]
)


@dataclass(frozen=True)
class AnnotationSettings:
    """Model and simulation choices for an annotation.

    Parameters
    ----------
    model : str
        ``"washout"`` (default; blockade over days) or ``"emax"`` (plantrexone, within 8 h of a dose).
    model_params : mapping
        Parameter overrides for :func:`occupancy.models.get_model`, e.g. ``{"half_life_h": 108}``.
    n : int
        Virtual subjects (0 → typical subject only; otherwise ≥ 2).
    seed : int
        Seed of the population draw.
    variability : Variability, optional
        Between-subject log-SDs; default :func:`occupancy.simulation.population.default_variability`.
    window_point : str
        ``"mean"`` (time average over the window), ``"start"`` or ``"end"``.
    grid_points : int
        Times per assessed-dose window (``window_point="mean"``).
    isi_from : str
        ``"first_dose"``: the ISI separates corresponding doses of the two sessions; ``"last_dose"``: the
        placebo session starts ``isi_days`` after the drug session's last dose.
    default_window_h : (float, float)
        Window used for rows without one (the table loader applies it and warns).
    """

    model: str = "washout"
    model_params: Mapping[str, float] = field(default_factory=dict)
    n: int = 1000
    seed: int = 1
    variability: Any = None
    window_point: str = "mean"
    grid_points: int = 25
    isi_from: str = "first_dose"
    default_window_h: tuple[float, float] = DEFAULT_WINDOW_H

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_params", dict(self.model_params))
        if self.window_point not in WINDOW_POINTS:
            raise InputError(f"reanalysis.window_point: unknown value {self.window_point!r} "
                             f"(use {', '.join(WINDOW_POINTS)})")
        if self.isi_from not in ("first_dose", "last_dose"):
            raise InputError(f"reanalysis.isi_from: unknown value {self.isi_from!r} (use first_dose or last_dose)")
        from occupancy.simulation.scenario import MAX_SEED, MAX_SUBJECTS

        if int(self.n) != self.n or self.n < 0 or self.n == 1 or self.n > MAX_SUBJECTS:
            raise InputError(f"population.n: must be 0 (typical subject only) or an integer from 2 to "
                             f"{MAX_SUBJECTS} (got {self.n})")
        if not isinstance(self.seed, (int, np.integer)) or not 0 <= self.seed <= MAX_SEED:
            raise InputError(f"population.seed: must be an integer from 0 to {MAX_SEED} (got {self.seed})")
        if int(self.grid_points) != self.grid_points or not 2 <= self.grid_points <= 1000:
            raise InputError(f"reanalysis.grid_points: must be an integer from 2 to 1000 (got {self.grid_points})")
        lo, hi = self.default_window_h
        if not (0 <= lo <= hi):
            raise InputError(f"reanalysis.default_window_h: need 0 <= min <= max (got {lo}, {hi})")

    def build_model(self):
        """The blockade model (``get_model("naltrexone", model, **model_params)``)."""
        from occupancy.models import get_model

        return get_model("naltrexone", self.model, **self.model_params)

    def resolved_variability(self):
        """The variability used (the drug's documented default when none was given)."""
        if self.variability is not None:
            return self.variability
        from occupancy.simulation.population import default_variability

        return default_variability("naltrexone")

    def describe(self) -> str:
        """One line naming the model, overrides and population."""
        params = ", ".join(f"{k}={v:g}" for k, v in self.model_params.items())
        pop = f"n={self.n}, seed={self.seed}" if self.n else "typical subject"
        return f"{self.model}{f' ({params})' if params else ''}; {pop}; window {self.window_point}"

    def to_dict(self) -> dict:
        """JSON-ready settings."""
        var = self.resolved_variability() if self.n else None
        return {"model": self.model, "model_params": dict(self.model_params), "n": self.n, "seed": self.seed,
                "variability": var.to_dict() if var is not None else None, "window_point": self.window_point,
                "grid_points": self.grid_points, "isi_from": self.isi_from,
                "default_window_h": list(self.default_window_h)}


@dataclass(frozen=True)
class Annotation:
    """An annotated outcome table.

    Attributes
    ----------
    table : DataFrame
        The validated outcome table with the annotation columns (:data:`ANNOTATION_COLUMNS`) and
        ``schedule_label``, ``window_h`` (``"lo–hi"``), ``residual_fraction`` added.
    settings : AnnotationSettings
    warnings : tuple of str
    mor_contrast_draws : ndarray or None
        ``(n, k)`` MOR contrasts with each virtual subject's parameters applied to all participants of an
        outcome (rows = parameter draws, columns = outcomes); ``None`` when ``n = 0``.
    """

    table: pd.DataFrame
    settings: AnnotationSettings
    warnings: tuple[str, ...] = ()
    mor_contrast_draws: np.ndarray | None = None
    source: str = "outcomes"

    def __len__(self) -> int:
        return len(self.table)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the annotated table."""
        return self.table.copy()

    def outcome_records(self) -> list[dict]:
        """One JSON-ready object per outcome (ids, design, window and the annotation columns)."""
        keep = ["study_id", "outcome", "design", "isi_days", "crossover_order", "schedule_label", "window_h",
                "window_defaulted", "residual_fraction", *ANNOTATION_COLUMNS]
        if "yi" in self.table.columns:
            keep += ["yi", "vi"]
        return [_jsonable(rec) for rec in self.table[keep].to_dict("records")]

    def study_contrasts(self, receptor: str = "MOR") -> pd.DataFrame:
        """Mean contrast (and drug/placebo blockade) over each study's outcomes, in first-appearance order."""
        cols = [f"{receptor}_drug", f"{receptor}_placebo", f"{receptor}_contrast"]
        grouped = self.table.groupby("study_id", sort=False)[cols].mean()
        grouped["n_outcomes"] = self.table.groupby("study_id", sort=False).size()
        return grouped.reset_index()

    def to_dict(self) -> dict:
        """JSON-ready: settings, warnings and the outcome records."""
        return {"settings": self.settings.to_dict(), "warnings": list(self.warnings),
                "outcomes": self.outcome_records()}

    def summary(self) -> str:
        """A short text table of the MOR annotation."""
        lines = [f"Blockade annotation of {len(self)} outcomes ({self.settings.describe()})",
                 f"{'study':<24}{'out':>4} {'design':<8}{'MOR drug':>9}{'placebo':>9}{'contrast':>9}"]
        for rec in self.table.itertuples(index=False):
            lines.append(f"{rec.study_id:<24}{rec.outcome:>4} {rec.design:<8}{rec.MOR_drug:9.1f}"
                         f"{rec.MOR_placebo:9.1f}{rec.MOR_contrast:9.1f}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)


def _jsonable(rec: Mapping) -> dict:
    out = {}
    for key, value in rec.items():
        if isinstance(value, (np.floating, float)):
            value = float(value)
            out[key] = None if math.isnan(value) else value
        elif isinstance(value, np.integer):
            out[key] = int(value)
        elif isinstance(value, np.bool_):
            out[key] = bool(value)
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------------------------------
# Core
# --------------------------------------------------------------------------------------------------


def _window_offsets(design: OutcomeDesign, settings: AnnotationSettings) -> np.ndarray:
    """Times (h, first dose at 0) at which the drug condition is summarised."""
    lo, hi = design.window_h
    if settings.window_point == "start":
        rel = np.array([lo])
    elif settings.window_point == "end":
        rel = np.array([hi])
    else:
        rel = np.linspace(lo, hi, settings.grid_points) if hi > lo else np.array([lo])
    return (design.assessed_dose_times_h[:, None] + rel[None, :]).ravel()


def _placebo_shift_h(design: OutcomeDesign, settings: AnnotationSettings) -> float:
    shift = float(design.isi_days or 0.0) * 24.0
    if settings.isi_from == "last_dose":
        shift += float(design.dose_times_h[-1])
    return shift


def _mixture_quantile(values: np.ndarray, fraction: float, q: float) -> float:
    """Quantile ``q`` of a mixture: 0 with weight ``1 − fraction``, ``values`` (≥ 0) with ``fraction``."""
    if fraction <= 0 or values.size == 0:
        return 0.0
    if q <= 1.0 - fraction:
        return 0.0
    return float(np.quantile(values, (q - (1.0 - fraction)) / fraction))


def annotate_outcomes(table: OutcomeTable, settings: AnnotationSettings | None = None) -> Annotation:
    """Annotate every outcome of a validated table with drug/placebo blockade and the contrast.

    Parameters
    ----------
    table : OutcomeTable
        From :func:`occupancy.annotation.literature.load_outcomes` / :func:`~occupancy.annotation.literature.validate_outcome_table`.
    settings : AnnotationSettings, optional

    Returns
    -------
    Annotation
    """
    settings = AnnotationSettings() if settings is None else settings
    model = settings.build_model()
    has_time_course = settings.model != "emax"
    scales = None
    if settings.n:
        scales = settings.resolved_variability().draw(int(settings.n), settings.seed)
    warnings = list(table.warnings)
    k = len(table.designs)
    values: dict[str, np.ndarray] = {c: np.full(k, np.nan) for c in ANNOTATION_COLUMNS}
    fractions = np.zeros(k)
    draws = np.full((int(settings.n), k), np.nan) if settings.n else None

    for j, design in enumerate(table.designs):
        schedule = design.schedule()
        t_drug = _window_offsets(design, settings)
        fraction = RESIDUAL_FRACTION[design.crossover_order] if design.design == "within" else 0.0
        fractions[j] = fraction
        t_plac = t_drug + _placebo_shift_h(design, settings)
        label = f"row {design.row} ({design.study_id} outcome {design.outcome})"
        for r in RECEPTORS:
            typ = np.asarray(model.blockade(schedule, t_drug, r), dtype=float)
            if np.isnan(typ).all():
                if r == "MOR":
                    warnings.append(f"{label}: the {settings.model} model is undefined over the whole "
                                    "assessment window; no blockade annotation")
                continue
            if np.isnan(typ).any() and r == "MOR":
                warnings.append(f"{label}: the {settings.model} model is defined only on part of the "
                                "assessment window (within 8 h of a dose); the rest is ignored")
            values[f"{r}_drug_min"][j] = np.nanmin(typ)
            values[f"{r}_drug_mean"][j] = np.nanmean(typ)
            values[f"{r}_drug_max"][j] = np.nanmax(typ)
            if fraction > 0 and has_time_course:
                res_typ = fraction * np.asarray(model.blockade(schedule, t_plac, r), dtype=float)
            else:
                res_typ = np.zeros_like(t_plac)
            if fraction > 0 and not has_time_course and r == "MOR":
                warnings.append(f"{label}: the emax model has no time course; residual blockade in the "
                                "placebo session is taken as 0")
            values[f"{r}_placebo_min"][j] = res_typ.min()
            values[f"{r}_placebo_mean"][j] = res_typ.mean()
            values[f"{r}_placebo_max"][j] = res_typ.max()
            if scales is not None:
                subj = np.nanmean(model.blockade(schedule, t_drug, r, **scales), axis=1)
                if fraction > 0 and has_time_course:
                    res = np.nanmean(model.blockade(schedule, t_plac, r, **scales), axis=1)
                else:
                    res = np.zeros_like(subj)
                values[f"{r}_drug_p05"][j], values[f"{r}_drug_p95"][j] = np.quantile(subj, [0.05, 0.95])
                values[f"{r}_drug_popmean"][j] = subj.mean()
                values[f"{r}_placebo_p05"][j] = _mixture_quantile(res, fraction, 0.05)
                values[f"{r}_placebo_p95"][j] = _mixture_quantile(res, fraction, 0.95)
                values[f"{r}_placebo_popmean"][j] = fraction * res.mean()
                if r == "MOR":
                    draws[:, j] = subj - fraction * res
            use = "popmean" if scales is not None else "mean"
            values[f"{r}_drug"][j] = values[f"{r}_drug_{use}"][j]
            values[f"{r}_placebo"][j] = values[f"{r}_placebo_{use}"][j]
            values[f"{r}_contrast"][j] = values[f"{r}_drug"][j] - values[f"{r}_placebo"][j]

    out = table.frame.copy()
    out["schedule_label"] = [d.schedule_label for d in table.designs]
    out["window_h"] = [f"{d.window_h[0]:g}–{d.window_h[1]:g}" for d in table.designs]
    out["residual_fraction"] = fractions
    for column in ANNOTATION_COLUMNS:
        out[column] = values[column]
    return Annotation(table=out, settings=settings, warnings=tuple(dict.fromkeys(warnings)),
                      mor_contrast_draws=draws, source=table.source)


def annotate(data=None, settings: AnnotationSettings | None = None) -> Annotation:
    """Annotate a CSV path, a DataFrame, an :class:`OutcomeTable`, or (``None``) the bundled outcomes."""
    from occupancy.annotation.literature import load_outcomes, validate_outcome_table

    settings = AnnotationSettings() if settings is None else settings
    if isinstance(data, OutcomeTable):
        table = data
    elif isinstance(data, pd.DataFrame):
        table = validate_outcome_table(data, source="outcomes", default_window_h=settings.default_window_h)
    else:
        table = load_outcomes(data, default_window_h=settings.default_window_h)
    return annotate_outcomes(table, settings)
