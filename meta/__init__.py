"""Meta-analysis statistics agreeing with metafor 3.8: effect sizes, univariate and multilevel
random-effects models, meta-regression, cluster-robust inference, tests, influence, small-study methods,
power and plots.

This package is pure statistics: it knows nothing about pharmacology and never imports :mod:`occupancy`.

The public functions are exported here lazily (PEP 562): ``import meta`` loads no submodule (nor numpy,
scipy or pandas); ``meta.fit_random_effects`` imports :mod:`meta.univariate` on first use.

Models
    fit_random_effects (metafor ``rma.uni``), fit_multilevel (``rma.mv`` with nested random intercepts)
Inference on a fitted model
    robust (cluster-robust CR2/CR1), predict, wald_test / lrt / anova, tau2_ci (Q-profile and profile CI of
    τ²), profile_ci and variance_component_lrt (multilevel σ²)
Diagnostics
    influence (every column of metafor's influence()), leave_one_out, cooks_distance, rstudent, dfbetas,
    hatvalues
Small-study effects, power, aggregation, plots
    egger_test, pet_peese, trim_and_fill, selection_model (metafor selmodel: step function / 3PSM, beta);
    mpower, jackson_turner_power, study_power, min_study_size,
    ttest_power, ttest_sample_size; aggregate_estimates; forest_plot, funnel_plot, contour_funnel_plot,
    trimfill_funnel_plot, bubble_plot, save_figure
Effect sizes
    escalc (OR, RR, RD, COR, ZCOR, MD, ROM, PR, PLO, IRR, SMD, SMCC, SMCR) and one function per measure;
    hedges_g_between, hedges_g_within (Borenstein et al. 2009)
"""

from __future__ import annotations

from meta.lazy_exports import lazy_exports

from meta.version import __version__

#: public name → defining module (imported on first access)
_EXPORTS: dict[str, str] = {
    # models and results
    "fit_random_effects": "meta.univariate", "UnivariateResult": "meta.univariate",
    "fit_multilevel": "meta.multilevel", "MultilevelResult": "meta.multilevel",
    # inference
    "robust": "meta.cluster_robust", "RobustResult": "meta.cluster_robust",
    "RobustWaldTest": "meta.cluster_robust",
    "predict": "meta.prediction", "PredictionResult": "meta.prediction",
    "anova": "meta.hypothesis_tests", "wald_test": "meta.hypothesis_tests", "lrt": "meta.hypothesis_tests",
    "WaldTest": "meta.hypothesis_tests", "LRTComparison": "meta.hypothesis_tests",
    "tau2_ci": "meta.confint", "Tau2CI": "meta.confint",
    "profile_ci": "meta.profile_likelihood", "profile_loglik": "meta.profile_likelihood",
    "i_squared": "meta.heterogeneity",
    # influence
    "influence": "meta.diagnostics", "leave_one_out": "meta.diagnostics", "cooks_distance": "meta.diagnostics",
    "rstudent": "meta.diagnostics", "InfluenceResult": "meta.diagnostics", "hatvalues": "meta.diagnostics",
    "dfbetas": "meta.diagnostics",
    # selection models (publication bias)
    "selection_model": "meta.selection", "SelectionModelResult": "meta.selection",
    # small-study effects, power, aggregation
    "egger_test": "meta.small_study", "pet_peese": "meta.small_study", "trim_and_fill": "meta.small_study",
    "mpower": "meta.power", "jackson_turner_power": "meta.power", "study_power": "meta.power",
    "min_study_size": "meta.power", "ttest_power": "meta.power", "ttest_sample_size": "meta.power",
    "aggregate_estimates": "meta.aggregate",
    # plots
    "forest_plot": "meta.plots", "funnel_plot": "meta.plots", "contour_funnel_plot": "meta.plots",
    "trimfill_funnel_plot": "meta.plots", "bubble_plot": "meta.plots", "save_figure": "meta.plots",
    # effect sizes
    "EffectSizes": "meta.effect_sizes", "hedges_g_between": "meta.effect_sizes",
    "hedges_g_within": "meta.effect_sizes", "hedges_j": "meta.effect_sizes", "smd": "meta.effect_sizes",
    "smcc": "meta.effect_sizes", "smcr": "meta.effect_sizes", "vi_from_ci": "meta.effect_sizes",
    "escalc": "meta.effect_measures", "odds_ratio": "meta.effect_measures", "risk_ratio": "meta.effect_measures",
    "risk_difference": "meta.effect_measures", "correlation": "meta.effect_measures",
    "fisher_z": "meta.effect_measures", "mean_difference": "meta.effect_measures",
    "ratio_of_means": "meta.effect_measures", "proportion": "meta.effect_measures",
    "logit_proportion": "meta.effect_measures", "incidence_rate_ratio": "meta.effect_measures",
    # errors and warnings
    "MetaInputError": "meta.errors", "ConvergenceError": "meta.errors", "OmittedRowsWarning": "meta.errors",
}
#: exported under another name than in their module
_RENAMED: dict[str, tuple[str, str]] = {
    "variance_component_lrt": ("meta.profile_likelihood", "lrt"),
}
#: submodules reachable as attributes; none shares a name with an exported function (after
#: ``import meta.x`` Python sets ``meta.x`` to the module, which would shadow a function ``x``)
_SUBMODULES = (
    "aggregate", "cluster_robust", "confint", "diagnostics", "effect_measures", "effect_sizes", "errors",
    "heterogeneity", "hypothesis_tests", "inference", "model_matrix", "multilevel", "nested_covariance", "plots",
    "power", "prediction", "profile_likelihood", "selection", "small_study", "tau2_estimators", "univariate",
    "validation", "variance_components", "atomic_write", "lazy_exports", "cli", "version", "display", "csv_safety",
)

__all__ = sorted([*_EXPORTS, *_RENAMED])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, renamed=_RENAMED, submodules=_SUBMODULES)
