"""rlvr.data.loading and rlvr.data.files: reading every supported format, choosing split files, hub calls, bad-row reports, shuffle + limit."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest

from rlvr.data import files, loading
from rlvr.data.config import TaskConfig
from rlvr.data.tasks import load_problems
from rlvr.data.loading import load_rows, shuffle_and_limit, validate_rows

FORMATS = ("jsonl", "json", "jsonl.gz", "parquet")
ROWS = [json.loads(line) for line in (Path(__file__).parent / "fixtures/gsm8k/test.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_back_the_same_rows(tmp_path, fmt, write_rows):
    path = write_rows(ROWS, tmp_path / "test", fmt)
    assert load_rows(str(path), "test", "unused/hub-id") == ROWS


def test_json_file_holding_json_lines_and_no_trailing_newline(tmp_path):
    # MBPP's mbpp.jsonl ends without a newline; some ".json" files are JSON Lines
    path = tmp_path / "rows.json"
    path.write_text("\n".join(json.dumps(r) for r in ROWS))
    assert load_rows(str(path), "test", "unused/hub-id") == ROWS


def test_a_file_is_the_split_whatever_split_is_asked_and_one_named_for_another_split_is_said(tmp_path, write_rows,
                                                                                               caplog):
    path = write_rows(ROWS, tmp_path / "test", "jsonl")
    with caplog.at_level(logging.WARNING, logger="rlvr.data.loading"):
        assert load_rows(str(path), "train", "unused/hub-id") == ROWS  # training on test.jsonl: said, not refused
        assert load_rows(str(path), "test", "unused/hub-id") == ROWS
        assert load_rows(str(write_rows(ROWS, tmp_path / "mbpp", "jsonl")), "train", "x/y") == ROWS
    (record,) = caplog.records
    assert record.getMessage() == (f"{path} is named for the 'test' split but is read as the 'train' split (a file is "
                                   "read whole); point task.source at its folder to pick the 'train' file by name")


def test_directory_picks_the_files_named_after_the_split(tmp_path, write_rows):
    write_rows(ROWS[:1], tmp_path / "train", "jsonl")
    write_rows(ROWS[1:], tmp_path / "data" / "test-00000-of-00001", "parquet")
    assert load_rows(str(tmp_path), "train", "x/y") == ROWS[:1]
    assert load_rows(str(tmp_path), "test", "x/y") == ROWS[1:]


def test_directory_with_one_unnamed_file_uses_it(tmp_path, write_rows):
    write_rows(ROWS, tmp_path / "HumanEval", "jsonl.gz")
    (tmp_path / "LICENSE").write_text("not data")
    assert load_rows(str(tmp_path), "test", "x/y") == ROWS


def test_directory_never_serves_one_split_as_another(tmp_path, write_rows):
    # only test.jsonl: asking for train must not quietly return the test rows (few-shot leakage)
    write_rows(ROWS, tmp_path / "test", "jsonl")
    with pytest.raises(ValueError, match="no 'train' file"):
        load_rows(str(tmp_path), "train", "x/y")


def test_ambiguous_directory_is_an_error(tmp_path, write_rows):
    write_rows(ROWS, tmp_path / "a", "jsonl")
    write_rows(ROWS, tmp_path / "b", "jsonl")
    with pytest.raises(ValueError, match="point source at one file"):
        load_rows(str(tmp_path), "test", "x/y")
    write_rows(ROWS, tmp_path / "main" / "test", "jsonl")
    write_rows(ROWS, tmp_path / "socratic" / "test", "jsonl")
    with pytest.raises(ValueError, match="several candidate"):
        load_rows(str(tmp_path), "test", "x/y")


def test_directory_without_data_files(tmp_path):
    (tmp_path / "README.md").write_text("hi")
    with pytest.raises(ValueError, match="holds no data file"):
        load_rows(str(tmp_path), "test", "x/y")


@pytest.mark.parametrize("source", ["/no/such/file.jsonl", "./missing.jsonl", "missing.parquet", "a/b/c"])
def test_missing_path_is_file_not_found(source):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_rows(source, "test", "x/y")


def test_unknown_format_is_a_clear_error(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="unknown data format"):
        load_rows(str(path), "test", "x/y")


def test_unparsable_json_array_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"a": 1},\n {"a": 2\n')
    with pytest.raises(ValueError, match="broken.json as a JSON array"):
        load_rows(str(path), "test", "x/y")


GOOD_LINE = json.dumps({"question": "q", "answer": "a #### 1"})
# line 1 good, line 2 blank (counted), line 3 not JSON, line 4 good, line 5 not UTF-8
BROKEN_LINES = f'{GOOD_LINE}\n\n{{"question": "q3", "answer": "a\n{GOOD_LINE}\n'.encode() + b'{"question": "\xff"}\n'


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz"])
def test_a_non_json_line_is_one_bad_row_named_by_its_line_number(tmp_path, caplog, fmt):
    path = tmp_path / f"test.{fmt}"
    path.write_bytes(gzip.compress(BROKEN_LINES) if fmt.endswith(".gz") else BROKEN_LINES)
    with caplog.at_level(logging.WARNING, logger="rlvr.data.loading"):
        problems = load_problems(TaskConfig(name="gsm8k", split="test", source=str(path)))
    assert [p.reference for p in problems] == ["1", "1"]
    (record,) = caplog.records
    assert "skipped 2 bad row(s) of 4 (line 3, line 5)" in record.message
    assert "line 3: not JSON (Unterminated string starting at column 30)" in record.message  # the line was cut
    assert "line 5: not UTF-8 text" in record.message


def test_a_non_json_line_fails_the_load_under_fail(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_bytes(BROKEN_LINES)
    with pytest.raises(ValueError, match=r"gsm8k/test: 2 bad row\(s\) of 4 — line 3: not JSON .*; line 5: not UTF-8"):
        load_problems(TaskConfig(name="gsm8k", split="test", source=str(path), on_bad_row="fail"))


def test_rows_of_files_without_lines_are_numbered_from_one(tmp_path, write_rows):
    path = write_rows([{"question": "q", "answer": "a #### 1"}, {"answer": "a #### 2"}], tmp_path / "test", "parquet")
    # parquet has a column for every key of any row: the row without one holds a null there
    with pytest.raises(ValueError, match="row 2: field 'question' is null"):
        load_problems(TaskConfig(name="gsm8k", split="test", source=str(path), on_bad_row="fail"))


@pytest.mark.parametrize("name, content", [("test.jsonl", b""), ("test.jsonl", b"\n  \n"), ("test.json", b"[]"),
                                           ("test.json", b""), ("test.jsonl.gz", gzip.compress(b"", mtime=0))])
def test_an_empty_file_is_one_clear_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"{name}: no rows \(empty file\)"):
        load_problems(TaskConfig(name="gsm8k", split="test", source=str(path)))


def test_a_truncated_gzip_file_is_one_clear_error(tmp_path):
    path = tmp_path / "test.jsonl.gz"
    path.write_bytes(gzip.compress(BROKEN_LINES * 50)[:-40])
    with pytest.raises(ValueError, match="could not read .*test.jsonl.gz: EOFError"):
        load_rows(str(path), "test", "x/y")


def test_an_empty_parquet_file_is_one_clear_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "test.parquet"
    pq.write_table(pa.table({"question": pa.array([], pa.string())}), path)
    with pytest.raises(ValueError, match="test.parquet: no rows"):
        load_problems(TaskConfig(name="gsm8k", split="test", source=str(path)))


@pytest.mark.parametrize("on_bad_row", ["skip", "fail"])
def test_a_huge_prompt_is_a_bad_row_at_load(tmp_path, caplog, on_bad_row):
    huge = json.dumps({"question": "x" * 5_000_000, "answer": "a #### 2"})
    path = tmp_path / "test.jsonl"
    path.write_text(f"{GOOD_LINE}\n{huge}\n")
    cfg = TaskConfig(name="gsm8k", split="test", source=str(path), on_bad_row=on_bad_row)
    why = "line 2: field 'question' has 5000000 characters, more than max_prompt_chars=32000"
    if on_bad_row == "fail":
        with pytest.raises(ValueError, match=why):
            load_problems(cfg)
        return
    with caplog.at_level(logging.WARNING, logger="rlvr.data.loading"):
        assert [p.reference for p in load_problems(cfg)] == ["1"]
    assert why in caplog.text


@pytest.mark.parametrize("task, row", [
    ("math500", {"problem": "p" * 101, "answer": "1"}),
    ("humaneval", {"task_id": "H/0", "prompt": "d" * 101, "entry_point": "f", "test": "def check(c): pass"}),
    ("mbpp", {"task_id": 11, "text": "t" * 101, "test_list": ["assert f() == 1"]}),
])
def test_every_dataset_task_caps_its_prompt_field(tmp_path, task, row):
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps(row) + "\n")
    cfg = TaskConfig(name=task, split="test", source=str(path), max_prompt_chars=100, on_bad_row="fail")
    with pytest.raises(ValueError, match="line 1: field .* has 101 characters, more than max_prompt_chars=100"):
        load_problems(cfg)
    assert load_problems(cfg.model_copy(update={"max_prompt_chars": 101}))


class _FakeDataset:
    def __init__(self, rows):
        self.rows = rows

    def to_list(self):
        return self.rows


def test_hub_id_goes_to_load_dataset_with_the_default_config(monkeypatch):
    import datasets

    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append((a, k)) or _FakeDataset(ROWS))
    assert load_rows(None, "test", "openai/gsm8k", "main") == ROWS
    assert load_rows("openai/gsm8k", "train", "openai/gsm8k", "main") == ROWS
    assert load_rows("someone/gsm8k-mirror", "test", "openai/gsm8k", "main") == ROWS  # its configs are unknown
    assert calls == [
        (("openai/gsm8k", "main"), {"split": "test"}),
        (("openai/gsm8k", "main"), {"split": "train"}),
        (("someone/gsm8k-mirror", None), {"split": "test"}),
    ]


def test_unreachable_hub_says_to_use_a_local_file(monkeypatch):
    import datasets

    def offline(*a, **k):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(OSError, match="local file or directory"):
        load_rows(None, "test", "openai/gsm8k", "main")


FIELDS = {"question": str, "answer": str}


def _rows_with_bad_ones():
    return [
        {"question": "q0", "answer": "a0"},
        {"answer": "a1"},  # 1: missing field
        {"question": 5, "answer": "a2"},  # 2: wrong type
        {"question": "q3", "answer": "a3"},
        {"question": "  ", "answer": "a4"},  # 4: empty
        {"question": "q5", "answer": None},  # 5: null (JSON null; `datasets` and parquet give it for a missing key)
        "not an object",  # 6
    ]


def test_skip_keeps_good_rows_with_their_indices_and_warns_once(caplog):
    with caplog.at_level(logging.WARNING, logger="rlvr.data.loading"):
        good = validate_rows(_rows_with_bad_ones(), FIELDS, "gsm8k", "skip")
    assert [i for i, _ in good] == [0, 3]
    assert [r["question"] for _, r in good] == ["q0", "q3"]
    (record,) = caplog.records
    assert "skipped 5 bad row(s) of 7" in record.message
    assert "(row 2, row 3, row 5, row 6, row 7)" in record.message  # positions count from 1, as people do
    assert "row 2: field 'question' is missing" in record.message


@pytest.mark.parametrize(
    "index, message",
    [
        (1, "row 2: field 'question' is missing"),
        (2, "row 3: field 'question' should be str, got int"),
        (4, "row 5: field 'question' is empty"),
        (5, "row 6: field 'answer' is null"),
        (6, "row 7: is a str, not an object"),
    ],
)
def test_fail_names_row_index_and_field(index, message):
    rows = [_rows_with_bad_ones()[0], *([{"question": "q", "answer": "a"}] * (index - 1)), _rows_with_bad_ones()[index]]
    with pytest.raises(ValueError) as err:
        validate_rows(rows, FIELDS, "gsm8k", "fail")
    assert message in str(err.value) and str(err.value).startswith("gsm8k: 1 bad row(s)")


def test_check_callback_and_bool_is_not_int():
    rows = [{"id": True}, {"id": 3}, {"id": 4}]
    good = validate_rows(rows, {"id": int}, "t", "skip", check=lambda r: "odd id" if r["id"] % 2 else None)
    assert good == [(2, {"id": 4})]


def test_no_usable_row_is_an_error_even_when_skipping():
    with pytest.raises(ValueError, match="no usable row among 2"):
        validate_rows([{}, {}], FIELDS, "gsm8k", "skip")


def test_shuffle_and_limit_is_seeded_and_a_larger_limit_extends():
    items = list(range(50))
    a = shuffle_and_limit(items, seed=1, limit=10)
    assert a == shuffle_and_limit(items, seed=1, limit=10)
    assert shuffle_and_limit(items, seed=1, limit=20)[:10] == a
    assert shuffle_and_limit(items, seed=2, limit=10) != a
    assert sorted(shuffle_and_limit(items, seed=1, limit=None)) == items
    assert items == list(range(50))  # input untouched


def test_formats_table_matches_the_config_description():
    assert set(files.FORMATS) >= {".json", ".jsonl", ".jsonl.gz", ".parquet"}


# --- a UTF-8 byte order mark at the start of a file (Notepad, Excel exports) --------------------------------------

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("name, array", [("test.jsonl", False), ("test.json", False), ("test.json", True),
                                         ("test.jsonl.gz", False), ("test.json.gz", True)])
def test_a_bom_at_the_start_of_a_file_is_dropped(tmp_path, name, array):
    text = json.dumps(ROWS, indent=2) if array else "".join(json.dumps(r) + "\n" for r in ROWS)
    data = BOM + text.encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    rows = load_rows(str(path), "test", "x/y")
    assert rows == ROWS  # the first row is read, not a BadLine "Unexpected UTF-8 BOM"
    assert rows.where[0] == ("row 1" if array else "line 1")


def test_a_bom_only_first_line_is_a_blank_line(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_bytes(BOM + b"\n" + "".join(json.dumps(r) + "\n" for r in ROWS).encode())
    assert list(files.read_json_lines(path)) == [(n + 2, row) for n, row in enumerate(ROWS)]


def test_gsm8k_from_a_file_with_a_bom_keeps_its_first_row(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(BOM + (Path(__file__).parent / "fixtures/gsm8k/test.jsonl").read_bytes())
    problems = load_problems(TaskConfig(name="gsm8k", split="test", source=str(path), on_bad_row="fail"))
    assert sorted(p.id for p in problems) == ["gsm8k/test/0", "gsm8k/test/1", "gsm8k/test/2"]


# --- a .json file holding one JSON object spread over lines: one line saying what shape is read ---------------------
# Before: it was read as JSON Lines, each of its lines a bad row ("not JSON ... at column 2"), and the load failed
# with "no usable row" or, worse, skipped them all with a warning per file.

def test_a_json_array_as_json_dump_writes_it_is_read_with_row_numbers(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(ROWS, indent=2))
    rows = load_rows(str(path), "train", "x/y")
    assert rows == ROWS and rows.where[:2] == ["row 1", "row 2"]


@pytest.mark.parametrize("name", ["train.json", "train.json.gz", "train.jsonl"])
def test_one_pretty_printed_object_is_refused_saying_what_shape_is_read(tmp_path, name):
    text = json.dumps(ROWS[0], indent=2).encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    with pytest.raises(ValueError) as caught:
        load_rows(str(path), "train", "x/y")
    message = str(caught.value)
    assert f"{path} holds one JSON object (keys 'question', 'answer'), not rows" in message
    assert "a JSON array of row objects" in message and "JSON Lines (one object per line)" in message
    assert "\n" not in message


def test_rows_wrapped_in_an_object_are_refused_naming_the_key_that_holds_them(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"version": 2, "data": ROWS}, indent=2))
    with pytest.raises(ValueError, match=f"its 'data' holds a list of {len(ROWS)} objects: write that list"):
        load_rows(str(path), "train", "x/y")


def test_json_lines_whose_first_line_is_broken_are_still_read_line_by_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"question": "cut\n' + "".join(json.dumps(r) + "\n" for r in ROWS))
    rows = load_rows(str(path), "train", "x/y")
    assert isinstance(rows[0], files.BadLine) and rows[1:] == ROWS


def test_a_task_reading_one_object_fails_with_that_line(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"prompt": "2+3?", "answer": "5"}, indent=2))
    with pytest.raises(ValueError, match="holds one JSON object"):
        load_problems(TaskConfig(name="qa", source=str(path)))


def test_one_reason_shared_by_many_rows_is_said_once_with_a_count(caplog):
    """A wrong column name makes every row bad for the same reason: it was repeated per row (five times in the
    error, twenty row numbers in the warning), which pushed the hint after it off the end of the one-line error."""
    rows = [{"question": "q", "answr": "a"}] * 40 + [{"question": 5, "answer": "a"}]
    with caplog.at_level(logging.WARNING, logger="rlvr.data.loading"):
        validate_rows([*rows, {"question": "q", "answer": "a"}], FIELDS, "gsm8k", "skip")
    (record,) = caplog.records
    assert record.message == ("gsm8k: skipped 41 bad row(s) of 42 (row 1, row 2, row 3, row 4, row 5, ...) — 40 rows "
                              "(row 1, row 2, row 3, ...): field 'answer' is missing; row 41: field 'question' should "
                              "be str, got int")
    with pytest.raises(ValueError) as err:
        validate_rows(rows[:40], FIELDS, "gsm8k", "skip")
    assert str(err.value) == ("gsm8k: no usable row among 40 — 40 rows (row 1, row 2, row 3, ...): field 'answer' is "
                              "missing")
