"""``GET /healthz`` (alive), ``GET /readyz`` (a model serves, the log answers), ``GET /metrics``."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.responses import Response

from alpharl.redaction import redact_text, redact_url
from alpharl.serving.deps import StateDep
from alpharl.serving.metrics import CONTENT_TYPE
from alpharl.serving.model_holder import CHAMPION
from alpharl.serving.responses import JSONBytes
from alpharl.serving.schemas import ReadyOut

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)
_PROBE_ID = "0" * 32
"""A decision id no decision has (UUIDv7 ids carry a version digit): the readiness read."""


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and answering."""
    return {"status": "ok"}


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def readyz(state: StateDep) -> JSONBytes:
    """Ready when the champion is loaded, the decision log answers a read, and the last write
    to it succeeded.

    Read-only: one primary-key lookup in the log (cheap however long the log is), never a
    write; a failing write shows here through the decide and feedback routes that made it.
    """
    problems: list[str] = []
    models = state.holder.models
    if CHAMPION not in models:
        problems.append("no champion model loaded")
    try:
        state.log.get(_PROBE_ID)
    except Exception as exc:  # any driver's error: the log cannot be read
        reason = redact_text(f"{type(exc).__name__}: {exc}")
        problems.append(f"decision log not readable: {reason}")
        logger.error(
            "readiness: decision log %s not readable: %s",
            redact_url(state.settings.decision_log_url),
            reason,
        )
    if state.service.last_write_error is not None:
        problems.append(
            f"the last write to the decision log failed: {state.service.last_write_error}"
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
