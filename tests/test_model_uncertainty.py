"""Model uncertainty in the answers (issue 19 item 6): posterior draws × admissible structures, weighted.

The calibration admits one naltrexone structure today (``three_phase_binding``), so a fake two-structure
ensemble (two legacy structures, weighted) is monkeypatched in to exercise the across-structures logic.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from occupancy.models import get_model
from occupancy.models.pkpd_naltrexone import NaltrexonePKPD
from occupancy.simulation import model_uncertainty as mu
from occupancy.workflows.planning.design import load_plan_scenario
from occupancy.workflows.planning.plan import plan_study
from occupancy.workflows.planning.searches import VirtualPopulation

U_KEYS = {"median", "lo", "hi", "across_structures"}
HEADLINES = {"min_delay_h", "min_isi_days", "prob_mor_ge_90_at_primary", "power_attenuated"}


def _fake_structures(weight_ec=0.75, potent=False, weak=False):
    """``structure_draws`` of two structures: the effect-compartment posterior (bootstrap today) and the
    binding-kinetics variant with its K_MOR spread by a seeded log-normal (``potent``: K_MOR / 30, so that
    blockade reaches 90 % in 95 % of people and the minimum delay exists under that structure only)."""

    def structure_draws(self, n, seed):
        ec = get_model("naltrexone", "pkpd", structure="effect_compartment")
        bk = get_model("naltrexone", "pkpd", structure="binding_kinetics")
        rng = np.random.default_rng(seed)
        f = np.exp(rng.normal(0.0, 0.2, n)) / (30.0 if potent else 1.0) * (30.0 if weak else 1.0)
        return [("effect_compartment", weight_ec, ec.parameter_draws(n, seed)),
                ("binding_kinetics", 1.0 - weight_ec, [replace(bk, k_mor_ng_ml=bk.k_mor_ng_ml * x) for x in f])]

    return structure_draws


def test_allocation_and_percentiles_with_not_reached():
    assert mu.allocate(40, [0.75, 0.25]) == [30, 10]
    assert mu.allocate(7, [0.5, 0.3, 0.2]) == [4, 2, 1] and sum(mu.allocate(13, [0.4, 0.35, 0.25])) == 13
    v = [1.0, 2.0, 3.0, 4.0]
    assert mu.percentile_reached(v, 50) == pytest.approx(np.percentile(v, 50))
    assert mu.percentile_reached(v, 2.5) == pytest.approx(np.percentile(v, 2.5))
    assert mu.percentile_reached([1.0, 2.0, math.inf], 50) == 2.0
    assert mu.percentile_reached([1.0, 2.0, math.inf], 97.5) is None  # between 2 and not reached


def test_ensemble_is_the_admissible_structures_posterior_draws_and_seeded():
    m = get_model("naltrexone", "pkpd")
    ens = mu.ensemble(m, 12, 3)
    assert ens.n_pooled == 12 and len(ens.structures) == 1 and ens.structures[0][0] == m.structure_name
    assert [d for _s, d in ens.members] == m.structure_draws(12, 3)[0][2]
    assert mu.ensemble(m, 12, 3) == ens


def test_ensemble_fallback_without_structures_is_the_parameter_draws():
    class OneStructure:  # a model with parameter draws but no structure_draws (e.g. a legacy record)
        hysteresis = "effect_compartment"
        name = "pkpd"

        def parameter_draws(self, n, seed):
            return [("draw", n, seed, i) for i in range(n)]

    ens = mu.ensemble(OneStructure(), 5, 2)
    assert [d for _s, d in ens.members] == [("draw", 5, 2, i) for i in range(5)]
    assert ens.structures[0][0] == "effect_compartment"


def test_ensemble_weights_pool_and_describe_every_structure(monkeypatch):
    monkeypatch.setattr(NaltrexonePKPD, "structure_draws", _fake_structures(0.95), raising=False)
    ens = mu.ensemble(get_model("naltrexone", "pkpd"), 20, 1)
    (n1, w1, p1, e1), (n2, w2, p2, e2) = ens.structures
    assert (p1, p2) == (19, 1) and e2 == mu.MIN_PER_STRUCTURE  # small weight: few pooled, still described
    assert ens.n_pooled == 20 and len(ens.members) == e1 + e2
    u = mu.uncertain("x", "", [float(i) for i in range(len(ens.members))], ens)
    meds = u.structure_medians()
    assert u.across_structures == [min(meds), max(meds)]
    assert u.median == pytest.approx(np.percentile([i for i, p in enumerate(ens.pooled) if p], 50))


@pytest.fixture(scope="module")
def scenario():
    return load_plan_scenario("plan_crossover_15d")


def test_plan_json_shape_and_single_structure_values(scenario):
    r = plan_study(scenario, model_draws=6, model_seed=2)
    d = r.to_dict()["model_uncertainty"]
    assert set(d) == HEADLINES and all(set(u) == U_KEYS for u in d.values())
    # independent recomputation of P(MOR >= 90 %) at the primary assessment for each parameter draw
    model = scenario.build_model()
    draws = model.structure_draws(6, 2)[0][2]  # the ensemble of the one admissible structure
    probs = []
    for m in draws:
        pop = VirtualPopulation(m, 500, scenario.population.seed, scenario.variability())
        probs.append(float((pop.values(scenario.schedule(), [1.5])[:, 0] >= 90.0).mean()))
    u = d["prob_mor_ge_90_at_primary"]
    assert u["median"] == pytest.approx(np.percentile(probs, 50), abs=1e-12)
    assert (u["lo"], u["hi"]) == pytest.approx(tuple(np.percentile(probs, [2.5, 97.5])), abs=1e-12)
    assert u["across_structures"] == [u["median"], u["median"]]  # one structure
    assert u["lo"] < u["hi"]  # the parameters matter
    assert 0.0 <= d["power_attenuated"]["lo"] <= d["power_attenuated"]["hi"] <= 1.0
    assert d["min_isi_days"]["lo"] <= d["min_isi_days"]["median"] <= d["min_isi_days"]["hi"]
    # seeded: the same draws give the same JSON, byte for byte
    again = plan_study(scenario, model_draws=6, model_seed=2).to_dict()["model_uncertainty"]
    assert json.dumps(again) == json.dumps(d)
    off = plan_study(scenario, model_draws=0)
    assert off.to_dict()["model_uncertainty"] is None and "0 draws" in off.summary()


def test_plan_reports_in_words_when_the_answer_depends_on_the_structure(scenario, monkeypatch):
    monkeypatch.setattr(NaltrexonePKPD, "structure_draws", _fake_structures(0.5, potent=True), raising=False)
    r = plan_study(scenario, model_draws=2, model_seed=1)
    d = r.to_dict()["model_uncertainty"]
    delay = d["min_delay_h"]
    # reached under the potent structure only: its median is a number, the other's "not reached" (None)
    assert delay["across_structures"][0] is not None and delay["across_structures"][1] is None
    lo, hi = d["prob_mor_ge_90_at_primary"]["across_structures"]
    assert lo < 0.5 < hi
    text = r.summary()
    assert "not reached under 1 of 2 admissible structures (effect_compartment)" in text
    assert "2 admissible structures (effect_compartment 50%, binding_kinetics 50%)" in text
    from occupancy.report.plan import plan_report_section

    section = plan_report_section(r)
    assert any("not reached under 1 of 2 admissible structures" in k.reading for k in section.key_numbers)


def test_simulate_band_pools_structures_and_reports_their_spread(monkeypatch):
    from occupancy.dosing.schedule import Schedule
    from occupancy.report.simulation import simulation_report_section
    from occupancy.simulation.simulate import Assessment, simulate

    m = get_model("naltrexone", "pkpd")
    s = Schedule.single(50.0)
    items = [Assessment("1h", 1.0), Assessment("48h", 48.0)]
    one = simulate(m, s, items, uncertainty=(8, 1))
    draws = m.structure_draws(8, 1)[0][2]
    mor = np.array([[d.blockade(s, [1.0, 48.0])[k] for k in range(2)] for d in draws])
    # < 40 draws: min-max (the binding integrator's value at a time does not depend on the other times asked for)
    assert one.assessments[0]["MOR_ci_lo"] == pytest.approx(mor[:, 0].min(), rel=1e-12)
    med = float(np.median(mor[:, 1]))
    assert one.assessments[1]["MOR_across_structures"] == pytest.approx([med, med], rel=1e-12)
    monkeypatch.setattr(NaltrexonePKPD, "structure_draws", _fake_structures(0.5, potent=True), raising=False)
    two = simulate(m, s, items, uncertainty=(4, 1))
    lo, hi = two.assessments[0]["MOR_across_structures"]
    assert hi - lo > 5.0 and two.uncertainty["structures"][1]["name"] == "binding_kinetics"
    # the pooled band (2 draws of each structure, weights 1/2) spans both structures
    # (the structure medians are over every described draw, the band over the pooled ones only)
    band = two.assessments[0]["MOR_ci_hi"] - two.assessments[0]["MOR_ci_lo"]
    assert band > 0.5 * (hi - lo)
    assert "depends on the model structure" in two.summary()
    section = simulation_report_section(two)
    assert any("depends on the model structure" in k.reading for k in section.key_numbers)


def test_reanalysis_reports_contrasts_and_estimates_across_structures(monkeypatch):
    from occupancy.workflows.reanalysis.analysis import reanalyse
    from occupancy.workflows.reanalysis.settings import settings_from_scenario

    settings = settings_from_scenario(None, n=50, draws=0, uncertainty_draws=2)
    one = reanalyse(None, settings).uncertainty
    assert one["n"] == 2 and len(one["structures"]) == 1
    assert one["contrast_mean_across_structures"][0] == one["contrast_mean_across_structures"][1]
    # a weak second structure (K_MOR × 30): the drug sessions' blockade, hence the contrast, differs clearly
    monkeypatch.setattr(NaltrexonePKPD, "structure_draws", _fake_structures(0.5, weak=True), raising=False)
    r = reanalyse(None, settings)
    u = r.to_dict()["parameter_uncertainty"]
    assert [s["name"] for s in u["structures"]] == ["effect_compartment", "binding_kinetics"] and u["n"] == 2
    lo, hi = u["contrast_mean_across_structures"]
    assert hi - lo > 2.0  # the weak structure blocks less in the drug condition
    assert len(u["unit_contrasts"]) == len(r.units) and all(
        c["lo"] <= c["median"] <= c["hi"] for c in u["unit_contrasts"] if c["median"] is not None)
    assert "the mean MOR contrast depends on the model structure" in r.summary()
    json.dumps(u)  # JSON-ready


def test_annotate_adds_the_contrasts_model_uncertainty(monkeypatch):
    from occupancy.annotation.annotate import MODEL_UNCERTAINTY_COLUMNS, AnnotationSettings, annotate

    settings = AnnotationSettings(n=50)
    base = annotate(None, settings, keep_draws=False)
    assert not set(MODEL_UNCERTAINTY_COLUMNS) & set(base.table.columns)
    one = annotate(None, settings, keep_draws=False, model_draws=3, model_seed=1)
    # independent: the contrasts re-annotated with each parameter draw
    from occupancy.annotation.annotate import annotate_outcomes
    from occupancy.annotation.literature import load_outcomes

    table = load_outcomes(None, default_window_h=settings.default_window_h)
    draws = settings.build_model().structure_draws(3, 1)[0][2]
    c = np.array([annotate_outcomes(table, settings, keep_draws=False, model=m).table["MOR_contrast"] for m in draws])
    np.testing.assert_allclose(one.table["MOR_contrast_model_lo"], np.nanmin(c, axis=0), rtol=1e-12)
    np.testing.assert_allclose(one.table["MOR_contrast_model_hi"], np.nanmax(c, axis=0), rtol=1e-12)
    assert "MOR_contrast_model_lo" in one.outcome_records()[0] and one.to_dict()["model_uncertainty"]["draws"] == 3
    monkeypatch.setattr(NaltrexonePKPD, "structure_draws", _fake_structures(0.5, potent=True), raising=False)
    two = annotate(None, settings, keep_draws=False, model_draws=2, model_seed=1)
    spread = two.table["MOR_contrast_structures_max"] - two.table["MOR_contrast_structures_min"]
    assert (spread > 2.0).any()
    assert "depends on the model structure" in two.summary()


def test_plan_cli_model_draws_option_and_between_design():
    from click.testing import CliRunner

    from occupancy.cli import main

    runner = CliRunner()
    ok = runner.invoke(main, ["plan", "plan_between_50mg", "--json", "--quiet", "--model-draws", "2"])
    assert ok.exit_code == 0, ok.output
    d = json.loads(ok.stdout)["model_uncertainty"]
    assert set(d) == HEADLINES and all(set(u) == U_KEYS for u in d.values())
    assert d["min_isi_days"] == {"median": None, "lo": None, "hi": None, "across_structures": [None, None]}
    assert d["power_attenuated"]["lo"] <= d["power_attenuated"]["hi"]
    bad = runner.invoke(main, ["plan", "plan_between_50mg", "--model-draws", "1"])
    assert bad.exit_code == 2 and "--model-draws" in bad.output and "Traceback" not in bad.output


def test_reports_say_what_version_3_changed_for_the_default_only():
    """Plan and reanalysis state version 3's change (with version 2's historical numbers) as an assumption, for the
    default naltrexone structure only; the numbers quoted for version 3 are the typical subject's today."""
    from occupancy.dosing.schedule import Schedule
    from occupancy.models.pkpd_naltrexone import VERSION_3_NOTE, version_note
    from occupancy.workflows.reanalysis.result import assumptions_for
    from occupancy.workflows.reanalysis.settings import settings_from_scenario

    m = get_model("naltrexone", "pkpd")
    assert version_note(m) == VERSION_3_NOTE
    assert version_note(get_model("naltrexone", "pkpd", structure="effect_compartment")) is None
    assert version_note(get_model("naloxone", "pkpd")) is None
    t = np.arange(0.0, 12.0, 0.01)
    v = m.blockade(Schedule.single(50.0), t)
    assert f"{v[100]:.0f} % instead of 73.5 % MOR at 1 h" in VERSION_3_NOTE[0]
    assert f"peak at {t[np.argmax(v)]:.1f} h" in VERSION_3_NOTE[0]
    assert VERSION_3_NOTE in plan_study(load_plan_scenario("plan_crossover_15d"), model_draws=0).assumptions
    assert VERSION_3_NOTE in assumptions_for("study", settings_from_scenario(None, n=50, draws=0))
