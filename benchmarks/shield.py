"""Data Shield benchmark: the scanner against a labelled PII corpus (issue 15).

Generates the corpus of `benchmarks/shield_corpus.py` (seeded Faker en_US and zh_CN documents:
support chats, transfer memos, KYC notes, merchant onboarding forms, log lines and JSON
snippets, with planted entities at known offsets and look-alike distractors; the module's
docstring has the labelling rules), scans every document with `Scanner.default()` and prints,
per entity, the labels, the findings, and precision, recall, F1 and F2 under exact span
matching and under overlap matching; then how often each kind of distractor was reported,
the throughput (UTF-8 bytes of the documents over the seconds spent in `scan`, one thread,
median of `--passes` passes; MB = 10^6 bytes), the throughput on Faker prose in which 0 %,
10 %, 30 % and 100 % of the sentences are replaced by corpus documents (text of a known
density of personal data), and last the headline, micro-averaged over the
structured identifiers (card, IBAN, resident id, phone, email) under exact matching:
`structured identifiers: precision P recall R F1 F`.

`--jsonl-mb N` measures memory instead: it writes a JSON Lines file of about N MB to a
temporary directory (one object a line with the document in `text`; the documents of a
2,000-document corpus repeated with fresh ids, so writing is fast and nothing is held), then
streams it line by line through `Scanner.scan_document` and prints the seconds, MB/s and the
process's peak RSS (`ru_maxrss`, which covers the whole process: imports, writing, scanning).

Targets (issue 15): F1 >= 0.95 on the structured identifiers; >= 2 MB/s per core; a multi-GB
JSON Lines file in < 300 MB of memory.

Usage: python benchmarks/shield.py [--seed 1] [--docs 10000] [--passes 3] [--errors N]
       python benchmarks/shield.py --jsonl-mb 2000 [--seed 1]
       python benchmarks/shield.py --jsonl-mb 2000 --write-jsonl big.jsonl   # for the CLI
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson
from shield_corpus import (
    PLANTED,
    Counts,
    Document,
    generate,
    headline,
    micro,
    ratio,
    score,
)

from payguard.shield.interfaces import STRUCTURED, Entity, Finding
from payguard.shield.scanner import Scanner

MB = 1_000_000
JSONL_POOL = 2_000


def _row(name: str, exact: Counts, overlap: Counts) -> str:
    cells = [f"{name:<18}{exact.labelled:>8,}{exact.found:>8,} "]
    for counts in (exact, overlap):
        p_defined, r_defined = counts.found > 0, counts.labelled > 0
        both = p_defined and r_defined
        cells.append(
            f" {ratio(counts.precision, p_defined)} {ratio(counts.recall, r_defined)}"
            f" {ratio(counts.f1, both)} {ratio(counts.f2, both)} "
        )
    return "|".join(cells).rstrip()


def scan_corpus(
    scanner: Scanner, docs: Sequence[Document], passes: int
) -> tuple[list[list[Finding]], list[float]]:
    """The findings of each document (first pass) and the seconds each pass took."""
    scanner.scan(docs[0].text)  # warm up: anything compiled on first use
    seconds: list[float] = []
    kept: list[list[Finding]] = []
    for round_ in range(passes):
        found: list[list[Finding]] = []
        started = time.perf_counter()
        for doc in docs:
            found.append(scanner.scan(doc.text))
        seconds.append(time.perf_counter() - started)
        if round_ == 0:
            kept = found
    return kept, seconds


def print_errors(docs: Sequence[Document], findings: Sequence[list[Finding]], limit: int) -> None:
    """Up to `limit` missed labels and false findings of each structured entity, in context."""
    misses: dict[Entity, list[str]] = {entity: [] for entity in STRUCTURED}
    false: dict[Entity, list[str]] = {entity: [] for entity in STRUCTURED}
    for doc, found in zip(docs, findings, strict=True):
        exact = {(f.start, f.end, f.entity) for f in found}
        labelled = {(lab.start, lab.end, lab.entity) for lab in doc.labels}

        def context(start: int, end: int, text: str = doc.text) -> str:
            before = text[max(0, start - 24) : start].replace("\n", " ")
            after = text[end : end + 16].replace("\n", " ")
            return f"{before}[[{text[start:end]}]]{after}"

        for lab in doc.labels:
            if lab.entity in misses and (lab.start, lab.end, lab.entity) not in exact:
                near = [
                    f"{f.entity.value}:{doc.text[f.start : f.end]!r}"
                    for f in found
                    if f.start < lab.end and lab.start < f.end
                ]
                misses[lab.entity].append(f"{context(lab.start, lab.end)}  found {near or '-'}")
        for f in found:
            if f.entity in false and (f.start, f.end, f.entity) not in labelled:
                false[f.entity].append(f"{context(f.start, f.end)}  ({f.recognizer})")
    for entity in sorted(STRUCTURED):
        for title, lines in (("missed", misses[entity]), ("false", false[entity])):
            if lines:
                print(f"\n{entity.value} {title} ({len(lines):,}), first {min(limit, len(lines))}:")
                for line in lines[:limit]:
                    print(f"  {line}")


#: Shares of sentences that hold personal data, for the throughput-by-density table.
DENSITIES = (0.0, 0.1, 0.3, 1.0)


def density_texts(docs: Sequence[Document], *, seed: int, share: float) -> list[str]:
    """Texts of Faker prose (en_US and zh_CN, 4-8 sentences each) in which each sentence is
    replaced, with probability `share`, by one of the corpus's documents (every one of which
    holds personal data or look-alikes): text of a known density of entities."""
    import random

    from faker import Faker

    rng = random.Random(seed)
    fakers = (Faker("en_US"), Faker("zh_CN"))
    for index, faker in enumerate(fakers):
        faker.seed_instance(seed * 10 + index)
    texts = []
    for number in range(len(docs)):
        faker = fakers[number % 2]
        sentences = [
            docs[rng.randrange(len(docs))].text if rng.random() < share else faker.sentence()
            for _ in range(rng.randint(4, 8))
        ]
        texts.append(" ".join(sentences))
    return texts


def print_density(scanner: Scanner, docs: Sequence[Document], *, seed: int, passes: int) -> None:
    """Throughput on text of known densities of personal data (one thread, median pass)."""
    print("throughput by density (share of sentences with personal data; one thread):")
    for share in DENSITIES:
        texts = density_texts(docs, seed=seed, share=share)
        size = sum(len(text.encode("utf-8")) for text in texts)
        seconds = []
        for _ in range(passes):
            started = time.perf_counter()
            for text in texts:
                scanner.scan(text)
            seconds.append(time.perf_counter() - started)
        rate = size / MB / statistics.median(seconds)
        print(f"  {share:4.0%} of sentences  {rate:5.2f} MB/s  ({size / MB:.2f} MB)")


def run_corpus(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    docs = list(generate(seed=args.seed, docs=args.docs))
    generated = time.perf_counter() - started
    size = sum(len(doc.text.encode("utf-8")) for doc in docs)
    locales = Counter(doc.locale for doc in docs)
    scanner = Scanner.default()
    findings, seconds = scan_corpus(scanner, docs, args.passes)

    exact = {entity: Counts() for entity in Entity}
    overlap = {entity: Counts() for entity in Entity}
    distractors: Counter[str] = Counter()
    reported: Counter[str] = Counter()
    reported_as: dict[str, Counter[str]] = {}
    for doc, found in zip(docs, findings, strict=True):
        doc_exact, doc_overlap = score(doc.labels, found)
        for entity in Entity:
            exact[entity].add(doc_exact[entity])
            overlap[entity].add(doc_overlap[entity])
        for distractor in doc.distractors:
            distractors[distractor.kind] += 1
            hits = [f for f in found if f.start < distractor.end and distractor.start < f.end]
            if hits:
                reported[distractor.kind] += 1
                reported_as.setdefault(distractor.kind, Counter()).update(
                    f.entity.value for f in hits
                )

    today = datetime.now(UTC).date().isoformat()
    print(
        f"Data Shield corpus: {len(docs):,} documents ({locales['en_US']:,} en_US, "
        f"{locales['zh_CN']:,} zh_CN), seed {args.seed}, {size / MB:.2f} MB UTF-8, "
        f"{sum(len(doc.labels) for doc in docs):,} labels, "
        f"{sum(distractors.values()):,} distractors; generated in {generated:.1f} s"
    )
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {today}, "
        f"load average {os.getloadavg()[0]:.2f}; scanner: Scanner.default(), one thread\n"
    )
    print(f"{'entity':<18}{'labels':>8}{'found':>8} | exact{'':23}| overlap")
    print(f"{'':<34}|{'':2}{'P':<7}{'R':<7}{'F1':<7}{'F2':<6}|{'':2}{'P':<7}{'R':<7}{'F1':<7}F2")
    shown = [e for e in Entity if e in PLANTED or exact[e].found]
    for entity in shown:
        print(_row(entity.value, exact[entity], overlap[entity]))
    print(_row("structured (micro)", micro(exact, STRUCTURED), micro(overlap, STRUCTURED)))
    print(_row("all (micro)", micro(exact, shown), micro(overlap, shown)))

    print("\ndistractors reported (any overlapping finding):")
    for kind, count in sorted(distractors.items()):
        as_ = ", ".join(f"{e} {n}" for e, n in reported_as.get(kind, Counter()).most_common(3))
        print(f"  {kind:<18}{reported[kind]:>6,} of {count:>6,}" + (f"  as {as_}" if as_ else ""))

    if args.errors:
        print_errors(docs, findings, args.errors)

    rates = [size / MB / s for s in seconds]
    print(
        f"\nthroughput: {statistics.median(rates):.2f} MB/s (median of {len(rates)} passes; "
        f"best {max(rates):.2f}), {statistics.median(seconds):.2f} s a pass, "
        f"{len(docs) / statistics.median(seconds):,.0f} documents/s"
    )
    print_density(scanner, docs, seed=args.seed, passes=args.passes)
    strict = micro(exact, STRUCTURED)
    print(
        f"targets (issue 15): structured F1 {strict.f1:.3f} (>= 0.95), "
        f"{statistics.median(rates):.2f} MB/s a core (>= 2)"
    )
    print(headline(strict))


def write_jsonl(path: Path, *, seed: int, target_bytes: int) -> tuple[int, int]:
    """A JSON Lines file of at least `target_bytes`; its lines and bytes."""
    pool = [
        {
            "locale": doc.locale,
            "channel": doc.shape,
            "received_at": f"2026-12-04T{doc.doc_id % 24:02d}:{doc.doc_id % 60:02d}:00Z",
            "text": doc.text,
        }
        for doc in generate(seed=seed, docs=JSONL_POOL)
    ]
    written = lines = 0
    with path.open("wb") as out:
        while written < target_bytes:
            line = orjson.dumps({"id": lines, **pool[lines % len(pool)]}) + b"\n"
            out.write(line)
            written += len(line)
            lines += 1
    return lines, written


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_jsonl(args: argparse.Namespace) -> None:
    scanner = Scanner.default()
    with tempfile.TemporaryDirectory(prefix="payguard-shield-") as folder:
        path = Path(folder) / "corpus.jsonl"
        started = time.perf_counter()
        lines, size = write_jsonl(path, seed=args.seed, target_bytes=int(args.jsonl_mb * MB))
        print(
            f"wrote {path.name}: {lines:,} lines, {size / MB:,.1f} MB "
            f"in {time.perf_counter() - started:.1f} s"
        )
        scanner.scan_document({"text": "warm up 4111 1111 1111 1111"})
        before = _rss_mb()
        found: Counter[str] = Counter()
        started = time.perf_counter()
        with path.open("rb") as source:
            for line in source:
                for hit in scanner.scan_document(orjson.loads(line)):
                    found[hit.finding.entity.value] += 1
        seconds = time.perf_counter() - started
    print(
        f"scanned {lines:,} lines in {seconds:.1f} s: {size / MB / seconds:.2f} MB/s "
        f"(JSON parsing included, one thread)"
    )
    kinds = ", ".join(f"{entity} {count:,}" for entity, count in found.most_common())
    print(f"findings: {sum(found.values()):,} ({kinds})")
    print(f"peak RSS {_rss_mb():.0f} MB (before the scan {before:.0f} MB; target < 300 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=3, help="timed scans of the corpus")
    parser.add_argument(
        "--errors", type=int, default=0, help="print N missed and N false findings per entity"
    )
    parser.add_argument(
        "--jsonl-mb", type=float, default=0, help="measure memory on a JSON Lines file of N MB"
    )
    parser.add_argument(
        "--write-jsonl",
        type=Path,
        help="only write the --jsonl-mb file here (for `payguard shield scan|redact` runs)",
    )
    args = parser.parse_args()
    if args.docs < 1 or args.passes < 1:
        parser.error("--docs and --passes are 1 or more")
    if args.write_jsonl:
        if not args.jsonl_mb:
            parser.error("--write-jsonl needs --jsonl-mb")
        lines, size = write_jsonl(
            args.write_jsonl, seed=args.seed, target_bytes=int(args.jsonl_mb * MB)
        )
        print(f"wrote {args.write_jsonl}: {lines:,} lines, {size / MB:,.1f} MB")
    elif args.jsonl_mb:
        run_jsonl(args)
    else:
        run_corpus(args)


if __name__ == "__main__":
    main()
