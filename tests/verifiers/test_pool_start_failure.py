"""Verification workers that cannot start: a module their start-up imports is broken where the run's own process had
imported a good copy (a path entry added later, a half-upgraded install). Was (a user audit, `rlvr eval`): Python
printed the worker's traceback on the console at every start, the pool's replacements included (4 in a one-suite
evaluation with 2 workers, more with more suites), and the pool's line said only "exited with code 1 (os._exit, or
a crash outside Python's exceptions)". Now: the exception's line, said once; the traceback in the log only, marked
for the run's log file; nothing on the console from the workers. Real worker processes throughout."""

import logging

import latex2sympy2_extended  # noqa: F401 - this process holds the good copy; only the workers import the broken one
import pytest

from rlvr.verifiers import procs
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.pool import VerifierPool

MATH = [VerifierSpec(name="math")]
JOBS = [("\\boxed{2}", "2", MATH), ("\\boxed{3}", "3", MATH), ("\\boxed{4}", "5", MATH)]


@pytest.mark.parametrize("module, prestart_math", [
    ("psutil", False),  # procs imports it: the worker's very first import fails (guarded in its command, _BOOT)
    ("latex2sympy2_extended", True),  # the math grader's warm-up imports it (guarded in `serve`)
])
def test_a_broken_module_the_workers_import_is_one_line_not_a_traceback_per_start(
        module, prestart_math, tmp_path, monkeypatch, capfd, caplog):
    message = f"cannot import name thing from {module} (a half-upgraded install)"
    (tmp_path / f"{module}.py").write_text(f"raise ImportError({message!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # the workers inherit the path; this process has its modules already
    cause = f"a verification worker could not start: ImportError: {message}"
    with caplog.at_level(logging.WARNING, logger="rlvr.verifiers.pool"):
        with VerifierPool(workers=2, timeout_s=5, prestart_math=prestart_math) as pool:
            for _ in range(3):  # each batch starts (and replaces) workers again
                for reward, verdicts in pool.map(JOBS):
                    detail = verdicts["math"].detail
                    assert (reward, detail["rule"], detail["error"]) == (0.0, "worker_cannot_start", cause)
            assert pool.notes == [f"{cause}; it is replaced"]  # said once, naming the cause
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and message not in out + err, out + err  # the workers printed nothing
    file_only = [r for r in caplog.records if getattr(r, "rlvr_file_only", False)]
    assert len(file_only) == 1, [r.getMessage()[:200] for r in caplog.records]
    assert "Traceback" in file_only[0].getMessage() and str(tmp_path / f"{module}.py") in file_only[0].getMessage()


def test_a_module_in_the_working_directory_does_not_shadow_what_the_workers_import(tmp_path, monkeypatch, capfd):
    """`python -c` put the working directory first on a worker's path, which the `rlvr` command's own process does
    not have: a user's `csv.py` there broke every worker (and the run's process never saw it)."""
    (tmp_path / "csv.py").write_text("raise RuntimeError('my own csv.py, not the standard library')\n")
    monkeypatch.chdir(tmp_path)
    with VerifierPool(workers=1, timeout_s=5, prestart_math=False) as pool:
        assert [reward for reward, _ in pool.map(JOBS)] == [1.0, 1.0, 0.0]
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, out + err


def test_a_start_up_out_of_memory_names_the_cap():
    """32 MiB: above the interpreter's own ~18 MiB of address space, below the ~40 MiB that importing the pool needs."""
    with VerifierPool(workers=1, timeout_s=5, prestart_math=True, memory_mb=32) as pool:
        (_, verdicts), = pool.map(JOBS[:1])
    error = verdicts["math"].detail["error"]
    assert error.startswith("a verification worker could not start: "), error
    assert error.endswith("(the worker's address space is capped at 32 MiB: verify.memory_mb)"), error


def test_a_worker_called_alone_raises_the_cause(capfd):
    """The blocking form (math.py's grader helper outside a pool) gets the same line, as `Died`."""
    worker = procs.Worker("no_such_module_rlvr:work", memory_mb=None)
    try:
        with pytest.raises(procs.Died, match=r"^ModuleNotFoundError: No module named 'no_such_module_rlvr'$"):
            worker.call("anything", timeout_s=5)
    finally:
        worker.kill()
    assert "Traceback" not in "".join(capfd.readouterr())


def test_the_loaders_failure_to_map_an_extension_under_the_cap_is_named_as_memory():
    """At the cap the failing step varies: a MemoryError, ENOMEM, or (seen in CI) the dynamic loader's ImportError
    for an extension module such as pydantic_core; each is the cap, and the line must say so."""
    mapped = ImportError("/venv/lib/python3.11/site-packages/pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu"
                         ".so: failed to map segment from shared object")
    assert procs._out_of_memory(mapped) and procs._out_of_memory(MemoryError())
    assert not procs._out_of_memory(ImportError("cannot import name 'latex2sympy' from 'latex2sympy2_extended'"))
