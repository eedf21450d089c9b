"""What the web app shows of a result: formatted key numbers, tables and figures (no Shiny, no science).

Everything here reads a library result (:class:`~occupancy.simulation.simulate.SimulationResult`,
:class:`~occupancy.workflows.planning.result.PlanResult`,
:class:`~occupancy.workflows.reanalysis.result.ReanalysisResult`) and formats it.  Optional parts are shown
when the result carries them: population percentiles, a parameter-uncertainty interval for the typical
subject (``MOR_ci_lo``/``MOR_ci_hi``) and drug concentrations (``C_*`` keys), so models that add them need
nothing here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONCENTRATION_PREFIX = "C_"


@dataclass(frozen=True)
class KeyNumber:
    """A headline number with its label, an optional note and the warnings that concern it."""

    label: str
    value: str
    note: str = ""
    warnings: tuple[str, ...] = ()
    output_id: str | None = None  # the stable output id showing ``value`` (when there is one)


def fmt(value, digits: int = 1, unit: str = "", none: str = "–") -> str:
    """``value`` with ``digits`` decimals (and a unit), or ``none`` for None/NaN/inf."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return none
    return f"{value:.{digits}f}{(' ' + unit) if unit else ''}"


def hours_text(hours) -> str:
    """``26.4 h`` up to three days, ``10.9 d`` beyond; ``not within the horizon`` for inf."""
    if hours is None or not math.isfinite(hours):
        return "not within the simulated horizon"
    return f"{hours:.3g} h" if hours < 72 else f"{hours:.4g} h ({hours / 24:.3g} d)"


# --------------------------------------------------------------------------------------------------
# Simulate
# --------------------------------------------------------------------------------------------------


def mor_at_first_assessment(result) -> str:
    """The typical subject's MOR blockade (%) at the first assessment (a window's mean), one decimal."""
    if not result.assessments:
        return "–"
    return fmt(result.assessments[0]["MOR"], 1, none="n/a")


def mor_interval(result) -> str:
    """``95 % interval 88.1–95.0 %`` over parameter uncertainty when the result has one, else ``""``."""
    if not result.assessments:
        return ""
    a = result.assessments[0]
    if a.get("MOR_ci_lo") is None or a.get("MOR_ci_hi") is None:
        return ""
    return f"95 % interval (parameter uncertainty) {fmt(a['MOR_ci_lo'])}–{fmt(a['MOR_ci_hi'])} %"


def population_line(result) -> str:
    """Population percentiles and P(MOR ≥ 90 %) at the first assessment, when simulated."""
    if not result.assessments or result.assessments[0].get("MOR_p05") is None:
        return ""
    a = result.assessments[0]
    return (f"population: 5–95th percentile {fmt(a['MOR_p05'])}–{fmt(a['MOR_p95'])} %, "
            f"P(MOR ≥ 90 %) = {fmt(a['MOR_prob_ge_90'], 2)}")


def simulation_key_numbers(result) -> list[KeyNumber]:
    s = result.summaries
    residual = s.get("residual") or {}
    return [
        KeyNumber("Time with MOR ≥ 90 %", fmt(s.get("time_ge_90_MOR_h"), 1, "h"),
                  "typical subject, whole schedule"),
        KeyNumber(f"MOR below {s.get('threshold', 10):g} % after the last dose", hours_text(s.get("time_until_below_h"))),
        KeyNumber(f"Residual at {hours_text(s.get('residual_at_h'))}",
                  f"MOR {fmt(residual.get('MOR'))} %",
                  f"KOR {fmt(residual.get('KOR'))} %, DOR {fmt(residual.get('DOR'))} %"),
    ]


def assessment_frame(result):
    """The assessment table (every key the library reports per assessment, in its order)."""
    import pandas as pd

    return pd.DataFrame(list(result.assessments))


def timecourse_frame(result):
    """The time course (what ``timecourse.csv`` holds)."""
    return result.timecourse


