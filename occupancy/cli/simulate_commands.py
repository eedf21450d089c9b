"""``blockade simulate`` and ``blockade dose-curve`` (``blockade calibrate``: :mod:`occupancy.cli.calibrate_commands`).

Only click is imported at module level; numpy/pydantic are imported inside the commands and pandas and
matplotlib only where needed (``--out``), so ``blockade simulate --json`` starts fast.
"""

from __future__ import annotations

import json
import sys

import click

from occupancy.cli.group import main
from occupancy.cli.options import HALF_LIFE_HELP
from occupancy.errors import InputError

_DOSE_HELP = (
    "Dose as AMOUNT UNIT @ TIME [+ DURATION], repeatable: 50mg@0h, 25mg@1d, 0.01mg/kg@0h, 400ug@0h, "
    "0.4mg@0h+30min (total over 30 min), 0.1mg/kg/h@0h+60min (rate x duration). Units: mg, g, ug, "
    "optionally /kg, rates /h or /min; times s, min, h, d, w, compound (1h30min, 7d1.5h) or clock times "
    "(50mg@09:00, 25mg@d2 09:00; the first dose's clock time is time 0)."
)


def _echo_warning(text: str, quiet: bool) -> None:
    if not quiet:
        click.echo(f"blockade: warning: {text}", err=True)


def _quick_scenario(drug, doses, assess, weight, route=None):
    from occupancy.simulation.scenario import scenario_from_dict

    if not drug:
        raise InputError("--drug: give --drug naltrexone or --drug naloxone with --dose (or a SCENARIO file)")
    from occupancy.cli.options import quick_rows

    dose_rows, assessments = quick_rows(doses, assess)
    if route is not None:
        for row in dose_rows:
            row["route"] = route
    data = {"drug": {"name": drug}, "doses": dose_rows, "assessments": assessments}
    if weight is not None:
        data["subject"] = {"weight_kg": weight}
    try:
        return scenario_from_dict(data, "command line")
    except InputError as exc:
        msg = str(exc).replace("[subject] weight_kg", "--weight").replace("subject.weight_kg", "--weight")
        import re

        def dose_name(m):
            i = int(m.group(1))
            return f"--dose {doses[i]}" if i < len(doses) else m.group(0)

        msg = re.sub(r"doses\[(\d+)\]\.?", lambda m: dose_name(m) + ": ", msg)
        msg = re.sub(r"assessments\[(\d+)\]\.?",
                     lambda m: f"--assess {assessments[int(m.group(1))]['label']}: ", msg)
        msg = msg.replace(": : ", ": ")
        raise InputError(msg) from None


