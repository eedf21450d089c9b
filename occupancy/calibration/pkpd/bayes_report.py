"""The Bayesian calibration record as text, as the ``--json`` view of issue 19, and as one figure per source.

:func:`json_view` is the ``blockade calibrate --json`` shape::

    {"drug", "default_structure", "sampler", "diagnostics": {"rhat_max", "ess_bulk_min"},
     "structures": [{"name", "elpd_loo_source", "weight"}],
     "parameters": [{"name", "median", "ci_lo", "ci_hi", "prior"}],          (default structure)
     "checks": [{"source", "target", "observed", "predicted_median", "predicted_lo", "predicted_hi", "covered"}]}

:func:`format_bayes_report` is the text (``blockade calibrate``); :func:`write_check_figures` draws, per source,
each observation with its error bar over the 95 % posterior predictive band (matplotlib imported lazily).
"""

from __future__ import annotations

import re

CHECK_KEYS = ("source", "target", "observed", "predicted_median", "predicted_lo", "predicted_hi", "covered")


def json_view(record: dict) -> dict:
    """The issue-19 JSON view of a record with a Bayesian calibration."""
    default = record["default_structure"]
    d = record["structures"][default]
    sampler = {k: record["sampler"][k] for k in ("name", "walkers", "burn_in", "steps", "seed", "stored_draws",
                                                 "steps_by_structure") if k in record["sampler"]}
    return {"drug": record["drug"], "default_structure": default, "sampler": sampler,
            "diagnostics": {"rhat_max": d["diagnostics"]["rhat_max"], "ess_bulk_min": d["diagnostics"]["ess_bulk_min"]},
            "structures": [{"name": k, "elpd_loo_source": v["elpd_loo_source"], "weight": v["weight"],
                            "admissible": v["admissible"]} for k, v in record["structures"].items()],
            "parameters": [{k: p[k] for k in ("name", "median", "ci_lo", "ci_hi", "prior")}
                           for p in d["parameters_summary"]],
            "checks": [{k: c[k] for k in CHECK_KEYS} for c in d["checks"]]}


def _g(x, spec=".4g"):
    return format(x, spec) if isinstance(x, (int, float)) else str(x)


def format_bayes_report(record: dict) -> str:
    """Text report: structure comparison, default's parameters with priors, predictive checks, diagnostics."""
    default = record["default_structure"]
    L = [f"{record['drug']} pkpd: Bayesian calibration (emcee; {record['sampler'].get('walkers')} walkers, "
         f"{record['sampler'].get('burn_in')} burn-in + {record['sampler'].get('steps')} steps"
         + (f" ({', '.join(f'{k}: {v}' for k, v in record['sampler'].get('steps_by_structure', {}).items() if v != record['sampler'].get('steps'))})"
            if any(v != record['sampler'].get('steps') for v in record['sampler'].get('steps_by_structure', {}).values()) else "")
         + f", seed {record['sampler'].get('seed')})", "",
         "Structures (PSIS-LOO by source: elpd = predictive log density of each source's data when left out)",
         f"  {'structure':<22} {'elpd_loo':>9} {'SE':>6} {'weight':>7} {'admissible':>10} {'R-hat':>6} {'ESS':>6} "
         f"{'covered':>8}"]
    for k, v in record["structures"].items():
        mark = " <- default" if k == default else ""
        L.append(f"  {k:<22} {v['elpd_loo_source']:>9.2f} {v['elpd_loo_se']:>6.2f} {v['weight']:>7.3f} "
                 f"{'yes' if v['admissible'] else 'no':>10} {v['diagnostics']['rhat_max']:>6.3f} "
                 f"{v['diagnostics']['ess_bulk_min']:>6.0f} {v['covered_fraction']:>7.0%}{mark}")
    L.append("  weight: stacking over the admissible structures (0 for inadmissible ones)")
    for k, v in record["structures"].items():
        if not v["admissible"]:
            out = [f"{p} = {a['median']:.3g} outside {a['range'][0]:.3g}-{a['range'][1]:.3g}"
                   for p, a in v["admissibility"].items() if not a["inside"]]
            L.append(f"  {k}: not admissible ({'; '.join(out)})")
    d = record["structures"][default]
    L += ["", f"Parameters of the default structure '{default}' (posterior median, 95 % credible interval; prior)"]
    for p in d["parameters_summary"]:
        L.append(f"  {p['name']:<26} {p['median']:>10.4g}  [{p['ci_lo']:.4g}, {p['ci_hi']:.4g}] {p['unit']}")
        L.append(f"      prior: {p['prior']}")
    L += ["", f"Predictive checks of '{default}' (observed vs the 95 % posterior predictive band)",
          f"  {'source':<26} {'target':<48} {'observed':>9} {'median':>8} {'band':>17}  covered  within 1 SD"]
    for c in d["checks"]:
        band = f"[{c['predicted_lo']:.3g}, {c['predicted_hi']:.3g}]"
        L.append(f"  {c['source'][:26]:<26} {c['target'][:48]:<48} {c['observed']:>9.4g} {c['predicted_median']:>8.4g} "
                 f"{band:>17}  {'yes' if c['covered'] else 'NO':>7}  {'yes' if c['within_one_sd'] else 'no':>10}")
        if c.get("literal"):
            L.append(f"      literal: {c['literal']}")
    n_cov = sum(c["covered"] for c in d["checks"])
    L.append(f"  {n_cov} of {len(d['checks'])} observations inside the 95 % predictive band "
             f"({n_cov / len(d['checks']):.0%}); 'within 1 SD' = |observed - median| <= predictive SD")
    diag = d["diagnostics"]
    L += ["", f"Diagnostics (default): R-hat max {diag['rhat_max']:.4f}, bulk ESS min {diag['ess_bulk_min']:.0f}; "
              f"acceptance {d['acceptance']:.2f}",
          f"Variability (healthy volunteers, default): " + ", ".join(
              f"{k} {v:.3g}" for k, v in d["variability"].items() if k.endswith("_log_sd")),
          f"  source: {d['variability']['source']}"]
    if "variability_patient" in d:
        L.append("  patient alternative: " + ", ".join(f"{k} {v:.3g}" for k, v in d["variability_patient"].items()
                                                       if k.endswith("_log_sd")))
    return "\n".join(L)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60]


