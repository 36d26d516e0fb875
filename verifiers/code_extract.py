"""Which text of a completion is the code answer: the answer part, a fenced block, or the code lines among prose.

`answer_part`: after the last `</think>` when text follows it (none for a `<think>` that never closes, unless the
option `read_unclosed_think`; `think.py`), inside the last `<answer>` tag. `answer_code` then reads that part up to
the end of its turn (`turn_text`): the first chat end token (`<|im_end|>`, `</s>`, ...) that ends a line, or MBPP's
`[DONE]` (Austin et al.'s few-shot format, `[BEGIN]\n{code}\n[DONE]`) that starts or ends one, outside a
triple-quoted string; what follows is another turn or the next few-shot task. A `[BEGIN]` before the code (no
definition precedes it) starts the answer. Then:
1. Fenced blocks, as sanitizers (evalplus) pick one (`extract_code`): the last block that defines the entry point
   (or, for MBPP, the function the tests call first), else the last that defines any function, else the last
   ```python block, else the last fence. A fence indented as a Markdown list item's is read without that indentation.
2. No fence, and the text is a program (Python reads it as a module, or as a function body) with no top-level line
   that reads as prose (see below: `Output: 5` after the code parses, as an annotation): the text as it is.
3. No fence, and it is not: the code lines of the text (`code_lines`), every code region in order, a blank line
   apart; prose is dropped.
   Which lines are code:
   - a statement starting at column 0 that begins a definition (`def`, `async def`, `class`, a decorator `@`),
     complete or not (a definition cut short is broken code, graded `wrong`, not prose);
   - any other statement starting at column 0 that Python parses, unless it is a bare expression other than a call
     (`Explanation`, `- item`) or an annotation with no value (`Output: 5`, `Complexity: O(n)`), which read as prose:
     so `import re`, `x = [...]`, `print(f(2))`, `if __name__ == "__main__":` are code, a sentence is not;
   - a statement goes on over indented and blank lines, over lines inside brackets or a multi-line string (up to 40
     lines at column 0, such as a closing `}`), over a backslash continuation, and over `elif` / `else` / `except` /
     `finally` clauses at column 0;
   - a `#` comment line at column 0 (it is also how `### Solution`, a Markdown heading, reads) joins the region
     around it; a region of comments only is dropped;
   - lines indented at the very start of the text are a body continuing the prompt's function (HumanEval's base-model
     form) when Python reads them as a function body;
   - a Markdown indented code block (lines indented by four spaces or a tab) after a paragraph and a blank line, or
     after a heading, is a region of its own, less those four spaces, when it reads as code as in 2. (so a body
     written so, `        return x`, is still a body); not at the start of the text, where the rule above reads a
     body, and not right under a prose line with no blank line (Markdown's paragraph continuation);
   - any other line is prose and ends the region before it: the next region starts at the next code statement.
   A backtick span in a sentence (`` `def f(x):` ``) is prose: the line does not start with it. When no line is code,
   the text is read whole, up to the end of the turn (prose only is `no_answer` through `is_prose`, broken code
   `wrong`).
Every region counts, not only the longest or the last: a helper or the imports written before a sentence such as
"Now the main function:" are part of the program, as a careful reader takes them.
"""

from __future__ import annotations

import ast
import bisect
import re
import tokenize

from rlvr.verifiers.code_reference import parses
from rlvr.verifiers.think import after_think

FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.S)
_DEFINES_ANY = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+\w", re.M)
# a line only code starts with: unfenced text holding one is broken code (`wrong`), not prose (`no_answer`)
_CODE_LINE = re.compile(r"^[ \t]*(?:(?:async[ \t]+)?def[ \t]+\w+[ \t]*\(|class[ \t]+\w+[ \t]*[(:]|import[ \t]+\w|"
                        r"from[ \t]+[\w.]+[ \t]+import\b|return\b|@\w)", re.M)
