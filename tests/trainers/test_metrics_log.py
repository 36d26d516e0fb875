"""metrics.jsonl is strict JSON (a metric a step lacks is null, read back as NaN), and the step's console line
shows the metrics the step has: offline DPO, which samples nothing, shows its loss and margin, never `nan`."""

import json
import math

from rlvr.trainers.metrics import format_step
from rlvr.trainers.metrics import MetricsLog


def _refuse(constant):
    raise ValueError(f"not strict JSON: {constant}")


def test_a_missing_metric_is_written_as_null_and_read_back_as_nan(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"step": 1, "loss": 0.69, "reward_mean": math.nan, "kl": math.inf, "pairs": 2.0})
    log.append({"step": 2, "loss": 0.65, "reward_mean": math.nan, "kl": 0.0, "pairs": 2.0})
    log.truncate_after(2)  # rewritten: still strict
    for line in (tmp_path / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line, parse_constant=_refuse)  # what jq, pandas and JavaScript accept
        assert row["reward_mean"] is None
    rows = log.read()
    assert [r["step"] for r in rows] == [1, 2] and rows[0]["loss"] == 0.69
    assert math.isnan(rows[0]["reward_mean"]) and math.isnan(rows[0]["kl"]) and rows[1]["kl"] == 0.0


def test_the_step_line_of_offline_dpo_shows_loss_and_margin_not_nan():
    row = {"step": 3, "loss": 0.6555, "reward_mean": math.nan, "accuracy": math.nan, "kl": math.nan,
           "completion_len_mean": math.nan, "tokens_per_s": 0.0, "generated_tokens": 0, "reward_margin": 0.031,
           "reward_accuracy": 0.75, "step_time_s": 0.4}
    assert format_step(row, 8) == "step 3/8 loss 0.6555 rewards/margins 0.031 rewards/accuracies 0.750 (0.4s)"


def test_the_step_line_of_grpo_shows_reward_accuracy_kl_and_throughput():
    row = {"step": 1, "loss": 0.0123, "reward_mean": 0.25, "accuracy": 0.25, "kl": 0.0004,
           "completion_len_mean": 20.5, "tokens_per_s": 812.0, "generated_tokens": 656, "step_time_s": 0.8}
    assert format_step(row, 60) == "step 1/60 loss 0.0123 reward 0.250 acc 0.250 kl 0.0004 len 20.5 tok/s 812 (0.8s)"


def test_a_damaged_row_in_the_middle_is_skipped_with_its_file_line_number(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 0.5}\n\n{"step": 2, "lo\x00\x00ss"\n[3]\n{"step": 3, "loss": 0.4}\n')
    lines = []
    log = MetricsLog(path)
    assert [r["step"] for r in log.read(log=lines.append)] == [1, 3]
    assert len(lines) == 2 and all(line.startswith(f"warning: {path}:") for line in lines), lines
    # the lines' numbers in the file, the blank line counted
    assert f"{path}:3: skipped a line" in lines[0] and f"{path}:4: skipped a line" in lines[1]
    log.truncate_after(3)  # the resume rewrites the file without them
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 3]
