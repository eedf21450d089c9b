"""What ``blockade meta pool`` adds to a fitted model on request: cluster-robust inference (``--robust``), a
Wald test of chosen coefficients (``--btt``), predictions at new moderator values (``--newmods``) and a CI
for τ² (``--ci-tau2``) — each as a JSON block and as metafor-style text.

The statistics are the library's (:func:`meta.robust`, :func:`meta.wald_test`, :func:`meta.predict`,
:func:`meta.tau2_ci`); this module turns options into calls, library errors into messages that name the
option, and results into output.  numpy, pandas and :mod:`meta` are imported inside the functions.
"""

from __future__ import annotations

import math
import re

#: ``--ci-tau2`` value → :func:`meta.confint.tau2_ci` type
CI_TAU2_TYPES = {"qprofile": "QP", "profile": "PL"}


def _option_error(option: str, exc: Exception):
    """A library :class:`MetaInputError` re-raised with the option it came from in front."""
    from meta.errors import MetaInputError

    message = " ".join(str(exc).split())
    for prefix in ("cluster: ", "newmods: ", "btt: "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return MetaInputError(f"{option}: {message}")


# ----------------------------------------------------------------------------------------------- --btt
def parse_btt_option(text: str) -> list[int]:
    """``"2,3"`` → ``[2, 3]`` (1-based coefficient numbers, sorted, repeats dropped).

    Raises
    ------
    meta.errors.MetaInputError
        For anything but positive whole numbers separated by commas.
    """
    from meta.errors import MetaInputError

    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(not re.fullmatch(r"[0-9]+", p) for p in parts):
        raise MetaInputError(f"--btt {text!r}: give 1-based coefficient numbers separated by commas, e.g. --btt 2,3")
    numbers = sorted({int(p) for p in parts})
    if numbers[0] < 1:
        raise MetaInputError(f"--btt {text!r}: coefficient numbers start at 1 (the intercept)")
    return numbers


def check_btt_range(btt: list[int], result) -> None:
    """Every ``--btt`` number names a coefficient of the fitted model (one line listing them otherwise)."""
    from meta.errors import MetaInputError

    names = [c.name for c in result.coefficients]
    bad = [b for b in btt if b > len(names)]
    if bad:
        listing = ", ".join(f"{i} = {n}" for i, n in enumerate(names, 1))
        raise MetaInputError(f"--btt: coefficient {', '.join(map(str, bad))} out of range: the model has "
                             f"{len(names)} coefficient(s) ({listing})")


def wald(result, btt: list[int], robust_result=None):
    """The Wald test of the coefficients ``btt`` (1-based): the robust one when ``robust_result`` is given."""
    from meta.errors import MetaInputError
    from meta.hypothesis_tests import wald_test

    try:
        if robust_result is not None:
            return robust_result.wald_test(btt=btt)
        return wald_test(result, btt=btt)
    except MetaInputError as exc:
        raise _option_error("--btt", exc) from None


def wald_payload(test, result, robust_result=None) -> dict:
    """``{"btt", "test", "statistic", "QM", "df", "ddf", "p"}`` of a :class:`WaldTest` or :class:`RobustWaldTest`.

    ``test`` is the model's own test (``z``, ``t``, ``knha``) or the robust estimator (``CR2``: clubSandwich's
    HTZ F test; ``CR1``: F on n − p df); ``statistic`` says whether ``QM`` is a χ² or an F value.
    """
    if robust_result is not None:
        return {"btt": list(test.btt), "test": test.vcov, "statistic": "F", "QM": test.F, "df": test.df1,
                "ddf": test.df2, "p": test.p}
    chi2 = test.QM_ddf is None
    return {"btt": list(test.btt), "test": result.test, "statistic": "chi2" if chi2 else "F", "QM": test.QM,
            "df": test.QM_df, "ddf": test.QM_ddf, "p": test.QM_p}


def wald_text(test, robust_result=None) -> str:
    """metafor's ``anova(fit, btt = ...)`` lines (``Test of Moderators (coefficients 2:3):`` + the statistic)."""
    btt = list(test.btt)
    span = f"{btt[0]}:{btt[-1]}" if len(btt) > 1 and btt == list(range(btt[0], btt[-1] + 1)) else ",".join(map(str, btt))
    label = "coefficient" if len(btt) == 1 else "coefficients"
    if robust_result is not None:
        head = f"Test of Moderators ({label} {span}; cluster-robust, {test.vcov}):"
        line = f"F(df1 = {test.df1}, df2 = {_num(test.df2)}) = {test.F:.4f}, p-val {_p(test.p)}"
    else:
        head = f"Test of Moderators ({label} {span}):"
        if test.QM_ddf is None:
            line = f"QM(df = {test.QM_df}) = {test.QM:.4f}, p-val {_p(test.QM_p)}"
        else:
            line = f"F(df1 = {test.QM_df}, df2 = {_num(test.QM_ddf)}) = {test.QM:.4f}, p-val {_p(test.QM_p)}"
    return f"{head}\n{line}"


def _num(x: float) -> str:
    """A df as metafor prints it: whole numbers plain, others to 2 decimals."""
    return str(int(round(x))) if abs(x - round(x)) < 1e-9 else f"{x:.2f}"


def _p(p: float) -> str:
    return "< .0001" if p < 1e-4 else f"= {p:.4f}"


# ----------------------------------------------------------------------------------------------- --robust
def cluster_ids(df, column: str, result, *, source: str | None = None):
    """The ``--robust`` column's ids for the rows the model kept (missing ids there are errors).

    Rows the model omitted for missing values may lack an id, as in metafor (``cluster[x$not.na]``).
    """
    import numpy as np
    import pandas as pd

    from meta.cli.input import require_columns
    from meta.errors import MetaInputError
    from meta.validation import format_rows

    require_columns(df, {"--robust": column}, source=source)
    keep = np.ones(len(df), dtype=bool)
    omitted = list(getattr(result, "omitted_rows", ()) or ())
    if omitted:
        keep[np.asarray(omitted) - 1] = False
    raw = df[column]
    missing = pd.isna(raw).to_numpy() & keep
    if missing.any():
        raise MetaInputError(f"--robust column {column!r}: missing cluster id in row(s) {format_rows(missing)}")
    ids = raw.to_numpy()[keep]
    return ids.astype(str) if ids.dtype.kind == "O" else ids


def fit_robust(result, ids, column: str, vcov: str):
    """:func:`meta.cluster_robust.robust` with errors naming ``--robust``."""
    from meta.cluster_robust import robust
    from meta.errors import MetaInputError

    try:
        return robust(result, ids, vcov=vcov)
    except MetaInputError as exc:
        raise _option_error(f"--robust {column!r}", exc) from None


def robust_payload(rob, column: str) -> dict:
    """``{"vcov", "cluster", "n_clusters", "coefficients": [{name, estimate, se, t, df, p, ci_lb, ci_ub}], QM...}``."""
    return {
        "vcov": rob.vcov_type, "cluster": column, "n_clusters": rob.n_clusters,
        "coefficients": [{"name": c.name, "estimate": c.estimate, "se": c.se, "t": c.z, "df": c.df, "p": c.p,
                          "ci_lb": c.ci_lb, "ci_ub": c.ci_ub} for c in rob.coefficients],
        "QM": rob.QM, "QM_df": rob.QM_df, "QM_ddf": rob.QM_ddf, "QM_p": rob.QM_p,
        "btt": [b + 1 for b in rob.btt],
    }


def robust_text(rob) -> str:
    """The cluster-robust block as metafor's ``print(robust(fit, cluster))`` lays it out."""
    import numpy as np

    sizes = np.asarray(rob.cluster_sizes)
    per = (str(sizes.min()) if sizes.min() == sizes.max() else
           f"{sizes.min()}-{sizes.max()} (mean: {sizes.mean():.2f}, median: {_num(float(np.median(sizes)))})")
    lines = [f"Number of estimates:   {rob.k}", f"Number of clusters:    {rob.n_clusters}",
             f"Estimates per cluster: {per}", ""]
    if rob.p > 1 and rob.btt:
        btt = [b + 1 for b in rob.btt]
        span = f"{btt[0]}:{btt[-1]}" if len(btt) > 1 else str(btt[0])
        lines += [f"Test of Moderators (coefficient{'s' if len(btt) > 1 else ''} {span}):¹",
                  f"F(df1 = {rob.QM_df}, df2 = {_num(rob.QM_ddf)}) = {rob.QM:.4f}, p-val {_p(rob.QM_p)}", ""]
    lines += ["Model Results (cluster-robust):", ""]
    nw = max(9, *(len(c.name) + 1 for c in rob.coefficients))
    lines.append(f"{'':{nw}s}{'estimate':>9s} {'se¹':>9s} {'tval¹':>9s} {'df¹':>7s} {'pval¹':>8s} "
                 f"{'ci.lb¹':>10s} {'ci.ub¹':>10s}")
    for c in rob.coefficients:
        lines.append(f"{c.name:{nw}s}{c.estimate:9.4f} {c.se:9.4f} {c.z:9.4f} {_num(c.df):>7s} {_pval(c.p):>8s} "
                     f"{c.ci_lb:10.4f} {c.ci_ub:10.4f}  {_stars(c.p)}".rstrip())
    how = ("var-cov estimator: CR2,\n   approx t/F-tests and confidence intervals, df: Satterthwaite approx"
           if rob.vcov_type == "CR2" else
           "var-cov estimator: CR1,\n   approx t/F-tests and confidence intervals, df: residual method")
    lines += ["", f"1) results based on cluster-robust inference ({how})"]
    return "\n".join(lines)


def _pval(p: float) -> str:
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


def _stars(p: float) -> str:
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 else ""


# ----------------------------------------------------------------------------------------------- --newmods
def read_newmods(path: str):
    """The ``--newmods`` CSV (one column per moderator variable, one row per prediction)."""
    from meta.cli.input import read_csv
    from meta.errors import MetaInputError

    frame = read_csv(path, label="--newmods file")
    if len(frame) == 0:
        raise MetaInputError(f"--newmods file {path!r} has no rows (give one row per prediction)")
    return frame


def predictions(model, newmods, path: str):
    """:func:`meta.prediction.predict` at the rows of ``newmods`` (``model`` may be a robust result)."""
    from meta.errors import MetaInputError
    from meta.prediction import predict

    try:
        return predict(model, newmods)
    except MetaInputError as exc:
        raise _option_error(f"--newmods {path!r}", exc) from None


def _equal_effects(model) -> bool:
    """An equal-effects (FE) fit, for which metafor's ``predict`` gives no prediction interval."""
    model = getattr(model, "model", model)  # a robust result's working model
    return str(getattr(model, "method", "")).upper() == "FE"


def predictions_payload(pred, newmods, model) -> list[dict]:
    """One ``{"pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "df", "newmods"}`` per prediction row
    (``pi_lb``/``pi_ub`` null for an equal-effects model, as metafor gives none)."""
    rows = newmods.to_dict("records")
    no_pi = _equal_effects(model)
    out = []
    for i in range(len(pred)):
        entry = {f: float(getattr(pred, f)[i]) for f in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub")}
        if no_pi:
            entry["pi_lb"] = entry["pi_ub"] = None
        entry["df"] = None if pred.ddf is None else float(pred.ddf[i])
        entry["newmods"] = rows[i]
        out.append(entry)
    return out


def predictions_text(pred, newmods, model, robust_vcov: str | None) -> str:
    """metafor's printed ``predict()`` table, preceded by a heading naming the covariance used."""
    what = f"cluster-robust {robust_vcov}" if robust_vcov else "model-based"
    cols = ", ".join(map(str, newmods.columns))
    lines = [f"Predictions at --newmods ({cols}; {what} SEs, {int(round(pred.level * 100))}% intervals):", "",
             _prediction_table(pred, with_pi=not _equal_effects(model))]
    return "\n".join(lines)


def _prediction_table(pred, *, with_pi: bool = True) -> str:
    head = ["pred", "se", "ci.lb", "ci.ub", "pi.lb", "pi.ub"]
    fields = ["pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"]
    if not with_pi or not all(math.isfinite(x) for x in pred.pi_lb):  # metafor: no PI for equal-effects models
        head, fields = head[:4], fields[:4]
    if pred.ddf is not None:
        head, fields = head + ["df"], fields + ["ddf"]
    rows = [[f"{x:.4f}" if f != "ddf" else _num(x) for f, x in zip(fields, vals)]
            for vals in zip(*(getattr(pred, f) for f in fields))]
    width = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(head)]
    lab = len(str(len(rows)))
    lines = [" " * (lab + 1) + " ".join(h.rjust(width[j]) for j, h in enumerate(head))]
    for i, r in enumerate(rows, 1):
        lines.append(f"{i:>{lab}} " + " ".join(x.rjust(width[j]) for j, x in enumerate(r)))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- --ci-tau2
def tau2_interval(result, kind: str, level: float):
    """:func:`meta.confint.tau2_ci` for ``--ci-tau2 qprofile|profile``."""
    from meta.confint import tau2_ci
    from meta.errors import MetaInputError

    try:
        return tau2_ci(result, type=CI_TAU2_TYPES[kind], level=level)
    except MetaInputError as exc:
        raise _option_error(f"--ci-tau2 {kind}", exc) from None


def tau2_payload(ci, kind: str) -> dict:
    """``{"tau2_ci": [lb, ub], "tau2_ci_type", "heterogeneity_ci": {tau2, tau, I2, H2 as [est, lb, ub], ...}}``."""
    detail = ci.to_dict()
    detail.pop("type", None)
    return {"tau2_ci": [ci.ci_lb, ci.ci_ub], "tau2_ci_type": kind, "heterogeneity_ci": detail}


def tau2_text(ci) -> str:
    """metafor's ``confint(fit)`` block for τ², τ, I² and H²."""
    return ci.summary()
