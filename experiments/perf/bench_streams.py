"""Throughput of the stream sources, against a floor measured in the same run.

The floor is the least work any source must do per post: constructing the same `Post`
objects from values already in memory (which runs `Post`'s own validation). Each source is
reported in posts/s and as its cost per post relative to the floor (1.0x = no overhead
beyond building the posts).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python experiments/perf/bench_streams.py [--n 100000]``
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow.parquet as pq

from alpharl.schema import Post, posts_to_table
from alpharl.streams import ReplayStream, SyntheticStream, shipped_tweets


def _best_rate(make: Callable[[], Iterable[Post]], n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        count = sum(1 for _ in make())
        best = min(best, time.perf_counter() - t0)
        assert count == n, (count, n)
    return n / best


def _write_files(posts: list[Post], folder: Path) -> dict[str, Path]:
    paths = {"jsonl": folder / "p.jsonl", "csv": folder / "p.csv", "parquet": folder / "p.parquet"}
    with paths["jsonl"].open("w", encoding="utf-8") as fh:
        for p in posts:
            row = {
                "id": p.id,
                "created_at": p.created_at.isoformat(),
                "author_id": p.author_id,
                "text": p.text,
                "like_count": p.like_count,
                "annotations": dict(p.annotations),
            }
            fh.write(json.dumps(row) + "\n")
    with paths["csv"].open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "created_at", "author_id", "text", "like_count", "true_valence"])
        for p in posts:
            writer.writerow(
                [
                    p.id,
                    p.created_at.isoformat(),
                    p.author_id,
                    p.text,
                    p.like_count,
                    p.annotations["true_valence"],
                ]
            )
    pq.write_table(posts_to_table(posts), paths["parquet"])
    return paths


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100_000, help="posts per source")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.n
    posts = list(SyntheticStream(n_posts=n, n_users=max(1, n // 25)))
    values = [
        (
            p.id,
            p.created_at,
            p.platform,
            p.author_id,
            p.text,
            p.lang,
            p.like_count,
            p.reply_count,
            p.repost_count,
            p.quote_count,
            dict(p.annotations),
        )
        for p in posts
    ]

    def floor() -> Iterable[Post]:
        return (Post(*v) for v in values)

    rates: dict[str, float] = {"floor: Post(...) from memory": _best_rate(floor, n, args.repeats)}
    rates["synthetic"] = _best_rate(
        lambda: SyntheticStream(n_posts=n, n_users=max(1, n // 25)), n, args.repeats
    )
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, path in _write_files(posts, Path(tmp)).items():
            stream = ReplayStream(path, annotations=["true_valence"] if fmt == "csv" else None)
            rates[f"replay {fmt}"] = _best_rate(functools.partial(iter, stream), n, args.repeats)
    rates["shipped tweets (4,200)"] = _best_rate(shipped_tweets, 4200, args.repeats)
    base = rates["floor: Post(...) from memory"]
    print(f"{'source':<32}{'posts/s':>12}{'cost vs floor':>16}")
    for name, rate in rates.items():
        print(f"{name:<32}{rate:>12,.0f}{base / rate:>15.2f}x")


if __name__ == "__main__":
    main()
