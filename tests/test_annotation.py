"""Bundled review data, outcome-table validation and the blockade annotation (issue 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from occupancy.annotation.annotate import ANNOTATION_COLUMNS, AnnotationSettings, annotate
from occupancy.errors import InputError
from occupancy.annotation.literature import (
    DEFAULT_WINDOW_H,
    bundled_outcomes,
    bundled_provenance,
    bundled_studies,
    load_outcomes,
    study_aggregates,
    validate_outcome_table,
)

DATA = Path(__file__).resolve().parents[1] / "scenarios" / "my_outcomes.csv"
REVIEW = Path(__file__).resolve().parents[2] / "shared" / "reference" / "loseth2024_systematic_review.txt"


# ----------------------------------------------------------------------------------- bundled data
def test_bundled_tables_match_review_totals():
    studies = bundled_studies()
    outcomes = bundled_outcomes()
    assert len(studies) == 8 and len(outcomes) == 17
    assert studies["n_total"].sum() == 455
    assert studies["n_women"].sum() == 276 and studies["n_men"].sum() == 179
    assert studies["n_outcomes"].sum() == 17
    assert (outcomes.groupby("study_id", sort=False).size() == studies.set_index("study_id")["n_outcomes"]).all()
    assert studies["preregistered"].sum() == 4  # "Four out of the eight included studies (50%)"
    assert studies["jadad_quality"].mean() == pytest.approx(4.375)  # review: M = 4.38
    assert set(studies.loc[studies.design == "within", "isi_days"]) == {7, 10}


def test_study_effects_transcribed_from_table1():
    studies = bundled_studies().set_index("study_id")
    expected = {
        "inagaki_20_59": (-0.34, -0.58, -0.09), "tarr_64": (0.08, -0.35, 0.51),
        "inagaki_60_61_ross_62": (-0.19, -0.39, 0.02), "charles_58_s1": (-2.50, -4.16, -0.84),
        "charles_58_s2": (-0.79, -1.63, 0.05), "tchalova_macdonald_21": (-0.18, -0.57, 0.22),
        "tchalova_65": (0.21, -0.49, 0.91), "rutgen_lamm_63": (0.05, -0.36, 0.46),
    }
    for sid, (g, lb, ub) in expected.items():
        assert tuple(studies.loc[sid, ["g", "g_ci_lb", "g_ci_ub"]]) == (g, lb, ub)
    agg = study_aggregates()
    assert np.allclose(agg["sei"], (agg["g_ci_ub"] - agg["g_ci_lb"]) / (2 * 1.959964))


@pytest.mark.skipif(not REVIEW.is_file(), reason="shared review text not available")
def test_table1_rows_present_in_review_text():
    text = REVIEW.read_text(encoding="utf-8").replace("–", "-")
    for row in bundled_studies().itertuples():
        assert f"{row.g:.2f} [{row.g_ci_lb:.2f}, {row.g_ci_ub:.2f}]" in text
        assert f"{row.n_total} ({row.n_women}:{row.n_men})" in text


def test_provenance_documents_uncertainties():
    text = bundled_provenance()
    for needle in ("[17]", "[65]", "g_mood2", "counterbalanced", "preregistered", "osf.io/5f6ej"):
        assert needle in text


def test_bundled_outcomes_parse_with_default_window_warnings():
    table = load_outcomes()
    assert len(table) == 17 and table.n_studies == 8
    defaulted = [d for d in table.designs if d.window_defaulted]
    assert [(d.study_id, d.outcome) for d in defaulted] == [
        ("inagaki_60_61_ross_62", "1"), ("inagaki_60_61_ross_62", "2"), ("inagaki_60_61_ross_62", "5")]
    assert all(d.window_h == DEFAULT_WINDOW_H for d in defaulted)
    assert len(table.warnings) == 3 and all("default" in w for w in table.warnings)
    inagaki = table.designs[0]
    assert inagaki.doses_mg == (25.0, 25.0, 50.0, 50.0)
    assert inagaki.assess_doses == (3, 4)
    assert list(inagaki.assessed_dose_times_h) == [48.0, 72.0]
    tarr = [d for d in table.designs if d.study_id == "tarr_64"]
    assert [d.doses_mg for d in tarr] == [(100.0,), (50.0,)]


# ------------------------------------------------------------------------------------ validation
def _example() -> pd.DataFrame:
    return pd.read_csv(DATA, dtype=str, keep_default_na=False)


def test_example_table_loads_with_effects():
    table = load_outcomes(DATA)
    assert table.has_effects and len(table) == 11
    assert table.frame["yi"].dtype == float


@pytest.mark.parametrize(
    "column, value, row, needle",
    [
        ("design", "factorial", 3, "unknown design"),
        ("isi_days", "", 3, "intersession interval"),
        ("dose_mg", "-50", 2, "must be > 0"),
        ("dose_mg", "fifty", 2, "not a number"),
        ("dose_mg", "5000", 2, "must be <= 1000"),
        ("assess_min_h", "-1", 4, "before the dose"),
        ("assess_min_h", "30", 4, "after its end"),
        ("assess_max_h", "", 1, "both ends"),
        ("vi", "0", 5, "must be > 0"),
        ("yi", "abc", 6, "not a number"),
        ("crossover_order", "random", 3, "unknown order"),
        ("assess_doses", "7", 5, "outside 1..4"),
        ("jadad_quality", "9", 2, "0–5"),
    ],
)
def test_bad_rows_name_row_and_column(column, value, row, needle):
    frame = _example()
    frame.loc[row - 1, column] = value
    with pytest.raises(InputError) as info:
        validate_outcome_table(frame, source="x.csv")
    message = str(info.value)
    assert f"row {row}" in message and f"'{column}'" in message and needle in message
    assert "\n" not in message


def test_missing_column_is_named():
    frame = _example().drop(columns=["dose_mg"])
    with pytest.raises(InputError, match="missing column.*'dose_mg'"):
        validate_outcome_table(frame, source="x.csv")


def test_window_beyond_next_session_rejected():
    frame = _example()
    frame.loc[2, "assess_max_h"] = str(8 * 24)  # 8 days > 7-day ISI
    with pytest.raises(InputError, match=r"row 3, column 'isi_days'"):
        validate_outcome_table(frame, source="x.csv")


def test_effect_sizes_from_means():
    frame = pd.DataFrame({
        "study_id": ["a", "b"], "design": ["between", "within"], "isi_days": ["", "14"], "dose_mg": ["50", "50"],
        "assess_min_h": ["1", "1"], "assess_max_h": ["2", "2"],
        "m_drug": ["4.0", "5.0"], "sd_drug": ["1.0", "1.2"], "m_placebo": ["4.5", "5.3"],
        "sd_placebo": ["1.1", "1.0"], "n_drug": ["20", "30"], "n_placebo": ["22", ""], "r": ["", "0.5"],
    })
    table = validate_outcome_table(frame, source="m.csv")
    from meta.effect_sizes import hedges_g_between, hedges_g_within

    gb = hedges_g_between(4.0, 4.5, 1.0, 1.1, 20, 22)
    gw = hedges_g_within(5.0, 5.3, 1.2, 1.0, 30, 0.5)
    assert table.frame["yi"].tolist() == pytest.approx([gb.yi[0], gw.yi[0]], abs=1e-12)
    assert table.frame["vi"].tolist() == pytest.approx([gb.vi[0], gw.vi[0]], abs=1e-12)


# ------------------------------------------------------------------------------------ annotation
@pytest.fixture(scope="module")
def bundled_annotation():
    return annotate(settings=AnnotationSettings(n=400, seed=3))


def test_annotation_columns_and_bounds(bundled_annotation):
    table = bundled_annotation.table
    assert len(table) == 17
    for column in ANNOTATION_COLUMNS:
        assert column in table.columns
        assert table[column].between(-1e-9, 100 + 1e-9).all() or column.endswith("contrast")
    for r in ("MOR", "KOR", "DOR"):
        assert (table[f"{r}_drug_min"] <= table[f"{r}_drug_mean"] + 1e-9).all()
        assert (table[f"{r}_drug_mean"] <= table[f"{r}_drug_max"] + 1e-9).all()
        assert (table[f"{r}_drug_p05"] <= table[f"{r}_drug_p95"] + 1e-9).all()
        assert np.allclose(table[f"{r}_contrast"], table[f"{r}_drug"] - table[f"{r}_placebo"])
    # receptor order of affinity: MOR ≥ KOR ≥ DOR blockade in the drug condition
    assert (table["MOR_drug"] >= table["KOR_drug"] - 1e-9).all()
    assert (table["KOR_drug"] >= table["DOR_drug"] - 1e-9).all()


def test_between_designs_have_no_placebo_blockade(bundled_annotation):
    table = bundled_annotation.table
    between = table[table.design == "between"]
    assert (between[[c for c in ANNOTATION_COLUMNS if "_placebo" in c]] == 0).all().all()


def test_crossovers_carry_half_the_residual(bundled_annotation):
    """Counterbalanced: the placebo condition's mean is half the carriers' residual blockade."""
    from occupancy.models import get_model

    table = bundled_annotation.table
    model = get_model("naltrexone")
    rutgen = table[table.study_id == "rutgen_lamm_63"].iloc[0]
    t = 7 * 24 + np.linspace(1.0, 1.583, 25)
    from occupancy.dosing.schedule import Schedule

    residual = model.blockade(Schedule.single(50), t).mean()
    assert rutgen["residual_fraction"] == 0.5
    assert rutgen["MOR_placebo_mean"] == pytest.approx(0.5 * residual, rel=1e-12)
    assert 5 < rutgen["MOR_placebo"] < 30
    inagaki = table[table.study_id == "inagaki_20_59"]
    assert ((inagaki["MOR_placebo"] > 0) & (inagaki["MOR_placebo"] < inagaki["MOR_drug"])).all()
    assert (inagaki["MOR_contrast"] < 90).all() and (inagaki["MOR_contrast"] > 50).all()
    # counterbalanced mixture: at least half the placebo participants have no residual → p05 = 0
    assert (table.loc[table.design == "within", "MOR_placebo_p05"] == 0).all()


def test_washout_titration_leaves_more_residual_than_a_single_dose():
    """The washout model (super-saturated accumulation): Inagaki's 4 days of dosing with a 10-day ISI leave more
    residual blockade than Rütgen & Lamm's single 50 mg with a 7-day ISI.  (pkpd, the default, ranks them the
    other way: its 96 h plasma terminal phase and slow effect site leave ~9 % vs ~14 %.)"""
    table = annotate(settings=AnnotationSettings(model="washout", n=400, seed=3)).table
    rutgen = table[table.study_id == "rutgen_lamm_63"].iloc[0]
    inagaki = table[table.study_id == "inagaki_20_59"]
    assert (inagaki["MOR_placebo"] > rutgen["MOR_placebo"]).all()


def test_order_and_isi_basis_change_residual():
    frame = _example()
    base = annotate(frame, AnnotationSettings(n=0)).table
    drug_first = frame.copy()
    drug_first.loc[2, "crossover_order"] = "drug_first"
    placebo_first = frame.copy()
    placebo_first.loc[2, "crossover_order"] = "placebo_first"
    a = annotate(drug_first, AnnotationSettings(n=0)).table
    b = annotate(placebo_first, AnnotationSettings(n=0)).table
    assert a.loc[2, "MOR_placebo"] == pytest.approx(2 * base.loc[2, "MOR_placebo"])
    assert b.loc[2, "MOR_placebo"] == 0
    later = annotate(frame, AnnotationSettings(n=0, isi_from="last_dose")).table
    gamma = base.study_id == "gamma"
    assert (later.loc[gamma, "MOR_placebo"] < base.loc[gamma, "MOR_placebo"]).all()
    beta = base.study_id == "beta"  # single dose: both readings agree
    assert np.allclose(later.loc[beta, "MOR_placebo"], base.loc[beta, "MOR_placebo"])


def test_longer_half_life_more_residual():
    """The washout model's blockade half-life (pinned: pkpd has no half-life parameter)."""
    short = annotate(settings=AnnotationSettings(model="washout", n=0, model_params={"half_life_h": 72})).table
    long = annotate(settings=AnnotationSettings(model="washout", n=0, model_params={"half_life_h": 108})).table
    within = short.design == "within"
    assert (long.loc[within, "MOR_placebo"] > short.loc[within, "MOR_placebo"]).all()


