"""A `ModelArtifact` as one file: a zip of the ONNX graph, the booster text and a JSON of
the rest, so a model can be trained, evaluated and moved without the registry."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import orjson

from payguard.core.errors import ValidationFailed
from payguard.risk.models.artifact import ModelArtifact

FORMAT = "payguard-model/1"
_META = "artifact.json"
_ONNX = "model.onnx"
_BOOSTER = "booster.txt"


def save(artifact: ModelArtifact, path: Path) -> None:
    """Write `artifact` to `path` (written aside, then renamed into place)."""
    meta = {
        "format": FORMAT,
        "columns": list(artifact.columns),
        "trained_at": artifact.trained_at.isoformat(),
        "data_hash": artifact.data_hash,
        "metrics": artifact.metrics,
        "params": artifact.params,
        "reference": artifact.reference,
    }
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_META, orjson.dumps(meta, option=orjson.OPT_INDENT_2))
        archive.writestr(_ONNX, artifact.onnx)
        archive.writestr(_BOOSTER, artifact.booster)
    partial.replace(path)


def load(path: Path) -> ModelArtifact:
    """Read an artifact written by `save`."""
    try:
        with zipfile.ZipFile(path) as archive:
            meta = orjson.loads(archive.read(_META))
            onnx = archive.read(_ONNX)
            booster = archive.read(_BOOSTER).decode()
    except (OSError, KeyError, zipfile.BadZipFile, orjson.JSONDecodeError) as exc:
        raise ValidationFailed(f"not a payguard model file: {exc}", field="--model-file") from None
    if meta.get("format") != FORMAT:
        raise ValidationFailed(
            f"unknown model file format {meta.get('format')!r}", field="--model-file"
        )
    return ModelArtifact(
        columns=tuple(meta["columns"]),
        onnx=onnx,
        booster=booster,
        trained_at=datetime.fromisoformat(meta["trained_at"]),
        data_hash=meta["data_hash"],
        metrics=meta.get("metrics") or {},
        params=meta.get("params") or {},
        reference=meta.get("reference") or {},
    )
