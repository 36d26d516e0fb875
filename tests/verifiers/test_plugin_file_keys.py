"""A verifier named by its file (`/path/to/my_rewards.py:fn`) is keyed in verdicts, metrics and the console by the
file's stem and function (`my_rewards:fn`), with parent folders added only where two verifiers of a run would share
that name (`plugin_files.short_names`).

Before: the key was the whole path, so its metric was `reward/-tmp-...-my_rewards.py:fn` (each `/` made `-`).
"""

import pytest

from rlvr.trainers.loop import Trainer
from rlvr.trainers.metrics import metric_name, rollout_metrics
from rlvr.verifiers import registry
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.plugin_files import short_names
from rlvr.verifiers.verdict import Verdict
from tests.trainers.tiny_runs import tiny_run_config

REWARDS = '''
from rlvr.verifiers.verdict import Verdict

def always(completion, reference, options=None):
    return Verdict(1.0, "correct", {"rule": "always"})

def half(completion, reference, options=None):
    return Verdict(0.5, "wrong", {"rule": "half"})
'''


def _file(folder, stem="my_rewards"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.py"
    path.write_text(REWARDS)
    return path


@pytest.mark.parametrize("names, shown", [
    # one file: its stem and function, wherever it lives
    (["/data/run 1/my_rewards.py:fn"], ["my_rewards:fn"]),
    # two files of one stem: each gets the first folder that tells them apart
    (["/data/a/my_rewards.py:fn", "/data/b/my_rewards.py:fn"], ["a/my_rewards:fn", "b/my_rewards:fn"]),
    # folders equal one level up: the next one decides
    (["/x/a/r.py:fn", "/y/a/r.py:fn"], ["x/a/r:fn", "y/a/r:fn"]),
    # a file whose short name an import path already is: the file gets its folder, the import path stays
    (["my_rewards:fn", "plug/my_rewards.py:fn"], ["my_rewards:fn", "plug/my_rewards:fn"]),
    # two functions of one file, and the built-ins, are apart already
    (["/d/my_rewards.py:a", "/d/my_rewards.py:b", "math"], ["my_rewards:a", "my_rewards:b", "math"]),
    # a relative path that climbs: folders as given (normalised), never the machine's working directory
    (["r.py:fn", "../q/r.py:fn"], ["r:fn", "q/r:fn"]),
])
def test_a_file_plugins_short_name(names, shown):
    assert [short_names(names)[name] for name in names] == shown


def test_verdicts_and_metrics_name_a_file_plugin_by_its_stem_apart_from_a_namesake(tmp_path):
    first, second = _file(tmp_path / "a"), _file(tmp_path / "b")
    specs = [VerifierSpec(name="math"), VerifierSpec(name=f"{first}:always", weight=0.5),
             VerifierSpec(name=f"{second}:half", weight=0.5), VerifierSpec(name=f"{second}:always", weight=0.5)]
    reward, verdicts = registry.score("so \\boxed{4}", "4", specs)
    assert list(verdicts) == ["math", "a/my_rewards:always", "my_rewards:half", "b/my_rewards:always"]
    assert reward == 1.0 + 0.5 * (1.0 + 0.5 + 1.0)
    groups = [type("Group", (), {"completions": [type("Completion", (), {"token_ids": [1], "truncated": False})]})]
    row = rollout_metrics(groups, [[reward]], [[verdicts]], "math")
    assert {key for key in row if key.startswith("reward/")} == {
        "reward/math", "reward/a-my_rewards:always", "reward/my_rewards:half", "reward/b-my_rewards:always"}
    assert not any(str(tmp_path.name) in key for key in row)  # no part of the path the run does not need


def test_a_training_run_keys_its_file_verifier_by_its_stem_and_reads_accuracy_from_it(tmp_path, warm_model):
    path = _file(tmp_path / "plug-ins")
    cfg = tiny_run_config(tmp_path / "run", verify={"verifiers": [{"name": f"{path}:always"}]}, steps=1)
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    try:
        row = trainer.train()[-1]
    finally:
        trainer.close()
    assert trainer.primary == "my_rewards:always"
    assert row["reward/my_rewards:always"] == 1.0 and row["accuracy"] == 1.0  # the primary's `correct` statuses
    assert [key for key in row if "plug-ins" in key or "-tmp-" in metric_name(key)] == []
