"""The SB3 agent families: each saves and reloads through `load_agent`; families stay apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sb3_toy_env import ToyAdEnv

from agents.base import BaseAgent, load_agent
from agents.sb3 import ActorCriticAgent, DQNAgent, SB3Agent

K, D = 3, 4
FAMILIES: dict[str, tuple[type[SB3Agent], dict[str, Any]]] = {
    "DQN": (DQNAgent, {"learning_starts": 20, "buffer_size": 500, "batch_size": 16}),
    "PPO": (ActorCriticAgent, {"n_steps": 32, "batch_size": 32}),
    "A2C": (ActorCriticAgent, {"n_steps": 16}),
}


@pytest.mark.parametrize("algo", sorted(FAMILIES))
def test_generic_loader_round_trips_each_family(algo: str, tmp_path: Path) -> None:
    family, kwargs = FAMILIES[algo]
    agent = family(algo, algo_kwargs={**kwargs, "policy_kwargs": {"net_arch": [8]}}, seed=2)
    assert isinstance(agent, BaseAgent)
    agent.learn(ToyAdEnv(K, D), 64)
    assert agent.action_counts.sum() == agent.n_updates == 64
    rng = np.random.default_rng(0)
    x = rng.random((16, D)).astype(np.float32)
    masks = rng.random((16, K + 1)) < 0.6
    masks[:, -1] = True
    agent.act_batch(x, masks)  # advance the generator past its seed
    saved = agent.save(tmp_path / "agent")
    assert {p.name for p in saved.iterdir()} >= {"agent.json", "state.npz", "model.zip"}
    loaded = load_agent(saved)
    assert type(loaded) is family
    assert isinstance(loaded, SB3Agent)
    assert loaded.config() == agent.config()
    assert loaded.n_updates == agent.n_updates
    np.testing.assert_array_equal(loaded.action_counts, agent.action_counts)
    np.testing.assert_array_equal(loaded.scores(x), agent.scores(x))
    for _ in range(2):  # same generator state, same network: the same decisions
        a1, p1 = agent.act_batch(x, masks)
        a2, p2 = loaded.act_batch(x, masks)
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(
        loaded.export().action_probabilities(x, masks),
        agent.export().action_probabilities(x, masks),
    )
    assert loaded.learn(ToyAdEnv(K, D), 32).steps == 32  # a loaded agent keeps learning
    assert loaded.n_updates == 96


def test_a_model_that_disagrees_with_the_manifest_is_refused(tmp_path: Path) -> None:
    from alpharl.policy import ArtifactError

    small = DQNAgent(n_actions=K + 1, n_features=D).save(tmp_path / "small")
    wide = DQNAgent(n_actions=K + 1, n_features=D + 2).save(tmp_path / "wide")
    (wide / "model.zip").replace(small / "model.zip")
    with pytest.raises(ArtifactError, match=r"model\.zip: spaces .* do not match agent\.json"):
        load_agent(small)


@pytest.mark.parametrize(
    ("family", "algo", "match"),
    [
        (DQNAgent, "PPO", "algo: PPO is not a DQN algorithm, so DQNAgent cannot drive it"),
        (ActorCriticAgent, "DQN", "algo: DQN is not a OnPolicyAlgorithm algorithm"),
    ],
)
def test_an_algorithm_of_another_family_is_refused(
    family: type[SB3Agent], algo: str, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        family(algo)
    with pytest.raises(ValueError, match=match):
        family(algo, n_actions=K + 1, n_features=D)


def test_on_policy_family_refuses_logged_rounds_without_counting_them() -> None:
    agent = ActorCriticAgent("A2C", n_actions=K + 1, n_features=D)
    with pytest.raises(TypeError, match="A2C is on-policy"):
        agent.update_batch(np.zeros((2, D), np.float32), np.array([0, 1]), np.zeros(2))
    assert agent.n_updates == 0
    assert agent.action_counts.sum() == 0


def test_a_folder_saved_by_the_old_single_sb3agent_loads_as_its_family(tmp_path: Path) -> None:
    """The pre-family format: class "SB3Agent", no arrays, sizes not in the config."""
    import json

    agent = DQNAgent(algo_kwargs={"learning_starts": 10, "buffer_size": 200}, seed=4)
    agent.learn(ToyAdEnv(K, D), 40)
    folder = agent.save(tmp_path / "old")
    manifest = json.loads((folder / "agent.json").read_text())
    config = {k: v for k, v in manifest["config"].items() if k != "n_envs"}
    manifest.update(class_="SB3Agent", config=config, arrays={}, model="model.zip")
    manifest["class"] = manifest.pop("class_")
    (folder / "agent.json").write_text(json.dumps(manifest))
    np.savez(folder / "state.npz")
    loaded = load_agent(folder)
    assert type(loaded) is DQNAgent
    assert loaded.n_updates == 40
    x = np.random.default_rng(1).random((8, D)).astype(np.float32)
    np.testing.assert_array_equal(loaded.scores(x), agent.scores(x))
    assert loaded.rng.bit_generator.state == agent.rng.bit_generator.state
