"""Stable-Baselines3's logger, written to MLflow through one output format.

SB3 algorithms log through their own `Logger` (``rollout/ep_rew_mean``, ``train/loss``,
``time/fps``, ...). `MlflowKVWriter` is an SB3 output format (`KVWriter`) that forwards
every numeric record to a run's `MetricsWriter`, so SB3's logs reach MLflow batched like
every other metric, following SB3's integration guide (``docs/guide/integrations.md``).
Strings, videos, figures, images and hparams are skipped, as are records excluded for
``"mlflow"`` (``logger.record(key, value, exclude="mlflow")``)::

    model.set_logger(configure_sb3_logger(run.metrics))
"""

from __future__ import annotations

import logging
import numbers
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
from stable_baselines3.common.logger import (
    Figure,
    HParam,
    HumanOutputFormat,
    Image,
    KVWriter,
    Logger,
    Video,
)

from alpharl.tracking.config import clean_key

if TYPE_CHECKING:
    from alpharl.tracking.metrics import MetricsWriter

log = logging.getLogger(__name__)

FORMAT_NAME = "mlflow"
_SKIPPED = (str, bytes, Video, Figure, Image, HParam)


def _as_number(value: Any) -> float | None:
    """A real number from a Python/numpy/torch scalar, or None for anything else."""
    if isinstance(value, (*_SKIPPED, bool, np.bool_)):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray) and value.size == 1 and np.issubdtype(value.dtype, np.number):
        return float(value.reshape(()))
    item = getattr(value, "item", None)  # torch scalar tensors
    numel = getattr(value, "numel", None)
    if callable(item) and callable(numel) and numel() == 1:
        out = item()
        return float(out) if isinstance(out, numbers.Real) else None
    return None


class MlflowKVWriter(KVWriter):
    """An SB3 output format that sends numeric records to a `MetricsWriter`.

    Args:
        metrics: The run's buffered metrics writer.
        flush_on_dump: Send the buffer to MLflow at every ``logger.dump`` (SB3 dumps once
            per log interval, so this is a handful of calls per run).
    """

    def __init__(self, metrics: MetricsWriter, flush_on_dump: bool = True) -> None:
        self.metrics = metrics
        self.flush_on_dump = flush_on_dump
        self.n_written = 0
        self.n_skipped = 0

    def write(
        self,
        key_values: dict[str, Any],
        key_excluded: dict[str, tuple[str, ...]],
        step: int = 0,
    ) -> None:
        """Forward the numeric values of one ``logger.dump`` at ``step``."""
        out: dict[str, float] = {}
        for key, value in key_values.items():
            excluded = key_excluded.get(key)
            if excluded is not None and FORMAT_NAME in excluded:
                continue
            number = _as_number(value)
            if number is None:
                self.n_skipped += 1
                continue
            out[clean_key(key)] = number
        if out:
            self.metrics.log(out, max(int(step), 0))
            self.n_written += len(out)
        if self.flush_on_dump:
            self.metrics.flush()

    def close(self) -> None:
        """Send what is buffered (the run, not this writer, owns the `MetricsWriter`)."""
        self.metrics.flush()


def configure_sb3_logger(metrics: MetricsWriter, stdout: bool = False) -> Logger:
    """An SB3 `Logger` writing to MLflow (and to stdout when asked).

    Args:
        metrics: The run's buffered metrics writer.
        stdout: Also print SB3's usual table.
    """
    formats: list[KVWriter] = [MlflowKVWriter(metrics)]
    if stdout:
        formats.append(HumanOutputFormat(sys.stdout))
    return Logger(folder=None, output_formats=formats)
