"""The JSON response class for hand-built documents on the hot path (orjson, no re-validation)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class FastJSON(JSONResponse):
    """A `JSONResponse` rendered by orjson (datetimes and UUIDs handled natively)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
