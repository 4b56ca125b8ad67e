"""The scorer used until a trained model is promoted: it abstains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from payguard.core.decisions import ModelScore


class NullScorer:
    """Scores nothing; decisions then rest on the rules alone."""

    def score(self, features: Mapping[str, Any]) -> ModelScore | None:
        return None
