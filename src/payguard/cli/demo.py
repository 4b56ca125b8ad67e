"""`payguard demo`: a running platform with realistic traffic and a live summary.

Two phases: a backfill of `days` of simulated history ending now, sent as fast as the API
takes it (so velocity windows and profiles have something to work on), then live traffic at
`rate` events a second, stamped with the current time, until Ctrl-C.

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
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
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
from payguard.services import build_services
from payguard.settings import Settings
from payguard.sim.traffic import SimulatedEvent, simulate, stream
from payguard.tenancy.interfaces import Role

TENANT = "demo"
#: Label delays run this many times faster in the live phase than in simulated time.
LIVE_LABEL_SPEEDUP = 360.0


@dataclass
class Tally:
    """What the demo has seen so far."""

    started: float = field(default_factory=time.perf_counter)
    decisions: Counter[str] = field(default_factory=Counter)
    caught: Counter[str] = field(default_factory=Counter)
    attacks: Counter[str] = field(default_factory=Counter)
    friction: int = 0
    legit: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    #: Fraud labels not yet reported: (due, assessment id), due in the phase's own clock.
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
        table.add_row("throughput", f"{sent / elapsed:,.0f} /s")
        if self.latencies:
            recent = sorted(self.latencies[-5000:])
            table.add_row("p50 latency", f"{recent[len(recent) // 2] * 1000:.1f} ms")
            table.add_row("p99 latency", f"{recent[int(len(recent) * 0.99) - 1] * 1000:.1f} ms")
        for action in ("allow", "challenge", "review", "block"):
            table.add_row(f"decision: {action}", f"{self.decisions[action]:,}")
        for typology, total in sorted(self.attacks.items()):
            table.add_row(f"fraud stopped: {typology}", f"{self.caught[typology]:,} / {total:,}")
        table.add_row("legit events with friction", f"{self.friction:,} / {self.legit:,}")
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


def _report_due(client: httpx.Client, tally: Tally, now: float) -> None:
    """Post the fraud outcomes whose labels have arrived by `now`."""
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


def _now_stamped(events: Iterable[SimulatedEvent]) -> Iterable[SimulatedEvent]:
    """Live events carry the current time (in the customer's own offset)."""
    for simulated in events:
        local = datetime.fromisoformat(simulated.request["occurred_at"])
        now = datetime.now(local.tzinfo)
        request = {**simulated.request, "occurred_at": now.isoformat(timespec="milliseconds")}
        label_at = simulated.label_at
        if label_at is not None:
            # The same delay after the event as in simulated time, compressed.
            delay_ms = label_at - local.timestamp() * 1000
            label_at = round(now.timestamp() * 1000 + delay_ms / LIVE_LABEL_SPEEDUP)
        yield SimulatedEvent(
            request, simulated.label, simulated.typology, label_at, simulated.campaign
        )


def run_demo(
    *,
    host: str,
    port: int,
    customers: int,
    days: float,
    seed: int,
    fraud_rate: float,
    rate: float,
    database_url: str,
    keep_serving: bool,
    model_dir: Path | None = Path("var/demo-model"),
    training_customers: int = TRAINING_CUSTOMERS,
) -> None:
    """`model_dir`: where the demo model's training data is kept (None: rules only)."""
    console = Console()
    settings = Settings(database_url=database_url, kv_url="memory://", bus_url="memory://")
    configure("WARNING")
    services = build_services(settings)
    tenant = services.tenants.get_tenant_by_name(TENANT)
    if tenant is None:
        tenant, key = services.tenants.create_tenant(TENANT, actor=Actor.system("demo"))
    else:
        _, key = services.tenants.issue_key(tenant.id, role=Role.ADMIN, actor=Actor.system("demo"))
    model_version = None
    if model_dir is not None:
        model_version = ensure_model(
            services, tenant.id, model_dir, console, customers=training_customers
        )
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host=host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            console.print(f"[red]could not start the server on {host}:{port}[/red]")
            services.close()
            return
        time.sleep(0.05)
    base = f"http://{host}:{port}"
    console.print(f"payguard is serving on {base} (OpenAPI at {base}/docs)")
    console.print(f"tenant [bold]{TENANT}[/bold] API key: [bold]{key}[/bold]")
    if model_version is not None:
        console.print(
            f"decisions use model v{model_version} with the rules "
            f"(payguard models list --tenant {TENANT})"
        )
    console.print(f"  curl -s -H 'Authorization: Bearer {key}' {base}/v1/rules")
    tally = Tally()
    start = datetime.now(UTC) - timedelta(days=days)
    history = simulate(
        seed=seed, customers=customers, days=days, start=start, fraud_rate=fraud_rate
    )
    try:
        with (
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client,
            Live(console=console, refresh_per_second=4) as live,
        ):
            step_ups = StepUps(client)
            devices = DeviceReports(client)
            for n, simulated in enumerate(history):
                at_ms = datetime.fromisoformat(simulated.request["occurred_at"]).timestamp() * 1000
                _report_due(client, tally, at_ms)
                _send(client, simulated, tally, simulated.label_at, step_ups, devices)
                if n % 50 == 0:
                    live.update(tally.table(f"backfill of {days:g} days"))
            live.update(tally.table("backfill done"))
            if keep_serving:
                live_events = stream(
                    seed=seed + 1,
                    customers=customers,
                    rate_per_second=rate,
                    start=datetime.now(UTC),
                    fraud_rate=fraud_rate,
                )
                for n, simulated in enumerate(_now_stamped(live_events)):
                    _report_due(client, tally, time.time() * 1000)
                    _send(client, simulated, tally, simulated.label_at, step_ups, devices)
                    if n % 5 == 0:
                        live.update(tally.table(f"live at {rate:g}/s, Ctrl-C stops"))
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(5)
        services.close()
