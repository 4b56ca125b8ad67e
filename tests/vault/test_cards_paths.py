"""The other ways in to `AssessmentRequest.to_event`: `payguard assess` tokenizes a card
as the API does; training data and anything without a tokenizer refuse one, by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from tests.api.test_pan_fields_api import assert_nowhere, spelled
from typer.testing import CliRunner

from payguard.cli.main import app
from payguard.core.errors import ValidationFailed
from payguard.ml.dataset import Dataset, DatasetError
from payguard.wire.schemas import AssessmentRequest

PAN = "4111111111111111"
REQUEST = {
    "event_id": "e1",
    "event_type": "payment",
    "occurred_at": "2026-01-05T10:00:00+08:00",
    "account_id": "a1",
    "amount": {"value": "12.00", "currency": "SGD"},
    "card": {"pan": "4111 1111 1111 1111", "expiry": "2029-12", "bin_country": "SG"},
}


def test_to_event_without_a_tokenizer_refuses_a_card() -> None:
    request = AssessmentRequest.model_validate(REQUEST)
    with pytest.raises(ValidationFailed) as refused:
        request.to_event(now=datetime(2026, 2, 1, tzinfo=UTC))
    assert refused.value.field == "card"
    assert "tokenized" in refused.value.message


def test_the_request_repr_hides_the_card_number() -> None:
    request = AssessmentRequest.model_validate(REQUEST)
    assert spelled(PAN).search(repr(request).encode()) is None
    assert "bin_country='SG'" in repr(request)


def test_training_data_with_a_card_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(orjson.dumps({"request": REQUEST, "label": "fraud"}) + b"\n")
    with pytest.raises(DatasetError) as refused:
        list(Dataset(path).events())
    assert refused.value.field == "card"
    assert_nowhere(PAN, refused.value.message)


def test_payguard_assess_tokenizes_a_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYGUARD_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    runner = CliRunner()
    assert runner.invoke(app, ["tenants", "create", "acme"]).exit_code == 0
    bad = {**REQUEST, "event_id": "e2", "card": {"pan": "4111111111111112"}}
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(REQUEST) + "\n" + json.dumps(bad) + "\n")
    result = runner.invoke(app, ["assess", str(path), "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.strip().splitlines())
    assert first["decision"] == "allow"
    assert second == {
        "line": 2,
        "error": "the card number fails the Luhn check: a digit is wrong",
        "field": "card.pan",
    }
    database = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("cli.db*")))
    assert b"411111******1111" in database  # the masked form is kept
    assert_nowhere(PAN, database, result.output)
