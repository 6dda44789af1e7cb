"""Benchmark: enrichment throughput of the Ray engine on 1 and 2 workers, vs the local engine.

Question. What does ``alpharl enrich engine=ray`` cost and gain over the local engine on
one machine, and how does it scale from one Ray worker (actor) to two? Target: 2 workers
>= 1.6x 1 worker (as for the local process pool, ``bench_enrich.py``).

Setup. The shipped tweets (4,200, Hutto & Gilbert 2014) repeated ``--copies`` times
(default 5: 21,000 posts), the default pipeline (``configs/enrich/default.yaml``, 512-post
batches). The floor is the local engine in one process, measured in the same run. A local
Ray with ``--num-cpus`` CPUs (default 2) is started once, before any timing, and is not
counted; what is timed is one `RayEngine.enrich_table` call: writing the Parquet shards,
starting the actors (each builds the enrichers: spaCy and its imports dominate),
enriching, reading the enriched shards back. Each figure is the best of ``--repeats`` runs
(the CPU is shared; the best run is the least disturbed). The Ray startup and the
actors' build time (one 1-shard call on 512 posts, which is mostly that) are reported
separately, so the fixed cost and the per-post rate can be told apart. Every Ray result
is checked to equal the local table.

Usage: ``python experiments/perf/bench_ray_enrich.py [--copies 5] [--repeats 2]
[--num-cpus 2]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from alpharl.enrich.inputs import read_source  # noqa: E402
from alpharl.enrich.pipeline import default_pipeline  # noqa: E402
from alpharl.enrich.ray_engine import RayEngine  # noqa: E402
from alpharl.ray_cluster import ray_session  # noqa: E402
from alpharl.streams import shipped_tweets  # noqa: E402


def best_of(fn: Callable[[], pa.Table], repeats: int) -> tuple[float, pa.Table]:
    """Wall seconds of the fastest of ``repeats`` calls, and the last call's result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    assert out is not None
    return best, out


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--copies", type=int, default=5, help="tweets repeated this often")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--num-cpus", type=int, default=2)
    args = parser.parse_args()

    tweets = read_source(shipped_tweets()).table
    parts = []
    for k in range(args.copies):  # distinct ids, same texts
        ids = pc.binary_join_element_wise(tweets["id"], pa.scalar(f"#{k}"), "")
        parts.append(tweets.set_column(0, "id", ids))
    posts = pa.concat_tables(parts).combine_chunks()
    n = posts.num_rows
    pipeline = default_pipeline()

    local_s, local = best_of(lambda: pipeline.enrich_table(posts), args.repeats)
    rows: list[tuple[str, float]] = [("local engine, 1 process (floor)", local_s)]

    t0 = time.perf_counter()
    with ray_session(num_cpus=args.num_cpus):
        startup = time.perf_counter() - t0
        one_shard = RayEngine(workers=1, num_shards=1)
        build_s, _ = best_of(
            lambda: one_shard.enrich_table(pipeline, posts.slice(0, pipeline.batch_size)),
            args.repeats,
        )
        for workers in (1, 2):
            engine = RayEngine(workers=workers)
            seconds, table = best_of(lambda e=engine: e.enrich_table(pipeline, posts), args.repeats)
            if not table.equals(local):
                raise SystemExit(f"ray engine with {workers} worker(s): table differs from local")
            shards = engine.last_run.shards
            rows.append((f"ray engine, {workers} worker(s), {shards} shards", seconds))

    print(
        f"enrichment: shipped tweets x{args.copies} = {n:,} posts, default pipeline, "
        f"best of {args.repeats}; local Ray with num_cpus={args.num_cpus}"
    )
    print(f"{'':<44}{'seconds':>9}{'posts/s':>10}{'vs local':>10}")
    for name, seconds in rows:
        print(f"{name:<44}{seconds:>9.2f}{n / seconds:>10,.0f}{local_s / seconds:>9.2f}x")
    ray_one, ray_two = rows[1][1], rows[2][1]
    print(f"\nray 1 -> 2 workers: {ray_one / ray_two:.2f}x wall (target >= 1.6x)")
    print(f"ray startup (ray.init, not in the figures above): {startup:.2f} s")
    print(
        f"fixed cost of a call (1 worker, 1 shard of {pipeline.batch_size} posts: shards, "
        f"actor start and enricher build): {build_s:.2f} s"
    )
    for workers, seconds in ((1, ray_one), (2, ray_two)):
        rate = n / max(seconds - build_s, 1e-9)
        print(f"  {workers} worker(s) without that fixed cost: {rate:,.0f} posts/s")
    print(f"CPUs this process may use: {len(os.sched_getaffinity(0))}, load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
