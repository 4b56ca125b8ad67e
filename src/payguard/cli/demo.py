"""`payguard demo`: a running platform with realistic traffic and a live summary."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn
from rich.console import Console
from rich.live import Live
from rich.table import Table

from payguard.api.app import build_services, create_app
from payguard.logconfig import configure
from payguard.settings import Settings
from payguard.tenancy.interfaces import Role

TENANT = "demo"


def _summary(
    decisions: Counter[str],
    caught: Counter[str],
    attacks: Counter[str],
    friction: int,
    legit: int,
    latencies: list[float],
    started: float,
) -> Table:
    sent = sum(decisions.values())
    elapsed = max(time.perf_counter() - started, 1e-9)
    table = Table(title="payguard demo: live decisions", expand=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("events decided", f"{sent:,}")
    table.add_row("throughput", f"{sent / elapsed:,.0f} /s")
    if latencies:
        ordered = sorted(latencies[-5000:])
        table.add_row("p50 latency", f"{ordered[len(ordered) // 2] * 1000:.1f} ms")
        table.add_row("p99 latency", f"{ordered[int(len(ordered) * 0.99) - 1] * 1000:.1f} ms")
    for action in ("allow", "challenge", "review", "block"):
        table.add_row(f"decision: {action}", f"{decisions[action]:,}")
    for typology, total in sorted(attacks.items()):
        table.add_row(f"fraud stopped: {typology}", f"{caught[typology]:,} / {total:,}")
    table.add_row("legit events with friction", f"{friction:,} / {legit:,}")
    return table


def run_demo(
    *,
    host: str,
    port: int,
    customers: int,
    days: float,
    seed: int,
    fraud_rate: float,
    database_url: str,
    keep_serving: bool,
) -> None:
    from payguard.sim.traffic import simulate

    console = Console()
    settings = Settings(database_url=database_url, kv_url="memory://", bus_url="memory://")
    configure("WARNING")
    services = build_services(settings)
    tenant = next((t for t in services.tenants.tenants() if t.name == TENANT), None)
    if tenant is None:
        tenant, key = services.tenants.create_tenant(TENANT, actor="demo")
    else:
        _, key = services.tenants.issue_key(tenant.id, role=Role.ADMIN, actor="demo")
    app = create_app(services)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            console.print(f"[red]could not start the server on {host}:{port}[/red]")
            return
        time.sleep(0.05)
    base = f"http://{host}:{port}"
    console.print(f"payguard is serving on {base} (OpenAPI at {base}/docs)")
    console.print(f"tenant [bold]{TENANT}[/bold] API key: [bold]{key}[/bold]")

    decisions: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    attacks: Counter[str] = Counter()
    friction = 0
    legit = 0
    latencies: list[float] = []
    start = datetime.now(UTC) - timedelta(days=days)
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with (
            httpx.Client(base_url=base, headers=headers, timeout=10) as client,
            Live(console=console, refresh_per_second=4) as live,
        ):
            for n, simulated in enumerate(
                simulate(
                    seed=seed, customers=customers, days=days, start=start, fraud_rate=fraud_rate
                )
            ):
                t0 = time.perf_counter()
                response = client.post("/v1/assessments", json=simulated.request)
                latencies.append(time.perf_counter() - t0)
                if response.status_code not in (200, 201):
                    console.print(f"[yellow]{response.status_code}[/yellow] {response.text[:200]}")
                    continue
                body = response.json()
                decisions[body["decision"]] += 1
                stopped = body["decision"] != "allow"
                if simulated.label == "fraud":
                    typology = simulated.typology or "fraud"
                    attacks[typology] += 1
                    caught[typology] += int(stopped)
                    # Partners report confirmed fraud; later events see the payee/device flagged.
                    client.post(
                        f"/v1/assessments/{body['assessment_id']}/outcome",
                        json={"outcome": "fraud"},
                    )
                else:
                    legit += 1
                    friction += int(stopped)
                if n % 50 == 0:
                    live.update(
                        _summary(decisions, caught, attacks, friction, legit, latencies, started)
                    )
            live.update(_summary(decisions, caught, attacks, friction, legit, latencies, started))
        if keep_serving:
            console.print(
                f"traffic done. Try:\n  curl -s -H 'Authorization: Bearer {key}' {base}/v1/rules\n"
                "Ctrl-C stops the server."
            )
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(5)
        services.close()
