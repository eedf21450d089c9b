"""Joint calibration of the ``pkpd`` models: fit, uncertainty, conflicts, identifiability, model comparison.

Entry points
------------
* Bayesian calibration (issue 19, what the models use): :mod:`~occupancy.calibration.pkpd.bayes` (priors with
  sources, likelihood by source), :mod:`~occupancy.calibration.pkpd.forward` (vectorised predictions),
  :mod:`~occupancy.calibration.pkpd.posterior` (emcee, ArviZ diagnostics, PSIS-LOO by source, stacking,
  predictive checks, record), :mod:`~occupancy.calibration.pkpd.bayes_report` (text, ``--json``, figures).
  The least-squares routine below is kept for comparison (``blockade calibrate --legacy``).
* :func:`calibrate` (``drug="naltrexone"`` or ``"naloxone"``) → the JSON-ready record stored in
  ``occupancy/data/pkpd_<drug>_calibration.json``: parameters (fitted and held, with sources), residual
  table (observed / predicted / z / met), ``Σ z²``, conflicts (leave-one-out and forcing refits), profiles,
  Jacobian covariance, parametric bootstrap, Rabiner scan-time and 6β-naltrexol-potency sensitivity,
  variability derivation, population percentiles, optimiser status, both hysteresis variants and the
  choice of the default (lower ``Σ z²``).  ``blockade calibrate --refit`` runs it.
* :func:`point_fit` — the first stage alone (the fits, no uncertainty); the tests re-run it to show that
  the committed parameters are reproducible.
* :func:`format_report` — the record as text (``blockade calibrate``).
* :func:`compare_table` / :func:`compare` / :func:`format_compare` — every model of a drug × every target
  (``blockade calibrate --compare``).
* :func:`load_record` / :func:`write_record` — the committed record (``--write`` stores a refit atomically).

The prototype's ``typical_draws``/``typical_models`` and ``default_variability`` read this record too; in
the package they are :meth:`occupancy.models.pkpd_base.PKPDModel.parameter_draws` (parameter uncertainty of
the typical subject) and :func:`occupancy.simulation.population.default_variability` (between-subject
variability), next to the models that use them.

Modules, by role: :mod:`~occupancy.calibration.pkpd.problems` (what is fitted, held and why),
:mod:`~occupancy.calibration.pkpd.routine` (the calibration routine),
:mod:`~occupancy.calibration.pkpd.record` (residual tables, profile intervals, JSON, files),
:mod:`~occupancy.calibration.pkpd.report` and :mod:`~occupancy.calibration.pkpd.compare`.
Targets and scales: :mod:`occupancy.calibration.pkpd_targets`; data: :mod:`occupancy.calibration.sources`
(``../shared/reference/pkpd_sources.md``); least squares: :mod:`occupancy.calibration.fitting`.
"""

from occupancy.calibration.pkpd.compare import compare, compare_table, format_compare
from occupancy.calibration.pkpd.problems import (
    iv_naltrexol_peak_mor,
    naloxone_problem,
    naltrexone_problem,
    potency_ratio_from_pharmacology,
)
from occupancy.calibration.pkpd.record import load_record, record_path, write_record
from occupancy.calibration.pkpd.report import format_report
from occupancy.calibration.pkpd.routine import calibrate, point_fit

__all__ = ["calibrate", "point_fit", "format_report", "compare", "compare_table", "format_compare",
           "load_record", "record_path", "write_record", "naltrexone_problem", "naloxone_problem",
           "potency_ratio_from_pharmacology", "iv_naltrexol_peak_mor"]
