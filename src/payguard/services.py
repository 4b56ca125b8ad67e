"""The composition root: the only place backends are built from settings and wired together.

The API, the CLI, the demo, ML tools and the benchmarks all take their services from here;
nothing else constructs an adapter.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from payguard import runtime
from payguard.adapters.keys.local import LocalKeyFile
from payguard.adapters.keys.pkcs11 import Pkcs11KeySource
from payguard.adapters.sql import tables
from payguard.adapters.sql.assessments import SqlAssessmentStore
from payguard.adapters.sql.audit import SqlAuditRepository
from payguard.adapters.sql.auth import SqlAuthRepository
from payguard.adapters.sql.devices import SqlCommunityLists, SqlDeviceRepository
from payguard.adapters.sql.engine import create_sql_engine, migrate
from payguard.adapters.sql.lists import SqlListRepository
from payguard.adapters.sql.models import SqlModelRegistry
from payguard.adapters.sql.rules import SqlRuleSetRepository
from payguard.adapters.sql.sharing import SqlSharingRepository
from payguard.adapters.sql.shield_recognizers import SqlRecognizerRepository
from payguard.adapters.sql.tenants import SqlTenantRepository
from payguard.adapters.sql.vault import SqlDataKeyRepository
from payguard.adapters.sql.vault_policies import SqlPolicyRepository
from payguard.adapters.sql.vault_tokens import SqlTokenRepository
from payguard.audit.interfaces import Actor
from payguard.audit.service import AuditService
from payguard.auth.devicekeys import BoundDeviceKeys
from payguard.auth.lockout import Lockout
from payguard.auth.passkeys import RelyingParty
from payguard.auth.passwords import PasswordHasher
from payguard.auth.policy import AuthPolicy, SessionLimits
from payguard.auth.sealing import PREFIX as LEGACY_TOTP_PREFIX
from payguard.auth.sealing import SecretBox, key_from_base64
from payguard.auth.service import AuthService
from payguard.auth.sessions import Sessions
from payguard.auth.signals import EngineSignals
from payguard.auth.stepup import StepUpService
from payguard.auth.verifiers import (
    DeviceVerifier,
    PasskeyVerifier,
    PasswordVerifier,
    RecoveryCodeVerifier,
    TotpSecrets,
    TotpVerifier,
    VerifierRegistry,
)
from payguard.auth.verifiers.totp_verifier import KEYRING_PREFIX, TotpSealedValues
from payguard.core.bus import EventBus
from payguard.core.clock import Clock, SystemClock
from payguard.core.errors import BackendUnavailable
from payguard.devices.appattest import AppAttestConfig
from payguard.devices.playintegrity import PlayIntegrityKeys
from payguard.devices.policy import HealthPolicy, default_policy
from payguard.devices.service import DeviceService
from payguard.devices.serving import DeviceVerdicts
from payguard.ml.registry import ModelService
from payguard.risk.commit import GroupCommitter
from payguard.risk.interfaces import AssessmentStore, Scorer
from payguard.risk.lists import ListService
from payguard.risk.models.serving import ModelScorers, StaticModels
from payguard.risk.rules.service import RuleService
from payguard.risk.service import AssessmentService
from payguard.settings import Settings
from payguard.sharing.service import SharingService
from payguard.shield.risk import assess_risk
from payguard.shield.service import PrivacyService
from payguard.shield.stored import StoredRecognizers
from payguard.tenancy.service import TenantService
from payguard.vault.cards import CardTokenizer
from payguard.vault.interfaces import TokenStyle
from payguard.vault.keys import Keyring
from payguard.vault.kinds import canonical
from payguard.vault.policy import StoredPolicies
from payguard.vault.rewrap import Rewrapper
from payguard.vault.service import TokenSealedValues, TokenService

if TYPE_CHECKING:
    from payguard.adapters.kv.redis import RedisEntityStateStore

__all__ = ["ReadinessReport", "Services", "build_services", "migrate_database"]


def migrate_database(settings: Settings | None = None) -> None:
    """Bring the relational store named by `settings` up to the current schema, then let go
    of it (the server does this once before it starts its workers)."""
    engine = create_sql_engine((settings or Settings()).database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class ReadinessReport:
    """`checks`: each configured backend by name, True when it answers (and, for
    `redis_state`, when Redis still holds its state); `details`: more about a failing one."""

    checks: dict[str, bool]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(self.checks.values())


@dataclass
class Services:
    """Everything the API and CLI use, built once per process."""

    settings: Settings
    clock: Clock
    engine: sa.Engine
    bus: EventBus
    audit: AuditService
    tenants: TenantService
    rules: RuleService
    lists: ListService
    assessments: AssessmentService
    assessment_store: AssessmentStore
    models: ModelService
    auth: AuthService
    step_up: StepUpService
    devices: DeviceService
    #: The vault's keyring: per-tenant data keys under the key-encryption key.
    keys: Keyring
    #: The stores of values sealed on the keyring: `payguard keys rewrap` and `keys status`.
    rewrap: Rewrapper
    #: The vault's tokens: tokenize, detokenize, metadata, revoke, shred (`/v1/tokens`).
    tokens: TokenService
    #: Tenants' stored vault policies (`/v1/vault/policy`, `payguard tokens policy`).
    vault_policies: StoredPolicies
    closers: list[Callable[[], None]]
    #: The Redis state store when `kv_url` is Redis (readiness, `payguard state`).
    state_store: RedisEntityStateStore | None = None
    #: Whether the bus answers, when it is a remote one (NATS).
    bus_ready: Callable[[], bool] | None = None
    #: Card numbers in assessments to tokens, on the keyring (`vault.cards`).
    cards: CardTokenizer = field(init=False)
    #: Governed data sharing: recipients, requests, consents, exports (`/v1/sharing`).
    sharing: SharingService = field(init=False)
    #: Tenants' own Data Shield recognizers (`/v1/privacy/recognizers`,
    #: `payguard shield recognizers`).
    shield_recognizers: StoredRecognizers = field(init=False)
    #: Scan and redact text and documents for a tenant (`/v1/privacy`).
    privacy: PrivacyService = field(init=False)

    def __post_init__(self) -> None:
        self.cards = CardTokenizer(self.keys, self.tokens.metadata)
        self.sharing = _sharing(self)
        self.shield_recognizers = StoredRecognizers(
            SqlRecognizerRepository(self.engine),
            audit=self.audit,
            clock=self.clock,
            ttl=self.settings.cache_ttl_seconds,
        )
        self.privacy = PrivacyService(
            self.keys,
            self.tokens,
            audit=self.audit,
            check=canonical,
            recognizers=self.shield_recognizers,
        )

    def readiness(self) -> ReadinessReport:
        """Every configured backend, checked now, each with a bounded timeout."""
        checks: dict[str, bool] = {}
        details: dict[str, Any] = {}
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            checks["database"] = True
        except sa.exc.SQLAlchemyError:
            checks["database"] = False
        states = self.state_store
        if states is not None:
            checks["redis"] = states.ping()
            # Unchecked (Redis or the database not answering): the last known state.
            intact = not states.state_lost
            status = "unknown" if intact else "lost"
            if checks["redis"]:
                with suppress(BackendUnavailable):
                    intact = states.check_state()
                    status = "ok" if intact else "lost"
            checks["redis_state"] = intact
            details["redis_state"] = {"status": status, "lost_detected": states.lost_detected}
            if not intact:
                details["redis_state"]["remedy"] = "payguard state rebuild"
        if self.bus_ready is not None:
            checks["nats"] = self.bus_ready()
        return ReadinessReport(checks, details)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.engine.dispose()


def _sharing(services: Services) -> SharingService:
    """Sharing on its store, with the vault's deterministic tokens, keyed hashes under the
    tenant's `sharing:hash` data key, and the shield's k-anonymity measure."""
    tokens, keys = services.tokens, services.keys

    def tokenize(tenant_id: str, kind: str, values: Sequence[str], actor: Actor) -> list[str]:
        made = tokens.tokenize(
            tenant_id, kind, values, actor=actor, style=TokenStyle.VAULT_DETERMINISTIC
        )
        return [token.token for token in made]

    def hash_values(tenant_id: str, values: Sequence[str]) -> list[str]:
        version, key = keys.data_key(tenant_id, "sharing:hash")
        return [
            f"h{version}_" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
            for value in values
        ]

    def measure_k(rows: Iterable[Mapping[str, object]], quasi_identifiers: Sequence[str]) -> int:
        return assess_risk(rows, quasi_identifiers).k

    return SharingService(
        SqlSharingRepository(services.engine),
        audit=services.audit,
        clock=services.clock,
        tokenize=tokenize,
        hash_values=hash_values,
        measure_k=measure_k,
    )


def _bus(settings: Settings) -> EventBus:
    if settings.bus_url.startswith("memory://"):
        from payguard.adapters.bus.memory import MemoryEventBus

        return MemoryEventBus()
    if settings.bus_url.startswith("nats://"):
        from payguard.adapters.bus.nats import NatsEventBus

        return NatsEventBus(settings.bus_url, namespace=settings.namespace)
    raise ValueError(f"PAYGUARD_BUS_URL must be memory:// or nats://, not {settings.bus_url!r}")


def _has_decisions(engine: sa.Engine) -> Callable[[], bool]:
    """Whether any decision was ever stored: a Redis namespace with no epoch then lost its
    state rather than being new."""
    query = sa.select(sa.literal(1)).select_from(tables.assessments).limit(1)

    def probe() -> bool:
        try:
            with engine.connect() as conn:
                return conn.execute(query).first() is not None
        except sa.exc.SQLAlchemyError as exc:
            raise BackendUnavailable("the database did not answer") from exc

    return probe


def _store(
    settings: Settings,
    engine: sa.Engine,
    closers: list[Callable[[], None]],
    redis_store: list[RedisEntityStateStore],
) -> AssessmentStore:
    if settings.kv_url.startswith("memory://"):
        from payguard.adapters.kv.memory import CachingAssessmentStore

        # Embedded: entity state lives in the relational store, atomically with decisions,
        # behind an in-process cache (one worker) that version checks keep honest.
        cache = settings.state_cache
        if cache is None:
            cache = settings.workers == 1
        store = SqlAssessmentStore(engine)
        return CachingAssessmentStore(store) if cache else store
    if settings.kv_url.startswith(("redis://", "rediss://")):
        from payguard.adapters.kv.redis import RedisEntityStateStore

        states = RedisEntityStateStore(
            settings.kv_url,
            namespace=settings.namespace,
            timeout=settings.redis_timeout_ms / 1000,
            has_history=_has_decisions(engine),
        )
        closers.append(states.close)
        redis_store.append(states)
        return SqlAssessmentStore(engine, external_states=states)
    raise ValueError(f"PAYGUARD_KV_URL must be memory:// or redis://, not {settings.kv_url!r}")


def build_services(
    settings: Settings | None = None, *, clock: Clock | None = None, scorer: Scorer | None = None
) -> Services:
    """Build every backend named by `settings` and the services on top of them.

    `scorer` (tests, tools) serves that one model to every tenant instead of each tenant's
    promoted model from the registry.
    """
    settings = settings or Settings()
    clock = clock or SystemClock()
    runtime.tune()
    engine = create_sql_engine(settings.database_url, pool_size=settings.db_pool_size)
    migrate(engine)
    closers: list[Callable[[], None]] = []
    bus = _bus(settings)
    closers.append(bus.close)
    audit_service = AuditService(SqlAuditRepository(engine), clock)
    ttl = settings.cache_ttl_seconds
    tenants = TenantService(SqlTenantRepository(engine), audit=audit_service, clock=clock, ttl=ttl)
    redis_store: list[RedisEntityStateStore] = []
    store = _store(settings, engine, closers, redis_store)
    auth_repository = SqlAuthRepository(engine)
    device_repository = SqlDeviceRepository(engine)
    community = SqlCommunityLists(engine)
    now = clock.now
    verdicts = DeviceVerdicts(device_repository, community, now=now, ttl=ttl)
    model_registry = SqlModelRegistry(engine)
    serving: ModelScorers | StaticModels
    if scorer is None:
        serving = ModelScorers(model_registry, ttl=ttl, timer=lambda: now().timestamp())
    else:
        serving = StaticModels(scorer)
    rule_service = RuleService(
        SqlRuleSetRepository(engine),
        audit=audit_service,
        bus=bus,
        clock=clock,
        ttl=ttl,
        history=store,
        models=serving,
    )
    list_service = ListService(
        SqlListRepository(engine), audit=audit_service, bus=bus, clock=clock, ttl=ttl
    )
    committer = None
    group_commit = settings.group_commit
    if group_commit is None:
        group_commit = engine.dialect.name == "postgresql"
    if group_commit:
        committer = GroupCommitter(store)
        closers.append(committer.close)
    assessment_service = AssessmentService(
        store=store,
        rules=rule_service,
        lists=list_service,
        models=serving,
        bus=bus,
        audit=audit_service,
        clock=clock,
        retries=settings.state_retries,
        committer=committer,
        devices=verdicts,
    )
    keyring = _keyring(settings, engine, audit_service, clock, closers)
    auth_service, totp_secrets = _auth(
        settings, auth_repository, audit_service, bus, clock, assessment_service, keyring
    )
    token_repository = SqlTokenRepository(engine)
    vault_policies = StoredPolicies(
        SqlPolicyRepository(engine), audit=audit_service, clock=clock, ttl=ttl
    )
    return Services(
        settings=settings,
        clock=clock,
        engine=engine,
        bus=bus,
        audit=audit_service,
        tenants=tenants,
        rules=rule_service,
        lists=list_service,
        assessments=assessment_service,
        assessment_store=store,
        models=ModelService(
            model_registry,
            store=store,
            audit=audit_service,
            bus=bus,
            clock=clock,
            changed=serving.invalidate,
        ),
        auth=auth_service,
        step_up=StepUpService(
            auth_service,
            assessment_service,
            challenges=auth_repository,
            audit=audit_service,
            bus=bus,
            clock=clock,
        ),
        devices=DeviceService(
            device_repository,
            community,
            keys=BoundDeviceKeys(auth_repository, auth_repository),
            audit=audit_service,
            bus=bus,
            clock=clock,
            policy=_device_policy(settings),
            verdicts=verdicts,
            play_integrity={
                package: PlayIntegrityKeys.from_base64(
                    keys["decryption_key"], keys["verification_key"]
                )
                for package, keys in settings.play_integrity_keys.items()
            },
            app_attest=_app_attest(settings),
        ),
        keys=keyring,
        tokens=TokenService(
            token_repository, keyring, audit=audit_service, clock=clock, policies=vault_policies
        ),
        vault_policies=vault_policies,
        rewrap=Rewrapper(
            keyring,
            [
                TotpSealedValues(auth_repository, totp_secrets),
                TokenSealedValues(token_repository, keyring),
            ],
            audit=audit_service,
        ),
        closers=closers,
        state_store=redis_store[0] if redis_store else None,
        bus_ready=getattr(bus, "ready", None),
    )


def _device_policy(settings: Settings) -> HealthPolicy:
    if settings.device_policy_file:
        return HealthPolicy.compile(Path(settings.device_policy_file).read_text())
    return default_policy()


def _app_attest(settings: Settings) -> AppAttestConfig | None:
    if not (settings.app_attest_team_id and settings.app_attest_bundle_id):
        return None
    roots = tuple(
        root if root.lstrip().startswith("-----BEGIN") else Path(root).read_text()
        for root in settings.app_attest_roots
    )
    if not roots:
        raise ValueError("PAYGUARD_APP_ATTEST_ROOTS must name at least one root certificate")
    return AppAttestConfig(
        team_id=settings.app_attest_team_id,
        bundle_id=settings.app_attest_bundle_id,
        roots=roots,
        production=settings.app_attest_production,
    )


def _key_file(settings: Settings) -> Path:
    """Where the TOTP sealing key lives when no `auth_key` is given."""
    if settings.auth_key_file:
        return Path(settings.auth_key_file)
    url = sa.engine.make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent / "auth.key"
    return Path("var/auth.key")


def _vault_key_file(settings: Settings) -> Path:
    """Where the vault's key-encryption key lives with `vault_key_source=file`."""
    if settings.vault_key_file:
        return Path(settings.vault_key_file)
    url = sa.engine.make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent / "vault.key"
    return Path("var/vault.key")


