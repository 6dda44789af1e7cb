"""On-disk bundles of a JSON manifest plus an ``.npz`` of arrays, with clear load errors.

A policy is saved as ``policy.json`` (kind, format version, shapes, hyperparameters) beside
``arrays.npz``; agents save ``agent.json`` beside ``state.npz`` the same way. Arrays are
written without pickle and read with ``allow_pickle=False``. Every load problem raises
`ArtifactError` naming the file and what is wrong with it.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.npyio import NpzFile


class ArtifactError(ValueError):
    """A saved bundle is missing, unreadable or inconsistent; the message names the file."""


def write_bundle(
    directory: str | os.PathLike[str],
    manifest: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    *,
    manifest_name: str,
    arrays_name: str,
) -> Path:
    """Write ``manifest`` (plus an ``arrays`` entry with each array's shape) and the arrays.

    Args:
        directory: Folder to write into; created if missing.
        manifest: JSON-serialisable metadata.
        arrays: Named numpy arrays (numeric or bool, no objects).
        manifest_name: File name of the JSON manifest.
        arrays_name: File name of the ``.npz``.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    shapes = {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()}
    # Write the arrays first and the manifest last, each through a temporary file, so a
    # crash mid-save never leaves a manifest that points at missing or partial arrays.
    tmp = out / f".{arrays_name}.tmp"
    contiguous: dict[str, Any] = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    with tmp.open("wb") as fh:
        np.savez(fh, **contiguous)
    tmp.replace(out / arrays_name)
    tmp = out / f".{manifest_name}.tmp"
    tmp.write_text(json.dumps({**manifest, "arrays": shapes}, indent=2, sort_keys=True) + "\n")
    tmp.replace(out / manifest_name)
    return out


def read_manifest(
    directory: str | os.PathLike[str], manifest_name: str, required: tuple[str, ...]
) -> dict[str, Any]:
    """Read and check a JSON manifest.

    Args:
        directory: The bundle's folder.
        manifest_name: File name of the manifest.
        required: Keys the manifest must have.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: no such directory")
    path = folder / manifest_name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArtifactError(f"{path}: file not found") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read: {exc}") from exc
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    missing = [k for k in (*required, "arrays") if k not in manifest]
    if missing:
        raise ArtifactError(f"{path}: missing keys {missing}")
    if not isinstance(manifest["arrays"], dict):
        raise ArtifactError(f"{path}: 'arrays' must be an object of name -> shape")
    return manifest


def read_arrays(
    directory: str | os.PathLike[str], manifest: Mapping[str, Any], arrays_name: str
) -> dict[str, np.ndarray]:
    """Read the ``.npz`` and check it holds exactly the arrays the manifest declares.

    Args:
        directory: The bundle's folder.
        manifest: The manifest read by `read_manifest`.
        arrays_name: File name of the ``.npz``.
    """
    path = Path(directory) / arrays_name
    if not path.is_file():
        raise ArtifactError(f"{path}: file not found")
    try:
        with path.open("rb") as fh:
            loaded = np.load(fh, allow_pickle=False)
            if not isinstance(loaded, NpzFile):
                raise ArtifactError(f"{path}: not an .npz archive (found a single array)")
            with loaded as npz:
                arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(f"{path}: cannot read arrays: {exc}") from exc
    declared: Mapping[str, Any] = manifest["arrays"]
    if set(arrays) != set(declared):
        raise ArtifactError(
            f"{path}: holds arrays {sorted(arrays)}, but the manifest declares {sorted(declared)}"
        )
    for name, spec in declared.items():
        shape = spec.get("shape") if isinstance(spec, dict) else None
        if shape is None or list(arrays[name].shape) != list(shape):
            raise ArtifactError(
                f"{path}: array {name!r} has shape {list(arrays[name].shape)}, "
                f"the manifest declares {shape}"
            )
    return arrays
