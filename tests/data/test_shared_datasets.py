"""The real benchmark files in /work/shared/data (skipped where absent): counts and spot checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlvr.data.config import TaskConfig
from rlvr.data.tasks import load_problems

DATA = Path("/work/shared/data")
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="no /work/shared/data on this machine")


@pytest.mark.parametrize(
    "task, split, source, count",
    [
        ("gsm8k", "test", "gsm8k/test.jsonl", 1319),
        ("gsm8k", "train", "gsm8k", 7473),
        ("math500", "test", "math500/test.jsonl", 500),
        ("math500", "test", "math500", 500),
        ("humaneval", "test", "humaneval/HumanEval.jsonl.gz", 164),
        ("humaneval", "test", "humaneval", 164),
        ("mbpp", "test", "mbpp/mbpp.jsonl", 500),
        ("mbpp", "train", "mbpp/mbpp.jsonl", 374),
        ("mbpp", "test", "mbpp/sanitized-mbpp.json", 257),
    ],
)
def test_counts(task, split, source, count):
    problems = load_problems(TaskConfig(name=task, split=split, source=str(DATA / source), on_bad_row="fail"))
    assert len(problems) == count
    assert len({p.id for p in problems}) == count


def test_spot_checks():
    def load(**kw):
        return {p.id: p for p in load_problems(TaskConfig(on_bad_row="fail", **kw))}

    gsm = load(name="gsm8k", split="test", source=str(DATA / "gsm8k/test.jsonl"))
    assert gsm["gsm8k/test/0"].reference == "18"
    assert all("," not in p.reference for p in gsm.values())
    math = load(name="math500", split="test", source=str(DATA / "math500/test.jsonl"))
    assert math["test/precalculus/807.json"].reference == "\\left( 3, \\frac{\\pi}{2} \\right)"
    he = load(name="humaneval", split="test", source=str(DATA / "humaneval/HumanEval.jsonl.gz"))
    assert he["HumanEval/0"].reference["entry_point"] == "has_close_elements"
    mbpp = load(name="mbpp", split="test", source=str(DATA / "mbpp/mbpp.jsonl"), few_shot=3)
    assert {p.meta["task_id"] for p in mbpp.values()} == set(range(11, 511))
    assert all(p.meta["entry_point"] for p in mbpp.values())
    assert all("\r" not in p.reference["tests"] + p.meta["code"] for p in mbpp.values())
    assert len(mbpp["mbpp/11"].prompt) == 7  # 3 shots as user/assistant pairs + the question
