"""Rendering and structure of the meta-analysis figures in :mod:`meta.plots`.

Each plot is drawn for a univariate and a multilevel result, saved as PNG and SVG, and checked for the
elements it must contain (found through the artists' ``gid``).
"""

from __future__ import annotations

import os
import numpy as np
import pytest

from meta.errors import MetaInputError
from meta.multilevel import fit_multilevel
from meta.small_study import trim_and_fill
from meta.univariate import fit_random_effects
from meta.plots import (
    bubble_plot,
    contour_funnel_plot,
    forest_plot,
    funnel_plot,
    save_figure,
    trimfill_funnel_plot,
)

# ---------------------------------------------------------------------------------------------------
# Real fits: rma.uni (REML, FE) and three-level rma.mv (study / outcome)
# ---------------------------------------------------------------------------------------------------


def _fit(yi, vi, X=None, names=None, multilevel=False, method="REML"):
    if multilevel:
        return fit_multilevel(yi, vi, {"study": STUDY, "esid": np.arange(yi.size)}, X, names=names, method=method)
    return fit_random_effects(yi, vi, X, names=names, method=method)


def _total_variance(res):
    return sum(res.sigma2) if hasattr(res, "sigma2") else res.tau2


RNG = np.random.default_rng(2)
K = 14
STUDY = np.repeat(np.arange(1, 7), [3, 2, 3, 2, 2, 2])
VI = RNG.uniform(0.01, 0.2, K)
MOD = RNG.uniform(0, 10, K)
YI = -0.2 + 0.03 * MOD + RNG.normal(0, np.sqrt(VI + 0.05))


@pytest.fixture(params=["univariate", "multilevel"])
def intercept_only(request):
    return _fit(YI, VI, multilevel=request.param == "multilevel")


@pytest.fixture(params=["univariate", "multilevel"])
def with_moderator(request):
    X = np.column_stack([np.ones(K), MOD])
    return _fit(YI, VI, X, ["intrcpt", "mod"], multilevel=request.param == "multilevel")


def _axes():
    from matplotlib.figure import Figure

    return Figure(figsize=(6, 5)).add_subplot()


def _gid(ax, gid):
    return [a for a in ax.findobj() if a.get_gid() == gid]


def _save_both(ax, tmp_path, stem):
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml")):
        out = save_figure(ax.figure, tmp_path / f"{stem}{suffix}")
        data = out.read_bytes()
        assert data.startswith(magic), suffix
        mask = os.umask(0)
        os.umask(mask)
        assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # usual permissions, not mkstemp's 0600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


# ---------------------------------------------------------------------------------------------------
# forest
# ---------------------------------------------------------------------------------------------------


def test_forest_plot_elements(intercept_only, tmp_path):
    ax = _axes()
    labels = [f"outcome {i}" for i in range(K)]
    out = forest_plot(intercept_only, labels=labels, groups=[f"Study {s}" for s in STUDY], aggregate=True,
                      extra_columns={"MOR contrast": list(np.linspace(0.1, 0.9, K))}, ax=ax)
    assert out is ax
    cis = _gid(ax, "forest-ci")
    assert len(cis) == K
    # each CI line spans yi ± 1.96·sqrt(vi), in data order of appearance per study
    spans = sorted(tuple(np.round(line.get_xdata(), 9)) for line in cis)
    expected = sorted(tuple(np.round([y - 1.959964 * np.sqrt(v), y + 1.959964 * np.sqrt(v)], 5))
                      for y, v in zip(YI, VI))
    assert np.allclose(np.array(spans), np.array(expected), atol=1e-5)
    diamond = _gid(ax, "pooled-diamond")
    assert len(diamond) == 1
    xy = diamond[0].get_xy()
    c = intercept_only.coefficients[0]
    assert xy[:, 0].min() == pytest.approx(c.ci_lb) and xy[:, 0].max() == pytest.approx(c.ci_ub)
    pi = _gid(ax, "prediction-interval")
    assert len(pi) == 1 and np.allclose(pi[0].get_xdata(), intercept_only.pred_interval)
    assert len(_gid(ax, "group-header")) == 6
    assert len(_gid(ax, "study-aggregate")) == 6  # every study has ≥ 2 outcomes
    assert len(_gid(ax, "null-line")) == 1
    texts = [t.get_text() for t in ax.texts]
    lb0, ub0 = YI[0] - 1.959964 * np.sqrt(VI[0]), YI[0] + 1.959964 * np.sqrt(VI[0])
    assert f"{YI[0]: .2f} [{lb0: .2f}, {ub0: .2f}]" in texts
    assert "MOR contrast" in texts and " 0.10" in texts and "outcome 13" in " ".join(texts)
    # squares sized by weight: the largest weight gets the largest square
    pts = _gid(ax, "forest-point")[0]
    sizes = pts.get_sizes()
    w = intercept_only.weights()
    by_x = np.argsort(pts.get_offsets()[:, 0])  # match points to outcomes through their x (= yi)
    assert np.allclose(pts.get_offsets()[by_x, 0], np.sort(YI))
    w_sorted = np.asarray(w)[np.argsort(YI)]
    assert np.argmax(sizes[by_x]) == np.argmax(w_sorted)
    _save_both(ax, tmp_path, "forest")