def display_frame(frame):
    """A copy rounded for the screen: percentages to 1 decimal, probabilities to 3, times to 4 digits."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype.kind != "f":
            continue
        name = str(col)
        if name in ("estimate", "se", "ci_lb", "ci_ub", "g", "yi", "vi", "yi_adj", "vi_adj", "sei") or name.startswith(
                ("rescaled", "regression")):
            out[col] = out[col].round(4)
        elif "prob" in name or name.startswith(("power", "p_", "QE_p")) or name == "p":
            out[col] = out[col].round(3)
        elif name.startswith(CONCENTRATION_PREFIX):
            out[col] = out[col].map(lambda x: float(f"{x:.4g}") if np.isfinite(x) else x)
        elif name.endswith(("_h", "_days")) or name in ("time_h",):
            out[col] = out[col].round(3)
        else:
            out[col] = out[col].round(2)
    return human_headers(out)


#: Headers the report's :func:`~occupancy.report.html.column_label` leaves without a unit or in lower case.
_SCREEN_LABELS = {"residual_MOR": "Residual MOR at session start, mean (%)",
                  "residual_MOR_p50": "Residual MOR at session start, median (%)",
                  "residual_MOR_p95": "Residual MOR at session start, 95th percentile (%)",
                  "first_assessment_MOR": "MOR at the first assessment, mean (%)",
                  "MOR_mean": "MOR blockade, mean (%)", "n_total": "Participants in total (N)",
                  "power": "Power, full blockade (0–1)", "power_attenuated": "Power with the blockade attenuation (0–1)",
                  "quantity": "Quantity", "value": "Value"}


def human_headers(frame):
    """The frame with its columns as words with units (:func:`occupancy.report.html.column_label`, the report's
    headers): the screen never shows code names such as ``MOR_prob_ge_90``.  Downloads keep the CLI's names."""
    from occupancy.report.html import column_label

    labels, seen = [], set()
    for col in frame.columns:
        label = _SCREEN_LABELS.get(str(col)) or column_label(col)
        if label in seen:  # two names with the same words: keep the code name rather than hide a column
            label = f"{label} [{col}]"
        seen.add(label)
        labels.append(label)
    out = frame.copy()
    out.columns = labels
    return out


def concentration_keys(arrays) -> list[str]:
    """Concentration series of a time course (keys ``C_<substance>_<unit>``), in their order."""
    return [k for k in arrays if str(k).startswith(CONCENTRATION_PREFIX)]


def concentration_label(key: str) -> str:
    """``C_6b_naltrexol_ng_ml`` → ``6b naltrexol (ng/mL)``."""
    from occupancy.app.forms import label_for

    return label_for(key[len(CONCENTRATION_PREFIX):]).replace("6b ", "6β-")


def _layout_fixed(fig) -> None:
    """Keep the margins set here (Shiny would otherwise run the slow "tight" layout on every redraw)."""
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    fig.set_layout_engine(PlaceHolderLayoutEngine(adjust_compatible=True, colorbar_gridspec=True))


def timecourse_figure(result):
    """The time course for the app: the report's blockade panel (MOR/KOR/DOR, population band, 90 % line,
    windows shaded), a parameter-uncertainty band when present, and a concentration panel when the model
    reports concentrations."""
    from matplotlib.figure import Figure

    from occupancy.report.timecourse_figure import plot_concentrations, plot_timecourse

    arrays = result.timecourse_arrays
    conc = concentration_keys(arrays)
    fig = Figure(figsize=(9.0, 6.6 if conc else 4.6))
    ax = fig.add_subplot(2, 1, 1) if conc else fig.add_subplot()
    plot_timecourse(result, ax)  # with the parameter-uncertainty band when the result has one
    if conc:
        cax = fig.add_subplot(2, 1, 2, sharex=ax)
        plot_concentrations(result, cax, label=concentration_label)  # the report's panel: ng/mL, log axis
        cax.set_ylabel("plasma concentration")
        cax.set_title("")
        ax.set_xlabel("")
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.08, top=0.95, hspace=0.18)
    else:
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.12, top=0.92)
    _layout_fixed(fig)
    return fig


