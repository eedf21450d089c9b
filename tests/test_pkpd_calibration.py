"""The pkpd calibration routine and `blockade calibrate`: reproducible records, honest comparison, full report."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from occupancy.calibration import pkpd as cal
from occupancy.calibration import pkpd_targets as T
from occupancy.cli import main
from occupancy.models.pkpd_base import HYSTERESIS

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = HYSTERESIS


def run(args):
    return CliRunner().invoke(main, args)


@pytest.fixture(scope="module")
def ntx_record():
    return cal.load_record("naltrexone")


@pytest.fixture(scope="module")
def nlx_record():
    return cal.load_record("naloxone")


def _assert_same_fit(refit: dict, committed: dict, rel: float, sum_rel: float = 1e-6) -> None:
    assert refit["optimizer"]["success"]
    assert set(refit["fitted"]) == set(committed["fitted"])
    for name, value in committed["parameters"].items():
        if isinstance(value, (int, float)):
            assert refit["parameters"][name] == pytest.approx(value, rel=rel), name
    assert refit["sum_z2"] == pytest.approx(committed["sum_z2"], rel=sum_rel)


# ----------------------------------------------------------------------------------------- reproducible
def test_point_fit_reproduces_the_committed_naltrexone_default(ntx_record):
    """Pass 1 (rho = 100) -> derived rho -> the default variant's fit: the committed numbers (~1 min)."""
    sums = {h: v["sum_z2"] for h, v in ntx_record["variants"].items()}
    default = min(sums, key=sums.get)  # the legacy least-squares default (the models now use the Bayesian one)
    assert default == "effect_compartment"
    refit = cal.point_fit("naltrexone", default)
    assert refit["rho"]["rho"] == pytest.approx(ntx_record["held"]["nol_potency_ratio"]["value"], rel=1e-3)
    _assert_same_fit(refit["variants"][default], ntx_record["variants"][default], rel=1e-3)


def test_calibrate_point_stage_reproduces_the_committed_naloxone_record(nlx_record, capsys, stderr_is_terminal):
    rec = cal.calibrate("naloxone", full=False, progress=True)
    assert "naloxone" in capsys.readouterr().err  # the tqdm bar names the step on stderr
    assert rec["default_hysteresis"] == nlx_record["default_hysteresis"]
    for h in VARIANTS:  # binding kinetics: the integrator's accuracy (see tests/test_pkpd_models.py BINDING_TOL)
        _assert_same_fit(rec["variants"][h], nlx_record["variants"][h], rel=1e-3,
                         sum_rel=1e-4 if h == "binding_kinetics" else 1e-6)


def test_point_fit_rejects_unknown_names():
    with pytest.raises(ValueError, match="drug"):
        cal.point_fit("aspirin")
    with pytest.raises(ValueError, match="hysteresis"):
        cal.point_fit("naloxone", "direct")


