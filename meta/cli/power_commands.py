"""``blockade meta power`` (metapower ``mpower``) and ``blockade meta study-power`` (metameta ``mapower_se``)."""

from __future__ import annotations

import json

import click

from meta.cli.group import meta_group


@meta_group.command("power")
@click.option("--effect", type=float, help="Expected effect: Cohen's d (--es-type d) or a correlation (r).")
@click.option("--study-size", "study_size", type=float, required=True, help="Total N of each study.")
@click.option("--k", "k", type=int, required=True, help="Number of studies.")
@click.option("--i2", type=float, required=True, help="Expected I^2 as a proportion in [0, 1) (.25/.50/.75).")
@click.option("--es-type", "es_type", type=click.Choice(["d", "r", "or"]), default="d", show_default=True)
@click.option("--con-table", "con_table", help="Expected 2x2 table a,b,c,d for --es-type or.")
@click.option("--test-type", "test_type", type=click.Choice(["two-tailed", "one-tailed"]), default="two-tailed",
              show_default=True)
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level.")
@click.option("--target", type=float, help="Also report the smallest per-study N reaching this power (d or r).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def power_command(effect, study_size, k, i2, es_type, con_table, test_type, alpha, target, as_json):
    """Power of a fixed- and random-effects meta-analysis of K studies of N participants (metapower)."""
    from meta.errors import MetaInputError
    from meta.power import min_study_size, mpower

    table = None
    if con_table:
        try:
            table = [float(x) for x in con_table.split(",")]
        except ValueError:
            raise MetaInputError(f"--con-table: expected four numbers a,b,c,d (got {con_table!r})") from None
        if len(table) != 4:
            raise MetaInputError(f"--con-table: expected four numbers a,b,c,d (got {len(table)})")
    if es_type in ("d", "r") and effect is None:
        raise MetaInputError(f"--effect is required for --es-type {es_type}")
    res = mpower(effect, study_size, k, i2, es_type=es_type, test_type=test_type, p=alpha, con_table=table)
    out = res.to_dict()
    if target is not None:
        if es_type == "or":
            raise MetaInputError("--target is available for --es-type d and r")
        out["target"] = target
        out["min_study_size"] = {
            m: min_study_size(effect, k, i2, target=target, es_type=es_type, model=m, test_type=test_type, p=alpha)
            for m in ("fixed", "random")
        }
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(res.summary())
    if target is not None:
        ms = out["min_study_size"]
        grid = " (total of two equal arms, so even)" if es_type == "d" else ""
        click.echo(f"Smallest per-study N{grid} for power {target:g}: fixed {ms['fixed']}, random {ms['random']}")


@meta_group.command("study-power")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--se", "se_col", help="Column with standard errors.")
@click.option("--vi", "vi_col", help="Column with sampling variances (instead of --se).")
@click.option("--ci-lb", "lb_col", help="Column with lower 95% CI limits (with --ci-ub; metameta mapower_ul).")
@click.option("--ci-ub", "ub_col", help="Column with upper 95% CI limits.")
@click.option("--effect", type=float, required=True, help="True effect delta to detect (sign ignored).")
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Two-sided significance level.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def study_power_command(data, se_col, vi_col, lb_col, ub_col, effect, alpha, as_json):
    """Each study's power to detect EFFECT from its standard error, and the median (metameta)."""
    import numpy as np

    from meta.errors import MetaInputError
    from meta.power import study_power
    from meta.validation import format_rows
    from meta.cli.input import numeric_column, read_csv

    given = sum(x is not None for x in (se_col, vi_col)) + (lb_col is not None or ub_col is not None)
    if given != 1:
        raise MetaInputError("give exactly one of --se, --vi or --ci-lb/--ci-ub")
    df = read_csv(data)

    def col(name, option):
        return numeric_column(df, name, option=option, source=data, allow_missing=False)

    if se_col:
        se = col(se_col, "--se")
        name = se_col
    elif vi_col:
        vi = col(vi_col, "--vi")
        if (vi <= 0).any():
            raise MetaInputError(f"column {vi_col!r}: sampling variances must be > 0; row(s) {format_rows(vi <= 0)}")
        se, name = np.sqrt(vi), vi_col
    else:
        if lb_col is None or ub_col is None:
            raise MetaInputError("give both --ci-lb and --ci-ub")
        lb, ub = col(lb_col, "--ci-lb"), col(ub_col, "--ci-ub")
        if (ub <= lb).any():
            raise MetaInputError(
                f"column {ub_col!r}: upper limit must exceed the lower one; row(s) {format_rows(ub <= lb)}"
            )
        se, name = (ub - lb) / (2 * 1.96), ub_col  # metameta mapower_ul
    if (se <= 0).any():
        raise MetaInputError(f"column {name!r}: standard errors must be > 0; row(s) {format_rows(se <= 0)}")
    res = study_power(se, effect, alpha=alpha)
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=2))
        return
    click.echo(res.summary())
