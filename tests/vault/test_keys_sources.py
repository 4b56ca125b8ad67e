"""The KMS contract (`KeySource`), run against every key source: the local key file, and a
real PKCS#11 interface (SoftHSM2, from Debian's `softhsm2` package; skipped without it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from payguard.adapters.keys.local import LocalKeyFile
from payguard.adapters.sql.audit import SqlAuditRepository
from payguard.adapters.sql.engine import create_sql_engine, migrate
from payguard.adapters.sql.vault import SqlDataKeyRepository
from payguard.audit.interfaces import Actor
from payguard.audit.service import AuditService
from payguard.core.clock import FrozenClock
from payguard.vault.interfaces import KeySource, KeySourceUnavailable, SealedValueRejected
from payguard.vault.keys import Keyring

SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "payguard-test"
PIN = "1234"

#: A source opened on the same KEK as an earlier one: (name, create) -> source.
Opener = Callable[[str, bool], KeySource]


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SoftHSM2 token initialised for this test session; its library's path."""
    if not (os.path.exists(SOFTHSM_LIBRARY) and shutil.which("softhsm2-util")):
        pytest.skip("SoftHSM2 is not installed (Debian: apt-get install softhsm2)")
    pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed")
    home = tmp_path_factory.mktemp("softhsm")
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read once, when the library first initialises
    subprocess.run(
        [
            shutil.which("softhsm2-util") or "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--pin",
            PIN,
            "--so-pin",
            "5678",
        ],
        check=True,
        capture_output=True,
    )
    return SOFTHSM_LIBRARY


