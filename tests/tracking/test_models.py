"""Policies through the MLflow registry: log, register, alias, load back, predict."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from alpharl.policy import ArtifactError, LinearPolicy
from alpharl.policy.qnetwork import QNetworkPolicy, build_mlp
from alpharl.policy.rules import EpsilonGreedyRule
from alpharl.tracking.models import (
    find_version,
    find_version_by_alias,
    get_version,
    get_version_by_alias,
    get_version_tags,
    list_versions,
    load_policy_from_registry,
    load_pyfunc,
    log_policy_model,
    register,
    set_alias,
    set_version_tag,
    use_store,
)
from alpharl.tracking.pyfunc import split_input
from alpharl.tracking.runs import Tracker
from alpharl.tracking.store import TrackingStore

D, N_ACTIONS = 4, 3
FEATURES = ["joy", "anger", "hour", "budget_left"]
CATALOG = [{"id": "c1", "headline": "Hi"}, {"id": "c2", "headline": "Yo"}]
SPEC = {"feature_names": FEATURES, "version": 1}


def _qnet_dir(tmp: Path, seed: int) -> tuple[QNetworkPolicy, Path]:
    torch.manual_seed(seed)
    net = build_mlp((D, 8, N_ACTIONS))
    policy = QNetworkPolicy((D, 8, N_ACTIONS), "relu", net.state_dict(), EpsilonGreedyRule(0.2))
    return policy, policy.save(tmp / f"policy-{seed}")


def _contexts(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((n, D)).astype(np.float32)
    masks = rng.random((n, N_ACTIONS)) < 0.5
    masks[:, -1] = True
    return x, masks


@pytest.fixture(scope="module")
def registered(tracker: Tracker, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two versions of one registered model, v1 logged with spec and catalog."""
    tmp = tmp_path_factory.mktemp("models")
    name = f"policy-{uuid.uuid4().hex[:8]}"
    p1, d1 = _qnet_dir(tmp, 1)
    p2, d2 = _qnet_dir(tmp, 2)
    with tracker.start_run("models-test", run_name="v1") as run:
        logged = log_policy_model(
            run,
            d1,
            registered_model_name=name,
            feature_spec=SPEC,
            catalog=CATALOG,
            feature_names=FEATURES,
            tags={"agent": "dqn"},
        )
    with tracker.start_run("models-test", run_name="v2") as run2:
        logged2 = log_policy_model(run2, d2, feature_names=FEATURES)
    v2 = register(logged2.model_uri, name, tracker.store)
    return {"name": name, "p1": p1, "p2": p2, "logged": logged, "v2": v2, "run": run}


def test_logged_and_registered(registered: dict[str, Any], client: Any) -> None:
    logged = registered["logged"]
    assert logged.version == "1"
    assert registered["v2"] == "2"
    assert logged.model_uri.startswith("models:/")
    v1 = get_version(registered["name"], 1, _store(client))
    assert v1.run_id == registered["run"].run_id
    run = client.get_run(registered["run"].run_id)
    assert run.info.status == "FINISHED"
    assert any(o.model_id for o in run.outputs.model_outputs)  # the run lists its model


def _store(client: Any) -> TrackingStore:
    return TrackingStore(client.tracking_uri, None, "config")


def test_alias_load_and_predict(registered: dict[str, Any], tracker: Tracker) -> None:
    name, store = registered["name"], tracker.store
    set_alias(name, "champion", 1, store)
    assert get_version_by_alias(name, "champion", store).version == "1"
    loaded = load_policy_from_registry(f"models:/{name}@champion", store)
    assert loaded.version == "1"
    assert loaded.name == name
    assert loaded.feature_spec == SPEC
    assert loaded.catalog == CATALOG
    assert isinstance(loaded.policy, QNetworkPolicy)
    x, masks = _contexts()
    np.testing.assert_array_equal(loaded.policy.q_values(x), registered["p1"].q_values(x))

    model = load_pyfunc(f"models:/{name}@champion", store)
    frame = pd.DataFrame(x.astype(np.float64), columns=FEATURES)
    for i in range(N_ACTIONS):
        frame[f"mask_{i}"] = masks[:, i]
    out = model.predict(frame, params={"seed": 11})
    actions, props = registered["p1"].decide(x, masks, rng=11)
    np.testing.assert_array_equal(out["action"].to_numpy(), actions)
    np.testing.assert_allclose(out["propensity"].to_numpy(), props)
    no_masks = model.predict(frame[FEATURES], params={"seed": 3})
    np.testing.assert_array_equal(
        no_masks["action"].to_numpy(), registered["p1"].decide(x, None, rng=3)[0]
    )

    # Moving the alias moves what serving loads.
    set_alias(name, "champion", registered["v2"], store)
    moved = load_policy_from_registry(f"models:/{name}@champion", store)
    assert moved.version == "2"
    assert moved.catalog is None
    np.testing.assert_array_equal(moved.policy.q_values(x), registered["p2"].q_values(x))
    by_version = load_policy_from_registry(f"models:/{name}/1", store)
    assert by_version.version == "1"


