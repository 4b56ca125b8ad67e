"""The factor verifier registry: one verifier per kind, duplicates refused, each proof's shape
checked by its own kind's verifier before anything is counted."""

from __future__ import annotations

import pytest

from payguard.adapters.bus.memory import MemoryEventBus
from payguard.adapters.sql.auth import SqlAuthRepository
from payguard.audit.interfaces import Actor
from payguard.auth.factors import FactorKind, Passed, Proof
from payguard.auth.interfaces import Context
from payguard.auth.passkeys import RelyingParty
from payguard.auth.passwords import PasswordHasher
from payguard.auth.sealing import SecretBox
from payguard.auth.verifiers import (
    DeviceVerifier,
    FactorVerifier,
    PasskeyVerifier,
    PasswordVerifier,
    RecoveryCodeVerifier,
    TotpSecrets,
    TotpVerifier,
    VerifierRegistry,
)
from payguard.core.clock import FrozenClock
from payguard.core.errors import ValidationFailed
from payguard.services import Services

NONCE = "n" * 16


@pytest.fixture
def verifiers(services: Services, clock: FrozenClock) -> list[FactorVerifier]:
    """The five verifiers as the composition root wires them, on the test's store."""
    store = SqlAuthRepository(services.engine)
    bus = MemoryEventBus()
    return [
        PasswordVerifier(store, hasher=PasswordHasher(time_cost=1, memory_cost=8192), clock=clock),
        TotpVerifier(store, secrets=TotpSecrets(SecretBox(b"k" * 32), clock), clock=clock),
        RecoveryCodeVerifier(store, clock=clock),
        PasskeyVerifier(
            store,
            relying_party=RelyingParty(id="localhost", name="t", origins=("http://localhost",)),
            audit=services.audit,
            bus=bus,
            clock=clock,
        ),
        DeviceVerifier(store, nonces=store, clock=clock),
    ]


@pytest.fixture
def registry(verifiers: list[FactorVerifier]) -> VerifierRegistry:
    return VerifierRegistry(verifiers)


def test_there_is_one_verifier_per_factor_kind(registry: VerifierRegistry) -> None:
    assert registry.kinds == frozenset(FactorKind)
    for kind in FactorKind:
        assert registry[kind].kind is kind


def test_a_kind_registered_twice_is_refused(verifiers: list[FactorVerifier]) -> None:
    with pytest.raises(ValueError, match="totp"):
        VerifierRegistry([*verifiers, verifiers[1]])


def test_a_kind_without_a_verifier_is_refused_as_input(verifiers: list[FactorVerifier]) -> None:
    without_passkeys = VerifierRegistry(v for v in verifiers if v.kind != FactorKind.PASSKEY)
    with pytest.raises(ValidationFailed) as caught:
        without_passkeys.check_shapes([Proof(FactorKind.PASSKEY, credential={"id": "x"})])
    assert caught.value.field == "factors"
    # The others still work.
    without_passkeys.check_shapes([Proof(FactorKind.PASSWORD, secret="anything")])


@pytest.mark.parametrize(
    ("proof", "field"),
    [
        (Proof(FactorKind.PASSWORD), None),
        (Proof(FactorKind.TOTP, secret="not digits"), None),
        (Proof(FactorKind.RECOVERY_CODE, secret=""), None),
        (Proof(FactorKind.PASSKEY), "credential"),
        (Proof(FactorKind.PASSKEY, credential={"rawId": 7}), "credential"),
        (Proof(FactorKind.DEVICE, signature="s", timestamp=1, nonce=NONCE), "device_id"),
        (Proof(FactorKind.DEVICE, device_id="d", timestamp=1, nonce=NONCE), "signature"),
        (Proof(FactorKind.DEVICE, device_id="d", signature="s", nonce=NONCE), "signature"),
        (Proof(FactorKind.DEVICE, device_id="d", signature="s", timestamp=1), "nonce"),
        (
            Proof(FactorKind.DEVICE, device_id="d", signature="s", timestamp=1, nonce="short"),
            "nonce",
        ),
        (Proof(FactorKind.DEVICE, device_id="d", signature="s", timestamp=1, nonce=NONCE), None),
    ],
)
def test_each_kind_checks_the_shape_of_its_own_proofs(
    registry: VerifierRegistry, proof: Proof, field: str | None
) -> None:
    if field is None:
        registry.check_shapes([proof])
        return
    with pytest.raises(ValidationFailed) as caught:
        registry.check_shapes([proof])
    assert caught.value.field == field


def test_the_registry_routes_a_proof_to_its_kind(
    services: Services, registry: VerifierRegistry, clock: FrozenClock
) -> None:
    tenant, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
    context = Context(actor=Actor("partner"))
    services.auth.create_user(tenant.id, "acct-1", password=None, context=context)
    codes = services.auth.new_recovery_codes(tenant.id, "acct-1", context=context)
    user = services.auth.user(tenant.id, "acct-1")
    proof = Proof(FactorKind.RECOVERY_CODE, secret=codes[0])
    assert registry.verify(user, proof) == Passed(FactorKind.RECOVERY_CODE)
    assert services.auth.recovery_codes_left(tenant.id, "acct-1") == len(codes) - 1
