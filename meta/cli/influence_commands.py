"""``blockade meta influence``: case diagnostics of a univariate or multilevel model (metafor ``influence``).

Univariate models report every column of metafor's ``influence()`` per deleted outcome (rstudent, dffits,
cook.d, cov.r, tau2.del, QE.del, hat, weight, dfbs per coefficient, the influential-case flag) — ``hatvalues()``
and ``weights()`` are the hat and weight columns.  Multilevel models (``--levels``) report what metafor has for
``rma.mv``: Cook's distances, DFBETAS, studentised deleted residuals, hat values and weights; ``--cluster``
deletes whole clusters (a level name or a column) instead of single outcomes.  The science is in
:func:`meta.diagnostics.influence`; this module only reads, fits and prints.
"""

from __future__ import annotations

import json

import click

from meta.cli.group import meta_group
from meta.cli.input import names_data_file


def influence_payload(result, inf) -> dict:
    """The ``--json`` object: per-unit arrays keyed by metafor's names where metafor has them."""
    from meta.cli.pool_commands import _clean

    out = {"model": "multilevel" if hasattr(result, "sigma2") else "univariate", "unit": inf.unit, "k": result.k,
           "names": list(inf.names), "labels": list(inf.labels),
           "rstudent": inf.rstudent.z if inf.unit == "outcome" else None,
           "cook.d": inf.cooks, "dfbs": {n: inf.dfbetas[:, j] for j, n in enumerate(inf.names)},
           "hat": inf.hat, "weight": inf.weight}
    if inf.unit != "outcome":
        out["X2"] = inf.rstudent.X2
    if inf.dffits is not None:
        out.update({"dffits": inf.dffits, "cov.r": inf.cov_r, "tau2.del": inf.tau2_del, "QE.del": inf.QE_del,
                    "inf": inf.is_influential})
    else:
        comps = inf.leave_one_out.components
        for j, name in enumerate(inf.leave_one_out.component_names):
            out[f"{name}.del"] = comps[:, j]
        out["QE.del"] = inf.QE_del
    return _clean(out)


@meta_group.command("influence")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--yi", "yi_col", required=True, help="Column of effect sizes.")
@click.option("--vi", "vi_col", required=True, help="Column of sampling variances.")
@click.option("--levels", default=None, help="Nested random-intercept levels, outer to inner (multilevel model).")
@click.option("--mods", default=None, help='Moderator formula, e.g. "~ ablat" or "~ factor(alloc)".')
@click.option("--method", type=click.Choice(["REML", "ML", "DL", "FE", "PM", "SJ", "HE", "EB", "HS"],
                                            case_sensitive=False), default="REML", show_default=True,
              help="tau^2 estimator (with --levels: REML or ML).")
@click.option("--test", type=click.Choice(["z", "t", "knha"], case_sensitive=False), default="z", show_default=True,
              help="Tests of the refits (knha: univariate only).")
@click.option("--cluster", "cluster", default=None, metavar="LEVEL_OR_COLUMN",
              help="Delete whole clusters: a level of --levels or a column of the data (metafor cluster=).")
@click.option("--na", "na_action", type=click.Choice(["omit", "fail"], case_sensitive=False), default="omit",
              show_default=True, help="Rows with missing values: leave out with a warning (omit) or stop (fail).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@names_data_file
def influence_command(data, yi_col, vi_col, levels, mods, method, test, cluster, na_action, as_json) -> None:
    """Influence diagnostics (metafor influence, hatvalues, weights, dfbetas, cooks.distance, rstudent).

    \b
    blockade meta influence dat.csv --yi yi --vi vi --json
    blockade meta influence dat.csv --yi yi --vi vi --levels district,school --cluster district
    """
    from meta.cli.group import collected_warnings
    from meta.cli.input import check_effect_ranges, level_ids, numeric_column, numerical_guard, read_csv
    from meta.diagnostics import influence
    from meta.errors import MetaInputError

    method, test, na_action = method.upper(), test.lower(), na_action.lower()
    if levels and method not in ("REML", "ML"):
        raise MetaInputError(f"--method {method} is not available with --levels (REML or ML)")
    if levels and test == "knha":
        raise MetaInputError("--test knha is not supported with --levels; use --test t")
    df = read_csv(data)
    yi = numeric_column(df, yi_col, option="--yi", source=data)
    vi = numeric_column(df, vi_col, option="--vi", source=data)
    if len(df) < 3:
        raise MetaInputError(f"need at least 3 estimates for leave-one-out diagnostics (got {len(df)})")
    check_effect_ranges(data, yi_col, vi_col, yi, vi)
    with collected_warnings() as caught, numerical_guard(data, f"columns {yi_col!r}/{vi_col!r}"):
        if levels:
            from meta.multilevel import fit_multilevel

            cols = list(level_ids(df, levels, source=data))
            result = fit_multilevel(yi, vi, cols, mods=mods, data=df, method=method, test=test, yi_name=yi_col,
                                    vi_name=vi_col, na=na_action)
            lnames = list(result.level_names)
        else:
            from meta.univariate import fit_random_effects

            result = fit_random_effects(yi, vi, mods=mods, data=df, method=method, test=test, yi_name=yi_col,
                                        vi_name=vi_col, na=na_action)
            lnames = []
        clus = None
        if cluster is not None:
            if cluster in lnames:
                clus = cluster
            elif cluster in df.columns:
                clus = df[cluster].to_numpy()
            else:
                raise MetaInputError(f"--cluster {cluster!r} is neither a level of --levels nor a column of "
                                     f"{data!r} (columns: {', '.join(map(str, df.columns))})")
        inf = influence(result, cluster=clus)
    caught.emit()
    if as_json:
        click.echo(json.dumps(influence_payload(result, inf), indent=2))
        return
    if inf.dffits is not None:
        frame = inf.metafor_frame()
        click.echo(frame.to_string(float_format=lambda x: f"{x:.4f}"))
    else:
        click.echo(inf.summary())
        click.echo("")
        import pandas as pd

        click.echo(pd.DataFrame({"hat": inf.hat, "weight": inf.weight},
                                index=pd.RangeIndex(1, inf.hat.size + 1, name="row")).to_string(
            float_format=lambda x: f"{x:.4f}"))
