"""Loading, checking and hot-swapping served models from local folders."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from serving_fixtures import SPEC, make_model_dir

from alpharl.features.spec import FeatureSpec
from alpharl.serving.model_holder import ModelHolder
from alpharl.serving.model_registry import (
    LocalSource,
    ModelRefusedError,
    build_served_model,
    catalog_ids,
    make_source,
)


def _link(link: Path, target: Path) -> None:
    """Atomically point the symlink ``link`` at ``target`` (as a deploy would)."""
    tmp = link.with_name(link.name + ".tmp")
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)


def test_local_version_is_a_content_digest(tmp_path: Path) -> None:
    src = LocalSource(make_model_dir(tmp_path / "m", seed=1), "ads")
    v1 = src.current_version()
    assert v1.startswith("sha-")
    assert src.current_version() == v1
    same = LocalSource(make_model_dir(tmp_path / "m2", seed=1), "ads")
    assert same.current_version() == v1  # same bytes, same version
    make_model_dir(tmp_path / "m", seed=2)
    assert src.current_version() != v1
    loaded = src.load(src.current_version())
    assert loaded.version == src.current_version()
    assert loaded.name == "ads"
    assert catalog_ids(loaded.catalog) == ("c0", "c1", "c2")


def test_holder_swaps_on_refresh_and_notifies(tmp_path: Path) -> None:
    link = tmp_path / "current"
    v1 = make_model_dir(tmp_path / "v1", seed=1)
    v2 = make_model_dir(tmp_path / "v2", seed=2)
    _link(link, v1)
    holder = ModelHolder({"champion": LocalSource(link, "ads")}, poll_interval_s=0)
    swaps: list[tuple[str, str | None, str]] = []
    holder.add_listener(lambda arm, old, new: swaps.append((arm, old and old.version, new.version)))
    first = holder.refresh()["champion"]
    assert first.status == "loaded"
    before = holder.models
    assert holder.refresh()["champion"].status == "unchanged"
    _link(link, v2)
    second = holder.refresh()["champion"]
    assert second.status == "loaded"
    assert second.version != first.version
    assert before["champion"].version == first.version  # an old snapshot stays whole
    assert swaps == [("champion", None, first.version), ("champion", first.version, second.version)]


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("arrays", "arrays.npz"),
        ("manifest", "policy.json"),
        ("spec_dim", "describes 25 features but the policy takes 47"),
        ("spec_json", "feature_spec.json: not valid JSON"),
        ("spec_version", "featurizer version"),
        ("catalog_len", "catalog has 2 creatives but the policy has 4 actions"),
        ("catalog_dup", "duplicate creative ids"),
        ("no_catalog", "no creative catalog"),
        ("fatigue_k", "fatigue block for 5 creatives"),
    ],
)
def test_broken_versions_are_refused_and_the_old_one_serves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, breakage: str, reason: str
) -> None:
    folder = make_model_dir(tmp_path / "m", seed=1)
    holder = ModelHolder({"champion": LocalSource(folder, "ads")}, poll_interval_s=0)
    good = holder.refresh()["champion"].version
    if breakage == "arrays":
        (folder / "arrays.npz").write_bytes(b"PK\x03\x04 truncated")
    elif breakage == "manifest":
        (folder / "policy.json").write_text("{not json")
    elif breakage == "spec_dim":
        FeatureSpec(blocks=("post", "topic")).save(folder / "feature_spec.json")
    elif breakage == "spec_json":
        (folder / "feature_spec.json").write_text("{")
    elif breakage == "spec_version":
        spec = SPEC.to_dict() | {"version": 99}
        (folder / "feature_spec.json").write_text(json.dumps(spec))
    elif breakage == "catalog_len":
        (folder / "catalog.json").write_text(json.dumps([{"id": "a"}, {"id": "b"}]))
    elif breakage == "catalog_dup":
        (folder / "catalog.json").write_text(json.dumps(["a", "a", "b"]))
    elif breakage == "no_catalog":
        (folder / "catalog.json").unlink()
    elif breakage == "fatigue_k":
        spec = FeatureSpec(blocks=("post", "fatigue"), n_creatives=5)
        make_model_dir(folder, seed=1, spec=spec)
    bad = holder.sources["champion"].current_version()
    with caplog.at_level("ERROR", logger="alpharl.serving.model_holder"):
        out = holder.refresh()["champion"]
    assert out.status == "refused"
    assert out.candidate == bad
    assert reason in (out.reason or "")
    assert out.version == good
    assert holder.get("champion").version == good  # type: ignore[union-attr]
    (line,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert bad in line.getMessage()
    assert reason in line.getMessage()
    caplog.clear()
    with caplog.at_level("ERROR", logger="alpharl.serving.model_holder"):
        assert holder.refresh()["champion"].reason == "refused before"
    assert not caplog.records  # not retried, not logged again


def test_missing_source_is_unavailable_not_fatal(tmp_path: Path) -> None:
    holder = ModelHolder({"champion": LocalSource(tmp_path / "nowhere", "ads")}, 0)
    out = holder.refresh()["champion"]
    assert out.status == "unavailable"
    assert "not a folder" in (out.reason or "")
    assert holder.get("champion") is None


def test_probe_failure_is_refused(tmp_path: Path) -> None:
    src = LocalSource(make_model_dir(tmp_path / "m", seed=1), "ads")
    loaded = src.load(src.current_version())
    loaded.policy.theta[0, 0] = np.nan  # type: ignore[attr-defined]
    with pytest.raises(ModelRefusedError, match="fails on a probe context"):
        build_served_model("champion", src.uri, loaded)


def test_poller_swaps_in_the_background(tmp_path: Path) -> None:
    link = tmp_path / "current"
    _link(link, make_model_dir(tmp_path / "v1", seed=1))
    holder = ModelHolder({"champion": LocalSource(link, "ads")}, poll_interval_s=0.05)
    v1 = holder.refresh()["champion"].version
    swapped = threading.Event()
    holder.add_listener(lambda arm, old, new: swapped.set())
    holder.start()
    try:
        _link(link, make_model_dir(tmp_path / "v2", seed=2))
        assert swapped.wait(10)
        assert holder.get("champion").version != v1  # type: ignore[union-attr]
    finally:
        holder.stop()
    assert holder._thread is None


def test_changing_folder_during_load_is_refused(tmp_path: Path) -> None:
    folder = make_model_dir(tmp_path / "m", seed=1)
    src = LocalSource(folder, "ads")
    stale = src.current_version()
    time.sleep(0.01)
    make_model_dir(folder, seed=5)
    with pytest.raises(ModelRefusedError, match="changed while loading"):
        src.load(stale)


def test_make_source_picks_by_uri(tmp_path: Path) -> None:
    assert isinstance(make_source(str(tmp_path), "ads"), LocalSource)
    with pytest.raises(ValueError, match="models:/<name>@<alias>"):
        make_source("models:/bad/uri/x", "ads")
