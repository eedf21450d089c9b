"""Effect sizes of metafor's ``escalc``: OR, RR, RD, COR, ZCOR, MD, ROM, PR, PLO, IRR (and SMD, SMCC, SMCR).

Each measure is a vectorised function with escalc's argument names and defaults, returning
:class:`meta.effect_sizes.EffectSizes`; :func:`escalc` dispatches on the measure code.  Rows with a missing
input (NaN/None) get NaN ``yi``/``vi``, as escalc returns NA, so a table with incomplete rows can be passed
through and the model-fitting functions' ``na="omit"`` drops those rows later.

Notes
-----
Formulas and defaults are metafor 3.8 ``escalc`` (Viechtbauer 2010, *J Stat Softw* 36(3); ``R/escalc.r``):

* *2×2 tables* (``ai, bi, ci, di``, or ``ai, n1i, ci, n2i`` with ``bi = n1i − ai``, ``di = n2i − ci``):
  zero cells get ``add = 1/2`` according to ``to`` — ``"only0"`` (default: rows with a zero cell),
  ``"all"``, ``"if0all"`` (every row, if any row has a zero cell) or ``"none"``; ``drop00 = True`` makes rows
  with no events (or only events) in both groups NA.  With ``p_j`` the (adjusted) proportions:
  OR ``log(p₁/(1−p₁)) − log(p₂/(1−p₂))``, ``vi = 1/a + 1/b + 1/c + 1/d``;
  RR ``log p₁ − log p₂``, ``vi = 1/a − 1/n₁ + 1/c − 1/n₂``;
  RD ``p₁ − p₂``, ``vi = p₁(1−p₁)/n₁ + p₂(1−p₂)/n₂`` (``"LS"``; ``"UB"`` divides by ``n − 1``, ``"AV"`` uses
  the sample-size-weighted mean proportions).  Note that escalc adds ``add`` for RD as well.
* *Correlations* (``ri, ni``): COR ``yi = r``, ``vi = (1 − r²)²/(n − 1)`` (``"AV"``: with the weighted mean
  ``r``); ZCOR ``yi = atanh r``, ``vi = 1/(n − 3)``; ``vi`` is NA for ``n ≤ 3``.
* *Means* (``m1i, sd1i, n1i, m2i, sd2i, n2i``): MD ``yi = m₁ − m₂``, ``vi = sd₁²/n₁ + sd₂²/n₂`` (escalc's
  default ``vtype = "LS"`` is this heteroscedastic form; ``"HO"`` uses the pooled SD); ROM
  ``yi = log(m₁/m₂)``, ``vi = sd₁²/(n₁m₁²) + sd₂²/(n₂m₂²)`` (``"HO"``, ``"AV"``, ``"AVHO"`` as escalc).
* *Proportions* (``xi`` with ``ni`` or ``mi = ni − xi``): zero cells (``xi = 0`` or ``mi = 0``) get ``add``;
  PR ``yi = p``, ``vi = p(1−p)/n`` (``"UB"``: ``/(n − 1)``; ``"AV"``); PLO ``yi = log(p/(1−p))``,
  ``vi = 1/x + 1/m`` (``"AV"``).
* *Incidence rates* (``x1i, t1i, x2i, t2i``): IRR ``yi = log(x₁/t₁) − log(x₂/t₂)``, ``vi = 1/x₁ + 1/x₂``,
  with ``add`` for zero counts.

As escalc, ``±Inf`` results become NaN (with one warning), a NaN produced by a formula (e.g. the log of a
negative mean) makes both ``yi`` and ``vi`` NaN, and a negative ``vi`` is set to NaN; a missing input only
makes the quantities that depend on it NaN (escalc's ``NA``: an MD row without ``m1i`` keeps its ``vi``).
Impossible inputs (negative counts, more events than participants, ``|r| > 1``, negative SDs, sizes ≤ 0,
``ni ≠ xi + mi``) raise a one-line :class:`~meta.errors.MetaInputError` naming the argument and rows.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from meta.effect_sizes import EffectSizes, smcc, smcr, smd
from meta.errors import MetaInputError
from meta.validation import format_rows

__all__ = [
    "MEASURES", "escalc", "odds_ratio", "risk_ratio", "risk_difference", "correlation", "fisher_z",
    "mean_difference", "ratio_of_means", "proportion", "logit_proportion", "incidence_rate_ratio",
]

#: measure codes accepted by :func:`escalc`
MEASURES = ("OR", "RR", "RD", "COR", "ZCOR", "MD", "ROM", "PR", "PLO", "IRR", "SMD", "SMCC", "SMCR")
_TO = ("only0", "all", "if0all", "none")


# ---------------------------------------------------------------------------------------------- helpers
def _arr(x, name: str) -> np.ndarray | None:
    if x is None:
        return None
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise MetaInputError(f"argument {name!r}: non-numeric values") from None
    a = np.atleast_1d(a)
    if a.ndim != 1:
        raise MetaInputError(f"argument {name!r}: give a 1-D sequence of values")
    inf = np.isinf(a)
    if inf.any():
        raise MetaInputError(f"argument {name!r}: infinite value in row(s) {format_rows(inf)}")
    return a


def _bcast(**arrays) -> dict[str, np.ndarray]:
    present = {k: v for k, v in arrays.items() if v is not None}
    try:
        shaped = np.broadcast_arrays(*present.values())
    except ValueError:
        lens = ", ".join(f"{k}={v.size}" for k, v in present.items())
        raise MetaInputError(f"inputs have incompatible lengths ({lens})") from None
    return {k: np.array(s, dtype=float) for k, s in zip(present, shaped)}


def _need(measure: str, **arrays) -> None:
    missing = [k for k, v in arrays.items() if v is None]
    if missing:
        raise MetaInputError(f"{measure} needs the argument(s) {', '.join(missing)}")


def _bad(name: str, mask: np.ndarray, what: str) -> None:
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        raise MetaInputError(f"argument {name!r}: {what}; row(s) {format_rows(mask)}")


def _check_add(add: float, to: str) -> None:
    if to not in _TO:
        raise MetaInputError(f"to must be one of {', '.join(_TO)} (got {to!r})")
    if not np.isfinite(add) or add < 0:
        raise MetaInputError(f"add must be a finite number >= 0 (got {add!r})")


def _vtype(measure: str, vtype: str, allowed: tuple[str, ...]) -> None:
    if vtype not in allowed:
        raise MetaInputError(f"vtype must be one of {', '.join(allowed)} for {measure} (got {vtype!r})")


def _adjust(cells: list[np.ndarray], zero_cells: list[np.ndarray], add: float, to: str) -> list[np.ndarray]:
    """escalc's continuity correction: add ``add`` to ``cells`` of rows (or all rows) with a zero cell."""
    if to == "none" or add == 0:
        return cells
    if to == "all":
        return [c + add for c in cells]
    with np.errstate(invalid="ignore"):
        id0 = np.zeros(cells[0].shape, dtype=bool)
        for z in zero_cells:
            id0 |= z == 0  # NaN compares False, as escalc's id0[is.na(id0)] <- FALSE
    if to == "only0":
        return [np.where(id0, c + add, c) for c in cells]
    return [c + add for c in cells] if id0.any() else cells  # if0all


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    ok = ~(np.isnan(x) | np.isnan(w))
    return float(np.sum(x[ok] * w[ok]) / np.sum(w[ok]))


