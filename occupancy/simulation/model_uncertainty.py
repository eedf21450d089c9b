"""Model uncertainty of a headline number: posterior draws of every admissible model structure, weighted.

A ``pkpd`` model's answers depend on its parameters (known only up to their posterior) and on its
structure (several structures may fit the data; the calibration weights them).  This module turns a model
into a weighted ensemble of typical-subject models and a set of per-draw values of some headline number
(a minimum delay, a probability, a power) into what every command reports:

``{"median", "lo", "hi", "across_structures": [min, max]}``
    ``median``/``lo``/``hi``: 50th, 2.5th and 97.5th percentiles over the draws pooled across structures by
    weight; ``across_structures``: the smallest and largest of the per-structure medians.  ``None`` stands
    for "not reached" (a delay or an interval beyond the search horizon).

How the ensemble is drawn (:func:`ensemble`)
---------------------------------------------
``structure_draws(model, n, seed)`` gives, per admissible structure, its name, its weight and ``n``
posterior draws (``model.structure_draws`` once the Bayesian calibration provides it; until then one
structure, the model's own, with ``model.parameter_draws`` — docs/INTERFACES: the lead's fallback).  The
pooled sample holds ``round(n × weight)`` draws of each structure (largest remainders; together ``n``), so
its ordinary percentiles are the weighted mixture's and with one structure they are exactly the
percentiles of ``n`` parameter draws.  Each structure's own median uses at least
:data:`MIN_PER_STRUCTURE` of its draws, so a structure of small weight is still described.

Notes
-----
Not-reached values are ordered above every reached one; a percentile that falls on or next to one is
"not reached" (``None``) — a linear percentile (numpy's default rule) otherwise.  Parameter uncertainty
is kept apart from between-subject variability: a draw is a typical-subject model, and the population of
virtual subjects (same seed in every draw: common random numbers) is applied to each draw by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Fewest draws of each structure used for its own median (``across_structures``), whatever its weight.
MIN_PER_STRUCTURE = 10
#: Percentiles of the reported interval.
LEVELS = (2.5, 97.5)


def structure_draws(model, n: int, seed) -> list:
    """``[(structure name, weight, [n typical-subject models])]`` for ``model`` (weights sum to 1).

    The lead's interface (docs INTERFACES.md, issue 19): ``model.structure_draws`` when the model has it
    (the Bayesian calibration's admissible structures and posterior draws), else one structure — the
    model's own hysteresis variant — with ``model.parameter_draws(n, seed)`` (the calibration's parameter
    uncertainty).
    """
    if hasattr(model, "structure_draws"):
        return model.structure_draws(n, seed)
    return [(getattr(model, "hysteresis", model.name), 1.0, model.parameter_draws(n, seed))]


def allocate(n: int, weights) -> list[int]:
    """``n`` draws split in proportion to ``weights`` by largest remainders (sums to ``n``)."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    exact = n * w
    base = np.floor(exact).astype(int)
    rest = n - int(base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:rest]] += 1
    return [int(x) for x in base]


@dataclass(frozen=True)
class Ensemble:
    """The models to evaluate: ``members[i] = (structure index, draw model)``; ``pooled[i]`` says whether member
    ``i`` belongs to the weighted pooled sample (the rest only describe their structure)."""

    structures: tuple  # ((name, weight, n_pooled, n_evaluated), ...)
    members: tuple
    pooled: tuple
    seed: object

    @property
    def n_pooled(self) -> int:
        return int(sum(self.pooled))

    def describe(self) -> str:
        """``"40 posterior draws of 1 structure (effect_compartment)"`` and the like."""
        names = ", ".join(f"{name} {w:.0%}" if len(self.structures) > 1 else name
                          for name, w, _n, _e in self.structures)
        s = len(self.structures)
        return f"{self.n_pooled} parameter draws of {s} admissible structure{'s' if s != 1 else ''} ({names})"

    def to_dict(self) -> dict:
        return {"draws": self.n_pooled, "seed": self.seed,
                "structures": [{"name": name, "weight": float(w), "draws_pooled": int(n), "draws_evaluated": int(e)}
                               for name, w, n, e in self.structures]}


def ensemble(model, n: int, seed) -> Ensemble:
    """The weighted ensemble of ``n`` pooled draws (see the module docstring)."""
    entries = structure_draws(model, int(n), seed)
    weights = [float(w) for _name, w, _d in entries]
    n_pool = allocate(int(n), weights)
    structures, members, pooled = [], [], []
    for si, ((name, w, draws), k) in enumerate(zip(entries, n_pool)):
        use = min(len(draws), max(k, min(int(n), MIN_PER_STRUCTURE)))
        for j in range(use):
            members.append((si, draws[j]))
            pooled.append(j < k)
        structures.append((str(name), float(w), int(min(k, use)), int(use)))
    return Ensemble(tuple(structures), tuple(members), tuple(pooled), seed)


