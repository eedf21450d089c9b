"""Markdown blocks of docs/explanation/calibration.md generated from the committed pkpd calibration records.

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
    r = _record("naltrexone")
    v = r["variants"][r["default_hysteresis"]]["key_predictions"]
    ts = r["uncertainty"]["typical_subject"]
    pop = r["population"]["single_50mg"]
    lines = ["| after 50 mg | MOR, typical subject | 95 % interval (parameter uncertainty) | population 5th–95th percentile |",
             "|---|---|---|---|"]
    for key, when, pkey in (("mor_2h", "2 h", "2h"), ("mor_49h", "49 h", "49h"), ("mor_15d", "15 days", "360h")):
        lo, hi = ts[key]["ci95"]
        p = pop[pkey]["MOR"]
        lines.append(f"| {when} | {v[key]:.1f} % | {lo:.1f}–{hi:.1f} % | {p['p05']:.1f}–{p['p95']:.1f} % |")
    return "\n".join(lines)


BLOCKS = {
    "naltrexone parameters": lambda: pkpd_parameter_table("naltrexone"),
    "naloxone parameters": lambda: pkpd_parameter_table("naloxone"),
    "naltrexone comparison": lambda: model_comparison_table("naltrexone"),
    "naloxone comparison": lambda: model_comparison_table("naloxone"),
    "naltrexone predictions": naltrexone_prediction_table,
}

if __name__ == "__main__":
    for k, f in BLOCKS.items():
        print(f"<!-- {k} -->\n{f()}\n")
