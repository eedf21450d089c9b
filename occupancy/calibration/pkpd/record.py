"""The calibration record: residual tables, profile intervals, JSON form, reading and atomic writing.

The record (``occupancy/data/pkpd_<drug>_calibration.json``) is the one place the ``pkpd`` models read
their fitted defaults, between-subject variability and parameter uncertainty from
(:meth:`occupancy.models.pkpd_base.PKPDModel.record`).  Everything :func:`format_report
<occupancy.calibration.pkpd.report.format_report>` prints comes from it, so the report never disagrees
with the models.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from occupancy.models.pkpd_base import HYSTERESIS, KINETIC

__all__ = ["MET", "CHI2_1_95", "record_path", "load_record", "write_record", "tidy_record", "residual_rows",
           "sums", "jsonable", "profile_ci", "variability_dict", "kinetic_log_sd"]

#: A target is met when ``|z| ≤ MET``: within one measurement SD of the observation, or inside the
#: inequality (the definition of :mod:`occupancy.calibration.pkpd_targets`).
MET = 1.0
#: 95 % quantile of χ² with 1 df.  Because every ``z`` is standardised by its measurement SD, ``Σ z²`` is
#: ``−2 log L`` up to a constant, and ``{θ: Σz²(θ) ≤ min + χ²₁(0.95)}`` is the profile-likelihood 95 %
#: interval (Venzon & Moolgavkar 1988, Appl Stat 37:87).
CHI2_1_95 = 3.841458820694124
_DATA = Path(__file__).resolve().parents[2] / "data"


def record_path(drug: str) -> Path:
    """``occupancy/data/pkpd_<drug>_calibration.json``."""
    return _DATA / f"pkpd_{drug}_calibration.json"


def load_record(drug: str = "naltrexone") -> dict:
    """The committed calibration record of ``drug`` (a fresh copy, safe to modify).

    Raises
    ------
    RuntimeError
        When the record is missing, naming the command that writes it.
    """
    path = record_path(drug)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:  # pragma: no cover - only before the first `calibrate --refit --write`
        raise RuntimeError(f"{path} is missing; run `blockade calibrate --drug {drug} --refit --write`") from exc


def tidy_record(record: dict) -> dict:
    """Drop each variant's unused kinetic constant from its parameter set (in place; returns ``record``).

    Notes
    -----
    The fit needs a valid number for the other variant's constant, but it has no meaning for this
    variant; leaving it in the record would make it look fitted.
    """
    for h, v in record.get("variants", {}).items():
        unused = KINETIC["binding_kinetics" if h == "effect_compartment" else "effect_compartment"]
        v["parameters"].pop(unused, None)
    return record


def write_record(record: dict, path: Path | str | None = None) -> Path:
    """Write the record atomically (temporary sibling renamed over the file) and clear the models' cache.

    Parameters
    ----------
    record : dict
        From :func:`occupancy.calibration.pkpd.calibrate`.
    path : path, optional
        Default :func:`record_path` of the record's drug.

    Returns
    -------
    Path
        The file written.

    Notes
    -----
    The write is atomic so that a model reading its defaults while ``--write`` runs (or after it is
    interrupted) sees either the old record or the new one, never half a file.
    """
    from meta.atomic_write import write_text_atomic
    from occupancy.models.pkpd_base import load_record as cached

    record = tidy_record(record)
    path = Path(path) if path else record_path(record["drug"])
    write_text_atomic(path, json.dumps(jsonable(record), indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    cached.cache_clear()
    return path


def _f(x):
    """A finite float or ``None`` (JSON has no NaN)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def jsonable(o):
    """``o`` with numpy scalars/arrays as Python numbers/lists and non-finite floats as ``None``."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (np.floating, float)):
        return float(o) if math.isfinite(float(o)) else None
    if isinstance(o, np.integer):
        return int(o)
    return o


def residual_rows(targets, q: dict) -> list[dict]:
    """Observed / predicted / residual / z / met for each target.

    Parameters
    ----------
    targets : list of Target
    q : dict
        Model quantities (:func:`~occupancy.calibration.pkpd_targets.naltrexone_quantities` or
        :func:`~occupancy.calibration.pkpd_targets.naloxone_quantities`).

    Returns
    -------
    list of dict
        ``predicted``, ``residual`` and ``z`` are ``None`` and ``met`` is ``None`` when the model cannot
        compute the quantity (e.g. plasma PK of a model without concentrations, or ``emax`` beyond 8 h).

    Notes
    -----
    ``z = weight·residual/scale`` with the hinge residual of inequality targets
    (:meth:`~occupancy.calibration.pkpd_targets.Target.z`); ``met`` is ``|z| ≤ 1`` (:data:`MET`).
    """
    rows = []
    for t in targets:
        v = q.get(t.quantity, float("nan"))
        z = t.z(v)
        rows.append({"target": t.id, "group": t.group, "description": t.description, "source": t.source,
                     "observed": t.observed, "unit": t.unit, "predicted": _f(v), "residual": _f(t.residual(v)),
                     "log": t.log, "scale": t.scale, "weight": t.weight, "z": _f(z),
                     "met": (bool(abs(z) <= MET) if np.isfinite(z) else None)})
    return rows


def sums(rows) -> dict:
    """``Σ z²`` over the evaluable targets (all, PK, occupancy), counts, unmet and not-evaluable targets."""
    ev = [r for r in rows if r["z"] is not None]
    return {"sum_z2": float(sum(r["z"] ** 2 for r in ev)),
            "sum_z2_pk": float(sum(r["z"] ** 2 for r in ev if r["group"] == "pk")),
            "sum_z2_occupancy": float(sum(r["z"] ** 2 for r in ev if r["group"] == "occupancy")),
            "n_evaluable": len(ev), "n_targets": len(rows),
            "n_met": int(sum(1 for r in rows if r["met"])),
            "unmet": [r["target"] for r in rows if r["met"] is False],
            "not_evaluable": [r["target"] for r in rows if r["met"] is None]}


def profile_ci(rows, best: float) -> dict:
    """Profile 95 % interval ``Σz² ≤ min + 3.84`` from profile rows, interpolated on the log scale.

    Parameters
    ----------
    rows : list of dict
        ``value`` and ``sum_z2`` of each profile point, sorted by value.
    best : float
        ``Σ z²`` of the full fit.

    Returns
    -------
    dict
        ``lower``/``upper`` (``lower_open``/``upper_open`` when the grid's end is still inside, i.e. the
        data do not bound the parameter on that side) and ``pinned`` (both ends bounded).

    Notes
    -----
    Threshold: :data:`CHI2_1_95` (Venzon & Moolgavkar 1988).  The crossing is linearly interpolated in
    ``log(value)`` because the parameters are fitted on the log scale.
    """
    vals = np.array([r["value"] for r in rows])
    obj = np.array([r["sum_z2"] for r in rows])
    thr = best + CHI2_1_95
    inside = obj <= thr
    out = {"threshold": thr, "min_on_grid": float(obj.min()),
           "lower": None, "upper": None, "lower_open": bool(inside[0]), "upper_open": bool(inside[-1])}
    idx = np.nonzero(inside)[0]
    if idx.size:
        i0, i1 = idx[0], idx[-1]
        if i0 > 0:
            x0, x1, y0, y1 = np.log(vals[i0 - 1]), np.log(vals[i0]), obj[i0 - 1], obj[i0]
            out["lower"] = float(np.exp(x0 + (thr - y0) * (x1 - x0) / (y1 - y0)))
        else:
            out["lower"] = float(vals[0])
        if i1 < vals.size - 1:
            x0, x1, y0, y1 = np.log(vals[i1]), np.log(vals[i1 + 1]), obj[i1], obj[i1 + 1]
            out["upper"] = float(np.exp(x0 + (thr - y0) * (x1 - x0) / (y1 - y0)))
        else:
            out["upper"] = float(vals[-1])
    out["pinned"] = not (out["lower_open"] or out["upper_open"])
    return out


def variability_dict(v) -> dict:
    """A :class:`~occupancy.simulation.population.Variability` for the record: log-SDs, source, derivation."""
    return {**v.to_dict(), "derivation": v.derivation}


def kinetic_log_sd(vv: dict) -> tuple[str, float]:
    """``(name, log-SD)`` of the kinetic multiplier in a stored variability (either record layout).

    Notes
    -----
    Records written by the prototype store ``kinetic``/``kinetic_log_sd``; the package stores
    ``ke0_log_sd`` or ``koff_log_sd``.  Both are read so that older records still report.
    """
    if "kinetic_log_sd" in vv:
        return str(vv.get("kinetic", "kinetic")).replace("_scale", ""), float(vv["kinetic_log_sd"])
    for h in HYSTERESIS:
        name = KINETIC[h].replace("_per_h", "")
        if f"{name}_log_sd" in vv:
            return name, float(vv[f"{name}_log_sd"])
    return "kinetic", float("nan")
