"""``POST /v1/decide`` and ``POST /v1/decide/batch``: choose a creative, log it durably."""

from __future__ import annotations

from fastapi import APIRouter

from alpharl.serving.deps import StateDep
from alpharl.serving.responses import JSONBytes
from alpharl.serving.schemas import (
    BatchDecideRequest,
    BatchDecideResponse,
    DecideRequest,
    DecideResponse,
)

router = APIRouter(prefix="/v1", tags=["decisions"])

_ERRORS: dict[int | str, dict[str, str]] = {
    422: {"description": "a malformed request; detail names the field"},
    503: {"description": "no model loaded yet, or text enrichment unavailable"},
}


@router.post("/decide", response_model=DecideResponse, responses=_ERRORS)
def decide(body: DecideRequest, state: StateDep) -> JSONBytes:
    """Choose the creative to show (or none) for one ad opportunity.

    The decision is committed to the decision log before this answers.
    """
    return JSONBytes(state.service.decide(body))


@router.post("/decide/batch", response_model=BatchDecideResponse, responses=_ERRORS)
def decide_batch(body: BatchDecideRequest, state: StateDep) -> JSONBytes:
    """Several decisions in one call, committed together before this answers."""
    return JSONBytes({"decisions": state.service.decide_batch(body.requests)})