def test_forest_square_sizes_follow_weights(intercept_only):
    ax = forest_plot(intercept_only)  # no groups: rows in data order, top to bottom
    pts = _gid(ax, "forest-point")[0]
    rows = np.argsort(-pts.get_offsets()[:, 1])
    assert np.allclose(pts.get_offsets()[rows, 0], YI)
    sizes = pts.get_sizes()[rows]
    w = np.asarray(intercept_only.weights())
    assert np.all(np.diff(sizes[np.argsort(w)]) >= -1e-12)


def test_forest_study_aggregate_is_cs_weighted_mean(intercept_only):
    ax = forest_plot(intercept_only, groups=STUDY, aggregate=True, rho=0.0)
    aggs = _gid(ax, "study-aggregate")
    centres = sorted(p.get_xy()[1, 0] for p in aggs)  # top vertex x = aggregate estimate
    expected = sorted(np.average(YI[STUDY == s], weights=1 / VI[STUDY == s]) for s in np.unique(STUDY))
    assert np.allclose(centres, expected)


def test_forest_with_moderators_draws_fitted_values_not_a_diamond(with_moderator, tmp_path):
    ax = forest_plot(with_moderator, ax=_axes())
    assert len(_gid(ax, "forest-ci")) == K
    assert not _gid(ax, "pooled-diamond")
    assert len(_gid(ax, "fitted-value")) == K
    _save_both(ax, tmp_path, "forest-mods")


def test_forest_fixed_effect_has_diamond_but_no_prediction_interval():
    fe = _fit(YI, VI, method="FE")
    ax = forest_plot(fe)
    assert len(_gid(ax, "pooled-diamond")) == 1 and not _gid(ax, "prediction-interval")
    assert "FE model" in [t.get_text() for t in ax.texts]


def test_forest_weight_column(intercept_only):
    ax = forest_plot(intercept_only, show_weights=True, extra_columns={"MOR contrast": ["a"] * K})
    texts = [t.get_text() for t in ax.texts]
    w = np.asarray(intercept_only.weights())
    assert "Weight" in texts and f"{w[0]:5.1f}%" in texts and "a" in texts
    header_x = {t.get_text(): t.get_position()[0] for t in ax.texts if t.get_text() in ("Weight", "MOR contrast")}
    assert header_x["Weight"] < header_x["MOR contrast"]


def test_forest_rejects_mismatched_lengths(intercept_only):
    with pytest.raises(MetaInputError, match="labels"):
        forest_plot(intercept_only, labels=["a"])
    with pytest.raises(MetaInputError, match="MOR contrast"):
        forest_plot(intercept_only, extra_columns={"MOR contrast": [1, 2]})
    with pytest.raises(MetaInputError, match="groups"):
        forest_plot(intercept_only, aggregate=True)


