"""``blockade meta bias``: Egger-type test and trim-and-fill for a table of effect sizes.

Without ``--levels`` the estimates are treated as independent: Egger's test is metafor's ``regtest``
(default ``--egger-model rma``: the ``--method`` random-effects model with the standard error as moderator,
z test; ``lm`` gives the classical weighted-regression t test) and trim-and-fill runs on all estimates.

With ``--levels OUTER,INNER`` (nested clusters, e.g. ``study,esid``) the Egger test is the multilevel one
(standard error as a moderator of the multilevel model, REML unless ``--method ML``) and trim-and-fill runs
on within-cluster aggregates of the outermost level (metafor ``aggregate``, compound symmetry with
``--rho``, default 0.6 — the value of metafor's own ``aggregate`` example; the review did not report its ρ).

``--selmodel stepfun|beta`` adds a selection model (metafor ``selmodel``, :func:`meta.selection.selection_model`)
of the univariate ``--method`` model (refitted by ML, as metafor does): the step function with cut points
``--steps`` (default 0.025, the three-parameter selection model) or the beta model, with the likelihood-ratio
test against the unadjusted model; JSON key ``selmodel``.
"""

from __future__ import annotations

import json
import math

import click

from meta.cli.group import meta_group
from meta.cli.input import names_data_file

DEFAULT_RHO = 0.6


def _clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def run_bias(y, v, *, levels=None, rho=DEFAULT_RHO, estimator="L0", method="REML", egger_model="rma"):
    """Egger test and trim-and-fill; returns ``(egger, trimfill, aggregate_or_None)`` result objects."""
    from meta.aggregate import aggregate_estimates
    from meta.small_study import egger_test, trim_and_fill

    if levels:
        ml_method = "ML" if method == "ML" else "REML"
        egger = egger_test(y, v, model="multilevel", levels=levels, method=ml_method)
        outer = next(iter(levels.values()))
        agg = aggregate_estimates(y, v, outer, rho)
        tf = trim_and_fill(agg.yi, agg.vi, estimator=estimator, method=method)
        return egger, tf, agg
    egger = egger_test(y, v, model=egger_model, method=method)
    tf = trim_and_fill(y, v, estimator=estimator, method=method)
    return egger, tf, None


def parse_steps_option(text: str) -> list[float]:
    """``"0.025,0.5"`` → ``[0.025, 0.5]`` (one-line error naming --steps otherwise)."""
    from meta.errors import MetaInputError

    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise MetaInputError(f"--steps: expected comma-separated p-value cut points such as 0.025,0.5 (got {text!r})") \
            from None
    if not values or any(not 0 < x <= 1 for x in values):
        raise MetaInputError(f"--steps: cut points must lie in (0, 1] (got {text!r})")
    return values


def run_selmodel(y, v, kind: str, steps, alternative: str, method: str):
    """The selection model of the univariate ``method`` model (metafor ``selmodel``; refitted by ML)."""
    from meta.selection import selection_model
    from meta.univariate import fit_random_effects

    fit = fit_random_effects(y, v, method=method)
    return selection_model(fit, type=kind, steps=steps, alternative=alternative)


def bias_dict(egger, tf, agg, rho) -> dict:
    out = {
        "egger": {
            "model": egger.model, "slope": egger.slope, "se": egger.se, "z": egger.z, "p": egger.p,
            "df": _clean(egger.df), "intercept": _clean(egger.intercept),
            "intercept_ci_lb": _clean(egger.ci_lb), "intercept_ci_ub": _clean(egger.ci_ub), "k": egger.k,
            "method": egger.method,
        },
        "trimfill": {
            "k0": tf.k0, "se_k0": _clean(tf.se_k0), "side": tf.side, "estimator": tf.estimator,
            "p_k0": _clean(tf.p_k0), "estimate": tf.estimate, "se": tf.se, "ci_lb": tf.ci_lb, "ci_ub": tf.ci_ub,
            "k": tf.k, "method": tf.method, "on_aggregates": agg is not None,
            "yi_filled": tf.yi_filled.tolist(), "vi_filled": tf.vi_filled.tolist(),
        },
    }
    if agg is not None:
        out["trimfill"]["rho"] = rho
        out["trimfill"]["clusters"] = [c.item() if hasattr(c, "item") else c for c in agg.cluster]
    return out


@meta_group.command("bias")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--yi", default=None, help="Column with the effect sizes (default: the column 'yi').")
@click.option("--vi", default=None, help="Column with the sampling variances (default: the column 'vi').")
@click.option("--sei", default=None, help="Column with standard errors instead of --vi (default: 'sei' when there is "
                                          "no 'vi').")
