"""Plot a blockade time course: MOR/KOR/DOR lines, population band, parameter-uncertainty band, assessment
markers, 90 % line; and, for models that report them, the plasma concentrations in a panel below.

Assessments are green markers on the MOR curve, numbered and named in the legend (up to eight), with a
vertical line (or a shaded window).  :func:`timecourse_figure` builds the whole figure (one panel, or two with
concentrations: plasma ng/mL on a log axis under the blockade panel, same time axis).

matplotlib is imported inside the function (with the non-interactive Agg backend when no figure exists).
"""

from __future__ import annotations

import numpy as np

COLORS = {"MOR": "black", "KOR": "tab:blue", "DOR": "tab:red"}
#: Line colours and legend names of the plasma concentrations (``C_<substance>_ng_ml`` keys).
CONCENTRATIONS = {"C_naltrexone_ng_ml": ("tab:purple", "naltrexone"),
                  "C_6b_naltrexol_ng_ml": ("tab:brown", "6β-naltrexol"),
                  "C_naloxone_ng_ml": ("tab:purple", "naloxone")}
#: The lowest concentration shown for a substance, relative to its own peak: the axis reaches down to the lowest
#: value plotted (the end of the horizon, so naltrexone's small 96 h terminal phase, ~10⁻³ of its peak, shows over
#: the whole plot), but not below this share of a substance's peak (else a fast washout, e.g. naloxone days after
#: the dose, would stretch the axis to 10⁻¹⁰ ng/mL).
CONCENTRATION_RANGE = 1e-5


def concentration_keys(arrays) -> list:
    """The plasma-concentration columns of a time course (``C_*_ng_ml``), in a stable order."""
    return [k for k in arrays if k.startswith("C_") and k.endswith("_ng_ml")]


#: Length of the first-day panel (h after the first dose).
FIRST_DAY_H = 24.0


def _time_axis(t, hours: bool = False):
    span = t[-1] - t[0] if t.size else 0.0
    days = span > 72.0 and not hours
    return (t / 24.0 if days else t), days


def first_day_window(result) -> tuple[float, float] | None:
    """``(start, end)`` in hours of the first-day panel, or None when one panel shows everything well.

    A course longer than three days is drawn in days, where an assessment a few hours after the dose is squashed
    against the left edge; when an assessment (the task) falls within :data:`FIRST_DAY_H` of the first dose, the
    figure gets a first-day panel in hours beside the whole course (the washout).
    """
    t = np.asarray(result.timecourse_arrays.get("time_h", ()), dtype=float)
    if t.size < 2 or t[-1] - t[0] <= 72.0 or not result.schedule.doses:
        return None
    start = min(d.time_h for d in result.schedule.doses)
    early = [a for a in result.assessments if start <= a["time_h"] <= start + FIRST_DAY_H]
    if not early:
        return None
    return start, start + FIRST_DAY_H


def plot_timecourse(result, ax=None, *, window_h: tuple[float, float] | None = None, legend: bool = True):
    """Draw ``result`` (a :class:`~occupancy.simulation.simulate.SimulationResult`) and return the matplotlib Axes.

    The x axis is in hours for spans up to 72 h and in days otherwise; with ``window_h = (start, end)`` only that
    window is shown, in hours (the first-day panel).  ``legend`` False leaves the legend out (a second panel).
    """
    import matplotlib

    if ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    arrays = result.timecourse_arrays
    t = np.asarray(arrays["time_h"])
    x, days = _time_axis(t, hours=window_h is not None)
    for r in ("MOR", "KOR", "DOR"):
        ax.plot(x, arrays[r], color=COLORS[r], lw=1.6, label=r)
    if "MOR_p05" in arrays:
        ax.fill_between(x, arrays["MOR_p05"], arrays["MOR_p95"], color=COLORS["MOR"], alpha=0.15,
                        label="MOR 5-95 % (population)")
    if "MOR_ci_lo" in arrays and "MOR_ci_hi" in arrays:
        ax.fill_between(x, arrays["MOR_ci_lo"], arrays["MOR_ci_hi"], color="tab:purple", alpha=0.18, lw=0,
                        label="MOR 95 % interval (parameter uncertainty)")
    ax.axhline(90.0, color="grey", ls="--", lw=1, label="90 %")
    from occupancy.dosing.quantities import format_time_h

    for i, a in enumerate(result.assessments, start=1):
        xa = a["time_h"] / 24.0 if days else a["time_h"]
        when = format_time_h(a["time_h"]) + ("" if a.get("end_h") is None else f"-{format_time_h(a['end_h'])}")
        text = f"{i}: {a['label']} ({when})"
        if a["MOR"] == a["MOR"]:
            ax.plot([xa], [a["MOR"]], marker="o", color="tab:green", ms=6, zorder=5, ls="none",
                    label=text if len(result.assessments) <= 8 else None)
            ax.annotate(str(i), (xa, a["MOR"]), xytext=(4, -11), textcoords="offset points", fontsize=8,
                        color="tab:green", fontweight="bold", zorder=6)
        if a.get("end_h") is not None:
            xe = a["end_h"] / 24.0 if days else a["end_h"]
            ax.axvspan(xa, xe, color="tab:green", alpha=0.12, lw=0)
        else:
            ax.axvline(xa, color="tab:green", lw=0.8, alpha=0.5)
    for d in result.schedule.doses:
        xd = d.time_h / 24.0 if days else d.time_h
        ax.plot([xd], [0], marker="^", color="tab:orange", ms=7, clip_on=False, zorder=6)
    ax.set_ylim(0, 105)
    if window_h is not None:
        ax.set_xlim(*window_h)
        ax.set_title(f"{result.model.drug} - {result.model.name} model: first day", fontsize=10)
    else:
        ax.set_xlim(x[0] if t.size else 0, x[-1] if t.size else 1)
        ax.set_title(f"{result.model.drug} - {result.model.name} model")
    ax.set_xlabel("time (days)" if days else "time (h)")
    ax.set_ylabel("receptor blockade (%)")
    if legend:
        ax.legend(loc="lower left" if window_h is not None else "upper right", fontsize=7, framealpha=0.9)
    ax.grid(alpha=0.3)
    return ax


