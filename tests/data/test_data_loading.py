"""rlvr.data.loading: reading every supported format, choosing split files, hub calls, bad-row reports, shuffle + limit."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from rlvr.data import loading
from rlvr.data.loading import few_shot_source, load_rows, shuffle_and_limit, validate_rows

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


def test_a_file_is_the_split_whatever_split_is_asked(tmp_path, write_rows):
    path = write_rows(ROWS, tmp_path / "test", "jsonl")
    assert load_rows(str(path), "train", "unused/hub-id") == ROWS


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


def test_unparsable_file_names_the_file(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"a": 1}\n{"a": 2\n')
    with pytest.raises(ValueError, match="broken.jsonl"):
        load_rows(str(path), "test", "x/y")


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
        {"question": "q5", "answer": None},  # 5: None (what `datasets` gives for a missing key)
        "not an object",  # 6
    ]


def test_skip_keeps_good_rows_with_their_indices_and_warns_once(caplog):
    with caplog.at_level(logging.WARNING, logger="rlvr.data.loading"):
        good = validate_rows(_rows_with_bad_ones(), FIELDS, "gsm8k", "skip")
    assert [i for i, _ in good] == [0, 3]
    assert [r["question"] for _, r in good] == ["q0", "q3"]
    (record,) = caplog.records
    assert "skipped 5 bad row(s) of 7" in record.message
    assert "indices 1, 2, 4, 5, 6" in record.message
    assert "row 1: field 'question' is missing" in record.message


@pytest.mark.parametrize(
    "index, message",
    [
        (1, "row 1: field 'question' is missing"),
        (2, "row 2: field 'question' should be str, got int"),
        (4, "row 4: field 'question' is empty"),
        (5, "row 5: field 'answer' is missing"),
        (6, "row 6: is a str, not an object"),
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


def test_few_shot_source_of_a_file_is_its_folder(tmp_path, write_rows):
    path = write_rows(ROWS, tmp_path / "test", "jsonl")
    assert few_shot_source(str(path)) == str(tmp_path)
    assert few_shot_source(str(tmp_path)) == str(tmp_path)
    assert few_shot_source("openai/gsm8k") == "openai/gsm8k"
    assert few_shot_source(None) is None


def test_formats_table_matches_the_config_description():
    assert set(loading.FORMATS) >= {".json", ".jsonl", ".jsonl.gz", ".parquet"}
