"""Contract tests for `SqlDeviceRepository` and `SqlCommunityLists` on every SQL backend.

The community lists are network-wide and shared by every test on a backend, so each test
uses fresh hashes and reads the version counter relative to its own start.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from payguard.adapters.sql import tables
from payguard.adapters.sql.devices import SqlCommunityLists, SqlDeviceRepository
from payguard.core.errors import StateConflict
from payguard.devices.interfaces import (
    CommunityEntry,
    CommunityKind,
    CommunityLists,
    DeviceRecord,
    DeviceRepository,
    Health,
    HealthSignal,
    HealthSnapshot,
    HealthStatus,
)

T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
NAIROBI = timezone(timedelta(hours=3))
RACERS = 8

_R = TypeVar("_R")


@pytest.fixture
def devices(sql_engine: sa.Engine) -> DeviceRepository:
    return SqlDeviceRepository(sql_engine)


@pytest.fixture
def community(sql_engine: sa.Engine) -> CommunityLists:
    return SqlCommunityLists(sql_engine)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _hash() -> str:
    return hashlib.sha256(uuid.uuid4().bytes).hexdigest()


HEALTH = Health(
    score=35,
    status=HealthStatus.AT_RISK,
    signals=(
        HealthSignal(
            id="rooted",
            reason="DEVICE_ROOTED",
            weight=40,
            explanation="This phone is rooted: other apps can read what you type.",
            remedy="Use an unmodified phone for payments.",
            compromised=True,
        ),
        HealthSignal(
            id="no_lock",
            reason="NO_SCREEN_LOCK",
            weight=10,
            explanation="Anyone holding the phone can open it — «ñ» 📱",
            remedy="Set a PIN.",
        ),
    ),
    assurance="attested",
)


def new_record(tenant_id: str, **overrides: Any) -> DeviceRecord:
    fields: dict[str, Any] = {
        "tenant_id": tenant_id,
        "device_id": _id("dev"),
        "first_seen": T0,
        "last_seen": T0 + timedelta(minutes=5),
    }
    fields.update(overrides)
    return DeviceRecord(**fields)


def snapshot(at: datetime, **overrides: Any) -> HealthSnapshot:
    fields: dict[str, Any] = {
        "at": at,
        "score": 90,
        "status": HealthStatus.HEALTHY,
        "reasons": (),
        "assurance": "signed",
    }
    fields.update(overrides)
    return HealthSnapshot(**fields)


def entry(hashed: str | None = None, **overrides: Any) -> CommunityEntry:
    fields: dict[str, Any] = {
        "kind": CommunityKind.DEVICE_FINGERPRINT,
        "hashed": hashed or _hash(),
        "source": "tenant:bank-a",
        "confidence": 80,
        "added_at": T0,
    }
    fields.update(overrides)
    return CommunityEntry(**fields)


def race(work: Callable[[int], _R], workers: int = RACERS) -> list[_R]:
    """Run `work(i)` on `workers` threads released at the same instant."""
    start = threading.Barrier(workers)

    def run(i: int) -> _R:
        start.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(workers)))


def _outcome(call: Callable[[], _R]) -> _R | StateConflict:
    try:
        return call()
    except StateConflict as exc:
        return exc


# device records


def test_unknown_device_is_none(devices: DeviceRepository, tenant: str) -> None:
    assert devices.get(tenant, "nope") is None


def test_a_full_record_round_trips(devices: DeviceRepository, tenant: str) -> None:
    record = new_record(
        tenant,
        first_seen=datetime(2026, 3, 2, 12, 30, 15, 123456, tzinfo=NAIROBI),
        platform="android",
        fingerprint_hash=_hash(),
        accounts=("acct-1", "acct-2"),
        health=HEALTH,
        health_at=T0 + timedelta(seconds=1),
        attest_key_id="key-1",
        attest_public_key=b"\x04\x00\xff" + uuid.uuid4().bytes,
        attest_counter=2**40,
        extra={"integrity": {"level": "strong", "ts": [1, 2.5]}, "note": None},
    )

    saved = devices.save(record)
    read = devices.get(tenant, record.device_id)

    assert saved == dataclasses.replace(record, version=1)
    assert read == saved
    assert read is not None
    for stamp in (read.first_seen, read.last_seen, read.health_at):
        assert stamp is not None
        assert stamp.tzinfo == UTC
    assert read.first_seen.hour == 9
    assert isinstance(read.attest_public_key, bytes)
    assert read.health == HEALTH


def test_a_minimal_record_round_trips(devices: DeviceRepository, tenant: str) -> None:
    record = new_record(tenant)
    devices.save(record)
    assert devices.get(tenant, record.device_id) == dataclasses.replace(record, version=1)


def test_health_without_signals_round_trips(devices: DeviceRepository, tenant: str) -> None:
    health = Health(score=100, status=HealthStatus.HEALTHY)
    record = devices.save(new_record(tenant, health=health, health_at=T0))
    read = devices.get(tenant, record.device_id)
    assert read is not None
    assert read.health == health


def test_save_updates_from_the_stored_version(devices: DeviceRepository, tenant: str) -> None:
    first = devices.save(new_record(tenant))
    second = devices.save(
        dataclasses.replace(
            first,
            last_seen=T0 + timedelta(hours=1),
            accounts=("acct-9",),
            health=HEALTH,
            health_at=T0 + timedelta(hours=1),
            attest_counter=7,
        )
    )
    assert second.version == 2
    assert devices.get(tenant, first.device_id) == second
    cleared = devices.save(dataclasses.replace(second, health=None, health_at=None))
    assert devices.get(tenant, first.device_id) == cleared


def test_a_stale_version_is_a_state_conflict(devices: DeviceRepository, tenant: str) -> None:
    first = devices.save(new_record(tenant))
    devices.save(dataclasses.replace(first, attest_counter=1))
    with pytest.raises(StateConflict):
        devices.save(dataclasses.replace(first, attest_counter=2))
    stored = devices.get(tenant, first.device_id)
    assert stored is not None
    assert (stored.version, stored.attest_counter) == (2, 1)


def test_inserting_an_existing_device_is_a_state_conflict(
    devices: DeviceRepository, tenant: str
) -> None:
    record = devices.save(new_record(tenant, platform="ios"))
    with pytest.raises(StateConflict):
        devices.save(dataclasses.replace(record, version=0, platform="android"))
    assert devices.get(tenant, record.device_id) == record


def test_updating_an_unknown_device_is_a_state_conflict(
    devices: DeviceRepository, tenant: str
) -> None:
    with pytest.raises(StateConflict):
        devices.save(new_record(tenant, version=3))


def test_a_negative_version_is_refused(devices: DeviceRepository, tenant: str) -> None:
    with pytest.raises(ValueError, match="negative"):
        devices.save(new_record(tenant, version=-1))


@pytest.mark.parametrize("existing", [False, True], ids=["insert", "update"])
def test_of_concurrent_saves_from_one_version_exactly_one_wins(
    devices: DeviceRepository, tenant: str, existing: bool
) -> None:
    base = new_record(tenant)
    if existing:
        base = devices.save(base)

    outcomes = race(
        lambda i: _outcome(lambda: devices.save(dataclasses.replace(base, attest_counter=i)))
    )

    winners = [o for o in outcomes if isinstance(o, DeviceRecord)]
    assert len(winners) == 1
    assert all(isinstance(o, StateConflict) for o in outcomes if o is not winners[0])
    assert devices.get(tenant, base.device_id) == winners[0]
    assert winners[0].version == base.version + 1


def test_records_are_kept_per_tenant(
    devices: DeviceRepository, tenant: str, other_tenant: str
) -> None:
    mine = devices.save(new_record(tenant, device_id="shared-id", platform="android"))
    assert devices.get(other_tenant, "shared-id") is None
    # The same device id is a different device for another tenant: its own version line.
    theirs = devices.save(new_record(other_tenant, device_id="shared-id", platform="ios"))
    devices.save(dataclasses.replace(theirs, attest_counter=5))
    assert devices.get(tenant, "shared-id") == mine


# history


def test_history_is_newest_first_and_limited(devices: DeviceRepository, tenant: str) -> None:
    device_id = _id("dev")
    stamps = [T0 + timedelta(minutes=m) for m in (3, 1, 4, 2)]
    for i, at in enumerate(stamps):
        devices.add_snapshot(tenant, device_id, snapshot(at, score=i))

    everything = devices.history(tenant, device_id)
    assert [s.at for s in everything] == sorted(stamps, reverse=True)
    assert [s.at for s in devices.history(tenant, device_id, limit=2)] == sorted(
        stamps, reverse=True
    )[:2]
    assert devices.history(tenant, device_id, limit=0) == []
    assert devices.history(tenant, "other-device") == []


def test_snapshots_with_one_instant_come_back_latest_written_first(
    devices: DeviceRepository, tenant: str
) -> None:
    device_id = _id("dev")
    for score in range(5):
        devices.add_snapshot(tenant, device_id, snapshot(T0, score=score))
    assert [s.score for s in devices.history(tenant, device_id)] == [4, 3, 2, 1, 0]


def test_a_snapshot_round_trips(devices: DeviceRepository, tenant: str) -> None:
    device_id = _id("dev")
    written = snapshot(
        datetime(2026, 3, 2, 12, 0, tzinfo=NAIROBI),
        score=12,
        status=HealthStatus.COMPROMISED,
        reasons=("DEVICE_ROOTED", "HOOKING_DETECTED"),
        assurance="attested",
        report={"platform": "android", "rooted": True, "risky_apps": [{"kind": "overlay"}]},
    )
    devices.add_snapshot(tenant, device_id, written)
    [read] = devices.history(tenant, device_id)
    assert read == written
    assert read.at.tzinfo == UTC


def test_history_is_kept_per_tenant(
    devices: DeviceRepository, tenant: str, other_tenant: str
) -> None:
    devices.add_snapshot(tenant, "shared-id", snapshot(T0))
    assert devices.history(other_tenant, "shared-id") == []


# genuine apps


def test_genuine_apps_are_replaced(devices: DeviceRepository, tenant: str) -> None:
    assert devices.genuine_apps(tenant) == []
    devices.set_genuine_apps(
        tenant, [("com.bank.app", ["aa" * 32, "bb" * 32]), ("com.bank.lite", ["cc" * 32])]
    )
    assert devices.genuine_apps(tenant) == [
        ("com.bank.app", ("aa" * 32, "bb" * 32)),
        ("com.bank.lite", ("cc" * 32,)),
    ]

    devices.set_genuine_apps(tenant, [("com.bank.new", ("dd" * 32,))])
    assert devices.genuine_apps(tenant) == [("com.bank.new", ("dd" * 32,))]

    devices.set_genuine_apps(tenant, [])
    assert devices.genuine_apps(tenant) == []


def test_a_package_named_twice_keeps_every_digest_once(
    devices: DeviceRepository, tenant: str
) -> None:
    devices.set_genuine_apps(
        tenant, [("com.bank.app", ["aa" * 32, "bb" * 32]), ("com.bank.app", ["bb" * 32, "cc" * 32])]
    )
    assert devices.genuine_apps(tenant) == [("com.bank.app", ("aa" * 32, "bb" * 32, "cc" * 32))]


def test_genuine_apps_are_kept_per_tenant(
    devices: DeviceRepository, tenant: str, other_tenant: str
) -> None:
    devices.set_genuine_apps(tenant, [("com.bank.app", ["aa" * 32])])
    devices.set_genuine_apps(other_tenant, [("com.other.app", ["bb" * 32])])
    devices.set_genuine_apps(other_tenant, [])
    assert devices.genuine_apps(tenant) == [("com.bank.app", ("aa" * 32,))]
    assert devices.genuine_apps(other_tenant) == []


# community lists


def test_add_counts_new_entries_and_lookup_finds_them(community: CommunityLists) -> None:
    entries = [
        entry(note="device farm in a warehouse"),
        entry(expires_at=T0 + timedelta(days=30)),
        entry(kind=CommunityKind.APP_DIGEST),
    ]
    assert community.add(entries) == 3
    assert community.add(entries) == 0

    found = community.lookup(
        CommunityKind.DEVICE_FINGERPRINT, [e.hashed for e in entries], T0 + timedelta(days=1)
    )
    assert found == entries[:2]
    assert community.lookup(CommunityKind.APP_DIGEST, [entries[2].hashed], T0) == [entries[2]]


def test_an_entry_round_trips_with_aware_datetimes(community: CommunityLists) -> None:
    written = entry(
        kind=CommunityKind.FAKE_APP_SIGNATURE,
        added_at=datetime(2026, 3, 2, 12, 0, tzinfo=NAIROBI),
        expires_at=datetime(2026, 4, 2, 12, 0, tzinfo=NAIROBI),
        note="fake M-Pesa clone — «ñ»",
        confidence=100,
    )
    community.add([written])
    [read] = community.lookup(written.kind, [written.hashed], T0)
    assert read == written
    assert read.added_at.tzinfo == UTC
    assert read.expires_at is not None
    assert read.expires_at.tzinfo == UTC


def test_add_upserts_and_keeps_the_first_added_at(community: CommunityLists) -> None:
    first = entry(confidence=40, note="one report")
    assert community.add([first]) == 1
    again = dataclasses.replace(
        first,
        source="feed:intel-x",
        confidence=95,
        added_at=T0 + timedelta(days=2),
        expires_at=T0 + timedelta(days=90),
        note=None,
    )
    assert community.add([again]) == 0
    [read] = community.lookup(first.kind, [first.hashed], T0)
    assert read == dataclasses.replace(again, added_at=first.added_at)


def test_a_later_duplicate_in_one_add_wins(community: CommunityLists) -> None:
    hashed = _hash()
    assert community.add([entry(hashed, confidence=10), entry(hashed, confidence=70)]) == 1
    [read] = community.lookup(CommunityKind.DEVICE_FINGERPRINT, [hashed], T0)
    assert read.confidence == 70


def test_the_same_hash_under_two_kinds_is_two_entries(community: CommunityLists) -> None:
    hashed = _hash()
    assert community.add([entry(hashed), entry(hashed, kind=CommunityKind.APP_DIGEST)]) == 2
    assert community.remove(CommunityKind.APP_DIGEST, [hashed]) == 1
    assert len(community.lookup(CommunityKind.DEVICE_FINGERPRINT, [hashed], T0)) == 1


def test_lookup_skips_expired_and_unknown_hashes(community: CommunityLists) -> None:
    live = entry(expires_at=T0 + timedelta(hours=1))
    forever = entry()
    expired = entry(expires_at=T0 - timedelta(seconds=1))
    edge = entry(expires_at=T0)  # expires at the instant asked about
    community.add([live, forever, expired, edge])

    wanted = [_hash(), edge.hashed, expired.hashed, forever.hashed, live.hashed, live.hashed]
    found = community.lookup(CommunityKind.DEVICE_FINGERPRINT, wanted, T0)
    assert found == [forever, live]
    later = community.lookup(CommunityKind.DEVICE_FINGERPRINT, wanted, T0 + timedelta(hours=2))
    assert later == [forever]
    assert community.lookup(CommunityKind.DEVICE_FINGERPRINT, [], T0) == []


def test_remove_counts_what_it_removed(community: CommunityLists) -> None:
    kept, gone = entry(), entry()
    community.add([kept, gone])
    assert (
        community.remove(CommunityKind.DEVICE_FINGERPRINT, [gone.hashed, gone.hashed, _hash()]) == 1
    )
    assert community.remove(CommunityKind.DEVICE_FINGERPRINT, [gone.hashed]) == 0
    assert community.remove(CommunityKind.APP_DIGEST, [kept.hashed]) == 0
    assert community.remove(CommunityKind.DEVICE_FINGERPRINT, []) == 0
    found = community.lookup(CommunityKind.DEVICE_FINGERPRINT, [kept.hashed, gone.hashed], T0)
    assert found == [kept]


def test_version_increases_on_every_change(community: CommunityLists) -> None:
    first = entry()
    start = community.version()

    community.add([first])
    after_add = community.version()
    assert after_add > start

    community.add([dataclasses.replace(first, confidence=first.confidence + 1)])
    after_upsert = community.version()
    assert after_upsert > after_add

    community.remove(first.kind, [first.hashed])
    after_remove = community.version()
    assert after_remove > after_upsert


def test_version_stays_when_nothing_changed(community: CommunityLists) -> None:
    same = entry()
    community.add([same])
    before = community.version()
    community.add([same])
    community.add([])
    community.remove(same.kind, [_hash()])
    assert community.version() == before


def test_a_large_lookup_is_chunked(community: CommunityLists) -> None:
    entries = [entry() for _ in range(1200)]
    assert community.add(entries) == 1200
    wanted = [e.hashed for e in entries] + [_hash() for _ in range(300)]
    assert community.lookup(CommunityKind.DEVICE_FINGERPRINT, wanted, T0) == entries
    assert community.remove(CommunityKind.DEVICE_FINGERPRINT, wanted) == 1200
    assert community.lookup(CommunityKind.DEVICE_FINGERPRINT, wanted, T0) == []


def test_entries_are_shared_across_tenants(sql_engine: sa.Engine) -> None:
    """Two tenants' services get separate instances, and one list."""
    reported = entry(source="tenant:bank-a")
    SqlCommunityLists(sql_engine).add([reported])
    seen = SqlCommunityLists(sql_engine).lookup(reported.kind, [reported.hashed], T0)
    assert seen == [reported]
    assert "tenant_id" not in tables.community_entries.c
    columns = {c["name"] for c in sa.inspect(sql_engine).get_columns("community_entries")}
    assert "tenant_id" not in columns


