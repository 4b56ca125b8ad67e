"""Re-identification risk: k-anonymity, l-diversity and the generalisations that reach k."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payguard.core.errors import ValidationFailed
from payguard.shield.risk import (
    ColumnKind,
    Step,
    assess_risk,
    cell_of,
    generalise,
    hierarchy,
    meets,
    suggest,
)

QI = ["age", "zip", "gender"]

#: The classic ten patients (Sweeney / Machanavajjhala): every row unique on its QIs.
PATIENTS = [
    {"age": age, "zip": zip_code, "gender": gender, "disease": disease}
    for age, zip_code, gender, disease in [
        (28, "13053", "F", "heart"),
        (29, "13068", "F", "heart"),
        (21, "13068", "M", "viral"),
        (23, "13053", "M", "viral"),
        (50, "14853", "M", "cancer"),
        (55, "14853", "F", "heart"),
        (47, "14850", "M", "viral"),
        (49, "14850", "M", "viral"),
        (31, "13053", "F", "cancer"),
        (37, "13053", "M", "cancer"),
    ]
]

#: The same patients published generalised: three classes of 4, 4 and 2 rows.
PUBLISHED = [
    {"age": age, "zip": zip_code, "gender": "*", "disease": disease}
    for age, zip_code, disease in [
        ("<30", "130**", "heart"),
        ("<30", "130**", "heart"),
        ("<30", "130**", "viral"),
        ("<30", "130**", "viral"),
        (">=40", "1485*", "cancer"),
        (">=40", "1485*", "heart"),
        (">=40", "1485*", "viral"),
        (">=40", "1485*", "viral"),
        ("3*", "130**", "cancer"),
        ("3*", "130**", "cancer"),
    ]
]


def test_every_patient_is_unique() -> None:
    report = assess_risk(PATIENTS, QI, "disease", k=3, l=2)
    assert (report.rows, report.classes, report.k) == (10, 10, 1)
    assert (report.classes_below_k, report.records_below_k, report.share_below_k) == (10, 10, 1.0)
    assert (report.l, report.l_at_least, report.share_below_l) == (1, False, 1.0)
    assert not meets(report, 3)


def test_published_table_known_k_and_l() -> None:
    report = assess_risk(PUBLISHED, QI, "disease", k=3, l=2)
    assert (report.rows, report.classes, report.k) == (10, 3, 2)
    assert (report.classes_below_k, report.records_below_k) == (1, 2)
    assert report.share_below_k == pytest.approx(0.2)
    # the "3*" class holds only cancer: one distinct value
    assert (report.l, report.l_at_least) == (1, False)
    assert (report.classes_below_l, report.records_below_l) == (1, 2)
    assert report.share_below_l == pytest.approx(0.2)
    assert meets(report, 2) and not meets(report, 3)
    assert not meets(report, 2, 2)
    assert report.missing == {"age": 0, "zip": 0, "gender": 0}


def test_l_is_a_lower_bound_past_target_l_plus_one() -> None:
    rows = [{"a": "x", "s": str(n)} for n in range(6)]
    report = assess_risk(rows, ["a"], "s", k=2, l=2)
    assert (report.l, report.l_at_least) == (3, True)  # at most l + 1 values kept per class
    assert meets(report, 6, 3)
    assert not meets(report, 6, 4)  # cannot tell: deny
    assert assess_risk(rows, ["a"], "s", k=2, l=6).l == 6


@pytest.mark.parametrize(
    ("k", "classes", "records", "share"),
    [(1, 0, 0, 0.0), (2, 1, 1, 0.05), (3, 2, 3, 0.15), (6, 4, 11, 0.55), (10, 5, 20, 1.0)],
)
def test_share_below_k(k: int, classes: int, records: int, share: float) -> None:
    sizes = [1, 2, 3, 5, 9]  # 20 rows in five classes
    rows = [{"q": f"class{n}"} for n, size in enumerate(sizes) for _ in range(size)]
    report = assess_risk(rows, ["q"], k=k)
    assert (report.k, report.classes) == (1, 5)
    assert (report.classes_below_k, report.records_below_k) == (classes, records)
    assert report.share_below_k == pytest.approx(share)


def test_missing_values_are_one_value() -> None:
    rows: list[dict[str, object]] = [
        {"age": None, "zip": "1", "s": None},
        {"age": "", "zip": "1", "s": ""},
        {"age": "  ", "zip": "1", "s": "a"},
        {"age": math.nan, "zip": "1", "s": "a"},
        {"zip": "1", "s": "b"},  # the column absent from this row
        {"age": 30, "zip": "1", "s": "b"},
    ]
    report = assess_risk(rows, ["age", "zip"], "s", k=5, l=3)
    assert (report.classes, report.k) == (2, 1)
    assert report.missing == {"age": 5, "zip": 0}
    assert report.l == 1  # the class of 30 has one value; the missing class: missing, a, b
    assert report.equivalence.values[(None, "1")] == {None, "a", "b"}


@pytest.mark.parametrize(
    ("value", "cell"),
    [(34, "34"), (34.0, "34"), ("34", "34"), (2.5, "2.5"), (True, "true"), (None, None)],
)
def test_values_compare_as_text(value: object, cell: str | None) -> None:
    assert cell_of(value) == cell


def test_a_column_no_row_has_is_named() -> None:
    with pytest.raises(ValidationFailed) as raised:
        assess_risk(PATIENTS, ["age", "postcode"])
    assert raised.value.field == "postcode" and "postcode" in raised.value.message
    with pytest.raises(ValidationFailed) as raised:
        assess_risk(PATIENTS, ["age"], "diagnosis")
    assert raised.value.field == "diagnosis"


@pytest.mark.parametrize(
    ("qis", "sensitive", "k", "l", "field"),
    [
        ([], None, 5, 2, "quasi_identifiers"),
        (["age", "age"], None, 5, 2, "quasi_identifiers"),
        (["age", ""], None, 5, 2, "quasi_identifiers"),
        (["age"], "age", 5, 2, "sensitive"),
        (["age"], None, 0, 2, "k"),
        (["age"], "disease", 5, 0, "l"),
    ],
)
def test_bad_arguments(qis: list[str], sensitive: str | None, k: int, l: int, field: str) -> None:  # noqa: E741
    with pytest.raises(ValidationFailed) as raised:
        assess_risk(PATIENTS, qis, sensitive, k=k, l=l)
    assert raised.value.field == field


def test_empty_data_meets_any_k() -> None:
    report = assess_risk([], QI, k=5)
    assert (report.rows, report.k, report.classes) == (0, 0, 0)
    assert meets(report, 100)
    assert suggest(report) is None


# -- hierarchies ---------------------------------------------------------------------------------


def _describe(column: str, values: list[str | None], kind: ColumnKind | None = None) -> list[str]:
    return [step.describe() for step in hierarchy(column, values, kind)[1]]


def test_hierarchies_by_kind() -> None:
    assert hierarchy("age", ["34", "71"])[0] is ColumnKind.NUMBER
    assert _describe("age", ["34", "71"]) == [
        "kept as is",
        "bands of 5",
        "bands of 10",
        "bands of 20",
        "bands of 50",
        "suppressed (*)",
    ]
    assert _describe("amount", ["12", "5400", None]) == [
        "kept as is",
        "bands of 10",
        "bands of 100",
        "bands of 1000",
        "bands of 10000",
        "suppressed (*)",
    ]
    assert hierarchy("zip", ["02138", "02139"])[0] is ColumnKind.CODE
    assert _describe("zip", ["02138", "02139"])[1:3] == [
        "first 4 characters kept, the rest *",
        "first 3 characters kept, the rest *",
    ]
    assert len(_describe("zip", ["02138"])) == 6  # keep, 4, 3, 2, 1 characters, suppressed
    assert hierarchy("born", ["1990-04-02"])[0] is ColumnKind.DATE
    assert _describe("born", ["1990-04-02"]) == [
        "kept as is",
        "to the month",
        "to the year",
        "suppressed (*)",
    ]
    assert _describe("seen", ["1990-04-02T10:11:12", "1990-04-03"])[1] == "to the day"
    assert hierarchy("gender", ["F", "M"]) == (
        ColumnKind.CATEGORY,
        (Step("keep"), Step("suppress")),
    )
    assert _describe("zip", ["02138"], ColumnKind.CATEGORY) == ["kept as is", "suppressed (*)"]
    # digit strings with a leading zero are codes, not numbers
    assert hierarchy("branch", ["0042", "0107"])[0] is ColumnKind.CODE


@pytest.mark.parametrize(
    ("step", "cell", "out"),
    [
        (Step("band", width=Decimal(10)), "34", "[30, 40)"),
        (Step("band", width=Decimal(10)), "-5", "[-10, 0)"),
        (Step("band", width=Decimal("0.1")), "2.57", "[2.5, 2.6)"),
        (Step("band", width=Decimal(10)), "n/a", "*"),
        (Step("truncate", keep=3), "02138", "021**"),
        (Step("truncate", keep=3), "021", "021"),
        (Step("date", part="year"), "2020-05-17", "2020"),
        (Step("date", part="month"), "2020-05-17T08:00:00", "2020-05"),
        (Step("date", part="day"), "2020-05", "*"),
        (Step("truncate", keep=3), None, None),
        (Step("suppress"), None, "*"),
        (Step("suppress"), "F", "*"),
    ],
)
def test_steps(step: Step, cell: str | None, out: str | None) -> None:
    assert step.apply(cell) == out


# -- suggestions ---------------------------------------------------------------------------------


def test_suggestion_for_the_patients() -> None:
    report = assess_risk(PATIENTS, QI, "disease", k=3)
    found = suggest(report)
    assert found is not None and found.least_loss
    assert [rule.describe() for rule in found.rules] == [
        "age: bands of 20",
        "zip: first 3 characters kept, the rest *",
        "gender: suppressed (*)",
    ]
    assert found.information_loss == 3 + 2 + 1
    assert (found.report.k, found.report.classes, found.suppressed_records) == (4, 2, 0)
    published = list(generalise(PATIENTS, found))
    assert published[0] == {"age": "[20, 40)", "zip": "130**", "gender": "*", "disease": "heart"}
    again = assess_risk(published, QI, "disease", k=3)
    assert again.k == 4 and meets(again, 3)
    # the rules and measures name columns and parameters, never a value from the data
    shown = json.dumps(found.summary())
    for value in ("13053", "14853", "heart", "cancer", "28"):
        assert value not in shown


def test_suppression_buys_less_generalisation() -> None:
    rows = [{"city": "a", "n": 1}] * 5 + [{"city": "b", "n": 1}] * 5 + [{"city": "c", "n": 1}]
    assert suggest(assess_risk(rows, ["city"], k=5)).rules[0].level == 1  # type: ignore[union-attr]
    found = suggest(assess_risk(rows, ["city"], k=5), max_suppress=0.1)
    assert found is not None
    assert (found.information_loss, found.suppressed_records) == (0, 1)
    kept = list(generalise(rows, found))
    assert len(kept) == 10 and {row["city"] for row in kept} == {"a", "b"}
    assert assess_risk(kept, ["city"], k=5).k == 5


def test_no_suggestion_below_k_rows() -> None:
    assert suggest(assess_risk(PATIENTS[:4], QI, k=5)) is None
    with pytest.raises(ValidationFailed) as raised:
        suggest(assess_risk(PATIENTS, QI), max_suppress=2)
    assert raised.value.field == "max_suppress"
    with pytest.raises(ValidationFailed):
        suggest(assess_risk(PATIENTS, QI), kinds={"disease": ColumnKind.CODE})


def test_greedy_fallback_still_reaches_k() -> None:
    report = assess_risk(PATIENTS, QI, k=3)
    found = suggest(report, budget=1)
    assert found is not None and not found.least_loss
    assert found.information_loss >= 6  # never better than the least
    assert assess_risk(generalise(PATIENTS, found), QI).k >= 3


# -- properties ----------------------------------------------------------------------------------

ZIPS = ["13053", "13068", "14853", "14850", "02138", "02139", None]
ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "age": st.one_of(st.integers(0, 99), st.none()),
            "zip": st.sampled_from(ZIPS),
            "gender": st.sampled_from(["F", "M", None]),
            "disease": st.sampled_from(["heart", "viral", "cancer"]),
        }
    ),
    min_size=0,
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=ROWS,
    k=st.integers(1, 8),
    max_suppress=st.sampled_from([0.0, 0.1, 0.3]),
    budget=st.sampled_from([1, 10_000_000]),
)
def test_suggested_generalisation_reaches_k(
    rows: list[dict[str, object]], k: int, max_suppress: float, budget: int
) -> None:
    report = assess_risk(rows, QI, "disease", k=k)
    found = suggest(report, max_suppress=max_suppress, budget=budget)
    if len(rows) < k:
        assert found is None
        return
    assert found is not None
    published = list(generalise(rows, found))
    again = assess_risk(published, QI, "disease", k=k)
    assert again.k >= k
    assert again.rows == len(rows) - found.suppressed_records
    assert found.suppressed_records <= math.floor(max_suppress * len(rows))
    assert (again.k, again.classes, again.l) == (
        found.report.k,
        found.report.classes,
        found.report.l,
    )


@settings(max_examples=30, deadline=None)
@given(rows=ROWS.filter(lambda rows: len(rows) >= 3), k=st.integers(2, 5))
def test_breadth_first_finds_the_least_loss(rows: list[dict[str, object]], k: int) -> None:
    report = assess_risk(rows, QI, k=k)
    found = suggest(report)
    if len(rows) < k:
        return
    assert found is not None and found.least_loss
    ladders = [hierarchy(column, [cell_of(row[column]) for row in rows])[1] for column in QI]
    for levels in itertools.product(*(range(len(ladder)) for ladder in ladders)):
        if sum(levels) >= found.information_loss:
            continue
        sizes = Counter(
            tuple(
                ladder[level].apply(cell_of(row[column]))
                for column, ladder, level in zip(QI, ladders, levels, strict=True)
            )
            for row in rows
        )
        assert min(sizes.values()) < k, levels
