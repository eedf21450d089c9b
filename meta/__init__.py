"""Meta-analysis statistics agreeing with metafor 3.8: effect sizes, univariate and multilevel
random-effects models, meta-regression, small-study methods, power and plots.

This package is pure statistics: it knows nothing about pharmacology and never imports :mod:`occupancy`.
What a notebook user calls is importable from here; names are resolved on first use (PEP 562), so
``import meta`` stays cheap::

    from meta import fit_multilevel, trim_and_fill
    fit = fit_multilevel("yi", "vi", ["study", "esid"], data=table, mods="~ year")

Modules by role (floors; each imports only from its own floor or below — ``tests/test_layout.py``):
``errors``/``validation``/``atomic_write`` → ``effect_sizes``, ``model_matrix``, ``nested_covariance``,
``heterogeneity``, ``inference`` → ``univariate``, ``multilevel``, ``profile_likelihood`` → ``aggregate``,
``small_study``, ``influence``, ``power`` → ``plots`` → ``cli`` (the ``meta`` command group).
"""

from meta.lazy_exports import lazy_exports

__version__ = "0.1.0"

#: Public name → module that defines it.
_API = {
    "fit_random_effects": "meta.univariate",
    "fit_multilevel": "meta.multilevel",
    "profile_ci": "meta.profile_likelihood",
    "lrt": "meta.profile_likelihood",
    "aggregate_estimates": "meta.aggregate",
    "egger_test": "meta.small_study",
    "pet_peese": "meta.small_study",
    "trim_and_fill": "meta.small_study",
    "influence": "meta.influence",
    "leave_one_out": "meta.influence",
    "cooks_distance": "meta.influence",
    "rstudent": "meta.influence",
    "study_power": "meta.power",
    "mpower": "meta.power",
    "min_study_size": "meta.power",
    "ttest_power": "meta.power",
    "ttest_sample_size": "meta.power",
    "hedges_g_between": "meta.effect_sizes",
    "hedges_g_within": "meta.effect_sizes",
    "smd": "meta.effect_sizes",
    "smcc": "meta.effect_sizes",
    "smcr": "meta.effect_sizes",
    "forest_plot": "meta.plots",
    "funnel_plot": "meta.plots",
    "contour_funnel_plot": "meta.plots",
    "trimfill_funnel_plot": "meta.plots",
    "bubble_plot": "meta.plots",
    "save_figure": "meta.plots",
    "MetaInputError": "meta.errors",
    "ConvergenceError": "meta.errors",
}

__all__ = ["__version__", *_API]

__getattr__, __dir__ = lazy_exports(__name__, _API)
