"""``blockade calibrate``: the committed calibration report, a refit, and every model against the same targets.

``--model pkpd`` (default) prints the committed record's Bayesian calibration at once (no sampling: the record
and the committed posterior draws are what the models use): the structure comparison, the default structure's
parameters with their priors and the predictive checks; ``--json`` in the issue-19 shape
(:func:`occupancy.calibration.pkpd.bayes_report.json_view`), ``--out DIR`` one predictive-check figure per
source.  ``--refit`` re-samples every structure (:func:`occupancy.calibration.pkpd.posterior.calibrate_bayes`,
emcee, seeded; minutes, a progress bar on stderr), ``--write`` stores the record and the posterior draws
atomically.  ``--legacy`` shows (or with ``--refit`` reruns) the least-squares calibration kept for comparison
(:func:`occupancy.calibration.pkpd.calibrate`, with ``--bootstrap-n``).  ``--compare`` scores every model of the
drug on the ``pkpd`` targets.  ``--model washout`` is the naltrexone washout fit of
:mod:`occupancy.calibration.washout` (seconds; always refitted).  Only click is imported at module level.
"""

from __future__ import annotations

import json

import click

from occupancy.cli.group import main
from occupancy.errors import InputError

#: Record sections written by the Bayesian calibration (kept when the legacy least-squares refit is stored).
BAYES_KEYS = ("structures", "default_structure", "sampler", "diagnostics", "selection_bayes", "priors")
#: Bootstrap replicates accepted by ``--bootstrap-n`` (0 = none; fewer than 20 give no usable percentiles).
BOOTSTRAP_RANGE = (20, 5000)


def _check(drug, model, refit, write, compare, bootstrap_n, free_half_life, legacy=False, out_dir=None) -> str:
    """The model to calibrate, after rejecting combinations that mean nothing (one line, exit 2)."""
    if model is None:
        model = "washout" if free_half_life else "pkpd"
    if model == "washout":
        if drug != "naltrexone":
            raise InputError(f"--model washout: the washout calibration is for naltrexone (got --drug {drug}); "
                             "naloxone has --model pkpd")
        if compare:
            raise InputError("--compare: scores every model of the drug at once; drop --model washout")
        if bootstrap_n is not None:
            raise InputError("--bootstrap-n: only for --model pkpd --refit (the washout fit has no bootstrap)")
        if write and free_half_life:
            raise InputError("--write: only the default fit (half-life held at 72 h) is stored; drop --free-half-life")
        return model
    if free_half_life:
        raise InputError("--free-half-life: a washout-model option; use --model washout")
    if out_dir is not None and (legacy or compare):
        raise InputError("--out: predictive-check figures of the Bayesian calibration; drop --legacy/--compare")
    if bootstrap_n is not None and refit and not legacy:
        raise InputError("--bootstrap-n: the least-squares bootstrap; add --legacy (the Bayesian --refit samples "
                         "the posterior instead)")
    if write and not refit:
        raise InputError("--write: stores a refit; add --refit (without it the committed record is printed)")
    if bootstrap_n is not None:
        if not refit:
            raise InputError("--bootstrap-n: only with --refit")
        lo, hi = BOOTSTRAP_RANGE
        if bootstrap_n != 0 and not lo <= bootstrap_n <= hi:
            raise InputError(f"--bootstrap-n: must be 0 or between {lo} and {hi} (got {bootstrap_n})")
        if write and bootstrap_n == 0:
            raise InputError("--write: the stored record needs the bootstrap (the models' [uncertainty] draws "
                             "come from it); drop --bootstrap-n 0")
    return model


