"""The simulation's files and report section: time-course figure, CSV/JSON outputs, HTML section.

Takes a :class:`occupancy.simulation.simulate.SimulationResult`; holds no science.
"""

from __future__ import annotations

import math

from occupancy.simulation.simulate import SimulationResult, format_value


def timecourse_figure(result: SimulationResult):
    """The time-course figure as a new Figure: MOR/KOR/DOR, population band, parameter-uncertainty band,
    assessments, 90 % line; a plasma-concentration panel (log axis) below for models with concentrations."""
    from occupancy.report.timecourse_figure import timecourse_figure as build

    return build(result)


def write_simulation_outputs(result: SimulationResult, directory) -> list:
    """Write ``timecourse.csv``, ``assessments.json`` and the time-course plot (PNG + SVG) into ``directory``.

    ``directory`` should be a fresh staging folder (the CLI and ``blockade run`` use
    :func:`occupancy.atomic_output.atomic_directory`), so a failure never leaves a partial result.
    """
    import json
    from pathlib import Path

    from meta.plots import save_figure
    from meta.atomic_write import write_text_atomic
    from meta.csv_safety import csv_text

    directory = Path(directory)
    figure = timecourse_figure(result)
    written = [
        write_text_atomic(directory / "timecourse.csv", csv_text(result.timecourse, index=False, float_format="%.6g")),
        write_text_atomic(directory / "simulation.json",
                          json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"),
    ]
    for suffix in (".png", ".svg"):
        written.append(save_figure(figure, directory / f"timecourse{suffix}"))
    return written


def _plain_time(hours: float) -> str:
    """``2 h``, ``49 h``, ``15 d``: hours up to three days, days beyond."""
    if not math.isfinite(hours):
        return "not within the simulated horizon"
    return f"{hours:.3g} h" if hours < 72 else f"{hours / 24:.3g} d"


def _reading(a: dict, interval: str = "95 % interval") -> str:
    """Plain-language reading of one assessment (population-aware), with the numbers as the text table shows them."""
    text = f"MOR blockade of the typical participant at '{a['label']}': {format_value(a['MOR'])} %"
    if a.get("MOR_ci_lo") is not None:
        text += (f" ({interval} over parameter uncertainty {format_value(a['MOR_ci_lo'])}–"
                 f"{format_value(a['MOR_ci_hi'])} %: how sure the calibration is about the typical participant)")
        across = a.get("MOR_across_structures")
        if across is not None and across[1] - across[0] >= 1.0:
            text += (f"; it depends on the model structure: the admissible structures' medians range from "
                     f"{format_value(across[0])} to {format_value(across[1])} %")
    if a.get("MOR_p05") is not None:
        text += (f"; 5–95th percentile of the virtual population {format_value(a['MOR_p05'])}–"
                 f"{format_value(a['MOR_p95'])} % (95 % of people above {format_value(a['MOR_p05'])} %); "
                 f"P(MOR ≥ 90 %) = {format_value(a['MOR_prob_ge_90'], 2)}")
    return text + "."


def simulation_report_section(result: SimulationResult, title: str = "Simulation"):
    """The simulation as an :class:`occupancy.report.html.ReportSection` for ``blockade run``'s HTML report."""
    import pandas as pd

    from occupancy.report.html import Assumption, KeyNumber, ReportFigure, ReportSection, ReportTable, figure_to_svg

    keys = []
    unc = result.uncertainty or {}
    interval = "95 % interval" if unc.get("level") else f"min–max of {unc.get('n')} draws"
    for a in result.assessments:
        value = f"{format_value(a['MOR'])} %"
        if a.get("MOR_p05") is not None:
            value += f" [{format_value(a['MOR_p05'])}–{format_value(a['MOR_p95'])}]"
        keys.append(KeyNumber(f"MOR at '{a['label']}' ({_plain_time(a['time_h'])}), typical subject", value,
                              _reading(a, interval)))
    s = result.summaries
    keys.append(KeyNumber("Time with MOR ≥ 90 %", f"{s['time_ge_90_MOR_h']:.1f} h",
                          "Total time the typical participant's MOR blockade is at or above 90 %."))
    keys.append(KeyNumber(f"MOR below {s['threshold']:g} % after the last dose", _plain_time(s["time_until_below_h"]),
                          "How long after the last dose the blockade has washed out to this level."))
    keys.append(KeyNumber(f"Residual MOR at {_plain_time(s['residual_at_h'])}", f"{format_value(s['residual']['MOR'])} %",
                          "Blockade still present at the anchor app's recommended interval after the last dose."))
    svg = figure_to_svg(timecourse_figure(result))
    table = ReportTable.from_frame("Blockade at each assessment", pd.DataFrame(list(result.assessments)))
    params = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                       for k, v in result.model.parameters().items())
    assumptions = [Assumption(f"{result.model.drug} {result.model.name} model: {params}.",
                              (result.model.__class__.__doc__ or "").strip().splitlines()[0])]
    if result.model.name == "washout":
        assumptions.append(Assumption("ED50, super-saturation and tmax fitted to Rabiner 2011 PET, Weerts 2008 and "
                                      "the review's statements; half-life 72 h (Lee 1988). Conflicting targets "
                                      "are listed by `blockade calibrate`.", "occupancy/calibration.py"))
        assumptions.append(Assumption("The rise after each dose is fitted only to the plasma tmax (~1 h): the model "
                                      "reaches 90 % MOR within ~0.2 h of 50 mg, but there are no PET data before "
                                      "~1 h and stable PET data only from 2 h, so blockade in the first 2 h after "
                                      "a dose is an extrapolation.", "occupancy/calibration.py"))
    if result.model.name == "pkpd":
        assumptions += _pkpd_assumptions(result)
    if result.population is not None:
        v = result.population.variability
        assumptions.append(Assumption(
            f"Population of {result.population.n} virtual subjects (seed {result.population.seed}); log-normal "
            f"between-subject spreads (log-SD): {v.describe()}.", v.source or "model default"))
    if result.structure_lines():
        assumptions.append(Assumption(
            "Model uncertainty: " + "; ".join(result.structure_lines()) + f" ({unc.get('n')} draws, seed "
            f"{unc.get('seed')}, pooled by weight).", "docs/how-to/model-uncertainty.md"))
    assumptions += [Assumption(w, "warning") for w in result.warnings]
    return ReportSection(
        title=title, intro=result.schedule.describe(), key_numbers=tuple(keys),
        figures=(ReportFigure("Blockade time course", svg, _caption(result)),),
        tables=(table,), assumptions=tuple(assumptions), reading=simulation_reading(result),
    )


