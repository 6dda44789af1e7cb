"""`AdDeliveryVectorEnv`: N independent ad-delivery campaigns stepped together with numpy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from scipy.special import expit

from alpharl.features import FATIGUE_CLIP
from envs.ad_delivery import AdDeliveryEnv

STEP_KEYS = ("clicked", "cost", "myopic_regret", "regret", "spend")
"""Keys a sub-env's ``info`` has after a step but not after a reset."""


class AdDeliveryVectorEnv(VectorEnv[np.ndarray, np.ndarray, np.ndarray]):
    """N campaigns of `envs.AdDeliveryEnv` over one stream, stepped as arrays.

    Sub-env ``i`` is exactly an `AdDeliveryEnv` built with the same arguments: the same
    observations, rewards, ``terminated``/``truncated`` and ``info`` values, bit for bit,
    as ``gymnasium.vector.SyncVectorEnv`` of single envs (tested step by step through
    several episode ends). Everything that does not depend on actions (observations,
    zero-fatigue decisions, the hindsight LP's envelopes) is shared with one template
    env; the per-campaign state lives in ``(num_envs, ...)`` arrays.

    Seeding follows ``SyncVectorEnv``: ``reset(seed=s)`` seeds sub-env ``i`` with
    ``s + i``; a list gives one seed (or None) per sub-env; None keeps each sub-env's
    generator (fresh entropy the first time). Each sub-env owns a
    ``numpy.random.Generator`` consumed in the single env's order (the episode start on
    reset, one uniform per impression), so equal seeds give equal campaigns.
    ``options`` (``{"start": i}``) go to every sub-env reset, and
    ``options["reset_mask"]`` (bool, ``(num_envs,)``) resets only the marked sub-envs,
    as in Gymnasium.

    Autoreset: ``metadata["autoreset_mode"]`` is ``AutoresetMode.NEXT_STEP``, Gymnasium's
    default: the step after a sub-env's episode ended resets it, ignores its action and
    returns its reset observation and ``info`` with reward 0 and both flags False. So the
    last observation of an episode comes with the step that ends it, as with one env.

    Infos follow Gymnasium's vector convention (what ``SyncVectorEnv`` builds from the
    sub-envs' dicts): each key maps to an array over sub-envs (``(num_envs, K + 1)``
    for the per-action arrays) and ``"_key"`` to a bool array marking which sub-envs
    have it. The keys are `AdDeliveryEnv`'s: ``clicked``, ``cost``, ``myopic_regret``,
    ``regret`` and ``spend`` are absent for a sub-env that was just reset,
    ``hindsight_bound`` is present only for a sub-env whose episode just ended.

    Memory: fatigue is kept per episode position, ``num_envs * horizon * K`` floats
    (about 66 MB at 1,024 envs, horizon 1,000 and 8 creatives).

    Args:
        num_envs: Number of campaigns (>= 1).
        **kwargs: `AdDeliveryEnv`'s arguments, shared by every sub-env.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}  # noqa: RUF012

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs: must be a positive integer (got {num_envs!r})")
        kwargs.pop("max_episode_steps", None)  # gym.make_vec passes the spec's, if any
        env = self.template = AdDeliveryEnv(**kwargs)
        self.num_envs = n = num_envs
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space
        self.observation_space = batch_space(env.observation_space, n)
        self.action_space = batch_space(env.action_space, n)
        self.n_creatives = k = env.n_creatives
        times = np.asarray(env._times)
        if np.any(np.diff(times) < 0):  # load_posts sorts; a hand-built env might not
            raise ValueError("posts: must be in event-time order for the vector env")
        # prev[i]: the previous post of post i's person (-1: none); decay[i]: the fatigue
        # factor between the two, computed exactly as FatigueCounter.at computes it.
        prev = np.full(env.n_posts, -1, dtype=np.int64)
        last: dict[int, int] = {}
        half_life = env._fatigue.half_life_s
        decay = [1.0] * env.n_posts
        for i, u in enumerate(env._users):
            j = last.get(u)
            if j is not None:
                prev[i] = j
                dt = env._times[i] - env._times[j]
                if dt > 0:
                    decay[i] = 0.5 ** (dt / half_life)
            last[u] = i
        self._prev, self._decay = prev, np.asarray(decay)
        self._best0 = np.asarray(env._best0, dtype=np.int64)
        self._level_masks = np.stack(env._level_masks)
        self._sorted_costs = np.asarray(env._sorted_costs)
        self._window = min(env.horizon, env.n_posts)
        h, a = self._window, k + 1
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._rng_state: list[dict[str, Any] | None] = [None] * n
        self._uniforms = np.zeros((n, h))
        self._used = np.zeros(n, dtype=np.int64)
        self._fatigue = np.zeros((n, h, k))
        self._active = np.zeros((n, h), dtype=bool)
        self._start = np.zeros(n, dtype=np.int64)
        self._length = np.ones(n, dtype=np.int64)
        self._t = np.zeros(n, dtype=np.int64)
        self._i = np.zeros(n, dtype=np.int64)
        self._lvl = np.zeros(n, dtype=np.int64)
        self._budget_left = np.full(n, env.budget)
        self._spend = np.zeros(n)
        self._bound = np.zeros(n)
        self._multiplier = np.zeros(n)
        self._mask = np.zeros((n, a), dtype=bool)
        self._probs, self._expected = np.zeros((n, a)), np.zeros((n, a))
        self._best = np.full(n, k, dtype=np.int64)
        self._autoreset = np.zeros(n, dtype=bool)
        self._started = False
        self._rows = np.arange(n)
        self._dim = int(env.feature_spec.dim)
        self._last_obs = np.zeros((n, self._dim), dtype=np.float32)

    # ------------------------------------------------------------ state

    def _reset_envs(
        self, envs: np.ndarray, seeds: Sequence[int | None], options: dict[str, Any] | None
    ) -> None:
        """Start a new episode in sub-envs ``envs`` (their generators as a single env would)."""
        e = self.template
        start_opt = (options or {}).get("start")
        for j, seed in zip(envs.tolist(), seeds, strict=True):
            rng = self._rngs[j]
            if seed is not None or rng is None:
                rng, _ = seeding.np_random(seed)
                self._rngs[j] = rng
            elif self._rng_state[j] is not None:
                # Replay the episode's draws: the buffer was drawn ahead of use.
                rng.bit_generator.state = self._rng_state[j]
                rng.random(int(self._used[j]))
            if start_opt is None:
                start = int(rng.integers(0, e.n_posts - self._window + 1))
            elif (
                isinstance(start_opt, bool)
                or not isinstance(start_opt, int | np.integer)
                or not 0 <= start_opt < e.n_posts
            ):
                raise ValueError(
                    f"options['start']: must be an integer in [0, {e.n_posts}) (got {start_opt!r})"
                )
            else:
                start = int(start_opt)
            length = min(self._window, e.n_posts - start)
            self._rng_state[j] = rng.bit_generator.state
            self._uniforms[j, :length] = rng.random(length)
            self._start[j], self._length[j] = start, length
            self._bound[j], self._multiplier[j] = e._hindsight.solve(
                start, start + length, e.budget + e._tol
            )
        self._used[envs] = 0
        self._active[envs] = False
        self._t[envs] = 0
        self._i[envs] = self._start[envs]
        self._budget_left[envs] = e.budget
        self._spend[envs] = 0.0
        self._lvl[envs] = np.searchsorted(self._sorted_costs, e.budget + e._tol, side="right")

    def _observe(self, envs: np.ndarray, decide: bool) -> np.ndarray:
        """Observations of sub-envs ``envs`` at their current post; with ``decide``, the
        decision quantities too (as `AdDeliveryEnv._observe`, row by row)."""
        e = self.template
        posts, starts = self._i[envs], self._start[envs]
        prev = self._prev[posts]
        pos_prev = prev - starts
        active = pos_prev >= 0
        active[active] = self._active[envs[active], pos_prev[active]]
        hot = np.flatnonzero(active)
        f = np.zeros((len(envs), self.n_creatives))
        if len(hot):
            f[hot] = self._fatigue[envs[hot], pos_prev[hot]] * self._decay[posts[hot], None]
        obs = e._static_obs[posts]
        if e._fatigue_slice is not None and len(hot):
            obs[hot, e._fatigue_slice] = np.minimum(f[hot], FATIGUE_CLIP)
        if e._campaign_idx is not None:
            c = e._campaign_idx
            obs[:, c] = self._budget_left[envs] / e.budget
            obs[:, c + 1] = (self._length[envs] - self._t[envs]) / self._length[envs]
        if not decide:
            return obs
        pos = posts - starts
        self._fatigue[envs, pos] = f
        self._active[envs, pos] = active
        lvl = self._lvl[envs]
        decision = e._decision0[posts]
        probs, expected = decision[:, 0], decision[:, 1]
        mask = self._level_masks[lvl]
        best = self._best0[posts, lvl]
        if len(hot):
            k = self.n_creatives
            fw = np.zeros((len(hot), k + 1))
            np.multiply(f[hot], e._fw, out=fw[:, :k])
            p = expit(e._logits_full[posts[hot]] - fw)
            x = p * e.values_full
            x -= e._cw_cost_full
            m = mask[hot]
            if e.fatigue_cap is not None:
                m[:, :-1] &= f[hot] <= e.fatigue_cap
                mask[hot] = m
            probs[hot], expected[hot] = p, x
            best[hot] = np.where(m, x, -np.inf).argmax(axis=1)
        self._probs[envs], self._expected[envs] = probs, expected
        self._mask[envs], self._best[envs] = mask, best
        return obs

    def _stream_end(self, envs: np.ndarray, obs: np.ndarray) -> None:
        """At the stream's last post the final observation shows that post again, with
        the impression just recorded (`AdDeliveryEnv` re-reads its person's row)."""
        slc = self.template._fatigue_slice
        if not len(envs) or slc is None:
            return
        pos = self._i[envs] - self._start[envs]
        hot = self._active[envs, pos]
        rows = envs[hot]
        obs[rows, slc] = np.minimum(self._fatigue[rows, pos[hot]], FATIGUE_CLIP)

    def _end(self, envs: np.ndarray) -> None:
        """No decision follows in sub-envs ``envs``."""
        self._mask[envs] = False
        self._mask[envs, -1] = True
        self._probs[envs] = 0.0
        self._expected[envs] = 0.0
        self._best[envs] = self.n_creatives

    def _decision_info(self, infos: dict[str, Any], everyone: np.ndarray) -> None:
        n, e = self.num_envs, self.template
        infos["action_mask"] = self._mask.copy()
        infos["click_probs"] = self._probs.copy()
        infos["expected_rewards"] = self._expected.copy()
        infos["best_action"] = self._best.copy()
        infos["action_costs"] = np.broadcast_to(e.costs_full, (n, self.n_creatives + 1)).copy()
        infos["budget"] = np.full(n, e.budget)
        infos["bound_multiplier"] = self._multiplier.copy()
        infos["budget_left"] = self._budget_left.copy()
        for key in (
            "action_mask",
            "click_probs",
            "expected_rewards",
            "best_action",
            "action_costs",
            "budget",
            "bound_multiplier",
            "budget_left",
        ):
            infos["_" + key] = everyone

    # ------------------------------------------------------------ API

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-env (or those of ``options["reset_mask"]``); see the class doc."""
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, int):
            seeds = [int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"seed: a list needs num_envs={n} seeds (got {len(seeds)})")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is None:
            envs = self._rows
        else:
            if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (n,):
                raise ValueError(f"options['reset_mask']: must be a bool array of shape ({n},)")
            if not self._started and not mask.all():
                raise ValueError("options['reset_mask']: the first reset must reset every sub-env")
            envs = np.flatnonzero(mask)
        self._reset_envs(envs, [seeds[j] for j in envs.tolist()], options)
        self._autoreset[envs] = False
        self._started = True
        obs = np.empty((n, self._dim), dtype=np.float32)
        obs[envs] = self._observe(envs, decide=True)
        if mask is not None:
            obs[~mask] = self._last_obs[~mask]
        self._last_obs = obs.copy()
        infos: dict[str, Any] = {}
        self._decision_info(infos, mask.copy() if mask is not None else np.ones(n, dtype=bool))
        infos["steps_left"] = self._length - self._t
        infos["_steps_left"] = infos["_action_mask"]
        if mask is not None:
            for key in list(infos):
                if not key.startswith("_"):
                    infos[key][~mask] = 0
        return obs, infos

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env; one whose episode ended on the last step is reset instead."""
        if not self._started:
            raise RuntimeError("step: call reset() first")
        e, n, k = self.template, self.num_envs, self.n_creatives
        a = np.asarray(actions)
        if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"actions: must be an integer array of shape ({n},) (got {actions!r})")
        live = ~self._autoreset
        rows = np.flatnonzero(live)
        act = a[rows]
        bad = (act < 0) | (act > k)
        if bad.any():
            j = int(rows[np.argmax(bad)])
            raise ValueError(f"actions[{j}]: must be an integer in [0, {k}] (got {a[j]!r})")
        ok = self._mask[rows, np.clip(act, 0, k)]
        if not ok.all():
            j = int(rows[np.argmin(ok)])
            raise ValueError(
                f"actions[{j}]: {int(a[j])} is not eligible now (over budget or fatigue_cap); "
                f"see info['action_mask'][{j}]"
            )
        expected = self._expected[rows]
        regret = (
            expected[np.arange(len(rows)), self._best[rows]] - expected[np.arange(len(rows)), act]
        )
        shows = act < k
        srows, sact = rows[shows], act[shows]
        clicked = np.zeros(len(rows), dtype=bool)
        clicked[shows] = self._uniforms[srows, self._used[srows]] < self._probs[srows, sact]
        self._used[srows] += 1
        cost = e.costs_full[act]
        reward = np.zeros(n)
        reward[rows] = e.values_full[act] * clicked - e.cost_weight * cost
        reward[rows[~shows]] = 0.0
        self._spend[srows] += cost[shows]
        self._budget_left[srows] = np.maximum(e.budget - self._spend[srows], 0.0)
        self._lvl[srows] = np.searchsorted(
            self._sorted_costs, self._budget_left[srows] + e._tol, side="right"
        )
        pos = self._i[srows] - self._start[srows]
        self._fatigue[srows, pos, sact] += 1.0
        self._active[srows, pos] = True
        self._t[rows] += 1
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        terminated[rows] = self._budget_left[rows] + e._tol < e._min_cost
        truncated[rows] = ~terminated[rows] & (self._t[rows] >= self._length[rows])
        done = terminated | truncated
        going = np.flatnonzero(live & ~done)
        ended = np.flatnonzero(done)
        obs = np.empty((n, self._dim), dtype=np.float32)
        self._i[going] += 1
        if len(going):
            obs[going] = self._observe(going, decide=True)
        if len(ended):
            last = self._i[ended]
            self._i[ended] = np.minimum(last + 1, e.n_posts - 1)
            obs[ended] = self._observe(ended, decide=False)
            self._end(ended)
            self._stream_end(ended[self._i[ended] == last], obs)
        resetting = np.flatnonzero(self._autoreset)
        if len(resetting):
            self._reset_envs(resetting, [None] * len(resetting), None)
            obs[resetting] = self._observe(resetting, decide=True)
        self._autoreset = done
        self._last_obs = obs.copy()
        infos: dict[str, Any] = {}
        self._decision_info(infos, np.ones(n, dtype=bool))
        step_vals = {
            "clicked": (clicked, bool),
            "cost": (cost, np.float64),
            "myopic_regret": (regret, np.float64),
            "regret": (regret, np.float64),
            "spend": (self._spend[rows], np.float64),
        }
        for key, (values, dtype) in step_vals.items():
            if not len(rows):  # every sub-env was reset: no step keys, as SyncVectorEnv
                break
            arr = np.zeros(n, dtype=dtype)
            arr[rows] = values
            infos[key], infos["_" + key] = arr, live
        steps_left = self._length - self._t
        steps_left[ended] = 0
        infos["steps_left"], infos["_steps_left"] = steps_left, infos["_action_mask"]
        if len(ended):
            bound = np.zeros(n)
            bound[ended] = self._bound[ended]
            infos["hindsight_bound"], infos["_hindsight_bound"] = bound, done.copy()
        return obs, reward, terminated, truncated, infos
