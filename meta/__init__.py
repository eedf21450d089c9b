"""Meta-analysis statistics agreeing with metafor 3.8: effect sizes, univariate and multilevel
random-effects models, meta-regression, small-study methods, power and plots.

This package is pure statistics: it knows nothing about pharmacology and never imports :mod:`occupancy`.
"""

__version__ = "0.1.0"
