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

Outcomes with the same design are computed once, and all designs that share a schedule are evaluated
together in blocks of at most :data:`MAX_ELEMENTS` subject × time values (vectorised over time points,
designs and virtual subjects; bounded memory for any number of rows or subjects).  The per-subject contrasts are kept (``Annotation.mor_contrast_draws``, shape
``(n, k)``): each row is one draw of the population parameters applied to every participant, which the
reanalysis's Monte Carlo sensitivity uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from meta.display import ResultDisplay
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
    "ANNOTATION_POINT_COST",
]

RECEPTORS = ("MOR", "KOR", "DOR")

#: Share of participants whose placebo session follows a drug session, by crossover order.
RESIDUAL_FRACTION = {"counterbalanced": 0.5, "drug_first": 1.0, "placebo_first": 0.0, "": 0.0}

#: Outcomes listed in the text summary (the CSV and JSON have all of them).
SUMMARY_ROWS = 50

#: How a window is summarised.
WINDOW_POINTS = ("mean", "start", "end")

_STATS = ("min", "mean", "max", "p05", "p95", "popmean")

#: Columns added by :func:`annotate` (besides ``schedule_label``, ``window_h`` and ``residual_fraction``).
ANNOTATION_COLUMNS: tuple[str, ...] = tuple(
    [f"{r}_{cond}_{s}" for r in RECEPTORS for cond in ("drug", "placebo") for s in _STATS]
    + [f"{r}_{x}" for r in RECEPTORS for x in ("drug", "placebo", "contrast")]
)
#: Columns added by :func:`annotate_model_uncertainty` (``--model-draws``): the MOR contrast's median and
#: interval over the model ensemble (2.5–97.5 % from 40 pooled draws, else min–max) and the smallest and largest
#: per-structure median.
MODEL_UNCERTAINTY_COLUMNS: tuple[str, ...] = ("MOR_contrast_model_median", "MOR_contrast_model_lo",
                                              "MOR_contrast_model_hi", "MOR_contrast_structures_min",
                                              "MOR_contrast_structures_max")
#: Fewest pooled draws for a 2.5–97.5 % interval (fewer: min–max), as in simulate and the reanalysis.
MIN_DRAWS_FOR_95 = 40


