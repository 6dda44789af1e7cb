"""User profiles (decayed per-user state) and the context featurizer."""

from alpharl.features.featurizer import CampaignState, Featurizer, PostColumns
from alpharl.features.profiles import (
    PROFILE_VALUE_COLUMNS,
    InMemoryProfileStore,
    ProfileState,
    ProfileStore,
    UserProfile,
    decayed_profiles,
    post_profile_values,
    profile_values,
)
from alpharl.features.spec import BLOCKS, FATIGUE_CLIP, FEATURIZER_VERSION, FeatureSpec

__all__ = [
    "BLOCKS",
    "FATIGUE_CLIP",
    "FEATURIZER_VERSION",
    "PROFILE_VALUE_COLUMNS",
    "CampaignState",
    "FeatureSpec",
    "Featurizer",
    "InMemoryProfileStore",
    "PostColumns",
    "ProfileState",
    "ProfileStore",
    "UserProfile",
    "decayed_profiles",
    "post_profile_values",
    "profile_values",
]
