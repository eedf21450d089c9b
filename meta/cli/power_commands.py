"""``blockade meta power`` (metapower ``mpower``) and ``blockade meta study-power`` (metameta ``mapower_se``)."""

from __future__ import annotations

import json

import click

from meta.cli.group import meta_group
from meta.cli.input import names_data_file


@meta_group.command("power")
@click.option("--effect", type=float,
              help="Expected effect: Cohen's d (--es-type d, |d| up to 10) or a correlation r (-1 to 1).")
@click.option("--study-size", "study_size", type=float, required=True,
              help="Total N of each study (4 to 10000000).")
@click.option("--k", "k", type=int, required=True, help="Number of studies (2 to 100000).")
@click.option("--i2", type=float, required=True,
              help="Expected I^2 in percent, 0 to <100 (25/50/75 = low/moderate/high), as metafor reports it.")
@click.option("--es-type", "es_type", type=click.Choice(["d", "r", "or"]), default="d", show_default=True)
@click.option("--con-table", "con_table", help="Expected 2x2 table a,b,c,d (counts > 0) for --es-type or.")
@click.option("--test-type", "test_type", type=click.Choice(["two-tailed", "one-tailed"]), default="two-tailed",
              show_default=True)
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level (0 to 0.5).")
@click.option("--target", type=float,
              help="Also report the smallest per-study N reaching this power (0 to 1; d or r).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (i2 in percent).")
def power_command(effect, study_size, k, i2, es_type, con_table, test_type, alpha, target, as_json):
    """Power of a fixed- and random-effects meta-analysis of K studies of N participants (metapower).

    I^2 is given and reported in percent, as in metafor and blockade's other output (metapower itself takes
    a proportion: --i2 50 is metapower's i2 = .50).
    """
    import math

    from meta.errors import MetaInputError
    from meta.power import min_study_size, mpower

    def in_range(name, value, lo, hi, lo_open=False, hi_open=False):
        ok = value is not None and math.isfinite(value) and (value > lo if lo_open else value >= lo) and (
            value < hi if hi_open else value <= hi)
        if not ok:
            raise MetaInputError(f"{name}: must be {'above' if lo_open else 'at least'} {lo:g} and "
                                 f"{'below' if hi_open else 'at most'} {hi:g} (got {value:g})")

    in_range("--i2 (percent)", i2, 0, 100, hi_open=True)
    if 0 < i2 < 1:
        raise MetaInputError(f"--i2: give I^2 in percent (0 to 100), e.g. --i2 {i2 * 100:g} for {i2:g} (got {i2:g})")
    in_range("--study-size", study_size, 4, 1e7)
    in_range("--k", k, 2, 100_000)
    in_range("--alpha", alpha, 0, 0.5, lo_open=True)
    if target is not None:
        in_range("--target", target, 0, 1, lo_open=True, hi_open=True)
    table = None
    if con_table:
        try:
            table = [float(x) for x in con_table.split(",")]
        except ValueError:
            raise MetaInputError(f"--con-table: expected four numbers a,b,c,d (got {con_table!r})") from None
        if len(table) != 4:
            raise MetaInputError(f"--con-table: expected four numbers a,b,c,d (got {len(table)})")
        if not all(math.isfinite(x) and x > 0 for x in table):
            raise MetaInputError(f"--con-table: the four counts must be > 0 (got {con_table!r})")
    if es_type in ("d", "r") and effect is None:
        raise MetaInputError(f"--effect is required for --es-type {es_type}")
    if effect is not None:
        if es_type == "r":
            in_range("--effect (r)", effect, -1, 1, lo_open=True, hi_open=True)
        else:
            in_range("--effect", effect, -10, 10)
    share = i2 / 100.0
    res = mpower(effect, study_size, k, share, es_type=es_type, test_type=test_type, p=alpha, con_table=table)
    out = res.to_dict()
    out["i2"] = i2
    out["i2_unit"] = "percent"
    if target is not None:
        if es_type == "or":
            raise MetaInputError("--target is available for --es-type d and r")
        out["target"] = target
        out["min_study_size"] = {
            m: min_study_size(effect, k, share, target=target, es_type=es_type, model=m, test_type=test_type, p=alpha)
            for m in ("fixed", "random")
        }
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(res.summary().replace(f"I^2 = {share:g},", f"I^2 = {i2:g} %,"))
    if target is not None:
        ms = out["min_study_size"]
        grid = " (total of two equal arms, so even)" if es_type == "d" else ""
        click.echo(f"Smallest per-study N{grid} for power {target:g}: fixed {ms['fixed']}, random {ms['random']}")


