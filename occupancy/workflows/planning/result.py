"""Frozen results of the planner: blockade per session and assessment, contrasts, the whole plan.

:class:`PlanResult` carries every number ``blockade plan`` reports, with ``to_dict()`` (the JSON),
``frames()`` / ``to_frame()`` (the CSV tables) and ``summary()`` (the terminal text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from meta.display import ResultDisplay
from typing import Any

import numpy as np

from occupancy.workflows.planning.design import PLACEBO

@dataclass(frozen=True)
class AssessmentBlockade:
    """Blockade at one assessment of one session (percent; population summaries over virtual subjects).

    ``time_h`` is relative to the start of the session, ``protocol_time_h`` to the start of session 1.
    ``MOR``/``KOR``/``DOR`` are population means.
    """

    label: str
    time_h: float
    protocol_time_h: float
    MOR: float
    KOR: float
    DOR: float
    MOR_p05: float
    MOR_p50: float
    MOR_p95: float
    MOR_prob_ge_90: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with the keys of ``blockade simulate --json`` plus ``protocol_time_h``."""
        return {k: _jsonable(getattr(self, k)) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class SessionBlockade:
    """One session of one order (within) or one group (between).

    ``residual_*`` is the MOR blockade carried in from earlier drug sessions at the session's start,
    before any dose of this session (mean, median and 95th percentile; 0 for a first session).
    """

    order: str
    order_index: int
    participants: int
    session: int
    condition: str
    start_h: float
    residual_MOR: float
    residual_MOR_p50: float
    residual_MOR_p95: float
    assessments: tuple[AssessmentBlockade, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict; ``assessments`` as in ``blockade simulate --json``."""
        out = {k: _jsonable(getattr(self, k)) for k in self.__dataclass_fields__ if k != "assessments"}
        out["assessments"] = [a.to_dict() for a in self.assessments]
        return out


@dataclass(frozen=True)
class ContrastAtAssessment:
    """Drug − placebo mean MOR blockade (percentage points) at one assessment label."""

    label: str
    time_h: float
    contrast_pp: float
    drug_MOR: float
    placebo_MOR: float
    per_order: tuple[tuple[str, float], ...]

    def to_dict(self) -> dict[str, Any]:
        out = {k: _jsonable(getattr(self, k)) for k in ("label", "time_h", "contrast_pp", "drug_MOR", "placebo_MOR")}
        out["per_order"] = {name: _jsonable(v) for name, v in self.per_order}
        return out


@dataclass(frozen=True, eq=False)
class TimelineTrace:
    """MOR blockade over the whole protocol for one order/group (percentiles over the population)."""

    order: str
    times_h: np.ndarray
    p05: np.ndarray
    p50: np.ndarray
    p95: np.ndarray
    mean: np.ndarray


@dataclass(frozen=True, eq=False)
class PowerCurve:
    """Power against total N, without and with the blockade attenuation."""

    n_total: np.ndarray
    power: np.ndarray
    power_attenuated: np.ndarray


@dataclass(frozen=True)
class PlanResult(ResultDisplay):
    """Everything ``blockade plan`` reports (see the module docstring for the definitions).

    Numbers are percent for blockade, hours for ``*_h``, days for ``*_days``.  ``None`` means "not
    reached within the search horizon" (delay, ISI), "not applicable" (e.g. tablets for IV naloxone),
    or "no finite N" (attenuated effect 0).
    """

    scenario_name: str
    source: str
    drug: str
    model_name: str
    model_parameters: dict
    kind: str
    design: dict
    population_n: int
    population_seed: int
    doses: tuple[tuple[float, float], ...]
    isi_days: float | None
    orders: tuple[str, ...]
    sessions: tuple[SessionBlockade, ...]
    conditions: tuple[tuple[str, tuple[AssessmentBlockade, ...]], ...]
    contrasts: tuple[ContrastAtAssessment, ...]
    primary_assessment: str
    contrast_pp: float
    effect: float
    effect_attenuated: float
    dz: float | None
    dz_attenuated: float | None
    min_delay_h: float | None
    min_delay_note: str
    prob_at_min_delay: float | None
    reliable_until_h: float | None
    min_isi_days: float | None
    min_isi_days_median: float | None
    residual_at_isi_p95: float | None
    residual_at_isi_p50: float | None
    n_planned: int
    n_planned_source: str
    group_sizes: tuple[int, ...]
    power: float
    power_attenuated: float
    n_required: int | None
    n_required_per_group: int | None
    n_required_attenuated: int | None
    n_required_attenuated_per_group: int | None
    n_required_balanced: int | None
    n_required_attenuated_balanced: int | None
    total_mg: float | None
    drug_sessions_total: int
    tablets_per_session: int | None
    tablets: int | None
    tablets_pooled: int | None
    cost: float | None
    timeline: tuple[TimelineTrace, ...] = field(repr=False)
    power_curve: PowerCurve = field(repr=False)
    assumptions: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    #: The between-subject log-SDs used and their source (:meth:`Variability.to_dict`).
    population_variability: dict = field(default_factory=dict)
    warning_topics: tuple[str, ...] = ()
    #: Model uncertainty of the headline numbers: ``{name: Uncertain}`` (see
    #: :mod:`occupancy.workflows.planning.uncertainty`), None when not computed; the note says over what (or why not).
    model_uncertainty: dict | None = field(default=None, repr=False, compare=False)
    model_uncertainty_note: str = ""

    # -- derived views ---------------------------------------------------------------------------------

    def warnings_about(self, topic: str) -> list[str]:
        """The warnings that qualify one number: ``model``, ``delay``, ``isi`` or ``power``."""
        return [w for w, t in zip(self.warnings, self.warning_topics) if t == topic]

    def residual_by_order(self) -> list[dict[str, Any]]:
        """Residual MOR blockade entering each later session, per order, and the average over orders."""
        rows = []
        for s in self.sessions:
            if s.session > 1:
                rows.append({"order": s.order, "session": s.session, "condition": s.condition,
                             "residual_MOR": s.residual_MOR, "residual_MOR_p50": s.residual_MOR_p50,
                             "residual_MOR_p95": s.residual_MOR_p95,
                             "first_assessment_MOR": s.assessments[0].MOR if s.assessments else None})
        return rows

    def residual_placebo(self) -> dict[str, float] | None:
        """Mean MOR blockade at the primary assessment of placebo sessions (over orders) — the residual."""
        for name, assessments in self.conditions:
            if name == PLACEBO:
                for a in assessments:
                    if a.label == self.primary_assessment:
                        return {"MOR": a.MOR, "MOR_p50": a.MOR_p50, "MOR_p95": a.MOR_p95}
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what ``blockade plan --json`` prints and ``plan.json`` holds)."""
        out: dict[str, Any] = {
            "scenario": self.scenario_name,
            "source": self.source,
            "drug": self.drug,
            "model": self.model_name,
            "model_parameters": {k: _jsonable(v) for k, v in self.model_parameters.items()},
            "kind": self.kind,
            "design": {k: _jsonable(v) for k, v in self.design.items()},
            "population": {"n": self.population_n, "seed": self.population_seed,
                           "variability": dict(self.population_variability)},
            "doses": [{"time_h": t, "amount_mg": a} for t, a in self.doses],
            "isi_days": self.isi_days,
            "orders": list(self.orders),
            "sessions": [s.to_dict() for s in self.sessions],
            "conditions": {name: [a.to_dict() for a in rows] for name, rows in self.conditions},
            "residual_per_order": [{k: _jsonable(v) for k, v in r.items()} for r in self.residual_by_order()],
            "residual_placebo": self.residual_placebo(),
            "contrasts": [c.to_dict() for c in self.contrasts],
            "primary_assessment": self.primary_assessment,
            "contrast_pp": _jsonable(self.contrast_pp),
            "effect": self.effect,
            "effect_attenuated": _jsonable(self.effect_attenuated),
            "dz": _jsonable(self.dz),
            "dz_attenuated": _jsonable(self.dz_attenuated),
            "min_delay_h": _jsonable(self.min_delay_h),
            "min_delay_note": self.min_delay_note,
            "prob_at_min_delay": _jsonable(self.prob_at_min_delay),
            "reliable_until_h": _jsonable(self.reliable_until_h),
            "min_isi_days": _jsonable(self.min_isi_days),
            "min_isi_days_median": _jsonable(self.min_isi_days_median),
            "residual_at_isi_p95": _jsonable(self.residual_at_isi_p95),
            "residual_at_isi_p50": _jsonable(self.residual_at_isi_p50),
            "n_planned": self.n_planned,
            "n_planned_source": self.n_planned_source,
            "group_sizes": list(self.group_sizes),
            "power": _jsonable(self.power),
            "power_attenuated": _jsonable(self.power_attenuated),
            "n_required": self.n_required,
            "n_required_per_group": self.n_required_per_group,
            "n_required_attenuated": self.n_required_attenuated,
            "n_required_attenuated_per_group": self.n_required_attenuated_per_group,
            "n_required_balanced": self.n_required_balanced,
            "n_required_attenuated_balanced": self.n_required_attenuated_balanced,
            "total_mg": _jsonable(self.total_mg),
            "drug_sessions_total": self.drug_sessions_total,
            "tablets_per_session": self.tablets_per_session,
            "tablets": self.tablets,
            "tablets_pooled": self.tablets_pooled,
            "cost": _jsonable(self.cost),
            "assumptions": [{"text": t, "source": s} for t, s in self.assumptions],
            "warnings": list(self.warnings),
            "model_uncertainty": self.model_uncertainty_json(),
        }
        return out

    def model_uncertainty_json(self) -> dict | None:
        """``{"min_delay_h": U, "min_isi_days": U, "prob_mor_ge_90_at_primary": U, "power_attenuated": U}``,
        ``U = {"median", "lo", "hi", "across_structures": [min, max]}`` (None: not computed)."""
        from occupancy.workflows.planning.uncertainty import to_json

        return to_json(self.model_uncertainty)

    def model_uncertainty_sentences(self) -> dict:
        """Plain words per headline number (the text summary and the HTML report)."""
        from occupancy.workflows.planning.uncertainty import sentences

        return sentences(self.model_uncertainty)

    def to_frame(self):
        """One row per order × session × assessment (pandas DataFrame)."""
        import pandas as pd

        rows = []
        for s in self.sessions:
            for a in s.assessments:
                row = {"order": s.order, "participants": s.participants, "session": s.session,
                       "condition": s.condition, "session_start_h": s.start_h,
                       "residual_MOR_at_start": s.residual_MOR}
                row.update(a.to_dict())
                rows.append(row)
        return pd.DataFrame(rows)

    def frames(self) -> dict[str, Any]:
        """All tables by file stem: assessments, contrasts, residuals, power curve, timeline, summary."""
        import pandas as pd

        contrasts = pd.DataFrame([{k: v for k, v in c.to_dict().items() if k != "per_order"}
                                  | {f"contrast_{o}": v for o, v in c.per_order} for c in self.contrasts])
        residuals = pd.DataFrame(self.residual_by_order(),
                                 columns=["order", "session", "condition", "residual_MOR", "residual_MOR_p50",
                                          "residual_MOR_p95", "first_assessment_MOR"])
        curve = pd.DataFrame({"n_total": self.power_curve.n_total, "power": self.power_curve.power,
                              "power_attenuated": self.power_curve.power_attenuated})
        timeline = pd.concat([pd.DataFrame({"order": tr.order, "time_h": tr.times_h, "MOR_mean": tr.mean,
                                            "MOR_p05": tr.p05, "MOR_p50": tr.p50, "MOR_p95": tr.p95})
                              for tr in self.timeline], ignore_index=True)
        summary = pd.DataFrame([{"quantity": k, "value": v} for k, v in self.key_values().items()])
        return {"plan_assessments": self.to_frame(), "plan_contrasts": contrasts, "plan_residuals": residuals,
                "plan_power_curve": curve, "plan_timeline": timeline, "plan_summary": summary}

    def key_values(self) -> dict[str, Any]:
        """The headline numbers as a flat dict (the summary CSV)."""
        return {
            "min_delay_h": self.min_delay_h, "min_delay_note": self.min_delay_note,
            "min_isi_days": self.min_isi_days,
            "min_isi_days_median": self.min_isi_days_median, "isi_days": self.isi_days,
            "contrast_pp": self.contrast_pp, "effect": self.effect, "effect_attenuated": self.effect_attenuated,
            "n_planned": self.n_planned, "power": self.power, "power_attenuated": self.power_attenuated,
            "n_required": self.n_required, "n_required_attenuated": self.n_required_attenuated,
            "total_mg": self.total_mg, "tablets": self.tablets, "tablets_pooled": self.tablets_pooled,
            "cost": self.cost,
        }

    def key_numbers(self) -> list[tuple[str, str]]:
        """Design, blockade contrast, N needed with and without the blockade attenuation, power, delay, ISI."""
        from meta.display import format_number

        design = "crossover" if self.kind == "within" else "between groups"
        if self.isi_days is not None:
            design += f", {self.isi_days:g} days between sessions"
        out = [("design", design),
               (f"MOR contrast at '{self.primary_assessment}'", f"{self.contrast_pp:.1f} pp (population mean)"),
               ("effect", f"g = {self.effect:g} → {self.effect_attenuated:.3g} with the blockade attenuation")]
        n_adj = self.n_required_attenuated_balanced or self.n_required_attenuated
        n_full = self.n_required_balanced or self.n_required
        out.append((f"N for {self.target_power_pct():g} % power",
                    f"{format_number(n_adj)} with the blockade attenuation ({format_number(n_full)} with full "
                    "blockade)"))
        out.append((f"power of N = {self.n_planned}", f"{self.power_attenuated:.2f} ({self.power:.2f} with full "
                                                       "blockade)"))
        out.append(("minimum delay", "not reached" if self.min_delay_h is None else f"{self.min_delay_h:.2f} h"))
        out.append(("minimum intersession interval", "not reached" if self.min_isi_days is None
                    else f"{self.min_isi_days:.1f} days"))
        return out

    def target_power_pct(self) -> float:
        """The target power in percent (``design.power``, default 80)."""
        return 100.0 * float(self.design.get("power", 0.8)) if isinstance(self.design, dict) else 80.0

    def reading(self) -> str:
        """The plan in one sentence."""
        n_adj = self.n_required_attenuated_balanced or self.n_required_attenuated
        text = (f"Blockade numbers are population means over {self.population_n} virtual subjects; the drug–placebo "
                f"MOR contrast of {self.contrast_pp:.0f} percentage points shrinks the expected effect, so "
                + (f"{n_adj} participants are needed" if n_adj else "no finite N reaches the target power")
                + " instead of " + f"{self.n_required_balanced or self.n_required}.")
        return text

    def summary(self) -> str:
        """A plain-text summary for the terminal."""
        return _summary_text(self)


def _jsonable(value):
    if value is None:
        return None
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def format_optional(value, spec: str = ".1f", none: str = "not reached") -> str:
    """``value`` formatted with ``spec``, or ``none`` when it is None (not reached / not applicable)."""
    return none if value is None else format(value, spec)


def required_n_text(r: PlanResult) -> str:
    """The N needed for the target power without and with the attenuation, rounded the same way.

    Between subjects: two equal groups (an even total).  Within: the total rounded up to a multiple of the
    number of orders, so every order gets the same number of participants; the unrounded N is shown too.
    """
    if r.kind == "between":
        def group(total, per_group, none):
            return none if total is None else f"{total} total ({per_group} per group)"

        return (group(r.n_required, r.n_required_per_group, "none") + "; with attenuation: "
                + group(r.n_required_attenuated, r.n_required_attenuated_per_group, "no finite N"))
    orders = max(len(r.orders), 1)

    def balanced(total, raw, none):
        if total is None:
            return none
        note = f"{orders} orders of {total // orders}"
        if raw is not None and raw != total:
            note += f"; {raw} before rounding up"
        return f"{total} total ({note})"

    return (balanced(r.n_required_balanced, r.n_required, "none") + "; with attenuation: "
            + balanced(r.n_required_attenuated_balanced, r.n_required_attenuated, "no finite N"))


def _summary_text(r: PlanResult) -> str:
    lines = [f"Plan: {r.scenario_name} ({r.drug}, {r.model_name} model, {r.kind}-subjects; "
             f"population n = {r.population_n}, seed {r.population_seed})"]
    if r.kind == "within":
        lines.append(f"Crossover: {len(r.sessions) // max(len(r.orders), 1)} sessions every {r.isi_days:g} days, "
                     f"orders: {', '.join(r.orders)}")
    lines.append("")
    lines.append("Blockade at each assessment (MOR mean over the virtual population; 5–95th percentile; "
                 "P(MOR >= 90 %)):")
    lines.append("  (blockade simulate shows the typical subject with median parameters instead; the population mean "
                 "differs because blockade is non-linear in the parameters)")
    width = max([14] + [len(a.label) for s in r.sessions for a in s.assessments])
    for s in r.sessions:
        head = f"  {s.order} · session {s.session} ({s.condition})"
        if s.session > 1:
            head += f", residual MOR entering: {s.residual_MOR:.1f} % (95th pct {s.residual_MOR_p95:.1f} %)"
        lines.append(head)
        for a in s.assessments:
            lines.append(f"    {a.label:<{width}} {a.time_h:>7.2f} h   MOR {a.MOR:5.1f} % [{a.MOR_p05:5.1f}–{a.MOR_p95:5.1f}]"
                         f"  KOR {a.KOR:5.1f} %  DOR {a.DOR:5.1f} %  P(≥90) {a.MOR_prob_ge_90:.2f}")
    lines.append("")
    lines.append(f"Blockade contrast at '{r.primary_assessment}': {r.contrast_pp:.1f} percentage points "
                 f"→ effect g {r.effect:+.3f} attenuated to {r.effect_attenuated:+.3f} (g × contrast / 100)")
    lines.extend(f"  warning: {w}" for w in r.warnings_about("model"))
    thr = r.design.get("delay_threshold_pct", 90.0)
    prob = r.design.get("delay_probability", 0.95)
    delay = (f"not reached within {r.design.get('max_delay_h', 24.0):g} h" if r.min_delay_h is None
             else f"{r.min_delay_h:.2f} h")
    lines.append(f"Minimum delay after the last dose for P(MOR >= {thr:g} %) >= {prob:g}: {delay}")
    lines.append(f"  caveat: {r.min_delay_note}")
    words = r.model_uncertainty_sentences()
    lines.extend(f"  warning: {w}" for w in r.warnings_about("delay"))
    if "min_delay_h" in words:
        lines.append(f"  model uncertainty: {words['min_delay_h']}")
    if r.kind == "within" and r.warnings_about("model") and r.min_isi_days is None:
        lines.append("Minimum intersession interval: not computed (the model has no time course)")
    elif r.kind == "within":
        horizon = f"beyond {r.design.get('max_isi_days', 60.0):g}"
        lines.append(f"Minimum intersession interval (residual MOR <= {r.design.get('residual_threshold_pct', 5.0):g} % "
                     f"for the 95th-percentile person): {format_optional(r.min_isi_days, '.1f', horizon)} days "
                     f"(median person: {format_optional(r.min_isi_days_median, '.1f', horizon)} days)")
        lines.extend(f"  warning: {w}" for w in r.warnings_about("isi"))
        if "min_isi_days" in words:
            lines.append(f"  model uncertainty: {words['min_isi_days']}")
    lines.append("")
    lines.append(f"Planned N = {r.n_planned} ({r.n_planned_source}; groups/orders {list(r.group_sizes)}): "
                 f"power {r.power:.3f} without, {r.power_attenuated:.3f} with the blockade attenuation")
    lines.append(f"N for {r.design.get('power', 0.8):g} power: {required_n_text(r)}")
    lines.extend(f"  warning: {w}" for w in r.warnings_about("power"))
    if "power_attenuated" in words:
        lines.append(f"  model uncertainty of the attenuated power: {words['power_attenuated']}")
    if "prob_mor_ge_90_at_primary" in words:
        lines.append(f"  model uncertainty of P(MOR >= 90 %) at '{r.primary_assessment}' (drug sessions): "
                     f"{words['prob_mor_ge_90_at_primary']}")
    if r.tablets is not None:
        cost = "" if r.cost is None else f", cost {r.cost:.2f} {r.design.get('currency', '')}".rstrip()
        lines.append(f"Naltrexone: {r.total_mg:g} mg over {r.drug_sessions_total} drug sessions; "
                     f"{r.tablets} tablets of {r.design.get('tablet_mg', 50):g} mg "
                     f"(plantrexone's pooled count: {r.tablets_pooled}){cost}")
    elif r.total_mg is not None:
        lines.append(f"Total drug: {r.total_mg:g} mg over {r.drug_sessions_total} drug sessions")
    if r.model_uncertainty_note:
        lines.append(f"Model uncertainty: {r.model_uncertainty_note}")
    return "\n".join(lines)
