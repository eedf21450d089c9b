"""Closed-form linear kinetics shared by the time-course models (no ODE solver, no per-subject loop).

The blockade "amount" of each dose enters a depot (first-order absorption, rate ``ka``) and leaves the
central compartment with rate ``k``; volume 1.  This is the one-compartment model that
``linpk::pkprofile(t, cl = k, vc = 1, ka = ka, dose = list(t.dose, amt, dur))`` solves and that
planoxone uses: a bolus dose is put into the depot, an infusion (``dur > 0``) enters the depot at the
constant rate ``amt / dur`` (linpk's default dose compartment with ``ka > 0`` is the depot).

Doses are superposed exactly by carrying the two-compartment state across the event times (dose starts
and infusion ends); within a segment with constant input rate ``R`` and elapsed time ``Δ``::

    Xa(Δ) = Xa0·e^(−ka·Δ) + R/ka·(1 − e^(−ka·Δ))
    Xc(Δ) = Xc0·e^(−k·Δ) + Xa0·ka/(ka−k)·(e^(−k·Δ) − e^(−ka·Δ))
            + R·[(1 − e^(−k·Δ))/k − (e^(−k·Δ) − e^(−ka·Δ))/(ka − k)]

so every time point costs two exponentials per subject however many doses came before (and the same two
serve MOR, KOR and DOR); parameters may be scalars or ``(n, 1)`` arrays (one row per virtual subject).
"""

from __future__ import annotations

import math

import numpy as np


def lambert_w_minus1(z: float) -> float:
    """Lower real branch ``W₋₁(z)`` of the Lambert W function for ``-1/e <= z < 0`` (Halley iteration).

    Agrees with ``scipy.special.lambertw(z, k=-1).real`` to ~1e-15 (tested); implemented here so that the
    CLI does not import scipy.special (≈0.3 s) for one scalar.
    """
    z = float(z)
    if not (-1.0 / math.e - 1e-15 <= z < 0.0):
        raise ValueError(f"W_-1 is real only for -1/e <= z < 0 (got {z})")
    if z <= -1.0 / math.e:
        return -1.0
    if z < -0.25:
        p = -math.sqrt(2.0 * (1.0 + math.e * z))
        w = -1.0 + p - p * p / 3.0 + 11.0 / 72.0 * p**3
    else:
        lz = math.log(-z)
        w = lz - math.log(-lz)
    for _ in range(50):
        ew = math.exp(w)
        f = w * ew - z
        denom = ew * (w + 1.0) - (w + 2.0) * f / (2.0 * w + 2.0)
        step = f / denom
        w -= step
        if abs(step) <= 1e-15 * (1.0 + abs(w)):
            break
    return w


def ka_from_tmax(tmax: float, k: float) -> float:
    """Absorption rate constant whose Bateman curve peaks at ``tmax`` for elimination rate ``k``.

    ``ka = −(1/tmax)·W₋₁(−tmax·k·e^(−tmax·k))`` (planoxone's formula; the principal branch would return
    the trivial root ``ka = k``).  Requires ``0 < tmax < 1/k``.
    """
    if not (tmax > 0 and k > 0 and tmax * k < 1.0):
        raise ValueError(f"tmax must satisfy 0 < tmax < 1/k (tmax={tmax}, 1/k={1 / k if k > 0 else 'inf'})")
    x = tmax * k
    return -lambert_w_minus1(-x * math.exp(-x)) / tmax


