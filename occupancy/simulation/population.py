"""Virtual populations: log-normal between-subject variability and percentile summaries over time.

Each virtual subject ``i`` has ``ED50_i = ED50·exp(σ_E·z1)``, ``half-life_i = half-life·exp(σ_t½·z2)`` and
``ka_i = ka·exp(σ_ka·z3)`` with independent standard normal ``z`` (numpy ``default_rng(seed)``), so the
typical (median) subject is the model itself.  The receptor ED50 ratios are kept, so one subject's MOR,
KOR and DOR blockade move together.  Time courses are closed-form and vectorised over subjects
(``(n, 1)`` parameter arrays); the time axis is processed in chunks so memory stays bounded, and only the
per-time summaries (5th/50th/95th percentiles, mean, P(blockade ≥ 90 %)) are kept.

How the spreads were derived (numbers in :func:`default_variability`)
---------------------------------------------------------------------
Naltrexone
  * ``σ_E`` (ED50): each Rabiner 2011 scan at a dose whose typical prediction lies in the informative
    range 10–90 % is inverted to an individual ED50 under the calibrated ``washout`` model (the ED50 that
    makes the 1–8 h mean blockade equal the observation); ``σ_E`` is the pooled within-dose SD of
    log ED50.  Only the 5 mg triplet (43/46/58 %) qualifies (2 and 15 mg have one scan each; 50 mg is at
    the cap), so df = 2.  Computed by :mod:`occupancy.calibration.washout` and stored in the calibration JSON.
  * ``σ_t½``: Lee 1988's 72–108 h range across 5 subjects divided by the expected range of 5 standard
    normals, ``ln(108/72)/2.326 = 0.174``.
  * ``σ_ka``: the plasma tmax SDs of oral naltrexone (0.81 ± 0.09 h and 1.09 ± 0.25 h, n = 10 each),
    each CV converted to a log-SD ``sqrt(ln(1 + CV²))`` and pooled.
Naloxone
  * ``σ_E``: the IV naloxone PET/dual-detector scatter at equal doses (Trøstheim 2023 Table 1), inverted
    under the ``bateman`` model at the 45–65 min scan window with the same informative-range rule; only
    0.001 mg/kg (19 % Mayberg & Frost, 40 % Villemagne) qualifies (df = 1, a rough figure).
  * ``σ_t½``: Kim 1997's receptor clearance half-time 2.0 ± 1.6 h, ``sqrt(ln(1 + 0.8²)) = 0.70``.
  * ``σ_ka``: no data on the spread of the blockade rise; the serum half-life spread 64 ± 12 min (FDA
    label) is used as an analogue, ``sqrt(ln(1 + (12/64)²)) = 0.19`` (an assumption).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from occupancy.calibration.sources import (
    EXPECTED_RANGE_5_NORMALS,
    KIM_1997_CLEARANCE_H,
    LEE_HALF_LIFE_RANGE_H,
    NALOXONE_PET,
    NALOXONE_SCAN_WINDOW_H,
    NALOXONE_SERUM_HALF_LIFE_MIN,
    PLASMA_TMAX_H,
    RABINER_2011,
    RABINER_WINDOW_H,
    pooled_within_group_sd,
)
from occupancy.models.base import RECEPTORS

INFORMATIVE_RANGE = (10.0, 90.0)


def log_sd_from_cv(cv: float) -> float:
    """Log-normal SD with the given coefficient of variation: ``sqrt(ln(1 + CV²))``."""
    return math.sqrt(math.log1p(cv * cv))


class Variability:
    """Between-subject log-SDs (natural log) of a model's named multipliers, and where they come from.

    Each model declares its multipliers (``model.variability_scales``): ``washout``/``bateman``/``emax``
    ``("ed50", "half_life", "absorption")``; ``pkpd`` ``("cl", "ka", "affinity", "ke0")`` (or ``"koff"`` for
    binding kinetics; naloxone has no ``"ka"``).  ``log_sds`` maps each name to its log-SD, in draw order;
    :meth:`draw` returns the ``<name>_scale`` keyword arrays the model's ``blockade`` accepts, the
    ``[population]`` keys are ``<name>_log_sd`` and ``v.<name>_log_sd`` reads one.  This is between-subject
    *variability* (the population percentiles); the uncertainty of the typical subject's parameters is separate
    (:meth:`occupancy.models.pkpd_base.PKPDModel.parameter_draws`, ``[uncertainty]``).

    ``Variability(0.24, 0.17, 0.18)`` (three numbers) is the old models' ``(ed50, half_life, absorption)``.
    Immutable.
    """

    __slots__ = ("log_sds", "source", "derivation")

    def __init__(self, log_sds, half_life_log_sd=None, absorption_log_sd=None, *, source: str = "",
                 derivation: dict | None = None) -> None:
        from occupancy.errors import InputError

        if not isinstance(log_sds, Mapping):  # the old positional form (ed50, half_life, absorption)
            log_sds = {"ed50": log_sds, "half_life": half_life_log_sd, "absorption": absorption_log_sd}
        elif half_life_log_sd is not None or absorption_log_sd is not None:
            raise TypeError("give log_sds as a mapping or the three old-model log-SDs, not both")
        clean = {}
        for name, v in dict(log_sds).items():
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise InputError(f"population.{name}_log_sd: must be a number (got {v!r})") from None
            if not (math.isfinite(v) and v >= 0):
                raise InputError(f"population.{name}_log_sd: must be >= 0 (got {v})")
            clean[str(name)] = v
        object.__setattr__(self, "log_sds", clean)
        object.__setattr__(self, "source", str(source))
        object.__setattr__(self, "derivation", dict(derivation or {}))

    def __setattr__(self, key, value):
        raise AttributeError("Variability is immutable (use with_overrides)")

    def __getattr__(self, item):
        # only called for names that are not attributes: ``v.ed50_log_sd``, ``v.cl_log_sd``, ...
        if item.endswith("_log_sd"):
            sds = object.__getattribute__(self, "log_sds")
            name = item[: -len("_log_sd")]
            if name in sds:
                return sds[name]
            raise AttributeError(f"this variability has no {item} (it has: "
                                 f"{', '.join(k + '_log_sd' for k in sds)})")
        raise AttributeError(item)

    def __eq__(self, other) -> bool:
        return isinstance(other, Variability) and self.log_sds == other.log_sds and self.source == other.source

    def __hash__(self) -> int:
        return hash((tuple(self.log_sds.items()), self.source))

    def __repr__(self) -> str:
        return f"Variability({self.log_sds!r}, source={self.source!r})"

    def __reduce__(self):  # copy and pickle through the constructor (the instance is immutable)
        return (_variability, (self.log_sds, self.source, self.derivation))

    @property
    def names(self) -> tuple:
        """The multipliers, in draw order."""
        return tuple(self.log_sds)

    def check_model(self, model) -> None:
        """:class:`InputError` unless these are exactly ``model``'s multipliers."""
        from occupancy.errors import InputError

        want = tuple(getattr(model, "variability_scales", ()))
        if set(want) != set(self.names):
            raise InputError(f"population: the variability ({', '.join(n + '_log_sd' for n in self.names)}) does not "
                             f"fit the {model.drug} {model.name} model (its keys: "
                             f"{', '.join(n + '_log_sd' for n in want)})")

    def with_overrides(self, overrides: Mapping[str, float]) -> "Variability":
        """A copy with some log-SDs replaced (keys ``<name>_log_sd`` or ``<name>``); unknown names are errors."""
        from occupancy.errors import InputError

        sds = dict(self.log_sds)
        given = []
        for key, value in overrides.items():
            name = key[: -len("_log_sd")] if key.endswith("_log_sd") else key
            if name not in sds:
                raise InputError(f"population.{name}_log_sd: not a variability of this model (its keys: "
                                 f"{', '.join(k + '_log_sd' for k in sds)})")
            sds[name] = value
            given.append(f"{name}_log_sd")
        if not given:
            return self
        return Variability(sds, source=self.source + "; overridden in [population]: " + ", ".join(given),
                           derivation=self.derivation)

    def draw(self, n: int, seed) -> dict[str, np.ndarray]:
        """Per-subject multipliers ``{<name>_scale: (n, 1) array}`` from ``numpy.random.default_rng(seed)``.

        One standard normal row per multiplier, in :attr:`names` order (for the old models: ED50, half-life,
        absorption, exactly as before the multipliers were named by the models).
        """
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((len(self.log_sds), n, 1))
        return {f"{name}_scale": np.exp(sd * z[i]) for i, (name, sd) in enumerate(self.log_sds.items())}

    def to_dict(self) -> dict:
        """Plain dict for JSON output: ``{<name>_log_sd: value, ..., "source": ...}``."""
        out = {f"{name}_log_sd": sd for name, sd in self.log_sds.items()}
        out["source"] = self.source
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> "Variability":
        """Inverse of :meth:`to_dict` (``<name>_log_sd`` keys in order; ``source``/``derivation`` optional)."""
        sds = {k[: -len("_log_sd")]: v for k, v in data.items() if k.endswith("_log_sd")}
        return cls(sds, source=data.get("source", ""), derivation=data.get("derivation", {}) or {})

    def describe(self) -> str:
        """``cl 0.136, ka 0.253, affinity 0.73, ke0 0`` (log-SDs)."""
        return ", ".join(f"{name.replace('_', ' ')} {sd:.3g}" for name, sd in self.log_sds.items())


