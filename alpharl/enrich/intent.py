"""Rule-based intent: probabilities over `INTENTS` from keyword and regex rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from alpharl.enrich.base import Columns
from alpharl.enrich.text import KeywordMatcher, check_texts, rules_digest
from alpharl.schema import INTENT_COLUMNS, INTENTS

_CODE_VERSION = "1"

# fmt: off
DEFAULT_INTENT_RULES: dict[str, tuple[str, ...]] = {
    "purchase": (
        "buy", "buying", "purchase", "purchasing", "want to buy", "going to buy",
        "thinking of buying", "about to order", "ordering", "order now", "pre order",
        "preorder", "to my cart", "add to cart", "cart", "checkout", "where can i get",
        "where can i buy", "need one", "need a new", "take my money", "shopping for",
        "in stock", "sell", "promo code", "discount code", "coupon", "subscribe",
        "sign me up", "pick one up", "grab one",
    ),
    "complaint": (
        "worst", "terrible", "awful", "horrible", "refund", "broken", "never answers",
        "no response", "still hasn't", "still hasnt", "hasn't fixed", "got it wrong",
        "unacceptable", "disappointed", "disappointing", "scam", "ripoff", "rip off",
        "waste of money", "doesn't work", "not working", "stopped working", "overcharged",
        "charged twice", "complaint", "fix this", "fix it", "third time", "on hold",
        "rude", "useless", "cancelled my", "lost my", "never again", "customer service",
        "still waiting", "delayed", "ridiculous",
    ),
    "research": (
        "compare", "compared", "comparing", "comparison", "vs", "versus", "reviews",
        "review of", "which", "should i", "any advice", "advice on", "recommendations",
        "anyone tried", "has anyone", "anyone know", "looking for", "researching",
        "pros and cons", "worth it", "is it worth", "thoughts on", "how does", "how do",
        "better than", "options", "alternatives", "specs", "before deciding", "deciding",
        "difference between",
    ),
    "praise": (
        "shoutout", "shout out", "highly recommend", "recommend", "nailed it", "great job",
        "well done", "never disappoints", "thank you", "thanks", "great service",
        "amazing service", "kudos", "props to", "five stars", "5 stars", "impressed",
        "exceeded", "love my", "best ever", "hats off", "keep it up", "obsessed with",
        "10 10",
    ),
}
# fmt: on
"""The default rules: phrases matched on whole lower-cased words (see `KeywordMatcher`)."""


class RuleIntentEnricher:
    """Fills ``intent_purchase``, ``intent_complaint``, ``intent_research``,
    ``intent_praise``, ``intent_other``.

    Each rule hit adds ``hit_weight`` to its intent's logit; ``other`` has the constant
    logit ``other_logit`` and no rules. The probabilities are the softmax of the logits,
    so a text where nothing fires is ``other`` (0.65 with the defaults), one purchase hit
    gives purchase about 0.66 and other 0.24, and two hits for different intents split
    their mass.

    Args:
        rules: ``{intent: [phrase or "re:" + regex, ...]}`` replacing the defaults
            (`DEFAULT_INTENT_RULES`, which lists every default phrase). Phrases match whole
            lower-cased words, in order (``"thinking of buying"``); ``re:`` rules are Python
            regexes searched case-insensitively in the raw text. ``other`` takes no rules.
            ``None`` = the defaults.
        hit_weight: Logit added per rule hit (> 0).
        other_logit: Logit of ``other``.

    Raises:
        ValueError: On an unknown intent, a rule for ``other``, an empty or non-string
            rule, a regex that does not compile, or a non-positive ``hit_weight``.
    """

    name = "intent_rules"
    columns: tuple[str, ...] = INTENT_COLUMNS

    def __init__(
        self,
        rules: Mapping[str, Sequence[str]] | None = None,
        hit_weight: float = 3.0,
        other_logit: float = 2.0,
    ) -> None:
        rules = DEFAULT_INTENT_RULES if rules is None else rules
        if isinstance(rules, Mapping) and rules.get("other"):
            raise ValueError("rules.other: 'other' is what is left when no rule fires; no rules")
        if not (isinstance(hit_weight, int | float) and hit_weight > 0):
            raise ValueError(f"hit_weight: must be a positive number (got {hit_weight!r})")
        self.matcher = KeywordMatcher(rules, INTENTS, "rules")
        self.hit_weight = float(hit_weight)
        self.other_logit = float(other_logit)
        self._other = INTENTS.index("other")
        digest = rules_digest(rules, hit_weight, other_logit)
        self.version = f"{_CODE_VERSION}+{digest}"

    def __repr__(self) -> str:
        return f"RuleIntentEnricher({self.matcher.n_rules} rules, version={self.version!r})"

    def enrich(self, texts: Sequence[str]) -> Columns:
        """Intent probabilities for each text (float32 arrays, rows sum to 1)."""
        check_texts(texts)
        counts, _ = self.matcher.counts(texts)
        logits = counts * self.hit_weight
        logits[:, self._other] = self.other_logit
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        probs32 = probs.astype(np.float32)
        return {c: probs32[:, k].copy() for k, c in enumerate(INTENT_COLUMNS)}
