"""Small wrappers, one job each, recording their constructor arguments (Gymnasium style)."""

from __future__ import annotations

import math
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np


class FlattenActionMask(
    gym.Wrapper[np.ndarray, Any, np.ndarray, Any], gym.utils.RecordConstructorArgs
):
    """Appends ``info["action_mask"]`` (as 0/1 floats) to the observation.

    For learners that only see observations (stable-baselines3): the eligibility of each
    of the ``n`` actions becomes the last ``n`` features, with bounds [0, 1].

    Args:
        env: An env with a float32 ``Box`` observation, a ``Discrete(n)`` action space and
            ``info["action_mask"]`` from ``reset`` and ``step``.
    """

    def __init__(self, env: gym.Env[np.ndarray, Any]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        space = env.observation_space
        actions = env.action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise TypeError(f"env.observation_space: must be a 1-d Box (got {space})")
        if not isinstance(actions, gym.spaces.Discrete):
            raise TypeError(f"env.action_space: must be Discrete (got {actions})")
        self.n_actions = int(actions.n)
        low = np.concatenate([space.low, np.zeros(self.n_actions, np.float32)])
        high = np.concatenate([space.high, np.ones(self.n_actions, np.float32)])
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)

    def _with_mask(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        if "action_mask" not in info:
            raise KeyError("info['action_mask']: the wrapped env must provide it")
        mask = np.asarray(info["action_mask"], dtype=np.float32)
        if mask.shape != (self.n_actions,):
            raise ValueError(
                f"info['action_mask']: shape must be ({self.n_actions},) (got {mask.shape})"
            )
        return np.concatenate([np.asarray(obs, dtype=np.float32), mask])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        return self._with_mask(obs, info), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._with_mask(obs, info), reward, terminated, truncated, info


class RewardScale(gym.RewardWrapper[np.ndarray, Any], gym.utils.RecordConstructorArgs):
    """Multiplies every reward by a constant ``scale``.

    Args:
        env: The env.
        scale: A finite, non-zero factor.
    """

    def __init__(self, env: gym.Env[np.ndarray, Any], scale: float) -> None:
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise ValueError(f"scale: must be a finite non-zero number (got {scale!r})")
        if not math.isfinite(scale) or scale == 0:
            raise ValueError(f"scale: must be a finite non-zero number (got {scale!r})")
        gym.utils.RecordConstructorArgs.__init__(self, scale=scale)
        gym.RewardWrapper.__init__(self, env)
        self.scale = float(scale)

    def reward(self, reward: SupportsFloat) -> SupportsFloat:
        """The scaled reward."""
        return self.scale * float(reward)
