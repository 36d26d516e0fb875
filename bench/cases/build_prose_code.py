"""Build the prose-wrapped labelled CODE set: HumanEval and MBPP answers written as UNFENCED code with prose around it.

    nice -n 10 python bench/cases/build_prose_code.py [--data /work/shared/data] [--seed 6262] [--out FILE.jsonl]

Chat and instruct models often answer without a Markdown fence: a sentence, the function as plain text, an
explanation. Each case is built by one rule of bench/cases/README.md ("Prose-wrapped code set"), as a list of prose
and code parts; the rule reads the code parts in order (prose and chat end tokens dropped) as the answer's code, which
each row holds as `code`, and `program` is what is run with the tests (HumanEval: the prompt, then `code`). The label
is established by running THAT program with the dataset's own tests under plain python, two hash seeds
(build_heldout_code.py's runner and check): a not-rewarded case is kept only if its program fails, a rewarded case
whose program fails is a generator bug (printed and dropped, never relabelled). No extractor, verifier or scorer is
imported or run. Rules: P* rewarded, N* not rewarded. Deterministic for a given seed; `build(data, seed)` returns the
cases.
"""

from __future__ import annotations

import ast
import builtins
import random
import re
import sys
from pathlib import Path

import build_heldout_code as hc
from case_sources import write_cases

# Per task: HumanEval has 164 tasks, MBPP 500, so HumanEval gets more cases each to weigh both.
PER_TASK = {"humaneval": {"rewarded": 3, "wrong": 2}, "mbpp": {"rewarded": 1, "wrong": 1}}
TIGHT = 0.2  # how often a part follows the previous one after a bare line break instead of a blank line


# ---------------------------------------------------------------- parts: ("prose" | "code", text)
def prose(text: str) -> tuple[str, str]:
    return "prose", text.strip("\n")


def code(text: str) -> tuple[str, str]:
    return "code", text.rstrip()


def compose(parts: list[tuple[str, str]], rng: random.Random) -> tuple[str, str]:
    """(completion, answer code): the parts joined by a blank line (or, TIGHT of the time, a bare line break, as
    models also write); the answer code is the code parts alone, in order: what the label rule reads."""
    text = parts[0][1]
    for _, s in parts[1:]:
        text += ("\n" if rng.random() < TIGHT else "\n\n") + s
    answer = "\n\n".join(s for kind, s in parts if kind == "code")
    return text, (answer + "\n" if answer else "")


def signature(prob: dict) -> tuple[str, str] | None:
    """(parameters as written, parameter names) of the entry point in the canonical code."""
    node = hc.entry_def(prob["code"], prob["entry"])
    if node is None:
        return None
    return ast.unparse(node.args), ", ".join(a.arg for a in node.args.posonlyargs + node.args.args)


def split_before(src: str, node: ast.stmt) -> tuple[str, str]:
    """`src` cut at the first line of top-level statement `node` (its decorators included)."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    lines = src.split("\n")
    return "\n".join(lines[:first - 1]), "\n".join(lines[first - 1:])


def has_own_helpers(src: str, name: str) -> bool:
    """Whether a top-level function comes before the (last) top-level `def name`."""
    top = ast.parse(src).body
    at = [i for i, n in enumerate(top) if isinstance(n, ast.FunctionDef) and n.name == name]
    return bool(at) and any(isinstance(n, ast.FunctionDef) for n in top[:at[-1]])


def leading_imports(tree: ast.Module) -> int:
    """How many of the module's first statements are imports."""
    return next((i for i, n in enumerate(tree.body) if not isinstance(n, (ast.Import, ast.ImportFrom))), 0)


