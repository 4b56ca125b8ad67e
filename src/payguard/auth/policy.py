"""The knobs of authentication: lockout thresholds, challenge lifetimes, session timeouts."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Idle and absolute timeouts, in seconds, for a session of one assurance level."""

    idle: int
    absolute: int


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """One deployment's settings for every piece of auth (built from `Settings` by the root)."""

    lockout_threshold: int = 5
    lockout_seconds: float = 900
    ip_lockout_threshold: int = 50
    challenge_ttl_seconds: int = 300
    challenge_max_attempts: int = 3
    issuer: str = "payguard"
    #: Answer a password check for an unknown user as a wrong password (401, counted towards
    #: a lockout) instead of 404, for partners that pass answers on to their users.
    conceal_unknown_users: bool = False
    sessions: dict[int, SessionLimits] = field(
        default_factory=lambda: {
            1: SessionLimits(idle=30 * 24 * 3600, absolute=30 * 24 * 3600),
            2: SessionLimits(idle=30 * 60, absolute=12 * 3600),
            3: SessionLimits(idle=15 * 60, absolute=12 * 3600),
        }
    )
