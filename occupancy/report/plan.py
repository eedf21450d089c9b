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

    def flagged(reading: str, topic: str) -> str:
        """The reading followed by the warnings that qualify this number."""
        return reading + "".join(f" ⚠ Warning: {w}." for w in result.warnings_about(topic))

    def pct(value: float) -> str:  # one decimal, as in `blockade plan`'s text output
        return "–" if value != value else f"{value:.1f} %"

    keys = []
    drug_rows = dict(result.conditions)[DRUG]
    for a in drug_rows:
        keys.append(KeyNumber(
            f"MOR blockade at '{a.label}' ({a.time_h:g} h)", f"{pct(a.MOR)} [{a.MOR_p05:.1f}–{a.MOR_p95:.1f}]",
            flagged(f"Mean MOR blockade at the {a.time_h:g} h {a.label} in the drug condition: {pct(a.MOR)}; 5–95th "
                    f"percentile of the virtual population {a.MOR_p05:.1f}–{a.MOR_p95:.1f} %; "
                    f"{a.MOR_prob_ge_90:.0%} of people reach 90 %.", "model")))
    placebo = result.residual_placebo()
    if result.kind == "within" and placebo is not None:
        keys.append(KeyNumber(
            "Residual MOR blockade in placebo sessions", f"{pct(placebo['MOR'])} [95th pct {pct(placebo['MOR_p95'])}]",
            f"Mean over orders at '{result.primary_assessment}'; participants who had the drug one "
            f"{result.isi_days:g}-day interval earlier carry up to {pct(placebo['MOR_p95'])} (95th percentile of all "
            "placebo sessions)."))
    keys.append(KeyNumber(
        "Blockade contrast (drug − placebo)", f"{result.contrast_pp:.1f} pp",
        f"The expected effect g = {result.effect:g} shrinks to {result.effect_attenuated:.3f} if the effect is "
        "proportional to the MOR contrast."))
    thr = result.design.get("delay_threshold_pct", 90.0)
    prob = result.design.get("delay_probability", 0.95)
    keys.append(KeyNumber(
        "Minimum delay after dosing", "not reached" if result.min_delay_h is None else f"{result.min_delay_h:.2f} h",
        flagged(f"From this delay on at least {prob:.0%} of people have MOR blockade ≥ {thr:g} % in the model. "
                f"Caveat: {result.min_delay_note}.", "delay")))
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
    keys.append(KeyNumber(
        f"Power with N = {result.n_planned}", f"{result.power:.3f}",
        flagged(f"{result.power_attenuated:.3f} once the blockade contrast is accounted for.", "power")))
    keys.append(KeyNumber(
        f"N for {result.design.get('power', 0.8):.0%} power", format_optional(
            result.n_required_balanced if result.kind == "within" else result.n_required, "d", "none"),
        required_n_text(result) + "."))
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
    assumptions = [Assumption(text, src) for text, src in result.assumptions]
    assumptions += [Assumption(w, "warning (also next to the number it qualifies)") for w in result.warnings]
    return ReportSection(
        title=title or f"Study plan: {result.scenario_name}", intro=intro, key_numbers=tuple(keys),
        figures=tuple(figures), tables=tables, assumptions=tuple(assumptions))