#: Line colours, each at least 3:1 against white (WCAG 1.4.11), and line styles so colour is not the only cue.
COLORS = {"MOR": "black", "KOR": "#1f77b4", "DOR": "#c62828"}
DASHES = {"MOR": None, "KOR": "8,4", "DOR": "2,3"}
DOSE_COLOR = "#a84b00"  # dark orange, 5:1 on white (the old #ff7f0e was 2.5:1)
_SERIES = ("#7b3fa8", "#a84b00", "#8c564b", "#0b7580", "#6b6c00")
_SERIES_DASHES = (None, "8,4", "2,3", "10,3,2,3", "4,4")


def _time_axis(times_h):
    t = np.asarray(times_h, dtype=float)
    days = t.size > 0 and (t[-1] - t[0]) > 72.0  # as the report's figure: days beyond three days
    return (t / 24.0 if days else t), days


TIME_VIEWS = {"task": "First 24 h (the sessions)", "washout": "Whole washout"}


def task_window_h(result) -> tuple[float, float]:
    """The hours the task view shows: from the first dose to 24 h after it, or to the end of the last
    assessment (plus an hour) when that is later."""
    t = np.asarray(result.timecourse_arrays["time_h"], dtype=float)
    start = float(t[0])
    ends = [a.get("end_h") if a.get("end_h") is not None else a["time_h"] for a in result.assessments]
    end = max([start + 24.0] + [float(e) + 1.0 for e in ends])
    return start, min(end, float(t[-1]))


def timecourse_svg(result, view: str = "task") -> str:
    """The time course as inline SVG (the page's live chart): MOR/KOR/DOR, the population band, a
    parameter-uncertainty band when present, the 90 % line, assessments (windows shaded), doses and
    infusions; a concentration chart below it when the model reports concentrations.

    ``view="task"`` opens on the first 24 h (or up to the last assessment), where the sessions are;
    ``"washout"`` shows the whole simulated span (days beyond three days)."""
    from occupancy.app.svgplot import Chart
    from occupancy.dosing.quantities import format_time_h

    arrays = result.timecourse_arrays
    if view == "task":
        x, days = np.asarray(arrays["time_h"], dtype=float), False
        lo, hi = task_window_h(result)
    else:
        x, days = _time_axis(arrays["time_h"])
        lo, hi = float(x[0]), float(x[-1])
    scale = 24.0 if days else 1.0
    chart = Chart(title=f"{result.model.drug} – {result.model.name} model", xlabel=f"time ({'days' if days else 'h'})",
                  ylabel="receptor blockade (%)", ylim=(0.0, 105.0), xlim=(lo, hi))
    for a in result.assessments:
        if a.get("end_h") is not None:
            chart.vspan(a["time_h"] / scale, a["end_h"] / scale, color="#2ca02c", opacity=0.12)
        else:
            chart.vline(a["time_h"] / scale, color="#2ca02c", opacity=0.5)
    if "MOR_p05" in arrays:
        chart.band(x, arrays["MOR_p05"], arrays["MOR_p95"], color="black", opacity=0.15,
                   label="MOR 5–95 % (population)")
    if "MOR_ci_lo" in arrays and "MOR_ci_hi" in arrays:
        chart.band(x, arrays["MOR_ci_lo"], arrays["MOR_ci_hi"], color="#9467bd", opacity=0.22,
                   label="MOR 95 % interval (parameter uncertainty)")
    for r in ("MOR", "KOR", "DOR"):
        chart.line(x, arrays[r], color=COLORS[r], dash=DASHES[r], label=r)
    chart.hline(90.0, color="#6c757d", label="90 %")
    for i, a in enumerate(result.assessments, start=1):
        when = format_time_h(a["time_h"]) + ("" if a.get("end_h") is None else f"–{format_time_h(a['end_h'])}")
        value = a["MOR"]
        if value == value:
            chart.point(a["time_h"] / scale, value, color="#2ca02c", text=str(i),
                        tooltip=f"{i}: {a['label']} ({when}): MOR {fmt(value)} %, KOR {fmt(a['KOR'])} %, "
                                f"DOR {fmt(a['DOR'])} %")
    for d in result.schedule.doses:
        if d.duration_min > 0:  # an infusion: its running time is shaded
            chart.vspan(d.time_h / scale, (d.time_h + d.duration_min / 60.0) / scale, color=DOSE_COLOR, opacity=0.18)
        chart.point(d.time_h / scale, 0.0, color=DOSE_COLOR, shape="triangle", r=6,
                    tooltip=f"dose at {format_time_h(d.time_h)}")
    hover = {f"{r} (%)": arrays[r] for r in ("MOR", "KOR", "DOR")}
    if "MOR_p05" in arrays:
        hover["MOR 5th percentile (%)"] = arrays["MOR_p05"]
        hover["MOR 95th percentile (%)"] = arrays["MOR_p95"]
    from occupancy.report.html import column_label

    for k in concentration_keys(arrays):
        hover[column_label(k)] = arrays[k]
    chart.hover(x, hover, "days" if days else "h")
    span = f"{format_time_h(lo * scale)} to {format_time_h(hi * scale)}"
    svg = chart.render(f"Blockade time course: MOR, KOR and DOR from {span} after the first dose")
    conc = concentration_keys(arrays)
    if conc:
        svg += concentration_svg(result, x, days, xlim=(lo, hi))
    return svg


