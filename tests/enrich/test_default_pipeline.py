"""The offline default pipeline: one definition (the YAML), and robust on any text."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hydra.utils import instantiate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from alpharl.config import config_dir
from alpharl.schema import (
    EMOTION_COLUMNS,
    ENRICHED_POST_SCHEMA,
    INTENT_COLUMNS,
    MAX_TEXT_CHARS,
    POST_SCHEMA,
    SENTIMENT_COLUMNS,
    TOPICS,
)

_MODULES = ("vader", "emotion_model", "entities", "intent", "topic")
READY = all(importlib.util.find_spec(f"alpharl.enrich.{m}") for m in _MODULES)
pytestmark = pytest.mark.skipif(not READY, reason="the default enrichers are not there yet")


@pytest.fixture(scope="module")
def pipeline():  # type: ignore[no-untyped-def]
    from alpharl.enrich.pipeline import default_pipeline

    return default_pipeline()


def test_default_pipeline_is_the_yaml(pipeline) -> None:  # type: ignore[no-untyped-def]
    from alpharl.enrich.pipeline import Pipeline, default_pipeline

    cfg = OmegaConf.load(config_dir() / "enrich" / "default.yaml")
    from_yaml = instantiate(cfg, _convert_="all")
    assert isinstance(from_yaml, Pipeline)
    assert from_yaml.versions == pipeline.versions
    assert [type(e).__name__ for e in pipeline.enrichers] == [
        "VaderEnricher",
        "NgramEmotionEnricher",
        "EntityEnricher",
        "RuleIntentEnricher",
        "RuleTopicEnricher",
    ]
    assert (pipeline.batch_size, pipeline.n_workers) == (cfg.batch_size, cfg.n_workers)
    two = default_pipeline(n_workers=2, batch_size=64)
    assert (two.n_workers, two.batch_size, two.versions) == (2, 64, pipeline.versions)
    two.close()
    with pytest.raises(ValueError, match=r"unknown override\(s\) \['n_worker'\]"):
        default_pipeline(n_worker=2)


def test_lexicon_option_swaps_only_the_emotion_enricher(pipeline) -> None:  # type: ignore[no-untyped-def]
    cfg = OmegaConf.load(config_dir() / "enrich" / "lexicon.yaml")
    lexicon = instantiate(cfg, _convert_="all")
    names = [type(e).__name__ for e in lexicon.enrichers]
    assert names[1] == "LexiconEmotionEnricher"
    assert (
        names[:1] + names[2:]
        == [type(e).__name__ for e in pipeline.enrichers][:1]
        + [type(e).__name__ for e in pipeline.enrichers][2:]
    )
    assert "emotion_lexicon" in lexicon.versions
    assert "emotion_model" not in lexicon.versions


def test_default_pipeline_fills_every_column(pipeline) -> None:  # type: ignore[no-untyped-def]
    texts = [
        "I love my new iPhone, best purchase ever!! #apple @tim",
        "Worst customer service... I want a refund $AAPL",
        "where can I buy running shoes? comparing Nike and Adidas",
        "the pizza was amazing",
    ]
    cols = pipeline.enrich_texts(texts)
    assert set(cols) == set(ENRICHED_POST_SCHEMA.names) - set(POST_SCHEMA.names)
    assert cols["sentiment_compound"][0] > 0.5
    assert cols["sentiment_compound"][1] < 0
    assert cols["hashtags"][0] == ["apple"]
    assert cols["mentions"][0] == ["tim"]
    assert cols["cashtags"][1] == ["AAPL"]
    assert "Apple" in cols["brands"][0]


def _check_rows(cols: dict[str, object], n: int) -> None:
    for group in (EMOTION_COLUMNS, INTENT_COLUMNS):
        probs = np.column_stack([np.asarray(cols[c], dtype=np.float64) for c in group])
        assert probs.shape == (n, len(group))
        assert np.isfinite(probs).all()
        assert (probs >= 0).all()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    sent = np.column_stack([np.asarray(cols[c], dtype=np.float64) for c in SENTIMENT_COLUMNS])
    assert np.isfinite(sent).all()
    assert (np.abs(sent[:, 0]) <= 1.0).all()
    assert set(cols["topic"]) <= set(TOPICS)  # type: ignore[arg-type]


_weird = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)),  # no lone surrogates (not UTF-8)
    min_size=1,
    max_size=60,
)
_SPECIAL = "😀😡😢🎉🔥❤️👍🏽🇫🇷\u200d\ufe0f#@$!?. \n\t\x00\x07"
_emoji = st.text(alphabet=st.sampled_from(_SPECIAL), max_size=30)
_long = st.builds(lambda s, k: (s * k)[:MAX_TEXT_CHARS], _weird, st.integers(1, MAX_TEXT_CHARS))
_texts = st.lists(
    st.one_of(_weird, _emoji.filter(bool), _long, st.sampled_from(["", " ", "\n"])),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=_texts)
def test_any_text_gives_valid_rows(pipeline, texts: list[str]) -> None:  # type: ignore[no-untyped-def]
    cols = pipeline.enrich_texts(texts)
    _check_rows(cols, len(texts))