def _missing(*arrays) -> np.ndarray:
    """Rows with a missing (NaN) input among ``arrays`` (broadcast)."""
    present = [np.asarray(x, float) for x in arrays if x is not None]
    out = np.zeros(np.broadcast_shapes(*(x.shape for x in present)), dtype=bool)
    for x in present:
        out = out | np.isnan(x)
    return out


def _finish(yi: np.ndarray, vi: np.ndarray, measure: str, missing: np.ndarray) -> EffectSizes:
    """escalc's last step: ±Inf → NaN (one warning), a NaN produced by the formulas makes both NaN, ``vi < 0`` → NaN.

    ``missing`` marks rows whose NaNs come from missing inputs (R's ``NA``, which escalc leaves unpaired: a
    row with a missing ``m1i`` has no MD but still its ``vi``); NaNs in other rows are R's ``NaN`` (e.g. the log
    of a negative mean), which escalc turns into NA for both ``yi`` and ``vi``.
    """
    yi = np.array(np.broadcast_to(yi, missing.shape), dtype=float)
    vi = np.array(np.broadcast_to(vi, missing.shape), dtype=float)
    inf = np.isinf(yi) | np.isinf(vi)
    if inf.any():
        warnings.warn(f"{measure}: yi and/or vi equal to +-Inf in row(s) {format_rows(inf)}; set to NaN "
                      "(as escalc recodes them to NA)", RuntimeWarning, stacklevel=3)
        yi[inf] = np.nan
        vi[inf] = np.nan
    nan = (np.isnan(yi) | np.isnan(vi)) & ~missing & ~inf
    yi[nan] = np.nan
    vi[nan] = np.nan
    with np.errstate(invalid="ignore"):
        vi[vi < 0] = np.nan
    return EffectSizes(yi, vi, measure)


