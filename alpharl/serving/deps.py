"""FastAPI dependencies: the serving state and the API key check (used via ``Annotated``).

Both are ``async def`` on purpose: they do no CPU work, and a plain ``def`` dependency
would cost a thread-pool hop per request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from alpharl.serving.metrics import ServingMetrics
from alpharl.serving.model_holder import ModelHolder
from alpharl.serving.service import DecisionService
from alpharl.serving.settings import ServeSettings
from alpharl.serving.stores import DecisionStore

API_KEY_HEADER = "X-API-Key"


@dataclass
class ServingState:
    """Everything the routes share, built in the app's lifespan."""

    settings: ServeSettings
    holder: ModelHolder
    log: DecisionStore
    metrics: ServingMetrics
    service: DecisionService


async def get_state(request: Request) -> ServingState:
    """The app's `ServingState` (set by the lifespan)."""
    state: ServingState | None = getattr(request.app.state, "serving", None)
    if state is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the server is starting")
    return state


StateDep = Annotated[ServingState, Depends(get_state)]

_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="the serving API key")


async def require_api_key(state: StateDep, key: Annotated[str | None, Security(_api_key)]) -> None:
    """Reject the request unless it carries the configured API key (constant-time compare)."""
    expected = state.settings.api_key
    if expected is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "this route needs an API key and none is configured (set ALPHARL_SERVE_API_KEY)",
        )
    if key is None or not secrets.compare_digest(
        key.encode(), expected.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing or wrong {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )


ApiKeyDep = Annotated[None, Depends(require_api_key)]
