"""Exact closed-form solution of linear compartment models as sums of exponentials ("modal form").

Used by the ``pkpd`` models (:mod:`occupancy.models.pkpd_naltrexone`, :mod:`occupancy.models.pkpd_naloxone`);
:mod:`occupancy.models.kinetics` holds the one-compartment depot superposition of ``washout``/``bateman``.

Every linear, time-invariant compartment model with one input (a dose compartment) and several outputs
(concentrations, effect-site concentrations, receptor drives) has an impulse response

    y_k(t) = Σ_i W[k, i] · exp(λ_i · t)          (t ≥ 0, λ_i < 0 real)

and, by superposition, the response to any sequence of boluses and zero-order infusions is

    y_k(t) = Σ_i W[k, i] · z_i(t),      dz_i/dt = λ_i·z_i + u(t),   z_i += D at a bolus of size D,

where ``u(t)`` is the total infusion rate.  The *modal amounts* ``z_i`` are shared by every output, so the
dose history is carried exactly across dose events (bolus times, infusion starts and ends) by the scalar
recursions below, and each time point costs one exponential per mode however many doses came before —
the same idea as :func:`occupancy.models.kinetics.superpose_depot_multi`, generalised from 2 to ``m`` modes.
Within a segment that starts at boundary ``b`` with modal state ``z_i(b)`` and constant rate ``R``::

    z_i(b + Δ) = (z_i(b) + R/λ_i)·e^(λ_i·Δ) − R/λ_i

Modal forms are built analytically (no ODE solver): :func:`first_order_filter` appends a first-order
compartment (absorption depot, metabolite, effect compartment) to a modal form; :func:`mammillary_modes`
gives the disposition of a mammillary model from its micro-constants (batched eigendecomposition with
numpy over subjects, or the closed-form quadratic for two compartments).

Shapes: ``n`` subjects, ``m`` modes, ``k`` outputs, ``T`` times.  ``lam`` is ``(n, m)`` and ``W`` is
``(n, k, m)``; the result of :func:`superpose` is ``(n, k, T)``.  Parameters that are scalars broadcast
to ``n = 1``.
"""

from __future__ import annotations

import numpy as np

from occupancy.models.kinetics import as_column, param_rows

#: Relative separation enforced between a filter rate and an existing mode (removable singularity guard).
COINCIDENCE_REL = 1e-7
#: Infusions shorter than this (h, = 3.6 µs) are given as boluses (their rate amount/duration would overflow).
MIN_INFUSION_H = 1e-9


def two_compartment_modes(k10, k12, k21):
    """Disposition of a 2-compartment model after a unit input into the central compartment.

    Returns ``lam`` (n, 2) = (−α, −β) and ``coef`` (n, 2) with ``x_central(t) = A·e^(−αt) + B·e^(−βt)``::

        α, β = ½·[(k10+k12+k21) ± √((k10+k12−k21)² + 4·k12·k21)]
        A = (α − k21)/(α − β),   B = (k21 − β)/(α − β)        (Gibaldi & Perrier, Pharmacokinetics, ch. 2)
    """
    k10, k12, k21 = (as_column(v) for v in (k10, k12, k21))
    s = k10 + k12 + k21
    root = np.sqrt((k10 + k12 - k21) ** 2 + 4.0 * k12 * k21)
    alpha = 0.5 * (s + root)
    beta = k10 * k21 / alpha  # αβ = k10·k21; avoids cancellation in ½(s − root) when β ≪ α
    a = (alpha - k21) / (alpha - beta)
    b = (k21 - beta) / (alpha - beta)
    n = param_rows(alpha, a)
    lam = np.concatenate(np.broadcast_arrays(-alpha, -beta), axis=1).reshape(n, 2)
    coef = np.concatenate(np.broadcast_arrays(a, b), axis=1).reshape(n, 2)
    return lam, coef


def mammillary_modes(cl, v1, q, v):
    """Disposition of a mammillary model (central volume ``v1``, peripherals ``v[j]`` linked by ``q[j]``).

    Batched eigendecomposition with numpy: the rate matrix ``K`` (per subject) has real, distinct, negative
    eigenvalues for a mammillary model with distinct peripheral rate constants; ``x_central(t)`` after a
    unit input into the central compartment is ``Σ_i coef_i·e^(λ_i t)`` with
    ``coef_i = V[0, i]·(V⁻¹)[i, 0]``.  Returns ``lam`` (n, p+1) and ``coef`` (n, p+1), eigenvalues sorted
    from fastest to slowest.
    """
    cl, v1 = as_column(cl), as_column(v1)
    q = [as_column(x) for x in q]
    v = [as_column(x) for x in v]
    n = param_rows(cl, v1, *q, *v)
    m = 1 + len(q)
    K = np.zeros((n, m, m))
    k10 = np.broadcast_to(cl / v1, (n, 1))[:, 0]
    K[:, 0, 0] = -k10
    for j, (qj, vj) in enumerate(zip(q, v), start=1):
        k1j = np.broadcast_to(qj / v1, (n, 1))[:, 0]
        kj1 = np.broadcast_to(qj / vj, (n, 1))[:, 0]
        K[:, 0, 0] -= k1j
        K[:, 0, j] = kj1
        K[:, j, 0] = k1j
        K[:, j, j] = -kj1
    w, vec = np.linalg.eig(K)
    if np.max(np.abs(np.imag(w))) > 1e-9 * np.max(np.abs(w)):
        raise ValueError("mammillary model with complex eigenvalues (not physical)")
    w = np.real(w)
    vec = np.real(vec)
    inv = np.linalg.inv(vec)
    coef = vec[:, 0, :] * inv[:, :, 0]
    order = np.argsort(w, axis=1)  # most negative (fastest) first
    return np.take_along_axis(w, order, axis=1), np.take_along_axis(coef, order, axis=1)


