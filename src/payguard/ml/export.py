"""LightGBM booster → ONNX graph for the hot path (onnxmltools does the conversion)."""

from __future__ import annotations

from typing import Any

#: The ONNX opset onnxmltools' LightGBM converter supports with the onnx package we use.
TARGET_OPSET = 15


def export_onnx(booster: Any, n_columns: int) -> bytes:
    """The serialized ONNX model of a binary LightGBM `booster` over `n_columns` float inputs.

    Input `x`: float32 `[N, n_columns]`; outputs `label` (int64 `[N]`) and `probabilities`
    (float32 `[N, 2]`), as `ModelArtifact.onnx` documents.
    """
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = convert_lightgbm(
        booster,
        initial_types=[("x", FloatTensorType([None, n_columns]))],
        zipmap=False,
        target_opset=TARGET_OPSET,
    )
    data: bytes = model.SerializeToString()
    return data
