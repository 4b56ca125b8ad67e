"""`/v1/tokens`: tokenize, detokenize by role and purpose, metadata, revoke, shred; bad
input, wrong roles, tenant isolation, and no clear value in the logs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from payguard.services import Services
from payguard.tenancy.interfaces import Role
from payguard.vault.kinds import GENERIC_MAX, Kind
from payguard.vault.service import MAX_TTL, MAX_VALUES
from payguard.wire import vault as wire

PAN = "4111111111111111"
EMAIL = "secret.person@example.com"
Headers = Callable[..., dict[str, str]]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Every log line of the test so far, structlog's and the standard library's, as text."""
    caplog.set_level(logging.DEBUG)
    with capture_logs() as captured:

        def text() -> str:
            lines = [repr(entry) for entry in captured]
            lines.extend(record.getMessage() for record in caplog.records)
            return "\n".join(lines)

        yield text


def _tokenize(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/v1/tokens", json=body, headers=headers)


def test_the_wire_limits_agree_with_the_vault() -> None:
    assert set(wire.Kind.__args__) == {k.value for k in Kind}  # type: ignore[attr-defined]
    assert wire.MAX_VALUES == MAX_VALUES
    assert MAX_TTL.total_seconds() == wire.MAX_TTL_SECONDS
    assert wire.GENERIC_MAX == GENERIC_MAX


def test_tokenize_detokenize_metadata_revoke(client: TestClient, tenant: Headers) -> None:
    admin = tenant("acme")
    made = _tokenize(client, admin, kind="pan", value="4111-1111-1111-1111")
    assert made.status_code == 201, made.text
    [token] = made.json()["tokens"]
    assert token["masked"] == "************1111"
    assert token["style"] == "fpe_deterministic" and token["token"].endswith("1111")
    assert PAN not in made.text

    back = client.post(
        "/v1/tokens/detokenize",
        json={"tokens": [token["token"]], "purpose": "dispute"},
        headers=admin,
    )
    assert back.status_code == 200, back.text
    assert back.json() == {"values": [{"token": token["token"], "value": PAN}]}

    meta = client.get(f"/v1/tokens/{token['token']}", headers=admin)
    assert meta.status_code == 200
    assert meta.json()["kind"] == "pan" and meta.json()["revoked_at"] is None

    gone = client.delete(f"/v1/tokens/{token['token']}", headers=admin)
    assert gone.status_code == 200 and gone.json()["revoked_at"] is not None
    refused = client.post(
        "/v1/tokens/detokenize",
        json={"tokens": [token["token"]], "purpose": "dispute"},
        headers=admin,
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "token_refused"


def test_a_batch_keeps_its_order(client: TestClient, tenant: Headers) -> None:
    admin = tenant("acme")
    answer = _tokenize(
        client, admin, kind="email", values=["a@x.org", "b@x.org", "a@x.org"], style="vault_random"
    )
    assert answer.status_code == 201
    tokens = [t["token"] for t in answer.json()["tokens"]]
    assert len(set(tokens)) == 3
    back = client.post(
        "/v1/tokens/detokenize", json={"tokens": tokens, "purpose": "dispute"}, headers=admin
    )
    assert [v["value"] for v in back.json()["values"]] == ["a@x.org", "b@x.org", "a@x.org"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": PAN}, "kind"),
        ({"kind": "pan"}, "body"),
        ({"kind": "pan", "value": PAN, "values": [PAN]}, "body"),
        ({"kind": "passport", "value": PAN}, "kind"),
        ({"kind": "pan", "value": 4111111111111111}, "value"),
        ({"kind": "pan", "values": []}, "values"),
        ({"kind": "pan", "values": [PAN] * (MAX_VALUES + 1)}, "values"),
        ({"kind": "pan", "value": "٤١١١١١١١١١١١١١١١"}, "value"),
        ({"kind": "pan", "value": "\uff14\uff11" * 8}, "value"),
        ({"kind": "pan", "values": [PAN, "4111111111111112"]}, "values[1]"),
        ({"kind": "generic", "value": "a\x07b"}, "value"),
        ({"kind": "generic", "value": "a\x00b"}, "value"),
        ({"kind": "generic", "value": "x" * (GENERIC_MAX + 1)}, "value"),
        ({"kind": "email", "value": "a@b.co", "style": "fpe_deterministic"}, "style"),
        ({"kind": "pan", "value": PAN, "style": "rot13"}, "style"),
        ({"kind": "pan", "value": PAN, "scope": "shop:1"}, "scope"),
        ({"kind": "pan", "value": PAN, "scope": "merchant:a\nb"}, "scope"),
        ({"kind": "pan", "value": PAN, "ttl_seconds": 0}, "ttl_seconds"),
        ({"kind": "pan", "value": PAN, "ttl_seconds": "soon"}, "ttl_seconds"),
        ({"kind": "pan", "value": PAN, "subject": "cust-1"}, "subject"),
        ({"kind": "email", "value": "a@b.co", "subject": "a\u202eb"}, "subject"),
        ({"kind": "pan", "value": PAN, "extra": 1}, "extra"),
    ],
)
def test_bad_tokenize_input_is_a_422_naming_the_field(
    client: TestClient, tenant: Headers, body: dict[str, Any], field: str
) -> None:
    answer = _tokenize(client, tenant("acme"), **body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field, answer.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"purpose": "dispute"}, "tokens"),
        ({"tokens": ["tok_x"]}, "purpose"),
        ({"tokens": [], "purpose": "dispute"}, "tokens"),
        ({"tokens": ["t"] * (MAX_VALUES + 1), "purpose": "dispute"}, "tokens"),
        ({"tokens": ["tok\x00x"], "purpose": "dispute"}, "tokens[0]"),
        ({"tokens": ["٤١١١"], "purpose": "dispute"}, "tokens[0]"),
        ({"tokens": ["tok_x"], "purpose": "Dispute!"}, "purpose"),
        ({"tokens": ["tok_x"], "purpose": "dispute", "scope": "shop"}, "scope"),
    ],
)
def test_bad_detokenize_input_is_a_422_naming_the_field(
    client: TestClient, tenant: Headers, body: dict[str, Any], field: str
) -> None:
    answer = client.post("/v1/tokens/detokenize", json=body, headers=tenant("acme"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field, answer.text


def test_bad_paths_and_shred_bodies_are_422s(client: TestClient, tenant: Headers) -> None:
    admin = tenant("acme")
    for answer in (
        client.get("/v1/tokens/tok%00x", headers=admin),
        client.delete("/v1/tokens/" + "a" * 129, headers=admin),
    ):
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == "token"
    for body, field in (({}, "subject"), ({"subject": "a b"}, "subject")):
        answer = client.post("/v1/tokens/shred", json=body, headers=admin)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == field


def test_roles(client: TestClient, tenant: Headers) -> None:
    admin = tenant("acme")
    service = tenant("acme", Role.SERVICE)
    analyst = tenant("acme", Role.ANALYST)
    token = _tokenize(client, service, kind="email", value=EMAIL).json()["tokens"][0]["token"]
    assert _tokenize(client, analyst, kind="email", value=EMAIL).status_code == 403

    def detok(headers: dict[str, str], purpose: str) -> int:
        answer = client.post(
            "/v1/tokens/detokenize",
            json={"tokens": [token], "purpose": purpose},
            headers=headers,
        )
        return int(answer.status_code)

    assert detok(service, "dispute") == 403  # services never get clear values back
    assert detok(analyst, "dispute") == 403
    assert detok(analyst, "fraud_investigation") == 200
    assert detok(admin, "marketing") == 403
    assert client.delete(f"/v1/tokens/{token}", headers=service).status_code == 403
    assert (
        client.post("/v1/tokens/shred", json={"subject": "c"}, headers=analyst).status_code == 403
    )
    assert client.get(f"/v1/tokens/{token}", headers=analyst).status_code == 200


def test_tenant_a_tokens_are_unknown_to_tenant_b(client: TestClient, tenant: Headers) -> None:
    a, b = tenant("acme"), tenant("globex")
    token = _tokenize(client, a, kind="pan", value=PAN).json()["tokens"][0]["token"]
    answer = client.post(
        "/v1/tokens/detokenize", json={"tokens": [token], "purpose": "dispute"}, headers=b
    )
    assert answer.status_code == 404 and PAN not in answer.text
    assert client.get(f"/v1/tokens/{token}", headers=b).status_code == 404
    assert client.delete(f"/v1/tokens/{token}", headers=b).status_code == 404
    assert client.get(f"/v1/tokens/{token}", headers=a).json()["revoked_at"] is None


def test_a_domain_bound_token_is_refused_outside_its_domain(
    client: TestClient, tenant: Headers
) -> None:
    admin = tenant("acme")
    token = _tokenize(
        client, admin, kind="pan", value=PAN, scope="merchant:m-1", ttl_seconds=600
    ).json()["tokens"][0]
    assert token["scope"] == "merchant:m-1" and token["expires_at"] is not None
    body = {"tokens": [token["token"]], "purpose": "dispute"}
    elsewhere = client.post(
        "/v1/tokens/detokenize", json={**body, "scope": "merchant:m-2"}, headers=admin
    )
    assert elsewhere.status_code == 403
    assert elsewhere.json()["error"]["code"] == "token_domain_violation"
    home = client.post(
        "/v1/tokens/detokenize", json={**body, "scope": "merchant:m-1"}, headers=admin
    )
    assert home.status_code == 200


def test_shred_makes_a_subjects_tokens_resolve_to_nothing(
    client: TestClient, tenant: Headers, services: Services
) -> None:
    admin = tenant("acme")
    token = _tokenize(client, admin, kind="email", value=EMAIL, subject="cust-9").json()["tokens"][
        0
    ]["token"]
    done = client.post("/v1/tokens/shred", json={"subject": "cust-9"}, headers=admin)
    assert done.status_code == 200, done.text
    assert done.json() == {"subject": "cust-9", "tokens": 1, "key_versions": 1}
    answer = client.post(
        "/v1/tokens/detokenize", json={"tokens": [token], "purpose": "dispute"}, headers=admin
    )
    assert answer.status_code == 403 and EMAIL not in answer.text
    assert client.get(f"/v1/tokens/{token}", headers=admin).json()["shredded"] is True


def test_clear_values_never_reach_the_logs(
    client: TestClient, tenant: Headers, logs: Callable[[], str]
) -> None:
    admin = tenant("acme")
    clear = [PAN, EMAIL, "+447911123456", "GB82WEST12345698765432"]
    kinds = ["pan", "email", "phone", "account"]
    tokens = []
    for kind, value in zip(kinds, clear, strict=True):
        tokens.append(_tokenize(client, admin, kind=kind, value=value).json()["tokens"][0]["token"])
    client.post(
        "/v1/tokens/detokenize", json={"tokens": tokens, "purpose": "dispute"}, headers=admin
    )
    client.post(
        "/v1/tokens/detokenize", json={"tokens": tokens, "purpose": "spying"}, headers=admin
    )
    _tokenize(client, admin, kind="pan", value=PAN[:-1] + "2")  # refused: fails Luhn
    _tokenize(client, admin, kind="email", value=EMAIL, style="fpe_deterministic")  # refused
    _tokenize(client, admin, kind="email", values=[EMAIL] * (MAX_VALUES + 1))  # refused
    text = logs()
    assert "token:detokenize" in text or "/v1/tokens/detokenize" in text  # lines were caught
    for value in [*clear, PAN[:-1] + "2"]:
        assert value not in text
