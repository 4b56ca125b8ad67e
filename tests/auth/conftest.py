"""Services for the auth tests: SQLite in a temporary folder and argon2 at its cheapest
(t=1, 8 MiB), since what these tests check does not depend on the hashing cost."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from payguard.core.clock import FrozenClock
from payguard.services import Services, build_services
from payguard.settings import Settings

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def auth_settings(tmp_path: Path) -> SettingsFactory:
    """Settings for a deployment of its own, with `overrides` on top."""

    def make(**overrides: object) -> Settings:
        fields: dict[str, object] = {
            "database_url": f"sqlite:///{tmp_path}/t.db",
            "cache_ttl_seconds": 0,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 8192,
        }
        fields.update(overrides)
        return Settings(**fields)  # type: ignore[arg-type]

    return make


@pytest.fixture
def services(auth_settings: SettingsFactory, clock: FrozenClock) -> Iterator[Services]:
    built = build_services(auth_settings(), clock=clock)
    yield built
    built.close()
