"""Ground-truth click models: how a simulated person responds to a creative.

`LogisticClickModel` is a seeded logistic model. For a person with profile emotion
probabilities ``e_prof``, current-post emotions ``e_post``, intents ``i_prof``/``i_post``,
posting about topic ``topic`` at hour ``h`` (UTC), shown creative ``k`` that they have seen
with fatigue ``f_k`` (decayed impression count), the click probability is
``sigmoid(logit_k)`` with

.. code-block:: text

    e = (1 - post_mix) * e_prof + post_mix * e_post          (emotion mix, 7)
    i = (1 - post_mix) * i_prof + post_mix * i_post          (intent mix, 5)
    logit_k = base_k
            + congruence * e . v_k                             (emotion-creative congruence)
            + intent_weight * i . INTENT_EFFECT                (purchase +, complaint -)
            + topic_weight * [topic == category_k]             (topic-category match)
            + time_of_day_amplitude * cos(2 pi (h - peak_hour) / 24)
            - fatigue_weight * f_k

``v_k = A[:, target_k] + TONE_EMOTION_BIAS[tone_k]``: the column of the 7x7 affinity
matrix ``A`` (rows: the person's emotion, columns: the creative's emotion target) for the
creative's target, plus its tone's bias (a playful tone annoys angry or sad people).
``A`` is `AFFINITY_PRIOR` plus seeded N(0, ``affinity_noise``) noise; ``base_k`` are
seeded N(``base_rate_logit_mean``, ``base_rate_logit_std``). With ``congruence = 0`` the
person's emotions carry no signal at all.

Fatigue follows `FatigueCounter`: +1 per impression of creative k to the person, decaying
with half-life ``fatigue_half_life_hours`` in event time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import expit

from alpharl.creatives import load_catalog
from alpharl.features.featurizer import time_us_of
from alpharl.schema import EMOTIONS, INTENTS, TOPICS, Creative

N_EMOTIONS, N_INTENTS = len(EMOTIONS), len(INTENTS)


def _affinity_prior() -> np.ndarray:
    a = 2.0 * np.eye(N_EMOTIONS)
    ix = EMOTIONS.index
    for x, y, w in (("joy", "surprise", 0.8), ("fear", "sadness", 0.4), ("anger", "disgust", 0.4)):
        a[ix(x), ix(y)] = a[ix(y), ix(x)] = w
    a[:, ix("neutral")] += 0.2  # neutral creatives are mildly acceptable to everyone
    return a


AFFINITY_PRIOR: np.ndarray = _affinity_prior()
"""Mean affinity ``A[person emotion, creative emotion target]``: congruent on the diagonal."""

TONE_EMOTION_BIAS: dict[str, dict[str, float]] = {
    "playful": {"anger": -1.2, "sadness": -0.8, "disgust": -0.4, "joy": 0.3},
    "empathetic": {"sadness": 0.5, "fear": 0.3, "joy": -0.2},
    "calm": {"anger": 0.4, "fear": 0.2},
    "reassuring": {"fear": 0.5, "anger": 0.1},
    "urgent": {"fear": -0.4, "anger": -0.4, "joy": 0.2},
    "informative": {"neutral": 0.2},
}
"""Added to a creative's affinity vector by its tone; other tones add nothing."""

