"""`payguard demo`: a running platform with realistic traffic and a live summary.

One simulated population, one timeline: a backfill of `days` of history ending now, sent as
fast as the API takes it (so velocity windows and profiles have something to work on), then
the same customers carrying on in real time, each event sent when the clock reaches it, until
Ctrl-C or SIGTERM. Customers keep their devices, payees and habits, so device ages keep
growing and each customer makes a few events a day, as in the history the model learned
from. The live rate follows from the population (`sim.traffic.events_per_second`); asking
for a higher `rate` scales the population up, never makes each customer busier. A rerun
carries on the timeline where the previous run stopped (no second copy of the same hours)
and its event ids carry a fresh run id.

Fraud is reported the way partners learn of it: each simulated fraud event carries the time
its label arrives (a victim's call hours later, a chargeback weeks later, or never), and the
demo posts the outcome once the stream passes that time. In the live phase the delays are
compressed `LIVE_LABEL_SPEEDUP` times, so a week's delay takes about half an hour.

Challenged events are stepped up over `/v1/auth` (`demo_stepup`): legitimate customers
answer with their passkey (and bound device for AAL3), fraudsters guess and are blocked.
Each device reports its posture the first time it is seen (`demo_devices`).
"""

from __future__ import annotations

import heapq
import math
import secrets
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from pathlib import Path
from types import FrameType

import httpx
import sqlalchemy as sa
import uvicorn
from rich.console import Console
from rich.live import Live
from rich.table import Table

from payguard.api.app import create_app
from payguard.audit.interfaces import Actor
from payguard.cli.demo_devices import DeviceReports
from payguard.cli.demo_model import TRAINING_CUSTOMERS, ensure_model
from payguard.cli.demo_stepup import StepUps
from payguard.logconfig import configure
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.sim.traffic import (
    SimulatedEvent,
    customers_for_rate,
    event_time,
    events_per_second,
    expected_event_count,
    in_real_time,
    stream,
)
from payguard.tenancy.interfaces import Role

TENANT = "demo"
#: Label delays run this many times faster in the live phase than in simulated time.
LIVE_LABEL_SPEEDUP = 360.0
#: The demo's population by default: the size of the model's training population, so the
#: live traffic shares addresses, shops and payees the way the history did.
DEFAULT_CUSTOMERS = TRAINING_CUSTOMERS
#: Off a terminal, a one-line summary is printed this often (seconds).
SUMMARY_EVERY = 10.0


@dataclass
class Tally:
    """What the demo has seen so far."""

    started: float = field(default_factory=time.perf_counter)
    decisions: Counter[str] = field(default_factory=Counter)
    caught: Counter[str] = field(default_factory=Counter)
    attacks: Counter[str] = field(default_factory=Counter)
    friction: int = 0
    legit: int = 0
    #: The same two counts for the live phase alone.
    live_friction: int = 0
    live_legit: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    #: Fraud labels not yet reported: (due, assessment id), due in epoch ms.
    pending: list[tuple[float, str]] = field(default_factory=list)
    reported: int = 0
    #: Step-ups of challenged events: legit passed, fraud failed, and the rest.
    step_ups: Counter[str] = field(default_factory=Counter)
    #: Health statuses of the devices that reported their posture.
    devices: Counter[str] = field(default_factory=Counter)

    def table(self, phase: str) -> Table:
        sent = sum(self.decisions.values())
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        table = Table(title=f"payguard demo: live decisions ({phase})", expand=False)
        table.add_column("what")
        table.add_column("value", justify="right")
        table.add_row("events decided", f"{sent:,}")
        table.add_row("throughput", f"{sent / elapsed:,.1f} /s")
        if self.latencies:
            recent = sorted(self.latencies[-5000:])
            table.add_row("p50 latency", f"{recent[len(recent) // 2] * 1000:.1f} ms")
            p99 = recent[max(int(len(recent) * 0.99) - 1, 0)]
            table.add_row("p99 latency", f"{p99 * 1000:.1f} ms")
        for action in ("allow", "challenge", "review", "block"):
            table.add_row(f"decision: {action}", f"{self.decisions[action]:,}")
        for typology, total in sorted(self.attacks.items()):
            table.add_row(f"fraud stopped: {typology}", f"{self.caught[typology]:,} / {total:,}")
        table.add_row("legit events with friction", f"{self.friction:,} / {self.legit:,}")
        if self.live_legit:
            table.add_row("  of which live", f"{self.live_friction:,} / {self.live_legit:,}")
        if self.step_ups:
            table.add_row(
                "step-ups: legit passed / fraud failed",
                f"{self.step_ups['legit_passed']:,} / {self.step_ups['fraud_failed']:,}",
            )
            table.add_row(
                "step-ups: legit not passed / fraud passed",
                f"{self.step_ups['legit_other']:,} / {self.step_ups['fraud_passed']:,}",
            )
        if self.devices:
            table.add_row(
                "devices reported: healthy / at risk / compromised",
                f"{self.devices['healthy']:,} / {self.devices['at_risk']:,} / "
                f"{self.devices['compromised']:,}",
            )
        table.add_row("fraud reported so far (labels)", f"{self.reported:,}")
        if self.errors:
            table.add_row("refused requests", f"{self.errors:,}")
        return table

    def line(self, phase: str) -> str:
        """The summary on one line, for logs and pipes."""
        sent = sum(self.decisions.values())
        decided = " ".join(
            f"{a}={self.decisions[a]}" for a in ("allow", "challenge", "review", "block")
        )
        stopped = sum(self.caught.values())
        frauds = sum(self.attacks.values())
        text = (
            f"{phase}: {sent} decided ({decided}); fraud stopped {stopped}/{frauds}; "
            f"legit with friction {self.friction}/{self.legit} "
            f"({_share(self.friction, self.legit)})"
        )
        if self.live_legit:
            text += f", live {self.live_friction}/{self.live_legit} "
            text += f"({_share(self.live_friction, self.live_legit)})"
        text += f"; labels reported {self.reported}"
        if self.errors:
            text += f"; refused {self.errors}"
        return text


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _report_due(client: httpx.Client, tally: Tally, now: float) -> None:
    """Post the fraud outcomes whose labels have arrived by `now` (epoch ms)."""
    while tally.pending and tally.pending[0][0] <= now:
        _, assessment_id = heapq.heappop(tally.pending)
        response = client.post(
            f"/v1/assessments/{assessment_id}/outcome", json={"outcome": "fraud"}
        )
        tally.reported += int(response.status_code == 200)