def _variability(log_sds, source, derivation) -> Variability:
    return Variability(log_sds, source=source, derivation=derivation)


def invert_ed50(model, schedule_for_dose, observed: float, window_h: tuple[float, float],
                ed50_attr: str) -> float | None:
    """Individual ED50 that makes the model's mean blockade over ``window_h`` equal ``observed``.

    Bisection on log ED50 (the window mean decreases with ED50).  Returns ``None`` when the observation is
    not reachable (at or above the model's plateau, or ≤ 0).
    """
    from dataclasses import replace

    grid = np.linspace(window_h[0], window_h[1], 57)

    def mean_at(log_e):
        m = replace(model, **{ed50_attr: float(math.exp(log_e))})
        values = m.blockade(schedule_for_dose, grid)
        return float(np.trapezoid(values, grid) / (grid[-1] - grid[0]))

    base = math.log(getattr(model, ed50_attr))
    lo, hi = base - 25.0, base + 25.0
    if not (mean_at(hi) < observed < mean_at(lo)):
        return None
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mean_at(mid) > observed:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return math.exp(0.5 * (lo + hi))


def _ed50_log_sd(model, data, make_schedule, window_h, ed50_attr) -> dict:
    grid = np.linspace(window_h[0], window_h[1], 57)
    groups: dict[float, list[float]] = {}
    used = []
    for label, dose, obs in data:
        sched = make_schedule(dose)
        typical = float(np.trapezoid(model.blockade(sched, grid), grid) / (grid[-1] - grid[0]))
        if not (INFORMATIVE_RANGE[0] <= typical <= INFORMATIVE_RANGE[1]):
            continue
        e = invert_ed50(model, sched, obs, window_h, ed50_attr)
        if e is None:
            continue
        groups.setdefault(dose, []).append(math.log(e))
        used.append({"source": label, "dose": dose, "observed": obs, "individual_ed50": e})
    sd, df = pooled_within_group_sd(list(groups.values()))
    return {"ed50_log_sd": sd, "df": df, "observations": used}


