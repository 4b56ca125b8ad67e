"""The per-address lockout counts an address once, however it is written: an IPv4-mapped
IPv6 address (`::ffff:203.0.113.77`) or another IPv6 spelling does not get a fresh count."""

from __future__ import annotations

import pytest

from payguard.adapters.sql.auth import SqlAuthRepository
from payguard.audit.interfaces import Actor
from payguard.auth.factors import FactorKind
from payguard.auth.interfaces import Context
from payguard.auth.lockout import Lockout, address_key
from payguard.auth.policy import AuthPolicy
from payguard.core.clock import FrozenClock
from payguard.core.errors import Locked
from payguard.services import Services
from payguard.wire.auth import UserContext

TENANT = "t-1"
PARTNER = Actor("partner", source_ip="192.0.2.1")
POLICY = AuthPolicy(lockout_threshold=50, lockout_seconds=60, ip_lockout_threshold=4)


@pytest.fixture
def lockout(services: Services, clock: FrozenClock) -> Lockout:
    return Lockout(
        SqlAuthRepository(services.engine),
        audit=services.audit,
        bus=services.bus,
        clock=clock,
        policy=POLICY,
    )


@pytest.mark.parametrize(
    ("spellings", "canonical"),
    [
        (
            ["203.0.113.77", "::ffff:203.0.113.77", "::FFFF:cb00:714d", "0:0:0:0:0:ffff:cb00:714d"],
            "203.0.113.77",
        ),
        (["2001:db8::1", "2001:DB8::1", "2001:0db8:0000:0000:0000:0000:0000:0001"], "2001:db8::1"),
    ],
)
def test_every_spelling_of_an_address_has_one_key(spellings: list[str], canonical: str) -> None:
    assert {address_key(spelling) for spelling in spellings} == {f"ip:{canonical}"}


def test_a_mapped_address_shares_the_counter_of_its_ipv4_form(lockout: Lockout) -> None:
    # Four failures from four spellings of one address: the fourth reaches the address
    # threshold, so a fifth account from the plain IPv4 form is refused.
    for user, ip in zip(
        ("a-1", "a-2", "a-3", "a-4"),
        ("203.0.113.77", "::ffff:203.0.113.77", "::ffff:cb00:714d", "203.0.113.77"),
        strict=True,
    ):
        context = Context(actor=PARTNER, user_ip=ip)
        lockout.record_failure(TENANT, user, FactorKind.PASSWORD, "wrong", context)
    for ip in ("203.0.113.77", "::ffff:203.0.113.77"):
        with pytest.raises(Locked) as locked:
            lockout.check(TENANT, "a-5", Context(actor=PARTNER, user_ip=ip))
        assert "address" in locked.value.message


def test_the_wire_context_canonicalises_the_user_address() -> None:
    assert UserContext(ip="::ffff:203.0.113.77").ip == "203.0.113.77"
    assert UserContext(ip="2001:DB8:0::1").ip == "2001:db8::1"
    for bad in ("fe80::1%eth0", "not-an-ip", "203.0.113.77/32", "01.2.3.4"):
        with pytest.raises(ValueError, match=r"address|zone"):
            UserContext(ip=bad)
