"""An `mbpp` task whose `task.source` is a folder. MBPP splits by the official task_id ranges whatever the file, so
a folder's MBPP file serves every split. Was: refused, "no 'test' file in .../mbpp (found: mbpp.jsonl,
sanitized-mbpp.json); point source at one file" (a user audit), though the README says a folder works for every
dataset task."""

import json
import shutil
from pathlib import Path

import pytest

from rlvr.data.config import TaskConfig
from rlvr.data.tasks import load_problems

FIXTURES = Path(__file__).parent / "fixtures" / "mbpp"  # mbpp.jsonl and sanitized-mbpp.json, as the release has them
SHARED = Path("/work/shared/data/mbpp")


def _ids(**kw) -> list[str]:
    return sorted(p.id for p in load_problems(TaskConfig(name="mbpp", **kw)))


@pytest.mark.parametrize("split", ["test", "train"])
def test_a_folder_of_the_release_reads_its_full_file(split):
    assert _ids(split=split, source=str(FIXTURES)) == _ids(split=split, source=str(FIXTURES / "mbpp.jsonl"))


def test_the_shared_mbpp_folder_with_few_shot_examples():
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not on this machine")
    problems = load_problems(TaskConfig(name="mbpp", split="test", source=str(SHARED), few_shot=3))
    assert len(problems) == 500 and {p.meta["task_id"] for p in problems} == set(range(11, 511))
    assert len(problems[0].prompt) == 7  # 3 shots (task_ids 2, 3, 4) as user/assistant pairs + the question


def test_a_folder_of_one_file_of_any_name(tmp_path):
    shutil.copy(FIXTURES / "sanitized-mbpp.json", tmp_path / "my-mbpp-copy.json")
    assert _ids(split="test", source=str(tmp_path)) == _ids(split="test", source=str(FIXTURES / "sanitized-mbpp.json"))


def test_the_hubs_parquet_layout_reads_each_splits_file(tmp_path):
    import pyarrow
    import pyarrow.parquet

    rows = [json.loads(line) for line in (FIXTURES / "mbpp.jsonl").read_text().splitlines()]
    (tmp_path / "full").mkdir()
    for split, ids in {"test": range(11, 511), "train": range(601, 975), "prompt": range(1, 11)}.items():
        part = [r for r in rows if r["task_id"] in ids]
        path = tmp_path / "full" / f"{split}-00000-of-00001.parquet"
        pyarrow.parquet.write_table(pyarrow.Table.from_pylist(part), path)
    assert _ids(split="test", source=str(tmp_path)) == _ids(split="test", source=str(FIXTURES / "mbpp.jsonl"))
    assert _ids(split="train", source=str(tmp_path)) == _ids(split="train", source=str(FIXTURES / "mbpp.jsonl"))


def test_several_files_none_of_them_the_release_are_listed(tmp_path):
    shutil.copy(FIXTURES / "mbpp.jsonl", tmp_path / "copy-a.jsonl")
    shutil.copy(FIXTURES / "mbpp.jsonl", tmp_path / "copy-b.jsonl")
    with pytest.raises(ValueError) as refused:
        load_problems(TaskConfig(name="mbpp", split="test", source=str(tmp_path)))
    said = str(refused.value)
    assert said.startswith(f"mbpp: {tmp_path} holds several data files and none named for the 'test' split or "
                           "mbpp.* (copy-a.jsonl, copy-b.jsonl); point task.source at the one to read"), said
