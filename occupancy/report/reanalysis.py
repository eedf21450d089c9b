"""The reanalysis's files and report section: forest and bubble plots, CSV/JSON outputs, HTML section.

Takes a :class:`occupancy.workflows.reanalysis.result.ReanalysisResult`; holds no science.
"""

from __future__ import annotations

import math
from pathlib import Path

from occupancy.workflows.reanalysis.result import (
    ASSUMPTIONS,
    MAX_PLOTTED_UNITS,
    ReanalysisResult,
    format_estimate_ci,
)

def forest_figure(result: ReanalysisResult):
    """Forest plot of the analysed units with their MOR contrast (pp) in an extra column (None when there are
    more than :data:`MAX_PLOTTED_UNITS`; the result then carries a warning)."""
    from matplotlib.figure import Figure

    from meta.plots import forest_plot

    units = result.units
    if len(units) > MAX_PLOTTED_UNITS:
        return None
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
    from meta.plots import save_figure

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    figures = {"forest": forest_figure(result), "bubble": bubble_figure(result)}
    written = []
    for name, frame in (("annotated_outcomes.csv", result.annotation.table), ("analysis_units.csv", result.units),
                        ("sensitivity.csv", result.sensitivity)):
        frame.to_csv(directory / name, index=False, float_format="%.6g")
        written.append(directory / name)
    with open(directory / "results.json", "w", encoding="utf-8") as handle:
        if json_text is None:
            result.write_json(handle)
        else:
            handle.write(json_text)
        handle.write("\n")
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
    """The reanalysis as an :class:`occupancy.report.html.ReportSection` (key numbers, figures, tables, assumptions)."""
    from occupancy.report.html import Assumption, KeyNumber, ReportFigure, ReportSection, ReportTable, figure_to_svg

    p = result.pooled_dict()
    a, b = result.adjusted["rescaled"], result.adjusted["regression"]
    table = result.annotation.table
    within = table[table["design"] == "within"]
    keys = [
        KeyNumber("Pooled effect (Hedges' g)", format_estimate_ci(p),
                  "Naltrexone lowered social connectedness slightly; negative = lower under the drug."
                  + (" Reproduces the review's −0.20 [−0.32, −0.07]." if result.mode == "study" else "")),
        KeyNumber("Adjusted to a full MOR contrast (rescaled)", format_estimate_ci(a),
                  "If the effect is proportional to how much more MOR blockade the drug condition had than "
                  "placebo, this is the effect of 100 % vs 0 % blockade."),
        KeyNumber("Adjusted (meta-regression at 100 pp)", format_estimate_ci(b) if math.isfinite(b["estimate"]) else "–",
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
