"""The judge: runs the (trusted) test code in this process against proxies of the sandboxed program's functions.

Tests never enter the sandbox, so the program cannot read, skip or patch them; every value it returns is rebuilt
here from plain data (`sandbox_wire`), so only the judge's own, unpatched `==`, `assert` and builtins decide.
Dataclass instances and enum members come back as `Record`s, compared by class name and field values (named tuples
as tuples), so `assert f() == Point(1, 2)` works with the program's own frozen dataclass while a user-written
`__eq__` never runs here.

HumanEval style: `tests` defines `check(candidate)`; we call `check(<proxy of entry_point>)`.
MBPP style: `tests` is a block of `assert f(...) == ...` lines; names the tests use but do not define become proxies.
Helpers defined in `prompt_prefix` (e.g. HumanEval/38's `encode_cyclic`) are taken from the trusted prefix, not
from the completion, so a completion cannot redefine them to make its own answer look right.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import sys

from rlvr.verifiers.sandbox import CandidateError, Sandbox

_BUILTIN_EXCEPTIONS = {
    n: getattr(builtins, n)
    for n in dir(builtins)
    if isinstance(getattr(builtins, n), type) and issubclass(getattr(builtins, n), Exception)
}


class BadTests(Exception):
    """The tests passed without touching the program: a bad reference, not a pass."""


class TestsFailed(AssertionError):
    """An assertion of the tests failed; `line` is the line of the test code, when known."""

    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.line = line


def free_names(code: str) -> set[str]:
    """Names `code` reads that it never binds and that are not builtins (what it expects the program to provide)."""
    tree = ast.parse(code)
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return loaded - bound - set(dir(builtins))


def setup_needs_program(setup: str) -> bool:
    """Whether test setup reads names that only the program defines (MBPP/367 and /927 build trees of the
    solution's `Node` class): such setup runs in the sandbox after the program, not in the judge."""
    try:
        return bool(free_names(setup) - set(sys.stdlib_module_names))
    except SyntaxError:  # reported when the judge compiles it
        return False


def reference_problem(tests: str, setup: str, entry_point: str | None) -> str | None:
    """Why these tests cannot judge a program, or None. Tests without an assert (or raise) pass every program, and
    so do HumanEval tests whose `check(candidate)` is never called: the judge calls it only with an entry point."""
    try:
        tree = ast.parse(tests)
        trees = [tree, ast.parse(setup)]
    except SyntaxError as e:
        return f"the tests or the setup do not compile: {e}"
    if not any(isinstance(node, (ast.Assert, ast.Raise)) for t in trees for node in ast.walk(t)):
        return "the tests contain no assert (or raise) statement, so no program can fail them"
    defines_check = any(isinstance(node, ast.FunctionDef) and node.name == "check" for node in tree.body)
    calls_check = any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check"
                      for node in ast.walk(tree))
    if defines_check and not calls_check and not entry_point:
        return "the tests define check(candidate) but the reference has no 'entry_point' to pass to it"
    return None


def first_called(code: str) -> str | None:
    """`f` in the first `assert f(...) ...` of MBPP-style tests: the function under test even when it shadows a
    builtin (MBPP/126 defines `sum`). Only this one builtin name may be taken from the program, so a program
    cannot redefine `set`, `abs` or `sorted` that the tests use to compare its answers."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Assert):
            left = node.test.left if isinstance(node.test, ast.Compare) else node.test
            if isinstance(left, ast.Call) and isinstance(left.func, ast.Name):
                return left.func.id
            return None
    return None


def _raise_as_builtin(err: CandidateError):
    """Re-raise a program's exception as the builtin type of that name (so `except ValueError` in tests works)."""
    base = _BUILTIN_EXCEPTIONS.get(err.name)
    if base is None or err.name in ("SystemExit", "KeyboardInterrupt"):
        raise err
    try:
        cls = type(err.name, (CandidateError, base), {})
        exc = cls.__new__(cls)
        CandidateError.__init__(exc, err.name, str(err).split(": ", 1)[-1])
    except TypeError:  # incompatible layouts (e.g. OSError): keep the plain error
        raise err from None
    raise exc from None


class _Proxy:
    """A function or class of the program: calls run in the sandbox, and so do attribute reads (`Color.RED` of the
    program's Enum); what comes back is plain data, a `Record` or a handle, never the program's object."""

    def __init__(self, box: Sandbox, name: str):
        self._box, self._name = box, name
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        try:
            return self._box.call(self._name, args, kwargs)
        except CandidateError as e:
            _raise_as_builtin(e)

    def __getattr__(self, attribute: str):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        try:
            return self._box.attr(self._name, attribute)
        except CandidateError as e:
            _raise_as_builtin(e)

    def __repr__(self) -> str:
        return f"<program's {self._name}>"


def run_tests(box: Sandbox, tests: str, setup: str, prefix: str, entry_point: str | None) -> int:
    """Run `tests` against the program in `box`; returns the number of calls made, raises on any failure.

    Raises TestsFailed (an assertion failed), CandidateError (the program raised or its value could not be sent),
    SandboxTimeout / SandboxDied, NameError (a function the tests need is missing), SyntaxError (broken tests), or
    BadTests (the tests passed without calling the program or reading any of its values).
    """
    compiled = compile(tests, "<tests>", "exec")
    judge: dict = {"__name__": "__rlvr_judge__"}
    if setup and not box.setup_last:  # setup that needs the program ran in the sandbox, after it
        exec(compile(setup, "<setup>", "exec"), judge)
    if prefix:
        with contextlib.suppress(Exception):
            exec(compile(prefix, "<prompt_prefix>", "exec"), judge)
    free = free_names(tests) - set(judge)
    for name in free & set(sys.stdlib_module_names):  # e.g. MBPP/596 uses `sys` imported by the program
        judge[name] = importlib.import_module(name)
    target = entry_point or (first_called(tests) if not free else None)
    wanted = sorted((free - set(judge)) | ({target} if target else set()))
    present = box.names(wanted) if wanted else set()
    if entry_point and entry_point not in present:
        raise NameError(f"the program does not define {entry_point!r}")
    for name in present:
        judge[name] = _Proxy(box, name)
    data = sorted(set(wanted) - present)  # what the tests read from the program or its late setup (MBPP/367's trees)
    if data:
        judge.update(box.values(data))
    # tests that print write nowhere: a judge-local print, not a swap of sys.stdout (other threads keep theirs)
    judge.setdefault("print", _silent_print)
    try:
        exec(compiled, judge)
        if entry_point and callable(judge.get("check")):
            judge["check"](judge[entry_point])
    except AssertionError as e:
        raise TestsFailed(str(e)[:300] or "assertion failed", _test_line(e)) from None
    if box.failure is not None:  # the tests swallowed a timeout/death (e.g. a bare `except:`): still a failure
        raise box.failure
    if box.calls + box.reads == 0:
        named = ", ".join(wanted) or "none"
        raise BadTests(f"the tests never called a function of the program nor read one of its values (names of the "
                       f"program they use: {named}), so every program passes them")
    return box.calls


def _silent_print(*args, **kwargs) -> None:
    if kwargs.get("file") is not None:  # an explicit stream (e.g. sys.stderr) is the tests' choice
        builtins.print(*args, **kwargs)


def _test_line(e: BaseException) -> int | None:
    tb, line = e.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<tests>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
