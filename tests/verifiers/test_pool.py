"""The pool: parallel map, hard timeouts enforced from outside, dead workers replaced, cache."""

import os

import pytest

from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.pool import VerifierPool

HERE = os.path.dirname(__file__)
SLEEPY = '''
import os, time
from rlvr.verifiers.verdict import Verdict
def sleepy(completion, reference, options=None):
    if completion == "die":
        os._exit(3)
    time.sleep(float(completion))
    return Verdict(1.0, "correct", {"pid": os.getpid()})

def hog(completion, reference, options=None):
    block = bytearray(int(completion) * 2**20)  # touched pages: a real allocation
    return Verdict(1.0, "correct", {"allocated_mb": len(block) // 2**20})
'''


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    d = tmp_path_factory.mktemp("userverif")
    (d / "pool_user_verifier.py").write_text(SLEEPY)
    import sys
    sys.path.insert(0, str(d))
    with VerifierPool(workers=2, timeout_s=1.5, prestart_math=False) as p:
        p.map([("0", "warm", S)])  # both workers started and ready
        yield p
    sys.path.remove(str(d))


# Built without validation: the module is importable only once the `pool` fixture has put it on sys.path.
S = [VerifierSpec.model_construct(name="pool_user_verifier:sleepy", weight=1.0, options={})]


def test_map_keeps_order_and_runs_in_parallel(pool):
    out = pool.map([("0.5", i, S) for i in range(4)])
    assert [r for r, _ in out] == [1.0] * 4
    pids = {v["pool_user_verifier:sleepy"].detail["pid"] for _, v in out}
    assert pids == {w.proc.pid for w in pool.workers}  # both workers took tasks


def test_hard_timeout_kills_and_replaces_the_worker(pool):
    pids = {w.proc.pid for w in pool.workers}
    (reward, verdicts), (ok, _) = pool.map([("30", "a", S), ("0", "b", S)])
    assert reward == 0.0 and verdicts["pool_user_verifier:sleepy"].status == "timeout" and ok == 1.0
    assert verdicts["pool_user_verifier:sleepy"].detail == {"rule": "deadline", "timeout_s": 1.5}
    assert pids != {w.proc.pid for w in pool.workers}
    assert pool.map([("0", "c", S)])[0][0] == 1.0  # the replacement works


def test_dead_worker_is_replaced_and_nothing_hangs(pool):
    (reward, verdicts), = pool.map([("die", "x", S)])
    assert verdicts["pool_user_verifier:sleepy"].status == "error" and verdicts["pool_user_verifier:sleepy"].detail["rule"] == "worker_died"
    assert pool.map([("0", "after", S)])[0][0] == 1.0


def test_cache_hits_skip_the_work(pool):
    pool.map([("0.3", "cached", S)])
    hits, tasks_run = pool.stats["cache_hits"], pool.stats["tasks"] - pool.stats["cache_hits"]
    out = pool.map([("0.3", "cached", S), ("0.3", "cached", S)])
    assert pool.stats["cache_hits"] == hits + 2 and pool.stats["tasks"] - pool.stats["cache_hits"] == tasks_run
    assert [r for r, _ in out] == [1.0, 1.0]


def test_identical_tasks_in_a_batch_run_once(pool):
    hits = pool.stats["cache_hits"]
    pool.map([("0.1", "dup", S), ("0.1", "dup", S), ("0.1", "dup", S)])
    assert pool.stats["cache_hits"] == hits + 2


def test_timeouts_are_not_cached(pool):
    pool.map([("30", "to", S)])
    assert pool.map([("30", "to", S)])[0][1]["pool_user_verifier:sleepy"].status == "timeout"


def test_an_unpicklable_verdict_is_one_error_and_keeps_its_worker(capfd, monkeypatch):
    # before: each completion printed a "Can't pickle local object" traceback from the worker, which died and was
    # replaced, and the verdict said only `worker_died`
    monkeypatch.syspath_prepend(HERE)  # example_user_verifier.py; the workers inherit sys.path
    spec = [VerifierSpec(name="example_user_verifier:unpicklable")]
    with VerifierPool(workers=1, timeout_s=10, prestart_math=False) as p:
        pid = p.workers[0].proc.pid
        out = p.map([(held, "ref", spec) for held in ("match", "lambda", "exception")])
        assert p.workers[0].proc.pid == pid and p.stats["worker_deaths"] == 0
    verdicts = [v["example_user_verifier:unpicklable"] for _, v in out]
    assert [(v.status, v.detail["rule"], v.detail["key"]) for v in verdicts] == [
        ("error", "unpicklable_verdict", "match"), ("error", "unpicklable_verdict", "lambda"),
        ("error", "unpicklable_verdict", "exception")]
    assert "Traceback" not in capfd.readouterr().err