def _keyring(
    settings: Settings,
    engine: sa.Engine,
    audit: AuditService,
    clock: Clock,
    closers: list[Callable[[], None]],
) -> Keyring:
    repository = SqlDataKeyRepository(engine)
    stored = repository.any_keys()
    source: LocalKeyFile | Pkcs11KeySource
    if settings.vault_key_source == "pkcs11":
        library, token, pin = (
            settings.vault_pkcs11_library,
            settings.vault_pkcs11_token,
            settings.vault_pkcs11_pin,
        )
        if not (library and token and pin):
            raise ValueError(
                "PAYGUARD_VAULT_KEY_SOURCE=pkcs11 needs PAYGUARD_VAULT_PKCS11_LIBRARY, "
                "PAYGUARD_VAULT_PKCS11_TOKEN and PAYGUARD_VAULT_PKCS11_PIN"
            )
        source = Pkcs11KeySource(
            library,
            token_label=token,
            pin=pin,
            key_label=settings.vault_pkcs11_key_label,
            create=not stored,
        )
        closers.append(source.close)
        source.check()  # an unreachable token or a missing KEK stops the start
    else:
        path = _vault_key_file(settings)
        # A fresh install makes the key file on first use; stored keys need the file now.
        source = LocalKeyFile(path, create=not stored)
        if stored or path.exists():  # checked now: a missing or open key file stops the start
            source.check()
    return Keyring(repository, source, audit=audit, clock=clock, ttl=settings.cache_ttl_seconds)