@click.option("--levels", help="Nested cluster columns, outer to inner (e.g. study,esid): multilevel Egger test "
                               "and trim-and-fill on aggregates of the outer level.")
@click.option("--rho", type=float, default=DEFAULT_RHO, show_default=True,
              help="Within-cluster correlation for the aggregates used by trim-and-fill with --levels.")
@click.option("--estimator", type=click.Choice(["L0", "R0", "Q0"]), default="L0", show_default=True,
              help="Trim-and-fill estimator of the number of missing studies.")
@click.option("--method", type=click.Choice(["REML", "ML", "DL", "FE"], case_sensitive=False), default="REML",
              show_default=True, help="Model for trim-and-fill and the univariate Egger test (FE = equal effects).")
@click.option("--egger-model", type=click.Choice(["rma", "lm"]), default="rma", show_default=True,
              help="Without --levels: rma = metafor regtest default (z test), lm = classical weighted regression (t).")
@click.option("--na", "na_action", type=click.Choice(["omit", "fail"], case_sensitive=False), default="omit",
              show_default=True, help="Rows with a missing estimate, variance or level id: leave out with a warning "
                                      "(omit) or stop (fail), as meta pool.")
@click.option("--selmodel", type=click.Choice(["stepfun", "beta"]), default=None,
              help="Also fit a selection model (metafor selmodel): step function (3PSM with the default --steps) "
                   "or beta; univariate only.")
@click.option("--steps", default=None, metavar="0.025,0.5",
              help="Cut points of the step-function selection model (one-sided p-values; default 0.025).")
@click.option("--alternative", type=click.Choice(["greater", "less", "two.sided"]), default="greater",
              show_default=True, help="Direction of the p-values the selection model uses (metafor's default: "
                                      "greater, i.e. large positive effects favoured).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@names_data_file
def bias_command(data, yi, vi, sei, levels, rho, estimator, method, egger_model, na_action, selmodel, steps, alternative,
                 as_json):
    """Small-study effects: Egger-type regression test and trim-and-fill (metafor regtest / trimfill), and
    optionally a selection model (metafor selmodel).

    \b
    blockade meta bias dat.csv --yi yi --vi vi --selmodel stepfun --steps 0.025,0.5 --json
    """
    from meta.errors import MetaInputError
    from meta.cli.input import level_ids, load_effects, split_levels

    method = method.upper()
    if not -1 < rho < 1:
        raise MetaInputError(f"--rho must lie in (-1, 1) (got {rho})")
    step_list = parse_steps_option(steps) if steps is not None else None
    if steps is not None and selmodel != "stepfun":
        raise MetaInputError("--steps needs --selmodel stepfun (the beta model has no cut points)")
    if selmodel and levels:
        raise MetaInputError("--selmodel is for univariate models (metafor's selmodel has no multilevel version); "
                             "drop --levels")
    from meta.cli.input import effect_columns, read_csv

    yi, vi, is_sei = effect_columns(read_csv(data).columns, yi, vi, sei)
    df, y, v = load_effects(data, yi, vi, na=na_action.lower(), also=split_levels(levels) if levels else (),
                            sei=is_sei)
    lv = level_ids(df, levels, source=data) if levels else None
    from meta.cli.input import numerical_guard, require_finite

    with numerical_guard(data, f"columns {yi!r}/{vi!r}"):
        egger, tf, agg = run_bias(y, v, levels=lv, rho=rho, estimator=estimator, method=method,
                                  egger_model=egger_model)
    require_finite(data, f"columns {yi!r}/{vi!r}", egger.slope, egger.se, tf.estimate, tf.se)
    sel = None
    if selmodel:
        from meta.cli.group import collected_warnings

        with collected_warnings() as caught, numerical_guard(data, f"columns {yi!r}/{vi!r}"):
            try:
                sel = run_selmodel(y, v, selmodel, step_list, alternative, method)
            except MetaInputError as exc:  # name the file the p-values come from
                raise MetaInputError(f"{data!r}: {exc}") from None
        caught.emit()
    if as_json:
        out = bias_dict(egger, tf, agg, rho)
        if sel is not None:
            out["selmodel"] = sel.to_dict()
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(egger.summary())
    click.echo("")
    if agg is not None:
        click.echo(f"Trim-and-fill on {agg.yi.size} aggregates of {next(iter(lv))!r} (rho = {rho:g}):")
    click.echo(tf.summary())
    if sel is not None:
        click.echo("")
        click.echo(sel.summary())
