"""An exported AlphaRL policy as an MLflow ``python_function`` model.

The model's artifacts are the policy folder written by ``Policy.save`` and, beside it, the
featurizer spec and the creative catalog (JSON). ``load_context`` loads the policy with
`alpharl.policy.load_policy` (numpy, plus torch for neural kinds; never SB3). ``predict``
takes one row per decision and returns the action and its propensity::

    input   x0 .. x{d-1}            the context features (float), named by the feature spec
            mask_0 .. mask_{K}      optional eligibility per action (bool); all or none
    output  action      (long)      0..K-1 a creative of the catalog, K = no ad
            propensity  (double)    probability of that action under the policy

The input is a DataFrame, as the signature names the columns (`split_input` also
accepts an ``(n, d)`` array of contexts for direct use). The ``seed`` param (default -1:
the model's own generator) makes a call reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

SEED_PARAM = "seed"
POLICY_ARTIFACT = "policy"
FEATURE_SPEC_ARTIFACT = "feature_spec"
CATALOG_ARTIFACT = "catalog"


def mask_columns(n_actions: int) -> list[str]:
    """The eligibility column names, one per action (the last is "no ad")."""
    return [f"mask_{i}" for i in range(n_actions)]


def split_input(
    model_input: Any, feature_columns: Sequence[str], n_actions: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Contexts ``(n, d)`` float32 and masks ``(n, n_actions)`` bool (or None) from an input.

    Args:
        model_input: A DataFrame with the feature columns (and optionally every mask
            column), or an ``(n, d)`` array of contexts.
        feature_columns: The feature column names, in the policy's order.
        n_actions: Number of actions.

    Raises:
        ValueError: Naming missing feature columns, a partial set of mask columns, or an
            array of the wrong width.
    """
    d = len(feature_columns)
    if isinstance(model_input, pd.DataFrame):
        missing = [c for c in feature_columns if c not in model_input.columns]
        if missing:
            raise ValueError(f"model_input: missing feature columns {missing[:10]}")
        x = model_input[list(feature_columns)].to_numpy(dtype=np.float32)
        mcols = mask_columns(n_actions)
        present = [c for c in mcols if c in model_input.columns]
        if not present:
            return x, None
        if len(present) != len(mcols):
            absent = [c for c in mcols if c not in model_input.columns]
            raise ValueError(f"model_input: give every mask column or none; missing {absent}")
        masks = model_input[mcols]
        if masks.isna().to_numpy().any():
            raise ValueError("model_input: mask columns must not be null")
        return x, masks.to_numpy(dtype=bool)
    arr = np.asarray(model_input, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != d:
        raise ValueError(f"model_input: an array must have shape (n, {d}); got {arr.shape}")
    return arr, None


class PolicyModel(PythonModel):
    """Serves an ``alpharl.policy`` folder through MLflow's pyfunc interface.

    ``model_config`` carries ``feature_columns`` (the input column names, in order).
    """

    def load_context(self, context: Any) -> None:
        """Load the policy, feature spec and catalog from the model's artifacts."""
        from alpharl.policy import load_policy

        self.policy = load_policy(context.artifacts[POLICY_ARTIFACT])
        config: Mapping[str, Any] = context.model_config or {}
        n_features = self.policy.n_features
        default = [f"x{i}" for i in range(n_features or 0)]
        self.feature_columns = list(config.get("feature_columns", default))
        if n_features is not None and len(self.feature_columns) != n_features:
            raise ValueError(
                f"model_config.feature_columns: {len(self.feature_columns)} names for a "
                f"policy with {n_features} features"
            )
        self.rng = np.random.default_rng()

    # MLflow reads predict's type hints: a DataFrame hint keeps the logged signature in
    # charge of validation (other hints would replace it, no hint makes MLflow warn).
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Actions and propensities, one row per input row (see the module docstring).

        Args:
            context: MLflow's model context (unused after `load_context`).
            model_input: The feature columns and, optionally, every mask column.
            params: ``{"seed": int}``; -1 (default) uses the model's own generator.
        """
        x, masks = split_input(model_input, self.feature_columns, self.policy.n_actions)
        seed = int((params or {}).get(SEED_PARAM, -1))
        rng = self.rng if seed < 0 else np.random.default_rng(seed)
        actions, props = self.policy.decide(x, masks, rng)
        return pd.DataFrame({"action": actions.astype(np.int64), "propensity": props})