@meta_group.command("study-power")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--se", "--sei", "se_col", help="Column with standard errors (default: 'sei' when the file has no 'vi').")
@click.option("--vi", "vi_col", help="Column with sampling variances (instead of --se; default: the column 'vi').")
@click.option("--ci-lb", "lb_col", help="Column with lower 95% CI limits (with --ci-ub; metameta mapower_ul).")
@click.option("--ci-ub", "ub_col", help="Column with upper 95% CI limits.")
@click.option("--id", "id_col", help="Column with study ids (default: study_id, study or id if present, "
                                     "otherwise the row number).")
@click.option("--effect", type=float, required=True,
              help="True effect delta to detect (sign ignored; not 0, |delta| up to 10).")
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Two-sided significance level (0 to 0.5).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@names_data_file
def study_power_command(data, se_col, vi_col, lb_col, ub_col, id_col, effect, alpha, as_json):
    """Each study's power to detect EFFECT from its standard error, and the median (metameta)."""
    import math

    import numpy as np

    from meta.errors import MetaInputError
    from meta.power import study_power
    from meta.validation import format_rows
    from meta.cli.input import numeric_column, read_csv, require_columns

    given = sum(x is not None for x in (se_col, vi_col)) + (lb_col is not None or ub_col is not None)
    if given > 1:
        raise MetaInputError("give exactly one of --se, --vi or --ci-lb/--ci-ub")
    if not (math.isfinite(effect) and effect != 0 and abs(effect) <= 10):
        raise MetaInputError(f"--effect: must be non-zero with |delta| at most 10 (got {effect:g})")
    if not (math.isfinite(alpha) and 0 < alpha <= 0.5):
        raise MetaInputError(f"--alpha: must be above 0 and at most 0.5 (got {alpha:g})")
    df = read_csv(data)
    if given == 0:  # the conventional columns, as meta pool: vi, else sei
        if "vi" in df.columns:
            vi_col = "vi"
        elif "sei" in df.columns:
            se_col = "sei"
        else:
            raise MetaInputError("give exactly one of --se, --vi or --ci-lb/--ci-ub (the file has no column 'vi' "
                                 "or 'sei')")
    if id_col is not None:
        require_columns(df, {"--id": id_col}, source=data)
    else:
        id_col = next((c for c in ("study_id", "study", "id") if c in df.columns), None)
    ids = (df[id_col].astype(str).tolist() if id_col is not None else [str(i) for i in range(1, len(df) + 1)])

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
        out = res.to_dict()
        out["id_column"] = id_col
        out["studies"] = [{"id": i, "se": float(s), "power": float(p)} for i, s, p in zip(ids, res.se, res.power)]
        click.echo(json.dumps(out, indent=2))
        return
    width = max([5] + [len(i) for i in ids])
    lines = [f"Power to detect delta = {res.effect:g} (two-sided alpha = {res.alpha:g}) in {res.power.size} studies "
             "(metameta mapower_se)", "", f"{id_col or 'row':<{width}s} {'se':>9s} {'power':>8s}"]
    lines += [f"{i:<{width}s} {s:9.4f} {p:8.4f}" for i, s, p in zip(ids, res.se, res.power)]
    lines += ["", f"Median power: {res.median:.4f} (range {res.power.min():.4f}-{res.power.max():.4f})"]
    click.echo("\n".join(lines))
