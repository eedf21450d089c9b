"""The planner's virtual population and its two searches: the minimum delay and the minimum ISI.

The same draws (same seed) serve every order and every search, exactly as
:func:`occupancy.simulation.population.simulate_population` draws them, so the numbers agree with
``blockade simulate``.
"""

from __future__ import annotations

import numpy as np

#: Subject × time values evaluated at once (a few float64 arrays of this size): memory stays bounded for
#: any population size and any number of time points.
MAX_ELEMENTS = 2_000_000


class VirtualPopulation:
    """The engine's virtual subjects: :meth:`Variability.draw` multipliers applied to ``model.blockade``.

    The same draws (same seed) are used for every order and every search, exactly as
    :func:`occupancy.simulation.population.simulate_population` draws them, so the numbers agree with ``simulate``.
    Every method that returns per-time summaries evaluates the model in blocks of time points holding at most
    :data:`MAX_ELEMENTS` subject × time values.
    """

    def __init__(self, model, n: int, seed, variability=None) -> None:
        from occupancy.simulation.population import default_variability

        self.model = model
        self.n = int(n)
        self.seed = seed
        self.variability = default_variability(model) if variability is None else variability
        self.scales = self.variability.draw(self.n, seed)

    def values(self, schedule, times_h, receptor: str = "MOR") -> np.ndarray:
        """Per-subject blockade, shape ``(n, T)``; zeros when ``schedule`` is None (no drug) and where a model
        without a time course is undefined (``plan_design`` refuses assessments there).  Holds n × T values:
        use the summarising methods for long time grids."""
        times = np.atleast_1d(np.asarray(times_h, dtype=float))
        if schedule is None:
            return np.zeros((self.n, times.size))
        out = np.asarray(self.model.blockade(schedule, times, receptor, **self.scales), dtype=float)
        # NaN = outside the range of a model without a time course (emax, days after a dose): no blockade
        out = np.where(np.isnan(out), 0.0, out)
        return np.broadcast_to(out, (self.n, times.size))

    def blocks(self, times_h, sources: int = 1):
        """Slices of ``times_h`` such that ``sources`` × n × block ≤ :data:`MAX_ELEMENTS` (at least 1 point)."""
        times = np.atleast_1d(np.asarray(times_h, dtype=float))
        width = max(1, MAX_ELEMENTS // max(1, self.n * sources))
        return [slice(a, min(a + width, times.size)) for a in range(0, times.size, width)]

    def summaries(self, schedule, times_h, receptor: str = "MOR") -> dict[str, np.ndarray]:
        """:func:`population_summaries` of ``receptor`` at each time, in bounded blocks."""
        return self.pooled_summaries([(schedule, times_h)], receptor)

    def pooled_summaries(self, sources, receptor: str = "MOR") -> dict[str, np.ndarray]:
        """Summaries at each time of the subjects of several ``(schedule, times)`` sources pooled together.

        All sources have the same number of times; column ``j`` pools the ``j``-th time of every source (e.g.
        the same assessment in the placebo sessions of every order).
        """
        sizes = {np.atleast_1d(np.asarray(t)).size for _, t in sources}
        if len(sizes) != 1:
            raise ValueError("pooled sources need the same number of times")
        size = sizes.pop()
        out = {k: np.empty(size) for k in ("p05", "p50", "p95", "mean", "prob_ge_90")}
        for sl in self.blocks(np.zeros(size), sources=len(sources)):
            stacked = np.concatenate([self.values(sched, np.atleast_1d(np.asarray(t, dtype=float))[sl], receptor)
                                      for sched, t in sources], axis=0)
            for key, arr in population_summaries(stacked).items():
                out[key][sl] = arr
        return out

    def prob_ge(self, schedule, times_h, threshold: float) -> np.ndarray:
        """Fraction of subjects with MOR blockade ≥ ``threshold`` at each time."""
        times = np.atleast_1d(np.asarray(times_h, dtype=float))
        out = np.empty(times.size)
        for sl in self.blocks(times):
            out[sl] = (self.values(schedule, times[sl]) >= threshold).mean(axis=0)
        return out

    def percentile(self, schedule, times_h, q: float) -> np.ndarray:
        """``q``-th percentile (numpy's linear rule, as in ``simulate``) of MOR blockade at each time."""
        times = np.atleast_1d(np.asarray(times_h, dtype=float))
        out = np.empty(times.size)
        for sl in self.blocks(times):
            out[sl] = np.percentile(self.values(schedule, times[sl]), q, axis=0)
        return out


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