def check_figure(rows: list[dict], title: str, ax=None):
    """One source's checks: the 95 % posterior predictive band and median per target, the observation on top."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(rows) + 2.0), 3.6))
    else:
        fig = ax.figure
    units = {r.get("unit") or "" for r in rows}
    if len(units) > 1:  # mixed units (a PK study): everything relative to the predictive median
        rows = [{**r, **{k: r[k] / r["predicted_median"] for k in ("observed", "predicted_lo", "predicted_median",
                                                                    "predicted_hi")},
                 "observed_sd": (r.get("observed_sd") or 0.0) / r["predicted_median"],
                 "unit": "relative to the predictive median"} for r in rows]
    x = list(range(len(rows)))
    lo = [r["predicted_lo"] for r in rows]
    hi = [r["predicted_hi"] for r in rows]
    med = [r["predicted_median"] for r in rows]
    ax.bar(x, [h - lo_ for lo_, h in zip(lo, hi)], bottom=lo, width=0.5, color="#9ecae1", alpha=0.7,
           label="95 % posterior predictive")
    ax.scatter(x, med, marker="_", s=400, color="#08519c", label="predictive median", zorder=3)
    err = [r.get("observed_sd") or 0.0 for r in rows]
    ax.errorbar(x, [r["observed"] for r in rows], yerr=err, fmt="o", color="#d94801", label="observed", zorder=4)
    ax.set_xticks(x)
    ax.set_xticklabels([r["target"][:28] for r in rows], rotation=30, ha="right", fontsize=7)
    unit = rows[0].get("unit") or ""
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def write_check_figures(record: dict, folder) -> list[str]:
    """One PNG per source (default structure) into ``folder``; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    from pathlib import Path

    import matplotlib.pyplot as plt

    d = record["structures"][record["default_structure"]]
    by = {}
    for c in d["checks"]:
        by.setdefault(c["source"], []).append(c)
    names = []
    for src, rows in by.items():
        fig = check_figure(rows, f"{record['drug']} ({record['default_structure']}): {src}")
        name = f"check_{record['drug']}_{_slug(src)}.png"
        fig.savefig(Path(folder) / name, dpi=110, metadata={"Software": None})
        plt.close(fig)
        names.append(name)
    return names
