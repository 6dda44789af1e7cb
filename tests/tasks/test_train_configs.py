"""Every config composes, every group instantiates, and bad keys are errors naming them."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from alpharl.config import ConfigError, check_targets, config_dir
from alpharl.tasks.data import enriched_stream
from alpharl.tasks.train import build_agent, build_env

GROUPS = ("stream", "enrich", "env", "click_model", "agent", "tracking")


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g in GROUPS for o in _options(g)], ids=lambda x: str(x)
)
def test_every_group_option_composes_and_checks(compose_task, group: str, option: str) -> None:
    cfg = compose_task("train", [f"{group}={option}"], small=False)
    check_targets(cfg)
    # Only the chosen option may leave values for the user to give (``???``).
    assert all(key.startswith(f"{group}.") for key in OmegaConf.missing_keys(cfg))


@pytest.mark.parametrize("option", _options("experiment") + _options("hparams_search"))
def test_every_experiment_and_search_composes(compose_task, option: str) -> None:
    group = "experiment" if option in _options("experiment") else "hparams_search"
    cfg = compose_task("train", [f"{group}={option}"])
    check_targets(cfg)


def test_every_agent_instantiates_and_acts_within_the_mask(compose_task) -> None:
    cfg = compose_task("train", ["env.horizon=50"])
    env = build_env(cfg, enriched_stream(cfg).table)
    obs, info = env.reset(seed=0)
    for name in _options("agent"):
        agent_cfg = compose_task("train", [f"agent={name}"])
        agent = build_agent(agent_cfg, env)
        if name in ("oracle", "paced_oracle"):  # simulation-only: decides from the simulator's info
            action, propensity = agent.act_with_info(info)
        else:
            action, propensity = agent.act(obs, info["action_mask"])
        assert info["action_mask"][int(action)], name
        assert 0.0 < float(propensity) <= 1.0, name


def test_streams_and_pipelines_instantiate(compose_task, tmp_path: Path) -> None:
    for option in ("tweets", "synthetic"):
        cfg = compose_task("train", [f"stream={option}"], small=False)
        source = instantiate(cfg.stream, _convert_="all")
        first = next(iter(source))
        assert first.text
    cfg = compose_task("train", ["enrich=default"])
    pipeline = instantiate(cfg.enrich, _convert_="all")
    assert set(pipeline.versions) >= {"vader", "emotion_model"}


def test_env_config_builds_a_gymnasium_env_with_the_click_model(compose_task) -> None:
    cfg = compose_task("train", ["env.budget=3", "env.horizon=40", "click_model.congruence=0"])
    env = build_env(cfg, enriched_stream(cfg).table)
    assert env.unwrapped.budget == 3.0
    assert env.unwrapped.click_model.congruence == 0.0
    assert isinstance(env.action_space, gym.spaces.Discrete)
    obs, _ = env.reset(seed=1)
    assert obs.dtype == np.float32
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("env.budgt=3", "env.budgt"),
        ("click_model.congruenc=1", "click_model.congruenc"),
        ("agent.alpha_=2", "agent.alpha_"),
    ],
)
def test_an_unknown_key_is_an_error_naming_it(compose_task, override: str, named: str) -> None:
    cfg = compose_task("train", [f"+{override}"])
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        check_targets(cfg)


def test_an_unknown_top_level_key_is_refused_by_the_schema(compose_task) -> None:
    with pytest.raises(ConfigCompositionException, match="stepz"):
        compose_task("train", ["stepz=3"])


def test_a_wrongly_typed_value_is_refused_by_the_schema(compose_task) -> None:
    with pytest.raises(ConfigCompositionException, match="steps"):
        compose_task("train", ["steps=many"])


def test_a_generated_catalog_replaces_the_env_catalog_and_is_logged(compose_task, tmp_path) -> None:
    import mlflow

    from alpharl.tasks.train import train

    cfg = compose_task("train", ["creatives=template", "steps=100", "env.horizon=50"])
    _, result = train(cfg)
    env = result.env.unwrapped
    assert env.n_creatives == 7  # one template creative per emotion target
    assert sorted(c.emotion_target for c in env.catalog) == sorted(cfg.creatives.emotion_targets)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    logged = {a.path for a in client.list_artifacts(result.run_id, "creatives")}
    assert "creatives/catalog.json" in logged


def test_an_experiment_sets_top_level_values_and_overrides_still_win(compose_task) -> None:
    cfg = compose_task("train", ["experiment=bandits_vs_dqn"])
    assert cfg.steps == 30000  # the experiment's value, not train.yaml's
    assert cfg.env.budget == 4.0
    cfg = compose_task("train", ["experiment=bandits_vs_dqn", "steps=10"])
    assert cfg.steps == 10