def concentration_svg(result, x=None, days=None, xlim=None) -> str:
    """Drug concentrations over time (log axis when they span more than two decades)."""
    from occupancy.app.svgplot import Chart

    arrays = result.timecourse_arrays
    if x is None:
        x, days = _time_axis(arrays["time_h"])
    keys = concentration_keys(arrays)
    values = np.concatenate([np.asarray(arrays[k], float) for k in keys])
    positive = values[np.isfinite(values) & (values > 0)]
    log = positive.size > 0 and positive.max() / positive.min() > 100
    ylim = (max(positive.max() * 1e-4, positive.min()), positive.max() * 2) if log else None
    chart = Chart(height=300, xlabel=f"time ({'days' if days else 'h'})", ylabel="plasma concentration",
                  xlim=xlim or (float(x[0]), float(x[-1])), ylog=log, ylim=ylim,
                  title="concentrations (typical subject)")
    for i, k in enumerate(keys):
        chart.line(x, arrays[k], color=_SERIES[i % len(_SERIES)], dash=_SERIES_DASHES[i % len(_SERIES_DASHES)],
                   label=concentration_label(k))
    return chart.render("Drug concentrations over time")


def dose_curve_svg(curve, mark_dose: float | None = None) -> str:
    """plantrexone's/planoxone's dose → blockade curve as inline SVG, with the first dose marked."""
    from occupancy.app.svgplot import Chart

    chart = Chart(height=340, title=curve.title, xlabel=f"dose ({curve.unit})", ylabel="blockade (%)",
                  xlog=True, ylim=(0.0, 100.0), legend="upper left")
    for r, values in curve.curves.items():
        chart.line(curve.doses, values, color=COLORS.get(r, "black"), dash=DASHES.get(r), label=r)
    if mark_dose is not None and mark_dose > 0:
        mor = curve.at(mark_dose, "MOR")
        text = f"{mark_dose:.4g} {curve.unit}: MOR {mor:.1f} %"
        chart.point(mark_dose, mor, color="#2ca02c", label=text, tooltip=text)
    return chart.render("Dose to blockade curve")


def dose_curve_comparison(curve, dose: float | None, result) -> list[KeyNumber]:
    """The dose curve's MOR for the first dose beside the time course's MOR at the first assessment, each with
    what it is, so the two numbers for the same dose do not look contradictory (issue 21.5): the curve is a
    published single-dose hyperbola at one reference time (:attr:`DoseCurve.basis`), the time course the chosen
    model's typical subject under the whole schedule at the chosen time."""
    from occupancy.dosing.quantities import format_time_h

    out = []
    if dose is not None and dose > 0:
        out.append(KeyNumber(f"Dose curve: MOR at {dose:.4g} {curve.unit}", f"{curve.at(dose, 'MOR'):.1f} %",
                             f"{curve.basis[:1].upper()}{curve.basis[1:]}.", output_id="dose_curve_mor"))
    if result.assessments:
        a = result.assessments[0]
        when = format_time_h(a["time_h"]) + ("" if a.get("end_h") is None else f"–{format_time_h(a['end_h'])} "
                                             "(window mean)")
        doses = len(result.schedule.doses)
        out.append(KeyNumber(
            f"Time course: MOR at '{a['label']}' ({when})", f"{mor_at_first_assessment(result)} %",
            f"The {result.model.name} model's typical subject at the assessment time you chose, with "
            + ("the dose" if doses == 1 else f"all {doses} doses") + " of the schedule: the number at the top.",
            output_id="time_course_mor"))
    return out


