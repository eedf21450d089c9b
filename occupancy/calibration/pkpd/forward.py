"""Vectorised forward predictions of the ``pkpd`` models for the Bayesian calibration (many parameter sets at once).

The sampler (:mod:`occupancy.calibration.pkpd.bayes`) evaluates every walker of the ensemble in one call, so the
predictions are computed for ``n`` parameter sets at once with the *same* closed forms and integrator as the
models: :func:`occupancy.models.pkpd_naltrexone.pk_modes` (sums of exponentials), the effect compartment as an
exact first-order filter (:func:`occupancy.models.linear_kinetics.first_order_filter`), and the binding kinetics
by the exact exponential integrator of :mod:`occupancy.models.binding` on the models' step grid.  The tests
check that these predictions equal the models' own (``tests/test_pkpd_bayes.py``).

Notes
-----
Occupancy in the effect-compartment structures is ``100·d·X/(1 + d·X)`` with ``X`` the receptor drive per mg,
linear in the dose, so every dose level and the 4-day Weerts regimen (superposition of shifted single doses)
come from one modal form.  Binding kinetics is non-linear in the dose, so each dose level is integrated
(walkers × doses as "subjects" of one vectorised integration).
"""

from __future__ import annotations

import math

import numpy as np

from occupancy.models import binding, linear_kinetics as lk
from occupancy.models.pkpd_base import STRUCTURES
from occupancy.models.pkpd_naltrexone import NOL_KI_NM, pk_modes

#: Rabiner 2011 scan times are only known to be < 8 h: grid over which the likelihood marginalises (h).
RABINER_TAU = np.linspace(1.0, 8.0, 15)
#: Doses (mg) evaluated for the single-dose naltrexone targets and checks.
NTX_DOSES = (2.0, 5.0, 15.0, 50.0, 12.5)
#: Single-dose times (h): Lee 1988 (1, 48, 72, 120, 168), CPT 2005 (3, 24, 72, 144), label (48).
NTX_POINTS = np.array([1.0, 3.0, 24.0, 48.0, 72.0, 120.0, 144.0, 168.0])
#: Weerts 2008: PET during day 4 of 50 mg/day, time after the dose unknown: 24 h window after the 4th dose.
WEERTS_GRID = np.linspace(72.0, 96.0, 13)
#: Step grid of the binding integrator in the calibration (first step 1 min growing 8 % per step up to 2 h): the
#: models' exact exponential integrator on a coarser grid than the models' own (0.25 min, 2 %, 1 h), which keeps
#: sampling affordable; the difference from the models is below 0.2 pp (tests/test_pkpd_bayes.py).
CAL_GRID = {"h_min": 1.0 / 60.0, "rel": 0.08, "h_max": 2.0}
#: Plasma grid (h) for Cmax, tmax, AUC and apparent half-lives.
PK_GRID = np.unique(np.concatenate([np.linspace(0.0, 3.0, 301), np.linspace(3.0, 24.0, 211)]))


def _col(x):
    return np.asarray(x, dtype=float).reshape(-1, 1)


def _eval(lam, W, t):
    """``Σ_i W[..., i]·e^(λ_i t)`` for (n, m) ``lam`` and (n, k, m) ``W`` at times ``t`` → (n, k, T)."""
    e = np.exp(lam[:, :, None] * np.asarray(t, dtype=float)[None, None, :])  # (n, m, T)
    return np.einsum("nkm,nmt->nkt", W, e)


def _mor_weights(p):
    """(n, 2) weights 1/K of (NTX, NOL) at MOR."""
    k = _col(p["k_mor_ng_ml"])
    rho = _col(p["nol_potency_ratio"])
    return np.concatenate([1.0 / k, 1.0 / (k * rho * NOL_KI_NM["MOR"] / NOL_KI_NM["MOR"])], axis=1)


def _binding_mor(lam, W, kon, koff, starts, amounts, times, grid=None):
    """MOR occupancy (fraction, (n, T)) under binding kinetics for doses at ``starts`` (exact integrator).

    ``lam`` (n, m), ``W`` (n, 2, m) concentration modes per mg; ``amounts`` list of (n, 1) mg; ``kon`` (n, 2)
    per ng/mL per h; ``koff`` (n,).  The step grid and integrator are the models' (:mod:`~occupancy.models.binding`).
    """
    n = lam.shape[0]
    starts = np.asarray(starts, dtype=float)
    sup = lk.Superposition(starts, np.zeros_like(starts), amounts, lam, W)
    fastest = float(np.max(-lam))
    g = grid or {"h_min": binding.H_MIN_H, "rel": binding.REL_GROWTH, "h_max": binding.H_MAX_H}
    nodes, out_idx = binding.step_grid(times, starts, h_min=min(g["h_min"], binding.FAST_FRACTION / fastest),
                                       rel=g["rel"], h_max=g["h_max"])
    kon_a = np.ascontiguousarray(kon.T[:, None, :])  # (2, 1, n)
    koff_a = np.broadcast_to(np.asarray(koff, dtype=float)[None, None, :], (2, 1, n))
    out = binding.integrate(nodes, sup, kon_a, koff_a, times, out_idx, n)  # (n, 1, T)
    return out[:, 0, :]


