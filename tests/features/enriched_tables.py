"""Enriched tables for tests, filled column by column with numpy (no enrichers needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from alpharl.schema import (
    EMOTION_COLUMNS,
    ENRICHED_POST_SCHEMA,
    INTENT_COLUMNS,
    TOPICS,
)

START_US = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)


def make_enriched_table(
    n_posts: int = 500,
    n_users: int = 20,
    seed: int = 0,
    days: float = 7.0,
    start_us: int = START_US,
) -> pa.Table:
    """A random table of `ENRICHED_POST_SCHEMA`, in time order, from a seeded generator."""
    rng = np.random.default_rng(seed)
    n = n_posts
    times = np.sort(rng.integers(0, int(days * 86_400e6), n)) + start_us
    users = rng.integers(0, n_users, n)
    emotions = rng.dirichlet(np.ones(len(EMOTION_COLUMNS)), n).astype(np.float32)
    intents = rng.dirichlet(np.ones(len(INTENT_COLUMNS)), n).astype(np.float32)
    pnn = rng.dirichlet(np.ones(3), n).astype(np.float32)
    columns: dict[str, pa.Array] = {
        "id": pa.array([f"p{i}" for i in range(n)]),
        "created_at": pa.array(times, type=pa.timestamp("us", tz="UTC")),
        "platform": pa.array(["test"] * n),
        "author_id": pa.array([f"u{u:03d}" for u in users]),
        "text": pa.array([f"post {i}" for i in range(n)]),
        "lang": pa.array(["en"] * n),
        "like_count": pa.array(np.zeros(n, np.int64)),
        "reply_count": pa.array(np.zeros(n, np.int64)),
        "repost_count": pa.array(np.zeros(n, np.int64)),
        "quote_count": pa.array(np.zeros(n, np.int64)),
        "annotations": pa.array([[] for _ in range(n)], type=pa.map_(pa.string(), pa.float64())),
        "sentiment_compound": pa.array(rng.uniform(-1, 1, n).astype(np.float32)),
        "sentiment_pos": pa.array(pnn[:, 0]),
        "sentiment_neu": pa.array(pnn[:, 1]),
        "sentiment_neg": pa.array(pnn[:, 2]),
    }
    for j, c in enumerate(EMOTION_COLUMNS):
        columns[c] = pa.array(emotions[:, j])
    for j, c in enumerate(INTENT_COLUMNS):
        columns[c] = pa.array(intents[:, j])
    columns["topic"] = pa.array([TOPICS[t] for t in rng.integers(0, len(TOPICS), n)])
    for name in ("brands", "hashtags", "mentions", "cashtags"):
        columns[name] = pa.array([[] for _ in range(n)], type=pa.list_(pa.string()))
    columns["entities"] = pa.array(
        [[] for _ in range(n)], type=ENRICHED_POST_SCHEMA.field("entities").type
    )
    columns["enricher_versions"] = pa.array(
        [[("test", "1")] for _ in range(n)], type=pa.map_(pa.string(), pa.string())
    )
    return pa.table([columns[f.name] for f in ENRICHED_POST_SCHEMA], schema=ENRICHED_POST_SCHEMA)