def test_window_points():
    """One time per assessed dose at the window's start (or end): min = max for one assessed dose, and the mean of
    the two values for gamma's two assessed doses (3 and 4)."""
    start = annotate(DATA, AnnotationSettings(n=0, window_point="start")).table
    end = annotate(DATA, AnnotationSettings(n=0, window_point="end")).table
    for t in (start, end):
        one = t.study_id != "gamma"
        assert (t.loc[one, "MOR_drug_min"] == t.loc[one, "MOR_drug_max"]).all()
        gamma = t[~one]
        assert np.allclose(gamma["MOR_drug"], (gamma["MOR_drug_min"] + gamma["MOR_drug_max"]) / 2)
    wide = (start.study_id == "delta").to_numpy()  # 2–24 h windows: start and end are different times
    assert not np.allclose(end.loc[wide, "MOR_drug"], start.loc[wide, "MOR_drug"])
    # the washout model (pinned): blockade after 25 mg falls between 2 and 24 h
    w_start = annotate(DATA, AnnotationSettings(model="washout", n=0, window_point="start")).table
    w_end = annotate(DATA, AnnotationSettings(model="washout", n=0, window_point="end")).table
    low = w_start.study_id == "delta"
    assert (w_end.loc[low, "MOR_drug"] <= w_start.loc[low, "MOR_drug"] + 1e-9).all()
    assert w_end.loc[low, "MOR_drug"].min() < w_start.loc[low, "MOR_drug"].min() - 1