def plot_concentrations(result, ax, label=None, *, window_h: tuple[float, float] | None = None,
                        legend: bool = True):
    """Draw the typical subject's plasma concentrations (ng/mL, log y axis) of ``result`` on ``ax``.

    ``label(key)`` names a column in the legend (default: the substance).  Values ≤ 0 (before the first dose)
    are not drawn; the axis reaches down to the lowest value drawn (e.g. naltrexone's terminal phase at the end
    of the horizon), but not below :data:`CONCENTRATION_RANGE` × a substance's peak.  ``window_h`` and ``legend``
    as in :func:`plot_timecourse`.  Returns ``ax``.
    """
    arrays = result.timecourse_arrays
    t = np.asarray(arrays["time_h"], dtype=float)
    x, days = _time_axis(t, hours=window_h is not None)
    tops, floors = [], []
    for i, key in enumerate(concentration_keys(arrays)):
        y = np.asarray(arrays[key], dtype=float)
        color, name = CONCENTRATIONS.get(key, (f"C{i}", key))
        ax.plot(x, np.where(y > 0, y, np.nan), color=color, lw=1.4,
                label=label(key) if label is not None else f"{name} (ng/mL)")
        pos = y[np.isfinite(y) & (y > 0)]
        if pos.size:
            tops.append(float(pos.max()))
            floors.append(max(float(pos.min()), float(pos.max()) * CONCENTRATION_RANGE))
    ax.set_yscale("log")
    if tops:
        ax.set_ylim(min(floors) / 1.5, max(tops) * 2.0)
    ax.set_ylabel("plasma (ng/mL)")
    ax.set_xlabel("time (days)" if days else "time (h)")
    if window_h is not None:
        ax.set_xlim(*window_h)
    elif t.size:
        ax.set_xlim(x[0], x[-1])
    ax.grid(alpha=0.3, which="both", lw=0.5)
    if legend:
        ax.legend(loc="upper right", fontsize=7, framealpha=0.9)
    ax.set_title("plasma concentrations (typical subject)", fontsize=9)
    return ax


def timecourse_figure(result):
    """The whole time-course figure: the blockade panel, plus the concentration panel below it when the model
    reports concentrations (``pkpd``).  A new matplotlib Figure (Agg backend; no pyplot state).

    When an assessment falls on the first day of a course longer than three days (:func:`first_day_window`),
    the figure has two columns: the first day in hours on the left (where the task is) and the whole course
    with the washout, in days, on the right.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from meta.plots import plain_text

    conc = concentration_keys(result.timecourse_arrays)
    window = first_day_window(result)
    columns = 1 if window is None else 2
    width = 8 if window is None else 12
    if not conc:
        fig = Figure(figsize=(width, 4.5))
        axes = np.atleast_1d(fig.subplots(1, columns, squeeze=False)[0])
        if window is None:
            plot_timecourse(result, axes[0])
        else:
            plot_timecourse(result, axes[0], window_h=window)
            plot_timecourse(result, axes[1], legend=False)
            axes[1].set_title("whole course and washout", fontsize=10)
        plain_text(fig)
        fig.tight_layout()
        return fig
    fig = Figure(figsize=(width, 7.0))
    grid = fig.subplots(2, columns, squeeze=False, sharex="col", gridspec_kw={"height_ratios": [3, 2]})
    if window is None:
        ax, cax = grid[0, 0], grid[1, 0]
        plot_timecourse(result, ax)
        plot_concentrations(result, cax)
        ax.set_xlabel("")
        ax.tick_params(labelbottom=False)
    else:
        plot_timecourse(result, grid[0, 0], window_h=window)
        plot_concentrations(result, grid[1, 0], window_h=window)
        plot_timecourse(result, grid[0, 1], legend=False)
        grid[0, 1].set_title("whole course and washout", fontsize=10)
        plot_concentrations(result, grid[1, 1], legend=False)
        for ax in grid[0]:
            ax.set_xlabel("")
            ax.tick_params(labelbottom=False)
    plain_text(fig)  # assessment labels as written, never mathtext (tight_layout draws them)
    fig.tight_layout()
    return fig
