"""Benchmark the authentication factors: what one check costs on this machine.

Prints verifications per second on one thread for TOTP `match_step` (a current code, and a
wrong one, which tries every step in the window), device-signature verification (Ed25519 and
P-256 ECDSA, the full `verify_signature` path from base64 text), WebAuthn assertions (ES256
through `verify_authentication`, one timed pass over assertions made beforehand by the
software authenticator), and the argon2id hash time with the default parameters (median of 5),
which is also what every password login costs. Usage:
python benchmarks/auth.py [--calls N] [--hashes N]
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pyotp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from payguard.auth import devicekeys, totp
from payguard.auth.passkeys import (
    CHALLENGE_BYTES,
    RelyingParty,
    authentication_options,
    registration_options,
    verify_authentication,
    verify_registration,
)
from payguard.auth.passwords import PasswordHasher
from payguard.auth.softauthn import SoftAuthenticator

WIDTH = 38


def per_second(fn: Callable[[int], object], count: int) -> float:
    """Median over 5 rounds of calls per second; `fn(i)` is called with i = 0..count-1."""
    for i in range(min(200, count)):
        fn(i)
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for i in range(count):
            fn(i)
        rounds.append(count / (time.perf_counter() - started))
    return sorted(rounds)[2]


def line(label: str, value: str) -> None:
    print(f"{label:<{WIDTH}}  {value}")


def totp_figures(calls: int) -> None:
    secret = totp.new_secret()
    at = datetime.now(UTC)
    good = pyotp.TOTP(secret).at(at)
    wrong = f"{(int(good) + 1) % 10**6:06d}"
    rate = per_second(lambda i: totp.match_step(secret, good, at=at, last_step=None), calls)
    line("TOTP match_step (valid code)", f"{rate:10,.0f} /s")
    rate = per_second(lambda i: totp.match_step(secret, wrong, at=at, last_step=None), calls)
    line("TOTP match_step (wrong code)", f"{rate:10,.0f} /s")


def device_figures(calls: int) -> None:
    message = devicekeys.signed_message(
        method="POST", path="/v1/payments", body=b"{}" * 200, timestamp=0, nonce="n" * 22
    )
    ed = Ed25519PrivateKey.generate()
    ed_public = ed.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    p256 = ec.generate_private_key(ec.SECP256R1())
    p256_public = p256.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    cases = {
        "device signature ed25519": (
            "ed25519",
            base64.b64encode(ed_public).decode(),
            base64.b64encode(ed.sign(message)).decode(),
        ),
        "device signature p256 (ECDSA, DER)": (
            "p256",
            base64.b64encode(p256_public).decode(),
            base64.b64encode(p256.sign(message, ec.ECDSA(hashes.SHA256()))).decode(),
        ),
    }
    for label, (algorithm, public_key, signature) in cases.items():
        assert devicekeys.verify_signature(algorithm, public_key, message, signature)
        rate = per_second(
            lambda i, a=algorithm, k=public_key, s=signature: devicekeys.verify_signature(
                a, k, message, s
            ),
            calls,
        )
        line(label, f"{rate:10,.0f} /s")


def webauthn_assertions_per_second(n: int) -> float:
    """Assertions verified per second by `passkeys.verify_authentication` (ES256, one core).

    The assertions come from the software authenticator, made before the clock starts; each
    has its own challenge and a growing sign count, so they are timed in one pass, not rounds.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    rp = RelyingParty(id="pay.example.com", name="payguard", origins=("https://pay.example.com",))
    origin = rp.origins[0]
    authenticator = SoftAuthenticator(algorithm="es256")
    created = authenticator.create(
        registration_options(
            rp,
            user_handle=b"\x01" * 16,
            user_name="bench",
            display_name="bench",
            challenge=b"\x02" * CHALLENGE_BYTES,
        ),
        origin,
    )
    passkey = verify_registration(
        rp,
        response=created,
        expected_challenge=b"\x02" * CHALLENGE_BYTES,
        require_user_verification=True,
    )
    work = []
    for index in range(n):
        challenge = index.to_bytes(CHALLENGE_BYTES, "big")
        response = authenticator.get(authentication_options(rp, challenge=challenge), origin)
        work.append((challenge, response))
    count = passkey.sign_count
    started = time.perf_counter()
    for challenge, response in work:
        count = verify_authentication(
            rp,
            response=response,
            expected_challenge=challenge,
            public_key=passkey.public_key,
            sign_count=count,
            require_user_verification=True,
        ).new_sign_count
    elapsed = time.perf_counter() - started
    return n / elapsed if elapsed > 0 else float("inf")


