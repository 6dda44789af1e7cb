"""FeatureSpec: layout, bounds, persistence, fingerprint and the errors of a bad spec."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alpharl.features import BLOCKS, FATIGUE_CLIP, FEATURIZER_VERSION, FeatureSpec
from alpharl.schema import EMOTIONS, INTENTS, TOPICS


def test_default_layout() -> None:
    spec = FeatureSpec(n_creatives=3)
    assert spec.blocks == BLOCKS
    widths = {"profile": 7 + 1 + 5 + 1, "post": 4 + 7 + 5, "topic": len(TOPICS), "time": 3,
              "campaign": 2, "fatigue": 3}  # fmt: skip
    assert spec.dim == sum(widths.values()) == len(spec.names)
    for block, width in widths.items():
        s = spec.slices[block]
        assert s.stop - s.start == width
    assert spec.names[0] == "profile_emotion_anger"
    assert spec.names[spec.slices["fatigue"].start :] == ["fatigue_0", "fatigue_1", "fatigue_2"]
    assert len(set(spec.names)) == spec.dim


def test_bounds_are_finite_and_documented() -> None:
    spec = FeatureSpec(n_creatives=2)
    assert spec.low.dtype == np.float32
    assert spec.high.dtype == np.float32
    assert np.all(np.isfinite(spec.low))
    assert np.all(np.isfinite(spec.high))
    assert np.all(spec.low < spec.high)
    named = dict(zip(spec.names, zip(spec.low, spec.high, strict=True), strict=True))
    assert named["post_sentiment_compound"] == (-1.0, 1.0)
    assert named["time_hour_sin"] == (-1.0, 1.0)
    assert named["fatigue_1"] == (0.0, FATIGUE_CLIP)
    assert named["profile_activity"] == (0.0, 1.0)
    with pytest.raises(ValueError, match="read-only"):
        spec.low[0] = 5.0


def test_block_order_and_subsets() -> None:
    spec = FeatureSpec(blocks=("time", "post"), emotions=("joy", "anger"), intents=("purchase",))
    assert spec.names == [
        "time_hour_sin", "time_hour_cos", "time_weekend",
        "post_sentiment_compound", "post_sentiment_pos", "post_sentiment_neu",
        "post_sentiment_neg", "post_emotion_joy", "post_emotion_anger", "post_intent_purchase",
    ]  # fmt: skip


def test_emotion_features_off_drops_emotion_columns_only() -> None:
    on = FeatureSpec(n_creatives=2)
    off = FeatureSpec(n_creatives=2, emotion_features=False)
    dropped = set(on.names) - set(off.names)
    assert dropped == {f"{b}_emotion_{e}" for b in ("profile", "post") for e in EMOTIONS}
    assert set(off.names) < set(on.names)
    assert off.dim == on.dim - 2 * len(EMOTIONS)
    assert "profile_intent_purchase" in off.names


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"blocks": ("profile", "mood")}, "unknown block 'mood'"),
        ({"blocks": ("post", "post")}, "each block may appear once"),
        ({"blocks": ()}, "blocks: must be a non-empty list"),
        ({"blocks": "post"}, "blocks: must be a non-empty list"),
        ({"emotions": ("joy", "bliss")}, "emotions: unknown label 'bliss'"),
        ({"intents": ("purchase", "purchase")}, "intents: labels must be unique"),
        ({"topics": "tech"}, "topics: must be a list"),
        ({"n_creatives": -1}, "n_creatives: must be a non-negative integer"),
        ({"n_creatives": 0}, "n_creatives: must be >= 1 when 'fatigue'"),
        ({"n_creatives": 2, "half_life_hours": 0}, "half_life_hours"),
        ({"n_creatives": 2, "version": FEATURIZER_VERSION + 1}, "version"),
        ({"n_creatives": 2, "emotion_features": "no"}, "emotion_features: must be a bool"),
        ({"n_creatives": 2, "name": ""}, "name: must be a non-empty string"),
    ],
)
def test_bad_specs_are_clear_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FeatureSpec(**kwargs)


def test_save_load_roundtrip_and_fingerprint(tmp_path: Path) -> None:
    spec = FeatureSpec(n_creatives=4, half_life_hours=6, emotion_features=False, topics=TOPICS[:3])
    path = spec.save(tmp_path / "spec" / "feature_spec.json")
    loaded = FeatureSpec.load(path)
    assert loaded == spec
    assert loaded.names == spec.names
    assert loaded.fingerprint == spec.fingerprint
    assert len(spec.fingerprint) == 16
    assert FeatureSpec(n_creatives=5).fingerprint != FeatureSpec(n_creatives=4).fingerprint
    assert json.loads(path.read_text())["intents"] == list(INTENTS)


def test_loading_another_version_fails_with_the_path(tmp_path: Path) -> None:
    data = FeatureSpec(n_creatives=2).to_dict()
    data["version"] = FEATURIZER_VERSION + 1
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"old\.json: version: .*featurizer version 2"):
        FeatureSpec.load(path)


def test_from_dict_rejects_unknown_and_missing_keys(tmp_path: Path) -> None:
    data = FeatureSpec(n_creatives=2).to_dict()
    with pytest.raises(ValueError, match=r"unknown keys \['colour'\]"):
        FeatureSpec.from_dict({**data, "colour": "red"})
    del data["version"]
    with pytest.raises(ValueError, match="missing 'version'"):
        FeatureSpec.from_dict(data)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        FeatureSpec.load(bad)
