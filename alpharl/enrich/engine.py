"""Enrichment engines: where a pipeline's batches run.

An engine takes a `Pipeline` and a table of posts and returns the enriched table. The
engine decides where the work happens, never what it produces: every engine runs the
pipeline's own enrichers on the pipeline's own batches (``batch_size`` rows, counted from
the first post) and returns the same table, value for value and in the same order. That
is why the enriched-stream cache (`alpharl.enrich.cache`) is not keyed by the engine: an
entry written by one engine is a hit for the other.

- `LocalEngine` (the default, ``engine=local``): this process, or the pipeline's process
  pool when ``enrich.n_workers > 1``.
- `alpharl.enrich.ray_engine.RayEngine` (``engine=ray``): Ray Data actors over Parquet
  shards, on a local Ray or a cluster.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pyarrow as pa

from alpharl.enrich.pipeline import Pipeline


@runtime_checkable
class EnrichEngine(Protocol):
    """Runs a pipeline over a table of posts.

    Attributes:
        name: Recorded in the cache manifest (``local``, ``ray``).
    """

    name: str

    def enrich_table(self, pipeline: Pipeline, posts: pa.Table, progress: bool = False) -> pa.Table:
        """``pipeline``'s enrichment of ``posts`` (`ENRICHED_POST_SCHEMA`, same row order)."""
        ...


class LocalEngine:
    """In this process (or the pipeline's own process pool, ``n_workers > 1``)."""

    name = "local"

    def __repr__(self) -> str:
        return "LocalEngine()"

    def enrich_table(self, pipeline: Pipeline, posts: pa.Table, progress: bool = False) -> pa.Table:
        """``pipeline.enrich_table(posts)``."""
        return pipeline.enrich_table(posts, progress=progress)


__all__ = ["EnrichEngine", "LocalEngine"]
