"""Flattening configs into MLflow params and YAML."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import yaml
from omegaconf import OmegaConf

from alpharl.tracking import config as tc


@dataclass
class _Agent:
    name: str = "dqn"
    net_arch: list[int] = field(default_factory=lambda: [64, 64])


def test_flatten_nested_mapping_lists_and_dataclasses() -> None:
    cfg = {
        "agent": _Agent(),
        "env": {"k": 5, "reward": {"cost_weight": 0.5}, "empty": {}},
        "stages": [{"name": "a"}, {"name": "b"}],
        "seed": None,
    }
    flat = tc.flatten_config(cfg)
    assert flat == {
        "agent.name": "dqn",
        "agent.net_arch": [64, 64],
        "env.k": 5,
        "env.reward.cost_weight": 0.5,
        "env.empty": {},
        "stages.0.name": "a",
        "stages.1.name": "b",
        "seed": None,
    }


def test_flatten_resolves_omegaconf_interpolations() -> None:
    cfg = OmegaConf.create({"paths": {"root": "/r", "runs": "${paths.root}/runs"}})
    assert tc.flatten_config(cfg) == {"paths.root": "/r", "paths.runs": "/r/runs"}


def test_flatten_rejects_non_mapping() -> None:
    with pytest.raises(TypeError, match="config: must be a mapping"):
        tc.flatten_config([1, 2])


def test_params_truncated_and_keys_cleaned() -> None:
    long_key = "a." * 200
    params = tc.mlflow_params(
        {
            "x": "v" * 7000,
            "flag": True,
            "none": None,
            "weird key=1": 3,
            long_key + "x": 1,
            long_key + "y": 2,
        }
    )
    assert len(params["x"]) == tc.MAX_PARAM_VALUE_LENGTH
    assert params["x"].endswith(tc.TRUNCATION_MARK)
    assert params["flag"] == "true"
    assert params["none"] == "null"
    assert params["weird key_1"] == "3"
    long_ones = [k for k in params if k.startswith("a.a.")]
    assert len(long_ones) == 2
    assert all(len(k) == tc.MAX_PARAM_KEY_LENGTH and tc.is_valid_key(k) for k in long_ones)


def test_params_key_collision_is_an_error() -> None:
    with pytest.raises(ValueError, match="same as"):
        tc.mlflow_params({"a=b": 1, "a_b": 2})


@pytest.mark.parametrize("key", ["", "/a", "a//b", "..", ".", "a=b", "a\nb"])
def test_invalid_keys(key: str) -> None:
    assert not tc.is_valid_key(key)
    assert tc.is_valid_key(tc.clean_key(key))


def test_config_yaml_round_trips() -> None:
    import numpy as np

    cfg = {"b": 1, "a": {"lr": 1e-3, "arch": (64, 64)}, "np": np.float32(0.5)}
    text = tc.config_yaml(cfg)
    assert text.index("b:") < text.index("a:")  # original order kept
    assert yaml.safe_load(text) == {"b": 1, "a": {"lr": 1e-3, "arch": [64, 64]}, "np": 0.5}


def test_limits_match_mlflow() -> None:
    from mlflow.utils import validation as v

    assert tc.MAX_PARAM_VALUE_LENGTH == v.MAX_PARAM_VAL_LENGTH
    assert tc.MAX_PARAM_KEY_LENGTH == v.MAX_ENTITY_KEY_LENGTH
    assert tc.MAX_PARAMS_PER_BATCH == v.MAX_PARAMS_TAGS_PER_BATCH
    assert tc.MAX_METRICS_PER_BATCH == v.MAX_METRICS_PER_BATCH
    assert tc.MAX_TAG_VALUE_LENGTH == v.MAX_TAG_VAL_LENGTH
