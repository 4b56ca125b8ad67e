"""Vault tokens under `payguard keys rewrap`: their sealed values (per kind, and per subject)
are counted by key version, re-sealed under the current one by compare-and-set, and still
detokenize after the old version is retired."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from payguard.adapters.sql.vault_tokens import SqlTokenRepository
from payguard.audit.interfaces import Actor
from payguard.core.clock import FrozenClock
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.tenancy.interfaces import Role
from payguard.vault.interfaces import SealedRecord
from payguard.vault.service import TokenSealedValues

OPERATOR = Actor.system("test")
EMAILS = [f"user{n}@example.com" for n in range(7)]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def services(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> Iterator[Services]:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_own_url")
    else:
        url = f"sqlite:///{tmp_path}/t.db"
    built = build_services(
        Settings(database_url=url, vault_key_file=str(tmp_path / "vault.key"), cache_ttl_seconds=0),
        clock=clock,
    )
    yield built
    built.close()


def test_vault_tokens_are_rewrapped_and_still_detokenize(services: Services) -> None:
    tenant = services.tenants.create_tenant("acme", actor=OPERATOR)[0].id
    tokens = [
        t.token
        for t in services.tokens.tokenize(
            tenant, "email", EMAILS, actor=OPERATOR, style="vault_deterministic"
        )
    ]
    subject = services.tokens.tokenize(
        tenant,
        "generic",
        ["a note about one customer"],
        actor=OPERATOR,
        style="vault_random",
        subject="customer-9",
    )[0].token
    counts = services.rewrap.counts(tenant_id=tenant)
    assert counts[(tenant, "token:email", 1)] == len(EMAILS)
    assert sum(n for (_, purpose, _), n in counts.items() if purpose.startswith("subject:")) == 1

    services.keys.rotate(actor=OPERATOR, tenant_id=tenant, purpose="token:email")
    services.rewrap.rewrap(actor=OPERATOR, tenant_id=tenant)
    counts = services.rewrap.counts(tenant_id=tenant)
    assert counts[(tenant, "token:email", 2)] == len(EMAILS)
    assert counts[(tenant, "token:email", 1)] == 0
    # Idempotent: nothing is left below the current version.
    assert services.rewrap.pending(tenant_id=tenant) == 0

    services.keys.retire(below=2, actor=OPERATOR, tenant_id=tenant, purpose="token:email")
    values = services.tokens.detokenize(
        tenant, [*tokens, subject], purpose="fraud_investigation", role=Role.ADMIN, actor=OPERATOR
    )
    assert values == [*EMAILS, "a note about one customer"]
    # The same value still finds its token (the lookup digest is untouched by a rewrap).
    again = services.tokens.tokenize(
        tenant, "email", EMAILS[:1], actor=OPERATOR, style="vault_deterministic"
    )
    assert again[0].token == tokens[0]


def test_a_token_changed_meanwhile_is_left_alone(services: Services) -> None:
    tenant = services.tenants.create_tenant("acme", actor=OPERATOR)[0].id
    services.tokens.tokenize(tenant, "email", EMAILS[:1], actor=OPERATOR, style="vault_random")
    store = TokenSealedValues(SqlTokenRepository(services.engine), services.keys)
    [record] = store.records(tenant_id=tenant)
    assert isinstance(record, SealedRecord) and record.purpose == "token:email"
    assert store.reseal(record) is True
    assert store.reseal(record) is False  # what it read is no longer stored
    assert (
        store.covers("token:email") and store.covers("subject:x") and not store.covers("seal:totp")
    )
