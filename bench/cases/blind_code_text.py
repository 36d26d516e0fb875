"""What the blind code set's families share (bench/cases/blind_code_forms.py): the prose around code, fences, a
HumanEval answer written as a whole function, the dataset's asserts as a model would quote them, a cut at a token
limit, and the program a rule grades. Tasks are duck-typed (build_blind_code.Task): `he`, `prompt`, `text`,
`entry`, `tests`, `good` (canonical), `bad` (broken variants).
"""

from __future__ import annotations

import ast
import builtins
import re

INTROS = [
    "Here's a Python function that solves the problem:",
    "Sure! Here is an implementation of `{name}`:",
    "You can solve this with a straightforward approach. Here's the code:",
    "Here is the completed function:",
    "Certainly. The idea is simple: walk through the input once and build the result as we go.\n\nHere's the code:",
    "To solve this, we need to handle each element carefully. Below is my solution.",
]
OUTROS = [
    "This runs in linear time for typical inputs.",
    "**Explanation:**\n- We go through the input step by step.\n- `{name}` returns the computed result at the end.",
    "Let me know if you have any questions!",
    "You can check it against the examples given in the task.",
    "The function also handles edge cases such as empty input.",
]


def graded_program(task, code: str, body: bool = False) -> str:
    """HumanEval: the prompt, then the answer (a body continues the prompt's function); MBPP: the answer alone."""
    if not task.he:
        return code
    return task.prompt + code if body else task.prompt + "\n\n" + code


def intro(task, rng) -> str:
    return rng.choice(INTROS).format(name=task.entry)


def outro(task, rng) -> str:
    return rng.choice(OUTROS).format(name=task.entry)


def fence(code: str, opener: str = "```python", closer: str = "```") -> str:
    return f"{opener}\n{code.rstrip()}\n{closer}"


def pick(task, label: bool, rng) -> str:
    """The final version: the canonical solution for a true case, a broken variant for a false one."""
    return task.good if label else rng.choice(task.bad)


def another(task, version: str, rng) -> str:
    """A broken variant other than `version` (a second wrong draft)."""
    return rng.choice([b for b in task.bad if b != version])


def he_function(task, body: str, style: str) -> str:
    """A HumanEval answer as a whole function: `restate` (the prompt + body), `bare` (the prompt's imports, the
    signature, no docstring), `noimport` (signature and body only; the imports are the prompt's)."""
    if style == "restate":
        return task.prompt.lstrip("\n") + body
    tree = ast.parse(task.prompt)
    fn = tree.body[-1]
    lines = task.prompt.split("\n")
    doc = next((s for s in fn.body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                and isinstance(s.value.value, str)), None)
    head = lines[fn.lineno - 1:(doc.lineno - 1 if doc else len(lines))]
    head = [x for x in head if x.strip()]
    imports = [ast.get_source_segment(task.prompt, n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    top = "\n".join(imports) + "\n\n\n" if imports and style == "bare" else ""
    return top + "\n".join(head) + "\n" + body


def full(task, version: str, rng, style: str | None = None) -> tuple[str, str]:
    """(whole-function code, HumanEval style or "mbpp") for a version; the style is drawn when not given."""
    if not task.he:
        return version, "mbpp"
    has_imports = bool(re.search(r"^(from|import) ", task.prompt, re.M))
    style = style or rng.choice(["restate", "bare", "bare"] + (["noimport"] if has_imports else []))
    return he_function(task, version, style), style


def test_asserts(task, raw: bool = False) -> list[str]:
    """The dataset's single-line asserts that stand alone, calling the entry point by name (raw: HumanEval's own
    `candidate` left as it is)."""
    if not task.he:
        return [t for t in task.tests.split("\n") if t.startswith("assert")]
    check = next(n for n in ast.parse(task.tests).body if isinstance(n, ast.FunctionDef) and n.name == "check")
    out = []
    for stmt in check.body:
        seg = ast.get_source_segment(task.tests, stmt)
        names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)} - set(dir(builtins)) - {"candidate"}
        if isinstance(stmt, ast.Assert) and "\n" not in seg and "candidate" in seg and not names:
            out.append(seg if raw else re.sub(r"\bcandidate\b", task.entry, seg))
    return out


def call_pairs(task) -> list[tuple[str, str]]:
    """(call, expected) from the asserts of the form `assert entry(...) == expected`."""
    out = []
    for a in test_asserts(task):
        t = ast.parse(a).body[0].test
        if (isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq)
                and isinstance(t.left, ast.Call) and getattr(t.left.func, "id", "") == task.entry):
            out.append((ast.get_source_segment(a, t.left), ast.get_source_segment(a, t.comparators[0])))
    return out


def cut(text: str, rng, lo: float = 0.35, hi: float = 0.9) -> str:
    """The text stopped at a token limit: somewhere inside, never at the end of a line."""
    n = rng.randint(int(len(text) * lo), max(int(len(text) * lo), int(len(text) * hi)))
    while n < len(text) - 1 and text[n - 1] in "\n":
        n += 1
    return text[:n]


def chat(task, rng, block: str) -> str:
    return f"{intro(task, rng)}\n\n{block}\n\n{outro(task, rng)}"
