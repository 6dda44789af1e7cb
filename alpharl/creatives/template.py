"""Creative generators: write K creative variants per emotion target.

`CreativeGenerator` is the interface (``generate(emotion_targets, k, category)``); the
template generator is the default and needs nothing outside the process. An LLM-backed
generator (OpenAI) implements the same method later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from alpharl.schema import EMOTIONS, TOPICS, Creative

HEADLINE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "joy": (
        "Make a good day better: {item} you'll love.",
        "Celebrate with {item} - treat yourself today!",
        "Smiles guaranteed: discover {item}.",
        "Share the good vibes with {item}.",
    ),
    "surprise": (
        "Didn't see that coming? {Item}, reinvented.",
        "Plot twist: {item} at a price you won't believe.",
        "Guess what's new? {Item} just dropped.",
        "Something unexpected is waiting: {item}.",
    ),
    "sadness": (
        "Rough day? {Item} to lift you up a little.",
        "You deserve something kind: {item}.",
        "Take a moment for yourself with {item}.",
        "Here for you when it's hard: {item}.",
    ),
    "anger": (
        "Fed up? {Item} that simply works.",
        "No hassle, no hidden fees: {item}.",
        "Had enough of the runaround? Try {item}.",
        "Fair and straightforward: {item}.",
    ),
    "fear": (
        "Worry less: {item} with full support.",
        "Safe, simple, guaranteed: {item}.",
        "Peace of mind comes with {item}.",
        "Cancel anytime, no risk: {item}.",
    ),
    "disgust": (
        "No junk, just honest {item}.",
        "Clean and transparent: {item}.",
        "Nothing to hide: {item} you can trust.",
        "Only the good stuff: {item}.",
    ),
    "neutral": (
        "{Item}, delivered fast.",
        "Compare options for {item} in minutes.",
        "Everything you need to know about {item}.",
        "{Item}: simple, reliable, affordable.",
    ),
}
"""Headline templates per emotion target; ``{item}``/``{Item}`` name the category's item."""

EMOTION_TONES: dict[str, str] = {
    "joy": "playful",
    "surprise": "playful",
    "sadness": "empathetic",
    "anger": "calm",
    "fear": "reassuring",
    "disgust": "calm",
    "neutral": "informative",
}
"""The tone each emotion target is written in."""

CATEGORY_ITEMS: dict[str, str] = {
    "tech": "the latest gadgets",
    "food": "fresh meals",
    "travel": "your next getaway",
    "sports": "gear for game day",
    "fashion": "new-season styles",
    "finance": "smarter banking",
    "entertainment": "tonight's best shows",
    "health": "everyday wellness",
    "other": "our best picks",
}
"""What a headline offers, per category."""


@runtime_checkable
class CreativeGenerator(Protocol):
    """Writes creatives for a campaign."""

    def generate(self, emotion_targets: Sequence[str], k: int, category: str) -> list[Creative]:
        """``k`` creatives per emotion target, for products of ``category``."""
        ...


class TemplateCreativeGenerator:
    """Fills headline templates: variant ``j`` of an emotion uses its ``j``-th template.

    Ids are ``<category>-<emotion>-<j>``; costs are ``cost_per_impression`` unless
    ``emotion_costs`` gives one for that emotion. Deterministic: no randomness.

    Args:
        cost_per_impression: Cost of every creative's impression.
        emotion_costs: Optional per-emotion-target costs.
        templates: Headline templates per emotion (default `HEADLINE_TEMPLATES`).
        tones: Tone per emotion (default `EMOTION_TONES`).
    """

    def __init__(
        self,
        cost_per_impression: float = 0.02,
        emotion_costs: Mapping[str, float] | None = None,
        templates: Mapping[str, Sequence[str]] | None = None,
        tones: Mapping[str, str] | None = None,
    ) -> None:
        if not (
            isinstance(cost_per_impression, int | float) and math.isfinite(cost_per_impression)
        ):
            raise ValueError(
                f"cost_per_impression: must be a finite number (got {cost_per_impression!r})"
            )
        if cost_per_impression < 0:
            raise ValueError(f"cost_per_impression: must be >= 0 (got {cost_per_impression!r})")
        self.cost_per_impression = float(cost_per_impression)
        self.emotion_costs = dict(emotion_costs or {})
        for emotion in self.emotion_costs:
            if emotion not in EMOTIONS:
                raise ValueError(
                    f"emotion_costs: unknown emotion {emotion!r}; allowed: {list(EMOTIONS)}"
                )
        self.templates = {e: tuple(t) for e, t in (templates or HEADLINE_TEMPLATES).items()}
        self.tones = dict(tones or EMOTION_TONES)

    def generate(self, emotion_targets: Sequence[str], k: int, category: str) -> list[Creative]:
        """``k`` creatives per emotion target, for products of ``category``.

        Args:
            emotion_targets: Emotions (from `EMOTIONS`), each once.
            k: Variants per emotion (at most the number of templates for it).
            category: Product category (one of `TOPICS`).
        """
        if isinstance(emotion_targets, str) or not emotion_targets:
            raise ValueError(f"emotion_targets: must be a non-empty list (got {emotion_targets!r})")
        if len(set(emotion_targets)) != len(emotion_targets):
            raise ValueError(f"emotion_targets: must not repeat (got {list(emotion_targets)})")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k: must be a positive integer (got {k!r})")
        if category not in TOPICS:
            raise ValueError(f"category: must be one of {list(TOPICS)} (got {category!r})")
        item = CATEGORY_ITEMS.get(category, CATEGORY_ITEMS["other"])
        out = []
        for emotion in emotion_targets:
            if emotion not in EMOTIONS:
                raise ValueError(
                    f"emotion_targets: unknown emotion {emotion!r}; allowed: {list(EMOTIONS)}"
                )
            templates = self.templates.get(emotion, ())
            if k > len(templates):
                raise ValueError(
                    f"k: {k} variants asked for {emotion!r}, but only {len(templates)} "
                    "templates exist"
                )
            for j in range(k):
                headline = templates[j].format(item=item, Item=item[:1].upper() + item[1:])
                out.append(
                    Creative(
                        id=f"{category}-{emotion}-{j}",
                        headline=headline,
                        tone=self.tones.get(emotion, "neutral"),
                        emotion_target=emotion,
                        category=category,
                        cost_per_impression=float(
                            self.emotion_costs.get(emotion, self.cost_per_impression)
                        ),
                    )
                )
        return out