def _send(
    client: httpx.Client,
    simulated: SimulatedEvent,
    tally: Tally,
    label_due: float | None,
    step_ups: StepUps | None = None,
    devices: DeviceReports | None = None,
    *,
    live: bool = False,
) -> None:
    """Decide one event; a fraud event's label is queued to arrive at `label_due`."""
    if devices is not None:
        devices.first_sight(simulated.request)
        tally.devices = devices.statuses
    t0 = time.perf_counter()
    response = client.post("/v1/assessments", json=simulated.request)
    tally.latencies.append(time.perf_counter() - t0)
    if response.status_code not in (200, 201):
        tally.errors += 1
        return
    body = response.json()
    tally.decisions[body["decision"]] += 1
    stopped = body["decision"] != "allow"
    fraud = simulated.label == "fraud"
    if body["decision"] == "challenge" and step_ups is not None:
        account = str(simulated.request["account_id"])
        final = step_ups.answer(body, account=account, legit=not fraud)
        if fraud:
            tally.step_ups["fraud_passed" if final == "allow" else "fraud_failed"] += 1
        else:
            tally.step_ups["legit_passed" if final == "allow" else "legit_other"] += 1
    if fraud:
        typology = simulated.typology or "fraud"
        tally.attacks[typology] += 1
        tally.caught[typology] += int(stopped)
        # Partners report fraud when they learn of it; later events then see the payee and
        # device flagged.
        if label_due is not None:
            heapq.heappush(tally.pending, (label_due, body["assessment_id"]))
    else:
        tally.legit += 1
        tally.friction += int(stopped)
        if live:
            tally.live_legit += 1
            tally.live_friction += int(stopped)


def send_traffic(
    client: httpx.Client,
    events: Iterator[SimulatedEvent],
    tally: Tally,
    *,
    live_from: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    until: float | None = None,
    step_ups: StepUps | None = None,
    devices: DeviceReports | None = None,
    show: Callable[[bool], None] = lambda live: None,
) -> None:
    """Send `events` (one timeline, in time order) through the API, each once `clock`
    (epoch seconds) reaches it: the history before `live_from` at once, the rest live.

    Stops before the first event at or after `until` (epoch seconds), or when `events` ends.
    `show(live)` is called after each event and while waiting, to refresh a display.
    """
    if until is not None:
        # Checked before waiting, so a run that ends now never waits for the next event.
        events = takewhile(lambda simulated: event_time(simulated) < until, events)
    for simulated in in_real_time(events, clock=clock, sleep=sleep):
        if simulated is None:
            _report_due(client, tally, clock() * 1000)
            show(True)
            continue
        at = event_time(simulated)
        live = at >= live_from
        label_due: float | None = simulated.label_at
        if live and label_due is not None:
            label_due = at * 1000 + (label_due - at * 1000) / LIVE_LABEL_SPEEDUP
        _report_due(client, tally, at * 1000)
        _send(client, simulated, tally, label_due, step_ups, devices, live=live)
        show(live)


