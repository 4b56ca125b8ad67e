"""A tenant's own recognizers, stored (`shield.stored`): the document's checks (an empty set,
a built-in's name, hostile input), the repository's contract on SQLite and PostgreSQL, the
per-process cache on an injected clock (compiled once per version), tenant isolation,
auditing, and the privacy service scanning and redacting with them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from payguard.adapters.sql.audit import SqlAuditRepository
from payguard.adapters.sql.engine import create_sql_engine, migrate
from payguard.adapters.sql.shield_recognizers import SqlRecognizerRepository
from payguard.audit.interfaces import Actor, AuditAction, AuditOutcome
from payguard.audit.service import AuditService
from payguard.core.clock import FrozenClock
from payguard.core.errors import PayloadTooLarge, ValidationFailed
from payguard.shield import stored as stored_module
from payguard.shield.custom import MAX_SOURCE_BYTES
from payguard.shield.interfaces import Entity, RecognizerRepository, StoredRecognizerSet
from payguard.shield.service import PrivacyService
from payguard.shield.stored import (
    StoredRecognizers,
    builtin_names,
    check_recognizers,
    compile_checked,
)
from payguard.wire import privacy_recognizers as wire

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
ADMIN = Actor.api_key("x", "key-admin", None)

MEMBER = """\
description: Acme's member numbers
recognizers:
  - name: member_id
    patterns:
      - regex: "MBR-[0-9]{8}"
        score: 0.6
    context:
      words: [member, "\u4f1a\u5458"]
"""
LOYALTY = """\
recognizers:
  - name: loyalty_card
    entity: bank_account
    patterns: [{regex: "LOY[0-9]{6}", score: 0.9}]
