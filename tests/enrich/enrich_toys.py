"""Small, real enrichers for the pipeline and cache tests (importable by worker processes).

They follow the `alpharl.enrich.base.Enricher` protocol with simple, deterministic rules,
so a test can say exactly what each row must hold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from alpharl.enrich.base import Columns
from alpharl.schema import EMOTION_COLUMNS, EMOTIONS, INTENT_COLUMNS, SENTIMENT_COLUMNS

_TAG = re.compile(r"#(\w+)")
_MENTION = re.compile(r"@(\w+)")


class WordSentiment:
    """Compound = (good words - bad words) / (their count + 1); pos/neu/neg shares."""

    name = "word_sentiment"
    columns = SENTIMENT_COLUMNS

    def __init__(self, version: str = "1") -> None:
        self.version = version

    def enrich(self, texts: Sequence[str]) -> Columns:
        words = [t.lower().split() for t in texts]
        good = np.array([sum(w in ("good", "great", "love") for w in ws) for ws in words], float)
        bad = np.array([sum(w in ("bad", "awful", "hate") for w in ws) for ws in words], float)
        total = np.array([max(len(ws), 1) for ws in words], float)
        return {
            "sentiment_compound": (good - bad) / (good + bad + 1.0),
            "sentiment_pos": good / total,
            "sentiment_neu": 1.0 - (good + bad) / total,
            "sentiment_neg": bad / total,
        }


class PunctuationEmotion:
    """Joy grows with '!', sadness with '...', the rest is neutral (rows sum to 1)."""

    name = "punctuation_emotion"
    version = "1"
    columns = EMOTION_COLUMNS

    def enrich(self, texts: Sequence[str]) -> Columns:
        out: dict[str, Any] = {c: [0.0] * len(texts) for c in EMOTION_COLUMNS}
        for i, t in enumerate(texts):
            joy = min(t.count("!"), 4) / 5.0
            sad = min(t.count("..."), 2) / 5.0
            out["emotion_joy"][i] = joy
            out["emotion_sadness"][i] = sad
            out["emotion_neutral"][i] = 1.0 - joy - sad
        return out


class Tags:
    """Hashtags and mentions by regex."""

    name = "tags"
    version = "1"
    columns = ("hashtags", "mentions")

    def enrich(self, texts: Sequence[str]) -> Columns:
        return {
            "hashtags": [_TAG.findall(t) for t in texts],
            "mentions": [_MENTION.findall(t) for t in texts],
        }


class FoodTopic:
    """Topic ``food`` when the text mentions pizza, else ``other``."""

    name = "food_topic"
    version = "1"
    columns = ("topic",)

    def enrich(self, texts: Sequence[str]) -> Columns:
        return {"topic": ["food" if "pizza" in t.lower() else "other" for t in texts]}


class BatchSizeSpy:
    """Puts the size of the batch it saw into ``intent_purchase`` / ``intent_other``."""

    name = "batch_spy"
    version = "1"
    columns = INTENT_COLUMNS

    def __init__(self) -> None:
        self.batches: list[int] = []

    def enrich(self, texts: Sequence[str]) -> Columns:
        self.batches.append(len(texts))
        n = len(texts)
        out = {c: np.zeros(n) for c in INTENT_COLUMNS}
        out["intent_other"] = np.ones(n)
        return out


class Broken:
    """Returns whatever it is told to, to exercise the pipeline's checks."""

    version = "1"

    def __init__(self, name: str, columns: tuple[str, ...], make: Any) -> None:
        self.name = name
        self.columns = columns
        self._make = make

    def enrich(self, texts: Sequence[str]) -> Columns:
        out: Columns = self._make(list(texts))
        return out


def uniform_emotions(n: int) -> dict[str, list[float]]:
    """Each emotion 1/7 for n rows."""
    return {c: [1.0 / len(EMOTIONS)] * n for c in EMOTION_COLUMNS}