def derive_naltrexone_variability(model) -> dict:
    """Naltrexone log-SDs derived from Rabiner (ED50, under ``model``), Lee (half-life) and plasma tmax."""
    from occupancy.dosing.schedule import Schedule

    ed50 = _ed50_log_sd(model, [("Rabiner 2011", d, o) for d, o in RABINER_2011], Schedule.single,
                        RABINER_WINDOW_H, "ed50_mg")
    half_life = math.log(LEE_HALF_LIFE_RANGE_H[1] / LEE_HALF_LIFE_RANGE_H[0]) / EXPECTED_RANGE_5_NORMALS
    num = sum((n - 1) * log_sd_from_cv(s / m) ** 2 for m, s, n in PLASMA_TMAX_H)
    absorption = math.sqrt(num / sum(n - 1 for _, _, n in PLASMA_TMAX_H))
    return {
        "ed50_log_sd": ed50["ed50_log_sd"],
        "half_life_log_sd": half_life,
        "absorption_log_sd": absorption,
        "derivation": {
            "ed50": {"rule": "Rabiner scans at doses with typical prediction 10-90 %, inverted to individual ED50 "
                             "(1-8 h mean); pooled within-dose SD of log ED50", "df": ed50["df"],
                     "observations": ed50["observations"]},
            "half_life": "Lee 1988 range 72-108 h over 5 subjects: ln(108/72)/2.326",
            "absorption": "plasma tmax 0.81+/-0.09 h and 1.09+/-0.25 h (n=10 each): pooled sqrt(ln(1+CV^2))",
        },
    }


_NALOXONE_CACHE: dict = {}