# --------------------------------------------------------------------------------------------------
# Plan
# --------------------------------------------------------------------------------------------------


#: The power curve's two lines (the report's colours: blue and red, both over 5:1 on white).
_POWER_COLORS = ("#1f4e9c", "#c0392b")


def plan_power_curve_svg(result) -> str:
    """The report's power curve (:func:`occupancy.report.plan_figures.power_curve_figure`) as inline SVG.

    Notes
    -----
    Redrawn at every N, effect, α or power edit; matplotlib takes 100–350 ms for it, this a few ms, so a
    Plan edit stays under the 300 ms of issue 21.  The PNG/SVG downloads and the report keep matplotlib.
    """
    from occupancy.app.svgplot import Chart

    curve = result.power_curve
    target = float(result.design.get("power", 0.8))
    test = "two-sample t" if result.kind == "between" else "paired t"
    chart = Chart(height=340, title=f"power of the {test}-test (α = {result.design.get('alpha', 0.05):g})",
                  xlabel="total N" + (" (two equal groups)" if result.kind == "between" else " (participants)"),
                  ylabel="power", xlim=(0.0, float(curve.n_total[-1])), ylim=(0.0, 1.02), legend="lower right")
    chart.line(curve.n_total, curve.power, color=_POWER_COLORS[0], label=f"full blockade, g = {result.effect:g}")
    chart.line(curve.n_total, curve.power_attenuated, color=_POWER_COLORS[1], dash="6,3",
               label=f"attenuated, g = {result.effect_attenuated:.3g} (contrast {result.contrast_pp:.0f} pp)")
    chart.hline(target, color="black", dash="2,3", label=f"target power {target:g}")
    chart.vline(result.n_planned, color="#5f6b6d", opacity=1.0)
    chart.point(result.n_planned, float(np.interp(result.n_planned, curve.n_total, curve.power_attenuated)),
                color="#5f6b6d", label=f"planned N = {result.n_planned}",
                tooltip=f"planned N = {result.n_planned}: power {result.power_attenuated:.3f} with the attenuation")
    for n_req, colour, what in ((result.n_required, _POWER_COLORS[0], "full blockade"),
                                (result.n_required_attenuated, _POWER_COLORS[1], "attenuated")):
        if n_req is not None and n_req <= curve.n_total[-1]:
            chart.point(n_req, target, color=colour, tooltip=f"N for power {target:g} ({what}): {n_req}")
    return chart.render("Power against the number of participants")


def plan_min_isi(result) -> str:
    """Minimum intersession interval (days, 95th-percentile person), one decimal; ``not reached`` beyond the
    search horizon."""
    return fmt(result.min_isi_days, 1, none="not reached")


def plan_power(result) -> str:
    """Power (0–1, three decimals) of the planned N for the blockade-attenuated effect."""
    return fmt(result.power_attenuated, 3)


def _concerning(warnings, *words) -> tuple[str, ...]:
    return tuple(w for w in warnings if any(word in w for word in words))


