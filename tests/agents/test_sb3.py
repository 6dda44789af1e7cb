"""SB3 agents (`DQNAgent`, `ActorCriticAgent`): the agent protocol, masks, export, persistence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_toy_env import ToyAdEnv
from stable_baselines3 import SAC

from agents.base import Agent, StepRecord
from agents.sb3 import ActorCriticAgent, DQNAgent
from agents.sb3.env import EligibleActionWrapper, fold_ineligible
from alpharl.policy import load_policy
from alpharl.policy.qnetwork import ActorPolicy, QNetworkPolicy
from alpharl.policy.rules import EpsilonGreedyRule, GreedyRule, SoftmaxRule

K, D = 3, 4
SMALL_DQN = {
    "buffer_size": 2_000,
    "learning_starts": 50,
    "batch_size": 32,
    "train_freq": 4,
    "target_update_interval": 100,
    "exploration_fraction": 0.5,
    "policy_kwargs": {"net_arch": [16, 16]},
}
SMALL_PG = {"n_steps": 32, "policy_kwargs": {"net_arch": [16]}}
PG_KWARGS = {"PPO": {**SMALL_PG, "batch_size": 32}, "A2C": SMALL_PG}


def _dqn(**kwargs: Any) -> DQNAgent:
    return DQNAgent("DQN", algo_kwargs={**SMALL_DQN, **kwargs.pop("algo_kwargs", {})}, **kwargs)


def _obs_batch(n: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, D)).astype(np.float32)
    masks = rng.random((n, K + 1)) < 0.6
    masks[:, -1] = True
    return x, masks


class _Recorder:
    def __init__(self, stop_at: int | None = None) -> None:
        self.records: list[StepRecord] = []
        self.stop_at = stop_at

    def __call__(self, record: StepRecord) -> bool:
        self.records.append(record)
        return self.stop_at is None or len(self.records) < self.stop_at


# --- construction ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algo": "DQNN"}, "algo: must be one of"),
        ({"algo": "nowhere.Algo"}, "algo: cannot import"),
        ({"algo": "gymnasium:Env"}, "not a stable_baselines3 BaseAlgorithm"),
        ({"policy": "CnnPolicyy"}, "policy: 'CnnPolicyy' is not a policy of DQN"),
        ({"algo_kwargs": {"learning_rat": 1e-3}}, "algo_kwargs.learning_rat: not an argument"),
        ({"algo_kwargs": {"seed": 3}}, "algo_kwargs.seed: set by SB3Agent"),
        ({"algo_kwargs": {"policy_kwargs": {"activation_fn": "swish"}}}, "activation_fn"),
        ({"algo_kwargs": {"replay_buffer_class": "x:Y"}}, "replay_buffer_class: cannot import"),
        ({"mask_strategy": "mask"}, "mask_strategy"),
        ({"n_actions": 3}, "give both or neither"),
        ({"n_actions": 1, "n_features": 2}, "n_actions"),
        ({"act_epsilon": 1.5}, "act_epsilon"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_construction_names_the_field(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DQNAgent(**kwargs)


def test_algorithm_without_discrete_actions_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="SAC cannot act in a Discrete action space"):
        DQNAgent(SAC)
    with pytest.raises(ValueError, match="SAC cannot be used with action space Discrete"):
        DQNAgent("stable_baselines3:SAC", n_actions=3, n_features=2)


def test_env_with_wrong_spaces_is_rejected() -> None:
    agent = _dqn()
    with pytest.raises(ValueError, match="observation_space: SB3Agent needs a 1-d Box"):
        agent.learn(gym.make("FrozenLake-v1"), 10)
    built = _dqn(n_actions=K + 1, n_features=D + 1)
    with pytest.raises(ValueError, match="do not fit the agent's model"):
        built.learn(ToyAdEnv(K, D), 10)


def test_model_needed_before_acting() -> None:
    with pytest.raises(RuntimeError, match="no model yet"):
        _dqn().act(np.zeros(D, dtype=np.float32))


# --- learning -------------------------------------------------------------------------


def test_learn_takes_exact_steps_and_only_eligible_actions() -> None:
    agent = _dqn(seed=1)
    assert isinstance(agent, Agent)
    rec = _Recorder()
    summary = agent.learn(ToyAdEnv(K, D, horizon=40), 250, rec)  # 250 % train_freq != 0
    assert summary.steps == 250
    assert [r.step for r in rec.records] == list(range(250))
    assert summary.episodes == 6  # truncated every 40 steps
    assert summary.total_regret is not None
    assert summary.total_regret >= 0
    np.testing.assert_allclose(summary.total_reward, sum(r.reward for r in rec.records))
    assert all(0 < r.propensity <= 1 for r in rec.records)
    assert agent._wrapper is not None
    assert agent._wrapper.n_remapped > 0  # the wrapper did turn ineligible picks into no-ad
    assert agent.model is not None
    assert agent.model.num_timesteps == 250
    again = agent.learn(ToyAdEnv(K, D, horizon=40), 100)
    assert again.steps == 100
    assert agent.model.num_timesteps == 350
    assert agent.n_updates == 350


def test_warmup_propensities_fold_ineligible_mass_into_no_ad() -> None:
    # Before learning_starts DQN picks uniformly over all K+1 actions; an ineligible pick
    # is executed as no-ad, so P(no-ad) = (1 + #ineligible) / (K+1).
    agent = _dqn(algo_kwargs={"learning_starts": 10_000}, seed=2)
    seen: list[tuple[int, float, int]] = []
    env = ToyAdEnv(K, D)
    wrapper_masks: list[np.ndarray] = []

    def callback(r: StepRecord) -> None:
        assert agent._wrapper is not None
        assert agent._wrapper.last_mask is not None
        wrapper_masks.append(agent._wrapper.last_mask.copy())
        seen.append((r.action, r.propensity, r.step))

    agent.learn(env, 60, callback)
    for (action, prop, _), mask in zip(seen, wrapper_masks, strict=True):
        n_inel = int((~mask).sum())
        expected = (1 + n_inel) / (K + 1) if action == K else 1 / (K + 1)
        assert prop == pytest.approx(expected)
        assert mask[action]


def test_dqn_propensity_after_warmup_is_epsilon_greedy() -> None:
    agent = _dqn(algo_kwargs={"learning_starts": 0, "exploration_fraction": 0.5}, seed=3)
    records: list[tuple[StepRecord, float, np.ndarray, np.ndarray]] = []

    def callback(r: StepRecord) -> None:
        assert agent.model is not None
        obs = np.asarray(agent.model._last_obs)  # the decision's observation
        eps = agent.model.exploration_rate  # type: ignore[attr-defined]
        assert agent._wrapper is not None
        assert agent._wrapper.last_mask is not None
        records.append((r, eps, agent.scores(obs)[0], agent._wrapper.last_mask.copy()))

    agent.learn(ToyAdEnv(K, D), 40, callback)
    n = K + 1
    assert len({eps for _, eps, _, _ in records}) > 10  # epsilon decays over the run
    for record, eps, q, mask in records:
        probs = np.full(n, eps / n)
        probs[int(q.argmax())] += 1 - eps
        assert record.propensity == pytest.approx(fold_ineligible(probs, mask, K)[record.action])


def test_callback_returning_false_stops() -> None:
    agent = _dqn()
    rec = _Recorder(stop_at=7)
    summary = agent.learn(ToyAdEnv(K, D), 100, rec)
    assert summary.steps == 7
    assert summary.stopped_early
    assert len(rec.records) == 7


def test_same_seed_same_run() -> None:
    runs = []
    for _ in range(2):
        rec = _Recorder()
        _dqn(seed=5).learn(ToyAdEnv(K, D), 120, rec)
        runs.append([(r.action, r.reward, r.propensity) for r in rec.records])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("algo", ["PPO", "A2C"])
def test_on_policy_learn_and_propensities(algo: str) -> None:
    agent = ActorCriticAgent(algo, algo_kwargs=PG_KWARGS[algo], seed=0)
    rec = _Recorder()
    summary = agent.learn(ToyAdEnv(K, D), 64, rec)
    assert summary.steps == 64
    assert all(0 < r.propensity <= 1 for r in rec.records)
    assert agent.model is not None
    assert agent.model.num_timesteps == 64


def test_ignore_strategy_passes_actions_through_on_unmasked_env() -> None:
    agent = _dqn(mask_strategy="ignore")
    rec = _Recorder()
    agent.learn(gym.make("CartPole-v1"), 40, rec)  # all within learning_starts=50
    assert agent._wrapper is None
    assert len(rec.records) == 40
    assert {r.propensity for r in rec.records} == {0.5}  # warmup: uniform over 2 actions
    with pytest.raises(ValueError, match="not eligible"):
        _dqn(mask_strategy="ignore", algo_kwargs={"learning_starts": 0}).learn(
            ToyAdEnv(K, D, eligible_prob=0.0), 50
        )


def test_sb3_logs_go_to_the_given_logger() -> None:
    from alpharl.tracking.sb3_writer import configure_sb3_logger

    class Writer:
        def __init__(self) -> None:
            self.logged: list[tuple[dict[str, float], int]] = []

        def log(self, metrics: dict[str, float], step: int) -> None:
            self.logged.append((dict(metrics), step))

        def flush(self) -> None:
            pass

    writer = Writer()
    agent = _dqn(algo_kwargs={"learning_starts": 10})
    agent.set_logger(configure_sb3_logger(writer))  # type: ignore[arg-type]
    agent.learn(ToyAdEnv(K, D, horizon=20), 100)
    keys = set().union(*(m for m, _ in writer.logged))
    assert {"rollout/exploration_rate", "time/fps", "train/loss", "train/q_mean"} <= keys
    assert writer.logged[-1][1] <= 100


# --- acting and export ----------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_dqn() -> DQNAgent:
    agent = _dqn(seed=0)
    agent.learn(ToyAdEnv(K, D), 300)
    return agent


def test_export_q_values_equal_sb3(trained_dqn: DQNAgent) -> None:
    policy = trained_dqn.export()
    assert isinstance(policy, QNetworkPolicy)
    x, masks = _obs_batch(64)
    assert trained_dqn.model is not None
    with torch.no_grad():
        sb3_q = trained_dqn.model.q_net(torch.as_tensor(x)).numpy()  # type: ignore[attr-defined]
    np.testing.assert_allclose(policy.q_values(x), sb3_q, rtol=0, atol=1e-6)
    assert policy.rule == EpsilonGreedyRule(0.05)  # SB3's final exploration rate
    assert isinstance(trained_dqn.export(greedy=True).rule, GreedyRule)
    np.testing.assert_allclose(
        policy.action_probabilities(x, masks), trained_dqn.action_probabilities(x, masks)
    )


def test_act_respects_masks_with_epsilon_greedy_propensity(trained_dqn: DQNAgent) -> None:
    x, masks = _obs_batch(200, seed=3)
    actions, props = trained_dqn.act_batch(x, masks)
    rows = np.arange(len(x))
    assert masks[rows, actions].all()
    q = np.where(masks, trained_dqn.scores(x), -np.inf)
    greedy = q.argmax(axis=1)
    n_eligible = masks.sum(axis=1)
    is_greedy = actions == greedy
    np.testing.assert_allclose(props[is_greedy], (0.95 + 0.05 / n_eligible)[is_greedy])
    np.testing.assert_allclose(props[~is_greedy], (0.05 / n_eligible)[~is_greedy])
    a, p = trained_dqn.act(x[0], masks[0])
    assert masks[0, a]
    assert 0 < p <= 1
    with pytest.raises(ValueError, match="mask must have shape"):
        trained_dqn.act(x[0], masks[0, :2])
    with pytest.raises(ValueError, match="obs must have shape"):
        trained_dqn.act(x[:2])


def test_act_epsilon_override() -> None:
    agent = _dqn(act_epsilon=0.0, n_actions=K + 1, n_features=D)
    x, masks = _obs_batch(20)
    _, props = agent.act_batch(x, masks)
    np.testing.assert_array_equal(props, 1.0)


@pytest.mark.parametrize("algo", ["PPO", "A2C"])
def test_actor_export_matches_sb3_distribution(algo: str) -> None:
    agent = ActorCriticAgent(algo, algo_kwargs=PG_KWARGS[algo], seed=1)
    agent.learn(ToyAdEnv(K, D), 64)
    policy = agent.export()
    assert isinstance(policy, ActorPolicy)
    assert policy.rule == SoftmaxRule(1.0)
    x, masks = _obs_batch(32)
    assert agent.model is not None
    with torch.no_grad():
        dist = agent.model.policy.get_distribution(torch.as_tensor(x))
        probs = dist.distribution.probs.numpy()  # type: ignore[union-attr]
    np.testing.assert_allclose(policy.action_probabilities(x), probs, atol=1e-6)
    masked = np.where(masks, probs, 0)
    np.testing.assert_allclose(
        policy.action_probabilities(x, masks), masked / masked.sum(1, keepdims=True), atol=1e-6
    )
    actions, _ = agent.act_batch(x, masks)
    assert masks[np.arange(len(x)), actions].all()


def test_exported_policy_saves_and_loads_without_the_agent(
    trained_dqn: DQNAgent, tmp_path: Path
) -> None:
    policy = trained_dqn.export()
    policy.save(tmp_path)
    loaded = load_policy(tmp_path)
    x, masks = _obs_batch()
    np.testing.assert_array_equal(
        loaded.action_probabilities(x, masks), policy.action_probabilities(x, masks)
    )


# --- persistence and offline updates --------------------------------------------------


def test_save_load_round_trip(trained_dqn: DQNAgent, tmp_path: Path) -> None:
    path = trained_dqn.save(tmp_path / "agent")
    assert (path / "model.zip").is_file()
    manifest = json.loads((path / "agent.json").read_text())
    assert manifest["class"] == "DQNAgent"
    assert manifest["config"]["algo"] == "DQN"
    assert manifest["config"]["algo_kwargs"]["policy_kwargs"] == {"net_arch": [16, 16]}
    loaded = DQNAgent.load(path)
    x, _ = _obs_batch()
    np.testing.assert_array_equal(loaded.scores(x), trained_dqn.scores(x))
    assert loaded.n_updates == trained_dqn.n_updates
    assert loaded.rng.bit_generator.state == trained_dqn.rng.bit_generator.state
    summary = loaded.learn(ToyAdEnv(K, D), 20)  # a loaded agent keeps learning
    assert summary.steps == 20


def test_load_errors_name_the_file(trained_dqn: DQNAgent, tmp_path: Path) -> None:
    from alpharl.policy import ArtifactError

    path = trained_dqn.save(tmp_path / "a")
    (path / "model.zip").unlink()
    with pytest.raises(ArtifactError, match=r"model\.zip: file not found"):
        DQNAgent.load(path)


def test_config_with_classes_round_trips() -> None:
    agent = ActorCriticAgent(
        "PPO",
        algo_kwargs={
            "n_steps": 16,
            "batch_size": 16,
            "policy_kwargs": {"activation_fn": torch.nn.ReLU},
        },
        n_actions=3,
        n_features=2,
    )
    config = agent.config()
    assert config["algo_kwargs"]["policy_kwargs"]["activation_fn"] == "relu"
    rebuilt = ActorCriticAgent(**config)
    assert rebuilt.export().activation == "relu"


def test_offline_update_moves_q_toward_logged_rewards() -> None:
    agent = _dqn(
        n_actions=K + 1,
        n_features=D,
        algo_kwargs={"learning_starts": 0, "train_freq": 1, "learning_rate": 3e-3},
    )
    rng = np.random.default_rng(0)
    x = rng.random((600, D)).astype(np.float32)
    actions = rng.integers(0, K + 1, 600)
    rewards = np.where(actions == 0, 1.0, 0.0)
    agent.update_batch(x, actions, rewards)
    q = agent.scores(x[:100])
    assert q[:, 0].mean() > 0.7
    assert np.abs(q[:, 1:]).mean() < 0.3
    agent.update(x[0], 0, 1.0)
    assert agent.n_updates == 601
    with pytest.raises(ValueError, match=r"actions must be in \[0, 4\)"):
        agent.update_batch(x[:2], np.array([0, K + 1]), np.zeros(2))


def test_on_policy_update_is_refused() -> None:
    agent = ActorCriticAgent("PPO", algo_kwargs=PG_KWARGS["PPO"], n_actions=3, n_features=2)
    with pytest.raises(TypeError, match="on-policy"):
        agent.update(np.zeros(2, dtype=np.float32), 0, 1.0)


def test_wrapper_rejects_bad_masks() -> None:
    class BadMask(ToyAdEnv):
        def reset(self, **kwargs: Any) -> Any:
            obs, info = super().reset(**kwargs)
            return obs, {**info, "action_mask": np.ones(2, dtype=bool)}

    with pytest.raises(ValueError, match=r"info\['action_mask'\]: shape must be \(4,\)"):
        EligibleActionWrapper(BadMask(K, D)).reset(seed=0)


def test_agent_built_from_sizes_learns_on_a_bounded_env() -> None:
    agent = _dqn(n_actions=K + 1, n_features=D, seed=4)
    before = agent.export()
    summary = agent.learn(ToyAdEnv(K, D), 120)  # Box(0, 1), not the placeholder's bounds
    assert summary.steps == 120
    x, _ = _obs_batch(8)
    assert not np.allclose(agent.export().q_values(x), before.q_values(x))  # it trained
