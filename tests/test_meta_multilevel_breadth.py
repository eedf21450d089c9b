"""Multilevel breadth (issue 13) against metafor 3.8.1: cluster order of influence output, missing values.

Reference values: tests/r/metafor_multilevel_breadth.R → tests/data/metafor_multilevel_breadth.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from meta.errors import MetaInputError, OmittedRowsWarning
from meta.diagnostics import cooks_distance, influence, rstudent
from meta.multilevel import fit_multilevel

REF = json.loads((Path(__file__).parent / "data" / "metafor_multilevel_breadth.json").read_text())


def close(a, b, rtol=1e-6, atol=1e-8):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def scrambled():
    ref = REF["cluster_order"]
    data = pd.DataFrame(ref["data"])
    return data, fit_multilevel("yi", "vi", ["study", "esid"], data=data)


def test_clusters_are_sorted_and_labelled_by_id(scrambled):
    """cooks.distance(fit, cluster = study) orders its output by study id, not by first appearance."""
    ref = REF["cluster_order"]
    data, fit = scrambled
    assert ref["first_appearance"] != ref["ids"] and ref["metafor_names"] == ref["ids"]
    for cluster in ("study", data["study"].to_numpy()):
        inf = influence(fit, cluster=cluster)
        assert list(inf.labels) == ref["ids"]
        close(inf.cooks, ref["cooks"], atol=1e-9)
        close(inf.rstudent.X2, ref["X2"])
        close(inf.rstudent.cluster_k, ref["k"], rtol=0)
        assert list(inf.rstudent.cluster_labels) == ref["ids"]
        # per-outcome deleted residuals stay in data order
        close(inf.rstudent.resid, ref["resid"])
        close(inf.rstudent.se, ref["se"])
        close(inf.rstudent.z, ref["z"])
    # metafor's own cooks.distance() output (default-control refits), in the same order
    close(cooks_distance(fit, cluster="study"), ref["metafor_cooks"], rtol=1e-3, atol=1e-7)


def test_string_ids_sort_as_strings(scrambled):
    data, fit = scrambled
    ids = np.array([f"s{int(s):02d}" for s in data["study"]])
    rs = rstudent(fit, cluster=ids)
    assert list(rs.cluster_labels) == sorted(set(ids))
    close(rs.X2, REF["cluster_order"]["X2"])


def test_missing_values_are_omitted_as_rma_mv():
    ref = REF["na"]
    data = pd.DataFrame(ref["data"])
    with pytest.warns(OmittedRowsWarning) as rec:
        fit = fit_multilevel("yi", "vi", ["study", "esid"], mods="~ deltype + year", data=data)
    assert len(rec) == 1
    msg = str(rec[0].message)
    assert "row(s) 5, 17, 40, 88" in msg and "'deltype' row(s) 17" in msg and "'vi' row(s) 88" in msg
    keep = np.array(ref["not_na"])
    assert fit.omitted_rows == tuple(int(i) + 1 for i in np.flatnonzero(~keep)) and fit.k == ref["k"]
    close(fit.sigma2, ref["sigma2"])
    close(fit.beta, ref["beta"])
    close([c.se for c in fit.coefficients], ref["se"])
    close([fit.QE, fit.QM, fit.logLik], [ref["QE"], ref["QM"], ref["logLik"]])
    assert fit.to_dict()["omitted_rows"] == [5, 17, 40, 88] and "omitted" in fit.summary()
    with pytest.raises(MetaInputError, match=r"missing values \(na='fail'\): 'yi' row\(s\) 5; 'vi' row\(s\) 88;") as exc:
        fit_multilevel("yi", "vi", ["study", "esid"], mods="~ deltype + year", data=data, na="fail")
    assert "\n" not in str(exc.value)


def test_missing_level_id_is_an_error_as_in_rma_mv():
    ref = REF["na"]
    data = pd.DataFrame(ref["data"]).assign(study=lambda d: d["study"].astype(float))
    data.loc[9, "study"] = np.nan
    with pytest.raises(MetaInputError, match=r"level column 'study': missing id in row\(s\) 10"):
        fit_multilevel("yi", "vi", ["study", "esid"], data=data)


def test_robust_and_influence_accept_ids_of_the_input_rows():
    """With omitted rows, cluster ids may be given for every input row (metafor subsets them by not.na)."""
    from meta.cluster_robust import robust

    ref = REF["na"]
    data = pd.DataFrame(ref["data"])
    with pytest.warns(OmittedRowsWarning):
        fit = fit_multilevel("yi", "vi", ["study", "esid"], mods="~ deltype + year", data=data)
    keep = np.array(ref["not_na"])
    a = robust(fit, data["study"].to_numpy())
    b = robust(fit, data["study"].to_numpy()[keep])
    close(a.vb, b.vb, rtol=1e-14)
    with pytest.raises(MetaInputError, match="ids for 96 estimates"):
        robust(fit, data["study"].to_numpy()[:50])
    close(influence(fit, cluster=data["study"].to_numpy()).cooks,
          influence(fit, cluster=data["study"].to_numpy()[keep]).cooks, rtol=1e-14)
