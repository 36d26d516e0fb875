"""A plug-in that ends its process: `sys.exit` is an exception like any other, `os._exit` a death with its code.

Before: `sys.exit(3)` in a plug-in killed the pool's worker (`worker_died`, no reason) and a worker was restarted
for every completion; `os._exit` gave `worker_died` with nothing saying how it ended.
"""

import pytest

from rlvr.verifiers import registry
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.pool import VerifierPool

EXITS = '''
import os, sys
from rlvr.verifiers.verdict import Verdict
def score(completion, reference, options=None):
    if completion.startswith("sys.exit"):
        sys.exit(int(completion.split()[1]))
    if completion.startswith("os._exit"):
        os._exit(int(completion.split()[1]))
    return Verdict(1.0, "correct", {"rule": "fine"})
'''
NAME = "exiting_plugin:score"


@pytest.fixture
def spec(tmp_path, monkeypatch):
    (tmp_path / "exiting_plugin.py").write_text(EXITS)
    monkeypatch.syspath_prepend(str(tmp_path))  # the workers inherit sys.path
    return [VerifierSpec(name=NAME)]


def test_sys_exit_is_an_error_verdict_and_keeps_its_worker(spec):
    with VerifierPool(workers=1, timeout_s=10, prestart_math=False) as pool:
        pool.map([("warm", "ref", spec)])
        pid = pool.workers[0].proc.pid
        out = pool.map([("sys.exit 3", "ref", spec), ("sys.exit 0", "ref", spec), ("ok", "ref", spec)])
        assert pool.workers[0].proc.pid == pid and pool.stats["worker_deaths"] == 0
    assert [v[NAME].detail for _, v in out[:2]] == [{"rule": "verifier_raised", "error": "SystemExit: 3"},
                                                    {"rule": "verifier_raised", "error": "SystemExit: 0"}]
    assert [v[NAME].status for _, v in out] == ["error", "error", "correct"]


def test_sys_exit_in_this_process_is_an_error_verdict_too(spec):
    _, verdicts = registry.score("sys.exit 3", "ref", spec)
    assert verdicts[NAME].status == "error" and verdicts[NAME].detail["error"] == "SystemExit: 3"


@pytest.mark.parametrize("code", [0, 7])
def test_os_exit_is_worker_died_with_its_exit_code(spec, code):
    with VerifierPool(workers=1, timeout_s=10, prestart_math=False) as pool:
        (_, verdicts), (ok, _) = pool.map([(f"os._exit {code}", "ref", spec), ("ok", "ref", spec)])
    v = verdicts[NAME]
    assert (v.status, v.detail["rule"], v.detail["exit_code"]) == ("error", "worker_died", code)
    assert f"exited with code {code}" in v.detail["error"] and ok == 1.0  # the replacement works
