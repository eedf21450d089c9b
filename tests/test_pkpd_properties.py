"""Properties of the ``pkpd`` models (naltrexone and naloxone, both hysteresis variants), incl. hypothesis.

Dose additivity (n doses of D/n at one time = one dose D, 1e-9 relative), linear PK superposition (schedule
A + B = A + B), receptor order MOR >= KOR >= DOR, 0 <= occupancy < 100 (no cap anywhere), monotone in dose,
time-shift invariance; and the consequences for what planoxone's ``bateman`` cannot do (infusions built from
boluses).  Values that are 0 analytically (at a dose instant the sum of exponentials cancels to ~1e-13) are
compared with an absolute 1e-9 (pp or ng/mL).
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from occupancy.dosing.schedule import Dose, Schedule
from occupancy.models.pkpd_base import HYSTERESIS

RECEPTORS = ("MOR", "KOR", "DOR")
VARIANTS = HYSTERESIS
T_GRID = np.array([0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 49.0, 72.0, 120.0, 200.0, 360.0, 500.0])
NLX_GRID = np.array([0.0, 0.02, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0])
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

ntx_doses = st.lists(st.tuples(st.floats(0.0, 150.0), st.floats(0.5, 200.0)), min_size=1, max_size=4)
# naloxone: (start h, mg, infusion minutes or 0)
nlx_doses = st.lists(st.tuples(st.floats(0.0, 4.0), st.floats(0.01, 10.0),
                               st.one_of(st.just(0.0), st.floats(1.0, 120.0))), min_size=1, max_size=3)


def oral(pairs, weight=None):
    return Schedule(tuple(Dose(t, amount_mg=a) for t, a in pairs), weight_kg=weight)


def iv(triples, weight=70.0):
    return Schedule(tuple(Dose(t, amount_mg=a, duration_min=d) for t, a, d in triples), weight_kg=weight)


def _close(a, b, rtol=1e-9, atol=1e-9):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------------- dose additivity
@SETTINGS
@given(t0=st.floats(0.0, 100.0), dose=st.floats(0.5, 300.0), n=st.integers(2, 5))
def test_naltrexone_dose_additivity(ntx, t0, dose, n):
    """n tablets of D/n taken together = one tablet D (occupancy and concentrations, 1e-9 relative)."""
    one, split = oral([(t0, dose)]), oral([(t0, dose / n)] * n)
    t = T_GRID + t0
    for k, v in ntx.concentrations(one, t).items():
        _close(ntx.concentrations(split, t)[k], v)
    a, b = ntx.blockade_all(split, t), ntx.blockade_all(one, t)
    for r in RECEPTORS:
        _close(a[r], b[r])


@SETTINGS
@given(dose=st.floats(0.01, 10.0), n=st.integers(2, 4), dur=st.one_of(st.just(0.0), st.floats(1.0, 120.0)))
def test_naloxone_dose_additivity(nlx, dose, n, dur):
    """n boluses (or infusions) of D/n at one time = one of D — the artefact planoxone's bateman has."""
    one, split = iv([(0.0, dose, dur)]), iv([(0.0, dose / n, dur)] * n)
    a, b = nlx.blockade_all(split, NLX_GRID), nlx.blockade_all(one, NLX_GRID)
    for r in RECEPTORS:
        _close(a[r], b[r], atol=1e-12)
    _close(nlx.concentrations(split, NLX_GRID)["C_naloxone_ng_ml"],
           nlx.concentrations(one, NLX_GRID)["C_naloxone_ng_ml"], atol=1e-12)


# ----------------------------------------------------------------------------------------- superposition
@SETTINGS
@given(a=ntx_doses, b=ntx_doses)
def test_naltrexone_linear_pk_superposition(ntx, a, b):
    """Concentrations of schedule A + B = those of A plus those of B (linear PK)."""
    t = np.linspace(0, 400, 161)
    ca, cb, cab = (ntx.concentrations(oral(x), t) for x in (a, b, sorted(a + b)))
    for k in ca:
        _close(cab[k], ca[k] + cb[k], atol=1e-12 * max(1.0, float(np.max(cab[k]))))


@SETTINGS
@given(a=nlx_doses, b=nlx_doses)
def test_naloxone_linear_pk_superposition(nlx, a, b):
    ca, cb, cab = (nlx.concentrations(iv(x), NLX_GRID)["C_naloxone_ng_ml"] for x in (a, b, sorted(a + b)))
    _close(cab, ca + cb, atol=1e-12 * max(1.0, float(np.max(cab))))


# ----------------------------------------------------------------------------------------- order and bounds
@SETTINGS
@given(d=ntx_doses, affinity=st.floats(0.2, 5.0), cl=st.floats(0.5, 2.0), kin=st.floats(0.3, 3.0))
def test_naltrexone_receptor_order_and_bounds(ntx, d, affinity, cl, kin):
    """MOR >= KOR >= DOR at every time and 0 <= occupancy < 100, for any subject (scale arrays)."""
    kname = "ke0_scale" if ntx.hysteresis == "effect_compartment" else "koff_scale"
    scales = {"affinity_scale": np.array([[affinity], [1.0]]), "cl_scale": np.array([[cl], [1.0]]),
              kname: np.array([[kin], [1.0]])}
    t = np.sort(np.concatenate([T_GRID, np.linspace(0, 400, 97)]))
    occ = ntx.blockade_all(oral(d), t, **scales)
    assert np.all(occ["MOR"] >= occ["KOR"] - 1e-12) and np.all(occ["KOR"] >= occ["DOR"] - 1e-12)
    for r in RECEPTORS:
        assert np.all(occ[r] >= 0.0) and np.all(occ[r] < 100.0)


