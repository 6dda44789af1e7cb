"""The template creative generator."""

from __future__ import annotations

import pytest

from alpharl.creatives import CreativeGenerator, TemplateCreativeGenerator, catalog_from_dicts
from alpharl.creatives.template import HEADLINE_TEMPLATES
from alpharl.schema import EMOTIONS, Creative


def test_generates_k_variants_per_emotion() -> None:
    gen = TemplateCreativeGenerator(cost_per_impression=0.03, emotion_costs={"fear": 0.05})
    assert isinstance(gen, CreativeGenerator)
    out = gen.generate(["joy", "fear"], 3, "travel")
    assert len(out) == 6
    assert all(isinstance(c, Creative) for c in out)
    assert [c.id for c in out[:3]] == ["travel-joy-0", "travel-joy-1", "travel-joy-2"]
    assert {c.emotion_target for c in out} == {"joy", "fear"}
    assert all(c.category == "travel" for c in out)
    assert len({c.headline for c in out}) == 6
    assert all("getaway" in c.headline for c in out)
    assert {c.cost_per_impression for c in out if c.emotion_target == "fear"} == {0.05}
    assert {c.cost_per_impression for c in out if c.emotion_target == "joy"} == {0.03}
    assert out[0].tone == "playful"
    assert out[3].tone == "reassuring"
    assert "{" not in "".join(c.headline for c in out)
    catalog_from_dicts(out)  # a valid catalog: unique ids


def test_every_emotion_has_templates() -> None:
    out = TemplateCreativeGenerator().generate(list(EMOTIONS), 4, "food")
    assert len(out) == 4 * len(EMOTIONS)
    assert set(HEADLINE_TEMPLATES) == set(EMOTIONS)


def test_deterministic() -> None:
    a = TemplateCreativeGenerator().generate(["anger"], 2, "finance")
    b = TemplateCreativeGenerator().generate(["anger"], 2, "finance")
    assert a == b


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((["joy"], 0, "tech"), "k: must be a positive integer"),
        ((["joy"], 5, "tech"), "only 4 templates"),
        ((["bliss"], 1, "tech"), "unknown emotion 'bliss'"),
        (([], 1, "tech"), "emotion_targets: must be a non-empty list"),
        (("joy", 1, "tech"), "emotion_targets: must be a non-empty list"),
        ((["joy", "joy"], 1, "tech"), "must not repeat"),
        ((["joy"], 1, "cars"), "category: must be one of"),
    ],
)
def test_bad_requests(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TemplateCreativeGenerator().generate(*args)


def test_bad_construction() -> None:
    with pytest.raises(ValueError, match="cost_per_impression: must be >= 0"):
        TemplateCreativeGenerator(cost_per_impression=-1)
    with pytest.raises(ValueError, match="emotion_costs: unknown emotion 'glee'"):
        TemplateCreativeGenerator(emotion_costs={"glee": 0.1})
