"""Authentication failures as signals for the decision engine: each one is decided as a
failed `login` event of the account, so `account_failed_logins_*`, `device_failed_logins_*`
and `ip_failed_logins_*` count it and rules and models see it on the next payment."""

from __future__ import annotations

from payguard.auth.interfaces import RiskDecisions
from payguard.core.clock import Clock
from payguard.core.events import Device, Event, EventType
from payguard.core.ids import new_id


class EngineSignals:
    """`FailureSignals` that feed the engine through its `RiskDecisions` port."""

    def __init__(self, risk: RiskDecisions, clock: Clock) -> None:
        self._risk = risk
        self._clock = clock

    def login_failed(
        self,
        tenant_id: str,
        user_id: str,
        *,
        method: str,
        reason: str,
        ip: str | None,
        device_id: str | None,
    ) -> None:
        event = Event(
            event_id=f"auth-failure-{new_id()}",
            event_type=EventType.LOGIN,
            occurred_at=self._clock.now(),
            account_id=user_id,
            device=None if device_id is None else Device(id=device_id),
            ip=ip,
            attributes={"success": False, "auth_method": method},
        )
        self._risk.assess(tenant_id, event)
