"""Small real artifacts for the serving tests: saved policy folders and a keyword enricher."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from alpharl.features.spec import FeatureSpec
from alpharl.policy import LinearPolicy
from alpharl.policy.rules import EpsilonGreedyRule, GreedyRule
from alpharl.schema import (
    EMOTIONS,
    INTENTS,
    EnrichedPost,
    Post,
    Sentiment,
    enriched_to_table,
)

K = 3
CREATIVES = [f"c{i}" for i in range(K)]
SPEC = FeatureSpec(n_creatives=K)
API_KEY = "test-key-123"
AUTH = {"X-API-Key": API_KEY}


def make_model_dir(
    path: Path,
    seed: int,
    *,
    spec: FeatureSpec | None = SPEC,
    k: int = K,
    epsilon: float = 0.2,
    catalog: object | None = None,
    dim: int | None = None,
    theta: np.ndarray | None = None,
) -> Path:
    """A folder with a saved `LinearPolicy`, its feature spec and catalog (LocalSource layout).

    Args:
        path: The folder to write.
        seed: Seeds the coefficients.
        spec: The feature spec to save beside it (None: none).
        k: Number of creatives.
        epsilon: Exploration of the policy (0: greedy).
        catalog: The catalog to save (default ``c0 .. c{k-1}``).
        dim: Context width (default: the spec's).
        theta: The coefficients ``(k + 1, dim)`` (default: seeded normal draws).
    """
    d = dim if dim is not None else (spec.dim if spec is not None else 8)
    if theta is None:
        theta = np.random.default_rng(seed).normal(size=(k + 1, d))
    rule = EpsilonGreedyRule(epsilon) if epsilon > 0 else GreedyRule()
    LinearPolicy(theta, rule=rule).save(path)
    if spec is not None:
        spec.save(path / "feature_spec.json")
    items = catalog if catalog is not None else [{"id": f"c{i}"} for i in range(k)]
    (path / "catalog.json").write_text(json.dumps(items))
    return path


_JOY = ("love", "great", "happy", "awesome")
_ANGER = ("hate", "angry", "awful", "broken")
_BUY = ("buy", "price", "deal", "order")


class KeywordEnricher:
    """A tiny deterministic enricher producing `ENRICHED_POST_SCHEMA` tables (test stand-in).

    Joy words raise joy and the compound score, anger words raise anger and lower it,
    purchase words raise purchase intent; ``calls`` counts the batches it enriched.
    """

    def __init__(self) -> None:
        self.calls = 0

    def enrich_posts(self, posts: Sequence[Post]) -> pa.Table:
        self.calls += 1
        out = []
        for post in posts:
            words = post.text.lower().split()
            joy = sum(w in _JOY for w in words)
            anger = sum(w in _ANGER for w in words)
            buy = sum(w in _BUY for w in words)
            raw = {e: 0.05 for e in EMOTIONS} | {"joy": 0.05 + joy, "anger": 0.05 + anger}
            total = sum(raw.values())
            emotions = {e: raw[e] / total for e in EMOTIONS}
            intents_raw = {i: 0.1 for i in INTENTS} | {"purchase": 0.1 + buy}
            itotal = sum(intents_raw.values())
            intents = {i: intents_raw[i] / itotal for i in INTENTS}
            compound = float(np.tanh(joy - anger))
            pos = 0.5 if joy else 0.0
            neg = 0.5 if anger else 0.0
            sentiment = Sentiment(compound, pos, 1.0 - pos - neg, neg)
            topic = "tech" if "phone" in words else "other"
            out.append(EnrichedPost(post, sentiment, emotions, intents, topic))
        return enriched_to_table(out)