def simulation_reading(result: SimulationResult) -> str:
    """The plain-language paragraph above the key numbers: what was simulated, the first assessment's blockade,
    and which number is the typical subject and which the population (and why they differ)."""
    text = f"{result.model.drug.capitalize()}, {result.schedule.describe()}."
    if result.assessments:
        a = result.assessments[0]
        text += (f" At '{a['label']}' ({_plain_time(a['time_h'])}) the typical subject has "
                 f"{format_value(a['MOR'])} % of its μ-opioid receptors (MOR) blocked.")
    s = result.summaries
    text += (f" MOR blockade stays at or above 90 % for {s['time_ge_90_MOR_h']:.1f} h in total and falls below "
             f"{s['threshold']:g} % {_plain_time(s['time_until_below_h'])} after the last dose.")
    text += (" The typical subject is one person with the model's fitted (median) parameters. ")
    if result.population is not None:
        text += (f"The percentiles describe {result.population.n} virtual people whose clearance, absorption and "
                 "affinity differ; blockade plan reports their mean, which differs from the typical subject "
                 "because blockade is a saturating, non-linear function of these parameters (the average over "
                 "people is not the blockade of the average person).")
    else:
        text += ("blockade plan reports the mean over a virtual population instead, which differs because "
                 "blockade is a saturating, non-linear function of the parameters; add --n 1000 to see the spread.")
    return text


def _caption(result: SimulationResult) -> str:
    """The figure caption: what each line and band is (only those drawn)."""
    arrays = result.timecourse_arrays
    text = "MOR (black), KOR (blue), DOR (red)"
    if "MOR_p05" in arrays:
        text += "; grey band: 5–95th percentile of the population"
    if "MOR_ci_lo" in arrays:
        text += ("; purple band: " + ("95 % interval" if (result.uncertainty or {}).get("level") else "min–max")
                 + " of the typical subject over parameter uncertainty")
    text += "; dashed: 90 % MOR; markers: assessments."
    if any(k.startswith("C_") for k in arrays):
        text += " Lower panel: the typical subject's plasma concentrations (ng/mL, log scale)."
    return text


def _pkpd_assumptions(result: SimulationResult) -> list:
    """What a ``pkpd`` result rests on: the calibration record (targets not met), body weight, hysteresis."""
    from occupancy.report.html import Assumption

    model = result.model
    out = []
    try:
        rec = model.record()
        structure = getattr(model, "structure_name", model.hysteresis)
        bayes = rec.get("structures", {}).get(structure)
        variant = rec["variants"][model.hysteresis]
    except (RuntimeError, KeyError):  # pragma: no cover - the records ship with the package
        return out
    source = str(model.CALIBRATION_FILE.name)
    if bayes is not None:  # the Bayesian calibration (issue 19)
        n_cov = sum(c["covered"] for c in bayes["checks"])
        missed = [c for c in bayes["checks"] if not c["covered"]]
        text = (f"Parameters: posterior medians of the Bayesian calibration of structure '{structure}' (stacking "
                f"weight {bayes['weight']:.2f}); {n_cov} of {len(bayes['checks'])} observations inside the 95 % "
                "posterior predictive band.")
        if missed:
            text += " Outside: " + "; ".join(f"{c['source']}: {c['target']}" for c in missed) + "."
        out.append(Assumption(text, source))
        variant = None
    if variant is not None:
        unmet = [r for r in variant["residuals"] if not r.get("met")]
        text = (f"Parameters fitted jointly to plasma PK and PET occupancy targets ({variant['n_met']} of "
                f"{variant['n_targets']} targets within one measurement SD, sum z² {variant['sum_z2']:.3g}, "
                f"hysteresis = {model.hysteresis}).")
        if unmet:
            text += " Not met: " + "; ".join(f"{r['target']} (observed {r['observed']}, model {r['predicted']:.3g})"
                                              for r in unmet) + "."
        out.append(Assumption(text, source))
    from occupancy.models.pkpd_naltrexone import version_note

    note = version_note(model)
    if note:
        out.append(Assumption(*note))
    weight = result.schedule.weight_kg
    out.append(Assumption(
        f"Body weight {weight if weight is not None else model.weight_kg:g} kg"
        + ("" if weight is not None else " (default)")
        + ": clearances scale with (W/70)^0.75 and volumes with W/70 (allometric assumption, not fitted).",
        "occupancy/models/pkpd_base.py"))
    if model.drug == "naltrexone":
        out.append(Assumption("No PET scan before ~1 h after an oral dose: the rise of blockade in the first hour "
                              "follows the fitted plasma absorption (tmax ~0.8-1.1 h) and hysteresis, not "
                              "occupancy data.", source))
    return out
