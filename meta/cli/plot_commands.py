"""``blockade meta plot``: forest, funnel, contour-enhanced funnel, trim-and-fill funnel and bubble plots.

The command reads a CSV of estimates, fits the model the other ``blockade meta`` commands fit (univariate
random effects, or nested random intercepts with ``--levels``) and writes one figure with
:mod:`meta.plots`.  Every bad input is a one-line error with exit status 2, detected before anything is
written.
"""

from __future__ import annotations

from pathlib import Path

import click

from meta.cli.group import UserError
from meta.cli.group import meta_group
from meta.cli.input import names_data_file

PLOT_KINDS = ("forest", "funnel", "contour", "trimfill", "bubble")
#: Most rows in a forest plot: one text line each, so 1000 rows is already a figure ~300 inches tall (and
#: ~0.5 GB to render as PNG); larger tables are refused before anything is drawn.
MAX_FOREST_ROWS = 1000
_SUFFIXES = (".png", ".svg", ".pdf")
_METHODS = ("REML", "ML", "DL", "FE")


def _fit(df, y, v, yi: str, vi: str, levels: list[str] | None, mods: str | None, method: str):
    if levels:
        from meta.multilevel import fit_multilevel

        return fit_multilevel(y, v, list(levels), mods=mods, data=df, method=method, yi_name=yi, vi_name=vi)
    from meta.univariate import fit_random_effects

    return fit_random_effects(y, v, mods=mods, data=df if mods else None, method=method, yi_name=yi, vi_name=vi)


@meta_group.command("plot")
@click.argument("kind", metavar="forest|funnel|contour|trimfill|bubble")
@click.argument("data", metavar="DATA.csv")
@click.option("--yi", "yi_col", metavar="COL", help="Column of effect-size estimates (default: the column 'yi').")
@click.option("--vi", "vi_col", metavar="COL", help="Column of sampling variances (default: the column 'vi').")
@click.option("--sei", "sei_col", metavar="COL",
              help="Column of standard errors instead of --vi (default: 'sei' when there is no 'vi').")
@click.option("--levels", metavar="OUTER,INNER", help="Nested random-intercept levels, outer to inner (multilevel model).")
@click.option("--mods", metavar="FORMULA", help='Moderator formula, e.g. "~ blockade + design".')
@click.option("--moderator", metavar="COL", help="Moderator on the x axis of a bubble plot (added to --mods if absent).")
@click.option("--label", "label_col", metavar="COL", help="Column of outcome labels (forest plot).")
@click.option("--method", default="REML", show_default=True, metavar="REML|ML|DL|FE", help="Variance estimator.")
@click.option("--estimator", default="L0", show_default=True, metavar="L0|R0", help="Trim-and-fill estimator.")
@click.option("--rho", type=float, default=None, metavar="R",
              help="Within-study correlation for the study aggregates drawn with --levels (forest, trimfill); "
                   "default 0.6, as blockade meta bias.")
@click.option("--out", "out_path", metavar="FILE", help="Output figure: .png, .svg or .pdf.")
@click.option("--na", "na_action", type=click.Choice(["omit", "fail"], case_sensitive=False), default="omit",
              show_default=True, help="Rows with a missing estimate, variance, level id, label or moderator: leave "
                                      "out with a warning (omit) or stop (fail), as meta pool.")
