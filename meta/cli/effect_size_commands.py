"""``blockade meta effect-size``: add Hedges' g (or escalc SMD/SMCC/SMCR) columns ``yi``/``vi`` to a CSV.

Each row may carry a different kind of input; the first complete one in the order means/SDs → t → F (with
sign) → two-sided p → d → g with 95 % CI is used (like metafor's ``replmiss``).  Sign convention:
``yi = group 1 − group 2``; give the drug condition as group 1 so that negative = lower under the drug.
"""

from __future__ import annotations

import json
import sys

import click

from meta.cli.group import meta_group
from meta.cli.input import names_data_file

# input kind -> (columns it needs; between / within)
_BETWEEN_KINDS = [
    ("means", ("m1", "m2", "sd1", "sd2", "n1", "n2")),
    ("t", ("t", "n1", "n2")),
    ("f", ("f", "sign", "n1", "n2")),
    ("p", ("p", "n1", "n2")),
    ("d", ("d", "n1", "n2")),
    ("g", ("g", "ci_lb", "ci_ub")),
]
_WITHIN_KINDS = [
    ("means_sd_diff", ("m1", "m2", "sd_diff", "n", "r")),
    ("means", ("m1", "m2", "sd1", "sd2", "n", "r")),
    ("t", ("t", "n", "r")),
    ("f", ("f", "sign", "n", "r")),
    ("p", ("p", "n", "r")),
    ("d", ("d", "n", "r")),
    ("g", ("g", "ci_lb", "ci_ub")),
]


def _column(df, spec: str | None, option: str, source: str | None = None):
    """A numeric column of ``df`` (or a constant when ``spec`` is a number and not a column name)."""
    import numpy as np

    from meta.cli.input import numeric_column

    if spec is None:
        return None
    if spec not in df.columns:
        try:
            return np.full(len(df), float(spec))
        except ValueError:
            pass  # neither a column nor a number: numeric_column names the option, column and file
    return numeric_column(df, spec, option=option, source=source)


def _validate(kind_cols: dict, names: dict, mask):
    """Range checks on the rows that use a given input kind, with 1-based data-row numbers."""
    import numpy as np

    from meta.errors import MetaInputError
    from meta.validation import format_rows

    def fail(key, cond, what):
        if (mask & cond).any():
            raise MetaInputError(f"column {names[key]!r}: {what}; row(s) {format_rows(mask & cond)}")

    for key, arr in kind_cols.items():
        if key in ("n1", "n2", "n", "sd1", "sd2", "sd_diff"):
            fail(key, ~(arr > 0), "values must be > 0")
        if key == "r":
            fail(key, ~((arr > -1) & (arr < 1)), "correlations must lie in (-1, 1)")
        if key == "sign":
            fail(key, ~np.isin(arr, (-1.0, 1.0)), "signs must be +1 or -1")
        if key == "p":
            fail(key, ~((np.abs(arr) > 0) & (np.abs(arr) <= 1)), "|p| must lie in (0, 1]")
        if key == "f":
            fail(key, ~(arr >= 0), "F must be >= 0")
    if "ci_lb" in kind_cols:
        fail("ci_ub", ~(kind_cols["ci_ub"] > kind_cols["ci_lb"]), "upper CI limit must exceed the lower one")
    if "n1" in kind_cols:
        fail("n1", ~(kind_cols["n1"] + kind_cols["n2"] > 3), "n1 + n2 must exceed 3")
    if "n" in kind_cols:
        fail("n", ~(kind_cols["n"] > 2), "n must exceed 2")


