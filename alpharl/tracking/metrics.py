"""Buffered metrics for one MLflow run: `MetricsWriter` sends values in `log_batch` calls.

One MLflow call per value is slow (a database transaction, or an HTTP request to a
tracking server), so training loops and SB3's logger write through this buffer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import mlflow
import numpy as np
from mlflow.entities import Metric

from alpharl.tracking.config import MAX_METRICS_PER_BATCH, is_valid_key


class MetricsWriter:
    """Buffers metrics of one run and sends them in `log_batch` calls.

    One MLflow call per value is slow (a database transaction, or an HTTP request to a
    server); the writer sends a batch when ``flush_every`` `log` calls have accumulated,
    when the buffer reaches MLflow's 1000-metric batch limit, when ``flush_interval_s``
    seconds have passed since the last flush, and on `flush`/`close`. Thread-safe.

    Args:
        client: Client of the tracking store.
        run_id: The run to log to.
        flush_every: `log` calls between automatic flushes (>= 1).
        flush_interval_s: Longest time a value waits in the buffer before the next `log`
            call sends it (> 0).
    """

    def __init__(
        self,
        client: mlflow.MlflowClient,
        run_id: str,
        flush_every: int = 100,
        flush_interval_s: float = 30.0,
    ) -> None:
        if isinstance(flush_every, bool) or not isinstance(flush_every, int) or flush_every < 1:
            raise ValueError(f"flush_every: must be an integer >= 1 (got {flush_every!r})")
        if not flush_interval_s > 0:
            raise ValueError(f"flush_interval_s: must be > 0 (got {flush_interval_s!r})")
        self.client = client
        self.run_id = run_id
        self.flush_every = flush_every
        self.flush_interval_s = float(flush_interval_s)
        self.n_sent = 0
        self.n_batches = 0
        self._buffer: list[Metric] = []
        self._calls = 0
        self._last_flush = time.monotonic()
        self._keys: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def pending(self) -> int:
        """Values buffered and not yet sent."""
        return len(self._buffer)

    def _check_key(self, key: str) -> None:
        if key in self._keys:
            return
        if not isinstance(key, str) or not is_valid_key(key):
            raise ValueError(
                f"metric key {key!r}: must be letters, digits, '_ . / - :' or spaces, "
                "and not a path like '/a', 'a//b' or '..'"
            )
        self._keys.add(key)

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        """Buffer one value per key at ``step``.

        Args:
            metrics: Key -> number (Python, numpy or a 0-d array). NaN and inf are kept.
            step: The training step (a non-negative integer).

        Raises:
            ValueError: For a bad key or a negative step.
            TypeError: For a value that is not a real number.
            RuntimeError: After `close`.
        """
        if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
            raise ValueError(f"step: must be a non-negative integer (got {step!r})")
        now_ms = int(time.time() * 1000)
        batch = []
        for key, value in metrics.items():
            self._check_key(key)
            try:
                number = float(value)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"metric {key!r}: must be a real number (got {value!r})") from exc
            batch.append(Metric(key, number, now_ms, int(step)))
        with self._lock:
            if self._closed:
                raise RuntimeError(f"MetricsWriter of run {self.run_id} is closed")
            self._buffer.extend(batch)
            self._calls += 1
            due = (
                self._calls >= self.flush_every
                or len(self._buffer) >= MAX_METRICS_PER_BATCH
                or time.monotonic() - self._last_flush >= self.flush_interval_s
            )
        if due:
            self.flush()

    def log_metric(self, key: str, value: Any, step: int) -> None:
        """Buffer one value; see `log`."""
        self.log({key: value}, step)

    def flush(self) -> None:
        """Send everything buffered, in batches of at most 1000 values.

        If MLflow fails, the values not yet sent stay buffered for the next flush and the
        error propagates.
        """
        with self._lock:
            while self._buffer:
                chunk = self._buffer[:MAX_METRICS_PER_BATCH]
                self.client.log_batch(self.run_id, metrics=chunk)
                del self._buffer[: len(chunk)]
                self.n_sent += len(chunk)
                self.n_batches += 1
            self._calls = 0
            self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and refuse further values."""
        self.flush()
        with self._lock:
            self._closed = True
