"""The Ray enrichment engine: Ray Data actors enrich Parquet shards of the posts.

``alpharl enrich engine=ray`` (``configs/engine/ray.yaml``). The posts are written as
Parquet shards; a Ray Data pipeline hands the shards to a pool of actors (`ShardEnricher`,
``workers`` of them), each of which builds the enrichers once, from the pipeline's worker
spec (`Pipeline.worker_spec`), reads a shard, enriches it and writes the enriched shard
as Parquet; the driver reads the enriched shards back in shard order. The folder holding
the shards is removed afterwards (``keep_shards`` keeps it)::

    <shards_dir>/enrich-<id>/input/part-00000.parquet    POST_SCHEMA rows 0..k-1
    <shards_dir>/enrich-<id>/output/part-00000.parquet   ENRICHED_POST_SCHEMA rows 0..k-1

Same output as the local engine, byte for byte: every shard holds a whole number of the
pipeline's batches (``enrich.batch_size`` rows, counted from the first post), so each
actor runs the same enrichers on the same batches as `Pipeline.enrich_table` does in one
process, and the shards are put back in order. The actors check that they built the
enrichers at the versions the driver has (a node with other code would otherwise write
other values under the same cache key). ``enrich.n_workers`` (the local process pool)
does not apply here: ``workers`` does.

On a local Ray the shards live in a temporary folder. On a cluster of several nodes,
``shards_dir`` must be storage every node reads and writes: a shared mount (NFS) or a
URI pyarrow opens (``s3://bucket/prefix``, ``gs://...``), since the actors read and write
the shards where they run. The driver runs on the cluster (``ray job submit``, or a node
with ``address: auto`` or ``head:6379``): Ray Data does not run through Ray Client
(``ray://``), which is refused with that explanation.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from alpharl.enrich.inputs import conform_posts
from alpharl.enrich.pipeline import EnrichmentError, Pipeline
from alpharl.ray_cluster import ENV_ADDRESS, import_ray, ray_session
from alpharl.schema import ENRICHED_POST_SCHEMA

log = logging.getLogger(__name__)


def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and path of a local path or a URI (``s3://...``)."""
    if "://" not in location:
        location = os.path.abspath(location)
    return pafs.FileSystem.from_uri(location)


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def shard_layout(n_rows: int, batch_size: int, num_shards: int) -> list[tuple[int, int]]:
    """``(offset, length)`` of each shard: whole batches, as even as that allows.

    Args:
        n_rows: Posts to enrich.
        batch_size: The pipeline's batch size; every shard but the last holds a multiple
            of it, so shards never split a batch.
        num_shards: The most shards to make (fewer when there are fewer batches).
    """
    if n_rows <= 0:
        return []
    n_batches = math.ceil(n_rows / batch_size)
    per_shard = math.ceil(n_batches / min(num_shards, n_batches)) * batch_size
    return [(o, min(per_shard, n_rows - o)) for o in range(0, n_rows, per_shard)]


