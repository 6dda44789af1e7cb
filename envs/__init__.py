"""Gymnasium environments of AlphaRL; importing the package registers their ids.

``gymnasium.make("alpharl/AdDelivery-v0")`` replays the default synthetic stream;
``gymnasium.make("alpharl/AdDelivery-v0", posts=envs.tweets_posts())`` the shipped
tweets. ``gymnasium.make_vec("alpharl/AdDelivery-v0", num_envs=N,
vectorization_mode="vector_entry_point")`` builds the native `AdDeliveryVectorEnv` (N
campaigns stepped with numpy, sub-env i equal to the single env seeded ``seed + i``); as
the id has a vector entry point, ``make_vec`` picks it when no mode is given, and
``vectorization_mode="sync"`` still gives a ``SyncVectorEnv``. Registration is
idempotent: importing again (or reloading) registers nothing new.
"""

from __future__ import annotations

import gymnasium as gym

from envs.ad_delivery import AdDeliveryEnv
from envs.click_models import ClickContext, FatigueCounter, LogisticClickModel
from envs.logged_replay import LoggedReplayEnv
from envs.posts import load_posts, synthetic_posts, tweets_posts
from envs.vector import AdDeliveryVectorEnv
from envs.wrappers import FlattenActionMask, RewardScale

AD_DELIVERY_ID = "alpharl/AdDelivery-v0"

ENV_IDS: dict[str, str] = {AD_DELIVERY_ID: "envs.ad_delivery:AdDeliveryEnv"}
"""Every registered id and its entry point."""

VECTOR_ENTRY_POINTS: dict[str, str] = {AD_DELIVERY_ID: "envs.vector:AdDeliveryVectorEnv"}
"""Native vector envs: ``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")``."""


def register_envs() -> None:
    """Register every id of `ENV_IDS` not yet in ``gymnasium.registry``."""
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=entry_point,
                vector_entry_point=VECTOR_ENTRY_POINTS.get(env_id),
            )


register_envs()

__all__ = [
    "AD_DELIVERY_ID",
    "ENV_IDS",
    "VECTOR_ENTRY_POINTS",
    "AdDeliveryEnv",
    "AdDeliveryVectorEnv",
    "ClickContext",
    "FatigueCounter",
    "FlattenActionMask",
    "LoggedReplayEnv",
    "LogisticClickModel",
    "RewardScale",
    "load_posts",
    "register_envs",
    "synthetic_posts",
    "tweets_posts",
]