def _auth(
    settings: Settings,
    repository: SqlAuthRepository,
    audit: AuditService,
    bus: EventBus,
    clock: Clock,
    assessments: AssessmentService,
    keyring: Keyring,
) -> tuple[AuthService, TotpSecrets]:
    # New TOTP secrets are sealed on the vault's keyring. Those sealed before it (`v1.`)
    # still open with the legacy key, PAYGUARD_AUTH_KEY or the key file, which is no longer
    # made; `payguard keys rewrap` moves them onto the keyring.
    legacy_sealed = repository.some_totp_credentials(5, secret_prefix=LEGACY_TOTP_PREFIX)
    legacy: SecretBox | None = None
    if settings.auth_key:  # checked now: a bad key must stop the start, not the first TOTP
        legacy = SecretBox(key_from_base64(settings.auth_key))
    else:
        path = _key_file(settings)
        if path.exists():
            legacy = SecretBox(key_from_base64(path.read_text("ascii")))
        elif legacy_sealed:
            raise ValueError(
                f"TOTP secrets are stored but their sealing key file {path} is missing: "
                "restore it or set PAYGUARD_AUTH_KEY"
            )
    # Stored TOTP secrets that the keys must open: a changed key stops the start.
    sealed = legacy_sealed + repository.some_totp_credentials(5, secret_prefix=KEYRING_PREFIX)

    timeouts = {
        level: SessionLimits(
            idle=getattr(settings, f"session_idle_aal{level}"),
            absolute=getattr(settings, f"session_absolute_aal{level}"),
        )
        for level in (1, 2, 3)
    }
    policy = AuthPolicy(
        lockout_threshold=settings.lockout_threshold,
        lockout_seconds=settings.lockout_seconds,
        ip_lockout_threshold=settings.ip_lockout_threshold,
        conceal_unknown_users=settings.auth_conceal_unknown_users,
        challenge_ttl_seconds=settings.challenge_ttl_seconds,
        challenge_max_attempts=settings.challenge_max_attempts,
        issuer=settings.webauthn_rp_name,
        sessions=timeouts,
    )
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
    )
    relying_party = RelyingParty(
        id=settings.webauthn_rp_id,
        name=settings.webauthn_rp_name,
        origins=tuple(settings.webauthn_origins),
    )
    totp_secrets = TotpSecrets(keyring, clock, legacy=legacy)
    totp_secrets.check_key(sealed)
    # One SQL repository implements every auth port; each piece is handed the ports it uses.
    verifiers = VerifierRegistry(
        [
            PasswordVerifier(repository, hasher=hasher, clock=clock),
            TotpVerifier(repository, secrets=totp_secrets, clock=clock),
            RecoveryCodeVerifier(repository, clock=clock),
            PasskeyVerifier(
                repository, relying_party=relying_party, audit=audit, bus=bus, clock=clock
            ),
            DeviceVerifier(repository, nonces=repository, clock=clock),
        ]
    )
    lockout = Lockout(
        repository,
        audit=audit,
        bus=bus,
        clock=clock,
        policy=policy,
        signals=EngineSignals(assessments, clock),
    )
    service = AuthService(
        repository,
        challenges=repository,
        nonces=repository,
        verifiers=verifiers,
        lockout=lockout,
        sessions=Sessions(repository, audit=audit, clock=clock, limits=policy.sessions),
        totp_secrets=totp_secrets,
        risk=assessments,
        audit=audit,
        clock=clock,
        hasher=hasher,
        relying_party=relying_party,
        policy=policy,
    )
    return service, totp_secrets