def plan_recommendations(result) -> list[str]:
    """The plan in plain words (the Plan tab's recommendations box): when to test, how far apart the
    sessions, how many participants; what to do when a criterion is not reached.  Numbers come from
    ``result`` (the library's plan); this only words them."""
    design = result.design
    threshold = design.get("delay_threshold_pct", 90)
    probability = design.get("delay_probability", 0.95)
    criterion = (f"the {probability:g} × {threshold:g} % criterion: at least {probability * 100:g} % of the "
                 f"simulated people have at least {threshold:g} % of their MOR receptors blocked")
    out = []
    if result.min_delay_h is None:
        out.append(f"The dose never meets {criterion}. Raise the dose (the dose curve on the Simulate tab shows "
                   "where MOR blockade passes the threshold), or, if a lower blockade is acceptable for your "
                   "question, lower the threshold under 'Thresholds and search limits' and report it.")
    else:
        out.append(f"Start the task at least {fmt(result.min_delay_h, 2)} h after the last dose: from then on "
                   f"{criterion}.")
    if result.kind == "within":
        if result.min_isi_days is None:
            out.append("No intersession interval within the search limit lets the blockade wash out; use a "
                       "between-subjects design or raise the limit under 'Thresholds and search limits'.")
        else:
            text = (f"Leave at least {plan_min_isi(result)} days between sessions, so that even the 95th-percentile "
                    f"person has at most {design.get('residual_threshold_pct', 5):g} % MOR blockade left at the "
                    "next session.")
            if result.isi_days is not None and result.isi_days < result.min_isi_days:
                text += f" Your planned {result.isi_days:g} days are too short: lengthen the interval."
            out.append(text)
    target = design.get("power", 0.8)
    if result.n_required_attenuated is None:
        out.append(f"No finite N reaches power {target:g} for the attenuated effect g = "
                   f"{result.effect_attenuated:+.3f}: the blockade contrast is too small to detect it.")
    else:
        full = "–" if result.n_required is None else result.n_required
        text = (f"Recruit {result.n_required_attenuated} participants for power {target:g} on the attenuated effect "
                f"(g {result.effect:+.3f} × contrast {fmt(result.contrast_pp, 1)} pp / 100 = "
                f"{result.effect_attenuated:+.3f}), not the {full} a full-blockade effect would need.")
        if result.n_planned is not None and result.n_planned < result.n_required_attenuated:
            text += f" Your planned N = {result.n_planned} gives power {plan_power(result)} only."
        out.append(text)
    return out


def plan_uncertainty_lines(result, pending: bool = False) -> list[str]:
    """The plan's model uncertainty in words (under the recommendations box): a heading line, then one line per
    headline number, each the library's sentence (:meth:`PlanResult.model_uncertainty_sentences`, what the text
    summary and the report say) after the number's name.  ``pending``: one line saying the draws are running."""
    from occupancy.workflows.planning.uncertainty import LABELS

    if pending:
        return ["Model uncertainty: re-computing these numbers over the model's parameter draws… (the numbers "
                "shown are the fitted model's)"]
    words = result.model_uncertainty_sentences()
    note = result.model_uncertainty_note
    if not words:
        return [f"Model uncertainty: {note}." if note else "Model uncertainty: not computed."]
    out = [f"Over the model's parameter uncertainty ({note}):" if note else "Over the model's parameter uncertainty:"]
    for key, (label, _unit, _digits) in LABELS.items():
        if key in words:
            name = label.replace(">=", "≥").replace("the primary assessment", f"'{result.primary_assessment}'")
            out.append(f"{name[:1].upper()}{name[1:]}: {words[key]}")
    return out