def compute_effect_sizes(df, design: str, columns: dict, *, measure: str = "g", vtype: str = "LS",
                         exact_j: bool = False, source: str | None = None):
    """Return ``(yi, vi)`` arrays for the rows of ``df`` (library entry point of the command).

    ``source`` names the file ``df`` was read from in error messages.
    """
    import numpy as np

    from meta import effect_sizes as es
    from meta.errors import MetaInputError
    from meta.validation import format_rows

    kinds = _BETWEEN_KINDS if design == "between" else _WITHIN_KINDS
    arrays = {key: _column(df, spec, f"--{key.replace('_', '-')}", source) for key, spec in columns.items() if spec}
    names = {key: spec for key, spec in columns.items() if spec}
    k = len(df)
    if k == 0:
        raise MetaInputError("the data file has no rows")
    yi = np.full(k, np.nan)
    vi = np.full(k, np.nan)
    for kind, needed in kinds:
        if measure == "smcc" and kind != "means":  # r only enters SMCC through sd_d from sd1, sd2
            needed = tuple(n for n in needed if n != "r")
        if measure == "smcr" and kind == "means":  # escalc SMCR standardises by sd1 only
            needed = tuple(n for n in needed if n != "sd2")
        if not all(n in arrays for n in needed):
            continue
        mask = np.isnan(yi) & np.all([np.isfinite(arrays[n]) for n in needed], axis=0)
        if not mask.any():
            continue
        sub = {n: arrays[n] for n in needed}
        _validate(sub, names, mask)
        s = {n: a[mask] for n, a in sub.items()}
        res = _one_kind(es, design, kind, s, measure, vtype, exact_j)
        yi[mask], vi[mask] = res.yi, res.vi
    missing = np.isnan(yi)
    if missing.any():
        raise MetaInputError("no complete effect-size input (means/SDs, t, F with sign, p, d or g with CI) "
                             f"in row(s) {format_rows(missing)}")
    return yi, vi


def _one_kind(es, design, kind, s, measure, vtype, exact_j):
    from meta.errors import MetaInputError

    if design == "between":
        if measure == "smd":
            if kind == "g":
                raise MetaInputError("--measure smd cannot use g with a CI; use --measure g")
            if kind == "means":
                return es.smd(s["m1"], s["m2"], s["sd1"], s["sd2"], s["n1"], s["n2"], vtype=vtype)
            return es.smd(n1=s["n1"], n2=s["n2"], vtype=vtype,
                          **{kk: s[kk] for kk in ("t", "f", "sign", "p", "d") if kk in s})
        if kind == "p":  # signed two-sided p -> t on n1 + n2 - 2 df (metafor 4's pi= rule)
            import numpy as np
            from scipy import stats

            tt = np.sign(s["p"]) * stats.t.isf(np.abs(s["p"]) / 2, s["n1"] + s["n2"] - 2)
            return es.hedges_g_between(t=tt, n1=s["n1"], n2=s["n2"], exact_j=exact_j)
        if kind == "means":
            return es.hedges_g_between(s["m1"], s["m2"], s["sd1"], s["sd2"], s["n1"], s["n2"], exact_j=exact_j)
        return es.hedges_g_between(exact_j=exact_j, **s)
    # within
    if measure in ("smcc", "smcr"):
        if kind != "means" and measure == "smcr":
            raise MetaInputError("--measure smcr needs the columns --m1, --m2, --sd1, --n and --r")
        if measure == "smcr":
            return es.smcr(s["m1"], s["m2"], s["sd1"], s["n"], s["r"], vtype=vtype)
        if kind == "means":
            return es.smcc(s["m1"], s["m2"], s["sd1"], s["sd2"], s["n"], s["r"], vtype=vtype)
        if kind == "means_sd_diff":  # change-score standardisation by the SD of the differences
            return es.smcc(d=(s["m1"] - s["m2"]) / s["sd_diff"], n=s["n"], vtype=vtype)
        if kind in ("t", "p", "d"):
            return es.smcc(n=s["n"], vtype=vtype, **{kind: s[kind]})
        raise MetaInputError(f"--measure smcc cannot use the {kind!r} input")
    if kind == "p":
        import numpy as np
        from scipy import stats

        tt = np.sign(s["p"]) * stats.t.isf(np.abs(s["p"]) / 2, s["n"] - 1)
        return es.hedges_g_within(t=tt, n=s["n"], r=s["r"], exact_j=exact_j)
    return es.hedges_g_within(exact_j=exact_j, **s)


