"""The math verifier's extractor: find the final answer in a completion.

    extract(text) -> (answer or None, rule)       boxed_all(text) -> contents of the last boxes

Pure string work, linear in the text (no regex with nested quantifiers), no sympy: it runs in the caller's process.
Its answer goes on to `math_normalize.normalize` for a canonical form.
Extraction rules, first hit wins (code blocks never hold an answer, a ```latex / ```math fence is math; after a
`</think>` only the answer part is read, and a `<think>` that never closes, or a trace with nothing after its
`</think>`, has no answer unless `read_unclosed_think` (`think.py`); a text whose end withdraws every answer,
`I do not have a final answer.`, has none):
  answer_tag   the content of the last `<answer>...</answer>` (R1-style formats); a box inside it is its answer
  boxed        the LAST `\\boxed{}` / `\\fbox{}` (a self-correction's last box is its answer); if it never
               closes, there is no answer
  final_block  a text that ends with an `align*` / `aligned` block: the right side of its last line
  answer_is    the last "answer is X" / "answer: X" (Minerva's `Final Answer: The final answer is $X$. I hope ...`),
               also in French, Spanish, Portuguese, Italian, German, Russian, Chinese, Japanese (`答えは $X$ です。`);
               a negated one (`the answer is not 5`) yields no answer at all; an explanation after a stated
               answer is not part of it (`284, which we can check ...`, `3. This follows ...`)
  as_answer    a math segment named after it: `\\[ x \\]` `as the answer` (the later of this and answer_is)
  gsm8k        the last `#### X`
  final_line   a last line that is one math segment, bold or under a label: `**$-2 + 7i$**`, `### Final Answer`
  sentence     the final sentence: a named gold word, a `$...$` segment that ends it (whole: `$\\frac 34$.`), the
               math that ends it, else its last number (digits, unicode fractions `2½`, or words:
               `forty-two`, `one half`, `a dozen`, `1.45 million`, `3 degrees below zero`); without final
               punctuation (maybe cut off) only a plain number or a fraction in lowest terms at most three words
               from the end, not an operand (`2 + 3`, `(3`), see `_ends_in_a_number`; switchable
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from rlvr.verifiers.math_normalize import braced, strip_delims, unicode_fractions
from rlvr.verifiers.math_words import words_value
from rlvr.verifiers.think import NO_ANSWER_RULE, after_think

MAX_ANSWER_CHARS = 2000  # a box that does not close within this many characters is not an answer

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_CODE = re.compile(r"```.*?(?:```|$)", re.S)
_MATH_FENCE = re.compile(r"```(?:latex|tex|math)[ \t]*\n(.*)```$", re.S)  # math set in a fence is math, not code
# The writer withdrawing every answer it gave (`... I do not have a final answer.`)
_WITHDRAWN = re.compile(r"\bI\s+(?:do\s+not|don't|cannot|can't)\s+(?:have|give|find)\s+(?:a|the)\s+(?:final\s+)?answer\b",
                        re.I)
# `\[ x \]  as the answer`: a math segment named the answer after it
_AS_ANSWER = re.compile(r"\s*(?:is\s+)?as\s+(?:the|our|my)\s+(?:final\s+)?answer\b", re.I)
# "The answer is" in English and in the languages a multilingual model ends in (French, Spanish, Portuguese, Italian,
# German, Russian, Chinese, Japanese): `La réponse (finale) est`, `la respuesta es`, `a resposta é`, `la risposta è`,
# `Die Antwort ist` / `das Ergebnis ist` / `lautet`, `Ответ:`, `答案是` / `答案为` / `答案：`, `答えは`. A final
# statement in another language is as much the answer as an English one (and, being last, it wins over one).
_ANSWER_IS = re.compile(r"(?:answer\s*(?:is|:|=)"
                        r"|(?:r[ée]ponse|respuesta|resposta|risposta)(?:\s+finale?|\s+final)?\s+(?:est|es|é|è)\b"
                        r"|(?:antwort|ergebnis)\s+(?:ist|lautet)\b|ответ\s*(?:[:：]|—|-)"
                        r"|(?:答案|答え)\s*(?:是|为|為|は|[:：]))\s*:?\s*", re.I)
# A negation, also in the languages `_ANSWER_IS` reads (`La réponse n'est pas 5.`, `Die Antwort ist nicht 5.`).
_NEGATED = re.compile(r"(?:(?:not|n't|never|pas|nicht|não|не|нет)\b|不是|并非|ではない|ではありません)", re.I)
_DISPLAY_SPAN = re.compile(r"\s*\\\[(.{1,2000}?)\\\]", re.S)
_GSM8K = re.compile(r"####\s*([^\n]+)")
_SENTENCE_SPLIT = re.compile(r"(?<![\d\\])\.(?=\s|$)|[。！？]|\n+")  # `。`: a CJK full stop ends a sentence
_NOT_AN_ANSWER = re.compile(r"(?:correct|right|wrong|incorrect|true|false|valid|reasonable|consistent|as follows|"
                            r"below|above|the same|clear|obvious)\b", re.I)
# An answer stated in words may go on to explain itself (`284, which we can double-check ...`, `3. This follows from
# ...`): the answer ends where such a clause or a new sentence begins, outside `$...$` and brackets, so `3.5`, `1,000`
# and `3, 5` stay whole. A clause that hedges or retracts (`3. Or maybe 4`, `3, which is wrong`) is no explanation:
# the whole text is kept, and reads as no single value, as before.
_EXPLANATION = re.compile(r",\s+(?=(?:which|since|because|so|hence|thus|therefore|this|meaning|confirming|matching|"
                          r"though|although|but)\b)|\.\s+(?=[A-Z])")
# Doubt about the one value stated, with no other value offered (`6, though I am not completely sure`): the answer
# stands, as a grader reads it; a hedge that names another value (`6, or possibly 7`) does not.
_UNSURE = re.compile(r"(?:though|although|but)\s+(?:I(?:'m|\s+am)\s+not\s+(?:\w+\s+)?(?:sure|certain|confident)|"
                     r"I\s+(?:may|might|could)\s+be\s+(?:wrong|mistaken)|it\s+(?:may|might)\s+be\s+worth\s+"
                     r"(?:double-)?checking)\b[^\d$\\]*$", re.I)
_HEDGE = re.compile(r"(?:or|maybe|perhaps|possibly|probably|wait|but|actually|however|alternatively|hmm|no|not|unless|"
                    r"otherwise|either|although|though|oops|sorry|hold|correction|scratch)\b", re.I)
_RETRACTS = re.compile(r"(?:not|n't|never|wrong|incorrect|mistakes?|mistaken|errors?|false|invalid|instead|rather)\b",
                       re.I)
_BOLD_ANSWER = re.compile(r"(\*\*|__)(?=\S)([^*_\n]{1,200}?)(?<=\S)\1")  # an answer set in bold, on one line
_BOLD_END = re.compile(r"(?:\*\*|__)\s*[.;,]?\s*$")  # the close of a bold answer line: `**Answer: 26**`
_LABEL = re.compile(r"(?:the\s+)?(?:final\s+)?(?:answer|result)s?", re.I)  # `### Final Answer`, `Final result:`
_DOLLAR_SPAN = re.compile(r"\s*\$\$?((?:\\\$|[^$])+)\$")
_MATH_RUN = re.compile(r"[\d.*/+^=-]+")  # digits and operators written without spaces: `6*5`, `1/`, `=3/4`
_PLAIN = re.compile(r"-?\d+(?:\.\d+)?")
_FRACTION = re.compile(r"-?(\d+)/(\d+)")
# `<answer>...</answer>` (R1 / DeepSeek-style training formats) holds the answer: its content is read, whatever
# came before (a `<think>` with a tentative box included).
_ANSWER_TAG_OPEN, _ANSWER_TAG_CLOSE = "<answer>", "</answer>"
# A text that ends with an `align*` / `aligned` / `eqnarray` block ends with the derivation's last step: the right
# side of its last line is the final value (`\\text{total} &= 8 + 3 \\\\ &= 11.`), later than any "the answer is"
# in the body above it.
_FINAL_BLOCK_END = re.compile(r"\\end\{(align\*?|aligned|eqnarray\*?)\}\s*(?:\\\]|\$\$|\\\))?\s*[.]?\s*$")
_LINE_TAGS = re.compile(r"\\(?:nonumber|notag)\b|\\(?:tag|label)\{[^{}]*\}")
_OPERATOR_END = re.compile(r"(?:[-+*/^\u00d7\u00f7\u00b7\u2212(\[{]|\\times|\\cdot|\\div)\s*$")


def boxed_all(text: str, limit: int = 20) -> list[str]:
    """Contents of the last `limit` \\boxed{} / \\fbox{} in order (an unclosed box is ignored)."""
    out = []
    for m in list(_BOX.finditer(text))[-limit:]:
        i = m.end()
        if i < len(text) and text[i] == "{":
            got = braced(text, i, MAX_ANSWER_CHARS)
            if got is not None:
                out.append(got[0])
        elif i < len(text):  # \boxed 5
            tok = re.match(r"[^\s$.,;]+", text[i:])
            if tok:
                out.append(tok.group(0))
    return out


def _in_open_bracket(text: str) -> bool:
    """Whether `text` leaves a bracket open: what follows it is inside `(...)`, `[...]` or `{...}`."""
    return sum(map(text.count, "([{")) > sum(map(text.count, ")]}"))


def _before_explanation(stated: str) -> str:
    """`stated` up to an explanation that follows the answer (see `_EXPLANATION`)."""
    for m in _EXPLANATION.finditer(stated):
        head, rest = stated[:m.start()], stated[m.end():]
        if head.count("$") % 2 or _in_open_bracket(head):
            continue  # inside math or a bracket: `(3, so)` is not a clause
        if _UNSURE.match(rest):
            return head
        return stated if _HEDGE.match(rest) or _RETRACTS.search(rest) else head
    return stated


def _answer_is(text: str) -> tuple[str | None, bool, int]:
    """(answer after the last "answer is", negated?, where it starts)."""
    last = None
    for last in _ANSWER_IS.finditer(text):
        pass
    if last is None:
        return None, False, -1
    raw = text[last.end():last.end() + MAX_ANSWER_CHARS]
    if bold := _BOLD_ANSWER.match(raw):  # `the answer is **28**, as computed above`: the bold span is the answer
        return strip_delims(bold.group(2).strip().rstrip(".;,")) or None, False, last.start()
    tail = raw.lstrip("* ")  # `**Answer:** $X$`
    if _NEGATED.match(tail):
        return None, True, last.start()
    if _NOT_AN_ANSWER.match(tail):  # "so our answer is correct": a judgement, not an answer
        return None, False, -1
    span = _DOLLAR_SPAN.match(tail) or _DISPLAY_SPAN.match(tail)
    if span:
        return span.group(1).strip(), False, last.start()
    end = _SENTENCE_SPLIT.search(tail)
    stated = _BOLD_END.sub("", _before_explanation(tail[:end.start()] if end else tail).strip())
    ans = strip_delims(stated.rstrip(".;,"))
    return ans or None, False, last.start()


def _answer_tag(text: str) -> str | None:
    """The content of the last closed `<answer>...</answer>` (None if there is none, or it is empty)."""
    close = text.rfind(_ANSWER_TAG_CLOSE)
    if close < 0:
        return None
    start = text.rfind(_ANSWER_TAG_OPEN, 0, close)
    content = text[start + len(_ANSWER_TAG_OPEN):close].strip() if start >= 0 else ""
    return content or None


def _final_block(text: str) -> str | None:
    """The right side of the last line of an `align*` / `aligned` block that ends the text (see `_FINAL_BLOCK_END`);
    None when the text does not end with one, or its last line is not an equation."""
    tail = text.rstrip()[-4 * MAX_ANSWER_CHARS:]
    m = _FINAL_BLOCK_END.search(tail)
    if not m:
        return None
    start = tail.rfind("\\begin{" + m.group(1) + "}", 0, m.start())
    if start < 0:
        return None
    body = tail[start + len(m.group(1)) + 8:m.start()]
    lines = [x for x in (_LINE_TAGS.sub("", line).strip() for line in body.split("\\\\")) if x]
    if not lines or "=" not in lines[-1]:
        return None
    rhs = lines[-1].rsplit("=", 1)[1].replace("&", " ").strip().rstrip(".,;").strip()
    return rhs or None


def _final_segment(sentence: str) -> str | None:
    """The `$...$` math that ends a final sentence (`La réponse est $\\frac 34$.`, `答えは $15x - 80$ です。`), taken
    whole: its last whitespace token (`34$`) or its last number (`80`) is only part of it. After the segment only
    punctuation or at most three words without a number (a unit, `です`) may follow."""
    plain = sentence.replace("\\$", "  ")  # `\\$` is a dollar sign, not a delimiter
    if plain.count("$") % 2 or "$$" in plain:
        return None  # an unclosed segment: the sentence was split inside math, or cut off
    end = plain.rfind("$")
    start = plain.rfind("$", 0, end) if end > 0 else -1
    if start < 0:
        return None
    inner, rest = sentence[start + 1:end].strip(), sentence[end + 1:]
    if not inner or len(rest.split()) > 3 or re.search(r"\d", rest) or words_value(rest) is not None \
            or not re.search(r"\s", inner):
        return None  # a segment without a space is one token: the rule below reads it whole already
    if _OPERATOR_END.search(inner) or inner[-1] in "=,;:":
        return None  # `$13 x 10 = $`, `$... = 25,$`: a statement that goes on (or was cut off) is not the answer
    return inner


def _ends_in_a_number(sentence: str) -> bool:
    """Whether a sentence without final punctuation (maybe cut off) ends in a stated number: its last run of digits
    and operators is a plain number or a fraction in lowest terms (`3/4`; `48/2` is a step before its `= 24`), at
    most three words (a unit) from the end, and not an operand (after `+`, `\\times`, or inside an open bracket).
    Assumed: the digits of that number are complete. The text may have been cut inside `1/23` or `125` as well as
    after `1/2` or `12`; that cannot be told from the text (the trainer knows the finish reason: `mask_truncated`)."""
    runs = list(_MATH_RUN.finditer(sentence))
    if not runs or len(sentence[runs[-1].end():].split()) > 3:
        return False
    before, run = sentence[:runs[-1].start()], runs[-1].group().removeprefix("=")  # `x=3/4` names 3/4
    if _OPERATOR_END.search(before) or _in_open_bracket(before):
        return False
    frac = _FRACTION.fullmatch(run)
    return bool(_PLAIN.fullmatch(run) or frac and int(frac[2]) > 1 and math.gcd(int(frac[1]), int(frac[2])) == 1)


def _final_sentence(text: str) -> str | None:
    """The last sentence of the text."""
    body = text.rstrip()
    parts = [p for p in _SENTENCE_SPLIT.split(body) if p and p.strip()]
    return parts[-1].strip() if parts else None


def _final_math_line(text: str) -> str | None:
    """The math of a last line that is one math segment, bold (`**$-2 + 7i$**`) or under a label line (`### Final
    Answer`, `Final result:`), taken whole: the sentence rule would read only its last number (`7i`, `625` of
    `\\frac{243}{625}`). A bare math line is left to that rule (it is as often the end of a derivation)."""
    lines = [line.strip() for line in text.rstrip()[-4 * MAX_ANSWER_CHARS:].splitlines() if line.strip()]
    if not lines:
        return None
    line = lines[-1].rstrip(". ")
    bold = len(line) > 4 and line.startswith("**") and line.endswith("**")
    inner = line[2:-2].strip().rstrip(". ") if bold else line
    label = len(lines) > 1 and _LABEL.fullmatch(lines[-2].strip("#*: \t")) is not None
    if not (bold or label):
        return None
    for a, b in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        body = inner[len(a):len(inner) - len(b)]
        if len(inner) > len(a) + len(b) and inner.startswith(a) and inner.endswith(b):
            rest = body.replace("\\$", "")  # `\\$` is a dollar sign; `$a$ and $b$` is two segments, not one
            return body.strip() if "$" not in rest and b not in rest and body.strip() else None
    return None


def _as_the_answer(text: str) -> tuple[str | None, int]:
    """(the math segment just before the last "as the answer", where it starts), or (None, -1)."""
    last = None
    for last in _AS_ANSWER.finditer(text):
        pass
    if last is None:
        return None, -1
    before = text[max(0, last.start() - MAX_ANSWER_CHARS):last.start()].rstrip()
    offset = last.start() - len(before)
    for a, b in (("\\[", "\\]"), ("$$", "$$"), ("\\(", "\\)"), ("$", "$")):
        if before.endswith(b) and len(before) > len(b):
            start = before.rfind(a, 0, len(before) - len(b))
            body = before[start + len(a):len(before) - len(b)].strip() if start >= 0 else ""
            if body and b not in body:
                return body.rstrip(".,;").strip() or None, offset + start
    return None, -1


def extract(text: str, fallback: bool = True, gold_word: str | None = None,
            read_unclosed_think: bool = True) -> tuple[str | None, str]:
    """(final answer text or None, rule). `gold_word`: a one-word gold a final sentence may name.
    `read_unclosed_think`: False makes a `<think>` that never closes no answer (rule `unclosed_think`), and a trace
    with nothing after its `</think>` (`nothing_after_think`), as the verifier reads completions by default
    (`MathOptions`); True, for golds and other texts, reads them whole."""
    text = _CODE.sub(lambda m: (fence := _MATH_FENCE.match(m.group())) and fence.group(1) or " ", text)
    text, read = after_think(text, read_unclosed_think)
    if text is None:
        return None, NO_ANSWER_RULE[read]
    if _WITHDRAWN.search(text[-500:]):
        return None, "withdrawn"
    tag = _answer_tag(text)
    if tag is not None:  # the tagged answer; a box inside it is its answer, as is a stated "answer is"
        boxes = boxed_all(tag, limit=1)
        if boxes:
            return boxes[-1], "answer_tag"
        if _BOX.search(tag):
            return None, "unclosed_box"
        ans, negated, _ = _answer_is(tag)
        if negated:
            return None, "negated"
        return (ans or strip_delims(tag.rstrip(" .")) or None), "answer_tag"
    boxes = boxed_all(text, limit=1)
    if boxes:
        return boxes[-1], "boxed"
    if _BOX.search(text):
        return None, "unclosed_box"  # the last box never closes (or is over-long): it was cut off, no answer
    block = _final_block(text)
    if block:
        return block, "final_block"
    ans, negated, at = _answer_is(text)
    gsm = list(_GSM8K.finditer(text))
    named, named_at = _as_the_answer(text)
    if gsm and gsm[-1].start() > max(at, named_at):  # whichever statement comes last
        return gsm[-1].group(1).strip(), "gsm8k"
    if named and named_at > at:
        return named, "as_answer"
    if negated:
        return None, "negated"
    if ans:
        return ans, "answer_is"
    line = _final_math_line(text)
    if line:
        return line, "final_line"
    if not fallback:
        return None, "none"
    sentence = _final_sentence(text)
    if sentence is None or _NEGATED.search(sentence):
        return None, "none"
    sentence = unicode_fractions(sentence)  # `2½ cups` is 5/2 cups, not 2
    if gold_word and re.search(rf"(?<![A-Za-z]){re.escape(gold_word)}(?![A-Za-z])", sentence, re.I):
        return gold_word, "sentence_word"
    finished = text.rstrip()[-1] in ".!)$*。"
    segment = _final_segment(sentence) if finished else None
    if segment:
        return segment, "sentence_math"
    last = sentence.rstrip(" .!*").rsplit(None, 1)[-1] if sentence.rstrip(" .!*") else ""
    if finished and re.match(r"^[-\u2212$\\\d.]", last) and re.search(r"\d", last) and not re.fullmatch(r"-?\d+(?:\.\d+)?", last):
        return last, "sentence"  # `\dfrac{11}{36}`, `0.\overline{3}`, `1,\!600`, `$18`: the math that ends it
    if not finished and not _ends_in_a_number(sentence):  # maybe cut off: `he walks 6*5`, `2 + 1/`, `x = (3`
        return None, "none"
    value = words_value(sentence)
    return (_fraction_text(value), "sentence") if value is not None else (None, "none")


def _fraction_text(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
