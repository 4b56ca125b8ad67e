"""`payguard shield`: Data Shield from the operator's shell.

`shield risk` measures how identifiable a data file still is (k-anonymity, l-diversity) before
it leaves the partner, and suggests the least generalisation that reaches a target k. It reads
the file as a stream and prints measures and rules only, never a value from the data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from payguard.cli.context import domain_errors, print_table, table, text
from payguard.core.errors import ValidationFailed

if TYPE_CHECKING:  # numpy loads with the risk module: only when `shield risk` runs
    from payguard.shield.risk import ColumnKind, RiskReport, Suggestion

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