"""
TEXT = "member MBR-12345678 paid with 4111111111111111"


# -- engines: SQLite always, PostgreSQL in a schema private to the run when CI names one -----


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    built = create_sql_engine(f"sqlite:///{tmp_path_factory.mktemp('recognizers') / 'pg.db'}")
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
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def tenant() -> str:
    return f"t-{os.urandom(8).hex()}"


@pytest.fixture
def other_tenant() -> str:
    return f"t-{os.urandom(8).hex()}"


@pytest.fixture
def audit(sql_engine: sa.Engine, clock: FrozenClock) -> AuditService:
    return AuditService(SqlAuditRepository(sql_engine), clock)


@pytest.fixture
def recognizers(
    sql_engine: sa.Engine, audit: AuditService, clock: FrozenClock
) -> StoredRecognizers:
    return StoredRecognizers(SqlRecognizerRepository(sql_engine), audit=audit, clock=clock, ttl=30)


# -- the document ------------------------------------------------------------------------------


def test_the_wire_limit_agrees_with_the_shield() -> None:
    assert wire.MAX_YAML_BYTES == MAX_SOURCE_BYTES


def test_a_valid_document_compiles_to_its_recognizers() -> None:
    [member] = check_recognizers(MEMBER)
    assert member.name == "member_id" and member.entity is Entity.CUSTOM
    [again] = compile_checked(MEMBER)
    assert again.name == "member_id"
    assert [f.entity for f in again.find(TEXT)] == [Entity.CUSTOM]


@pytest.mark.parametrize("source", ["recognizers: []", "description: none yet\nrecognizers: []\n"])
def test_an_empty_set_is_a_valid_document(source: str) -> None:
    assert check_recognizers(source) == []
    assert compile_checked(source) == []


@pytest.mark.parametrize(
    ("source", "field"),
    [
        # A name a built-in recognizer has.
        (
            "recognizers: [{name: card, patterns: [{regex: 'X[0-9]{4}', score: 0.5}]}]",
            "recognizers[0].name",
        ),
        (
            "recognizers:\n  - {name: mine, patterns: [{regex: 'A[0-9]{4}', score: 0.5}]}\n"
            "  - {name: email, patterns: [{regex: 'B[0-9]{4}', score: 0.5}]}\n",
            "recognizers[1].name",
        ),
        # Catastrophic backtracking, a backreference, a regex that matches nothing at all.
        (
            "recognizers: [{name: a, patterns: [{regex: '(a+)+$', score: 0.5}]}]",
            "recognizers[0].patterns[0].regex",
        ),
        (
            "recognizers: [{name: a, patterns: [{regex: '(x)\\1', score: 0.5}]}]",
            "recognizers[0].patterns[0].regex",
        ),
        (
            "recognizers: [{name: a, patterns: [{regex: 'x*', score: 0.5}]}]",
            "recognizers[0].patterns[0].regex",
        ),
        (
            "recognizers: [{name: a, patterns: [{regex: '[', score: 0.5}]}]",
            "recognizers[0].patterns[0].regex",
        ),
        # Out of range, unknown, wrong type.
        (
            "recognizers: [{name: a, patterns: [{regex: 'x', score: 2}]}]",
            "recognizers[0].patterns[0].score",
        ),
        (
            "recognizers: [{name: a, entity: payguard_token, patterns: [{regex: x, score: 1}]}]",
            "recognizers[0].entity",
        ),
        ("recognizers: []\nextra: 1\n", "extra"),
        ("recognizers: []\ndescription: 5\n", "description"),
        ("recognizers: [{name: a, patterns: []}]", "recognizers[0].patterns"),
        ("recognizers: {}", "recognizers"),
        ("description: no list", "recognizers"),
        # Not YAML, not a mapping, hostile YAML.
        ("recognizers: [", "recognizers"),
        ("- a\n- b\n", "recognizers"),
        ("a: &a [*a]", "recognizers"),
        ("a: " + "[" * 100 + "]" * 100, "recognizers"),
        ("a: !!python/object/apply:os.system [id]", "recognizers"),
        ("recognizers: []\nx: \x00", "recognizers"),
        ("recognizers: [] # \ud800", "recognizers"),
    ],
)
def test_a_bad_document_is_refused_naming_the_field(source: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_recognizers(source)
    assert caught.value.field == field


def test_a_document_over_the_limit_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        check_recognizers("recognizers: []\n# " + "x" * MAX_SOURCE_BYTES)


def test_every_builtin_name_is_reserved() -> None:
    assert {"card", "email", "iban", "payguard_token"} <= builtin_names()


# -- the repository's contract, on every SQL backend ---------------------------------------


@pytest.fixture
def repository(sql_engine: sa.Engine) -> RecognizerRepository:
    return SqlRecognizerRepository(sql_engine)


def test_nothing_stored_yet(repository: RecognizerRepository, tenant: str) -> None:
    assert repository.current(tenant) is None
    assert repository.current_version(tenant) == 0
    assert repository.get(tenant, 1) is None


def test_versions_count_up_per_tenant(
    repository: RecognizerRepository, tenant: str, other_tenant: str
) -> None:
    first = repository.add(tenant, MEMBER, T0, "alice")
    second = repository.add(tenant, LOYALTY, T0 + timedelta(minutes=1), "bob")
    assert first == StoredRecognizerSet(tenant, 1, MEMBER, T0, "alice")
    assert second.version == 2 and repository.current_version(tenant) == 2
    assert repository.current(tenant) == second
    assert repository.get(tenant, 1) == first
    stored = repository.get(tenant, 2)
    assert stored is not None and stored.created_at.tzinfo == UTC
    assert stored.document == LOYALTY  # the source as given, byte for byte
    # Another tenant sees none of it and starts at 1.
    assert repository.current(other_tenant) is None
    assert repository.current_version(other_tenant) == 0
    assert repository.get(other_tenant, 1) is None
    assert repository.add(other_tenant, "recognizers: []", T0, "zed").version == 1
    assert repository.current(tenant) == second


def test_concurrent_adds_never_share_a_version(sql_engine: sa.Engine, tenant: str) -> None:
    def write(writer: int) -> list[int]:
        store = SqlRecognizerRepository(sql_engine)
        return [store.add(tenant, f"# w{writer}", T0, f"w{writer}").version for _ in range(4)]

    with ThreadPoolExecutor(4) as pool:
        versions = [v for batch in pool.map(write, range(4)) for v in batch]
    assert sorted(versions) == list(range(1, 17))


# -- the stored recognizers: set, cache, isolation, audit ----------------------------------------


def test_a_tenant_without_a_set_has_none_as_version_zero(
    recognizers: StoredRecognizers, tenant: str
) -> None:
    active = recognizers.active(tenant)
    assert active.version == 0 and active.recognizers == ()
    assert active.created_by is None and active.source == ""


def test_set_stores_a_new_version_in_force_at_once(
    recognizers: StoredRecognizers, audit: AuditService, tenant: str, other_tenant: str
) -> None:
    active = recognizers.set(tenant, MEMBER, actor=ADMIN)
    assert active.version == 1 and active.names == ["member_id"]
    assert active.source == MEMBER and active.created_by == ADMIN.name
    assert active.created_at == T0
    assert recognizers.active(tenant) == active
    assert recognizers.active(other_tenant).version == 0  # isolation
    emptied = recognizers.set(tenant, "recognizers: []\n", actor=ADMIN)
    assert emptied.version == 2 and emptied.recognizers == ()
    records = audit.list(tenant_id=tenant, action=AuditAction.PRIVACY_RECOGNIZERS)
    assert {r.target for r in records} == {"privacy_recognizers:v1", "privacy_recognizers:v2"}
    first = next(r for r in records if r.target == "privacy_recognizers:v1")
    assert first.outcome is AuditOutcome.SUCCESS
    assert first.details == {"version": 1, "count": 1, "recognizers": {"member_id": "custom"}}
    assert "MBR" not in str(first.details)  # the patterns are in the store, not the log
    assert audit.list(tenant_id=other_tenant, action=AuditAction.PRIVACY_RECOGNIZERS) == []


def test_a_refused_document_is_audited_and_stores_nothing(
    recognizers: StoredRecognizers, sql_engine: sa.Engine, audit: AuditService, tenant: str
) -> None:
    recognizers.set(tenant, MEMBER, actor=ADMIN)
    hostile = "recognizers: [{name: a, patterns: [{regex: '(\\w+\\s?)*$', score: 0.5}]}]"
    with pytest.raises(ValidationFailed) as caught:
        recognizers.set(tenant, hostile, actor=ADMIN)
    assert caught.value.field == "recognizers[0].patterns[0].regex"
    assert SqlRecognizerRepository(sql_engine).current_version(tenant) == 1
    assert recognizers.active(tenant).version == 1
    failures = [
        r
        for r in audit.list(tenant_id=tenant, action=AuditAction.PRIVACY_RECOGNIZERS)
        if r.outcome is AuditOutcome.FAILURE
    ]
    assert len(failures) == 1
    assert failures[0].details["field"] == "recognizers[0].patterns[0].regex"


def test_another_process_sees_a_change_once_its_cache_expires(
    sql_engine: sa.Engine, audit: AuditService, clock: FrozenClock, tenant: str
) -> None:
    writer = StoredRecognizers(SqlRecognizerRepository(sql_engine), audit=audit, clock=clock, ttl=5)
    reader = StoredRecognizers(SqlRecognizerRepository(sql_engine), audit=audit, clock=clock, ttl=5)
    assert reader.active(tenant).version == 0
    writer.set(tenant, MEMBER, actor=ADMIN)
    clock.advance(timedelta(seconds=4))
    assert reader.active(tenant).version == 0  # still cached
    clock.advance(timedelta(seconds=1))
    seen = reader.active(tenant)
    assert seen.version == 1 and seen.names == ["member_id"]


class _CountingRepository:
    """A repository that counts the documents it hands out (each one is compiled)."""

    def __init__(self, inner: RecognizerRepository) -> None:
        self.inner = inner
        self.reads = 0

    def add(self, *args: Any) -> StoredRecognizerSet:
        return self.inner.add(*args)

    def current(self, tenant_id: str) -> StoredRecognizerSet | None:
        self.reads += 1
        return self.inner.current(tenant_id)

    def current_version(self, tenant_id: str) -> int:
        return self.inner.current_version(tenant_id)

    def get(self, tenant_id: str, version: int) -> StoredRecognizerSet | None:
        self.reads += 1
        return self.inner.get(tenant_id, version)


def test_a_version_is_compiled_once_however_often_the_cache_expires(
    sql_engine: sa.Engine,
    audit: AuditService,
    clock: FrozenClock,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    SqlRecognizerRepository(sql_engine).add(tenant, MEMBER, T0, "elsewhere")
    counting = _CountingRepository(SqlRecognizerRepository(sql_engine))
    compiled: list[str] = []
    real = stored_module.compile_checked

    def spy(source: str) -> Any:
        compiled.append(source)
        return real(source)

    monkeypatch.setattr(stored_module, "compile_checked", spy)
    reader = StoredRecognizers(counting, audit=audit, clock=clock, ttl=0)
    first = reader.active(tenant)
    for _ in range(5):
        clock.advance(timedelta(seconds=1))
        assert reader.active(tenant) is first
    assert compiled == [MEMBER] and counting.reads == 1
    counting.add(tenant, LOYALTY, T0, "elsewhere")
    assert reader.active(tenant).names == ["loyalty_card"]
    assert len(compiled) == 2


def test_the_cache_is_bounded(
    sql_engine: sa.Engine, audit: AuditService, clock: FrozenClock
) -> None:
    small = StoredRecognizers(
        SqlRecognizerRepository(sql_engine), audit=audit, clock=clock, ttl=60, cache_size=3
    )
    for n in range(10):
        small.active(f"t-bounded-{n}")
    assert len(small._cache) == 3


def test_a_stored_version_loads_even_when_the_probe_would_be_slow(
    sql_engine: sa.Engine,
    audit: AuditService,
    clock: FrozenClock,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A regex accepted when stored is not refused later because a worker is busy: stored
    versions are compiled without the timing probe."""
    store = StoredRecognizers(SqlRecognizerRepository(sql_engine), audit=audit, clock=clock)
    store.set(tenant, MEMBER, actor=ADMIN)
    monkeypatch.setattr("payguard.shield.custom.PROBE_BUDGET", -1.0)  # every probe "too slow"
    with pytest.raises(ValidationFailed):
        check_recognizers(MEMBER)
    fresh = StoredRecognizers(SqlRecognizerRepository(sql_engine), audit=audit, clock=clock)
    assert fresh.active(tenant).names == ["member_id"]


