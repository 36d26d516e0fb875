"""Code verifier: run the completion's program in a sandbox and the reference tests in a trusted judge.

    verify(completion, {"tests": ..., "entry_point": "f" | None, "setup": "", "prompt_prefix": ""}, CodeOptions())

`tests` is a string of test code, or a list of test statements (MBPP's `test_list`), joined one per line.

Code comes from the last fenced ```python block of the completion (else the last fence, else the raw text).
If `entry_point` is set and the code does not define it, the code is a body continuation of `prompt_prefix`
(HumanEval's prompt); the prefix is always put before the code so its imports and helpers exist.

Statuses: correct (every test passed) | wrong (an assertion failed, the program raised, did not load or define the
entry point, or exited) | no_answer (no code) | timeout (wall-clock or CPU limit) | unsafe (memory, thread, file
size, output or permission limit hit, or a process started: refused by default) | error (bad reference or a
harness failure). See `sandbox.py` for what the sandbox
covers and what it does not, and `code_harness.py` for why a program cannot fake a pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rlvr.verifiers.code_harness import TestsFailed, run_tests, setup_needs_program
from rlvr.verifiers.sandbox import CandidateError, Limits, Sandbox, SandboxDied, SandboxOutputLimit, SandboxTimeout
from rlvr.verifiers.verdict import Verdict

VERSION = "3"  # 2: processes refused, output capped, records by value; 3: thread starts counted, not alive
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.S)
_UNSAFE_EXC = {"MemoryError", "BlockingIOError", "PermissionError"}
_UNSAFE_MESSAGES = ("can't start new thread", "File too large", "No space left", "Resource temporarily unavailable")
_UNSAFE_SIGNALS = {9: "killed (out of memory?)", 25: "file size limit"}


@dataclass(frozen=True)
class CodeOptions:
    timeout_s: float = 10.0  # the whole verification; the sandbox's wall limit is set strictly inside it
    cpu_s: int = 10
    memory_mb: int = 1024
    threads: int = 64  # thread starts per program run (a count, so the verdict does not depend on timing)
    nproc: int = 16  # with processes=True only: processes and threads alive at once (RLIMIT_NPROC)
    fsize_mb: int = 16
    output_kb: int = 1024  # stdout + stderr of the program; more is `unsafe`
    processes: bool = False  # let the program start processes (verdicts near nproc then depend on timing)
    isolate: bool = True  # namespaces + own uid when running as root (see sandbox.py)
    hide: tuple[str, ...] = Limits.hide  # paths masked inside the sandbox (data folders, homes)

    def __post_init__(self):
        # `nproc` once capped threads alive at once; a config that still sets it for that gets told the new key
        if self.nproc != Limits.nproc and not self.processes:
            raise ValueError(f"code option nproc={self.nproc} applies with processes=True only; threads are capped "
                             f"by `threads` (starts per run, default {Limits.threads})")


def sandbox_wall_s(timeout_s: float) -> float:
    """The sandbox's wall-clock limit for a verification of `timeout_s`: strictly inside it, so that a looping
    program ends by the sandbox's own timeout (its Verdict, its cleanup) and not by the pool killing the worker
    (`VerifierPool` takes this verifier's `timeout_s` as the task's deadline when it is below the pool's).
    The margin, 0.5 s (half of a shorter `timeout_s`), covers what runs outside the sandbox's clock: receiving the
    task, ending the sandbox and sending the verdict back."""
    return timeout_s - min(0.5, 0.5 * timeout_s)


def _timeout_text(e: SandboxTimeout, timeout_s: float) -> str:
    """The sandbox says "wall-clock limit 4.5s" for `--timeout 5`: name both numbers, so the 0.5 s reads as a margin."""
    wall = sandbox_wall_s(timeout_s)
    if not str(e).startswith("wall-clock"):  # the CPU limit: its own number, already right
        return str(e)
    return (f"the program ran past the sandbox's wall-clock limit of {wall:g} s (the verification's timeout of "
            f"{timeout_s:g} s less {timeout_s - wall:g} s, so that the sandbox ends before the pool's deadline)")


def extract_code(completion: str) -> str:
    """The last ```python block, else the last fenced block of any language, else the whole text."""
    blocks = _FENCE.findall(completion)
    if not blocks:
        return completion.strip("\n")
    py = [code for lang, code in blocks if lang.lower() in ("python", "py", "python3")]
    return (py or [code for _, code in blocks])[-1]


def defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b", code, re.M) is not None


def assemble(code: str, prefix: str, entry_point: str | None) -> tuple[str, str]:
    """The program to run and how it was built ('prefix+body', 'prefix+code' or 'code')."""
    if not prefix:
        return code, "code"
    if entry_point and not defines(code, entry_point):
        first = next((ln for ln in code.splitlines() if ln.strip()), "")
        if first and not first[0].isspace():  # a body written flush-left: indent it into the function
            code = "\n".join("    " + ln if ln.strip() else ln for ln in code.splitlines())
        return prefix.rstrip("\n") + "\n" + code, "prefix+body"
    return prefix + "\n\n" + code, "prefix+code"


def _tests(tests) -> str:
    """The test code: a string, or a list of test statements as MBPP ships them (`test_list`), one per line."""
    if isinstance(tests, (list, tuple)) and all(isinstance(t, str) for t in tests):
        tests = "\n".join(tests)
    elif isinstance(tests, (list, tuple)):
        i, bad = next((i, t) for i, t in enumerate(tests) if not isinstance(t, str))
        raise ValueError(f"code reference 'tests' must be a string or a list of strings; item {i} of the list is "
                         f"{bad!r:.40} ({type(bad).__name__})")
    elif tests is None:
        raise ValueError("code reference has no 'tests' (a string of test code, or a list of test lines)")
    elif not isinstance(tests, str):
        raise ValueError(f"code reference 'tests' must be a string or a list of strings, got {type(tests).__name__}")
    if not tests.strip():
        raise ValueError("code reference 'tests' is empty")
    return tests


def _reference(reference) -> tuple[str, str | None, str, str]:
    if not isinstance(reference, dict):
        raise ValueError(f"code reference must be a dict, got {type(reference).__name__}")
    tests = _tests(reference.get("tests", reference.get("test")))
    return tests, reference.get("entry_point") or None, reference.get("setup") or "", reference.get("prompt_prefix") or ""


def verify(completion: str, reference, options: CodeOptions | None = None) -> Verdict:
    opts = options or CodeOptions()
    try:
        tests, entry_point, setup, prefix = _reference(reference)
    except ValueError as e:
        return Verdict(0.0, "error", {"rule": "bad_reference", "error": str(e)})
    if not isinstance(completion, str) or not extract_code(completion).strip():
        return Verdict(0.0, "no_answer", {"rule": "no_code"})
    code = extract_code(completion)
    program, built = assemble(code, prefix, entry_point)
    detail = {"entry_point": entry_point, "program_from": built, "code": code[:2000]}
    limits = Limits(wall_s=sandbox_wall_s(opts.timeout_s), cpu_s=opts.cpu_s, memory_mb=opts.memory_mb,
                    threads=opts.threads, nproc=opts.nproc, fsize_mb=opts.fsize_mb, output_kb=opts.output_kb,
                    processes=opts.processes, isolate=opts.isolate, hide=tuple(opts.hide))
    try:
        with Sandbox(program.replace("\x00", ""), setup, limits, setup_last=setup_needs_program(setup)) as box:
            detail["isolated"] = box.isolated
            calls = run_tests(box, tests, setup, prefix, entry_point)
        return Verdict(1.0, "correct", {**detail, "rule": "all_tests_passed", "calls": calls})
    except TestsFailed as e:
        return Verdict(0.0, "wrong", {**detail, "rule": "assertion_failed", "test_line": e.line, "error": str(e)})
    except SandboxTimeout as e:
        return Verdict(0.0, "timeout", {**detail, "rule": "timeout", "error": _timeout_text(e, opts.timeout_s)})
    except SandboxOutputLimit as e:
        return Verdict(0.0, "unsafe", {**detail, "rule": "output_limit", "error": str(e)})
    except SandboxDied as e:
        if e.signal in _UNSAFE_SIGNALS:
            return Verdict(0.0, "unsafe", {**detail, "rule": _UNSAFE_SIGNALS[e.signal], "error": str(e)})
        return Verdict(0.0, "wrong", {**detail, "rule": "program_died", "error": str(e)})
    except CandidateError as e:
        if e.name == "UnsupportedArgument":
            return Verdict(0.0, "error", {**detail, "rule": "harness_cannot_send_argument", "error": str(e)})
        unsafe = e.name in _UNSAFE_EXC or any(m in str(e) for m in _UNSAFE_MESSAGES)
        rule = "resource_limit" if unsafe else "program_raised"
        return Verdict(0.0, "unsafe" if unsafe else "wrong", {**detail, "rule": rule, "error": str(e)[:1000]})
    except NameError as e:
        return Verdict(0.0, "wrong", {**detail, "rule": "missing_name", "error": str(e)})
    except SyntaxError as e:
        return Verdict(0.0, "error", {**detail, "rule": "tests_do_not_compile", "error": str(e)})
    except OSError as e:  # could not start the sandbox (fork/pipe failure)
        return Verdict(0.0, "error", {**detail, "rule": "sandbox_start_failed", "error": str(e)})
    except Exception as e:  # noqa: BLE001 - the trusted tests raised something unrelated to the program
        return Verdict(0.0, "wrong", {**detail, "rule": "tests_raised", "error": f"{type(e).__name__}: {e}"[:1000]})
