"""Where served policies come from, and how one is loaded and checked before it may serve.

A `PolicySource` answers two questions: which version is current (cheap; asked on every
poll) and what that version is (download and load). Two sources exist:

- `RegistrySource`, for ``models:/<name>@<alias>`` or ``models:/<name>/<version>``: the
  MLflow registry through `alpharl.tracking.models` (the one MLflow adapter); the version
  is the registry version the alias points at.
- `LocalSource`, for a folder (tests and development) holding a saved policy
  (``policy.json`` and its arrays) with ``feature_spec.json`` and ``catalog.json`` beside
  it. The folder may be a symlink, re-pointed to deploy a new version. Its version is
  ``sha-`` plus a digest of the files, taken from a private snapshot, so a folder being
  rewritten while it is read can never be served under the wrong version.

`build_served_model` turns what a source loaded into a `ServedModel` and refuses one that
cannot serve: the catalog must name the K creatives of the policy's K + 1 actions, the
feature spec (when there is one) must describe the policy's context width, and the
policy must decide on a probe context. A refusal raises `ModelRefusedError` naming the
version and the reason.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from alpharl.features.featurizer import Featurizer
from alpharl.features.spec import FeatureSpec
from alpharl.policy import ArtifactError, BasePolicy, load_policy
from alpharl.serving.settings import is_registry_uri

FEATURE_SPEC_FILE = "feature_spec.json"
CATALOG_FILE = "catalog.json"
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


class ModelRefusedError(RuntimeError):
    """A model version that cannot serve; the message names the version and the reason."""

    def __init__(self, source: str, version: str, reason: str) -> None:
        super().__init__(f"{source} version {version}: {reason}")
        self.source = source
        self.version = version
        self.reason = reason


@dataclass(frozen=True)
class LoadedArtifacts:
    """What a source loaded: the policy and the JSON logged beside it."""

    policy: BasePolicy
    feature_spec: Any
    catalog: Any
    name: str
    version: str


@dataclass(frozen=True)
class ServedModel:
    """A policy ready to serve: everything the decide path needs, built once.

    Args:
        arm: ``champion`` or ``challenger``.
        name: Model name (registry name, or the configured name for a local folder).
        version: The version serving.
        source: Where it was loaded from.
        policy: The policy.
        spec: Its feature spec, or None (then only raw context vectors can be served).
        featurizer: A featurizer over ``spec``, or None.
        creative_ids: The catalog's creative ids; action ``i`` is ``creative_ids[i]``.
        loaded_at: Unix time it was loaded.
    """

    arm: str
    name: str
    version: str
    source: str
    policy: BasePolicy
    spec: FeatureSpec | None
    featurizer: Featurizer | None
    creative_ids: tuple[str, ...]
    loaded_at: float
    creative_index: Mapping[str, int] = field(init=False, repr=False)
    all_eligible: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "creative_index", {c: i for i, c in enumerate(self.creative_ids)})
        mask = np.ones(self.n_actions, dtype=bool)
        mask.flags.writeable = False
        object.__setattr__(self, "all_eligible", mask)

    @property
    def n_actions(self) -> int:
        """K creatives + no ad."""
        return self.policy.n_actions

    @property
    def n_features(self) -> int:
        """Context width."""
        return int(self.policy.n_features or 0)

    def creative_of(self, action: int) -> str | None:
        """The creative id of an action, None for "no ad" (the last action)."""
        return None if action == self.n_actions - 1 else self.creative_ids[action]


class PolicySource(Protocol):
    """Where one arm's policy comes from."""

    uri: str

    def current_version(self) -> str:
        """The version serving should have now (cheap: called on every poll)."""
        ...

    def load(self, version: str) -> LoadedArtifacts:
        """Download and load ``version`` (as `current_version` named it)."""
        ...


