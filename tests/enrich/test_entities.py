"""Entities: brand patterns (built-in and configured), tags, a loaded pipeline, errors."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import spacy

from alpharl.enrich.entities import DEFAULT_BRANDS, TAG_RE, EntityEnricher, extract_tags
from alpharl.enrich.text import words
from alpharl.streams import SyntheticStream, shipped_tweets


@pytest.fixture(scope="module")
def entities() -> EntityEnricher:
    return EntityEnricher()


def test_built_in_brands_are_found_case_insensitively_and_canonicalised(
    entities: EntityEnricher,
) -> None:
    out = entities.enrich(
        [
            "my NIKE air max and a Starbucks latte",
            "Coca-Cola or pepsi? McDonald's fries",
            "an apple a day",  # the fruit: a documented false positive of the built-in list
            "nothing here",
        ]
    )
    assert out["brands"] == [
        ["Nike", "Starbucks"],
        ["Coca-Cola", "Pepsi", "McDonald's"],
        ["Apple"],
        [],
    ]
    assert out["entities"][0] == [
        {"text": "NIKE", "label": "BRAND"},
        {"text": "air max", "label": "BRAND"},
        {"text": "Starbucks", "label": "BRAND"},
    ]
    assert out["entities"][3] == []
    assert len(DEFAULT_BRANDS) >= 50


def test_brands_from_config_are_canonicalised(entities: EntityEnricher) -> None:
    enricher = EntityEnricher(brands={"Zephyr Phones": ["zephyr phones", "zephyr", "ZPhone"]})
    out = enricher.enrich(["Loving my zphone from ZEPHYR PHONES", "nike shoes"])
    assert out["brands"] == [["Zephyr Phones"], []]
    assert out["entities"][0] == [
        {"text": "zphone", "label": "BRAND"},
        {"text": "ZEPHYR PHONES", "label": "BRAND"},
    ]
    assert enricher.version != entities.version


def test_word_scan_skips_only_texts_spacy_cannot_match() -> None:
    """The blank pipeline runs spaCy only on texts the word scan flags; the result must
    equal running spaCy on every text."""
    brands = {**DEFAULT_BRANDS, "Acme": ("acme",), "Zephyr Phones": ("zephyr phones",)}
    fast = EntityEnricher(brands=brands)
    slow = EntityEnricher(brands=brands)
    slow._only_ruler = False  # send every text through spaCy
    texts = [p.text for p in shipped_tweets()][:1500]
    texts += [p.text for p in SyntheticStream(n_posts=500, seed=2)]
    texts += ["AT&T and T-Mobile", "h&m", "i ❤️ tesla!", "#nike", "@apple", "Burger\nKing"]
    assert fast.enrich(texts) == slow.enrich(texts)
    assert sum(1 for b in fast.enrich(texts)["brands"] if b) > 30


def test_tags_are_extracted_without_prefix(entities: EntityEnricher) -> None:
    text = "@Alice loves #Tesla and $TSLA $brk.b, not $5 or mail me@example.com #1 #Tesla"
    assert extract_tags(text) == (["Tesla"], ["Alice"], ["TSLA", "brk.b"])
    out = entities.enrich([text, "no tags here"])
    assert out["hashtags"] == [["Tesla"], []]
    assert out["mentions"] == [["Alice"], []]
    assert out["cashtags"] == [["TSLA", "brk.b"], []]
    assert out["brands"] == [["Tesla"], []]


def test_tag_re_finds_what_the_plain_form_finds() -> None:
    """`TAG_RE` checks the character before a tag after the tag's first character (faster);
    it must find what the pattern with the check in front finds."""
    plain = re.compile(
        r"(?<![\w@#$&])(?:#(\w*[^\W\d]\w*)|@(\w+)|\$([A-Za-z]{1,6}(?:\.[A-Za-z]{1,2})?)(?!\w))"
    )
    rng = random.Random(0)
    pieces = [*"aZ1_ #@$&.9x", "é", "٣", "\u00a0", "😂", "\n", "BRK.B"]
    texts = ["".join(rng.choices(pieces, k=rng.randint(0, 20))) for _ in range(20_000)]
    for text in [*texts, "#a#b @c@d $E$F x#y a@b.c &#z #1a $5 $abcdefg"]:
        assert TAG_RE.findall(text) == plain.findall(text), text


def test_a_loaded_pipeline_keeps_the_brand_ruler(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": "Ada Lovelace"}])  # type: ignore[attr-defined]
    nlp.to_disk(tmp_path / "pipeline")
    enricher = EntityEnricher(model=str(tmp_path / "pipeline"))
    out = enricher.enrich(["Ada Lovelace would code on a MacBook"])
    assert out["entities"] == [
        [{"text": "Ada Lovelace", "label": "PERSON"}, {"text": "MacBook", "label": "BRAND"}]
    ]
    assert out["brands"] == [["Apple"]]
    assert "blank_en" not in enricher.version


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "no_such_pipeline_xyz"}, "cannot load spaCy pipeline 'no_such_pipeline_xyz'"),
        ({"brands": {}}, "non-empty mapping"),
        ({"brands": {"Acme": "acme"}}, r"brands\.Acme: must be a non-empty list"),
        ({"brands": {"Acme": ["acme", ""]}}, r"brands\.Acme\[1\]"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EntityEnricher(**kwargs)


def test_words_are_shared_and_lower_cased() -> None:
    assert words("Don’t STOP #believing") == ("don't", "stop", "believing")
