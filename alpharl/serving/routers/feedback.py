"""``POST /v1/feedback``: the reward of a logged decision (API key required)."""

from __future__ import annotations

from fastapi import APIRouter

from alpharl.serving.deps import ApiKeyDep, StateDep
from alpharl.serving.responses import JSONBytes
from alpharl.serving.schemas import FeedbackRequest, FeedbackResponse

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    responses={
        401: {"description": "missing or wrong X-API-Key"},
        404: {"description": "no such decision"},
        409: {"description": "the decision already has a different reward"},
        422: {"description": "a malformed request; detail names the field"},
    },
)
def feedback(body: FeedbackRequest, state: StateDep, _auth: ApiKeyDep) -> JSONBytes:
    """Record a click (reward 1/0) or a conversion value for a decision, exactly once.

    Sending the same reward again is accepted and changes nothing (``unchanged``).
    """
    result = state.service.feedback(body)
    return JSONBytes(
        {
            "decision_id": result.decision_id,
            "reward": result.reward,
            "status": result.status.value,
            "arm": result.arm,
            "policy_version": result.policy_version,
        }
    )
