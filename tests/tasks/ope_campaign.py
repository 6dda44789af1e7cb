"""Helpers of the evaluate/promote/serve tests: composed configs and a served-style log.

The logged data is a small simulated campaign with a known truth: contexts ``x``, a
logistic click model ``q(x, a) = sigmoid(x' w_a + b_a)`` for the K creatives and reward
0 for "no ad", eligibility masks, and an epsilon-greedy logging policy whose decisions
(with their propensities) go into a real `DecisionLog`, as the server writes them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from alpharl.policy import LinearPolicy
from alpharl.policy.rules import EpsilonGreedyRule
from alpharl.serving.decision_log import DecisionLog, DecisionRecord

K, D = 3, 5
N_ACTIONS = K + 1


def compose_config(task: str, overrides: list[str]) -> DictConfig:
    """``configs/<task>.yaml`` composed with ``overrides``, as the CLI would."""
    from hydra import compose, initialize_config_dir

    from alpharl.config import config_dir, register_schemas

    register_schemas()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose(config_name=task, overrides=overrides)


@dataclass(frozen=True)
class Campaign:
    """A logged campaign with its ground truth."""

    log_path: Path
    contexts: np.ndarray  # (n, D), rewarded rounds in logged order
    masks: np.ndarray  # (n, N_ACTIONS)
    q: np.ndarray  # (n, N_ACTIONS) true expected rewards
    good: LinearPolicy
    bad: LinearPolicy

    def true_value(self, policy: LinearPolicy) -> float:
        """The policy's exact value on the logged contexts and eligibility."""
        probs = policy.action_probabilities(self.contexts, self.masks)
        return float((probs * self.q).sum(axis=1).mean())


def _weights(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(scale=1.0, size=(K, D)), rng.normal(-1.0, 0.3, size=K)


def policy_with(theta_sign: float, epsilon: float, seed: int = 0) -> LinearPolicy:
    """A linear policy scoring ``sign * (x' w_a + b_a)``, epsilon-greedy; no ad scores -10.

    Showing a creative costs nothing here, so "no ad" is never worth choosing.
    """
    w, b = _weights(seed)
    theta = np.zeros((N_ACTIONS, D + 1))
    theta[:K, :D] = theta_sign * w
    theta[:K, D] = theta_sign * b
    theta[K, D] = -10.0
    return LinearPolicy(theta, rule=EpsilonGreedyRule(epsilon))


def simulate_campaign(path: Path, n: int = 3000, seed: int = 0) -> Campaign:
    """Log ``n`` decisions of an epsilon-greedy logging policy with rewards from the truth.

    Contexts carry a trailing 1 (the intercept), so the linear policies can match the
    logistic model's ordering exactly. A tenth of the decisions never get feedback.
    """
    rng = np.random.default_rng(seed + 1)
    w, b = _weights(0)
    x = np.column_stack([rng.normal(size=(n, D)), np.ones(n)]).astype(np.float32)
    q = np.zeros((n, N_ACTIONS))
    q[:, :K] = 1 / (1 + np.exp(-(x[:, :D] @ w.T + b)))
    masks = rng.random((n, N_ACTIONS)) < 0.8
    masks[:, -1] = True
    logging_policy = policy_with(0.5, 0.5)
    actions, props = logging_policy.decide(x, masks, rng)
    rewards = rng.random(n) < q[np.arange(n), actions]
    log = DecisionLog(path)
    records = [
        DecisionRecord(
            uuid.uuid4().hex,
            1000.0 + i,
            f"u{i % 50}",
            x[i],
            masks[i],
            N_ACTIONS,
            int(actions[i]),
            float(props[i]),
            "logger",
            "1",
            "champion",
        )
        for i in range(n)
    ]
    log.append_many(records)
    answered = rng.random(n) >= 0.1
    for i in np.flatnonzero(answered):
        log.record_feedback(records[i].decision_id, float(rewards[i]))
    log.close()
    keep = answered
    return Campaign(
        path, x[keep].astype(np.float64), masks[keep], q[keep],
        good=policy_with(1.0, 0.1), bad=policy_with(-1.0, 0.1),
    )  # fmt: skip