def test_partial_masks_are_rejected(registered: dict[str, Any], tracker: Tracker) -> None:
    model = load_pyfunc(f"models:/{registered['name']}/1", tracker.store)
    x, _ = _contexts(2)
    frame = pd.DataFrame(x.astype(np.float64), columns=FEATURES)
    frame["mask_0"] = True
    with pytest.raises(Exception, match="give every mask column or none"):
        model.predict(frame)


def test_lookups_that_may_find_nothing(registered: dict[str, Any], tracker: Tracker) -> None:
    name, store = registered["name"], tracker.store
    assert [v.version for v in list_versions(name, store)] == ["1", "2"]
    assert list_versions("no-such-model", store) == []
    assert find_version(name, 2, store).version == "2"  # type: ignore[union-attr]
    assert find_version(name, 99, store) is None
    assert find_version("no-such-model", 1, store) is None
    set_alias(name, "finder", 1, store)
    assert find_version_by_alias(name, "finder", store).version == "1"  # type: ignore[union-attr]
    assert find_version_by_alias(name, "nobody", store) is None
    assert find_version_by_alias("no-such-model", "champion", store) is None


def test_version_tags(registered: dict[str, Any], tracker: Tracker) -> None:
    name, store = registered["name"], tracker.store
    set_version_tag(name, 1, "ope.snips", 0.123, store)
    assert get_version_tags(name, 1, store)["ope.snips"] == "0.123"
    assert get_version_tags(name, 1, store)["agent"] == "dqn"


@pytest.mark.parametrize("alias", ["latest", "v3", "bad alias", ""])
def test_bad_alias_is_rejected(alias: str, tracker: Tracker) -> None:
    with pytest.raises(ValueError, match="alias: must be"):
        set_alias("m", alias, 1, tracker.store)


def test_bad_inputs_name_the_field(tracker: Tracker, tmp_path: Path) -> None:
    _, d = _qnet_dir(tmp_path, 0)
    with tracker.start_run("models-test") as run:
        with pytest.raises(ValueError, match="catalog: has 1 creatives"):
            log_policy_model(run, d, catalog=CATALOG[:1])
        with pytest.raises(ValueError, match="feature_names: need 4 distinct names"):
            log_policy_model(run, d, feature_names=["a", "a", "b", "c"])
        with pytest.raises(ValueError, match="feature_spec: cannot read JSON"):
            log_policy_model(run, d, feature_spec=str(tmp_path / "missing.json"))
        with pytest.raises(ArtifactError):
            log_policy_model(run, tmp_path / "nope")


def test_numpy_policy_round_trip(tracker: Tracker, tmp_path: Path) -> None:
    theta = np.arange(N_ACTIONS * D, dtype=np.float64).reshape(N_ACTIONS, D) / 10
    policy = LinearPolicy(theta)
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text('{"creatives": [{"id": "a"}, {"id": "b"}]}')
    with tracker.start_run("models-test") as run:
        logged = log_policy_model(run, policy.save(tmp_path / "lin"), catalog=catalog_file)
    loaded = load_policy_from_registry(logged.model_uri, tracker.store)
    assert loaded.name is None
    assert loaded.catalog == {"creatives": [{"id": "a"}, {"id": "b"}]}
    x, masks = _contexts()
    np.testing.assert_array_equal(
        loaded.policy.action_probabilities(x, masks), policy.action_probabilities(x, masks)
    )
    frame = pd.DataFrame(x.astype(np.float64), columns=[f"x{i}" for i in range(D)])
    out = load_pyfunc(logged.model_uri, tracker.store).predict(frame, params={"seed": 0})
    np.testing.assert_array_equal(out["action"].to_numpy(), policy.decide(x, rng=0)[0])


def test_split_input_accepts_arrays_and_checks_shapes() -> None:
    x = np.ones((3, 2))
    contexts, masks = split_input(x, ["a", "b"], 3)
    assert contexts.dtype == np.float32
    assert masks is None
    with pytest.raises(ValueError, match=r"must have shape \(n, 2\)"):
        split_input(np.ones((3, 5)), ["a", "b"], 3)
    with pytest.raises(ValueError, match=r"missing feature columns \['b'\]"):
        split_input(pd.DataFrame({"a": [1.0]}), ["a", "b"], 3)
    frame = pd.DataFrame(
        {"a": [1.0], "b": [2.0], "mask_0": [True], "mask_1": [None], "mask_2": [1]}
    )
    with pytest.raises(ValueError, match="must not be null"):
        split_input(frame, ["a", "b"], 3)


def test_use_store_restores_the_environment(
    tracker: Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with use_store(tracker.store):
        assert os.environ["MLFLOW_TRACKING_URI"] == tracker.store.tracking_uri
    assert "MLFLOW_TRACKING_URI" not in os.environ
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://elsewhere:5000")
    with use_store(tracker.store):
        pass
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://elsewhere:5000"
