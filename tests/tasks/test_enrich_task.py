"""`alpharl enrich`: the shipped tweets and a synthetic stream, end to end, through the cache."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from alpharl.cli import main as cli_main
from alpharl.config import config_dir, register_schemas
from alpharl.streams.tweets import N_TWEETS

_MODULES = ("vader", "emotion_model", "entities", "intent", "topic")
READY = all(importlib.util.find_spec(f"alpharl.enrich.{m}") for m in _MODULES)
pytestmark = pytest.mark.skipif(not READY, reason="the default enrichers are not there yet")


def _compose(tmp_path: Path, overrides: list[str]):  # type: ignore[no-untyped-def]
    register_schemas()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose(
            "enrich", overrides=[f"paths.root_dir={tmp_path}", "progress=false", *overrides]
        )


def test_cli_enriches_the_shipped_tweets_then_hits_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    args = ["enrich", f"paths.root_dir={tmp_path}", "progress=false"]
    cli_main(args)
    first = capsys.readouterr().out
    cli_main(args)
    second = capsys.readouterr().out
    cache = tmp_path / "runs" / "cache"
    entry = next(cache.glob("hutto2014_tweets-*.parquet"))
    assert f"posts enriched      {N_TWEETS:,} from " in first
    assert "dead letters        0" in first
    assert f"cache               miss: {entry}" in first
    assert f"cache               hit: {entry}" in second
    assert f"cache hit: {entry}" in second  # the log line
    assert "vs human ratings    r = 0." in first
    assert "enrichers           vader@" in first
    assert "emotion model       goemotions-ekman-ngram-lr-nb, dev macro-F1 0." in first
    for block in ("emotions", "intents", "topics", "top brands", "top hashtags"):
        assert block in first
    # the summary's figures are the same from the cache
    assert first.partition("enrichers  ")[2] == second.partition("enrichers  ")[2]


def test_enrich_task_summary_figures(tmp_path: Path) -> None:
    from alpharl.tasks.enrich import enrich

    summary, table = enrich(_compose(tmp_path, []))
    assert summary.n_posts == table.num_rows == N_TWEETS
    assert 500 <= summary.n_users <= 600
    assert summary.dead_letters == 0
    assert not summary.cache_hit
    assert summary.human_sentiment_r is not None
    assert summary.human_sentiment_r > 0.8  # VADER on its own tweets: r = 0.88 in the paper
    assert sum(summary.emotion_top_share.values()) == pytest.approx(1.0)
    assert sum(summary.intent_mean.values()) == pytest.approx(1.0, abs=1e-3)
    again, _ = enrich(_compose(tmp_path, []))
    assert again.cache_hit
    assert again.cache_path == summary.cache_path
    assert again.human_sentiment_r == pytest.approx(summary.human_sentiment_r)


def test_enrich_task_on_a_synthetic_stream(tmp_path: Path) -> None:
    from alpharl.tasks.enrich import enrich

    overrides = ["stream=synthetic", "stream.n_posts=300", "stream.n_users=20"]
    summary, table = enrich(_compose(tmp_path, overrides))
    assert summary.n_posts == table.num_rows == 300
    assert summary.n_users <= 20
    assert summary.human_sentiment_r is None
    assert Path(summary.cache_path).name.startswith("synthetic-")
    assert enrich(_compose(tmp_path, overrides))[0].cache_hit
    assert "vs human ratings" not in summary.render()