@names_data_file
def plot_command(kind, data, yi_col, vi_col, sei_col, levels, mods, moderator, label_col, method, estimator, rho,
                 out_path, na_action):
    """Draw a forest, funnel, contour-enhanced funnel, trim-and-fill funnel or bubble plot of DATA.csv.

    \b
    forest    outcomes grouped under studies (--levels), pooled diamond, prediction interval
    funnel    SE against estimates (residuals with --mods), pseudo 95% CI region
    contour   contour-enhanced funnel: 90/95/99% significance regions around 0
    trimfill  funnel after trim-and-fill; filled estimates hollow (study aggregates with --levels)
    bubble    meta-regression bubble plot of --moderator: fitted line and 95% CI band
    """
    from meta.cli.input import level_ids, load_effects, require_columns, split_levels

    # ---- argument checks (nothing is read or written until they pass) ---------------------------
    kind = kind.lower()
    if kind not in PLOT_KINDS:
        raise UserError(f"unknown plot kind {kind!r}; choose one of {', '.join(PLOT_KINDS)}")
    if not out_path:
        raise UserError("--out FILE is required (.png, .svg or .pdf)")
    if Path(out_path).suffix.lower() not in _SUFFIXES:
        raise UserError(f"--out {out_path!r}: the suffix must be one of {', '.join(_SUFFIXES)}")
    from meta.atomic_write import check_output_file

    check_output_file(out_path, "--out", inputs=(data,))
    from meta.cli.input import effect_columns, read_csv

    yi_col, vi_col, is_sei = effect_columns(read_csv(data).columns, yi_col, vi_col, sei_col)
    method = method.upper()
    if method not in _METHODS:
        raise UserError(f"--method {method!r}: choose one of {', '.join(_METHODS)}")
    estimator = estimator.upper()
    if estimator not in ("L0", "R0"):
        raise UserError(f"--estimator {estimator!r}: choose L0 or R0")
    level_cols = split_levels(levels) if levels else None
    if level_cols and kind != "trimfill" and method not in ("REML", "ML"):  # trimfill: univariate on aggregates
        raise UserError(f"--method {method}: multilevel models (--levels) are fitted by REML or ML")
    if kind == "bubble" and not moderator:
        raise UserError("a bubble plot needs --moderator COL")
    if level_cols and rho is None:  # same default as `blockade meta bias`, so plot and test agree
        from meta.cli.bias_commands import DEFAULT_RHO

        rho = DEFAULT_RHO
    if kind == "trimfill" and mods:
        raise UserError("trim-and-fill is defined for models without moderators; drop --mods")
    if rho is not None and not -1.0 < rho <= 1.0:
        raise UserError(f"--rho {rho}: must be in (-1, 1]")

    from meta.model_matrix import moderator_variables

    needed = [*(level_cols or ()), label_col, moderator, *(moderator_variables(mods) if mods else ())]
    df, yi, vi = load_effects(data, yi_col, vi_col, na=na_action.lower(), also=needed, sei=is_sei)
    if kind == "forest" and len(df) > MAX_FOREST_ROWS:
        raise UserError(f"{data}: {len(df)} rows are too many for a readable forest plot (at most {MAX_FOREST_ROWS}); "
                        "plot a subset of the rows, or use a funnel plot")
    require_columns(df, {"--label": label_col, "--moderator": moderator}, source=data)
    if levels:
        level_ids(df, levels, source=data)  # every level column present, no missing id (as meta pool)

    from meta import plots

    from meta.cli.input import numerical_guard

    with numerical_guard(data, f"columns {yi_col!r}/{vi_col!r}"):
        # ---- fit and draw ----------------------------------------------------------------------------
        if kind == "trimfill":
            import numpy as np

            from meta.small_study import trim_and_fill

            if level_cols:
                from meta.aggregate import aggregate_estimates

                agg = aggregate_estimates(yi, vi, df[level_cols[0]].to_numpy(), rho)
                yi, vi = np.asarray(agg.yi, dtype=float), np.asarray(agg.vi, dtype=float)
            tf = trim_and_fill(yi, vi, estimator=estimator, method=method)
            ax = plots.trimfill_funnel_plot(tf, yi=yi, vi=vi)
        else:
            model_mods = mods
            if kind == "bubble":
                import re

                present = model_mods is not None and re.search(rf"(?<![\w.]){re.escape(moderator)}(?![\w.])", model_mods)
                if not present:
                    model_mods = f"~ {moderator}" if not model_mods else f"{model_mods} + {moderator}"
            result = _fit(df, yi, vi, yi_col, vi_col, level_cols, model_mods, method)
            if kind == "forest":
                import pandas as pd

                labels = df[label_col].astype(str).tolist() if label_col else None
                groups = None
                if level_cols:  # numeric study ids read better with the level name: "study 3"
                    ids = df[level_cols[0]]
                    numeric = pd.api.types.is_numeric_dtype(ids)
                    groups = [f"{level_cols[0]} {g}" if numeric else str(g) for g in ids.tolist()]
                ax = plots.forest_plot(result, labels=labels, groups=groups, aggregate=bool(level_cols) and rho is not None,
                                       rho=0.0 if rho is None else rho, effect_label=yi_col)  # header/axis: the --yi column
            elif kind == "funnel":
                ax = plots.funnel_plot(result)
            elif kind == "contour":
                ax = plots.contour_funnel_plot(result)
            else:
                ax = plots.bubble_plot(result, moderator)
    out = plots.save_figure(ax.figure, out_path)
    click.echo(str(out))
