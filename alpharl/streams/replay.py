"""Replay posts from a JSONL, CSV or Parquet file, in event-time order.

Each iteration reads the whole file, validates every record (see `alpharl.streams.records`
for the value rules), sends malformed ones to the dead-letter file with their reason and
position, and then yields the accepted posts sorted by ``created_at``. The sort is stable:
posts with the same time come in file order. A replay can be windowed by event time,
looped forever with time kept monotonic, and paced against the wall clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from alpharl.schema import Post, RecordError
from alpharl.streams.base import DeadLetterWriter, StreamStats
from alpharl.streams.readers import READERS, infer_format
from alpharl.streams.records import EPOCH, FieldMap, RecordColumns, timestamp_us

log = logging.getLogger(__name__)


def _event_time(name: str, value: str | datetime | None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str | datetime):
        raise ValueError(f"{name}: must be an ISO-8601 string or a datetime (got {value!r})")
    try:
        return timestamp_us(value, name=name)
    except RecordError as exc:
        raise ValueError(str(exc)) from None


class ReplayStream:
    """Posts from a file, in event-time order.

    Args:
        path: The file to replay.
        format: ``jsonl``, ``csv`` or ``parquet``; None infers it from the suffix
            (``.jsonl``/``.ndjson``, ``.csv``, ``.parquet``/``.pq``).
        columns: ``{Post field: file column}``, e.g. ``{"text": "tweet", "author_id":
            "user"}``; unmapped fields are read from the column of the same name. A record's
            ``platform`` column, if any, wins over the ``platform`` argument.
        platform: Platform of posts whose record names none.
        loop: Replay forever. Each pass after the first shifts every time forward by the
            data's period (the span from first to last post plus one mean gap between
            posts, or one second for a single post), so time keeps increasing, and appends
            ``#<pass>`` to the ids (``#1`` on the second pass, ``#2`` on the third, ...).
        start: Yield only posts at or after this event time (ISO-8601 or datetime; naive
            = UTC).
        end: Yield only posts before this event time.
        pace: Wall-clock speed factor: with ``pace=60`` one minute of event time takes one
            second. None replays as fast as possible.
        dead_letter: Path of the dead-letter JSONL file (or a `DeadLetterWriter`); None
            counts and logs malformed records without writing them anywhere.
        name: Name of the source; defaults to the file's stem.
        annotations: Extra numeric columns to keep in each post's ``annotations`` under
            their own name.
        clock: Wall clock in seconds (default `time.monotonic`), for ``pace``.
        sleep: Sleeps for a number of seconds (default `time.sleep`), for ``pace``.

    Stats: ``read`` counts every record of the file (once per iteration, also when
    looping), ``dead_letters`` the malformed ones, ``yielded`` the posts handed out;
    ``read - dead_letters`` minus the posts yielded in one pass is what the window left out.
    A CSV or Parquet file that lacks a required column (``id``, ``created_at``,
    ``author_id``, ``text`` after mapping, or a listed annotation column) is a
    configuration error and raises `ValueError` instead of rejecting every record.
    """

    def __init__(
        self,
        path: str | Path,
        format: str | None = None,
        columns: Mapping[str, str] | None = None,
        platform: str = "replay",
        loop: bool = False,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        pace: float | None = None,
        dead_letter: str | Path | DeadLetterWriter | None = None,
        name: str | None = None,
        annotations: Sequence[str] | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"path: no such file {self.path}")
        fmt = format.lower() if isinstance(format, str) else infer_format(self.path)
        if fmt not in READERS:
            raise ValueError(f"format: must be one of {sorted(READERS)} (got {format!r})")
        self.format = fmt
        self.fields = FieldMap.build(columns, annotations, platform)
        self.loop = bool(loop)
        self._start_us = _event_time("start", start)
        self._end_us = _event_time("end", end)
        if (
            self._start_us is not None
            and self._end_us is not None
            and self._end_us <= self._start_us
        ):
            raise ValueError(f"end: must be after start (got start={start!r}, end={end!r})")
        if pace is not None and not (isinstance(pace, int | float) and pace > 0):
            raise ValueError(f"pace: must be a positive number or None (got {pace!r})")
        self.pace = None if pace is None else float(pace)
        self.dead_letter = DeadLetterWriter.of(dead_letter)
        self.name = name or self.path.stem
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self.stats = StreamStats()

    def __repr__(self) -> str:
        return f"ReplayStream({str(self.path)!r}, format={self.format!r}, loop={self.loop})"

    def reset(self, seed: int | None = None) -> None:
        """Rewind and zero the stats (a replay draws no randomness, so ``seed`` is unused)."""
        del seed
        self.stats = StreamStats()

    def _reject(self, position: Any, reason: str, raw: Any) -> None:
        self.dead_letter.write(str(self.path), position, reason, raw)
        self.stats.dead(reason)

    def read(self) -> RecordColumns:
        """Read and validate the file: the accepted records, sorted and windowed.

        Malformed records are dead-lettered and counted in ``stats`` as a side effect.
        """
        before = self.stats.dead_letters
        records = READERS[self.format](self.path, self.fields, self._reject)
        rejected = self.stats.dead_letters - before
        self.stats.read += len(records) + rejected
        if rejected and self.dead_letter.path is None:
            log.warning(
                "%s: %d malformed records were rejected (reasons: %s); pass dead_letter= "
                "to keep them",
                self.path,
                rejected,
                self.stats.reasons,
            )
        order = np.lexsort((records.positions, records.created_us))
        created = records.created_us[order]
        keep = np.ones(len(order), dtype=bool)
        if self._start_us is not None:
            keep &= created >= self._start_us
        if self._end_us is not None:
            keep &= created < self._end_us
        return records.take(order[keep])

    def __iter__(self) -> Iterator[Post]:
        records = self.read()
        n = len(records)
        if n == 0:
            return
        created = records.created_us.tolist()
        counts = records.counts.tolist()
        span = created[-1] - created[0]
        period = span + (span // (n - 1) if n > 1 and span > 0 else 1_000_000)
        wall0: float | None = None
        event0 = created[0]
        bad: set[int] = set()
        n_pass = 0
        while True:
            shift = n_pass * period
            suffix = f"#{n_pass}" if n_pass else ""
            for i in range(n):
                if i in bad:
                    continue
                us = created[i] + shift
                try:
                    when = EPOCH + timedelta(microseconds=us)
                except OverflowError:
                    log.warning("%s: replay stopped: time ran past year 9999", self.path)
                    return
                if self.pace is not None:
                    if wall0 is None:
                        wall0 = self._clock()
                    delay = wall0 + (us - event0) / 1e6 / self.pace - self._clock()
                    if delay > 0:
                        self._sleep(delay)
                ann = records.annotations[i]
                c = counts[i]
                try:
                    post = Post(
                        records.ids[i] + suffix,
                        when,
                        records.platforms[i],
                        records.authors[i],
                        records.texts[i],
                        records.langs[i],
                        c[0],
                        c[1],
                        c[2],
                        c[3],
                        dict(ann) if ann else {},
                    )
                except RecordError as exc:  # validation already ran; this is a safety net
                    bad.add(i)
                    self._reject(int(records.positions[i]), str(exc), records.texts[i])
                    continue
                self.stats.yielded += 1
                yield post
            if not self.loop or len(bad) == n:
                return
            n_pass += 1
