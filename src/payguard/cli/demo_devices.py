"""The demo's apps reporting their device's posture, as a partner's app would on start-up.

The first time a device is seen, a posture report is posted for it: a current, locked,
encrypted phone for ordinary customers, and what the simulated attacker's device really is
(an emulator, a rooted phone, a remote-access app running) when the event says so. The
health that comes back then drives the engine's device rules and the user's warnings.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx


@dataclass
class DeviceReports:
    """Reports each device once, and counts the statuses that came back."""

    client: httpx.Client
    #: The time reports are made at (injectable, as the server's clock is).
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    reported: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)

    def first_sight(self, request: dict[str, Any]) -> None:
        device = request.get("device")
        if not isinstance(device, dict) or device.get("id") in self.reported:
            return
        device_id = str(device["id"])
        self.reported.add(device_id)
        attributes = request.get("attributes") or {}
        now = self.now()
        risky = (
            [{"kind": "remote_access", "package": "com.anydesk.anydeskandroid"}]
            if attributes.get("remote_access") is True
            else []
        )
        posture = {
            "platform": "android",
            "os_version": "14",
            "security_patch": (now - timedelta(days=40)).date().isoformat(),
            "rooted": attributes.get("rooted") is True,
            "emulator": attributes.get("emulator") is True,
            "hooking": False,
            "screen_lock": True,
            "disk_encrypted": True,
            "protection_on": True,
            "protection_updated_at": (now - timedelta(days=2)).date().isoformat(),
            "risky_apps": risky,
            "sensors_plausible": attributes.get("emulator") is not True,
        }
        body = {
            "nonce": secrets.token_urlsafe(16),
            "reported_at": now.isoformat(),
            "account_id": request.get("account_id"),
            "posture": posture,
        }
        if device.get("fingerprint"):
            body["fingerprint"] = device["fingerprint"]
        response = self.client.post(f"/v1/devices/{device_id}/reports", json=body)
        if response.status_code == 201:
            self.statuses[response.json()["health"]["status"]] += 1