def percentile_reached(values, q: float):
    """Linear percentile (numpy's default rule) with ``inf`` (not reached) above every number; ``None`` when it
    falls on or next to a not-reached value."""
    v = np.sort(np.asarray(values, dtype=float))
    if v.size == 0:
        return None
    pos = (v.size - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, v.size - 1)
    frac = pos - lo
    if not math.isfinite(v[lo]) or (frac > 0 and not math.isfinite(v[hi])):
        return None
    return float(v[lo] + (v[hi] - v[lo]) * frac) if frac > 0 else float(v[lo])


@dataclass(frozen=True)
class Uncertain:
    """One headline number over the ensemble: the values of every member and what is reported about them.

    ``values`` are floats with ``inf`` for "not reached"; ``structure_of[i]`` is member ``i``'s structure index.
    """

    label: str
    unit: str
    values: tuple
    pooled: tuple
    structure_of: tuple
    structures: tuple  # names
    digits: int = 2

    def _pool(self) -> np.ndarray:
        return np.array([v for v, p in zip(self.values, self.pooled) if p], dtype=float)

    def _of(self, si: int) -> np.ndarray:
        return np.array([v for v, s in zip(self.values, self.structure_of) if s == si], dtype=float)

    @property
    def median(self):
        return percentile_reached(self._pool(), 50.0)

    @property
    def lo(self):
        return percentile_reached(self._pool(), LEVELS[0])

    @property
    def hi(self):
        return percentile_reached(self._pool(), LEVELS[1])

    def structure_medians(self) -> list:
        """The median of each structure (``None``: not reached under that structure)."""
        return [percentile_reached(self._of(si), 50.0) for si in range(len(self.structures))]

    @property
    def across_structures(self) -> list:
        """``[min, max]`` of the per-structure medians (``None`` for a not-reached end)."""
        meds = self.structure_medians()
        keys = [math.inf if m is None else m for m in meds]
        lo, hi = min(keys), max(keys)
        return [None if lo == math.inf else lo, None if hi == math.inf else hi]

    def fraction_not_reached(self) -> float:
        pool = self._pool()
        return float(np.mean(~np.isfinite(pool))) if pool.size else 0.0

    def to_dict(self) -> dict:
        """``{"median", "lo", "hi", "across_structures": [min, max]}`` (``None`` = not reached)."""
        return {"median": self.median, "lo": self.lo, "hi": self.hi, "across_structures": self.across_structures}

    def _fmt(self, v) -> str:
        return "not reached" if v is None else f"{v:.{self.digits}f}{self.unit}"

    def depends_on_model(self, tolerance: float) -> bool:
        """True when the answer changes over the draws by more than ``tolerance`` or is not reached in some."""
        pool = self._pool()
        if pool.size == 0:
            return False
        if not np.all(np.isfinite(pool)):
            return bool(np.any(np.isfinite(pool)))
        return bool(self.hi - self.lo > tolerance) or bool(
            (self.across_structures[1] or 0) - (self.across_structures[0] or 0) > tolerance)

    def sentence(self, tolerance: float) -> str:
        """Plain words: the 95 % range over the model's uncertainty and, when it matters, why.

        E.g. ``"1.23 h (95 % model-uncertainty range 0.90 h–2.10 h); not reached under 1 of 3 admissible
        structures (dual_receptor)"``.
        """
        pool = self._pool()
        meds = self.structure_medians()
        missing = [self.structures[i] for i, m in enumerate(meds) if m is None]
        s = len(self.structures)
        plural = "s" if s != 1 else ""
        if pool.size and not np.any(np.isfinite(pool)):
            return (f"not reached in any of the {pool.size} draws ({s} admissible structure{plural}): "
                    "the answer does not depend on the model's uncertainty")
        text = f"{self._fmt(self.median)} (95 % model-uncertainty range {self._fmt(self.lo)} to {self._fmt(self.hi)}"
        text += f" over {pool.size} draws of {s} admissible structure{plural})"
        notes = []
        if missing:
            notes.append(f"not reached under {len(missing)} of {s} admissible structure{plural} ({', '.join(missing)})")
        frac = self.fraction_not_reached()
        if 0 < frac < 1:
            notes.append(f"not reached in {frac:.0%} of the posterior draws")
        if s > 1 and not missing:
            lo, hi = self.across_structures
            if hi - lo > tolerance:
                notes.append(f"the structures' medians range from {self._fmt(lo)} to {self._fmt(hi)}")
        if notes:
            text += ": depends on the model — " + "; ".join(notes)
        elif self.depends_on_model(tolerance):
            text += ": depends on the model's parameters"
        return text


def uncertain(label: str, unit: str, values, ens: Ensemble, digits: int = 2) -> Uncertain:
    """An :class:`Uncertain` from per-member ``values`` (``None`` or ``inf`` = not reached)."""
    vals = tuple(math.inf if v is None else float(v) for v in values)
    return Uncertain(label, unit, vals, ens.pooled, tuple(si for si, _m in ens.members),
                     tuple(name for name, _w, _n, _e in ens.structures), digits)


def progress_bar(iterable, total: int, desc: str, enabled: bool):
    """A tqdm bar on stderr (``enabled=False``: the iterable itself; ``--quiet`` switches it off)."""
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="draw", leave=False)
