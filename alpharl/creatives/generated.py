"""Generated catalogs: build one from a generator config and log it as a run artifact.

``configs/creatives/*.yaml`` instantiate `generate_catalog` partially (``_partial_: true``)
with a generator and what to ask it for; the task calls the result with its run, so the
catalog the environment uses is the one logged (``creatives/catalog.json``, readable back
with `alpharl.creatives.load_catalog`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from alpharl.creatives.catalog import catalog_to_dicts
from alpharl.creatives.template import CreativeGenerator
from alpharl.schema import Creative

CATALOG_ARTIFACT = "creatives/catalog.json"
"""Where the generated catalog is logged in a run."""


class ArtifactRun(Protocol):
    """What logging a catalog needs from `alpharl.tracking.Run`."""

    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> None: ...


def catalog_artifact(
    creatives: Sequence[Creative], generator: CreativeGenerator | None = None
) -> dict[str, Any]:
    """The catalog plus its provenance, as logged (``{"creatives": [...], "generator": {...}}``)."""
    describe = getattr(generator, "describe", None)
    if callable(describe):
        provenance: dict[str, Any] = dict(describe())
    else:
        provenance = {"generator": type(generator).__name__ if generator is not None else None}
    return {"creatives": catalog_to_dicts(creatives), "generator": provenance}


def log_catalog(
    run: ArtifactRun,
    creatives: Sequence[Creative],
    generator: CreativeGenerator | None = None,
    artifact_file: str = CATALOG_ARTIFACT,
) -> dict[str, Any]:
    """Log the catalog (with the generator's provenance) as a JSON artifact of ``run``."""
    data = catalog_artifact(creatives, generator)
    run.log_dict(data, artifact_file)
    return data


def generate_catalog(
    generator: CreativeGenerator,
    emotion_targets: Sequence[str],
    k: int,
    category: str,
    run: ArtifactRun | None = None,
) -> list[Creative]:
    """``k`` creatives per emotion target from ``generator``, logged to ``run`` when given.

    Args:
        generator: A `CreativeGenerator` (template or LLM).
        emotion_targets: Emotions to write for, each once.
        k: Variants per emotion.
        category: Product category (one of `alpharl.schema.TOPICS`).
        run: An `alpharl.tracking.Run` to log ``creatives/catalog.json`` into.
    """
    creatives = generator.generate(list(emotion_targets), k, category)
    if run is not None:
        log_catalog(run, creatives, generator)
    return creatives
