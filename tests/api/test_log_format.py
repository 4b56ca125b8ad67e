"""Everything a running server writes on stderr is a scrubbed JSON line (issue 13: uvicorn's
error output and the supervisor's `worker.died` went past the JSON formatter).

Each test runs the real server in a subprocess and reads its stderr: uvicorn's traceback of a
request that failed, the supervisor's own events, and uvicorn's complaint about a busy port.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PAN = "4111111111111111"
API_KEY = "pgk_0123456789abcdef_" + "A" * 43

#: A server on one worker whose app has one extra route that fails with the card number of
#: its path and an API key in the exception's message.
FAILING_APP = f"""
import sys
from payguard.api import server
from payguard.api.app import create_app


def make():
    app = create_app()

    @app.get("/boom/{{card}}")
    def boom(card: str) -> None:
        raise RuntimeError(f"cannot charge {{card}} with {API_KEY}")

    return app


server.APP = make
server.serve("127.0.0.1", int(sys.argv[1]), 1)
"""

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="workers get their own sockets on Linux only"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def _get(port: int, path: str) -> int | None:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None


def _workers(pid: int) -> set[int]:
    """The supervisor's worker processes (multiprocessing's resource tracker aside)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.update(int(child) for child in task.read_text().split())
    return {
        child
        for child in found
        if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
    }


def _lines(stderr: Path) -> list[dict[str, Any]]:
    """Every line written, each parsed as JSON (failing on the first that is not), with no
    planted secret anywhere."""
    text = stderr.read_text()
    assert PAN not in text and API_KEY not in text, text
    parsed = []
    for line in text.splitlines():
        if line.strip():
            try:
                parsed.append(json.loads(line))
            except ValueError:
                pytest.fail(f"not a JSON line: {line!r}\n--- all of stderr ---\n{text}")
    return parsed


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PAYGUARD_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "PAYGUARD_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def run(tmp_path: Path, env: dict[str, str]) -> Iterator[Callable[..., tuple[Any, Path]]]:
    """Start a process with stderr to a file; stopped (SIGTERM, then SIGKILL) at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*argv: str) -> tuple[subprocess.Popen[bytes], Path]:
        stderr = tmp_path / f"stderr-{len(started)}.log"
        with stderr.open("wb") as sink:
            process = subprocess.Popen(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=sink, cwd=tmp_path
            )
        started.append(process)
        return process, stderr

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _payguard() -> str:
    return str(Path(sys.executable).with_name("payguard"))


def test_uvicorns_traceback_of_a_failed_request_is_scrubbed_json(
    run: Callable[..., tuple[subprocess.Popen[bytes], Path]],
) -> None:
    port = _free_port()
    process, stderr = run(sys.executable, "-c", FAILING_APP, str(port))
    _wait_for(lambda: _get(port, "/healthz") == 200)

    assert _get(port, f"/boom/{PAN}") == 500
    _wait_for(lambda: "Exception in ASGI application" in stderr.read_text())
    process.send_signal(signal.SIGTERM)
    process.wait(20)

    lines = _lines(stderr)
    (failure,) = [line for line in lines if line.get("logger") == "uvicorn.error"]
    assert failure["event"].strip() == "Exception in ASGI application"
    assert failure["level"] == "error"
    # The traceback is there, scrubbed: the key and the card number are masked in place.
    assert "RuntimeError: cannot charge [card] with pgk_[redacted]" in (failure["exception"])


def test_the_supervisor_logs_a_dead_worker_as_json(
    run: Callable[..., tuple[subprocess.Popen[bytes], Path]],
) -> None:
    port = _free_port()
    process, stderr = run(_payguard(), "serve", "--port", str(port), "--workers", "2")
    _wait_for(lambda: len(_workers(process.pid)) >= 2 and _get(port, "/healthz") == 200)
    before = _workers(process.pid)
    victim = sorted(before)[0]
    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: len(_workers(process.pid) - before) == 1)
    assert _get(port, f"/v1/{PAN}") in (401, 404)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0

    events = {line["event"]: line for line in _lines(stderr)}
    died = events["worker.died"]
    assert (died["pid"], died["exitcode"], died["level"]) == (victim, -signal.SIGKILL, "warning")
    assert events["worker.restarted"]["replaces"] == victim
    assert events["worker.started"]["level"] == "info"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_busy_port_is_reported_as_json(
    run: Callable[..., tuple[subprocess.Popen[bytes], Path]], workers: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process, stderr = run(_payguard(), "serve", "--port", str(port), "--workers", workers)
        assert process.wait(60) != 0

    lines = _lines(stderr)
    errors = [line for line in lines if line["level"] == "error"]
    assert errors, lines
    assert any("address already in use" in json.dumps(line).lower() for line in errors), errors
