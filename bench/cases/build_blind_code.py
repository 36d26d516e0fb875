"""The blind code set: HumanEval and MBPP completions in the forms models write, each labelled by running the program
that a careful grader takes as the model's final answer (rules per family: bench/cases/README.md, "Blind code set").

    python bench/cases/build_blind_code.py                       # writes /tmp/blind-code.jsonl
    python bench/cases/build_blind_code.py --out X.jsonl --seed 1313 --per-family 90

Written without reading the code verifier's extraction, so that the set tests it rather than mirrors it. Each case is
built from a canonical solution (meant true) or a broken variant of it (meant false: one edit, a constant + 1, a
comparison flipped at its boundary, + for - or * for //, a dropped `return`). The generator knows which program its
rule names (`graded`), runs that program with the dataset's tests in a plain subprocess (this file's runner, not
rlvr's) and keeps the case only when the run agrees with the intent, so every label is checked by execution. A line
is an `rlvr verify` row (`completion`, `reference` as data/tasks/humaneval.py and mbpp.py build it, `verifier: code`)
plus `label`, `family`, `variant`, `task_id`, `id`, `graded` (the program the label comes from; null where the rule
finds no answer) and, for the families that answer with a HumanEval body only, `prompt`.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import json
import random
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the two modules beside this file, run as a script
from blind_code_forms import FAMILIES  # noqa: E402
from blind_code_text import graded_program  # noqa: E402

from rlvr.data.tasks.mbpp import entry_point, lf  # noqa: E402

MBPP_TEST_IDS = range(11, 511)
# Limits in CPU seconds, not wall seconds: on a loaded machine a wall clock turned slow runs into "loops" and the set
# changed from one build to the next. Every canonical solution but one (mbpp/123, ~3 s) needs < 0.3 s.
CANONICAL_CPU_S = 1  # a task whose own solution needs more is left out: it would test the verifier's clock
RUN_CPU_S = 3  # a program past this is looping (a broken variant that loops is dropped for the same reason)
WALL_GUARD_S = 120  # only for a program that waits without computing
_LAUNCH = ("import resource, runpy, sys; n = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_CPU, (n, n + 1)); "
           "runpy.run_path('prog.py', run_name='__main__')")
_OUT_OF_CPU = (-signal.SIGXCPU, -signal.SIGKILL)
WORKERS = 2
HE_SHARE = 0.4  # of the cases in a family open to both datasets


@dataclass
class Task:
    source: str  # "humaneval" | "mbpp"
    task_id: str
    entry: str
    tests: str
    setup: str
    reference: dict
    prompt: str = ""  # HumanEval's Python prompt; "" for MBPP
    text: str = ""  # MBPP's task statement
    good: str = ""  # HumanEval: the canonical body; MBPP: the canonical code
    bad: list[str] = field(default_factory=list)  # broken variants, same shape as `good`, each failing the tests

    @property
    def he(self) -> bool:
        return self.source == "humaneval"


def load_tasks(data: Path) -> list[Task]:
    """HumanEval's 164 tasks and MBPP's test split (11-510), with the references the rlvr loaders build."""
    tasks = []
    with gzip.open(data / "humaneval" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as f:
        for r in map(json.loads, f):
            ref = {"tests": r["test"], "entry_point": r["entry_point"], "setup": "", "prompt_prefix": r["prompt"]}
            tasks.append(Task("humaneval", r["task_id"], r["entry_point"], r["test"], "", ref, prompt=r["prompt"],
                              good=r["canonical_solution"]))
    for line in open(data / "mbpp" / "mbpp.jsonl", encoding="utf-8"):
        r = json.loads(line)
        if r["task_id"] not in MBPP_TEST_IDS:
            continue
        tests = [lf(t) for t in r["test_list"]]
        code = "\n".join(x.rstrip() for x in lf(r["code"]).strip("\n").split("\n")) + "\n"
        setup = lf(r["test_setup_code"] or "")
        ref = {"tests": "\n".join(tests), "entry_point": None, "setup": setup, "prompt_prefix": ""}
        tasks.append(Task("mbpp", f"mbpp/{r['task_id']}", entry_point(tests, code) or "", "\n".join(tests), setup,
                          ref, text=r["text"], good=code))
    return tasks


# ---- the runner: the program a rule names, then the dataset's tests, in a fresh interpreter --------------------------

_RUNS: dict[str, bool | None] = {}


def script(task: Task, graded: str) -> str:
    tail = f"\n\ncheck({task.entry})\n" if task.he else "\n"
    return graded + "\n\n" + task.setup + "\n\n" + task.tests + tail


def passes(task: Task, graded: str, cpu_s: int = RUN_CPU_S) -> bool | None:
    """True when the program and the tests exit 0, False when they fail, None when they run out of CPU time."""
    text = script(task, graded)
    key = f"{cpu_s}:{hashlib.sha256(text.encode()).hexdigest()}"
    if key not in _RUNS:
        with tempfile.TemporaryDirectory() as d:
            Path(d, "prog.py").write_text(text, encoding="utf-8")
            try:
                rc = subprocess.run([sys.executable, "-I", "-c", _LAUNCH, str(cpu_s)], cwd=d, stdin=subprocess.DEVNULL,
                                    capture_output=True, timeout=WALL_GUARD_S).returncode
                _RUNS[key] = None if rc in _OUT_OF_CPU else rc == 0
            except subprocess.TimeoutExpired:
                _RUNS[key] = None
    return _RUNS[key]


# ---- broken variants: one edit at a node of the solution, found with `ast`, written back into the original text ----

_FLIP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult}


def _edit(node: ast.AST, src: str) -> str | None:
    """The node's new text, or None when it takes no edit (a bool, a multi-line node, an operator with no twin)."""
    seg = ast.get_source_segment(src, node)
    if seg is None or "\n" in seg:
        return None
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return str(node.value + 1)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _FLIP:
        return ast.unparse(ast.Compare(node.left, [_FLIP[type(node.ops[0])]()], node.comparators))
    if isinstance(node, ast.BinOp) and type(node.op) in _SWAP:
        return ast.unparse(ast.BinOp(node.left, _SWAP[type(node.op)](), node.right))
    if isinstance(node, ast.Return) and node.value is not None:
        return seg[len("return"):].strip() or None
    return None


