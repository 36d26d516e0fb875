"""What the labelled-case generators share: the golds with their worked solutions, and the command line.

    items(Path("/work/shared/data"))     # every MATH-500 and GSM8K test gold, with its solution minus the answer
    write_cases(build, seed=4242)        # `--data`, `--seed`, `--out`: counts by rule, the JSONL if asked
    last_digit_changed("\\frac{14}{3}")   # a near-miss twin: `\\frac{14}{4}`
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from fractions import Fraction
from pathlib import Path


def strip_boxes(text: str) -> str:
    """Each \\boxed{X} of a worked solution replaced by X (braces matched)."""
    out, i = "", 0
    while (j := text.find("\\boxed", i)) >= 0:
        k = j + len("\\boxed")
        while k < len(text) and text[k] == " ":
            k += 1
        if k >= len(text) or text[k] != "{":
            out += text[i:k]
            i = k
            continue
        depth, e = 0, k
        for e in range(k, len(text)):
            depth += {"{": 1, "}": -1}.get(text[e], 0)
            if depth == 0:
                break
        out += text[i:j] + text[k + 1:e]
        i = e + 1
    return out + text[i:]


def items(data: Path) -> list[dict]:
    """Every gold as stored, with its problem and its worked solution without the final answer (MATH-500: boxes
    unwrapped; GSM8K: the `####` line and the `<<...>>` calculator notes removed)."""
    out = []
    for line in open(data / "math500" / "test.jsonl", encoding="utf-8"):
        r = json.loads(line)
        out.append({"source": "math500", "id": r["unique_id"], "gold": r["answer"], "problem": r["problem"],
                    "body": strip_boxes(r["solution"]).strip()})
    for i, line in enumerate(open(data / "gsm8k" / "test.jsonl", encoding="utf-8")):
        r = json.loads(line)
        steps, _, gold = r["answer"].rpartition("####")
        out.append({"source": "gsm8k", "id": f"test/{i}", "gold": gold.strip(), "problem": r["question"],
                    "body": re.sub(r"<<[^>]*>>", "", steps).strip()})
    return out


def write_cases(build, seed: int, width: int = 30) -> None:
    """A generator's command line: build with `--data` and `--seed`, print the counts by rule, write `--out`."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--seed", type=int, default=seed)
    ap.add_argument("--out", default=None, help="write the JSONL here (default: print counts only)")
    args = ap.parse_args()
    cases = build(args.data, args.seed)
    print(f"{len(cases)} cases, {sum(c['label'] for c in cases)} rewarded; by rule:")
    for rule, n in sorted(Counter(c["rule"].split("+")[0] for c in cases).items()):
        print(f"  {rule:{width}s} {n}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            for c in cases:
                f.write(json.dumps(c, ensure_ascii=False) + "\n")


def last_digit_changed(g: str) -> str | None:
    """The gold with its last digit run increased by one, unless that run is an exponent, index, base or in text."""
    if re.search(r"\\(text|mbox)", g):
        return None
    runs = list(re.finditer(r"\d+", g))
    if not runs:
        return None
    m = runs[-1]
    before = g[:m.start()]
    if re.search(r"(?:\^|_|\\sqrt\[|\^\{|_\{)$", before) or re.search(r"[\^_]\{[^}]*$", before):
        return None
    return before + str(int(m.group()) + 1) + g[m.end():]


def split_top(s: str) -> list[str]:
    """`s` split at its top-level commas (not those inside braces or brackets), each part stripped."""
    out, depth, cur = [], 0, ""
    for ch in s:
        depth += (ch in "{([") - (ch in "})]")
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return out + [cur.strip()]


def fmt_frac(f: Fraction) -> str:
    """A fraction as its gold would write it: `3`, `\\frac{1}{3}`, `-\\frac{1}{3}`."""
    if f.denominator == 1:
        return str(f.numerator)
    return ("-" if f < 0 else "") + f"\\frac{{{abs(f.numerator)}}}{{{f.denominator}}}"


INT = re.compile(r"^-?\d+$")
SEPINT = re.compile(r"^-?\d{1,3}(?:,(?:\\!)? ?\d{3})+$")  # 2,125  10,\!080  11,\! 111,\! 111,\! 100


def int_of(g: str) -> int | None:
    """The integer a gold writes (`-12`, `2,125`, `10,\\!080`), or None."""
    if INT.match(g) or SEPINT.match(g):
        return int(re.sub(r"[^\d-]", "", g))
    return None
