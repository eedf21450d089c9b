"""The result of a design search: the design table, the ranked feasible designs, the Pareto front, best plans."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from occupancy.workflows.explore.evaluate import CRITERIA
from occupancy.workflows.explore.space import CONSTRAINT_TEXT, CONSTRAINTS

OBJECTIVE_COLUMNS = ("participant_days", "participants", "tablets", "cost")
_SHORT = {"blockade_at_task": "blockade", "residual_at_next_session": "residual", "power_attenuated": "power"}


def _num(value):
    if value is None:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    v = float(value)
    return v if math.isfinite(v) else None


def rank_order(table: dict[str, np.ndarray], objective: str) -> np.ndarray:
    """Indices of ``table`` rows sorted by the objective, then N, participant-days, tablets, delay, dose and
    ``design_id`` (earlier tasks and lower doses first among equally costly designs)."""
    keys = [objective] + [k for k in ("participants", "participant_days", "tablets", "delay_h", "dose_mg")
                          if k != objective]
    cols = [np.nan_to_num(np.asarray(table[k], dtype=float), nan=np.inf) for k in keys]
    return np.lexsort([np.asarray(table["design_id"])] + cols[::-1])


def pareto_mask(cost: np.ndarray, power: np.ndarray) -> np.ndarray:
    """Designs no other design beats on both cost (lower) and power (higher)."""
    cost = np.nan_to_num(np.asarray(cost, dtype=float), nan=np.inf)
    power = np.nan_to_num(np.asarray(power, dtype=float), nan=-np.inf)
    order = np.lexsort((-power, cost))
    p = power[order]
    previous_best = np.concatenate([[-np.inf], np.maximum.accumulate(p)[:-1]]) if p.size else p
    keep = np.zeros(cost.size, dtype=bool)
    keep[order] = p > previous_best  # more power than every cheaper (or equally cheap, more powerful) design
    return keep


@dataclass(frozen=True, eq=False)
class ExploreResult:
    """Everything ``blockade explore`` reports.

    ``columns`` is the design table (one entry per design, the Parquet columns); ``best_plans`` the
    ``blockade plan`` results of the best few feasible designs (fitted model), in rank order.
    """

    scenario_name: str
    source: str
    n_designs: int
    n_draws: int
    structures: tuple[tuple[str, float], ...]
    constraints: dict
    level: float
    objective: str
    columns: dict
    best_plans: tuple = ()
    chunks_computed: int = 0

    # ------------------------------------------------------------------ selections
    def ranked_feasible(self) -> np.ndarray:
        """Row indices of the feasible designs, best first."""
        order = rank_order(self.columns, self.objective)
        return order[np.asarray(self.columns["feasible"], dtype=bool)[order]]

    def eligible(self) -> np.ndarray:
        """Designs that meet every constraint other than power with the stated probability (all of them when
        no such constraint is set): the ones whose power is worth trading against cost."""
        ok = np.ones(self.n_designs, dtype=bool)
        for k in self.constraints:
            if k != "power_attenuated":
                ok &= np.asarray(self.columns[f"p_{k}"], dtype=float) >= self.level - 1e-12
        return ok

    def pareto(self) -> np.ndarray:
        """Row indices on the Pareto front of power (median over draws) against the objective, among the
        :meth:`eligible` designs (no eligible design is cheaper and at least as powerful)."""
        rows = np.nonzero(self.eligible())[0]
        keep = pareto_mask(np.asarray(self.columns[self.objective])[rows],
                           np.asarray(self.columns["power_attenuated_median"])[rows])
        return rows[keep]

    def design(self, row: int) -> dict[str, Any]:
        """One design in the JSON shape: inputs, probabilities, objectives, criteria."""
        c = self.columns
        kind = str(c["kind"][row])
        inputs = {"kind": kind, "dose_mg": _num(c["dose_mg"][row]), "delay_h": _num(c["delay_h"][row]),
                  "isi_days": None if kind == "between" else _num(c["isi_days"][row]),
                  "sessions": int(c["sessions"][row]), "participants": int(c["participants"][row])}
        return {
            "design_id": int(c["design_id"][row]),
            "design": inputs,
            "probabilities": {k: _num(c[f"p_{k}"][row]) for k in CONSTRAINTS if k in self.constraints},
            "objectives": {k: _num(c[k][row]) for k in OBJECTIVE_COLUMNS},
            "criteria": {name: {"fitted_model": _num(c[name][row]), "median_over_draws": _num(c[f"{name}_median"][row])}
                         for name in CRITERIA},
        }

    def best(self) -> dict | None:
        rows = self.ranked_feasible()
        return self.design(int(rows[0])) if rows.size else None

    # ------------------------------------------------------------------ outputs
    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` output: ``n_designs``, ``n_draws``, ``best``, ``designs`` (feasible, best first)."""
        rows = self.ranked_feasible()
        return {"n_designs": self.n_designs, "n_draws": self.n_draws, "best": self.best(),
                "designs": [self.design(int(r)) for r in rows],
                "constraints": {k: {"threshold": v, "meaning": CONSTRAINT_TEXT[k].format(v)}
                                for k, v in self.constraints.items()},
                "level": self.level, "objective": self.objective,
                "structures": [{"structure": s, "weight": w} for s, w in self.structures]}

    def to_frame(self):
        """The design table as a pandas DataFrame (one row per design, sorted by ``design_id``)."""
        import pandas as pd

        return pd.DataFrame({k: np.asarray(v) for k, v in self.columns.items()})

    def summary(self, top: int = 10) -> str:
        """Plain text: the search, the ranked feasible designs and the best designs' plans."""
        rows = self.ranked_feasible()
        lines = [f"Design search: {self.n_designs} designs x {max(1, self.n_draws)} model draws"
                 + (f" ({', '.join(f'{s} {w:.2f}' for s, w in self.structures)})" if self.structures else
                    " (fitted model only)"),
                 f"A design passes when each constraint holds with probability >= {self.level:g} over the draws:"]
        lines += [f"  - {CONSTRAINT_TEXT[k].format(v)}" for k, v in self.constraints.items()]
        lines.append(f"Feasible designs: {rows.size}; ranked by {self.objective.replace('_', '-')}.")
        if rows.size:
            head = f"  {'#':>3} {'kind':<7} {'dose':>6} {'delay':>6} {'ISI':>5} {'sess':>4} {'N':>5} " \
                   f"{'pt-days':>8} {'tablets':>7} " + " ".join(f"{'P(' + _SHORT[k] + ')':>12}" for k in self.constraints)
            lines.append(head)
            for rank, r in enumerate(rows[:top], 1):
                d = self.design(int(r))
                inp, obj = d["design"], d["objectives"]
                isi = "-" if inp["isi_days"] is None else f"{inp['isi_days']:g}"
                tabs = "-" if obj["tablets"] is None else f"{obj['tablets']:.0f}"
                probs = " ".join(f"{d['probabilities'][k]:>12.3f}" for k in self.constraints)
                lines.append(f"  {rank:>3} {inp['kind']:<7} {inp['dose_mg']:>6g} {inp['delay_h']:>6g} {isi:>5} "
                             f"{inp['sessions']:>4} {inp['participants']:>5} {obj['participant_days']:>8.0f} {tabs:>7} "
                             + probs)
            if rows.size > top:
                lines.append(f"  ... {rows.size - top} more (--json or designs.parquet)")
        else:
            lines.append("No design meets every constraint with the stated probability: widen the space "
                         "(more N, longer ISI, higher dose) or lower explore.level.")
        for rank, plan in enumerate(self.best_plans, 1):
            lines += ["", f"=== Best design #{rank}: blockade plan on it (fitted model) ===", plan.summary()]
        return "\n".join(lines)
