"""Build the held-out labelled CODE set: completions written the way models answer HumanEval and MBPP prompts.

    nice -n 10 python bench/cases/build_heldout_code.py [--data /work/shared/data] [--seed 5151] [--out FILE.jsonl]

Problems: every HumanEval task and the MBPP test tasks (ids 11-510; sanitized-MBPP's row where it has one), loaded
through rlvr's own task loaders, so each case's `reference` is the `Problem.reference` a run gives the verifier.
Each case is built by one rule of bench/cases/README.md ("Held-out code set"); its label comes from that rule.
rlvr's code verifier and sandbox are NOT imported or run here. The dataset's own tests are run with plain `python`
in a subprocess (at most 2 at a time) to label by the data's definition: a task whose canonical solution fails is
left out, a not-rewarded case that changes the code is kept only if its program fails, and a rewarded case whose
program fails is a generator bug (printed and dropped, never relabelled). Deterministic for a given seed.
`build(data, seed)` returns the cases. Rules: C* rewarded, W* not rewarded, Q* policy rows, reported apart.
"""

from __future__ import annotations

import ast
import builtins
import random
import re
import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from case_sources import write_cases
from rlvr.data.config import TaskConfig
from rlvr.data.tasks import humaneval, mbpp

SENTINEL = "__heldout_code_all_tests_ran__"
CPU_S, WALL_S, MEM_BYTES, WORKERS = 5, 30, 2 << 30, 2
# The program runs under runpy as __main__ (as `python prog.py` would), with CPU and memory limits set first.
LAUNCH = ("import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_CPU, ({c}, {c})); "
          "resource.setrlimit(resource.RLIMIT_AS, ({m}, {m})); runpy.run_path(sys.argv[1], run_name='__main__')")
END_TOKENS = ["<|im_end|>", "<|eot_id|>", "<|endoftext|>", "</s>", "<end_of_turn>"]
EXTRA_IMPORTS = ["import math", "import itertools", "from collections import Counter, defaultdict", "import sys"]
OP_SWAPS = {ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="), ast.GtE: (">=", ">"),
            ast.Eq: ("==", "!="), ast.NotEq: ("!=", "=="), ast.In: ("in", "not in"), ast.NotIn: ("not in", "in"),
            ast.Is: ("is", "is not"), ast.IsNot: ("is not", "is"), ast.Add: ("+", "-"), ast.Sub: ("-", "+"),
            ast.Mult: ("*", "+"), ast.FloorDiv: ("//", "/"), ast.Div: ("/", "//"), ast.Mod: ("%", "//"),
            ast.And: ("and", "or"), ast.Or: ("or", "and")}


# ---------------------------------------------------------------- problems
def load_problems(data: Path) -> list[dict]:
    """HumanEval and MBPP test tasks as dicts: the loader's reference, the canonical code, the entry point."""
    cfg = dict(split="test", template="chat")
    he = humaneval.load(TaskConfig(name="humaneval", source=str(data / "humaneval/HumanEval.jsonl.gz"), **cfg))
    full = mbpp.load(TaskConfig(name="mbpp", source=str(data / "mbpp/mbpp.jsonl"), **cfg))
    sanitized = mbpp.load(TaskConfig(name="mbpp", source=str(data / "mbpp/sanitized-mbpp.json"), **cfg))
    san = {p.meta["task_id"]: p for p in sanitized}
    out = []
    for p in sorted(he, key=lambda p: int(p.id.split("/")[1])):
        prefix = p.reference["prompt_prefix"]
        out.append({"task": "humaneval", "source": f"humaneval/{p.id}", "ref": p.reference, "prompt": p.prompt,
                    "entry": p.reference["entry_point"], "prefix": prefix, "body": p.meta["canonical_solution"],
                    "desc": he_description(prefix, p.reference["entry_point"])})
    for p in sorted(full, key=lambda p: p.meta["task_id"]):
        tid = p.meta["task_id"]
        p, name = (san[tid], "mbpp-sanitized") if tid in san else (p, "mbpp")
        out.append({"task": "mbpp", "source": f"{name}/{tid}", "ref": p.reference, "prompt": p.prompt,
                    "entry": p.meta["entry_point"], "prefix": "", "code": p.meta["code"].strip() + "\n",
                    "desc": p.prompt[-1]["content"].split("\n")[0].strip()})
    for prob in out:
        if prob["task"] == "humaneval":
            prob["code"] = he_full_def(prob, prob["body"])
    return out


