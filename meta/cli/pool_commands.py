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


def pool_payload(result) -> dict:
    """The ``--json`` object for a univariate or multilevel result (same keys; ``tau2`` vs ``sigma2``)."""
    base = dict(result.to_dict()) if hasattr(result, "to_dict") else {}
    out = dict(base)
    out["k"] = int(result.k)
    out["coefficients"] = [
        {"name": c.name, "estimate": c.estimate, "se": c.se, "z": c.z, "p": c.p, "ci_lb": c.ci_lb, "ci_ub": c.ci_ub}
        | ({"df": c.df} if getattr(c, "df", None) is not None else {})
        for c in result.coefficients
    ]
    if hasattr(result, "sigma2"):
        out["sigma2"] = list(result.sigma2)
        out["model"] = "multilevel"
    else:
        out["tau2"] = float(result.tau2)
        out.setdefault("model", "univariate")
    for key in ("QE", "QE_df", "QE_p", "QM", "QM_df", "QM_p", "logLik", "converged"):
        if hasattr(result, key):
            out[key] = getattr(result, key)
    total = getattr(result, "I2_total", None)
    if total is None:
        total = getattr(result, "I2", None)
    levels = list(getattr(result, "I2_levels", ()) or ([] if total is None else [total]))
    out["I2"] = {"total": total, "levels": levels}
    return _clean(out)


@meta_group.command("pool")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--yi", "yi_col", required=True, help="Column of effect sizes.")
@click.option("--vi", "vi_col", required=True, help="Column of sampling variances.")
@click.option("--levels", default=None, help="Nested random-intercept levels, outer to inner (e.g. study,esid).")
@click.option("--mods", default=None, help='Moderator formula, e.g. "~ pubstatus" or "~ x + g".')
@click.option("--method", type=click.Choice(["REML", "ML", "DL", "FE"], case_sensitive=False), default="REML",
              show_default=True, help="Estimator (DL/FE only without --levels).")
@click.option("--test", type=click.Choice(["z", "t"]), default="z", show_default=True, help="Wald z or t tests.")
@click.option("--dfs", type=click.Choice(["residual", "contain"]), default="residual", show_default=True,
              help="t-test df for multilevel models (metafor dfs; 'contain' implies --test t).")
@click.option("--level", "conf_level", type=float, default=0.95, show_default=True, help="Confidence level.")
@click.option("--profile", "profile", is_flag=True,
              help="Add profile-likelihood CIs and likelihood-ratio tests (sigma2 = 0) per level (tau2 without "
                   "--levels; REML or ML).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the summary (I2 in percent, as metafor).")
@names_data_file
def pool_command(data, yi_col, vi_col, levels, mods, method, test, dfs, conf_level, profile, as_json) -> None:
    """Pool effect sizes: univariate random-effects model, or nested multilevel model with --levels.

    I^2 (per level and total) is reported in percent, as metafor does.

    \b
    blockade meta pool dat.csv --yi yi --vi vi
    blockade meta pool dat.csv --yi yi --vi vi --levels study,esid --mods "~ pubstatus" --json
    """
    from meta.errors import MetaInputError
    from meta.cli.input import level_ids, load_effects

    method = method.upper()
    if not 0.0 < conf_level < 1.0:
        raise MetaInputError(f"--level must be between 0 and 1 (got {conf_level})")
    if levels and method in ("DL", "FE"):
        raise MetaInputError(
            f"--method {method} is not available with --levels (multilevel models are fitted by REML or ML)"
        )
    df, yi, vi = load_effects(data, yi_col, vi_col)
    from meta.cli.input import numerical_guard, require_finite

    with numerical_guard(data, f"columns {yi_col!r}/{vi_col!r}"):
        if levels:
            from meta.multilevel import fit_multilevel

            cols = list(level_ids(df, levels, source=data))
            result = fit_multilevel(yi, vi, cols, mods=mods, data=df, method=method, test=test, dfs=dfs,
                                    level=conf_level, yi_name=yi_col, vi_name=vi_col)
        else:
            try:
                from meta.univariate import fit_random_effects
            except ModuleNotFoundError as exc:  # pragma: no cover - only in partial checkouts
                raise MetaInputError(f"univariate models are not available in this installation ({exc})") from None
            if dfs == "contain":  # as for --levels, 'contain' implies t tests; with one estimate per unit its df is k - p
                test = "t"
            result = fit_random_effects(yi, vi, mods=mods, data=df, method=method, test=test, level=conf_level)
        extra = None
        if profile and levels:
            extra = _profile_payload(result)
        elif profile:
            extra = _univariate_profile_payload(result, yi, vi, mods, df, method, conf_level)
        require_finite(data, f"columns {yi_col!r}/{vi_col!r}", *(c.estimate for c in result.coefficients),
                       *(c.se for c in result.coefficients))
    if as_json:
        payload = pool_payload(result)
        if extra is not None:
            payload.update(_clean(extra))
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(result.summary())
        if extra is not None:
            click.echo("")
            what = "sigma^2" if levels else "tau^2"
            click.echo(f"Profile-likelihood CIs ({int(round(conf_level * 100))}%) and LRTs of {what} = 0:")
            for ci, lr in zip(extra.get("sigma2_ci", [extra.get("tau2_ci")]), extra["lrt"]):
                click.echo(f"  {ci['factor']:>20s}  {what} = {ci['estimate']:.4f} [{ci['ci_lb']:.4f}, {ci['ci_ub']:.4f}]"
                           f"  LRT = {lr['LRT']:.4f}, p = {lr['p']:.4g}")


def _profile_payload(result) -> dict:
    """Profile-likelihood CIs and LRTs for every estimated variance component of a multilevel result."""
    cis, lrts = [], []
    for j, fixed in enumerate(result.sigma2_fixed):
        if fixed:
            continue
        cis.append(result.profile_ci(j).to_dict())
        lrts.append(result.lrt(j).to_dict())
    return {"sigma2_ci": cis, "lrt": lrts}


def _univariate_profile_payload(result, yi, vi, mods, df, method, conf_level) -> dict:
    """Profile-likelihood CI and LRT (tau2 = 0) of a univariate model's tau2 (metafor ``confint(type="PL")``).

    The random-effects model is the one-level nested model with one group per estimate, so the multilevel
    profiler applies unchanged; it maximises the likelihood exactly, so its bounds solve
    ``-2(ll(tau2) - ll_max) = chi2_1`` to optimiser precision.
    """
    import numpy as np

    from meta.errors import MetaInputError
    from meta.multilevel import fit_multilevel

    if method not in ("REML", "ML"):
        raise MetaInputError(f"--profile needs --method REML or ML (got {method})")
    one = fit_multilevel(np.asarray(yi, float), np.asarray(vi, float), [np.arange(len(yi))], mods=mods, data=df,
                         method=method, level=conf_level)
    ci = one.profile_ci(0).to_dict()
    lrt = one.lrt(0).to_dict()
    for d in (ci, lrt):
        d.pop("component", None)
        d["factor"] = "tau^2"
    ci["estimate"] = float(result.tau2)
    return {"tau2_ci": ci, "lrt": [lrt]}
