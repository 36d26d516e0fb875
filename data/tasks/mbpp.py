"""MBPP (Austin et al. 2021): short Python programming tasks with three assert tests; code verifier.

Source: hub `google-research-datasets/mbpp` (config `full`) or a local file such as
`/work/shared/data/mbpp/mbpp.jsonl` (all 974 tasks; `code` uses \\r\\n) or `sanitized-mbpp.json` (a JSON array
of 427 tasks, `prompt` instead of `text`, plus `test_imports`).
Splits follow the official task_id ranges, whatever the file: test 11-510, train 601-974 (validation 511-600 is
not used), few-shot prompt 1-10 (ids 2, 3, 4 first, as in Austin et al.).
Prompt: the description plus the first test assert (it shows the function's name).
Reference: `{"tests": "\\n".join(test_list), "entry_point": None, "setup": test_setup_code + test_imports,
"prompt_prefix": ""}`; the function name parsed from the tests is in `meta["entry_point"]`.
Data source (`Problem.context()`): `google-research-datasets/mbpp`, wherever the rows are read from.
A folder as the source: its files named for the split (the hub's parquet layout, `test-00000-of-00001.parquet`),
else its one data file, else, among several (`/work/shared/data/mbpp`: mbpp.jsonl, sanitized-mbpp.json), the one
named `mbpp.*` (the original release, all 974 tasks; the split is by task_id whatever the file); without one, the
files are listed in the error (`folder_file`).
"""

from __future__ import annotations

import ast
import builtins
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlvr.data.config import TaskConfig
from rlvr.data.files import NoSplitFile, data_files, data_suffix, split_files
from rlvr.data.loading import load_rows, shuffle_and_limit, validate_rows
from rlvr.data.problem import Problem, row_columns
from rlvr.data.templates import Example, code_prompt, fenced, mbpp_task

VERIFIER = "code"
HUB_ID = "google-research-datasets/mbpp"
HUB_CONFIG = "full"
SPLITS = {"prompt": range(1, 11), "test": range(11, 511), "validation": range(511, 601), "train": range(601, 975)}
SHOT_ORDER = (2, 3, 4, 1, 5, 6, 7, 8, 9, 10)


def lf(text: str) -> str:
    """Unix line endings: mbpp.jsonl's code uses \\r\\n, and a few solutions end in a bare \\r."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse(source: str) -> ast.Module | None:
    with warnings.catch_warnings():  # some MBPP solutions hold invalid escapes like "\\d" in plain strings
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return ast.parse(source)
        except SyntaxError:
            return None


def entry_point(tests: Sequence[str], code: str = "") -> str | None:
    """The function the tests call: the first called name the reference `code` defines, else the first non-builtin."""
    module = _parse(code)
    defined = {n.name for n in module.body if isinstance(n, ast.FunctionDef)} if module else set()
    called: list[str] = []
    for tree in filter(None, map(_parse, tests)):
        called += [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    own = [name for name in called if name in defined]
    rest = [name for name in called if not hasattr(builtins, name)]
    return (own or rest or [None])[0]


def _check(row: Mapping[str, Any]) -> str | None:
    if not all(isinstance(t, str) and t.strip() for t in row["test_list"]):
        return "field 'test_list' holds an empty or non-string test"
    return None


def _text_field(row: Mapping[str, Any]) -> str:
    """Where a row keeps its description: `text` (mbpp.jsonl, the hub's `full`) or `prompt` (sanitized-mbpp)."""
    return "text" if "text" in row else "prompt"


def _text(row: Mapping[str, Any]) -> str:
    return row[_text_field(row)]


def _setup(row: Mapping[str, Any]) -> str:
    parts = [row.get("test_setup_code") or "", *(row.get("test_imports") or [])]
    return "\n".join(lf(p) for p in parts if p.strip())


def folder_file(source: str | None, split: str) -> str | None:
    """`source`, or the file to read when it is a folder that holds no file named for `split` and several data
    files: MBPP splits by task_id, so any file of all its tasks serves every split, and the original release
    (`mbpp.jsonl`, 974 tasks) is taken over a subset such as `sanitized-mbpp.json` (427). ValueError listing the
    files when none is named `mbpp`."""
    path = Path(source).expanduser() if source else None
    if path is None or not path.is_dir() or (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return source  # a file, a hub id, a dataset saved by `datasets`: load_rows reads it as it is
    try:
        split_files(path, split)
        return source  # files named for the split (the hub's layout), or the folder's only one
    except NoSplitFile:
        found = data_files(path)
    whole = [p for p in found if p.name[:-len(data_suffix(p.name))].lower() == "mbpp"]
    if len(whole) == 1:
        return str(whole[0])
    names = ", ".join(str(p.relative_to(path)) for p in found) or "no data file"
    raise ValueError(f"mbpp: {path} holds several data files and none named for the {split!r} split or mbpp.* "
                     f"({names}); point task.source at the one to read (MBPP splits by task_id, whatever the file)")


def _rows(source: str | None, split: str, cfg: TaskConfig) -> list[tuple[int, dict]]:
    """The valid rows of `source` whose task_id lies in the official range of `split`."""
    rows = load_rows(folder_file(source, split), split, HUB_ID, HUB_CONFIG)
    first = next((row for row in rows if isinstance(row, Mapping)), {})
    text_field = _text_field(first)
    fields = {"task_id": int, text_field: str, "test_list": list}
    good = validate_rows(rows, fields, f"mbpp/{split}", cfg.on_bad_row, _check,
                         max_chars={text_field: cfg.max_prompt_chars})
    return [(i, r) for i, r in good if r["task_id"] in SPLITS[split]]


def _examples(source: str | None, k: int, cfg: TaskConfig) -> list[Example]:
    if not k:
        return []
    by_id = {row["task_id"]: row for _, row in _rows(source, "prompt", cfg)}
    rows = [by_id[i] for i in SHOT_ORDER if i in by_id and by_id[i].get("code")][:k]
    if len(rows) < k:
        raise ValueError(f"mbpp: few_shot={k} but the prompt split (task_id 1-10) has only {len(rows)} usable rows")
    return [Example(mbpp_task(_text(r), r["test_list"][0]), fenced(r["code"])) for r in rows]


def load(cfg: TaskConfig) -> list[Problem]:
    rows = _rows(cfg.source, cfg.split, cfg)
    if not rows:
        where = cfg.source or HUB_ID
        raise ValueError(f"mbpp: no row of {where} has a task_id in the {cfg.split} range {SPLITS[cfg.split]}")
    examples = _examples(cfg.source, cfg.few_shot, cfg)  # a local file holds all splits; a dir/hub id has 'prompt'
    problems = []
    for index, row in rows:
        tests = [lf(t) for t in row["test_list"]]
        code = lf(row.get("code") or "")
        problems.append(
            Problem(
                id=f"mbpp/{row['task_id']}",
                task="mbpp",
                prompt=code_prompt(mbpp_task(_text(row), tests[0]), cfg.template, examples),
                reference={"tests": "\n".join(tests), "entry_point": None, "setup": _setup(row), "prompt_prefix": ""},
                meta={
                    "index": index,
                    "task_id": row["task_id"],
                    "entry_point": entry_point(tests, code),
                    "code": code,
                    "challenge_test_list": row.get("challenge_test_list") or [],
                    "data_source": HUB_ID,
                    "columns": row_columns(row, _text_field(row)),
                },
            )
        )
    return shuffle_and_limit(problems, cfg.seed, cfg.limit)