def first_order_filter(lam, W, k):
    """Append a first-order compartment with rate ``k`` to a modal form (exact convolution).

    For ``y(t) = Σ_i W_i·e^(λ_i t)`` returns the modal form of
    ``z(t) = k·∫_0^t e^(−k(t−s))·y(s) ds = Σ_i W_i·k/(λ_i + k)·(e^(λ_i t) − e^(−k t))``,
    i.e. the modes ``λ ∪ {−k}``.  ``W`` may be (n, m) (one signal) or (n, q, m) (several); the result has
    one more mode (last).  ``z`` has unit gain (``z → y`` at steady state): an absorption depot, an effect
    compartment ``dCe/dt = k·(C − Ce)``, or, divided by ``k``, the amount in a compartment eliminated at
    rate ``k``.  When ``k`` coincides with a mode (``|λ_i + k| < 1e-7·k``) ``k`` is moved by 1e-7
    relative (a removable singularity; the error is of that order).
    """
    lam = np.asarray(lam, dtype=float)
    k = as_column(k)
    n = param_rows(lam, k)
    lam = np.broadcast_to(lam, (n, lam.shape[-1]))
    k = np.broadcast_to(k, (n, 1))
    close = np.abs(lam + k) < COINCIDENCE_REL * k
    if close.any():
        k = np.where(close.any(axis=1, keepdims=True), k * (1.0 + 10.0 * COINCIDENCE_REL), k)
    gain = k / (lam + k)  # (n, m)
    W = np.asarray(W, dtype=float)
    squeeze = W.ndim == 2
    if squeeze:
        W = W[:, None, :]
    W = np.broadcast_to(W, (n,) + W.shape[1:])
    Wg = W * gain[:, None, :]
    new = -Wg.sum(axis=2, keepdims=True)
    W_out = np.concatenate([Wg, new], axis=2)
    lam_out = np.concatenate([lam, -k], axis=1)
    return lam_out, (W_out[:, 0, :] if squeeze else W_out)


def dose_events(starts_h, durations_h, amounts):
    """Boundaries (sorted unique dose starts and infusion ends), bolus input and rate change at each.

    ``amounts`` is a list of scalars or (n, 1) arrays (total amount per dose; an infusion delivers it at
    the constant rate amount/duration).  Returns ``boundaries`` (B,), ``bolus`` (B, n, 1), ``rate`` (B, n, 1)
    where ``rate[j]`` is the input rate in force after boundary ``j``.
    """
    starts = np.asarray(starts_h, dtype=float).ravel()
    durs = np.asarray(durations_h, dtype=float).ravel()
    amounts = [as_column(a) for a in amounts]
    n = param_rows(*amounts)
    durs = np.where(durs > MIN_INFUSION_H, durs, 0.0)
    inf = durs > 0
    boundaries = np.unique(np.concatenate([starts, starts[inf] + durs[inf]]))
    nb = boundaries.size
    bolus = np.zeros((nb, n, 1))
    change = np.zeros((nb, n, 1))
    for s, d, a in zip(starts, durs, amounts):
        j = int(np.searchsorted(boundaries, s))
        if d > 0:
            r = a / d
            change[j] += r
            change[int(np.searchsorted(boundaries, s + d))] -= r
        else:
            bolus[j] += a
    rate = np.cumsum(change, axis=0)
    # A finished infusion leaves exactly zero input (no round-off residue).
    scale = np.cumsum(np.abs(change), axis=0)
    rate = np.where(np.abs(rate) <= 1e-12 * scale, 0.0, rate)
    return boundaries, bolus, rate


