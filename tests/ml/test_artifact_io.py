"""A model file round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from payguard.core.errors import ValidationFailed
from payguard.ml.artifact_io import load, save
from payguard.risk.models.artifact import ModelArtifact


def test_model_file_round_trip(tmp_path: Path) -> None:
    artifact = ModelArtifact(
        columns=("amount", "event_type=payment"),
        onnx=b"\x08\x07onnx-bytes\x00",
        booster="tree\nversion=v4\n",
        trained_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        data_hash="ab" * 32,
        metrics={"model": {"average_precision": 0.5}},
        params={"split": {"train_from": "2026-01-01T00:00:00+00:00"}, "trees": 10},
        reference={"score": {"edges": [0.1], "expected": [0.5, 0.5]}, "features": {}},
    )
    path = tmp_path / "model.pgm"
    save(artifact, path)
    assert load(path) == artifact


def test_not_a_model_file(tmp_path: Path) -> None:
    path = tmp_path / "junk"
    path.write_bytes(b"junk")
    with pytest.raises(ValidationFailed) as caught:
        load(path)
    assert caught.value.field == "--model-file"
