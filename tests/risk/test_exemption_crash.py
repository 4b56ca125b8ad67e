"""A process killed while it decides exemptible payments leaves exemption counters that agree
with the decisions it stored: the counters are written by the decision's own write.

The process (`exemption_crash_child.py`) assesses payments for two accounts on a SQLite file
and resets their counters now and then; it is SIGKILLed at a random moment, or right after a
write commits. After each kill the database is reopened and, per account, the exempted
decisions stored since the account's last reset must be exactly what its counters say.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from payguard.audit.interfaces import Actor
from payguard.risk.exemptions import EXEMPT
from payguard.risk.features.state import EXEMPTIONS
from payguard.services import build_services
from payguard.settings import Settings

CHILD = Path(__file__).with_name("exemption_crash_child.py")
ACCOUNTS = ("acct-1", "acct-2")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()

RULES = """
rules:
  - id: big_payment
    when: event_type == "payment" && amount >= 100.0
    action: challenge
    step_up: AAL2
    score: 100
    reason: BIG_PAYMENT
    message: A large payment needs a second factor.
low_risk_exemption:
  currency: SGD
  max_amount: "150"
  max_count: 4
  max_total: "450"
"""


def _settings(url: str) -> Settings:
    return Settings(database_url=url, cache_ttl_seconds=0)


def _kill_one_run(
    url: str, tenant: str, mode: str, run: int, rng: random.Random, *, after_writes: int
) -> None:
    """Start the child and SIGKILL it: itself after `after_writes` committed writes, or
    (0) from here at a random moment once it is assessing."""
    child = subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            url,
            tenant,
            mode,
            str(START + run * 86_400),
            str(after_writes),
            str(run),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ready = child.stdout.readline()
        if after_writes == 0 and ready.strip() == "ready":
            time.sleep(rng.uniform(0.05, 0.6))
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=90)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    stderr = child.stderr.read() if child.stderr is not None else ""
    assert ready.strip() == "ready", stderr
    assert child.returncode == -signal.SIGKILL, (child.returncode, stderr)


def _check_agreement(url: str, tenant: str) -> tuple[int, int]:
    """Per account, the exempted decisions stored since its last reset equal its counters;
    returns (exempted decisions in all, resets seen)."""
    services = build_services(_settings(url))
    resets = 0
    try:
        decisions = list(services.assessments.store.iter_decisions(tenant, limit=1_000_000))
        for account in ACCOUNTS:
            key = f"account:{account}"
            state = services.assessments.store.load_states(tenant, [key])[key]
            since = (state.data.get(EXEMPTIONS) or [0, 0, None, None])[3]
            resets += since is not None
            exempted = [
                d
                for d in decisions
                if d.account_id == account
                and EXEMPT in d.reasons
                and (since is None or d.decided_at.timestamp() > since)
            ]
            total = sum(int(Decimal(d.event["amount"]["value"]) * 100) for d in exempted)
            count, total_minor, currency = services.assessments.exemption_usage(tenant, account)
            assert (count, total_minor) == (len(exempted), total), account
            assert currency == ("SGD" if exempted else None)
        exempted_in_all = sum(EXEMPT in d.reasons for d in decisions)
    finally:
        services.close()
    return exempted_in_all, resets


@pytest.mark.parametrize("mode", ["sync", "group-commit"])
def test_a_killed_process_leaves_counters_that_agree_with_its_decisions(
    tmp_path: Path, mode: str
) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    services = build_services(_settings(url))
    try:
        made, _ = services.tenants.create_tenant("acme", actor=Actor.system("test"))
        services.rules.update(tenant_id=made.id, source=RULES, actor=Actor.system("test"))
    finally:
        services.close()
    rng = random.Random()
    # Killed right after a write commits, then at random moments; each run goes on from the
    # state the last one left.
    plan = [rng.randint(5, 40), 0, 0, 0]
    for run, after_writes in enumerate(plan):
        _kill_one_run(url, made.id, mode, run, rng, after_writes=after_writes)
        exempted, resets = _check_agreement(url, made.id)
    assert exempted > 0 and resets > 0  # the runs did exempt payments and reset counters
