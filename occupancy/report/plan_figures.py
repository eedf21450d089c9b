"""Figures of a study plan: the blockade timeline over the whole protocol and the power curve.

Both functions take a :class:`occupancy.workflows.planning.plan.PlanResult` and return a matplotlib ``Figure``;
matplotlib is imported lazily (non-interactive ``Agg`` backend) so that importing this module is cheap.
:func:`save_figure` writes PNG and SVG atomically (through :func:`meta.plots.save_figure`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_COLOURS = ("#1f4e9c", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#16a085")


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "svg", "pdf"):
        try:
            matplotlib.use("Agg", force=True)
        except Exception:  # pragma: no cover - backend already fixed by the host application
            pass
    import matplotlib.pyplot as plt

    return plt


def _delay_tag(result) -> str:
    """Short caveat for the minimum-delay label (the full text is ``result.min_delay_note``)."""
    from occupancy.workflows.planning.design import validated_from_h

    validated = validated_from_h(result.model_name, result.drug)
    if validated is not None and result.min_delay_h < validated:
        when = f"{validated:g} h" if validated >= 1 else f"{validated * 60:.3g} min"
        return f"(model only; PET data from {when})"
    return "(model estimate)"


def timeline_figure(result, *, days: bool | None = None):
    """MOR blockade over the protocol: one panel per order (or group).

    Median and 5–95th percentile band of the virtual population; drug sessions shaded red, placebo
    sessions grey (from the session start to its last assessment, at least 6 h wide so it is visible);
    the 90 % line dashed; the residual blockade at each placebo session's assessments marked and
    labelled; the residual threshold dotted.
    """
    plt = _pyplot()
    traces = [tr for tr in result.timeline if np.any(tr.p95 > 0)] if result.kind == "between" else list(result.timeline)
    if not traces:
        traces = list(result.timeline[:1])
    span_h = max(float(tr.times_h[-1]) for tr in traces)
    days = span_h > 96 if days is None else days
    scale = 24.0 if days else 1.0
    unit = "days" if days else "h"
    fig, axes = plt.subplots(len(traces), 1, figsize=(9, 2.6 * len(traces) + 0.8), sharex=True, squeeze=False)
    last_assess = max((a.time_h for s in result.sessions for a in s.assessments), default=0.0)
    width_h = max(last_assess, 6.0)
    threshold = float(result.design.get("residual_threshold_pct", 5.0))
    for ax, tr in zip(axes[:, 0], traces):
        for s in (s for s in result.sessions if s.order == tr.order):
            colour = "#e74c3c" if s.condition == "drug" else "#7f8c8d"
            ax.axvspan(s.start_h / scale, (s.start_h + width_h) / scale, color=colour, alpha=0.15, lw=0)
            ax.text((s.start_h + 0.5 * width_h) / scale, 103, f"S{s.session} {s.condition}", ha="center",
                    va="bottom", fontsize=8, color=colour)
            for a in s.assessments:
                ax.plot([a.protocol_time_h / scale], [a.MOR_p50], "o", color="k", ms=3.5, zorder=5)
                if s.condition == "placebo" and a.MOR_p95 > 0.05:
                    ax.plot([a.protocol_time_h / scale], [a.MOR_p95], "v", color="#c0392b", ms=6, zorder=6)
                    ax.annotate(f"residual {a.MOR:.1f} % (95th pct {a.MOR_p95:.1f} %)",
                                (a.protocol_time_h / scale, a.MOR_p95), xytext=(8, 14), textcoords="offset points",
                                fontsize=8, color="#c0392b", arrowprops={"arrowstyle": "-", "color": "#c0392b"})
        drug_starts = [s.start_h for s in result.sessions if s.order == tr.order and s.condition == "drug"]
        if result.min_isi_days is not None and drug_starts:
            t_isi = drug_starts[0] + 24.0 * result.min_isi_days
            if t_isi <= tr.times_h[-1]:
                ax.axvline(t_isi / scale, color="#c0392b", ls="-.", lw=0.9)
                ax.text(t_isi / scale, 60, f" minimum ISI {result.min_isi_days:.1f} d", rotation=90, va="center",
                        ha="right", fontsize=8, color="#c0392b")
        if result.min_delay_h is not None and not days:
            last_dose = max(t for t, _ in result.doses)
            for start in drug_starts:
                t_delay = start + last_dose + result.min_delay_h
                ax.axvline(t_delay / scale, color="#2e8b57", ls="-.", lw=0.9)
                ax.annotate(f"minimum delay {result.min_delay_h:.2f} h\n{_delay_tag(result)}", (t_delay / scale, 45),
                            xytext=(6, 0), textcoords="offset points", va="center", ha="left", fontsize=8,
                            color="#2e8b57", bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none",
                                                   "alpha": 0.8})
        x = tr.times_h / scale
        ax.fill_between(x, tr.p05, tr.p95, color=_COLOURS[0], alpha=0.25, lw=0, label="5–95th percentile")
        ax.plot(x, tr.p50, color=_COLOURS[0], lw=1.4, label="median MOR blockade")
        ax.axhline(90, color="k", ls="--", lw=0.9, label="90 %")
        ax.axhline(threshold, color="#c0392b", ls=":", lw=0.9, label=f"residual threshold {threshold:g} %")
        ax.set_ylim(0, 112)
        ax.set_ylabel("MOR blockade (%)")
        ax.set_title(tr.order, fontsize=10, loc="left")
    axes[-1, 0].set_xlabel(f"time from the start of session 1 ({unit})")
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=2, framealpha=0.9)
    title = f"{result.scenario_name}: {result.drug} {result.kind}-subjects protocol"
    if result.isi_days is not None:
        title += f", ISI {result.isi_days:g} days"
    fig.suptitle(title, fontsize=11)
    from meta.plots import plain_text

    plain_text(fig)  # scenario labels as written, never mathtext (tight_layout draws them)
    fig.tight_layout()
    return fig


def power_curve_figure(result):
    """Power against total N, with full blockade and with the blockade attenuation (g × contrast / 100)."""
    plt = _pyplot()
    curve = result.power_curve
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(curve.n_total, curve.power, color=_COLOURS[0], lw=1.6, label=f"full blockade, g = {result.effect:g}")
    ax.plot(curve.n_total, curve.power_attenuated, color=_COLOURS[1], lw=1.6, ls="--",
            label=f"attenuated, g = {result.effect_attenuated:.3g} (contrast {result.contrast_pp:.0f} pp)")
    target = float(result.design.get("power", 0.8))
    ax.axhline(target, color="k", lw=0.8, ls=":", label=f"target power {target:g}")
    ax.axvline(result.n_planned, color="#7f8c8d", lw=0.8, label=f"planned N = {result.n_planned}")
    for n_req, colour in ((result.n_required, _COLOURS[0]), (result.n_required_attenuated, _COLOURS[1])):
        if n_req is not None and n_req <= curve.n_total[-1]:
            ax.plot([n_req], [target], "o", color=colour, ms=5)
    ax.set_xlabel("total N" + (" (two equal groups)" if result.kind == "between" else " (participants)"))
    ax.set_ylabel("power")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, curve.n_total[-1])
    test = "two-sample t" if result.kind == "between" else "paired t"
    ax.set_title(f"{result.scenario_name}: power of the {test}-test (α = {result.design.get('alpha', 0.05):g})",
                 fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    from meta.plots import plain_text

    plain_text(fig)  # scenario labels as written, never mathtext (tight_layout draws them)
    fig.tight_layout()
    return fig


def save_figure(fig, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` with :func:`meta.plots.save_figure` (atomic) and close ``fig``."""
    from meta.plots import save_figure as save_one

    stem = Path(stem)
    try:
        return [save_one(fig, stem.with_suffix(f".{ext}")) for ext in ("png", "svg")]
    finally:
        _pyplot().close(fig)
