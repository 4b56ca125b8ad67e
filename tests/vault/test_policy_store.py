"""Per-tenant vault policies (issue 14): the document's validation (hostile input included),
the repository's contract on SQLite and PostgreSQL, the per-process cache on an injected
clock, tenant isolation, auditing, and the token service reading the stored policy."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from payguard.adapters.keys.local import LocalKeyFile
from payguard.adapters.sql.audit import SqlAuditRepository
from payguard.adapters.sql.engine import create_sql_engine, migrate
from payguard.adapters.sql.vault import SqlDataKeyRepository
from payguard.adapters.sql.vault_policies import SqlPolicyRepository
from payguard.adapters.sql.vault_tokens import SqlTokenRepository
from payguard.audit.interfaces import Actor, AuditAction, AuditOutcome
from payguard.audit.service import AuditService
from payguard.core.clock import FrozenClock
from payguard.core.errors import PayloadTooLarge, ValidationFailed
from payguard.tenancy.interfaces import Role
from payguard.vault.interfaces import (
    DetokenizeDenied,
    DetokenizeRateLimited,
    PolicyRepository,
    StoredPolicy,
    TokenStyle,
)
from payguard.vault.keys import Keyring
from payguard.vault.kinds import Kind
from payguard.vault.policy import (
    DEFAULT_DETOKENIZERS,
    DEFAULT_STYLES,
    MAX_DOCUMENT_BYTES,
    MAX_PURPOSES,
    StoredPolicies,
    VaultPolicy,
    document_of,
    parse_policy,
    read_document,
)
from payguard.vault.service import TokenService
from payguard.wire import vault_policy as wire

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
ADMIN = Actor.api_key("x", "key-admin", None)
PAN = "4111111111111111"


# -- engines: SQLite always, PostgreSQL in a schema private to the run when CI names one -----


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    built = create_sql_engine(f"sqlite:///{tmp_path_factory.mktemp('policy') / 'payguard.db'}")
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
def sql_engine(request: pytest.FixtureRequest) -> sa.Engine:
    engine: sa.Engine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture
def engine(sqlite_engine: sa.Engine) -> sa.Engine:
    return sqlite_engine


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def tenant() -> str:
    return f"t-{os.urandom(8).hex()}"


@pytest.fixture
def other_tenant() -> str:
    return f"t-{os.urandom(8).hex()}"


@pytest.fixture
def audit(engine: sa.Engine, clock: FrozenClock) -> AuditService:
    return AuditService(SqlAuditRepository(engine), clock)


@pytest.fixture
def policies(engine: sa.Engine, audit: AuditService, clock: FrozenClock) -> StoredPolicies:
    return StoredPolicies(SqlPolicyRepository(engine), audit=audit, clock=clock, ttl=30)


# -- the document ---------------------------------------------------------------------------

VALID: dict[str, Any] = {
    "styles": {
        "pan": {"default": "vault_deterministic", "allowed": ["vault_deterministic"]},
        "email": {"default": "vault_random", "allowed": ["vault_random", "vault_deterministic"]},
    },
    "detokenize": {"analyst": ["dispute", "fraud_investigation"]},
    "detokenize_rate_per_minute": 100,
}


def test_a_valid_document_sets_what_it_names_and_keeps_the_rest() -> None:
    policy = parse_policy(VALID)
    assert policy.style_for(Kind.PAN, None) is TokenStyle.VAULT_DETERMINISTIC
    assert policy.style_for(Kind.PAN, TokenStyle.FPE_DETERMINISTIC) is None
    assert policy.style_for(Kind.EMAIL, None) is TokenStyle.VAULT_RANDOM
    # Kinds left out keep the defaults.
    assert policy.style_for(Kind.PHONE, None) is TokenStyle.FPE_DETERMINISTIC
    assert policy.style_for(Kind.GENERIC, TokenStyle.VAULT_RANDOM) is TokenStyle.VAULT_RANDOM
    # Deny by default: admin is not listed, so admin may not detokenize at all.
    assert policy.may_detokenize(Role.ANALYST, "dispute")
    assert not policy.may_detokenize(Role.ADMIN, "dispute")
    assert not policy.may_detokenize(Role.SERVICE, "dispute")
    assert policy.detokenize_rate_per_minute == 100


def test_an_empty_document_is_the_default_policy() -> None:
    policy = parse_policy({})
    assert dict(policy.default_styles) == dict(DEFAULT_STYLES)
    assert dict(policy.detokenizers) == dict(DEFAULT_DETOKENIZERS)
    assert policy.detokenize_rate_per_minute is None
    assert document_of(policy) == document_of(VaultPolicy())
    assert document_of(policy)["detokenize_rate_per_minute"] == 5000


def test_an_empty_detokenize_lets_nobody_detokenize() -> None:
    policy = parse_policy({"detokenize": {}})
    assert not any(policy.may_detokenize(role, "dispute") for role in Role)


def test_the_service_role_may_be_granted() -> None:
    assert parse_policy({"detokenize": {"service": ["dispute"]}}).may_detokenize(
        Role.SERVICE, "dispute"
    )


def _deep(levels: int) -> object:
    document: object = "x"
    for _ in range(levels):
        document = {"styles": document}
    return document


HOSTILE: list[tuple[object, str]] = [
    ([], "body"),
    ("styles", "body"),
    (None, "body"),
    ({"stiles": {}}, "stiles"),
    ({"x" * 5000: 1}, "x" * 40 + "..."),
    ({"styles": []}, "styles"),
    ({"styles": {"iban": {"default": "vault_random", "allowed": ["vault_random"]}}}, "styles.iban"),
    ({"styles": {"PAN": {"default": "vault_random", "allowed": ["vault_random"]}}}, "styles.PAN"),
    ({"styles": {"pan": "vault_random"}}, "styles.pan"),
    ({"styles": {"pan": {"default": "vault_random"}}}, "styles.pan.allowed"),
    ({"styles": {"pan": {"allowed": ["vault_random"]}}}, "styles.pan.default"),
    (
        {"styles": {"pan": {"default": "vault_random", "allowed": ["vault_random"], "x": 1}}},
        "styles.pan.x",
    ),
    ({"styles": {"pan": {"default": "clear", "allowed": ["clear"]}}}, "styles.pan.allowed[0]"),
    (
        {"styles": {"pan": {"default": "aes", "allowed": ["vault_random"]}}},
        "styles.pan.default",
    ),
    (
        {"styles": {"pan": {"default": "vault_random", "allowed": "vault_random"}}},
        "styles.pan.allowed",
    ),
    ({"styles": {"pan": {"default": "vault_random", "allowed": []}}}, "styles.pan.allowed"),
    (
        {"styles": {"pan": {"default": "vault_random", "allowed": ["vault_random"] * 4}}},
        "styles.pan.allowed",
    ),
    (
        {"styles": {"pan": {"default": "vault_random", "allowed": ["vault_random"] * 2}}},
        "styles.pan.allowed[1]",
    ),
    (
        {"styles": {"pan": {"default": 1, "allowed": ["vault_random"]}}},
        "styles.pan.default",
    ),
    (
        {"styles": {"pan": {"default": "vault_random", "allowed": [["vault_random"]]}}},
        "styles.pan.allowed[0]",
    ),
    (
        {"styles": {"email": {"default": "fpe_deterministic", "allowed": ["fpe_deterministic"]}}},
        "styles.email.allowed[0]",
    ),
    (
        {
            "styles": {
                "generic": {
                    "default": "vault_random",
                    "allowed": ["vault_random", "fpe_deterministic"],
                }
            }
        },
        "styles.generic.allowed[1]",
    ),
    (
        {"styles": {"pan": {"default": "fpe_deterministic", "allowed": ["vault_random"]}}},
        "styles.pan.default",
    ),
    ({"detokenize": []}, "detokenize"),
    ({"detokenize": {"root": ["dispute"]}}, "detokenize.root"),
    ({"detokenize": {"Admin": ["dispute"]}}, "detokenize.Admin"),
    ({"detokenize": {"analyst": "dispute"}}, "detokenize.analyst"),
    ({"detokenize": {"analyst": None}}, "detokenize.analyst"),
    ({"detokenize": {"analyst": ["dispute", "Dispute"]}}, "detokenize.analyst[1]"),
    ({"detokenize": {"analyst": ["dispute", "x" * 33]}}, "detokenize.analyst[1]"),
    ({"detokenize": {"analyst": ["dispute", "a-b"]}}, "detokenize.analyst[1]"),
    ({"detokenize": {"analyst": ["dispute", 7]}}, "detokenize.analyst[1]"),
    ({"detokenize": {"analyst": ["dispute", ""]}}, "detokenize.analyst[1]"),
    ({"detokenize": {"analyst": ["dispute", "dispute\n"]}}, "detokenize.analyst[1]"),
    ({"detokenize": {"analyst": ["dispute", "dispute"]}}, "detokenize.analyst[1]"),
    (
        {
            "detokenize": {
                "analyst": [f"p_{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(33)]
            }
        },
        "detokenize.analyst",
    ),
    ({"detokenize": {"analyst": ["dispute"] * 100_000}}, "detokenize.analyst"),
    ({"detokenize_rate_per_minute": 0}, "detokenize_rate_per_minute"),
    ({"detokenize_rate_per_minute": -5}, "detokenize_rate_per_minute"),
    ({"detokenize_rate_per_minute": 10**7}, "detokenize_rate_per_minute"),
    ({"detokenize_rate_per_minute": "5000"}, "detokenize_rate_per_minute"),
    ({"detokenize_rate_per_minute": 5000.0}, "detokenize_rate_per_minute"),
    ({"detokenize_rate_per_minute": True}, "detokenize_rate_per_minute"),
    ({"detokenize_rate_per_minute": None}, "detokenize_rate_per_minute"),
    (_deep(500), "styles.styles"),
]


@pytest.mark.parametrize(("document", "field"), HOSTILE)
def test_a_bad_document_is_refused_naming_the_field(document: object, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_policy(document)
    assert caught.value.field == field


def test_the_purposes_per_role_are_bounded_at_the_documented_size() -> None:
    purposes = [f"p_{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(MAX_PURPOSES)]
    assert parse_policy({"detokenize": {"analyst": purposes}}).may_detokenize(
        Role.ANALYST, purposes[-1]
    )


def test_reading_a_document_refuses_what_is_not_json_or_too_big() -> None:
    assert read_document(json.dumps(VALID)) == VALID
    for text, field in (("{", "body"), ("", "body"), ("[" * 100_00 + "]" * 100_00, "body")):
        with pytest.raises(ValidationFailed) as caught:
            read_document(text)
        assert caught.value.field == field
    with pytest.raises(ValidationFailed):
        read_document(b"\xff\xfe{}")
    with pytest.raises(ValidationFailed):
        read_document('{"detokenize_rate_per_minute": ' + "9" * 5000 + "}")
    with pytest.raises(PayloadTooLarge):
        read_document(" " * (MAX_DOCUMENT_BYTES + 1))


def test_the_wire_model_names_every_kind_and_role() -> None:
    assert set(wire.PolicyStylesIn.model_fields) == {kind.value for kind in Kind}
    assert set(wire.PolicyGrantsIn.model_fields) == {role.value for role in Role}


# -- the repository's contract, on every SQL backend ---------------------------------------


@pytest.fixture
def repository(sql_engine: sa.Engine) -> PolicyRepository:
    return SqlPolicyRepository(sql_engine)


def test_no_policy_stored_yet(repository: PolicyRepository, tenant: str) -> None:
    assert repository.current(tenant) is None
    assert repository.get(tenant, 1) is None


def test_versions_count_up_per_tenant(
    repository: PolicyRepository, tenant: str, other_tenant: str
) -> None:
    first = repository.add(tenant, '{"a":1}', T0, "alice")
    second = repository.add(tenant, '{"b":2}', T0 + timedelta(minutes=1), "bob")
    assert first == StoredPolicy(tenant, 1, '{"a":1}', T0, "alice")
    assert second.version == 2
    assert repository.current(tenant) == second
    assert repository.get(tenant, 1) == first
    stored = repository.get(tenant, 2)
    assert stored is not None and stored.created_at.tzinfo == UTC
    # Another tenant sees none of it and starts at 1.
    assert repository.current(other_tenant) is None
    assert repository.get(other_tenant, 1) is None
    assert repository.add(other_tenant, "{}", T0, "zed").version == 1
    assert repository.current(tenant) == second


def test_concurrent_adds_never_share_a_version(sql_engine: sa.Engine, tenant: str) -> None:
    def write(writer: int) -> list[int]:
        store = SqlPolicyRepository(sql_engine)
        return [store.add(tenant, f'{{"w":{writer}}}', T0, f"w{writer}").version for _ in range(4)]

    with ThreadPoolExecutor(4) as pool:
        versions = [v for batch in pool.map(write, range(4)) for v in batch]
    assert sorted(versions) == list(range(1, 17))


# -- the stored policies: set, cache, isolation, audit -----------------------------------------


def test_a_tenant_without_a_policy_has_the_default_as_version_zero(
    policies: StoredPolicies, tenant: str
) -> None:
    active = policies.active(tenant)
    assert active.version == 0 and active.created_by is None
    assert document_of(active.policy) == document_of(VaultPolicy())


def test_set_policy_stores_a_new_version_in_force_at_once(
    policies: StoredPolicies, audit: AuditService, tenant: str, other_tenant: str
) -> None:
    policies.active(tenant)  # cached as the default for 30 s
    first = policies.set_policy(tenant, VALID, actor=ADMIN)
    assert first.version == 1 and first.created_by == ADMIN.name and first.created_at == T0
    assert policies.policy(tenant).style_for(Kind.PAN, None) is TokenStyle.VAULT_DETERMINISTIC
    second = policies.set_policy(tenant, {"detokenize_rate_per_minute": 7}, actor=ADMIN)
    assert second.version == 2
    assert policies.policy(tenant).style_for(Kind.PAN, None) is TokenStyle.FPE_DETERMINISTIC
    # Another tenant keeps the default.
    assert policies.active(other_tenant).version == 0

    [record, older] = audit.list(tenant_id=tenant, action=AuditAction.VAULT_POLICY)[:2]
    assert record.outcome is AuditOutcome.SUCCESS
    assert record.target == "vault_policy:v2"
    assert record.details == {"version": 2, "document": {"detokenize_rate_per_minute": 7}}
    assert older.details["document"]["detokenize"] == {
        "analyst": ["dispute", "fraud_investigation"]
    }
    assert audit.list(tenant_id=other_tenant, action=AuditAction.VAULT_POLICY) == []


def test_a_refused_document_is_audited_and_stores_nothing(
    policies: StoredPolicies, engine: sa.Engine, audit: AuditService, tenant: str
) -> None:
    bad = {"styles": {"email": {"default": "fpe_deterministic", "allowed": ["fpe_deterministic"]}}}
    with pytest.raises(ValidationFailed) as caught:
        policies.set_policy(tenant, bad, actor=ADMIN)
    assert caught.value.field == "styles.email.allowed[0]"
    assert SqlPolicyRepository(engine).current(tenant) is None
    [record] = audit.list(tenant_id=tenant, action=AuditAction.VAULT_POLICY)
    assert record.outcome is AuditOutcome.FAILURE
    assert record.details["field"] == "styles.email.allowed[0]"


def test_the_stored_document_is_the_canonical_one(
    policies: StoredPolicies, engine: sa.Engine, tenant: str
) -> None:
    policies.set_policy(
        tenant,
        {"detokenize": {"analyst": ["fraud_investigation", "dispute"]}, "styles": {}},
        actor=ADMIN,
    )
    stored = SqlPolicyRepository(engine).current(tenant)
    assert stored is not None
    assert json.loads(stored.document) == {
        "detokenize": {"analyst": ["dispute", "fraud_investigation"]},
        "styles": {},
    }


def test_another_process_sees_a_change_once_its_cache_expires(
    engine: sa.Engine, audit: AuditService, clock: FrozenClock, tenant: str
) -> None:
    writer = StoredPolicies(SqlPolicyRepository(engine), audit=audit, clock=clock, ttl=30)
    reader = StoredPolicies(SqlPolicyRepository(engine), audit=audit, clock=clock, ttl=30)
    assert reader.active(tenant).version == 0
    writer.set_policy(tenant, VALID, actor=ADMIN)
    assert writer.active(tenant).version == 1
    clock.advance(timedelta(seconds=29))
    assert reader.active(tenant).version == 0  # still the cached default
    clock.advance(timedelta(seconds=1))
    assert reader.active(tenant).version == 1
    assert not reader.policy(tenant).may_detokenize(Role.ADMIN, "dispute")


def test_a_zero_ttl_reads_the_store_every_time(
    engine: sa.Engine, audit: AuditService, clock: FrozenClock, tenant: str
) -> None:
    writer = StoredPolicies(SqlPolicyRepository(engine), audit=audit, clock=clock, ttl=30)
    reader = StoredPolicies(SqlPolicyRepository(engine), audit=audit, clock=clock, ttl=0)
    assert reader.active(tenant).version == 0
    writer.set_policy(tenant, {}, actor=ADMIN)
    assert reader.active(tenant).version == 1


# -- the token service on stored policies -------------------------------------------------------


@pytest.fixture
def tokens(
    engine: sa.Engine,
    tmp_path: Path,
    audit: AuditService,
    clock: FrozenClock,
    policies: StoredPolicies,
) -> TokenService:
    source = LocalKeyFile(tmp_path / "vault.key", create=True)
    keyring = Keyring(SqlDataKeyRepository(engine), source, audit=audit, clock=clock, ttl=60)
    return TokenService(
        SqlTokenRepository(engine), keyring, audit=audit, clock=clock, policies=policies
    )


def test_tokenize_follows_the_tenants_stored_styles(
    tokens: TokenService, policies: StoredPolicies, tenant: str, other_tenant: str
) -> None:
    assert tokens.tokenize(tenant, "pan", [PAN], actor=ADMIN)[0].style is (
        TokenStyle.FPE_DETERMINISTIC
    )
    policies.set_policy(tenant, VALID, actor=ADMIN)
    [made] = tokens.tokenize(tenant, "pan", [PAN], actor=ADMIN)
    assert made.style is TokenStyle.VAULT_DETERMINISTIC and made.token.startswith("tok_pan_")
    with pytest.raises(ValidationFailed) as caught:
        tokens.tokenize(tenant, "pan", [PAN], actor=ADMIN, style="fpe_deterministic")
    assert caught.value.field == "style"
    # The other tenant still has the default.
    assert tokens.tokenize(other_tenant, "pan", [PAN], actor=ADMIN)[0].style is (
        TokenStyle.FPE_DETERMINISTIC
    )


def test_detokenize_follows_the_stored_grants_and_rate(
    tokens: TokenService, policies: StoredPolicies, tenant: str
) -> None:
    [made] = tokens.tokenize(tenant, "email", ["ann@example.com"], actor=ADMIN)
    analyst = Actor.api_key(tenant, "key-analyst", None)
    with pytest.raises(DetokenizeDenied):
        tokens.detokenize(tenant, [made.token], purpose="dispute", role=Role.ANALYST, actor=analyst)
    policies.set_policy(
        tenant,
        {"detokenize": {"analyst": ["dispute"]}, "detokenize_rate_per_minute": 2},
        actor=ADMIN,
    )
    assert (
        tokens.detokenize(
            tenant, [made.token, made.token], purpose="dispute", role=Role.ANALYST, actor=analyst
        )
        == ["ann@example.com"] * 2
    )
    with pytest.raises(DetokenizeRateLimited) as limited:
        tokens.detokenize(tenant, [made.token], purpose="dispute", role=Role.ANALYST, actor=analyst)
    assert "at most 2 values" in limited.value.message
    # Admin is no longer listed: deny by default.
    with pytest.raises(DetokenizeDenied):
        tokens.detokenize(tenant, [made.token], purpose="dispute", role=Role.ADMIN, actor=ADMIN)
