"""Code verifier: run the completion's program in a sandbox and the reference tests in a trusted judge.

    verify(completion, {"tests": ..., "entry_point": "f" | None, "setup": "", "prompt_prefix": ""}, CodeOptions())

`tests` is a string of test code, or a list of test statements (MBPP's `test_list`). A raw HumanEval, MBPP or
sanitized-MBPP row is a reference too (`code_reference.py` reads each shape; another is an `error`).

Code comes from the answer part of the completion (`answer_part`: after the last `</think>` when text follows it,
inside the last `<answer>` tag) and its fenced blocks as sanitizers (evalplus) pick it: the last block that defines
the entry point (or, for MBPP, the function the tests call first), else the last that defines any function, else the
last ```python block, else the last fence; with no fence, the raw text, unless it is prose (`no_answer`). A fence
indented as a Markdown list item's is read without that indentation.
If `entry_point` is set and the code does not define it, the code is a body continuation of `prompt_prefix`
(HumanEval's prompt); the prefix is always put before the code so its imports and helpers exist.

Statuses: correct (every test passed) | wrong (an assertion failed, the program raised, did not load or define the
entry point, or exited) | no_answer (no code, or prose only) | timeout (wall-clock or CPU limit) | unsafe (memory,
thread, file size, output or permission limit hit, or a process started: refused by default) | error (bad reference,
e.g. tests that cannot fail; isolation `required` but unavailable; a harness failure). See `sandbox.py` for what
the sandbox covers and what not, and `code_harness.py` for why a program cannot fake a pass.
"""

from __future__ import annotations

import bisect
import re
import signal
from dataclasses import dataclass
from typing import Literal

from rlvr.verifiers.code_harness import BadTests, TestsFailed, first_called, run_tests, setup_needs_program
from rlvr.verifiers.code_reference import parses, read_reference
from rlvr.verifiers.options import check_types
from rlvr.verifiers.sandbox import CandidateError, Isolation, Limits, Sandbox, SandboxDied, SandboxOutputLimit, \
    SandboxTimeout, SandboxUnisolated
from rlvr.verifiers.verdict import Verdict

VERSION = "6"  # 2: no processes, output cap; 3: thread starts counted; 4: block choice, prose, bad tests, isolation;
# 5: raw sanitized-MBPP rows (task-text prompt, test_imports); 6: answer part (</think>, <answer>), indented fences
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.S)
_UNSAFE_EXC = {"MemoryError", "BlockingIOError", "PermissionError"}
_UNSAFE_MESSAGES = ("can't start new thread", "File too large", "No space left", "Resource temporarily unavailable")
_UNSAFE_SIGNALS = {9: "killed (out of memory?)", 25: "file size limit"}
_DEFINES_ANY = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+\w", re.M)
# a line only code starts with: unfenced text holding one is broken code (`wrong`), not prose (`no_answer`)
_CODE_LINE = re.compile(r"^[ \t]*(?:(?:async[ \t]+)?def[ \t]+\w+[ \t]*\(|class[ \t]+\w+[ \t]*[(:]|import[ \t]+\w|"
                        r"from[ \t]+[\w.]+[ \t]+import\b|return\b|@\w)", re.M)
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


def _tags(text: str, tag: str) -> list[int]:
    """Where `tag` starts in `text` as markup: at the start of a line (a fence left open in a draft does not hide
    the `</think>` after it), or anywhere outside a fenced block (inside one it is code: `s.split("</think>")`)."""
    spans = [m.span() for m in _FENCE.finditer(text)]  # in order and disjoint: a bisect finds the one before a place
    starts = [a for a, _ in spans]

    def markup(i: int) -> bool:
        if not text[text.rfind("\n", 0, i) + 1:i].strip():
            return True
        k = bisect.bisect_right(starts, i) - 1
        return k < 0 or i >= spans[k][1]

    return [m.start() for m in re.finditer(re.escape(tag), text) if markup(m.start())]


