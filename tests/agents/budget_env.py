"""The ad-delivery env with the budget keys of the shared ``info`` contract, for tests.

The contract (``/work/notes/contract.md``, engineer "env") adds ``action_costs``,
``budget``, ``budget_left`` and ``steps_left`` to every ``info`` of `AdDeliveryEnv`. Until
that lands on this branch, `BudgetInfo` supplies the keys the env does not yet provide,
computed from the env's own state; keys the env provides are passed through unchanged, so
the tests keep running against the real keys once the env has them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.append(str(_ROOT))
if getattr(sys.modules.get("envs"), "__file__", "") is None:
    del sys.modules["envs"]
sys.path.insert(0, str(_ROOT / "tests" / "features"))

from enriched_tables import make_enriched_table  # noqa: E402

from envs.ad_delivery import AdDeliveryEnv  # noqa: E402


class BudgetInfo(gym.Wrapper):
    """Adds the contract's budget keys to ``info`` where the env lacks them."""

    def _complete(self, info: dict[str, Any], decided: bool) -> dict[str, Any]:
        env: Any = self.env.unwrapped
        info = dict(info)
        info.setdefault("action_costs", env.costs_full)
        info.setdefault("budget", float(env.budget))
        info.setdefault("budget_left", float(env.budget_left))
        info.setdefault("steps_left", int(env._length - env._t) if decided else 0)
        return info

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return obs, self._complete(info, True)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return (
            obs,
            float(reward),
            terminated,
            truncated,
            self._complete(info, not (terminated or truncated)),
        )


def budget_env(budget: float = 10.0, horizon: int = 1000, seed: int = 0, **kwargs: Any) -> Any:
    """The default env (8 built-in creatives, default click model) on 6,000 test posts."""
    posts = make_enriched_table(6000, 300, seed=seed, days=14.0)
    return BudgetInfo(AdDeliveryEnv(posts, budget=budget, horizon=horizon, **kwargs))