def derive_naloxone_variability(model=None) -> dict:
    """Naloxone log-SDs from the NLX PET scatter (ED50), Kim 1997 (half-life) and the serum half-life SD."""
    from occupancy.models.bateman import BatemanModel
    from occupancy.dosing.schedule import Dose, Schedule

    model = BatemanModel() if model is None else model
    ed50 = _ed50_log_sd(model, NALOXONE_PET, lambda d: Schedule((Dose(0.0, amount_mg_per_kg=d),)),
                        NALOXONE_SCAN_WINDOW_H, "ed50_mg_per_kg")
    return {
        "ed50_log_sd": ed50["ed50_log_sd"],
        "half_life_log_sd": log_sd_from_cv(KIM_1997_CLEARANCE_H[1] / KIM_1997_CLEARANCE_H[0]),
        "absorption_log_sd": log_sd_from_cv(NALOXONE_SERUM_HALF_LIFE_MIN[1] / NALOXONE_SERUM_HALF_LIFE_MIN[0]),
        "derivation": {"ed50": {"df": ed50["df"], "observations": ed50["observations"]},
                       "half_life": "Kim 1997 receptor clearance 2.0 +/- 1.6 h: sqrt(ln(1+0.8^2))",
                       "absorption": "analogue: serum half-life 64 +/- 12 min, sqrt(ln(1+(12/64)^2))"},
    }


def default_variability(model_or_drug, name: str | None = None) -> Variability:
    """The documented, data-derived variability of a model (see the module docstring).

    ``model_or_drug`` is a model object (its own multipliers and, for ``pkpd``, the log-SDs derived for its
    hysteresis variant and stored in its calibration record) or a drug name with an optional model ``name``
    (default: the drug's default model).
    """
    if isinstance(model_or_drug, str):
        from occupancy.models import get_model

        model = get_model(model_or_drug, name)
    else:
        model = model_or_drug
    if hasattr(model, "stored_variability"):
        stored = model.stored_variability()
        return Variability(stored["log_sds"], source=stored["source"], derivation=stored["derivation"])
    if model.drug == "naltrexone":
        from occupancy.models.washout import load_calibration

        v = load_calibration()["variability"]
        src = "derived: Rabiner 2011 scatter (ED50), Lee 1988 range (half-life), plasma tmax SD (absorption)"
    else:
        if "v" not in _NALOXONE_CACHE:
            _NALOXONE_CACHE["v"] = derive_naloxone_variability()
        v = _NALOXONE_CACHE["v"]
        src = "derived: NLX PET scatter (ED50), Kim 1997 clearance SD (half-life), serum t1/2 SD (absorption)"
    return Variability({"ed50": float(v["ed50_log_sd"]), "half_life": float(v["half_life_log_sd"]),
                        "absorption": float(v["absorption_log_sd"])}, source=src)


STATS = ("p05", "p50", "p95", "mean", "prob_ge_90")


@dataclass(frozen=True)
class PopulationBlockade:
    """Per-time summaries of a virtual population's blockade.

    Attributes ``p05``, ``p50``, ``p95``, ``mean`` (percent) and ``prob_ge_90`` (fraction of subjects with
    blockade ≥ 90 %) are dicts ``receptor -> array`` aligned with ``times_h``.
    """

    times_h: np.ndarray
    n: int
    seed: object
    variability: Variability
    p05: dict = field(default_factory=dict)
    p50: dict = field(default_factory=dict)
    p95: dict = field(default_factory=dict)
    mean: dict = field(default_factory=dict)
    prob_ge_90: dict = field(default_factory=dict)

    def to_frame(self):
        """Wide DataFrame: ``time_h`` then ``{receptor}_{stat}`` columns."""
        import pandas as pd

        data = {"time_h": self.times_h}
        for r in RECEPTORS:
            for s in STATS:
                data[f"{r}_{s}"] = getattr(self, s)[r]
        return pd.DataFrame(data)


def _percentiles_rows(rows: np.ndarray, qs=(5.0, 50.0, 95.0)) -> list[np.ndarray]:
    """Percentiles of each row (numpy's default "linear" method) via one in-place partition."""
    n = rows.shape[1]
    pos = [q / 100.0 * (n - 1) for q in qs]
    kth = sorted({int(math.floor(p)) for p in pos} | {min(int(math.floor(p)) + 1, n - 1) for p in pos})
    rows.partition(kth, axis=1)
    out = []
    for p in pos:
        lo = int(math.floor(p))
        hi = min(lo + 1, n - 1)
        frac = p - lo
        out.append(rows[:, lo] + frac * (rows[:, hi] - rows[:, lo]) if frac else rows[:, lo].copy())
    return out


