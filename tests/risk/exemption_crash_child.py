"""The process `test_exemption_crash.py` kills: assesses exemptible payments (and resets the
counters now and then) on a SQLite file until it is SIGKILLed.

Usage: python exemption_crash_child.py DATABASE_URL TENANT_ID MODE START KILL_AFTER SEED

MODE is `sync` (`assess`, one transaction per decision) or `group-commit` (`assess_async`
in concurrent batches sharing transactions). START is the POSIX time the clock starts at (each
run starts after the last). KILL_AFTER > 0 kills the process right after its KILL_AFTER-th
write commits; 0 waits for the parent to kill it. Prints `ready` once it starts assessing.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from payguard.core.clock import FrozenClock
from payguard.core.events import Channel, Device, Event, EventType, Geo, Payee
from payguard.core.money import Money
from payguard.services import build_services
from payguard.settings import Settings

ACCOUNTS = ("acct-1", "acct-2")
#: Give up (and fail the test) if nobody killed us by then.
LIMIT_SECONDS = 60


def main() -> None:
    url, tenant, mode, start, kill_after, seed = sys.argv[1:7]
    rng = random.Random(int(seed))
    clock = FrozenClock(datetime.fromtimestamp(float(start), UTC))
    settings = Settings(database_url=url, cache_ttl_seconds=0, group_commit=mode == "group-commit")
    services = build_services(settings, clock=clock)
    assessments = services.assessments
    if int(kill_after):
        _die_after(services.assessments.store, int(kill_after))
    counter = iter(range(10**9))

    def payment() -> Event:
        # Mostly exemptible (challenged, 100-150 SGD); some too big, some not challenged.
        value = rng.choice(
            ["20.00", "160.00"] + [f"{rng.randint(100, 150)}.{rng.randint(0, 99):02d}"] * 6
        )
        return Event(
            event_id=f"evt-{seed}-{next(counter)}",
            event_type=EventType.PAYMENT,
            occurred_at=clock.now(),
            account_id=rng.choice(ACCOUNTS),
            amount=Money(Decimal(value), "SGD"),
            payee=Payee(f"payee-{rng.randint(1, 3)}"),
            device=Device(f"dev-{rng.randint(1, 3)}"),
            ip="198.51.100.7",
            geo=Geo(1.3521, 103.8198, "SG"),
            channel=Channel.APP,
        )

    async def run() -> None:
        print("ready", flush=True)
        deadline = time.monotonic() + LIMIT_SECONDS
        while time.monotonic() < deadline:
            clock.advance(timedelta(seconds=1))
            if rng.random() < 0.1:
                assessments.reset_exemptions(tenant, rng.choice(ACCOUNTS), clock.now())
            elif mode == "sync":
                assessments.assess(tenant, payment())
            else:
                events = [payment() for _ in range(rng.randint(2, 8))]
                await asyncio.gather(*(assessments.assess_async(tenant, e) for e in events))

    asyncio.run(run())
    sys.exit(3)


def _die_after(store: Any, writes: int) -> None:
    """SIGKILL this process right after the store commits its `writes`-th write."""
    done = [0]

    def wrap(name: str) -> None:
        original: Callable[..., Any] = getattr(store, name)

        def write(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            done[0] += 1
            if done[0] >= writes:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        setattr(store, name, write)

    for name in ("record", "record_many", "decide_and_record", "write_states"):
        wrap(name)


if __name__ == "__main__":
    main()