_DEFINITION = re.compile(r"(?:async[ \t]+)?def[ \t]+\w+[ \t]*\(|class[ \t]+\w+[ \t]*[(:]|@[\w.]+[ \t]*(?:\(|$)")
_CLAUSE = re.compile(r"(?:elif\b|else[ \t]*:|except\b|finally[ \t]*:)")
# chat templates' end-of-turn tokens (Qwen/ChatML, Llama 3, GPT-2/Qwen base, Llama 2/Mistral, Gemma, Phi-3, DeepSeek)
END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end_of_text|>", "</s>", "<end_of_turn>", "<|end|>",
              "<｜end▁of▁sentence｜>")
# lines at column 0 that one statement's brackets may hold (closing brackets, mostly): a bound, so that prose lines
# that each open a bracket are not read to the end of the text again and again (quadratic time)
_MAX_CROSSED = 40
_OPENS, _CLOSES = {"(", "[", "{"}, {")", "]", "}"}
# a chat end token ends the turn where it ends a line (`'</s>'` inside a code line is a string); MBPP's few-shot
# format (Austin et al. 2021: `[BEGIN]\n{code}\n[DONE]`) ends a solution with `[DONE]`, which also ends it where it
# starts a line (`[DONE]You are an expert ...`)
_END = re.compile("(?:" + "|".join(map(re.escape, END_TOKENS + ("[DONE]",))) + r")[ \t\r]*(?:\n|\Z)|^[ \t]*\[DONE\]",
                  re.M)
_BEGIN = re.compile(r"\[BEGIN\][ \t\r]*(?:\n|\Z)|^[ \t]*\[BEGIN\]", re.M)


def _tags(text: str, tag: str) -> list[int]:
    """Where `tag` starts in `text` as markup: at the start of a line (a fence left open in a draft does not hide
    the `</think>` after it), or anywhere outside a fenced block (inside one it is code: `s.split("</think>")`)."""
    spans = [m.span() for m in FENCE.finditer(text)]  # in order and disjoint: a bisect finds the one before a place
    starts = [a for a, _ in spans]

    def markup(i: int) -> bool:
        if not text[text.rfind("\n", 0, i) + 1:i].strip():
            return True
        k = bisect.bisect_right(starts, i) - 1
        return k < 0 or i >= spans[k][1]

    return [m.start() for m in re.finditer(re.escape(tag), text) if markup(m.start())]


def answer_part(completion: str, read_unclosed_think: bool = False) -> tuple[str | None, str]:
    """(the part of the completion that answers, or None when it has none; where it was read). First the reasoning
    trace (`think.after_think`, as the math verifier reads it): after the last `</think>` when text follows it, so a
    draft in the reasoning, right or wrong, is not graded; None for a `<think>` that never closes (a trace cut
    before its answer), unless `read_unclosed_think`. Then inside the last `<answer>` tag (R1-style formats) that is
    closed, or, left open (a cut completion), that starts a line. The spaces after a tag on its line are not the
    code's indentation (`</think> <answer> def f(): ...`)."""
    part, where = after_think(completion, read_unclosed_think, _tags)
    if part is None:
        return None, where
    completion = part.lstrip(" \t") if where == "after </think>" else part
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
    blocks = [(m.group(1), _block(completion, m)) for m in FENCE.finditer(completion)]
    if not blocks:
        return completion.strip("\n")
    codes = [code for _, code in blocks]
    defining = [c for c in codes if name and defines(c, name)] or [c for c in codes if _DEFINES_ANY.search(c)]
    py = [code for lang, code in blocks if lang.lower() in ("python", "py", "python3")]
    return (defining or py or codes)[-1]


def answer_code(answer: str, name: str | None = None) -> tuple[str, str]:
    """(the code of the answer part, where it came from: "fenced block", "text" or "code lines"), by the rules of the
    module docstring."""
    answer = turn_text(answer)
    if FENCE.search(answer):
        return extract_code(answer, name), "fenced block"
    text = answer.strip("\n")
    if _reads_as_code(text):
        return text, "text"
    code = code_lines(text)
    return (code, "code lines") if code else (text, "text")


