"""The batched enrichment pipeline: checks, merging, defaults, batching and workers."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from alpharl.enrich.inputs import posts_table
from alpharl.enrich.pipeline import EnrichmentError, Pipeline
from alpharl.schema import (
    EMOTION_COLUMNS,
    ENRICHED_POST_SCHEMA,
    INTENT_COLUMNS,
    POST_SCHEMA,
    SENTIMENT_COLUMNS,
    Post,
    posts_to_table,
    table_to_enriched,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from enrich_toys import (
    BatchSizeSpy,
    Broken,
    FoodTopic,
    PunctuationEmotion,
    Tags,
    WordSentiment,
    uniform_emotions,
)

TEXTS = [
    "good pizza tonight!!",
    "awful service... hate waiting @shop",
    "new phone #tech #gadgets",
    "just a post",
    "love love this great pizza place! @chef #food",
    "meh...",
    "bad bad bad",
]


def _posts(texts: list[str]) -> list[Post]:
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    return [
        Post(
            id=f"p{i}",
            created_at=t0 + timedelta(minutes=i),
            platform="test",
            author_id=f"u{i % 3}",
            text=t,
            like_count=i,
            annotations={"human_sentiment": i / 10.0} if i % 2 else {},
        )
        for i, t in enumerate(texts)
    ]


@pytest.fixture
def posts() -> pa.Table:
    return posts_table(_posts(TEXTS * 3))


def test_output_schema_post_columns_and_enricher_columns(posts: pa.Table) -> None:
    pipe = Pipeline([WordSentiment(), PunctuationEmotion(), Tags(), FoodTopic()], batch_size=4)
    out = pipe.enrich_table(posts)
    assert out.schema.equals(ENRICHED_POST_SCHEMA)
    assert out.select(POST_SCHEMA.names).equals(posts)
    texts = posts.column("text").to_pylist()
    direct = WordSentiment().enrich(texts)
    for c in SENTIMENT_COLUMNS:
        np.testing.assert_array_equal(out[c].to_numpy(), np.float32(direct[c]))
    assert out["hashtags"].to_pylist()[2] == ["tech", "gadgets"]
    assert out["mentions"].to_pylist()[1] == ["shop"]
    assert out["topic"].to_pylist()[:2] == ["food", "other"]
    assert out["emotion_joy"].to_numpy()[0] == pytest.approx(0.4)
    versions = out["enricher_versions"].to_pylist()
    assert all(
        dict(v)
        == {"word_sentiment": "1", "punctuation_emotion": "1", "tags": "1", "food_topic": "1"}
        for v in versions
    )


def test_missing_columns_get_neutral_defaults(posts: pa.Table) -> None:
    out = Pipeline([Tags()]).enrich_table(posts)
    n = posts.num_rows
    for c in EMOTION_COLUMNS:
        np.testing.assert_array_equal(out[c].to_numpy(), np.full(n, c == "emotion_neutral"))
    for c in INTENT_COLUMNS:
        np.testing.assert_array_equal(out[c].to_numpy(), np.full(n, c == "intent_other"))
    for c in SENTIMENT_COLUMNS:
        np.testing.assert_array_equal(out[c].to_numpy(), np.full(n, c == "sentiment_neu"))
    assert set(out["topic"].to_pylist()) == {"other"}
    for c in ("entities", "brands", "cashtags"):
        assert out[c].to_pylist() == [[]] * n
    assert out["enricher_versions"].to_pylist() == [[("tags", "1")]] * n
    # the defaults are valid EnrichedPost records
    assert len(table_to_enriched(out)) == n


def test_batches_do_not_change_the_output(posts: pa.Table) -> None:
    enrichers = [WordSentiment(), PunctuationEmotion(), Tags(), FoodTopic()]
    one = Pipeline(enrichers, batch_size=1).enrich_table(posts)
    spy = BatchSizeSpy()
    many = Pipeline([*enrichers, spy], batch_size=5).enrich_table(posts)
    assert spy.batches == [5, 5, 5, 5, 1]
    assert many.drop_columns(["enricher_versions", *INTENT_COLUMNS]).equals(
        one.drop_columns(["enricher_versions", *INTENT_COLUMNS])
    )


def test_enrich_posts_and_texts_agree_with_enrich_table(posts: pa.Table) -> None:
    pipe = Pipeline([WordSentiment(), Tags(), FoodTopic()])
    items = _posts(TEXTS)
    table = pipe.enrich_posts(items)
    assert table.equals(pipe.enrich_table(posts_to_table(items)))
    cols = pipe.enrich_texts(TEXTS)
    assert set(cols) == {f.name for f in ENRICHED_POST_SCHEMA} - set(POST_SCHEMA.names)
    assert cols["sentiment_compound"].dtype == np.float32
    np.testing.assert_array_equal(cols["sentiment_compound"], table["sentiment_compound"])
    assert cols["hashtags"] == table["hashtags"].to_pylist()
    assert pipe.enrich_posts([]).num_rows == 0
    with pytest.raises(TypeError, match=r"texts\[1\]: must be a string"):
        pipe.enrich_texts(["ok", 3])  # type: ignore[list-item]


def test_versions_and_repr() -> None:
    pipe = Pipeline([WordSentiment(version="7"), Tags()], batch_size=64)
    assert pipe.versions == {"word_sentiment": "7", "tags": "1"}
    assert "word_sentiment@7" in repr(pipe)
    assert pipe.schema_version.startswith("1-")


def test_progress_bar(posts: pa.Table, capsys: pytest.CaptureFixture[str]) -> None:
    Pipeline([Tags()], batch_size=8).enrich_table(posts, progress=True)
    assert f"{posts.num_rows}/{posts.num_rows}" in capsys.readouterr().err


# ----------------------------------------------------------------------- configuration errors


class NotAnEnricher:
    name = "nope"
    version = "1"


def test_rejects_what_is_not_an_enricher() -> None:
    with pytest.raises(TypeError, match=r"enrichers\[1\] \(NotAnEnricher\).*lacks \['columns'"):
        Pipeline([Tags(), NotAnEnricher()])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="at least one enricher"):
        Pipeline([])
    with pytest.raises(ValueError, match="batch_size: must be a positive integer"):
        Pipeline([Tags()], batch_size=0)
    with pytest.raises(ValueError, match="n_workers"):
        Pipeline([Tags()], n_workers=True)
    with pytest.raises(ValueError, match=r"enrichers\[0\]: a config mapping needs a '_target_'"):
        Pipeline([{"version": "1"}])


def test_rejects_unknown_and_shared_columns() -> None:
    odd = Broken("odd", ("hashtags", "emoji"), lambda t: {})
    with pytest.raises(ValueError, match=r"'emoji' of enricher 'odd' is not an enrichment"):
        Pipeline([odd])
    own = Broken("own", ("enricher_versions",), lambda t: {})
    with pytest.raises(ValueError, match="'enricher_versions' of enricher 'own'"):
        Pipeline([own])
    post = Broken("post", ("text",), lambda t: {})
    with pytest.raises(ValueError, match="'text' of enricher 'post'"):
        Pipeline([post])
    other = Broken("more_tags", ("mentions",), lambda t: {})
    with pytest.raises(ValueError, match="'mentions' is claimed by both 'tags' and 'more_tags'"):
        Pipeline([Tags(), other])
    with pytest.raises(ValueError, match=r"name 'tags' is already used by enrichers\[0\]"):
        Pipeline([Tags(), Broken("tags", ("brands",), lambda t: {})])
    half = Broken("half", ("emotion_joy", "emotion_anger"), lambda t: {})
    with pytest.raises(ValueError, match=r"fills .*'emotion_joy'.* but not .*all emotion columns"):
        Pipeline([half])


# ----------------------------------------------------------------------- bad enricher output


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: {"hashtags": [[]] * len(t)}, r"'bad'.*missing \['mentions'\]"),
        (
            lambda t: {"hashtags": [[]] * len(t), "mentions": [[]] * len(t), "x": 1},
            r"undeclared \['x'\]",
        ),
        (
            lambda t: {"hashtags": [[]] * (len(t) - 1), "mentions": [[]] * len(t)},
            "column 'hashtags'.*has 6 values for 7 texts",
        ),
        (
            lambda t: {"hashtags": [[]] * len(t), "mentions": [None] + [[]] * (len(t) - 1)},
            "column 'mentions', row 0: is null",
        ),
        (lambda t: {"hashtags": 5, "mentions": [[]]}, "column 'hashtags'.*cannot be read"),
    ],
)
def test_bad_list_output_is_named(make: object, message: str) -> None:
    pipe = Pipeline([Broken("bad", ("hashtags", "mentions"), make)])
    with pytest.raises(EnrichmentError, match=message):
        pipe.enrich_texts(TEXTS)


def test_bad_numbers_are_named_with_their_row() -> None:
    def nan_at_3(t: list[str]) -> dict[str, object]:
        out = uniform_emotions(len(t))
        out["emotion_joy"] = [float("nan") if x == TEXTS[3] else 1 / 7 for x in t]
        return out

    pipe = Pipeline([Broken("emo", EMOTION_COLUMNS, nan_at_3)], batch_size=2)
    with pytest.raises(EnrichmentError, match=r"'emo' column 'emotion_joy', row 3: is nan"):
        pipe.enrich_texts(TEXTS)

    def not_summing(t: list[str]) -> dict[str, object]:
        out = uniform_emotions(len(t))
        out["emotion_joy"] = [0.5] * len(t)
        return out

    pipe = Pipeline([Broken("emo", EMOTION_COLUMNS, not_summing)])
    with pytest.raises(EnrichmentError, match=r"row 0: the emotion probabilities sum to 1\.3"):
        pipe.enrich_texts(TEXTS)

    def negative(t: list[str]) -> dict[str, object]:
        out = uniform_emotions(len(t))
        out["emotion_fear"] = [-0.1] * len(t)
        return out

    pipe = Pipeline([Broken("emo", EMOTION_COLUMNS, negative)])
    with pytest.raises(EnrichmentError, match=r"'emotion_fear', row 0: -0.1.* not a probability"):
        pipe.enrich_texts(TEXTS)
    topic = Broken("topic", ("topic",), lambda t: {"topic": ["sports", "cars"] + ["other"] * 5})
    with pytest.raises(EnrichmentError, match="row 1: 'cars' is not one of"):
        Pipeline([topic]).enrich_texts(TEXTS)


def test_an_enricher_that_raises_is_named() -> None:
    def boom(t: list[str]) -> dict[str, object]:
        raise KeyError("lexicon entry")

    pipe = Pipeline([Tags(), Broken("boom", ("brands",), boom)], batch_size=4)
    with pytest.raises(EnrichmentError, match=r"'boom' failed on rows 0..3: KeyError"):
        pipe.enrich_texts(TEXTS)


def test_posts_table_must_fit_post_schema(posts: pa.Table) -> None:
    pipe = Pipeline([Tags()])
    with pytest.raises(ValueError, match=r"missing columns \['text'\]"):
        pipe.enrich_table(posts.drop_columns(["text"]))
    bad = posts.set_column(
        posts.schema.get_field_index("like_count"),
        "like_count",
        pa.array(["x"] * posts.num_rows),
    )
    with pytest.raises(ValueError, match=r"posts.like_count: cannot be read as int64"):
        pipe.enrich_table(bad)
    with pytest.raises(TypeError, match=r"posts\[0\]: must be an alpharl.schema.Post"):
        pipe.enrich_posts(["text"])  # type: ignore[list-item]
    # extra columns are dropped, compatible types are cast
    extra = posts.append_column("score", pa.array(np.zeros(posts.num_rows)))
    assert pipe.enrich_table(extra).schema.equals(ENRICHED_POST_SCHEMA)


# ----------------------------------------------------------------------- worker processes


def test_two_workers_give_the_same_table(posts: pa.Table) -> None:
    serial = Pipeline(
        [WordSentiment(), PunctuationEmotion(), Tags(), FoodTopic()], batch_size=3
    ).enrich_table(posts)
    # one enricher as a config (rebuilt in each worker), the others pickled
    with Pipeline(
        [{"_target_": "enrich_toys.WordSentiment"}, PunctuationEmotion(), Tags(), FoodTopic()],
        batch_size=3,
        n_workers=2,
    ) as pipe:
        first = pipe.enrich_table(posts)
        again = pipe.enrich_table(posts.slice(2, 10))  # the pool is reused
        assert pipe._pool is not None
    assert pipe._pool is None
    assert first.equals(serial)
    assert again.equals(serial.slice(2, 10))


def test_workers_need_picklable_enrichers() -> None:
    unpicklable = Broken("lam", ("brands",), lambda t: {"brands": [[]] * len(t)})
    with pytest.raises(TypeError, match="n_workers=2: the enrichers cannot be sent"):
        Pipeline([unpicklable], n_workers=2)
