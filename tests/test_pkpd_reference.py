"""Accuracy of the ``pkpd`` models: closed forms and the exponential integrator against ``solve_ivp``.

The reference (:mod:`tests.pkpd_reference`) integrates the models' ODEs as written in their docstrings with
Radau at rtol 1e-11, restarting at every dose event.  The effect-compartment variant is a sum of exponentials
(exact up to rounding and the ODE solver's tolerance); the binding-kinetics variant is integrated by the
exponential midpoint integrator whose step control (``occupancy.models.binding``) keeps the error < 0.01
percentage points.  Plasma concentrations are closed forms in both variants.
"""

import numpy as np
import pytest

from occupancy.dosing.schedule import Dose, Schedule
from occupancy.models import get_model
from occupancy.models.pkpd_base import HYSTERESIS
from tests.pkpd_reference import naloxone_reference, naltrexone_reference

RECEPTORS = ("MOR", "KOR", "DOR")
VARIANTS = HYSTERESIS
NTX_SCHEDULES = {
    "single 50 mg": Schedule.single(50.0),
    "single 2 mg": Schedule.single(2.0),
    "daily 50 mg x4": Schedule.daily([50.0] * 4),
    "titration 25,25,50,50 + 100 at 100 h": Schedule(tuple(
        Dose(t, amount_mg=a) for t, a in ((0, 25), (24, 25), (48, 50), (72, 50), (100, 100)))),
    "single 500 mg, 110 kg": Schedule((Dose(0.0, amount_mg=500.0),), weight_kg=110.0),
}
SPARSE = np.array([0.05, 0.25, 0.5, 1.0, 2.0, 3.0, 8.0, 24.0, 49.0, 74.0, 120.0, 168.0, 360.0])


def _max_error(got, ref):
    return max(float(np.max(np.abs(got[r] - ref[r]))) for r in RECEPTORS)


@pytest.mark.parametrize("name", list(NTX_SCHEDULES))
def test_naltrexone_against_ode(ntx, name):
    s = NTX_SCHEDULES[name]
    ref = naltrexone_reference(ntx, s, SPARSE)
    conc = ntx.concentrations(s, SPARSE)
    assert set(conc) == {"C_naltrexone_ng_ml", "C_6b_naltrexol_ng_ml"}
    for k in conc:
        np.testing.assert_allclose(conc[k], ref[k], rtol=1e-8, atol=1e-10)
    err = _max_error(ntx.blockade_all(s, SPARSE), ref)
    if ntx.hysteresis == "effect_compartment":
        assert err < 1e-7  # closed form: only the ODE solver's tolerance is left
    else:
        assert err < 0.01  # exponential midpoint integrator: < 0.01 pp by the chosen step control


def test_binding_integrator_on_a_one_minute_grid():
    """The grid the population uses (1 min over 4 days of daily dosing)."""
    m = get_model("naltrexone", "pkpd", hysteresis="binding_kinetics")
    t = np.arange(0, 96 * 60 + 1) / 60.0
    s = Schedule.daily([50.0] * 4)
    assert _max_error(m.blockade_all(s, t), naltrexone_reference(m, s, t)) < 0.01


def test_population_rows_match_the_ode_of_each_subject():
    """Scale arrays (virtual subjects) are the ODE of the subject with those parameters."""
    from dataclasses import replace

    for hyst in VARIANTS:
        m = get_model("naltrexone", "pkpd", hysteresis=hyst)
        kin = "ke0" if hyst == "effect_compartment" else "koff"
        scales = {"affinity_scale": np.array([[0.5], [2.0]]), f"{kin}_scale": np.array([[1.5], [0.6]]),
                  "ka_scale": np.array([[1.3], [0.8]])}
        s = Schedule.daily([50.0] * 2)
        pop = m.blockade_all(s, SPARSE[:9], **scales)
        for i in range(2):
            sub = replace(m, k_mor_ng_ml=m.k_mor_ng_ml * scales["affinity_scale"][i, 0],
                          ka_per_h=m.ka_per_h * scales["ka_scale"][i, 0],
                          **{f"{kin}_per_h": getattr(m, f"{kin}_per_h") * scales[f"{kin}_scale"][i, 0]})
            ref = naltrexone_reference(sub, s, SPARSE[:9])
            assert _max_error({r: pop[r][i] for r in RECEPTORS}, ref) < (1e-7 if kin == "ke0" else 0.01)


@pytest.mark.parametrize("case", ["bolus", "infusion", "bolus+infusion mg/kg, 80 kg"])
def test_naloxone_against_ode(nlx, case):
    if case == "bolus":
        s = Schedule((Dose(0.0, amount_mg=2.0),), weight_kg=70.0)
    elif case == "infusion":
        s = Schedule((Dose(0.5, amount_mg=4.0, duration_min=45.0),), weight_kg=70.0)
    else:
        s = Schedule((Dose(0.0, amount_mg_per_kg=0.01), Dose(0.25, amount_mg_per_kg=0.02, duration_min=90.0)),
                     weight_kg=80.0)
    t = np.array([0.02, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 8.0, 12.0])
    ref = naloxone_reference(nlx, s, t)
    np.testing.assert_allclose(nlx.concentrations(s, t)["C_naloxone_ng_ml"], ref["C_naloxone_ng_ml"],
                               rtol=1e-7, atol=1e-9)
    assert _max_error(nlx.blockade_all(s, t), ref) < (1e-7 if nlx.hysteresis == "effect_compartment" else 0.01)


def test_binding_value_at_a_time_does_not_depend_on_the_other_times_requested():
    """The step grid depends on the doses only; each requested time is a partial step from the node before it,
    so asking for one time or for many gives the same number at that time (bit for bit)."""
    from occupancy.dosing.schedule import Schedule
    from occupancy.models import get_model

    model = get_model("naltrexone", "pkpd", structure="three_phase_binding")
    schedule = Schedule.daily([50.0, 25.0, 50.0])
    many = np.concatenate([np.linspace(0.0, 120.0, 997), [1.5, 49.25, 60.0]])
    together = model.blockade_all(schedule, many, ("MOR", "KOR"))
    for k in (1.5, 49.25, 60.0, 0.0, 120.0, float(many[311])):
        alone = model.blockade_all(schedule, [k], ("MOR", "KOR"))
        i = int(np.nonzero(many == k)[0][0])
        assert alone["MOR"][0] == together["MOR"][i] and alone["KOR"][0] == together["KOR"][i]