def plan_key_numbers(result) -> list[KeyNumber]:
    """The planner's headline numbers (value without unit; the unit is in the app's label), each with a note
    and the warnings about it; ``output_id`` is the Plan tab's output showing it."""
    w = result.warnings
    design = result.design
    out = [KeyNumber(
        "Minimum delay after the last dose (h)", fmt(result.min_delay_h, 2, none="not reached"),
        f"P(MOR ≥ {design.get('delay_threshold_pct', 90):g} %) ≥ {design.get('delay_probability', 0.95):g} in the "
        f"population. Caveat: {result.min_delay_note}", _concerning(w, "minimum delay", "never reaches"),
        "plan_min_delay_h")]
    if result.kind == "within":
        note = (f"residual MOR ≤ {design.get('residual_threshold_pct', 5):g} % at the next session for the "
                f"95th-percentile person (median person: {fmt(result.min_isi_days_median, 1, none='not reached')} "
                "days)")
        if result.isi_days is not None:
            note += (f"; at the planned {result.isi_days:g} days the residual is {fmt(result.residual_at_isi_p95)} % "
                     f"(95th percentile), {fmt(result.residual_at_isi_p50)} % (median)")
        out.append(KeyNumber("Minimum intersession interval (days)", plan_min_isi(result), note,
                             _concerning(w, "isi_days", "emax model"), "plan_min_isi_days"))
    else:
        out.append(KeyNumber("Minimum intersession interval (days)", "–", "between-subjects: one session each",
                             (), "plan_min_isi_days"))
    residual = result.residual_placebo() or {}
    out.append(KeyNumber(
        f"Blockade contrast at '{result.primary_assessment}' (pp)", fmt(result.contrast_pp, 1),
        f"drug − placebo mean MOR blockade (placebo sessions: {fmt(residual.get('MOR'))} % residual); effect "
        f"g {result.effect:+.3f} → {result.effect_attenuated:+.3f} (g × contrast / 100)", (), "plan_contrast"))
    out.append(KeyNumber(
        "Power of the planned N (attenuated effect)", plan_power(result),
        f"N = {result.n_planned} ({result.n_planned_source}); {fmt(result.power, 3)} with full blockade",
        _concerning(w, "power"), "plan_power"))
    balanced = (f"; {result.n_required_attenuated_balanced} rounded up to whole orders"
                if result.kind == "within" and result.n_required_attenuated_balanced is not None else "")
    out.append(KeyNumber(
        f"N for power {design.get('power', 0.8):g} (attenuated effect)",
        "no finite N" if result.n_required_attenuated is None else str(result.n_required_attenuated),
        f"{'–' if result.n_required is None else result.n_required} with full blockade{balanced}", (),
        "plan_n_required"))
    if result.tablets is not None:
        cost = "" if result.cost is None else f"; cost {result.cost:.2f} {design.get('currency', '')}".rstrip()
        out.append(KeyNumber("Tablets", str(result.tablets),
                             f"{design.get('tablet_mg', 50):g} mg tablets for {fmt(result.total_mg, 0, 'mg')} over "
                             f"{result.drug_sessions_total} drug sessions (plantrexone's pooled count "
                             f"{result.tablets_pooled}){cost}", (), "plan_tablets"))
    else:
        total = "–" if result.total_mg is None else f"{result.total_mg:.4g} mg in total"
        out.append(KeyNumber("Tablets", "–", f"no tablets for {result.drug}; {total}", (), "plan_tablets"))
    return out


def plan_other_warnings(result) -> tuple[str, ...]:
    """Warnings not shown beside a key number."""
    shown = {x for k in plan_key_numbers(result) for x in k.warnings}
    return tuple(x for x in result.warnings if x not in shown)


# --------------------------------------------------------------------------------------------------
# Reanalyse
# --------------------------------------------------------------------------------------------------


def reanalysis_estimates(result):
    """Pooled, blockade-adjusted and trim-and-fill estimates (Hedges' g) as one table."""
    import pandas as pd

    payload = result.to_dict()
    keys = ("estimate", "se", "ci_lb", "ci_ub")
    rows = [{"quantity": "pooled g", **{k: payload["pooled"].get(k) for k in keys},
             "assumes": "random effects (REML)" if result.mode == "study" else "three-level random effects (REML)"}]
    for name, key in (("adjusted (rescaled)", "adjusted"),
                      ("adjusted (regression at full contrast)", "adjusted_regression")):
        a = payload[key]
        rows.append({"quantity": name, **{k: a.get(k) for k in keys}, "assumes": a.get("assumes", "")})
    tf = payload.get("trimfill") or {}
    if tf.get("estimate") is not None:
        rows.append({"quantity": f"trim-and-fill ({tf['k0']} missing, side {tf.get('side')})",
                     "estimate": tf.get("estimate"), "se": None, "ci_lb": tf.get("ci_lb"), "ci_ub": tf.get("ci_ub"),
                     "assumes": "funnel-plot asymmetry from missing studies"})
    return pd.DataFrame(rows, columns=["quantity", *keys, "assumes"])


