"""A seeded stream of synthetic posts whose latent emotion, intent and topic are known.

The model: ``n_users`` users, each with a latent emotional disposition (a Dirichlet draw over
`EMOTIONS`), an intent disposition (over `INTENTS`), favourite topics (over `TOPICS`), a
favourite brand and a posting rate (log-normal, so a few users post a lot). Dispositions
drift: each user's logits follow a Gaussian random walk with standard deviation ``drift`` per
square-root hour, evaluated at the user's own post times. Post times follow a time-of-day
pattern (`HOURLY_ACTIVITY`: quiet at night, busiest in the evening, UTC). For each post the
emotion is drawn from the user's current emotion distribution, the intent from the user's
current intent distribution shifted by the emotion (`INTENT_AFFINITY`: angry posts tend to
complain, joyful ones to praise), the topic from the user's current topic distribution.
The valence is the emotion's mean valence plus the intent's shift plus N(0, 0.1) noise,
clipped to [-1, 1].

The text is written from `alpharl.streams.phrases`: an emotion phrase about a topic noun,
an intent sentence naming an item of the topic or a brand, and now and then an @mention,
emoji, hashtags, ALL CAPS or extra exclamation marks for strong feelings. The truth is kept
in each post's annotations: ``true_emotion``, ``true_intent`` and ``true_topic`` (the index
into `EMOTIONS`, `INTENTS`, `TOPICS`, as floats) and ``true_valence``.

Sampling is vectorised with one `numpy.random.Generator` per iteration, seeded from the
stream's seed: the same seed gives identical posts.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from alpharl.schema import EMOTIONS, INTENTS, TOPICS, Post, RecordError
from alpharl.streams.base import StreamStats
from alpharl.streams.phrases import (
    DEFAULT_BRANDS,
    EMOTION_EMOJI,
    EMOTION_PHRASES,
    EMOTION_VALENCE,
    HOURLY_ACTIVITY,
    INTENT_AFFINITY,
    INTENT_TEMPLATES,
    INTENT_VALENCE,
    TOPIC_HASHTAGS,
    TOPIC_ITEMS,
    TOPIC_NOUNS,
)
from alpharl.streams.records import EPOCH, timestamp_us

_N_E, _N_I, _N_T = len(EMOTIONS), len(INTENTS), len(TOPICS)
_EMOTION_BASE = np.array([0.10, 0.06, 0.08, 0.26, 0.26, 0.14, 0.10])
_INTENT_BASE = np.array([0.16, 0.16, 0.16, 0.16, 0.36])
_TOPIC_BASE = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.5]) / 9.5
_CONCENTRATION = (4.0, 4.0, 3.0)  # Dirichlet concentration of emotion, intent, topic
_AFFINITY = np.array([[INTENT_AFFINITY[e].get(i, 0.0) for i in INTENTS] for e in EMOTIONS])
_E_VALENCE = np.array([EMOTION_VALENCE[e] for e in EMOTIONS])
_I_VALENCE = np.array([INTENT_VALENCE[i] for i in INTENTS])
_STRONG = {EMOTIONS.index(e) for e in ("anger", "joy", "surprise", "fear")}
_NEUTRAL = EMOTIONS.index("neutral")


def _categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One draw per row from softmax(logits), by inverse CDF."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(z, axis=1)
    u = rng.random(len(logits)) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), logits.shape[1] - 1)


@dataclass
class _Draws:
    """Every random quantity of one generated stream, as arrays of length n_posts."""

    created_us: np.ndarray
    user: np.ndarray
    emotion: np.ndarray
    intent: np.ndarray
    topic: np.ndarray
    valence: np.ndarray
    brand: np.ndarray
    mention: np.ndarray
    picks: np.ndarray  # (n, 8) raw integers, reduced modulo each bank's size
    flags: np.ndarray  # (n, 5) uniforms for optional parts
    counts: np.ndarray  # (n, 4)


class SyntheticStream:
    """Seeded synthetic users and posts with their latent truth in the annotations.

    Args:
        n_users: Number of users.
        n_posts: Number of posts per pass.
        start: Start of the time window (ISO-8601 or datetime; naive = UTC).
        days: Length of the time window in days.
        drift: Standard deviation of the users' logit random walk per square-root hour
            (0 = stationary users).
        seed: Seed of the generator; `reset` can change it.
        name: Name of the source.
        brands: Brand names the posts mention (default `DEFAULT_BRANDS`).
        platform: Platform of the posts.
    """

    def __init__(
        self,
        n_users: int = 200,
        n_posts: int = 5000,
        start: str | datetime = "2024-01-01T00:00:00+00:00",
        days: float = 7.0,
        drift: float = 0.05,
        seed: int = 0,
        name: str = "synthetic",
        brands: Sequence[str] | None = None,
        platform: str = "synthetic",
    ) -> None:
        if isinstance(n_users, bool) or not isinstance(n_users, int) or n_users < 1:
            raise ValueError(f"n_users: must be a positive integer (got {n_users!r})")
        if isinstance(n_posts, bool) or not isinstance(n_posts, int) or n_posts < 0:
            raise ValueError(f"n_posts: must be a non-negative integer (got {n_posts!r})")
        if not (isinstance(days, int | float) and math.isfinite(days) and days > 0):
            raise ValueError(f"days: must be a positive number (got {days!r})")
        if not (isinstance(drift, int | float) and math.isfinite(drift) and drift >= 0):
            raise ValueError(f"drift: must be a non-negative number (got {drift!r})")
        try:
            self._start_us = timestamp_us(start, name="start")
        except RecordError as exc:
            raise ValueError(str(exc)) from None
        self.brands = tuple(DEFAULT_BRANDS if brands is None else brands)
        if not self.brands or not all(isinstance(b, str) and b.strip() for b in self.brands):
            raise ValueError(f"brands: must be non-empty strings (got {brands!r})")
        self.n_users = n_users
        self.n_posts = n_posts
        self.days = float(days)
        self.drift = float(drift)
        self.seed = int(seed)
        self.name = name
        self.platform = platform
        self.stats = StreamStats()

    def __repr__(self) -> str:
        return (
            f"SyntheticStream(n_users={self.n_users}, n_posts={self.n_posts}, "
            f"days={self.days}, drift={self.drift}, seed={self.seed})"
        )

    def reset(self, seed: int | None = None) -> None:
        """Rewind, zero the stats and, if ``seed`` is given, reseed.

        Every iteration draws from a fresh `numpy.random.Generator` seeded with the current
        seed, so iterating again (with or without a reset) yields the same posts.
        """
        if seed is not None:
            self.seed = int(seed)
        self.stats = StreamStats()

    # ------------------------------------------------------------------ sampling

    def _times(self, rng: np.random.Generator) -> np.ndarray:
        """Sorted post times in hours from the start, following `HOURLY_ACTIVITY`."""
        total = self.days * 24.0
        n_bins = math.ceil(total)
        lo = np.arange(n_bins, dtype=float)
        width = np.minimum(lo + 1.0, total) - lo
        start_hour = (self._start_us // 3_600_000_000) % 24
        hour = (start_hour + np.arange(n_bins)) % 24
        weight = np.asarray(HOURLY_ACTIVITY)[hour] * width
        bins = rng.choice(n_bins, size=self.n_posts, p=weight / weight.sum())
        return np.sort(lo[bins] + rng.random(self.n_posts) * width[bins])

    def _drifting_logits(
        self, rng: np.random.Generator, hours: np.ndarray, user: np.ndarray, base: np.ndarray
    ) -> np.ndarray:
        """``base[user]`` plus each user's random walk evaluated at their post times."""
        n, d = len(user), base.shape[1]
        logits = base[user]
        if self.drift == 0.0 or n == 0:
            return logits
        order = np.lexsort((np.arange(n), user))  # by user, then time (hours are sorted)
        u, t = user[order], hours[order]
        first = np.r_[True, u[1:] != u[:-1]]
        dt = np.where(first, t, t - np.r_[0.0, t[:-1]])
        steps = rng.standard_normal((n, d)) * (self.drift * np.sqrt(dt))[:, None]
        walk = np.cumsum(steps, axis=0)
        starts = np.flatnonzero(first)
        before = np.vstack([np.zeros((1, d)), walk[starts[1:] - 1]])
        walk -= np.repeat(before, np.diff(np.r_[starts, n]), axis=0)
        logits[order] += walk
        return logits

    def _draw(self, rng: np.random.Generator) -> _Draws:
        n, users = self.n_posts, self.n_users
        prefs = [
            np.log(rng.dirichlet(base * conc, size=users) + 1e-3)
            for base, conc in zip(
                (_EMOTION_BASE, _INTENT_BASE, _TOPIC_BASE), _CONCENTRATION, strict=True
            )
        ]
        activity = rng.lognormal(0.0, 1.0, size=users)
        favourite_brand = rng.integers(0, len(self.brands), size=users)
        hours = self._times(rng)
        user = rng.choice(users, size=n, p=activity / activity.sum())
        logits = self._drifting_logits(rng, hours, user, np.hstack(prefs))
        emotion = _categorical(rng, logits[:, :_N_E])
        intent = _categorical(rng, logits[:, _N_E : _N_E + _N_I] + _AFFINITY[emotion])
        topic = _categorical(rng, logits[:, _N_E + _N_I :])
        valence = np.clip(
            _E_VALENCE[emotion] + _I_VALENCE[intent] + rng.normal(0.0, 0.1, n), -1.0, 1.0
        )
        brand = np.where(
            rng.random(n) < 0.6, favourite_brand[user], rng.integers(0, len(self.brands), n)
        )
        popularity = activity[user] / activity.mean()
        rate = popularity[:, None] * (1.0 + 2.0 * np.abs(valence))[:, None]
        counts = rng.poisson(rate * np.array([2.0, 0.4, 0.5, 0.1]))
        return _Draws(
            created_us=self._start_us + np.rint(hours * 3_600_000_000).astype(np.int64),
            user=user,
            emotion=emotion,
            intent=intent,
            topic=topic,
            valence=valence,
            brand=brand,
            mention=rng.integers(0, users, n),
            picks=rng.integers(0, 1 << 30, size=(n, 8)),
            flags=rng.random((n, 5)),
            counts=counts,
        )

    # ------------------------------------------------------------------ writing

    def __iter__(self) -> Iterator[Post]:
        d = self._draw(np.random.default_rng(self.seed))
        brands = self.brands
        brand_tags = ["#" + "".join(b.split()) for b in brands]
        emotions, intents, topics = d.emotion.tolist(), d.intent.tolist(), d.topic.tolist()
        valence = d.valence.tolist()
        users, mentions = d.user.tolist(), d.mention.tolist()
        picks, flags = d.picks.tolist(), d.flags.tolist()
        created, counts, brand = d.created_us.tolist(), d.counts.tolist(), d.brand.tolist()
        banks_e = [EMOTION_PHRASES[e] for e in EMOTIONS]
        emoji_e = [EMOTION_EMOJI[e] for e in EMOTIONS]
        banks_i = [INTENT_TEMPLATES[i] for i in INTENTS]
        nouns_t = [TOPIC_NOUNS[t] for t in TOPICS]
        items_t = [TOPIC_ITEMS[t] for t in TOPICS]
        tags_t = [TOPIC_HASHTAGS[t] for t in TOPICS]
        one_us = timedelta(microseconds=1)
        for k in range(self.n_posts):
            e, i, t, p, f = emotions[k], intents[k], topics[k], picks[k], flags[k]
            v = valence[k]
            phrase = banks_e[e][p[0] % len(banks_e[e])]
            noun = nouns_t[t][p[1] % len(nouns_t[t])]
            if e in _STRONG and abs(v) > 0.6 and f[0] < 0.08:
                phrase = phrase.upper()
            if e == _NEUTRAL:
                sentence = f"{phrase} {noun}"
            elif p[2] % 3 == 0:
                sentence = f"{noun}... {phrase}"
            elif p[2] % 3 == 1:
                sentence = f"{phrase} about {noun}"
            else:
                sentence = f"{phrase}, {noun}"
            if abs(v) > 0.6 and f[1] < 0.4:
                sentence += "!!!" if f[1] < 0.15 else "!"
            text = f"@u{mentions[k]:04d} {sentence}" if f[2] < 0.12 else sentence
            template = banks_i[i][p[3] % len(banks_i[i])]
            if template:
                item = items_t[t][p[4] % len(items_t[t])]
                text += (" " if text.endswith("!") else ". ") + template.format(
                    item=item, brand=brands[brand[k]]
                )
            if f[3] < 0.35:
                text += " " + emoji_e[e][p[5] % len(emoji_e[e])]
            if f[4] < 0.3:
                text += " " + tags_t[t][p[6] % len(tags_t[t])]
                if p[7] % 3 == 0:
                    text += " " + brand_tags[brand[k]]
            c = counts[k]
            post = Post(
                f"syn{self.seed}-{k:07d}",
                EPOCH + created[k] * one_us,
                self.platform,
                f"u{users[k]:04d}",
                text,
                "en",
                c[0],
                c[1],
                c[2],
                c[3],
                {
                    "true_emotion": float(e),
                    "true_intent": float(i),
                    "true_topic": float(t),
                    "true_valence": v,
                },
            )
            self.stats.read += 1
            self.stats.yielded += 1
            yield post
