"""Generic weighted least-squares machinery: fit, Jacobian covariance, profiles, leave-one-out, bootstrap.

A :class:`Problem` couples a parameter specification (positive parameters, fitted on the log scale
within bounds), a model factory, a quantity evaluator and a list of :class:`~occupancy.calibration.pkpd_targets.Target`.  The
objective is ``Σ z²`` with ``z = weight·residual/scale`` (hinge residuals for inequalities), minimised by
``scipy.optimize.least_squares`` (trust-region reflective, deterministic starts).  Nothing is hand-tuned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

#: z assigned to a target whose quantity cannot be computed (NaN) — steers the optimiser away.
NAN_PENALTY = 1e3
#: Worker processes for independent refits (bootstrap replicates, leave-one-out, profiles); results do not
#: depend on the number of workers (each task is seeded / started identically).
WORKERS = 2

_TASK_STATE: dict = {}


def _run_task(i):
    return _TASK_STATE["fn"](_TASK_STATE["items"][i])


def parallel_map(fn, items, workers: int | None = None) -> list:
    """``[fn(x) for x in items]`` in ``workers`` forked processes (order preserved; serial if 1)."""
    workers = WORKERS if workers is None else workers
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    _TASK_STATE["fn"], _TASK_STATE["items"] = fn, items
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as ex:
            return list(ex.map(_run_task, range(len(items))))
    finally:
        _TASK_STATE.clear()


@dataclass(frozen=True)
class Param:
    """A positive parameter fitted on the log scale within ``[lower, upper]``."""

    name: str
    start: float
    lower: float
    upper: float
    unit: str = ""
    note: str = ""


@dataclass
class FitResult:
    x: np.ndarray
    values: dict
    z: np.ndarray
    cost: float
    success: bool
    status: int
    message: str
    nfev: int
    jac: np.ndarray | None = None
    free: tuple = ()
    quantities: dict = field(default_factory=dict)

    @property
    def sum_z2(self) -> float:
        return float(np.nansum(self.z**2))


class Problem:
    """Weighted least-squares calibration problem.

    Parameters
    ----------
    params : list of Param
        Candidate fitted parameters (log scale).
    fixed : dict
        Held parameters passed to ``make_model`` (name → value).
    make_model : callable(dict) -> model
    quantities : callable(model) -> dict
    targets : list of Target
    """

    def __init__(self, params, fixed, make_model, quantities, targets):
        self.params = list(params)
        self.fixed = dict(fixed)
        self.make_model = make_model
        self.quantities = quantities
        self.targets = list(targets)

    # ------------------------------------------------------------------ evaluation
    def values(self, x, free) -> dict:
        v = dict(self.fixed)
        v.update({p: float(math.exp(xi)) for p, xi in zip(free, x)})
        return v

    def evaluate(self, values: dict) -> dict:
        return self.quantities(self.make_model(values))

    def z_of(self, q: dict, targets=None, bounds=None) -> np.ndarray:
        targets = self.targets if targets is None else targets
        out = np.empty(len(targets))
        for i, t in enumerate(targets):
            lo, hi = (bounds or {}).get(t.id, (None, None))
            z = t.z(q.get(t.quantity, float("nan")), lo, hi)
            out[i] = z if np.isfinite(z) else NAN_PENALTY
        return out

    # ------------------------------------------------------------------ fitting
    def fit(self, free=None, x0=None, targets=None, bounds=None, extra_starts=(), max_nfev=3000) -> FitResult:
        """Fit the ``free`` parameters (default: all in ``params``) to ``targets`` (default: all).

        ``x0`` (log values of ``free``) is the start; ``extra_starts`` are further starts (dicts of values);
        the best is kept.  ``bounds`` overrides target bounds (bootstrap).
        """
        from scipy.optimize import least_squares

        spec = {p.name: p for p in self.params}
        free = tuple(p.name for p in self.params) if free is None else tuple(free)
        lower = np.log([spec[p].lower for p in free])
        upper = np.log([spec[p].upper for p in free])
        starts = [np.log([spec[p].start for p in free]) if x0 is None else np.asarray(x0, dtype=float)]
        for s in extra_starts:
            starts.append(np.log([s.get(p, spec[p].start) for p in free]))

        def fun(x):
            try:
                return self.z_of(self.evaluate(self.values(x, free)), targets, bounds)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                return np.full(len(self.targets if targets is None else targets), NAN_PENALTY)

        best = None
        for s in starts:
            s = np.clip(s, lower + 1e-9, upper - 1e-9)
            r = least_squares(fun, s, bounds=(lower, upper), method="trf", xtol=1e-10, ftol=1e-12, gtol=1e-10,
                              max_nfev=max_nfev, diff_step=1e-6)
            if best is None or r.cost < best.cost - 1e-12:
                best = r
        values = self.values(best.x, free)
        q = self.evaluate(values)
        z = self.z_of(q, targets, bounds)
        return FitResult(x=best.x, values=values, z=z, cost=float(best.cost), success=bool(best.success),
                         status=int(best.status), message=str(best.message), nfev=int(best.nfev), jac=best.jac,
                         free=free, quantities=q)

    # ------------------------------------------------------------------ uncertainty
    @staticmethod
    def jacobian_covariance(fit: FitResult) -> dict:
        """``Cov(log θ) = (JᵀJ)⁻¹`` (z already standardised by the measurement SDs).

        Directions the targets do not constrain locally (satisfied inequalities give zero rows) show up
        as tiny singular values; they are reported, and the pseudo-inverse is used with a relative
        cutoff of 1e-10 (their SEs are then meaningless: see the profiles).
        """
        J = np.asarray(fit.jac, dtype=float)
        _u, s, vt = np.linalg.svd(J, full_matrices=False)
        cutoff = 1e-10 * s.max() if s.size else 0.0
        keep = s > cutoff
        cov = (vt[keep].T / s[keep] ** 2) @ vt[keep]
        se = np.sqrt(np.diag(cov))
        return {"parameters": list(fit.free), "cov_log": cov.tolist(), "se_log": se.tolist(),
                "singular_values": s.tolist(), "rank": int(keep.sum()),
                "ci95_factor": np.exp(1.96 * se).tolist()}

    def profile(self, base: FitResult, name: str, grid, free=None, predict=None) -> list[dict]:
        """Profile ``Σ z²`` over ``grid`` values of ``name`` (fitted or held), refitting the others.

        Warm-started from the best fit and continued outward from it.  ``predict(model)`` adds
        predictions (e.g. MOR at 2 h, 49 h, 15 d) to each row.
        """
        free = tuple(base.free if free is None else free)
        others = tuple(p for p in free if p != name)
        centre = base.values[name]
        grid = np.asarray(sorted(set(float(g) for g in grid) | {float(centre)}), dtype=float)
        rows = {}
        saved = self.fixed.get(name, None)
        had = name in self.fixed
        try:
            for direction in (grid[grid >= centre], grid[grid < centre][::-1]):
                x = np.array([math.log(base.values[p]) for p in others])
                for v in direction:
                    self.fixed[name] = float(v)
                    r = self.fit(free=others, x0=x)
                    x = r.x
                    row = {"value": float(v), "sum_z2": r.sum_z2,
                           "others": {p: r.values[p] for p in others}}
                    if predict is not None:
                        row.update(predict(self.make_model(r.values)))
                    rows[float(v)] = row
        finally:
            if had:
                self.fixed[name] = saved
            else:
                self.fixed.pop(name, None)
        return [rows[v] for v in sorted(rows)]

    def bootstrap(self, base: FitResult, n: int, seed: int, predict=None, max_nfev: int = 1500) -> dict:
        """Parametric bootstrap: perturb every observation (or inequality bound) by its own SD, refit.

        For target ``i`` with effective SD ``scale/weight``: point value and bounds are shifted by
        ``ε·scale/weight`` (on the log scale for log targets), ``ε ~ N(0, 1)`` from
        ``numpy.random.default_rng(seed)``.  Returns the replicate parameters (and predictions).
        """
        rng = np.random.default_rng(seed)
        eps_all = rng.standard_normal((n, len(self.targets)))

        def one(eps):
            bounds = {}
            for e, t in zip(eps, self.targets):
                d = e * t.scale / t.weight
                if t.log:
                    f = math.exp(d)
                    bounds[t.id] = (None if t.lower is None else t.lower * f, None if t.upper is None else t.upper * f)
                else:
                    bounds[t.id] = (None if t.lower is None else t.lower + d, None if t.upper is None else t.upper + d)
            r = self.fit(free=base.free, x0=base.x, bounds=bounds, max_nfev=max_nfev)
            row = {"values": {p: r.values[p] for p in base.free}, "sum_z2": r.sum_z2, "success": r.success,
                   "nfev": r.nfev}
            if predict is not None:
                row.update(predict(self.make_model(r.values)))
            return row

        reps = parallel_map(one, list(eps_all))
        return {"n": n, "seed": seed, "max_nfev": max_nfev, "replicates": reps}

    def leave_one_out(self, base: FitResult, groups: dict, met_threshold: float = 1.0) -> list[dict]:
        """Refit without each group of targets; report which other targets become met (|z| ≤ 1).

        ``groups`` maps a label to a tuple of target ids.  A pair (dropped group, target that becomes met
        and was unmet in the full fit) demonstrates a conflict.
        """
        ids = [t.id for t in self.targets]
        z_full = dict(zip(ids, base.z))
        out = []

        def refit(drop):
            keep = [t for t in self.targets if t.id not in drop]
            r = self.fit(free=base.free, x0=base.x, targets=keep)
            return r.quantities, r.values

        refits = parallel_map(refit, list(groups.values()))
        for (label, drop), (q, values) in zip(groups.items(), refits):
            z_all = dict(zip(ids, self.z_of(q)))
            became_met = [i for i in ids if i not in drop and abs(z_full[i]) > met_threshold
                          and abs(z_all[i]) <= met_threshold]
            rest_full = sum(z_full[i] ** 2 for i in ids if i not in drop)
            rest_new = sum(z_all[i] ** 2 for i in ids if i not in drop)
            out.append({"dropped": list(drop), "label": label, "sum_z2_rest_full_fit": rest_full,
                        "sum_z2_rest_refit": rest_new, "improvement": rest_full - rest_new,
                        "parameters_refit": {p: values[p] for p in base.free},
                        "became_met": {i: {"z_full": z_full[i], "z_refit": z_all[i]} for i in became_met},
                        "dropped_z_in_refit": {i: z_all[i] for i in drop}})
        return out

    def force(self, base: FitResult, groups: dict, factor: float = 10.0, met_threshold: float = 1.0,
              worsen_by: float = 0.5) -> list[dict]:
        """Refit with each group's weight multiplied by ``factor`` (forcing it to be met); report the others.

        The mirror image of :meth:`leave_one_out`: a target that becomes unmet (|z| > 1 at the original
        weights), or whose |z| grows by ≥ ``worsen_by``, when another is forced, conflicts with it.
        """
        ids = [t.id for t in self.targets]
        z_full = dict(zip(ids, base.z))

        def refit(forced):
            tg = [replace(t, weight=t.weight * factor) if t.id in forced else t for t in self.targets]
            r = self.fit(free=base.free, x0=base.x, targets=tg)
            return r.quantities, r.values

        refits = parallel_map(refit, list(groups.values()))
        out = []
        for (label, forced), (q, values) in zip(groups.items(), refits):
            z_all = dict(zip(ids, self.z_of(q)))
            out.append({
                "forced": list(forced), "label": label, "factor": factor,
                "forced_z_after": {i: z_all[i] for i in forced},
                "became_unmet": {i: {"z_full": z_full[i], "z_forced": z_all[i]} for i in ids if i not in forced
                                 and abs(z_full[i]) <= met_threshold < abs(z_all[i])},
                "worsened": {i: {"z_full": z_full[i], "z_forced": z_all[i]} for i in ids if i not in forced
                             and abs(z_all[i]) - abs(z_full[i]) >= worsen_by},
                "sum_z2_all_original_weights": float(sum(z * z for z in z_all.values())),
                "parameters_refit": {p: values[p] for p in base.free}})
        return out
