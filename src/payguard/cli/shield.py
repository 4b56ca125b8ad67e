"""`payguard shield`: Data Shield from the operator's shell.

`shield risk` measures how identifiable a data file still is (k-anonymity, l-diversity) before
it leaves the partner, and suggests the least generalisation that reaches a target k. It reads
the file as a stream and prints measures and rules only, never a value from the data.

`shield scan` counts the personal data in a CSV, JSON Lines or Parquet file per column (or
JSONPath); `shield redact` writes a redacted copy under a file policy (`shield.structured`).
Both stream the file on every core and print counts only. `--recognizers FILE` adds a YAML
file of the partner's own recognizers (`shield.custom`) to the built-in ones.

`shield recognizers show|set` reads and replaces a tenant's stored recognizers, the ones
`/v1/privacy` and `shield redact --tenant` use (`shield.stored`).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from payguard.audit.interfaces import Actor, AuditAction
from payguard.cli.context import domain_errors, print_table, table, tenant_named, text
from payguard.cli.context import services as _services
from payguard.core.errors import PayloadTooLarge, ValidationFailed
from payguard.shield.interfaces import Action, DataSetUnreadable, Entity, TextRedactor

if TYPE_CHECKING:  # numpy loads with the risk module: only when `shield risk` runs
    from payguard.shield.risk import ColumnKind, RiskReport, Suggestion
    from payguard.shield.scanner import Scanner
    from payguard.shield.stored import ActiveRecognizers
    from payguard.shield.structured import FilePolicy

shield_app = typer.Typer(
    no_args_is_help=True, help="Data Shield: personal data in files, and re-identification risk."
)


def _columns(given: str, option: str) -> list[str]:
    names = [name.strip() for name in given.split(",")]
    if not names or any(not name for name in names):
        raise ValidationFailed(f"{option}: a column name is empty", field=option)
    return names


def _kinds(given: list[str]) -> dict[str, ColumnKind]:
    from payguard.shield.risk import ColumnKind

    kinds: dict[str, ColumnKind] = {}
    for item in given:
        column, _, kind = item.partition("=")
        try:
            kinds[column.strip()] = ColumnKind(kind.strip().lower())
        except ValueError:
            raise ValidationFailed(
                f"--kind {column.strip()}: use number, date, code or category", field="kind"
            ) from None
    return kinds


def _share(value: float) -> str:
    return f"{value:.2%}"


def _print_report(report: RiskReport, name: str) -> None:
    rows = table("measure", "value", title=name, right=("value",))
    k = report.target_k
    rows.add_row("rows", str(report.rows))
    rows.add_row("equivalence classes", str(report.classes))
    rows.add_row("k (smallest class)", str(report.k))
    rows.add_row(f"classes smaller than {k}", str(report.classes_below_k))
    rows.add_row(f"records in classes smaller than {k}", _share(report.share_below_k))
    if report.sensitive is not None and report.l is not None:
        l_shown = f"≥ {report.l}" if report.l_at_least else str(report.l)
        rows.add_row(text(f"l ({report.sensitive})"), l_shown)
        rows.add_row(
            f"records in classes with fewer than {report.target_l} values",
            _share(report.share_below_l),
        )
    for column, count in report.missing.items():
        if count:
            rows.add_row(text(f"missing {column}"), str(count))
    print_table(rows)


def _print_suggestion(report: RiskReport, found: Suggestion | None) -> None:
    from payguard.shield.risk import meets

    k = report.target_k
    if meets(report, k):
        typer.echo(f"k = {report.k} meets the target k = {k}: no generalisation needed")
        return
    if found is None:
        typer.echo(f"no generalisation reaches k = {k}: the file has only {report.rows} rows")
        return
    after = found.report
    exact = "least loss" if found.least_loss else "greedy search, a smaller loss may exist"
    typer.echo(
        f"to reach k = {k}, generalise (information loss {found.information_loss}, {exact}):"
    )
    for rule in found.rules:
        typer.echo(f"  {rule.column}: {rule.step.describe()} (level {rule.level}/{rule.levels})")
    if found.suppressed_records:
        typer.echo(
            f"  and drop {found.suppressed_records} records "
            f"({_share(found.share_suppressed)}) in classes still smaller than {k}"
        )
    line = f"after: k = {after.k}, {after.classes} classes"
    if after.l is not None:
        line += f", l {'≥' if after.l_at_least else '='} {after.l}"
    typer.echo(line)


@shield_app.command()
def risk(
    file: Annotated[
        Path,
        typer.Argument(
            help="A .csv, .jsonl/.ndjson or .parquet file",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    quasi_identifiers: Annotated[
        str,
        typer.Option(
            "--quasi-identifiers", "-q", help="Columns an outsider could link: age,zip,gender"
        ),
    ],
    sensitive: Annotated[
        str | None, typer.Option("--sensitive", help="The sensitive column, for l-diversity")
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Target k (smallest class size)")] = 5,
    l: Annotated[  # noqa: E741 - l of l-diversity
        int, typer.Option("--l", min=1, help="Target l (distinct sensitive values per class)")
    ] = 2,
    max_suppress: Annotated[
        float,
        typer.Option(
            "--max-suppress",
            min=0.0,
            max=1.0,
            help="Share of records the suggestion may drop (0-1)",
        ),
    ] = 0.0,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind", help="Override a column's hierarchy: zip=code (number, date, code, category)"
        ),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, jsonl or parquet [default: extension]")
    ] = None,
    delimiter: Annotated[str, typer.Option("--delimiter", help="CSV delimiter")] = ",",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when the file is below the target k or l")
    ] = False,
) -> None:
    """Measure k-anonymity and l-diversity of FILE and suggest generalisations reaching --k.

    Exit 2 on bad input (a missing column, an unreadable file); errors name the line and
    column, never a value.
    """
    from payguard.shield.risk import assess_risk, meets, suggest
    from payguard.shield.tabular import format_of, read_rows

    with domain_errors():
        columns = _columns(quasi_identifiers, "quasi_identifiers")
        kinds = _kinds(kind or [])
        chosen = format_of(file, fmt)
        needed = [*columns, *([sensitive] if sensitive else [])]
        report = assess_risk(
            read_rows(file, chosen, columns=needed, delimiter=delimiter),
            columns,
            sensitive,
            k=k,
            l=l,
        )
        if report.rows == 0:
            raise ValidationFailed(f"{file.name} has no rows", field="file")
        found = (
            None if meets(report, k) else suggest(report, max_suppress=max_suppress, kinds=kinds)
        )
    passed = meets(report, k, l if sensitive else None)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "file": file.name,
                    "format": chosen.value,
                    **report.summary(),
                    "suggestion": None if found is None else found.summary(),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        _print_report(report, file.name)
        _print_suggestion(report, found)
    if check and not passed:
        raise typer.Exit(1)


# -- files: scan and redact ----------------------------------------------------------------

#: Files smaller than this run in one process unless --workers is given (starting a worker
#: costs about a second).
_SMALL_FILE = 2 * 1024 * 1024
_KEYED = frozenset({Action.HASH, Action.TOKENIZE})

FormatOption = Annotated[
    str | None, typer.Option("--format", help="csv, jsonl or parquet [default: extension]")
]
DelimiterOption = Annotated[str, typer.Option("--delimiter", help="CSV delimiter")]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers", min=1, max=64, help="Processes [default: the CPU count; 1 for small files]"
    ),
]


def _worker_count(file: Path, given: int | None) -> int:
    if given is not None:
        return given
    try:
        small = file.stat().st_size < _SMALL_FILE
    except OSError:
        small = True
    return 1 if small else max(1, os.cpu_count() or 1)


@contextmanager
def _progress(verb: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback: a Rich bar on a terminal (stderr), else a plain line at each
    tenth of the way."""
    if sys.stderr.isatty():
        bar = Progress(
            TextColumn(f"[bold]{verb}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        with bar:
            task = bar.add_task(verb, total=None)

            def draw(done: int, total: int) -> None:
                bar.update(task, completed=done, total=max(total, done))

            yield draw
        return
    shown = -1

    def plain(done: int, total: int) -> None:
        nonlocal shown
        tenth = 10 if total <= 0 else min(10, done * 10 // total)
        if tenth > shown:
            shown = tenth
            amount = f"{done / 1e6:.1f} MB" if unit == "bytes" else f"{done} rows"
            typer.echo(f"{verb}: {tenth * 10}% ({amount})", err=True)

    yield plain


def _no_vault(kind: str, values: Sequence[str]) -> Sequence[str | None]:
    raise ValidationFailed("tokenize needs the tenant's vault: pass --tenant", field="tenant")


def _no_key() -> bytes:
    raise ValidationFailed("hash needs the tenant's key: pass --tenant", field="tenant")


def _file_scanner(recognizers: str | None = None) -> Scanner:
    """The scanner of one worker: the built-in recognizers and those of the YAML document
    `recognizers` (checked in the parent; compiled here, in each worker)."""
    from payguard.shield.recognizers import builtin
    from payguard.shield.scanner import Scanner
    from payguard.shield.stored import compile_checked

    if recognizers is None:
        return Scanner.default()
    return Scanner([*builtin(), *compile_checked(recognizers)])


def _file_redactor(
    actions: dict[str, str], tenant: str | None, recognizers: str | None = None
) -> TextRedactor:
    """The redactor of one worker (a module-level function, so a spawned process can be
    handed it): the tenant's keys and vault from the settings, or none without --tenant;
    the recognizers of the YAML document `recognizers` when given, else the tenant's own."""
    from payguard.shield.redact import RedactionPolicy, Redactor
    from payguard.shield.stored import compile_checked

    policy = RedactionPolicy(actions={Entity(k): Action(v) for k, v in actions.items()})
    if tenant is None:
        return Redactor(_file_scanner(recognizers), policy, tokenize=_no_vault, hash_key=_no_key)
    from payguard.services import build_services

    built = build_services()
    atexit.register(built.close)
    custom = None if recognizers is None else compile_checked(recognizers)
    return built.privacy.redactor(
        tenant_named(built, tenant).id, policy, Actor.system("cli"), custom=custom
    )


def _read_recognizers(path: Path, *, field: str = "recognizers") -> str:
    """The YAML document in `path` (at most `shield.custom.MAX_SOURCE_BYTES`), as text."""
    from payguard.shield.custom import MAX_SOURCE_BYTES

    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        raise ValidationFailed(f"cannot read {path.name}: {exc.strerror}", field=field) from None
    if len(raw) > MAX_SOURCE_BYTES:
        raise PayloadTooLarge(f"{path.name} is larger than {MAX_SOURCE_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed(f"{path.name} is not UTF-8 text", field=field) from None


def _checked_recognizers(path: Path | None) -> str | None:
    """The YAML document of --recognizers, checked here (before any worker starts), or None;
    errors name the field at fault in the document."""
    if path is None:
        return None
    from payguard.shield.stored import check_recognizers

    source = _read_recognizers(path)
    try:
        check_recognizers(source)
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"{path.name}: {exc.field}: {exc.message}", field=exc.field
        ) from None
    return source


def _needs_keys(policy: FilePolicy, actions: dict[str, str]) -> str | None:
    """The first policy field whose action needs the tenant's keys (hash, tokenize)."""
    for rule in policy.columns:
        if rule.action in _KEYED:
            return f"columns.{rule.pattern}"
    if policy.scan_free_text:
        for name, action in actions.items():
            if Action(action) in _KEYED:
                return f"entities.{name}"
    return None


def _read_policy(path: Path) -> FilePolicy:
    from payguard.shield.structured import MAX_POLICY_BYTES, load_file_policy

    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise ValidationFailed(f"cannot read {path.name}: {exc.strerror}", field="policy") from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PayloadTooLarge(f"the policy file is larger than {MAX_POLICY_BYTES} bytes")
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed(f"{path.name} is not UTF-8 text", field="policy") from None
    return load_file_policy(source, json_text=path.suffix.lower() == ".json")


def _findings(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "-"


RecognizersOption = Annotated[
    Path | None,
    typer.Option(
        "--recognizers",
        help="A YAML file of your own recognizers, added to the built-in ones",
        dir_okay=False,
    ),
]


@shield_app.command()
def scan(
    file: Annotated[Path, typer.Argument(help="A .csv, .jsonl/.ndjson or .parquet file")],
    fmt: FormatOption = None,
    delimiter: DelimiterOption = ",",
    workers: WorkersOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    suggest: Annotated[
        Path | None,
        typer.Option("--suggest-policy", help="Write a starting policy (YAML) to this file"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the --suggest-policy file if it exists")
    ] = False,
    recognizers: RecognizersOption = None,
) -> None:
    """Count the personal data in FILE per column (or JSONPath), streaming, on every core.

    Prints counts only, never a value. Exit 2 on bad input.
    """
    from payguard.shield.structured import scan_file, suggest_policy
    from payguard.shield.tabular import TableFormat, format_of

    with domain_errors():
        chosen = format_of(file, fmt)
        custom = _checked_recognizers(recognizers)
        if suggest is not None and suggest.exists() and not force:
            raise ValidationFailed(
                f"{suggest.name} already exists: pass --force to replace it",
                field="suggest_policy",
            )
        unit = "rows" if chosen is TableFormat.PARQUET else "bytes"
        with _progress("scanning", unit) as progress:
            report = scan_file(
                file,
                partial(_file_scanner, custom),
                fmt=chosen,
                delimiter=delimiter,
                workers=_worker_count(file, workers),
                progress=progress,
            )
        if suggest is not None:
            import yaml

            header = f"# A starting policy from `payguard shield scan {file.name}`: review it.\n"
            body = yaml.safe_dump(suggest_policy(report), sort_keys=False, allow_unicode=True)
            try:
                suggest.write_text(header + body, encoding="utf-8")
            except OSError as exc:
                raise ValidationFailed(
                    f"cannot write {suggest.name}: {exc.strerror}", field="suggest_policy"
                ) from None
    if as_json:
        typer.echo(json.dumps(report.summary(), indent=2, ensure_ascii=False))
        return
    rows = table("column", "values", "findings", "mostly", title=file.name, right=("values",))
    for column in report.columns:
        mostly = column.mostly
        rows.add_row(
            text(column.column),
            str(column.values),
            _findings(column.findings),
            "-" if mostly is None else mostly.value,
        )
    print_table(rows)
    typer.echo(
        f"{report.rows} rows, {len(report.columns)} columns: {_findings(report.totals)} "
        f"({report.seconds:.1f} s, {report.workers} worker(s))"
    )
    if suggest is not None:
        typer.echo(f"starting policy written to {suggest}")


@shield_app.command()
def redact(
    file: Annotated[Path, typer.Argument(help="A .csv, .jsonl/.ndjson or .parquet file")],
    policy_file: Annotated[Path, typer.Option("--policy", help="The file policy (YAML or .json)")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the redacted copy")],
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="The tenant whose keys hash and tokenize (by name)"),
    ] = None,
    fmt: FormatOption = None,
    delimiter: DelimiterOption = ",",
    workers: WorkersOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists")] = False,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing-columns", help="Go on when the file lacks a column of the policy"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    recognizers: Annotated[
        Path | None,
        typer.Option(
            "--recognizers",
            help="A YAML file of your own recognizers, added to the built-in ones; with "
            "--tenant, used instead of the tenant's stored recognizers (the file only)",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Write a redacted copy of FILE in its own format under a file policy, streaming.

    Columns named in the policy get their action; every other string is scanned and its
    entities redacted (`free_text: scan`). `hash` and `tokenize` need --tenant. With
    --tenant, the tenant's own recognizers run too (unless --recognizers names a file). Exit
    2 on bad input; OUT is written only when the whole file is done.
    """
    from payguard.shield.redact import DEFAULT_ACTIONS
    from payguard.shield.structured import redact_file
    from payguard.shield.tabular import TableFormat, format_of

    with domain_errors():
        chosen = format_of(file, fmt)
        if not file.is_file():
            raise DataSetUnreadable(f"cannot open {file.name}: no such file")
        policy = _read_policy(policy_file)
        custom = _checked_recognizers(recognizers)
        defaults = dict(DEFAULT_ACTIONS)
        if tenant is None:  # defaults that need keys are masked; the policy's own are refused
            masked = [
                e.value for e, a in defaults.items() if a in _KEYED and e not in policy.entities
            ]
            defaults.update({Entity(name): Action.MASK for name in masked})
            if masked and policy.scan_free_text:
                typer.echo(
                    f"note: without --tenant, {', '.join(masked)} found in free text are masked "
                    "(their default, tokenize, needs the tenant's vault)",
                    err=True,
                )
        actions = {e.value: a.value for e, a in {**defaults, **policy.entities}.items()}
        needs = _needs_keys(policy, actions)
        if needs is not None and tenant is None:
            raise ValidationFailed(
                f"{needs}: hash and tokenize need the tenant's keys: pass --tenant NAME "
                "(or choose mask, redact, generalize or keep)",
                field=needs,
            )
        unit = "rows" if chosen is TableFormat.PARQUET else "bytes"
        run = partial(
            redact_file,
            file,
            out,
            policy,
            partial(_file_redactor, actions, tenant, custom),
            fmt=chosen,
            delimiter=delimiter,
            workers=_worker_count(file, workers),
            force=force,
            allow_missing_columns=allow_missing,
        )
        if tenant is None:
            with _progress("redacting", unit) as progress:
                report = run(progress=progress)
        else:
            with _services() as built:
                owner = tenant_named(built, tenant)
                with _progress("redacting", unit) as progress:
                    report = run(progress=progress)
                built.audit.success(
                    AuditAction.PRIVACY_REDACT,
                    Actor.system("cli"),
                    "privacy:file",
                    tenant_id=owner.id,
                    details={
                        "format": report.format.value,
                        "rows": report.rows,
                        "columns": dict(report.columns),
                        "entities": dict(report.entities),
                    },
                )
    for pattern in report.unmatched:
        typer.echo(f"warning: no value matched the policy column {pattern!r}", err=True)
    if as_json:
        typer.echo(json.dumps(report.summary(), indent=2, ensure_ascii=False))
        return
    typer.echo(
        f"{report.rows} rows written to {out} ({report.seconds:.1f} s, {report.workers} worker(s))"
    )
    for pattern, count in report.columns.items():
        typer.echo(f"  column {pattern}: {count} values")
    if report.entities:
        typer.echo(f"  found in free text: {_findings(report.entities)}")


# -- a tenant's own recognizers ------------------------------------------------------------

recognizers_app = typer.Typer(
    no_args_is_help=True,
    help="A tenant's own recognizers (YAML), used by /v1/privacy and `shield redact --tenant`.",
)
shield_app.add_typer(recognizers_app, name="recognizers")
TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant (by name)")]


def _recognizers_json(active: ActiveRecognizers) -> str:
    from payguard.shield.stored import builtin_recognizers

    return json.dumps(
        {
            "builtin": [
                {"name": name, "entities": [e.value for e in entities]}
                for name, entities in builtin_recognizers()
            ],
            "custom": {
                "version": active.version,
                "created_at": None if active.created_at is None else active.created_at.isoformat(),
                "created_by": active.created_by,
                "yaml": active.source if active.version else None,
                "recognizers": [
                    {"name": r.name, "entity": r.entity.value} for r in active.recognizers
                ],
            },
        },
        indent=2,
        ensure_ascii=False,
    )


@recognizers_app.command("show")
def recognizers_show(tenant: TenantOption) -> None:
    """Print the built-in recognizers and the tenant's own set in force as JSON (version 0:
    none stored)."""
    with _services() as built:
        owner = tenant_named(built, tenant)
        typer.echo(_recognizers_json(built.shield_recognizers.active(owner.id)))


@recognizers_app.command("set")
def recognizers_set(
    tenant: TenantOption,
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            help="The recognizers (YAML, at most 64 KiB; `recognizers: []` for none)",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
) -> None:
    """Replace the tenant's own recognizers with the YAML document in --file (a new version,
    in force at once; audited). Exit 2 on a bad document, naming the field at fault."""
    with _services() as built:
        owner = tenant_named(built, tenant)
        source = _read_recognizers(file, field="file")
        try:
            active = built.shield_recognizers.set(owner.id, source, actor=Actor.system("cli"))
        except ValidationFailed as exc:  # the field at fault, as the API names it
            raise ValidationFailed(f"{exc.field}: {exc.message}", field=exc.field) from None
        names = ", ".join(active.names) or "none"
        typer.echo(
            f"recognizers of {tenant} are now version {active.version} "
            f"({len(active.recognizers)}: {names})"
        )
