"""LoggedReplayEnv: Li et al. (2011) replay with rejection sampling for non-uniform logs."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from alpharl.ope.dataset import LoggedBanditFeedback
from envs import LoggedReplayEnv


def biased_log(n: int, seed: int = 0) -> dict[str, Any]:
    """Two kinds of people; the logging policy mostly shows action 0 to kind 0 only.

    Action 0 is clicked with probability 0.9 by kind 0 and 0.1 by kind 1, so the policy
    "always action 0" has value 0.5, but the rounds where the log took action 0 are
    mostly kind 0 (a naive average over matches gives about 0.81).
    """
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 2, n)
    pi0 = np.where(kind[:, None] == 0, [0.8, 0.1, 0.1], [0.1, 0.1, 0.8])
    action = (rng.random(n)[:, None] > np.cumsum(pi0, axis=1)).sum(axis=1)
    mu = np.where(kind == 0, 0.9, 0.1)
    reward = np.where(action == 0, rng.random(n) < mu, rng.random(n) < 0.3).astype(float)
    context = np.stack([kind, 1 - kind], axis=1).astype(np.float32)
    return {
        "context": context,
        "action": action,
        "reward": reward,
        "pscore": pi0[np.arange(n), action],
        "n_actions": 3,
    }


def replay(env: LoggedReplayEnv, policy: Any, seed: int = 0) -> float:
    obs, _ = env.reset(seed=seed)
    truncated = False
    while not truncated:
        obs, _, _, truncated, _info = env.step(policy(obs))
    return env.replay_value


def test_rejection_sampling_removes_the_logging_bias() -> None:
    log = biased_log(30_000)
    always_zero = lambda obs: 0  # noqa: E731
    unbiased = replay(LoggedReplayEnv(**log, rejection=True), always_zero)
    naive = replay(LoggedReplayEnv(**log, rejection=False), always_zero)
    assert unbiased == pytest.approx(0.5, abs=0.05)
    assert naive == pytest.approx(0.81, abs=0.03)


def test_rewards_only_on_a_match() -> None:
    log = biased_log(200)
    env = LoggedReplayEnv(**log, rejection=False, horizon=None)
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs, log["context"][0])
    assert info["action_mask"].all()
    for i in range(200):
        action = int(log["action"][i]) if i % 2 else (int(log["action"][i]) + 1) % 3
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["matched"] == bool(i % 2)
        assert info["reward_known"] == info["matched"]
        assert info["logged_action"] == log["action"][i]
        assert info["propensity"] == log["pscore"][i]
        assert reward == (log["reward"][i] if i % 2 else 0.0)
        assert not terminated
        assert truncated == (i == 199)
    assert env.accepted == 100
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(0)


def test_horizon_episodes_and_logged_masks() -> None:
    log = biased_log(100)
    masks = np.ones((100, 3), dtype=bool)
    masks[:, 2] = False
    env = LoggedReplayEnv(**log, action_mask=masks, horizon=10)
    _, info = env.reset(seed=3)
    np.testing.assert_array_equal(info["action_mask"], [True, True, False])
    steps = 0
    truncated = False
    while not truncated:
        _, _, _, truncated, _ = env.step(0)
        steps += 1
    assert steps == 10


def test_checkers() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Not registered (it needs a log), so it has no spec for the render-mode check.
        warnings.filterwarnings("ignore", message=".*environment not having a spec")
        gym_check_env(LoggedReplayEnv(**biased_log(50), horizon=20))
        sb3_check_env(LoggedReplayEnv(**biased_log(50), horizon=20))


def test_from_feedback() -> None:
    log = biased_log(50)
    feedback = LoggedBanditFeedback(
        context=log["context"], action=log["action"], reward=log["reward"],
        pscore=log["pscore"], n_actions=3,
    )  # fmt: skip
    env = LoggedReplayEnv.from_feedback(feedback, rejection=False)
    assert env.n_rounds == 50
    np.testing.assert_array_equal(env.reset(seed=0)[0], log["context"][0])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"pscore": "zero"}, r"pscore\[0\]: must be in \(0, 1\]"),
        ({"action": "out"}, r"action\[0\]: must be in \[0, 3\)"),
        ({"reward": "short"}, r"reward: must be \(50,\)"),
        ({"n_actions": 0}, "n_actions: must be a positive integer"),
        ({"horizon": 0}, "horizon: must be a positive integer or None"),
        ({"context": "nan"}, "context: must be a finite"),
        ({"action_mask": "shape"}, r"action_mask: must have shape \(50, 3\)"),
    ],
)
def test_bad_logs(change: dict[str, Any], match: str) -> None:
    log = biased_log(50)
    key, how = next(iter(change.items()))
    if how == "zero":
        log["pscore"] = np.where(np.arange(50) == 0, 0.0, log["pscore"])
    elif how == "out":
        log["action"] = np.where(np.arange(50) == 0, 3, log["action"])
    elif how == "short":
        log["reward"] = log["reward"][:10]
    elif how == "nan":
        log["context"] = np.full((50, 2), np.nan)
    elif how == "shape":
        log["action_mask"] = np.ones((50, 2), dtype=bool)
    else:
        log[key] = how
    with pytest.raises(ValueError, match=match):
        LoggedReplayEnv(**log)
    env = LoggedReplayEnv(**biased_log(50))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action: must be in \[0, 3\)"):
        env.step(5)
