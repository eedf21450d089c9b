"""The plan's files and report section: ``plan.json``, the ``plan_*.csv`` tables, figures, HTML section.

Takes a :class:`occupancy.workflows.planning.result.PlanResult`; holds no science.
"""

from __future__ import annotations

from pathlib import Path

from occupancy.workflows.planning.design import DRUG
from occupancy.workflows.planning.result import PlanResult, format_optional, required_n_text

def write_plan_outputs(result: PlanResult, directory: str | Path) -> list[Path]:
    """Write ``plan.json``, the ``plan_*.csv`` tables and the two figures (PNG + SVG) into ``directory``.

    ``directory`` should be a fresh staging folder (the CLI uses
    :func:`occupancy.atomic_output.atomic_directory`), so a failure never leaves a partial result.
    """
    import json

    from meta.atomic_write import write_text_atomic
    from meta.csv_safety import csv_text
    from occupancy.report.plan_figures import power_curve_figure, save_figure, timeline_figure

    directory = Path(directory)
    written = [write_text_atomic(directory / "plan.json",
                                 json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")]
    for stem, frame in result.frames().items():
        written.append(write_text_atomic(directory / f"{stem}.csv", csv_text(frame, index=False)))
    written += save_figure(timeline_figure(result), directory / "plan_timeline")
    written += save_figure(power_curve_figure(result), directory / "plan_power_curve")
    return written


def plan_report_section(result: PlanResult, title: str | None = None):
    """The plan as an :class:`occupancy.report.html.ReportSection` for ``blockade run``'s HTML report."""
    from occupancy.report.plan_figures import _pyplot, power_curve_figure, timeline_figure
    from occupancy.report.html import (Assumption, KeyNumber, ReportFigure, ReportSection, ReportTable,
                                  figure_to_svg, plain_percent)

    words = result.model_uncertainty_sentences()
    unc_topic = {"delay": "min_delay_h", "isi": "min_isi_days", "power": "power_attenuated"}

    def flagged(reading: str, topic: str) -> str:
        """The reading, its model uncertainty in words, then the warnings that qualify this number."""
        unc = words.get(unc_topic.get(topic, ""))
        reading += f" Model uncertainty: {unc}." if unc else ""
        return reading + "".join(f" ⚠ Warning: {w}." for w in result.warnings_about(topic))

    def pct(value: float) -> str:  # one decimal, as in blockade plan's text output
        return "–" if value != value else f"{value:.1f} %"

    keys = []
    target = result.design.get("power", 0.8)
    n_full = result.n_required_balanced if result.kind == "within" else result.n_required
    n_adj = result.n_required_attenuated_balanced if result.kind == "within" else result.n_required_attenuated
    keys.append(KeyNumber(
        f"N for {target:.0%} power, blockade-adjusted", format_optional(n_adj, "d", "no finite N"),
        f"Participants needed once the effect is scaled by the drug–placebo MOR contrast "
        f"({format_optional(n_full, 'd', 'none')} if blockade were full and residual-free). "
        + required_n_text(result) + "."))
    keys.append(KeyNumber(
        f"Power with N = {result.n_planned}, blockade-adjusted", f"{result.power_attenuated:.3f}",
        flagged(f"{result.power:.3f} if blockade were full and residual-free.", "power")))
    keys.append(KeyNumber(
        "Blockade contrast (drug − placebo)", f"{result.contrast_pp:.1f} pp",
        f"Mean over the virtual population at '{result.primary_assessment}'. The expected effect g = "
        f"{result.effect:g} shrinks to {result.effect_attenuated:.3f} if the effect is proportional to the MOR "
        "contrast."))
    thr = result.design.get("delay_threshold_pct", 90.0)
    prob = result.design.get("delay_probability", 0.95)
    horizon = result.design.get("max_delay_h", 24.0)
    if result.min_delay_h is None:
        delay_reading = (f"Not reached: at no time within {horizon:g} h after the last dose do {prob:.0%} of the virtual "
                         f"people have MOR blockade ≥ {thr:g} % at once (the dose is too low for that criterion; "
                         "the typical person may still pass 90 %). A higher dose, or a lower delay_threshold_pct / "
                         f"delay_probability in [design], gives a delay. Caveat: {result.min_delay_note}.")
    else:
        delay_reading = (f"From this delay on at least {prob:.0%} of people have MOR blockade ≥ {thr:g} % in the "
                         f"model. Caveat: {result.min_delay_note}.")
    keys.append(KeyNumber(
        "Minimum delay after dosing", "not reached" if result.min_delay_h is None else f"{result.min_delay_h:.2f} h",
        flagged(delay_reading, "delay")))
    if result.kind == "within" and result.min_isi_days is None and result.warnings_about("model"):
        keys.append(KeyNumber("Minimum intersession interval", "not computed",
                              flagged("The model has no time course, so residual blockade cannot be computed.",
                                      "model")))
    elif result.kind == "within":
        keys.append(KeyNumber(
            "Minimum intersession interval",
            "beyond horizon" if result.min_isi_days is None else f"{result.min_isi_days:.1f} days",
            flagged(f"Residual MOR ≤ {result.design.get('residual_threshold_pct', 5.0):g} % for 95 % of people "
                    f"(median person: {format_optional(result.min_isi_days_median, '.1f')} days; plantrexone "
                    "recommends 15 days).", "isi")))
    drug_rows = dict(result.conditions)[DRUG]
    for a in drug_rows:
        p90 = words.get("prob_mor_ge_90_at_primary") if a.label == result.primary_assessment else None
        keys.append(KeyNumber(
            f"MOR blockade at '{a.label}' ({a.time_h:g} h), population mean",
            f"{pct(a.MOR)} [{a.MOR_p05:.1f}–{a.MOR_p95:.1f}]",
            flagged(f"Mean MOR blockade at the {a.time_h:g} h {a.label} in the drug condition: {pct(a.MOR)}; 5–95th "
                    f"percentile of the virtual population {a.MOR_p05:.1f}–{a.MOR_p95:.1f} %; "
                    f"{a.MOR_prob_ge_90:.0%} of people reach 90 %. blockade simulate shows the typical subject "
                    "(median parameters), whose value differs because blockade is a saturating, non-linear "
                    "function of the parameters."
                    + (f" Model uncertainty of the share reaching 90 %: {p90}." if p90 else ""), "model")))
    placebo = result.residual_placebo()
    if result.kind == "within" and placebo is not None:
        after_drug = ("" if result.residual_at_isi_p95 is None else
                      f" Counting only placebo sessions that follow a drug session, at the first assessment, the 95th "
                      f"percentile is {pct(result.residual_at_isi_p95)} (the number in the interval warning).")
        keys.append(KeyNumber(
            "Residual MOR blockade in placebo sessions, population mean",
            f"{pct(placebo['MOR'])} [95th pct {pct(placebo['MOR_p95'])}]",
            f"Mean over orders at '{result.primary_assessment}'; the 95th percentile {pct(placebo['MOR_p95'])} is over "
            f"all placebo sessions, including those with no drug session {result.isi_days:g} days before."
            + after_drug))
    if result.tablets is not None:
        cost = "" if result.cost is None else f"; cost {result.cost:.2f} {result.design.get('currency', '')}"
        keys.append(KeyNumber("Naltrexone tablets", str(result.tablets),
                              f"{result.total_mg:g} mg in total for {result.drug_sessions_total} drug sessions"
                              f"{cost}".rstrip()))
    plt = _pyplot()
    figures = []
    for fig, fig_title, caption in (
            (timeline_figure(result), "Blockade over the protocol",
             "Median and 5–95th percentile of MOR blockade across virtual subjects; shaded: sessions; dashed: "
             "90 %; red triangles: residual blockade (95th percentile) in placebo sessions."),
            (power_curve_figure(result), "Power against N",
             "Exact t-test power with full blockade and with the effect attenuated by the blockade contrast.")):
        figures.append(ReportFigure(fig_title, figure_to_svg(fig), caption))
        plt.close(fig)
    frames = result.frames()
    tables = (ReportTable.from_frame("Blockade at each assessment", frames["plan_assessments"].drop(
                  columns=["protocol_time_h"])),
              ReportTable.from_frame("Blockade contrast per assessment", frames["plan_contrasts"]))
    intro = (f"{result.kind.capitalize()}-subjects design with {result.drug} "
             f"({', '.join(f'{a:g} mg at {t:g} h' for t, a in result.doses)} per drug session"
             + (f", sessions every {result.isi_days:g} days" if result.isi_days is not None else "")
             + f"), {result.model_name} model, {result.population_n} virtual subjects.")
    if result.model_uncertainty_note:
        intro += (f" Model uncertainty: {result.model_uncertainty_note} (each headline number re-computed per draw; "
                  "see docs/how-to/model-uncertainty.md).")
    assumptions = [Assumption(text, src) for text, src in result.assumptions]
    assumptions += [Assumption(w, "warning (also next to the number it qualifies)") for w in result.warnings]
    return ReportSection(
        title=title or f"Study plan: {result.scenario_name}", intro=intro, key_numbers=tuple(keys),
        figures=tuple(figures), tables=tables, assumptions=tuple(assumptions), reading=plan_reading(result))


def plan_reading(result: PlanResult) -> str:
    """The plain-language paragraph above the plan's key numbers (design, N, why blockade changes N)."""
    design = ("a counterbalanced crossover" + (f" with sessions {result.isi_days:g} days apart"
                                               if result.isi_days is not None else "")
              if result.kind == "within" else "a between-subjects design (drug group vs placebo group)")
    target = result.design.get("power", 0.8)
    n_full = result.n_required_balanced if result.kind == "within" else result.n_required
    n_adj = result.n_required_attenuated_balanced if result.kind == "within" else result.n_required_attenuated
    text = (f"For {design}, the drug condition has {result.contrast_pp:.0f} percentage points more MOR blockade "
            f"than placebo at '{result.primary_assessment}' (mean over {result.population_n} virtual people). "
            f"If the effect scales with that contrast, g = {result.effect:g} becomes {result.effect_attenuated:.3f}, and "
            f"{target:.0%} power needs " + format_optional(n_adj, "d", "no finite number of")
            + f" participants instead of {format_optional(n_full, 'd', 'none')}. "
            f"The planned N = {result.n_planned} has power {result.power_attenuated:.2f}. Blockade numbers in this "
            "plan are population means; blockade simulate reports the typical subject.")
    return text