# -- the privacy service with a tenant's recognizers -----------------------------------------


class _Keys:
    def data_key(self, tenant_id: str, purpose: str) -> tuple[int, bytes]:
        return 1, b"k" * 32


class _Vault:
    def tokenize(self, tenant_id: str, kind: str, values: Any, *, actor: Actor) -> list[Any]:
        raise AssertionError("no value is tokenized here")


@pytest.fixture
def privacy(recognizers: StoredRecognizers, audit: AuditService) -> PrivacyService:
    return PrivacyService(_Keys(), _Vault(), audit=audit, recognizers=recognizers)


def test_scan_runs_the_tenants_recognizers_beside_the_builtin_ones(
    privacy: PrivacyService, recognizers: StoredRecognizers, tenant: str, other_tenant: str
) -> None:
    before = privacy.scan(tenant, text=TEXT, actor=ADMIN).findings
    assert [f.entity for f in before] == [Entity.CARD]
    recognizers.set(tenant, MEMBER, actor=ADMIN)
    found = privacy.scan(tenant, text=TEXT, actor=ADMIN).findings
    assert [(f.entity, f.recognizer) for f in found] == [
        (Entity.CUSTOM, "member_id"),
        (Entity.CARD, "card"),
    ]
    custom = found[0]
    assert TEXT[custom.start : custom.end] == "MBR-12345678"
    assert custom.score == pytest.approx(0.95)  # 0.6 + the context word's 0.35
    # The entities filter applies to them too; another tenant never gets them.
    only_cards = privacy.scan(tenant, text=TEXT, entities=[Entity.CARD], actor=ADMIN)
    assert [f.entity for f in only_cards.findings] == [Entity.CARD]
    only_custom = privacy.scan(tenant, text=TEXT, entities=[Entity.CUSTOM], actor=ADMIN)
    assert [f.recognizer for f in only_custom.findings] == ["member_id"]
    theirs = privacy.scan(other_tenant, text=TEXT, actor=ADMIN).findings
    assert [f.entity for f in theirs] == [Entity.CARD]
    in_document = privacy.scan(tenant, document={"member": "MBR-12345678"}, actor=ADMIN)
    assert [(f.path, f.finding.recognizer) for f in in_document.document_findings] == [
        ("$.member", "member_id")
    ]


def test_redact_redacts_the_tenants_entity_by_default(
    privacy: PrivacyService, recognizers: StoredRecognizers, tenant: str
) -> None:
    recognizers.set(tenant, MEMBER, actor=ADMIN)
    done = privacy.redact(tenant, text="member MBR-12345678 joined", actor=ADMIN)
    assert done.text == "member [custom] joined"
    assert done.found == 1


def test_a_recognizer_of_a_builtin_entity_is_filtered_with_it(
    privacy: PrivacyService, recognizers: StoredRecognizers, tenant: str
) -> None:
    recognizers.set(tenant, LOYALTY, actor=ADMIN)
    text = "card LOY123456"
    found = privacy.scan(tenant, text=text, entities=[Entity.BANK_ACCOUNT], actor=ADMIN)
    assert [(f.entity, f.recognizer) for f in found.findings] == [
        (Entity.BANK_ACCOUNT, "loyalty_card")
    ]
    assert privacy.scan(tenant, text=text, entities=[Entity.EMAIL], actor=ADMIN).findings == ()
