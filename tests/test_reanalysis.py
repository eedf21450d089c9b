"""Blockade-adjusted reanalysis (issue 5): the review's numbers, adjusted estimates, sensitivity, report."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from occupancy.annotation.annotate import AnnotationSettings
from occupancy.errors import InputError
from occupancy.report.reanalysis import reanalysis_report_section
from occupancy.workflows.reanalysis.analysis import reanalyse
from occupancy.workflows.reanalysis.settings import (
    ReanalysisScenario,
    ReanalysisSettings,
    load_reanalysis_scenario,
    settings_from_scenario,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = Path(__file__).resolve().parents[1] / "scenarios" / "my_outcomes.csv"


@pytest.fixture(scope="module")
def bundled():
    return reanalyse(settings=ReanalysisSettings(annotation=AnnotationSettings(n=300, seed=1), draws=40))


@pytest.fixture(scope="module")
def outcome_level():
    return reanalyse(EXAMPLE, ReanalysisSettings(annotation=AnnotationSettings(n=200, seed=1), draws=10))


# ------------------------------------------------------------------------------- review numbers
def test_pooled_reproduces_review(bundled):
    p = bundled.pooled_dict()
    assert bundled.mode == "study" and len(bundled.units) == 8
    assert p["estimate"] == pytest.approx(-0.1965, abs=1e-4)
    assert p["ci_lb"] == pytest.approx(-0.3244, abs=1e-4)
    assert p["ci_ub"] == pytest.approx(-0.0685, abs=1e-4)
    assert round(p["estimate"], 2) == -0.20 and round(p["ci_lb"], 2) == -0.32 and round(p["ci_ub"], 2) == -0.07


def test_trimfill_matches_review(bundled):
    assert bundled.trimfill.k0 == 0  # review: 0 missing studies
    assert round(bundled.trimfill.se_k0) == 2  # review: SE = 2
    assert bundled.trimfill.estimate == pytest.approx(bundled.pooled_dict()["estimate"])


def test_median_power_matches_review(bundled):
    assert bundled.median_power == pytest.approx(0.15, abs=0.005)
    assert len(bundled.power) == 8 and (bundled.power < 0.5).all()  # "all the included studies were underpowered"


def test_all_17_outcomes_annotated_and_study_contrast_is_mean(bundled):
    table = bundled.annotation.table
    assert len(table) == 17
    means = table.groupby("study_id", sort=False)["MOR_contrast"].mean()
    assert np.allclose(bundled.units["MOR_contrast"], means.reindex(bundled.units["study_id"]))
    units = bundled.units.set_index("study_id")
    crossover = units.loc[["inagaki_20_59", "rutgen_lamm_63"]]
    assert (crossover["MOR_contrast"] < 90).all() and (crossover["MOR_placebo"] > 0).all()  # residual blockade
    between = units[units.design == "between"]
    assert (between["MOR_placebo"] == 0).all() and np.allclose(between["MOR_contrast"], between["MOR_drug"])
    assert units["MOR_contrast"].between(50, 100).all()
    # the default model is pkpd; the old washout default gave every between-subjects study > 90 pp (it is at its
    # 100 % cap 1–2 h after 50 mg), pkpd 76–95 pp (its effect site is still filling 60–95 min after the tablet)
    assert bundled.settings.annotation.model == "pkpd"


# ----------------------------------------------------------------------------- adjusted estimates
def test_rescaled_estimate_by_hand(bundled):
    from meta.univariate import fit_random_effects

    u = bundled.units
    factor = 100.0 / u["MOR_contrast"].to_numpy()
    fit = fit_random_effects(u["yi"].to_numpy() * factor, u["vi"].to_numpy() * factor**2, method="REML")
    a = bundled.adjusted["rescaled"]
    assert a["estimate"] == pytest.approx(fit.coefficients[0].estimate, rel=1e-10)
    assert a["ci_lb"] == pytest.approx(fit.coefficients[0].ci_lb, rel=1e-10)
    # rescaling by contrasts < 100 pp can only move each g away from 0
    assert abs(a["estimate"]) > abs(bundled.pooled_dict()["estimate"])
    assert "proportional" in a["assumes"]


def test_regression_prediction_at_full_contrast(bundled):
    fit = bundled.regressions["contrast"]
    names = [c.name for c in fit.coefficients]
    assert names == ["intrcpt", "MOR_contrast"]
    pred = fit.predict([100.0])
    b = bundled.adjusted["regression"]
    assert b["estimate"] == pytest.approx(float(pred["pred"][0]), rel=1e-10)
    assert b["ci_lb"] == pytest.approx(float(pred["ci_lb"][0]), rel=1e-10)
    assert "linear" in b["assumes"]
    assert bundled.slope["estimate"] == pytest.approx(fit.coefficients[1].estimate)
    assert "contrast + quality" in bundled.regressions  # the review's quality moderator at study level


def test_sensitivity_variants_and_direction(bundled):
    """The default (pkpd) base: the other hysteresis variant, washout and emax, window ends, parameter uncertainty."""
    s = bundled.sensitivity.set_index("variant")
    assert list(s.index) == ["base", "model = pkpd (effect_compartment)", "model = washout", "model = emax",
                             "window = start", "window = end", "pkpd parameter uncertainty (20 draws)"]
    assert list(s["model"]) == ["pkpd", "pkpd", "washout", "emax", "pkpd", "pkpd", "pkpd"]
    # issue 19: the default structure (three_phase_binding) has binding kinetics; the other variant is the
    # legacy effect compartment
    assert list(s["hysteresis"]) == ["binding_kinetics", "effect_compartment", "", "", "binding_kinetics",
                                     "binding_kinetics", "binding_kinetics"]
    assert list(s["interval"]) == ["95 % CI"] * 6 + ["min–max of the 20 draws"]  # fewer than 40: not a "95 %"
    assert s["rescaled"].between(-0.3, -0.15).all()
    # rescaling by contrasts < 100 pp moves the pooled g away from 0 in every variant
    assert (s["rescaled"] < bundled.pooled_dict()["estimate"]).all()
    # parameter uncertainty: the draws' spread brackets their median and the fitted (base) analysis
    u = s.loc["pkpd parameter uncertainty (20 draws)"]
    assert u["rescaled_ci_lb"] <= u["rescaled"] <= u["rescaled_ci_ub"]
    assert u["rescaled_ci_lb"] <= s.loc["base", "rescaled"] <= u["rescaled_ci_ub"]
    unc = bundled.uncertainty
    assert unc["n"] == 20 and unc["rescaled"].shape == (20,) and np.isfinite(unc["rescaled"]).all()
    assert u["rescaled"] == pytest.approx(np.median(unc["rescaled"]))
    assert np.ptp(unc["rescaled"]) > 0  # the draws differ
    # the single-analysis rows (not the draws' row) make the summary's sensitivity range
    assert len(bundled.sensitivity_variants()) == 6


@pytest.fixture(scope="module")
def washout():
    return reanalyse(settings=ReanalysisSettings(annotation=AnnotationSettings(model="washout", n=300, seed=1),
                                                 draws=0))


def test_washout_sensitivity_half_lives(washout):
    """The washout model (pinned): half-life variants, no parameter uncertainty (it has no bootstrap)."""
    s = washout.sensitivity.set_index("variant")
    assert list(s.index) == ["base", "model = pkpd (effect_compartment)", "model = pkpd (binding_kinetics)",
                             "model = emax", "half-life = 72 h", "half-life = 108 h", "window = start",
                             "window = end"]
    # a longer half-life leaves more residual blockade → smaller contrast → a larger rescaled effect
    assert s.loc["half-life = 108 h", "contrast_min"] < s.loc["half-life = 72 h", "contrast_min"]
    assert s.loc["half-life = 108 h", "rescaled"] < s.loc["half-life = 72 h", "rescaled"]
    assert s["rescaled"].between(-0.3, -0.15).all()
    assert washout.uncertainty == {"n": 0} and not any("parameter uncertainty" in w for w in washout.warnings)
    # the pkpd effect-compartment variant of a washout base is the default analysis
    assert washout.to_dict()["parameter_uncertainty"] == {"n": 0}


def test_parameter_uncertainty_seeded_and_switchable():
    settings = ReanalysisSettings(annotation=AnnotationSettings(n=0), draws=0, uncertainty_draws=5,
                                  sensitivity_models=(), sensitivity_windows=())
    a, b = reanalyse(settings=settings), reanalyse(settings=settings)
    assert np.array_equal(a.uncertainty["rescaled"], b.uncertainty["rescaled"])
    other = reanalyse(settings=replace(settings, uncertainty_seed=4))
    assert not np.array_equal(other.uncertainty["rescaled"], a.uncertainty["rescaled"])
    off = reanalyse(settings=replace(settings, uncertainty_draws=0))
    assert off.uncertainty == {"n": 0} and list(off.sensitivity["variant"]) == ["base"]
    d = json.loads(json.dumps(a.to_dict(), allow_nan=False))
    assert d["parameter_uncertainty"]["n"] == 5 and d["settings"]["uncertainty_draws"] == 5
    assert "parameter uncertainty" in a.summary()
    assert any("bootstrap" in x["text"] for x in d["assumptions"])
    with pytest.raises(InputError, match="uncertainty_draws"):
        ReanalysisSettings(uncertainty_draws=1)


def test_every_calibrated_structure_has_parameter_uncertainty():
    """Issue 19: posterior draws exist for every structure, so the non-default (legacy effect compartment) base
    carries parameter uncertainty too (the bootstrap existed for one variant only)."""
    settings = ReanalysisSettings(annotation=AnnotationSettings(n=0, model_params={"hysteresis": "effect_compartment"}),
                                  draws=0, sensitivity_models=("pkpd",), sensitivity_windows=())
    r = reanalyse(settings=settings)
    assert r.uncertainty["n"] > 0
    assert not any("parameter uncertainty not computed" in w for w in r.warnings)
    assert list(r.sensitivity["variant"])[:2] == ["base", "model = pkpd (binding_kinetics)"]


def test_monte_carlo_seeded_and_spread(bundled):
    mc = bundled.mc
    assert mc["n"] == 40 and mc["rescaled"].shape == (40,)
    assert np.isfinite(mc["rescaled"]).all()
    assert mc["rescaled_p025"] <= mc["rescaled_median"] <= mc["rescaled_p975"]
    again = reanalyse(settings=ReanalysisSettings(annotation=AnnotationSettings(n=300, seed=1), draws=40))
    assert np.array_equal(again.mc["rescaled"], mc["rescaled"])


def test_progress_bar_on_stderr(capsys, stderr_is_terminal):
    reanalyse(settings=ReanalysisSettings(annotation=AnnotationSettings(n=0), draws=5, progress=True,
                                          sensitivity_models=(), sensitivity_half_lives_h=(), sensitivity_windows=(),
                                          uncertainty_draws=3))
    captured = capsys.readouterr()
    assert "Monte Carlo draws" in captured.err and "parameter draws" in captured.err and captured.out == ""



@pytest.mark.parametrize("data", [None, EXAMPLE], ids=["studies", "outcomes"])
def test_pooled_estimates_are_reported_before_the_draws_and_equal_the_final(data, monkeypatch):
    import occupancy.workflows.reanalysis.analysis as analysis
    from occupancy.workflows.reanalysis.result import format_estimate_ci

    events = []
    annotate = analysis.annotate_outcomes

    def counting(*args, **kwargs):
        events.append(("annotation",))
        return annotate(*args, **kwargs)

    monkeypatch.setattr(analysis, "annotate_outcomes", counting)
    settings = ReanalysisSettings(annotation=AnnotationSettings(n=50, seed=1), draws=5, uncertainty_draws=2,
                                  sensitivity_models=(), sensitivity_half_lives_h=(), sensitivity_windows=("end",),
                                  progress=False)
    final = reanalyse(data, settings, on_progress=lambda done, total: events.append(("draw", done, total)),
                      on_partial=lambda p: events.append(("partial", p)))
    kinds = [e[0] for e in events]
    first = kinds.index("partial")
    # reported once, after the base annotation only: before every re-annotation and every draw
    assert kinds.count("partial") == 1 and kinds[:first] == ["annotation"] and "draw" in kinds[first:]
    partial = events[first][1]
    assert partial.draws_total == events[-1][2] == 7  # 2 parameter + 5 Monte Carlo draws, as on_progress counts
    for mine, theirs in ((partial.pooled, final.pooled_dict()), (partial.rescaled, final.adjusted["rescaled"]),
                         (partial.regression, final.adjusted["regression"])):
        for key in ("estimate", "se", "ci_lb", "ci_ub"):
            assert abs(mine[key] - theirs[key]) <= 1e-12, key
    assert (partial.mode, partial.k, partial.n_outcomes) == (final.mode, len(final.units), len(final.annotation))
    assert partial.rescaled["k"] == final.adjusted["rescaled"]["k"]
    assert len(final.sensitivity_variants()) == 2  # base and the one variant still to run
    assert partial.pending == ("2 parameter-uncertainty draws", "1 sensitivity variant", "5 Monte Carlo draws",
                               "small-study checks (trim-and-fill, selection model, power)")
    text = partial.summary()
    assert "preliminary" in text and format_estimate_ci(final.pooled_dict()) in text
    back = json.loads(json.dumps(partial.to_dict(), allow_nan=False))
    assert back["pooled"]["estimate"] == partial.pooled["estimate"] and back["draws_total"] == 7


def test_an_exception_from_on_partial_stops_the_reanalysis_before_any_draw():
    class Stop(Exception):
        pass

    def stop(_partial):
        raise Stop()

    draws = []
    with pytest.raises(Stop):
        reanalyse(settings=ReanalysisSettings(annotation=AnnotationSettings(n=0), draws=5, progress=False),
                  on_progress=lambda done, total: draws.append(done), on_partial=stop)
    assert draws == []


# --------------------------------------------------------------------------------- outcome level
def test_outcome_level_uses_three_level_model(outcome_level):
    r = outcome_level
    assert r.mode == "outcome" and len(r.units) == 11
    assert len(r.pooled.sigma2) == 2  # study and outcome-within-study components
    from meta.multilevel import fit_multilevel

    u = r.units
    ref = fit_multilevel(u["yi"].to_numpy(), u["vi"].to_numpy(),
                         {"study": u["study_id"].to_numpy(), "outcome": u["outcome_key"].to_numpy()})
    assert r.pooled_dict()["estimate"] == pytest.approx(ref.coefficients[0].estimate, rel=1e-10)
    assert np.allclose(u["MOR_contrast"], r.annotation.table["MOR_contrast"])
    assert "contrast + relationship" in r.regressions and "contrast + quality" in r.regressions
    names = [c.name for c in r.regressions["contrast + relationship"].coefficients]
    assert names == ["intrcpt", "MOR_contrast", "relationshipunspecified", "relationshipestablished"]
    back = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert back["pooled"]["level_names"] == ["study", "outcome"] and len(back["pooled"]["sigma2"]) == 2


def test_outcome_level_trimfill_on_aggregates(outcome_level):
    from meta.aggregate import aggregate_estimates

    u = outcome_level.units
    agg = aggregate_estimates(u["yi"], u["vi"], u["study_id"], rho=0.5)
    assert outcome_level.trimfill.k == 6
    assert np.allclose(outcome_level.trimfill.yi_observed, agg.yi)
    assert len(outcome_level.power) == 6


def test_reanalyse_needs_effect_sizes():
    from occupancy.annotation.literature import bundled_outcomes

    with pytest.raises(InputError, match="needs effect sizes"):
        reanalyse(bundled_outcomes(), ReanalysisSettings(draws=0))


# ------------------------------------------------------------------------------------- outputs
def test_to_dict_is_strict_json(bundled):
    d = bundled.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    for key in ("estimate", "se", "ci_lb", "ci_ub"):
        assert isinstance(back["pooled"][key], float) and isinstance(back["adjusted"][key], float)
    assert back["trimfill"]["k0"] == 0 and back["trimfill"]["se_k0"] > 0
    assert 0 < back["median_power"] < 1
    assert len(back["outcomes"]) == 17
    assert {"study_id", "MOR_drug", "MOR_placebo", "MOR_contrast"} <= set(back["outcomes"][0])
    assert len(back["assumptions"]) >= 5
    assert bundled.to_frame().shape[0] == 17
    assert "pooled g" in bundled.summary()


def test_report_section_renders(bundled):
    from occupancy.report.html import Report, ReportSection, render_report

    section = reanalysis_report_section(bundled)
    assert isinstance(section, ReportSection)
    labels = [k.label for k in section.key_numbers]
    assert any("Pooled" in l for l in labels) and any("rescaled" in l for l in labels)
    assert any("inagaki_20_59" in l for l in labels) and any("rutgen_lamm_63" in l for l in labels)
    assert len(section.figures) == 2 and all(f.svg.startswith("<svg") for f in section.figures)
    assert section.tables and section.assumptions
    html = render_report(Report(title="t", scenario_name="bundled", scenario_text="", sections=(section,)))
    assert "Blockade-adjusted reanalysis" in html


# ------------------------------------------------------------------------------------- scenarios
@pytest.mark.parametrize("name", ["reanalysis_default.toml", "reanalysis_half_life_108.toml", "reanalysis_emax.toml"])
def test_shipped_scenarios_load(name):
    scenario = load_reanalysis_scenario(ROOT / "scenarios" / name)
    settings = settings_from_scenario(scenario)
    assert settings.annotation.model == {"reanalysis_default.toml": "pkpd", "reanalysis_half_life_108.toml": "washout",
                                         "reanalysis_emax.toml": "emax"}[name]


def test_scenario_overrides_and_flags():
    sc = load_reanalysis_scenario(ROOT / "scenarios" / "reanalysis_half_life_108.toml")
    s = settings_from_scenario(sc)
    assert s.annotation.model_params == {"half_life_h": 108.0}
    s2 = settings_from_scenario(sc, half_life_h=72, n=0, draws=0)
    assert s2.annotation.model_params == {"half_life_h": 72.0} and s2.annotation.n == 0 and s2.draws == 0
    s3 = settings_from_scenario(sc, model="emax")
    assert s3.annotation.model == "emax" and s3.annotation.model_params == {}
    with pytest.raises(InputError, match="emax model has no half-life"):
        settings_from_scenario(None, model="emax", half_life_h=72)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[reanalysis]\nwindow = 3\n", "reanalysis.window: unknown key"),
        ("[reanalysis]\ndefault_window_h = [5.0, 1.0]\n", "min <= max"),
        ("[model]\nname = 'bateman'\n", "model.name"),
        ("[[doses]]\ntime_h = 0\namount_mg = 50\n", "doses"),
        ("[drug]\nname = 'naloxone'\n", "naltrexone"),
        ("[model]\nname = 'emax'\nhalf_life_h = 72\n", "model.half_life_h"),
        ("[reanalysis]\ndraws = 1\n", "draws"),
        ("[reanalysis\n", "malformed TOML"),
    ],
)
def test_bad_scenarios_one_line(tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_reanalysis_scenario(path)
    message = str(info.value)
    assert needle in message and "bad.toml" in message and "\n" not in message


def test_scenario_class_forbids_extra_keys():
    with pytest.raises(Exception):
        ReanalysisScenario.model_validate({"reanalysis": {"nonsense": 1}})


def test_few_studies_degrade_gracefully(tmp_path):
    path = tmp_path / "three.csv"
    path.write_text("study_id,design,dose_mg,assess_min_h,assess_max_h,isi_days,yi,vi\n"
                    "a,between,50,1,2,,-0.2,0.04\nb,within,50,1,2,14,-0.1,0.05\nc,between,25,1,2,,0.1,0.03\n")
    r = reanalyse(path, ReanalysisSettings(annotation=AnnotationSettings(n=0), draws=0))
    assert r.trimfill is None and any("trim-and-fill not computed" in w for w in r.warnings)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["trimfill"]["k0"] is None and len(d["outcomes"]) == 3
    assert "not computed" in r.summary()
    section = reanalysis_report_section(r)
    assert not any("Trim-and-fill" in k.label for k in section.key_numbers)


def test_write_outputs(tmp_path, bundled):
    from occupancy.report.reanalysis import OUTPUT_FILES, write_reanalysis_outputs

    written = write_reanalysis_outputs(bundled, tmp_path / "r")
    assert sorted(p.name for p in written) == sorted(OUTPUT_FILES)
    back = json.loads((tmp_path / "r" / "results.json").read_text())
    assert back["pooled"]["estimate"] == pytest.approx(-0.1965, abs=1e-4)


def test_blockade_run_with_reanalysis_scenario(tmp_path):
    from click.testing import CliRunner

    from occupancy.cli import main

    sc = tmp_path / "r.toml"
    sc.write_text('task = "reanalyse"\n[population]\nn = 50\nseed = 1\n[reanalysis]\ndraws = 0\n')
    res = CliRunner().invoke(main, ["run", str(sc), "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "forest.svg").is_file()


def test_mood_regression_uses_the_studies_with_a_mood_effect(bundled):
    """The review's mood moderator: six studies have the second mood column; the fit equals a direct one."""
    from meta.univariate import fit_random_effects
    from occupancy.annotation.literature import bundled_studies

    fit = bundled.regressions["contrast + mood (positive mood, label uncertain)"]
    assert fit is not None and fit.k == 6
    studies = bundled_studies().set_index("study_id")
    units = bundled.units.set_index("study_id")
    has = studies["g_mood2"].notna()
    ids = [s for s in units.index if has[s]]
    X = np.column_stack([np.ones(len(ids)), units.loc[ids, "MOR_contrast"], studies.loc[ids, "g_mood2"]])
    direct = fit_random_effects(units.loc[ids, "yi"].to_numpy(), units.loc[ids, "vi"].to_numpy(), X,
                                names=["intrcpt", "MOR_contrast", "g_mood"])
    assert np.allclose(fit.beta, direct.beta, rtol=1e-10)
