"""What `agents.sb3.SB3Agent` puts around a single environment: the eligibility wrapper.

SB3's algorithms ignore ``info["action_mask"]``. Under the ``"no_ad"`` mask strategy the
agent wraps the environment in `EligibleActionWrapper`, which executes "no ad" (the last
action, always eligible) whenever the algorithm picks an ineligible creative, and
`fold_ineligible` turns the algorithm's own action distribution into the distribution of
the action actually executed, for honest propensities.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np


class EligibleActionWrapper(gym.Wrapper[Any, Any, Any, Any]):
    """Executes the fallback action ("no ad", the last) when the chosen one is ineligible.

    Eligibility comes from ``info["action_mask"]`` of the latest ``reset``/``step``; an
    env without masks passes every action through. The last step's chosen and executed
    actions and the mask it was decided under are kept on the wrapper, not in ``info``.

    Args:
        env: A Gymnasium env with a ``Discrete(K+1)`` action space.
    """

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise TypeError(f"env.action_space: must be Discrete; got {env.action_space}")
        self.n_actions = int(env.action_space.n)
        self.fallback = self.n_actions - 1
        self.mask: np.ndarray | None = None
        self.last_chosen = -1
        self.last_executed = -1
        self.last_mask: np.ndarray | None = None
        self.n_remapped = 0

    def _read_mask(self, info: Mapping[str, Any]) -> np.ndarray | None:
        mask = info.get("action_mask")
        if mask is None:
            return None
        m = np.asarray(mask, dtype=bool)
        if m.shape != (self.n_actions,):
            raise ValueError(
                f"info['action_mask']: shape must be ({self.n_actions},); got {m.shape}"
            )
        return m

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self.mask = self._read_mask(info)
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        chosen = int(action)
        executed = chosen
        if self.mask is not None and not self.mask[chosen]:
            executed = self.fallback
            self.n_remapped += 1
        self.last_chosen, self.last_executed, self.last_mask = chosen, executed, self.mask
        obs, reward, terminated, truncated, info = self.env.step(executed)
        self.mask = self._read_mask(info)
        return obs, reward, terminated, truncated, info


def fold_ineligible(probs: np.ndarray, mask: np.ndarray | None, fallback: int) -> np.ndarray:
    """Probability of each action being *executed*: ineligible mass moves to ``fallback``.

    Args:
        probs: The algorithm's distribution over all actions, ``(n_actions,)`` or one row
            per sub-env ``(n, n_actions)``.
        mask: Eligibility of the same shape, or None (all eligible: ``probs`` unchanged).
        fallback: The action executed instead of an ineligible one.
    """
    if mask is None:
        return probs
    out = np.where(mask, probs, 0.0)
    out[..., fallback] += np.where(mask, 0.0, probs).sum(axis=-1)
    return out


class PlaceholderEnv(gym.Env[Any, Any]):
    """Carries the spaces to build a model before `learn` is given the real env.

    Args:
        n_features: Observation width (an unbounded float32 Box).
        n_actions: Size of the ``Discrete`` action space.
    """

    def __init__(self, n_features: int, n_actions: int) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n_features,), np.float32)
        self.action_space = gym.spaces.Discrete(n_actions)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        raise RuntimeError("SB3Agent: no environment yet; call learn(env, steps)")

    def step(self, action: Any) -> Any:
        raise RuntimeError("SB3Agent: no environment yet; call learn(env, steps)")