def naltrexone_predictions(p: dict, structure: str, grid: dict | None = CAL_GRID) -> dict:
    """Every quantity the naltrexone likelihood and checks need, for ``n`` parameter sets (70 kg).

    ``p`` maps parameter names to (n,) or (n, 1) arrays.  Returns arrays of shape (n, ...):
    ``occ[dose]`` (n, len(NTX_POINTS)) MOR %, ``rabiner[dose]`` (n, len(RABINER_TAU)), ``weerts`` (n,
    len(WEERTS_GRID)), and PK summaries ``ntx_cmax``, ``ntx_tmax``, ``ntx_auc_0_24``, ``t_half_2_8``,
    ``t_half_8_24``, ``nol_cmax``, ``nol_t_half``.
    """
    p = {k: _col(v) for k, v in p.items()}
    lam, W = pk_modes(p, 70.0)  # (n, 5), (n, 2, 5): C_NTX, C_NOL per mg
    n = lam.shape[0]
    out: dict = {}
    # plasma PK after 50 mg
    c = 50.0 * _eval(lam, W, PK_GRID)  # (n, 2, T)
    i_max = np.argmax(c[:, 0, :], axis=1)
    out["ntx_cmax"] = c[np.arange(n), 0, i_max]
    out["ntx_tmax"] = PK_GRID[i_max]
    out["nol_cmax"] = np.max(c[:, 1, :], axis=1)
    out["ntx_auc_0_24"] = (50.0 * W[:, 0, :] * np.expm1(lam * 24.0) / lam).sum(axis=1)
    cc = 50.0 * _eval(lam, W[:, :1, :], [2.0, 8.0, 24.0])[:, 0, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["t_half_2_8"] = math.log(2) * 6.0 / np.log(cc[:, 0] / cc[:, 1])
        out["t_half_8_24"] = math.log(2) * 16.0 / np.log(cc[:, 1] / cc[:, 2])
    out["nol_t_half"] = p["t_half_nol_h"][:, 0] * np.ones(n)
    # receptor drive / occupancy
    times = np.unique(np.concatenate([NTX_POINTS, RABINER_TAU]))
    ipts = np.searchsorted(times, NTX_POINTS)
    itau = np.searchsorted(times, RABINER_TAU)
    wmor = _mor_weights(p)  # (n, 2)
    hyst = STRUCTURES[structure]["hysteresis"]
    doses = np.array(NTX_DOSES)
    if hyst == "effect_compartment":
        lam6, We = lk.first_order_filter(lam, W, p["ke0_per_h"])
        wx = np.einsum("nl,nlm->nm", wmor, We)[:, None, :]  # (n, 1, 6): X_MOR per mg
        x1 = _eval(lam6, wx, times)[:, 0, :]  # (n, T)
        x1 = np.maximum(x1, 0.0)
        occ = 100.0 * doses[None, :, None] * x1[:, None, :] / (1.0 + doses[None, :, None] * x1[:, None, :])
        xw = np.zeros((n, WEERTS_GRID.size))
        for j in range(4):
            xw += 50.0 * np.maximum(_eval(lam6, wx, WEERTS_GRID - 24.0 * j)[:, 0, :], 0.0)
        out["weerts"] = 100.0 * xw / (1.0 + xw)
    else:
        koff = p["koff_per_h"][:, 0]
        kon = wmor * koff[:, None]  # (n, 2) = koff/K
        nd = doses.size
        lam_r = np.repeat(lam, nd, axis=0)
        W_r = np.repeat(W, nd, axis=0)
        amt = np.tile(doses, n).reshape(-1, 1)
        b = _binding_mor(lam_r, W_r, np.repeat(kon, nd, axis=0), np.repeat(koff, nd), [0.0], [amt], times, grid)
        occ = 100.0 * b.reshape(n, nd, times.size)
        bw = _binding_mor(lam, W, kon, koff, [0.0, 24.0, 48.0, 72.0], [np.full((n, 1), 50.0)] * 4, WEERTS_GRID,
                          grid)
        out["weerts"] = 100.0 * bw
    out["occ"] = {float(d): occ[:, i, ipts] for i, d in enumerate(doses)}
    out["rabiner"] = {float(d): occ[:, i, itau] for i, d in enumerate(doses)}
    return out
