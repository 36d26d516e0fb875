"""The closing `rlvr:` line: one line of at most 600 characters that keeps what to do. rlvr's messages end in their
hint ("set task.columns.answer ..."), so a message too long for the line loses its middle, never its end."""

import pyarrow as pa
import pyarrow.parquet as pq

from rlvr.data.config import TaskConfig
from rlvr.flows.bootstrap import load_task_problems
from rlvr.flows.errors import BadInput, one_line, report_failure


def test_a_long_message_keeps_its_start_and_its_hint():
    start, hint = "training task qa (data.parquet): ", "; set task.columns.prompt and task.columns.answer"
    line = one_line(BadInput(start + "row 1: field 'x' is missing; " * 40 + hint))
    assert len(line) <= 600 and line.startswith(start) and line.endswith(hint) and " ... " in line, line
    assert one_line(BadInput("short\n  and two lines")) == "short and two lines"  # nothing to cut


def test_a_wrong_answer_column_on_verl_data_says_its_reason_once_and_ends_in_the_hint(tmp_path, capsys):
    """The audit's `task.columns.answer=reward_model.groundtruth` (for ground_truth) on verl's parquet layout: the
    line repeated `row N: field ... is missing` five times and was cut in the middle of the hint."""
    rows = [{"data_source": "openai/gsm8k", "prompt": [{"role": "user", "content": f"What is {i} + 1?"}],
             "ability": "math", "reward_model": {"style": "rule", "ground_truth": str(i + 1)},
             "extra_info": {"split": "train", "index": i}} for i in range(200)]
    source = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), source)
    task = TaskConfig(name="qa", source=str(source), columns={"prompt": "prompt",
                                                              "answer": "reward_model.groundtruth"})
    try:
        load_task_problems(task, "training")
    except BadInput as exc:
        assert report_failure(exc, None) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith("set task.columns.prompt and task.columns.answer (verl's layout: "
                         "task.columns.answer=reward_model.ground_truth)"), line
    assert line.count("field 'reward_model.groundtruth' is missing") == 1, line
    assert "200 rows (row 1, row 2, row 3, ...): field 'reward_model.groundtruth' is missing" in line, line