# ---------------------------------------------------------------------------------------------------
# funnels
# ---------------------------------------------------------------------------------------------------


def test_funnel_plot_intercept_only(intercept_only, tmp_path):
    ax = _axes()
    assert funnel_plot(intercept_only, ax=ax) is ax
    assert ax.yaxis_inverted()
    assert ax.get_ylim()[1] == 0.0
    pts = _gid(ax, "funnel-points")[0].get_offsets()
    assert np.allclose(pts[:, 0], YI) and np.allclose(pts[:, 1], np.sqrt(VI))
    ref = _gid(ax, "refline")[0]
    assert np.allclose(ref.get_xdata(), intercept_only.coefficients[0].estimate)
    region = _gid(ax, "pseudo-ci")
    assert len(region) == 1
    verts = region[0].get_paths()[0].vertices
    se_top = verts[:, 1].max()
    width = verts[np.isclose(verts[:, 1], se_top), 0]
    assert width.max() - width.min() == pytest.approx(2 * 1.959964 * se_top, rel=1e-5)
    _save_both(ax, tmp_path, "funnel")


def test_funnel_plot_with_moderators_uses_residuals(with_moderator):
    ax = funnel_plot(with_moderator)
    pts = _gid(ax, "funnel-points")[0].get_offsets()
    X, b, vb = with_moderator.X, with_moderator.beta, with_moderator.vb
    total = _total_variance(with_moderator)
    assert np.allclose(pts[:, 0], YI - X @ b)
    assert np.allclose(pts[:, 1], np.sqrt(VI + total - np.einsum("ij,jk,ik->i", X, vb, X)))
    assert np.allclose(_gid(ax, "refline")[0].get_xdata(), 0.0)
    assert ax.get_xlabel() == "Residual value"


def test_contour_funnel_three_regions(intercept_only, tmp_path):
    ax = _axes()
    assert contour_funnel_plot(intercept_only, ax=ax) is ax
    regions = _gid(ax, "contour-region")
    assert len(regions) == 3
    assert ax.yaxis_inverted()
    widths = sorted(np.ptp(r.get_paths()[0].vertices[:, 0]) for r in regions)
    se_top = max(r.get_paths()[0].vertices[:, 1].max() for r in regions)
    for width, z in zip(widths, (1.644854, 1.959964, 2.575829)):
        assert width == pytest.approx(2 * z * se_top, rel=1e-5)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["0.10 < p ≤ 1.00", "0.05 < p ≤ 0.10", "0.01 < p ≤ 0.05", "p ≤ 0.01"]
    assert np.allclose(_gid(ax, "refline")[0].get_xdata(), 0.0)
    _save_both(ax, tmp_path, "contour")


def test_contour_funnel_from_arrays_and_bad_levels():
    ax = contour_funnel_plot(yi=YI, vi=VI, levels=(95, 99), shades=("white", "0.6"))
    assert len(_gid(ax, "contour-region")) == 2
    with pytest.raises(MetaInputError):
        contour_funnel_plot(yi=YI, vi=VI, levels=(95, 120))
    with pytest.raises(MetaInputError):
        contour_funnel_plot()


@pytest.mark.parametrize("estimator, method", [("L0", "REML"), ("R0", "FE")])
def test_trimfill_funnel_filled_points_hollow(tmp_path, estimator, method):
    # small-study effect: imprecise estimates are larger, so studies are missing on the left
    rng = np.random.default_rng(3)
    vi = rng.uniform(0.01, 0.25, 15)
    yi = 0.2 + 1.5 * np.sqrt(vi) + rng.normal(0, 0.1, 15)
    tf = trim_and_fill(yi, vi, estimator=estimator, method=method)
    assert tf.k0 > 0 and tf.side == "left"
    ax = _axes()
    assert trimfill_funnel_plot(tf, ax=ax) is ax
    obs = _gid(ax, "observed-points")[0]
    filled = _gid(ax, "filled-points")[0]
    assert np.allclose(obs.get_offsets(), np.column_stack([yi, np.sqrt(vi)]))
    assert np.allclose(filled.get_offsets(), np.column_stack([tf.yi_filled, np.sqrt(tf.vi_filled)]))
    assert len(filled.get_offsets()) == tf.k0
    assert np.allclose(filled.get_facecolor()[:, :3], 1.0)  # hollow (white)
    assert np.allclose(filled.get_edgecolor()[:, :3], 0.0)
    assert np.allclose(obs.get_facecolor()[:, :3], 0.0)  # filled (black)
    assert np.allclose(_gid(ax, "refline")[0].get_xdata(), tf.estimate)
    assert ax.yaxis_inverted()
    assert f"filled (k0 = {tf.k0})" in [t.get_text() for t in ax.get_legend().get_texts()]
    _save_both(ax, tmp_path, "trimfill")


