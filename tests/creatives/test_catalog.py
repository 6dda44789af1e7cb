"""The ad catalog: loading from dicts and files, the default catalog, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alpharl.creatives import (
    CREATIVE_FIELDS,
    CatalogError,
    catalog_from_dicts,
    catalog_to_dicts,
    default_catalog,
    load_catalog,
)
from alpharl.schema import EMOTIONS, TOPICS, Creative


def _item(**over: Any) -> dict[str, Any]:
    base = {
        "id": "c1",
        "headline": "Hello",
        "tone": "calm",
        "emotion_target": "joy",
        "category": "tech",
        "cost_per_impression": 0.02,
    }
    return {**base, **over}


def test_default_catalog() -> None:
    catalog = default_catalog()
    assert 6 <= len(catalog) <= 8
    assert all(isinstance(c, Creative) for c in catalog)
    assert len({c.id for c in catalog}) == len(catalog)
    assert {c.emotion_target for c in catalog} <= set(EMOTIONS)
    assert {c.category for c in catalog} <= set(TOPICS)
    assert len({c.emotion_target for c in catalog}) >= 5  # emotions are varied
    assert all(c.cost_per_impression > 0 for c in catalog)
    assert load_catalog(None) == catalog


def test_roundtrip_through_dicts_and_files(tmp_path: Path) -> None:
    dicts = catalog_to_dicts(default_catalog())
    assert set(dicts[0]) == set(CREATIVE_FIELDS)
    assert catalog_from_dicts(dicts) == default_catalog()
    json_path = tmp_path / "catalog.json"
    json_path.write_text(json.dumps(dicts))
    assert load_catalog(json_path) == default_catalog()
    yaml_path = tmp_path / "catalog.yaml"
    lines = ["creatives:"]
    for d in dicts[:2]:
        lines.append(f"  - id: {d['id']}")
        lines += [f"    {k}: {json.dumps(v)}" for k, v in d.items() if k != "id"]
    yaml_path.write_text("\n".join(lines) + "\n")
    assert load_catalog(str(yaml_path)) == default_catalog()[:2]


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ([_item(), _item(id="c2", emotion_target="rage")], r"catalog\[1\]\.emotion_target"),
        ([_item(category="cars")], r"catalog\[0\]\.category: must be one of"),
        ([_item(cost_per_impression=-1.0)], r"catalog\[0\]\.cost_per_impression"),
        ([_item(cost_per_impression="cheap")], r"catalog\[0\]\.cost_per_impression: must be a"),
        ([_item(cost_per_impression=True)], r"catalog\[0\]\.cost_per_impression: must be a"),
        ([_item(headline=3)], r"catalog\[0\]\.headline: must be a string"),
        ([_item(colour="red")], r"catalog\[0\]: unknown fields \['colour'\]"),
        ([{"id": "x"}], r"catalog\[0\]: missing fields \['headline'"),
        ([_item(), "oops"], r"catalog\[1\]: must be a mapping"),
        ([_item(id="")], r"catalog\[0\]\.id: must be a non-empty string"),
        ([_item(), _item()], r"catalog\[1\]\.id: 'c1' repeats catalog\[0\]\.id"),
        ([], "must hold at least one creative"),
        ({"id": "c1"}, "catalog: must be a list"),
    ],
)
def test_bad_entries_name_index_and_field(items: Any, match: str) -> None:
    with pytest.raises(CatalogError, match=match):
        catalog_from_dicts(items)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "missing.yaml")
    txt = tmp_path / "catalog.txt"
    txt.write_text("[]")
    with pytest.raises(CatalogError, match="suffix must be"):
        load_catalog(txt)
    broken = tmp_path / "broken.yaml"
    broken.write_text("creatives: [\n")
    with pytest.raises(CatalogError, match="cannot parse"):
        load_catalog(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"ads": []}))
    with pytest.raises(CatalogError, match="must have a 'creatives' list"):
        load_catalog(wrong)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([_item(tone="calm", category="moon")]))
    with pytest.raises(CatalogError, match=r"bad\.json: catalog\[0\]\.category"):
        load_catalog(bad)