# ---------------------------------------------------------------- prose as models write it
INTROS = {
    "here_is": ["Here is the function:", "Here is the function `{name}`:", "Here's the code:",
                "Here is a Python function that does this:"],
    "sure_below": ["Sure! Below is the implementation of `{name}`:", "Sure! Below is a Python function that "
                   "solves the problem:", "Sure, here is one way to write it, below:"],
    "solution_heading": ["### Solution", "### Solution\n\nWe need {phrase}.", "## Solution\n\nThe code:"],
    "plan": ["To solve this, we go through the input once and keep the result as we go. Edge cases such as an empty "
             "input are handled by the same loop.\n\nThe code is as follows:",
             "We need {phrase}. The approach is direct: examine the input, build the answer, return it.\n"
             "Implementation:"],
}
AFTERS = {
    "explanation": ["The function goes through the input once and builds the result the task asks for. Edge cases, "
                    "such as an empty input, are handled by the same loop, so no special case is needed.",
                    "The idea is simple: we examine each element, keep what we need, and return the result at the "
                    "end. It also gives the right answer on the examples in the prompt."],
    "this_function": ["This function implements `{name}` as described and returns the result directly.",
                      "This function handles the empty input too, since the loop then simply does not run."],
    "numbered_explanation": ["Explanation:\n1. We handle the edge cases first.\n2. We go through the input and "
                             "update the result.\n3. We return the result.",
                             "**Explanation:**\n\n1. **Input**: the arguments of `{name}`.\n2. **Loop**: each element "
                             "is examined once.\n3. **Output**: the result is returned, not printed."],
    "complexity": ["Time complexity: O(n), space complexity: O(1) extra.",
                   "**Complexity:** O(n log n) time in the worst case, O(n) extra space.",
                   "The time complexity is O(n^2) in the worst case, which is fine for inputs of this size."],
}


def say(prob: dict, rng: random.Random, table: dict, variant: str | None = None) -> tuple[str, str]:
    """(variant, sentence): a template of `table` (a seeded variant unless named) filled in for this task."""
    variant = variant or rng.choice(sorted(table))
    return variant, rng.choice(table[variant]).format(name=prob["entry"], phrase=hc.task_phrase(prob))


def wrapped(prob: dict, rng: random.Random, answer: str) -> tuple[str, list]:
    """(where, parts): `answer` with prose before it, after it, or both (the not-rewarded rules show their code so)."""
    where = rng.choice(["before", "after", "around"])
    parts = [code(answer)]
    if where != "after":
        parts.insert(0, prose(say(prob, rng, INTROS)[1]))
    if where != "before":
        parts.append(prose(say(prob, rng, AFTERS)[1]))
    return where, parts


# ---------------------------------------------------------------- rewarded rules: the canonical code, prose around
# Each rule returns (rule, label, completion, answer code, detail) or None where it does not apply.
def p1_prose_before(prob, rng):
    v, intro = say(prob, rng, INTROS)
    return (f"P1_prose_before+{v}", True, *compose([prose(intro), code(prob["code"])], rng), "")


def p2_prose_after(prob, rng):
    v, after = say(prob, rng, AFTERS)
    return (f"P2_prose_after+{v}", True, *compose([code(prob["code"]), prose(after)], rng), "")


def p3_prose_around(prob, rng):
    (vi, intro), (va, after) = say(prob, rng, INTROS), say(prob, rng, AFTERS)
    return (f"P3_prose_around+{va}", True, *compose([prose(intro), code(prob["code"]), prose(after)], rng),
            f"intro {vi}")


def p4_usage_lines(prob, rng):
    """Unfenced example use that only calls the solution, with the tests' literal arguments."""
    calls = [c for c, _ in hc.literal_calls(prob)[:rng.choice([1, 2, 3])]]
    if not calls:
        return None
    v = rng.choice(["print_calls", "prose_then_prints", "comment_header", "commented_calls"])
    prints = "\n".join(f"print({c})" for c in calls)
    parts = [prose(say(prob, rng, INTROS)[1]), code(prob["code"])]
    if v == "print_calls":
        parts.append(code(prints))
    elif v == "prose_then_prints":
        parts += [prose(rng.choice(["Example usage:", "You can test it like this:", "For example:"])), code(prints)]
    elif v == "comment_header":
        parts.append(code("# Example usage:\n" + prints))
    else:
        shown = {c: y for c, y in hc.expected_values(prob)}
        lines = [f"# {c}  # returns {shown[c]}" if c in shown else f"# print({c})" for c in calls]
        parts.append(code("\n".join(["# Example usage:"] + lines)))
    return (f"P4_usage_lines+{v}", True, *compose(parts, rng), "")