# ---------------------------------------------------------------------------------------------- 2×2 tables
def _table(measure, ai, bi, ci, di, n1i, n2i):
    a, b, c, d = _arr(ai, "ai"), _arr(bi, "bi"), _arr(ci, "ci"), _arr(di, "di")
    n1, n2 = _arr(n1i, "n1i"), _arr(n2i, "n2i")
    if a is None or c is None or (b is None and n1 is None) or (d is None and n2 is None):
        raise MetaInputError(f"{measure} needs ai, ci and either bi, di (cell counts) or n1i, n2i (group sizes)")
    arrs = _bcast(a=a, b=b, c=c, d=d, n1=n1, n2=n2)
    a, c = arrs["a"], arrs["c"]
    with np.errstate(invalid="ignore"):
        if "b" in arrs and "n1" in arrs:
            _bad("n1i", arrs["n1"] != a + arrs["b"], "n1i is not equal to ai + bi")
        if "d" in arrs and "n2" in arrs:
            _bad("n2i", arrs["n2"] != c + arrs["d"], "n2i is not equal to ci + di")
        b = arrs["b"] if "b" in arrs else arrs["n1"] - a
        d = arrs["d"] if "d" in arrs else arrs["n2"] - c
        for name, x in (("ai", a), ("ci", c)):
            _bad(name, x < 0, "counts must be >= 0")
        _bad("bi" if "b" in arrs else "n1i", b < 0, "more events than participants" if "n1" in arrs
             else "counts must be >= 0")
        _bad("di" if "d" in arrs else "n2i", d < 0, "more events than participants" if "n2" in arrs
             else "counts must be >= 0")
    return a, b, c, d


def _two_by_two(measure, ai, bi, ci, di, n1i, n2i, add, to, drop00, vtype) -> EffectSizes:
    _check_add(add, to)
    a, b, c, d = _table(measure, ai, bi, ci, di, n1i, n2i)
    missing = _missing(a, b, c, d)
    if drop00:
        with np.errstate(invalid="ignore"):
            id00 = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
        a, b, c, d = (np.where(id00, np.nan, x) for x in (a, b, c, d))
        missing = missing | id00  # escalc sets the cells of these rows to NA
    a, b, c, d = _adjust([a, b, c, d], [a, b, c, d], add, to)
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = a / n1, c / n2
        if measure == "OR":
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
        else:  # RD
            yi = p1 - p2
            if vtype == "LS":
                vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
            elif vtype == "UB":
                vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
            else:  # AV
                m1, m2 = _wmean(p1, n1), _wmean(p2, n2)
                vi = m1 * (1 - m1) / n1 + m2 * (1 - m2) / n2
    return _finish(yi, vi, measure, missing)


def odds_ratio(ai=None, bi=None, ci=None, di=None, *, n1i=None, n2i=None, add: float = 0.5, to: str = "only0",
               drop00: bool = False) -> EffectSizes:
    """Log odds ratio of a 2×2 table (escalc ``measure="OR"``); group 1 events ``ai`` of ``n1i``, group 2 ``ci`` of ``n2i``.

    See the module docstring for the zero-cell correction (``add``, ``to``, ``drop00``).
    """
    return _two_by_two("OR", ai, bi, ci, di, n1i, n2i, add, to, drop00, "LS")


def risk_ratio(ai=None, bi=None, ci=None, di=None, *, n1i=None, n2i=None, add: float = 0.5, to: str = "only0",
               drop00: bool = False) -> EffectSizes:
    """Log risk ratio of a 2×2 table (escalc ``measure="RR"``)."""
    return _two_by_two("RR", ai, bi, ci, di, n1i, n2i, add, to, drop00, "LS")


def risk_difference(ai=None, bi=None, ci=None, di=None, *, n1i=None, n2i=None, add: float = 0.5,
                    to: str = "only0", drop00: bool = False, vtype: str = "LS") -> EffectSizes:
    """Risk difference of a 2×2 table (escalc ``measure="RD"``; ``vtype`` "LS" (default), "UB" or "AV")."""
    _vtype("RD", vtype, ("LS", "UB", "AV"))
    return _two_by_two("RD", ai, bi, ci, di, n1i, n2i, add, to, drop00, vtype)


