"""`pacing=` composes with the bandit agents and refuses the others before any work."""

from __future__ import annotations

import pytest

from agents.pacing import DualPacing, ThrottlePacing
from alpharl.config import ConfigError, check_targets
from alpharl.tasks.data import enriched_stream
from alpharl.tasks.train import build_agent, build_env, check_pacing


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
