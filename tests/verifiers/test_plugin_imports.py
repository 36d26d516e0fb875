"""A plug-in's import happens as each pool worker starts, outside every completion's deadline, and a slow or failing
import is said once, in one line.

Before: the worker imported the plug-in inside its first task's deadline. A module that slept longer than
`timeout_s` at import made EVERY completion `timeout`: each killed worker's replacement imported again inside the
next deadline.
"""

import json

import pytest

from rlvr.verifiers.cli import main
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.pool import VerifierPool

IMPORT_S = 2.5  # longer than the deadlines below, shorter than the pool's start-up bound
SLOW = f'''
import time
time.sleep({IMPORT_S})  # a model, a tokenizer, a big table: slow to load
from rlvr.verifiers.verdict import Verdict
def score(completion, reference, options=None):
    return Verdict(1.0, "correct", {{"rule": "loaded"}})
'''
# imports in the process that validates the config, but not in a verification worker (or never finishes there)
WORKER_ONLY = '''
import time
from rlvr.verifiers import procs
from rlvr.verifiers.verdict import Verdict
if procs.IN_WORKER:
    {what}
def score(completion, reference, options=None):
    return Verdict(1.0, "correct", {{"rule": "loaded"}})
'''


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    (tmp_path / "slow_import_plugin.py").write_text(SLOW)
    fails = WORKER_ONLY.format(what="raise RuntimeError('needs the GPU process')")
    (tmp_path / "worker_fails_plugin.py").write_text(fails)
    (tmp_path / "worker_hangs_plugin.py").write_text(WORKER_ONLY.format(what="time.sleep(600)"))
    monkeypatch.syspath_prepend(str(tmp_path))  # the workers inherit sys.path
    return tmp_path


def test_a_slow_import_does_not_count_against_any_deadline(plugins):
    spec = [VerifierSpec(name="slow_import_plugin:score")]
    with VerifierPool(workers=1, timeout_s=1.0, prestart_math=False) as pool:
        out = pool.map([(c, "ref", spec) for c in ("a", "b", "c")])
        assert [v["slow_import_plugin:score"].status for _, v in out] == ["correct"] * 3
        assert pool.stats["timeouts"] == 0
        assert [n for n in pool.notes if "slow_import_plugin" in n] == [
            f"verifier 'slow_import_plugin:score' took {IMPORT_S:.1f} s to import in a verification worker; that is "
            "done as the worker starts, outside any completion's deadline, but a worker replaced after a timeout or "
            "a crash takes no task for that long"]


def test_rlvr_verify_with_a_timeout_shorter_than_the_import(plugins, capfd):
    rows = [{"completion": c, "reference": 1, "verifier": "slow_import_plugin:score"} for c in "abc"]
    (plugins / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main([str(plugins / "in.jsonl"), "--timeout", "1", "--workers", "2"]) == 0
    out, err = capfd.readouterr()
    assert "slow_import_plugin:score           3         0         0         0" in out  # 3 correct, 0 timeout
    said = [line for line in err.splitlines() if "slow_import_plugin" in line]
    assert len(said) == 1 and said[0].startswith("rlvr: verifier 'slow_import_plugin:score' took"), err


def test_an_import_that_fails_only_in_the_workers_is_one_line(plugins, capfd):
    rows = [{"completion": c, "reference": 1, "verifier": "worker_fails_plugin:score"} for c in "abc"]
    (plugins / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main([str(plugins / "in.jsonl"), "--workers", "2"]) == 1  # every verdict an error
    err = capfd.readouterr().err
    said = [line for line in err.splitlines() if "cannot be imported in the verification workers" in line]
    assert len(said) == 1, err
    assert said[0].startswith("rlvr: verifier 'worker_fails_plugin:score' cannot be imported")
    assert "RuntimeError: needs the GPU process" in said[0]


def test_an_import_past_the_start_up_bound_is_a_reason_not_a_hang(plugins):
    spec = [VerifierSpec(name="worker_hangs_plugin:score")]
    with VerifierPool(workers=1, timeout_s=1.0, prestart_math=False, startup_timeout_s=2.0) as pool:
        (reward, verdicts), = pool.map([("a", "ref", spec)])
        v = verdicts["worker_hangs_plugin:score"]
        assert (reward, v.status, v.detail["rule"]) == (0.0, "error", "worker_cannot_start")
        assert v.detail["error"] == ("a verification worker did not get ready (start and import the plug-in "
                                     "verifiers ['worker_hangs_plugin:score']) within 2 s")
        assert pool.notes == [v.detail["error"] + "; it is replaced"]  # said once, not once per try
