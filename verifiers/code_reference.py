"""What a code reference is: our dict, or a raw HumanEval, MBPP or sanitized-MBPP row, read into the four parts.

    read_reference({"tests": ..., "entry_point": "f" | None, "setup": "", "prompt_prefix": ""})
    # -> (tests, entry_point, setup, prefix); ValueError naming what is wrong (the code verifier's `bad_reference`)

`tests` is a string of test code, or a list of test statements (MBPP's `test_list`), joined one per line. A raw row
names its parts its own way (`_REFERENCE_KEYS`): `test`/`test_list` the tests, `test_setup_code` (and sanitized
MBPP's `test_imports` lines) the setup, and `prompt` the prefix when it is Python. An MBPP row's (`test_list`)
`prompt` that is not Python is its task statement, so no prefix; elsewhere such a `prompt` (prose, chat messages) is
an error. Tests that cannot fail a program are an error too (`code_harness.reference_problem`).
"""

from __future__ import annotations

import ast

from rlvr.verifiers.code_harness import reference_problem

_REFERENCE_KEYS = {"tests": ("tests", "test", "test_list"), "setup": ("setup", "test_setup_code"),
                   "prompt_prefix": ("prompt_prefix", "prompt")}  # our name, then HumanEval's / MBPP's


def parses(text: str) -> bool:
    """Whether Python reads `text` as a module."""
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: null bytes
        return False
    return True


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


def _field(reference: dict, field: str):
    """The reference's `field` under our name or the dataset's (`_REFERENCE_KEYS`), and the key it was found under."""
    key = next((k for k in _REFERENCE_KEYS.get(field, (field,)) if k in reference), field)
    return reference.get(key), key


def _prefix(reference: dict) -> str:
    """The program's prefix: `prompt_prefix`, else a raw row's `prompt` when that is Python program text.

    An MBPP row (it has `test_list`) carries no code prefix, so a `prompt` there that is not Python is its task
    statement (sanitized MBPP) and is left out. Elsewhere such a `prompt` is an error, not left out: a HumanEval-style
    prompt holds the imports and the signature a body-only completion needs, and a row whose prompt became chat
    messages (a list of dicts) would otherwise lose them without a word and grade right answers `wrong`."""
    prefix, key = _field(reference, "prompt_prefix")
    if prefix is None:
        return ""
    if key == "prompt" and not (isinstance(prefix, str) and parses(prefix)):
        if "test_list" in reference:
            return ""
        what = "is not Python (a task statement?)" if isinstance(prefix, str) else \
            f"is a {type(prefix).__name__}, not program text (chat messages?)"
        raise ValueError(f"code reference 'prompt' {what}, so it cannot be the program's prefix: give the prefix as "
                         "'prompt_prefix' (empty when there is none)")
    if not isinstance(prefix, str):
        raise ValueError(f"code reference 'prompt_prefix' must be a string of Python, got {type(prefix).__name__}")
    return prefix


def _setup(reference: dict) -> str:
    """`setup` (MBPP's `test_setup_code`), then sanitized MBPP's `test_imports` lines, which its tests rely on
    (`math.isclose`). As `data/tasks/mbpp.py` builds it; not imported from there: `verifiers/` does not import
    `data/` (only the CLI does)."""
    setup, key = _field(reference, "setup")
    imports = reference.get("test_imports") or []
    if setup is not None and not isinstance(setup, str):
        raise ValueError(f"code reference {key!r} must be a string of Python, got {type(setup).__name__}")
    if not (isinstance(imports, list) and all(isinstance(line, str) for line in imports)):
        raise ValueError(f"code reference 'test_imports' must be a list of import lines, got {imports!r:.60}")
    return "\n".join(part for part in [setup or "", *imports] if part.strip())


def read_reference(reference) -> tuple[str, str | None, str, str]:
    """(tests, entry_point, setup, prefix) of a code reference; ValueError saying what is wrong with it."""
    if not isinstance(reference, dict):
        raise ValueError(f"code reference must be a dict, got {type(reference).__name__}")
    tests, prefix, setup = _tests(_field(reference, "tests")[0]), _prefix(reference), _setup(reference)
    entry_point = reference.get("entry_point") or None
    problem = reference_problem(tests, setup, entry_point)
    if problem:
        raise ValueError(f"{problem} (reference keys: {sorted(reference)})")
    return tests, entry_point, setup, prefix
