"""Policies in the MLflow model registry: log, register, alias, tag, and load back.

An exported policy folder (``Policy.save``) is logged as an MLflow pyfunc model
(`alpharl.tracking.pyfunc.PolicyModel`, logged as code, not as a pickle) with its
featurizer spec and creative catalog beside it, a signature and an input example.
Versions are promoted with aliases (``champion``, ``challenger``), never the deprecated
stages, and serving loads ``models:/<name>@champion`` with `load_policy_from_registry`,
which returns the plain `alpharl.policy` object (no pyfunc wrapper, no SB3).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

import alpharl
from alpharl.policy import BasePolicy, load_policy
from alpharl.policy.base import read_policy_manifest
from alpharl.tracking.pyfunc import (
    CATALOG_ARTIFACT,
    FEATURE_SPEC_ARTIFACT,
    POLICY_ARTIFACT,
    SEED_PARAM,
    mask_columns,
)
from alpharl.tracking.store import ENV_TRACKING_URI, TrackingStore, resolve_store

if TYPE_CHECKING:
    from alpharl.tracking.runs import Run

_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class LoggedPolicy:
    """Where a logged policy model lives.

    Args:
        model_uri: ``models:/<model id>`` of the logged model.
        run_id: The run it was logged in.
        registered_model_name: The registered model it was added to, if any.
        version: Its registry version, if registered.
    """

    model_uri: str
    run_id: str
    registered_model_name: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version."""

    name: str
    version: str
    run_id: str | None
    source: str
    tags: dict[str, str]
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class RegistryPolicy:
    """A policy loaded from the registry, with what was logged beside it.

    Args:
        policy: The `alpharl.policy` object.
        feature_spec: The featurizer spec (parsed JSON), or None if none was logged.
        catalog: The creative catalog (parsed JSON), or None.
        model_uri: The URI it was loaded from.
        name: Registered model name (for ``models:/name@alias`` or ``/version`` URIs).
        version: The resolved version.
        local_dir: Where the model's files were downloaded.
    """

    policy: BasePolicy
    feature_spec: Any
    catalog: Any
    model_uri: str
    name: str | None
    version: str | None
    local_dir: Path


def _store(store: TrackingStore | None) -> TrackingStore:
    return store if store is not None else resolve_store()


def _registry_uri(store: TrackingStore) -> str:
    return os.environ.get("MLFLOW_REGISTRY_URI") or store.tracking_uri


def _client(store: TrackingStore | None) -> mlflow.MlflowClient:
    s = _store(store)
    return mlflow.MlflowClient(tracking_uri=s.tracking_uri, registry_uri=_registry_uri(s))