def p5_helper_prose_main(prob, rng):
    """Helper code, a prose line, then the entry point that calls it. The rule reads every code part, so the helper
    is part of the program (a reader who keeps one block only would drop it: that reading is not this rule's)."""
    name, src, v = prob["entry"], prob["code"], "own_helpers"
    if not has_own_helpers(src, name):
        # no helper of its own: the canonical function becomes the helper of a wrapper with the entry point's name
        src, v = hc.with_helper(prob["code"], name, rng), "wrapper"
        if src is None:
            return None
    helpers, main = split_before(src, hc.entry_def(src, name))
    parts = [code(helpers), prose(rng.choice(["Now the main function:", "Now we can write the main function using "
                                              "the helper:", "With that helper, the function the task asks for is:"])),
             code(main)]
    if rng.random() < 0.5:
        parts.insert(0, prose(rng.choice(["First, a helper function:", "We start with a helper that does the actual "
                                          "work:", "Let's first write a small helper."])))
    return (f"P5_helper_prose_main+{v}", True, *compose(parts, rng), "")


def p6_imports_prose_function(prob, rng):
    """The import lines, a prose line, then the rest: the code's own leading imports (which it may need), else one
    or two unused ones."""
    tree = ast.parse(prob["code"])
    k = leading_imports(tree)
    if k:
        v, (imports, rest) = "own_imports", split_before(prob["code"], tree.body[k])
    else:
        v, imports, rest = "extra_imports", "\n".join(rng.sample(hc.EXTRA_IMPORTS, rng.choice([1, 2]))), prob["code"]
    parts = [code(imports), prose(rng.choice(["Then the function itself:", "With these imports, the function is:",
                                              f"Next, we define `{prob['entry']}`:", "Now the function:"])), code(rest)]
    if rng.random() < 0.3:
        parts.insert(0, prose(rng.choice(["We need an import first.", "Here is the code. First the imports:"])))
    return (f"P6_imports_prose_function+{v}", True, *compose(parts, rng), "")


def p7_inline_code_spans(prob, rng):
    """Prose with `code` spans (built-ins and methods the solution calls, its call) before and/or after it."""
    sig = signature(prob)
    if sig is None:
        return None
    calls = [n.func for n in ast.walk(ast.parse(prob["code"])) if isinstance(n, ast.Call)]
    used = sorted({f"`{f.id}()`" for f in calls if isinstance(f, ast.Name) and f.id in dir(builtins)}
                  | {f"`.{f.attr}()`" for f in calls if isinstance(f, ast.Attribute)})
    spans = " and ".join(rng.sample(used, min(2, len(used)))) or "plain loops and comparisons"
    call, v = f"`{prob['entry']}({sig[1]})`", rng.choice(["before", "after", "both"])
    before = prose(rng.choice([f"We define {call}; it relies on {spans} and returns the result:",
                               f"The function below uses {spans}. Note that {call} returns its result instead of "
                               "printing it:"]))
    after = prose(rng.choice([f"The solution calls {spans}; {call} returns the result rather than printing it.",
                              f"Here {call} relies on {spans}, and an empty input needs no special case."]))
    parts = ([before] if v != "after" else []) + [code(prob["code"])] + ([after] if v != "before" else [])
    return (f"P7_inline_code_spans+{v}", True, *compose(parts, rng), spans)


def p8_end_token(prob, rng):
    """A chat end token after the answer: glued to the last code line, on its own line, or after a closing sentence."""
    v, token = rng.choice(["same_line", "own_line", "after_prose"]), rng.choice(hc.END_TOKENS)
    parts = [prose(say(prob, rng, INTROS)[1]), code(prob["code"])]
    if v == "after_prose":
        parts.append(prose(say(prob, rng, AFTERS)[1]))
    text, answer = compose(parts, rng)
    return f"P8_end_token+{v}", True, text + ("\n" if v == "own_line" else "") + token, answer, token


# ---------------------------------------------------------------- not-rewarded rules
def n1_prose_mutant(prob, rng):
    """A failing mutant (build_heldout_code's W1 mechanism), unfenced, with prose."""
    if not prob["mutants"]:
        return None
    bad, desc = prob["mutants"][0]
    where, parts = wrapped(prob, rng, hc.full_code(prob, bad))
    return (f"N1_prose_mutant+{where}", False, *compose(parts, rng), desc)


def n2_prose_truncated(prob, rng):
    """Prose, then the function cut inside its body (at a line end or mid-line): the completion ends there."""
    mid = rng.random() < 0.5
    cut = hc.truncated(prob["code"], prob["entry"], rng, mid)
    if cut is None:
        return None
    v = "mid_line" if mid else "line"
    return (f"N2_prose_truncated+{v}", False, *compose([prose(say(prob, rng, INTROS)[1]), code(cut)], rng), "")


