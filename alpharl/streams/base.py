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


MAX_DEAD_LETTER_RAW_CHARS = 65_536
"""Most characters of a rejected record kept in its dead letter (``raw_chars`` gives the size)."""


def _key(source: str, position: Any) -> str:
    return json.dumps([source, position], sort_keys=True, default=str)


def _shown_raw(raw: Any) -> tuple[Any, dict[str, int]]:
    """``raw`` made JSON-safe and cut to `MAX_DEAD_LETTER_RAW_CHARS`, and its size if cut."""
    limit = MAX_DEAD_LETTER_RAW_CHARS
    if isinstance(raw, bytes):
        shown = raw[:limit].decode("utf-8", errors="backslashreplace")
        return shown, ({"raw_bytes": len(raw)} if len(raw) > limit else {})
    if isinstance(raw, str):
        return raw[:limit], ({"raw_chars": len(raw)} if len(raw) > limit else {})
    try:
        json.dumps(raw, default=str)
    except (RecursionError, ValueError, TypeError):  # too deep, or an odd value
        return f"<{type(raw).__name__} that cannot be written as JSON>", {}
    return raw, {}


class DeadLetterWriter:
    """Appends rejected records to a JSONL file with the reason and source position.

    Each line is ``{"source": ..., "position": ..., "reason": ..., "raw": ...}``; ``raw``
    is the record as read (bytes are decoded with ``backslashreplace``, lone surrogates
    escaped), cut to its first `MAX_DEAD_LETTER_RAW_CHARS` characters with ``raw_chars``
    (or ``raw_bytes``) added when it was longer. The file is opened lazily, so a clean run
    leaves no empty file behind. Thread-safe.

    A record is written once per file: the writer keys each letter by its ``(source,
    position)`` and, before its first write, reads the keys already in the file, so a rerun
    over the same input (or a Kafka batch read again after a crash) does not append the
    same dead letters again. ``count`` counts the letters written by this writer,
    ``skipped`` the ones already in the file.
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self.count = 0
        self.skipped = 0
        self._seen: set[str] | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(cls, target: DeadLetterWriter | str | Path | None) -> DeadLetterWriter:
        """``target`` itself if it is a writer, else a writer to that path (None: count only)."""
        return target if isinstance(target, DeadLetterWriter) else cls(target)

    def _recorded(self) -> set[str]:
        if self._seen is None:
            self._seen = set()
            if self.path is not None and self.path.is_file():
                with self.path.open("rb") as fh:
                    for line in fh:
                        try:
                            letter = json.loads(line)
                            self._seen.add(_key(letter["source"], letter["position"]))
                        except (ValueError, KeyError, TypeError, RecursionError):
                            continue  # a torn last line: that letter is written again
        return self._seen

    def write(self, source: str, position: Any, reason: str, raw: Any) -> None:
        """Record one rejected record (once: a letter already in the file is skipped)."""
        shown, size = _shown_raw(raw)
        letter = {"source": source, "position": position, "reason": reason, "raw": shown, **size}
        line = json.dumps(letter, ensure_ascii=False, default=str)
        try:
            data = (line + "\n").encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: JSON's \\u escape keeps it valid UTF-8
            data = (json.dumps(letter, default=str) + "\n").encode("ascii")
        key = _key(source, position)
        with self._lock:
            if self.path is None:
                self.count += 1
                return
            seen = self._recorded()
            if key in seen:
                self.skipped += 1
                return
            seen.add(key)
            self.count += 1
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as fh:
                fh.write(data)
