"""`alpharl enrich`: enrich a stream (through the cache) and summarise what was found."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hydra.utils import instantiate
from omegaconf import DictConfig

from alpharl.config import check_targets
from alpharl.schema import EMOTION_COLUMNS, EMOTIONS, INTENT_COLUMNS, INTENTS
from alpharl.tasks.data import enriched_stream

if TYPE_CHECKING:
    from alpharl.enrich.streaming import LoopStats

log = logging.getLogger(__name__)


@dataclass
class EnrichSummary:
    """What `enrich` found in a stream."""

    n_posts: int
    n_users: int
    dead_letters: int
    cache_hit: bool
    cache_path: str
    enricher_versions: dict[str, str]
    mean_sentiment: float
    emotion_mean: dict[str, float]
    emotion_top_share: dict[str, float]
    intent_mean: dict[str, float]
    topic_share: dict[str, float]
    top_brands: list[tuple[str, int]] = field(default_factory=list)
    top_entities: list[tuple[str, int]] = field(default_factory=list)
    top_hashtags: list[tuple[str, int]] = field(default_factory=list)
    human_sentiment_r: float | None = None

    def render(self) -> str:
        """The summary as the text block the CLI prints."""
        lines = [
            f"posts enriched      {self.n_posts:,} from {self.n_users:,} users",
            f"dead letters        {self.dead_letters:,}",
            f"cache               {'hit' if self.cache_hit else 'miss'}: {self.cache_path}",
            "enrichers           "
            + ", ".join(f"{k}@{v}" for k, v in self.enricher_versions.items()),
            f"mean sentiment      {self.mean_sentiment:+.3f} (VADER compound)",
        ]
        if "emotion_model" in self.enricher_versions:
            from alpharl.enrich.emotion_model import describe_version

            version = self.enricher_versions["emotion_model"]
            lines.insert(4, f"emotion model       {describe_version(version)}")
        if self.human_sentiment_r is not None:
            lines.append(
                f"vs human ratings    r = {self.human_sentiment_r:.3f} (Pearson, VADER compound)"
            )
        lines.append("emotions            mean prob   top-emotion share")
        for e in EMOTIONS:
            lines.append(
                f"  {e:<17} {self.emotion_mean[e]:>9.3f}   {self.emotion_top_share[e]:>8.1%}"
            )
        lines.append("intents             " + _shares(self.intent_mean))
        lines.append("topics              " + _shares(self.topic_share))
        for title, items in (
            ("top brands", self.top_brands),
            ("top entities", self.top_entities),
            ("top hashtags", self.top_hashtags),
        ):
            shown = ", ".join(f"{name} ({n})" for name, n in items) or "none"
            lines.append(f"{title:<20}{shown}")
        return "\n".join(lines)


def _shares(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1%}" for k, v in sorted(values.items(), key=lambda kv: -kv[1]))


def _top(column: pa.ChunkedArray, k: int) -> list[tuple[str, int]]:
    flat = pc.list_flatten(column)
    if len(flat) == 0:
        return []
    counts = Counter(flat.to_pylist())
    return counts.most_common(k)


def summarize(
    table: pa.Table, *, dead_letters: int, cache_hit: bool, cache_path: str, top_k: int = 10
) -> EnrichSummary:
    """Summarise an enriched table (`ENRICHED_POST_SCHEMA`)."""
    n = table.num_rows
    emotions = np.column_stack([table[c].to_numpy() for c in EMOTION_COLUMNS]) if n else None
    intents = np.column_stack([table[c].to_numpy() for c in INTENT_COLUMNS]) if n else None
    compound = table["sentiment_compound"].to_numpy() if n else np.zeros(0)
    top_share = (
        np.bincount(emotions.argmax(axis=1), minlength=len(EMOTIONS)) / n
        if emotions is not None
        else None
    )
    topics = Counter(table["topic"].to_pylist())
    human_r = None
    annotations = (
        pc.map_lookup(table["annotations"], pa.scalar("human_sentiment"), "first") if n else None
    )
    if annotations is not None:
        human = annotations.to_numpy(zero_copy_only=False)
        ok = ~np.isnan(human.astype(float))
        if ok.sum() > 2:
            human_r = float(np.corrcoef(compound[ok], human[ok].astype(float))[0, 1])
    entities = pc.struct_field(pc.list_flatten(table["entities"]), "text") if n else None
    versions = dict(table["enricher_versions"][0].as_py()) if n else {}
    return EnrichSummary(
        n_posts=n,
        n_users=len(pc.unique(table["author_id"])) if n else 0,
        dead_letters=dead_letters,
        cache_hit=cache_hit,
        cache_path=cache_path,
        enricher_versions=versions,
        mean_sentiment=float(compound.mean()) if n else 0.0,
        emotion_mean={
            e: float(emotions[:, i].mean()) if emotions is not None else 0.0
            for i, e in enumerate(EMOTIONS)
        },
        emotion_top_share={
            e: float(top_share[i]) if top_share is not None else 0.0 for i, e in enumerate(EMOTIONS)
        },
        intent_mean={
            it: float(intents[:, i].mean()) if intents is not None else 0.0
            for i, it in enumerate(INTENTS)
        },
        topic_share={t: c / n for t, c in topics.items()} if n else {},
        top_brands=_top(table["brands"], top_k) if n else [],
        top_entities=Counter(entities.to_pylist()).most_common(top_k) if entities else [],
        top_hashtags=_top(table["hashtags"], top_k) if n else [],
        human_sentiment_r=human_r,
    )


def enrich(cfg: DictConfig) -> tuple[EnrichSummary, pa.Table]:
    """Enrich ``cfg.stream`` with ``cfg.enrich`` through the enriched-stream cache.

    Returns:
        The summary and the enriched table.
    """
    check_targets(cfg)
    result = enriched_stream(cfg)
    summary = summarize(
        result.table,
        dead_letters=int(result.manifest.get("dead_letters", 0)),
        cache_hit=result.hit,
        cache_path=str(result.path),
        top_k=int(cfg.top_k),
    )
    return summary, result.table


def enrich_to_sink_task(cfg: DictConfig) -> LoopStats:
    """Run ``cfg.stream`` through ``cfg.enrich`` into ``cfg.sink``, batch by batch.

    A committing stream (Kafka) has each batch committed only after the sink confirmed its
    enriched records, so a crash loses nothing (`alpharl.enrich.streaming.enrich_to_sink`).
    The cache is not used: a live stream is enriched as it arrives.
    """
    from alpharl.enrich.streaming import enrich_to_sink

    check_targets(cfg)
    source = instantiate(cfg.stream, _convert_="all")
    pipeline = instantiate(cfg.enrich, _convert_="all")
    sink = instantiate(cfg.sink, _convert_="all")
    try:
        return enrich_to_sink(
            source,
            pipeline,
            sink,
            batch_size=int(cfg.stream_batch_size),
            max_batches=cfg.max_batches,
        )
    finally:
        close = getattr(pipeline, "close", None)
        if close is not None:
            close()


def main(cfg: DictConfig) -> Any:
    """Hydra entry point: enrich and print the summary (or run the loop into ``cfg.sink``)."""
    if cfg.get("sink") is not None:
        stats = enrich_to_sink_task(cfg)
        print(stats.render())
        return stats
    summary, _ = enrich(cfg)
    print(summary.render())
    return summary
