"""Independent ODE references for the ``pkpd`` models (scipy ``solve_ivp``, Radau, tight tolerances) — tests only.

They integrate the models' differential equations as written in the module docstrings of
:mod:`occupancy.models.pkpd_naltrexone` and :mod:`occupancy.models.pkpd_naloxone` ($ODE: compartment amounts,
effect compartments, binding), restarting at each dose event, so that the closed forms
(:mod:`occupancy.models.linear_kinetics`) and the exponential integrator (:mod:`occupancy.models.binding`)
are checked against a different numerical method.  Only the model's parameters are read (``micro_constants``,
``dissociation_constants``, the fields), never its modal forms.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp

from occupancy.models.base import RECEPTORS
from occupancy.models.linear_kinetics import MIN_INFUSION_H
from occupancy.models.pkpd_base import dose_arrays, effective_weight, weight_factors


def _events(schedule, weight):

    starts, durs, mg = dose_arrays(schedule, weight)
    durs = np.where(durs > MIN_INFUSION_H, durs, 0.0)
    ev = sorted(set(starts.tolist()) | set((starts + durs)[durs > 0].tolist()))
    return starts, durs, mg, ev


def _integrate(rhs, y0, times, schedule, weight, bolus_index, rtol=1e-11, atol=1e-13):
    starts, durs, mg, ev = _events(schedule, weight)
    times = np.asarray(times, dtype=float)
    out = np.zeros((y0.size, times.size))
    y = y0.copy()
    marks = ev + [max(times.max(), ev[-1]) + 1e-9]
    for j in range(len(ev)):
        t0, t1 = marks[j], marks[j + 1]
        for s, d, a in zip(starts, durs, mg):
            if d == 0 and abs(s - t0) < 1e-12:
                y[bolus_index] += a
        rate = sum(a / d for s, d, a in zip(starts, durs, mg) if d > 0 and s <= t0 + 1e-12 < s + d)
        sel = (times >= t0) & (times < t1) if j + 1 < len(ev) else (times >= t0)
        if t1 > t0:
            sol = solve_ivp(lambda t, x: rhs(t, x, rate), (t0, t1), y, method="Radau", rtol=rtol, atol=atol,
                            dense_output=True)
            if sel.any():
                out[:, sel] = sol.sol(times[sel])
            y = sol.y[:, -1].copy()
    return out


def naltrexone_reference(model, schedule, times):
    """Plasma, effect-site and binding states of :class:`~occupancy.models.pkpd_naltrexone.NaltrexonePKPD` by ``solve_ivp``.

    Returns ``{"C_naltrexone_ng_ml", "C_6b_naltrexol_ng_ml", "MOR", "KOR", "DOR"}`` (occupancy in %).
    """
    w = effective_weight(schedule, model.weight_kg)
    fc, fv = weight_factors(w)
    mc = model.micro_constants()
    vc, vp, q, cl = mc["vc_l"] * fv, mc["vp_l"] * fv, mc["q_l_per_h"] * fc, model.cl_l_per_h * fc
    k10, k12, k21 = cl / vc, q / vc, q / vp
    ka = model.ka_per_h
    knol = math.log(2) / model.t_half_nol_h * fc / fv
    vnol = model.v_nol_l * fv
    F = model.f_systemic
    K = model.dissociation_constants()
    inv = np.array([[1.0 / K[lig][r] for r in RECEPTORS] for lig in ("naltrexone", "6b-naltrexol")])  # (2, 3)
    ec = model.hysteresis == "effect_compartment"

    def rhs(t, x, rate):
        g, x1, x2, m = x[:4]
        cn, cm = 1000.0 * x1 / vc, 1000.0 * m / vnol
        d = np.empty_like(x)
        d[0] = rate - ka * g
        d[1] = ka * g - (k10 + k12) * x1 + k21 * x2
        d[2] = k12 * x1 - k21 * x2
        d[3] = (1 - F) * ka * g + F * k10 * x1 - knol * m
        if ec:
            d[4] = model.ke0_per_h * (cn - x[4])
            d[5] = model.ke0_per_h * (cm - x[5])
        else:
            b = x[4:].reshape(2, 3)
            free = 1.0 - b.sum(axis=0)
            kon = inv * model.koff_per_h
            db = kon * np.array([[cn], [cm]]) * free - model.koff_per_h * b
            d[4:] = db.ravel()
        return d

    y0 = np.zeros(6 if ec else 10)
    sol = _integrate(rhs, y0, times, schedule, w, 0)
    res = {"C_naltrexone_ng_ml": 1000.0 * sol[1] / vc, "C_6b_naltrexol_ng_ml": 1000.0 * sol[3] / vnol}
    if ec:
        x = inv[0][:, None] * sol[4][None, :] + inv[1][:, None] * sol[5][None, :]
        occ = 100.0 * x / (1.0 + x)
    else:
        b = sol[4:].reshape(2, 3, -1)
        occ = 100.0 * b.sum(axis=0)
    res.update({r: occ[i] for i, r in enumerate(RECEPTORS)})
    return res


def naloxone_reference(model, schedule, times):
    """:class:`~occupancy.models.pkpd_naloxone.NaloxonePKPD` by ``solve_ivp`` (3-compartment PK + EC or binding)."""
    w = effective_weight(schedule, model.weight_kg)
    fc, fv = weight_factors(w)
    cl, q2, q3 = model.cl_l_per_h * fc, model.q2_l_per_h * fc, model.q3_l_per_h * fc
    v1, v2, v3 = model.v1_l * fv, model.v2_l * fv, model.v3_l * fv
    K = model.dissociation_constants()
    inv = np.array([1.0 / K[r] for r in RECEPTORS])
    ec = model.hysteresis == "effect_compartment"

    def rhs(t, x, rate):
        a1, a2, a3 = x[:3]
        c = 1000.0 * a1 / v1
        d = np.empty_like(x)
        d[0] = rate - (cl + q2 + q3) / v1 * a1 + q2 / v2 * a2 + q3 / v3 * a3
        d[1] = q2 / v1 * a1 - q2 / v2 * a2
        d[2] = q3 / v1 * a1 - q3 / v3 * a3
        if ec:
            d[3] = model.ke0_per_h * (c - x[3])
        else:
            b = x[3:]
            d[3:] = inv * model.koff_per_h * c * (1.0 - b) - model.koff_per_h * b
        return d

    y0 = np.zeros(4 if ec else 6)
    sol = _integrate(rhs, y0, times, schedule, w, 0)
    res = {"C_naloxone_ng_ml": 1000.0 * sol[0] / v1}
    if ec:
        x = inv[:, None] * sol[3][None, :]
        occ = 100.0 * x / (1.0 + x)
    else:
        occ = 100.0 * sol[3:]
    res.update({r: occ[i] for i, r in enumerate(RECEPTORS)})
    return res