def _edits(src: str, start: int) -> list[str]:
    """Every one-edit variant of `src` whose edit lies at or after character `start`."""
    tree = ast.parse(src)
    lines = src.split("\n")
    line_start = [0]
    for text in lines:
        line_start.append(line_start[-1] + len(text) + 1)
    in_fstring = {id(n) for j in ast.walk(tree) if isinstance(j, ast.JoinedStr) for n in ast.walk(j)}
    out = []
    for node in ast.walk(tree):
        if id(node) in in_fstring or not hasattr(node, "col_offset"):
            continue
        new = _edit(node, src)
        if new is None:
            continue
        a = line_start[node.lineno - 1] + len(lines[node.lineno - 1].encode()[:node.col_offset].decode())
        b = line_start[node.end_lineno - 1] + len(lines[node.end_lineno - 1].encode()[:node.end_col_offset].decode())
        if a >= start:
            out.append(src[:a] + new + src[b:])
    return sorted(set(out))


def find_broken(task: Task, seed: int, want: int = 3, tries: int = 10) -> None:
    """Fill `task.bad` with up to `want` variants that parse and fail the tests within the timeout (one that loops
    or cannot be read is no use: it tests the clock or the parser, not the extraction)."""
    whole = graded_program(task, task.good, body=True)
    start = len(task.prompt) if task.he else 0
    try:
        variants = _edits(whole, start)
    except SyntaxError:
        return
    random.Random(f"{seed}:{task.task_id}").shuffle(variants)
    for v in variants[:tries]:
        try:
            ast.parse(v)
        except SyntaxError:
            continue
        if passes(task, v) is False:
            task.bad.append(v[start:])
            if len(task.bad) == want:
                return


# ---- the command line -------------------------------------------------------------------------------------------

def build(data: Path, seed: int, per_family: int) -> tuple[list[dict], Counter]:
    """The cases, family by family, and how many built cases each family dropped because their run disagreed."""
    every = load_tasks(data)
    with ThreadPoolExecutor(WORKERS) as pool:  # each task's runs depend on that task alone: order-free
        canonical = list(pool.map(lambda t: passes(t, graded_program(t, t.good, body=True), CANONICAL_CPU_S), every))
        tasks = [t for t, ok in zip(every, canonical) if t.entry and ok]
        list(pool.map(lambda t: find_broken(t, seed), tasks))
    usable = Counter(t.source for t in tasks if len(t.bad) >= 2)
    print(f"tasks whose canonical solution passes within {CANONICAL_CPU_S} CPU s: {len(tasks)} of {len(every)}; "
          f"with 2+ broken variants: {dict(sorted(usable.items()))}; "
          f"runs out of CPU time: {sum(v is None for v in _RUNS.values())}")
    dropped: Counter = Counter()
    rows = []
    for fam in FAMILIES:
        rng = random.Random(f"{seed}:{fam.id}")
        pools = {he: [t for t in tasks if t.he == he and fam.accepts(t)] for he in (True, False)}
        labels = [i % 2 == 0 for i in range(per_family)]
        rng.shuffle(labels)
        for n, label in enumerate(labels):
            for _attempt in range(20):
                pool = pools[True] if not pools[False] or (pools[True] and rng.random() < HE_SHARE) else pools[False]
                task = rng.choice(pool)
                if len(task.bad) < 2:
                    continue
                made = fam.make(task, label, rng, pool)
                if made is None:
                    continue
                completion, graded, variant = made
                ran = passes(task, graded if graded is not None else "")
                if ran is not label:
                    dropped[fam.id] += 1  # the run disagrees with the intent (or looped): no label to trust
                    continue
                rows.append({"id": f"{fam.id}/{n:03d}", "family": fam.id, "variant": variant,
                             "task_id": task.task_id, "label": label, "completion": completion,
                             "reference": task.reference, "verifier": "code", "graded": graded,
                             **({"prompt": task.prompt} if fam.needs_prompt else {})})
                break
    return rows, dropped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--seed", type=int, default=1313)
    ap.add_argument("--per-family", type=int, default=90)
    ap.add_argument("--out", type=Path, default=Path("/tmp/blind-code.jsonl"))
    args = ap.parse_args()
    rows, dropped = build(args.data, args.seed, args.per_family)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    args.out.write_text(text, encoding="utf-8")
    by = Counter((r["family"], r["label"]) for r in rows)
    print(f"{'family':28s} {'true':>5s} {'false':>5s} {'dropped':>7s}")
    for fam in FAMILIES:
        print(f"{fam.id:28s} {by[fam.id, True]:5d} {by[fam.id, False]:5d} {dropped[fam.id]:7d}")
    print(f"{len(rows)} cases, {sum(r['label'] for r in rows)} true -> {args.out}")
    print(f"sha256 {hashlib.sha256(text.encode()).hexdigest()}")


if __name__ == "__main__":
    main()
