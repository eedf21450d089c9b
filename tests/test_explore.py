"""``blockade explore``: the design search agrees with ``blockade plan``, is identical for any workers or chunking,
resumes, and refuses bad input with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from occupancy.cli import main

SMALL = """
task = "explore"
[drug]
name = "naltrexone"
[model]
name = "pkpd"
[[doses]]
time_h = 0.0
amount_mg = 50.0
[[assessments]]
label = "task"
time_h = 1.5
[population]
n = 200
seed = 3
[design]
kind = "within"
isi_days = 15
price_per_tablet = 1.2
[explore]
dose_mg = [50, 150]
delay_h = [2, 6]
isi_days = [10, 28]
sessions = [2, 3]
kind = ["within", "between"]
participants = [100, 300]
draws = 4
chunk_size = 5
best = 1
"""


def _small(tmp_path, text=SMALL, name="small.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _search(path, **kw):
    from occupancy.workflows.explore.space import load_explore_scenario
    from occupancy.workflows.explore.search import prepare, run_chunks

    scenario = load_explore_scenario(path)
    plan = prepare(scenario, chunk_size=kw.pop("chunk_size", None))
    return plan, run_chunks(plan, progress=False, **kw)


def _bytes(table, tmp_path, name):
    from occupancy.workflows.explore.search import write_designs

    return write_designs(table, tmp_path / name).read_bytes()


def test_the_bundled_example_finds_a_design_whose_numbers_equal_blockade_plan(tmp_path):
    from occupancy.workflows.explore.space import load_explore_scenario, plan_scenario_for
    from occupancy.workflows.planning.plan import plan_study

    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["explore", "explore_crossover.toml", "--out", str(out), "--json", "--quiet",
                                  "--workers", "0"])
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["n_draws"] == 50 and data["n_designs"] == 1296
    best = data["best"]
    assert best is not None and data["designs"][0] == best
    assert all(p >= 0.9 for p in best["probabilities"].values()) and len(best["probabilities"]) == 3
    assert {"designs.parquet", "report.html", "explore.json"} <= {p.name for p in out.iterdir()}
    assert not (tmp_path / ".out.explore-chunks").exists()  # finished: the resume state is cleaned up

    scenario = load_explore_scenario("explore_crossover.toml")
    plan = plan_study(plan_scenario_for(scenario, best["design"]))
    crit = {k: v["fitted_model"] for k, v in best["criteria"].items()}
    drug = dict(plan.conditions)["drug"][0]
    assert crit["prob_mor_ge_90_at_task"] == pytest.approx(drug.MOR_prob_ge_90, rel=1e-12)
    assert crit["residual_p95_at_next_session_pct"] == pytest.approx(plan.residual_at_isi_p95, rel=1e-9)
    assert crit["contrast_pp"] == pytest.approx(plan.contrast_pp, rel=1e-9)
    assert crit["power_attenuated"] == pytest.approx(plan.power_attenuated, rel=1e-9)
    assert best["objectives"]["tablets"] == plan.tablets and best["objectives"]["cost"] == pytest.approx(plan.cost)
    assert best["objectives"]["participants"] == plan.n_planned
    # the plan of the best design meets the constraints with the fitted model too
    assert drug.MOR_prob_ge_90 >= 0.95 and plan.residual_at_isi_p95 <= 5 and plan.power_attenuated >= 0.8

    import pyarrow.parquet as pq

    table = pq.read_table(out / "designs.parquet")
    assert table.num_rows == 1296 and table.column("design_id").to_pylist() == list(range(1296))
    assert sum(table.column("feasible").to_pylist()) == len(data["designs"])


def test_blockade_run_writes_what_explore_out_writes(tmp_path):
    """``blockade run`` on an explore scenario: the same files (byte-identical table, same JSON) and the search in
    report.html; no resume state is left beside the folder."""
    path = _small(tmp_path)
    ran = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    assert ran.exit_code == 0, ran.output
    explored = CliRunner().invoke(main, ["explore", str(path), "--out", str(tmp_path / "explore"), "--quiet"])
    assert explored.exit_code == 0, explored.output
    run_files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert run_files == sorted(p.name for p in (tmp_path / "explore").iterdir())
    assert {"designs.parquet", "explore.json", "explore_pareto.svg", "report.html"} <= set(run_files)
    assert (tmp_path / "run" / "designs.parquet").read_bytes() == (tmp_path / "explore" / "designs.parquet").read_bytes()
    assert json.loads((tmp_path / "run" / "explore.json").read_text()) == \
        json.loads((tmp_path / "explore" / "explore.json").read_text())
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "<h1>Design search</h1>" in page
    assert "Designs searched" in page and "Feasible designs" in page and "explore_pareto.svg" in page
    assert not any(p.name.endswith("explore-chunks") for p in tmp_path.iterdir())
    # a file with an [explore] section and no task key is an explore scenario too
    untagged = _small(tmp_path, SMALL.replace('task = "explore"\n', ""), "untagged.toml")
    again = CliRunner().invoke(main, ["run", str(untagged), "--out", str(tmp_path / "untagged"), "--quiet"])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "untagged" / "designs.parquet").read_bytes() == (tmp_path / "run" / "designs.parquet").read_bytes()


def test_between_and_three_session_designs_equal_blockade_plan(tmp_path):
    """The contrast of a 3-session crossover (residual in two later placebo sessions) and a between design."""
    from occupancy.workflows.explore.space import design_inputs, load_explore_scenario, plan_scenario_for
    from occupancy.workflows.planning.plan import plan_study

    path = _small(tmp_path)
    plan, (table, _) = _search(path)
    cols = {k: table.column(k).to_numpy(zero_copy_only=False) for k in table.column_names}
    scenario = load_explore_scenario(path)
    picks = [int(np.nonzero((cols["kind"] == "within") & (cols["sessions"] == 3) & (cols["isi_days"] == 10))[0][0]),
             int(np.nonzero(cols["kind"] == "between")[0][-1])]
    for i in picks:
        p = plan_study(plan_scenario_for(scenario, design_inputs(plan.grid, i)))
        assert cols["contrast_pp"][i] == pytest.approx(p.contrast_pp, rel=1e-9)
        assert cols["power_attenuated"][i] == pytest.approx(p.power_attenuated, rel=1e-9)
        assert cols["tablets"][i] == p.tablets
        if p.kind == "within":
            assert cols["residual_p95_at_next_session_pct"][i] == pytest.approx(p.residual_at_isi_p95, rel=1e-9)
            assert p.contrast_pp < 90  # the 10-day ISI leaves residual blockade in the placebo sessions


def test_a_dask_cluster_and_any_chunking_give_byte_identical_parquet(tmp_path):
    path = _small(tmp_path)
    _, (one, _) = _search(path, workers=0)
    _, (rechunked, _) = _search(path, workers=0, chunk_size=7)
    from dask.distributed import LocalCluster

    # an existing cluster (the --scheduler path) with two worker processes, one thread each
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as existing:
        plan, (cluster, n) = _search(path, scheduler=existing.scheduler_address)
        assert n == plan.n_chunks > 1
    reference = _bytes(one, tmp_path, "a.parquet")
    assert _bytes(rechunked, tmp_path, "b.parquet") == reference
    assert _bytes(cluster, tmp_path, "c.parquet") == reference
    assert one.num_rows == 40 and one.column("design_id").to_pylist() == list(range(40))


def test_an_interrupted_search_resumes_without_recomputing_finished_chunks(tmp_path):
    path = _small(tmp_path)
    state = tmp_path / "state"
    finished = []

    def stop_after_two(i):
        finished.append(i)
        if len(finished) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _search(path, workers=0, state=state, on_chunk=stop_after_two)
    parts = sorted(p.name for p in state.glob("chunk-*.parquet"))
    assert len(parts) == 2
    plan, (resumed, computed) = _search(path, workers=0, state=state, resume=True)
    assert computed == plan.n_chunks - 2
    _, (fresh, _) = _search(path, workers=0)
    assert _bytes(resumed, tmp_path, "r.parquet") == _bytes(fresh, tmp_path, "f.parquet")


def test_resume_refuses_the_state_of_a_different_search(tmp_path):
    path = _small(tmp_path)
    state = tmp_path / "state"
    _search(path, workers=0, state=state)
    other = _small(tmp_path, SMALL.replace("draws = 4", "draws = 3"), "other.toml")
    from occupancy.errors import InputError

    with pytest.raises(InputError, match="different scenario"):
        _search(other, workers=0, state=state, resume=True)


@pytest.mark.parametrize("old, new, extra, message", [
    ("participants = [100, 300]", "participants = []", [], "explore.participants: empty list"),
    ("isi_days = [10, 28]", "isi_days = { from = 10 }", [], "unbounded"),
    ("isi_days = [10, 28]", "isi_days = { from = 10, to = 20, step = 0 }", [], "explore.isi_days.step"),
    ("chunk_size = 5", "chunk_size = 5", ["--n", "4:100000:1"], "exceed the cap"),
    ("chunk_size = 5", "chunk_size = 5", ["--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, old, new, extra, message):
    from occupancy.workflows.explore import search

    monkeypatch.setattr(search, "CONNECT_TIMEOUT_S", 2)
    monkeypatch.chdir(tmp_path)
    assert old in SMALL
    path = _small(tmp_path, SMALL.replace(old, new))
    before = sorted(p.name for p in tmp_path.iterdir())
    r = CliRunner().invoke(main, ["explore", str(path), "--out", "out", "--quiet", *extra])
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_quick_form_on_a_plan_scenario(tmp_path):
    r = CliRunner().invoke(main, ["explore", "plan_crossover_15d.toml", "--dose", "150", "--delay", "6",
                                  "--isi", "28:35:7", "--n", "200:260:20", "--draws", "3", "--json", "--quiet",
                                  "--workers", "0"])
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["n_designs"] == 8 and data["n_draws"] == 3
    assert all(d["design"]["dose_mg"] == 150 for d in data["designs"])


def test_structure_draws_are_used_when_the_model_has_them_and_weighted(tmp_path, monkeypatch):
    """INTERFACES.md: once a model has ``structure_draws`` the search uses it, each draw weighted by its
    structure's weight / draws.  Structure "weak" (1/100 of the systemic availability: no blockade) has weight
    0.25, so a design that passes with the fitted model holds with probability 0.75."""
    from dataclasses import replace

    from occupancy.models.pkpd_naltrexone import NaltrexonePKPD
    from occupancy.workflows.explore.space import load_explore_scenario
    from occupancy.workflows.explore.search import prepare, run_chunks

    def structure_draws(self, n, seed):
        same = [self] * n
        return [("weak", 0.25, [replace(self, k_mor_ng_ml=self.k_mor_ng_ml * 1000)] * n), ("fitted", 0.75, same)]

    monkeypatch.setattr(NaltrexonePKPD, "structure_draws", structure_draws, raising=False)
    path = _small(tmp_path)
    plan = prepare(load_explore_scenario(path))
    assert [(d.structure, d.weight) for d in plan.context.draw_sets] == [("weak", 0.25),
                                                                                          ("fitted", 0.75)]
    table, _ = run_chunks(plan, workers=0, progress=False)
    fitted = np.asarray(table.column("prob_mor_ge_90_at_task").to_pylist())
    p = np.asarray(table.column("p_blockade_at_task").to_pylist())
    assert np.all(p[fitted >= 0.95] == 0.75) and np.all(p[fitted < 0.95] == 0.0) and (fitted >= 0.95).any()


def test_every_explore_key_is_documented():
    from occupancy.workflows.explore.space import ConstraintsSection, ExploreSection

    doc = (Path(__file__).resolve().parents[1] / "docs" / "how-to" / "explore.md").read_text(encoding="utf-8")
    for model in (ExploreSection, ConstraintsSection):
        for key in model.model_fields:
            assert f"`{key}`" in doc, key
    assert "--scheduler tcp://" in doc and "DASK_SCHEDULER_ADDRESS" in doc


def test_ctrl_c_keeps_finished_chunks_beside_the_output_and_resume_finishes_the_same_file(tmp_path, monkeypatch):
    from occupancy.workflows.explore import search

    monkeypatch.chdir(tmp_path)
    path = _small(tmp_path)
    fresh = CliRunner().invoke(main, ["explore", str(path), "--out", "fresh", "--quiet", "--workers", "0"])
    assert fresh.exit_code == 0, fresh.stderr
    real, calls = search.evaluate_chunk, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(search, "evaluate_chunk", interrupted)
    stopped = CliRunner().invoke(main, ["explore", str(path), "--out", "out", "--workers", "0"])
    assert stopped.exit_code != 0 and "--resume" in stopped.stderr
    assert not (tmp_path / "out").exists()
    assert len(list((tmp_path / ".out.explore-chunks").glob("chunk-*.parquet"))) == 2
    monkeypatch.setattr(search, "evaluate_chunk", real)
    resumed = CliRunner().invoke(main, ["explore", str(path), "--out", "out", "--resume", "--workers", "0"])
    assert resumed.exit_code == 0, resumed.stderr
    assert "2 of 8 chunks were already done" in resumed.stderr
    assert (tmp_path / "out" / "designs.parquet").read_bytes() == (tmp_path / "fresh" / "designs.parquet").read_bytes()
    assert not (tmp_path / ".out.explore-chunks").exists()


def test_pareto_front_keeps_exactly_the_undominated_designs():
    from occupancy.workflows.explore.result import pareto_mask

    rng = np.random.default_rng(5)
    cost = rng.integers(1, 30, 200).astype(float)
    power = rng.uniform(0, 1, 200)
    keep = pareto_mask(cost, power)
    dominated = np.array([np.any((cost <= cost[i]) & (power >= power[i]) & ((cost < cost[i]) | (power > power[i])))
                          for i in range(cost.size)])
    assert keep.any() and np.array_equal(keep, ~dominated)
