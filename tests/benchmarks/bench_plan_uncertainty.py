"""Benchmark: what model uncertainty costs the planner (issue 19 item 6).

Times :func:`occupancy.workflows.planning.plan.plan_study` on a bundled plan scenario without model uncertainty
(``model_draws=0``) and with 40 (the default) and more posterior draws, and — with ``--two-structures`` — with a
two-structure ensemble in which one structure uses binding kinetics (the costly integrator), as
``structure_draws`` will return once the Bayesian calibration lands.  Prints wall and CPU time per run.

Run:  python tests/benchmarks/bench_plan_uncertainty.py [--scenario plan_crossover_15d] [--draws 0,40,200]
      [--two-structures]
(named bench_*.py so pytest does not collect it; speed is reported, never asserted.)
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # time this checkout, not an installed copy

from occupancy.models import get_model  # noqa: E402
from occupancy.models.pkpd_naltrexone import NaltrexonePKPD  # noqa: E402
from occupancy.workflows.planning.design import load_plan_scenario  # noqa: E402
from occupancy.workflows.planning.plan import plan_study  # noqa: E402


def two_structures(self, n, seed):
    """A stand-in for the calibration's ensemble: the effect-compartment draws and binding-kinetics variants."""
    bk = get_model("naltrexone", "pkpd", hysteresis="binding_kinetics")
    f = np.exp(np.random.default_rng(seed).normal(0.0, 0.2, n))
    return [("effect_compartment", 0.7, self.parameter_draws(n, seed)),
            ("binding_kinetics", 0.3, [replace(bk, k_mor_ng_ml=bk.k_mor_ng_ml * x) for x in f])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="plan_crossover_15d")
    parser.add_argument("--draws", default="0,40,200")
    parser.add_argument("--two-structures", action="store_true")
    args = parser.parse_args()
    if args.two_structures:
        NaltrexonePKPD.structure_draws = two_structures
    scenario = load_plan_scenario(args.scenario)
    for k in (int(x) for x in args.draws.split(",")):
        t0, c0 = time.perf_counter(), time.process_time()
        result = plan_study(scenario, model_draws=k)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        u = result.to_dict()["model_uncertainty"] or {}
        isi = (u.get("min_isi_days") or {}).get("median")
        print(f"{args.scenario}: {k:>4} draws{' (2 structures)' if args.two_structures else ''}: "
              f"wall {wall:6.2f} s, CPU {cpu:6.2f} s; ISI median over draws {isi}")


if __name__ == "__main__":
    main()
