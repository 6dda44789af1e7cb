"""Run the serving app with uvicorn: ``python -m alpharl.serving`` (settings from the env).

One worker by default. Several workers (``ALPHARL_SERVE_WORKERS``) share the decision log
safely (SQLite WAL, ``BEGIN IMMEDIATE`` for read-then-write), but each has its own
in-process profiles and fatigue counts unless ``ALPHARL_SERVE_PROFILE_STORE_URL`` points at
Redis. The workers listen on a socket that keeps ``TCP_NODELAY`` (`alpharl.serving.workers`;
uvicorn's own ``--workers`` path loses it).
"""

from __future__ import annotations

import logging
import os

import uvicorn

from alpharl.serving.app import create_app
from alpharl.serving.settings import ServeSettings
from alpharl.serving.workers import serve_workers

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _export(settings: ServeSettings) -> None:
    """Put the settings into ``ALPHARL_SERVE_*`` so worker processes read the same ones."""
    prefix = "ALPHARL_SERVE_"
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        key = prefix + name.upper()
        if value is None:
            os.environ.pop(key, None)
        elif hasattr(value, "get_secret_value"):
            os.environ[key] = value.get_secret_value()
        else:
            os.environ[key] = str(value)


def run(settings: ServeSettings | None = None) -> None:
    """Serve until interrupted.

    Args:
        settings: Serving settings; None reads them from ``ALPHARL_SERVE_*``.
    """
    settings = settings if settings is not None else ServeSettings()
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    common = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]
        return
    _export(settings)
    # Not uvicorn.run(workers=N): its listening socket loses TCP_NODELAY (see .workers).
    serve_workers(
        uvicorn.Config(
            "alpharl.serving.app:create_app_from_env",
            factory=True,
            workers=settings.workers,
            **common,  # type: ignore[arg-type]
        )
    )


if __name__ == "__main__":
    run()