def answer_part(completion: str) -> tuple[str, str]:
    """(the part of the completion that answers, where it was read). After the last `</think>` when text follows it:
    the reasoning before it is not the answer, so a draft there, right or wrong, is not graded (the math verifier
    reads a completion the same way); then inside the last `<answer>` tag (R1-style formats) that is closed, or, left
    open (a cut completion), that starts a line. The spaces after a tag on its line are not the code's indentation
    (`</think> <answer> def f(): ...`). A `<think>` that never closes, or one with nothing after it, is read as it is,
    as the math verifier reads it (a policy: the held-out code set's Q1 reads it as no answer; docs/verifiers.md)."""
    where = "completion"
    ends = _tags(completion, "</think>")
    if ends and completion[ends[-1] + len("</think>"):].strip():
        completion, where = completion[ends[-1] + len("</think>"):].lstrip(" \t"), "after </think>"
    closes = _tags(completion, "</answer>")
    opens = [i for i in _tags(completion, "<answer>")
             if any(c > i for c in closes) or not completion[completion.rfind("\n", 0, i) + 1:i].strip()]
    if opens:
        completion, where = completion[opens[-1] + len("<answer>"):].lstrip(" \t"), f"{where}, <answer>"
        closes = _tags(completion, "</answer>")
        completion = completion[:closes[0]] if closes else completion
    return completion, where


def _block(text: str, m: re.Match) -> str:
    """A fenced block's code, less the fence's own indentation when every line has it (a Markdown list item's)."""
    indent, code = text[text.rfind("\n", 0, m.start()) + 1:m.start()], m.group(2)
    lines = code.split("\n")
    if not indent or indent.strip() or not all(ln.startswith(indent) for ln in lines if ln.strip()):
        return code
    return "\n".join(ln[len(indent):] for ln in lines)


def extract_code(completion: str, name: str | None = None) -> str:
    """The block holding the answer, picked as sanitizers (evalplus) do, so that a usage example, a block of asserts
    or an `Output:` block after the solution is not taken for it: the last fenced block that defines `name` (the
    entry point), else the last that defines any function or class, else the last ```python block, else the last
    fenced block of any language; with no fence, the whole text."""
    blocks = [(m.group(1), _block(completion, m)) for m in _FENCE.finditer(completion)]
    if not blocks:
        return completion.strip("\n")
    codes = [code for _, code in blocks]
    defining = [c for c in codes if name and defines(c, name)] or [c for c in codes if _DEFINES_ANY.search(c)]
    py = [code for lang, code in blocks if lang.lower() in ("python", "py", "python3")]
    return (defining or py or codes)[-1]


def defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b", code, re.M) is not None


def is_prose(text: str) -> bool:
    """Unfenced text that holds no program: Python reads it neither as a module nor as a function body, it does not
    start indented (a body continuation cut short is broken code) and no line of it starts a definition, an import
    or a return. "I am not sure how to solve this." is prose; `    return sum(xs` and `def f(:` are code."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if first[:1].isspace() or _CODE_LINE.search(text):  # checked first: most code is told without parsing it
        return False
    return not (parses(text) or parses("def _():\n" + indent_body(text)))


def indent_body(code: str) -> str:
    """A function body written flush-left, indented one level; an indented one as it is."""
    first = next((ln for ln in code.splitlines() if ln.strip()), "")
    if not first or first[0].isspace():
        return code
    return "\n".join("    " + ln if ln.strip() else ln for ln in code.splitlines())


def assemble(code: str, prefix: str, entry_point: str | None) -> tuple[str, str]:
    """The program to run and how it was built ('prefix+body', 'prefix+code' or 'code')."""
    if not prefix:
        return code, "code"
    if entry_point and not defines(code, entry_point):
        return prefix.rstrip("\n") + "\n" + indent_body(code), "prefix+body"
    return prefix + "\n\n" + code, "prefix+code"


def verify(completion: str, reference, options: CodeOptions | None = None) -> Verdict:
    opts = options or CodeOptions()
    try:
        tests, entry_point, setup, prefix = read_reference(reference)
    except ValueError as e:
        return Verdict(0.0, "error", {"rule": "bad_reference", "error": str(e)})
    if not isinstance(completion, str):
        return Verdict(0.0, "no_answer", {"rule": "no_code", "error": f"the completion is {type(completion).__name__}"})
    answer, read = answer_part(completion)
    code = extract_code(answer, entry_point or first_called(tests))
    if not code.strip():
        return Verdict(0.0, "no_answer", {"rule": "no_code", "read": read})
    if not _FENCE.search(answer) and is_prose(code):
        return Verdict(0.0, "no_answer", {"rule": "prose_only", "read": read,
                                          "error": "no fenced block, and the text is not Python"})
    program, built = assemble(code, prefix, entry_point)
    detail = {"entry_point": entry_point, "read": read, "program_from": built, "code": code[:2000]}
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
