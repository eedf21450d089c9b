"""``blockade meta effect-size``: add effect-size columns ``yi``/``vi`` to a CSV.

Two families of measures:

* metafor ``escalc`` measures OR, RR, RD, COR, ZCOR, MD, ROM, PLO, PR and IRR
  (:func:`meta.effect_measures.escalc`), with column options named exactly after escalc's arguments
  (``--ai --bi --ci --di --n1i --n2i``, ``--x1i --x2i --t1i --t2i``, ``--m1i --m2i --sd1i --sd2i``,
  ``--ri --ni``, ``--xi --ni``/``--mi``) and escalc's ``--add``, ``--to``, ``--drop00``, ``--vtype``.  As
  escalc, a row with a missing input gets no ``yi``/``vi`` (empty cells, one warning line naming the rows).
* Hedges' g (Borenstein et al. 2009) and escalc's SMD, SMCC, SMCR, which need ``--design``.

For g/SMD each row may carry a different kind of input; the first complete one in the order means/SDs → t → F (with
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


#: escalc measures computed by :func:`meta.effect_measures.escalc`: their column options (escalc's argument
#: names), the columns each needs (a tuple = one of them), and the escalc options they take
ESCALC_MEASURES = {
    "OR": (("ai", "bi", "ci", "di", "n1i", "n2i"), ("ai", "ci", ("bi", "n1i"), ("di", "n2i")), ("add", "to", "drop00")),
    "RR": (("ai", "bi", "ci", "di", "n1i", "n2i"), ("ai", "ci", ("bi", "n1i"), ("di", "n2i")), ("add", "to", "drop00")),
    "RD": (("ai", "bi", "ci", "di", "n1i", "n2i"), ("ai", "ci", ("bi", "n1i"), ("di", "n2i")),
           ("add", "to", "drop00", "vtype")),
    "COR": (("ri", "ni"), ("ri", "ni"), ("vtype",)),
    "ZCOR": (("ri", "ni"), ("ri", "ni"), ()),
    "MD": (("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"), ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"), ("vtype",)),
    "ROM": (("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"), ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"), ("vtype",)),
    "PLO": (("xi", "ni", "mi"), ("xi", ("ni", "mi")), ("add", "to", "vtype")),
    "PR": (("xi", "ni", "mi"), ("xi", ("ni", "mi")), ("add", "to", "vtype")),
    "IRR": (("x1i", "x2i", "t1i", "t2i"), ("x1i", "x2i", "t1i", "t2i"), ("add", "to", "drop00")),
}
#: the standardised-mean-difference measures (``--design`` and the columns of this command's own names)
SMD_MEASURES = ("g", "smd", "smcc", "smcr")
#: escalc-named options accepted as aliases by the SMD measures (escalc name → this command's name)
SMD_ALIASES = {"m1i": "m1", "m2i": "m2", "sd1i": "sd1", "sd2i": "sd2", "n1i": "n1", "n2i": "n2", "ni": "n",
               "ri": "r"}
ESCALC_COLUMNS = ("ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "x2i", "t1i", "t2i", "m1i", "m2i", "sd1i", "sd2i",
                  "ri", "ni", "xi", "mi")
SMD_COLUMNS = ("m1", "m2", "sd1", "sd2", "sd_diff", "n1", "n2", "n", "r", "t", "f", "sign", "p", "d", "g",
               "ci_lb", "ci_ub")


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def compute_escalc(df, measure: str, columns: dict, options: dict, *, source: str | None = None):
    """``(yi, vi, incomplete_rows_mask, notes)`` of an escalc measure for every row of ``df``.

    ``columns`` maps escalc argument names to column names (or numbers, used for every row); ``options``
    holds ``add``, ``to``, ``drop00``, ``vtype`` where given.  Errors name the option and column; ``notes`` are
    escalc's warnings (±Inf results set to NaN), to be shown once the output is written.
    """
    import re
    import warnings

    import numpy as np

    from meta.effect_measures import escalc
    from meta.errors import MetaInputError

    _, needs, _ = ESCALC_MEASURES[measure]
    for need in needs:
        alternatives = need if isinstance(need, tuple) else (need,)
        if not any(columns.get(a) for a in alternatives):
            wanted = " or ".join(_flag(a) for a in alternatives)
            raise MetaInputError(f"--measure {measure} needs the column option {wanted}")
    if len(df) == 0:
        raise MetaInputError("the data file has no rows")
    arrays = {arg: _column(df, spec, _flag(arg), source) for arg, spec in columns.items() if spec}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = escalc(measure, **arrays, **options)
    except MetaInputError as exc:
        message = " ".join(str(exc).split())

        def name(m):
            arg = m.group(1)
            return f"{_flag(arg)} column {columns[arg]!r}" if arg in columns else _flag(arg)

        raise MetaInputError(re.sub(r"argument '(\w+)'", name, message)) from None
    incomplete = np.isnan(res.yi) | np.isnan(res.vi)
    return res.yi, res.vi, incomplete, [str(w.message) for w in caught]


@meta_group.command("effect-size")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--measure", type=click.Choice([*SMD_MEASURES, *ESCALC_MEASURES], case_sensitive=False), default="g",
              show_default=True,
              help="g: Hedges' g as Borenstein et al. (2009); smd (between) / smcc, smcr (within): metafor escalc "
                   "(these need --design); OR, RR, RD, COR, ZCOR, MD, ROM, PLO, PR, IRR: metafor escalc, with "
                   "column options named after escalc's arguments.")
@click.option("--design", type=click.Choice(["between", "within"]), default=None,
              help="For g/smd/smcc/smcr: independent groups, or within-subject (crossover / paired) comparison.")
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
@click.option("--ai", help="escalc ai (OR/RR/RD): events in group 1.")
@click.option("--bi", help="escalc bi: non-events in group 1.")
@click.option("--ci", help="escalc ci: events in group 2.")
@click.option("--di", help="escalc di: non-events in group 2.")
@click.option("--n1i", help="escalc n1i: size of group 1 (OR/RR/RD instead of bi; MD/ROM).")
@click.option("--n2i", help="escalc n2i: size of group 2 (OR/RR/RD instead of di; MD/ROM).")
@click.option("--x1i", help="escalc x1i (IRR): events in group 1.")
@click.option("--x2i", help="escalc x2i (IRR): events in group 2.")
@click.option("--t1i", help="escalc t1i (IRR): person-time in group 1.")
@click.option("--t2i", help="escalc t2i (IRR): person-time in group 2.")
@click.option("--m1i", help="escalc m1i (MD/ROM): mean of group 1.")
@click.option("--m2i", help="escalc m2i (MD/ROM): mean of group 2.")
@click.option("--sd1i", help="escalc sd1i (MD/ROM): SD of group 1.")
@click.option("--sd2i", help="escalc sd2i (MD/ROM): SD of group 2.")
@click.option("--ri", help="escalc ri (COR/ZCOR): correlation.")
@click.option("--ni", help="escalc ni (COR/ZCOR, PLO/PR): sample size.")
@click.option("--xi", help="escalc xi (PLO/PR): events.")
@click.option("--mi", help="escalc mi (PLO/PR): non-events (instead of --ni).")
@click.option("--add", type=float, default=None, help="escalc add: value added to zero cells (default 1/2).")
@click.option("--to", type=click.Choice(["only0", "all", "if0all", "none"]), default=None,
              help="escalc to: which rows get --add (default only0: rows with a zero cell).")
@click.option("--drop00", is_flag=True, default=None, help="escalc drop00: no effect size for rows with no events "
                                                           "(or only events) in both groups.")
@click.option("--vtype", type=click.Choice(["LS", "LS2", "UB", "AV", "HO", "AVHO"], case_sensitive=False),
              default=None, help="Sampling-variance type (metafor escalc vtype; default LS).")
@click.option("--exact-j/--approx-j", default=False, show_default=True,
              help="Hedges' J for g: exact gamma form (metafor) or Borenstein's 1 - 3/(4df - 1).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the CSV here (atomic) instead of stdout.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of CSV.")
@names_data_file
def effect_size_command(data, measure, design, add, to, drop00, vtype, exact_j, out, as_json, **cols):
    """Compute effect sizes yi (= group 1 - group 2, e.g. drug - placebo) and sampling variances vi for each row
    of DATA.csv; the table is written back with yi and vi added.

    \b
    blockade meta effect-size outcomes.csv --design within --m1 m_drug --m2 m_pla --sd1 sd_drug --sd2 sd_pla --n n --r 0.5
    blockade meta effect-size bcg.csv --measure RR --ai tpos --bi tneg --ci cpos --di cneg --out bcg_rr.csv
    """
    from meta.atomic_write import write_text_atomic
    from meta.cli.input import read_csv
    from meta.errors import MetaInputError
    from meta.cli.group import warn
    from meta.validation import format_rows

    notes: list[str] = []
    if out:
        from meta.atomic_write import check_output_file

        check_output_file(out, "--out", inputs=(data,))
    measure = measure if measure in SMD_MEASURES else measure.upper()
    vtype = vtype.upper() if vtype else None
    given = {k: v for k, v in cols.items() if v}
    if measure in ESCALC_MEASURES:
        allowed, _, takes = ESCALC_MEASURES[measure]
        if design is not None:
            raise MetaInputError(f"--design is only for --measure g, smd, smcc or smcr (not {measure})")
        wrong = [k for k in given if k not in allowed]
        if wrong:
            raise MetaInputError(f"--measure {measure} does not use {', '.join(_flag(k) for k in wrong)} (its "
                                 f"columns are given with {', '.join(_flag(a) for a in allowed)})")
        options = {"add": add, "to": to, "drop00": drop00, "vtype": vtype}
        unused = [k for k, v in options.items() if v is not None and k not in takes]
        if unused:
            raise MetaInputError(f"--measure {measure} does not take {', '.join(_flag(k) for k in unused)}")
        options = {k: v for k, v in options.items() if v is not None}
        if exact_j:
            raise MetaInputError("--exact-j is only for --measure g")
        df = read_csv(data)
        yi, vi, incomplete, notes = compute_escalc(df, measure, given, options, source=data)
        if incomplete.all():
            raise MetaInputError(f"--measure {measure}: no row has a complete input (row(s) {format_rows(incomplete)})")
        if incomplete.any():
            notes.append(f"--measure {measure}: no effect size for row(s) {format_rows(incomplete, limit=50)} "
                         "(missing or unusable inputs); yi and vi are left empty there, and 'meta pool' leaves "
                         "such rows out")
    else:
        if design is None:
            raise MetaInputError(f"--measure {measure} needs --design between or --design within")
        if design == "between" and measure in ("smcc", "smcr"):
            raise MetaInputError(f"--measure {measure} is for --design within")
        if design == "within" and measure == "smd":
            raise MetaInputError("--measure smd is for --design between")
        if add is not None or to is not None or drop00:
            raise MetaInputError(f"--add, --to and --drop00 are for the escalc count measures, not --measure {measure}")
        vtype = vtype or "LS"
        if vtype not in ("LS", "LS2", "UB"):
            raise MetaInputError(f"--vtype {vtype} is not available for --measure {measure} (LS, LS2 or UB)")
        if measure in ("smcc", "smcr") and vtype == "UB":
            raise MetaInputError(f"--vtype UB is not available for {measure.upper()} (metafor 3.8: LS or LS2)")
        own = {k: v for k, v in cols.items() if k in SMD_COLUMNS}
        for alias, name in SMD_ALIASES.items():
            if cols.get(alias):
                if own.get(name):
                    raise MetaInputError(f"give either {_flag(name)} or {_flag(alias)}, not both")
                own[name] = cols[alias]
        wrong = [k for k in given if k not in SMD_COLUMNS and k not in SMD_ALIASES]
        if wrong:
            raise MetaInputError(f"--measure {measure} does not use {', '.join(_flag(k) for k in wrong)}")
        df = read_csv(data)
        yi, vi = compute_effect_sizes(df, design, own, measure=measure, vtype=vtype, exact_j=exact_j, source=data)
    result = df.copy()
    result["yi"] = yi
    result["vi"] = vi
    if as_json:
        text = json.dumps(json.loads(result.to_json(orient="records", double_precision=15)), indent=2) + "\n"
    else:
        from meta.csv_safety import csv_text

        text = csv_text(result, index=False, float_format="%.15g")  # formula-looking text gets a leading '

    if out:
        write_text_atomic(out, text)
    else:
        sys.stdout.write(text)
    for note in dict.fromkeys(notes):
        warn(note)
    if out:
        click.echo(f"wrote {out} ({len(result)} rows)", err=True)