def test_emax_model_has_no_residual_and_warns():
    ann = annotate(settings=AnnotationSettings(model="emax", n=0))
    table = ann.table
    assert (table["MOR_placebo"] == 0).all()
    assert table.loc[table.study_id == "tarr_64", "MOR_drug"].tolist() == pytest.approx(
        [100 * 100 / (100 + 5.592841), 100 * 50 / (50 + 5.592841)])
    assert any("no time course" in w for w in ann.warnings)
    assert any("part of the assessment window" in w for w in ann.warnings)


def test_population_draws_seeded(bundled_annotation):
    again = annotate(settings=AnnotationSettings(n=400, seed=3))
    assert np.array_equal(again.mor_contrast_draws, bundled_annotation.mor_contrast_draws)
    assert bundled_annotation.mor_contrast_draws.shape == (400, 17)
    assert np.allclose(bundled_annotation.mor_contrast_draws.mean(axis=0), bundled_annotation.table["MOR_contrast"])
    other = annotate(settings=AnnotationSettings(n=400, seed=4))
    assert not np.array_equal(other.mor_contrast_draws, bundled_annotation.mor_contrast_draws)


def test_study_contrasts_are_outcome_means(bundled_annotation):
    sc = bundled_annotation.study_contrasts()
    assert list(sc.study_id) == list(bundled_studies().study_id)
    inagaki = bundled_annotation.table[bundled_annotation.table.study_id == "inagaki_20_59"]["MOR_contrast"].mean()
    assert sc.set_index("study_id").loc["inagaki_20_59", "MOR_contrast"] == pytest.approx(inagaki)
    records = bundled_annotation.outcome_records()
    assert len(records) == 17 and {"study_id", "MOR_drug", "MOR_placebo", "MOR_contrast"} <= set(records[0])