def test_trimfill_funnel_without_filled_values():
    tf = trim_and_fill(YI, VI)
    ax = trimfill_funnel_plot(tf)
    assert len(_gid(ax, "filled-points")[0].get_offsets()) == tf.k0


# ---------------------------------------------------------------------------------------------------
# bubble
# ---------------------------------------------------------------------------------------------------


def test_bubble_plot_line_band_and_sizes(with_moderator, tmp_path):
    ax = _axes()
    assert bubble_plot(with_moderator, "mod", ax=ax) is ax
    pts = _gid(ax, "bubble-points")[0]
    assert np.allclose(pts.get_offsets()[:, 0], MOD) and np.allclose(pts.get_offsets()[:, 1], YI)
    w = np.asarray(with_moderator.weights())
    sizes = pts.get_sizes()
    assert np.all(np.diff(sizes[np.argsort(w)]) >= -1e-12) and sizes.max() > sizes.min()
    line = _gid(ax, "fitted-line")[0]
    b = with_moderator.beta
    assert np.allclose(line.get_ydata(), b[0] + b[1] * line.get_xdata())
    band = _gid(ax, "fitted-ci")[0].get_paths()[0].vertices
    x_mid = line.get_xdata()[100]
    at = band[np.isclose(band[:, 0], x_mid)]
    x0 = np.array([1.0, x_mid])
    half = 1.959964 * np.sqrt(x0 @ with_moderator.vb @ x0)
    assert np.ptp(at[:, 1]) == pytest.approx(2 * half, rel=1e-5)
    assert ax.get_xlabel() == "mod"
    _save_both(ax, tmp_path, "bubble")


def test_bubble_plot_other_moderators_held_at_mean_or_zero():
    X = np.column_stack([np.ones(K), MOD, (STUDY % 2).astype(float)])
    res = _fit(YI, VI, X, ["intrcpt", "mod", "group"])
    b = res.beta
    line = _gid(bubble_plot(res, "mod"), "fitted-line")[0]
    assert np.allclose(line.get_ydata(), b[0] + b[1] * line.get_xdata() + b[2] * X[:, 2].mean())
    line0 = _gid(bubble_plot(res, 1, others="zero"), "fitted-line")[0]
    assert np.allclose(line0.get_ydata(), b[0] + b[1] * line0.get_xdata())


def test_bubble_plot_rejects_intercept_and_unknown():
    X = np.column_stack([np.ones(K), MOD])
    res = _fit(YI, VI, X, ["intrcpt", "mod"])
    with pytest.raises(MetaInputError, match="not a model column"):
        bubble_plot(res, "nope")
    with pytest.raises(MetaInputError, match="constant"):
        bubble_plot(res, "intrcpt")


# ---------------------------------------------------------------------------------------------------
# saving
# ---------------------------------------------------------------------------------------------------


def test_save_figure_formats_and_bad_suffix(intercept_only, tmp_path):
    ax = funnel_plot(intercept_only)
    assert save_figure(ax, tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")
    assert save_figure(ax.figure, tmp_path / "sub" / "F.SVG").read_bytes().startswith(b"<?xml")
    with pytest.raises(MetaInputError, match="suffix"):
        save_figure(ax.figure, tmp_path / "f.jpg")
    assert not (tmp_path / "f.jpg").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "sub"]


def test_importing_meta_plots_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, meta.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
