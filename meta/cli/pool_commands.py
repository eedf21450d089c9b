"""``blockade meta pool``: univariate or multilevel random-effects meta-analysis of a CSV of estimates.

Parses arguments, reads the table, calls :func:`meta.multilevel.fit_multilevel` (with ``--levels``) or
:func:`meta.univariate.fit_random_effects` (without), and prints the metafor-like summary or one JSON object.
Bad input raises :class:`meta.errors.MetaInputError`, which the ``blockade`` group prints as one
``blockade: error: ...`` line with exit status 2.
"""

from __future__ import annotations

import json
import math

import click

from meta.cli.group import meta_group
from meta.cli.input import names_data_file


def _clean(x):
    """JSON-safe values: NaN/inf → null, numpy scalars → Python, tuples → lists."""
    import numpy as np

    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_clean(v) for v in x.tolist()]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


def _coefficient_entry(c, test: str) -> dict:
    """One coefficient of the JSON: ``z`` for z tests; ``t`` and ``df`` for Knapp–Hartung; ``z`` (the same value,
    kept from earlier versions), ``t`` and ``df`` for ``--test t`` / ``--dfs contain``."""
    entry = {"name": c.name, "estimate": c.estimate, "se": c.se}
    if test == "knha":
        entry["t"] = c.z
    else:
        entry["z"] = c.z
        if c.df is not None:
            entry["t"] = c.z
    entry.update(p=c.p, ci_lb=c.ci_lb, ci_ub=c.ci_ub)
    if c.df is not None:
        entry["df"] = c.df
    return entry


def pool_payload(result) -> dict:
    """The ``--json`` object for a univariate or multilevel result (same keys; ``tau2`` vs ``sigma2``)."""
    base = dict(result.to_dict()) if hasattr(result, "to_dict") else {}
    out = dict(base)
    out["k"] = int(result.k)
    test = str(getattr(result, "test", "z"))
    out["coefficients"] = [_coefficient_entry(c, test) for c in result.coefficients]
    if hasattr(result, "sigma2"):
        out["sigma2"] = list(result.sigma2)
        out["model"] = "multilevel"
    else:
        out["tau2"] = float(result.tau2)
        out.setdefault("model", "univariate")
    for key in ("QE", "QE_df", "QE_p", "QM", "QM_df", "QM_ddf", "QM_p", "logLik", "converged"):
        if hasattr(result, key):
            out[key] = getattr(result, key)
    # metafor's QMdf: (numerator, denominator) of the omnibus test; the denominator is NA (null) for χ² tests
    out["QMdf"] = [out.get("QM_df"), out.get("QM_ddf")]
    total = getattr(result, "I2_total", None)
    if total is None:
        total = getattr(result, "I2", None)
    levels = list(getattr(result, "I2_levels", ()) or ([] if total is None else [total]))
    out["I2"] = {"total": total, "levels": levels}
    out["omitted_rows"] = [int(r) for r in getattr(result, "omitted_rows", ()) or ()]
    return _clean(out)


UNIVARIATE_METHODS = ("REML", "ML", "DL", "FE", "PM", "SJ", "HE", "EB", "HS")


@meta_group.command("pool")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--yi", "yi_col", default=None, help="Column of effect sizes (default: the column 'yi').")
@click.option("--vi", "vi_col", default=None, help="Column of sampling variances (default: the column 'vi').")
@click.option("--sei", "sei_col", default=None,
              help="Column of standard errors instead of --vi (squared into variances, metafor's sei=; default: the "
                   "column 'sei' when there is no 'vi').")
@click.option("--levels", default=None, help="Nested random-intercept levels, outer to inner (e.g. study,esid).")
@click.option("--mods", default=None, help='Moderator formula, e.g. "~ pubstatus" or "~ x + g".')
@click.option("--method", type=click.Choice(UNIVARIATE_METHODS, case_sensitive=False), default="REML",
              show_default=True,
              help="tau^2 estimator (metafor's method=; FE = equal effects). With --levels: REML or ML.")
@click.option("--test", type=click.Choice(["z", "t", "knha"], case_sensitive=False), default="z", show_default=True,
              help="Wald z tests, t tests, or Knapp-Hartung (knha; univariate models only).")
@click.option("--dfs", type=click.Choice(["residual", "contain"]), default="residual", show_default=True,
              help="t-test df for multilevel models (metafor dfs; 'contain' implies --test t).")
@click.option("--level", "conf_level", type=float, default=0.95, show_default=True, help="Confidence level.")
@click.option("--profile", "profile", is_flag=True,
              help="Add profile-likelihood CIs and likelihood-ratio tests (sigma2 = 0) per level (tau2 without "
                   "--levels; REML or ML).")
@click.option("--robust", "robust_col", default=None, metavar="CLUSTER_COLUMN",
              help="Cluster-robust tests and CIs with clusters from this column (metafor robust()).")
