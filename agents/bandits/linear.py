"""Contextual linear bandits: disjoint ridge regression per action, explored by UCB or TS.

Each action ``a`` keeps ``A_a = l2 I + sum x x'`` through its inverse ``A_a^-1`` (updated by
Sherman–Morrison, so no matrix is inverted per step), ``b_a = sum r x`` and the ridge
estimate ``theta_a = A_a^-1 b_a``. A batch update applies the Woodbury identity once per
action instead of one rank-1 update per row; both are exact.
"""

from __future__ import annotations

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
    LinearPolicy,
    ThompsonPolicy,
    ThompsonRule,
    UCBRule,
)
from alpharl.policy.checks import check_number
from alpharl.policy.linear import cholesky_factor, ridge_scores


class LinearBandit(BanditAgent):
    """Disjoint per-action ridge regression (Li et al., 2010) with a pluggable exploration.

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        n_features: Observation width (>= 1).
        exploration: `UCBRule` (LinUCB, the default with alpha 1), `ThompsonRule`
            (linear Thompson sampling), `EpsilonGreedyRule` or `GreedyRule`, or a config.
        l2: Ridge penalty > 0; ``A_a`` starts at ``l2 * I``.
        seed: Seed of the agent's generator.
        pacing: Budget pacing part or its config (`agents.pacing`), or None.
    """

    supported_rules = (GreedyRule, EpsilonGreedyRule, UCBRule, ThompsonRule)

    def __init__(
        self,
        n_actions: int,
        n_features: int,
        exploration: DecisionRule | Mapping[str, Any] | None = None,
        l2: float = 1.0,
        seed: int | None = None,
        pacing: Pacing | Mapping[str, Any] | None = None,
    ) -> None:
        if n_features is None:
            raise ValueError(f"{type(self).__name__} needs n_features (the context width)")
        if exploration is None:
            exploration = UCBRule(1.0)
        super().__init__(n_actions, n_features, exploration, seed, pacing)
        self.l2 = check_number("l2", l2, 0.0)
        if self.l2 == 0.0:
            raise ValueError("l2 must be > 0; got 0.0")
        a, d = self.n_actions, n_features
        self.a_inv = np.tile(np.eye(d) / self.l2, (a, 1, 1))
        self.b = np.zeros((a, d))
        self.theta = np.zeros((a, d))
        self._u = np.empty(d)  # scratch space for the one-row update
        self._su = np.empty(d)
        self._outer = np.empty((d, d))

    def config(self) -> dict[str, Any]:
        return {
            "n_actions": self.n_actions,
            "n_features": self.n_features,
            "exploration": self.exploration.to_config(),
            "l2": self.l2,
            "seed": self.seed,
            **self._pacing_config(),
        }

    def _state(self) -> dict[str, np.ndarray]:
        return {"a_inv": self.a_inv, "b": self.b, "theta": self.theta}

    def _scores(self, x: np.ndarray, with_width: bool) -> tuple[np.ndarray, np.ndarray | None]:
        return ridge_scores(x, self.theta, self.a_inv, with_width)

    def _update_one(self, x: np.ndarray, action: int, reward: float) -> None:
        # Sherman–Morrison with u = A^-1 x: (A + x x')^-1 = A^-1 - u u' / (1 + x'u). The new
        # estimate follows in O(d), as in recursive least squares: since the new A^-1 x is
        # u / (1 + x'u), theta' = theta + u (r - x'theta) / (1 + x'u).
        a_inv, u, su, theta = self.a_inv[action], self._u, self._su, self.theta[action]
        np.dot(a_inv, x, out=u)
        np.multiply(u, 1.0 / (1.0 + float(np.dot(x, u))), out=su)
        theta += (reward - float(np.dot(x, theta))) * su
        a_inv -= np.dot(u[:, None], su[None, :], out=self._outer)
        self.b[action] += reward * x

    def _update(self, x: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        for action in np.unique(actions):
            rows = actions == action
            xs = x[rows]
            if xs.shape[0] == 1:
                self._update_one(xs[0], int(action), float(rewards[rows][0]))
                continue
            # Woodbury: (A + X'X)^-1 = A^-1 - U (I + X U)^-1 U', with U = A^-1 X'.
            a_inv = self.a_inv[action]
            u = a_inv @ xs.T
            s = np.eye(xs.shape[0]) + xs @ u
            a_inv -= u @ np.linalg.solve(s, u.T)
            self.b[action] += rewards[rows] @ xs
            self.theta[action] = a_inv @ self.b[action]

    def _export(self, rule: DecisionRule) -> BasePolicy:
        if isinstance(rule.base, ThompsonRule):
            return ThompsonPolicy(self.theta.copy(), cholesky_factor(self.a_inv), rule)
        a_inv = self.a_inv.copy() if rule.uses_width else None
        return LinearPolicy(self.theta.copy(), a_inv, rule)


class LinUCB(LinearBandit):
    """Disjoint LinUCB (Li, Chu, Langford & Schapire, 2010, Algorithm 1).

    Chooses ``argmax_a x' theta_a + alpha sqrt(x' A_a^-1 x)`` among eligible actions.

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        n_features: Observation width (>= 1).
        alpha: Confidence-width multiplier >= 0.
        l2: Ridge penalty > 0.
        seed: Seed of the agent's generator (used to split ties).
        pacing: Budget pacing part or its config (`agents.pacing`), or None.
    """

    def __init__(
        self,
        n_actions: int,
        n_features: int,
        alpha: float = 1.0,
        l2: float = 1.0,
        seed: int | None = None,
        pacing: Pacing | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(n_actions, n_features, UCBRule(alpha), l2, seed, pacing)

    def config(self) -> dict[str, Any]:
        rule = self.exploration
        assert isinstance(rule, UCBRule)
        return {
            "n_actions": self.n_actions,
            "n_features": self.n_features,
            "alpha": rule.alpha,
            "l2": self.l2,
            "seed": self.seed,
            **self._pacing_config(),
        }


class LinearThompsonSampling(LinearBandit):
    """Linear Thompson sampling with disjoint Gaussian posteriors (Agrawal & Goyal, 2013).

    Action ``a``'s coefficients have posterior ``N(A_a^-1 b_a, v^2 A_a^-1)``. Each round
    the action distribution is the win frequencies of ``n_samples`` score draws from it,
    made from one fixed matrix of normals (see `ThompsonRule`: sampling the score
    ``x' theta_a`` directly is the same distribution as sampling ``theta_a`` through a
    Cholesky factor), and the action is drawn from that distribution with the agent's
    generator. The logged propensity is therefore exactly the chosen action's probability.

    Args:
        n_actions: Number of actions, the last being "no ad" (>= 2).
        n_features: Observation width (>= 1).
        v: Posterior scale > 0.
        l2: Ridge penalty > 0 (the prior precision).
        n_samples: Score draws defining the action distribution (>= 1).
        propensity_seed: Seed of the fixed normals of those draws (>= 0).
        seed: Seed of the agent's generator (the draw from the action distribution).
        pacing: Budget pacing part or its config (`agents.pacing`), or None.
    """

    def __init__(
        self,
        n_actions: int,
        n_features: int,
        v: float = 1.0,
        l2: float = 1.0,
        n_samples: int = 1000,
        propensity_seed: int = 0,
        seed: int | None = None,
        pacing: Pacing | Mapping[str, Any] | None = None,
    ) -> None:
        rule = ThompsonRule(v, n_samples, propensity_seed)
        super().__init__(n_actions, n_features, rule, l2, seed, pacing)

    def config(self) -> dict[str, Any]:
        rule = self.exploration
        assert isinstance(rule, ThompsonRule)
        return {
            "n_actions": self.n_actions,
            "n_features": self.n_features,
            "v": rule.v,
            "l2": self.l2,
            "n_samples": rule.n_samples,
            "propensity_seed": rule.seed,
            "seed": self.seed,
            **self._pacing_config(),
        }