def _summarise(values: np.ndarray) -> dict[str, np.ndarray]:
    """Percentiles, mean and P(≥ 90 %) over axis 0 (subjects); NaN columns stay NaN."""
    nan_cols = np.isnan(values).any(axis=0)
    prob = (values >= 90.0).mean(axis=0)
    prob = np.where(nan_cols, np.nan, prob)
    mean = values.mean(axis=0)
    rows = np.ascontiguousarray(values.T)  # one row per time point: contiguous, partitioned in place
    p05, p50, p95 = (np.where(nan_cols, np.nan, q) for q in _percentiles_rows(rows))
    return {"p05": p05, "p50": p50, "p95": p95, "mean": mean, "prob_ge_90": prob}


def sample_population(model, schedule, times_h, n: int = 1000, seed=1,
                      variability: Variability | None = None) -> dict[str, np.ndarray]:
    """Per-subject blockade (%), ``{receptor: (n, T) array}``, with the same draws as
    :func:`simulate_population` for the same ``n`` and ``seed`` (for small grids: it holds every value)."""
    from occupancy.errors import InputError

    if int(n) != n or n < 2:
        raise InputError(f"population.n: must be an integer >= 2 (got {n})")
    variability = default_variability(model) if variability is None else variability
    variability.check_model(model)
    times = np.atleast_1d(np.asarray(times_h, dtype=float))
    return model.blockade_all(schedule, times, **variability.draw(int(n), seed))


