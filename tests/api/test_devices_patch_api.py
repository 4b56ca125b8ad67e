"""A posture report whose security patch level (or protection update) is dated after the report
is refused with a 422 naming the field, not judged as freshly patched and healthy."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest

from payguard.core.clock import FrozenClock

POSTURE: dict[str, Any] = {
    "platform": "android",
    "os_version": "14",
    "security_patch": "2026-02-05",
    "rooted": False,
    "screen_lock": True,
    "disk_encrypted": True,
    "protection_on": True,
    "protection_updated_at": "2026-03-01",
}


def report(clock: FrozenClock, reported_at: str | None = None, **posture: Any) -> dict[str, Any]:
    return {
        "nonce": secrets.token_urlsafe(16),
        "reported_at": reported_at or clock.now().isoformat(),
        "posture": {**POSTURE, **posture},
    }


def day(clock: FrozenClock, offset: int) -> str:
    return (clock.now() + timedelta(days=offset)).date().isoformat()


@pytest.mark.parametrize("field", ["security_patch", "protection_updated_at"])
@pytest.mark.parametrize("days_ahead", [2, 40, 3650])
def test_a_date_after_the_report_is_422_naming_the_field(
    client, tenant, clock, field, days_ahead
) -> None:
    headers = tenant()
    body = report(clock, **{field: day(clock, days_ahead)})
    response = client.post("/v1/devices/dev-future/reports", json=body, headers=headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == f"posture.{field}"
    assert "after the report" in error["message"]
    # nothing was judged or recorded
    assert client.get("/v1/devices/dev-future/health", headers=headers).status_code == 404


def test_the_future_patch_is_refused_even_when_the_rest_looks_healthy(client, tenant, clock):
    headers = tenant()
    body = report(clock, security_patch="2099-12-31")
    response = client.post("/v1/devices/dev-2099/reports", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "posture.security_patch"


@pytest.mark.parametrize("days_ahead", [0, 1])
def test_today_and_one_day_ahead_are_accepted_for_time_zones(
    client, tenant, clock, days_ahead
) -> None:
    headers = tenant()
    device = f"dev-tz-{days_ahead}"
    body = report(clock, security_patch=day(clock, days_ahead))
    response = client.post(f"/v1/devices/{device}/reports", json=body, headers=headers)
    assert response.status_code == 201, response.text


def test_a_malformed_patch_date_is_still_named_by_the_posture_schema(client, tenant, clock):
    headers = tenant()
    body = report(clock, security_patch="2099-13-45")
    response = client.post("/v1/devices/dev-bad/reports", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "posture.security_patch"
