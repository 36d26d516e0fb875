"""A plug-in given as a file (`/abs/or/relative/rewards.py:fn`, verl's `custom_reward_function.path` style) is loaded
from that file in this process, in the pool's workers and by `rlvr verify`; a missing file is one line naming it.

Before: the name was handed to importlib as a module name: "No module named '/tmp/.../my_rewards'", for every
completion, however the file was named.
"""

import json
import os

import pytest

from rlvr.verifiers import registry
from rlvr.verifiers.cli import main
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.plugin_files import is_file_plugin, module_name
from rlvr.verifiers.pool import VerifierPool

# verl's custom compute_score, and a 3-argument one whose detail holds an object of the file's own class: that
# crosses from the worker back to the pool as a pickle, which finds the class by its module's name
REWARDS = '''
import dataclasses
from rlvr.verifiers.verdict import Verdict

VERSION = "7"

def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    return 1.0 if solution_str.strip().endswith(str(ground_truth)) else 0.0

@dataclasses.dataclass(frozen=True)
class Seen:
    length: int

def with_own_class(completion, reference, options=None):
    return Verdict(1.0, "correct", {"seen": Seen(len(completion))})
'''
# a folder name that is not a Python identifier, and the same stem as a module that could be on sys.path
PLUG = "user plug-ins"


@pytest.fixture
def rewards(tmp_path):
    (tmp_path / PLUG).mkdir()
    path = tmp_path / PLUG / "my_rewards.py"
    path.write_text(REWARDS)
    return path  # not on sys.path: only the file names it


@pytest.mark.parametrize("name, is_file", [
    ("/data/my_rewards.py:compute_score", True),  # verl's absolute custom_reward_function.path
    ("plug/my_rewards.py:compute_score", True),  # relative, with its folder
    ("my_rewards.py:compute_score", True),  # relative, in the current folder
    ("plug/my_rewards:compute_score", True),  # a folder, no suffix: a path (then "no file ..."), not a module
    ("my_pkg.rewards:score", False),  # an import path
    ("math", False),  # a built-in
])
def test_which_names_are_files(name, is_file):
    assert is_file_plugin(name) is is_file


def test_a_file_plugin_scores_in_this_process_and_in_the_pool_alike(rewards):
    name = f"{rewards}:compute_score"
    specs = [VerifierSpec(name=name)]  # config validation loads it
    jobs = [("so 72", "72", specs), ("so 71", "72", specs)]
    here = [registry.score(c, r, s) for c, r, s in jobs]
    with VerifierPool(workers=1, prestart_math=False, plugins=[name]) as pool:
        there = pool.map(jobs)
        assert pool.notes == []  # the workers loaded it too (a failure there is a note)
        pool.map(jobs)
        assert pool.stats["cache_hits"] == 2  # the cache key (name, version, ...) works for a file's plug-in
    key = "my_rewards:compute_score"  # verdicts (and metrics) name it by the file's stem: plugin_files.short_names
    assert [(r, {k: v.status for k, v in d.items()}) for r, d in there] == [(1.0, {key: "correct"}),
                                                                           (0.0, {key: "wrong"})]
    assert [(r, d[key].status) for r, d in here] == [(r, d[key].status) for r, d in there]
    assert registry.version(name) == "7"


def test_a_relative_path_is_read_from_the_current_folder_in_the_workers_too(rewards, monkeypatch):
    monkeypatch.chdir(rewards.parent.parent)
    name = f"{PLUG}/my_rewards.py:compute_score"
    with VerifierPool(workers=1, prestart_math=False) as pool:  # named in the batch, not at the start
        (reward, verdicts), = pool.map([("so 72", "72", [VerifierSpec(name=name)])])
    assert (reward, verdicts["my_rewards:compute_score"].status) == (1.0, "correct")


def test_an_object_of_the_files_own_class_comes_back_from_a_worker(rewards):
    # the file is loaded under one name in every process (and kept in sys.modules), so pickle finds its class
    name = f"{rewards}:with_own_class"
    with VerifierPool(workers=1, prestart_math=False) as pool:
        (_, verdicts), = pool.map([("abc", None, [VerifierSpec(name=name)])])
    [verdict] = verdicts.values()
    seen = verdict.detail["seen"]
    assert (verdict.status, type(seen).__name__, seen.length) == ("correct", "Seen", 3)
    assert type(seen).__module__ == module_name(str(rewards))


def test_a_missing_file_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as got:
        registry.resolve("plug/nope.py:compute_score")
    assert str(got.value) == (
        f"cannot load verifier 'plug/nope.py:compute_score': no file {tmp_path}/plug/nope.py "
        f"(a relative path is read from {tmp_path})")


def test_a_missing_function_is_named_with_the_file(rewards):
    with pytest.raises(ValueError, match=rf"cannot load verifier '.*my_rewards.py:nope': .*my_rewards.py has no "
                                         r"attribute 'nope'$"):
        registry.resolve(f"{rewards}:nope")


def test_rlvr_verify_reads_a_file_plugin(rewards, tmp_path, capsys):
    lines = [{"completion": c, "reference": "72", "verifier": f"{rewards}:compute_score"} for c in ("so 72", "so 71")]
    lines.append({"completion": "x", "reference": "72", "verifier": f"{rewards.parent}/nope.py:compute_score"})
    path = tmp_path / "completions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main([str(path), "--workers", "1"]) == 1  # one bad line
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"line 3: skipped: cannot load verifier '{rewards.parent}/nope.py:compute_score': "
                                f"no file {rewards.parent}{os.sep}nope.py"]
    assert "scored 2 lines, mean reward 0.5000, bad lines 1" in out


@pytest.mark.slow
def test_a_file_plugin_under_prefects_process_pool(rewards):
    # main process -> a Prefect process-pool worker (verify_chunk) -> its verification worker, and the verdicts back:
    # each process loads the file from its name, and the file's own class reads back here by its stable module name
    from prefect.task_runners import ProcessPoolTaskRunner
    from prefect.testing.utilities import prefect_test_harness

    from rlvr.verifiers.task_runner import TaskRunnerPool

    specs = [VerifierSpec(name=f"{rewards}:compute_score"), VerifierSpec(name=f"{rewards}:with_own_class")]
    with prefect_test_harness(server_startup_timeout=180), \
            TaskRunnerPool(ProcessPoolTaskRunner(max_workers=1), timeout_s=10.0, memory_mb=4096) as pool:
        (reward, verdicts), = pool.map([("so 72", "72", specs)])
    assert reward == 2.0 and verdicts["my_rewards:with_own_class"].detail["seen"].length == 5
