"""A verdict's detail is bounded: JSON over 64 KiB is cut (in the process that ran the verifier) with a note.

Before: a plug-in's 20 MB detail was pickled whole to the pool, cached, and written into `--out` files; a training
step went from 1 s to 7 s.
"""

import json

import pytest

from rlvr.verifiers import registry
from rlvr.verifiers.cli import main
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.pool import VerifierPool

MAX_DETAIL_BYTES, KEEP_CHARS = 64 * 1024, 2000  # the documented bound and what is kept of a long entry

BIG = '''
from rlvr.verifiers.verdict import Verdict
def score(completion, reference, options=None):
    if completion == "many":  # many small entries: no single one to cut
        return Verdict(0.0, "wrong", {"rule": "per_case", **{f"case_{i}": i for i in range(20_000)}})
    return Verdict(1.0, "correct", {"rule": "traced", "steps": 3, "trace": "x" * 20_000_000})
'''
NAME = "big_detail_plugin:score"


@pytest.fixture
def spec(tmp_path, monkeypatch):
    (tmp_path / "big_detail_plugin.py").write_text(BIG)
    monkeypatch.syspath_prepend(str(tmp_path))
    return [VerifierSpec(name=NAME)]


def _json_bytes(detail: dict) -> int:
    return len(json.dumps(detail, default=str).encode())


def test_a_20_mb_detail_reaches_the_pool_cut_with_a_note(spec):
    with VerifierPool(workers=1, timeout_s=30, prestart_math=False) as pool:
        (reward, verdicts), = pool.map([("big", "ref", spec)])
    v = verdicts[NAME]
    assert (reward, v.status) == (1.0, "correct")  # reward and status are never changed
    assert _json_bytes(v.detail) <= MAX_DETAIL_BYTES
    assert v.detail["rule"] == "traced" and v.detail["steps"] == 3  # small entries kept as they were
    assert v.detail["trace"] == '"' + "x" * (KEEP_CHARS - 1) + "..."
    note = v.detail["detail_truncated"]
    assert note["json_bytes"] > 20_000_000 and note["limit_bytes"] == 64 * 1024 and note["cut_keys"] == ["trace"]


def test_many_small_entries_keep_the_rule_and_a_preview(spec):
    _, verdicts = registry.score("many", "ref", spec)  # the same bound in this process
    v = verdicts[NAME]
    assert v.status == "wrong" and _json_bytes(v.detail) <= MAX_DETAIL_BYTES
    assert set(v.detail) == {"rule", "preview", "detail_truncated"} and v.detail["rule"] == "per_case"
    assert v.detail["preview"].startswith('{"rule": "per_case", "case_0": 0') and v.detail["detail_truncated"]["why"]


def test_rlvr_verify_out_file_holds_the_cut_detail(spec, tmp_path):
    (tmp_path / "in.jsonl").write_text(json.dumps({"completion": "big", "reference": 1, "verifier": NAME}) + "\n")
    assert main([str(tmp_path / "in.jsonl"), "--workers", "1", "--out", str(tmp_path / "out.jsonl")]) == 0
    line = (tmp_path / "out.jsonl").read_text()
    assert len(line) < MAX_DETAIL_BYTES + 1000 and '"detail_truncated"' in line
