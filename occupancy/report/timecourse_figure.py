"""Plot a blockade time course: MOR/KOR/DOR lines, population band, assessment markers, 90 % line.

Assessments are green markers on the MOR curve, numbered and named in the legend (up to eight), with a
vertical line (or a shaded window).

matplotlib is imported inside the function (with the non-interactive Agg backend when no figure exists).
"""

from __future__ import annotations

import numpy as np

COLORS = {"MOR": "black", "KOR": "tab:blue", "DOR": "tab:red"}


def plot_timecourse(result, ax=None):
    """Draw ``result`` (a :class:`~occupancy.simulation.simulate.SimulationResult`) and return the matplotlib Axes.

    The x axis is in hours for spans up to 72 h and in days otherwise.
    """
    import matplotlib

    if ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    arrays = result.timecourse_arrays
    t = np.asarray(arrays["time_h"])
    span = t[-1] - t[0] if t.size else 0.0
    days = span > 72.0
    x = t / 24.0 if days else t
    for r in ("MOR", "KOR", "DOR"):
        ax.plot(x, arrays[r], color=COLORS[r], lw=1.6, label=r)
    if "MOR_p05" in arrays:
        ax.fill_between(x, arrays["MOR_p05"], arrays["MOR_p95"], color=COLORS["MOR"], alpha=0.15,
                        label="MOR 5-95 % (population)")
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
    ax.set_xlim(x[0] if t.size else 0, x[-1] if t.size else 1)
    ax.set_xlabel("time (days)" if days else "time (h)")
    ax.set_ylabel("receptor blockade (%)")
    ax.set_title(f"{result.model.drug} - {result.model.name} model")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.9)
    ax.grid(alpha=0.3)
    return ax
