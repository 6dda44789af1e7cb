"""The code MLflow logs with a policy model ("models from code"; no pickled object).

`alpharl.tracking.models.log_policy_model` passes this file as ``python_model``; MLflow
stores it in the model and runs it at load time to get the `PolicyModel` to serve.
Importing it anywhere else does nothing but register that model object with MLflow.
"""

from __future__ import annotations

import mlflow.models

from alpharl.tracking.pyfunc import PolicyModel

mlflow.models.set_model(PolicyModel())
