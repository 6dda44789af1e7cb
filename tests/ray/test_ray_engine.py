"""The Ray enrichment engine: the local engine's table, byte for byte, on a local Ray."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hydra.utils import instantiate
from ray_toys import BatchPosition, FailsOn

from alpharl.cli import main as cli_main
from alpharl.config import check_targets
from alpharl.enrich.cache import cached_enrich
from alpharl.enrich.engine import LocalEngine
from alpharl.enrich.inputs import read_source
from alpharl.enrich.pipeline import EnrichmentError, Pipeline, default_pipeline
from alpharl.enrich.ray_engine import RayEngine, shard_layout
from alpharl.streams import shipped_tweets
from alpharl.streams.synthetic import SyntheticStream


def parquet_bytes(table: pa.Table) -> bytes:
    """The table as the cache writes it."""
    buf = io.BytesIO()
    pq.write_table(table, buf, write_page_checksum=True)
    return buf.getvalue()


@pytest.fixture(scope="module")
def posts() -> pa.Table:
    """100 synthetic posts."""
    return read_source(SyntheticStream(n_users=10, n_posts=100, days=1, seed=3)).table


# ------------------------------------------------------------------ without Ray


@pytest.mark.parametrize("n", [1, 6, 7, 50, 99])
@pytest.mark.parametrize("batch_size", [1, 4, 7])
@pytest.mark.parametrize("num_shards", [1, 3, 8])
def test_shards_hold_whole_batches(n: int, batch_size: int, num_shards: int) -> None:
    layout = shard_layout(n, batch_size, num_shards)
    assert 1 <= len(layout) <= num_shards
    assert [o for o, _ in layout] == [
        sum(length for _, length in layout[:i]) for i in range(len(layout))
    ]
    assert sum(length for _, length in layout) == n
    assert all(o % batch_size == 0 for o, _ in layout)
    assert all(length % batch_size == 0 for _, length in layout[:-1])


def test_shard_layout_examples() -> None:
    assert shard_layout(10, 3, 2) == [(0, 6), (6, 4)]
    assert shard_layout(9, 3, 5) == [(0, 3), (3, 3), (6, 3)]
    assert shard_layout(0, 3, 2) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"workers": 0}, ValueError, "engine.workers"),
        ({"num_cpus": 1.5}, ValueError, "engine.num_cpus"),
        ({"num_shards": True}, ValueError, "engine.num_shards"),
        ({"runtime_env": "pip"}, TypeError, "engine.runtime_env"),
    ],
)
def test_engine_settings_are_checked(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        RayEngine(**kwargs)


@pytest.mark.parametrize(("option", "kind"), [("local", LocalEngine), ("ray", RayEngine)])
def test_engine_options_instantiate(compose_task: Any, option: str, kind: type) -> None:
    cfg = compose_task("enrich", [f"engine={option}"])
    check_targets(cfg)
    assert isinstance(instantiate(cfg.engine, _convert_="all"), kind)


def test_ray_client_is_refused_with_what_to_do(
    posts: pa.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "ray://head.example:10001")
    with pytest.raises(ValueError, match=r"engine.address: ray://head.example:10001 is a Ray Cl"):
        RayEngine().enrich_table(Pipeline([BatchPosition()]), posts)


# ------------------------------------------------------------------ on a local Ray


def test_the_workers_enrich_the_local_batches(ray_local: Any, posts: pa.Table) -> None:
    pipeline = Pipeline([BatchPosition()], batch_size=7)
    local = pipeline.enrich_table(posts)
    remote = RayEngine(workers=2, num_shards=4).enrich_table(pipeline, posts)
    assert remote.equals(local)
    # the comparison can fail: other batches give other values
    assert not Pipeline([BatchPosition()], batch_size=5).enrich_table(posts).equals(local)


def test_an_enricher_error_in_a_worker_names_its_rows(ray_local: Any, posts: pa.Table) -> None:
    texts = posts["text"].to_pylist()
    texts[53] = "boom"
    bad = posts.set_column(posts.schema.get_field_index("text"), "text", pa.array(texts))
    pipeline = Pipeline([FailsOn("boom")], batch_size=7)
    with pytest.raises(
        EnrichmentError,
        match=r"enricher 'fails_on' failed on rows 49\.\.55: ValueError: cannot enrich 'boom'",
    ):
        RayEngine(workers=2, num_shards=4).enrich_table(pipeline, bad)


def test_on_the_tweets_both_engines_write_the_same_cache_entry_byte_for_byte(
    ray_local: Any, tmp_path: Path
) -> None:
    source = shipped_tweets()
    local = cached_enrich(source, default_pipeline(), tmp_path / "local")
    engine = RayEngine(workers=2, num_shards=4)
    remote = cached_enrich(source, default_pipeline(), tmp_path / "ray", engine=engine)
    # 4,200 tweets in batches of 512 are 9 batches: 3 shards of 3 batches
    assert (engine.last_run.shards, engine.last_run.workers) == (3, 2)
    assert engine.last_run.mode == "existing"  # the session's Ray, left running
    assert not local.hit
    assert not remote.hit
    assert remote.table.equals(local.table, check_metadata=True)
    # equals() ignores the names of list items and map entries; Parquet writes them
    assert remote.table.schema.to_string() == local.table.schema.to_string()
    assert parquet_bytes(remote.table) == parquet_bytes(local.table)
    assert remote.key == local.key
    assert remote.path.name == local.path.name
    assert remote.path.read_bytes() == local.path.read_bytes()
    manifests = [json.loads(r.path.with_suffix(".json").read_text()) for r in (local, remote)]
    assert [m.pop("engine") for m in manifests] == ["local", "ray"]
    for m in manifests:
        m.pop("created_at")
    assert manifests[0] == manifests[1]
    # an entry the Ray engine made is a hit for the local engine
    again = cached_enrich(source, default_pipeline(), tmp_path / "ray", engine=LocalEngine())
    assert again.hit
    assert again.table.equals(local.table)


def test_cli_enrich_with_the_ray_engine_then_the_local_one_hits(
    ray_local: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    args = [
        "enrich",
        f"paths.root_dir={tmp_path}",
        "progress=false",
        "stream=synthetic",
        "stream.n_posts=300",
        "stream.n_users=20",
    ]
    vader_only = "enrich.enrichers=[{_target_: alpharl.enrich.vader.VaderEnricher}]"
    args.append(vader_only)  # builds in a fraction of a second in each worker
    cli_main([*args, "engine=ray", "engine.workers=2"])
    first = capsys.readouterr().out
    cli_main(args)
    second = capsys.readouterr().out
    entry = next((tmp_path / "runs" / "cache").glob("synthetic-*.parquet"))
    assert f"cache               miss: {entry}" in first
    assert f"cache               hit: {entry}" in second
    assert json.loads(entry.with_suffix(".json").read_text())["engine"] == "ray"
    assert "posts enriched      300 from " in first
    assert first.partition("enrichers  ")[2] == second.partition("enrichers  ")[2]
    expected = read_source(SyntheticStream(n_users=20, n_posts=300)).table
    assert pq.read_table(entry, columns=["id"])["id"].equals(expected["id"])