@meta_group.command("effect-size")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--design", type=click.Choice(["between", "within"]), required=True,
              help="Independent groups, or within-subject (crossover / paired) comparison.")
@click.option("--measure", type=click.Choice(["g", "smd", "smcc", "smcr"]), default="g", show_default=True,
              help="g: Hedges' g as Borenstein et al. (2009); smd (between) / smcc, smcr (within): metafor escalc.")
@click.option("--m1", help="Column: mean of group/condition 1 (drug).")
@click.option("--m2", help="Column: mean of group/condition 2 (placebo).")
@click.option("--sd1", help="Column: SD of group/condition 1.")
@click.option("--sd2", help="Column: SD of group/condition 2.")
@click.option("--sd-diff", "sd_diff", help="Column (within): SD of the paired differences.")
@click.option("--n1", help="Column (between): size of group 1.")
@click.option("--n2", help="Column (between): size of group 2.")
@click.option("--n", "n", help="Column (within): number of participants.")
@click.option("--r", "r", help="Column or number (within): correlation between conditions.")
@click.option("--t", "t", help="Column: t statistic (signed; independent or paired).")
@click.option("--f", "f", help="Column: one-df F statistic (needs --sign).")
@click.option("--sign", help="Column or number: +1/-1 direction for F inputs (-1 = lower under the drug).")
@click.option("--p", "p", help="Column: two-sided p-value, signed by the direction of the effect.")
@click.option("--d", "d", help="Column: Cohen's d.")
@click.option("--g", "g", help="Column: Hedges' g (with --ci-lb/--ci-ub).")
@click.option("--ci-lb", "ci_lb", help="Column: lower 95% CI limit of g.")
@click.option("--ci-ub", "ci_ub", help="Column: upper 95% CI limit of g.")
@click.option("--vtype", type=click.Choice(["LS", "LS2", "UB"]), default="LS", show_default=True,
              help="Sampling-variance estimator for smd/smcc/smcr (metafor escalc).")
@click.option("--exact-j/--approx-j", default=False, show_default=True,
              help="Hedges' J for g: exact gamma form (metafor) or Borenstein's 1 - 3/(4df - 1).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the CSV here (atomic) instead of stdout.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of CSV.")
@names_data_file
def effect_size_command(data, design, measure, vtype, exact_j, out, as_json, **cols):
    """Compute effect sizes yi (= drug - placebo) and sampling variances vi for each row of DATA.csv."""
    from meta.errors import MetaInputError
    from meta.atomic_write import write_text_atomic
    from meta.cli.input import read_csv

    if design == "between" and measure in ("smcc", "smcr"):
        raise MetaInputError(f"--measure {measure} is for --design within")
    if design == "within" and measure == "smd":
        raise MetaInputError("--measure smd is for --design between")
    if measure in ("smcc", "smcr") and vtype == "UB":
        raise MetaInputError(f"--vtype UB is not available for {measure.upper()} (metafor 3.8: LS or LS2)")
    if out:
        from meta.atomic_write import check_output_file

        check_output_file(out, "--out", inputs=(data,))
    df = read_csv(data)
    yi, vi = compute_effect_sizes(df, design, cols, measure=measure, vtype=vtype, exact_j=exact_j, source=data)
    result = df.copy()
    result["yi"] = yi
    result["vi"] = vi
    if as_json:
        text = json.dumps(json.loads(result.to_json(orient="records", double_precision=15)), indent=2) + "\n"
    else:
        text = result.to_csv(index=False, float_format="%.15g")
    if out:
        write_text_atomic(out, text)
        click.echo(f"wrote {out} ({len(result)} rows)", err=True)
    else:
        sys.stdout.write(text)