# ---------------------------------------------------------------------------------------------- correlations
def _cor_inputs(measure, ri, ni):
    _need(measure, ri=ri, ni=ni)
    arrs = _bcast(r=_arr(ri, "ri"), n=_arr(ni, "ni"))
    r, n = arrs["r"], arrs["n"]
    with np.errstate(invalid="ignore"):
        _bad("ri", np.abs(r) > 1, "correlations must lie in [-1, 1]")
        _bad("ni", n <= 0, "sample sizes must be > 0")
    return r, n


def correlation(ri=None, ni=None, *, vtype: str = "LS") -> EffectSizes:
    """Raw correlation coefficient (escalc ``measure="COR"``; ``vtype`` "LS" (default) or "AV"); ``vi`` NaN for ``ni ≤ 3``."""
    _vtype("COR", vtype, ("LS", "AV"))
    r, n = _cor_inputs("COR", ri, ni)
    with np.errstate(divide="ignore", invalid="ignore"):
        base = r if vtype == "LS" else np.full_like(r, _wmean(r, n))
        vi = (1 - base**2) ** 2 / (n - 1)
        small = n <= 3
        vi = np.where(small, np.nan, vi)  # escalc: vi[ni <= 3] <- NA (yi kept)
    return _finish(r.copy(), vi, "COR", _missing(r, n) | small)


def fisher_z(ri=None, ni=None) -> EffectSizes:
    """Fisher's r-to-z transformed correlation (escalc ``measure="ZCOR"``): ``atanh r``, ``1/(n − 3)``; ``vi`` NaN for ``ni ≤ 3``."""
    r, n = _cor_inputs("ZCOR", ri, ni)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = 0.5 * np.log((1 + r) / (1 - r))
        small = n <= 3
        vi = np.where(small, np.nan, 1 / (n - 3))  # escalc: vi[ni <= 3] <- NA (yi kept)
    return _finish(yi, vi, "ZCOR", _missing(r, n) | small)


# ---------------------------------------------------------------------------------------------- means
def _mean_inputs(measure, m1i, sd1i, n1i, m2i, sd2i, n2i):
    _need(measure, m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i)
    a = _bcast(m1=_arr(m1i, "m1i"), s1=_arr(sd1i, "sd1i"), n1=_arr(n1i, "n1i"), m2=_arr(m2i, "m2i"),
               s2=_arr(sd2i, "sd2i"), n2=_arr(n2i, "n2i"))
    with np.errstate(invalid="ignore"):
        _bad("sd1i", a["s1"] < 0, "standard deviations must be >= 0")
        _bad("sd2i", a["s2"] < 0, "standard deviations must be >= 0")
        _bad("n1i", a["n1"] <= 0, "group sizes must be > 0")
        _bad("n2i", a["n2"] <= 0, "group sizes must be > 0")
    sdp = np.sqrt(((a["n1"] - 1) * a["s1"] ** 2 + (a["n2"] - 1) * a["s2"] ** 2) / (a["n1"] + a["n2"] - 2))
    return a, sdp


def mean_difference(m1i=None, sd1i=None, n1i=None, m2i=None, sd2i=None, n2i=None, *, vtype: str = "LS") -> EffectSizes:
    """Raw mean difference ``m1i − m2i`` (escalc ``measure="MD"``).

    ``vtype="LS"`` (escalc's default, also ``"UB"``): ``sd1²/n1 + sd2²/n2`` (unequal variances);
    ``"HO"``: the pooled SD, ``sdp²(1/n1 + 1/n2)``.
    """
    _vtype("MD", vtype, ("LS", "UB", "HO"))
    a, sdp = _mean_inputs("MD", m1i, sd1i, n1i, m2i, sd2i, n2i)
    yi = a["m1"] - a["m2"]
    if vtype == "HO":
        vi = sdp**2 * (1 / a["n1"] + 1 / a["n2"])
    else:
        vi = a["s1"] ** 2 / a["n1"] + a["s2"] ** 2 / a["n2"]
    return _finish(yi, vi, "MD", _missing(*a.values()))


