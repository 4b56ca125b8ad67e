"""A trained model as the engine serves it and the registry stores it.

`payguard.ml` trains and evaluates models and produces these; the engine's scorer reads
them. Nothing here imports LightGBM or onnxruntime, so the type can travel anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ModelArtifact:
    """Everything needed to score with a model, explain its scores and judge its drift.

    - `columns`: the vector layout it was trained on (`payguard.risk.models.vector`).
    - `onnx`: the serving graph. Input `x`: float32 `[N, len(columns)]`; outputs `label`
      (int64 `[N]`) and `probabilities` (float32 `[N, 2]`, column 1 = fraud).
    - `booster`: the LightGBM model as text (`Booster.model_to_string`), for per-decision
      reason codes and for reading the trees.
    - `metrics`: the evaluation on the held-out period (see `payguard.ml.evaluate`).
    - `data_hash`: sha256 of the training data, so a version can be traced to its data.
    - `params`: training parameters and the time split used.
    - `reference`: what drift is measured against: `{"score": {"edges": [...],
      "expected": [...]}, "features": {column: {"edges": [...], "expected": [...]}}}`,
      shares of the training period per bin.
    """

    columns: tuple[str, ...]
    onnx: bytes
    booster: str
    trained_at: datetime
    data_hash: str
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
