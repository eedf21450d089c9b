"""The design search's files and report: ``explore.json``, the Pareto figure, the HTML sections.

Takes an :class:`occupancy.workflows.explore.result.ExploreResult`; holds no science.  ``designs.parquet`` is
written by :func:`occupancy.workflows.explore.search.write_designs`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from occupancy.workflows.explore.result import ExploreResult
from occupancy.workflows.explore.space import CONSTRAINT_TEXT

_OBJECTIVE_LABEL = {"participant_days": "participant-days", "participants": "participants (N)",
                    "tablets": "naltrexone tablets", "cost": "cost"}


def pareto_figure(result: ExploreResult, ax=None):
    """Power for the attenuated effect (median over the model draws) against the objective, every design; the
    Pareto front of the designs that meet the non-power constraints (none of them is cheaper *and* more
    powerful) joined, the feasible designs filled, the best ringed."""
    from occupancy.report.plan_figures import _pyplot

    plt = _pyplot()
    c = result.columns
    cost = np.asarray(c[result.objective], dtype=float)
    power = np.asarray(c["power_attenuated_median"], dtype=float)
    feasible = np.asarray(c["feasible"], dtype=bool)
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.2))
    eligible = result.eligible()
    ax.scatter(cost[~eligible], power[~eligible], s=8, facecolors="none", edgecolors="#d5d8dc", lw=0.5,
               label="fails blockade or residual")
    weak = eligible & ~feasible
    ax.scatter(cost[weak], power[weak], s=10, facecolors="none", edgecolors="#7f8c8d", lw=0.7,
               label="fails power only")
    ax.scatter(cost[feasible], power[feasible], s=14, color="#1f4e9c", label="feasible")
    front = result.pareto()
    front = front[np.argsort(cost[front], kind="stable")]
    ax.plot(cost[front], power[front], color="#c0392b", lw=1.2, drawstyle="steps-post", label="Pareto front")
    ranked = result.ranked_feasible()
    if ranked.size:
        b = int(ranked[0])
        ax.plot([cost[b]], [power[b]], "o", ms=11, mfc="none", mec="#d35400", mew=1.8, label="best design")
    target = result.constraints.get("power_attenuated")
    if target is not None:
        ax.axhline(target, color="k", lw=0.8, ls=":", label=f"power {target:g}")
    ax.set_xlabel(_OBJECTIVE_LABEL[result.objective])
    ax.set_ylabel("power, attenuated effect (median over draws)")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{result.scenario_name}: {result.n_designs} designs, power against cost", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure


def write_explore_outputs(result: ExploreResult, directory: str | Path) -> list[Path]:
    """Write ``explore.json`` (the ``--json`` output) and ``explore_pareto.png/.svg`` into ``directory``."""
    import json

    from meta.atomic_write import write_text_atomic
    from occupancy.report.plan_figures import save_figure

    directory = Path(directory)
    written = [write_text_atomic(directory / "explore.json",
                                 json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")]
    written += save_figure(pareto_figure(result), directory / "explore_pareto")
    return written


def write_explore_folder(result: ExploreResult, directory: str | Path) -> list[Path]:
    """Every file of a search except ``report.html``: ``designs.parquet`` (one row per design) plus
    :func:`write_explore_outputs`; what ``blockade explore --out`` and ``blockade run`` write alike."""
    from occupancy.workflows.explore.search import result_schema, to_table, write_designs

    table = to_table(result.columns, result_schema(result.constraints))
    return [write_designs(table, Path(directory) / "designs.parquet")] + write_explore_outputs(result, directory)


def explore_report_sections(result: ExploreResult) -> list:
    """The search as report sections: ranked designs and the Pareto figure, then each best design's plan."""
    from occupancy.report.html import Assumption, KeyNumber, ReportFigure, ReportSection, ReportTable, figure_to_svg
    from occupancy.report.plan import plan_report_section
    from occupancy.report.plan_figures import _pyplot

    ranked = result.ranked_feasible()
    keys = [KeyNumber("Designs searched", f"{result.n_designs}",
                      f"Each evaluated under {max(1, result.n_draws)} model draws"
                      + (" (" + ", ".join(f"{s}: weight {w:.2f}" for s, w in result.structures) + ")."
                         if result.structures else " (the fitted model only).")),
            KeyNumber("Feasible designs", f"{ranked.size}",
                      f"Every constraint holds with probability >= {result.level:g} over the draws.")]
    best = result.best()
    if best is not None:
        d = best["design"]
        isi = "" if d["isi_days"] is None else f", ISI {d['isi_days']:g} days, {d['sessions']} sessions"
        keys.append(KeyNumber("Best design", f"{d['kind']}, {d['dose_mg']:g} mg, task {d['delay_h']:g} h after the "
                              f"dose{isi}, N = {d['participants']}",
                              "Lowest " + _OBJECTIVE_LABEL[result.objective] + " among the feasible designs: "
                              + "; ".join(f"P({k}) = {p:.2f}" for k, p in best["probabilities"].items()) + "."))
    fig = pareto_figure(result)
    try:
        figures = (ReportFigure("Power against cost", figure_to_svg(fig),
                                "Every design of the grid; red: the Pareto front among the designs that meet the blockade and residual "
                                "constraints; filled: feasible (every constraint)."),)
    finally:
        _pyplot().close(fig)
    frame = result.to_frame().iloc[ranked[:50]]
    cols = ["design_id", "kind", "dose_mg", "delay_h", "isi_days", "sessions", "participants"] + \
        [f"p_{k}" for k in result.constraints] + ["participant_days", "tablets", "cost"]
    table = ReportTable.from_frame("Feasible designs, best first", frame[cols],
                                   caption=f"Ranked by {_OBJECTIVE_LABEL[result.objective]} (at most 50 shown; all "
                                           "designs are in designs.parquet).")
    assumptions = tuple(Assumption(CONSTRAINT_TEXT[k].format(v), "explore.constraints")
                        for k, v in result.constraints.items()) + (
        Assumption("Probabilities are over the model's parameter (posterior) draws and structures, weighted by the "
                   "structure weights; the virtual population (between-subject variability) is the same people for "
                   "every draw and design.", "INTERFACES.md model-uncertainty contract"),)
    sections = [ReportSection("Design search", "Feasible designs ranked by the objective, and the trade-off of "
                              "power against cost.", tuple(keys), figures, (table,), assumptions)]
    for rank, plan in enumerate(result.best_plans, 1):
        sections.append(plan_report_section(plan, title=f"Best design #{rank}: the plan (fitted model)"))
    return sections
