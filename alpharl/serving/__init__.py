"""Serving: a FastAPI app that decides which creative to show and logs every decision.

`create_app(settings)` builds the app; `run(settings)` (or ``python -m alpharl.serving``)
serves it with uvicorn. Settings come from ``ALPHARL_SERVE_*`` (`ServeSettings`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alpharl.serving.settings import ServeSettings

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(settings: ServeSettings | None = None, **kwargs: Any) -> FastAPI:
    """Build the serving app (see `alpharl.serving.app.create_app`)."""
    from alpharl.serving.app import create_app as _create_app

    return _create_app(settings, **kwargs)


def run(settings: ServeSettings | None = None) -> None:
    """Serve with uvicorn (see `alpharl.serving.__main__.run`)."""
    from alpharl.serving.__main__ import run as _run

    _run(settings)


__all__ = ["ServeSettings", "create_app", "run"]
