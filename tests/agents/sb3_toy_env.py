"""A tiny masked ad-delivery-like env for the SB3 agent tests (until `envs` is used).

K creatives plus "no ad" (the last action). The observation is ``d >= K`` uniform
features; creative ``i`` is worth ``x[i] - 0.5`` (so "no ad", worth 0, is sometimes
best). Each step a random subset of creatives is eligible; stepping with an ineligible
action raises, so a test passes only if the agent's mask handling works. ``info`` follows
the project's convention (``action_mask``, ``expected_rewards``, ``best_action``, and
``regret`` after a step).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class ToyAdEnv(gym.Env[np.ndarray, int]):
    """See the module docstring.

    Args:
        n_creatives: K.
        n_features: Observation width (>= K).
        horizon: Steps per episode (then truncated).
        eligible_prob: Probability that each creative is eligible at a step.
        masks: Whether to publish and enforce masks.
    """

    def __init__(
        self,
        n_creatives: int = 3,
        n_features: int = 4,
        horizon: int = 50,
        eligible_prob: float = 0.6,
        masks: bool = True,
    ) -> None:
        assert n_features >= n_creatives
        self.k, self.d, self.horizon = n_creatives, n_features, horizon
        self.eligible_prob, self.masks = eligible_prob, masks
        self.observation_space = gym.spaces.Box(0.0, 1.0, (n_features,), np.float32)
        self.action_space = gym.spaces.Discrete(n_creatives + 1)
        self._t = 0
        self._x = np.zeros(n_features, dtype=np.float32)
        self._mask = np.ones(n_creatives + 1, dtype=bool)

    def _draw(self) -> dict[str, Any]:
        self._x = self.np_random.random(self.d).astype(np.float32)
        mask = np.ones(self.k + 1, dtype=bool)
        if self.masks:
            mask[: self.k] = self.np_random.random(self.k) < self.eligible_prob
        self._mask = mask
        expected = self.expected_rewards()
        best = int(np.where(mask, expected, -np.inf).argmax())
        info: dict[str, Any] = {"expected_rewards": expected, "best_action": best}
        if self.masks:
            info["action_mask"] = mask.copy()
        return info

    def expected_rewards(self) -> np.ndarray:
        """Every action's reward for the current observation (no-ad last, worth 0)."""
        return np.append(self._x[: self.k].astype(np.float64) - 0.5, 0.0)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        info = self._draw()
        return self._x.copy(), info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = int(action)
        if not self._mask[a]:
            raise ValueError(f"action {a} is not eligible (mask {self._mask.tolist()})")
        expected = self.expected_rewards()
        best = float(np.where(self._mask, expected, -np.inf).max())
        reward = float(expected[a])
        self._t += 1
        info = self._draw()
        info["regret"] = best - reward
        return self._x.copy(), reward, False, self._t >= self.horizon, info
