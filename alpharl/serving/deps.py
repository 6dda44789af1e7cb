"""FastAPI dependencies: the serving state and the API key check (used via ``Annotated``).

Both are ``async def`` on purpose: they do no CPU work, and a plain ``def`` dependency
would cost a thread-pool hop per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from alpharl.serving.limits import API_KEY_HEADER, api_key_problem
from alpharl.serving.metrics import ServingMetrics
from alpharl.serving.model_holder import ModelHolder
from alpharl.serving.service import DecisionService
from alpharl.serving.settings import ServeSettings
from alpharl.serving.stores import DecisionStore


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
    """Reject the request unless it carries the configured API key (constant-time compare).

    `alpharl.serving.limits.RequestLimitMiddleware` makes the same check before the body is
    read; this one keeps the routes safe in an app built without it.
    """
    problem = api_key_problem(state.settings, None if key is None else key.encode("latin-1"))
    if problem is not None:
        status_code, detail = problem
        headers = {"WWW-Authenticate": API_KEY_HEADER} if status_code == 401 else None
        raise HTTPException(status_code, detail, headers=headers)


ApiKeyDep = Annotated[None, Depends(require_api_key)]