def ratio_of_means(m1i=None, sd1i=None, n1i=None, m2i=None, sd2i=None, n2i=None, *, vtype: str = "LS") -> EffectSizes:
    """Log ratio of means ``log(m1i/m2i)`` (escalc ``measure="ROM"``; ``vtype`` "LS" (default), "HO", "AV", "AVHO").

    Means must be positive; rows with a non-positive mean give NaN, as escalc's ``log`` of them.
    """
    _vtype("ROM", vtype, ("LS", "HO", "AV", "AVHO"))
    a, sdp = _mean_inputs("ROM", m1i, sd1i, n1i, m2i, sd2i, n2i)
    m1, m2, s1, s2, n1, n2 = a["m1"], a["m2"], a["s1"], a["s2"], a["n1"], a["n2"]
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(m1 / m2)
        if vtype == "LS":
            vi = s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2)
        elif vtype == "HO":
            vi = sdp**2 / (n1 * m1**2) + sdp**2 / (n2 * m2**2)
        elif vtype == "AV":
            vi = _wmean(s1 / m1, n1) ** 2 / n1 + _wmean(s2 / m2, n2) ** 2 / n2
        else:  # AVHO
            cv1, cv2 = s1 / m1, s2 / m2
            ok = ~(np.isnan(n1) | np.isnan(n2) | np.isnan(cv1) | np.isnan(cv2))
            mcv = (np.sum(n1[ok] * cv1[ok]) + np.sum(n2[ok] * cv2[ok])) / np.sum((n1 + n2)[ok])
            vi = mcv**2 * (1 / n1 + 1 / n2)
    return _finish(yi, vi, "ROM", _missing(*a.values()))


# ---------------------------------------------------------------------------------------------- proportions
def _prop_inputs(measure, xi, ni, mi, add, to):
    _check_add(add, to)
    x, n, m = _arr(xi, "xi"), _arr(ni, "ni"), _arr(mi, "mi")
    if x is None or (n is None and m is None):
        raise MetaInputError(f"{measure} needs xi and either ni (group size) or mi (non-events)")
    arrs = _bcast(x=x, n=n, m=m)
    x = arrs["x"]
    with np.errstate(invalid="ignore"):
        if "n" in arrs and "m" in arrs:
            _bad("ni", arrs["n"] != x + arrs["m"], "ni is not equal to xi + mi")
        m = arrs["m"] if "m" in arrs else arrs["n"] - x
        _bad("xi", x < 0, "counts must be >= 0")
        _bad("mi" if "m" in arrs else "ni", m < 0, "counts must be >= 0" if "m" in arrs
             else "more events than participants")
        _bad("ni" if "n" in arrs else "mi", x + m <= 0, "group sizes must be > 0")
    x_a, m_a = _adjust([x, m], [x, m], add, to)
    return x_a, m_a, _missing(x, m)


def proportion(xi=None, ni=None, *, mi=None, add: float = 0.5, to: str = "only0", vtype: str = "LS") -> EffectSizes:
    """Raw proportion ``xi/ni`` (escalc ``measure="PR"``; ``vtype`` "LS" (default), "UB", "AV"); zero cells get ``add``."""
    _vtype("PR", vtype, ("LS", "UB", "AV"))
    x, m, missing = _prop_inputs("PR", xi, ni, mi, add, to)
    n = x + m
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        if vtype == "LS":
            vi = p * (1 - p) / n
        elif vtype == "UB":
            vi = p * (1 - p) / (n - 1)
        else:
            mp = _wmean(p, n)
            vi = mp * (1 - mp) / n
    return _finish(p, vi, "PR", missing)


def logit_proportion(xi=None, ni=None, *, mi=None, add: float = 0.5, to: str = "only0", vtype: str = "LS") -> EffectSizes:
    """Logit of a proportion, ``log(p/(1−p))`` (escalc ``measure="PLO"``; ``vtype`` "LS" (default) or "AV")."""
    _vtype("PLO", vtype, ("LS", "AV"))
    x, m, missing = _prop_inputs("PLO", xi, ni, mi, add, to)
    n = x + m
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        yi = np.log(p / (1 - p))
        if vtype == "LS":
            vi = 1 / x + 1 / m
        else:
            mp = _wmean(p, n)
            vi = 1 / (mp * n) + 1 / ((1 - mp) * n)
    return _finish(yi, vi, "PLO", missing)