def test_concurrent_adds_of_one_entry_count_it_once(community: CommunityLists) -> None:
    hashed = _hash()
    added = race(lambda i: community.add([entry(hashed, confidence=i)]))
    assert sum(added) == 1
    assert len(community.lookup(CommunityKind.DEVICE_FINGERPRINT, [hashed], T0)) == 1


def test_the_hot_path_reads_only_the_health(devices: DeviceRepository, tenant: str) -> None:
    assert devices.has_devices(tenant) is False
    plain = devices.save(new_record(tenant))
    judged = devices.save(new_record(tenant, health=HEALTH, health_at=T0))
    assert devices.has_devices(tenant) is True
    assert devices.health_of(tenant, judged.device_id) == HEALTH
    assert devices.health_of(tenant, plain.device_id) is None
    assert devices.health_of(tenant, "unknown-device") is None
    assert devices.health_of(f"{tenant}-other", judged.device_id) is None
    assert devices.has_devices(f"{tenant}-other") is False


ANCIENT = datetime(2001, 1, 1, tzinfo=UTC)


def test_pruning_history_keeps_recent_snapshots_and_the_record(
    devices: DeviceRepository, tenant: str
) -> None:
    record = devices.save(new_record(tenant, health=HEALTH, health_at=ANCIENT))
    devices.add_snapshot(tenant, record.device_id, snapshot(ANCIENT))
    devices.add_snapshot(tenant, record.device_id, snapshot(ANCIENT + timedelta(days=60)))
    assert devices.prune_history(ANCIENT + timedelta(days=30)) >= 1
    kept = devices.history(tenant, record.device_id)
    assert [s.at for s in kept] == [ANCIENT + timedelta(days=60)]
    assert devices.health_of(tenant, record.device_id) == HEALTH


def test_purging_expired_community_entries_bumps_the_version(community: CommunityLists) -> None:
    expired = entry(added_at=ANCIENT, expires_at=ANCIENT + timedelta(days=1))
    lasting = entry(added_at=ANCIENT, expires_at=None)
    community.add([expired, lasting])
    before = community.version()
    assert community.purge_expired(ANCIENT + timedelta(days=2)) >= 1
    assert community.version() > before
    found = community.lookup(
        CommunityKind.DEVICE_FINGERPRINT, [expired.hashed, lasting.hashed], ANCIENT
    )
    assert [e.hashed for e in found] == [lasting.hashed]
