"""A JSON response for plain dicts that skips FastAPI's per-request re-validation.

Routes that build their answer from trusted values return `JSONBytes`; the declared
``response_model`` still documents the shape in OpenAPI. ``orjson`` is used when it is
installed (faster, and it serialises numpy scalars), else the standard library.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

try:  # pragma: no cover - depends on the environment
    import orjson

    def dumps(value: Any) -> bytes:
        """Serialise to JSON bytes."""
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)

except ImportError:  # pragma: no cover - depends on the environment

    def dumps(value: Any) -> bytes:
        """Serialise to JSON bytes."""
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


class JSONBytes(Response):
    """``application/json`` from a JSON-able value."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
