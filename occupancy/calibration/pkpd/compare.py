"""Every model of a drug against the same targets: observed, predicted, z, met and ``Σ z²`` per model.

Naltrexone: ``emax`` (plantrexone's hyperbola), ``washout`` (its committed calibration), ``pkpd`` with
each hysteresis variant at its fitted parameters, and — when the record has it — the refitted
plasma-driven reference (effect compartment with ke0 = 1000/h, not a selectable model).  Naloxone:
``bateman`` (planoxone) and both ``pkpd`` variants.  The targets are those of
:mod:`occupancy.calibration.pkpd_targets`, so every model is judged by one yardstick.

A model that cannot predict a target (``emax`` beyond 8 h after a dose; plasma PK of a model without
concentrations) gets ``predicted``/``z`` ``None``, ``met`` ``False``, ``evaluable`` ``False`` and a
``reason``; its ``sum_z2`` is over the evaluable targets only and ``n_evaluable`` says how many, so a small
``Σ z²`` over few targets is not mistaken for a good fit.
"""

from __future__ import annotations

import textwrap

from occupancy.calibration import pkpd_targets as T
from occupancy.calibration.pkpd.record import jsonable, residual_rows, sums
from occupancy.models.pkpd_base import HYSTERESIS

__all__ = ["compare", "compare_table", "format_compare"]

#: Keys of one target row of :func:`compare_table` (the first five are the documented JSON contract).
ROW_KEYS = ("target", "observed", "predicted", "z", "met", "evaluable", "reason", "kind", "lower", "upper",
            "scale", "weight", "log", "unit", "group")


def _models(drug: str, record: dict | None) -> list[tuple[str, str, str | None, object]]:
    """``(name, model, variant, instance)`` of every model compared for ``drug``."""
    from occupancy.models import get_model

    rec = record
    if rec is None:
        from occupancy.calibration.pkpd.record import load_record

        rec = load_record(drug)
    out = []
    legacy = ("emax", "washout") if drug == "naltrexone" else ("bateman",)
    for name in legacy:
        out.append((name, name, None, get_model(drug, name)))
    for h in HYSTERESIS:
        params = {k: v for k, v in rec["variants"][h]["parameters"].items() if k not in ("hysteresis", "weight_kg")}
        out.append((f"pkpd ({h})", "pkpd", h, get_model(drug, "pkpd", hysteresis=h, **params)))
    if drug == "naltrexone" and "direct_reference" in rec:
        params = {k: v for k, v in rec["direct_reference"]["parameters"].items()
                  if k not in ("hysteresis", "weight_kg", "koff_per_h")}
        out.append(("pkpd (direct, ke0 = 1000/h)", "pkpd", "direct",
                    get_model(drug, "pkpd", hysteresis="effect_compartment", **params)))
    return out


def _reason(model, target) -> str:
    """Why ``model`` has no value for ``target``."""
    if target.group == "pk" and not hasattr(model, "concentrations"):
        return f"the {model.name} model has no plasma concentrations"
    window = getattr(model, "window_h", None)
    if window is not None:
        return f"the {model.name} model is defined only within {window:g} h of a dose"
    return f"the {model.name} model gives no value for {target.quantity}"


def compare_table(drug: str = "naltrexone", record: dict | None = None) -> dict:
    """Every model of ``drug`` × every target, as the JSON of ``blockade calibrate --compare --json``.

    Parameters
    ----------
    drug : {"naltrexone", "naloxone"}
    record : dict, optional
        Calibration record giving the ``pkpd`` parameters (default: the committed record).

    Returns
    -------
    dict
        ``{"drug", "met_rule", "models": [{"name", "model", "variant", "sum_z2", "n_evaluable", "n_targets",
        "n_met", "sum_z2_pk", "sum_z2_occupancy", "not_evaluable", "targets": [{"target", "observed",
        "predicted", "z", "met", ...}]}]}``.

    Notes
    -----
    ``z = weight·residual/scale`` with the target's residual (point: predicted − observed; inequality:
    distance to the violated bound, 0 inside; log targets on the log scale), and ``met`` is ``|z| ≤ 1``
    (:mod:`occupancy.calibration.pkpd_targets`).  ``observed`` is the target as published (``">= 90"``,
    ``"70-80"``); ``kind``/``lower``/``upper`` give it as numbers.
    """
    if drug == "naltrexone":
        targets, quantities = T.naltrexone_targets(), T.naltrexone_quantities
    elif drug == "naloxone":
        targets, quantities = T.naloxone_targets(), T.naloxone_quantities
    else:
        raise ValueError(f"drug: must be naltrexone or naloxone (got {drug!r})")
    models = []
    for name, kind, variant, m in _models(drug, record):
        rows = residual_rows(targets, quantities(m))
        s = sums(rows)
        out_rows = []
        for t, r in zip(targets, rows):
            evaluable = r["met"] is not None
            out_rows.append({"target": r["target"], "observed": r["observed"], "predicted": r["predicted"],
                             "z": r["z"], "met": bool(r["met"]), "evaluable": evaluable,
                             "reason": None if evaluable else _reason(m, t), "kind": t.kind, "lower": t.lower,
                             "upper": t.upper, "scale": t.scale, "weight": t.weight, "log": t.log, "unit": t.unit,
                             "group": t.group})
        models.append({"name": name, "model": kind, "variant": variant, **s, "targets": out_rows})
    return jsonable({"drug": drug, "met_rule": "|z| <= 1, z = weight * residual / scale", "models": models})


