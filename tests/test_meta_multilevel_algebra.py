"""The O(k) nested-covariance algebra equals a dense k×k reference implementation to 1e-10."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meta.nested_covariance import NestedStructure


def dense_reference(M: np.ndarray, X: np.ndarray, y: np.ndarray, Zs: list[np.ndarray]):
    """Textbook dense formulas: ML/REML log-likelihoods (metafor's) and their analytic gradients."""
    k, p = X.shape
    W = np.linalg.inv(M)
    xtwx = X.T @ W @ X
    b = np.linalg.solve(xtwx, X.T @ W @ y)
    r = y - X @ b
    rss = r @ W @ r
    ld = np.linalg.slogdet(M)[1]
    ll_ml = -0.5 * k * np.log(2 * np.pi) - 0.5 * ld - 0.5 * rss
    ll_reml = (-0.5 * (k - p) * np.log(2 * np.pi) + 0.5 * np.linalg.slogdet(X.T @ X)[1] - 0.5 * ld
               - 0.5 * np.linalg.slogdet(xtwx)[1] - 0.5 * rss)
    P = W - W @ X @ np.linalg.solve(xtwx, X.T @ W)
    g_ml, g_reml = [], []
    for Z in Zs:
        D = Z @ Z.T
        g_ml.append(-0.5 * np.trace(W @ D) + 0.5 * r @ W @ D @ W @ r)
        g_reml.append(-0.5 * np.trace(P @ D) + 0.5 * y @ P @ D @ P @ y)
    return ll_ml, ll_reml, b, np.linalg.inv(xtwx), np.array(g_ml), np.array(g_reml), W


def indicator(codes: np.ndarray) -> np.ndarray:
    return (codes[:, None] == np.arange(codes.max() + 1)[None, :]).astype(float)


def random_problem(seed: int, k: int, n_levels: int, zero_mask: int):
    rng = np.random.default_rng(seed)
    ids = [rng.integers(0, 1 + rng.integers(1, 6), k) for _ in range(n_levels)]
    struct = NestedStructure.from_ids(ids)
    v = rng.uniform(0.005, 0.2, k)
    X = np.column_stack([np.ones(k), rng.normal(size=k), rng.integers(0, 2, k)])
    y = rng.normal(size=k)
    s2 = rng.uniform(0.0, 0.3, n_levels)
    s2[[(zero_mask >> j) & 1 == 1 for j in range(n_levels)]] = 0.0
    return struct, v, X, y, s2


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), k=st.integers(8, 60), n_levels=st.integers(1, 4), zero_mask=st.integers(0, 15))
def test_ok_algebra_equals_dense(seed, k, n_levels, zero_mask):
    struct, v, X, y, s2 = random_problem(seed, k, n_levels, zero_mask)
    if np.linalg.matrix_rank(X) < 3:
        return
    M = struct.dense_covariance(s2, v)
    Zs = [indicator(c) for c in struct.codes]
    ll_ml, ll_reml, b, vb, g_ml, g_reml, W = dense_reference(M, X, y, Zs)
    ev = struct.evaluate(s2, v, X, y)
    assert ev.ll_ml == pytest.approx(ll_ml, rel=1e-10, abs=1e-10)
    assert ev.ll_reml == pytest.approx(ll_reml, rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(ev.beta, b, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ev.vb, vb, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ev.gradient_ml, g_ml, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(ev.gradient_reml, g_reml, rtol=1e-10, atol=1e-8)
    U = np.column_stack([X, y])
    np.testing.assert_allclose(struct.solve(s2, v, U), W @ U, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(struct.diag_inverse(s2, v), np.diag(W), rtol=1e-10, atol=1e-10)
    assert struct.logdet(s2, v) == pytest.approx(np.linalg.slogdet(M)[1], rel=1e-10, abs=1e-10)


def test_sorted_and_unsorted_paths_agree():
    struct, v, X, y, s2 = random_problem(11, 80, 3, 0)
    order = struct.sort_order()
    sorted_struct = struct.permuted(order)
    assert sorted_struct.contiguous
    a = struct.evaluate(s2, v, X, y)
    b = sorted_struct.evaluate(s2, v[order], X[order], y[order])
    assert a.ll_reml == pytest.approx(b.ll_reml, rel=1e-12)
    np.testing.assert_allclose(a.gradient_reml, b.gradient_reml, rtol=1e-10)


def test_nesting_combines_outer_ids():
    """Inner ids reused across clusters are different groups (metafor's study/esid)."""
    struct = NestedStructure.from_ids([[1, 1, 2, 2], [1, 2, 1, 2]])
    assert struct.n_groups == (2, 4)


def test_average_information_equals_dense():
    struct, v, X, y, s2 = random_problem(5, 50, 3, 2)
    M = struct.dense_covariance(s2, v)
    W = np.linalg.inv(M)
    xtwx = X.T @ W @ X
    P = W - W @ X @ np.linalg.solve(xtwx, X.T @ W)
    Ds = [indicator(c) @ indicator(c).T for c in struct.codes]
    us = [D @ P @ y for D in Ds]
    ai_reml = 0.5 * np.array([[ul @ P @ um for um in us] for ul in us])
    ai_ml = 0.5 * np.array([[ul @ W @ um for um in us] for ul in us])
    ev = struct.evaluate(s2, v, X, y, average_information=True)
    np.testing.assert_allclose(ev.ai_reml, ai_reml, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ev.ai_ml, ai_ml, rtol=1e-10, atol=1e-10)
