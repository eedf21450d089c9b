"""``blockade explore``: search the design space for the cheapest design that keeps its power under model uncertainty.

:mod:`~occupancy.workflows.explore.space` (the ``[explore]`` section and the grid),
:mod:`~occupancy.workflows.explore.evaluate` (closed-form criteria at the times they need, vectorised),
:mod:`~occupancy.workflows.explore.search` (chunks as Dask tasks, resumable Parquet parts),
:mod:`~occupancy.workflows.explore.result` (ranking, Pareto front, JSON) and
:mod:`~occupancy.workflows.explore.workflow` (:func:`explore_study`, what the CLI calls).
"""