def test_settings_reject_bad_values():
    with pytest.raises(InputError, match="window_point"):
        AnnotationSettings(window_point="middle")
    with pytest.raises(InputError, match="population.n"):
        AnnotationSettings(n=1)
    with pytest.raises(InputError, match="half_lif"):
        annotate(settings=AnnotationSettings(n=0, model_params={"half_life_h": -3}))


from hypothesis import given, settings as hsettings, strategies as st


def _typical_peak_h(dose: float) -> dict:
    """Time (h) of the typical subject's single-dose blockade peak per receptor (fine grid over 30 days)."""
    from occupancy.calibration.pkpd_targets import single

    model = AnnotationSettings(n=0).build_model()
    grid = np.concatenate([np.arange(0.0, 48.0, 0.05), np.arange(48.0, 720.0, 0.5)])
    b = model.blockade_all(single(float(dose)), grid)
    return {r: float(grid[np.argmax(np.asarray(b[r]))]) for r in ("MOR", "KOR", "DOR")}


@hsettings(max_examples=25, deadline=None)
@given(dose=st.floats(5, 200), isi=st.floats(2, 30), lo=st.floats(1.5, 6), width=st.floats(0, 18),
       order=st.sampled_from(["counterbalanced", "drug_first", "placebo_first"]))