@SETTINGS
@given(d=nlx_doses, affinity=st.floats(0.2, 5.0), kin=st.floats(0.3, 3.0))
def test_naloxone_receptor_order_and_bounds(nlx, d, affinity, kin):
    kname = "ke0_scale" if nlx.hysteresis == "effect_compartment" else "koff_scale"
    occ = nlx.blockade_all(iv(d), NLX_GRID, affinity_scale=np.array([[affinity], [1.0]]),
                           **{kname: np.array([[kin], [1.0]])})
    assert np.all(occ["MOR"] >= occ["KOR"] - 1e-12) and np.all(occ["KOR"] >= occ["DOR"] - 1e-12)
    for r in RECEPTORS:
        assert np.all(occ[r] >= 0.0) and np.all(occ[r] < 100.0)


def test_no_receptor_reaches_100_even_at_huge_doses(ntx, nlx):
    occ = ntx.blockade_all(Schedule.daily([1000.0] * 10), np.linspace(0, 300, 601))
    assert all(np.all(v < 100.0) for v in occ.values()) and occ["MOR"].max() > 99.0
    occ = nlx.blockade_all(iv([(0.0, 1400.0, 0.0)]), NLX_GRID)  # 20 mg/kg
    assert all(np.all(v < 100.0) for v in occ.values())


# ----------------------------------------------------------------------------------------- monotone, shift
@SETTINGS
@given(d=ntx_doses, factor=st.floats(1.01, 5.0))
def test_naltrexone_monotone_in_dose(ntx, d, factor):
    t = np.linspace(0, 400, 161)
    lo = ntx.blockade_all(oral(d), t)
    hi = ntx.blockade_all(oral([(ti, a * factor) for ti, a in d]), t)
    for r in RECEPTORS:
        assert np.all(hi[r] >= lo[r] - 1e-9)


@SETTINGS
@given(d=nlx_doses, factor=st.floats(1.01, 5.0))
def test_naloxone_monotone_in_dose(nlx, d, factor):
    lo = nlx.blockade_all(iv(d), NLX_GRID)
    hi = nlx.blockade_all(iv([(ti, a * factor, du) for ti, a, du in d]), NLX_GRID)
    for r in RECEPTORS:
        assert np.all(hi[r] >= lo[r] - 1e-9)


@SETTINGS
@given(d=ntx_doses, shift=st.floats(-50.0, 300.0))
def test_naltrexone_time_shift_invariance(ntx, d, shift):
    t = np.linspace(0, 400, 81)
    a = ntx.blockade_all(oral(d), t)
    b = ntx.blockade_all(oral([(ti + shift, x) for ti, x in d]), t + shift)
    # closed form: rounding only; binding kinetics: the integrator's step grid moves with the doses
    tol = 1e-9 if ntx.hysteresis == "effect_compartment" else 1e-6
    for r in RECEPTORS:
        np.testing.assert_allclose(b[r], a[r], rtol=tol, atol=1e-9)


@SETTINGS
@given(d=nlx_doses, shift=st.floats(-2.0, 48.0))
def test_naloxone_time_shift_invariance(nlx, d, shift):
    a = nlx.blockade_all(iv(d), NLX_GRID)
    b = nlx.blockade_all(iv([(ti + shift, x, du) for ti, x, du in d]), NLX_GRID + shift)
    tol = 1e-9 if nlx.hysteresis == "effect_compartment" else 1e-6
    for r in RECEPTORS:
        np.testing.assert_allclose(b[r], a[r], rtol=tol, atol=1e-9)


# ----------------------------------------------------------------------------------------- infusions
def test_naloxone_infusion_is_the_limit_of_many_boluses(nlx):
    """A 60-min infusion of D = 60 boluses of D/60 spread over the hour, in the limit (linear PK)."""
    t = np.array([0.5, 1.0, 1.5, 3.0])
    inf = nlx.concentrations(iv([(0.0, 2.0, 60.0)]), t)["C_naloxone_ng_ml"]
    k = 600
    boluses = iv([((i + 0.5) / k, 2.0 / k, 0.0) for i in range(k)])  # midpoint rule
    got = nlx.concentrations(boluses, t)["C_naloxone_ng_ml"]
    # during the infusion each 0.1-min bolus leaves a sawtooth (the 0.9-min distribution phase); after it, the
    # midpoint rule's O(h^2) error only
    np.testing.assert_allclose(got[:2], inf[:2], rtol=1e-3)
    np.testing.assert_allclose(got[2:], inf[2:], rtol=1e-5)


def test_infusion_planned_duration_does_not_matter_before_it_ends(nlx):
    """At the same rate, a 60-min and a 120-min infusion are identical for the first 60 min."""
    t = np.linspace(0.0, 1.0, 61)
    a = nlx.blockade_all(iv([(0.0, 1.0, 60.0)]), t)
    b = nlx.blockade_all(iv([(0.0, 2.0, 120.0)]), t)
    for r in RECEPTORS:
        tol = 1e-9 if nlx.hysteresis == "effect_compartment" else 0.01
        np.testing.assert_allclose(a[r], b[r], rtol=0, atol=tol)
