"""`FeatureSpec`: which features a context vector holds, in which order, within which bounds.

A spec is a small frozen record saved beside every trained policy (JSON), so serving
rebuilds exactly the vector the policy was trained on. Its blocks, in the order given:

============  ==========================================================  ===========
block         features                                                    range
============  ==========================================================  ===========
``profile``   ``profile_emotion_<e>`` (one per emotion),                  [0, 1]
              ``profile_sentiment_compound``,                             [-1, 1]
              ``profile_intent_<i>`` (one per intent),                    [0, 1]
              ``profile_activity``: ``log1p(weight) / log1p(100)``        [0, 1]
``post``      ``post_sentiment_compound``,                                [-1, 1]
              ``post_sentiment_pos``/``neu``/``neg``,                     [0, 1]
              ``post_emotion_<e>``, ``post_intent_<i>``                   [0, 1]
``topic``     ``topic_<t>``: one-hot of the post's topic                  {0, 1}
``time``      ``time_hour_sin``, ``time_hour_cos`` (hour of day, UTC),    [-1, 1]
              ``time_weekend`` (Saturday or Sunday, UTC)                  {0, 1}
``campaign``  ``campaign_budget_left``, ``campaign_time_left`` fractions  [0, 1]
``fatigue``   ``fatigue_<k>``: decayed impressions of creative k to this  [0, 10]
              person
============  ==========================================================  ===========

Every value is clipped to its range, so an environment can declare a finite Box.

Ablation: ``emotion_features=False`` drops the emotion columns from the ``profile`` and
``post`` blocks ("emotion features off"); sentiment and intent stay. Dropping a whole block
is done by leaving it out of ``blocks``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from alpharl.schema import EMOTIONS, INTENTS, TOPICS

FEATURIZER_VERSION = 1
"""Version of the feature definitions; a spec saved under another version is rejected."""

BLOCKS: tuple[str, ...] = ("profile", "post", "topic", "time", "campaign", "fatigue")
"""Every block a spec may hold, in the default order."""

POST_BLOCKS: tuple[str, ...] = ("post", "topic", "time")
"""The blocks computed from the post alone (`Featurizer.post_block`)."""

FATIGUE_CLIP = 10.0
"""Upper bound of a fatigue feature (decayed impression count)."""

ACTIVITY_CAP = 100.0
"""Profile weight at which ``profile_activity`` reaches 1."""


def _label_tuple(name: str, value: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"{name}: must be a list of labels from {list(allowed)} (got {value!r})")
    labels = tuple(value)
    for label in labels:
        if label not in allowed:
            raise ValueError(f"{name}: unknown label {label!r}; allowed: {list(allowed)}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"{name}: labels must be unique (got {list(labels)})")
    return labels


@dataclass(frozen=True)
class FeatureSpec:
    """The layout of a context vector.

    Args:
        name: A name for the spec (free text).
        version: Featurizer version it was written for; must be `FEATURIZER_VERSION`.
        blocks: Ordered subset of `BLOCKS`.
        emotions: Emotion labels (a subset of `alpharl.schema.EMOTIONS`, in any order).
        intents: Intent labels (a subset of `alpharl.schema.INTENTS`).
        topics: Topic labels of the one-hot (a subset of `alpharl.schema.TOPICS`); a post
            whose topic is not listed gets all zeros.
        n_creatives: Number of creatives K (the width of the ``fatigue`` block).
        half_life_hours: Half-life of the user profile's decay, in hours of event time.
        emotion_features: False drops the emotion columns from ``profile`` and ``post``.
    """

    name: str = "ad_context"
    version: int = FEATURIZER_VERSION
    blocks: tuple[str, ...] = BLOCKS
    emotions: tuple[str, ...] = EMOTIONS
    intents: tuple[str, ...] = INTENTS
    topics: tuple[str, ...] = TOPICS
    n_creatives: int = 0
    half_life_hours: float = 24.0
    emotion_features: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: must be a non-empty string (got {self.name!r})")
        if self.version != FEATURIZER_VERSION:
            raise ValueError(
                f"version: this spec was written for featurizer version {self.version!r}, "
                f"but this code is version {FEATURIZER_VERSION}; re-train or re-export"
            )
        blocks = self.blocks
        if isinstance(blocks, str) or not isinstance(blocks, list | tuple) or not blocks:
            raise ValueError(f"blocks: must be a non-empty list from {list(BLOCKS)}")
        for block in blocks:
            if block not in BLOCKS:
                raise ValueError(f"blocks: unknown block {block!r}; allowed: {list(BLOCKS)}")
        if len(set(blocks)) != len(blocks):
            raise ValueError(f"blocks: each block may appear once (got {list(blocks)})")
        object.__setattr__(self, "blocks", tuple(blocks))
        object.__setattr__(self, "emotions", _label_tuple("emotions", self.emotions, EMOTIONS))
        object.__setattr__(self, "intents", _label_tuple("intents", self.intents, INTENTS))
        object.__setattr__(self, "topics", _label_tuple("topics", self.topics, TOPICS))
        k = self.n_creatives
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"n_creatives: must be a non-negative integer (got {k!r})")
        if "fatigue" in self.blocks and k == 0:
            raise ValueError("n_creatives: must be >= 1 when 'fatigue' is in blocks (got 0)")
        h = self.half_life_hours
        if isinstance(h, bool) or not isinstance(h, int | float) or not math.isfinite(h) or h <= 0:
            raise ValueError(f"half_life_hours: must be a finite positive number (got {h!r})")
        object.__setattr__(self, "half_life_hours", float(h))
        if not isinstance(self.emotion_features, bool):
            raise ValueError(f"emotion_features: must be a bool (got {self.emotion_features!r})")

    # ---------------------------------------------------------------- layout

    def block_features(self, block: str) -> list[tuple[str, float, float]]:
        """``(name, low, high)`` of each feature of one block, in order."""
        emo = self.emotions if self.emotion_features else ()
        if block == "profile":
            return [
                *((f"profile_emotion_{e}", 0.0, 1.0) for e in emo),
                ("profile_sentiment_compound", -1.0, 1.0),
                *((f"profile_intent_{i}", 0.0, 1.0) for i in self.intents),
                ("profile_activity", 0.0, 1.0),
            ]
        if block == "post":
            return [
                ("post_sentiment_compound", -1.0, 1.0),
                *((f"post_sentiment_{s}", 0.0, 1.0) for s in ("pos", "neu", "neg")),
                *((f"post_emotion_{e}", 0.0, 1.0) for e in emo),
                *((f"post_intent_{i}", 0.0, 1.0) for i in self.intents),
            ]
        if block == "topic":
            return [(f"topic_{t}", 0.0, 1.0) for t in self.topics]
        if block == "time":
            return [("time_hour_sin", -1.0, 1.0), ("time_hour_cos", -1.0, 1.0),
                    ("time_weekend", 0.0, 1.0)]  # fmt: skip
        if block == "campaign":
            return [("campaign_budget_left", 0.0, 1.0), ("campaign_time_left", 0.0, 1.0)]
        if block == "fatigue":
            return [(f"fatigue_{k}", 0.0, FATIGUE_CLIP) for k in range(self.n_creatives)]
        raise ValueError(f"block: unknown block {block!r}; allowed: {list(BLOCKS)}")

    @cached_property
    def slices(self) -> dict[str, slice]:
        """Where each block of `blocks` sits in the vector."""
        out, start = {}, 0
        for block in self.blocks:
            width = len(self.block_features(block))
            out[block] = slice(start, start + width)
            start += width
        return out

    @cached_property
    def names(self) -> list[str]:
        """Feature names, in vector order."""
        return [name for b in self.blocks for name, _, _ in self.block_features(b)]

    @property
    def dim(self) -> int:
        """Length of the vector."""
        return len(self.names)

    @cached_property
    def low(self) -> np.ndarray:
        """Lower bound of each feature (float32, read-only)."""
        return self._bounds(1)

    @cached_property
    def high(self) -> np.ndarray:
        """Upper bound of each feature (float32, read-only)."""
        return self._bounds(2)

    def _bounds(self, which: int) -> np.ndarray:
        values = [f[which] for b in self.blocks for f in self.block_features(b)]
        out = np.array(values, dtype=np.float32)
        out.flags.writeable = False
        return out

    # ---------------------------------------------------------------- persistence

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; `from_dict` inverts it."""
        out = asdict(self)
        for key in ("blocks", "emotions", "intents", "topics"):
            out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Build a spec from `to_dict` output; unknown keys and other versions are errors."""
        if not isinstance(data, Mapping):
            raise ValueError(f"feature spec: must be a mapping (got {type(data).__name__})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"feature spec: unknown keys {unknown}; known: {sorted(known)}")
        if "version" not in data:
            raise ValueError("feature spec: missing 'version'")
        kwargs = dict(data)
        for key in ("blocks", "emotions", "intents", "topics"):
            if key in kwargs and isinstance(kwargs[key], list):
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), the input of `fingerprint`."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def fingerprint(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        """Write the spec as JSON to ``path`` (parents created)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return p

    @classmethod
    def load(cls, path: str | Path) -> FeatureSpec:
        """Read a spec written by `save`."""
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}: not valid JSON ({exc})") from None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{p}: {exc}") from None
