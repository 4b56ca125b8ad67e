"""No card number is stored in clear from any free-text field, whatever separates its digits.

Each card number goes in through the API (merchant and payee names, the payee account, the
device fingerprint, attribute keys and values, outcome notes, list notes, community notes),
then everything is read back through the API and, byte by byte, from the SQLite files
themselves: the digits of the card number appear nowhere, in any spelling. Each place holds
the tenant's deterministic token of the card (the one `/v1/tokens` gives it) beside its mask.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from payguard.services import Services

Headers = dict[str, str]

# Network test numbers (tests/vectors/pan_masking.json), one per separator kind.
SEPARATORS = {
    "space": ("4111111111111111", " "),
    "dot": ("5555555555554444", "."),
    "dash": ("4012888888881881", "-"),
    "underscore": ("5105105105105100", "_"),
    "slash": ("6011111111111117", "/"),
    "spaced-dash": ("3530111333300000", " - "),
    "tab": ("2223003122003222", "\t"),
    "unbroken": ("4000056655665556", ""),
}


def grouped(pan: str, separator: str) -> str:
    return separator.join(pan[i : i + 4] for i in range(0, len(pan), 4))


def spelled(pan: str) -> re.Pattern[bytes]:
    """The card number's digits in order with up to six other characters between any two
    (any separator, JSON escapes): matches every spelling that would give it away."""
    return re.compile(b"[^0-9]{0,6}".join(digit.encode() for digit in pan))


def stored_bytes(services: Services) -> bytes:
    database = services.engine.url.database
    assert database
    files = [Path(database), Path(f"{database}-wal"), Path(f"{database}-journal")]
    return b"".join(path.read_bytes() for path in files if path.exists())


def assert_nowhere(pan: str, *texts: str | bytes) -> None:
    pattern = spelled(pan)
    for text in texts:
        data = text if isinstance(text, bytes) else text.encode()
        assert pattern.search(data) is None, data[:200]


@pytest.mark.parametrize(("pan", "separator"), SEPARATORS.values(), ids=SEPARATORS.keys())
def test_no_free_text_field_stores_a_card_number(
    client: TestClient,
    services: Services,
    tenant: Callable[..., Headers],
    payment: Callable[..., dict[str, Any]],
    pan: str,
    separator: str,
) -> None:
    headers = tenant()
    text = grouped(pan, separator)
    tokenized = client.post("/v1/tokens", json={"kind": "pan", "value": pan}, headers=headers)
    assert tokenized.status_code == 201, tokenized.text
    token = tokenized.json()["tokens"][0]["token"]
    masked = f"[card {pan[:6]}{'*' * (len(pan) - 10)}{pan[-4:]} token {token}]"
    body = payment(
        merchant={"id": "m-1", "mcc": "5411", "name": f"Shop {text}"},
        payee={"id": "payee-9", "name": f"To {text}", "account": text},
        device={"id": "dev-1", "fingerprint": f"fp {text}"},
        attributes={f"card {text}": f"paid with {text}", "memo": text},
    )
    created = client.post("/v1/assessments", json=body, headers=headers)
    assert created.status_code in (200, 201), created.text
    assessment_id = created.json()["assessment_id"]

    noted = client.post(
        f"/v1/assessments/{assessment_id}/outcome",
        json={"outcome": "fraud", "note": f"customer read out {text} on the phone"},
        headers=headers,
    )
    assert noted.status_code == 200, noted.text

    listed = client.put(
        "/v1/lists/blocked_payees/items",
        json={"kind": "payee", "items": ["payee-9"], "note": f"mule using {text}"},
        headers=headers,
    )
    assert listed.status_code == 200, listed.text

    community = client.post(
        "/v1/devices/community",
        json={
            "entries": [
                {"kind": "device_fingerprint", "identifier": "fp-farm", "note": f"farm {text}"}
            ]
        },
        headers=headers,
    )
    assert community.status_code == 201, community.text

    # Read back through the API: the masked form where the field is shown, never the digits.
    page = client.get("/v1/lists/blocked_payees/items", headers=headers)
    assert page.json()["items"][0]["note"] == f"mule using {masked}"
    found = client.post(
        "/v1/devices/community/lookup",
        json={"kind": "device_fingerprint", "identifiers": ["fp-farm"]},
        headers=headers,
    )
    assert found.json()["entries"][0]["note"] == f"farm {masked}"
    audit = client.get("/v1/audit", headers=headers, params={"limit": 200})
    assert audit.status_code == 200, audit.text
    assert f"customer read out {masked} on the phone" in audit.text
    fetched = client.get(f"/v1/assessments/{assessment_id}", headers=headers)
    assert fetched.status_code == 200
    assert_nowhere(
        pan,
        created.text,
        noted.text,
        page.text,
        found.text,
        audit.text,
        fetched.text,
        community.text,
    )

    # And in the database files themselves, every table and index.
    # And in the database files themselves, every table and index.
    services.engine.dispose()
    data = stored_bytes(services)
    for written in (f"Shop {masked}", f"To {masked}", f"fp {masked}", f"paid with {masked}"):
        assert written.encode() in data, written
    assert_nowhere(pan, data)


def test_an_attribute_key_holding_a_card_number_is_masked(
    client: TestClient,
    services: Services,
    tenant: Callable[..., Headers],
    payment: Callable[..., dict[str, Any]],
) -> None:
    # Keys were not scanned at all before: even the plainest spelling was stored.
    headers = tenant()
    created = client.post(
        "/v1/assessments",
        json=payment(attributes={"4111 1111 1111 1111": True}),
        headers=headers,
    )
    assert created.status_code in (200, 201), created.text
    services.engine.dispose()
    data = stored_bytes(services)
    assert b"[card 411111******1111 token " in data
    assert_nowhere("4111111111111111", data)