@pytest.fixture(params=["file", "pkcs11"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[KeySource] = []
    label = f"kek-{uuid.uuid4().hex[:12]}"
    if request.param == "file":

        def open_file(name: str, create: bool) -> KeySource:
            return LocalKeyFile(tmp_path / f"{name}.key", create=create)

        yield open_file
        return
    library: str = request.getfixturevalue("softhsm")
    from payguard.adapters.keys.pkcs11 import Pkcs11KeySource

    def open_token(name: str, create: bool) -> KeySource:
        source = Pkcs11KeySource(
            library, token_label=TOKEN, pin=PIN, key_label=f"{label}-{name}", create=create
        )
        opened.append(source)
        return source

    yield open_token
    for source in opened:
        source.close()  # type: ignore[attr-defined]


def test_a_wrapped_key_unwraps_only_with_its_aad(opener: Opener) -> None:
    source = opener("kek", True)
    dek = os.urandom(32)
    wrapped = source.wrap(source.key_id(), dek, b"tenant|token:pan|1")
    assert dek not in wrapped
    assert source.unwrap(source.key_id(), wrapped, b"tenant|token:pan|1") == dek
    assert wrapped != source.wrap(source.key_id(), dek, b"tenant|token:pan|1")
    with pytest.raises(KeySourceUnavailable):
        source.unwrap(source.key_id(), wrapped, b"tenant|token:pan|2")
    altered = bytearray(wrapped)
    altered[len(altered) // 2] ^= 0x40
    with pytest.raises(KeySourceUnavailable):
        source.unwrap(source.key_id(), bytes(altered), b"tenant|token:pan|1")


def test_the_kek_outlives_the_source_that_made_it(opener: Opener) -> None:
    first = opener("kek", True)
    wrapped = first.wrap(first.key_id(), b"k" * 32, b"aad")
    again = opener("kek", False)
    assert again.key_id() == first.key_id()
    assert again.unwrap(first.key_id(), wrapped, b"aad") == b"k" * 32


def test_a_missing_kek_is_refused_without_create(opener: Opener) -> None:
    with pytest.raises(KeySourceUnavailable, match=r"a new key would not open them|missing"):
        source = opener("absent", False)
        source.wrap(source.key_id(), b"k" * 32, b"aad")


def test_another_kek_refuses_by_id(opener: Opener) -> None:
    mine = opener("mine", True)
    theirs = opener("theirs", True)
    assert mine.key_id() != theirs.key_id()
    wrapped = theirs.wrap(theirs.key_id(), b"k" * 32, b"aad")
    with pytest.raises(KeySourceUnavailable):
        mine.unwrap(theirs.key_id(), wrapped, b"aad")
    with pytest.raises(KeySourceUnavailable):
        mine.wrap(theirs.key_id(), b"k" * 32, b"aad")


def test_the_keyring_runs_on_the_source(opener: Opener, tmp_path: Path) -> None:
    engine: sa.Engine = create_sql_engine(f"sqlite:///{tmp_path / 'payguard.db'}")
    try:
        migrate(engine)
        clock = FrozenClock(datetime(2026, 12, 4, tzinfo=UTC))
        audit = AuditService(SqlAuditRepository(engine), clock)
        ring = Keyring(
            SqlDataKeyRepository(engine), opener("kek", True), audit=audit, clock=clock, ttl=0
        )
        old = ring.seal("t-1", "token:pan", b"4111111111111111", b"row")
        ring.rotate(actor=Actor.system("cli"), tenant_id="t-1", purpose="token:pan")
        new = ring.seal("t-1", "token:pan", b"5500000000000004", b"row")
        fresh = Keyring(
            SqlDataKeyRepository(engine), opener("kek", False), audit=audit, clock=clock, ttl=0
        )
        assert fresh.open("t-1", "token:pan", old, b"row") == b"4111111111111111"
        assert fresh.open("t-1", "token:pan", new, b"row") == b"5500000000000004"
        with pytest.raises(SealedValueRejected):
            fresh.open("t-2", "token:pan", old, b"row")
        assert "key" in fresh.source.describe()
    finally:
        engine.dispose()


def test_the_pkcs11_kek_is_sensitive_and_never_leaves_the_token(softhsm: str) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    from payguard.adapters.keys.pkcs11 import Pkcs11KeySource

    label = f"kek-{uuid.uuid4().hex[:12]}"
    source = Pkcs11KeySource(softhsm, token_label=TOKEN, pin=PIN, key_label=label, create=True)
    try:
        source.check()
        # The source's login holds for the whole process: this session is logged in too.
        with pkcs11.lib(softhsm).get_token(token_label=TOKEN).open() as session:
            kek = session.get_key(
                object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=label
            )
            assert kek[Attribute.SENSITIVE] is True
            assert kek[Attribute.EXTRACTABLE] is False
            assert kek[Attribute.TOKEN] is True
            with pytest.raises(pkcs11.PKCS11Error):
                kek[Attribute.VALUE]
    finally:
        source.close()


def test_a_wrong_pin_or_token_is_refused_clearly(softhsm: str) -> None:
    from payguard.adapters.keys.pkcs11 import Pkcs11KeySource

    for token, pin in ((TOKEN, "0000"), ("no-such-token", PIN)):
        source = Pkcs11KeySource(softhsm, token_label=token, pin=pin, key_label="x", create=True)
        with pytest.raises(KeySourceUnavailable, match="cannot be opened"):
            source.check()


def test_services_run_the_keyring_on_the_hsm_when_configured(softhsm: str, tmp_path: Path) -> None:
    from payguard.services import build_services
    from payguard.settings import Settings

    hsm = Settings(
        database_url=f"sqlite:///{tmp_path / 'payguard.db'}",
        vault_key_source="pkcs11",
        vault_pkcs11_library=softhsm,
        vault_pkcs11_token=TOKEN,
        vault_pkcs11_pin=PIN,
        vault_pkcs11_key_label=f"kek-{uuid.uuid4().hex[:12]}",
    )
    services = build_services(hsm)
    try:
        sealed = services.keys.seal("t-1", "token:pan", b"4111111111111111")
        assert services.keys.status()[0].key.kek_id == f"pkcs11:{hsm.vault_pkcs11_key_label}"
        assert "PKCS#11 token" in services.keys.source.describe()
    finally:
        services.close()
    assert not (tmp_path / "vault.key").exists()
    services = build_services(hsm)
    try:
        assert services.keys.open("t-1", "token:pan", sealed) == b"4111111111111111"
    finally:
        services.close()
    moved = hsm.model_copy(update={"vault_pkcs11_key_label": "never-made"})
    with pytest.raises(KeySourceUnavailable, match="a new key would not open them"):
        build_services(moved)


def test_the_pkcs11_source_needs_its_settings(tmp_path: Path) -> None:
    from payguard.services import build_services
    from payguard.settings import Settings

    incomplete = Settings(
        database_url=f"sqlite:///{tmp_path / 'payguard.db'}", vault_key_source="pkcs11"
    )
    with pytest.raises(ValueError, match="PAYGUARD_VAULT_PKCS11_LIBRARY"):
        build_services(incomplete)
