"""The default ad-delivery env on test posts, for the pacing and batched-learner tests.

`AdDeliveryEnv`'s ``info`` carries the budget keys pacing reads (``action_costs``,
``budget``, ``budget_left``, ``steps_left``) on reset and on every step.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.append(str(_ROOT))
if getattr(sys.modules.get("envs"), "__file__", "") is None:
    del sys.modules["envs"]
sys.path.insert(0, str(_ROOT / "tests" / "features"))

from enriched_tables import make_enriched_table  # noqa: E402

from envs.ad_delivery import AdDeliveryEnv  # noqa: E402


def budget_env(budget: float = 10.0, horizon: int = 1000, seed: int = 0, **kwargs: Any) -> Any:
    """The default env (8 built-in creatives, default click model) on 6,000 test posts."""
    posts = make_enriched_table(6000, 300, seed=seed, days=14.0)
    return AdDeliveryEnv(posts, budget=budget, horizon=horizon, **kwargs)
