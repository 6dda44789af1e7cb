"""The enriched post streams the environments replay: given, from Parquet, or built.

`load_posts` accepts what `AdDeliveryEnv` accepts for ``posts``: an enriched Arrow table,
a Parquet path, or None for the default synthetic stream. Built streams go through the
enriched-stream cache (`alpharl.enrich.cache.cached_enrich`), so only the first build
enriches; later builds read the cached Parquet file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alpharl.schema import EMOTION_COLUMNS, INTENT_COLUMNS, SENTIMENT_COLUMNS

REQUIRED_COLUMNS: tuple[str, ...] = (
    "created_at",
    "author_id",
    "topic",
    *SENTIMENT_COLUMNS,
    *EMOTION_COLUMNS,
    *INTENT_COLUMNS,
)
"""The columns of `alpharl.schema.ENRICHED_POST_SCHEMA` the environments read."""

DEFAULT_SYNTHETIC: dict[str, Any] = {"n_users": 200, "n_posts": 5000, "days": 7.0, "seed": 0}
"""The default synthetic stream (`alpharl.streams.synthetic.SyntheticStream` arguments)."""


def default_cache_dir() -> Path:
    """``$ALPHARL_CACHE_DIR`` if set, else ``runs/cache`` (the ``paths`` config default)."""
    return Path(os.environ.get("ALPHARL_CACHE_DIR", "runs/cache"))


def _enrich(source: Any, cache_dir: str | Path | None) -> pa.Table:
    from alpharl.enrich.cache import cached_enrich
    from alpharl.enrich.pipeline import default_pipeline

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cached_enrich(source, default_pipeline(), cache).table


def synthetic_posts(cache_dir: str | Path | None = None, **stream_kwargs: Any) -> pa.Table:
    """The synthetic stream, enriched by the default pipeline (cached).

    Args:
        cache_dir: Cache folder (default `default_cache_dir`).
        **stream_kwargs: `SyntheticStream` arguments overriding `DEFAULT_SYNTHETIC`.
    """
    from alpharl.streams.synthetic import SyntheticStream

    return _enrich(SyntheticStream(**{**DEFAULT_SYNTHETIC, **stream_kwargs}), cache_dir)


def tweets_posts(cache_dir: str | Path | None = None) -> pa.Table:
    """The shipped tweets (Hutto & Gilbert 2014), enriched by the default pipeline (cached).

    ``gymnasium.make("alpharl/AdDelivery-v0", posts=tweets_posts())`` replays them.
    """
    from alpharl.streams.tweets import shipped_tweets

    return _enrich(shipped_tweets(), cache_dir)


def check_posts(table: pa.Table) -> pa.Table:
    """Check an enriched table and return it in event-time order (stable sort if needed)."""
    if not isinstance(table, pa.Table):
        raise TypeError(f"posts: must be a pyarrow.Table (got {type(table).__name__})")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"posts: missing enriched columns {missing}")
    if table.num_rows == 0:
        raise ValueError("posts: the table has no rows")
    if not pa.types.is_timestamp(table.column("created_at").type):
        raise ValueError(f"posts.created_at: must be a timestamp (got {table['created_at'].type})")
    for name in ("created_at", "author_id", "topic", *REQUIRED_COLUMNS[3:]):
        nulls = table.column(name).null_count
        if nulls:
            raise ValueError(f"posts.{name}: has {nulls} null values")
    times = table.column("created_at").cast(pa.int64()).to_numpy()
    if np.any(np.diff(times) < 0):
        table = table.take(pc.sort_indices(table, [("created_at", "ascending")]))
    return table


def load_posts(
    posts: pa.Table | str | Path | None,
    cache_dir: str | Path | None = None,
    synthetic: dict[str, Any] | None = None,
    columns: Sequence[str] | None = REQUIRED_COLUMNS,
) -> pa.Table:
    """The enriched table an environment replays.

    Args:
        posts: An enriched Arrow table, a Parquet path, or None (synthetic stream).
        cache_dir: Cache folder for the synthetic stream.
        synthetic: `SyntheticStream` arguments for the None case.
        columns: The columns read from a Parquet file (default `REQUIRED_COLUMNS`, all an
            environment reads: several times faster than the whole file, whose text and
            entity columns are the bulk of it); None reads every column. A table given
            or built is returned with all its columns.
    """
    if posts is None:
        table = synthetic_posts(cache_dir, **(synthetic or {}))
    elif isinstance(posts, str | Path):
        path = Path(posts)
        if not path.is_file():
            raise FileNotFoundError(f"posts: no Parquet file at {path}")
        if columns is None:
            table = pq.read_table(path)
        else:  # the ones present: check_posts names any that are missing
            present = set(pq.read_schema(path).names)
            table = pq.read_table(path, columns=[c for c in columns if c in present])
    else:
        table = posts
    return check_posts(table)