def test_unknown_option_fails_before_any_work(pool):
    with pytest.raises(ValueError, match="unknown option"):
        pool.map([("x", "3", [VerifierSpec(name="math", options={"nope": 1})])])


def test_builtin_verifiers_through_the_pool():
    specs = [VerifierSpec(name="math"), VerifierSpec(name="format", weight=0.1)]
    code_ref = {"tests": "assert f() == 1", "entry_point": None, "setup": "", "prompt_prefix": ""}
    with VerifierPool(workers=2, timeout_s=20) as p:
        out = p.map([("\\boxed{(x+1)^2}", "x^2+2x+1", specs), ("\\boxed{3}", "4", specs),
                     ("def f():\n    return 1", code_ref, [VerifierSpec(name="code")])])
    assert [round(r, 2) for r, _ in out] == [1.1, 0.1, 1.0]


def test_a_runaway_plugin_hits_the_memory_cap(pool):
    hog = [VerifierSpec.model_construct(name="pool_user_verifier:hog", weight=1.0, options={})]
    with VerifierPool(workers=1, timeout_s=30, prestart_math=False, memory_mb=512) as p:
        (reward, verdicts), (small, _) = p.map([("2048", "big", hog), ("16", "small", hog)])
    v = verdicts["pool_user_verifier:hog"]
    assert reward == 0.0 and v.status == "error" and v.detail["rule"] == "memory_limit", v
    assert v.detail["memory_mb"] == 512 and "MemoryError" in v.detail["error"]
    assert small == 1.0  # under the cap the same verifier works


def test_memory_cap_defaults_to_4_gib_and_is_configurable():
    from rlvr.verifiers.config import VerifyConfig
    from rlvr.verifiers.task_runner import make_pool

    assert VerifyConfig().memory_mb == 4096 and VerifierPool.__init__.__defaults__[-1] == 4096
    pool = make_pool(VerifyConfig(workers=1, memory_mb=1024))
    try:
        assert pool.memory_mb == 1024
    finally:
        pool.close()


def test_math_through_the_pool_gets_its_own_deadline():
    # an expensive but size-legal simplification: math's timeout_s (not the pool's 20 s) ends it
    hard = "\\boxed{" + "+".join(f"\\sin^{{{k}}}(x)\\cos^{{{k+1}}}(x)" for k in range(1, 13)) + "}"
    spec = [VerifierSpec(name="math", options={"timeout_s": 0.05})]
    with VerifierPool(workers=1, timeout_s=20) as p:
        (_, verdicts), = p.map([(hard, "\\tan(x)", spec)])
        assert verdicts["math"].status == "timeout" and verdicts["math"].detail["timeout_s"] == 0.05
        ok = [VerifierSpec(name="math")]
        assert p.map([("\\boxed{(x+1)^2}", "x^2+2x+1", ok)])[0][0] == 1.0  # the replacement worker grades


class _BrokenPool(VerifierPool):
    """A pool whose workers die while starting (their handler does not exist): real processes, real deaths."""

    def _start(self):
        from rlvr.verifiers import procs

        return procs.Worker("no_such_module_rlvr:work", memory_mb=None)


def test_workers_that_cannot_start_give_errors_not_a_hang():
    with _BrokenPool(workers=1, timeout_s=5, prestart_math=False) as p:
        (reward, verdicts), = p.map([("x", "1", [VerifierSpec(name="math")])])
    assert reward == 0.0 and verdicts["math"].status == "error"
    assert verdicts["math"].detail["rule"] == "worker_cannot_start" and p.stats["failed_starts"] >= 3


def test_closed_pool_refuses_work():
    p = VerifierPool(workers=1)
    p.close()
    with pytest.raises(RuntimeError):
        p.map([])


def test_a_worker_whose_pool_is_gone_before_it_is_ready_exits_without_a_traceback():
    """A run refused while its verifier workers were still starting: each worker's `ready` met a closed pipe and
    printed a BrokenPipeError traceback under the run's one closing line."""
    import subprocess
    import sys

    worker = subprocess.Popen([sys.executable, "-c", "from rlvr.verifiers.procs import serve; serve('json:dumps')"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    worker.stdout.close()  # the pool went away before reading `ready`
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0 and b"Traceback" not in err, err.decode()[-2000:]