@dataclass(frozen=True)
class AnnotationSettings:
    """Model and simulation choices for an annotation.

    Parameters
    ----------
    model : str
        ``"pkpd"`` (default; mechanistic plasma → effect site → competitive binding, with its hysteresis
        variant in ``model_params``), ``"washout"`` (fitted blockade time course over days) or ``"emax"``
        (plantrexone, within 8 h of a dose).
    model_params : mapping
        Parameter overrides for :func:`occupancy.models.get_model`, e.g. ``{"hysteresis": "binding_kinetics"}``
        or ``{"k_mor_ng_ml": 0.2}`` (pkpd), ``{"half_life_h": 108}`` (washout).
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

    model: str = "pkpd"
    model_params: Mapping[str, Any] = field(default_factory=dict)
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

        return default_variability(self.build_model())

    def describe(self) -> str:
        """One line naming the model, overrides and population."""
        params = ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                           for k, v in self.model_params.items())
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
class Annotation(ResultDisplay):
    """An annotated outcome table.

    Attributes
    ----------
    table : DataFrame
        The validated outcome table with the annotation columns (:data:`ANNOTATION_COLUMNS`) and
        ``schedule_label``, ``window_h`` (``"lo–hi"``), ``residual_fraction`` added.
    settings : AnnotationSettings
    warnings : tuple of str
    draws_by_design, design_index :
        Each virtual subject's MOR contrast per distinct design ``(n, designs)`` and the design of each
        outcome; :attr:`mor_contrast_draws` expands them to ``(n, k)`` (``None`` when ``n = 0`` or the
        draws were not kept).
    """

    table: pd.DataFrame
    settings: AnnotationSettings
    warnings: tuple[str, ...] = ()
    draws_by_design: np.ndarray | None = field(default=None, repr=False)
    design_index: np.ndarray | None = field(default=None, repr=False)
    source: str = "outcomes"
    #: The model ensemble behind :data:`MODEL_UNCERTAINTY_COLUMNS` (draws, seed, structures), or None.
    model_uncertainty: dict | None = None

    @property
    def mor_contrast_draws(self) -> np.ndarray | None:
        """``(n, k)`` per-subject MOR contrasts (rows = parameter draws, columns = outcomes), or None."""
        if self.draws_by_design is None:
            return None
        return self.draws_by_design[:, self.design_index]

    def mor_contrast_draw(self, i: int) -> np.ndarray:
        """Row ``i`` of :attr:`mor_contrast_draws` without building the whole matrix."""
        return self.draws_by_design[i, self.design_index]

    def __len__(self) -> int:
        return len(self.table)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the annotated table."""
        return self.table.copy()

    def outcome_records(self) -> list[dict]:
        """One JSON-ready object per outcome (ids, design, window and the annotation columns)."""
        return [rec for chunk in self.outcome_record_chunks() for rec in chunk]

    def outcome_record_chunks(self, size: int = 10_000):
        """:meth:`outcome_records` in lists of at most ``size`` records (bounded memory for long tables)."""
        keep = ["study_id", "outcome", "design", "isi_days", "crossover_order", "schedule_label", "window_h",
                "window_defaulted", "residual_fraction", *ANNOTATION_COLUMNS]
        keep += [c for c in MODEL_UNCERTAINTY_COLUMNS if c in self.table.columns]
        if "yi" in self.table.columns:
            keep += ["yi", "vi"]
        for a in range(0, len(self.table), size):
            yield [_jsonable(rec) for rec in self.table[keep].iloc[a:a + size].to_dict("records")]

    def iter_outcome_records(self):
        """The outcome records one at a time (for :func:`occupancy.json_stream.write_json`)."""
        for chunk in self.outcome_record_chunks():
            yield from chunk

    def write_json(self, handle) -> None:
        """Write :meth:`to_dict` as indented JSON, the outcomes streamed (bounded memory)."""
        from occupancy.json_stream import write_json

        payload = {"settings": self.settings.to_dict(), "warnings": list(self.warnings), "outcomes": None}
        if self.model_uncertainty is not None:
            payload = {"settings": payload["settings"], "model_uncertainty": self.model_uncertainty,
                       "warnings": payload["warnings"], "outcomes": None}
        write_json(payload, handle, {"outcomes": self.iter_outcome_records})

    def study_contrasts(self, receptor: str = "MOR") -> pd.DataFrame:
        """Mean contrast (and drug/placebo blockade) over each study's outcomes, in first-appearance order."""
        cols = [f"{receptor}_drug", f"{receptor}_placebo", f"{receptor}_contrast"]
        grouped = self.table.groupby("study_id", sort=False)[cols].mean()
        grouped["n_outcomes"] = self.table.groupby("study_id", sort=False).size()
        return grouped.reset_index()

    def to_dict(self) -> dict:
        """JSON-ready: settings, warnings and the outcome records."""
        out = {"settings": self.settings.to_dict(), "warnings": list(self.warnings),
               "outcomes": self.outcome_records()}
        if self.model_uncertainty is not None:
            out["model_uncertainty"] = self.model_uncertainty
        return out

    def model_uncertainty_lines(self) -> list[str]:
        """Plain words on the MOR contrasts' model uncertainty (empty when it was not computed)."""
        mu = self.model_uncertainty
        if mu is None or "MOR_contrast_model_lo" not in self.table.columns:
            return []
        t = self.table
        width = (t["MOR_contrast_model_hi"] - t["MOR_contrast_model_lo"]).to_numpy(float)
        spread = (t["MOR_contrast_structures_max"] - t["MOR_contrast_structures_min"]).to_numpy(float)
        s = len(mu["structures"])
        names = ", ".join(f"{x['name']} (weight {x['weight']:.2f})" for x in mu["structures"])
        lines = [f"model uncertainty of the MOR contrast ({mu['draws']} draws of {s} admissible structure"
                 f"{'s' if s != 1 else ''}: {names}; {mu['interval']}): widest {np.nanmax(width):.1f} pp, "
                 f"median width {np.nanmedian(width):.1f} pp over the outcomes"]
        depends = int(np.sum(spread > 2.0))
        if s > 1 and depends:
            lines.append(f"the MOR contrast depends on the model structure for {depends} of {len(t)} outcomes "
                         f"(the structures' medians differ by up to {np.nanmax(spread):.1f} pp)")
        return lines

    def key_numbers(self) -> list[tuple[str, str]]:
        """Outcomes, the settings, and the range and mean of the MOR drug–placebo contrast."""
        c = self.table["MOR_contrast"].astype(float) if "MOR_contrast" in self.table.columns else None
        out = [("outcomes", str(len(self))), ("settings", self.settings.describe())]
        if c is not None and c.notna().any():
            out.append(("MOR contrast", f"mean {c.mean():.1f} pp, range {c.min():.1f}–{c.max():.1f} pp"))
        if self.warnings:
            out.append(("warnings", str(len(self.warnings))))
        return out

    def summary(self) -> str:
        """A short text table of the MOR annotation."""
        lines = [f"Blockade annotation of {len(self)} outcomes ({self.settings.describe()})",
                 f"{'study':<24}{'out':>4} {'design':<8}{'MOR drug':>9}{'placebo':>9}{'contrast':>9}"]
        for rec in self.table.head(SUMMARY_ROWS).itertuples(index=False):
            lines.append(f"{rec.study_id:<24}{rec.outcome:>4} {rec.design:<8}{_cell(rec.MOR_drug)}"
                         f"{_cell(rec.MOR_placebo)}{_cell(rec.MOR_contrast)}")
        if len(self) > SUMMARY_ROWS:
            lines.append(f"... {len(self) - SUMMARY_ROWS} more outcomes (all of them: --out FILE.csv or --json)")
        lines += self.model_uncertainty_lines()
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)


