"""The SB3 callback that turns each step of ``model.learn`` into AlphaRL's `StepRecord`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from agents.base import Callback, LearnSummary, StepRecord
from agents.sb3.env import fold_ineligible


class ExecutedActions(Protocol):
    """What the eligibility fallback records of the last step (wrapper or vector adapter)."""

    fallback: int

    @property
    def last_executed(self) -> Any: ...

    @property
    def last_mask(self) -> np.ndarray | None: ...


class StepCallback(BaseCallback):
    """Counts steps, episodes, reward and regret; hands each step to a `Callback`.

    With ``n`` sub-envs each SB3 step is ``n`` environment steps, recorded in sub-env
    order. Stops SB3 once ``steps`` steps are taken (with ``n > 1``, rounded up to a
    multiple of ``n``). If SB3 ends its rollout at that step anyway it is left to do so
    (it then stores the last transition and trains); otherwise the partial rollout is
    cut, as it is when ``callback`` returns False.

    Args:
        steps: Steps to take.
        callback: The user's per-step hook, or None.
        behaviour_probs: Maps the pre-step observation batch ``(n, d)`` to the algorithm's
            action distribution ``(n, n_actions)``; called only when there is a callback.
        executed: The eligibility fallback (wrapper or vector adapter), if any: records
            then carry the executed action and its folded propensity.
        rollout_ends: Whether SB3 ends its rollout after this step, from its locals.
        n_actions: Size of the action space (for the per-action counts).
        on_episode_end: Called when a sub-env's episode ends, before SB3 dumps its logs
            there (a family records its diagnostics, e.g. DQN's Q-values).
    """

    def __init__(
        self,
        steps: int,
        callback: Callback | None,
        behaviour_probs: Callable[[np.ndarray], np.ndarray],
        executed: ExecutedActions | None,
        rollout_ends: Callable[[dict[str, Any]], bool],
        n_actions: int,
        on_episode_end: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.on_episode_end = on_episode_end
        self.limit, self.user = steps, callback
        self.behaviour_probs, self.executed = behaviour_probs, executed
        self.rollout_ends = rollout_ends
        self.steps = self.episodes = 0
        self.total_reward = self.total_regret = 0.0
        self.has_regret = self.stopped = False
        self.action_counts = np.zeros(n_actions, dtype=np.int64)

    def _actions(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The executed actions ``(n,)`` and the masks they were chosen under, if any."""
        if self.executed is None:
            return np.asarray(self.locals["actions"]).reshape(-1).astype(np.int64), None
        actions = np.atleast_1d(np.asarray(self.executed.last_executed, dtype=np.int64))
        mask = self.executed.last_mask
        return actions, None if mask is None else np.atleast_2d(mask)

    def _on_step(self) -> bool:
        infos = self.locals["infos"]
        rewards = np.asarray(self.locals["rewards"], dtype=np.float64).reshape(-1)
        dones = np.asarray(self.locals["dones"]).reshape(-1)
        actions, masks = self._actions()
        np.add.at(self.action_counts, actions, 1)
        self.total_reward += float(rewards.sum())
        self.episodes += int(dones.sum())
        if self.on_episode_end is not None and dones.any():
            self.on_episode_end()
        for info in infos:
            if "regret" in info:
                self.has_regret = True
                self.total_regret += float(info["regret"])
        first = self.steps
        self.steps += len(rewards)
        if self.user is not None:
            # SB3 updates _last_obs only after the callback: it is the decision's obs.
            probs = self.behaviour_probs(np.asarray(self.model._last_obs))
            if self.executed is not None:
                probs = fold_ineligible(probs, masks, self.executed.fallback)
            rows = np.arange(len(actions))
            props = np.minimum(probs[rows, actions], 1.0)  # summing can round past 1
            for i in rows:
                record = StepRecord(
                    first + int(i), int(actions[i]), float(props[i]), float(rewards[i]), infos[i]
                )
                if self.user(record) is False:
                    self.stopped = self.steps < self.limit
                    return False
        return self.steps < self.limit or self.rollout_ends(self.locals)

    def summary(self) -> LearnSummary:
        """What the `learn` call did."""
        regret = self.total_regret if self.has_regret else None
        return LearnSummary(self.steps, self.episodes, self.total_reward, regret, self.stopped)
