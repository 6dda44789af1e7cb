"""`alpharl compare` over seeds, and the per-episode metrics its table reads."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alpharl.config import ConfigError
from alpharl.tasks.compare import compare
from alpharl.tasks.metrics import StepMetrics, t_interval
from alpharl.tasks.train import train
from alpharl.tracking.query import runs_frame


def _info(cost: float, budget_left: float, steps_left: int, **extra: float) -> dict:
    """A step's ``info`` as the environment's contract writes it (two creatives + no ad)."""
    return {
        "cost": cost,
        "clicked": False,
        "myopic_regret": 0.1,
        "budget": 3.0,
        "budget_left": budget_left,
        "steps_left": steps_left,
        "action_costs": np.array([1.0, 2.0, 0.0]),
        **extra,
    }


def test_step_metrics_close_episodes_with_their_bound_and_budget_figures() -> None:
    m = StepMetrics(steps=10, no_ad_action=2)
    # Episode 1: three steps, spends 1 + 2 = 3 = the whole budget on its third step.
    m.record(0, 0.5, _info(1.0, 2.0, 2))
    m.record(2, 0.0, _info(0.0, 2.0, 1))
    m.record(1, 1.0, _info(2.0, 0.0, 0, hindsight_bound=2.0))
    # Episode 2: two steps, truncated with budget left.
    m.record(0, 0.25, _info(1.0, 2.0, 1))
    m.record(2, 0.0, _info(0.0, 2.0, 0, hindsight_bound=1.0))
    m.record(0, 0.5, _info(1.0, 2.0, 3))  # unfinished: no episode figures
    out = m.finish()
    assert out.steps == 6
    assert out.episodes == 2
    assert out.impressions == 4
    assert out.episode_reward == pytest.approx((1.5 + 0.25) / 2)
    assert out.hindsight_bound == pytest.approx(1.5)
    assert out.bound_regret == pytest.approx(((2.0 - 1.5) + (1.0 - 0.25)) / 2)
    assert out.bound_regret_per_step == pytest.approx(((2.0 - 1.5) + (1.0 - 0.25)) / 5)
    assert out.bound_fraction == pytest.approx(1.75 / 3.0)
    assert out.budget_used == pytest.approx((3 / 3 + 1 / 3) / 2)
    assert out.budget_out_fraction == pytest.approx(0.5)
    assert out.budget_out_step == 3.0  # only episode 1 ran out, on its 3rd step
    assert out.myopic_regret_per_step == pytest.approx(0.1)
    assert "bound_regret" in out.as_dict(finite_only=True)


def test_step_metrics_without_a_bound_report_nan_not_zero() -> None:
    m = StepMetrics(steps=4, no_ad_action=2)
    m.record(0, 1.0, {"regret": 0.2})  # an environment without the episode contract
    out = m.finish(episodes=0)
    assert math.isnan(out.hindsight_bound)
    assert math.isnan(out.bound_regret)
    assert out.myopic_regret == pytest.approx(0.2)
    assert "hindsight_bound" not in out.as_dict(finite_only=True)


def test_t_interval_is_the_student_t_interval() -> None:
    x = t_interval([1.0, 2.0, 3.0, 4.0, math.nan])
    half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2  # t(0.975, 3)
    assert x.n == 4
    assert x.mean == 2.5
    assert x.half_width == pytest.approx(half)
    assert t_interval([5.0]).half_width == 0.0
    assert math.isnan(t_interval([]).mean)
    with pytest.raises(ValueError, match="confidence"):
        t_interval([1.0], confidence=1.0)


def test_compare_over_seeds_equals_the_single_seed_runs(compose_task, tmp_path) -> None:
    common = ["steps=500", "env.horizon=250", "env.budget=1"]  # the budget binds
    agents = "agents=[random,oracle,paced_oracle,linucb,linucb+dual]"
    cfg = compose_task("compare", [agents, "seeds=[0,3]", "vectorize=true", *common])
    result = compare(cfg)
    linucb = result.row("linucb")
    assert linucb.seeds == [0, 3]
    assert len(linucb.runs) == 2
    alone, _ = train(compose_task("train", ["agent=linucb", "seed=3", *common]))
    skip = {"steps_per_s"}
    got = {k: v for k, v in linucb.runs[1].as_dict().items() if k not in skip}
    want = {k: v for k, v in alone.as_dict().items() if k not in skip}
    assert got == pytest.approx(want, nan_ok=True)
    assert linucb.runs[0].as_dict()["mean_reward"] != got["mean_reward"]  # seeds differ
    assert result.row("oracle").metrics.myopic_regret == pytest.approx(0.0, abs=1e-9)
    assert result.row("random").metrics.myopic_regret > 0.0
    bound = result.bound()
    for name in ("oracle", "paced_oracle", "linucb+dual"):
        assert result.row(name).interval("episode_reward").mean < bound.mean, name
    paced = result.row("paced_oracle").interval("episode_reward").mean
    assert paced > result.row("oracle").interval("episode_reward").mean
    table = result.render()
    assert table.splitlines()[2].startswith("hindsight bound")
    assert "paced oracle" in table
    assert "linucb+dual" in table
    assert "greedy oracle" in table
    assert "random" in table
    assert "±" in table
    assert "2 seed(s) [0, 3]" in table
    assert "mlflow ui" in result.ui
    frame = runs_frame(
        "alpharl", runs_dir=str(tmp_path / "runs"), parent_run_id=result.parent_run_id
    )
    labels = ["LinUCB", "LinUCB+dual", "OracleAgent", "PacedOracleAgent", "RandomAgent"]
    assert sorted(frame["tags.agent"]) == sorted(labels * 2)
    vectorized = frame.set_index("tags.agent")["tags.alpharl.vectorized"].fillna("no")
    # LinUCB's two seeds shared one vector env; LinUCB + dual pacing ran seed by seed.
    assert sorted(vectorized["LinUCB"]) == ["2", "2"]
    assert sorted(vectorized["LinUCB+dual"]) == ["no", "no"]
    assert set(frame["parent_run_id"]) == {result.parent_run_id}


def test_compare_takes_composed_paced_agent_configs(compose_task) -> None:
    from alpharl.tasks.compare import agent_and_pacing

    agent, pacing = agent_and_pacing("linucb_dual")  # a defaults list: linucb + pacing dual
    assert agent._target_ == "agents.bandits.LinUCB"
    assert agent.pacing._target_ == "agents.pacing.DualPacing"
    assert pacing is None
    agent, pacing = agent_and_pacing("thompson+throttle")
    assert pacing is not None
    assert pacing._target_ == "agents.pacing.ThrottlePacing"
    with pytest.raises(ConfigError, match="already paces"):
        agent_and_pacing("linucb_dual+dual")
    with pytest.raises(ConfigError, match="nope"):
        agent_and_pacing("linucb+nope")


@pytest.mark.parametrize("seeds", ["[]", "[1,1]"])
def test_compare_refuses_bad_seeds_before_training(compose_task, tmp_path, seeds) -> None:
    cfg = compose_task("compare", ["agents=[linucb]", f"seeds={seeds}"])
    with pytest.raises(ConfigError, match="seeds"):
        compare(cfg)
    assert not (tmp_path / "runs" / "mlflow.db").exists()


def test_compare_refuses_an_unknown_agent_before_training(compose_task, tmp_path) -> None:
    cfg = compose_task("compare", ["agents=[linucb,nope]"])
    with pytest.raises(ValueError, match="nope"):
        compare(cfg)
    assert not (tmp_path / "runs" / "mlflow.db").exists()


def test_vector_step_metrics_equal_each_seeds_single_env_metrics(compose_task) -> None:
    from agents.bandits.batched import BatchedLinUCB
    from alpharl.tasks.compare_vector import build_vector_env
    from alpharl.tasks.data import enriched_stream
    from alpharl.tasks.metrics import VectorStepMetrics
    from alpharl.tasks.train import build_agent, build_env

    seeds, steps = [4, 9], 700
    cfg = compose_task("train", ["agent=linucb", "env.horizon=200", "env.budget=1"])
    table = enriched_stream(cfg).table
    env = build_vector_env(cfg, table, len(seeds))
    k, d = int(env.single_action_space.n), int(env.single_observation_space.shape[0])
    recording = VectorStepMetrics(len(seeds), steps, k - 1, log_every=50)
    BatchedLinUCB(len(seeds), k, d, seeds=seeds).learn(env, steps, callback=recording)
    for seed, got in zip(seeds, recording.finish(), strict=True):
        cfg.seed = seed
        single = build_env(cfg, table)
        want = StepMetrics(steps, k - 1)
        build_agent(cfg, single).learn(single, steps, callback=want)
        assert len(want.episode_steps) >= 3  # several episode ends, some by budget
        assert got.episode_steps == want.episode_steps
        a, b = got.finish().as_dict(), want.finish().as_dict()
        a.pop("steps_per_s"), b.pop("steps_per_s")
        assert a == pytest.approx(b, nan_ok=True)