def catalog_ids(catalog: Any) -> tuple[str, ...]:
    """The creative ids of a catalog: a list (or ``{"creatives": [...]}``) of ids or dicts."""
    items = catalog.get("creatives") if isinstance(catalog, Mapping) else catalog
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise ValueError(f"catalog: must be a list of creatives (got {type(catalog).__name__})")
    ids: list[str] = []
    for i, item in enumerate(items):
        cid = item.get("id") if isinstance(item, Mapping) else item
        if not isinstance(cid, str) or not cid:
            raise ValueError(f"catalog[{i}].id: must be a non-empty string (got {cid!r})")
        ids.append(cid)
    dupes = sorted({c for c in ids if ids.count(c) > 1})
    if dupes:
        raise ValueError(f"catalog: duplicate creative ids {dupes}")
    return tuple(ids)


def build_served_model(arm: str, source: str, loaded: LoadedArtifacts) -> ServedModel:
    """Check a loaded policy and prepare it to serve.

    Args:
        arm: ``champion`` or ``challenger``.
        source: Where it came from (for messages).
        loaded: What the source loaded.

    Raises:
        ModelRefusedError: The catalog, the feature spec or the policy cannot serve.
    """
    policy, version = loaded.policy, loaded.version

    def refuse(reason: str) -> ModelRefusedError:
        return ModelRefusedError(source, version, reason)

    if policy.n_features is None:
        raise refuse("the policy ignores contexts (n_features is None); serving needs one")
    k = policy.n_actions - 1
    if loaded.catalog is None:
        raise refuse("no creative catalog was logged with the policy")
    try:
        ids = catalog_ids(loaded.catalog)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if len(ids) != k:
        raise refuse(
            f"catalog has {len(ids)} creatives but the policy has {policy.n_actions} actions "
            f"(K = {k} creatives + no ad)"
        )
    spec: FeatureSpec | None = None
    featurizer: Featurizer | None = None
    if loaded.feature_spec is not None:
        try:
            spec = FeatureSpec.from_dict(loaded.feature_spec)
        except (ValueError, TypeError) as exc:
            raise refuse(f"bad feature spec: {exc}") from None
        if spec.dim != policy.n_features:
            raise refuse(
                f"feature spec {spec.name!r} describes {spec.dim} features but the policy "
                f"takes {policy.n_features}"
            )
        if "fatigue" in spec.blocks and spec.n_creatives != k:
            raise refuse(
                f"feature spec has a fatigue block for {spec.n_creatives} creatives but the "
                f"catalog has {k}"
            )
        featurizer = Featurizer(spec)
    probe = np.zeros((1, policy.n_features), dtype=np.float32)
    try:
        actions, props = policy.decide(probe, None, np.random.default_rng(0))
    except Exception as exc:  # any failure here means the artifact cannot serve
        raise refuse(f"the policy fails on a probe context: {type(exc).__name__}: {exc}") from None
    if not (0 <= int(actions[0]) < policy.n_actions and 0.0 < float(props[0]) <= 1.0):
        raise refuse(f"the policy's probe decision is invalid: {actions!r}, {props!r}")
    return ServedModel(
        arm=arm,
        name=loaded.name,
        version=version,
        source=source,
        policy=policy,
        spec=spec,
        featurizer=featurizer,
        creative_ids=ids,
        loaded_at=time.time(),
    )