def _cell(value: float) -> str:
    """A 9-wide table cell with one decimal; ``n/a`` where the model gives no value (a warning says why)."""
    return f"{'n/a':>9}" if value != value else f"{value:9.1f}"


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


def _distinct_designs(table: OutcomeTable, settings: AnnotationSettings):
    """``(unique, remap, codes)``: the distinct (design, crossover share, placebo shift) of the table, the index
    of each candidate design in ``unique`` and each row's candidate (cheap: no model call)."""
    k = len(table.designs)
    keys: dict[tuple, int] = {}
    unique: list[tuple[OutcomeDesign, float, float]] = []
    if table.design_codes is not None and len(table.design_codes) == k:  # rows already grouped by design
        codes = np.asarray(table.design_codes)
        firsts = pd.Series(np.arange(k)).groupby(codes, sort=True).first().to_numpy()
        candidates = [table.designs[i] for i in firsts]
    else:
        codes, candidates = np.arange(k), list(table.designs)
    remap = np.empty(len(candidates), dtype=int)
    for c, design in enumerate(candidates):
        fraction = RESIDUAL_FRACTION[design.crossover_order] if design.design == "within" else 0.0
        shift = _placebo_shift_h(design, settings)
        key = _design_key(design, fraction, shift)
        u = keys.get(key)
        if u is None:
            u = keys[key] = len(unique)
            unique.append((design, fraction, shift))
        remap[c] = u
    return unique, remap, codes


def _work(unique, settings: AnnotationSettings, has_time_course: bool) -> tuple[int, int]:
    """``(most doses of one schedule, evaluated time points)`` of annotating ``unique`` designs, counted
    without building the grids: the drug window of every assessed dose, and the placebo window again for a
    crossover with residual blockade (what :func:`annotate_outcomes` evaluates for every virtual subject)."""
    per_window = 1 if settings.window_point in ("start", "end") else settings.grid_points
    doses = points = 0
    for design, fraction, _shift in unique:
        lo, hi = design.window_h
        size = len(design.assessed_dose_times_h) * (per_window if hi > lo else 1)
        points += size * (2 if fraction > 0 and has_time_course else 1)
        doses = max(doses, len(design.doses_mg))
    return doses, points


def annotation_work(table: OutcomeTable, settings: AnnotationSettings) -> tuple[int, int]:
    """``(most doses of one schedule, time points per virtual subject)`` that annotating ``table`` with
    ``settings`` evaluates, for the up-front limits of
    :func:`occupancy.simulation.simulate.check_population_work` (``blockade reanalyse`` adds up its runs)."""
    unique, _remap, _codes = _distinct_designs(table, settings)
    return _work(unique, settings, settings.model != "emax")


#: Cost of one annotation subject-time point in simulate's units (:data:`MAX_SUBJECT_POINTS
#: <occupancy.simulation.simulate.MAX_SUBJECT_POINTS>`): an annotation evaluates the crossover contrast and the
#: per-outcome summaries at every point. Measured (issue 18, item 8; 2 cores, loaded machine, CPU time, three
#: runs each): ``simulate`` of naltrexone 50 mg with two 4 h windows at n = 20,000 (8.0e7 subject-points) took
#: 3.85–3.92 s (48–49 ns a point), annotating the bundled review at n = 20,000 (7.5e6 subject-points) took
#: 0.70–1.08 s (93–143 ns a point): about 2 times as much per point.  Earlier, a default ``reanalyse`` at
#: n = 100,000 (just under the uncosted limit, ~1e9 points) took 95 s of CPU, the same ~95 ns a point.
#: With the cost, the largest accepted default reanalysis (n = 56,139, 5e8 points) took 49 s of CPU.
ANNOTATION_POINT_COST = 2


