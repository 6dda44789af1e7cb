"""VADER sentiment: compound, positive, neutral and negative scores per text.

VADER (Hutto & Gilbert, 2014, *VADER: A Parsimonious Rule-based Model for Sentiment
Analysis of Social Media Text*, ICWSM-14) is a lexicon and five rules (negation, degree
words, ALL CAPS, exclamation marks, "but") tuned on social media; on the authors' 4,200
tweets its compound score correlates with the mean human rating at r = 0.88.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version as _package_version

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from alpharl.enrich.base import Columns
from alpharl.enrich.text import check_texts
from alpharl.schema import SENTIMENT_COLUMNS, SENTIMENT_FIELDS

_CODE_VERSION = "1"


class VaderEnricher:
    """Fills ``sentiment_compound``, ``sentiment_pos``, ``sentiment_neu``, ``sentiment_neg``.

    One `SentimentIntensityAnalyzer` (which loads VADER's lexicon and emoji table) is built
    per enricher and reused for every batch; identical texts within a batch are scored
    once. Scores are VADER's own, as float32 (an empty text scores all zeros).
    """

    name = "vader"
    columns: tuple[str, ...] = SENTIMENT_COLUMNS

    def __init__(self) -> None:
        self._analyzer = SentimentIntensityAnalyzer()
        self.version = f"{_CODE_VERSION}+vaderSentiment-{_package_version('vaderSentiment')}"

    def __repr__(self) -> str:
        return "VaderEnricher()"

    def enrich(self, texts: Sequence[str]) -> Columns:
        """Score each text.

        Args:
            texts: The texts to score.

        Returns:
            One float32 array of ``len(texts)`` per column in `columns`.

        Raises:
            TypeError: If an item of ``texts`` is not a string (the message names its index).
        """
        check_texts(texts)
        scores = self._analyzer.polarity_scores
        out = np.zeros((len(texts), len(SENTIMENT_FIELDS)), dtype=np.float32)
        seen: dict[str, int] = {}
        for i, text in enumerate(texts):
            j = seen.get(text)
            if j is not None:
                out[i] = out[j]
                continue
            seen[text] = i
            s = scores(text)
            out[i] = (s["compound"], s["pos"], s["neu"], s["neg"])
        return {c: out[:, k].copy() for k, c in enumerate(SENTIMENT_COLUMNS)}
