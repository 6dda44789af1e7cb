"""The enriched-stream cache: enrich a source once, replay the Parquet file afterwards.

An entry is keyed by what determines its content: the posts the source yields (a SHA-256
of their `POST_SCHEMA` table), every enricher's ``name@version``, and the pipeline's
schema version (`Pipeline.schema_version`). Change a post, an enricher version or the
schema and the key changes; change nothing and the second run reads the cached table
instead of enriching. The batch size and the number of workers are not part of the key:
they do not change the output.

An entry is two files in the cache folder, each written atomically (a temporary file in
the same folder, then a rename): ``<source>-<key[:16]>.parquet`` (the enriched table, with
page checksums) and ``<same stem>.json``, the manifest: key, input hash, enricher versions,
schema version, number of posts, dead letters of the read, when and from what source it was
made, and the engine that enriched it (`alpharl.enrich.engine`: ``local`` or ``ray``; not
part of the key, since every engine writes the same table). A missing, unreadable or
inconsistent entry is logged as a warning and enriched again; it never fails the run.

Reading the source is needed to hash it, so it is done through the cheapest path the
source has (`alpharl.enrich.inputs.read_source`: a replay's columnar read, no `Post`
objects).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from alpharl.enrich.engine import EnrichEngine, LocalEngine
from alpharl.enrich.inputs import content_hash, read_source
from alpharl.enrich.pipeline import Pipeline
from alpharl.schema import ENRICHED_POST_SCHEMA
from alpharl.streams.base import StreamSource, StreamStats

log = logging.getLogger(__name__)

CACHE_FORMAT = "1"
"""Version of the entry layout (file names, manifest fields); part of the key."""


@dataclass(frozen=True)
class CacheResult:
    """What `cached_enrich` returns.

    Args:
        table: The enriched posts (`ENRICHED_POST_SCHEMA`), in the source's order.
        hit: True when the table was read from the cache.
        key: The entry's key (hex SHA-256).
        path: The entry's Parquet file.
        manifest: The entry's manifest (as written when it was made).
        stats: What the source counted while it was read for this call.
    """

    table: pa.Table
    hit: bool
    key: str
    path: Path
    manifest: dict[str, Any]
    stats: StreamStats = field(default_factory=StreamStats)


def cache_key(input_hash: str, pipeline: Pipeline) -> str:
    """The key of an entry: input hash, enricher versions, schema version, cache format."""
    payload = {
        "format": CACHE_FORMAT,
        "input": input_hash,
        "enrichers": [f"{name}@{version}" for name, version in pipeline.versions.items()],
        "schema": pipeline.schema_version,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _stem(source: object, key: str) -> str:
    name = source if isinstance(source, str) else getattr(source, "name", None)
    if isinstance(source, pa.Table) or not isinstance(name, str) or not name:
        name = "posts"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "posts"
    return f"{safe[:60]}-{key[:16]}"


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_json(data: dict[str, Any]) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    return write


def _write_parquet(table: pa.Table) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        pq.write_table(table, tmp, write_page_checksum=True)

    return write


def _load(path: Path, manifest_path: Path, key: str) -> tuple[pa.Table, dict[str, Any]] | None:
    """The cached table and manifest, or None (with a warning if the entry is damaged)."""
    if not path.exists() and not manifest_path.exists():
        return None
    if not manifest_path.exists() or not path.exists():
        present = path if path.exists() else manifest_path
        log.warning("cache entry incomplete (only %s exists); enriching again", present)
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError(f"expected a JSON object, got {type(manifest).__name__}")
    except (OSError, ValueError) as exc:
        log.warning("cache manifest %s is unreadable (%s); enriching again", manifest_path, exc)
        return None
    if manifest.get("key") != key:
        log.warning("cache manifest %s has another key; enriching again", manifest_path)
        return None
    try:
        table = pq.read_table(path, page_checksum_verification=True)
    except (OSError, pa.ArrowException) as exc:
        log.warning("cache file %s is corrupt (%s); enriching again", path, exc)
        return None
    if not table.schema.equals(ENRICHED_POST_SCHEMA):
        log.warning("cache file %s does not have ENRICHED_POST_SCHEMA; enriching again", path)
        return None
    if table.num_rows != manifest.get("n_posts"):
        log.warning(
            "cache file %s has %d rows, its manifest says %s; enriching again",
            path,
            table.num_rows,
            manifest.get("n_posts"),
        )
        return None
    return table, manifest


def cached_enrich(
    source: StreamSource | pa.Table,
    pipeline: Pipeline,
    cache_dir: str | Path,
    progress: bool = False,
    use_cache: bool = True,
    engine: EnrichEngine | None = None,
) -> CacheResult:
    """Enrich one pass of ``source`` with ``pipeline``, through the cache.

    Args:
        source: A `StreamSource` (one pass is read; a looping replay is refused) or a
            table of `POST_SCHEMA` posts.
        pipeline: The enrichment pipeline.
        cache_dir: The cache folder (created if needed).
        progress: Show a progress bar while enriching.
        use_cache: False ignores an existing entry: the posts are enriched again and the
            entry is rewritten.
        engine: Where a miss is enriched (`LocalEngine` when None); not part of the key.

    Returns:
        The enriched table, whether it came from the cache, the key, the entry's path and
        its manifest.
    """
    if not isinstance(pipeline, Pipeline):
        raise TypeError(f"pipeline: must be an alpharl.enrich.pipeline.Pipeline (got {pipeline!r})")
    engine = LocalEngine() if engine is None else engine
    if not isinstance(engine, EnrichEngine):
        raise TypeError(f"engine: must be an alpharl.enrich.engine.EnrichEngine (got {engine!r})")
    posts = read_source(source)
    input_hash = content_hash(posts.table)
    key = cache_key(input_hash, pipeline)
    folder = Path(cache_dir)
    stem = _stem(source, key)
    path = folder / f"{stem}.parquet"
    manifest_path = folder / f"{stem}.json"
    if use_cache:
        cached = _load(path, manifest_path, key)
        if cached is not None:
            log.info("cache hit: %s", path)
            return CacheResult(cached[0], True, key, path, cached[1], posts.stats)
    log.info("cache miss: enriching %d posts into %s", posts.table.num_rows, path)
    table = engine.enrich_table(pipeline, posts.table, progress=progress)
    manifest: dict[str, Any] = {
        "key": key,
        "input_hash": input_hash,
        "schema_version": pipeline.schema_version,
        "cache_format": CACHE_FORMAT,
        "enricher_versions": pipeline.versions,
        "n_posts": table.num_rows,
        "read": posts.stats.read,
        "dead_letters": posts.stats.dead_letters,
        "dead_letter_reasons": dict(posts.stats.reasons),
        "created_at": datetime.now(UTC).isoformat(),
        "source": posts.description,
        "engine": engine.name,
        "parquet": path.name,
    }
    _atomic_write(path, _write_parquet(table))
    _atomic_write(manifest_path, _write_json(manifest))
    return CacheResult(table, False, key, path, manifest, posts.stats)


__all__ = ["CACHE_FORMAT", "CacheResult", "cache_key", "cached_enrich"]