# ---------------------------------------------------------------------------------------------- incidence rates
def incidence_rate_ratio(x1i=None, t1i=None, x2i=None, t2i=None, *, add: float = 0.5, to: str = "only0",
                         drop00: bool = False) -> EffectSizes:
    """Log incidence rate ratio (escalc ``measure="IRR"``): events ``x1i``/``x2i`` over person-times ``t1i``/``t2i``."""
    _check_add(add, to)
    _need("IRR", x1i=x1i, t1i=t1i, x2i=x2i, t2i=t2i)
    a = _bcast(x1=_arr(x1i, "x1i"), t1=_arr(t1i, "t1i"), x2=_arr(x2i, "x2i"), t2=_arr(t2i, "t2i"))
    x1, x2, t1, t2 = a["x1"], a["x2"], a["t1"], a["t2"]
    missing = _missing(x1, x2, t1, t2)
    with np.errstate(invalid="ignore"):
        _bad("x1i", x1 < 0, "counts must be >= 0")
        _bad("x2i", x2 < 0, "counts must be >= 0")
        _bad("t1i", t1 <= 0, "person-times must be > 0")
        _bad("t2i", t2 <= 0, "person-times must be > 0")
        if drop00:
            id00 = (x1 == 0) & (x2 == 0)
            x1, x2 = np.where(id00, np.nan, x1), np.where(id00, np.nan, x2)
            missing = missing | id00
    x1, x2 = _adjust([x1, x2], [x1, x2], add, to)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(x1 / t1) - np.log(x2 / t2)
        vi = 1 / x1 + 1 / x2
    return _finish(yi, vi, "IRR", missing)


# ---------------------------------------------------------------------------------------------- dispatcher
def escalc(measure: str, **kwargs: Any) -> EffectSizes:
    """Effect sizes by metafor measure code, with escalc's argument names (``escalc(measure, ...)``).

    Parameters
    ----------
    measure : {"OR", "RR", "RD", "COR", "ZCOR", "MD", "ROM", "PR", "PLO", "IRR", "SMD", "SMCC", "SMCR"}
    **kwargs
        The measure's inputs with escalc's names: ``ai, bi, ci, di`` or ``ai, n1i, ci, n2i`` (OR, RR, RD);
        ``ri, ni`` (COR, ZCOR); ``m1i, sd1i, n1i, m2i, sd2i, n2i`` (MD, ROM, SMD); ``xi`` with ``ni`` or ``mi``
        (PR, PLO); ``x1i, t1i, x2i, t2i`` (IRR); ``m1i, m2i, sd1i, sd2i, ni, ri`` (SMCC, SMCR); and the options
        ``add``, ``to``, ``drop00``, ``vtype`` where the measure has them.

    Returns
    -------
    EffectSizes

    Raises
    ------
    MetaInputError
        Unknown measure, arguments the measure does not take, or impossible input values (one line naming
        the argument and rows).
    """
    code = str(measure).upper()
    funcs = {
        "OR": (odds_ratio, ("ai", "bi", "ci", "di", "n1i", "n2i", "add", "to", "drop00")),
        "RR": (risk_ratio, ("ai", "bi", "ci", "di", "n1i", "n2i", "add", "to", "drop00")),
        "RD": (risk_difference, ("ai", "bi", "ci", "di", "n1i", "n2i", "add", "to", "drop00", "vtype")),
        "COR": (correlation, ("ri", "ni", "vtype")),
        "ZCOR": (fisher_z, ("ri", "ni")),
        "MD": (mean_difference, ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "vtype")),
        "ROM": (ratio_of_means, ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "vtype")),
        "PR": (proportion, ("xi", "ni", "mi", "add", "to", "vtype")),
        "PLO": (logit_proportion, ("xi", "ni", "mi", "add", "to", "vtype")),
        "IRR": (incidence_rate_ratio, ("x1i", "t1i", "x2i", "t2i", "add", "to", "drop00")),
    }
    if code in ("SMD", "SMCC", "SMCR"):
        rename = {"m1i": "m1", "m2i": "m2", "sd1i": "sd1", "sd2i": "sd2", "n1i": "n1", "n2i": "n2", "ni": "n",
                  "ri": "r", "di": "d", "ti": "t", "pi": "p"}
        mapped = {rename.get(k, k): v for k, v in kwargs.items()}
        fn = {"SMD": smd, "SMCC": smcc, "SMCR": smcr}[code]
        try:
            return fn(**mapped)
        except TypeError as exc:
            raise MetaInputError(f"{code}: {' '.join(str(exc).split())}") from None
    if code not in funcs:
        raise MetaInputError(f"measure must be one of {', '.join(MEASURES)} (got {measure!r})")
    fn, allowed = funcs[code]
    extra = sorted(set(kwargs) - set(allowed))
    if extra:
        raise MetaInputError(f"{code} does not take the argument(s) {', '.join(extra)} "
                             f"(it takes {', '.join(allowed)})")
    return fn(**kwargs)