def simulate_population(model, schedule, times_h, n: int = 1000, seed=1, variability: Variability | None = None,
                        progress: bool = False, max_elements: int = 2_000_000) -> PopulationBlockade:
    """Simulate ``n`` virtual subjects and summarise blockade at each of ``times_h``.

    Parameters
    ----------
    model : BlockadeModel
        From :func:`occupancy.models.get_model`.
    schedule : Schedule
    times_h : array_like
        Times (h) at which to summarise.
    n : int
        Number of virtual subjects.
    seed : int or numpy SeedSequence
        Seed of ``numpy.random.default_rng``; the same seed gives identical results.
    variability : Variability, optional
        Defaults to :func:`default_variability` for the model's drug.
    progress : bool
        Show a tqdm progress bar on stderr.
    max_elements : int
        Subject × time elements evaluated at once (memory bound: ~8 bytes × a few arrays of this size).

    Returns
    -------
    PopulationBlockade
    """
    from occupancy.errors import InputError

    if int(n) != n or n < 2:
        raise InputError(f"population.n: must be an integer >= 2 (got {n})")
    n = int(n)
    variability = default_variability(model) if variability is None else variability
    variability.check_model(model)
    times = np.atleast_1d(np.asarray(times_h, dtype=float))
    scales = variability.draw(n, seed)
    chunk = max(1, int(max_elements // n))
    starts = range(0, times.size, chunk)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=times.size, desc="virtual subjects x time", unit="t", file=sys.stderr, leave=False,
                   disable=None)  # disable=None: no bar unless stderr is a terminal
    out = {s: {r: np.empty(times.size) for r in RECEPTORS} for s in STATS}
    if hasattr(model, "blockade_blocks"):
        # pkpd: sorted blocks with the binding state carried from block to block (linear in the grid length)
        order = np.argsort(times, kind="stable")
        for sl, block in model.blockade_blocks(schedule, times[order], RECEPTORS, block_elements=max_elements,
                                               reuse_buffers=True, **scales):
            idx = order[sl]
            for r in RECEPTORS:
                for s, arr in _summarise(block[r]).items():
                    out[s][r][idx] = arr
            if bar is not None:
                bar.update(sl.stop - sl.start)
        starts = ()
    for start in starts:
        sl = slice(start, min(start + chunk, times.size))
        all_values = model.blockade_all(schedule, times[sl], **scales)
        for r in RECEPTORS:
            for s, arr in _summarise(all_values.pop(r)).items():
                out[s][r][sl] = arr
        if bar is not None:
            bar.update(sl.stop - sl.start)
    if bar is not None:
        bar.close()
    return PopulationBlockade(times_h=times, n=n, seed=seed, variability=variability, **out)


def subject_window_summary(model, schedule, grids, n: int = 1000, seed=1,
                           variability: Variability | None = None) -> PopulationBlockade:
    """Population summaries of each subject's *mean* blockade over each window in ``grids``.

    ``grids`` is a list of 1-D time grids (one per assessment; a single point is an instant).  Uses the
    same draws as :func:`simulate_population` for the same ``n`` and ``seed``.  The reported
    ``times_h`` are the window starts.
    """
    from occupancy.errors import InputError

    if int(n) != n or n < 2:
        raise InputError(f"population.n: must be an integer >= 2 (got {n})")
    n = int(n)
    variability = default_variability(model) if variability is None else variability
    variability.check_model(model)
    scales = variability.draw(n, seed)
    if hasattr(model, "blockade_blocks"):
        means = _window_means_in_blocks(model, schedule, grids, n, scales)
    else:
        means = _window_means_per_window(model, schedule, grids, n, scales)
    out = {s: {} for s in STATS}
    for r in RECEPTORS:
        for s, arr in _summarise(means[r]).items():
            out[s][r] = arr
    starts = np.array([np.atleast_1d(g)[0] for g in grids], dtype=float)
    return PopulationBlockade(times_h=starts, n=n, seed=seed, variability=variability, **out)


def _trapezoid_weights(g: np.ndarray) -> np.ndarray:
    """Weights ``w`` with ``w @ v`` = the trapezoid mean of ``v`` over the grid ``g`` (1 for a single point)."""
    if g.size == 1:
        return np.ones(1)
    d = np.diff(g)
    w = np.zeros(g.size)
    w[:-1] += 0.5 * d
    w[1:] += 0.5 * d
    return w / (g[-1] - g[0])


def _window_means_in_blocks(model, schedule, grids, n: int, scales, block_elements: int = 2_000_000) -> dict:
    """Each subject's trapezoid mean over each window, all windows' points evaluated in one sorted pass.

    Notes
    -----
    The window mean is linear in the values (``w @ v`` with trapezoid weights), so every block of
    :meth:`blockade_blocks` adds ``block @ W`` to the windows it touches.  The model's dose-segment
    constants are built once for the whole grid instead of once per chunk of every window: with 1000 doses
    and 100 windows at n = 100,000 the per-window path rebuilt them ~10,000 times (over 10 minutes), this
    one pass is linear in the number of points (docs/explanation/safety.md, "Limits").
    """
    grids = [np.atleast_1d(np.asarray(g, dtype=float)) for g in grids]
    times = np.concatenate(grids)
    owner = np.repeat(np.arange(len(grids)), [g.size for g in grids])
    weights = np.concatenate([_trapezoid_weights(g) for g in grids])
    order = np.argsort(times, kind="stable")
    means = {r: np.zeros((n, len(grids))) for r in RECEPTORS}
    for sl, block in model.blockade_blocks(schedule, times[order], RECEPTORS, block_elements=block_elements,
                                           reuse_buffers=True, **scales):
        idx = order[sl]
        cols, local = np.unique(owner[idx], return_inverse=True)
        W = np.zeros((idx.size, cols.size))
        W[np.arange(idx.size), local] = weights[idx]
        for r in RECEPTORS:
            means[r][:, cols] += block[r] @ W
    return means


def _window_means_per_window(model, schedule, grids, n: int, scales) -> dict:
    """Each subject's trapezoid mean over each window, window by window (models without ``blockade_blocks``)."""
    means = {r: np.empty((n, len(grids))) for r in RECEPTORS}
    for j, g in enumerate(grids):
        g = np.atleast_1d(np.asarray(g, dtype=float))
        step = max(1, int(2_000_000 // max(n, 1)))
        acc = {r: np.zeros(n) for r in RECEPTORS}
        if g.size == 1:
            for r, v in model.blockade_all(schedule, g, **scales).items():
                means[r][:, j] = v[:, 0]
            continue
        # Trapezoid integral accumulated over chunks of the window (chunks share their end points).
        for start in range(0, g.size - 1, step):
            sl = slice(start, min(start + step + 1, g.size))
            for r, v in model.blockade_all(schedule, g[sl], **scales).items():
                acc[r] += np.trapezoid(v, g[sl], axis=1)
        for r in RECEPTORS:
            means[r][:, j] = acc[r] / (g[-1] - g[0])
    return means