def _washout(as_json, write, free_half_life) -> None:
    from occupancy.calibration.washout import calibrate, format_report, write_calibration
    from occupancy.models.washout import CALIBRATION_FILE, load_calibration

    record = calibrate(None if free_half_life else 72.0)
    if write:
        write_calibration(record)
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    click.echo(format_report(record))
    if write:
        click.echo(f"\nwrote {CALIBRATION_FILE}")
    elif free_half_life:
        click.echo("\n(alternative fit with a free half-life; the committed defaults hold it at 72 h)")
    else:
        committed = load_calibration()["parameters"]
        same = all(abs(committed[k] - v) <= 1e-6 * abs(v) for k, v in record["parameters"].items())
        click.echo("\ncommitted parameters " + ("reproduced" if same else "DIFFER (run with --write to update)"))


def _reproduced(record: dict, committed: dict, rel: float = 1e-3) -> list[str]:
    """Fitted parameters of the refit that differ from the committed record by more than ``rel``."""
    out = []
    for h, v in record["variants"].items():
        old = committed.get("variants", {}).get(h, {}).get("parameters", {})
        for k in v["fitted"]:
            a, b = v["parameters"].get(k), old.get(k)
            if a is None or b is None or abs(a - b) > rel * abs(b):
                out.append(f"{h}.{k}")
    return out


def write_posterior(posterior: dict) -> str:
    """Store the posterior draws atomically next to the record (``pkpd_<drug>_posterior.json``)."""
    from meta.atomic_write import write_text_atomic
    from occupancy.calibration.pkpd import record_path
    from occupancy.models.pkpd_base import load_record as cached

    path = record_path(posterior["drug"]).with_name(f"pkpd_{posterior['drug']}_posterior.json")
    write_text_atomic(path, json.dumps(posterior, separators=(",", ":"), allow_nan=False) + "\n")
    cached.cache_clear()
    return str(path)


def _bayes(drug, refit, write, as_json, quiet, out_dir) -> None:
    from occupancy.calibration.pkpd import load_record, write_record
    from occupancy.calibration.pkpd.bayes_report import format_bayes_report, json_view, write_check_figures
    from occupancy.cli.output import output_folder

    committed = load_record(drug)
    with output_folder(out_dir, "calibrate", quiet) as out:
        record = committed
        if refit:
            from occupancy.calibration.pkpd.posterior import build_record, calibrate_bayes

            if not quiet:
                click.echo(f"blockade: sampling every {drug} pkpd structure (emcee, seeded); this takes minutes",
                           err=True)
            summary, posterior = calibrate_bayes(drug, progress=not quiet)
            record = build_record(drug, summary, committed)
            if write:
                path = write_record(record)
                ppath = write_posterior(posterior)
                if not quiet:
                    click.echo(f"blockade: wrote {path} and {ppath}", err=True)
        if "structures" not in record:
            raise InputError(f"calibrate: the {drug} record has no Bayesian calibration yet; run "
                             f"`blockade calibrate --drug {drug} --refit --write` (or use --legacy)")
        written = out.write(lambda staging: write_check_figures(record, staging)) if out is not None else ()
    if as_json:
        click.echo(json.dumps(json_view(record), indent=1, ensure_ascii=False, allow_nan=False))
    else:
        click.echo(format_bayes_report(record))
    if written and not quiet:
        click.echo(f"wrote {len(written)} files to {out_dir}: {', '.join(written)}", err=True)