@click.option("--vcov", type=click.Choice(["CR2", "CR1"], case_sensitive=False), default=None,
              help="With --robust: CR2 (default; clubSandwich, Satterthwaite df) or CR1 (metafor's default).")
@click.option("--btt", default=None, metavar="2,3",
              help="Wald test that these coefficients (1-based) are all zero (robust with --robust).")
@click.option("--newmods", type=click.Path(dir_okay=False), default=None, metavar="FILE.csv",
              help="Predict at new moderator values: one column per variable of --mods, one row per prediction.")
@click.option("--na", "na_action", type=click.Choice(["omit", "fail"], case_sensitive=False), default="omit",
              show_default=True, help="Rows with missing values: leave out with a warning (omit) or stop (fail).")
@click.option("--ci-tau2", "ci_tau2", type=click.Choice(["qprofile", "profile"], case_sensitive=False), default=None,
              help="CI for tau^2 (univariate): Q-profile (metafor's confint default) or profile likelihood.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object instead of the summary (I2 in percent, as metafor).")
@names_data_file
def pool_command(data, yi_col, vi_col, sei_col, levels, mods, method, test, dfs, conf_level, profile, robust_col,
                 vcov, btt, newmods, na_action, ci_tau2, as_json) -> None:
    """Pool effect sizes: univariate random-effects model, or nested multilevel model with --levels.

    I^2 (per level and total) is reported in percent, as metafor does.

    \b
    blockade meta pool dat.csv --yi yi --vi vi
    blockade meta pool dat.csv --yi yi --vi vi --levels study,esid --mods "~ pubstatus" --json
    blockade meta pool dat.csv --yi yi --vi vi --mods "~ ablat" --robust trial --btt 2 --newmods new.csv
    """
    from meta.cli import pool_inference as inf
    from meta.cli.group import collected_warnings
    from meta.cli.input import (
        check_effect_ranges, effect_columns, level_ids, numerical_guard, numeric_column, read_csv, require_finite,
        variance_column,
    )
    from meta.errors import MetaInputError

    method, test, na_action = method.upper(), test.lower(), na_action.lower()
    ci_tau2 = ci_tau2.lower() if ci_tau2 else None
    # option combinations first: nothing is read or fitted for a command that cannot run
    if not 0.0 < conf_level < 1.0:
        raise MetaInputError(f"--level must be between 0 and 1 (got {conf_level})")
    if vcov is not None and robust_col is None:
        raise MetaInputError("--vcov needs --robust CLUSTER_COLUMN (it chooses the cluster-robust estimator)")
    vcov = (vcov or "CR2").upper()
    if levels and method not in ("REML", "ML"):
        raise MetaInputError(
            f"--method {method} is not available with --levels (multilevel models are fitted by REML or ML)"
        )
    if levels and test == "knha":
        raise MetaInputError("--test knha is not supported with --levels (Knapp-Hartung is defined for univariate "
                             "models here); use --test t, --dfs contain or --robust CLUSTER_COLUMN")
    if test == "knha" and dfs == "contain":
        raise MetaInputError("--dfs contain is for --test t; Knapp-Hartung tests use k - p df")
    if ci_tau2 and levels:
        raise MetaInputError("--ci-tau2 is supported for univariate models only (without --levels); for the "
                             "sigma^2 of a multilevel model use --profile (profile-likelihood CIs)")
    if ci_tau2 and method == "FE":
        raise MetaInputError("--ci-tau2 needs a random-effects model: --method FE has no tau^2")
    if ci_tau2 == "profile" and method not in ("REML", "ML"):
        raise MetaInputError(f"--ci-tau2 profile needs --method REML or ML (got {method}); --ci-tau2 qprofile "
                             "works with every estimator")
    if newmods and not mods:
        raise MetaInputError("--newmods needs --mods (an intercept-only model predicts the pooled estimate, "
                             "already in the output)")
    btt_list = inf.parse_btt_option(btt) if btt is not None else None
    new_frame = inf.read_newmods(newmods) if newmods else None

    df = read_csv(data)
    yi_col, vi_col, is_sei = effect_columns(df.columns, yi_col, vi_col, sei_col)
    yi = numeric_column(df, yi_col, option="--yi", source=data)
    vi = variance_column(df, vi_col, is_sei, source=data)
    if len(df) < 2:
        raise MetaInputError(f"need at least 2 estimates (got {len(df)})")
    check_effect_ranges(data, yi_col, vi_col, yi, vi)
    with collected_warnings() as caught, numerical_guard(data, f"columns {yi_col!r}/{vi_col!r}"):
        try:
            if levels:
                from meta.multilevel import fit_multilevel

                cols = list(level_ids(df, levels, source=data))
                result = fit_multilevel(yi, vi, cols, mods=mods, data=df, method=method, test=test, dfs=dfs,
                                        level=conf_level, yi_name=yi_col, vi_name=vi_col, na=na_action)
            else:
                from meta.univariate import fit_random_effects

                if dfs == "contain":  # as for --levels, 'contain' implies t tests; one estimate per unit: k - p df
                    test = "t"
                result = fit_random_effects(yi, vi, mods=mods, data=df, method=method, test=test, level=conf_level,
                                            yi_name=yi_col, vi_name=vi_col, na=na_action)
        except MetaInputError as exc:
            message = str(exc)
            if "(na='fail')" in message:
                message = message.replace("(na='fail')", "(--na fail)")
                raise MetaInputError(message) from None
            raise
        extra = None
        if profile and levels:
            extra = _profile_payload(result)
        elif profile:
            extra = _univariate_profile_payload(result, mods, method, conf_level)
        require_finite(data, f"columns {yi_col!r}/{vi_col!r}", *(c.estimate for c in result.coefficients),
                       *(c.se for c in result.coefficients))
        rob = None
        if robust_col is not None:
            ids = inf.cluster_ids(df, robust_col, result, source=data)
            rob = inf.fit_robust(result, ids, robust_col, vcov)
        wald = None
        if btt_list is not None:
            inf.check_btt_range(btt_list, result)
            wald = inf.wald(result, btt_list, rob)
        pred = inf.predictions(rob if rob is not None else result, new_frame, newmods) if newmods else None
        tci = inf.tau2_interval(result, ci_tau2, conf_level) if ci_tau2 else None
    caught.emit()
    if as_json:
        payload = pool_payload(result)
        if extra is not None:
            payload.update(_clean(extra))
        if rob is not None:
            payload["robust"] = _clean(inf.robust_payload(rob, robust_col))
        if wald is not None:
            payload["wald"] = _clean(inf.wald_payload(wald, result, rob))
        if pred is not None:
            payload["predictions"] = _clean(inf.predictions_payload(pred, new_frame, result))
            payload["predictions_vcov"] = rob.vcov_type if rob is not None else "model"
        if tci is not None:
            payload.update(_clean(inf.tau2_payload(tci, ci_tau2)))
        click.echo(json.dumps(payload, indent=2))
        return
    blocks = [result.summary()]
    if extra is not None:
        what = "sigma^2" if levels else "tau^2"
        lines = [f"Profile-likelihood CIs ({int(round(conf_level * 100))}%) and LRTs of {what} = 0:"]
        for ci, lr in zip(extra.get("sigma2_ci", [extra.get("tau2_profile")]), extra["lrt"]):
            lines.append(f"  {ci['factor']:>20s}  {what} = {ci['estimate']:.4f} [{ci['ci_lb']:.4f}, {ci['ci_ub']:.4f}]"
                         f"  LRT = {lr['LRT']:.4f}, p = {lr['p']:.4g}")
        blocks.append("\n".join(lines))
    if tci is not None:
        blocks.append(inf.tau2_text(tci))
    if rob is not None:
        blocks.append(inf.robust_text(rob))
    if wald is not None:
        blocks.append(inf.wald_text(wald, rob))
    if pred is not None:
        blocks.append(inf.predictions_text(pred, new_frame, result, rob.vcov_type if rob is not None else None))
    click.echo("\n\n".join(blocks))


