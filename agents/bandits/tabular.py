"""Context-free bandits: per-action running means, explored epsilon-greedily or by UCB1."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from agents.base import BanditAgent
from agents.pacing import Pacing
from alpharl.policy import (
    BasePolicy,
    DecisionRule,
    EpsilonGreedyRule,
    GreedyRule,
    TabularPolicy,
    UCBRule,
)
from alpharl.policy.tabular import count_widths


class TabularBandit(BanditAgent):
    """Per-action sample means of the reward, ignoring the context.

    The width its rules may use is UCB1's ``sqrt(ln t / n_a)`` (infinite for an untried
    action). Thompson exploration is rejected: the model has no posterior.

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        exploration: `GreedyRule`, `EpsilonGreedyRule` or `UCBRule` (or their config).
        n_features: Observation width to enforce, or None to accept any.
        seed: Seed of the agent's generator.
        pacing: Budget pacing part or its config (`agents.pacing`), or None.
    """

    supported_rules = (GreedyRule, EpsilonGreedyRule, UCBRule)

    def __init__(
        self,
        n_actions: int,
        exploration: DecisionRule | Mapping[str, Any] | None = None,
        n_features: int | None = None,
        seed: int | None = None,
        pacing: Pacing | Mapping[str, Any] | None = None,
    ) -> None:
        if exploration is None:
            exploration = EpsilonGreedyRule(0.1)
        super().__init__(n_actions, n_features, exploration, seed, pacing)
        self.values = np.zeros(self.n_actions)

    def config(self) -> dict[str, Any]:
        return {
            "n_actions": self.n_actions,
            "exploration": self.exploration.to_config(),
            "n_features": self.n_features,
            "seed": self.seed,
            **self._pacing_config(),
        }

    def _state(self) -> dict[str, np.ndarray]:
        return {"values": self.values}

    def _scores(self, x: np.ndarray, with_width: bool) -> tuple[np.ndarray, np.ndarray | None]:
        shape = (x.shape[0], self.n_actions)
        mean = np.broadcast_to(self.values, shape)
        if not with_width:
            return mean, None
        return mean, np.broadcast_to(count_widths(self.action_counts), shape)

    def _update(self, x: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        k = np.bincount(actions, minlength=self.n_actions)
        sums = np.bincount(actions, weights=rewards, minlength=self.n_actions)
        hit = k > 0
        n_new = self.action_counts[hit] + k[hit]
        self.values[hit] += (sums[hit] - k[hit] * self.values[hit]) / n_new

    def _update_one(self, x: np.ndarray, action: int, reward: float) -> None:
        self.values[action] += (reward - self.values[action]) / (self.action_counts[action] + 1)

    def _export(self, rule: DecisionRule) -> BasePolicy:
        counts = self.action_counts.astype(np.float64) if rule.uses_width else None
        return TabularPolicy(self.values.copy(), counts, rule, self.n_features)


class EpsilonGreedy(TabularBandit):
    """Epsilon-greedy on per-action sample means (Sutton & Barto, 2018, §2.3).

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        epsilon: Exploration probability in [0, 1].
        decay: >= 0; after ``t`` updates epsilon is ``epsilon / (1 + decay * t)``
            (Auer et al., 2002's epsilon_n-greedy schedule); 0 keeps it constant.
        n_features: Observation width to enforce, or None to accept any.
        seed: Seed of the agent's generator.
        pacing: Budget pacing part or its config (`agents.pacing`), or None.
    """

    def __init__(
        self,
        n_actions: int,
        epsilon: float = 0.1,
        decay: float = 0.0,
        n_features: int | None = None,
        seed: int | None = None,
        pacing: Pacing | Mapping[str, Any] | None = None,
    ) -> None:
        rule = EpsilonGreedyRule(epsilon, decay)
        super().__init__(n_actions, rule, n_features, seed, pacing)

    def config(self) -> dict[str, Any]:
        rule = self.exploration
        assert isinstance(rule, EpsilonGreedyRule)
        return {
            "n_actions": self.n_actions,
            "epsilon": rule.epsilon,
            "decay": rule.decay,
            "n_features": self.n_features,
            "seed": self.seed,
            **self._pacing_config(),
        }


class UCB1(TabularBandit):
    """UCB1 (Auer, Cesa-Bianchi & Fischer, 2002): ``argmax mean_a + alpha sqrt(ln t / n_a)``.

    Each eligible action is tried once first. ``alpha = sqrt(2)`` is the paper's UCB1,
    whose regret bound assumes rewards in [0, 1].

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        alpha: Width multiplier >= 0.
        n_features: Observation width to enforce, or None to accept any.
        seed: Seed of the agent's generator (used to split ties).
        pacing: Budget pacing part or its config (`agents.pacing`), or None.
    """

    def __init__(
        self,
        n_actions: int,
        alpha: float = math.sqrt(2.0),
        n_features: int | None = None,
        seed: int | None = None,
        pacing: Pacing | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(n_actions, UCBRule(alpha), n_features, seed, pacing)

    def config(self) -> dict[str, Any]:
        rule = self.exploration
        assert isinstance(rule, UCBRule)
        return {
            "n_actions": self.n_actions,
            "alpha": rule.alpha,
            "n_features": self.n_features,
            "seed": self.seed,
            **self._pacing_config(),
        }
