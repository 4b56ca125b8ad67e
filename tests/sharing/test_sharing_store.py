"""The sharing repository's contract (issue 15), the same suite on SQLite and, when CI names
one, PostgreSQL: ids unique per tenant, every read within one tenant, consents replaced and
revoked, an export and its subjects stored together, and retention purging subject rows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.engine import create_sql_engine, migrate
from payguard.adapters.sql.sharing import SqlSharingRepository
from payguard.core.errors import Conflict
from payguard.sharing.interfaces import (
    Consent,
    DataRequest,
    Export,
    LegalBasis,
    Method,
    Recipient,
    SharingRepository,
)

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    built = create_sql_engine(f"sqlite:///{tmp_path_factory.mktemp('sharing') / 'payguard.db'}")
    migrate(built)
    yield built
    built.dispose()


@pytest.fixture(scope="module")
def postgresql_engine(postgres_url: str) -> Iterator[sa.Engine]:
    built = create_sql_engine(postgres_url, pool_size=4)
    migrate(built)
    yield built
    built.dispose()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def repository(request: pytest.FixtureRequest) -> SharingRepository:
    engine: sa.Engine = request.getfixturevalue(f"{request.param}_engine")
    return SqlSharingRepository(engine)


@pytest.fixture
def tenant() -> str:
    return f"t-{os.urandom(8).hex()}"


@pytest.fixture
def other() -> str:
    return f"t-{os.urandom(8).hex()}"


def _recipient(tenant: str, rid: str = "insurer") -> Recipient:
    return Recipient(tenant, rid, "Insurer", 5, ("age", "zip"), T0, "cli")


def _request(tenant: str, qid: str = "claims", retention: int = 30) -> DataRequest:
    return DataRequest(
        tenant,
        qid,
        "insurer",
        "claims_review",
        {"age": Method.GENERALIZE, "email": Method.TOKENIZE},
        retention,
        LegalBasis.CONSENT,
        T0,
        "cli",
    )


def _export(tenant: str, eid: str, at: datetime = T0, retention: int = 30) -> Export:
    return Export(
        tenant,
        eid,
        "claims",
        "insurer",
        "claims_review",
        {"age": Method.GENERALIZE, "email": Method.TOKENIZE},
        at,
        "cli",
        3,
        1,
        3,
        at + timedelta(days=retention),
    )


def test_recipients_are_unique_per_tenant_and_read_back(
    repository: SharingRepository, tenant: str, other: str
) -> None:
    repository.add_recipient(_recipient(tenant))
    with pytest.raises(Conflict):
        repository.add_recipient(_recipient(tenant))
    repository.add_recipient(_recipient(other))  # the same id in another tenant is another
    assert repository.recipient(tenant, "insurer") == _recipient(tenant)
    assert repository.recipients(tenant) == [_recipient(tenant)]
    assert repository.recipient(tenant, "nobody") is None
    assert repository.recipient(f"{tenant}-x", "insurer") is None


def test_requests_are_stored_listed_and_closed_within_the_tenant(
    repository: SharingRepository, tenant: str, other: str
) -> None:
    repository.add_request(_request(tenant))
    with pytest.raises(Conflict):
        repository.add_request(_request(tenant))
    assert repository.request(tenant, "claims") == _request(tenant)
    assert repository.request(other, "claims") is None
    assert repository.requests(other) == []
    assert repository.close_request(other, "claims", T0) is None
    closed = repository.close_request(tenant, "claims", T0 + timedelta(hours=1))
    assert closed is not None and closed.closed_at == T0 + timedelta(hours=1)
    again = repository.close_request(tenant, "claims", T0 + timedelta(hours=2))
    assert again is not None and again.closed_at == T0 + timedelta(hours=1)


def test_a_consent_is_replaced_revoked_and_read_per_tenant(
    repository: SharingRepository, tenant: str, other: str
) -> None:
    first = Consent(tenant, "cust-1", "claims", T0, T0 + timedelta(days=10), "cli")
    repository.put_consent(first)
    renewed = Consent(
        tenant, "cust-1", "claims", T0 + timedelta(days=1), T0 + timedelta(days=99), "x"
    )
    repository.put_consent(renewed)
    assert repository.consents_of(tenant, "cust-1") == [renewed]
    assert repository.consents_of(other, "cust-1") == []
    assert repository.consents_to(tenant, "claims", ["cust-1", "cust-2"]) == {"cust-1": renewed}
    assert repository.consents_to(other, "claims", ["cust-1"]) == {}
    assert repository.revoke_consent(other, "cust-1", "claims", T0) is None
    revoked = repository.revoke_consent(tenant, "cust-1", "claims", T0 + timedelta(days=2))
    assert revoked is not None and revoked.revoked_at == T0 + timedelta(days=2)
    assert not revoked.live(T0 + timedelta(days=3))
    # A new consent after a revocation is a live one again.
    repository.put_consent(renewed)
    assert repository.consents_of(tenant, "cust-1")[0].revoked_at is None


def test_consents_to_reads_many_subjects(repository: SharingRepository, tenant: str) -> None:
    for number in range(1200):
        repository.put_consent(
            Consent(tenant, f"s-{number}", "claims", T0, T0 + timedelta(days=1), "cli")
        )
    found = repository.consents_to(tenant, "claims", [f"s-{n}" for n in range(0, 1300)])
    assert len(found) == 1200


def test_an_export_and_its_subjects_are_stored_together_and_purged_after_retention(
    repository: SharingRepository, tenant: str, other: str
) -> None:
    repository.add_export(_export(tenant, "exp-1"), ["cust-1", "cust-2"])
    repository.add_export(_export(tenant, "exp-2", T0 + timedelta(days=1), 400), ["cust-1"])
    assert [e.id for e in repository.exports_of(tenant, "cust-1")] == ["exp-1", "exp-2"]
    assert repository.exports_of(tenant, "cust-2") == [_export(tenant, "exp-1")]
    assert repository.exports_of(other, "cust-1") == []
    # A failed write (the id taken) leaves nothing behind: not even the subject rows.
    with pytest.raises(Conflict):
        repository.add_export(_export(tenant, "exp-1"), ["cust-3"])
    assert repository.exports_of(tenant, "cust-3") == []
    purged = repository.purge_exported_subjects(T0 + timedelta(days=31))
    assert purged >= 2
    assert [e.id for e in repository.exports_of(tenant, "cust-1")] == ["exp-2"]
    assert repository.exports_of(tenant, "cust-2") == []