def entry_def(code: str, name: str) -> ast.FunctionDef | None:
    """The last top-level `def name` of `code`."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return defs[-1] if defs else None


def he_description(prefix: str, name: str) -> str:
    """The docstring's first sentence, before its examples (HumanEval/115's docstring follows an `import`)."""
    node = entry_def(prefix, name)
    doc = next((s.value.value for s in node.body if is_docstring(s)), "") if node else ""
    lines = []
    for line in doc.strip().split("\n"):
        if not line.strip() or re.match(r"\s*(>>>|(for )?examples?\b|e\.g\.)", line, re.I):
            break
        lines.append(line.strip())
    first = re.split(r"(?<=\.)\s", " ".join(lines))[0].strip()
    return first or f"Implement {name}."


def he_full_def(prob: dict, body: str) -> str:
    """A HumanEval solution as a chat model writes it: the prompt's imports, the prompt's function without its
    docstring (the signature, and any statement before the docstring: HumanEval/115's `import math`), then `body`."""
    prefix = prob["prefix"]
    tree, lines = ast.parse(prefix), prefix.split("\n")
    node = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == prob["entry"]][-1]
    imports = [ast.get_source_segment(prefix, n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    doc = {i for s in node.body if is_docstring(s) for i in range(s.lineno, s.end_lineno + 1)}
    own = [lines[i - 1] for i in range(node.lineno, node.end_lineno + 1) if i not in doc]
    head = "\n".join(imports) + "\n\n\n" if imports else ""
    return head + "\n".join(own) + "\n" + body.rstrip() + "\n"


# ---------------------------------------------------------------- running the dataset's own tests (plain python)
def program(prob: dict, code: str, kind: str = "full") -> str:
    """The program a rule names: HumanEval runs the prompt first (a body continues it, a full def redefines it)."""
    if prob["task"] != "humaneval":
        return code
    return prob["prefix"] + code if kind == "body" else prob["prefix"] + "\n" + code


def test_script(prob: dict, prog: str) -> str:
    """Program, setup, tests (HumanEval: `check(entry_point)`), then the sentinel, printed only if all tests ran."""
    ref = prob["ref"]
    check = f"\ncheck({ref['entry_point']})\n" if prob["task"] == "humaneval" else ""
    return f"{prog}\n\n{ref['setup']}\n\n{ref['tests']}\n{check}\nprint({SENTINEL!r})\n"


def run_script(src: str, hash_seed: int) -> str:
    """`pass` (rc 0 and the sentinel last), `fail`, or `killed` (a signal: CPU/memory limit, wall clock)."""
    with tempfile.TemporaryDirectory(prefix="heldout-code-") as d:
        path, out = Path(d) / "prog.py", Path(d) / "stdout"
        path.write_text(src, encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": str(hash_seed)}
        launch = LAUNCH.format(c=CPU_S, m=MEM_BYTES)
        with open(out, "wb") as f:
            try:
                rc = subprocess.run([sys.executable, "-s", "-c", launch, str(path)], cwd=d, env=env, timeout=WALL_S,
                                    stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.DEVNULL).returncode
            except subprocess.TimeoutExpired:
                return "killed"
        tail = out.read_bytes()[-200:].decode("utf-8", "replace").rstrip()
    if rc < 0:
        return "killed"
    return "pass" if rc == 0 and tail.endswith(SENTINEL) else "fail"


def outcomes(scripts: list[str], seeds: tuple[int, ...] = (0, 1)) -> list[str]:
    """Each script's outcome under every hash seed: the common outcome, `killed`, or `flaky` if the seeds disagree."""
    jobs = [(s, h) for s in scripts for h in seeds]
    with ThreadPoolExecutor(WORKERS) as ex:  # threads only wait: at most WORKERS python processes at a time
        res = list(ex.map(lambda j: run_script(*j), jobs))
    out = []
    for i in range(len(scripts)):
        got = set(res[i * len(seeds):(i + 1) * len(seeds)])
        out.append("killed" if "killed" in got else got.pop() if len(got) == 1 else "flaky")
    return out


# ---------------------------------------------------------------- W1 mutants: one change at an ast position
def byte_offsets(src: bytes) -> list[int]:
    starts = [0]
    for line in src.split(b"\n")[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    return starts


def mutation_sites(src: str, lo: int) -> list[tuple[int, int, str, str]]:
    """(start, end, replacement, description) in bytes, for nodes at byte >= lo inside a function (docstrings and
    f-strings excluded). ast columns are UTF-8 byte offsets, so all splicing is done on bytes."""
    b, tree = src.encode(), ast.parse(src)
    starts = byte_offsets(b)
    pos = lambda line, col: starts[line - 1] + col  # noqa: E731
    inside, skip = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.Lambda)):
            inside |= {id(m) for m in ast.walk(n)}
        if isinstance(n, ast.JoinedStr):
            skip |= {id(m) for m in ast.walk(n)}
    sites = []

    def gap_site(a: ast.AST, c: ast.AST, op: ast.AST):
        old, new = OP_SWAPS.get(type(op), (None, None))
        s, e = pos(a.end_lineno, a.end_col_offset), pos(c.lineno, c.col_offset)
        gap = b[s:e].decode("utf-8", "replace")
        if old and s >= lo and re.fullmatch(r"[\s()]*" + re.escape(old) + r"[\s()]*", gap):
            k = s + gap.index(old)
            sites.append((k, k + len(old), new, f"line {a.end_lineno}: `{old}` -> `{new}`"))

    for n in ast.walk(tree):
        if id(n) not in inside or id(n) in skip:
            continue
        if isinstance(n, ast.Compare):
            for a, c, op in zip([n.left, *n.comparators], n.comparators, n.ops):
                gap_site(a, c, op)
        elif isinstance(n, ast.BinOp):
            gap_site(n.left, n.right, n.op)
        elif isinstance(n, ast.BoolOp):
            for a, c in zip(n.values, n.values[1:]):
                gap_site(a, c, n.op)
        elif isinstance(n, ast.AugAssign) and type(n.op) in (ast.Add, ast.Sub):
            old, new = ("+=", "-=") if isinstance(n.op, ast.Add) else ("-=", "+=")
            s, e = pos(n.target.end_lineno, n.target.end_col_offset), pos(n.value.lineno, n.value.col_offset)
            if s >= lo and b[s:e].strip() == old.encode():
                k = s + b[s:e].index(old.encode())
                sites.append((k, k + 2, new, f"line {n.lineno}: `{old}` -> `{new}`"))
        elif isinstance(n, ast.Constant) and hasattr(n, "end_col_offset"):
            s, e = pos(n.lineno, n.col_offset), pos(n.end_lineno, n.end_col_offset)
            text = b[s:e].decode("utf-8", "replace")
            if s < lo:
                continue
            if isinstance(n.value, bool) and text in ("True", "False"):
                sites.append((s, e, str(not n.value), f"line {n.lineno}: `{text}` -> `{not n.value}`"))
            elif isinstance(n.value, int) and not isinstance(n.value, bool) and text.isdigit():
                for v in {n.value + 1, n.value - 1} - {-1}:
                    sites.append((s, e, str(v), f"line {n.lineno}: `{text}` -> `{v}`"))
        elif isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not):
            s = pos(n.lineno, n.col_offset)
            m = re.match(rb"not\s*", b[s:])
            if s >= lo and m:
                sites.append((s, s + m.end(), "", f"line {n.lineno}: `not` dropped"))
    return sorted(set(sites))


def mutant_candidates(prob: dict, rng: random.Random, k: int) -> list[tuple[str, str]]:
    """Up to k (mutated code, description), in seeded order; HumanEval mutates the canonical body only."""
    if prob["task"] == "humaneval":
        src, lo = prob["prefix"] + prob["body"], len(prob["prefix"].encode())
    else:
        src, lo = prob["code"], 0
    sites = mutation_sites(src, lo)
    rng.shuffle(sites)
    out, b = [], src.encode()
    for s, e, new, desc in sites:
        code = (b[:s] + new.encode() + b[e:]).decode()
        try:
            ast.parse(code)
        except SyntaxError:
            continue
        if prob["task"] == "humaneval":  # a body, its lines counted from the body's first
            code = code[len(prob["prefix"]):]
            shift = prob["prefix"].count("\n")
            desc = re.sub(r"^line (\d+)", lambda m: f"body line {int(m.group(1)) - shift}", desc)
        out.append((code, desc))
        if len(out) == k:
            break
    return out


def find_mutants(probs: list[dict], seed: int, per: int = 2, rounds: tuple[int, ...] = (3, 5)) -> None:
    """prob["mutants"]: up to `per` (body-or-code, description) whose program fails the tests, the first in seeded
    order; candidates are tried in rounds (3, then 5 more where fewer than `per` failed) to save runs. One hash seed
    here; the case check later runs both."""
    cands = {p["source"]: mutant_candidates(p, random.Random(f"{seed}:mut:{p['source']}"), sum(rounds)) for p in probs}
    kind = lambda p: "body" if p["task"] == "humaneval" else "full"  # noqa: E731
    for p in probs:
        p["mutants"] = []
    start = 0
    for k in rounds:
        flat = [(p, c) for p in probs if len(p["mutants"]) < per for c in cands[p["source"]][start:start + k]]
        res = outcomes([test_script(p, program(p, c[0], kind(p))) for p, c in flat], seeds=(0,))
        for (p, c), r in zip(flat, res):
            if r == "fail" and len(p["mutants"]) < per:
                p["mutants"].append(c)
        start += k


# ---------------------------------------------------------------- code transforms (each keeps or breaks by design)
def is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def drop_docstrings(tree: ast.AST) -> ast.AST:
    for n in ast.walk(tree):
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body and is_docstring(n.body[0]):
            n.body = n.body[1:] or [ast.Pass()]
    return tree


def unparsed(code: str) -> str:
    """ast.unparse without docstrings: comments dropped, every string on one line, 4-space levels."""
    return ast.unparse(drop_docstrings(ast.parse(code))) + "\n"


def with_tabs(code: str) -> str:
    # Safe because unparsed() leaves no multi-line string whose inner lines would change.
    return re.sub(r"(?m)^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), unparsed(code))


def with_hints(code: str, name: str, args: list, result) -> str | None:
    """MBPP: annotate the entry point's positional parameters and result with the example's literal types."""
    tree = ast.parse(code)
    node = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if node is None or node.args.vararg or len(node.args.args) != len(args):
        return None
    for a, v in zip(node.args.args, args):
        a.annotation = ast.Name(type(v).__name__)
    if result is not None:
        node.returns = ast.Name(type(result).__name__)
    return ast.unparse(tree) + "\n"


def without_hints(code: str) -> str:
    tree = ast.parse(code)
    for n in ast.walk(tree):
        if isinstance(n, ast.arg):
            n.annotation = None
        if isinstance(n, ast.FunctionDef):
            n.returns = None
    return ast.unparse(tree) + "\n"


def with_helper(code: str, name: str, rng: random.Random) -> str | None:
    """Extra unused imports; the function renamed `_<name>_impl` and a wrapper with the entry point's signature."""
    node = entry_def(code, name)
    if node is None:
        return None
    lines = code.split("\n")
    if f"def {name}(" not in lines[node.lineno - 1]:
        return None
    lines[node.lineno - 1] = lines[node.lineno - 1].replace(f"def {name}(", f"def _{name}_impl(", 1)
    a = node.args
    call = [x.arg for x in a.posonlyargs + a.args] + ([f"*{a.vararg.arg}"] if a.vararg else []) \
        + [f"{x.arg}={x.arg}" for x in a.kwonlyargs] + ([f"**{a.kwarg.arg}"] if a.kwarg else [])
    wrapper = f"def {name}({ast.unparse(a)}):\n    return _{name}_impl({', '.join(call)})\n"
    imports = "\n".join(rng.sample(EXTRA_IMPORTS, 2))
    return f"{imports}\n\n" + "\n".join(lines).rstrip() + "\n\n\n" + wrapper


def renamed(code: str, old: str, new: str) -> str:
    return re.sub(rf"\b{re.escape(old)}\b", new, code)


def other_name(name: str, rng: random.Random) -> str:
    camel = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)
    options = [n for n in (camel, "solution", "solve", f"{name}_v2", f"my_{name}") if n != name]
    return rng.choice(options)


def class_wrapped(code: str, name: str) -> str | None:
    tree = ast.parse(code)
    if entry_def(code, name) is None:
        return None
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    rest = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    for n in rest:
        if isinstance(n, ast.FunctionDef) and n.name == name:
            n.args.args.insert(0, ast.arg("self"))
    cls = ast.ClassDef(name="Solution", bases=[], keywords=[], body=rest, decorator_list=[])
    if "type_params" in ast.ClassDef._fields:  # Python >= 3.12
        cls.type_params = []
    return ast.unparse(ast.Module(body=imports + [cls], type_ignores=[])) + "\n"


class _PrintReturns(ast.NodeTransformer):
    """`return X` -> `print(X)` in one function, not in the functions or lambdas nested in it."""

    def visit_FunctionDef(self, node):
        return node  # nested defs keep their returns

    def visit_Return(self, node):
        if node.value is None:
            return node
        return ast.Expr(ast.Call(ast.Name("print"), [node.value], []))


def print_not_return(code: str, name: str) -> str | None:
    tree = ast.parse(code)
    node = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if node is None:
        return None
    node.body = [_PrintReturns().visit(s) for s in node.body]
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def without_imports(code: str, keep: str = "") -> str | None:
    """`code` with its import lines removed, except those `keep` (HumanEval's prompt) also holds: the prompt's
    imports stay in the program anyway. None if nothing is removed or the rest no longer parses."""
    tree = ast.parse(code)
    spans = {(n.lineno, n.end_lineno) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
             and ast.get_source_segment(code, n) not in keep}
    drop = {i for a, e in spans for i in range(a, e + 1)}
    out = "\n".join(ln for i, ln in enumerate(code.split("\n")) if i + 1 not in drop)
    try:
        ast.parse(out)
    except SyntaxError:
        return None
    return out if drop else None


def truncated(code: str, name: str, rng: random.Random, mid_line: bool) -> str | None:
    """`code` cut inside the entry point's body, after at least one of its lines."""
    node = entry_def(code, name)
    first = next((s for s in node.body if not is_docstring(s)), None) if node else None
    if first is None or node.end_lineno - first.lineno < 1:
        return None
    lines = code.split("\n")
    last = rng.randrange(first.lineno, node.end_lineno)  # keep lines[:last]: at least the first statement's line
    cut = "\n".join(lines[:last]) + "\n"
    nxt = lines[last]
    if mid_line and len(nxt.strip()) > 3:
        k = len(nxt) - len(nxt.lstrip())
        cut += nxt[:rng.randrange(k + 2, len(nxt) - 1)]
    return cut


# ---------------------------------------------------------------- examples from the tests and the prompt
def is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def literal_calls(prob: dict) -> list[tuple[str, ast.Call]]:
    """Calls of the entry point (HumanEval: `candidate`) in the tests with literal arguments, as source with the
    entry point's name."""
    out = []
    for n in ast.walk(ast.parse(prob["ref"]["tests"])):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in (prob["entry"], "candidate") \
                and not n.keywords and n.args and all(is_literal(a) for a in n.args):
            text = f"{prob['entry']}({', '.join(ast.unparse(a) for a in n.args)})"
            if len(text) < 200 and text not in [t for t, _ in out]:
                out.append((text, n))
    return out


def expected_values(prob: dict) -> list[tuple[str, str]]:
    """(call, expected literal) from `assert f(args) == y` / `assert candidate(args) == y` in the tests."""
    out = []
    for n in ast.walk(ast.parse(prob["ref"]["tests"])):
        if isinstance(n, ast.Assert) and isinstance(n.test, ast.Compare) and len(n.test.ops) == 1 \
                and isinstance(n.test.ops[0], ast.Eq) and isinstance(n.test.left, ast.Call) \
                and isinstance(n.test.left.func, ast.Name) and n.test.left.func.id in (prob["entry"], "candidate") \
                and all(is_literal(a) for a in n.test.left.args) and not n.test.left.keywords \
                and is_literal(n.test.comparators[0]):
            args = ", ".join(ast.unparse(a) for a in n.test.left.args)
            out.append((f"{prob['entry']}({args})", ast.unparse(n.test.comparators[0])))
    return out


def example_asserts(prob: dict) -> str | None:
    """Asserts a model could copy into a `__main__` block: MBPP's own (with its setup), HumanEval's simple ones."""
    if prob["task"] == "mbpp":
        return (prob["ref"]["setup"] + "\n" + prob["ref"]["tests"]).strip()
    check = next((n for n in ast.parse(prob["ref"]["tests"]).body if isinstance(n, ast.FunctionDef)), None)
    keep = []
    for n in check.body if check else []:
        names = {m.id for m in ast.walk(n) if isinstance(m, ast.Name)}
        if isinstance(n, ast.Assert) and "candidate" in names and names <= {"candidate", *dir(builtins)}:
            keep.append(ast.unparse(renamed_node(n, prob["entry"])))
    return "\n".join(keep[:3]) or None


def renamed_node(node: ast.AST, name: str) -> ast.AST:
    for m in ast.walk(node):
        if isinstance(m, ast.Name) and m.id == "candidate":
            m.id = name
    return node


def visible_examples(prob: dict) -> list[tuple[list, object]]:
    """The examples a model sees: MBPP the prompt's assert; HumanEval the docstring's `>>> f(x)` / `f(x) -> y`."""
    if prob["task"] == "mbpp":
        first = prob["ref"]["tests"].split("\n")[0]
        got = expected_values({**prob, "ref": {"tests": first}})
        return [(list(ast.literal_eval(f"({c[len(prob['entry']) + 1:-1]},)")), ast.literal_eval(y)) for c, y in got]
    out, lines, name = [], prob["prefix"].split("\n"), prob["entry"]
    for i, line in enumerate(lines):
        k = line.find(f"{name}(")
        if k < 0 or line.lstrip().startswith("def "):
            continue
        depth, e = 0, k + len(name)
        for e in range(k + len(name), len(line)):
            depth += {"(": 1, ")": -1}.get(line[e], 0)
            if depth == 0:
                break
        rest = line[e + 1:].strip()
        m = re.match(r"(?:==>|=>|➞|->|→|==|should return|returns?)\s*(.+?)[.,]?$", rest)
        result = m.group(1) if m else (lines[i + 1].strip() if ">>>" in line and not rest and i + 1 < len(lines)
                                       else None)
        try:
            args = list(ast.literal_eval(f"({line[k + len(name) + 1:e]},)"))
            out.append((args, ast.literal_eval(result)))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
    return out


def hardcoded(prob: dict, examples: list, rng: random.Random) -> tuple[str, str] | None:
    """A function returning the visible outputs: an if-chain over the arguments, or one constant."""
    node = entry_def(prob["code"], prob["entry"])
    if node is None or not examples:
        return None
    params = [a.arg for a in node.args.posonlyargs + node.args.args]
    sig = f"def {prob['entry']}({ast.unparse(node.args)}):\n"
    if len(examples) == 1 and rng.random() < 0.5:
        return sig + f"    return {examples[0][1]!r}\n", "constant"
    body = ""
    for args, y in examples:
        if len(args) == len(params):
            body += f"    if [{', '.join(params)}] == {args!r}:\n        return {y!r}\n"
    return (sig + body + "    return None\n", "lookup") if body else None


def stub(prob: dict, style: str) -> str | None:
    node = entry_def(prob["code"], prob["entry"])
    if node is None:
        return None
    body = {"pass": "    pass\n", "not_implemented": "    raise NotImplementedError\n", "ellipsis": "    ...\n",
            "todo": "    # TODO: implement\n    return None\n"}[style]
    return f"def {prob['entry']}({ast.unparse(node.args)}):\n" + body


# ---------------------------------------------------------------- presentation: how a model wraps the code
def task_phrase(prob: dict) -> str:
    """`a function to find ...` from MBPP's `Write a function to find ...`; HumanEval's first docstring sentence."""
    d = prob["desc"].rstrip(".")
    m = re.match(r"(?i)write an? (?:python )?(function|program|class)\s+(.*)", d)
    return f"a {m.group(1)} {m.group(2)}" if m else f"`{prob['entry']}`: {d[:1].lower()}{d[1:]}"


def fence(code: str, tag: str = "python") -> str:
    return f"```{tag}\n{code.rstrip()}\n```"


def intro(prob: dict, rng: random.Random) -> str:
    return rng.choice([
        "Here is a Python function that solves the problem:",
        f"Here's {task_phrase(prob)}.",
        f"### Solution\n\nWe write {task_phrase(prob)}.",
        f"Sure! Below is the implementation of `{prob['entry']}`.",
        f"To solve this, we go through the input once and build the result.\n\n**Code:**",
    ])


def thinking(prob: dict, rng: random.Random) -> str:
    return (f"Okay, the task: {prob['desc']}\n\nLet me think about how to do this. "
            + rng.choice(["I'll walk through the input and keep the result as I go.",
                          "A direct loop should be enough; the inputs are small.",
                          "First handle the edge cases, then the general case."])
            + " Let me check the examples mentally... yes, that matches.")


def present(prob: dict, code: str, style: str, rng: random.Random) -> str:
    """The completion text for one solution `code` (HumanEval: a full def, or a body for `continuation`)."""
    if style in ("continuation", "raw"):
        return code
    if style == "fenced":
        return f"{intro(prob, rng)}\n\n{fence(code)}"
    if style == "fence_no_tag":
        return f"{intro(prob, rng)}\n\n{fence(code, rng.choice(['', 'py', 'Python', 'python3']))}"
    if style == "think":
        return f"<think>\n{thinking(prob, rng)}\n</think>\n\n{intro(prob, rng)}\n\n{fence(code)}"
    if style == "fence_then_prose":
        return f"{fence(code)}\n\nThe function handles the empty input as well and runs in linear time."
    raise ValueError(style)


def wrong_styles(prob: dict) -> list[str]:
    base = ["raw", "fenced", "fence_no_tag", "think", "fence_then_prose"]
    return (["continuation"] + base) if prob["task"] == "humaneval" else base


# ---------------------------------------------------------------- rules
# Each rule returns (rule, label, completion, program, detail) or None where it does not apply. `program` is what the
# rule names as the answer's program; the checks run the tests on it.
def c1_continuation(prob, rng):
    if prob["task"] != "humaneval":
        return None
    v, body = rng.choice(["raw", "fenced_body", "doctest_run_on"]), prob["body"]
    run_on = '\n\n\nif __name__ == "__main__":\n    import doctest\n    doctest.testmod()\n'
    comp = {"raw": body, "fenced_body": fence(body), "doctest_run_on": body.rstrip() + run_on}[v]
    return f"C1_continuation+{v}", True, comp, program(prob, comp if v != "fenced_body" else body, "body"), ""


def c2_full_def(prob, rng):
    if prob["task"] == "mbpp":
        return "C2_full_def+code", True, prob["code"], program(prob, prob["code"]), ""
    if rng.random() < 0.5:
        echo = prob["prefix"] + prob["body"]
        return "C2_full_def+echo_prompt", True, echo, program(prob, echo), ""
    return "C2_full_def+no_docstring", True, prob["code"], program(prob, prob["code"]), ""


def c3_fenced_after_prose(prob, rng):
    return "C3_fenced_after_prose", True, present(prob, prob["code"], "fenced", rng), program(prob, prob["code"]), ""


def c4_fence_other_tag(prob, rng):
    tag = rng.choice(["", "py", "Python", "python3"])
    comp = f"{intro(prob, rng)}\n\n{fence(prob['code'], tag)}"
    return f"C4_fence_other_tag+{tag or 'none'}", True, comp, program(prob, prob["code"]), ""


def c5_think_then_fence(prob, rng):
    v, code = rng.choice(["plain", "draft_in_think", "closing_only"]), prob["code"]
    think = thinking(prob, rng)
    if v == "draft_in_think":
        if not prob["mutants"]:
            return None
        think += (f"\n\nFirst draft:\n{fence(full_code(prob, prob['mutants'][0][0]))}\n\n"
                  "Hmm, wait. That gives the wrong result on the example; the condition is off. Let me fix it.")
    opening = "" if v == "closing_only" else "<think>\n"
    comp = f"{opening}{think}\n</think>\n\n{intro(prob, rng)}\n\n{fence(code)}"
    return f"C5_think_then_fence+{v}", True, comp, program(prob, code), ""


def c6_helpers_imports(prob, rng):
    code = with_helper(prob["code"], prob["entry"], rng)
    return code and ("C6_helpers_imports", True, f"{intro(prob, rng)}\n\n{fence(code)}", program(prob, code), "")


def c7_usage_block(prob, rng):
    calls, expected, asserts = literal_calls(prob)[:2], expected_values(prob), example_asserts(prob)
    variants = (["print_same_fence", "main_print", "second_fence"] if calls else []) \
        + (["main_assert"] if asserts else []) + (["output_block"] if expected else [])
    if not variants:
        return None
    v, code, head = rng.choice(variants), prob["code"].rstrip(), intro(prob, rng)
    prints = "\n".join(f"print({c})" for c, _ in calls)
    if v == "print_same_fence":
        text = f"{code}\n\n\n# Example usage\n{prints}\n"
        return f"C7_usage_block+{v}", True, f"{head}\n\n{fence(text)}", program(prob, text), ""
    if v in ("main_print", "main_assert"):
        block = textwrap.indent(prints if v == "main_print" else asserts, "    ")
        text = f'{code}\n\n\nif __name__ == "__main__":\n{block}\n'
        return f"C7_usage_block+{v}", True, f"{head}\n\n{fence(text)}", program(prob, text), ""
    if v == "second_fence":
        comp = f"{head}\n\n{fence(code)}\n\nExample usage:\n\n{fence(prints)}"
        return f"C7_usage_block+{v}", True, comp, program(prob, f"{code}\n\n{prints}\n"), ""
    call, y = expected[0]
    comp = f"{head}\n\n{fence(code)}\n\nFor example, `{call}` gives:\n\nOutput:\n```\n{ast.literal_eval(y)}\n```"
    return f"C7_usage_block+{v}", True, comp, program(prob, code), ""


def c8_wrong_draft_then_fixed(prob, rng):
    if not prob["mutants"]:
        return None
    bad, desc = prob["mutants"][0]
    comp = (f"{intro(prob, rng)}\n\n{fence(full_code(prob, bad))}\n\nWait, this is wrong for some inputs: "
            f"the boundary case is handled incorrectly. Here is the corrected version:\n\n{fence(prob['code'])}")
    return "C8_wrong_draft_then_fixed", True, comp, program(prob, prob["code"]), desc


def c9_fence_then_prose(prob, rng):
    v = rng.choice(["explanation", "complexity", "end_token", "cut_prose"])
    after = {"explanation": f"\n\n**Explanation:** `{prob['entry']}` goes through the input and returns the result "
                            "described in the task; edge cases such as empty input are handled by the same loop.",
             "complexity": "\n\nTime complexity: O(n), space complexity: O(n).",
             "end_token": f"\n\nThis solution passes the given example.{rng.choice(END_TOKENS)}",
             "cut_prose": "\n\nThis works because each element is examined exactly once, so the overall runn"}[v]
    comp = f"{intro(prob, rng)}\n\n{fence(prob['code'])}{after}"
    return f"C9_fence_then_prose+{v}", True, comp, program(prob, prob["code"]), ""


def c10_tabs(prob, rng):
    code = with_tabs(prob["code"])
    return "C10_tabs", True, f"{intro(prob, rng)}\n\n{fence(code)}", program(prob, code), ""


def c11_type_hints(prob, rng):
    if prob["task"] == "humaneval":
        code, v = without_hints(prob["code"]), "removed"
    else:
        ex = visible_examples(prob)
        code, v = (with_hints(prob["code"], prob["entry"], *ex[0]) if ex else None), "added"
    return code and (f"C11_type_hints+{v}", True, f"{intro(prob, rng)}\n\n{fence(code)}", program(prob, code), "")


def c12_two_correct_versions(prob, rng):
    alt = unparsed(prob["code"])
    comp = f"{intro(prob, rng)}\n\n{fence(prob['code'])}\n\nAlternatively, a more compact version:\n\n{fence(alt)}"
    return "C12_two_correct_versions", True, comp, program(prob, alt), ""


def full_code(prob: dict, mutated: str) -> str:
    """A mutant as a full solution: HumanEval mutants are bodies."""
    return he_full_def(prob, mutated) if prob["task"] == "humaneval" else mutated


def w1_mutant(prob, rng, k=0):
    if len(prob["mutants"]) <= k:
        return None
    bad, desc = prob["mutants"][k]
    style = rng.choice(wrong_styles(prob))
    if style == "continuation":
        return "W1_mutant+continuation", False, bad, program(prob, bad, "body"), desc
    code = full_code(prob, bad)
    return f"W1_mutant+{style}", False, present(prob, code, style, rng), program(prob, code), desc


def w2_prose_only(prob, rng):
    if rng.random() < 0.5:
        comp = (f"To solve this, we need {task_phrase(prob)}. First, handle the empty input. Then iterate over the "
                "elements and keep track of the result as we go. Finally, return the result.\n\nThis runs in "
                "linear time and uses constant extra space.")
        return "W2_prose_only+plan", False, comp, program(prob, ""), ""
    comp = (f"I can't run code here, but the idea for `{prob['entry']}` is simple: look at each element once, "
            "update the answer when the condition holds, and return it at the end.")
    return "W2_prose_only+cant_run", False, comp, program(prob, ""), ""


def w3_prints_expected(prob, rng):
    values = [y for _, y in expected_values(prob)][:3]
    if values and rng.random() < 0.7:
        code, v = "\n".join(f"print({y})" for y in values) + "\n", "values"
    else:
        code, v = 'print("All test cases passed!")\n', "all_passed"
    return f"W3_prints_expected+{v}", False, f"Running it on the tests:\n\n{fence(code)}", program(prob, code), ""


def w4_exit_before_tests(prob, rng):
    body = stub(prob, "todo")
    if body is None:
        return None
    v, line = rng.choice([("exit", "exit(0)"), ("sys_exit", "import sys\nsys.exit(0)"),
                          ("os_exit", "import os\nos._exit(0)"), ("raise_systemexit", "raise SystemExit(0)"),
                          ("quit", "quit()")])
    code = f"{body}\n\n{line}\n"
    return f"W4_exit_before_tests+{v}", False, present(prob, code, "fenced", rng), program(prob, code), ""


def w5_stub(prob, rng):
    v = rng.choice(["pass", "not_implemented", "ellipsis", "todo"])
    code = stub(prob, v)
    if code is None:
        return None
    if prob["task"] == "humaneval" and rng.random() < 0.3:
        body = code.split("\n", 1)[1]
        return f"W5_stub+{v}", False, body, program(prob, body, "body"), "continuation"
    return f"W5_stub+{v}", False, present(prob, code, "fenced", rng), program(prob, code), ""


def w6_other_problem(prob, rng, others):
    other = rng.choice([o for o in others if o["source"] != prob["source"]])
    code = renamed(other["code"], other["entry"], prob["entry"])
    return "W6_other_problem", False, present(prob, code, "fenced", rng), program(prob, code), other["source"]


def w7_truncated(prob, rng):
    mid = rng.random() < 0.5
    v = "mid_line" if mid else "line"
    if prob["task"] == "humaneval" and rng.random() < 0.4:
        cut = truncated(prob["prefix"] + prob["body"], prob["entry"], rng, mid)
        if cut and len(cut) > len(prob["prefix"]):
            body = cut[len(prob["prefix"]):]
            return f"W7_truncated+{v}", False, body, program(prob, body, "body"), "continuation"
    cut = truncated(prob["code"], prob["entry"], rng, mid)
    return cut and (f"W7_truncated+{v}", False, f"{intro(prob, rng)}\n\n```python\n{cut}", program(prob, cut), "")


def w8_wrong_name(prob, rng):
    new = other_name(prob["entry"], rng)
    if re.search(rf"\b{new}\b", prob["code"]):
        return None
    code = renamed(prob["code"], prob["entry"], new)
    return "W8_wrong_name", False, present(prob, code, "fenced", rng), program(prob, code), new


def w9_hardcoded_examples(prob, rng):
    got = hardcoded(prob, visible_examples(prob), rng)
    if got is None:
        return None
    code, v = got
    return f"W9_hardcoded_examples+{v}", False, present(prob, code, "fenced", rng), program(prob, code), ""


def w10_class_wrapped(prob, rng):
    code = class_wrapped(prob["code"], prob["entry"])
    return code and ("W10_class_wrapped", False, present(prob, code, "fenced", rng), program(prob, code), "")


def w11_right_then_wrong_final(prob, rng):
    if not prob["mutants"]:
        return None
    bad, desc = prob["mutants"][-1]
    comp = (f"{intro(prob, rng)}\n\n{fence(prob['code'])}\n\nActually, we should adjust the boundary check. "
            f"Final version:\n\n{fence(full_code(prob, bad))}")
    return "W11_right_then_wrong_final", False, comp, program(prob, full_code(prob, bad)), desc


def w12_print_not_return(prob, rng):
    code = print_not_return(prob["code"], prob["entry"])
    return code and ("W12_print_not_return", False, present(prob, code, "fenced", rng), program(prob, code), "")


def w13_missing_import(prob, rng):
    code = without_imports(prob["code"], keep=prob["prefix"])
    return code and ("W13_missing_import", False, present(prob, code, "fenced", rng), program(prob, code), "")


def q1_unclosed_think(prob, rng):
    comp = (f"<think>\n{thinking(prob, rng)}\n\nSo the code would be:\n\n{fence(prob['code'])}\n\n"
            "Let me double-check with the example: calling it on the first input, we get")
    return "Q1_unclosed_think", False, comp, program(prob, ""), ""


def q2_body_at_column_0(prob, rng):
    if prob["task"] != "humaneval":
        return None
    body = textwrap.dedent(prob["body"])
    return "Q2_body_at_column_0", False, f"{intro(prob, rng)}\n\n{fence(body)}", program(prob, body, "body"), ""


REWARDED = [c1_continuation, c2_full_def, c3_fenced_after_prose, c4_fence_other_tag, c5_think_then_fence,
            c6_helpers_imports, c7_usage_block, c8_wrong_draft_then_fixed, c9_fence_then_prose, c10_tabs,
            c11_type_hints, c12_two_correct_versions]
NOT_REWARDED = [w2_prose_only, w3_prints_expected, w4_exit_before_tests, w5_stub, w7_truncated, w8_wrong_name,
                w9_hardcoded_examples, w10_class_wrapped, w11_right_then_wrong_final, w12_print_not_return,
                w13_missing_import]
# Per task: HumanEval has 164 tasks, MBPP 500, so HumanEval gets more cases each to weigh both.
PER_TASK = {"humaneval": {"rewarded": 3, "wrong": 2, "mutants": 1, "policy": 0.3},
            "mbpp": {"rewarded": 2, "wrong": 1, "mutants": 1, "policy": 0.06}}


def cases_for(prob: dict, seed: int, others: list[dict]) -> list[tuple]:
    """This task's cases: rewarded forms, W1 mutants, other not-rewarded rules, sometimes a policy row. Its own rng,
    so a task's cases do not depend on the others'."""
    rng, n = random.Random(f"{seed}:{prob['source']}"), PER_TASK[prob["task"]]
    out = []
    for pool, k in ((REWARDED, n["rewarded"]), (NOT_REWARDED + [w6_other_problem], n["wrong"])):
        for rule in rng.sample(pool, len(pool)):
            got = rule(prob, rng, others) if rule is w6_other_problem else rule(prob, rng)
            if got:
                out.append(got)
                k -= 1
            if k == 0:
                break
    out += [m for k in range(n["mutants"]) if (m := w1_mutant(prob, rng, k))]
    if rng.random() < n["policy"]:
        out += [q for q in (rng.choice([q1_unclosed_think, q2_body_at_column_0])(prob, rng),) if q]
    return out


def agrees_with_label(checks: list[tuple[dict, str, bool, str]]) -> list[bool]:
    """For each (problem, rule, label, program): whether the program's outcome under the tests is the label's (pass
    for true, fail for false). Each disagreement is a dropped case, counted by rule and reason on stderr; a rewarded
    program that fails is a generator bug, printed, never relabelled."""
    res = outcomes([test_script(p, prog) for p, _, _, prog in checks])
    agree = [r == ("pass" if label else "fail") for (_, _, label, _), r in zip(checks, res)]
    dropped = {}
    for (p, rule, label, _), r, ok in zip(checks, res, agree):
        if ok:
            continue
        why = r if r in ("killed", "flaky") else "tests_disagree_with_rule"
        dropped.setdefault(f"{rule.split('+')[0]} ({why})", []).append(p["source"])
        if label and why == "tests_disagree_with_rule":
            print(f"GENERATOR BUG? {p['source']} {rule}: rewarded program fails", file=sys.stderr)
    for k, v in sorted(dropped.items()):
        print(f"dropped {k}: {len(v)}", file=sys.stderr)
    return agree


def passing_tasks(probs: list[dict]) -> list[dict]:
    """The tasks whose canonical solution passes its tests; HumanEval: both the official program (prompt + body) and
    the full-def form built from it."""
    forms = [(p, program(p, p["body"], "body")) for p in probs if p["task"] == "humaneval"]
    forms += [(p, program(p, p["code"])) for p in probs]
    ok = outcomes([test_script(p, prog) for p, prog in forms])
    failed = {p["source"] for (p, _), r in zip(forms, ok) if r != "pass"}
    kept = [p for p in probs if p["source"] not in failed]
    print(f"{len(kept)} tasks whose canonical solution passes its tests; left out: {sorted(failed)}", file=sys.stderr)
    return kept


def build(data: str | Path = "/work/shared/data", seed: int = 5151) -> list[dict]:
    probs = passing_tasks(load_problems(Path(data)))
    find_mutants(probs, seed, per=2)
    by_task = {t: [p for p in probs if p["task"] == t] for t in PER_TASK}
    built = [(p, c) for p in probs for c in cases_for(p, seed, by_task[p["task"]])]
    keep = agrees_with_label([(p, rule, label, prog) for p, (rule, label, _, prog, _) in built])
    cases = []
    for (p, (rule, label, comp, prog, detail)), ok in zip(built, keep):
        if ok:
            cases.append({"id": f"{p['source']}#{len(cases)}", "source": p["source"], "task": p["task"], "rule": rule,
                          "label": label, "completion": comp, "reference": p["ref"],
                          "prompt": p["prompt"][-1]["content"], "detail": detail})
    return cases


if __name__ == "__main__":
    write_cases(build, seed=5151, width=30)
