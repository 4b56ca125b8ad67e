"""`payguard demo`: live traffic that looks like its history, honest reruns, output off a
terminal, and ports.

The live-phase tests run in process on simulated time: the services' clock and the demo's
clock are one `FrozenClock` that the demo's waits move on, so an hour of live traffic takes
seconds and never depends on the machine's speed.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from payguard.api.app import create_app
from payguard.cli.demo import (
    Tally,
    _Display,
    _stop_on_sigterm,
    demo_key,
    env_line,
    introduce,
    previous_end,
    send_traffic,
)
from payguard.cli.demo_devices import DeviceReports
from payguard.cli.demo_model import ensure_model
from payguard.cli.demo_stepup import StepUps
from payguard.cli.main import app
from payguard.core.clock import FrozenClock
from payguard.core.errors import PayguardError
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.sim.traffic import SimulatedEvent, event_time, events_per_second, stream

#: A Wednesday, 11:00 UTC: evening in the Asian cities, late morning in Europe, so the live
#: hour is a busy one.
NOW = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
SEED = 7
#: Small enough for the test's time budget; the model learns from a population this size
#: too, as the demo's does by default.
CUSTOMERS = 300
TRAINING_CUSTOMERS = 150


class SimulatedTime:
    """The services' clock and the demo's `clock`/`sleep`, on simulated time."""

    def __init__(self, at: datetime) -> None:
        self.clock = FrozenClock(at)

    def time(self) -> float:
        return self.clock.now().timestamp()

    def sleep(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    def now(self) -> datetime:
        return self.clock.now()


def _services(path: Path, clock: SimulatedTime) -> Services:
    url = f"sqlite:///{path}"
    settings = Settings(database_url=url, kv_url="memory://", bus_url="memory://")
    return build_services(settings, clock=clock.clock)


def _client(services: Services, key: str) -> TestClient:
    return TestClient(create_app(services), headers={"Authorization": f"Bearer {key}"})


def _at_most(
    events: Iterator[SimulatedEvent], cap: int, seen: list[int]
) -> Iterator[SimulatedEvent]:
    """`events`, stopped after `cap` of them at or after NOW (counted in `seen`)."""
    for event in events:
        if event_time(event) >= NOW.timestamp():
            seen[0] += 1
            if seen[0] > cap:
                return
        yield event


def test_the_live_hour_has_the_friction_of_the_history(tmp_path) -> None:
    """Regression: live traffic from a new population at 20 events/s put friction on 42 % of
    legitimate events within minutes. The live hour must look like the history: the same
    customers at their own pace, with about the backfill's share of friction."""
    time_ = SimulatedTime(NOW)
    services = _services(tmp_path / "demo.db", time_)
    try:
        tenant_id, key, _ = demo_key(services)
        quiet = Console(file=io.StringIO())
        model = ensure_model(
            services, tenant_id, tmp_path / "model", quiet, customers=TRAINING_CUSTOMERS
        )
        assert model is not None
        client = _client(services, key)
        tally = Tally()
        # The population's own pace, with room for the evening peak; a stream compressed
        # into more events than that stops here and fails below.
        expected = events_per_second(CUSTOMERS) * 3600
        cap = round(4 * expected)
        live_events = [0]
        events = stream(
            seed=SEED, customers=CUSTOMERS, start=NOW - timedelta(days=1), fraud_rate=0.02, run="t"
        )
        send_traffic(
            client,
            _at_most(events, cap, live_events),
            tally,
            live_from=NOW.timestamp(),
            clock=time_.time,
            sleep=time_.sleep,
            until=NOW.timestamp() + 3600,
            step_ups=StepUps(client, now=time_.now),
            devices=DeviceReports(client, now=time_.now),
        )
    finally:
        services.close()
    assert live_events[0] <= cap, "live traffic outran the population's own pace"
    assert time_.now() >= NOW + timedelta(minutes=55)  # the hour was driven through
    assert tally.errors == 0
    backfill_legit = tally.legit - tally.live_legit
    backfill_share = (tally.friction - tally.live_friction) / backfill_legit
    live_share = tally.live_friction / tally.live_legit
    assert tally.live_legit >= 80
    assert backfill_share < 0.05
    assert live_share <= backfill_share + 0.03, (live_share, backfill_share)


