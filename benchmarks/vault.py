"""Benchmark the vault's format-preserving path: raw FF1 against PAN tokenization on top of it.

Prints, on one thread, the median of 5 rounds each:
- raw FF1 (fastfpe, AES-256) on 16-digit PANs, one call at a time and through
  `FastFpeCipher.encrypt_batch`;
- raw AES-256-GCM seal and open of 16 bytes (`cryptography`'s AESGCM), for scale: what a
  random vault token's sealed value costs;
- `PanFormat` tokenization (last four kept, the key version in the token, Luhn failing),
  single and batch, and batch detokenization, each with its ratio to raw FF1.

Targets (issue 14): >= 20,000 format-preserving PAN tokenizations/s in batch, and batch at
>= 0.5x raw FF1. Usage: python benchmarks/vault.py [--count N] [--batch B]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastfpe import ff1

from payguard.core.pan import luhn_valid
from payguard.vault.formats import PanFormat, tweak_for
from payguard.vault.fpe import FastFpeCipher

ROUNDS = 5


def rate(work: Callable[[], object], count: int) -> float:
    """Operations per second of `work` (which does `count` operations), median of ROUNDS."""
    figures = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        work()
        figures.append(count / (time.perf_counter() - started))
    return statistics.median(figures)


def pans(count: int, seed: int = 14) -> list[str]:
    generator = random.Random(seed)
    found = []
    while len(found) < count:
        body = "4" + "".join(generator.choice("0123456789") for _ in range(14))
        found.append(next(body + d for d in "0123456789" if luhn_valid(body + d)))
    return found


def line(label: str, value: float, ratio: float | None = None) -> None:
    extra = f"   {ratio:5.2f}x raw FF1" if ratio is not None else ""
    print(f"{label:<44} {value:12,.0f} /s{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="PANs per single round")
    parser.add_argument("--batch", type=int, default=1_000, help="PANs per batch call")
    args = parser.parse_args()
    count = max(args.batch, args.count // args.batch * args.batch)

    today = datetime.now(UTC).strftime("%Y-%m-%d")
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {today}")
    print(f"one thread, median of {ROUNDS} rounds of {count:,}; load average {load:.2f}")

    key = os.urandom(32)
    tweak = tweak_for("bench-tenant", "pan")
    values = pans(count)
    batches = [values[i : i + args.batch] for i in range(0, count, args.batch)]
    key_hex, tweak_hex = key.hex(), tweak.hex()
    cipher = FastFpeCipher()
    fmt = PanFormat(keep_last4=True, cipher=cipher)

    def raw_single() -> None:
        for pan in values:
            ff1.encrypt(key_hex, tweak_hex, "0123456789", pan)

    def raw_batch() -> None:
        for batch in batches:
            cipher.encrypt_batch(key, tweak, 10, batch)

    raw = rate(raw_single, count)
    line("raw FF1 (fastfpe) 16 digits, single", raw)
    raw_b = rate(raw_batch, count)
    line(f"raw FF1 FastFpeCipher.encrypt_batch ({args.batch})", raw_b, raw_b / raw)

    aead = AESGCM(key)
    nonce, plain = os.urandom(12), os.urandom(16)
    sealed = aead.encrypt(nonce, plain, b"tenant|pan")
    line(
        "raw AES-256-GCM seal 16 bytes",
        rate(lambda: [aead.encrypt(nonce, plain, b"tenant|pan") for _ in values], count),
    )
    line(
        "raw AES-256-GCM open 16 bytes",
        rate(lambda: [aead.decrypt(nonce, sealed, b"tenant|pan") for _ in values], count),
    )

    def tokenize_single() -> None:
        for pan in values:
            fmt.tokenize(pan, key=key, version=3, tweak=tweak)

    def tokenize_batch() -> None:
        for batch in batches:
            fmt.tokenize_batch(batch, key=key, version=3, tweak=tweak)

    tokens = [t for b in batches for t in fmt.tokenize_batch(b, key=key, version=3, tweak=tweak)]
    token_batches = [tokens[i : i + args.batch] for i in range(0, count, args.batch)]
    assert [
        v for b in token_batches for v in fmt.detokenize_batch(b, key=key, tweak=tweak)
    ] == values

    def detokenize_batch() -> None:
        for batch in token_batches:
            fmt.detokenize_batch(batch, key=key, tweak=tweak)

    single = rate(tokenize_single, count)
    line("PAN FPE tokenize, single", single, single / raw)
    batched = rate(tokenize_batch, count)
    line(f"PAN FPE tokenize, batch ({args.batch})", batched, batched / raw)
    back = rate(detokenize_batch, count)
    line(f"PAN FPE detokenize, batch ({args.batch})", back, back / raw)
    verdict = "met" if batched >= 20_000 and batched >= 0.5 * raw else "NOT met"
    print(f"target >= 20,000/s in batch and >= 0.5x raw FF1: {verdict}")


if __name__ == "__main__":
    main()
