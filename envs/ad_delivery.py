"""`AdDeliveryEnv`: choose which creative (or none) to show a person who just posted."""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import pyarrow as pa
from hydra.utils import get_class
from scipy.special import expit

from alpharl.creatives import catalog_to_dicts, load_catalog
from alpharl.features import FATIGUE_CLIP, FeatureSpec, Featurizer
from alpharl.features.featurizer import time_us_of, user_codes
from alpharl.schema import Creative
from envs.click_models import (
    ClickContext,
    FatigueCounter,
    LogisticClickModel,
    sigmoid,
)
from envs.hindsight import HindsightLP
from envs.posts import load_posts


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _positive(name: str, value: Any, allow_zero: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: must be a finite number {bound} (got {value!r})")
    return float(value)


class AdDeliveryEnv(gym.Env[np.ndarray, np.int64]):
    """Emotion-aware ad delivery over a stream of enriched posts.

    ## Description

    Each step is one ad opportunity: the next post of an enriched stream, i.e. a person
    who just posted. The agent shows one of K creatives of the catalog, or no ad. A
    simulated person clicks with the probability of a ground-truth click model
    (`envs.click_models.LogisticClickModel`: emotion-creative congruence, intent, topic,
    time of day, and fatigue from earlier impressions). Every impression costs the
    creative's ``cost_per_impression`` from a campaign budget. The problem is sequential:
    fatigue rises with each impression to the same person (decaying with a half-life in
    event time), and a spent budget ends the campaign, so spending on a mediocre
    opportunity now can cost a better one later.

    ## Action Space

    ``Discrete(K + 1)``: action ``k < K`` shows ``catalog[k]``; action ``K`` is "no ad",
    always eligible. A creative is ineligible when it costs more than the budget left or,
    with ``fatigue_cap`` set, when this person's fatigue for it is above the cap;
    ``info["action_mask"]`` marks the eligible actions. Taking an ineligible action raises
    ``ValueError`` (wrap the env, e.g. with ``agents.sb3.EligibleActionWrapper``, to
    fall back to "no ad" instead).

    ## Observation Space

    ``Box(low, high, (dim,), float32)`` laid out by the `alpharl.features.FeatureSpec`
    (``self.feature_spec``; names in ``self.feature_spec.names``), all bounds finite:
    the person's decayed profile (emotions, sentiment, intents, activity), the post's
    sentiment/emotions/intents, topic one-hot, time of day (sin, cos, weekend), campaign
    budget and time left fractions, and the person's fatigue for each creative
    (clipped to [0, 10]). With ``emotion_features=False`` the emotion columns are absent.

    ## Rewards

    ``value_per_click * clicked - cost_weight * cost_per_impression`` of the creative shown;
    0 for no ad. ``info`` carries every action's true click probability and expected
    reward for the next decision, so ``info["myopic_regret"]`` (best expected reward
    among eligible actions minus the taken action's) is exact. It is myopic: the greedy
    oracle that keeps it at 0 is not optimal when the budget binds, and the yardstick
    for a whole episode is ``info["hindsight_bound"]`` (see Info).

    ## Starting State

    An episode covers ``horizon`` consecutive posts starting at an offset drawn
    uniformly from the stream with ``self.np_random`` (or ``options={"start": i}``).
    The budget is full and nobody has seen an ad. Profiles carry the people's history
    before the start (they are precomputed over the whole stream).

    ## Episode End

    - Terminated: the budget left cannot pay for the cheapest creative.
    - Truncated: ``horizon`` steps were taken or the stream ended (and not terminated).

    On the last step the next-decision keys of ``info`` describe no decision: only "no
    ad" is eligible and the probabilities and expected rewards are 0.

    ## Info

    ``reset`` and ``step``: ``action_mask`` (bool, K+1), ``click_probs`` (float64, K+1; 0
    for no ad), ``expected_rewards`` (float64, K+1), ``best_action`` (int: the greedy,
    myopic choice) for the next decision; ``action_costs`` (float64, K+1, last 0: what
    each action spends), ``budget`` (the episode's full budget), ``budget_left``,
    ``steps_left`` (decisions left counting the one the observation describes; 0 once the
    episode ended) and ``bound_multiplier`` (``lam* >= 0``, the optimal dual multiplier of
    the episode's hindsight LP: clairvoyant, for `agents.baselines.PacedOracleAgent`).
    ``step`` adds ``clicked``, ``cost``, ``spend`` and ``myopic_regret`` for the step
    taken (``regret``: deprecated alias of ``myopic_regret``). The arrays are read-only.

    On the step that ends the episode (terminated or truncated), ``hindsight_bound``: an
    upper bound on the expected reward any policy could earn in this episode, the optimum
    of the LP relaxation "at most one creative per opportunity, total cost <= budget"
    over all of the episode's opportunities with zero-fatigue expected rewards
    (`envs.hindsight.HindsightLP`, solved exactly at reset). Why it bounds every policy,
    adaptive or randomised: the episode's posts are fixed at reset, whatever the agent
    does (stopping early only forgoes some); let ``x[i, k]`` be the probability that the
    policy shows ``k`` on post ``i``. Then ``sum_k x[i, k] <= 1``, and the expected spend
    ``sum x[i, k] c[k]`` is at most the budget because every path's spend is (the env
    never lets spend pass the budget, up to a 1e-9 relative tolerance the LP includes).
    Fatigue only lowers click probabilities (``p = expit(logit - w f)`` with ``w >= 0``
    and ``f >= 0``, checked at construction, as is ``value_per_click >= 0``), so each
    expected reward is at most its zero-fatigue value; eligibility masks and
    ``fatigue_cap`` only remove options; costs are charged per impression whatever
    happens. So the policy's expected reward is the objective of a feasible ``x`` at
    most, which is at most the LP's optimum. Realised rewards average to it over seeds.

    ## Arguments

    - ``posts``: an enriched Arrow table, a Parquet path, or None for the default
      synthetic stream (`envs.posts.synthetic_posts`, cached under ``cache_dir``).
    - ``catalog``: list of creative dicts, a YAML/JSON path, or None (default catalog).
    - ``click_model``: `LogisticClickModel` keyword arguments (``_target_`` picks another
      class), or None for the defaults.
    - ``budget``: campaign budget per episode. ``horizon``: steps per episode.
    - ``cost_weight``, ``value_per_click``: reward weights (the click model's
      ``value_per_click``, if set, takes precedence).
    - ``half_life_hours``: profile half-life. ``emotion_features``: False drops the
      emotion features. ``fatigue_cap``: mask creatives above this fatigue (None: never).
    - ``cache_dir``, ``synthetic``: where and what the default synthetic stream is.

    ## Version History

    - v0: initial version. Later additions that change no dynamics or rewards (same
      id): ``info`` gains ``hindsight_bound``, ``bound_multiplier``, ``action_costs``,
      ``budget``, ``steps_left`` (and ``budget_left`` on reset); ``regret`` is renamed
      ``myopic_regret`` (the old key stays as a deprecated alias).
    """

    metadata = {"render_modes": []}  # noqa: RUF012  (Gymnasium declares it an instance attribute)

    def __init__(
        self,
        posts: pa.Table | str | Path | None = None,
        catalog: Sequence[Mapping[str, Any]] | str | Path | None = None,
        click_model: Mapping[str, Any] | None = None,
        budget: float = 10.0,
        horizon: int = 1000,
        cost_weight: float = 1.0,
        value_per_click: float = 1.0,
        half_life_hours: float = 24.0,
        emotion_features: bool = True,
        fatigue_cap: float | None = None,
        cache_dir: str | None = None,
        synthetic: Mapping[str, Any] | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode: this env does not render (got {render_mode!r})")
        self.budget = _positive("budget", budget)
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise ValueError(f"horizon: must be a positive integer (got {horizon!r})")
        self.horizon = horizon
        self.cost_weight = _positive("cost_weight", cost_weight, allow_zero=True)
        self.fatigue_cap = (
            None if fatigue_cap is None else _positive("fatigue_cap", fatigue_cap, True)
        )
        table = load_posts(posts, cache_dir, dict(synthetic) if synthetic else None)
        self.catalog: list[Creative] = load_catalog(catalog)
        self.catalog_dicts = catalog_to_dicts(self.catalog)
        k = self.n_creatives = len(self.catalog)
        self.click_model = self._click_model(click_model)
        self.feature_spec = FeatureSpec(
            n_creatives=k, half_life_hours=half_life_hours, emotion_features=emotion_features
        )
        self.featurizer = Featurizer(self.feature_spec)
        values = self.click_model.value_per_click
        if values is None:
            values = np.full(k, _positive("value_per_click", value_per_click, allow_zero=True))
        self.costs = np.array([c.cost_per_impression for c in self.catalog])
        if self.budget < self.costs.min():
            raise ValueError(
                f"budget: {budget} cannot pay for the cheapest creative ({self.costs.min()})"
            )
        self._precompute(table, values)
        self.observation_space = gym.spaces.Box(
            self.feature_spec.low, self.feature_spec.high, dtype=np.float32
        )
        self.action_space = gym.spaces.Discrete(k + 1)
        self._start, self._length, self._t, self._i = 0, 0, 0, 0
        self.budget_left = self.budget
        self.spend = 0.0
        self._done = True
        self._mask, self._probs, self._expected = self._no_decision()
        self._best = k

    # ------------------------------------------------------------ construction

    def _click_model(self, cfg: Mapping[str, Any] | None) -> LogisticClickModel:
        kwargs = dict(cfg or {})
        cls = get_class(kwargs.pop("_target_")) if "_target_" in kwargs else LogisticClickModel
        if "creatives" in kwargs:
            raise ValueError("click_model.creatives: the env passes its own catalog")
        n = kwargs.pop("n_creatives", None)
        if n is not None and n != self.n_creatives:
            raise ValueError(
                f"click_model.n_creatives: {n} does not match the catalog's {self.n_creatives}"
            )
        model = cls(n_creatives=self.n_creatives, creatives=self.catalog, **kwargs)
        for attr in ("static_logits", "fatigue_weight", "fatigue_half_life_s", "value_per_click"):
            if not hasattr(model, attr):
                raise TypeError(f"click_model: {cls.__name__} has no {attr!r}")
        # The hindsight bound needs fatigue to only lower click probabilities and clicks
        # to be worth something: check both whatever class built the model.
        _positive("click_model.fatigue_weight", float(model.fatigue_weight), allow_zero=True)
        if model.value_per_click is not None and np.any(np.asarray(model.value_per_click) < 0):
            raise ValueError(
                f"click_model.value_per_click: must be >= 0 (got {model.value_per_click!r})"
            )
        return model

    def _precompute(self, table: pa.Table, values: np.ndarray) -> None:
        """Everything that does not depend on the agent's actions, once per stream."""
        k = self.n_creatives
        fz = self.featurizer
        self.n_posts = table.num_rows
        codes, self.user_ids = user_codes(table)
        means, weights = fz.table_profiles(table)
        n = self.n_posts
        campaign = fz.campaign_block(np.ones(n), np.ones(n))
        fatigue = fz.fatigue_block(np.zeros((n, k)))
        self._static_obs = _read_only(
            fz.assemble(fz.post_block(table), fz.profile_block(means, weights), campaign, fatigue)
        )
        self._static_logits = _read_only(
            self.click_model.static_logits(ClickContext.from_table(table, means))
        )
        self.values_full = _read_only(np.append(values, 0.0))
        self.costs_full = _read_only(np.append(self.costs, 0.0))
        self._cw_cost_full = _read_only(self.cost_weight * self.costs_full)
        probs = np.zeros((n, k + 1))
        probs[:, :k] = sigmoid(self._static_logits)
        expected = probs * self.values_full - self._cw_cost_full
        # Row i holds post i's click probabilities and expected rewards at zero fatigue;
        # a step copies it once and hands out its two rows.
        self._decision0 = _read_only(np.stack([probs, expected], axis=1))
        self._hindsight = HindsightLP(expected[:, :k], self.costs)
        # With fatigue f: p = expit(logit - w f); the no-ad column is -inf (p = 0).
        logits = np.full((n, k + 1), -np.inf)
        logits[:, :k] = self._static_logits
        self._logits_full = _read_only(logits)
        # Eligibility by budget only takes K + 1 patterns ("level" = number affordable).
        self._sorted_costs = sorted(self.costs.tolist())
        self._level_masks = []
        for level in range(k + 1):
            mask = np.ones(k + 1, dtype=bool)
            mask[:k] = self.costs <= self._sorted_costs[level - 1] if level else False
            self._level_masks.append(_read_only(mask))
        best = np.empty((n, k + 1), dtype=np.int64)
        for level, mask in enumerate(self._level_masks):
            best[:, level] = np.where(mask, expected, -np.inf).argmax(axis=1)
        self._best0 = best.tolist()
        self._users: list[int] = codes.tolist()
        times_us = time_us_of(table)
        self._times: list[float] = (times_us.astype(np.float64) / 1e6).tolist()
        self._fw = float(self.click_model.fatigue_weight)
        # Column K (no ad) is never recorded, so it stays 0.
        self._fatigue = FatigueCounter(
            len(self.user_ids), k + 1, float(self.click_model.fatigue_half_life_s)
        )
        self._fw_full = _read_only(np.full(k + 1, self._fw))
        self._over_clip: set[int] = set()
        self._cost_list: list[float] = self.costs.tolist()
        self._value_list: list[float] = self.values_full.tolist()
        slices = self.feature_spec.slices
        self._campaign_idx = slices["campaign"].start if "campaign" in slices else None
        self._fatigue_slice = slices.get("fatigue")
        self._tol = 1e-9 * max(self.budget, 1.0)
        self._min_cost = float(self.costs.min())
        self.bound = self.bound_multiplier = 0.0

    # ------------------------------------------------------------ dynamics

    def _set_level(self) -> None:
        """Recompute how many creatives the budget left can pay for (a `_level_masks` index)."""
        self._lvl = bisect.bisect_right(self._sorted_costs, self.budget_left + self._tol)

    def _observe(self, i: int, decide: bool) -> np.ndarray:
        """Observation of post ``i`` now; with ``decide``, also its decision quantities.

        The hot path of `step`: a person without fatigue reuses the precomputed row of
        post ``i``; otherwise ``p = expit(logit - w f)`` takes a handful of ufuncs.
        """
        u = self._users[i]
        obs = self._static_obs[i].copy()
        fatigue = self._fatigue
        if u in fatigue.active:
            f = fatigue.at(u, self._times[i])
            if self._fatigue_slice is not None:
                if u in self._over_clip:
                    np.minimum(f[:-1], FATIGUE_CLIP, out=obs[self._fatigue_slice])
                else:
                    obs[self._fatigue_slice] = f[:-1]
            if decide:
                probs = f * self._fw_full
                np.subtract(self._logits_full[i], probs, out=probs)
                expit(probs, out=probs)
                expected = probs * self.values_full
                expected -= self._cw_cost_full
                mask = self._level_masks[self._lvl].copy()
                if self.fatigue_cap is not None:
                    mask[:-1] &= f[:-1] <= self.fatigue_cap
                    self._best = int(np.where(mask, expected, -np.inf).argmax())
                elif self._lvl == self.n_creatives:
                    self._best = int(expected.argmax())
                else:
                    self._best = int(np.where(mask, expected, -np.inf).argmax())
                self._probs, self._expected, self._mask = probs, expected, mask
        elif decide:
            pe = self._decision0[i].copy()
            self._probs, self._expected = pe[0], pe[1]
            self._mask = self._level_masks[self._lvl].copy()
            self._best = self._best0[i][self._lvl]
        if self._campaign_idx is not None:
            c = self._campaign_idx
            obs[c] = self.budget_left / self.budget
            obs[c + 1] = (self._length - self._t) / self._length
        return obs

    def _no_decision(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mask, click probabilities and expected rewards when no decision follows."""
        mask = np.zeros(self.n_creatives + 1, dtype=bool)
        mask[-1] = True
        return mask, np.zeros(self.n_creatives + 1), np.zeros(self.n_creatives + 1)

    def _decision_info(self) -> dict[str, Any]:
        return {
            "action_mask": self._mask,
            "click_probs": self._probs,
            "expected_rewards": self._expected,
            "best_action": self._best,
            "action_costs": _read_only(self.costs_full.copy()),
            "budget": self.budget,
            "bound_multiplier": self.bound_multiplier,
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a campaign at a random offset of the stream (``options["start"]`` fixes it)."""
        super().reset(seed=seed)
        n, length = self.n_posts, min(self.horizon, self.n_posts)
        start = (options or {}).get("start")
        if start is None:
            start = int(self.np_random.integers(0, n - length + 1))
        elif (
            isinstance(start, bool) or not isinstance(start, int | np.integer) or not 0 <= start < n
        ):
            raise ValueError(f"options['start']: must be an integer in [0, {n}) (got {start!r})")
        self._start, self._length = int(start), min(length, n - int(start))
        self._t, self._i = 0, self._start
        self.budget_left, self.spend = self.budget, 0.0
        self._fatigue.reset()
        self._over_clip.clear()
        self._set_level()
        self._done = False
        # The LP over every opportunity of the episode (posts start .. start + length - 1
        # are fixed now, whatever the agent does); spending may reach budget + tol.
        self.bound, self.bound_multiplier = self._hindsight.solve(
            self._start, self._start + self._length, self.budget + self._tol
        )
        obs = self._observe(self._i, decide=True)
        info = self._decision_info()
        info["budget_left"] = self.budget_left
        info["steps_left"] = self._length
        return obs, info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Show creative ``action`` (or no ad, ``K``) to the current person."""
        if self._done:
            raise RuntimeError("step: the episode is over (or never started); call reset()")
        k = self.n_creatives
        try:
            a = operator.index(action)
        except TypeError:
            raise ValueError(f"action: must be an integer in [0, {k}] (got {action!r})") from None
        if not 0 <= a <= k:
            raise ValueError(f"action: must be an integer in [0, {k}] (got {action!r})")
        if not self._mask[a]:
            raise ValueError(self._ineligible(a))
        expected = self._expected
        regret = float(expected[self._best] - expected[a])
        if a < k:
            clicked = self.np_random.random() < self._probs[a]
            cost = self._cost_list[a]
            reward = self._value_list[a] * clicked - self.cost_weight * cost
            self.spend += cost
            self.budget_left = max(self.budget - self.spend, 0.0)
            self._set_level()
            i = self._i
            u = self._users[i]
            if self._fatigue.record(u, a, self._times[i]) > FATIGUE_CLIP:
                self._over_clip.add(u)
        else:
            clicked, cost, reward = False, 0.0, 0.0
        self._t += 1
        terminated = self.budget_left + self._tol < self._min_cost
        truncated = not terminated and self._t >= self._length
        if terminated or truncated:
            self._i = min(self._i + 1, self.n_posts - 1)
            obs = self._observe(self._i, decide=False)
            self._mask, self._probs, self._expected = self._no_decision()
            self._best, self._done = k, True
        else:
            self._i += 1
            obs = self._observe(self._i, decide=True)
        info = {
            "action_mask": self._mask,
            "click_probs": self._probs,
            "expected_rewards": self._expected,
            "best_action": self._best,
            "action_costs": _read_only(self.costs_full.copy()),
            "budget": self.budget,
            "bound_multiplier": self.bound_multiplier,
            "clicked": bool(clicked),
            "cost": cost,
            "myopic_regret": regret,
            "regret": regret,
            "spend": self.spend,
            "budget_left": self.budget_left,
            "steps_left": 0 if self._done else self._length - self._t,
        }
        if self._done:
            info["hindsight_bound"] = self.bound
        return obs, float(reward), terminated, truncated, info

    def _ineligible(self, a: int) -> str:
        c = self.catalog[a]
        reasons = []
        if c.cost_per_impression > self.budget_left + self._tol:
            reasons.append(f"costs {c.cost_per_impression} > budget left {self.budget_left}")
        if self.fatigue_cap is not None:
            f = self._fatigue.at(self._users[self._i], self._times[self._i])[a]
            if f > self.fatigue_cap:
                reasons.append(f"fatigue {f:.3g} > fatigue_cap {self.fatigue_cap}")
        why = "; ".join(reasons) or "masked"
        return f"action: {a} ({c.id!r}) is not eligible now ({why}); see info['action_mask']"
