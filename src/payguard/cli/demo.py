"""`payguard demo`: a running platform with realistic traffic and a live summary.

Two phases: a backfill of `days` of simulated history ending now, sent as fast as the API
takes it (so velocity windows and profiles have something to work on), then live traffic at
`rate` events a second, stamped with the current time, until Ctrl-C.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn
from rich.console import Console
from rich.live import Live
from rich.table import Table

from payguard.api.app import build_services, create_app
from payguard.logconfig import configure
from payguard.settings import Settings
from payguard.sim.traffic import SimulatedEvent, simulate, stream
from payguard.tenancy.interfaces import Role

TENANT = "demo"


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
        if self.errors:
            table.add_row("refused requests", f"{self.errors:,}")
        return table


def _send(client: httpx.Client, simulated: SimulatedEvent, tally: Tally) -> None:
    t0 = time.perf_counter()
    response = client.post("/v1/assessments", json=simulated.request)
    tally.latencies.append(time.perf_counter() - t0)
    if response.status_code not in (200, 201):
        tally.errors += 1
        return
    body = response.json()
    tally.decisions[body["decision"]] += 1
    stopped = body["decision"] != "allow"
    if simulated.label == "fraud":
        typology = simulated.typology or "fraud"
        tally.attacks[typology] += 1
        tally.caught[typology] += int(stopped)
        # Partners report confirmed fraud; later events see the payee and device flagged.
        client.post(f"/v1/assessments/{body['assessment_id']}/outcome", json={"outcome": "fraud"})
    else:
        tally.legit += 1
        tally.friction += int(stopped)


def _now_stamped(events: Iterable[SimulatedEvent]) -> Iterable[SimulatedEvent]:
    """Live events carry the current time (in the customer's own offset)."""
    for simulated in events:
        local = datetime.fromisoformat(simulated.request["occurred_at"])
        now = datetime.now(local.tzinfo)
        request = {**simulated.request, "occurred_at": now.isoformat(timespec="milliseconds")}
        yield SimulatedEvent(request, simulated.label, simulated.typology)


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
) -> None:
    console = Console()
    settings = Settings(database_url=database_url, kv_url="memory://", bus_url="memory://")
    configure("WARNING")
    services = build_services(settings)
    tenant = services.tenants.get_tenant_by_name(TENANT)
    if tenant is None:
        tenant, key = services.tenants.create_tenant(TENANT, actor="demo")
    else:
        _, key = services.tenants.issue_key(tenant.id, role=Role.ADMIN, actor="demo")
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
            for n, simulated in enumerate(history):
                _send(client, simulated, tally)
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
                    _send(client, simulated, tally)
                    if n % 5 == 0:
                        live.update(tally.table(f"live at {rate:g}/s, Ctrl-C stops"))
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(5)
        services.close()