def _backfill(
    services: Services, key: str, time_: SimulatedTime, start: datetime, run: str
) -> tuple[Tally, list[str]]:
    client = _client(services, key)
    tally = Tally()
    ids: list[str] = []

    def recorded(events: Iterator[SimulatedEvent]) -> Iterator[SimulatedEvent]:
        for event in events:
            ids.append(event.request["event_id"])
            yield event

    events = stream(seed=SEED, customers=40, start=start, fraud_rate=0.05, run=run)
    send_traffic(
        client,
        recorded(events),
        tally,
        live_from=time_.time(),
        clock=time_.time,
        sleep=time_.sleep,
        until=time_.time(),
        step_ups=StepUps(client, now=time_.now),
        devices=DeviceReports(client, now=time_.now),
    )
    return tally, ids[:-1]  # the last one was read, not sent: it is due after `until`


def test_a_rerun_carries_on_with_fresh_ids_and_one_key(tmp_path) -> None:
    """Regression: a second run replayed the first run's event ids (stale decisions, wrong
    step-up counts) and left another never-expiring admin key each time."""
    time_ = SimulatedTime(NOW)
    services = _services(tmp_path / "demo.db", time_)
    try:
        tenant_id, first_key, revoked = demo_key(services)
        assert revoked == 0
        assert previous_end(services, tenant_id, time_.now(), 1.0) is None
        first, first_ids = _backfill(services, first_key, time_, NOW - timedelta(hours=12), "a")
        assert first.errors == 0 and sum(first.decisions.values()) == len(first_ids) > 100

        time_.sleep(3600)
        tenant_id, second_key, revoked = demo_key(services)
        assert revoked == 1
        with pytest.raises(PayguardError):
            services.tenants.authenticate(first_key, source_ip=None)
        keys = services.tenants.keys(tenant_id)
        assert sum(k.refusal(time_.now()) is None for k in keys) == 1

        # The rerun starts where the first one's traffic stopped, not a day back again.
        resumed = previous_end(services, tenant_id, time_.now(), 1.0)
        assert resumed is not None
        assert NOW - timedelta(minutes=30) < resumed <= NOW
        assert resumed.tzinfo is UTC  # shown as UTC in the demo's output
        second, second_ids = _backfill(services, second_key, time_, resumed, "b")
    finally:
        services.close()
    assert not set(first_ids) & set(second_ids)
    assert second.errors == 0
    assert sum(second.decisions.values()) == len(second_ids) > 0
    # Every challenge of the rerun was a new one, answered and counted once.
    assert sum(second.step_ups.values()) == second.decisions["challenge"]


def test_a_backfill_only_run_ends_without_waiting_for_the_next_event(tmp_path) -> None:
    """Regression (`--no-keep-serving`): the run waited in real time for the first event
    after now before it noticed it was past the end."""
    time_ = SimulatedTime(NOW)

    def never(seconds: float) -> None:
        raise AssertionError(f"waited {seconds} s")

    services = _services(tmp_path / "demo.db", time_)
    try:
        _, key, _ = demo_key(services)
        tally = Tally()
        events = stream(seed=SEED, customers=20, start=NOW - timedelta(hours=6), fraud_rate=0)
        send_traffic(
            _client(services, key),
            events,
            tally,
            live_from=NOW.timestamp(),
            clock=time_.time,
            sleep=never,
            until=NOW.timestamp(),
        )
    finally:
        services.close()
    assert tally.legit > 0 and tally.live_legit == 0


