"""Summaries of a blockade time course: values at assessments, time above a level, washout times.

All functions take a model (from :func:`occupancy.models.get_model`) and a
:class:`~occupancy.dosing.schedule.Schedule`, evaluate the closed-form time course (numpy only) and refine
threshold crossings by bisection, so times are exact to ~1e-9 h rather than limited by a plotting grid.
``NaN`` blockade (the ``emax`` model outside its 8 h windows) counts as "not above" the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from occupancy.models.base import RECEPTORS, check_receptor


def blockade_at(model, schedule, times_h) -> dict[str, np.ndarray]:
    """MOR, KOR and DOR blockade (%) at ``times_h``: ``{"MOR": array, "KOR": array, "DOR": array}``."""
    return model.blockade_all(schedule, np.atleast_1d(np.asarray(times_h, dtype=float)))


#: The longest search after the last dose (h): one year.  40 model time scales reach far below any useful threshold
#: for the fitted models; a slow override (e.g. a pkpd ``koff_per_h`` of 1e−4 /h, a 290-day half-time) would make
#: that decades and the binding-kinetics step grid (1-h steps) enormous.  Blockade still above a threshold one
#: year after the last dose is reported as not falling below it (``inf``).
MAX_SEARCH_H = 8760.0


def search_span_h(model, scales: float = 40.0) -> float:
    """``scales`` model time scales, at most :data:`MAX_SEARCH_H` (the span searched after the last dose)."""
    return min(scales * model.time_scale_h, MAX_SEARCH_H)


def _horizon_h(model, schedule) -> float:
    """A time after the last dose by which every model has decayed far below any useful threshold (at most a year)."""
    return schedule.last_dose_end_h + search_span_h(model)


def _grid(model, start: float, end: float, schedule) -> np.ndarray:
    step = min(model.time_scale_h / 200.0, 0.25)
    n = int(min(max(math.ceil((end - start) / step), 200), 400_000)) + 1
    grid = np.linspace(start, end, n)
    extra = [d.time_h for d in schedule.doses] + [d.end_h for d in schedule.doses]
    extra = [x for x in extra if start < x < end]
    return np.unique(np.concatenate([grid, extra]))


def _bisect_crossings(f, lo: np.ndarray, hi: np.ndarray, threshold: float, iters: int = 60,
                      tol_h: float = 1e-9) -> np.ndarray:
    """Vectorised bisection for the times where ``f`` crosses ``threshold`` inside ``[lo, hi]``.

    Stops when every bracket is narrower than ``tol_h`` (1e-9 h = 3.6 µs, far below any reported digit) or after
    ``iters`` halvings; each step is a full model evaluation (for binding kinetics an integration from the
    first dose), so the tolerance, not a fixed 60 halvings, sets the cost.
    """
    lo = lo.astype(float).copy()
    hi = hi.astype(float).copy()
    if lo.size == 0:
        return lo
    f_lo_above = f(lo) >= threshold
    for _ in range(iters):
        if float(np.max(hi - lo)) < tol_h:
            break
        mid = 0.5 * (lo + hi)
        above = f(mid) >= threshold
        same = above == f_lo_above
        lo = np.where(same, mid, lo)
        hi = np.where(same, hi, mid)
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class TimeAbove:
    """Time (h) with blockade ≥ ``threshold`` between ``start_h`` and ``end_h``, and the intervals."""

    receptor: str
    threshold: float
    start_h: float
    end_h: float
    hours: float
    intervals: tuple[tuple[float, float], ...]

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return {"receptor": self.receptor, "threshold": self.threshold, "start_h": self.start_h,
                "end_h": self.end_h, "hours": self.hours, "intervals": [list(i) for i in self.intervals]}


def time_above(model, schedule, threshold: float = 90.0, start_h: float | None = None,
               end_h: float | None = None, receptor: str = "MOR") -> TimeAbove:
    """Total time with blockade ≥ ``threshold`` %.

    Parameters
    ----------
    start_h, end_h : float, optional
        Window; default from the first dose until the blockade has washed out (40 model time scales
        after the last dose, at most one year).
    """
    receptor = check_receptor(receptor)
    start = schedule.first_dose_h if start_h is None else float(start_h)
    end = _horizon_h(model, schedule) if end_h is None else float(end_h)
    if end <= start:
        return TimeAbove(receptor, float(threshold), start, end, 0.0, ())
    grid = _grid(model, start, end, schedule)

    def f(t):
        v = model.blockade(schedule, t, receptor)
        return np.where(np.isnan(v), -np.inf, v)

    above = f(grid) >= threshold
    change = np.nonzero(above[1:] != above[:-1])[0]
    crossings = _bisect_crossings(f, grid[change], grid[change + 1], threshold)
    # Jumps at a dose time (emax) make the crossing the dose time itself, which bisection converges to.
    edges = [start] if above[0] else []
    edges += list(crossings)
    if above[-1]:
        edges.append(end)
    intervals = tuple((float(edges[i]), float(edges[i + 1])) for i in range(0, len(edges) - 1, 2))
    hours = float(sum(b - a for a, b in intervals))
    return TimeAbove(receptor, float(threshold), start, end, hours, intervals)


def time_until_below(model, schedule, threshold: float, after_h: float | None = None,
                     receptor: str = "MOR") -> float:
    """Time (h after ``after_h``) until blockade falls below ``threshold`` % and stays below.

    ``after_h`` defaults to the last dose (start of the last administration).  Returns 0 when the
    blockade is already below and stays below, and ``inf`` if it never falls below within 40 time scales
    (at most :data:`MAX_SEARCH_H`, one year).
    """
    receptor = check_receptor(receptor)
    after = schedule.last_dose_h if after_h is None else float(after_h)
    end = max(after, schedule.last_dose_end_h) + search_span_h(model)
    ta = time_above(model, schedule, threshold, start_h=after, end_h=end, receptor=receptor)
    if not ta.intervals:
        return 0.0
    last_end = ta.intervals[-1][1]
    if last_end >= end:
        return math.inf
    return float(last_end - after)


def residual_blockade(model, schedule, at_h: float) -> dict[str, float]:
    """Blockade (%) of each receptor at ``at_h`` (e.g. the start of a crossover's placebo session)."""
    values = blockade_at(model, schedule, [float(at_h)])
    return {r: float(values[r][0]) for r in RECEPTORS}