def check_annotation_runs(table: OutcomeTable, runs, *, field: str, what: str, advice: str) -> None:
    """Refuse, up front and in one line, work made of several annotations of ``table`` beyond the limits.

    ``runs`` are ``(settings, repeats)``: each annotation evaluates ``max(settings.n, 1)`` subjects (the
    typical subject alone counts as one) over :func:`annotation_work`'s time points, ``repeats`` times.

    Notes
    -----
    The limits are ``blockade simulate``'s (:func:`occupancy.simulation.simulate.check_population_work`):
    memory per annotation (subjects × doses of a schedule), and time over all of them together (subjects ×
    time points × :data:`ANNOTATION_POINT_COST` within :data:`~occupancy.simulation.simulate.MAX_SUBJECT_POINTS`),
    because a reanalysis or an annotation with model uncertainty runs them one after the other in the same
    command, and an annotation point costs about twice a simulate point (measured).
    """
    from occupancy.simulation.simulate import MAX_SUBJECT_POINTS, check_population_work

    total, cache = 0, {}
    for ann_settings, repeats in runs:
        if not repeats:
            continue
        key = (ann_settings.window_point, ann_settings.grid_points, ann_settings.isi_from,
               ann_settings.model != "emax")
        if key not in cache:
            cache[key] = annotation_work(table, ann_settings)
        doses, points = cache[key]
        n = int(ann_settings.n)
        if n:
            check_population_work(n, doses, 0, field=field)
        total += int(repeats) * max(n, 1) * points
    if ANNOTATION_POINT_COST * total > MAX_SUBJECT_POINTS:
        raise InputError(f"{field}: {what} evaluate {total:,} subject-time points, as much as "
                         f"{ANNOTATION_POINT_COST * total:,} of simulate's (an annotation point costs "
                         f"{ANNOTATION_POINT_COST}), more than one run computes in about a minute "
                         f"({MAX_SUBJECT_POINTS:,}); {advice}")


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


def _mixture_quantiles(values: np.ndarray, fractions: np.ndarray, q: float) -> np.ndarray:
    """:func:`_mixture_quantile` for every column of ``values`` (n, m) with its own fraction (vectorised)."""
    out = np.zeros(values.shape[1])
    for f in np.unique(fractions):
        cols = np.flatnonzero(fractions == f)
        if f <= 0 or q <= 1.0 - f:
            continue
        out[cols] = np.quantile(values[:, cols], (q - (1.0 - f)) / f, axis=0)
    return out


#: Subject × time values evaluated at once (a few float64 arrays of this size: bounded memory for any n).
MAX_ELEMENTS = 2_000_000
#: Largest (virtual subjects × distinct outcome designs) kept as per-subject contrasts (160 MB).
MAX_KEPT_DRAWS = 20_000_000


def _design_key(d: OutcomeDesign, fraction: float, shift: float) -> tuple:
    return (d.doses_mg, d.interval_h, d.assess_doses, d.window_h, fraction, shift)


def _rows_label(first: int, count: int, table: OutcomeTable) -> str:
    d = table.designs[first]
    label = f"row {d.row} ({d.study_id} outcome {d.outcome})"
    return label if count == 1 else f"{label} and {count - 1} more row(s) with the same design"


class _Segments:
    """Concatenated time points of several segments, with per-segment nan-aware reductions."""

    def __init__(self, grids: list[np.ndarray]):
        self.lengths = np.array([g.size for g in grids], dtype=int)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(int)
        self.times = np.concatenate(grids) if grids else np.zeros(0)
        self.seg_of = np.repeat(np.arange(len(grids)), self.lengths)


