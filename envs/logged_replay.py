"""`LoggedReplayEnv`: an environment that rewards only from logged bandit feedback.

The replay method of Li, Chu, Langford and Wang (2011), "Unbiased offline evaluation of
contextual-bandit-based news article recommendation algorithms" (WSDM): the log is
replayed in order; at each logged round the policy sees the logged context and picks an
action. If it matches the logged action, the logged reward is revealed; otherwise the
round is skipped, because its reward is unknown. With a uniformly random logging policy
the accepted rounds are distributed as if the evaluated policy had chosen every action,
so the mean accepted reward is an unbiased estimate of its value.

For a non-uniform logging policy, ``rejection=True`` (the default) additionally accepts a
matched round only with probability ``min_pscore / pscore`` (rejection sampling): every
(context, action) pair is then accepted with the same probability ``min_pscore * pi(a|x)``
and the estimate stays unbiased, as long as the logging policy gave every action the
evaluated policy takes a positive probability.

A skipped round returns reward 0 with ``info["reward_known"] = False``: learners and
evaluators must use only the rounds with ``reward_known`` True (``replay_value`` does).
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np


class LoggedReplayEnv(gym.Env[np.ndarray, np.int64]):
    """Replays logged (context, action, reward, propensity) rows; rewards only on a match.

    ## Description

    Step ``t`` is logged round ``start + t``. See the module docstring for the method.

    ## Action Space

    ``Discrete(n_actions)``; ``info["action_mask"]`` is the logged eligibility of the
    next round (all True when none was logged). Any action may be taken.

    ## Observation Space

    The logged context, ``Box(low, high, (d,), float32)`` with the columns' min and max
    over the log (or the given bounds).

    ## Rewards

    The logged reward when the action matches the logged one and the round is accepted;
    0 otherwise (``info["reward_known"]`` tells which).

    ## Starting State

    ``horizon`` consecutive rounds from an offset drawn with ``self.np_random`` (the
    whole log from round 0 when ``horizon`` is None).

    ## Episode End

    Truncated after ``horizon`` rounds or at the end of the log; never terminated.

    ## Arguments

    ``context`` ``(n, d)``, ``action`` ``(n,)``, ``reward`` ``(n,)``, ``pscore`` ``(n,)``
    (logging propensity of the logged action, in (0, 1]), ``n_actions``, optional
    ``action_mask`` ``(n, n_actions)``, ``horizon``, ``rejection``, ``low``/``high``.

    ## Version History

    - v0: initial version.
    """

    metadata = {"render_modes": []}  # noqa: RUF012  (Gymnasium declares it an instance attribute)

    def __init__(
        self,
        context: Any,
        action: Any,
        reward: Any,
        pscore: Any,
        n_actions: int,
        action_mask: Any = None,
        horizon: int | None = None,
        rejection: bool = True,
        low: float | None = None,
        high: float | None = None,
    ) -> None:
        x = np.asarray(context, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] == 0 or not np.all(np.isfinite(x)):
            raise ValueError(f"context: must be a finite (n, d) array with n >= 1 (got {x.shape})")
        n = x.shape[0]
        if isinstance(n_actions, bool) or not isinstance(n_actions, int) or n_actions < 1:
            raise ValueError(f"n_actions: must be a positive integer (got {n_actions!r})")
        a = np.asarray(action)
        if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"action: must be ({n},) integers (got {a.shape} {a.dtype})")
        bad = np.flatnonzero((a < 0) | (a >= n_actions))
        if bad.size:
            raise ValueError(f"action[{bad[0]}]: must be in [0, {n_actions}) (got {a[bad[0]]})")
        r = np.asarray(reward, dtype=np.float64)
        if r.shape != (n,) or not np.all(np.isfinite(r)):
            raise ValueError(f"reward: must be ({n},) finite numbers (got {r.shape})")
        p = np.asarray(pscore, dtype=np.float64)
        if p.shape != (n,):
            raise ValueError(f"pscore: must have shape ({n},) (got {p.shape})")
        bad = np.flatnonzero(~((p > 0) & (p <= 1)))
        if bad.size:
            raise ValueError(f"pscore[{bad[0]}]: must be in (0, 1] (got {p[bad[0]]})")
        if action_mask is None:
            m = np.ones((n, n_actions), dtype=bool)
        else:
            m = np.asarray(action_mask, dtype=bool)
            if m.shape != (n, n_actions):
                raise ValueError(f"action_mask: must have shape ({n}, {n_actions}) (got {m.shape})")
        if horizon is not None and (
            isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1
        ):
            raise ValueError(f"horizon: must be a positive integer or None (got {horizon!r})")
        self.context, self.action, self.reward, self.pscore = x, a.astype(np.int64), r, p
        self.masks = m
        for arr in (self.context, self.action, self.reward, self.pscore, self.masks):
            arr.flags.writeable = False
        self.n_rounds, self.horizon, self.rejection = n, horizon, bool(rejection)
        self.min_pscore = float(p.min())
        lo = x.min(axis=0) if low is None else np.full(x.shape[1], low, np.float32)
        hi = x.max(axis=0) if high is None else np.full(x.shape[1], high, np.float32)
        if np.any(x < lo) or np.any(x > hi):
            raise ValueError("low, high: the logged contexts fall outside these bounds")
        self.observation_space = gym.spaces.Box(lo, hi, dtype=np.float32)
        self.n_actions = n_actions
        self.action_space = gym.spaces.Discrete(n_actions)
        self._i = self._end = 0
        self.accepted, self.reward_sum = 0, 0.0

    @classmethod
    def from_feedback(cls, feedback: Any, **kwargs: Any) -> LoggedReplayEnv:
        """From an `alpharl.ope.dataset.LoggedBanditFeedback`."""
        return cls(
            feedback.context,
            feedback.action,
            feedback.reward,
            feedback.pscore,
            int(feedback.n_actions),
            **kwargs,
        )

    @property
    def replay_value(self) -> float:
        """Mean reward over the accepted rounds of this episode (nan if none)."""
        return self.reward_sum / self.accepted if self.accepted else float("nan")

    def _info(self) -> dict[str, Any]:
        return {"action_mask": self.masks[min(self._i, self.n_rounds - 1)].copy()}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start replaying at a random offset (or at round 0 when ``horizon`` is None)."""
        super().reset(seed=seed)
        length = self.n_rounds if self.horizon is None else min(self.horizon, self.n_rounds)
        start = (
            0
            if self.horizon is None
            else int(self.np_random.integers(0, self.n_rounds - length + 1))
        )
        self._i, self._end = start, start + length
        self.accepted, self.reward_sum = 0, 0.0
        return self.context[self._i].copy(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Reveal the logged reward if ``action`` matches the log (and is accepted)."""
        if self._i >= self._end:
            raise RuntimeError("step: the episode is over (or never started); call reset()")
        a = int(action)
        if not 0 <= a < self.n_actions:
            raise ValueError(f"action: must be in [0, {self.n_actions}) (got {action!r})")
        i = self._i
        logged = int(self.action[i])
        matched = a == logged
        accepted = matched and (
            not self.rejection or self.np_random.random() < self.min_pscore / self.pscore[i]
        )
        reward = float(self.reward[i]) if accepted else 0.0
        if accepted:
            self.accepted += 1
            self.reward_sum += reward
        self._i += 1
        truncated = self._i >= self._end
        obs = self.context[min(self._i, self.n_rounds - 1)].copy()
        info = self._info()
        info.update(
            reward_known=accepted,
            matched=matched,
            logged_action=logged,
            propensity=float(self.pscore[i]),
        )
        return obs, reward, False, truncated, info