def test_the_key_and_curl_lines_never_wrap() -> None:
    out = io.StringIO()
    console = Console(file=out, width=30, force_terminal=False)
    key = "pgk_0123456789abcdef_" + "x" * 43
    introduce(
        console,
        base="http://127.0.0.1:8101",
        key=key,
        revoked=1,
        database_url="sqlite:///var/demo.db",
        model_version=3,
    )
    lines = out.getvalue().splitlines()
    assert key in lines
    assert f"curl -s -H 'Authorization: Bearer {key}' http://127.0.0.1:8101/v1/rules" in lines
    database = f"sqlite:///{Path('var/demo.db').resolve()}"
    assert f"export PAYGUARD_DATABASE_URL={database}" in lines
    assert f"PAYGUARD_DATABASE_URL={database} payguard models list --tenant demo" in lines


def test_the_database_line_never_shows_a_password() -> None:
    line = env_line("postgresql+psycopg://payguard:s3cret@db.internal:5432/payguard")
    assert (
        line
        == "export PAYGUARD_DATABASE_URL=postgresql+psycopg://payguard:***@db.internal:5432/payguard"
    )


def test_off_a_terminal_the_summary_is_a_plain_line() -> None:
    out = io.StringIO()
    tally = Tally()
    tally.decisions["allow"] = 12
    tally.legit, tally.friction = 12, 0
    with _Display(Console(file=out, width=40, force_terminal=False), tally, every=0.0) as shown:
        shown.show("live, 800 customers")
    (line,) = out.getvalue().splitlines()
    assert line.startswith("live, 800 customers: 12 decided (allow=12 challenge=0")
    assert "legit with friction 0/12" in line


def test_sigterm_stops_the_demo_as_ctrl_c_does() -> None:
    with pytest.raises(KeyboardInterrupt), _stop_on_sigterm():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_busy_port_exits_non_zero_before_any_key(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/demo.db"
    services = build_services(Settings(database_url=url, kv_url="memory://", bus_url="memory://"))
    try:
        tenant_id, _, _ = demo_key(services)
        keys_before = services.tenants.keys(tenant_id)
    finally:
        services.close()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            app, ["demo", "--port", str(port), "--database", url, "--no-model"]
        )
        from_env = CliRunner().invoke(
            app, ["demo", "--database", url, "--no-model"], env={"PAYGUARD_DEMO_PORT": str(port)}
        )
    assert result.exit_code == 1, result.output
    assert f"cannot serve on 127.0.0.1:{port}" in result.output
    assert from_env.exit_code == 1, from_env.output
    services = build_services(Settings(database_url=url, kv_url="memory://", bus_url="memory://"))
    try:
        assert services.tenants.keys(tenant_id) == keys_before
    finally:
        services.close()


def test_piped_demo_prints_summaries_and_a_final_one_on_sigterm(tmp_path) -> None:
    """End to end, as `make demo > demo.log` runs it: lines come while it runs, and SIGTERM
    ends it with the final summary and exit code 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    payguard = Path(sys.executable).with_name("payguard")
    process = subprocess.Popen(
        [
            str(payguard),
            "demo",
            "--no-model",
            "--customers",
            "30",
            "--days",
            "0.2",
            "--summary-every",
            "0.2",
            "--database",
            f"sqlite:///{tmp_path}/demo.db",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": str(payguard.parent), "COLUMNS": "40", "PAYGUARD_DEMO_PORT": str(port)},
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.startswith("live, 30 customers:"):
                break
        process.send_signal(signal.SIGTERM)
        rest, errors = process.communicate(timeout=60)
    finally:
        process.kill()
    out = "".join(seen) + rest
    assert process.returncode == 0, errors[-2000:]
    assert f"serving on http://127.0.0.1:{port}" in out
    assert any(line.startswith("pgk_") and len(line.strip()) == 64 for line in seen)
    assert any(line.startswith("backfill from ") for line in seen)
    assert "final (stopped):" in rest
    assert "events decided" in rest
