"""The reanalysis's files and report section: forest and bubble plots, CSV/JSON outputs, HTML section.

Takes a :class:`occupancy.workflows.reanalysis.result.ReanalysisResult`; holds no science.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from occupancy.workflows.reanalysis.result import (
    DRAWS_INTERVAL,
    MAX_PLOTTED_UNITS,
    ReanalysisResult,
    assumptions_for,
    model_uncertainty_words,
    format_estimate_ci,
    format_heterogeneity,
    format_number,
    format_p,
    is_draws_interval,
    read_effect,
    read_heterogeneity,
    selmodel_status,
)

#: Rows of a full table shown in the HTML report (all of them are in the CSV files next to it).
MAX_REPORT_ROWS = 200

#: The review the bundled data come from, and what it reported (compared only when it is the data).
REVIEW = {"pooled": "−0.20 [−0.32, −0.07]", "trimfill": "0 missing (SE = 2)", "median_power": "0.15"}


def selmodel_key_number(sel):
    """The 3PSM as a :class:`~occupancy.report.html.KeyNumber` with a plain-language reading, or one that says
    why its numbers are not to be read (not fitted, no convergence, a selection weight on its bound)."""
    from occupancy.report.html import KeyNumber

    label = "Selection model (3PSM, study aggregates)"
    if sel is None:
        return KeyNumber(label, "not computed", "The selection model could not be fitted to these studies "
                                                "(the warnings say why).")
    st = selmodel_status(sel)
    if st["status"] == "not converged":
        return KeyNumber(label, "did not converge",
                         "The optimiser found no maximum of the selection model's likelihood, so it gives no "
                         "adjusted estimate for these data.")
    ci = {"estimate": sel.estimate, "ci_lb": float(sel.ci_lb[0]), "ci_ub": float(sel.ci_ub[0])}
    cut = sel.steps[0]
    value = f"{format_estimate_ci(ci)}; LRT {format_p(sel.LRT_p)}"
    if st["status"] == "on a bound":
        return KeyNumber(label, f"{value} (unreliable)",
                         f"The selection weight sits on its bound ({', '.join(n for n in st['on_bound'] if n != 'tau2')}"
                         "): these studies cannot tell how strongly publication favoured significant results, "
                         "so neither the adjusted g nor the test can be read as an estimate.")
    weight = float(sel.delta[1])
    reading = (f"Allowing for studies that significantly favour blockade (one-sided p < {cut:g}, negative g) being "
               f"likelier to be published, the pooled g is {format_estimate_ci(ci)}. Non-significant studies are "
               f"estimated to have {weight:.2f} times the chance of publication of significant ones"
               + (f" (SE {format_number(float(sel.se_delta[1]), '.2f')})" if math.isfinite(sel.se_delta[1]) else "")
               + f"; the likelihood-ratio test against no selection gives {format_p(sel.LRT_p)}, "
               + ("so these studies show no clear sign of selective publication"
                  + (f" (with {sel.k} studies the test has little power)." if sel.k < 20 else ".")
                  if sel.LRT_p >= 0.05 else "evidence that publication was selective."))
    if "tau2" in st["on_bound"]:
        reading += " Between-study variance is estimated at 0 under the model."
    return KeyNumber(label, value, reading)


def _draws_span(summary: dict) -> str:
    """``"95 %"`` (2.5th–97.5th percentiles, from 40 draws) or ``"Range (min to max)"`` of fewer draws."""
    return "95 %" if summary.get("rescaled_range_label") == "95 % range" else "Range (min to max)"

def forest_figure(result: ReanalysisResult):
    """Forest plot of the analysed units with their MOR contrast (pp) in an extra column (None when there are
    more than :data:`MAX_PLOTTED_UNITS`; the result then carries a warning)."""
    from matplotlib.figure import Figure

    from meta.plots import forest_plot, plain_text

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
    return plain_text(fig)


def bubble_figure(result: ReanalysisResult):
    """Bubble plot of g against the MOR contrast with the meta-regression line, a title and study labels
    (None if the regression was not fitted)."""
    fit = result.regressions.get("contrast")
    if fit is None:
        return None
    from meta.plots import bubble_plot, plain_text

    ax = bubble_plot(fit, "MOR_contrast", xlabel="MOR blockade contrast, drug − placebo (pp)",
                     ylabel="Hedges' g (negative = lower under naltrexone)")
    s = result.slope
    ax.set_title(f"g against the MOR contrast: slope {s['estimate']:+.4f} per pp ({format_p(s['p'])})",
                 fontsize=10)
    units = result.units
    rows = units if result.mode == "study" else units.loc[np.isfinite(units["MOR_contrast"].to_numpy(float))]
    if len(rows) <= 40:  # label each bubble with its study (outcome-level: one label per study)
        from meta.plots.common import place_labels

        names = rows["label"] if "label" in rows.columns else rows["study_id"]
        seen, xs, ys, texts = set(), [], [], []
        for name, x, y in zip(names, rows["MOR_contrast"], rows["yi"]):
            text = str(name)
            if text in seen:
                continue
            seen.add(text)
            xs.append(x), ys.append(y), texts.append(text if len(text) <= 28 else text[:27] + "…")
        place_labels(ax, xs, ys, texts)  # each label where it overlaps no other label and no bubble
    else:  # many points: rasterise them so the SVG stays small
        for collection in ax.collections:
            collection.set_rasterized(True)
    return plain_text(ax.figure)  # study ids as written, never mathtext


#: Files written by :func:`write_reanalysis_outputs` (the bubble plot only when the regression was fitted).
OUTPUT_FILES = ("annotated_outcomes.csv", "analysis_units.csv", "sensitivity.csv", "results.json",
                "forest.png", "forest.svg", "bubble.png", "bubble.svg")


def write_reanalysis_outputs(result: ReanalysisResult, directory, *, json_text: str | None = None) -> list[Path]:
    """Write the annotated table, analysis units, sensitivity table, results JSON and the forest and bubble
    plots (PNG + SVG) into ``directory``.

    ``directory`` should be a fresh staging folder (:func:`occupancy.atomic_output.atomic_directory`), so a
    failure never leaves a partial result.  The figures are drawn before anything is written.
    """
    from meta.csv_safety import csv_text
    from meta.plots import save_figure

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    figures = {"forest": forest_figure(result), "bubble": bubble_figure(result)}
    written = []
    for name, frame in (("annotated_outcomes.csv", result.annotation.table), ("analysis_units.csv", result.units),
                        ("sensitivity.csv", result.sensitivity)):
        # text cells (study ids, labels) that a spreadsheet would run as formulas get a leading '
        (directory / name).write_text(csv_text(frame, index=False, float_format="%.6g"), encoding="utf-8")
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


def _ci_sentence(d) -> str:
    lb, ub = d.get("ci_lb"), d.get("ci_ub")
    if lb is None or ub is None or not (np.isfinite(lb) and np.isfinite(ub)):
        return ""
    return " The 95 % CI includes 0." if lb <= 0 <= ub else f" The whole 95 % CI lies {'below' if ub < 0 else 'above'} 0."


def _limited(frame, caption: str):
    """At most :data:`MAX_REPORT_ROWS` rows, with the caption saying where the rest are."""
    if len(frame) <= MAX_REPORT_ROWS:
        return frame, caption
    return frame.head(MAX_REPORT_ROWS), (caption + f" First {MAX_REPORT_ROWS} of {len(frame)} rows; all of them are "
                                         "in annotated_outcomes.csv.")


def _annotation_table(result: ReanalysisResult):
    """The per-outcome annotation, with short headers and combined columns so it fits the page width."""
    import pandas as pd

    t = result.annotation.table

    def pct(v):
        return "–" if not np.isfinite(v) else f"{v:.0f}"

    frame = pd.DataFrame({
        "study": t["study_id"].astype(str), "outcome": t["outcome"].astype(str), "design": t["design"],
        "schedule": t["schedule_label"], "window (h)": t["window_h"],
        "MOR drug %": [pct(v) for v in t["MOR_drug"]],
        "MOR drug 5–95 %": [f"{pct(a)}–{pct(b)}" for a, b in zip(t["MOR_drug_p05"], t["MOR_drug_p95"])],
        "MOR placebo %": [pct(v) for v in t["MOR_placebo"]],
        "contrast MOR / KOR / DOR (pp)": [f"{pct(m)} / {pct(k)} / {pct(d)}" for m, k, d in
                                          zip(t["MOR_contrast"], t["KOR_contrast"], t["DOR_contrast"])],
    })
    return _limited(frame, "Blockade in percent of receptors (population mean; 5–95th percentile of the virtual "
                           "population); contrast = drug − placebo in percentage points.")


def _sensitivity_table(result: ReanalysisResult):
    import pandas as pd

    s = result.sensitivity

    def est(e, lb, ub):
        return "not estimable" if not np.isfinite(e) else f"{e:.3f} [{lb:.3f}, {ub:.3f}]"

    def model_label(name, hysteresis):
        return f"{name} ({hysteresis.replace('_', ' ')})" if isinstance(hysteresis, str) and hysteresis else name

    def pct(v):
        return format_number(v, ".0f", "–")

    hysteresis = s["hysteresis"] if "hysteresis" in s.columns else [""] * len(s)
    draws = (np.array([is_draws_interval(v) for v in s["interval"]], dtype=bool) if "interval" in s.columns
             else np.zeros(len(s), bool))
    frame = pd.DataFrame({
        "variant": s["variant"], "model": [model_label(m, h) for m, h in zip(s["model"], hysteresis)],
        "half-life (h)": [format_number(v, "g", "–") for v in s["half_life_h"]], "window": s["window"],
        "rescaled g [95 % CI]": [est(*v) + (" †" if d else "") for *v, d in
                                 zip(s["rescaled"], s["rescaled_ci_lb"], s["rescaled_ci_ub"], draws)],
        "regression g at 100 pp [95 % CI]": [est(*v) + (" †" if d else "") for *v, d in
                                             zip(s["regression"], s["regression_ci_lb"], s["regression_ci_ub"], draws)],
        "MOR contrast min / mean (pp)": [f"{pct(a)} / {pct(b)}" for a, b in zip(s["contrast_min"], s["contrast_mean"])],
    })
    caption = ("Each variant changes one choice of the base analysis (its model, half-life and window are listed); "
               "both adjusted estimates are shown for every variant.")
    if draws.any():
        spans = sorted({("the 2.5–97.5 % range" if v == DRAWS_INTERVAL else f"the {v}")
                        for v, d in zip(s["interval"], draws) if d})
        caption += (" † Parameter uncertainty of the pkpd model: the median estimate over the parameter draws and, in "
                    f"brackets, {' / '.join(spans)} of the draws' estimates (not a CI); its contrast column gives the "
                    "smallest contrast over the draws and the median of their mean contrasts.")
    return frame, caption


def reanalysis_report_section(result: ReanalysisResult):
    """The reanalysis as an :class:`occupancy.report.html.ReportSection` (key numbers, figures, tables, assumptions).

    Every reading is derived from the numbers it reads (direction, size, whether the CI includes 0,
    heterogeneity); comparisons with the review appear only when the bundled review is the data.
    """
    from occupancy.report.html import Assumption, KeyNumber, ReportFigure, ReportSection, ReportTable, figure_to_svg

    bundled = result.mode == "study"
    p = result.pooled_dict()
    a, b = result.adjusted["rescaled"], result.adjusted["regression"]
    table = result.annotation.table
    within = table[table["design"] == "within"]
    h = result.heterogeneity()
    what = "social-connectedness outcomes" if bundled else "the outcomes"
    keys = [KeyNumber("Pooled effect (Hedges' g)", format_estimate_ci(p),
                      read_effect(p, what) + (f" Reproduces the review's {REVIEW['pooled']}." if bundled else ""))]
    keys.append(KeyNumber("Heterogeneity (I², total)", f"{h['I2_total']:.1f} %", read_heterogeneity(h)))
    comps = ", ".join(f"{n.replace('sigma2 ', 'σ² ').replace('tau2', 'τ²')} = {v:.4g}" for n, v in h["components"])
    keys.append(KeyNumber("Variance of the true effects" + (" per level" if len(h["components"]) > 1 else ""), comps,
                          "Between-study variance τ² of the random-effects model." if len(h["components"]) == 1 else
                          "σ² per level of the multilevel model (outer to inner); I² per level: " +
                          ", ".join(f"{n} {v:.1f} %" for n, v in h["I2_levels"]) + "."))
    keys.append(KeyNumber("Adjusted to a full MOR contrast (rescaled)", format_estimate_ci(a),
                          "If the effect is proportional to how much more MOR blockade the drug condition had than "
                          "placebo, this is the effect of 100 % vs 0 % blockade." + _ci_sentence(a)
                          if np.isfinite(a["estimate"]) else "Not estimable; the warnings say why."))
    if np.isfinite(b["estimate"]):
        low = int((result.units["MOR_contrast"] < 95).sum())
        width_b, width_p = b["ci_ub"] - b["ci_lb"], p["ci_ub"] - p["ci_lb"]
        reading = (f"Linear extrapolation of g to a full contrast from {len(result.units)} units, {low} of them with a "
                   f"contrast below 95 pp; its CI is {width_b / width_p:.1f} times as wide as the pooled one."
                   + _ci_sentence(b))
    else:
        reading = "Not estimable; the warnings say why."
    keys.append(KeyNumber("Adjusted (meta-regression at 100 pp)", format_estimate_ci(b), reading))
    robust = [(label, result.robust.get(key)) for key, label in
              (("pooled", "pooled"), ("rescaled", "rescaled"), ("regression", "regression"))]
    if any(r for _, r in robust):
        n = next(r["n_clusters"] for _, r in robust if r)
        keys.append(KeyNumber(
            "Cluster-robust 95 % CIs (CR2, clusters = studies)",
            "; ".join(f"{label} [{r['ci_lb']:.4f}, {r['ci_ub']:.4f}]" for label, r in robust if r),
            f"The same three estimates with small-sample cluster-robust (CR2, Satterthwaite df) CIs over the {n} "
            "studies, which do not rely on the model's variances being right; wider intervals mean the model-based "
            "ones above are optimistic."))
    s = result.slope
    if s is not None:
        direction = "more negative" if s["estimate"] < 0 else "more positive"
        if s["ci_lb"] <= 0 <= s["ci_ub"]:
            slope_reading = (f"g changes by {s['estimate']:+.4f} per percentage point of contrast; the 95 % CI includes "
                             "0, so these data do not show that larger contrasts go with larger effects.")
        else:
            slope_reading = (f"g changes by {s['estimate']:+.4f} per percentage point of contrast: larger contrasts go "
                             f"with {direction} effects (the 95 % CI excludes 0).")
        keys.append(KeyNumber("Slope of g on the MOR contrast", f"{s['estimate']:+.4f} per pp ({format_p(s['p'])})",
                              slope_reading))
    for sid, grp in within.groupby("study_id", sort=False):
        keys.append(KeyNumber(f"MOR contrast, {sid}",
                              ", ".join(format_number(v, ".0f", "–") for v in grp["MOR_contrast"].head(10)) + " pp",
                              f"Drug {grp['MOR_drug'].mean():.0f} % vs placebo {grp['MOR_placebo'].mean():.0f} %: "
                              f"residual blockade from a drug session {grp['isi_days'].iloc[0]:g} days earlier "
                              f"({_share(float(grp['residual_fraction'].iloc[0]))} of the participants)."))
        if len(keys) > 40:
            break
    if result.trimfill is not None:
        tf = result.trimfill
        if tf.k0 == 0:
            tf_reading = "No studies were imputed: the funnel of study aggregates shows no asymmetry to fill."
        else:
            tf_reading = (f"{tf.k0} studies imputed on the {tf.side} side of the funnel; the filled estimate is "
                          f"{format_estimate_ci({'estimate': tf.estimate, 'ci_lb': tf.ci_lb, 'ci_ub': tf.ci_ub})}.")
        if bundled:
            tf_reading += f" The review reports {REVIEW['trimfill']}."
        keys.append(KeyNumber("Trim-and-fill (study aggregates)",
                              f"{tf.k0} missing (SE {format_number(tf.se_k0, '.1f')})", tf_reading))
    keys.append(selmodel_key_number(result.selmodel))
    mp = result.median_power
    chance = "a small" if mp < 0.5 else "a moderate" if mp < 0.8 else "a good"
    keys.append(KeyNumber(f"Median power to detect g = {result.settings.power_effect:g}", f"{mp:.2f}",
                          f"The median study alone had {chance} chance ({mp:.0%}) of detecting an effect this size."
                          + (f" The review reports {REVIEW['median_power']}." if bundled else "")))
    single = result.sensitivity_variants()
    if len(single) > 1:
        values = single["rescaled"].to_numpy(float)
        if np.isfinite(values).any():
            keys.append(KeyNumber("Sensitivity of the rescaled estimate", f"{np.nanmin(values):.3f} to {np.nanmax(values):.3f}",
                                  "Range over the base analysis and its one-at-a-time variants (models, half-lives, "
                                  "window ends; the table lists each variant)."))
    u = result.uncertainty
    if u.get("n") and "rescaled_p025" in u:
        keys.append(KeyNumber("Parameter uncertainty of the pkpd model (rescaled)",
                              f"{u['rescaled_lo']:.3f} to {u['rescaled_hi']:.3f}",
                              f"{_draws_span(u)} of the estimates over {u['n']} typical-subject parameter sets drawn "
                              f"from the calibration's bootstrap (median {u['rescaled_median']:.3f}; same virtual "
                              "population)." + "".join(f" {w[0].upper()}{w[1:]}." for w in model_uncertainty_words(u))))
    if result.mc.get("n") and "rescaled_p025" in result.mc:
        keys.append(KeyNumber("Monte Carlo spread (rescaled)",
                              f"{result.mc['rescaled_lo']:.3f} to {result.mc['rescaled_hi']:.3f}",
                              f"{_draws_span(result.mc)} of {result.mc['n']} draws of the population parameters."))

    figures = []
    for title, make, caption in (
        ("Forest plot with the MOR blockade contrast", forest_figure,
         "Each row's MOR contrast (drug − placebo, pp) is shown alongside its effect."),
        ("Effect size against the MOR blockade contrast", bubble_figure,
         "Meta-regression of g on the contrast; bubble size = model weight; labels = studies."),
    ):
        fig = make(result)
        if fig is not None:
            figures.append(ReportFigure(title=title, svg=figure_to_svg(fig), caption=caption))

    ann_frame, ann_caption = _annotation_table(result)
    sens_frame, sens_caption = _sensitivity_table(result)
    tables = (
        ReportTable.from_frame("Blockade annotation per outcome", ann_frame, caption=ann_caption),
        ReportTable.from_frame("Sensitivity of the adjusted estimates", sens_frame, caption=sens_caption),
    )
    title = ("Blockade-adjusted reanalysis of the naltrexone literature" if bundled
             else f"Blockade-adjusted reanalysis of {result.annotation.source}")
    intro = (("Each outcome of Løseth, Trøstheim & Leknes (2024) is annotated" if bundled else
              f"Each of the {len(result.annotation)} outcomes of {result.annotation.source} is annotated")
             + " with the MOR blockade its participants most likely had, including residual blockade carried into "
             "the placebo session of short-washout crossovers; the blockade contrast feeds a meta-regression and "
             f"a blockade-adjusted pooled estimate. Heterogeneity: {format_heterogeneity(h)}.")
    from occupancy.annotation.literature import is_bundled_data_note

    assumptions = [Assumption(text=t, source=src) for t, src in assumptions_for(result.mode, result.settings)]
    assumptions += [Assumption(text=w, source="warning") for w in result.warnings if not is_bundled_data_note(w)]
    notes = tuple(w for w in result.warnings if is_bundled_data_note(w))
    return ReportSection(title=title, intro=intro, key_numbers=tuple(keys), figures=tuple(figures), tables=tables,
                         assumptions=tuple(assumptions), reading=reanalysis_reading(result), data_notes=notes)


def reanalysis_reading(result: ReanalysisResult) -> str:
    """The plain-language paragraph above the reanalysis's key numbers."""
    p = result.pooled_dict()
    a = result.adjusted["rescaled"]
    what = "the bundled review's studies" if result.mode == "study" else f"the {len(result.units)} outcomes"
    text = (f"Pooled over {what}, naltrexone changed the outcome by g = {p['estimate']:.2f} "
            f"(95 % CI {p['ci_lb']:.2f} to {p['ci_ub']:.2f}). ")
    if np.isfinite(a["estimate"]):
        text += (f"Many participants were not fully blocked, or still carried blockade into their placebo session; "
                 f"scaled to a full drug–placebo MOR contrast the estimate is g = {a['estimate']:.2f} "
                 f"({a['ci_lb']:.2f} to {a['ci_ub']:.2f}). ")
    text += "The key numbers below give both adjustments, heterogeneity and the study power; the assumptions are at the end."
    return text
