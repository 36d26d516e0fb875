"""Isolation of the code sandbox, and what happens where it cannot be had.

Docker without CAP_SYS_ADMIN cannot make namespaces; `setpriv` drops that capability for a fresh Python here, so the
same failure is real, not mocked: the verdicts and the log of that process are read back as JSON and text."""

import functools
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from rlvr.verifiers.code import CodeOptions, verify

SETPRIV = shutil.which("setpriv")
needs_setpriv = pytest.mark.skipif(os.geteuid() != 0 or not SETPRIV, reason="needs root and setpriv")
REF = {"tests": "assert f() == 1", "entry_point": None, "setup": "", "prompt_prefix": ""}


@functools.cache
def _namespaces_work() -> bool:
    """Whether this machine gives the sandbox its namespaces: root is not enough (a container without CAP_SYS_ADMIN
    is root too), so ask the sandbox itself."""
    probe = verify("def f():\n    return 1", REF, CodeOptions(timeout_s=5, isolate="best_effort"))
    return probe.detail.get("isolated") is True


def _skip_without_namespaces() -> None:
    if not _namespaces_work():
        pytest.skip("the sandbox cannot make namespaces here (needs root and CAP_SYS_ADMIN)")


def _in_a_fresh_python(isolate: str, programs: list[str], launcher: tuple[str, ...] = ()) -> tuple[list[dict], str]:
    """Verify `programs` in a new Python (its log starts empty), started through `launcher`: (verdicts, its stderr)."""
    script = ("import json, sys\nfrom rlvr.verifiers.code import CodeOptions, verify\n"
              f"ref, opts = {REF!r}, CodeOptions(timeout_s=5, isolate={isolate!r})\n"
              "for program in json.loads(sys.argv[1]):\n"
              "    v = verify(program, ref, opts)\n"
              "    print(json.dumps({'status': v.status, **v.detail}))\n")
    done = subprocess.run([*launcher, sys.executable, "-c", script, json.dumps(programs)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def _without_cap_sys_admin(isolate: str, programs: list[str]) -> tuple[list[dict], str]:
    """Verify `programs` in a Python without CAP_SYS_ADMIN (as in such a container): (verdicts, its stderr)."""
    drop = (SETPRIV, "--bounding-set", "-sys_admin", "--inh-caps=-sys_admin", "--")
    return _in_a_fresh_python(isolate, programs, drop)


@needs_setpriv
def test_without_namespaces_best_effort_runs_unisolated_says_why_and_warns_once():
    verdicts, log = _without_cap_sys_admin("best_effort", ["def f():\n    return 1", "def f():\n    return 1 + 0"])
    assert [v["status"] for v in verdicts] == ["correct", "correct"]  # a container can still train
    assert all(v["isolated"] is False and "CAP_SYS_ADMIN" in v["unisolated_because"] for v in verdicts)
    assert log.count("WITHOUT isolation") == 1  # once per process, not once per program
    assert "CAP_SYS_ADMIN" in log and "hide` paths" in log and "isolate: required" in log  # why, what is lost, how


@needs_setpriv
@pytest.mark.parametrize("isolate, warned", [("best_effort", 1), ("off", 0)])
def test_through_the_verifier_pool_the_run_says_it_in_its_own_log_once(isolate, warned):
    """A training verifies through pool workers, whose stderr is not the run's log file: the process that asked
    for the verdicts says it there (once), and the workers say nothing of it."""
    script = ("import json, logging, sys\n"
              "from rlvr.verifiers.config import VerifierSpec\nfrom rlvr.verifiers.pool import VerifierPool\n"
              "handler = logging.StreamHandler(sys.stderr)\n"
              "handler.setFormatter(logging.Formatter('run log: %(message)s'))\n"
              "logging.getLogger().addHandler(handler)  # as flows/errors.start_run_log attaches the run's log\n"
              f"spec = VerifierSpec(name='code', options={{'timeout_s': 5, 'isolate': {isolate!r}}})\n"
              "with VerifierPool(workers=2) as pool:\n"
              "    for program in json.loads(sys.argv[1]):\n"
              f"        print(json.dumps(pool.map([(program, {REF!r}, [spec])])[0][1]['code'].detail))\n")
    programs = ["def f():\n    return 1", "def f():\n    return 1 + 0", "def f():\n    return 2 - 1"]
    drop = (SETPRIV, "--bounding-set", "-sys_admin", "--inh-caps=-sys_admin", "--")
    done = subprocess.run([*drop, sys.executable, "-c", script, json.dumps(programs)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    details = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(d["isolate"], d["isolated"]) for d in details] == [(isolate, False)] * 3
    lines = [line for line in done.stderr.splitlines() if "WITHOUT isolation" in line]
    assert len(lines) == warned and all(line.startswith("run log: code sandbox: ") for line in lines), done.stderr


@needs_setpriv
def test_without_namespaces_required_refuses_every_program_before_it_runs():
    marker = f"/tmp/rlvr-test-required-{uuid.uuid4().hex}"
    ran = f"open({marker!r}, 'w').write('ran')\ndef f():\n    return 1"  # the fallback's /tmp is the host's
    verdicts, _ = _without_cap_sys_admin("required", [ran, "def f():\n    return 1"])
    assert [(v["status"], v["rule"]) for v in verdicts] == [("error", "isolation_unavailable")] * 2
    assert all("\n" not in v["error"] and "CAP_SYS_ADMIN" in v["error"] for v in verdicts)
    assert not os.path.exists(marker)  # refused, not run


def test_required_runs_isolated_where_namespaces_exist():
    _skip_without_namespaces()
    v = verify("def f():\n    return 1", REF, CodeOptions(timeout_s=5, isolate="required"))
    assert (v.status, v.detail["isolated"], v.detail["unisolated_because"]) == ("correct", True, None)


def test_off_runs_unisolated_and_says_so():
    v = verify("def f():\n    return 1", REF, CodeOptions(timeout_s=5, isolate="off"))
    assert (v.status, v.detail["isolated"]) == ("correct", False)
    assert v.detail["unisolated_because"] == "isolate is 'off' in the code verifier's options"


def test_off_is_not_warned_about():
    # `off` is the user's own choice: the warning (meant for a fallback nobody asked for) was noise in every worker
    verdicts, log = _in_a_fresh_python("off", ["def f():\n    return 1"])
    assert [(v["status"], v["isolated"]) for v in verdicts] == [("correct", False)]
    assert "WITHOUT isolation" not in log, log


@pytest.mark.parametrize("isolate", ["best_effort", "off"])
def test_a_program_that_kills_itself_is_wrong_isolated_or_not(isolate):
    """PID 1 of a namespace cannot signal itself, so isolated the kill is a no-op and the tests fail; unisolated it
    dies by SIGKILL, which there is the program's own doing, not the out-of-memory killer's (`unsafe`)."""
    if isolate == "best_effort":  # the isolated case: `off` runs unisolated anywhere
        _skip_without_namespaces()
    v = verify("import os\ndef f():\n    os.kill(os.getpid(), 9)\n    return 2", REF,
               CodeOptions(timeout_s=5, isolate=isolate))
    assert (v.status, v.detail["isolated"]) == ("wrong", isolate == "best_effort"), v.detail