def turn_text(answer: str) -> str:
    """The answer up to the end of its turn: the first end token (`END_TOKENS` ending a line, MBPP's `[DONE]`
    starting or ending one) outside a multi-line string, since what follows is another turn or the next few-shot task;
    and after a `[BEGIN]` before it that no definition precedes (MBPP's opening of a solution: the task statement and
    its asserts before it are not the answer)."""
    end = next((m for m in _END.finditer(answer) if not _in_long_string(answer, m.start())), None)
    text = answer[:end.start()] if end else answer
    begin = next((m for m in _BEGIN.finditer(text) if not _in_long_string(text, m.start())), None)
    if begin and not _DEFINES_ANY.search(text, 0, begin.start()):
        text = text[begin.end():].lstrip(" \t")
    return text


def _in_long_string(text: str, i: int) -> bool:
    """Whether place `i` is inside a triple-quoted string: an odd number of `\"\"\"` or `'''` before it (a line
    `[DONE]` in a docstring is text of the program, not its end)."""
    return text.count('"""', 0, i) % 2 == 1 or text.count("'''", 0, i) % 2 == 1


def defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b", code, re.M) is not None


def is_program(text: str) -> bool:
    """Whether Python reads `text` as a module or as a function body (flush-left or indented)."""
    return parses(text) or parses("def _():\n" + indent_body(text))


