"""Benchmark the vault: raw ciphers, the token service in process, and `/v1/tokens` over HTTP.

Prints, in one run on one machine:
- raw FF1 (fastfpe, AES-256) on 16-digit PANs, one call at a time and through
  `FastFpeCipher.encrypt_batch`; raw AES-256-GCM seal and open of 16 bytes (`cryptography`'s
  AESGCM): what a vault token's sealed value costs. Median of 5 rounds of `--count`.
- `PanFormat` alone (the format-preserving format, no storage): single and batch tokenize,
  batch detokenize.
- `TokenService` as `build_services` makes it, on a SQLite file, one tenant per style, for
  `fpe_deterministic`, `vault_deterministic` and `vault_random` PANs (and email for the vault
  styles): tokenize one value per call and `--batch` per call, each round on fresh values
  (first-time tokenization), re-tokenizing known values in batch (deterministic styles: the
  lookup path), detokenize one per call and in batch. Median of 3 rounds.
- over HTTP (unless `--no-http`): `payguard serve` (`--workers`, default 1) on its own SQLite
  file, `POST /v1/tokens` single and batch and `POST /v1/tokens/detokenize` batch per style,
  from `--connections` keep-alive clients, one timed pass each.

Values/s per line, with the ratio to raw FF1 (format-preserving) or to raw AES-GCM seal
(tokenize) / open (detokenize) for the vault styles. Detokenizing is limited to 5,000 values
a minute per caller (`DetokenizeAllowance`): the benchmark leaves the limit on and spreads
its calls over several callers (in process, several actors; over HTTP, several admin API
keys), none asking for more than the limit.

Targets (issue 14): in-process batch tokenization >= 0.5x raw FF1; >= 20,000
format-preserving PAN tokenizations/s on one core in batch; an assessment with a card costs
<= 10% more than one without (that one is `benchmarks/assess.py --cards`).
Usage: python benchmarks/vault.py [--quick] [--count N] [--batch B] [--service-count N]
    [--single N] [--no-http] [--http-count N] [--http-single N] [--workers W]
    [--connections C]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastfpe import ff1

from payguard.audit.interfaces import Actor
from payguard.core.pan import luhn_valid
from payguard.services import Services, build_services
from payguard.settings import Settings
from payguard.tenancy.interfaces import Role
from payguard.vault.formats import PanFormat, tweak_for
from payguard.vault.fpe import FastFpeCipher
from payguard.vault.interfaces import TokenStyle

ROUNDS = 5
SERVICE_ROUNDS = 3
#: Clear values per minute per caller (`vault.service.DetokenizeAllowance`'s default).
ALLOWANCE = 5000
#: A purpose the default vault policy lets an admin detokenize for.
PURPOSE = "fraud_investigation"
BENCH = Actor.system("bench")
STYLES = (TokenStyle.FPE_DETERMINISTIC, TokenStyle.VAULT_DETERMINISTIC, TokenStyle.VAULT_RANDOM)


def rate(work: Callable[[], object], count: int) -> float:
    """Operations per second of `work` (which does `count` operations), median of ROUNDS."""
    return rate_rounds([work] * ROUNDS, count)


def rate_rounds(works: list[Callable[[], object]], count: int) -> float:
    """Operations per second, the median over `works` (one round each, `count` operations)."""
    figures = []
    for work in works:
        started = time.perf_counter()
        work()
        figures.append(count / (time.perf_counter() - started))
    return statistics.median(figures)


def pan_stream(seed: int) -> Iterator[str]:
    """Distinct Luhn-valid 16-digit PANs (BIN 4...), never one twice."""
    generator = random.Random(seed)
    seen: set[str] = set()
    while True:
        body = "4" + "".join(generator.choice("0123456789") for _ in range(14))
        pan = next(body + d for d in "0123456789" if luhn_valid(body + d))
        if pan not in seen:
            seen.add(pan)
            yield pan


def pans(count: int, seed: int = 14) -> list[str]:
    stream = pan_stream(seed)
    return [next(stream) for _ in range(count)]


def email_stream(seed: int) -> Iterator[str]:
    """Distinct email addresses."""
    generator = random.Random(seed)
    for n in range(10**12):
        name = "".join(generator.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
        yield f"{name}.{n}@example.com"
    raise AssertionError("unreachable")  # pragma: no cover


def take(stream: Iterator[str], count: int) -> list[str]:
    return [next(stream) for _ in range(count)]


def chunks(values: list[str], size: int) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def line(
    label: str, value: float, ratio: float | None = None, versus: str = "raw FF1", note: str = ""
) -> None:
    extra = f"  {ratio:6.3f}x {versus}" if ratio is not None else ""
    print(f"{label:<56} {value:9,.0f} /s{extra}{note}")


@dataclass(frozen=True, slots=True)
class Raw:
    """The raw cipher figures every other line is compared with."""

    ff1: float
    seal: float
    open: float

    def versus(self, style: TokenStyle, detokenize: bool) -> tuple[float, str]:
        if style is TokenStyle.FPE_DETERMINISTIC:
            return self.ff1, "raw FF1"
        if detokenize:
            return self.open, "raw AES-GCM open"
        return self.seal, "raw AES-GCM seal"


def raw_and_format(count: int, batch: int) -> tuple[Raw, float]:
    """Raw FF1, raw AES-GCM and `PanFormat` alone; the raw figures and the format's batch
    tokenization rate."""
    key = os.urandom(32)
    tweak = tweak_for("bench-tenant", "pan")
    values = pans(count)
    batches = chunks(values, batch)
    key_hex, tweak_hex = key.hex(), tweak.hex()
    cipher = FastFpeCipher()
    fmt = PanFormat(keep_last4=True, cipher=cipher)

    def raw_single() -> None:
        for pan in values:
            ff1.encrypt(key_hex, tweak_hex, "0123456789", pan)

    def raw_batch() -> None:
        for chunk in batches:
            cipher.encrypt_batch(key, tweak, 10, chunk)

    raw = rate(raw_single, count)
    line("raw FF1 (fastfpe) 16 digits, single", raw)
    raw_b = rate(raw_batch, count)
    line(f"raw FF1 FastFpeCipher.encrypt_batch ({batch})", raw_b, raw_b / raw)

    aead = AESGCM(key)
    nonce, plain = os.urandom(12), os.urandom(16)
    sealed = aead.encrypt(nonce, plain, b"tenant|pan")
    seal = rate(lambda: [aead.encrypt(nonce, plain, b"tenant|pan") for _ in values], count)
    line("raw AES-256-GCM seal 16 bytes", seal)
    opened = rate(lambda: [aead.decrypt(nonce, sealed, b"tenant|pan") for _ in values], count)
    line("raw AES-256-GCM open 16 bytes", opened)

    def tokenize_single() -> None:
        for pan in values:
            fmt.tokenize(pan, key=key, version=3, tweak=tweak)

    def tokenize_batch() -> None:
        for chunk in batches:
            fmt.tokenize_batch(chunk, key=key, version=3, tweak=tweak)

    tokens = [t for b in batches for t in fmt.tokenize_batch(b, key=key, version=3, tweak=tweak)]
    token_batches = chunks(tokens, batch)
    assert [
        v for b in token_batches for v in fmt.detokenize_batch(b, key=key, tweak=tweak)
    ] == values

    def detokenize_batch() -> None:
        for chunk in token_batches:
            fmt.detokenize_batch(chunk, key=key, tweak=tweak)

    single = rate(tokenize_single, count)
    line("PanFormat tokenize (no storage), single", single, single / raw)
    batched = rate(tokenize_batch, count)
    line(f"PanFormat tokenize (no storage), batch ({batch})", batched, batched / raw)
    back = rate(detokenize_batch, count)
    line(f"PanFormat detokenize (no storage), batch ({batch})", back, back / raw)
    return Raw(ff1=raw, seal=seal, open=opened), batched


@dataclass
class Callers:
    """Detokenizing actors, a new one whenever the current one would pass ALLOWANCE values
    (over a benchmark that lasts well under a minute, each asks for at most the limit)."""

    used: int = 0
    made: int = 0

    def next(self, count: int) -> Actor:
        if not self.made or self.used + count > ALLOWANCE:
            self.made += 1
            self.used = 0
        self.used += count
        return Actor.system(f"bench-detokenize-{self.made}")


def in_process(workdir: Path, raw: Raw, *, count: int, batch: int, single: int) -> dict[str, float]:
    """The token service per style; the figures by label (for the targets)."""
    services = build_services(Settings(database_url=f"sqlite:///{workdir}/vault.db"))
    results: dict[str, float] = {}
    print(
        f"\nTokenService on SQLite ({workdir.name}/vault.db), median of {SERVICE_ROUNDS} rounds: "
        f"batch {count:,} values in calls of {batch}, single {single:,} calls of one value"
    )
    try:
        for n, style in enumerate(STYLES):
            results |= _style(
                services, raw, style, "pan", pan_stream(100 + n), count, batch, single
            )
        for n, style in enumerate(STYLES[1:]):
            results |= _style(services, raw, style, "email", email_stream(200 + n), count, batch, 0)
    finally:
        services.close()
    return results


def _style(
    services: Services,
    raw: Raw,
    style: TokenStyle,
    kind: str,
    values: Iterator[str],
    count: int,
    batch: int,
    single: int,
) -> dict[str, float]:
    tenant, _ = services.tenants.create_tenant(f"bench-{kind}-{style.value}", actor=BENCH)
    service = services.tokens
    callers = Callers()

    def tokenize(chunk: list[str]) -> list[str]:
        made = service.tokenize(tenant.id, kind, chunk, actor=BENCH, style=style)
        return [t.token for t in made]

    def detokenize(chunk: list[str]) -> list[str]:
        actor = callers.next(len(chunk))
        return service.detokenize(tenant.id, chunk, purpose=PURPOSE, role=Role.ADMIN, actor=actor)

    # First use creates the tenant's data keys: not part of any round.
    warm = take(values, batch)
    assert detokenize(tokenize(warm)) == warm

    results: dict[str, float] = {}
    label = f"{kind} {style.value}"

    def report(what: str, figure: float, *, back: bool = False) -> None:
        base, versus = raw.versus(style, back)
        line(f"{label}: {what}", figure, figure / base, versus)
        results[f"{label}: {what}"] = figure

    rounds = [chunks(take(values, count), batch) for _ in range(SERVICE_ROUNDS)]
    made: list[list[str]] = []

    def batch_round(chunked: list[list[str]]) -> Callable[[], object]:
        return lambda: made.append([t for chunk in chunked for t in tokenize(chunk)])

    report(
        f"tokenize new, batch ({batch})",
        rate_rounds([batch_round(r) for r in rounds], count),
    )
    first = [v for chunk in rounds[0] for v in chunk]
    if style is not TokenStyle.VAULT_RANDOM:
        again = [t for chunk in rounds[0] for t in tokenize(chunk)]
        assert again == made[0], "a deterministic style gave a known value a new token"
        report(
            f"tokenize known, batch ({batch})",
            rate_rounds([lambda: [tokenize(c) for c in rounds[0]]] * SERVICE_ROUNDS, count),
        )
    token_chunks = chunks(made[0], batch)
    assert [v for c in token_chunks for v in detokenize(c)] == first
    report(
        f"detokenize, batch ({batch})",
        rate_rounds([lambda: [detokenize(c) for c in token_chunks]] * SERVICE_ROUNDS, count),
        back=True,
    )
    if single:
        ones = [take(values, single) for _ in range(SERVICE_ROUNDS)]
        singles: list[list[str]] = []

        def single_round(chunk: list[str]) -> Callable[[], object]:
            return lambda: singles.append([tokenize([v])[0] for v in chunk])

        report("tokenize new, single", rate_rounds([single_round(c) for c in ones], single))
        report(
            "detokenize, single",
            rate_rounds([lambda: [detokenize([t]) for t in singles[0]]] * SERVICE_ROUNDS, single),
            back=True,
        )
    return results


# -- over HTTP ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Request = tuple[bytes, bytes]  # (head without Content-Length, body)


async def _connection(
    port: int, requests: list[tuple[int, Request]], out: dict[int, tuple[int, bytes]]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while requests:
            n, (head, body) = requests.pop()
            writer.write(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status_line = await reader.readline()
            length = 0
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b""):
                    break
                if header[:15].lower() == b"content-length:":
                    length = int(header[15:])
            out[n] = (int(status_line.split()[1]), await reader.readexactly(length))
    finally:
        writer.close()


def send(port: int, requests: list[Request], connections: int) -> tuple[float, list[bytes], str]:
    """Send `requests` over `connections` keep-alive connections (each takes the next one
    off a shared stack); the seconds it took, the response bodies in order, and the status
    counts (`201: 10`)."""
    stack = list(reversed(list(enumerate(requests))))
    out: dict[int, tuple[int, bytes]] = {}

    async def run() -> None:
        await asyncio.gather(*(_connection(port, stack, out) for _ in range(connections)))

    started = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - started
    codes: dict[int, int] = {}
    for code, _ in out.values():
        codes[code] = codes.get(code, 0) + 1
    shown = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items()))
    return elapsed, [out[n][1] for n in range(len(requests))], shown


def head(path: str, key: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\n"
    ).encode()


def over_http(
    workdir: Path, raw: Raw, *, count: int, batch: int, single: int, workers: int, conns: int
) -> None:
    """`POST /v1/tokens` single and batch, `POST /v1/tokens/detokenize` batch, per style."""
    settings = Settings(database_url=f"sqlite:///{workdir}/http.db")
    services = build_services(settings)
    keys: dict[TokenStyle, tuple[str, list[str]]] = {}
    for style in STYLES:
        tenant, service_key = services.tenants.create_tenant(
            f"http-{style.value}", actor=BENCH, role=Role.SERVICE
        )
        # Admin keys to detokenize with, issued before the server starts: each is used for
        # at most ALLOWANCE values.
        admins = [
            services.tenants.issue_key(tenant.id, role=Role.ADMIN, actor=BENCH)[1]
            for _ in range(-(-count // batch // (ALLOWANCE // batch)))
        ]
        keys[style] = (service_key, admins)
    services.close()
    env = {
        **os.environ,
        "PAYGUARD_DATABASE_URL": settings.database_url,
        "PAYGUARD_LOG_LEVEL": "WARNING",
    }
    payguard = str(Path(sys.executable).with_name("payguard"))
    port = free_port()
    server = subprocess.Popen(
        [payguard, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    admin_keys = 0
    print(
        f"\nover HTTP: payguard serve, {workers} worker{'s' * (workers > 1)}, SQLite, "
        f"{conns} keep-alive connections; one pass each: POST /v1/tokens single "
        f"({single:,} requests) and batch, POST /v1/tokens/detokenize batch ({count:,} values "
        f"in requests of {batch}); [HTTP statuses: count]"
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        for n, style in enumerate(STYLES):
            service_key, admins = keys[style]
            values = pan_stream(300 + n)
            tokenize_head = head("/v1/tokens", service_key)

            def tokenize_body(chunk: list[str], style: TokenStyle = style) -> bytes:
                if len(chunk) == 1:
                    return orjson.dumps({"kind": "pan", "value": chunk[0], "style": style.value})
                return orjson.dumps({"kind": "pan", "values": chunk, "style": style.value})

            def detokenize_request(
                n: int, tokens: list[str], admins: list[str] = admins
            ) -> Request:
                key = admins[n // (ALLOWANCE // batch)]
                body = orjson.dumps({"tokens": tokens, "purpose": PURPOSE})
                return head("/v1/tokens/detokenize", key), body

            # Warm up: the tenant's data keys and each worker's caches.
            warm = take(values, batch)
            for _ in range(2 * workers):
                send(port, [(tokenize_head, tokenize_body(warm))], 1)
            label = f"HTTP pan {style.value}"

            requests = [(tokenize_head, tokenize_body([v])) for v in take(values, single)]
            elapsed, _, codes = send(port, requests, conns)
            base, versus = raw.versus(style, False)
            line(
                f"{label}: tokenize new, single",
                single / elapsed,
                single / elapsed / base,
                versus,
                f"  [{codes}]",
            )

            plain = chunks(take(values, count), batch)
            requests = [(tokenize_head, tokenize_body(chunk)) for chunk in plain]
            elapsed, bodies, codes = send(port, requests, conns)
            line(
                f"{label}: tokenize new, batch ({batch})",
                count / elapsed,
                count / elapsed / base,
                versus,
                f"  [{codes}]",
            )
            tokens = [[t["token"] for t in orjson.loads(b)["tokens"]] for b in bodies]

            requests = [detokenize_request(i, chunk) for i, chunk in enumerate(tokens)]
            admin_keys += len({h for h, _ in requests})
            elapsed, bodies, codes = send(port, requests, conns)
            base, versus = raw.versus(style, True)
            line(
                f"{label}: detokenize, batch ({batch})",
                count / elapsed,
                count / elapsed / base,
                versus,
                f"  [{codes}]",
            )
            back = [v["value"] for b in bodies for v in orjson.loads(b)["values"]]
            assert back == [v for chunk in plain for v in chunk], "detokenized values differ"
    finally:
        server.terminate()
        server.wait(10)
    print(
        f"detokenize over HTTP: {admin_keys} admin API keys, each asked for at most "
        f"{ALLOWANCE:,} values (the per-caller limit a minute, left on)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts (about 30 s)")
    parser.add_argument("--count", type=int, help="PANs per raw round [20,000; quick 5,000]")
    parser.add_argument("--batch", type=int, default=1_000, help="values per batch call")
    parser.add_argument(
        "--service-count", type=int, help="values per TokenService batch round [10,000; 2,000]"
    )
    parser.add_argument(
        "--single", type=int, help="TokenService one-value calls per round [500; 100]"
    )
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP figures")
    parser.add_argument("--http-count", type=int, help="values per HTTP batch pass [10,000; 2,000]")
    parser.add_argument("--http-single", type=int, help="HTTP one-value requests [1,000; 200]")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--connections", type=int, default=2, help="HTTP keep-alive clients")
    args = parser.parse_args()
    quick = args.quick

    def sized(given: int | None, full: int, small: int) -> int:
        chosen = given if given is not None else small if quick else full
        batch: int = args.batch
        return max(batch, chosen // batch * batch)

    count = sized(args.count, 20_000, 5_000)
    service_count = sized(args.service_count, 10_000, 2_000)
    http_count = sized(args.http_count, 10_000, 2_000)
    single = args.single if args.single is not None else 100 if quick else 500
    http_single = args.http_single if args.http_single is not None else 200 if quick else 1_000

    started = time.perf_counter()
    today = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {today}")
    print(f"one thread, median of {ROUNDS} rounds of {count:,}; load average {load:.2f}")
    raw, format_batch = raw_and_format(count, args.batch)
    with tempfile.TemporaryDirectory() as tmp:
        results = in_process(Path(tmp), raw, count=service_count, batch=args.batch, single=single)
        if not args.no_http:
            over_http(
                Path(tmp),
                raw,
                count=http_count,
                batch=args.batch,
                single=http_single,
                workers=args.workers,
                conns=args.connections,
            )
    fpe = results[f"pan fpe_deterministic: tokenize new, batch ({args.batch})"]
    print(f"\ntargets (issue 14), run took {time.perf_counter() - started:.0f} s:")
    verdict = "met" if fpe >= 0.5 * raw.ff1 else "NOT met"
    print(
        f"- in-process batch tokenization >= 0.5x raw FF1: {verdict} (TokenService "
        f"fpe_deterministic {fpe:,.0f}/s = {fpe / raw.ff1:.2f}x of {raw.ff1:,.0f}/s; "
        f"PanFormat alone {format_batch / raw.ff1:.2f}x)"
    )
    verdict = "met" if fpe >= 20_000 else "NOT met"
    print(
        f"- >= 20,000 format-preserving PAN tokenizations/s on one core in batch: {verdict} "
        f"({fpe:,.0f}/s through TokenService on SQLite; {format_batch:,.0f}/s PanFormat alone)"
    )
    print(
        "- an assessment with a card <= 1.10x one without: measured by "
        "`python benchmarks/assess.py --cards --no-http` (its `card cost:` line), not here"
    )


if __name__ == "__main__":
    main()
