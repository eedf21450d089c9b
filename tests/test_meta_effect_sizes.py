"""Effect sizes against metafor 3.8.1 escalc (tests/data/metafor_univariate.json) and Borenstein et al. (2009)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from meta import effect_sizes as es
from meta.errors import MetaInputError

REF = json.loads((Path(__file__).parent / "data" / "metafor_univariate.json").read_text())["escalc"]


def close(a, b, rel=1e-6, abs_=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    np.testing.assert_allclose(a, b, rtol=rel, atol=abs_)


@pytest.mark.parametrize("vtype", ["LS", "LS2", "UB"])
def test_smd_means_match_escalc(vtype):
    d = REF["normand"]["data"]
    r = es.smd(d["m1i"], d["m2i"], d["sd1i"], d["sd2i"], d["n1i"], d["n2i"], vtype=vtype)
    close(r.yi, REF["normand"][f"SMD_{vtype}"]["yi"])
    close(r.vi, REF["normand"][f"SMD_{vtype}"]["vi"])


def test_smd_from_d_and_t_match_escalc():
    c = REF["smd_d"]
    r = es.smd(d=c["di"], n1=c["n1i"], n2=c["n2i"])
    close(r.yi, c["yi"]), close(r.vi, c["vi"])
    c = REF["smd_t"]
    r = es.smd(t=c["ti"], n1=c["n1i"], n2=c["n2i"])
    close(r.yi, c["yi"]), close(r.vi, c["vi"])


def test_escalc_rd_p_value_examples():
    # escalc.Rd: SMD with pi = -0.018, n1i = n2i = 20 -> yi = -0.7664; SMCC with pi = -0.018, ni = 50 -> -0.3408
    r = es.smd(p=-0.018, n1=20, n2=20)
    close(r.yi, REF["smd_p"]["yi"]), close(r.vi, REF["smd_p"]["vi"])
    assert round(float(r.yi[0]), 4) == -0.7664
    r = es.smcc(p=-0.018, n=50)
    close(r.yi, REF["smcc_p"]["yi"]), close(r.vi, REF["smcc_p"]["vi"])
    assert round(float(r.yi[0]), 4) == -0.3408


@pytest.mark.parametrize("vtype", ["LS", "LS2"])
def test_smcc_smcr_match_escalc(vtype):
    d = REF["prepost"]["data"]
    r = es.smcc(d["m1i"], d["m2i"], d["sd1i"], d["sd2i"], d["ni"], d["ri"], vtype=vtype)
    close(r.yi, REF["prepost"][f"SMCC_{vtype}"]["yi"]), close(r.vi, REF["prepost"][f"SMCC_{vtype}"]["vi"])
    r = es.smcr(d["m1i"], d["m2i"], d["sd1i"], d["ni"], d["ri"], vtype=vtype)
    close(r.yi, REF["prepost"][f"SMCR_{vtype}"]["yi"]), close(r.vi, REF["prepost"][f"SMCR_{vtype}"]["vi"])


def test_exact_j_matches_cmicalc_and_differs_from_approximation():
    close(es.hedges_j(REF["J"]["m"]), REF["J"]["J"], rel=1e-12)
    assert np.isnan(es.hedges_j(1.0))
    assert abs(es.hedges_j(38) - es.hedges_j(38, exact=False)) > 1e-7


def test_g_between_borenstein_formulas():
    # Borenstein et al. (2009) worked example 4.2: M 103/100, S 5.5/4.5, n 50/50 -> d 0.5970, Vd 0.0418, g 0.5924
    r = es.hedges_g_between(103, 100, 5.5, 4.5, 50, 50)
    d = 3 / np.sqrt((49 * 5.5**2 + 49 * 4.5**2) / 98)
    j = 1 - 3 / (4 * 98 - 1)
    close(r.yi, j * d, rel=1e-12)
    close(r.vi, j**2 * (100 / 2500 + d**2 / 200), rel=1e-12)
    assert round(float(r.yi[0]), 4) == 0.5924
    # exact J + Borenstein variance = escalc SMD vtype LS2
    dat = REF["normand"]["data"]
    r = es.hedges_g_between(dat["m1i"], dat["m2i"], dat["sd1i"], dat["sd2i"], dat["n1i"], dat["n2i"], exact_j=True)
    close(r.yi, REF["normand"]["SMD_LS2"]["yi"]), close(r.vi, REF["normand"]["SMD_LS2"]["vi"])


def test_g_between_alternative_inputs_agree():
    base = es.hedges_g_between(103, 100, 5.5, 4.5, 50, 50)
    sp = np.sqrt((49 * 5.5**2 + 49 * 4.5**2) / 98)
    t = 3 / (sp * np.sqrt(1 / 50 + 1 / 50))
    close(es.hedges_g_between(t=t, n1=50, n2=50).yi, base.yi, rel=1e-12)
    close(es.hedges_g_between(f=t**2, sign=1, n1=50, n2=50).yi, base.yi, rel=1e-12)
    close(es.hedges_g_between(f=t**2, sign=-1, n1=50, n2=50).yi, -base.yi, rel=1e-12)
    close(es.hedges_g_between(d=3 / sp, n1=50, n2=50).vi, base.vi, rel=1e-12)
    r = es.hedges_g_between(g=[-0.2, 0.1], ci_lb=[-0.5, -0.3], ci_ub=[0.1, 0.5])
    close(r.vi, [(0.6 / (2 * 1.959963984540054)) ** 2, (0.8 / (2 * 1.959963984540054)) ** 2], rel=1e-12)


def test_g_within_borenstein_formulas():
    # Borenstein example 4.3: M 103/100, S_within 5.5 (both SDs), r 0.7, n 50
    r = es.hedges_g_within(103, 100, 5.5, 5.5, 50, 0.7)
    s_diff = np.sqrt(2 * 5.5**2 * (1 - 0.7))
    s_within = s_diff / np.sqrt(2 * (1 - 0.7))
    d = 3 / s_within
    j = 1 - 3 / (4 * 49 - 1)
    close(r.yi, j * d, rel=1e-12)
    close(r.vi, j**2 * (1 / 50 + d**2 / 100) * 2 * 0.3, rel=1e-12)
    # paired t and sd_diff give the same g
    t = 3 / (s_diff / np.sqrt(50))
    close(es.hedges_g_within(t=t, n=50, r=0.7).yi, r.yi, rel=1e-12)
    close(es.hedges_g_within(m1=103, m2=100, sd_diff=s_diff, n=50, r=0.7).yi, r.yi, rel=1e-12)
    close(es.hedges_g_within(d=d, n=50, r=0.7).vi, r.vi, rel=1e-12)


def test_vectorised_and_sign_convention():
    r = es.hedges_g_between([1.0, 2.0, 3.0], 2.0, 1.0, 1.0, 20, 20)
    assert r.yi.shape == (3,)
    assert r.yi[0] < 0 < r.yi[2]  # drug (group 1) lower -> negative
    df = r.to_frame()
    assert list(df.columns) == ["yi", "vi"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(m1=1, m2=0, sd1=-1, sd2=1, n1=10, n2=10), "sd1"),
        (dict(m1=[1, np.inf], m2=0, sd1=1, sd2=1, n1=10, n2=10), r"infinite value in row\(s\) 2"),
        (dict(f=4.0, n1=10, n2=10), "sign"),
        (dict(t=1.0, d=1.0, n1=10, n2=10), "exactly one"),
        (dict(g=0.2), "CI"),
    ],
)
def test_bad_input_one_line_errors(kwargs, match):
    with pytest.raises(MetaInputError, match=match) as exc:
        es.hedges_g_between(**kwargs)
    assert "\n" not in str(exc.value)


def test_missing_inputs_give_nan_rows_like_escalc():
    r = es.hedges_g_between([1.0, np.nan, 2.0], 0.0, [1.0, 1.0, None], 1.0, 10, 10)
    assert np.isfinite(r.yi[0]) and np.isnan(r.yi[1:]).all() and np.isnan(r.vi[1:]).all()
    d = REF["normand"]["data"]
    m1 = np.array(d["m1i"], float)
    m1[2] = np.nan
    r = es.smd(m1, d["m2i"], d["sd1i"], d["sd2i"], d["n1i"], d["n2i"])
    keep = np.arange(m1.size) != 2
    close(r.yi[keep], np.array(REF["normand"]["SMD_LS"]["yi"])[keep])
    assert np.isnan(r.yi[2]) and np.isnan(r.vi[2])
    w = es.smcc([1.0, 2.0], [0.5, None], 1.0, 1.0, [20, 20], 0.5)
    assert np.isfinite(w.yi[0]) and np.isnan(w.yi[1])
    assert np.isnan(es.hedges_g_between(f=[4.0, 4.0], sign=[1, np.nan], n1=10, n2=10).yi[1])


def test_within_needs_r():
    with pytest.raises(MetaInputError, match="'r'"):
        es.hedges_g_within(t=2.0, n=20)
