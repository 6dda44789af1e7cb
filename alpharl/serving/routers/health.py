"""``GET /healthz`` (alive), ``GET /readyz`` (a model serves, the log writes), ``GET /metrics``."""

from __future__ import annotations

import logging
import sqlite3

from fastapi import APIRouter
from starlette.responses import Response

from alpharl.serving.deps import StateDep
from alpharl.serving.metrics import CONTENT_TYPE
from alpharl.serving.model_holder import CHAMPION
from alpharl.serving.responses import JSONBytes
from alpharl.serving.schemas import ReadyOut
from alpharl.serving.stores import redact_url

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and answering."""
    return {"status": "ok"}


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def readyz(state: StateDep) -> JSONBytes:
    """Ready when the champion model is loaded and the decision log takes a write."""
    problems: list[str] = []
    models = state.holder.models
    if CHAMPION not in models:
        problems.append("no champion model loaded")
    try:
        state.log.check_writable()
    except (sqlite3.Error, RuntimeError) as exc:
        problems.append(f"decision log not writable: {exc}")
        logger.error(
            "readiness: decision log %s not writable: %s",
            redact_url(state.settings.decision_log_url),
            exc,
        )
    body = {
        "ready": not problems,
        "models": {arm: m.version for arm, m in models.items()},
        "problems": problems,
    }
    return JSONBytes(body, status_code=200 if not problems else 503)


@router.get("/metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    """Prometheus metrics (text exposition format)."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)