@contextmanager
def use_store(store: TrackingStore) -> Iterator[None]:
    """Point MLflow's process-wide URI at ``store`` for calls that only read the global.

    Restores the previous URI and the ``MLFLOW_TRACKING_URI`` variable afterwards
    (MLflow's setter writes it). Not thread-safe: MLflow's global is one per process.
    """
    env_before = os.environ.get(ENV_TRACKING_URI)
    uri_before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(store.tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(uri_before)
        if env_before is None:
            os.environ.pop(ENV_TRACKING_URI, None)
        else:
            os.environ[ENV_TRACKING_URI] = env_before


def _json_artifact(name: str, value: Any, n_actions: int, folder: Path) -> str:
    """Write ``value`` (a JSON file path or JSON-able object) as ``folder/<name>.json``."""
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{name}: cannot read JSON from {str(path)!r}: {exc}") from exc
    elif isinstance(value, Sequence) and not isinstance(value, bytes):
        value = [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]  # type: ignore[arg-type]
    if name == CATALOG_ARTIFACT:
        items = value.get("creatives") if isinstance(value, Mapping) else value
        if isinstance(items, list) and len(items) != n_actions - 1:
            raise ValueError(
                f"catalog: has {len(items)} creatives, but the policy has {n_actions} actions "
                f"(K creatives + no ad, so K = {n_actions - 1})"
            )
    out = folder / f"{name}.json"
    try:
        out.write_text(json.dumps(value, indent=2, sort_keys=True, default=str), encoding="utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: not JSON-serialisable: {exc}") from exc
    return str(out)


def policy_signature(feature_columns: Sequence[str], n_actions: int) -> ModelSignature:
    """The pyfunc signature: features and optional masks in; action and propensity out."""
    inputs = [ColSpec("double", c) for c in feature_columns]
    inputs += [ColSpec("boolean", c, required=False) for c in mask_columns(n_actions)]
    outputs = [ColSpec("long", "action"), ColSpec("double", "propensity")]
    params = ParamSchema([ParamSpec(SEED_PARAM, "long", -1)])
    return ModelSignature(Schema(inputs), Schema(outputs), params)  # type: ignore[arg-type]


def _requirements(kind: str) -> list[str]:
    reqs = [f"alpharl=={alpharl.__version__}", f"numpy=={np.__version__}"]
    reqs.append(f"pandas=={pd.__version__}")
    if kind in ("qnetwork", "actor"):
        import torch

        reqs.append(f"torch=={torch.__version__.split('+')[0]}")
    return reqs


def log_policy_model(
    run: Run,
    policy_dir: str | os.PathLike[str],
    artifact_path: str = "policy",
    registered_model_name: str | None = None,
    *,
    feature_spec: Any = None,
    catalog: Any = None,
    feature_names: Sequence[str] | None = None,
    input_example: np.ndarray | pd.DataFrame | None = None,
    tags: Mapping[str, Any] | None = None,
) -> LoggedPolicy:
    """Log a saved policy folder as a pyfunc model in ``run`` (and register it if named).

    Args:
        run: The run to log into.
        policy_dir: A folder written by ``Policy.save``.
        artifact_path: The logged model's name.
        registered_model_name: Register a new version of this model when given.
        feature_spec: The featurizer spec: a JSON file path or a JSON-able object.
        catalog: The creative catalog: a JSON file path, a list (of dicts or `Creative`s)
            or a mapping with a ``creatives`` list; a list must have K = n_actions - 1 items.
        feature_names: Input column names (default ``x0 .. x{d-1}``).
        input_example: Contexts ``(n, d)`` (or a DataFrame) for the input example;
            default two rows of zeros.
        tags: Tags of the logged model (and of the new version).

    Raises:
        ArtifactError: If ``policy_dir`` is not a saved policy.
        ValueError: For feature names, spec or catalog that do not fit the policy.
    """
    manifest = read_policy_manifest(policy_dir)
    n_actions, n_features = int(manifest["n_actions"]), manifest["n_features"]
    if n_features is None:
        raise ValueError("policy_dir: context-free policies have no input to serve")
    names = list(feature_names) if feature_names is not None else None
    if names is None:
        names = [f"x{i}" for i in range(int(n_features))]
    if len(names) != n_features or len(set(names)) != len(names):
        raise ValueError(
            f"feature_names: need {n_features} distinct names; got {len(names)} ({names[:5]}...)"
        )
    if input_example is None:
        example = pd.DataFrame(np.zeros((2, len(names))), columns=names)
    elif isinstance(input_example, pd.DataFrame):
        example = input_example
    else:
        example = pd.DataFrame(np.asarray(input_example, dtype=np.float64), columns=names)
    with tempfile.TemporaryDirectory(prefix="alpharl-model-") as tmp:
        artifacts = {POLICY_ARTIFACT: str(Path(policy_dir).resolve())}
        if feature_spec is not None:
            artifacts[FEATURE_SPEC_ARTIFACT] = _json_artifact(
                FEATURE_SPEC_ARTIFACT, feature_spec, n_actions, Path(tmp)
            )
        if catalog is not None:
            artifacts[CATALOG_ARTIFACT] = _json_artifact(
                CATALOG_ARTIFACT, catalog, n_actions, Path(tmp)
            )
        # Create the logged model in the run's experiment: left to itself, Model.log files it
        # under MLflow's "active" experiment (Default, ./mlruns) when no run is active.
        logged = run.client.create_logged_model(
            experiment_id=run.experiment_id,
            name=artifact_path,
            source_run_id=run.run_id,
            tags={str(k): str(v) for k, v in (tags or {}).items()},
        )
        with use_store(run.tracker.store):
            info = Model.log(
                artifact_path=None,
                name=artifact_path,
                flavor=mlflow.pyfunc,
                run_id=run.run_id,
                python_model=str(Path(__file__).with_name("pyfunc_model.py")),
                artifacts=artifacts,
                signature=policy_signature(names, n_actions),
                input_example=example,
                pip_requirements=_requirements(str(manifest["kind"])),
                model_config={"feature_columns": names},
                registered_model_name=registered_model_name,
                tags=dict(tags) if tags else None,
                await_registration_for=0,
                model_id=logged.model_id,
            )
    version = getattr(info, "registered_model_version", None)
    return LoggedPolicy(
        info.model_uri,
        run.run_id,
        registered_model_name,
        None if version is None else str(version),
    )


def register(
    model_uri: str,
    name: str,
    store: TrackingStore | None = None,
    tags: Mapping[str, Any] | None = None,
) -> str:
    """Register ``model_uri`` as a new version of ``name``; return the version."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name: must be a non-empty string; got {name!r}")
    with use_store(_store(store)):
        mv = mlflow.register_model(
            model_uri, name, await_registration_for=0, tags=dict(tags) if tags else None
        )
    return str(mv.version)


def _check_alias(alias: str) -> None:
    if (
        not isinstance(alias, str)
        or not _ALIAS.match(alias)
        or alias.lower() == "latest"
        or re.fullmatch(r"[vV]\d+", alias)
    ):
        raise ValueError(
            f"alias: must be letters, digits, '_' or '-', not 'latest' or 'v<number>'; "
            f"got {alias!r}"
        )


def set_alias(
    name: str, alias: str, version: str | int, store: TrackingStore | None = None
) -> None:
    """Point ``name@alias`` at ``version`` (moving it if it pointed elsewhere)."""
    _check_alias(alias)
    _client(store).set_registered_model_alias(name, alias, str(version))


def delete_alias(name: str, alias: str, store: TrackingStore | None = None) -> None:
    """Remove ``name@alias``."""
    _check_alias(alias)
    _client(store).delete_registered_model_alias(name, alias)


def _info(mv: Any) -> ModelVersionInfo:
    return ModelVersionInfo(
        name=mv.name,
        version=str(mv.version),
        run_id=mv.run_id,
        source=mv.source,
        tags=dict(mv.tags or {}),
        aliases=tuple(mv.aliases or ()),
    )


def get_version_by_alias(
    name: str, alias: str, store: TrackingStore | None = None
) -> ModelVersionInfo:
    """The version ``name@alias`` points at."""
    _check_alias(alias)
    return _info(_client(store).get_model_version_by_alias(name, alias))


def get_version(
    name: str, version: str | int, store: TrackingStore | None = None
) -> ModelVersionInfo:
    """One version of a registered model."""
    return _info(_client(store).get_model_version(name, str(version)))


def _missing(exc: MlflowException) -> bool:
    return exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower()


def find_version_by_alias(
    name: str, alias: str, store: TrackingStore | None = None
) -> ModelVersionInfo | None:
    """The version ``name@alias`` points at, or None when the alias (or model) does not exist."""
    _check_alias(alias)
    try:
        return _info(_client(store).get_model_version_by_alias(name, alias))
    except MlflowException as exc:
        if _missing(exc):
            return None
        raise


def list_versions(name: str, store: TrackingStore | None = None) -> list[ModelVersionInfo]:
    """Every version of a registered model, oldest first (empty if there is no such model)."""
    found = _client(store).search_model_versions(f"name = '{name}'")
    return sorted((_info(mv) for mv in found), key=lambda v: int(v.version))


def find_version(
    name: str, version: str | int, store: TrackingStore | None = None
) -> ModelVersionInfo | None:
    """One version of a registered model, or None when it does not exist."""
    try:
        return get_version(name, version, store)
    except MlflowException as exc:
        if _missing(exc):
            return None
        raise


def set_version_tag(
    name: str, version: str | int, key: str, value: Any, store: TrackingStore | None = None
) -> None:
    """Set a tag on a model version (e.g. the OPE estimate that justified a promotion)."""
    _client(store).set_model_version_tag(name, str(version), key, str(value))


def get_version_tags(
    name: str, version: str | int, store: TrackingStore | None = None
) -> dict[str, str]:
    """The tags of a model version."""
    return get_version(name, version, store).tags


def _resolve(uri: str, store: TrackingStore | None) -> tuple[str | None, str | None]:
    m = _MODELS_URI.match(uri)
    if m is None:
        return None, None
    name = m.group("name")
    if m.group("alias"):
        return name, get_version_by_alias(name, m.group("alias"), store).version
    return name, m.group("version")


def load_policy_from_registry(
    model_uri: str,
    store: TrackingStore | None = None,
    dst_path: str | os.PathLike[str] | None = None,
) -> RegistryPolicy:
    """Download a logged policy model and load the plain policy, spec and catalog.

    Args:
        model_uri: ``models:/<name>@<alias>``, ``models:/<name>/<version>``, or any model
            URI MLflow resolves (``models:/<model id>``, ``runs:/<run id>/<path>``).
        store: The tracking store (`resolve_store()` when None).
        dst_path: Download folder (a new temporary folder when None).

    Raises:
        ValueError: If the URI's model is not an AlphaRL policy model.
    """
    s = _store(store)
    name, version = _resolve(model_uri, s)
    source = f"models:/{name}/{version}" if name is not None else model_uri
    dst = str(dst_path) if dst_path is not None else tempfile.mkdtemp(prefix="alpharl-policy-")
    with use_store(s):  # MLflow's models:/ resolution reads the process-wide URI
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=source,
                dst_path=dst,
                tracking_uri=s.tracking_uri,
                registry_uri=_registry_uri(s),
            )
        )
    try:
        mlmodel = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8"))
        arts = mlmodel["flavors"]["python_function"]["artifacts"]
        paths = {k: local / v["path"] for k, v in arts.items()}
        policy_path = paths[POLICY_ARTIFACT]
    except (OSError, KeyError, TypeError) as exc:
        raise ValueError(
            f"model_uri: {model_uri!r} is not an AlphaRL policy model ({exc})"
        ) from exc

    def _load_json(key: str) -> Any:
        path = paths.get(key)
        return None if path is None else json.loads(path.read_text(encoding="utf-8"))

    return RegistryPolicy(
        policy=load_policy(policy_path),
        feature_spec=_load_json(FEATURE_SPEC_ARTIFACT),
        catalog=_load_json(CATALOG_ARTIFACT),
        model_uri=model_uri,
        name=name,
        version=version,
        local_dir=local,
    )


def load_pyfunc(model_uri: str, store: TrackingStore | None = None) -> Any:
    """The model as MLflow's ``PyFuncModel`` (``predict(DataFrame) -> DataFrame``)."""
    with use_store(_store(store)):
        return mlflow.pyfunc.load_model(model_uri)
