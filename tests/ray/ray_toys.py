"""Enrichers for the Ray engine tests (importable by Ray workers: on their PYTHONPATH).

`BatchPosition`'s output depends on how the posts were cut into batches, so an engine
that batched differently from the local pipeline would give other values.
`FailsOn` raises on a text containing its trigger.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alpharl.enrich.base import Columns
from alpharl.schema import SENTIMENT_COLUMNS


class BatchPosition:
    """sentiment_compound = position in the batch / batch length; pos/neu/neg from it."""

    name = "batch_position"
    version = "1"
    columns = SENTIMENT_COLUMNS

    def enrich(self, texts: Sequence[str]) -> Columns:
        n = len(texts)
        where = np.arange(n, dtype=float) / n
        return {
            "sentiment_compound": where,
            "sentiment_pos": where,
            "sentiment_neu": 1.0 - where,
            "sentiment_neg": np.zeros(n),
        }


class FailsOn:
    """Topic ``other``, except that a text containing ``trigger`` raises ValueError."""

    name = "fails_on"
    version = "1"
    columns = ("topic",)

    def __init__(self, trigger: str) -> None:
        self.trigger = trigger

    def enrich(self, texts: Sequence[str]) -> Columns:
        for t in texts:
            if self.trigger in t:
                raise ValueError(f"cannot enrich {t!r}")
        return {"topic": ["other"] * len(texts)}