class RegistrySource:
    """A policy in the MLflow registry, named by ``models:/<name>@<alias>`` or ``/<version>``.

    Args:
        uri: The models URI.
        tracking_uri: MLflow tracking URI (``$MLFLOW_TRACKING_URI`` wins; empty: default).
    """

    def __init__(self, uri: str, tracking_uri: str = "") -> None:
        m = _MODELS_URI.match(uri)
        if m is None:
            raise ValueError(
                f"policy_source: {uri!r} is not models:/<name>@<alias> or models:/<name>/<version>"
            )
        self.uri = uri
        self.name: str = m.group("name")
        self.alias: str | None = m.group("alias")
        self.pinned: str | None = m.group("version")
        from alpharl.tracking.store import resolve_store

        self.store = resolve_store(tracking_uri=tracking_uri or None)

    def current_version(self) -> str:
        """The registry version the alias points at (or the pinned version)."""
        if self.pinned is not None:
            return self.pinned
        from alpharl.tracking.models import get_version_by_alias

        assert self.alias is not None
        return get_version_by_alias(self.name, self.alias, self.store).version

    def load(self, version: str) -> LoadedArtifacts:
        """Download ``models:/<name>/<version>`` and load the plain policy, spec and catalog."""
        from alpharl.tracking.models import load_policy_from_registry

        with tempfile.TemporaryDirectory(prefix="alpharl-serve-") as tmp:
            got = load_policy_from_registry(f"models:/{self.name}/{version}", self.store, tmp)
        return LoadedArtifacts(got.policy, got.feature_spec, got.catalog, self.name, version)


class LocalSource:
    """A policy folder on disk (tests, development); see the module docstring.

    Args:
        path: The folder (or a symlink to it) holding ``policy.json``.
        name: The model name to report.
    """

    def __init__(self, path: str | Path, name: str) -> None:
        self.path = Path(path)
        self.uri = str(self.path)
        self.name = name
        self._cache: tuple[Any, str] | None = None

    def _files(self, folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*") if p.is_file())

    def _stat_key(self, folder: Path) -> tuple[Any, ...]:
        stats = [(p, p.stat()) for p in self._files(folder)]
        files = [(str(p.relative_to(folder)), s.st_size, s.st_mtime_ns) for p, s in stats]
        return (str(folder), *files)

    @staticmethod
    def _digest(folder: Path, files: list[Path]) -> str:
        h = hashlib.sha256()
        for p in files:
            h.update(str(p.relative_to(folder)).encode() + b"\0")
            h.update(p.read_bytes())
            h.update(b"\0")
        return "sha-" + h.hexdigest()[:12]

    def current_version(self) -> str:
        """``sha-<digest>`` of the folder's files (recomputed only when a file's stat changes)."""
        folder = self.path.resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"policy_source: {self.path} is not a folder")
        key = self._stat_key(folder)
        if self._cache is not None and self._cache[0] == key:
            return str(self._cache[1])
        version = self._digest(folder, self._files(folder))
        self._cache = (key, version)
        return version

    def load(self, version: str) -> LoadedArtifacts:
        """Snapshot the folder, check the snapshot is ``version``, and load it."""
        import json

        folder = self.path.resolve()
        with tempfile.TemporaryDirectory(prefix="alpharl-serve-") as tmp:
            snap = Path(tmp) / "model"
            shutil.copytree(folder, snap)
            found = self._digest(snap, self._files(snap))
            if found != version:
                raise ModelRefusedError(
                    self.uri, version, f"the folder changed while loading (now {found})"
                )
            try:
                policy = load_policy(snap)
            except ArtifactError as exc:  # name the real folder, not the private snapshot
                reason = f"ArtifactError: {str(exc).replace(str(snap), str(folder))}"
                raise ModelRefusedError(self.uri, version, reason) from None
            out: dict[str, Any] = {}
            for key, fname in (("spec", FEATURE_SPEC_FILE), ("catalog", CATALOG_FILE)):
                path = snap / fname
                try:
                    out[key] = json.loads(path.read_text()) if path.is_file() else None
                except json.JSONDecodeError as exc:
                    raise ModelRefusedError(
                        self.uri, version, f"{fname}: not valid JSON ({exc})"
                    ) from None
        return LoadedArtifacts(policy, out["spec"], out["catalog"], self.name, version)


def make_source(uri: str, model_name: str, tracking_uri: str = "") -> PolicySource:
    """A `RegistrySource` for a ``models:/`` URI, else a `LocalSource` for a folder."""
    if is_registry_uri(uri):
        return RegistrySource(uri, tracking_uri)
    return LocalSource(uri, model_name)