INTENT_EFFECT: np.ndarray = np.array([1.0, -1.0, 0.4, 0.2, 0.0])
"""Logit effect of each intent in `INTENTS` order: purchase +, complaint -."""


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function (`scipy.special.expit`: no overflow, exact 0 and 1 at +-inf)."""
    return np.asarray(expit(np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class ClickContext:
    """What the click model sees of n opportunities (fatigue aside).

    Args:
        profile_emotions: ``(n, 7)`` profile emotion probabilities.
        post_emotions: ``(n, 7)`` current post's emotion probabilities.
        profile_intents: ``(n, 5)``.
        post_intents: ``(n, 5)``.
        topic_index: ``(n,)`` index into `TOPICS` (-1: none).
        hour: ``(n,)`` hour of day in [0, 24), UTC.
    """

    profile_emotions: np.ndarray
    post_emotions: np.ndarray
    profile_intents: np.ndarray
    post_intents: np.ndarray
    topic_index: np.ndarray
    hour: np.ndarray

    @classmethod
    def from_table(cls, table: pa.Table, profile_means: np.ndarray) -> ClickContext:
        """Contexts of every row of an enriched table, given its profile means ``(n, 13)``."""
        from alpharl.features.profiles import profile_values

        post = profile_values(table)
        means = np.asarray(profile_means, dtype=np.float64)
        topic = pc.index_in(table.column("topic"), value_set=pa.array(list(TOPICS)))
        time_us = time_us_of(table)
        return cls(
            profile_emotions=means[:, :N_EMOTIONS],
            post_emotions=post[:, :N_EMOTIONS],
            profile_intents=means[:, N_EMOTIONS + 1 :],
            post_intents=post[:, N_EMOTIONS + 1 :],
            topic_index=np.asarray(pc.fill_null(topic, -1).to_numpy(), dtype=np.int64),
            hour=np.mod(time_us, 86_400_000_000).astype(np.float64) / 3_600_000_000,
        )

    @classmethod
    def single(
        cls,
        profile_emotions: Sequence[float],
        post_emotions: Sequence[float],
        profile_intents: Sequence[float],
        post_intents: Sequence[float],
        topic: str | None,
        hour: float,
    ) -> ClickContext:
        """One opportunity (n = 1); ``topic`` is a label of `TOPICS` or None."""
        if topic is not None and topic not in TOPICS:
            raise ValueError(f"topic: must be one of {list(TOPICS)} or None (got {topic!r})")
        return cls(
            profile_emotions=np.asarray(profile_emotions, dtype=np.float64).reshape(1, -1),
            post_emotions=np.asarray(post_emotions, dtype=np.float64).reshape(1, -1),
            profile_intents=np.asarray(profile_intents, dtype=np.float64).reshape(1, -1),
            post_intents=np.asarray(post_intents, dtype=np.float64).reshape(1, -1),
            topic_index=np.array([-1 if topic is None else TOPICS.index(topic)]),
            hour=np.array([float(hour)]),
        )

    def __len__(self) -> int:
        return int(self.hour.shape[0])

    def check(self) -> None:
        """Raise a ValueError naming the first field with a wrong shape."""
        n = len(self)
        for name, width in (
            ("profile_emotions", N_EMOTIONS),
            ("post_emotions", N_EMOTIONS),
            ("profile_intents", N_INTENTS),
            ("post_intents", N_INTENTS),
        ):
            arr = getattr(self, name)
            if arr.shape != (n, width):
                raise ValueError(f"{name}: shape must be ({n}, {width}) (got {arr.shape})")
        if self.topic_index.shape != (n,):
            raise ValueError(f"topic_index: shape must be ({n},) (got {self.topic_index.shape})")


def _number(name: str, value: Any, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number (got {value!r})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: must be >= {minimum} (got {value!r})")
    return float(value)


class LogisticClickModel:
    """Seeded logistic ground truth with congruence, intent, topic, time and fatigue terms.

    Args:
        n_creatives: K; must match ``creatives`` when both are given.
        congruence: Strength of the emotion-creative congruence term (0: no signal).
        base_rate_logit_mean: Mean of the per-creative base logits.
        base_rate_logit_std: Spread of the per-creative base logits.
        intent_weight: Weight of the intent term.
        topic_weight: Logit bonus when the post's topic is the creative's category.
        fatigue_weight: Logit penalty per unit of fatigue.
        fatigue_half_life_hours: Half-life of fatigue in hours of event time.
        time_of_day_amplitude: Amplitude of the time-of-day term.
        peak_hour: Hour (UTC) at which the time-of-day term peaks.
        post_mix: Weight of the current post against the profile, in [0, 1].
        affinity_noise: Std of the seeded noise added to `AFFINITY_PRIOR`.
        value_per_click: Value of a click, a number or one per creative; None lets the
            environment use its own ``value_per_click``.
        seed: Seed of the drawn parameters.
        creatives: The catalog (`Creative` objects or dicts); None uses the default
            catalog's first K creatives if K <= 8, else emotion targets cycling through
            `EMOTIONS` with no tone and no category.
    """

    def __init__(
        self,
        n_creatives: int | None = None,
        congruence: float = 1.0,
        base_rate_logit_mean: float = -4.5,
        base_rate_logit_std: float = 0.5,
        intent_weight: float = 1.0,
        topic_weight: float = 0.5,
        fatigue_weight: float = 0.7,
        fatigue_half_life_hours: float = 24.0,
        time_of_day_amplitude: float = 0.2,
        peak_hour: float = 20.0,
        post_mix: float = 0.5,
        affinity_noise: float = 0.1,
        value_per_click: float | Sequence[float] | None = None,
        seed: int = 0,
        creatives: Sequence[Creative | Mapping[str, Any]] | None = None,
    ) -> None:
        catalog = self._catalog(n_creatives, creatives)
        k = len(catalog)
        self.n_creatives = k
        self.creatives = catalog
        self.congruence = _number("congruence", congruence)
        self.intent_weight = _number("intent_weight", intent_weight)
        self.topic_weight = _number("topic_weight", topic_weight)
        self.fatigue_weight = _number("fatigue_weight", fatigue_weight, 0.0)
        self.fatigue_half_life_hours = _number("fatigue_half_life_hours", fatigue_half_life_hours)
        if self.fatigue_half_life_hours <= 0:
            raise ValueError(
                f"fatigue_half_life_hours: must be > 0 (got {fatigue_half_life_hours!r})"
            )
        self.time_of_day_amplitude = _number("time_of_day_amplitude", time_of_day_amplitude)
        self.peak_hour = _number("peak_hour", peak_hour)
        self.post_mix = _number("post_mix", post_mix, 0.0)
        if self.post_mix > 1.0:
            raise ValueError(f"post_mix: must be in [0, 1] (got {post_mix!r})")
        mean = _number("base_rate_logit_mean", base_rate_logit_mean)
        std = _number("base_rate_logit_std", base_rate_logit_std, 0.0)
        noise = _number("affinity_noise", affinity_noise, 0.0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed: must be an integer (got {seed!r})")
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.base_logits = mean + std * rng.standard_normal(k)
        self.affinity = AFFINITY_PRIOR + noise * rng.standard_normal(AFFINITY_PRIOR.shape)
        targets = [EMOTIONS.index(c.emotion_target) for c in catalog]
        tone_bias = np.array(
            [[TONE_EMOTION_BIAS.get(c.tone, {}).get(e, 0.0) for e in EMOTIONS] for c in catalog]
        ).reshape(k, N_EMOTIONS)
        self.creative_vectors = self.affinity[:, targets].T + tone_bias  # (K, 7)
        self.category_index = np.array(
            [TOPICS.index(c.category) if c.category in TOPICS else -1 for c in catalog]
        )
        self.value_per_click = self._values(value_per_click, k)

    @staticmethod
    def _catalog(
        n: int | None, creatives: Sequence[Creative | Mapping[str, Any]] | None
    ) -> list[Creative]:
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"n_creatives: must be a positive integer (got {n!r})")
        if creatives is not None:
            catalog = load_catalog(list(creatives))
            if n is not None and n != len(catalog):
                raise ValueError(f"n_creatives: {n} does not match the {len(catalog)} creatives")
            return catalog
        if n is None:
            raise ValueError("n_creatives: give n_creatives or creatives")
        default = load_catalog(None)
        if n <= len(default):
            return default[:n]
        return [
            Creative(f"creative-{j}", f"Creative {j}", "", EMOTIONS[j % N_EMOTIONS], "other", 0.0)
            for j in range(n)
        ]

    @staticmethod
    def _values(value: float | Sequence[float] | None, k: int) -> np.ndarray | None:
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return np.full(k, _number("value_per_click", value, 0.0))
        if isinstance(value, bool):
            raise ValueError(f"value_per_click: must be a number or a list (got {value!r})")
        values = [_number(f"value_per_click[{j}]", v, 0.0) for j, v in enumerate(value)]
        if len(values) != k:
            raise ValueError(f"value_per_click: needs {k} values (got {len(values)})")
        return np.array(values)

    @property
    def fatigue_half_life_s(self) -> float:
        """Fatigue half-life in seconds."""
        return self.fatigue_half_life_hours * 3600.0

    def static_logits(self, ctx: ClickContext) -> np.ndarray:
        """Every logit term except fatigue, ``(n, K)`` float64."""
        ctx.check()
        w = self.post_mix
        emotions = (1.0 - w) * ctx.profile_emotions + w * ctx.post_emotions
        intents = (1.0 - w) * ctx.profile_intents + w * ctx.post_intents
        logits = np.broadcast_to(self.base_logits, (len(ctx), self.n_creatives)).copy()
        logits += self.congruence * (emotions @ self.creative_vectors.T)
        logits += (self.intent_weight * (intents @ INTENT_EFFECT))[:, None]
        match = (ctx.topic_index[:, None] == self.category_index[None, :]) & (
            ctx.topic_index[:, None] >= 0
        )
        logits += self.topic_weight * match
        tod = np.cos(2.0 * np.pi * (ctx.hour - self.peak_hour) / 24.0)
        logits += (self.time_of_day_amplitude * tod)[:, None]
        return logits

    def click_probs_batch(self, ctx: ClickContext, fatigue: np.ndarray | None = None) -> np.ndarray:
        """Click probability of every creative for n opportunities, ``(n, K)``.

        Args:
            ctx: The opportunities.
            fatigue: ``(n, K)`` fatigue of each person for each creative (None: zero).
        """
        logits = self.static_logits(ctx)
        if fatigue is not None:
            f = np.asarray(fatigue, dtype=np.float64)
            if f.shape != logits.shape:
                raise ValueError(f"fatigue: shape must be {logits.shape} (got {f.shape})")
            logits = logits - self.fatigue_weight * f
        return sigmoid(logits)

    def click_probs(self, ctx: ClickContext, fatigue: np.ndarray | None = None) -> np.ndarray:
        """Click probability of every creative for one opportunity, ``(K,)``."""
        if len(ctx) != 1:
            raise ValueError(f"ctx: must describe one opportunity (got {len(ctx)})")
        f = None if fatigue is None else np.asarray(fatigue, dtype=np.float64).reshape(1, -1)
        return self.click_probs_batch(ctx, f)[0]


class FatigueCounter:
    """Per (person, creative) impression counts decaying with a half-life in event time.

    ``counts[u, k]`` is expressed at time ``last[u]``; `at` decays a person's row to a
    later time in place. Each impression adds 1.

    Args:
        n_users: Number of people (rows).
        n_creatives: Number of columns.
        half_life_s: Half-life in seconds.
    """

    def __init__(self, n_users: int, n_creatives: int, half_life_s: float) -> None:
        if not (math.isfinite(half_life_s) and half_life_s > 0):
            raise ValueError(f"half_life_s: must be a finite positive number (got {half_life_s!r})")
        self.half_life_s = float(half_life_s)
        self.counts = np.zeros((n_users, n_creatives))
        self.last = [0.0] * n_users
        self.active: set[int] = set()

    def reset(self) -> None:
        """Forget every impression."""
        for u in self.active:
            self.counts[u] = 0.0
        self.active.clear()

    def at(self, user: int, t: float) -> np.ndarray:
        """The person's fatigue row at time ``t`` (a view; zero if never shown an ad)."""
        row = self.counts[user]
        if user in self.active:
            dt = t - self.last[user]
            if dt > 0:
                row *= 0.5 ** (dt / self.half_life_s)
                self.last[user] = t
        return row

    def record(self, user: int, creative: int, t: float) -> float:
        """One impression of ``creative`` to ``user`` at time ``t``; returns the new count."""
        if user in self.active:
            row = self.at(user, t)
            count = float(row[creative]) + 1.0
        else:
            self.active.add(user)
            self.last[user] = t
            count = 1.0
        self.counts[user, creative] = count
        return count
