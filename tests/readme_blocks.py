"""Markdown blocks of docs/explanation/calibration.md and models.md generated from the committed pkpd records.

Run ``python tests/readme_blocks.py`` after a refit and paste each block over the old one;
tests/test_docs.py keeps the page equal to these.
"""
import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "occupancy" / "data"


def _record(drug):
    return json.loads((DATA / f"pkpd_{drug}_calibration.json").read_text(encoding="utf-8"))


def _g(x):
    return f"{x:.3g}" if abs(x) >= 0.01 else f"{x:.2g}"


def pkpd_parameter_table(drug: str) -> str:
    r = _record(drug)
    v = r["variants"][r["default_hysteresis"]]
    unc = r["uncertainty"]["parameters"] if r["uncertainty"]["variant"] == r["default_hysteresis"] else {}
    lines = ["| parameter | value | 95 % interval (bootstrap) | status |", "|---|---|---|---|"]
    for name, value in v["parameters"].items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or name == "weight_kg":
            continue
        if name in unc:
            lo, hi = unc[name]["ci95"]
            lines.append(f"| `{name}` | {_g(value)} | {_g(lo)}–{_g(hi)} | fitted |")
        elif name in v["fitted"]:
            lines.append(f"| `{name}` | {_g(value)} | — | fitted |")
        else:
            lines.append(f"| `{name}` | {_g(value)} | — | held |")
    return "\n".join(lines)


def model_comparison_table(drug: str) -> str:
    r = _record(drug)
    lines = ["| model | Σz² | targets met | targets evaluable |", "|---|---|---|---|"]
    for name, entry in r["compare"].items():
        rows = entry["rows"]
        ev = [x for x in rows if x["z"] is not None]
        lines.append(f"| {name} | {sum(x['z'] ** 2 for x in ev):.2f} | {sum(bool(x['met']) for x in ev)} | "
                     f"{len(ev)} of {len(rows)} |")
    return "\n".join(lines)


def naltrexone_prediction_table() -> str:
    """What ``blockade simulate single_dose_50mg`` prints for the default model, as a table."""
    import json as _json

    from click.testing import CliRunner

    from occupancy.cli import main

    result = CliRunner().invoke(main, ["simulate", "single_dose_50mg", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    rows = _json.loads(result.stdout)["assessments"]
    lines = ["| after 50 mg | MOR, typical subject | 95 % interval (parameter uncertainty) | population 5th–95th percentile |",
             "|---|---|---|---|"]
    for a, when in zip(rows, ("2 h", "49 h", "15 days")):
        lines.append(f"| {when} | {a['MOR']:.1f} % | {a['MOR_ci_lo']:.1f}–{a['MOR_ci_hi']:.1f} % "
                     f"| {a['MOR_p05']:.1f}–{a['MOR_p95']:.1f} % |")
    return "\n".join(lines)


def _why_not(structure: dict) -> str:
    out = [f"`{name}` {a['median']:.3g} outside {a['range'][0]:g}–{a['range'][1]:g}"
           for name, a in structure["admissibility"].items() if not a["inside"]]
    return "; ".join(out) or "—"


def structure_table(drug: str) -> str:
    """The Bayesian comparison of candidate structures (record section ``structures``)."""
    r = _record(drug)
    lines = ["| structure | elpd_loo by source (SE) | stacking weight | admissible | outside its physiological range "
             "| R-hat max | bulk ESS min | checks covered |", "|---|---|---|---|---|---|---|---|"]
    for name, st in r["structures"].items():
        adm = "**yes (default)**" if name == r["default_structure"] else ("yes" if st["admissible"] else "no")
        n_cov = sum(bool(c["covered"]) for c in st["checks"])
        lines.append(f"| `{name}` | {st['elpd_loo_source']:.1f} ({st['elpd_loo_se']:.1f}) | {st['weight']:.2f} | {adm} "
                     f"| {_why_not(st)} | {st['diagnostics']['rhat_max']:.3f} | {st['diagnostics']['ess_bulk_min']:.0f} "
                     f"| {n_cov} of {len(st['checks'])} |")
    return "\n".join(lines)


def posterior_table(drug: str) -> str:
    """Posterior medians and 95 % credible intervals of the default structure, with each prior."""
    r = _record(drug)
    st = r["structures"][r["default_structure"]]
    lines = ["| parameter | posterior median | 95 % credible interval | unit | prior (source) |", "|---|---|---|---|---|"]
    for p in st["parameters_summary"]:
        lines.append(f"| `{p['name']}` | {_g(p['median'])} | {_g(p['ci_lo'])}–{_g(p['ci_hi'])} | {p.get('unit', '')} "
                     f"| {p['prior']} |")
    return "\n".join(lines)


_VARIABILITY_WHY = {
    "cl_log_sd": ("clearance", "plasma PK CVs (AUC, serum half-life) through their elasticity to CL"),
    "ka_log_sd": ("absorption `ka`", "plasma tmax SDs"),
    "affinity_log_sd": ("affinity (K)", "posterior median of ω_aff, estimated jointly with the PET measurement error σ_PET "
                        "from MOR data only"),
    "koff_log_sd": ("`koff`", "Lee's 72–108 h range, where the half-time depends on it (else 0)"),
    "ke0_log_sd": ("`ke0`", "matched by simulation to Kim 1997's half-time SD 1.6 h on the natural scale"),
}


def variability_table() -> str:
    """Between-subject log-SDs of the default pkpd structures (healthy volunteers), from the records."""
    lines = ["| drug | quantity | log-SD | derived from |", "|---|---|---|---|"]
    for drug in ("naltrexone", "naloxone"):
        r = _record(drug)
        v = r["structures"][r["default_structure"]]["variability"]
        for key, (what, why) in _VARIABILITY_WHY.items():
            if key in v:
                lines.append(f"| {drug} | {what} | {v[key]:.3g} | {why} |")
    return "\n".join(lines)


BLOCKS = {
    "naltrexone parameters": lambda: pkpd_parameter_table("naltrexone"),
    "naloxone parameters": lambda: pkpd_parameter_table("naloxone"),
    "naltrexone comparison": lambda: model_comparison_table("naltrexone"),
    "naloxone comparison": lambda: model_comparison_table("naloxone"),
    "naltrexone predictions": naltrexone_prediction_table,
    "naltrexone structures": lambda: structure_table("naltrexone"),
    "naloxone structures": lambda: structure_table("naloxone"),
    "naltrexone posterior": lambda: posterior_table("naltrexone"),
    "naloxone posterior": lambda: posterior_table("naloxone"),
    "pkpd variability": variability_table,
}

if __name__ == "__main__":
    for k, f in BLOCKS.items():
        print(f"<!-- {k} -->\n{f()}\n")
