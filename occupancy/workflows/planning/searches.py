"""The planner's virtual population and its two searches: the minimum delay and the minimum ISI.

The same draws (same seed) serve every order and every search, exactly as
:func:`occupancy.simulation.population.simulate_population` draws them, so the numbers agree with
``blockade simulate``.
"""

from __future__ import annotations

import numpy as np

class VirtualPopulation:
    """The engine's virtual subjects: :meth:`Variability.draw` multipliers applied to ``model.blockade``.

    The same draws (same seed) are used for every order and every search, exactly as
    :func:`occupancy.simulation.population.simulate_population` draws them, so the numbers agree with ``simulate``.
    """

    def __init__(self, model, n: int, seed, variability=None) -> None:
        from occupancy.simulation.population import default_variability

        self.model = model
        self.n = int(n)
        self.seed = seed
        self.variability = default_variability(model.drug) if variability is None else variability
        self.scales = self.variability.draw(self.n, seed)

    def values(self, schedule, times_h, receptor: str = "MOR") -> np.ndarray:
        """Per-subject blockade, shape ``(n, T)``; zeros when ``schedule`` is None (no drug)."""
        times = np.atleast_1d(np.asarray(times_h, dtype=float))
        if schedule is None:
            return np.zeros((self.n, times.size))
        out = np.asarray(self.model.blockade(schedule, times, receptor, **self.scales), dtype=float)
        return np.broadcast_to(out, (self.n, times.size))

    def prob_ge(self, schedule, times_h, threshold: float) -> np.ndarray:
        """Fraction of subjects with MOR blockade ≥ ``threshold`` at each time."""
        return (self.values(schedule, times_h) >= threshold).mean(axis=0)

    def percentile(self, schedule, times_h, q: float) -> np.ndarray:
        """``q``-th percentile (numpy's linear rule, as in ``simulate``) of MOR blockade at each time."""
        return np.percentile(self.values(schedule, times_h), q, axis=0)


def population_summaries(values: np.ndarray) -> dict[str, np.ndarray]:
    q = np.percentile(values, [5.0, 50.0, 95.0], axis=0)
    return {"p05": q[0], "p50": q[1], "p95": q[2], "mean": values.mean(axis=0),
            "prob_ge_90": (values >= 90.0).mean(axis=0)}


# ----------------------------------------------------------------------------------------------------
# Searches: minimum delay and minimum intersession interval
# ----------------------------------------------------------------------------------------------------


def find_min_delay(pop: VirtualPopulation, schedule, *, threshold_pct: float = 90.0, probability: float = 0.95,
                   horizon_h: float = 24.0, step_h: float = 1.0 / 60.0, tol_h: float = 1e-3
                   ) -> tuple[float | None, float | None, float | None]:
    """Earliest delay after the last dose with P(MOR ≥ ``threshold_pct``) ≥ ``probability``.

    A 1-minute grid finds the first crossing; bisection on the population probability narrows it to
    ``tol_h``.  The returned delay ``d`` satisfies P(d) ≥ probability and P(d − tol_h) < probability
    (``d = 0`` when the condition already holds at the last dose).

    Returns
    -------
    (delay_h, probability_at_delay, reliable_until_h)
        ``reliable_until_h`` is the last grid delay (within ``horizon_h``) before the probability drops
        below ``probability`` again (``None`` if it never drops within the horizon); all ``None`` when the
        target is never reached within ``horizon_h``.
    """
    t0 = schedule.last_dose_h
    grid = np.arange(0.0, horizon_h + step_h / 2, step_h)
    p = pop.prob_ge(schedule, t0 + grid, threshold_pct)
    ok = p >= probability
    if not ok.any():
        return None, None, None
    i = int(np.argmax(ok))
    if i == 0:
        delay = 0.0
    else:
        lo, hi = grid[i - 1], grid[i]
        while hi - lo > tol_h:
            mid = 0.5 * (lo + hi)
            if pop.prob_ge(schedule, [t0 + mid], threshold_pct)[0] >= probability:
                hi = mid
            else:
                lo = mid
        delay = float(hi)
    prob = float(pop.prob_ge(schedule, [t0 + delay], threshold_pct)[0])
    after = ~ok[i:]
    until = float(grid[i + int(np.argmax(after)) - 1]) if after.any() else None
    return delay, prob, until


def residual_at(pop: VirtualPopulation, schedule, isi_days, offset_h: float, q: float) -> np.ndarray:
    """``q``-th percentile MOR blockade left by one drug session at ``isi_days × 24 + offset_h`` hours."""
    t = np.atleast_1d(np.asarray(isi_days, dtype=float)) * 24.0 + offset_h
    return pop.percentile(schedule, t, q)


def find_min_isi(pop: VirtualPopulation, schedule, *, offset_h: float, threshold_pct: float = 5.0, q: float = 95.0,
                 min_days: float = 0.0, horizon_days: float = 60.0, step_days: float = 0.05,
                 tol_days: float = 1e-4) -> float | None:
    """Smallest ISI (days) from which on the residual (``q``-th percentile) stays ≤ ``threshold_pct``.

    The residual is the MOR blockade that one drug session (``schedule``, relative to its start) leaves at
    ``offset_h`` after the start of the next session (the next session's first assessment).  Grid of
    ``step_days`` from ``min_days`` (the session must be over) to ``horizon_days``, then bisection to
    ``tol_days``.  ``None`` when the residual is still above the threshold at the horizon.
    """
    grid = np.arange(min_days, horizon_days + step_days / 2, step_days)
    r = residual_at(pop, schedule, grid, offset_h, q)
    above = r > threshold_pct
    if above[-1]:
        return None
    if not above.any():
        return float(grid[0])
    i = int(np.nonzero(above)[0][-1]) + 1  # first grid point after the last one above the threshold
    lo, hi = grid[i - 1], grid[i]
    while hi - lo > tol_days:
        mid = 0.5 * (lo + hi)
        if residual_at(pop, schedule, [mid], offset_h, q)[0] > threshold_pct:
            lo = mid
        else:
            hi = mid
    return float(hi)
