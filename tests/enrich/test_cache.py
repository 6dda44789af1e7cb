"""The enriched-stream cache: keys, hits and misses, damaged entries, manifests."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alpharl.enrich.cache import cache_key, cached_enrich
from alpharl.enrich.inputs import posts_table
from alpharl.enrich.pipeline import Pipeline
from alpharl.schema import ENRICHED_POST_SCHEMA, POST_SCHEMA, posts_to_table
from alpharl.streams import ReplayStream, SyntheticStream

sys.path.insert(0, str(Path(__file__).resolve().parent))

from enrich_toys import FoodTopic, PunctuationEmotion, Tags, WordSentiment

RECORDS = [
    {"id": "1", "created_at": "2024-03-01T10:00:00Z", "author_id": "a", "text": "good pizza!"},
    {"id": "2", "created_at": "2024-03-01T09:00:00Z", "author_id": "b", "text": "bad day #mood"},
    {"id": "3", "created_at": "2024-03-01T11:00:00Z", "author_id": "a", "text": ""},  # dead
    {
        "id": "4",
        "created_at": "2024-03-01T12:00:00Z",
        "author_id": "c",
        "text": "love it @shop",
        "annotations": {"human_sentiment": 2.5},
    },
]


def _write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _pipeline(version: str = "1") -> Pipeline:
    return Pipeline([WordSentiment(version=version), PunctuationEmotion(), Tags(), FoodTopic()])


@pytest.fixture
def replay(tmp_path: Path) -> ReplayStream:
    return ReplayStream(_write(tmp_path / "posts.jsonl", RECORDS), dead_letter=tmp_path / "dl")


def test_miss_then_hit(
    replay: ReplayStream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    caplog.set_level(logging.INFO, logger="alpharl.enrich.cache")
    first = cached_enrich(replay, _pipeline(), cache)
    assert not first.hit
    assert first.path.parent == cache
    assert first.path.name == f"posts-{first.key[:16]}.parquet"
    assert first.table.schema.equals(ENRICHED_POST_SCHEMA)
    assert first.table["id"].to_pylist() == ["2", "1", "4"]  # time order, dead letter out
    assert first.table.equals(pq.read_table(first.path))
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [first.path.name, first.path.with_suffix(".json").name]
    )  # no temporary files left behind
    assert "cache miss" in caplog.text
    caplog.clear()
    second = cached_enrich(replay, _pipeline(), cache)
    assert second.hit
    assert (second.key, second.path) == (first.key, first.path)
    assert second.table.equals(first.table)
    assert f"cache hit: {first.path}" in caplog.text
    assert second.stats.dead_letters == 1


def test_manifest(replay: ReplayStream, tmp_path: Path) -> None:
    result = cached_enrich(replay, _pipeline(), tmp_path / "cache")
    manifest = json.loads(result.path.with_suffix(".json").read_text())
    assert manifest == result.manifest
    assert manifest["key"] == result.key
    assert len(manifest["input_hash"]) == 64
    assert manifest["enricher_versions"] == {
        "word_sentiment": "1",
        "punctuation_emotion": "1",
        "tags": "1",
        "food_topic": "1",
    }
    assert manifest["schema_version"] == _pipeline().schema_version
    assert manifest["n_posts"] == 3
    assert manifest["read"] == 4
    assert manifest["dead_letters"] == 1
    assert manifest["dead_letter_reasons"] == {"text": 1}
    assert manifest["source"].startswith("ReplayStream(")
    assert manifest["created_at"].endswith("+00:00")
    assert manifest["parquet"] == result.path.name
    assert cache_key(manifest["input_hash"], _pipeline()) == result.key


def test_key_changes_with_enricher_version_and_content(
    replay: ReplayStream, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    base = cached_enrich(replay, _pipeline(), cache)
    bumped = cached_enrich(replay, _pipeline(version="2"), cache)
    assert not bumped.hit
    assert bumped.key != base.key
    assert bumped.manifest["input_hash"] == base.manifest["input_hash"]
    fewer = cached_enrich(replay, Pipeline([WordSentiment(), Tags()]), cache)
    assert not fewer.hit
    assert fewer.key not in (base.key, bumped.key)
    changed = [dict(r) for r in RECORDS]
    changed[1]["text"] = "bad day #moody"
    edited = ReplayStream(_write(tmp_path / "posts.jsonl", changed))
    other = cached_enrich(edited, _pipeline(), cache)
    assert not other.hit
    assert other.manifest["input_hash"] != base.manifest["input_hash"]
    assert other.table["hashtags"].to_pylist()[0] == ["moody"]
    # the first entry is still there and still a hit for the old content
    assert cached_enrich(
        ReplayStream(_write(tmp_path / "again.jsonl", RECORDS)), _pipeline(), cache
    ).key == (base.key)


def test_key_is_content_based_not_file_based(replay: ReplayStream, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    base = cached_enrich(replay, _pipeline(), cache)
    as_parquet = tmp_path / "posts.parquet"
    pq.write_table(base.table.select(POST_SCHEMA.names), as_parquet)
    from_parquet = cached_enrich(ReplayStream(as_parquet), _pipeline(), cache)
    assert from_parquet.hit
    assert from_parquet.key == base.key
    reordered = _write(tmp_path / "reordered.jsonl", [RECORDS[3], RECORDS[0], RECORDS[1]])
    assert cached_enrich(ReplayStream(reordered, name="posts"), _pipeline(), cache).hit
    table = cached_enrich(base.table.select(POST_SCHEMA.names), _pipeline(), cache)
    assert table.key == base.key


@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip", "drop_manifest", "manifest"])
def test_damaged_entry_warns_and_enriches_again(
    replay: ReplayStream, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    cache = tmp_path / "cache"
    first = cached_enrich(replay, _pipeline(), cache)
    data = first.path.read_bytes()
    manifest = first.path.with_suffix(".json")
    if damage == "garbage":
        first.path.write_bytes(b"not parquet at all")
    elif damage == "truncate":
        first.path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # a data page byte: caught by the page checksum
        pos = 200
        first.path.write_bytes(data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :])
    elif damage == "drop_manifest":
        manifest.unlink()
    else:
        manifest.write_text("{ not json")
    caplog.set_level(logging.INFO, logger="alpharl.enrich.cache")
    again = cached_enrich(replay, _pipeline(), cache)
    assert not again.hit
    assert any(r.levelno == logging.WARNING for r in caplog.records), caplog.text
    assert again.table.equals(first.table)
    assert cached_enrich(replay, _pipeline(), cache).hit  # the entry was rewritten


def test_manifest_of_another_key_or_size_is_not_trusted(
    replay: ReplayStream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    first = cached_enrich(replay, _pipeline(), cache)
    manifest_path = first.path.with_suffix(".json")
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "n_posts": 99}))
    assert not cached_enrich(replay, _pipeline(), cache).hit
    assert "manifest says 99" in caplog.text
    manifest_path.write_text(json.dumps({**manifest, "key": "0" * 64}))
    assert not cached_enrich(replay, _pipeline(), cache).hit
    assert "another key" in caplog.text


def test_use_cache_false_enriches_and_rewrites(replay: ReplayStream, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = cached_enrich(replay, _pipeline(), cache)
    fresh = cached_enrich(replay, _pipeline(), cache, use_cache=False)
    assert not fresh.hit
    assert fresh.manifest["created_at"] >= first.manifest["created_at"]
    assert cached_enrich(replay, _pipeline(), cache).hit


def test_synthetic_stream_and_post_tables(tmp_path: Path) -> None:
    stream = SyntheticStream(n_users=5, n_posts=40, seed=3)
    cache = tmp_path / "cache"
    first = cached_enrich(stream, _pipeline(), cache, progress=True)
    assert not first.hit
    assert first.path.name.startswith("synthetic-")
    assert first.table.num_rows == 40
    expected = posts_to_table(SyntheticStream(n_users=5, n_posts=40, seed=3))
    assert first.table.select(POST_SCHEMA.names).equals(expected)
    assert posts_table(list(SyntheticStream(n_users=5, n_posts=40, seed=3))).equals(expected)
    assert cached_enrich(stream, _pipeline(), cache).hit
    assert not cached_enrich(SyntheticStream(n_users=5, n_posts=40, seed=4), _pipeline(), cache).hit
    assert first.manifest["dead_letters"] == 0


def test_refuses_endless_sources_and_non_pipelines(replay: ReplayStream, tmp_path: Path) -> None:
    looping = ReplayStream(replay.path, loop=True)
    with pytest.raises(ValueError, match="loops forever"):
        cached_enrich(looping, _pipeline(), tmp_path)
    with pytest.raises(TypeError, match=r"pipeline: must be an alpharl\.enrich\.pipeline"):
        cached_enrich(replay, object(), tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"missing columns \['created_at', 'platform'"):
        cached_enrich(pa.table({"id": ["1"]}), _pipeline(), tmp_path)
