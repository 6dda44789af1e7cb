"""Enrichment: sentiment, emotions, entities, intent and topics for batches of posts.

Every enricher follows the `Enricher` protocol (`alpharl.enrich.base`). The enrichers are
imported lazily (``from alpharl.enrich import VaderEnricher`` loads only VADER), so that
importing the package does not pull in spaCy or transformers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from alpharl.enrich.base import Columns, Enricher

if TYPE_CHECKING:
    from alpharl.enrich.emotion_lexicon import LexiconEmotionEnricher
    from alpharl.enrich.emotion_model import NgramEmotionEnricher
    from alpharl.enrich.emotion_transformers import TransformersEmotionEnricher
    from alpharl.enrich.entities import EntityEnricher
    from alpharl.enrich.intent import RuleIntentEnricher
    from alpharl.enrich.topic import RuleTopicEnricher
    from alpharl.enrich.vader import VaderEnricher

_LAZY = {
    "VaderEnricher": "alpharl.enrich.vader",
    "LexiconEmotionEnricher": "alpharl.enrich.emotion_lexicon",
    "NgramEmotionEnricher": "alpharl.enrich.emotion_model",
    "TransformersEmotionEnricher": "alpharl.enrich.emotion_transformers",
    "EntityEnricher": "alpharl.enrich.entities",
    "RuleIntentEnricher": "alpharl.enrich.intent",
    "RuleTopicEnricher": "alpharl.enrich.topic",
}

__all__ = [
    "Columns",
    "Enricher",
    "EntityEnricher",
    "LexiconEmotionEnricher",
    "NgramEmotionEnricher",
    "RuleIntentEnricher",
    "RuleTopicEnricher",
    "TransformersEmotionEnricher",
    "VaderEnricher",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'alpharl.enrich' has no attribute {name!r}")
    return getattr(import_module(module), name)
