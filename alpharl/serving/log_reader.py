"""Read a decision log file without writing to it (offline evaluation, notebooks).

`alpharl.serving.decision_log.DecisionLog` opens a log to serve from it: it creates the
file, takes the writer's role and runs a checkpoint thread. Evaluation only reads, often
while a server is writing the same file, so `read_logged_feedback` opens it read-only.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alpharl.serving.decision_log import (
    _EXPORT_COLUMNS,
    SCHEMA_VERSION,
    _as_time,
)
from alpharl.serving.log_rows import feedback_from_rows, row_dict

if TYPE_CHECKING:
    from alpharl.ope.dataset import LoggedBanditFeedback


def read_logged_feedback(
    path: str | Path,
    since: float | datetime | None = None,
    arm: str | None = None,
    n_actions: int | None = None,
) -> LoggedBanditFeedback:
    """`DecisionLog.to_logged_feedback` of a log file, opened read-only.

    Reading never writes to the file, so it is safe while a server is writing it (WAL
    readers do not block the writer) and it never creates a log where there was none.

    Args:
        path: The decision log's database file.
        since, arm, n_actions: As in `DecisionLog.to_logged_feedback`.

    Raises:
        FileNotFoundError: No such file.
        ValueError: The file is not a decision log this code can read, or no logged
            decision (of ``arm``) has a reward yet.
    """
    db = Path(path)
    if not db.is_file():
        raise FileNotFoundError(f"{db}: no decision log at this path")
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ValueError(f"{db}: cannot open the decision log read-only: {exc}") from None
    try:
        try:
            found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{db}: not an AlphaRL decision log ({exc})") from None
        if found is None or found[0] != str(SCHEMA_VERSION):
            raise ValueError(
                f"{db}: decision log schema version {found and found[0]}, this code reads "
                f"{SCHEMA_VERSION}"
            )
        t0 = _as_time(since)
        sql = f"SELECT {_EXPORT_COLUMNS} FROM decisions"
        params: tuple[Any, ...] = ()
        if t0 is not None:
            sql += " WHERE created_at >= ?"
            params = (t0,)
        rows = [row_dict(r) for r in conn.execute(sql + " ORDER BY rowid", params)]
    finally:
        conn.close()
    if not rows:
        raise ValueError(f"{db}: the decision log holds no decisions" + _since(since))
    return feedback_from_rows(rows, arm, n_actions, where=str(db))


def _since(since: float | datetime | None) -> str:
    return "" if since is None else f" since {since}"