def segment_constants(lam, boundaries, bolus, rate):
    """Modal state just after each boundary, as the constants of ``z_i(b+Δ) = G_i·e^(λ_i Δ) + H_i``.

    Returns ``G`` (B, n, m) and ``H`` (B, n, m) (``H = −R/λ``).  Exact: between boundaries ``j−1`` and
    ``j`` the state evolves by the closed form with the rate in force, then the boluses at ``j`` are added.
    """
    lam = np.asarray(lam, dtype=float)
    nb = boundaries.size
    n = max(lam.shape[0], bolus.shape[1])
    lam = np.broadcast_to(lam, (n, lam.shape[1]))
    z = np.zeros((n, lam.shape[1]))
    G = np.empty((nb, n, lam.shape[1]))
    H = np.empty((nb, n, lam.shape[1]))
    for j in range(nb):
        if j > 0:
            dt = boundaries[j] - boundaries[j - 1]
            e = np.exp(lam * dt)
            # z(Δ) = z0·e^(λΔ) + R·(e^(λΔ) − 1)/λ, with expm1 for accuracy at small λΔ
            z = z * e + rate[j - 1] * (np.expm1(lam * dt) / lam)
        z = z + bolus[j]
        h = -rate[j] / lam
        G[j] = z - h
        H[j] = h
    return G, H


class Superposition:
    """A dose history prepared once (boundaries and modal constants), evaluated at any times, exactly.

    Parameters
    ----------
    starts_h, durations_h : (d,) arrays
        Dose start times and infusion durations (0 = bolus), h.
    amounts : list of d scalars or (n, 1) arrays
        Amount of each dose (its total for an infusion), in the input unit of ``W``.
    lam : (n, m) array
        Mode rates (negative).
    W : (n, k, m) array
        Output weights of each mode (impulse response ``y_k = Σ_i W[k,i]·e^(λ_i t)``).

    Calling the object with times returns the outputs ``(n, k, T)`` (zero before the first dose).  The
    segment constants are computed once, so evaluating a long grid in chunks costs one exponential per
    mode and time point plus one small batched matrix product; ``work`` buffers can be reused between
    calls (fresh large allocations page-fault and cost as much as the exponentials).
    """

    def __init__(self, starts_h, durations_h, amounts, lam, W):
        self.boundaries, bolus, rate = dose_events(starts_h, durations_h, amounts)
        lam = np.asarray(lam, dtype=float)
        W = np.asarray(W, dtype=float)
        n = max(lam.shape[0], W.shape[0], bolus.shape[1])
        self.lam = np.ascontiguousarray(np.broadcast_to(lam, (n, lam.shape[1])))
        self.W = np.broadcast_to(W, (n,) + W.shape[1:])
        self.n, self.k, self.m = n, self.W.shape[1], self.W.shape[2]
        self.G, self.H = segment_constants(self.lam, self.boundaries, bolus, rate)
        self._cache: dict = {}

    def _segment(self, j):
        c = self._cache.get(j)
        if c is None:
            WG = np.ascontiguousarray(self.W * self.G[j][:, None, :])  # (n, k, m)
            const = np.einsum("nkm,nm->nk", self.W, self.H[j])[:, :, None]  # (n, k, 1)
            c = self._cache[j] = (WG, const, bool(np.any(const != 0.0)))
        return c

    def __call__(self, times_h, out=None, work=None):
        times = np.asarray(times_h, dtype=float).ravel()
        T = times.size
        seg = np.searchsorted(self.boundaries, times, side="right") - 1
        if out is None:
            out = np.zeros((self.n, self.k, T))
        else:
            out = out[:, :, :T]
            out[:, :, seg < 0] = 0.0  # before the first dose; every other column is written below
        sorted_times = T < 2 or bool(np.all(np.diff(times) >= 0))
        if work is None or work.shape[0] != self.n or work.shape[1] != self.m or work.shape[2] < T:
            work = np.empty((self.n, self.m, T))
        for j in np.unique(seg):
            if j < 0:
                continue
            if sorted_times:
                lo = int(np.searchsorted(seg, j, side="left"))
                hi = int(np.searchsorted(seg, j, side="right"))
                idx = slice(lo, hi)
                tj = hi - lo
            else:
                idx = np.nonzero(seg == j)[0]
                tj = idx.size
            dt = times[idx] - self.boundaries[j]
            E = work[:, :, :tj]
            np.multiply(self.lam[:, :, None], dt[None, None, :], out=E)
            np.exp(E, out=E)  # one exponential per mode and time point
            WG, const, has_const = self._segment(j)
            if isinstance(idx, slice):
                dst = out[:, :, idx]
                np.matmul(WG, E, out=dst)
                if has_const:
                    dst += const
            else:
                val = np.matmul(WG, E)
                if has_const:
                    val += const
                out[:, :, idx] = val
        return out


def superpose(times_h, starts_h, durations_h, amounts, lam, W, out=None):
    """Outputs ``(n, k, T)`` of a modal form for superposed boluses and infusions (see :class:`Superposition`)."""
    return Superposition(starts_h, durations_h, amounts, lam, W)(times_h, out=out)