def heterogeneity_text(result) -> str:
    pooled = result.to_dict()["pooled"]
    parts = []
    for key, label, digits in (("tau2", "τ²", 4), ("I2", "I²", 1), ("QE", "Q", 2), ("QE_p", "p(Q)", 3)):
        value = pooled.get(key)
        if isinstance(value, (int, float)) and value is not None:
            parts.append(f"{label} = {value:.{digits}f}" + (" %" if key == "I2" else ""))
    if isinstance(pooled.get("sigma2"), list):
        names = pooled.get("level_names") or [f"level {i + 1}" for i in range(len(pooled["sigma2"]))]
        parts.append("σ² " + ", ".join(f"{n} {v:.4f}" for n, v in zip(names, pooled["sigma2"])))
    if isinstance(pooled.get("I2_total"), (int, float)):
        parts.append(f"I² total = {pooled['I2_total']:.1f} %")
    return "; ".join(parts)


def monte_carlo_text(result) -> str:
    mc = result.mc
    if not mc.get("n"):
        return "Monte Carlo draws: none"
    return (f"Monte Carlo ({mc['n']} draws, seed {mc.get('seed')}): rescaled estimate median "
            f"{fmt(mc.get('rescaled_median'), 4)}, {mc.get('rescaled_range_label', '95 % range')} "
            f"{fmt(mc.get('rescaled_lo', mc.get('rescaled_p025')), 4)} to "
            f"{fmt(mc.get('rescaled_hi', mc.get('rescaled_p975')), 4)}")


def reanalysis_tables(result) -> dict:
    """Every table of the reanalysis by name (the CSV downloads)."""
    import pandas as pd

    power = pd.DataFrame({"study_id": result.power_units["study_id"], "se": result.power_units["sei"],
                          "power": result.power})
    return {"annotated_outcomes": result.annotation.table, "analysis_units": result.units,
            "estimates": reanalysis_estimates(result), "sensitivity": result.sensitivity, "study_power": power}


def table_title(name: str) -> str:
    """A table's name in the table picker as words ("plan_assessments" → "Plan assessments"); the CSV download
    keeps the CLI's file name."""
    words = str(name).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


#: Columns of the Plan tab's "Find the best design" table: (design-table column, header).
EXPLORE_COLUMNS = (("dose_mg", "Dose (mg)"), ("delay_h", "Delay after the last dose (h)"), ("isi_days", "ISI (days)"),
                   ("participants", "N"), ("prob_mor_ge_90_at_task", "P(MOR ≥ 90 % at the task)"),
                   ("residual_p95_at_next_session_pct", "Residual MOR at the next session (%, 95th pct)"),
                   ("power_attenuated", "Power (attenuated effect)"))


def explore_frame(result, top: int = 10):
    """The best ``top`` feasible designs of an ``ExploreResult``, best first, with human headers (the fitted
    model's numbers, as ``blockade plan`` gives them for each design)."""
    import pandas as pd

    rows = result.ranked_feasible()[:top]
    digits = {"prob_mor_ge_90_at_task": 3, "residual_p95_at_next_session_pct": 2, "power_attenuated": 3}
    data = {}
    for key, head in EXPLORE_COLUMNS:
        values = np.asarray(result.columns[key])[rows]
        data[head] = [None if not np.isfinite(float(v)) else (round(float(v), digits[key]) if key in digits
                                                                 else float(v) if key != "participants" else int(v))
                      for v in values]
    return pd.DataFrame(data, columns=[h for _, h in EXPLORE_COLUMNS])


def explore_summary(result) -> str:
    """One line on the search: designs, draws, how many pass, what passing means."""
    n_ok = int(result.ranked_feasible().size)
    text = (f"{result.n_designs} designs × {max(1, result.n_draws)} model draws: {n_ok} pass every constraint "
            f"with probability ≥ {result.level:g} over the draws; ranked by {result.objective.replace('_', '-')}.")
    if not n_ok:
        text += " None passes: raise the dose, the delay or the ISI and search again."
    return text
