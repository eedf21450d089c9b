"""aggregate_estimates against metafor 3.8.1 aggregate.escalc (struct "CS") on dat.assink2016."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from meta.aggregate import aggregate_estimates
from meta.errors import MetaInputError

AGG = json.loads((Path(__file__).parent / "data" / "metafor_univariate.json").read_text())["aggregate"]
D = AGG["data"]


@pytest.mark.parametrize("key", [k for k in AGG if k != "data"])
def test_matches_metafor(key):
    ref = AGG[key]
    r = aggregate_estimates(D["yi"], D["vi"], D["study"], ref["rho"], weighted=ref["weighted"])
    assert list(r.cluster) == ref["cluster"]
    np.testing.assert_allclose(r.yi, ref["yi"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(r.vi, ref["vi"], rtol=1e-6, atol=1e-8)


def test_published_first_cluster():
    # metafor tests (test_misc_aggregate.r): aggregate(dat, cluster=study, rho=0.6): yi1 = 0.162877, vi1 = 0.019697
    r = aggregate_estimates(D["yi"], D["vi"], D["study"], 0.6)
    assert round(r.yi[0], 6) == 0.162877 and round(r.vi[0], 6) == 0.019697
    assert r.ki.sum() == len(D["yi"])


def test_matches_dense_gls_with_per_cluster_rho():
    rng = np.random.default_rng(1)
    y = rng.normal(size=12)
    v = rng.uniform(0.01, 0.2, 12)
    cl = np.array(list("aaabbbbcdddd"))
    rho = np.array([0.2, 0.5, 0.9, -0.1])
    r = aggregate_estimates(y, v, cl, rho)
    for j, c in enumerate(["a", "b", "c", "d"]):
        m = cl == c
        s = np.sqrt(v[m])
        R = np.full((m.sum(), m.sum()), rho[j])
        np.fill_diagonal(R, 1)
        W = np.linalg.inv(np.outer(s, s) * R)
        assert r.yi[j] == pytest.approx(W.sum(axis=0) @ y[m] / W.sum(), rel=1e-12)
        assert r.vi[j] == pytest.approx(1 / W.sum(), rel=1e-12)
    frame = r.to_frame()
    assert list(frame.columns) == ["cluster", "yi", "vi", "ki"]


def test_bad_input():
    with pytest.raises(MetaInputError, match="positive definite"):
        aggregate_estimates([0.1, 0.2], [0.01, 0.02], ["a", "a"], 1.0)
    with pytest.raises(MetaInputError, match=r"row\(s\) 2"):
        aggregate_estimates([0.1, 0.2], [0.01, 0.02], ["a", None], 0.5)
    with pytest.raises(MetaInputError, match="rho has 3 values"):
        aggregate_estimates([0.1, 0.2], [0.01, 0.02], ["a", "b"], [0.5, 0.5, 0.5])
