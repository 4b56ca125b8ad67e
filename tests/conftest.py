"""Shared fixtures: the clock, and the real PostgreSQL / Redis / NATS servers when CI names them.

Each run gets its own PostgreSQL schema, Redis key prefix and NATS stream names, and removes
them afterwards, because the servers outlive the test run.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from tests import leakscan

# Before payguard imports AES-GCM: every key the run makes is recorded, and the captured logs
# are scanned for them (see the end of this file).
leakscan.record_keys()

from payguard.core.clock import FrozenClock  # noqa: E402

RUN_ID = uuid.uuid4().hex[:10]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))


def _require(var: str) -> str:
    url = os.environ.get(var)
    if not url:
        pytest.skip(f"{var} is not set; this test needs the real server (CI sets it)")
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL whose search_path is a schema private to this test run."""
    yield from _postgres_schema(f"pgtest_{RUN_ID}")


_OWN_SCHEMAS = itertools.count()


@pytest.fixture
def postgres_own_url() -> Iterator[str]:
    """A schema private to one test: for a whole deployment (services built from settings),
    which must not meet the records other tests leave in the run's shared schema (e.g. TOTP
    secrets sealed with another key, which the service refuses to start on)."""
    yield from _postgres_schema(f"pgtest_{RUN_ID}_{next(_OWN_SCHEMAS)}")


def _postgres_schema(schema: str) -> Iterator[str]:
    import sqlalchemy as sa

    base = _require("PAYGUARD_TEST_POSTGRES_URL")
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def redis_url() -> str:
    return _require("PAYGUARD_TEST_REDIS_URL")


@pytest.fixture
def nats_url() -> str:
    return _require("PAYGUARD_TEST_NATS_URL")


@pytest.fixture
def namespace() -> str:
    """A key prefix / stream-name prefix private to one test."""
    return f"pgtest{RUN_ID}{uuid.uuid4().hex[:6]}"


# -- no card number, clear value, key or personal data in any log line of the whole suite -------
#
# Every test's captured stderr (where payguard's JSON logs go) and captured log records are
# scanned (`tests/leakscan.py`) for the card networks' test numbers and the other clear
# values the vault tests tokenize, in any spelling, and for every key the run made or used,
# in hex or base64; then for any personal data the Data Shield's scanner finds (payguard
# tokens and non-global IP addresses excepted, see `leakscan.personal_data_in`). The session
# fails if one appears. Per-test log checks prove a path scrubs; this catches the path nobody
# wrote a check for.

_LEAKS: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, text in report.sections:
        # A phase's report repeats the earlier phases' sections: read each one once.
        if not name.endswith(report.when or ""):
            continue
        if "stderr" in name or "log" in name:
            leak = leakscan.leak_in(text)
            if leak is not None:
                _LEAKS.add(f"{report.nodeid} ({name}): a {leak}")
            kinds = leakscan.personal_data_in(text)
            if kinds:
                found = ", ".join(sorted(set(kinds)))
                _LEAKS.add(f"{report.nodeid} ({name}): personal data ({found})")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _LEAKS:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(
            "\nsecrets or personal data in clear in captured logs:\n  "
            + "\n  ".join(sorted(_LEAKS))
        )
