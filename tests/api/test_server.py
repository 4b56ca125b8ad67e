"""`payguard serve --workers N`: the supervisor and its workers, as real processes."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="workers get their own sockets on Linux only"
)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.update(int(child) for child in task.read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def _healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PAYGUARD_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "PAYGUARD_LOG_LEVEL": "WARNING",
    }
    payguard = str(Path(sys.executable).with_name("payguard"))
    process = subprocess.Popen([payguard, "serve", "--port", str(port), "--workers", "2"], env=env)
    try:
        _wait_for(lambda: len(_children(process.pid)) >= 2 and _healthy(port))
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _worker_pids(pid: int) -> set[int]:
    """The supervisor's worker processes (multiprocessing's resource tracker aside)."""
    workers = set()
    for child in _children(pid):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"resource_tracker" not in cmdline:
            workers.add(child)
    return workers


def test_workers_share_the_port_and_stop_on_sigterm(server) -> None:
    process, port = server
    workers = _worker_pids(process.pid)
    assert len(workers) == 2

    # Connections opened together, as a partner's pool opens them, are spread by the kernel
    # over both workers' sockets: with 32 of them, one worker getting all is ~1 in 2^31.
    connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
    try:
        _wait_for(lambda: sum(_open_sockets(pid) for pid in workers) >= 32)
        accepted = {pid: _open_sockets(pid) for pid in workers}
        assert all(count > 0 for count in accepted.values()), accepted
    finally:
        for connection in connections:
            connection.close()

    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0
    _wait_for(lambda: not any(_alive(pid) for pid in workers), timeout=10)


def test_a_dead_worker_is_replaced(server) -> None:
    process, port = server
    before = _worker_pids(process.pid)
    victim = sorted(before)[0]
    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: len(_worker_pids(process.pid) - before) == 1 and _healthy(port))
    assert len(_worker_pids(process.pid)) == 2


def test_workers_stop_when_the_supervisor_is_killed(server) -> None:
    process, port = server
    workers = _worker_pids(process.pid)
    assert len(workers) == 2
    process.kill()  # SIGKILL: the supervisor cannot tell its workers anything
    process.wait(10)
    _wait_for(lambda: not any(_alive(pid) for pid in workers))
    assert not _healthy(port)


def _open_sockets(pid: int) -> int:
    """Established TCP connections a process holds (its accepted clients)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    established = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and fields[9] in inodes:  # 01 = ESTABLISHED
                established += 1
    return established