def annotate_outcomes(table: OutcomeTable, settings: AnnotationSettings | None = None, *,
                      keep_draws: bool = True, progress: bool = False, model=None) -> Annotation:
    """Annotate every outcome of a validated table with drug/placebo blockade and the contrast.

    Outcomes with the same design (schedule, assessed doses, window, crossover share and ISI) are computed
    once; designs that share a schedule are evaluated together, one model call per block of at most
    :data:`MAX_ELEMENTS` subject × time values, so time and memory stay bounded for any number of rows and
    virtual subjects.

    Parameters
    ----------
    table : OutcomeTable
        From :func:`occupancy.annotation.literature.load_outcomes` / :func:`~occupancy.annotation.literature.validate_outcome_table`.
    settings : AnnotationSettings, optional
    keep_draws : bool
        Keep each virtual subject's MOR contrast per outcome (:attr:`Annotation.mor_contrast_draws`, used by
        the Monte Carlo sensitivity).  Refused when subjects × distinct designs exceeds
        :data:`MAX_KEPT_DRAWS`.
    progress : bool
        A tqdm progress bar on stderr.
    model : BlockadeModel, optional
        Use this model instead of ``settings.build_model()`` (same class and variant, so the same
        between-subject multipliers): e.g. one of :meth:`~occupancy.models.pkpd_base.PKPDModel.parameter_draws`
        for the reanalysis's parameter-uncertainty sensitivity.

    Returns
    -------
    Annotation
    """
    settings = AnnotationSettings() if settings is None else settings
    model = settings.build_model() if model is None else model
    has_time_course = settings.model != "emax"
    n = int(settings.n)
    scales = settings.resolved_variability().draw(n, settings.seed) if n else None
    warnings = list(table.warnings)
    k = len(table.designs)

    # -- distinct designs ----------------------------------------------------------------------------------
    unique, remap, codes = _distinct_designs(table, settings)
    inverse = remap[codes]
    U = len(unique)
    fractions = np.array([f for _, f, _ in unique])[inverse] if U else np.zeros(k)
    counts = np.bincount(inverse, minlength=U)
    first_row = np.full(U, k)
    np.minimum.at(first_row, inverse, np.arange(k))
    if n:  # up front, before any model call: one line, nothing computed
        from occupancy.simulation.simulate import MAX_SUBJECT_POINTS, check_population_work

        doses, points = _work(unique, settings, has_time_course)
        check_population_work(n, doses, 0, field=f"{table.source}: population.n")
        if ANNOTATION_POINT_COST * n * points > MAX_SUBJECT_POINTS:
            fits = max(2, MAX_SUBJECT_POINTS // max(ANNOTATION_POINT_COST * points, 1))
            raise InputError(f"{table.source}: population.n: {n} virtual subjects × {points} evaluated time points "
                             f"cost as much as {ANNOTATION_POINT_COST * n * points:,} of simulate's subject-time "
                             f"points (an annotation point costs {ANNOTATION_POINT_COST}), more than one run "
                             f"computes in about a minute ({MAX_SUBJECT_POINTS:,}); use n <= {fits}, fewer "
                             "distinct outcome designs or a smaller grid_points")
    if keep_draws and n and n * U > MAX_KEPT_DRAWS:
        raise InputError(f"{table.source}: keeping {n} virtual subjects' contrasts for {U} distinct outcome designs "
                         f"needs {n * U * 8 / 1e9:.1f} GB (limit {MAX_KEPT_DRAWS * 8 / 1e9:.2f} GB); use fewer draws "
                         "(--draws / [reanalysis] draws) or fewer distinct designs")
    values = {c: np.full(U, np.nan) for c in ANNOTATION_COLUMNS}
    draws_u = np.full((n, U), np.nan) if (keep_draws and n) else None
    u_fraction = np.array([f for _, f, _ in unique])
    partial: set[int] = set()  # designs whose drug window is only partly inside the model's validity

    # -- designs grouped by schedule ------------------------------------------------------------------------
    groups: dict[tuple, list[int]] = {}
    for u, (design, _, _) in enumerate(unique):
        groups.setdefault((design.doses_mg, design.interval_h), []).append(u)
    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=U, desc="annotating outcomes", unit="design", file=sys.stderr, leave=False,
                   disable=None)  # disable=None: no bar unless stderr is a terminal
    for members in groups.values():
        schedule = unique[members[0]][0].schedule()
        grids, owner, is_placebo = [], [], []
        for u in members:
            design, fraction, shift = unique[u]
            t_drug = _window_offsets(design, settings)
            grids.append(t_drug)
            owner.append(u)
            is_placebo.append(False)
            if fraction > 0 and has_time_course:
                grids.append(t_drug + shift)
                owner.append(u)
                is_placebo.append(True)
        seg = _Segments(grids)
        _annotate_segments(model, schedule, seg, owner, is_placebo, u_fraction, scales, n, values, draws_u, partial)
        if bar is not None:
            bar.update(len(members))
    if bar is not None:
        bar.close()

    # -- no-time-course placebo, warnings, contrasts ---------------------------------------------------------
    for u, (design, fraction, _) in enumerate(unique):
        label = _rows_label(int(first_row[u]), int(counts[u]), table)
        if np.isnan(values["MOR_drug_mean"][u]):
            warnings.append(f"{label}: the {settings.model} model is undefined over the whole assessment window; "
                            "no blockade annotation")
        elif u in partial:
            warnings.append(f"{label}: the {settings.model} model is defined only on part of the assessment "
                            "window (within 8 h of a dose); the rest is ignored")
        if fraction > 0 and not has_time_course and not np.isnan(values["MOR_drug_mean"][u]):
            warnings.append(f"{label}: the {settings.model} model has no time course; residual blockade in the "
                            "placebo session is taken as 0")
    use = "popmean" if n else "mean"
    for r in RECEPTORS:
        undefined = np.isnan(values[f"{r}_drug_mean"])
        for s in _STATS:
            col = values[f"{r}_placebo_{s}"]
            col[np.isnan(col) & ~undefined] = 0.0  # no placebo segment: no residual blockade
            if not n and s in ("p05", "p95", "popmean"):
                col[:] = np.nan
        values[f"{r}_drug"] = values[f"{r}_drug_{use}"]
        values[f"{r}_placebo"] = values[f"{r}_placebo_{use}"]
        values[f"{r}_contrast"] = values[f"{r}_drug"] - values[f"{r}_placebo"]
    if draws_u is not None:
        draws_u[:, np.isnan(values["MOR_drug_mean"])] = np.nan

    out = table.frame.copy()
    out["schedule_label"] = [d.schedule_label for d in table.designs]
    out["window_h"] = [f"{d.window_h[0]:g}–{d.window_h[1]:g}" for d in table.designs]
    out["residual_fraction"] = fractions
    new_columns = {column: values[column][inverse] for column in ANNOTATION_COLUMNS}
    out = pd.concat([out.drop(columns=[c for c in ANNOTATION_COLUMNS if c in out.columns]),
                     pd.DataFrame(new_columns, index=out.index)], axis=1)
    return Annotation(table=out, settings=settings, warnings=tuple(dict.fromkeys(warnings)),
                      draws_by_design=draws_u, design_index=inverse, source=table.source)