def n3_backtick_def_only(prob, rng):
    """Prose only: the signature `def f(...):` in a code span, no code."""
    sig = signature(prob)
    if sig is None:
        return None
    d = f"`def {prob['entry']}({sig[0]}):`"
    v, text = rng.choice([
        ("plan", f"To solve this, define {d} and go through the input once, keeping the result as you go. Return it "
                 "at the end; an empty input needs no special case."),
        ("signature_note", f"The function keeps the signature {d}. Inside it, loop over the input, update the answer "
                           "whenever the condition holds, and return the answer."),
        ("steps", f"Steps:\n1. Write {d}.\n2. Handle the edge cases.\n3. Compute the result and `return` it.")])
    return f"N3_backtick_def_only+{v}", False, text, "", ""


def n4_prose_wrong_name(prob, rng):
    """The correct function under another name only (build_heldout_code's W8 names), with prose."""
    new = hc.other_name(prob["entry"], rng)
    if re.search(rf"\b{new}\b", prob["code"]):
        return None
    v = new if new in ("solution", "solve") else "v2" if new.endswith("_v2") else "my_prefix" \
        if new.startswith("my_") else "camel_case"
    where, parts = wrapped(prob, rng, hc.renamed(prob["code"], prob["entry"], new))
    return (f"N4_prose_wrong_name+{v}", False, *compose(parts, rng), f"{new}; prose {where}")


def n5_prose_stub(prob, rng):
    """The only function is a stub: `pass`, `return None`, or a TODO comment and `return None`."""
    sig = signature(prob)
    if sig is None:
        return None
    v, body = rng.choice([("pass", "pass"), ("return_none", "return None"),
                          ("todo_return_none", "# TODO: implement\n    return None")])
    where, parts = wrapped(prob, rng, f"def {prob['entry']}({sig[0]}):\n    {body}\n")
    return (f"N5_prose_stub+{v}", False, *compose(parts, rng), f"prose {where}")


REWARDED = [p1_prose_before, p2_prose_after, p3_prose_around, p4_usage_lines, p5_helper_prose_main,
            p6_imports_prose_function, p7_inline_code_spans, p8_end_token]
NOT_REWARDED = [n1_prose_mutant, n2_prose_truncated, n3_backtick_def_only, n4_prose_wrong_name, n5_prose_stub]


def cases_for(prob: dict, seed: int) -> list[tuple]:
    """This task's cases: rules of each pool in seeded order, skipping those that do not apply. A task whose code has
    its own helpers or leading imports takes P5 / P6 first: those natural forms (where the split-off part may be
    needed) are rare in the data. Its own rng, so a task's cases do not depend on the others'."""
    rng, n = random.Random(f"{seed}:{prob['source']}"), PER_TASK[prob["task"]]
    native = {p5_helper_prose_main: has_own_helpers(prob["code"], prob["entry"]),
              p6_imports_prose_function: leading_imports(ast.parse(prob["code"])) > 0}
    out = []
    for pool, k in ((REWARDED, n["rewarded"]), (NOT_REWARDED, n["wrong"])):
        for rule in sorted(rng.sample(pool, len(pool)), key=lambda r: not native.get(r)):  # stable: seeded order
            if k == 0:
                break
            if got := rule(prob, rng):
                out.append(got)
                k -= 1
    return out


def build(data: str | Path = "/work/shared/data", seed: int = 6262) -> list[dict]:
    probs = hc.passing_tasks(hc.load_problems(Path(data)))
    hc.find_mutants(probs, seed, per=1)
    built = [(p, c) for p in probs for c in cases_for(p, seed)]
    for p, (rule, _, text, answer, _) in built:  # construction guard: the answer's code is the completion's own
        assert all(line in text for line in answer.split("\n")), (p["source"], rule)
    runs = [hc.program(p, answer) for p, (_, _, _, answer, _) in built]
    keep = hc.agrees_with_label([(p, rule, label, prog) for (p, (rule, label, _, _, _)), prog in zip(built, runs)])
    cases = []
    for (p, (rule, label, text, answer, detail)), prog, ok in zip(built, runs, keep):
        if ok:
            cases.append({"id": f"{p['source']}#{len(cases)}", "source": p["source"], "task": p["task"],
                          "rule": rule, "label": label, "completion": text, "code": answer, "program": prog,
                          "reference": p["ref"], "prompt": p["prompt"][-1]["content"], "detail": detail})
    return cases


if __name__ == "__main__":
    write_cases(build, seed=6262, width=30)