class ShardEnricher:
    """A Ray Data actor: builds the enrichers once, then enriches shard after shard.

    Args:
        spec: `Pipeline.worker_spec` of the driver's pipeline.
        batch_size: The driver pipeline's batch size.
        versions: The driver pipeline's enricher versions; the actor refuses to run with
            others.
    """

    def __init__(self, spec: bytes, batch_size: int, versions: Mapping[str, str]) -> None:
        self.pipeline = Pipeline.from_worker_spec(spec, batch_size)
        if self.pipeline.versions != dict(versions):
            raise EnrichmentError(
                f"Ray worker on {os.uname().nodename}: built enrichers "
                f"{self.pipeline.versions}, the driver has {dict(versions)}; install the same "
                "AlphaRL (and models) on every node"
            )

    def __call__(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Enrich the shards of ``batch`` (columns ``shard, offset, input, output``).

        An error is returned as data (column ``error``), not raised: Ray would hand the
        driver its own wrapper without the message, which names the enricher and the row.
        """
        rows, errors = [], []
        for offset, source, target in zip(
            batch["offset"], batch["input"], batch["output"], strict=True
        ):
            try:
                fs, path = _filesystem(str(source))
                posts = pq.read_table(path, filesystem=fs)
                enriched = self.pipeline.enrich_table(posts, row_offset=int(offset))
                out_fs, out_path = _filesystem(str(target))
                pq.write_table(enriched, out_path, filesystem=out_fs)
            except EnrichmentError as exc:
                rows.append(-1)
                errors.append(str(exc))
            except Exception as exc:
                rows.append(-1)
                errors.append(f"shard at row {int(offset)}: {type(exc).__name__}: {exc}")
            else:
                rows.append(enriched.num_rows)
                errors.append("")
        return {
            "shard": np.asarray(batch["shard"]),
            "rows": np.asarray(rows, dtype=np.int64),
            "error": np.asarray(errors, dtype=object),
        }


@dataclass
class RayRunStats:
    """What the last `RayEngine.enrich_table` call did."""

    shards: int = 0
    workers: int = 0
    seconds: float = 0.0
    mode: str = ""


class RayEngine:
    """Enrich on Ray: Ray Data actors over Parquet shards (see the module docstring).

    Args:
        address: A Ray cluster (``ray://head:10001``, ``auto``); None reads
            ``$RAY_ADDRESS`` and without it starts a local Ray with ``num_cpus``
            (`alpharl.ray_cluster.ray_session`). Ray already running in this process is
            used as it is.
        num_cpus: CPUs of a local Ray.
        workers: Actors enriching in parallel (each takes one CPU and builds the enrichers
            once); None = as many as the cluster has CPUs.
        num_shards: Most shards to cut the posts into; None = 4 per worker.
        shards_dir: Where the shards go (a folder or a URI every node can reach); None = a
            temporary folder on this machine.
        runtime_env: Ray runtime environment for a Ray this engine starts or connects to.
        keep_shards: Leave the shards folder in place (for inspection).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = 2,
        workers: int | None = None,
        num_shards: int | None = None,
        shards_dir: str | None = None,
        runtime_env: Mapping[str, Any] | None = None,
        keep_shards: bool = False,
    ) -> None:
        for name, value in (
            ("num_cpus", num_cpus),
            ("workers", workers),
            ("num_shards", num_shards),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(
                    f"engine.{name}: must be a positive integer or null (got {value!r})"
                )
        if runtime_env is not None and not isinstance(runtime_env, Mapping):
            raise TypeError(f"engine.runtime_env: must be a mapping (got {runtime_env!r})")
        self.address = address
        self.num_cpus = num_cpus
        self.workers = workers
        self.num_shards = num_shards
        self.shards_dir = shards_dir
        self.runtime_env = dict(runtime_env or {})
        self.keep_shards = keep_shards
        self.last_run = RayRunStats()

    def __repr__(self) -> str:
        return (
            f"RayEngine(address={self.address!r}, num_cpus={self.num_cpus}, "
            f"workers={self.workers}, num_shards={self.num_shards})"
        )

    def enrich_table(self, pipeline: Pipeline, posts: pa.Table, progress: bool = False) -> pa.Table:
        """``pipeline``'s enrichment of ``posts``, computed by Ray actors.

        Raises:
            EnrichmentError: an enricher's error, as a worker raised it (naming the
                enricher, column and row), or a shard that came back wrong.
        """
        table = conform_posts(posts)
        if table.num_rows == 0:
            return pipeline.enrich_table(table)
        spec = pipeline.worker_spec("engine=ray")
        address = self.address or os.environ.get(ENV_ADDRESS) or ""
        if address.startswith("ray://"):
            raise ValueError(
                f"engine.address: {address} is a Ray Client address, and Ray Data does not run "
                "through Ray Client (Ray 2.60: its streaming executor needs a driver on the "
                "cluster). Run the command on the cluster instead: `ray job submit -- alpharl "
                "enrich engine=ray ...`, or on a node with engine.address=auto"
            )
        start = time.perf_counter()
        with ray_session(self.address, self.num_cpus, self.runtime_env) as conn:
            workers = self.workers or max(1, int(conn.cpus))
            layout = shard_layout(
                table.num_rows, pipeline.batch_size, self.num_shards or 4 * workers
            )
            workers = min(workers, len(layout))
            location = self.shards_dir or tempfile.mkdtemp(prefix="alpharl-ray-shards-")
            fs, base = _filesystem(location)
            run_dir = _join(base, f"enrich-{uuid.uuid4().hex[:12]}")
            uri = location if "://" in location else None
            try:
                items = self._write_shards(fs, run_dir, uri, table, layout)
                self._run(items, spec, pipeline, workers, progress)
                out = self._read_shards(fs, items, layout, run_dir)
            finally:
                if not self.keep_shards:
                    fs.delete_dir(run_dir)
                    if self.shards_dir is None:
                        os.rmdir(location)
        self.last_run = RayRunStats(len(layout), workers, time.perf_counter() - start, conn.mode)
        log.info(
            "ray engine: %d posts in %d shards on %d workers (%s Ray) in %.1f s",
            table.num_rows,
            len(layout),
            workers,
            conn.mode,
            self.last_run.seconds,
        )
        return out

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _write_shards(
        fs: pafs.FileSystem,
        run_dir: str,
        uri: str | None,
        table: pa.Table,
        layout: list[tuple[int, int]],
    ) -> list[dict[str, Any]]:
        for sub in ("input", "output"):
            fs.create_dir(_join(run_dir, sub), recursive=True)
        scheme = uri.split("://", 1)[0] + "://" if uri else ""
        items = []
        for i, (offset, length) in enumerate(layout):
            name = f"part-{i:05d}.parquet"
            source, target = _join(run_dir, "input", name), _join(run_dir, "output", name)
            pq.write_table(table.slice(offset, length), source, filesystem=fs)
            items.append(
                {"shard": i, "offset": offset, "input": scheme + source, "output": scheme + target}
            )
        return items

    def _run(
        self,
        items: list[dict[str, Any]],
        spec: bytes,
        pipeline: Pipeline,
        workers: int,
        progress: bool,
    ) -> None:
        ray = import_ray()
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = progress
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            ShardEnricher,
            fn_constructor_args=(spec, pipeline.batch_size, pipeline.versions),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
        )
        try:
            done = dataset.take_all()
        except Exception as exc:  # a worker died, or Ray could not run the dataset
            raise EnrichmentError(f"Ray enrichment failed: {type(exc).__name__}: {exc}") from exc
        failed = sorted((int(r["shard"]), str(r["error"])) for r in done if r["error"])
        if failed:
            raise EnrichmentError(failed[0][1])
        finished = sorted(int(r["shard"]) for r in done)
        if finished != list(range(len(items))):
            raise EnrichmentError(
                f"Ray enrichment returned shards {finished}, expected {len(items)}"
            )

    @staticmethod
    def _read_shards(
        fs: pafs.FileSystem,
        items: list[dict[str, Any]],
        layout: list[tuple[int, int]],
        run_dir: str,
    ) -> pa.Table:
        parts = []
        for item, (_, length) in zip(items, layout, strict=True):
            path = _join(run_dir, "output", f"part-{item['shard']:05d}.parquet")
            part = pq.read_table(path, filesystem=fs)
            if part.num_rows != length:
                raise EnrichmentError(
                    f"Ray enrichment: shard {item['shard']} ({path}) has {part.num_rows} rows, "
                    f"expected {length}"
                )
            if not part.schema.equals(ENRICHED_POST_SCHEMA):
                raise EnrichmentError(
                    f"Ray enrichment: shard {item['shard']} ({path}) does not have "
                    "ENRICHED_POST_SCHEMA"
                )
            # Parquet names list items ``element`` and map entries after their column;
            # the cast restores the schema's own names, so the table is the local engine's
            # in every detail (``equals`` ignores those names, Parquet writes them).
            parts.append(part.cast(ENRICHED_POST_SCHEMA))
        return pa.concat_tables(parts)


__all__ = ["RayEngine", "RayRunStats", "ShardEnricher", "shard_layout"]
