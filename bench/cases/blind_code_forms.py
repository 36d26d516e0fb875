"""The completion families of the blind code set (bench/cases/build_blind_code.py; rules: bench/cases/README.md,
"Blind code set"). Each family turns a task and a label into (completion, graded program, variant): the completion in
a form models write, and the program the family's rule says a careful grader takes as the final answer (None when
the rule finds no answer). The builder runs `graded` with the tests and keeps the case only when the run agrees with
the label.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Callable

from blind_code_text import (another, call_pairs, chat, cut, fence, full, graded_program, intro, outro, pick,
                             test_asserts)

# ---- the families ------------------------------------------------------------------------------------------------

Made = tuple[str, str | None, str] | None


@dataclass(frozen=True)
class Family:
    id: str
    sources: str  # "he" | "mbpp" | "both"
    make: Callable[..., Made]  # (task, label, rng, pool) -> (completion, graded, variant) | None
    needs_prompt: bool = False

    def accepts(self, task) -> bool:
        return self.sources == "both" or (self.sources == "he") == task.he


def he_body(task, label, rng, pool) -> Made:
    body = pick(task, label, rng)
    variant = rng.choice(["plain", "trailing_blank_lines", "leading_blank_line"])
    completion = {"plain": body, "trailing_blank_lines": body + "\n\n\n", "leading_blank_line": "\n" + body}[variant]
    return completion, graded_program(task, completion, body=True), variant


def he_body_runon(task, label, rng, pool) -> Made:
    body = pick(task, label, rng)
    variant = rng.choice(["own_check", "next_prompt", "main_doctest", "print_demo"])
    if variant == "own_check":
        mine = test_asserts(task, raw=True)[:2] or ["assert True"]
        more = "\n\ndef check(candidate):\n" + "".join(f"    {a}\n" for a in mine)
        more += f"\n\ncheck({task.entry})\n" if rng.random() < 0.5 else ""
    elif variant == "next_prompt":
        other = rng.choice([t for t in pool if t is not task])
        more = "\n\n" + other.prompt + cut(other.good, rng)
    elif variant == "main_doctest":
        more = '\n\nif __name__ == "__main__":\n    import doctest\n    doctest.testmod()\n'
    else:
        calls = call_pairs(task)
        if not calls:
            return None
        more = "\n\n" + "".join(f"print({c})\n" for c, _ in calls[:2])
    return body + more, graded_program(task, body, body=True), variant


def he_body_truncated(task, label, rng, pool) -> Made:
    if label:
        return task.good, graded_program(task, task.good, body=True), "complete"
    part = cut(task.good.rstrip("\n"), rng)
    return part, graded_program(task, part, body=True), "cut_mid_body"


def md_truncated(task, label, rng, pool) -> Made:
    code, style = full(task, task.good, rng)
    if label:
        return chat(task, rng, fence(code)), graded_program(task, code), f"complete,{style}"
    part = cut(code.rstrip("\n"), rng)
    return f"{intro(task, rng)}\n\n```python\n{part}", graded_program(task, part), f"cut_in_fence,{style}"


def md_single(task, label, rng, pool) -> Made:
    code, style = full(task, pick(task, label, rng), rng)
    return chat(task, rng, fence(code)), graded_program(task, code), style


FENCES = [("```py", "```"), ("```python3", "```"), ("```Python", "```"), ("```", "```"), ("~~~python", "~~~"),
          ("~~~", "~~~"), ("````python", "````"), ("``` python", "```"), ("```python ", "```")]


def md_fence_variants(task, label, rng, pool) -> Made:
    code, style = full(task, pick(task, label, rng), rng)
    opener, closer = rng.choice(FENCES)
    return chat(task, rng, fence(code, opener, closer)), graded_program(task, code), f"{opener!r},{style}"


TURNS = {
    "wrong_then_right": ["Wait, that version is wrong for some inputs. Let me fix it:",
                         "Hmm, checking the examples again, the first attempt gets one of them wrong. Corrected:"],
    "right_then_wrong": ["We can make this a bit tighter. Final version:",
                         "Actually, here is a cleaner version of the same idea:"],
    "wrong_then_wrong": ["Oops, that fails one of the examples. Here is the fixed version:",
                         "Let me correct the boundary handling:"],
}


def md_drafts(task, label, rng, pool) -> Made:
    final = pick(task, label, rng)
    variant = "wrong_then_right" if label else rng.choice(["right_then_wrong", "wrong_then_wrong"])
    draft = another(task, final, rng) if variant == "wrong_then_wrong" else (
        task.good if variant == "right_then_wrong" else rng.choice(task.bad))
    style = None if not task.he else rng.choice(["bare", "restate"])
    first, style = full(task, draft, rng, style)
    last, _ = full(task, final, rng, style)
    head, turn = intro(task, rng), rng.choice(TURNS[variant])  # drawn in the order the text reads
    text = f"{head}\n\n{fence(first)}\n\n{turn}\n\n{fence(last)}\n\n{outro(task, rng)}"
    return text, graded_program(task, last), f"{variant},{style}"


def usage_block(task, rng) -> tuple[str, str] | None:
    calls, asserts = call_pairs(task), test_asserts(task)
    kinds = (["asserts", "asserts"] if asserts else []) + (["prints", "pycon_fenced", "pycon_prose"] if calls else [])
    if not kinds:
        return None
    kind = rng.choice(kinds)
    if kind == "asserts":
        return kind, fence("\n".join(asserts) + '\nprint("All tests passed!")')
    if kind == "prints":
        return kind, fence("".join(f"print({c})  # {e}\n" for c, e in calls[:3]))
    transcript = "\n".join(f">>> {c}\n{e}" for c, e in calls[:3])
    return kind, fence(transcript) if kind == "pycon_fenced" else transcript


def md_usage_after(task, label, rng, pool) -> Made:
    code, style = full(task, pick(task, label, rng), rng)
    usage = usage_block(task, rng)
    if usage is None:
        return None
    kind, block = usage
    text = f"{intro(task, rng)}\n\n{fence(code)}\n\nExample usage:\n\n{block}\n\n{outro(task, rng)}"
    return text, graded_program(task, code), f"{kind},{style}"


def think(task, rng, draft_code: str, draft_right: bool, form: str) -> str:
    """A reasoning trace holding a draft: fenced, plain, or in a fence never closed."""
    what = (f"complete `{task.entry}` as its docstring says" if task.he
            else task.text[0].lower() + task.text[1:].rstrip("."))
    draft = {"fenced": fence(draft_code), "plain": draft_code.rstrip(), "open_fence": "```python\n" + draft_code}[form]
    verdict = ("Tracing the examples by hand, this gives the expected results." if draft_right else
               "Wait, tracing the first example by hand gives the wrong result. I need to fix that.")
    return f"<think>\nThe task: {what}.\nLet me write a first version.\n\n{draft}\n\n{verdict}\n</think>\n\n"


def drafts_for(task, label, rng) -> tuple[str, str, bool]:
    """(final, draft, draft is right) for the reasoning families: either draft with either final."""
    final = pick(task, label, rng)
    right = rng.random() < 0.5
    return final, task.good if right else another(task, final, rng), right


def think_md(task, label, rng, pool) -> Made:
    final, draft, right = drafts_for(task, label, rng)
    form = rng.choice(["fenced", "plain", "open_fence"])
    draft_code, style = full(task, draft, rng)
    code, _ = full(task, final, rng, style if task.he else None)
    text = think(task, rng, draft_code, right, form) + chat(task, rng, fence(code))
    return text, graded_program(task, code), f"draft_{'right' if right else 'wrong'},{form},{style}"


def think_plain(task, label, rng, pool) -> Made:
    final, draft, right = drafts_for(task, label, rng)
    draft_code, style = full(task, draft, rng)
    code, _ = full(task, final, rng, style if task.he else None)
    head = rng.choice(["", "# Final solution\n"])
    text = think(task, rng, draft_code, right, "fenced") + head + code
    return text, graded_program(task, head + code), f"draft_{'right' if right else 'wrong'},{style}"


def think_unfinished(task, label, rng, pool) -> Made:
    code, style = full(task, task.good, rng)
    if label:
        return think(task, rng, code, True, "fenced") + chat(task, rng, fence(code)), graded_program(task, code), \
            f"finished,{style}"
    if rng.random() < 0.5:
        calls = call_pairs(task)
        probe = f"Let me trace `{calls[0][0]}` step by step: first" if calls else "Let me trace the first example: we"
        text = think(task, rng, code, True, "fenced").replace("\n</think>\n\n", "\n" + probe)
        return text, None, f"cut_after_draft,{style}"
    text = think(task, rng, code, True, "fenced").split("```python\n")[0] + "```python\n" + cut(code.rstrip(), rng)
    return text, None, f"cut_in_draft,{style}"


def md_indented(task, label, rng, pool) -> Made:
    code, style = full(task, pick(task, label, rng), rng)
    block = "\n".join("    " + x if x.strip() else "" for x in code.rstrip().split("\n"))
    return chat(task, rng, block), graded_program(task, code), style


def prose_unfenced(task, label, rng, pool) -> Made:
    code, style = full(task, pick(task, label, rng), rng)
    variant = rng.choice(["intro_outro", "intro_only", "outro_only"])
    parts = ([intro(task, rng)] if variant != "outro_only" else []) + [code.rstrip()] + (
        [outro(task, rng)] if variant != "intro_only" else [])
    return "\n\n".join(parts), graded_program(task, code), f"{variant},{style}"


def main_guard(task, label, rng, pool) -> Made:
    code, style = full(task, pick(task, label, rng), rng)
    calls, asserts = call_pairs(task), test_asserts(task)
    kind = rng.choice(["doctest"] + (["prints"] if calls else []) + (["unittest", "unittest"] if asserts else []))
    inert = ""  # what the block defines outside its guard besides the solution: inert when imported
    if kind == "doctest":
        guard = "    import doctest\n    doctest.testmod()\n"
    elif kind == "prints":
        guard = "".join(f"    print({c})\n" for c, _ in calls[:3])
    else:  # the model's own test: the first dataset assert only, so a variant may pass it and fail the rest
        first = ast.parse(asserts[0]).body[0].test
        name = "".join(p.title() for p in task.entry.split("_"))
        inert = (f"\n\nimport unittest\n\n\nclass Test{name}(unittest.TestCase):\n    def test_example(self):\n"
                 f"        self.assertTrue({ast.get_source_segment(asserts[0], first)})\n")
        guard = "    unittest.main()\n"
    program = code.rstrip() + "\n" + inert
    block = program + '\n\nif __name__ == "__main__":\n' + guard
    return chat(task, rng, fence(block)), graded_program(task, program), f"{kind},{style}"


SEPARATORS = ["\n\n# Optimized version\n", "\n\n# Alternative, more Pythonic solution:\n", "\n\n# Corrected version\n",
              "\n\n"]


def repeated_defs(task, label, rng, pool) -> Made:
    final = pick(task, label, rng)
    first_version = rng.choice(task.bad) if label else task.good
    first, style = full(task, first_version, rng, "bare" if task.he else None)
    last, _ = full(task, final, rng, "bare" if task.he else None)
    block = first.rstrip() + "\n" + rng.choice(SEPARATORS) + last
    where = rng.choice(["fenced", "plain"])
    text = chat(task, rng, fence(block)) if where == "fenced" else block
    return text, graded_program(task, block), f"{'wrong' if label else 'right'}_first,{where},{style}"


def _entry_def(tree: ast.Module, entry: str) -> ast.FunctionDef | None:
    return next((n for n in reversed(tree.body) if isinstance(n, ast.FunctionDef) and n.name == entry), None)


def delegated(code: str, entry: str, helper_after: bool) -> str | None:
    """The solution renamed to a helper, with `entry` a one-line wrapper placed before it or after the whole code."""
    fn = _entry_def(ast.parse(code), entry)
    if fn is None or fn.decorator_list:
        return None
    a = fn.args
    args = [x.arg for x in a.posonlyargs + a.args] + ([f"*{a.vararg.arg}"] if a.vararg else [])
    args += [f"{x.arg}={x.arg}" for x in a.kwonlyargs] + ([f"**{a.kwarg.arg}"] if a.kwarg else [])
    helper = f"_{entry}_impl"
    wrapper = f"def {entry}({ast.unparse(a)}):\n    return {helper}({', '.join(args)})\n"
    lines = code.rstrip().split("\n")
    lines[fn.lineno - 1] = re.sub(rf"\bdef {re.escape(entry)}\(", f"def {helper}(", lines[fn.lineno - 1], count=1)
    if helper_after:
        return "\n".join(lines[:fn.lineno - 1] + wrapper.split("\n") + ["", ""] + lines[fn.lineno - 1:]) + "\n"
    return "\n".join(lines) + "\n\n\n" + wrapper


def imports_inside(code: str, entry: str) -> str | None:
    """The module's top-level imports moved into the entry function's body."""
    tree = ast.parse(code)
    fn = _entry_def(tree, entry)
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    if fn is None or not imports:
        return None
    lines = code.rstrip().split("\n")
    first = lines[fn.body[0].lineno - 1]
    pad = first[:len(first) - len(first.lstrip())]
    moved = {i for n in imports for i in range(n.lineno - 1, n.end_lineno)}
    out = []
    for i, x in enumerate(lines):
        if i == fn.body[0].lineno - 1:
            out += [pad + lines[j].strip() for j in sorted(moved)]
        if i not in moved:
            out.append(x)
    return "\n".join(out).lstrip("\n") + "\n"


def helpers_imports(task, label, rng, pool) -> Made:
    code, style = full(task, pick(task, label, rng), rng, "bare" if task.he else None)
    variant = rng.choice(["helper_after", "helper_first"] + ([] if task.he else ["imports_inside"] * 2))
    if variant == "imports_inside":
        new = imports_inside(code, task.entry)
    else:
        new = delegated(code, task.entry, variant == "helper_after")
    if new is None:
        return None
    return chat(task, rng, fence(new)), graded_program(task, new), f"{variant},{style}"


def tabified(code: str) -> str | None:
    """Each indent level a tab, or None when the code already holds tabs or its indents share no unit."""
    lines = code.split("\n")
    depths = [len(x) - len(x.lstrip(" ")) for x in lines if x.strip()]
    unit = min([d for d in depths if d] or [0])
    if "\t" in code or not unit or any(d % unit for d in depths):
        return None
    return "\n".join("\t" * ((len(x) - len(x.lstrip(" "))) // unit) + x.lstrip(" ") if x.strip() else x
                     for x in lines)


def crlf_tabs(task, label, rng, pool) -> Made:
    code, style = full(task, pick(task, label, rng), rng, rng.choice(["bare", "restate"]) if task.he else None)
    variant = rng.choice(["crlf", "tabs", "crlf_tabs"])
    if "tabs" in variant:
        code = tabified(code)
        if code is None:
            return None
    text = chat(task, rng, fence(code))
    text = text.replace("\n", "\r\n") if "crlf" in variant else text
    return text, graded_program(task, code), f"{variant},{style}"


def mbpp_begin_done(task, label, rng, pool) -> Made:
    code = pick(task, label, rng)
    other = rng.choice([t for t in pool if t is not task])
    nxt = (f"You are an expert Python programmer, and here is your task: {other.text} Your code should pass these "
           f"tests:\n\n{other.tests}\n[BEGIN]\n")
    variant = rng.choice(["stop", "next_task", "next_task_done"])
    more = {"stop": "", "next_task": "\n" + nxt + cut(other.good, rng),
            "next_task_done": "\n" + nxt + other.good + "[DONE]\n"}[variant]
    return code.rstrip() + "\n[DONE]\n" + more, graded_program(task, code), variant


def md_body_only(task, label, rng, pool) -> Made:
    body = pick(task, label, rng)
    note = rng.choice([intro(task, rng), "Here is the body of the function; the signature and docstring stay as "
                                         "given:"])
    text = f"{note}\n\n```python\n{body.rstrip()}\n```\n\n{outro(task, rng)}"
    return text, graded_program(task, body, body=True), "fenced_body"


FAMILIES = [
    Family("B01_he_body", "he", he_body, needs_prompt=True),
    Family("B02_he_body_runon", "he", he_body_runon, needs_prompt=True),
    Family("B03_he_body_truncated", "he", he_body_truncated, needs_prompt=True),
    Family("B04_md_truncated", "both", md_truncated),
    Family("B05_md_single", "both", md_single),
    Family("B06_md_fence_variants", "both", md_fence_variants),
    Family("B07_md_drafts", "both", md_drafts),
    Family("B08_md_usage_after", "both", md_usage_after),
    Family("B09_think_md", "both", think_md),
    Family("B10_think_plain", "both", think_plain),
    Family("B11_think_unfinished", "both", think_unfinished),
    Family("B12_md_indented", "both", md_indented),
    Family("B13_prose_unfenced", "both", prose_unfenced),
    Family("B14_main_guard", "both", main_guard),
    Family("B15_repeated_defs", "both", repeated_defs),
    Family("B16_helpers_imports", "both", helpers_imports),
    Family("B17_crlf_tabs", "both", crlf_tabs),
    Family("B18_mbpp_begin_done", "mbpp", mbpp_begin_done),
    Family("B19_md_body_only", "he", md_body_only, needs_prompt=True),
]
