"""A bad row's reason and the dataset it is in, as the data-quality lines say them: a JSON null is `null` (it was
reported as "missing", sending the user to look for a column that is there), and task qa's file reads as a file
with a split: `qa: <source> (train)`, not `qa <source>/train` (a path to a file `train`)."""

from __future__ import annotations

import logging

import pytest

from rlvr.data.config import TaskConfig
from rlvr.data.loading import row_problem
from rlvr.data.tasks import load_problems
from tests.data.conftest import write_rows

ROWS = [
    {"question": "1+1?", "final": "2"},
    {"question": "2+2?", "final": None},  # the column is there, with no value: null
    {"question": "3+3?"},  # no such column in this line: missing
]


@pytest.mark.parametrize("row, reason", [
    ({"q": "a", "answer": None}, "field 'answer' is null"),
    ({"q": "a"}, "field 'answer' is missing"),
    ({"q": "a", "answer": "  "}, "field 'answer' is empty"),
])
def test_row_problem_tells_null_from_missing(row, reason):
    assert row_problem(row, {"q": str, "answer": str}) == reason


def test_a_qa_file_says_null_and_missing_and_names_itself_as_a_file_with_a_split(tmp_path, caplog):
    source = write_rows(ROWS, tmp_path / "mine", "jsonl")
    with caplog.at_level(logging.WARNING, logger="rlvr.data.loading"):
        kept = load_problems(TaskConfig(name="qa", source=str(source), columns={"prompt": "question",
                                                                               "answer": "final"}))
    assert [p.reference for p in kept] == ["2"]
    said = caplog.text
    assert f"qa: {source} (train): skipped 2 bad row(s) of 3" in said, said
    assert "line 2: field 'final' is null" in said and "line 3: field 'final' is missing" in said, said


def test_a_null_under_a_nested_column_path_is_null(tmp_path):
    source = write_rows(ROWS[:1] + [{"question": "4+4?", "meta": {"gold": None}}], tmp_path / "nested", "jsonl")
    with pytest.raises(ValueError, match=r"line 2: field 'meta.gold' is null"):
        load_problems(TaskConfig(name="qa", source=str(source), on_bad_row="fail",
                                 columns={"prompt": "question", "answer": "meta.gold"}))
