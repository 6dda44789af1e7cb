"""``POST /v1/admin/reload``: check the aliases now and swap in new versions (API key)."""

from __future__ import annotations

from fastapi import APIRouter

from alpharl.serving.deps import ApiKeyDep, StateDep
from alpharl.serving.responses import JSONBytes
from alpharl.serving.schemas import ArmReload

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post(
    "/reload",
    response_model=dict[str, ArmReload],
    responses={401: {"description": "missing or wrong X-API-Key"}},
)
def reload(state: StateDep, _auth: ApiKeyDep) -> JSONBytes:
    """Resolve every arm's alias (or folder) now; load and swap in what changed.

    A version that fails to load is refused (``refused``, with the reason) and the one
    serving before keeps serving.
    """
    outcomes = state.holder.refresh()
    return JSONBytes(
        {
            arm: {
                "status": o.status,
                "version": o.version,
                "candidate": o.candidate,
                "reason": o.reason,
            }
            for arm, o in outcomes.items()
        }
    )