@main.command("simulate")
@click.argument("scenario", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option("--drug", type=str, help="Quick form: naltrexone or naloxone.")
@click.option("--dose", "doses", multiple=True, help=_DOSE_HELP)
@click.option("--route", type=click.Choice(["iv", "intranasal", "intramuscular"]),
              help="Quick form, naloxone (pkpd model): the route of every --dose: iv (default), intranasal or "
                   "intramuscular (Dowling 2008's absorption and bioavailability). Naltrexone is oral only.")
@click.option("--assess", multiple=True,
              help="Assessment times, comma-separated (2h,49h,15d,1h30min), clock times counted from the first "
                   "dose's clock time (10:30, 'd8 10:30'), or windows START-END (10min-70min, the mean over the "
                   "window); repeatable.")
@click.option("--weight", type=float,
              help="Body weight (kg, above 0 and at most 350): needed for per-kg doses (and naloxone doses in mg "
                   "with --model bateman); the pkpd model assumes 70 kg without it and scales clearances by "
                   "(W/70)^0.75 and volumes by W/70.")
@click.option("--model", "model_name", type=str,
              help="Model: pkpd (default for both drugs); naltrexone also washout or emax, naloxone bateman.")
@click.option("--hysteresis", type=click.Choice(["effect_compartment", "binding_kinetics"]),
              help="pkpd: the hysteresis variant (default: the better-fitting effect_compartment).")
@click.option("--half-life", "half_life", type=str, help=HALF_LIFE_HELP)
@click.option("--n", "n", type=int, help="Virtual subjects for population percentiles, 2 to 100000 (e.g. 1000).")
@click.option("--seed", type=int, help="Seed of the population, 0 to 4294967295 (default 1).")
@click.option("--threshold", type=float, help="Threshold (%, between 0 and 100) for 'time until MOR below' "
                                                "(default 10).")
@click.option("--residual-at", "residual_at", type=str,
              help="Time for the residual-blockade check (default last dose + 15 d / 18.3 h).")
@click.option("--model-draws", "model_draws", type=int,
              help="Model uncertainty (pkpd): the typical subject's MOR interval over this many posterior draws "
                   "pooled over the admissible structures (MOR_ci_lo/MOR_ci_hi, MOR_across_structures), 2 to "
                   "10000 (40 or more for a 95 % interval); overrides [uncertainty] n; default: [uncertainty], "
                   "else none.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str),
              help="Folder for report.html, timecourse.csv, timecourse.png, timecourse.svg and simulation.json "
                   "(replaced as a whole; only a folder blockade wrote is replaced).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
@click.option("--quiet", is_flag=True, help="No progress bar and no warnings on stderr.")
def simulate_command(scenario, drug, doses, route, assess, weight, model_name, hysteresis, half_life, n, seed, threshold,
                     residual_at, model_draws, out_dir, as_json, quiet):
    """Blockade time course of a naltrexone or naloxone schedule.

    \b
    From a scenario file:
      blockade simulate single_dose_50mg --out results/
    Quick form without a file:
      blockade simulate --drug naltrexone --dose 50mg@0h --assess 2h,49h,15d
      blockade simulate --drug naloxone --weight 70 --dose 0.01mg/kg@0h --dose 0.1mg/kg/h@0h+60min --assess 30min
      blockade simulate --drug naloxone --dose 4mg@0h --route intranasal --assess 30min,2h
    Population (5/50/95th percentiles and P(MOR >= 90 %) at each assessment):
      blockade simulate --drug naltrexone --dose 50mg@0h --assess 2h,49h --n 1000 --seed 1
    """
    from occupancy.dosing.quantities import parse_time_h
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.simulation.simulate import simulate

    from pathlib import Path

    if scenario and (drug or doses or assess or weight is not None or route is not None):
        raise InputError("give either a SCENARIO file or --drug/--dose/--route/--assess/--weight, not both")
    if route is not None and not doses:
        raise InputError("--route: give it with --dose (the quick form); in a scenario file set route per dose")
    if scenario:
        from occupancy.bundled import resolve_scenario
        from occupancy.simulation.scenario import read_scenario_toml

        given = scenario
        scenario = str(resolve_scenario(scenario))
        data, scenario_text = read_scenario_toml(scenario)
        task = data.get("task")
        other = {"plan": "blockade plan", "reanalyse": "blockade reanalyse --scenario"}
        if isinstance(task, str) and task in other:
            raise InputError(f"{Path(scenario).name}: task: this is a {task} scenario; run it with "
                             f"`{other[task]} {given}` or `blockade run {given}`")
        sc = scenario_from_dict(data, Path(scenario).name)
    elif doses:
        sc = _quick_scenario(drug, doses, assess, weight, route)
        scenario_text = "# command line\nblockade " + " ".join(sys.argv[1:])
    else:
        raise InputError("simulate: give a SCENARIO.toml file or --drug and at least one --dose")

    if model_name is not None or half_life is not None or hysteresis is not None:
        data = sc.model_dump(exclude_none=True)
        model = data.setdefault("model", {})
        if model_name is not None:
            if model.get("name") not in (None, model_name):
                model = {"name": model_name}
                data["model"] = model
            model["name"] = model_name
        if hysteresis is not None:
            if (model.get("name") or "pkpd") != "pkpd":
                raise InputError(f"--hysteresis: only the pkpd model has hysteresis variants (the model is "
                                 f"{model.get('name')})")
            if model.get("hysteresis") not in (None, hysteresis):  # the file's fitted-variant overrides go too
                model = {"name": "pkpd"}
                data["model"] = model
            model["hysteresis"] = hysteresis
        if half_life is not None:
            from occupancy.cli.options import half_life_override
            from occupancy.models import model_class

            model.update(half_life_override(model_class(sc.drug.name, model.get("name")), half_life))
        sc = scenario_from_dict(data, scenario or "command line")
    from occupancy.cli.options import check_population
    from occupancy.simulation.scenario import SummarySection, check_value

    from occupancy.dosing.quantities import dose_clock

    origin = dose_clock(doses[0]) if doses else None  # clock times count from the first --dose's clock time
    residual_at_h = parse_time_h(residual_at, what="--residual-at", clock_origin=origin) if residual_at else None
    if residual_at_h is not None:
        check_value(SummarySection, "residual_at_h", residual_at_h, "--residual-at (h)")
        if residual_at_h < sc.schedule().first_dose_h:
            raise InputError(f"--residual-at: before the first dose (got {residual_at})")
    check_population(n, seed)
    if threshold is not None:
        check_value(SummarySection, "threshold", threshold, "--threshold")
    uncertainty = None
    if model_draws is not None:
        from occupancy.simulation.scenario import UncertaintySection

        check_value(UncertaintySection, "n", model_draws, "--model-draws")
        uncertainty = (model_draws, sc.uncertainty.seed if sc.uncertainty is not None else 1)
    pop_n = n if n is not None else (sc.population.n if sc.population else None)
    pop_seed = seed if seed is not None else (sc.population.seed if sc.population else 1)
    from occupancy.cli.output import output_folder

    with output_folder(out_dir, "simulate", quiet) as out:
        result = simulate(sc, n=pop_n, seed=pop_seed, threshold=threshold, residual_at_h=residual_at_h,
                          progress=not quiet and not as_json and sys.stderr.isatty(),
                          variability=sc.variability() if sc.population is not None else None,
                          population_timecourse=bool(out_dir), uncertainty=uncertainty)
        if out is not None:
            from occupancy.report.run_folder import write_report
            from occupancy.report.simulation import simulation_report_section, write_simulation_outputs
            from occupancy.workflows.run import model_parameters

            def build(staging):
                write_simulation_outputs(result, staging)
                write_report(staging, "Blockade simulation", [simulation_report_section(result)],
                             scenario_name=Path(scenario).name if scenario else "command line",
                             scenario_text=scenario_text, parameters=model_parameters(result.model))

            out.write(build)
    for w in result.warnings:
        _echo_warning(w, quiet)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        click.echo(result.summary())
        if out_dir:
            click.echo(f"\nwrote {out_dir}/: {', '.join(out.files)}")


@main.command("dose-curve")
@click.option("--drug", default="naltrexone", show_default=True, help="naltrexone (plantrexone) or naloxone.")
@click.option("--receptor", "receptors", multiple=True, help="MOR, KOR, DOR (repeatable; default all three).")
@click.option("--min-dose", type=float, help="Smallest dose (mg, up to 1000; mg/kg for naloxone, up to 20). "
                                               "Default 0.01 mg / 1e-5 mg/kg.")
@click.option("--max-dose", type=float, help="Largest dose (same units and limits). Default 1000 mg / 10 mg/kg.")
@click.option("--points", type=int, default=101, show_default=True, help="Doses on a log scale (2 to 10000).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=str),
              help="Write FILE.csv, FILE.png or FILE.svg (default: CSV on stdout).")
def dose_curve_command(drug, receptors, min_dose, max_dose, points, out_file):
    """Dose -> blockade curve (plantrexone's hyperbola, 100*D/(D+ED50)).

    For naltrexone this is blockade within 8 h of one oral dose (ED50 5.592841 mg; KOR x2, DOR x79).
    For naloxone it is planoxone's dose-response hyperbola fitted to PET at ~55 min (ED50 0.002290531 mg/kg;
    KOR x8, DOR x41); planoxone's time course (blockade simulate) gives somewhat different values at 55 min.
    """
    from occupancy.cli.output import check_output_file
    from occupancy.models import check_drug
    from occupancy.models.dose_response import DEFAULT_RANGE, dose_curve
    from occupancy.simulation.scenario import DoseSection, check_value

    drug = check_drug(drug)

    unit = "mg" if drug == "naltrexone" else "mg/kg"
    lo = min_dose if min_dose is not None else DEFAULT_RANGE[drug][0]
    hi = max_dose if max_dose is not None else DEFAULT_RANGE[drug][1]
    field = "amount_mg" if drug == "naltrexone" else "amount_mg_per_kg"
    check_value(DoseSection, field, lo, f"--min-dose ({unit})")
    check_value(DoseSection, field, hi, f"--max-dose ({unit})")
    if not hi > lo:
        raise InputError(f"--min-dose/--max-dose: need min < max (got {lo:g}, {hi:g})")
    if not 2 <= points <= 10_000:
        raise InputError(f"--points: must be between 2 and 10000 (got {points})")
    if out_file and not out_file.lower().endswith((".csv", ".png", ".svg")):
        raise InputError(f"--out: {out_file}: use a .csv, .png or .svg file name")
    check_output_file(out_file)
    curve = dose_curve(drug, receptors, lo, hi, points)
    csv_text = curve.to_csv()
    if not out_file:
        click.echo(csv_text, nl=False)
        return
    if out_file.lower().endswith(".csv"):
        from meta.atomic_write import write_text_atomic

        write_text_atomic(out_file, csv_text)
    else:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from meta.plots import save_figure
        from occupancy.report.dose_curve_figure import plot_dose_curve

        fig, ax = plt.subplots(figsize=(7, 4.5))
        plot_dose_curve(curve, ax)
        try:
            save_figure(fig, out_file)
        finally:
            plt.close(fig)
    click.echo(f"wrote {out_file}")