def as_column(x) -> np.ndarray:
    """Scalars → shape (1, 1); (n, 1) or (n,) → (n, 1)."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(-1, 1)
    if a.ndim == 2 and a.shape[1] == 1:
        return a
    raise ValueError(f"subject parameters must be scalars or (n, 1) arrays, got shape {a.shape}")


def param_rows(*params) -> int:
    """Number of subject rows implied by scalar / (n, 1) parameters (1 when all are scalars)."""
    rows = 1
    for p in params:
        a = np.asarray(p)
        if a.ndim >= 1 and a.shape[0] != 1:
            if rows not in (1, a.shape[0]):
                raise ValueError("subject parameter arrays have different lengths")
            rows = a.shape[0]
    return rows


def is_population(*params) -> bool:
    """True when any parameter is an array (the result keeps a subject axis)."""
    return any(np.ndim(p) >= 1 for p in params)


def superpose_depot(
    times: np.ndarray,
    starts: np.ndarray,
    durations: np.ndarray,
    amounts: list,
    ka,
    k,
) -> np.ndarray:
    """Central-compartment amount of the depot model for superposed boluses and infusions.

    Parameters
    ----------
    times : (T,) array
        Observation times (any order), in the same unit as ``starts``, ``durations`` and ``1/k``.
    starts, durations : (m,) arrays
        Dose start times and infusion durations (0 for a bolus).
    amounts : list of m scalars or (n, 1) arrays
        Amount of each dose (total over an infusion).
    ka, k : float or (n, 1) array
        Absorption and elimination rate constants (``ka != k``).

    Returns
    -------
    ndarray, shape (n, T)
        One row per subject (n = 1 when every parameter is a scalar).
    """
    return superpose_depot_multi(times, starts, durations, [amounts], ka, k)[0]


def superpose_depot_multi(times, starts, durations, amount_sets: list, ka, k) -> list[np.ndarray]:
    """:func:`superpose_depot` for several sets of dose amounts sharing ``ka`` and ``k``.

    The exponentials, which dominate the cost, are computed once and reused for every set (e.g. MOR, KOR
    and DOR, whose amplitudes differ only through the receptor's ED50).
    """
    times = np.asarray(times, dtype=float).ravel()
    ka = as_column(ka)
    k = as_column(k)
    sets = [[as_column(a) for a in amounts] for amounts in amount_sets]
    n = param_rows(ka, k, *[a for amounts in sets for a in amounts])
    # Guard the removable singularity ka == k (only reachable with extreme population draws).
    ka = np.where(np.abs(ka - k) < 1e-9 * k, k * (1.0 + 1e-6), ka)
    ka = np.broadcast_to(ka, (n, 1))
    k = np.broadcast_to(k, (n, 1))

    starts = np.asarray(starts, dtype=float).ravel()
    durations = np.asarray(durations, dtype=float).ravel()
    boundaries = np.unique(np.concatenate([starts, starts[durations > 0] + durations[durations > 0]]))
    nb = boundaries.size

    def advance(xa, xc, rate, dt):
        eka = np.exp(-ka * dt)
        ek = np.exp(-k * dt)
        bate = (ek - eka) / (ka - k)
        xc_new = xc * ek + xa * ka * bate + rate * ((1.0 - ek) / k - bate)
        xa_new = xa * eka + rate / ka * (1.0 - eka)
        return xa_new, xc_new

    # For each set: state just after the events at each boundary and the input rate that follows,
    # stored as the constants of  Xc(Δ) = e^(−kΔ)·(A + C) − e^(−kaΔ)·C + B  within the segment.
    consts = []
    for amounts in sets:
        bolus_in = [np.zeros((n, 1)) for _ in range(nb)]
        rate_change = [np.zeros((n, 1)) for _ in range(nb)]
        for s, d, a in zip(starts, durations, amounts):
            j = int(np.searchsorted(boundaries, s))
            if d > 0:
                rate = a / d
                rate_change[j] = rate_change[j] + rate
                j_end = int(np.searchsorted(boundaries, s + d))
                rate_change[j_end] = rate_change[j_end] - rate
            else:
                bolus_in[j] = bolus_in[j] + a
        xa = np.zeros((n, 1))
        xc = np.zeros((n, 1))
        rate = np.zeros((n, 1))
        seg_consts = []
        for j in range(nb):
            if j > 0:
                xa, xc = advance(xa, xc, rate, boundaries[j] - boundaries[j - 1])
            xa = xa + bolus_in[j]
            rate = rate + rate_change[j]
            # Clean round-off so that a finished infusion leaves exactly zero input.
            rate = np.where(np.abs(rate) < 1e-14 * (1.0 + np.abs(rate_change[j])), 0.0, rate)
            b = rate / k
            c = (xa * ka - rate) / (ka - k)
            seg_consts.append((xc - b + c, c, b))
        consts.append(seg_consts)

    outs = [np.zeros((n, times.size)) for _ in sets]
    seg = np.searchsorted(boundaries, times, side="right") - 1
    for j in np.unique(seg):
        if j < 0:
            continue
        idx = np.nonzero(seg == j)[0]
        dt = (times[idx] - boundaries[j])[None, :]
        ek = np.multiply(-k, dt)
        np.exp(ek, out=ek)
        eka = np.multiply(-ka, dt)
        np.exp(eka, out=eka)
        for out, seg_consts in zip(outs, consts):
            a_c, c, b = seg_consts[j]
            val = ek * a_c
            val -= eka * c
            val += b
            if idx.size == times.size:
                out[...] = val
            else:
                out[:, idx] = val
    return outs