def is_prose(text: str) -> bool:
    """Unfenced text that holds no program: Python reads it neither as a module nor as a function body, it does not
    start indented (a body continuation cut short is broken code) and no line of it starts a definition, an import
    or a return. "I am not sure how to solve this." is prose; `    return sum(xs` and `def f(:` are code."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if first[:1].isspace() or _CODE_LINE.search(text):  # checked first: most code is told without parsing it
        return False
    return not is_program(text)


def indent_body(code: str) -> str:
    """A function body written flush-left, indented one level; an indented one as it is."""
    first = next((ln for ln in code.splitlines() if ln.strip()), "")
    if not first or first[0].isspace():
        return code
    return "\n".join("    " + ln if ln.strip() else ln for ln in code.splitlines())


def code_lines(text: str) -> str:
    """The code regions of unfenced text in order, a blank line apart (the module docstring's rule 3); "" if none."""
    lines = text.split("\n")
    regions: list[list[str]] = []
    region: list[str] | None = None  # the region being read; None after prose
    i = _leading_body(lines)
    if i:
        region = lines[:i]
        regions.append(region)
    seen_text, region_has_code = bool(i), bool(i)  # any line read yet; the open region holds more than comments
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line[0] in " \t":  # blank or indented: goes on with the region, if one is open
            end, block = i + 1, None
            if line.strip() and seen_text and not region_has_code and not lines[i - 1].strip():
                end, block = _indented_block(lines, i)
            if block is not None:  # a Markdown code block after a paragraph: its own region, less its indentation
                regions.append(block)
                region, region_has_code, i = None, False, end
                continue
            if region is not None:
                region.extend(lines[i:end])
            i = end
            continue
        seen_text = True
        j = i + 1 if line.startswith("#") else _statement_end(lines, i)  # a comment: the lines after it come one by one
        if line.startswith("#") or _DEFINITION.match(line) or _is_statement("\n".join(lines[i:j])):
            if region is None:
                region, region_has_code = [], False
                regions.append(region)
            region.extend(lines[i:j])
            region_has_code = region_has_code or not line.startswith("#")
            i = j
        else:  # prose: its own line only, so a definition right after it starts the next region
            region, region_has_code = None, False
            i += 1
    codes = ["\n".join(r).strip("\n") for r in regions]
    return "\n\n".join(c for c in codes if any(ln.strip() and not ln.lstrip().startswith("#") for ln in c.split("\n")))


def _indented_block(lines: list[str], i: int) -> tuple[int, list[str] | None]:
    """(the index of the line after it, its lines less the indentation) of the Markdown indented code block that
    starts on line `i` (each line indented by four spaces or a tab, or blank); the lines are None when they do not
    read as code (an indented quote or list paragraph is prose)."""
    j = i
    while j < len(lines) and (not lines[j].strip() or lines[j].startswith(("    ", "\t"))):
        j += 1
    while j > i and not lines[j - 1].strip():
        j -= 1
    block = [ln[1:] if ln.startswith("\t") else ln[4:] for ln in lines[i:j]]
    return (j, block) if j > i and _reads_as_code("\n".join(block)) else (max(j, i + 1), None)


def _reads_as_code(text: str) -> bool:
    """Text Python reads as a module or a function body, no top-level line of which reads as prose."""
    return is_program(text) and not any(map(_prose_like, _statements(text) or []))


def _leading_body(lines: list[str]) -> int:
    """How many lines at the start are an indented function body (blank lines before it included); 0 if none."""
    k = 0
    while k < len(lines) and (not lines[k].strip() or lines[k][0] in " \t"):
        k += 1
    body = "\n".join(lines[:k])
    return k if body.strip() and parses("def _():\n" + body) else 0


def _statements(text: str) -> list[ast.stmt] | None:
    """The top-level statements of `text` read as a module; None if Python does not read it so."""
    try:
        return ast.parse(text).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: null bytes
        return None


def _prose_like(statement: ast.stmt) -> bool:
    """A statement a line of prose also parses as: a bare expression other than a call (`Explanation`, `- item`), or
    an annotation with no value (`Output: 5`, `Complexity: O(n)`). Run, it does nothing or raises a NameError."""
    if isinstance(statement, ast.Expr):
        return not isinstance(statement.value, (ast.Call, ast.Await))
    return isinstance(statement, ast.AnnAssign) and statement.value is None


def _is_statement(unit: str) -> bool:
    """Whether `unit` (a statement starting at column 0, with its continuation lines) is code rather than prose."""
    body = _statements(unit)
    return bool(body) and not any(map(_prose_like, body))


def _statement_end(lines: list[str], i: int) -> int:
    """The index of the line after the statement that starts at column 0 on line `i`: the first later line at
    column 0 that Python's tokenizer starts afresh (outside brackets, strings and backslash continuations) and that
    is not an `elif` / `else` / `except` / `finally` clause; indented and blank lines never end it. A statement that
    holds more than `_MAX_CROSSED` lines at column 0 is its first line alone."""
    fed = [i, 0]  # the next line to feed the tokenizer, and how many lines at column 0 it was fed

    def readline() -> str:
        if fed[0] >= len(lines) or fed[1] > _MAX_CROSSED + 1:
            return ""
        line, fed[0] = lines[fed[0]], fed[0] + 1
        fed[1] += bool(line) and line[0] not in " \t"
        return line + "\n"

    depth, last_row = 0, 0
    try:
        for tok in tokenize.generate_tokens(readline):
            k = i + tok.start[0] - 1
            if k >= fed[0]:  # the end markers
                break
            if k > i + last_row and depth == 0 and _starts_afresh(lines, k):
                return k
            if tok.type == tokenize.OP and tok.string in _OPENS:
                depth += 1
            elif tok.type == tokenize.OP and tok.string in _CLOSES:
                depth = max(0, depth - 1)
            last_row = tok.end[0] - 1
    except tokenize.TokenError:  # an unclosed bracket or string: the rest is inside it
        pass
    except SyntaxError:  # an indentation the tokenizer rejects: the next line at column 0 ends it
        return next((k for k in range(i + last_row + 1, len(lines)) if _starts_afresh(lines, k)), len(lines))
    return len(lines) if fed[1] <= _MAX_CROSSED + 1 else i + 1


def _starts_afresh(lines: list[str], k: int) -> bool:
    line = lines[k]
    return (bool(line) and line[0] not in " \t" and not lines[k - 1].rstrip().endswith("\\")
            and not _CLAUSE.match(line))
