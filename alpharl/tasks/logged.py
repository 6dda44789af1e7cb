"""Logged bandit feedback for `alpharl evaluate` and `alpharl promote`, from the ``log`` config.

``log.source`` says where the logged decisions are:

- ``sqlite:///<path>``: a serving decision log, read read-only (a server may be writing
  it); ``log.arm`` and ``log.since`` keep one arm's decisions or the recent ones;
- ``postgresql://user@host:port/db``: a serving decision log in PostgreSQL (the password in
  ``$PGPASSWORD`` or ``~/.pgpass``), with ``log.arm`` and ``log.since`` as above;
- ``<file>.csv``: an Open Bandit Dataset CSV (``item_id``, ``position``, ``click``,
  ``propensity_score``, context columns); ``log.position_base`` is its first position;
- ``<file>.parquet`` / ``<file>.npz``: logged arrays (`alpharl.ope.files`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from alpharl.config import ConfigError
from alpharl.ope import LoggedBanditFeedback
from alpharl.ope.files import read_logged
from alpharl.serving.log_rows import feedback_from_rows
from alpharl.serving.stores import POSTGRES_SCHEMES

SQLITE = "sqlite:///"
FILE_FORMATS = (".csv", ".parquet", ".npz")
SOURCES = (
    "sqlite:///<decision log>, postgresql://<decision log>, an Open Bandit Dataset .csv, "
    "or a .parquet/.npz of arrays"
)


def load_logged(log: Any, key: str = "log") -> LoggedBanditFeedback:
    """Load the logged feedback ``log`` (a `alpharl.config.LogSourceConfig` node) names.

    Args:
        log: The ``log`` config: ``source``, ``n_actions``, ``arm``, ``since``,
            ``position_base``.
        key: Where ``log`` sits in the config, for messages (``if_better.log``).

    Raises:
        ConfigError: No source, an unknown format, or an option the format does not take.
        FileNotFoundError: The file named does not exist.
        ValueError: The file's content is malformed (the message names the field).
    """
    source = log.source
    if not source:
        raise ConfigError(f"{key}.source: is required: {SOURCES}")
    source = str(source)
    n_actions = None if log.n_actions is None else int(log.n_actions)
    if source.startswith(SQLITE):
        from alpharl.serving.log_reader import read_logged_feedback

        db = source[len(SQLITE) :]
        if not db:
            raise ConfigError(f"{key}.source: {source!r} names no file; use sqlite:///<path>")
        since = None if log.since is None else float(log.since)
        return read_logged_feedback(db, since=since, arm=log.arm, n_actions=n_actions)
    if source.startswith(POSTGRES_SCHEMES):
        from alpharl.serving.pg_decision_log import PostgresDecisionLog

        since = None if log.since is None else float(log.since)
        store = PostgresDecisionLog(source)
        try:
            rows = store.iter_rows(since)
            return feedback_from_rows(rows, log.arm, n_actions, where=store.shown_url)
        finally:
            store.close()
    if "://" in source:
        scheme = source.split("://", 1)[0]
        raise ConfigError(f"{key}.source: unsupported scheme {scheme!r} in {source!r}; {SOURCES}")
    for option in ("arm", "since"):
        if log.get(option) is not None:
            raise ConfigError(
                f"{key}.{option}: applies to a decision log (sqlite:///...) only, not {source!r}"
            )
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        raise ConfigError(
            f"{key}.source: unknown format {suffix or '(no suffix)'!r} of {source!r}; {SOURCES}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{key}.source: no such file {source!r}")
    if suffix == ".csv":
        return LoggedBanditFeedback.from_obd_csv(path, n_actions, int(log.position_base))
    return read_logged(path, n_actions)


def feedback_digest(feedback: LoggedBanditFeedback) -> str:
    """A short SHA-256 of the logged data, recorded beside every estimate made from it."""
    h = hashlib.sha256(f"n_actions={feedback.n_actions};".encode())
    arrays = [feedback.context, feedback.action, feedback.reward, feedback.pscore]
    arrays += [feedback.position]
    if feedback.action_mask is not None:
        arrays.append(feedback.action_mask)
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]
