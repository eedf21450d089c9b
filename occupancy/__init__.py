"""Opioid-receptor blockade by naltrexone and naloxone: models, schedules, populations and workflows.

The pharmacology half of ``blockade``.  Statistics live in the separate :mod:`meta` package, which never
imports this one; the workflows here (annotation, reanalysis, planning) and the ``blockade`` CLI combine both.
"""

__version__ = "0.1.0"