def _pkpd(drug, refit, write, compare, as_json, bootstrap_n, quiet, legacy=True, out_dir=None) -> None:
    """The least-squares calibration (``--legacy``) and ``--compare``; else the Bayesian one (:func:`_bayes`)."""
    if not legacy and not compare:
        _bayes(drug, refit, write, as_json, quiet, out_dir)
        return
    from occupancy.calibration.pkpd import (
        calibrate,
        compare_table,
        format_compare,
        format_report,
        load_record,
        write_record,
    )

    committed = load_record(drug)
    record = committed
    if refit:
        if not quiet:
            click.echo(f"blockade: refitting the {drug} pkpd calibration (profiles, conflicts, bootstrap of "
                       f"{200 if bootstrap_n is None else bootstrap_n}); this takes a while", err=True)
        record = calibrate(drug, bootstrap_n=200 if bootstrap_n is None else bootstrap_n, progress=not quiet)
        for key in BAYES_KEYS:  # the Bayesian calibration is not the least-squares routine's to drop
            if key in committed:
                record[key] = committed[key]
        if write:
            path = write_record(record)
            if not quiet:
                click.echo(f"blockade: wrote {path}", err=True)
    if compare:
        table = compare_table(drug, record=record)
        click.echo(json.dumps(table, indent=2, allow_nan=False) if as_json else format_compare(table))
        return
    if as_json:
        click.echo(json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False))
        return
    click.echo(format_report(record))
    if refit and not write:
        differ = _reproduced(record, committed)
        click.echo("\ncommitted parameters " + ("reproduced (relative 1e-3)" if not differ else
                                                "DIFFER: " + ", ".join(differ) + " (--write stores the refit)"))


@main.command("calibrate")
@click.option("--drug", type=click.Choice(["naltrexone", "naloxone"], case_sensitive=False), default="naltrexone",
              show_default=True, help="Drug whose calibration to show or refit.")
@click.option("--model", "model_name", type=click.Choice(["pkpd", "washout"], case_sensitive=False),
              help="pkpd (default) or washout (naltrexone's washout model, always refitted).")
@click.option("--refit", is_flag=True, help="pkpd: rerun the calibration routine (tens of minutes; progress bar on "
                                            "stderr) instead of printing the committed record.")
@click.option("--write", is_flag=True, help="Store the refit in occupancy/data/ (pkpd: with --refit), atomically.")
@click.option("--compare", is_flag=True, help="Every model of the drug against the same targets: observed, "
                                              "predicted, z, met and sum of z^2 per model.")
@click.option("--bootstrap-n", "bootstrap_n", type=int,
              help="pkpd --refit: parametric bootstrap replicates (default 200; 0 = none, else 20 to 5000).")
@click.option("--free-half-life", is_flag=True,
              help="washout: fit the blockade half-life too (default: held at 72 h, Lee 1988 / Trøstheim 2023); "
                   "implies --model washout.")
@click.option("--legacy", is_flag=True, help="The least-squares calibration kept for comparison (its report, or "
                                             "with --refit its refit and --bootstrap-n).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder for one predictive-check figure per source (observed vs posterior predictive band).")
@click.option("--json", "as_json", is_flag=True, help="Print the calibration (issue-19 shape; --legacy: the record; "
                                                      "--compare: the table) as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar and no notes on stderr.")
def calibrate_command(drug, model_name, refit, write, compare, bootstrap_n, free_half_life, legacy, out_dir, as_json,
                      quiet):
    """Calibration of the blockade models: residual tables, conflicts, uncertainty, model comparison.

    \b
    blockade calibrate                          committed Bayesian calibration: structures, priors, checks
    blockade calibrate --json | --out DIR       the same as JSON, or one predictive-check figure per source
    blockade calibrate --drug naloxone          the same for naloxone
    blockade calibrate --refit [--write]        re-sample every structure (minutes), optionally store it
    blockade calibrate --legacy [--refit]       the least-squares calibration kept for comparison
    blockade calibrate --compare [--json]       every model x every target, sum of z^2 per model
    blockade calibrate --model washout          refit the washout model (--free-half-life, --write)
    """
    drug = drug.lower()
    model = _check(drug, model_name.lower() if model_name else None, refit, write, compare, bootstrap_n,
                   free_half_life, legacy, out_dir)
    if model == "washout":
        if out_dir is not None or legacy:
            raise InputError("--out/--legacy: options of --model pkpd")
        _washout(as_json, write, free_half_life)
    else:
        _pkpd(drug, refit, write, compare, as_json, bootstrap_n, quiet, legacy=legacy or bootstrap_n is not None,
              out_dir=out_dir)
