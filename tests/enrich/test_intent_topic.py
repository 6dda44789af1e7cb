"""Rule intents and topics: each label on a sentence, configurable rules, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from alpharl.enrich.intent import DEFAULT_INTENT_RULES, RuleIntentEnricher
from alpharl.enrich.topic import RuleTopicEnricher
from alpharl.schema import INTENT_COLUMNS, INTENTS, TOPICS
from alpharl.streams import SyntheticStream


def top_intents(enricher: RuleIntentEnricher, texts: list[str]) -> list[str]:
    out = enricher.enrich(texts)
    probs = np.stack([out[c] for c in INTENT_COLUMNS], axis=1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert probs.dtype == np.float32
    return [INTENTS[k] for k in probs.argmax(axis=1)]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Thinking of buying the new headphones this week", "purchase"),
        ("Where can I get a decent blender?", "purchase"),
        ("Worst service ever, I want a refund", "complaint"),
        ("My order still hasn't arrived and customer service never answers", "complaint"),
        ("Anyone compared the two laptops? Looking for reviews", "research"),
        ("Pros and cons of index funds vs savings accounts?", "research"),
        ("Shoutout to the crew, they nailed it. Highly recommend!", "praise"),
        ("Thank you for the great service", "praise"),
        ("Went for a walk with my dog", "other"),
        ("", "other"),
    ],
)
def test_each_intent_on_a_sentence(text: str, intent: str) -> None:
    assert top_intents(RuleIntentEnricher(), [text]) == [intent]


def test_nothing_firing_is_other_and_one_hit_beats_it() -> None:
    out = RuleIntentEnricher().enrich(["hello there", "time to buy"])
    assert out["intent_other"][0] == pytest.approx(np.exp(2) / (np.exp(2) + 4), rel=1e-5)
    assert out["intent_purchase"][1] > out["intent_other"][1] > out["intent_praise"][1]


def test_phrases_match_whole_words_and_regex_rules_work() -> None:
    enricher = RuleIntentEnricher(
        rules={"purchase": ["buy"], "research": [r"re:\bwhich (one|model)\b"]}
    )
    assert top_intents(enricher, ["buyer's remorse", "BUY it", "which model is best"]) == [
        "other",
        "purchase",
        "research",
    ]


def test_custom_rules_change_the_version() -> None:
    default = RuleIntentEnricher()
    assert RuleIntentEnricher(rules=DEFAULT_INTENT_RULES).version == default.version
    assert RuleIntentEnricher(rules={"purchase": ["buy"]}).version != default.version


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rules": {"shopping": ["buy"]}}, "unknown label 'shopping'"),
        ({"rules": {"purchase": "buy"}}, r"rules\.purchase: must be a list"),
        ({"rules": {"purchase": ["buy", ""]}}, r"rules\.purchase\[1\]"),
        ({"rules": {"purchase": ["re:(unclosed"]}}, r"rules\.purchase\[0\]: bad regular"),
        ({"rules": {"purchase": ["!!!"]}}, "has no words"),
        ({"rules": {"other": ["meh"]}}, r"rules\.other"),
        ({"rules": ["buy"]}, "must be a mapping"),
        ({"hit_weight": 0}, "hit_weight"),
    ],
)
def test_bad_intent_rules_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RuleIntentEnricher(**kwargs)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("My new phone keeps dropping the wifi", "tech"),
        ("Best pizza and coffee in town", "food"),
        ("Flight delayed again, stuck at the airport", "travel"),
        ("What a match, my team won the playoffs", "sports"),
        ("Loving this outfit #ootd", "fashion"),
        ("The stock market ate my savings", "finance"),
        ("Just finished the series finale, what a show", "entertainment"),
        ("Morning yoga then a protein shake #fitness", "health"),
        ("Playing the new video game all night", "entertainment"),
        ("Nice weather for a walk", "other"),
        ("", "other"),
    ],
)
def test_each_topic_on_a_sentence(text: str, topic: str) -> None:
    assert RuleTopicEnricher().enrich([text]) == {"topic": [topic]}


def test_topic_ties_go_to_the_first_keyword_and_counts_win() -> None:
    enricher = RuleTopicEnricher()
    assert enricher.enrich(["pizza at the airport", "airport pizza, more pizza"])["topic"] == [
        "food",
        "food",
    ]
    assert enricher.enrich(["the airport, then pizza"])["topic"] == ["travel"]


def test_topic_keywords_are_configurable_and_checked() -> None:
    enricher = RuleTopicEnricher(keywords={"finance": ["Moolah"]})
    assert enricher.enrich(["all about the moolah", "my phone"])["topic"] == ["finance", "other"]
    assert enricher.version != RuleTopicEnricher().version
    with pytest.raises(ValueError, match="unknown label 'cooking'"):
        RuleTopicEnricher(keywords={"cooking": ["pan"]})
    with pytest.raises(ValueError, match=r"keywords\.other"):
        RuleTopicEnricher(keywords={"other": ["stuff"]})
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        enricher.enrich([b"bytes"])  # type: ignore[list-item]


def test_rules_recover_the_synthetic_truth() -> None:
    posts = list(SyntheticStream(n_posts=1500, seed=7))
    texts = [p.text for p in posts]
    intents = top_intents(RuleIntentEnricher(), texts)
    topics = RuleTopicEnricher().enrich(texts)["topic"]
    true_i = [INTENTS[int(p.annotations["true_intent"])] for p in posts]
    true_t = [TOPICS[int(p.annotations["true_topic"])] for p in posts]
    assert np.mean([a == b for a, b in zip(intents, true_i, strict=True)]) > 0.9
    assert np.mean([a == b for a, b in zip(topics, true_t, strict=True)]) > 0.9
