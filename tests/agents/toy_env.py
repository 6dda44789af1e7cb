"""A tiny ad-delivery bandit environment for agent tests (agents never import ``envs``).

It follows the team's ``info`` conventions: ``action_mask``, ``click_probs``,
``expected_rewards`` and ``best_action`` describe the next decision; ``step``'s info also
has ``clicked``, ``cost``, ``regret``, ``spend`` and ``budget_left``. Clicks are Bernoulli
with a linear-logistic truth ``p_a(x) = sigmoid(x' w_a)`` for creative ``a``; the last
action is "no ad" (never clicked, no cost, always eligible).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np


class ToyAdEnv(gym.Env[np.ndarray, int]):
    """Contextual (or context-free) click bandit with eligibility masks and a budget.

    Args:
        n_creatives: Number of creatives K; the action space is Discrete(K + 1).
        n_features: Observation width d; feature 0 is a constant 1 (the bias).
        ctr: Fixed click probability per creative (length K): a context-free problem
            whose observations carry no signal. None draws logistic weights instead.
        weight_scale: Spread of the drawn logistic weights (contextual problem only).
        eligibility: Probability that each creative is eligible at a decision.
        costs: Cost per impression of each creative (default 0).
        cost_weight: Weight of cost in the reward.
        budget: Episode terminates when spend reaches it (None: never).
        episode_length: Episode is truncated after this many steps.
        truth_seed: Seed of the true click model (fixed across resets).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        n_creatives: int = 4,
        n_features: int = 5,
        ctr: list[float] | None = None,
        weight_scale: float = 1.5,
        eligibility: float = 0.75,
        costs: list[float] | None = None,
        cost_weight: float = 0.0,
        budget: float | None = None,
        episode_length: int = 500,
        truth_seed: int = 0,
    ) -> None:
        self.k, self.d = n_creatives, n_features
        self.action_space = gym.spaces.Discrete(n_creatives + 1)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n_features,), np.float32)
        truth = np.random.default_rng(truth_seed)
        self.ctr = None if ctr is None else np.asarray(ctr, dtype=np.float64)
        self.weights = truth.normal(0.0, weight_scale, (n_creatives, n_features))
        self.weights[:, 0] -= 1.0  # moderate base click rates
        self.eligibility = eligibility
        self.costs = np.zeros(n_creatives) if costs is None else np.asarray(costs, float)
        self.cost_weight = cost_weight
        self.budget = budget
        self.episode_length = episode_length
        self._obs = np.zeros(n_features, np.float32)
        self._info: dict[str, Any] = {}
        self._t = 0
        self._spend = 0.0

    def _next_decision(self) -> tuple[np.ndarray, dict[str, Any]]:
        rng = self.np_random
        obs = np.empty(self.d, np.float32)
        obs[0] = 1.0
        obs[1:] = rng.normal(size=self.d - 1)
        if self.ctr is not None:
            p = self.ctr.copy()
        else:
            p = 1.0 / (1.0 + np.exp(-(self.weights @ obs.astype(np.float64))))
        click_probs = np.append(p, 0.0)
        expected = np.append(p - self.cost_weight * self.costs, 0.0)
        mask = np.append(rng.random(self.k) < self.eligibility, True)
        best = int(np.flatnonzero(mask)[np.argmax(expected[mask])])
        info = {
            "action_mask": mask,
            "click_probs": click_probs,
            "expected_rewards": expected,
            "best_action": best,
        }
        self._obs, self._info = obs, info
        return obs, info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t, self._spend = 0, 0.0
        obs, info = self._next_decision()
        return obs, dict(info, spend=0.0, budget_left=self.budget)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        prev = self._info
        if not prev["action_mask"][action]:
            raise ValueError(f"action {action} is not eligible")
        expected = prev["expected_rewards"]
        clicked = bool(self.np_random.random() < prev["click_probs"][action])
        cost = float(self.costs[action]) if action < self.k else 0.0
        reward = float(clicked) - self.cost_weight * cost
        regret = float(expected[prev["best_action"]] - expected[action])
        self._t += 1
        self._spend += cost
        terminated = self.budget is not None and self._spend >= self.budget
        truncated = self._t >= self.episode_length
        obs, info = self._next_decision()
        budget_left = None if self.budget is None else self.budget - self._spend
        info = dict(
            info,
            clicked=clicked,
            cost=cost,
            regret=regret,
            spend=self._spend,
            budget_left=budget_left,
        )
        return obs, reward, terminated, truncated, info