# ----------------------------------------------------------------------------------------- compare
@pytest.fixture(scope="module")
def ntx_compare():
    r = run(["calibrate", "--compare", "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _z(target: dict, predicted: float) -> float:
    """The target's z, recomputed from its definition (hinge residuals; log targets on the log scale)."""
    lo, hi, kind = target["lower"], target["upper"], target["kind"]
    f = math.log if target["log"] else (lambda x: x)
    v = f(predicted)
    if kind == "point":
        res = v - f(lo)
    elif lo is not None and v < f(lo):
        res = v - f(lo)
    elif hi is not None and v > f(hi):
        res = v - f(hi)
    else:
        res = 0.0
    return target["weight"] * res / target["scale"]


def test_compare_json_has_every_model_and_target(ntx_compare):
    names = [m["name"] for m in ntx_compare["models"]]
    assert names[:4] == ["emax", "washout", "pkpd (effect_compartment)", "pkpd (binding_kinetics)"]
    ids = [t.id for t in T.naltrexone_targets()]
    for m in ntx_compare["models"]:
        assert {"name", "sum_z2", "targets", "n_evaluable"} <= set(m)
        assert [r["target"] for r in m["targets"]] == ids
        for r in m["targets"]:
            assert {"target", "observed", "predicted", "z", "met"} <= set(r)
            assert isinstance(r["met"], bool)


def test_compare_z_and_met_follow_the_target_definition(ntx_compare):
    targets = {t.id: t for t in T.naltrexone_targets()}
    for m in ntx_compare["models"]:
        evaluable = [r for r in m["targets"] if r["predicted"] is not None]
        for r in m["targets"]:
            t = targets[r["target"]]
            assert (r["kind"], r["lower"], r["upper"], r["scale"], r["weight"]) == \
                (t.kind, t.lower, t.upper, t.scale, t.weight)
            assert r["observed"] == t.observed
            if r["predicted"] is None:  # cannot be predicted: null z, not met, and says why
                assert r["z"] is None and r["met"] is False and r["evaluable"] is False and r["reason"]
            else:
                assert r["z"] == pytest.approx(_z(r, r["predicted"]), abs=1e-9)
                assert r["met"] is (abs(r["z"]) <= 1.0)
        assert m["n_evaluable"] == len(evaluable)
        assert m["sum_z2"] == pytest.approx(sum(r["z"] ** 2 for r in evaluable), rel=1e-12)
        assert m["n_met"] == sum(r["met"] for r in m["targets"])


def test_effect_compartment_is_the_best_fully_evaluable_naltrexone_model(ntx_compare):
    by = {m["name"]: m for m in ntx_compare["models"]}
    n = len(T.naltrexone_targets())
    full = {k: m["sum_z2"] for k, m in by.items() if m["n_evaluable"] == n}
    assert min(full, key=full.get) == "pkpd (effect_compartment)"
    assert by["washout"]["sum_z2"] > by["pkpd (effect_compartment)"]["sum_z2"]
    # emax and washout are scored on fewer targets, and say which and why
    assert by["emax"]["n_evaluable"] < n and by["washout"]["n_evaluable"] < n
    emax_late = next(r for r in by["emax"]["targets"] if r["target"] == "review_49h")
    assert emax_late["predicted"] is None and "8 h" in emax_late["reason"]
    wash_pk = next(r for r in by["washout"]["targets"] if r["target"] == "ntx_cmax")
    assert "concentrations" in wash_pk["reason"]


def test_compare_pkpd_rows_are_the_committed_residuals(ntx_compare, ntx_record):
    by = {m["name"]: m for m in ntx_compare["models"]}
    for h in VARIANTS:
        rows = by[f"pkpd ({h})"]["targets"]
        tol = {"rel": 1e-4, "abs": 5e-3} if h == "binding_kinetics" else {"rel": 1e-9}  # integrator accuracy
        for r, committed in zip(rows, ntx_record["variants"][h]["residuals"]):
            assert r["predicted"] == pytest.approx(committed["predicted"], **tol)
        assert by[f"pkpd ({h})"]["sum_z2"] == pytest.approx(ntx_record["variants"][h]["sum_z2"], rel=tol["rel"])


def test_compare_naloxone_and_text_table():
    r = run(["calibrate", "--drug", "naloxone", "--compare", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [m["name"] for m in data["models"]] == ["bateman", "pkpd (effect_compartment)", "pkpd (binding_kinetics)"]
    assert all(m["n_evaluable"] == len(T.naloxone_targets()) for m in data["models"])
    text = run(["calibrate", "--compare"]).stdout
    assert "sum z^2 (evaluable)" in text and "n/a" in text and "not evaluable" in text
    assert "kim_half_time" in run(["calibrate", "--compare", "--drug", "naloxone"]).stdout


# ----------------------------------------------------------------------------------------- report and CLI
def test_report_has_every_section(ntx_record):
    r = run(["calibrate", "--legacy"])
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert text == cal.format_report(ntx_record) + "\n"
    for section in ("residual table", "conflicts by leave-one-out", "conflicts by forcing",
                    "parameters and identifiability", "profile 95% CI", "profile terminal_auc_fraction",
                    "profile nol_potency_ratio", "parameter uncertainty", "Rabiner scan-time assumption",
                    "between-subject variability", "model comparison", "optimiser"):
        assert section in text, section
    for row in ntx_record["variants"]["effect_compartment"]["residuals"]:
        assert row["target"] in text


def test_naloxone_report():
    text = run(["calibrate", "--drug", "naloxone", "--legacy"]).stdout
    for section in ("residual table", "fit without Kim", "parameter uncertainty", "Dowling 2008"):
        assert section in text, section


def test_default_prints_the_record_without_fitting():
    code = ("import sys\nfrom occupancy.cli import main\n"
            "try:\n    main(['calibrate'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "print('FIT', 'scipy.optimize' in sys.modules or 'emcee' in sys.modules, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "FIT False" in done.stderr and "PSIS-LOO" in done.stdout


def test_json_prints_the_record(ntx_record):
    data = json.loads(run(["calibrate", "--legacy", "--json"]).stdout)
    assert data["variants"]["effect_compartment"]["parameters"] == ntx_record["variants"]["effect_compartment"]["parameters"]


def test_refit_write_goes_through_the_routine_and_writes_atomically(monkeypatch, tmp_path, ntx_record):
    """--refit --write plumbing with the routine stubbed by the committed record (the real refit takes ~25 min)."""
    calls = []
    real_write = cal.write_record
    target = tmp_path / "pkpd_naltrexone_calibration.json"

    def fake(drug, bootstrap_n, progress):
        calls.append((drug, bootstrap_n, progress))
        return json.loads(json.dumps(ntx_record))

    monkeypatch.setattr(cal, "calibrate", fake)
    monkeypatch.setattr(cal, "write_record", lambda rec: real_write(rec, target))
    r = run(["calibrate", "--legacy", "--refit", "--quiet", "--bootstrap-n", "50"])
    assert r.exit_code == 0, r.output
    assert calls == [("naltrexone", 50, False)]
    assert "committed parameters reproduced" in r.stdout and not target.exists()
    r = run(["calibrate", "--legacy", "--refit", "--write"])
    assert r.exit_code == 0, r.output
    assert calls[-1] == ("naltrexone", 200, True) and f"wrote {target}" in r.stderr
    written = json.loads(target.read_text(encoding="utf-8"))
    assert written["variants"]["effect_compartment"]["parameters"] == \
        ntx_record["variants"]["effect_compartment"]["parameters"]
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left behind


def test_washout_calibration_stays_available():
    r = run(["calibrate", "--model", "washout"])
    assert r.exit_code == 0, r.output
    assert "review_49h" in r.stdout and "conflicting targets" in r.stdout and "reproduced" in r.stdout
    data = json.loads(run(["calibrate", "--model", "washout", "--json"]).stdout)
    assert {"parameters", "residuals", "targets", "optimizer", "conflicts"} <= set(data)
    assert "alternative fit" in run(["calibrate", "--free-half-life"]).stdout


BAD = [
    (["calibrate", "--drug", "aspirin"], "--drug"),
    (["calibrate", "--model", "emax"], "--model"),
    (["calibrate", "--write"], "--refit"),
    (["calibrate", "--bootstrap-n", "100"], "--refit"),
    (["calibrate", "--legacy", "--refit", "--bootstrap-n", "5"], "--bootstrap-n"),
    (["calibrate", "--refit", "--bootstrap-n", "50"], "--legacy"),
    (["calibrate", "--legacy", "--out", "figs"], "--out"),
    (["calibrate", "--legacy", "--refit", "--write", "--bootstrap-n", "0"], "bootstrap"),
    (["calibrate", "--refit", "--bootstrap-n", "many"], "--bootstrap-n"),
    (["calibrate", "--model", "washout", "--drug", "naloxone"], "naltrexone"),
    (["calibrate", "--model", "washout", "--compare"], "--compare"),
    (["calibrate", "--model", "pkpd", "--free-half-life"], "--free-half-life"),
    (["calibrate", "--free-half-life", "--write"], "--free-half-life"),
]


@pytest.mark.parametrize("args,needle", BAD)
def test_bad_input_is_one_line_exit_2(args, needle):
    r = run(args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.output
