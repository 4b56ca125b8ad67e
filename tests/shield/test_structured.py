"""Structured mode: file policies, the JSONPath matcher, streaming scan and redaction of CSV,
JSON Lines and Parquet, in one process and in two, with errors that name no value."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from payguard.cli.shield import _file_redactor
from payguard.core.errors import ValidationFailed
from payguard.shield import structured
from payguard.shield.interfaces import Action, DataSetUnreadable, Entity, Redacted
from payguard.shield.redact import RedactionPolicy, Redactor
from payguard.shield.scanner import Scanner
from payguard.shield.structured import (
    ANY_INDEX,
    ANY_KEY,
    ColumnMatcher,
    ColumnRule,
    FilePolicy,
    load_file_policy,
    parse_path,
    redact_file,
    render_path,
    scan_file,
    suggest_policy,
)

CARD = "4111111111111111"
PHONE = "13800138000"
EMAIL = "li.wei@example.com"
SCANNER = Scanner.default()


def _tokenize(kind: str, values: Sequence[str]) -> list[str | None]:
    return [f"tok_{kind}_{len(value)}" for value in values]


def make_redactor() -> Redactor:
    """Masks cards and phones, redacts the rest, hashes under a fixed key."""
    actions = dict(RedactionPolicy().actions)
    actions.update({Entity.CARD: Action.MASK, Entity.PHONE: Action.REDACT})
    return Redactor(SCANNER, RedactionPolicy(actions), tokenize=_tokenize, hash_key=b"k" * 32)


#: The same policy, built in each worker process (picklable).
SPAWNED = partial(
    _file_redactor,
    {
        **{e.value: a.value for e, a in RedactionPolicy().actions.items()},
        "card": "mask",
        "phone": "redact",
        "iban": "mask",
        "bank_account": "mask",
        "cn_resident_id": "mask",
    },
    None,
)


def rows(count: int) -> list[dict[str, object]]:
    return [
        {
            "id": i,
            "email": EMAIL,
            "note": f"order {i} paid with card {CARD}" if i % 2 else f"order {i} shipped",
            "contact": {"phone": PHONE, "city": "Hangzhou"},
            "items": [{"sku": f"A{i}", "phone": PHONE}],
        }
        for i in range(count)
    ]


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], records: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(records)
    return path


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def policy(text: str) -> FilePolicy:
    return load_file_policy(text)


# -- the JSONPath subset ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("$", ()),
        ("$.a.b", ("a", "b")),
        ("$.items[*].phone", ("items", ANY_INDEX, "phone")),
        ("$.items[3]", ("items", 3)),
        ("$['e-mail']", ("e-mail",)),
        ('$["first name"].x', ("first name", "x")),
        ("$['it\\'s']", ("it's",)),
        ("$.*.phone", (ANY_KEY, "phone")),
        ("$.姓名", ("姓名",)),
    ],
)
def test_parse_path(path: str, parts: tuple[object, ...]) -> None:
    assert parse_path(path) == parts


@pytest.mark.parametrize("path", ["a.b", "$..a", "$.a[", "$[-1]", "$['a'", "$.a b", "$[x]"])
def test_parse_path_refuses_what_is_not_in_the_subset(path: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_path(path, field="columns.x")
    assert caught.value.field == "columns.x"


@pytest.mark.parametrize(
    "path", ["$.customer.phone", "$.items[0]", "$['e-mail']", "$['it\\'s'][2].x"]
)
def test_render_path_reads_back_the_scanners_paths(path: str) -> None:
    assert render_path(parse_path(path)) == path
    assert render_path(parse_path("$.items[7].phone"), generalise=True) == "$.items[*].phone"


def test_matcher_over_the_paths_scan_document_writes() -> None:
    rules = [
        ColumnRule("$.items[*].phone", Action.MASK, Entity.PHONE),
        ColumnRule("$.items[0].phone", Action.KEEP),
        ColumnRule("$['e-mail']", Action.HASH),
        ColumnRule("a.b", Action.REDACT),  # a plain column name: dots are part of it
        ColumnRule("$.*.secret", Action.REDACT),
    ]
    matcher = ColumnMatcher(rules)
    assert matcher.match("$.items[4].phone") == rules[0]
    assert matcher.match("$.items[0].phone") == rules[1]  # fewer wildcards wins
    assert matcher.match("$['e-mail']") == rules[2]
    assert matcher.match(("a.b",)) == rules[3]
    assert matcher.match("$.a.b") is None
    assert matcher.match("$.anything.secret") == rules[4]
    assert matcher.match("$.items[4]") is None
    assert matcher.match("$.items") is None
    paths = {f.path for f in SCANNER.scan_document({"items": [{"phone": PHONE}] * 2})}
    assert paths == {"$.items[0].phone", "$.items[1].phone"}
    assert all(matcher.match(path) is not None for path in paths)


# -- the policy -------------------------------------------------------------------------------


def test_policy_from_yaml_and_json() -> None:
    text = (
        "columns:\n  card: mask\n  $.contact.phone: {action: tokenize, entity: phone}\n"
        "free_text: keep\nentities:\n  email: hash\n"
    )
    loaded = load_file_policy(text)
    assert loaded.columns == (
        ColumnRule("card", Action.MASK),
        ColumnRule("$.contact.phone", Action.TOKENIZE, Entity.PHONE),
    )
    assert loaded.scan_free_text is False
    assert loaded.entities == {Entity.EMAIL: Action.HASH}
    assert load_file_policy(json.dumps(yaml.safe_load(text)), json_text=True) == loaded


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("columns:\n  card: shred\n", "columns.card"),
        ("columns:\n  card: {action: hide}\n", "columns.card.action"),
        ("columns:\n  card: {action: mask, entity: cardd}\n", "columns.card.entity"),
        ("columns:\n  card: {action: mask, extra: 1}\n", "columns.card.extra"),
        ("columns:\n  $.a[: mask\n", "columns.$.a["),
        ("columns:\n  $.a: mask\n  $['a']: keep\n", "columns.$['a']"),
        ("free_text: maybe\n", "free_text"),
        ("entities:\n  cardx: mask\n", "entities.cardx"),
        ("entities:\n  card: shred\n", "entities.card"),
        ("colums: {}\n", "colums"),
        ("- a\n- b\n", "columns"),
    ],
)
def test_policy_errors_name_the_field(text: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_file_policy(text)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"policy {field}:")


def test_policy_size_is_bounded() -> None:
    with pytest.raises(Exception, match="larger than"):
        load_file_policy("columns:\n" + "".join(f"  c{i}: mask\n" for i in range(10_000)))


# -- redaction round trips --------------------------------------------------------------------

POLICY = "columns:\n  email: hash\n  $.items[*].phone: {action: mask, entity: phone}\n"


def test_jsonl_round_trip(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(6))
    out = tmp_path / "out.jsonl"
    report = redact_file(source, out, policy(POLICY), make_redactor)
    got, given = read_jsonl(out), rows(6)
    assert len(got) == len(given) == report.rows == 6
    for before, after in zip(given, got, strict=True):
        assert list(after) == list(before)  # same members, same order
        assert after["id"] == before["id"]  # an integer without an entity: kept
        assert after["email"] != EMAIL and str(after["email"]).startswith("h:")
        assert after["contact"] == {"phone": "[phone]", "city": "Hangzhou"}  # scanned
        assert after["items"] == [{"sku": f"A{before['id']}", "phone": "+86*******8000"}]
    assert got[0]["note"] == "order 0 shipped"
    assert got[1]["note"] == "order 1 paid with card 411111******1111"
    assert report.columns == {"email": 6, "$.items[*].phone": 6}
    assert report.entities == {"phone": 6, "card": 3}
    assert not list(tmp_path.glob(".*partial"))


def test_csv_round_trip_keeps_the_header_order(tmp_path: Path) -> None:
    header = ["note", "card_number", "email", "amount"]
    records = [[f"call {PHONE}", CARD, EMAIL, str(i)] for i in range(5)]
    records.append(["nothing here", "", "", "7"])
    source = write_csv(tmp_path / "in.csv", header, records)
    out = tmp_path / "out.csv"
    loaded = policy("columns:\n  card_number: {action: mask, entity: card}\n  email: redact\n")
    report = redact_file(source, out, loaded, make_redactor)
    with out.open(newline="", encoding="utf-8") as stream:
        got = list(csv.reader(stream))
    assert got[0] == header
    assert len(got) == 7 and report.rows == 6
    assert got[1] == ["call [phone]", "411111******1111", "[redacted]", "0"]
    assert got[6] == ["nothing here", "", "", "7"]


def test_parquet_round_trip_redacted_columns_become_strings(tmp_path: Path) -> None:
    table = pa.table(
        {
            "card": pa.array([int(CARD), 4000000000000002, None], pa.int64()),
            "note": pa.array([f"phone {PHONE}", "fine", None]),
            "amount": pa.array([1.5, 2.0, 3.25]),
            "contact": pa.array(
                [{"email": EMAIL, "age": 30}, {"email": EMAIL, "age": 40}, None],
                pa.struct([("email", pa.string()), ("age", pa.int32())]),
            ),
        }
    )
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    out = tmp_path / "out.parquet"
    loaded = policy("columns:\n  card: {action: mask, entity: card}\n  $.contact.age: generalize\n")
    report = redact_file(source, out, loaded, make_redactor, chunk_rows=2)
    got = pq.read_table(out)
    assert report.rows == 3
    assert got.schema.field("card").type == pa.string()
    assert got.schema.field("amount").type == pa.float64()  # kept
    assert got.schema.field("contact").type == pa.struct(
        [("email", pa.string()), ("age", pa.string())]
    )
    assert got.column("card").to_pylist() == ["411111******1111", "400000******0002", None]
    assert got.column("note").to_pylist() == ["phone [phone]", "fine", None]
    assert got.column("amount").to_pylist() == [1.5, 2.0, 3.25]
    contact = got.column("contact").to_pylist()
    assert contact[0] == {"email": "l***@example.com", "age": "10-99"}
    assert contact[2] is None
    assert pq.ParquetFile(out).metadata.num_row_groups == 2  # written a chunk at a time


def test_a_column_policy_is_authoritative(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"kept": f"card {CARD}", "other": f"card {CARD}", "n": 1}]
    )
    out = tmp_path / "out.jsonl"
    redact_file(source, out, policy("columns:\n  kept: keep\n"), make_redactor)
    assert read_jsonl(out) == [{"kept": f"card {CARD}", "other": "card 411111******1111", "n": 1}]
    # free_text: keep leaves everything the policy does not name.
    redact_file(
        source,
        out,
        policy("columns:\n  n: redact\nfree_text: keep\n"),
        make_redactor,
        force=True,
    )
    assert read_jsonl(out) == [{"kept": f"card {CARD}", "other": f"card {CARD}", "n": "[redacted]"}]


def test_the_members_key_is_context_as_in_scan_document(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"passport": "E12345678", "ref": "E12345678"}])
    out = tmp_path / "out.jsonl"
    redact_file(source, out, FilePolicy(), make_redactor)
    assert read_jsonl(out) == [{"passport": "[passport]", "ref": "E12345678"}]


def test_two_processes_write_what_one_does_in_order(tmp_path: Path) -> None:
    records = rows(120)
    source = write_jsonl(tmp_path / "in.jsonl", records)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    loaded = policy("columns:\n  email: mask\n  $.items[*].phone: {action: mask, entity: phone}\n")
    first = redact_file(source, one, loaded, SPAWNED, workers=1, chunk_rows=7)
    second = redact_file(source, two, loaded, SPAWNED, workers=2, chunk_rows=7)
    assert one.read_bytes() == two.read_bytes()
    assert [row["id"] for row in read_jsonl(two)] == list(range(120))
    assert (first.rows, first.entities) == (second.rows, second.entities)
    assert second.workers == 2

    header = ["note", "email"]
    csv_source = write_csv(
        tmp_path / "in.csv", header, [[f"{i} call {PHONE}", EMAIL] for i in range(50)]
    )
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    loaded = policy("columns:\n  email: mask\n")
    redact_file(csv_source, a, loaded, SPAWNED, workers=1, chunk_rows=4)
    redact_file(csv_source, b, loaded, SPAWNED, workers=2, chunk_rows=4)
    assert a.read_bytes() == b.read_bytes()
    scans = [scan_file(source, workers=w, chunk_rows=9) for w in (1, 2)]
    assert scans[0].columns == scans[1].columns


def test_remembered_texts_give_what_a_fresh_scan_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [
        {"status": f"s{i % 7}", "phone": PHONE, "code": f"c{i % 13}", "n": i % 5} for i in range(60)
    ]
    source = write_jsonl(tmp_path / "in.jsonl", records)
    fresh, small = tmp_path / "fresh.jsonl", tmp_path / "small.jsonl"
    redact_file(source, fresh, FilePolicy(), make_redactor, chunk_rows=5)
    monkeypatch.setattr(structured, "MEMO_SIZE", 4)  # forgets between and within chunks
    redact_file(source, small, FilePolicy(), make_redactor, chunk_rows=5)
    assert small.read_bytes() == fresh.read_bytes()
    assert read_jsonl(fresh)[3] == {"status": "s3", "phone": "[phone]", "code": "c3", "n": 3}


def test_streams_in_chunks_with_progress(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(100))
    seen: list[tuple[int, int]] = []
    report = redact_file(
        source,
        tmp_path / "out.jsonl",
        policy(POLICY),
        make_redactor,
        chunk_rows=3,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert report.rows == 100
    assert len(seen) == 34  # 100 rows, 3 a chunk
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1] == (source.stat().st_size, source.stat().st_size)


# -- scan -------------------------------------------------------------------------------------


def test_scan_counts_per_column_and_suggests_a_policy(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(10))
    report = scan_file(source, chunk_rows=4)
    columns = {c.column: c for c in report.columns}
    assert report.rows == 10
    assert columns["$.email"].values == 10 and columns["$.email"].findings == {"email": 10}
    assert columns["$.items[*].phone"].mostly is Entity.PHONE
    assert columns["$.note"].findings == {"card": 5}
    assert columns["$.note"].mostly is None  # a card in prose: the note is not a card
    assert columns["$.items[*].sku"].findings == {}
    assert report.totals == {"card": 5, "email": 10, "phone": 20}
    text = json.dumps(report.summary())
    assert EMAIL not in text and CARD not in text and PHONE not in text
    suggested = suggest_policy(report)
    assert suggested["columns"] == {
        "$.contact.phone": {"action": "mask", "entity": "phone"},
        "$.email": {"action": "mask", "entity": "email"},
        "$.items[*].phone": {"action": "mask", "entity": "phone"},
    }
    load_file_policy(yaml.safe_dump(suggested))  # a valid policy as it is


def test_scan_csv_names_columns_in_header_order(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", ["z", "card"], [["x", CARD], ["y", ""]])
    report = scan_file(source)
    assert [c.column for c in report.columns] == ["z", "card"]
    assert report.columns[1].values == 1 and report.columns[1].mostly is Entity.CARD


# -- bad input --------------------------------------------------------------------------------


def _refused(error: pytest.ExceptionInfo[ValidationFailed]) -> str:
    message = error.value.message
    assert CARD not in message and EMAIL not in message
    return message


def test_errors_name_the_line_not_the_value(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"card": CARD}) + "\n\n" + json.dumps([CARD]) + "\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(DataSetUnreadable) as caught:
        redact_file(source, out, FilePolicy(), make_redactor)
    assert "line 3: not a JSON object" in _refused(caught)
    assert not out.exists() and not list(tmp_path.glob(".*partial"))
    source.write_text('{"card": "' + CARD + '"\n')
    with pytest.raises(DataSetUnreadable) as caught:
        scan_file(source)
    assert "line 1: not valid JSON" in _refused(caught)


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(DataSetUnreadable, match=r"cannot open nope\.jsonl"):
        redact_file(tmp_path / "nope.jsonl", out, FilePolicy(), make_redactor)
    with pytest.raises(DataSetUnreadable, match="cannot open"):
        scan_file(tmp_path / "nope.csv")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + CARD.encode() + b"not parquet")
    with pytest.raises(DataSetUnreadable, match="not a readable Parquet file"):
        scan_file(broken)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataSetUnreadable, match="no header"):
        redact_file(empty, tmp_path / "o.csv", FilePolicy(), make_redactor)


def test_unknown_columns_are_refused_unless_allowed(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", ["email"], [[EMAIL]])
    out = tmp_path / "out.csv"
    loaded = policy("columns:\n  emial: mask\n")
    with pytest.raises(ValidationFailed) as caught:
        redact_file(source, out, loaded, make_redactor)
    assert caught.value.field == "columns.emial" and not out.exists()
    report = redact_file(source, out, loaded, make_redactor, allow_missing_columns=True)
    assert report.unmatched == ("emial",)

    jsonl = write_jsonl(tmp_path / "in.jsonl", [{"email": EMAIL}])
    with pytest.raises(ValidationFailed) as caught:
        redact_file(jsonl, tmp_path / "out.jsonl", loaded, make_redactor)
    assert caught.value.field == "columns.emial"
    assert not (tmp_path / "out.jsonl").exists() and not list(tmp_path.glob(".*partial"))

    table = tmp_path / "in.parquet"
    pq.write_table(pa.table({"a": [{"b": "x"}]}), table)
    with pytest.raises(ValidationFailed) as caught:
        redact_file(
            table, tmp_path / "o.parquet", policy("columns:\n  $.a.c: mask\n"), make_redactor
        )
    assert caught.value.field == "columns.$.a.c"


def test_output_is_refused_when_it_exists_or_is_the_input(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"a": 1}])
    with pytest.raises(ValidationFailed) as caught:
        redact_file(source, source, FilePolicy(), make_redactor, force=True)
    assert caught.value.field == "out"
    out = tmp_path / "out.jsonl"
    out.write_text("old")
    with pytest.raises(ValidationFailed, match="already exists"):
        redact_file(source, out, FilePolicy(), make_redactor)
    assert out.read_text() == "old"
    redact_file(source, out, FilePolicy(), make_redactor, force=True)
    assert read_jsonl(out) == [{"a": 1}]
    with pytest.raises(ValidationFailed, match="written as jsonl"):
        redact_file(source, tmp_path / "out.csv", FilePolicy(), make_redactor)


class Recording:
    """A stand-in `TextRedactor`: records what it is asked."""

    def __init__(self) -> None:
        self.values: list[tuple[object, Action, Entity | None]] = []

    def redact_text(self, text: str) -> Redacted:
        return Redacted(text.upper(), ())

    def redact_value(self, value: object, action: Action, entity: Entity | None = None) -> object:
        self.values.append((value, action, entity))
        return f"<{action.value}>"


def test_any_text_redactor_will_do(tmp_path: Path) -> None:
    recording = Recording()
    source = write_jsonl(tmp_path / "in.jsonl", [{"a": {"b": [1, 2]}, "c": "x"}])
    out = tmp_path / "out.jsonl"
    redact_file(
        source, out, policy("columns:\n  $.a: {action: hash, entity: custom}\n"), lambda: recording
    )
    assert recording.values == [({"b": [1, 2]}, Action.HASH, Entity.CUSTOM)]  # a whole subtree
    assert read_jsonl(out) == [{"a": "<hash>", "c": "X"}]


def test_keys_holding_personal_data_are_hidden_in_the_scan_and_redacted_in_the_output(
    tmp_path: Path,
) -> None:
    # A JSON Lines map keyed by phone numbers: the scan's report names one column
    # `$.by_phone['[phone]']` for all of them (no number printed, no column per number),
    # and the redacted output writes each key as the policy redacts a phone.
    records: list[dict[str, object]] = [
        {"by_phone": {f"1380013{n:04d}": {"email": EMAIL}}, "n": n} for n in range(5)
    ]
    records.append({"by_phone": {"13800130000": 1, "13800130001": 2, "status": "ok"}})
    source = write_jsonl(tmp_path / "keys.jsonl", records)
    report = scan_file(source, chunk_rows=2)
    names = [c.column for c in report.columns]
    assert "$.by_phone['[phone]'].email" in names
    assert not any("1380013" in name for name in names)
    assert "1380013" not in json.dumps(report.summary())
    out = tmp_path / "keys.out.jsonl"
    redact_file(source, out, FilePolicy(), make_redactor)
    got = read_jsonl(out)
    # The test policy redacts phones: two in one object become `[phone]` and `[phone]#2`.
    assert [list(row["by_phone"]) for row in got] == [["[phone]"]] * 5 + [
        ["[phone]", "[phone]#2", "status"]
    ]
    assert got[5]["by_phone"] == {"[phone]": 1, "[phone]#2": 2, "status": "ok"}
    assert "1380013" not in out.read_text()