def _blockade_all(model, schedule, times, **scales) -> dict:
    """``model.blockade_all`` with the model's own working memory bounded by :data:`MAX_ELEMENTS`.

    A model that evaluates in blocks (``blockade_blocks``: the pkpd models, whose binding-kinetics integrator
    otherwise works on up to 50 million values at once) is driven block by block over the sorted times and
    the blocks are scattered back; the result has the shape of ``blockade_all``'s, which the callers keep
    within :data:`MAX_ELEMENTS` per receptor.
    """
    blocks = getattr(model, "blockade_blocks", None)
    if blocks is None:
        return model.blockade_all(schedule, times, **scales)
    t = np.asarray(times, dtype=float)
    order = np.argsort(t, kind="stable")
    n = max([np.shape(v)[0] for v in scales.values() if np.ndim(v) == 2] or [0])
    out = {r: np.empty((max(n, 1), t.size)) for r in RECEPTORS}
    for sl, block in blocks(schedule, t[order], RECEPTORS, block_elements=MAX_ELEMENTS, **scales):
        cols = order[sl]
        for r in RECEPTORS:
            out[r][:, cols] = block[r]
    return out if n else {r: v[0] for r, v in out.items()}


def _annotate_segments(model, schedule, seg: _Segments, owner, is_placebo, fractions, scales, n, values, draws_u,
                       partial: set):
    """Fill ``values`` (and ``draws_u``) for the designs of one schedule in bounded blocks.

    Typical subject: nan-aware min/mean/max over each segment (blocks of time points).  Population: each
    subject's nan-aware mean over each segment, summarised (5th/95th percentiles, mean; placebo as the
    crossover mixture).  When subjects × segments is small the population is evaluated in blocks of
    subjects over all time points (few model calls); otherwise in blocks of time points, each segment
    summarised as soon as it is complete, so only the segments of the current block are ever held.
    """
    T = seg.times.size
    nseg = len(owner)
    seg_end = seg.starts + seg.lengths
    state = {"pending": {}, "with_placebo": {owner[sg] for sg in range(nseg) if is_placebo[sg]}}

    # typical subject: blocks of time points
    acc = {r: [np.zeros(nseg), np.zeros(nseg), np.full(nseg, np.inf), np.full(nseg, -np.inf)] for r in RECEPTORS}
    for a in range(0, T, MAX_ELEMENTS):
        b = min(a + MAX_ELEMENTS, T)
        ids = seg.seg_of[a:b]
        local = np.concatenate([[0], np.flatnonzero(np.diff(ids)) + 1])
        here = ids[local]
        typ = _blockade_all(model, schedule, seg.times[a:b])
        for r in RECEPTORS:
            v = np.asarray(typ[r], dtype=float)
            nan = np.isnan(v)
            s_sum, s_cnt, s_min, s_max = acc[r]
            s_sum[here] += np.add.reduceat(np.where(nan, 0.0, v), local)
            s_cnt[here] += np.add.reduceat((~nan).astype(float), local)
            s_min[here] = np.minimum(s_min[here], np.minimum.reduceat(np.where(nan, np.inf, v), local))
            s_max[here] = np.maximum(s_max[here], np.maximum.reduceat(np.where(nan, -np.inf, v), local))
    for r in RECEPTORS:
        s_sum, s_cnt, s_min, s_max = acc[r]
        ok = s_cnt > 0
        mean = np.where(ok, s_sum / np.maximum(s_cnt, 1), np.nan)
        mn, mx = np.where(ok, s_min, np.nan), np.where(ok, s_max, np.nan)
        for sg in range(nseg):
            u = owner[sg]
            if is_placebo[sg]:
                f = fractions[u]
                values[f"{r}_placebo_min"][u], values[f"{r}_placebo_mean"][u] = f * mn[sg], f * mean[sg]
                values[f"{r}_placebo_max"][u] = f * mx[sg]
            else:
                values[f"{r}_drug_min"][u], values[f"{r}_drug_mean"][u] = mn[sg], mean[sg]
                values[f"{r}_drug_max"][u] = mx[sg]
                if r == "MOR" and 0 < s_cnt[sg] < seg.lengths[sg]:
                    partial.add(u)

    if n and n * nseg <= MAX_ELEMENTS:
        # few segments: blocks of subjects over all time points, then every segment at once
        sums = {r: np.empty((n, nseg)) for r in RECEPTORS}
        cnts = {r: np.empty((n, nseg)) for r in RECEPTORS}
        rows = max(1, MAX_ELEMENTS // max(T, 1))
        for a in range(0, n, rows):
            sl = slice(a, min(a + rows, n))
            block = {key: val[sl] for key, val in scales.items()}
            pop = _blockade_all(model, schedule, seg.times, **block)
            for r in RECEPTORS:
                v = np.asarray(pop[r], dtype=float)
                nan = np.isnan(v)
                sums[r][sl] = np.add.reduceat(np.where(nan, 0.0, v), seg.starts, axis=1)
                cnts[r][sl] = np.add.reduceat((~nan).astype(float), seg.starts, axis=1)
            del pop
        for r in RECEPTORS:
            with np.errstate(invalid="ignore", divide="ignore"):
                means = sums[r] / cnts[r]
            _finish_segments(r, means, np.arange(nseg), owner, is_placebo, fractions, values, draws_u, state)
    elif n:
        # many segments: blocks of time points; a segment is summarised once complete
        width = max(1, MAX_ELEMENTS // n)
        carry = None  # (segment, {receptor: (sum (n,), count (n,))}) continued in the next block
        for a in range(0, T, width):
            b = min(a + width, T)
            ids = seg.seg_of[a:b]
            local = np.concatenate([[0], np.flatnonzero(np.diff(ids)) + 1])
            here = ids[local]
            pop = _blockade_all(model, schedule, seg.times[a:b], **scales)
            sums, cnts = {}, {}
            for r in RECEPTORS:
                v = np.asarray(pop[r], dtype=float)
                nan = np.isnan(v)
                sums[r] = np.add.reduceat(np.where(nan, 0.0, v), local, axis=1)
                cnts[r] = np.add.reduceat((~nan).astype(float), local, axis=1)
                if carry is not None and carry[0] == here[0]:
                    sums[r][:, 0] += carry[1][r][0]
                    cnts[r][:, 0] += carry[1][r][1]
            del pop
            carry = None
            if seg_end[here[-1]] > b:
                carry = (here[-1], {r: (sums[r][:, -1].copy(), cnts[r][:, -1].copy()) for r in RECEPTORS})
            cols = np.flatnonzero(seg_end[here] <= b)
            if not cols.size:
                continue
            for r in RECEPTORS:
                with np.errstate(invalid="ignore", divide="ignore"):
                    means = sums[r][:, cols] / cnts[r][:, cols]
                _finish_segments(r, means, here[cols], owner, is_placebo, fractions, values, draws_u, state)

    # population columns of designs whose drug window is entirely undefined stay NaN
    for r in RECEPTORS:
        undefined = np.isnan(values[f"{r}_drug_mean"])
        for s in ("p05", "p95", "popmean"):
            values[f"{r}_drug_{s}"][undefined] = np.nan
            values[f"{r}_placebo_{s}"][undefined] = np.nan


def _finish_segments(r, means, segs, owner, is_placebo, fractions, values, draws_u, state) -> None:
    """Population summaries of complete segments from each subject's mean over them (``means``: n × segments).

    Drug segments: 5th/95th percentiles and mean (a subject with an undefined mean — the emax model outside
    its window — gets the segment's mean).  Placebo segments: the crossover mixture (a share ``1 − f`` at 0).
    The MOR drug mean of a design waits in ``state["pending"]`` until its placebo segment is done.
    """
    us = np.array([owner[sg] for sg in segs])
    plac = np.array([is_placebo[sg] for sg in segs], dtype=bool)
    pending, with_placebo = state["pending"], state["with_placebo"]
    if (~plac).any():
        m = means[:, ~plac]
        defined = ~np.isnan(m).all(axis=0)
        m, u_def = m[:, defined], us[~plac][defined]
        if u_def.size:
            m = np.where(np.isnan(m), np.nanmean(m, axis=0), m)
            q = np.quantile(m, [0.05, 0.95], axis=0)
            values[f"{r}_drug_p05"][u_def], values[f"{r}_drug_p95"][u_def] = q[0], q[1]
            values[f"{r}_drug_popmean"][u_def] = m.mean(axis=0)
            for i, u in enumerate(u_def):
                if u not in with_placebo:  # no placebo segment: no residual blockade
                    values[f"{r}_placebo_p05"][u] = values[f"{r}_placebo_p95"][u] = 0.0
                    values[f"{r}_placebo_popmean"][u] = 0.0
                if r == "MOR" and draws_u is not None:
                    if u in with_placebo:
                        pending[u] = m[:, i]
                    else:
                        draws_u[:, u] = m[:, i]
    if plac.any():
        u_p = us[plac]
        f = fractions[u_p]
        m = np.where(np.isnan(means[:, plac]), 0.0, means[:, plac])
        values[f"{r}_placebo_p05"][u_p] = _mixture_quantiles(m, f, 0.05)
        values[f"{r}_placebo_p95"][u_p] = _mixture_quantiles(m, f, 0.95)
        values[f"{r}_placebo_popmean"][u_p] = f * m.mean(axis=0)
        if r == "MOR" and draws_u is not None:
            for i, u in enumerate(u_p):
                drug = pending.pop(u, None)
                if drug is not None:
                    draws_u[:, u] = drug - f[i] * m[:, i]


def annotate_model_uncertainty(table: OutcomeTable, annotation: Annotation, settings: AnnotationSettings,
                               n_draws: int, seed=1, progress: bool = False) -> Annotation:
    """``annotation`` with the MOR contrasts' model uncertainty (:data:`MODEL_UNCERTAINTY_COLUMNS`).

    The outcomes are re-annotated with every typical-subject model of the ensemble (posterior draws of every
    admissible structure, pooled by weight: :func:`occupancy.simulation.model_uncertainty.ensemble`), the same
    virtual population and seed.  A model without parameter uncertainty returns ``annotation`` unchanged with a
    warning.
    """
    from dataclasses import replace as _replace

    from occupancy.simulation.model_uncertainty import ensemble, progress_bar

    model = settings.build_model()
    if not hasattr(model, "parameter_draws") and not hasattr(model, "structure_draws"):
        return _replace(annotation, warnings=annotation.warnings + (
            f"model uncertainty not computed: the {settings.model} model has no parameter-uncertainty estimate "
            "(use the pkpd model)",))
    try:
        ens = ensemble(model, n_draws, seed)
    except InputError as exc:
        return _replace(annotation, warnings=annotation.warnings + (f"model uncertainty not computed: {exc}",))
    k = len(annotation.table)
    c = np.full((len(ens.members), k), np.nan)
    for i, (_si, m) in progress_bar(enumerate(ens.members), len(ens.members), "model uncertainty", progress):
        c[i] = annotate_outcomes(table, settings, keep_draws=False, model=m).table["MOR_contrast"].to_numpy(float)
    pooled = np.asarray(ens.pooled, dtype=bool)
    of = np.array([si for si, _m in ens.members])
    wide = int(pooled.sum()) >= MIN_DRAWS_FOR_95
    with np.errstate(all="ignore"):
        import warnings as _w

        with _w.catch_warnings():
            _w.simplefilter("ignore", RuntimeWarning)  # an outcome the model leaves undefined is NaN in every draw
            lo, med, hi = np.nanpercentile(c[pooled], [2.5, 50.0, 97.5] if wide else [0.0, 50.0, 100.0], axis=0)
            meds = np.array([np.nanmedian(c[of == si], axis=0) for si in range(len(ens.structures))])
    out = annotation.table.copy()
    out["MOR_contrast_model_median"], out["MOR_contrast_model_lo"], out["MOR_contrast_model_hi"] = med, lo, hi
    out["MOR_contrast_structures_min"], out["MOR_contrast_structures_max"] = meds.min(axis=0), meds.max(axis=0)
    info = {**ens.to_dict(), "interval": "2.5–97.5 %" if wide else "min–max (fewer than 40 draws)"}
    return _replace(annotation, table=out, model_uncertainty=info)


def annotate(data=None, settings: AnnotationSettings | None = None, *, keep_draws: bool = True,
             progress: bool = False, model_draws: int = 0, model_seed=1) -> Annotation:
    """Annotate a CSV path, a DataFrame, an :class:`OutcomeTable`, or (``None``) the bundled outcomes.

    ``keep_draws`` and ``progress`` as in :func:`annotate_outcomes`; ``model_draws`` ≥ 2 adds the MOR contrasts'
    model uncertainty (:func:`annotate_model_uncertainty`).
    """
    from occupancy.annotation.literature import load_outcomes, validate_outcome_table

    settings = AnnotationSettings() if settings is None else settings
    if isinstance(data, OutcomeTable):
        table = data
    elif isinstance(data, pd.DataFrame):
        table = validate_outcome_table(data, source="outcomes", default_window_h=settings.default_window_h)
    else:
        table = load_outcomes(data, default_window_h=settings.default_window_h)
    if model_draws and model_draws >= 2:  # the re-annotations add up: refused up front, before any of them
        check_annotation_runs(table, [(settings, 1 + int(model_draws))], field=f"{table.source}: population.n",
                              what=f"{1 + int(model_draws)} annotations of the outcomes (one per model draw, "
                                   f"n = {settings.n})",
                              advice="use a smaller --n or fewer --model-draws")
    ann = annotate_outcomes(table, settings, keep_draws=keep_draws, progress=progress)
    if model_draws and model_draws >= 2:
        ann = annotate_model_uncertainty(table, ann, settings, int(model_draws), model_seed, progress)
    return ann
