"""A small, real enricher for the Kafka loop tests (importable by a subprocess via PYTHONPATH).

``WordTagger`` fills the sentiment columns from a few words and can sleep per batch, so a
test can kill the loop while it is part-way through a topic.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from alpharl.enrich.base import Columns
from alpharl.schema import SENTIMENT_COLUMNS


class WordTagger:
    """Compound = +0.5 per "good", -0.5 per "bad" (clipped); optional sleep per batch."""

    name = "word_tagger"
    version = "1"
    columns = SENTIMENT_COLUMNS

    def __init__(self, delay_s: float = 0.0, fail_on: str | None = None) -> None:
        self.delay_s = delay_s
        self.fail_on = fail_on

    def enrich(self, texts: Sequence[str]) -> Columns:
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_on is not None and any(self.fail_on in t for t in texts):
            raise RuntimeError(f"WordTagger: refusing a batch with {self.fail_on!r}")
        words = [t.lower().split() for t in texts]
        good = np.array([ws.count("good") for ws in words], float)
        bad = np.array([ws.count("bad") for ws in words], float)
        compound = np.clip(0.5 * (good - bad), -1.0, 1.0)
        pos = np.where(compound > 0, 1.0, 0.0)
        neg = np.where(compound < 0, 1.0, 0.0)
        return {
            "sentiment_compound": compound,
            "sentiment_pos": pos,
            "sentiment_neu": 1.0 - pos - neg,
            "sentiment_neg": neg,
        }
