"""Reading the Rich tables the CLI prints, in tests."""

from __future__ import annotations

import re

#: The widest line a CLI table may print with `COLUMNS=100`.
WIDTH = 100


def table_rows(output: str) -> list[list[str]]:
    """The cells of each row of a Rich table with one line per row (borders dropped)."""
    rows = []
    for line in output.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃]", line)[1:-1]]
        if cells:
            rows.append(cells)
    return rows


def widest(output: str) -> int:
    """The length of the longest line."""
    return max((len(line) for line in output.splitlines()), default=0)
