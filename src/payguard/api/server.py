"""Run the API: one uvicorn server per worker process, each on its own listening socket.

uvicorn's own multi-worker mode shares one listening socket between the workers, and asyncio
accepts every connection waiting on it in whichever worker wakes first. A partner's backend
opens its pool of keep-alive connections together, so they all land on one worker while the
others idle (seen here: 16 connections, 2 workers, no faster than 1). On Linux each worker
here binds its own socket with `SO_REUSEPORT` instead, and the kernel spreads new
connections across the workers' sockets.

The parent only supervises: it starts the workers, restarts one that dies, and on SIGTERM or
SIGINT asks them all to finish their requests and stop.

Every line any of these processes writes is a scrubbed JSON log line (`payguard.logconfig`):
uvicorn runs with `log_config=None`, so its loggers keep the JSON handler instead of
installing their own; the supervisor configures the logs before it says anything; and a
failure to start (a busy port, a store that does not answer, a worker that crashes) is logged
as an event with its traceback scrubbed, never printed raw.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import structlog

log = structlog.get_logger(__name__)

APP = "payguard.api.app:create_app"
#: Seconds the workers get to finish their requests after a stop signal.
GRACE_SECONDS = 10.0
#: Seconds between restarts of a worker that keeps dying.
RESTART_DELAY = 1.0


#: How every payguard server runs uvicorn, whichever way its workers are started. No
#: `log_config`: uvicorn's default one gives its loggers plain-text handlers of their own.
_OPTIONS: dict[str, Any] = {
    "factory": True,
    "access_log": False,
    "log_level": "warning",
    "log_config": None,
}


def _config(**extra: Any) -> Any:
    import uvicorn

    return uvicorn.Config(APP, **_OPTIONS, **extra)


def serve(host: str, port: int, workers: int) -> None:
    """Serve until stopped; several workers share the port through `SO_REUSEPORT` on Linux
    (elsewhere through uvicorn's shared socket). Exits with status 1, after logging why, if
    the server cannot start."""
    _configure_logs()
    try:
        _serve(host, port, workers)
    except Exception:
        log.exception("server.failed", host=host, port=port)
        raise SystemExit(1) from None


def _serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    if workers == 1:
        # uvicorn logs a busy port itself (`uvicorn.error`) and exits with status 1.
        uvicorn.Server(_config(host=host, port=port)).run()
        return
    if not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(APP, host=host, port=port, workers=workers, **_OPTIONS)
        return
    # Fail here, in the foreground, if the address cannot be bound at all.
    try:
        _listen(host, port).close()
    except OSError as exc:
        log.error("server.bind_failed", host=host, port=port, error=str(exc))
        raise SystemExit(1) from None
    _migrate()
    _supervise(host, port, workers)


def _migrate() -> None:
    """Bring the schema up to date once, before the workers start: several workers migrating
    a fresh database at once queue on its write lock and, on a slow machine, one can wait past
    the busy timeout and die. Each worker's own migrate is then a quick no-op."""
    from payguard.services import migrate_database

    migrate_database()


def _configure_logs() -> None:
    from payguard.logconfig import configure
    from payguard.settings import Settings

    configure(Settings().log_level)


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def _worker(host: str, port: int, supervisor: int) -> None:
    """One worker process: its own socket on the shared port, its own services."""
    import uvicorn

    _die_with(supervisor)
    _configure_logs()
    try:
        sock = _listen(host, port)
        uvicorn.Server(_config()).run(sockets=[sock])
    except Exception:
        # Logged scrubbed, not printed raw by multiprocessing; the supervisor restarts it.
        log.exception("worker.crashed", pid=os.getpid())
        raise SystemExit(1) from None


#: prctl(2) option: the signal the kernel sends this process when its parent dies.
_PR_SET_PDEATHSIG = 1


def _die_with(supervisor: int) -> None:
    """Stop when the supervisor dies, however it dies (even SIGKILL): orphaned workers would
    keep the port through SO_REUSEPORT and serve beside a new supervisor's workers."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not glibc/Linux: the supervisor's stop is all there is
        return
    if os.getppid() != supervisor:  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


def _supervise(host: str, port: int, workers: int) -> None:
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}

    def start() -> BaseProcess:
        process = context.Process(
            target=_worker, args=(host, port, os.getpid()), name="payguard-worker"
        )
        process.start()
        log.info("worker.started", pid=process.pid)
        return process

    running = [start() for _ in range(workers)]
    try:
        while not stopping:
            wait([p.sentinel for p in running], timeout=0.5)
            for index, process in enumerate(running):
                if process.exitcode is not None and not stopping:
                    log.warning("worker.died", pid=process.pid, exitcode=process.exitcode)
                    time.sleep(RESTART_DELAY)
                    running[index] = start()
                    log.warning("worker.restarted", pid=running[index].pid, replaces=process.pid)
    finally:
        for process in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes in-flight requests, then exits
        deadline = time.monotonic() + GRACE_SECONDS
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
