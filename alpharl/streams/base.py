"""The stream contract: sources of `Post`s in event-time order, and the dead-letter file."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from alpharl.schema import Post


@runtime_checkable
class StreamSource(Protocol):
    """Iterates posts in event-time order.

    ``reset(seed)`` rewinds the source (and reseeds it, where it draws randomness);
    iterating after a reset yields the same posts again. ``stats`` counts what was read,
    yielded and dead-lettered since the last reset. The enriched-stream cache keys on the
    content of the posts a source yields, so a source needs no fingerprint of its own.
    """

    name: str
    stats: StreamStats

    def reset(self, seed: int | None = None) -> None: ...

    def __iter__(self) -> Iterator[Post]: ...


@dataclass
class StreamStats:
    """Counts for one pass over a source."""

    read: int = 0
    yielded: int = 0
    dead_letters: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def dead(self, reason: str) -> None:
        self.dead_letters += 1
        key = reason.split(":", 1)[0]
        self.reasons[key] = self.reasons.get(key, 0) + 1


class DeadLetterWriter:
    """Appends rejected records to a JSONL file with the reason and source position.

    Each line is ``{"source": ..., "position": ..., "reason": ..., "raw": ...}``; ``raw``
    is the record as read (bytes are decoded with ``backslashreplace`` so nothing is lost).
    The file is opened lazily, so a clean run leaves no empty file behind. Thread-safe.
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self.count = 0
        self._lock = threading.Lock()

    @classmethod
    def of(cls, target: DeadLetterWriter | str | Path | None) -> DeadLetterWriter:
        """``target`` itself if it is a writer, else a writer to that path (None: count only)."""
        return target if isinstance(target, DeadLetterWriter) else cls(target)

    def write(self, source: str, position: Any, reason: str, raw: Any) -> None:
        """Record one rejected record."""
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="backslashreplace")
        line = json.dumps(
            {"source": source, "position": position, "reason": reason, "raw": raw},
            ensure_ascii=False,
            default=str,
        )
        with self._lock:
            self.count += 1
            if self.path is None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