def _profile_payload(result) -> dict:
    """Profile-likelihood CIs and LRTs for every estimated variance component of a multilevel result."""
    cis, lrts = [], []
    for j, fixed in enumerate(result.sigma2_fixed):
        if fixed:
            continue
        cis.append(result.profile_ci(j).to_dict())
        lrts.append(result.lrt(j).to_dict())
    return {"sigma2_ci": cis, "lrt": lrts}


def _univariate_profile_payload(result, mods, method, conf_level) -> dict:
    """Profile-likelihood CI and LRT (tau2 = 0) of a univariate model's tau2 (metafor ``confint(type="PL")``).

    The random-effects model is the one-level nested model with one group per estimate, so the multilevel
    profiler applies unchanged; it maximises the likelihood exactly, so its bounds solve
    ``-2(ll(tau2) - ll_max) = chi2_1`` to optimiser precision.  Returned as ``tau2_profile`` (the CI with its
    estimate), ``tau2_ci`` (``[lb, ub]``, as ``--ci-tau2 profile`` gives it) and ``lrt``.
    """
    import numpy as np

    from meta.errors import MetaInputError
    from meta.multilevel import fit_multilevel

    if method not in ("REML", "ML"):
        raise MetaInputError(f"--profile needs --method REML or ML (got {method})")
    X = np.asarray(result.X, float)
    one = fit_multilevel(np.asarray(result.yi, float), np.asarray(result.vi, float), [np.arange(result.k)], X,
                         names=list(result.names), method=method, level=conf_level)
    ci = one.profile_ci(0).to_dict()
    lrt = one.lrt(0).to_dict()
    for d in (ci, lrt):
        d.pop("component", None)
        d["factor"] = "tau^2"
    ci["estimate"] = float(result.tau2)
    return {"tau2_profile": ci, "tau2_ci": [ci["ci_lb"], ci["ci_ub"]], "tau2_ci_type": "profile", "lrt": [lrt]}
