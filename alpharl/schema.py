"""Record types shared by every part of AlphaRL, and their Arrow schemas.

`Post` is what a stream yields; `EnrichedPost` is a post plus everything the enrichers
found in it. Both have one fixed Arrow schema, so a Parquet file written by one run reads
back identically in another. Enriched data travels between components as Arrow tables
with flat columns (``emotion_joy``, ``intent_purchase``, ...): batch code works on the
columns directly, and `EnrichedPost` objects are built only where one record is handled
at a time (serving, tests, debugging).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
"""The fixed emotion label set (Ekman's six plus neutral)."""

INTENTS: tuple[str, ...] = ("purchase", "complaint", "research", "praise", "other")
"""The fixed intent label set."""

TOPICS: tuple[str, ...] = (
    "tech",
    "food",
    "travel",
    "sports",
    "fashion",
    "finance",
    "entertainment",
    "health",
    "other",
)
"""The fixed topic label set; ``other`` when no topic rule fires."""

SENTIMENT_FIELDS: tuple[str, ...] = ("compound", "pos", "neu", "neg")

EMOTION_COLUMNS: tuple[str, ...] = tuple(f"emotion_{e}" for e in EMOTIONS)
INTENT_COLUMNS: tuple[str, ...] = tuple(f"intent_{i}" for i in INTENTS)
SENTIMENT_COLUMNS: tuple[str, ...] = tuple(f"sentiment_{s}" for s in SENTIMENT_FIELDS)

MAX_TEXT_CHARS = 10_000
"""Longest post text accepted; longer records are dead-lettered as oversized."""

_TS = pa.timestamp("us", tz="UTC")
_ENTITY = pa.struct([("text", pa.string()), ("label", pa.string())])

POST_FIELDS: list[pa.Field] = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("created_at", _TS, nullable=False),
    pa.field("platform", pa.string(), nullable=False),
    pa.field("author_id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("lang", pa.string()),
    pa.field("like_count", pa.int64(), nullable=False),
    pa.field("reply_count", pa.int64(), nullable=False),
    pa.field("repost_count", pa.int64(), nullable=False),
    pa.field("quote_count", pa.int64(), nullable=False),
    pa.field("annotations", pa.map_(pa.string(), pa.float64()), nullable=False),
]
POST_SCHEMA = pa.schema(POST_FIELDS)

ENRICHMENT_FIELDS: list[pa.Field] = [
    *(pa.field(c, pa.float32(), nullable=False) for c in SENTIMENT_COLUMNS),
    *(pa.field(c, pa.float32(), nullable=False) for c in EMOTION_COLUMNS),
    *(pa.field(c, pa.float32(), nullable=False) for c in INTENT_COLUMNS),
    pa.field("topic", pa.string(), nullable=False),
    pa.field("entities", pa.list_(_ENTITY), nullable=False),
    pa.field("brands", pa.list_(pa.string()), nullable=False),
    pa.field("hashtags", pa.list_(pa.string()), nullable=False),
    pa.field("mentions", pa.list_(pa.string()), nullable=False),
    pa.field("cashtags", pa.list_(pa.string()), nullable=False),
    pa.field("enricher_versions", pa.map_(pa.string(), pa.string()), nullable=False),
]
ENRICHED_POST_SCHEMA = pa.schema(POST_FIELDS + ENRICHMENT_FIELDS)


class RecordError(ValueError):
    """A record that does not satisfy its schema; the message names the field and value."""

    def __init__(self, field_name: str, value: Any, reason: str) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{field_name}: {reason} (got {shown})")
        self.field_name = field_name
        self.reason = reason


def to_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; naive datetimes are taken to be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Post:
    """One social post, as a stream yields it.

    Args:
        id: Platform id of the post, unique within the platform.
        created_at: When it was posted (aware, UTC).
        platform: ``x``, ``replay``, ``synthetic``, ...
        author_id: Who posted it; profiles are keyed by it.
        text: The post's text (at most `MAX_TEXT_CHARS` characters).
        lang: BCP-47 language tag when known.
        like_count, reply_count, repost_count, quote_count: Engagement counts.
        annotations: Numeric side information carried with the post but not used by the
            enrichers, e.g. ``human_sentiment`` (the shipped tweets' mean human rating) or
            ``true_emotion_joy`` (the synthetic generator's latent truth).
    """

    id: str
    created_at: datetime
    platform: str
    author_id: str
    text: str
    lang: str | None = "en"
    like_count: int = 0
    reply_count: int = 0
    repost_count: int = 0
    quote_count: int = 0
    annotations: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("id", "platform", "author_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise RecordError(name, value, "must be a non-empty string")
        if not isinstance(self.text, str):
            raise RecordError("text", self.text, "must be a string")
        if not self.text.strip():
            raise RecordError("text", self.text, "is empty")
        if len(self.text) > MAX_TEXT_CHARS:
            raise RecordError("text", self.text, f"is longer than {MAX_TEXT_CHARS} characters")
        if not isinstance(self.created_at, datetime):
            raise RecordError("created_at", self.created_at, "must be a datetime")
        object.__setattr__(self, "created_at", to_utc(self.created_at))
        for name in ("like_count", "reply_count", "repost_count", "quote_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RecordError(name, value, "must be a non-negative integer")
        for key, value in self.annotations.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise RecordError(f"annotations.{key}", value, "must be a number")
            if not math.isfinite(value):
                raise RecordError(f"annotations.{key}", value, "must be finite")

    def to_row(self) -> dict[str, Any]:
        """The post as a row of `POST_SCHEMA`."""
        return {
            "id": self.id,
            "created_at": self.created_at,
            "platform": self.platform,
            "author_id": self.author_id,
            "text": self.text,
            "lang": self.lang,
            "like_count": self.like_count,
            "reply_count": self.reply_count,
            "repost_count": self.repost_count,
            "quote_count": self.quote_count,
            "annotations": list(self.annotations.items()),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Post:
        """Build a post from a row of `POST_SCHEMA` (as `pyarrow.Table.to_pylist` gives)."""
        return cls(
            id=row["id"],
            created_at=row["created_at"],
            platform=row["platform"],
            author_id=row["author_id"],
            text=row["text"],
            lang=row["lang"],
            like_count=row["like_count"],
            reply_count=row["reply_count"],
            repost_count=row["repost_count"],
            quote_count=row["quote_count"],
            annotations=dict(row["annotations"] or ()),
        )


@dataclass(frozen=True, slots=True)
class Sentiment:
    """VADER's scores: compound in [-1, 1], and pos/neu/neg proportions summing to ~1."""

    compound: float
    pos: float
    neu: float
    neg: float


@dataclass(frozen=True, slots=True)
class Entity:
    """A named entity span's text and label (``ORG``, ``BRAND``, ``PRODUCT``, ...)."""

    text: str
    label: str


def _probabilities(name: str, labels: Sequence[str], probs: Mapping[str, float]) -> None:
    if tuple(probs) != tuple(labels):
        raise RecordError(name, sorted(probs), f"must have exactly the labels {list(labels)}")
    for label, p in probs.items():
        if not 0.0 <= p <= 1.0 + 1e-6:
            raise RecordError(f"{name}.{label}", p, "must be a probability in [0, 1]")


@dataclass(frozen=True, slots=True)
class EnrichedPost:
    """A post plus its enrichment.

    Args:
        post: The original post.
        sentiment: VADER sentiment.
        emotions: Probability of each label in `EMOTIONS`, in that order.
        intents: Probability of each label in `INTENTS`, in that order.
        topic: One of `TOPICS`.
        entities: Named-entity spans.
        brands: Brand or product names mentioned (normalised to their canonical name).
        hashtags, mentions, cashtags: Without their leading ``#``, ``@``, ``$``.
        enricher_versions: ``{enricher name: version}`` of every enricher that ran.
    """

    post: Post
    sentiment: Sentiment
    emotions: Mapping[str, float]
    intents: Mapping[str, float]
    topic: str
    entities: tuple[Entity, ...] = ()
    brands: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    cashtags: tuple[str, ...] = ()
    enricher_versions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _probabilities("emotions", EMOTIONS, self.emotions)
        _probabilities("intents", INTENTS, self.intents)
        if self.topic not in TOPICS:
            raise RecordError("topic", self.topic, f"must be one of {list(TOPICS)}")

    def to_row(self) -> dict[str, Any]:
        """The enriched post as a row of `ENRICHED_POST_SCHEMA`."""
        row = self.post.to_row()
        s = self.sentiment
        row.update(
            sentiment_compound=s.compound,
            sentiment_pos=s.pos,
            sentiment_neu=s.neu,
            sentiment_neg=s.neg,
        )
        row.update({f"emotion_{k}": v for k, v in self.emotions.items()})
        row.update({f"intent_{k}": v for k, v in self.intents.items()})
        row.update(
            topic=self.topic,
            entities=[{"text": e.text, "label": e.label} for e in self.entities],
            brands=list(self.brands),
            hashtags=list(self.hashtags),
            mentions=list(self.mentions),
            cashtags=list(self.cashtags),
            enricher_versions=list(self.enricher_versions.items()),
        )
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EnrichedPost:
        """Build an enriched post from a row of `ENRICHED_POST_SCHEMA`."""
        return cls(
            post=Post.from_row(row),
            sentiment=Sentiment(*(row[c] for c in SENTIMENT_COLUMNS)),
            emotions={e: row[c] for e, c in zip(EMOTIONS, EMOTION_COLUMNS, strict=True)},
            intents={i: row[c] for i, c in zip(INTENTS, INTENT_COLUMNS, strict=True)},
            topic=row["topic"],
            entities=tuple(Entity(e["text"], e["label"]) for e in row["entities"]),
            brands=tuple(row["brands"]),
            hashtags=tuple(row["hashtags"]),
            mentions=tuple(row["mentions"]),
            cashtags=tuple(row["cashtags"]),
            enricher_versions=dict(row["enricher_versions"]),
        )


def posts_to_table(posts: Iterable[Post]) -> pa.Table:
    """Posts as an Arrow table of `POST_SCHEMA`."""
    return pa.Table.from_pylist([p.to_row() for p in posts], schema=POST_SCHEMA)


def table_to_posts(table: pa.Table) -> list[Post]:
    """The inverse of `posts_to_table`."""
    return [Post.from_row(r) for r in table.select(POST_SCHEMA.names).to_pylist()]


def enriched_to_table(posts: Iterable[EnrichedPost]) -> pa.Table:
    """Enriched posts as an Arrow table of `ENRICHED_POST_SCHEMA`."""
    return pa.Table.from_pylist([p.to_row() for p in posts], schema=ENRICHED_POST_SCHEMA)


def table_to_enriched(table: pa.Table) -> list[EnrichedPost]:
    """The inverse of `enriched_to_table`."""
    return [EnrichedPost.from_row(r) for r in table.to_pylist()]


@dataclass(frozen=True, slots=True)
class Creative:
    """One ad creative in a campaign's catalog.

    Args:
        id: Stable identifier; action ``i`` of the environment is ``catalog[i]``.
        headline: The ad's text.
        tone: ``playful``, ``calm``, ``urgent``, ``empathetic``, ...
        emotion_target: The emotion (one of `EMOTIONS`) the creative is written for.
        category: The product category (one of `TOPICS`).
        cost_per_impression: What one impression costs the campaign budget.
    """

    id: str
    headline: str
    tone: str
    emotion_target: str
    category: str
    cost_per_impression: float

    def __post_init__(self) -> None:
        if not self.id:
            raise RecordError("id", self.id, "must be a non-empty string")
        if self.emotion_target not in EMOTIONS:
            raise RecordError(
                "emotion_target", self.emotion_target, f"must be one of {list(EMOTIONS)}"
            )
        if self.category not in TOPICS:
            raise RecordError("category", self.category, f"must be one of {list(TOPICS)}")
        if not (math.isfinite(self.cost_per_impression) and self.cost_per_impression >= 0):
            raise RecordError(
                "cost_per_impression", self.cost_per_impression, "must be finite and >= 0"
            )