def population_for(customers: int | None, rate: float | None) -> int:
    """The demo's population: `rate` events a second scales it, else `customers`, else the
    default."""
    if rate is not None:
        return customers_for_rate(rate)
    return customers if customers is not None else DEFAULT_CUSTOMERS


def previous_end(services: Services, tenant_id: str, now: datetime, days: float) -> datetime | None:
    """When the demo's traffic in the last `days` stopped (its latest event, in UTC), if it
    had any.

    The search widens from the last quarter hour, so only a short stretch is read back.
    """
    oldest = now - timedelta(days=days)
    for span in (timedelta(minutes=15), timedelta(hours=2), timedelta(days=1), now - oldest):
        since = max(now - span, oldest)
        last = None
        for decision in services.assessment_store.iter_decisions(
            tenant_id, since=since, limit=10_000_000
        ):
            last = decision.occurred_at
        if last is not None:
            return last.astimezone(UTC)
        if since <= oldest:
            break
    return None


def demo_key(services: Services) -> tuple[str, str, int]:
    """A fresh admin key for the demo tenant, the previous ones revoked; returns (tenant id,
    key, how many keys were revoked). The demo tenant is the demo's own, so one key at a
    time is enough."""
    actor = Actor.system("demo")
    tenant = services.tenants.get_tenant_by_name(TENANT)
    if tenant is None:
        tenant, key = services.tenants.create_tenant(TENANT, actor=actor)
        return tenant.id, key, 0
    now = services.clock.now()
    revoked = 0
    for old in services.tenants.keys(tenant.id):
        if old.refusal(now) is None:
            services.tenants.revoke_key(old.id, actor=actor)
            revoked += 1
    _, key = services.tenants.issue_key(tenant.id, role=Role.ADMIN, actor=actor)
    return tenant.id, key, revoked


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port` for the server, or OSError when the port is taken."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        # As uvicorn does: a port whose last connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def env_line(database_url: str) -> str:
    """The shell line that points the other `payguard` commands at `database_url` (a SQLite
    path made absolute, so it works from any directory; a password shown as ***, never
    printed)."""
    url = sa.make_url(database_url)
    if url.drivername.startswith("sqlite") and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).resolve()))
    return f"export PAYGUARD_DATABASE_URL={url.render_as_string(hide_password=True)}"


def introduce(
    console: Console,
    *,
    base: str,
    key: str,
    revoked: int,
    database_url: str,
    model_version: int | None,
) -> None:
    """Where the demo serves, its key and a curl line, and how to reach its database.

    The key, curl and shell lines are printed whole (never wrapped at the console's width),
    so they can be copied from a narrow terminal or a log.
    """
    say = console.print
    say(f"payguard is serving on {base} (OpenAPI at {base}/docs)", soft_wrap=True)
    say(f"tenant [bold]{TENANT}[/bold] API key (previous demo keys revoked: {revoked}):")
    say(key, soft_wrap=True, markup=False, highlight=False)
    say(
        f"curl -s -H 'Authorization: Bearer {key}' {base}/v1/rules",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )
    say("the demo's database, for the other payguard commands:", soft_wrap=True)
    export = env_line(database_url)
    say(export, soft_wrap=True, markup=False, highlight=False)
    if model_version is not None:
        say(f"decisions use model v{model_version} with the rules, listed by:", soft_wrap=True)
        say(
            f"{export.removeprefix('export ')} payguard models list --tenant {TENANT}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )


class _Display:
    """The live table on a terminal; elsewhere, a plain line every `every` seconds."""

    def __init__(self, console: Console, tally: Tally, every: float) -> None:
        self.console = console
        self.tally = tally
        self.every = every
        self.phase = "starting"
        self._live = Live(console=console, refresh_per_second=4) if console.is_terminal else None
        self._shown = -math.inf  # the first call shows at once

    def __enter__(self) -> _Display:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is KeyboardInterrupt:
            self.phase = "stopped"
        if self._live is not None:
            self._live.update(self.tally.table(self.phase))
            self._live.__exit__(None, None, None)

    def show(self, phase: str, *, force: bool = False) -> None:
        self.phase = phase
        now = time.monotonic()
        if self._live is not None:
            if force or now - self._shown >= 0.25:
                self._live.update(self.tally.table(phase))
                self._shown = now
        elif force or now - self._shown >= self.every:
            self.console.print(self.tally.line(phase), soft_wrap=True, markup=False)
            self._shown = now


def _stop_on_sigterm() -> AbstractContextManager[object]:
    """SIGTERM ends the demo as Ctrl-C does (with its final summary)."""
    if threading.current_thread() is not threading.main_thread():
        return nullcontext()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    class _Handler:
        def __enter__(self) -> None:
            self.previous = signal.signal(signal.SIGTERM, interrupt)

        def __exit__(self, *exc: object) -> None:
            signal.signal(signal.SIGTERM, self.previous)

    return _Handler()


def run_demo(
    *,
    host: str,
    port: int,
    customers: int | None,
    days: float,
    seed: int,
    fraud_rate: float,
    rate: float | None,
    database_url: str,
    keep_serving: bool,
    model_dir: Path | None = Path("var/demo-model"),
    training_customers: int = TRAINING_CUSTOMERS,
    summary_every: float = SUMMARY_EVERY,
    console: Console | None = None,
) -> int:
    """Run the demo; returns the exit code. `model_dir`: where the demo model's training
    data is kept (None: rules only). `rate` (events a second) scales the population and
    overrides `customers`."""
    console = console or Console()
    try:
        sock = bind(host, port)
    except OSError as error:
        console.print(
            f"[red]cannot serve on {host}:{port}: {error.strerror or error}[/red] "
            "(choose another with --port, PAYGUARD_DEMO_PORT or make demo PORT=...)",
            soft_wrap=True,
        )
        return 1
    population = population_for(customers, rate)
    settings = Settings(database_url=database_url, kv_url="memory://", bus_url="memory://")
    configure("WARNING")
    services = build_services(settings)
    try:
        with _stop_on_sigterm():
            return _run(
                console,
                services,
                sock,
                host=host,
                port=port,
                customers=population,
                days=days,
                seed=seed,
                fraud_rate=fraud_rate,
                database_url=database_url,
                keep_serving=keep_serving,
                model_dir=model_dir,
                training_customers=training_customers,
                summary_every=summary_every,
            )
    finally:
        sock.close()
        services.close()


def _run(
    console: Console,
    services: Services,
    sock: socket.socket,
    *,
    host: str,
    port: int,
    customers: int,
    days: float,
    seed: int,
    fraud_rate: float,
    database_url: str,
    keep_serving: bool,
    model_dir: Path | None,
    training_customers: int,
    summary_every: float,
) -> int:
    tenant_id, key, revoked = demo_key(services)
    model_version = None
    if model_dir is not None:
        model_version = ensure_model(
            services, tenant_id, model_dir, console, customers=training_customers
        )
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host=host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            console.print(f"[red]could not start the server on {host}:{port}[/red]")
            return 1
        time.sleep(0.05)
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    now = datetime.now(UTC)
    start = now - timedelta(days=days)
    resumed = previous_end(services, tenant_id, now, days)
    if resumed is not None and resumed > start:
        start = resumed.astimezone(UTC)
    run = secrets.token_hex(4)
    rate = events_per_second(customers)
    introduce(
        console,
        base=base,
        key=key,
        revoked=revoked,
        database_url=database_url,
        model_version=model_version,
    )
    backlog = expected_event_count(
        customers=customers, days=(now - start) / timedelta(days=1), fraud_rate=fraud_rate
    )
    history = (
        "continuing the previous run's timeline"
        if start > now - timedelta(days=days)
        else f"{days:g} days of history"
    )
    console.print(
        f"traffic: {customers:,} customers, about {rate:.2f} events/s ({rate * 60:.1f}/min) "
        f"on average, busier at lunch and in the evening; {history} from "
        f"{start:%Y-%m-%d %H:%M} UTC (about {backlog:,} events, sent at once), then live; "
        f"run id {run}",
        soft_wrap=True,
    )
    tally = Tally()
    events = stream(seed=seed, customers=customers, start=start, fraud_rate=fraud_rate, run=run)
    phases = (f"backfill from {start:%Y-%m-%d %H:%M} UTC", f"live, {customers:,} customers")
    display = _Display(console, tally, summary_every)
    try:
        with (
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client,
            display,
        ):
            send_traffic(
                client,
                events,
                tally,
                live_from=now.timestamp(),
                until=None if keep_serving else now.timestamp(),
                step_ups=StepUps(client),
                devices=DeviceReports(client),
                show=lambda live: display.show(phases[live]),
            )
            display.phase = "backfill done" if not keep_serving else "stopped"
    except KeyboardInterrupt:
        display.phase = "stopped"
    finally:
        server.should_exit = True
        thread.join(5)
    if not console.is_terminal:
        console.print(tally.line(f"final ({display.phase})"), soft_wrap=True, markup=False)
        console.print(tally.table(f"final, {display.phase}"))
    return 0