def compare(drug: str = "naltrexone", record: dict | None = None) -> dict:
    """:func:`compare_table` keyed by model name (the layout stored in the record's ``compare``).

    Returns
    -------
    dict
        ``{name: {"rows": [{"target", "observed", "predicted", "z", "met", "evaluable", "reason"}],
        "sum_z2", "n_evaluable", ...}}``.
    """
    out = {}
    for m in compare_table(drug, record)["models"]:
        rows = [{k: r[k] for k in ("target", "observed", "predicted", "z", "met", "evaluable", "reason")}
                for r in m["targets"]]
        out[m["name"]] = {"rows": rows, **{k: v for k, v in m.items() if k not in ("name", "targets")}}
    return out


#: Column labels of the variants in the text table (keeps five models within ~110 characters).
_SHORT = {"effect_compartment": "effect cmpt", "binding_kinetics": "binding kin.", "direct": "direct ke0"}


def _cell(r) -> str:
    if r["predicted"] is None:
        return "n/a"
    return f"{r['predicted']:.4g} ({r['z']:+.2f})"


def format_compare(table: dict) -> str:
    """The models × targets table as text: ``predicted (z)`` per cell, ``n/a`` where a model has no value.

    Parameters
    ----------
    table : dict
        From :func:`compare_table`.
    """
    models = table["models"]
    width = max(15, *(len(_cell(r)) for m in models for r in m["targets"]))
    head1 = [m["model"] for m in models]
    head2 = [m["variant"] or "" for m in models]
    head2 = [_SHORT.get(h, h) for h in head2]
    tw = max(len(r["target"]) for r in models[0]["targets"]) + 1
    legend = (f"{table['drug']}: every model against the same targets; cells are predicted (z), met = |z| <= 1; "
              "n/a = the model has no value. pkpd variants: effect cmpt = effect compartment, binding kin. = "
              "binding kinetics, direct ke0 = plasma-driven reference (ke0 = 1000/h, refitted; not a selectable "
              "model).")
    lines = textwrap.wrap(legend, 110) + [
        "", f"{'target':<{tw}}{'observed':>9}  " + " ".join(f"{h:>{width}}" for h in head1),
        f"{'':<{tw}}{'':>9}  " + " ".join(f"{h[:width]:>{width}}" for h in head2)]
    for i, r0 in enumerate(models[0]["targets"]):
        lines.append(f"{r0['target']:<{tw}}{r0['observed']:>9}  "
                     + " ".join(f"{_cell(m['targets'][i]):>{width}}" for m in models))
    lines.append("")
    lines.append(f"{'sum z^2 (evaluable)':<{tw + 11}}" + " ".join(f"{m['sum_z2']:>{width}.2f}" for m in models))
    lines.append(f"{'evaluable targets':<{tw + 11}}"
                 + " ".join(f"{str(m['n_evaluable']) + '/' + str(m['n_targets']):>{width}}" for m in models))
    lines.append(f"{'targets met':<{tw + 11}}" + " ".join(f"{m['n_met']:>{width}}" for m in models))
    reasons = {}
    for m in models:
        for r in m["targets"]:
            if not r["evaluable"]:
                reasons.setdefault((m["name"], r["reason"]), []).append(r["target"])
    if reasons:
        lines.append("")
        lines.append("not evaluable (left out of sum z^2):")
        for (name, why), ids in reasons.items():
            lines.extend(textwrap.wrap(f"{name}: {why} ({', '.join(ids)})", 110, initial_indent="  ",
                                       subsequent_indent="    "))
    return "\n".join(lines)
