"""`pacing=` composes with the bandit agents and refuses the others before any work."""

from __future__ import annotations

import pytest

from agents.pacing import DualPacing, ThrottlePacing
from alpharl.config import ConfigError, check_targets
from alpharl.tasks.data import enriched_stream
from alpharl.tasks.train import agent_name, build_agent, build_env, check_pacing


@pytest.mark.parametrize("task", ["train", "compare", "tune"])
def test_pacing_defaults_to_none(compose_task, task: str) -> None:
    cfg = compose_task(task, small=False)
    assert not cfg.pacing
    assert check_pacing(cfg) is False


@pytest.mark.parametrize(
    ("agent", "pacing", "cls"),
    [
        ("linucb", "dual", DualPacing),
        ("thompson", "dual", DualPacing),
        ("linear_epsilon_greedy", "throttle", ThrottlePacing),
        ("epsilon_greedy", "dual", DualPacing),
        ("ucb1", "throttle", ThrottlePacing),
    ],
)
def test_bandit_agents_build_with_pacing(compose_task, agent: str, pacing: str, cls: type) -> None:
    cfg = compose_task("train", [f"agent={agent}", f"pacing={pacing}", "env.horizon=50"])
    check_targets(cfg)
    env = build_env(cfg, enriched_stream(cfg).table)
    built = build_agent(cfg, env)
    assert isinstance(built.pacing, cls)
    assert built.pacing.to_config()["step_size"] == cfg.pacing.step_size
    assert built.config()["pacing"]["name"] == cls.name


@pytest.mark.parametrize("agent", ["dqn", "oracle", "random"])
def test_an_agent_that_cannot_be_paced_is_a_config_error(compose_task, agent: str) -> None:
    cfg = compose_task("train", [f"agent={agent}", "pacing=dual"], small=False)
    with pytest.raises(ConfigError, match="cannot be paced"):
        check_pacing(cfg)


def test_a_misspelt_pacing_key_is_an_error_naming_it(compose_task) -> None:
    cfg = compose_task("train", ["pacing=dual", "+pacing.stepsize=0.1"], small=False)
    with pytest.raises(ConfigError, match="stepsize"):
        check_targets(cfg)


def test_train_with_dual_pacing_exports_the_multiplier(compose_task) -> None:
    from alpharl.tasks.train import train

    cfg = compose_task(
        "train",
        ["agent=linucb", "pacing=dual", "steps=600", "env.horizon=200", "env.budget=1.0"],
    )
    metrics, result = train(cfg)
    assert metrics.steps == 600
    pacing = result.agent.pacing
    assert isinstance(pacing, DualPacing)
    assert pacing.multiplier > 0  # a budget of 1 over 200 opportunities binds
    policy = result.agent.export()
    assert policy.rule.to_config()["multiplier"] == pacing.multiplier


@pytest.mark.parametrize(
    ("agent", "name", "cls"),
    [
        ("linucb_dual", "LinUCB+dual", DualPacing),
        ("thompson_dual", "LinearThompsonSampling+dual", DualPacing),
        ("linucb_throttle", "LinUCB+throttle", ThrottlePacing),
    ],
)
def test_paced_agent_configs(compose_task, agent: str, name: str, cls: type) -> None:
    cfg = compose_task("train", [f"agent={agent}", "env.horizon=50"])
    check_targets(cfg)
    assert agent_name(cfg) == name
    env = build_env(cfg, enriched_stream(cfg).table)
    assert isinstance(build_agent(cfg, env).pacing, cls)
    twice = compose_task("train", [f"agent={agent}", "pacing=dual"], small=False)
    with pytest.raises(ConfigError, match="already paces"):
        check_pacing(twice)