def test_property_contrast_bounds_and_isi_monotone(dose, isi, lo, width, order):
    """Bounds always; the contrast's sign and ISI monotonicity only once the blockade has peaked.

    Receptor theory does not make the drug session's blockade exceed the previous session's residual at any
    assessment time: whenever blockade rises more slowly than it washes out (a slow effect compartment, or
    binding kinetics where association runs at kon·C = koff·C/K), a low dose keeps rising for hours while the
    residual decays slowly; a placebo session 2 days later can then carry *more* blockade than the drug session
    at 2 h (negative contrast). What does hold: occupancies
    are in [0, 100] and the contrast in [-100, 100]; placebo-first sessions carry no residual; and a single
    dose's blockade is unimodal (after the peak the free-drug equilibrium falls and the bound fraction follows
    it down), so (i) when the drug window starts at or after the peak the placebo window (the same window,
    ISI later) sees no more blockade: contrast ≥ 0, and (ii) when the placebo window starts after the peak a
    longer ISI never leaves more residual.
    """
    def frame(isi_days):
        return pd.DataFrame({"study_id": ["s"], "design": ["within"], "isi_days": [str(isi_days)],
                             "crossover_order": [order], "dose_mg": [str(dose)], "assess_min_h": [str(lo)],
                             "assess_max_h": [str(lo + width)]})

    a = annotate(frame(isi), AnnotationSettings(n=0)).table.iloc[0]
    b = annotate(frame(isi + 5), AnnotationSettings(n=0)).table.iloc[0]
    peak = _typical_peak_h(dose)
    for r in ("MOR", "KOR", "DOR"):
        assert 0 <= a[f"{r}_placebo"] <= 100 and 0 <= a[f"{r}_drug"] <= 100
        assert -100 <= a[f"{r}_contrast"] <= 100
        assert a[f"{r}_contrast"] == pytest.approx(a[f"{r}_drug"] - a[f"{r}_placebo"], abs=1e-9)
        # margin: the peak grid's step (0.5 h after 48 h); tolerance: the binding integrator's 1e-3 pp across grids
        if lo >= peak[r] + 0.5:  # the whole drug window is past the peak
            assert a[f"{r}_placebo"] <= a[f"{r}_drug"] + 1e-3 and a[f"{r}_contrast"] >= -1e-3
        if isi * 24.0 + lo >= peak[r] + 0.5:  # the placebo window is past the peak
            assert b[f"{r}_placebo"] <= a[f"{r}_placebo"] + 1e-3
    if order == "placebo_first":
        assert a["MOR_placebo"] == 0


@pytest.mark.parametrize("dose", [50.0, 200.0])
def test_contrast_is_nonnegative_once_the_drug_window_is_past_the_peak(dose):
    """The conditional branch of the property above, exercised for sure: the drug window starts 1 h after the
    typical subject's MOR peak (wherever the default model puts it), the placebo session 2 days later."""
    lo = _typical_peak_h(dose)["MOR"] + 1.0
    row = annotate(pd.DataFrame({"study_id": ["s"], "design": ["within"], "isi_days": ["2"],
                                 "crossover_order": ["drug_first"], "dose_mg": [str(dose)],
                                 "assess_min_h": [str(lo)], "assess_max_h": [str(lo + 2)]}),
                   AnnotationSettings(n=0)).table.iloc[0]
    assert 0 < row["MOR_placebo"] < row["MOR_drug"] and row["MOR_contrast"] > 0


def test_blocks_and_shared_designs_do_not_change_the_numbers(monkeypatch):
    """Shared designs are computed once and the population in bounded blocks: neither may change a value."""
    import occupancy.annotation.annotate as annotate_module
    from occupancy.annotation.annotate import ANNOTATION_COLUMNS, annotate_outcomes
    from occupancy.annotation.literature import validate_outcome_table

    raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    doubled = pd.concat([raw, raw.assign(study_id=raw["study_id"] + "_copy")], ignore_index=True)
    table = validate_outcome_table(doubled, source="doubled.csv")
    settings = AnnotationSettings(n=37, seed=9)
    whole = annotate_outcomes(table, settings)
    assert whole.draws_by_design.shape[1] < len(doubled)  # the copies share designs
    monkeypatch.setattr(annotate_module, "MAX_ELEMENTS", 37 * 3)  # blocks of 3 time points, segments split
    blocked = annotate_outcomes(table, settings)
    for column in ANNOTATION_COLUMNS:
        a, b = whole.table[column].to_numpy(float), blocked.table[column].to_numpy(float)
        assert np.allclose(a, b, rtol=0, atol=1e-9, equal_nan=True), column
        assert np.allclose(a[: len(raw)], a[len(raw):], equal_nan=True), column
    assert np.allclose(whole.mor_contrast_draws, blocked.mor_contrast_draws, atol=1e-9)
    assert np.allclose(whole.mor_contrast_draws.mean(axis=0), whole.table["MOR_contrast"])


def test_validation_reports_the_first_bad_row_of_a_long_table():
    from occupancy.annotation.literature import validate_outcome_table

    raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    long = pd.concat([raw.assign(study_id=raw["study_id"] + f"_{i}") for i in range(50)], ignore_index=True)
    long.loc[300, "vi"] = "-1"
    long.loc[400, "dose_mg"] = "abc"
    with pytest.raises(InputError, match=r"long.csv: row 301, column 'vi': must be > 0"):
        validate_outcome_table(long.drop(index=400).reset_index(drop=True), source="long.csv")
    with pytest.raises(InputError, match=r"long.csv: row 401, column 'dose_mg': not a number"):
        validate_outcome_table(long, source="long.csv")