def webauthn_figures(calls: int) -> None:
    rate = webauthn_assertions_per_second(calls)
    line("WebAuthn assertion verification", f"{rate:10,.0f} /s")


def argon2_figures(hashes_count: int) -> None:
    hasher = PasswordHasher()
    hasher.hash("warm-up password")
    timings = []
    for i in range(hashes_count):
        started = time.perf_counter()
        hasher.hash(f"correct horse battery staple {i}")
        timings.append((time.perf_counter() - started) * 1000)
    median = sorted(timings)[len(timings) // 2]
    line(
        "argon2id parameters (defaults)",
        f"t={hasher.time_cost}, m={hasher.memory_cost} KiB ({hasher.memory_cost // 1024} MiB), "
        f"p={hasher.parallelism}",
    )
    line("argon2id password hash", f"{median:10.1f} ms (median of {hashes_count})")


def service_figures(calls: int) -> None:
    """The same checks through `AuthService` on SQLite, as the API runs them: each accepted
    TOTP step, device nonce and passkey sign count is written (the replay guard), every
    check reads the throttle, and the audit record is appended."""
    import secrets
    import tempfile
    from datetime import timedelta

    from payguard.audit.interfaces import Actor
    from payguard.auth.factors import FactorKind, Proof
    from payguard.auth.interfaces import Context
    from payguard.core.clock import FrozenClock
    from payguard.services import build_services
    from payguard.settings import Settings

    calls = max(50, calls // 10)
    with tempfile.TemporaryDirectory() as tmp:
        clock = FrozenClock(datetime.now(UTC))
        services = build_services(
            Settings(database_url=f"sqlite:///{tmp}/bench.db", argon2_time_cost=1), clock=clock
        )
        tenant, _ = services.tenants.create_tenant("bench", actor=Actor.system("bench"))
        auth, context = services.auth, Context(actor=Actor.system("bench"))
        users = [f"user-{i}" for i in range(calls)]
        keys, secrets_ = {}, {}
        for user in users:
            auth.create_user(tenant.id, user, password=None, context=context)
            enrolment = auth.enrol_totp(tenant.id, user, label="", context=context)
            code = pyotp.TOTP(enrolment.secret).at(clock.now())
            auth.confirm_totp(tenant.id, user, enrolment.credential.id, code, context=context)
            secrets_[user] = enrolment.secret
            key = Ed25519PrivateKey.generate()
            raw = base64.b64encode(key.public_key().public_bytes_raw()).decode()
            auth.bind_device(
                tenant.id,
                user,
                device_id=f"dev-{user}",
                algorithm="ed25519",
                public_key=raw,
                label="",
                context=context,
            )
            keys[user] = key
        clock.advance(timedelta(seconds=30))

        def totp_check(i: int) -> None:
            user = users[i % len(users)]
            code = pyotp.TOTP(secrets_[user]).at(clock.now())
            auth.verify(tenant.id, user, [Proof(FactorKind.TOTP, secret=code)], context=context)

        def device_check(i: int) -> None:
            user = users[i % len(users)]
            nonce, stamp = secrets.token_urlsafe(16), int(clock.now().timestamp())
            message = devicekeys.signed_message(
                method="POST",
                path="/v1/auth/sessions",
                body=user.encode(),
                timestamp=stamp,
                nonce=nonce,
            )
            signature = base64.b64encode(keys[user].sign(message)).decode()
            proof = Proof(
                FactorKind.DEVICE,
                device_id=f"dev-{user}",
                signature=signature,
                timestamp=stamp,
                nonce=nonce,
            )
            auth.verify(tenant.id, user, [proof], context=context)

        started = time.perf_counter()
        for i in range(len(users)):  # each user's current step once: a second use is a replay
            totp_check(i)
        totp_rate = len(users) / (time.perf_counter() - started)
        rate = per_second(device_check, calls)
        services.close()
    line("AuthService.verify TOTP (SQLite)", f"{totp_rate:10,.0f} /s")
    line("AuthService.verify device signature", f"{rate:10,.0f} /s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000, help="calls per measurement")
    parser.add_argument("--hashes", type=int, default=5, help="argon2 hashes to time")
    args = parser.parse_args()

    today = datetime.now(UTC).strftime("%Y-%m-%d")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {today}")
    print(f"verifications per second on one thread, median of 5 rounds of {args.calls}")
    totp_figures(args.calls)
    device_figures(args.calls)
    webauthn_figures(args.calls)
    argon2_figures(args.hashes)
    service_figures(args.calls)


if __name__ == "__main__":
    main()
