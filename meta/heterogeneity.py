"""I² for univariate and multilevel random-effects models, and the fixed-effects Q statistic.

Notes
-----
Multilevel I² follows the formula on the metafor project page "tips:i2_multilevel_multivariate"
(Viechtbauer; also R-sig-meta-analysis, 2017-09-09), which generalises the univariate I² of
Higgins & Thompson (2002, *Stat Med* 21:1539–1558) as computed by ``rma.uni``:

* ``W = diag(1/vi)``, ``P = W − WX(X'WX)⁻¹X'W``,
* typical within-study variance ``ṽ = (k − p) / tr(P)``,
* ``I²_total = 100 Σσ² / (Σσ² + ṽ)`` and ``I²_l = 100 σ²_l / (Σσ² + ṽ)``.

``tr(P) = Σ w_i − tr((X'WX)⁻¹ X'W²X)`` is evaluated in O(k·p²) without forming ``P``.  With a single
component (``tau2``) this is exactly ``rma.uni``'s I².
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats


def typical_variance(vi: np.ndarray, X: np.ndarray | None = None) -> float:
    """``(k − p) / tr(P)`` with ``W = diag(1/vi)`` (metafor ``rma.uni``, multilevel I² page)."""
    vi = np.asarray(vi, dtype=float)
    k = vi.size
    if X is None:
        X = np.ones((k, 1))
    X = np.asarray(X, dtype=float)
    w = 1.0 / vi
    xtwx = X.T @ (X * w[:, None])
    xtw2x = X.T @ (X * (w * w)[:, None])
    tr_p = float(np.sum(w) - np.trace(np.linalg.solve(xtwx, xtw2x)))
    return (k - X.shape[1]) / tr_p


def i_squared(vi: np.ndarray, sigma2: Sequence[float] | float, X: np.ndarray | None = None) -> tuple[float, tuple[float, ...]]:
    """Return ``(I²_total, (I²_level, ...))`` in percent for variance components ``sigma2``.

    Parameters
    ----------
    vi : ndarray
        Sampling variances.
    sigma2 : float or sequence of float
        Variance components (one ``tau2`` for univariate models; outer → inner for multilevel models).
    X : ndarray, optional
        Model matrix (intercept only when omitted).
    """
    s = np.atleast_1d(np.asarray(sigma2, dtype=float))
    typ = typical_variance(vi, X)
    denom = float(np.sum(s)) + typ
    total = 100.0 * float(np.sum(s)) / denom
    return total, tuple(float(100.0 * x / denom) for x in s)


def fixed_effects_q(yi: np.ndarray, vi: np.ndarray, X: np.ndarray | None = None) -> tuple[float, int, float]:
    """Generalised Cochran's Q from the fixed-effects fit with ``W = diag(1/vi)``: ``(QE, k−p, p-value)``.

    Notes
    -----
    metafor ``rma.mv``/``rma.uni``: ``QE = Σ w_i (y_i − x_i b_FE)²`` referred to χ²(k − p).
    """
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    k = yi.size
    if X is None:
        X = np.ones((k, 1))
    w = 1.0 / vi
    xtwx = X.T @ (X * w[:, None])
    b = np.linalg.solve(xtwx, X.T @ (w * yi))
    r = yi - X @ b
    qe = float(np.sum(w * r * r))
    df = k - X.shape[1]
    p = float(stats.chi2.sf(qe, df)) if df > 0 else 1.0
    return qe, df, p
