"""The ad catalog: a campaign's creatives, loaded from config or a YAML/JSON file.

Action ``i`` of the environment is ``catalog[i]``, so a catalog is an ordered list of
`alpharl.schema.Creative`. Every entry is checked when loaded; an error names the entry's
index and the bad field, e.g. ``catalog[2].emotion_target: must be one of [...]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from alpharl.schema import Creative, RecordError

CREATIVE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Creative))
"""The keys of one catalog entry."""


class CatalogError(ValueError):
    """A malformed catalog; the message names the entry index and the field."""


def _creative(index: int, item: Any) -> Creative:
    where = f"catalog[{index}]"
    if isinstance(item, Creative):
        return item
    if not isinstance(item, Mapping):
        raise CatalogError(f"{where}: must be a mapping of {list(CREATIVE_FIELDS)} (got {item!r})")
    unknown = sorted(set(item) - set(CREATIVE_FIELDS))
    if unknown:
        raise CatalogError(f"{where}: unknown fields {unknown}; known: {list(CREATIVE_FIELDS)}")
    missing = [f for f in CREATIVE_FIELDS if f not in item]
    if missing:
        raise CatalogError(f"{where}: missing fields {missing}")
    for name in ("id", "headline", "tone", "emotion_target", "category"):
        if not isinstance(item[name], str):
            raise CatalogError(f"{where}.{name}: must be a string (got {item[name]!r})")
    cost = item["cost_per_impression"]
    if isinstance(cost, bool) or not isinstance(cost, int | float):
        raise CatalogError(f"{where}.cost_per_impression: must be a number (got {cost!r})")
    try:
        return Creative(**{**item, "cost_per_impression": float(cost)})
    except RecordError as exc:
        raise CatalogError(f"{where}.{exc}") from None


def catalog_from_dicts(items: Sequence[Mapping[str, Any] | Creative]) -> list[Creative]:
    """Check and build a catalog from a list of dicts (or `Creative` objects).

    Args:
        items: One mapping per creative with the keys of `CREATIVE_FIELDS`.

    Raises:
        CatalogError: Naming the index and field of the first bad entry, an empty
            catalog, or a repeated id.
    """
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise CatalogError(f"catalog: must be a list of creatives (got {type(items).__name__})")
    if not items:
        raise CatalogError("catalog: must hold at least one creative (got an empty list)")
    creatives = [_creative(i, item) for i, item in enumerate(items)]
    seen: dict[str, int] = {}
    for i, c in enumerate(creatives):
        if c.id in seen:
            raise CatalogError(f"catalog[{i}].id: {c.id!r} repeats catalog[{seen[c.id]}].id")
        seen[c.id] = i
    return creatives


def load_catalog_file(path: str | Path) -> list[Creative]:
    """Read a catalog from a YAML (``.yaml``/``.yml``) or JSON file.

    The file holds either a list of creatives or a mapping with a ``creatives`` list.
    """
    p = Path(path)
    if not p.is_file():
        raise CatalogError(f"catalog file {p}: does not exist")
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise CatalogError(f"catalog file {p}: suffix must be .yaml, .yml or .json")
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CatalogError(f"catalog file {p}: cannot parse ({exc})") from None
    if isinstance(data, Mapping):
        if "creatives" not in data:
            raise CatalogError(f"catalog file {p}: a mapping must have a 'creatives' list")
        data = data["creatives"]
    try:
        return catalog_from_dicts(data)
    except CatalogError as exc:
        raise CatalogError(f"catalog file {p}: {exc}") from None


def load_catalog(
    source: Sequence[Mapping[str, Any] | Creative] | str | Path | None = None,
) -> list[Creative]:
    """A catalog from a list of dicts, a YAML/JSON path, or None (the default catalog)."""
    if source is None:
        return default_catalog()
    if isinstance(source, str | Path):
        return load_catalog_file(source)
    return catalog_from_dicts(source)


def catalog_to_dicts(creatives: Sequence[Creative]) -> list[dict[str, Any]]:
    """The catalog as JSON-able dicts (`catalog_from_dicts` inverts it)."""
    return [{f: getattr(c, f) for f in CREATIVE_FIELDS} for c in creatives]


DEFAULT_CATALOG: tuple[dict[str, Any], ...] = (
    {
        "id": "joy-playful-tech",
        "headline": "Your new favourite gadget is here - treat yourself today!",
        "tone": "playful",
        "emotion_target": "joy",
        "category": "tech",
        "cost_per_impression": 0.020,
    },
    {
        "id": "surprise-playful-entertainment",
        "headline": "Plot twist: tonight's show is on us. Grab your free pass!",
        "tone": "playful",
        "emotion_target": "surprise",
        "category": "entertainment",
        "cost_per_impression": 0.015,
    },
    {
        "id": "sadness-empathetic-health",
        "headline": "Rough week? Take a breath - gentle self-care, delivered.",
        "tone": "empathetic",
        "emotion_target": "sadness",
        "category": "health",
        "cost_per_impression": 0.020,
    },
    {
        "id": "anger-calm-finance",
        "headline": "Fed up with hidden fees? Switch in five minutes, no surprises.",
        "tone": "calm",
        "emotion_target": "anger",
        "category": "finance",
        "cost_per_impression": 0.025,
    },
    {
        "id": "fear-reassuring-travel",
        "headline": "Travel worry-free: flexible bookings and 24/7 support.",
        "tone": "reassuring",
        "emotion_target": "fear",
        "category": "travel",
        "cost_per_impression": 0.030,
    },
    {
        "id": "neutral-informative-food",
        "headline": "Fresh groceries at your door in under an hour.",
        "tone": "informative",
        "emotion_target": "neutral",
        "category": "food",
        "cost_per_impression": 0.010,
    },
    {
        "id": "joy-urgent-fashion",
        "headline": "48 hours only: the styles everyone loves, 30% off!",
        "tone": "urgent",
        "emotion_target": "joy",
        "category": "fashion",
        "cost_per_impression": 0.020,
    },
    {
        "id": "disgust-calm-food",
        "headline": "No junk, no fillers: honest ingredients you can read.",
        "tone": "calm",
        "emotion_target": "disgust",
        "category": "food",
        "cost_per_impression": 0.015,
    },
)
"""The default template catalog: eight creatives over emotions, tones and categories."""


def default_catalog() -> list[Creative]:
    """The eight creatives of `DEFAULT_CATALOG`."""
    return catalog_from_dicts(list(DEFAULT_CATALOG))
