"""A `train.checkpoint.dir` that cannot be written: refused in one line naming the setting (exit 2) before anything
starts, and, when it stops taking writes mid-run, one line naming the finished steps that are lost and where the
same command resumes (as for a full disk). It was a raw OSError (exit 1), a PermissionError naming the lock file
(exit 1), or errno 20's text (exit 2), none naming the setting; mid-run, a PermissionError and nothing about the
steps lost.

We run as root, for whom permissions do not stop a write: the read-only and immutable directories here are real
ones, a read-only tmpfs mounted in a mount namespace of its own (`unshare -m`) and `chattr +i`."""

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from rlvr.flows.errors import BadInput
from tests.flows.flow_helpers import CONFIG, tiny_overrides


def _chattr(flag: str, path: Path) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.fixture
def immutable(tmp_path):
    """A directory that nothing can be created in, root included (`chattr +i`); made mutable again afterwards."""
    made = []

    def make(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        if not _chattr("+i", path):
            pytest.skip("chattr +i is not possible here (not root, or a file system without the attribute)")
        made.append(path)
        return path

    yield make
    for path in made:
        _chattr("-i", path)


def test_a_file_on_the_path_is_named(tmp_path):
    from rlvr.flows.bootstrap import check_run_dir

    (tmp_path / "hostname").write_text("x\n")
    with pytest.raises(BadInput) as caught:
        check_run_dir(str(tmp_path / "hostname" / "run"))
    assert str(caught.value) == (f"train.checkpoint.dir {tmp_path / 'hostname' / 'run'}: {tmp_path / 'hostname'} is "
                                 "a file, not a directory")


def test_an_immutable_directory_is_refused_by_rlvr_train_in_one_line(immutable, model_path, tmp_path, capsys):
    from rlvr.flows import cli

    run = immutable(tmp_path / "immut")
    argv = ["train", "--no-eval", "-c", CONFIG, *tiny_overrides(run, model_path)]
    assert cli.main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"rlvr: train.checkpoint.dir {run}: cannot be written (operation not permitted); make it "
                           "writable or choose another train.checkpoint.dir (full log: "), line


def test_a_read_only_file_system_is_refused_before_prefect_starts(model_path, tmp_path):
    """`rlvr train` in a mount namespace where the run directory's parent is a read-only tmpfs."""
    ro = tmp_path / "rodir"
    ro.mkdir()
    train = [sys.executable, "-m", "rlvr.flows.cli", "train", "--no-eval", "-c", CONFIG,
             *tiny_overrides(ro / "run", model_path)]
    script = f'mount -t tmpfs -o ro tmpfs "{ro}" || exit 99; exec "$@"'
    done = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *train], capture_output=True, text=True,
                          timeout=300, cwd=Path(CONFIG).parents[1], env=os.environ)
    if done.returncode == 99 or "unshare failed" in done.stderr:
        pytest.skip(f"no private read-only mount here: {done.stderr.strip()[:200]}")
    shown = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 2, shown
    assert shown[-1].startswith(f"rlvr: train.checkpoint.dir {ro / 'run'}: cannot be written (a read-only file "
                                "system); make it writable"), shown
    assert not any("Starting temporary server" in line or "Flow run" in line for line in shown), shown


def test_the_run_dir_and_the_report_checks_give_one_reason_each_naming_its_own_setting(tmp_path):
    """Both checks probe with one function (flows/writable.py) and say why in the same words, each naming its own
    setting. Was: two probes, the report's saying `read-only file system` where the run directory's said `a
    read-only file system`. A read-only tmpfs in a mount namespace of its own, as above."""
    ro = tmp_path / "rodir"
    ro.mkdir()
    code = ("import sys\nfrom pathlib import Path\nfrom rlvr.flows.bootstrap import check_run_dir\n"
            "from rlvr.flows.eval_files import check_report_writable\nro = Path(sys.argv[1])\n"
            "for check, where in ((check_run_dir, str(ro / 'run')), (check_report_writable, ro / 's' / 'eval.json')):\n"
            "    try:\n        check(where)\n    except ValueError as exc:\n        print(exc)\n")
    script = 'mount -t tmpfs -o ro tmpfs "$1" || exit 99; shift; exec "$@"'
    done = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(ro), sys.executable, "-c", code, str(ro)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode == 99 or "unshare failed" in done.stderr:
        pytest.skip(f"no private read-only mount here: {done.stderr.strip()[:200]}")
    assert done.stdout.splitlines() == [
        f"train.checkpoint.dir {ro / 'run'}: cannot be written (a read-only file system); make it writable or choose "
        "another train.checkpoint.dir",
        f"the report cannot be written to {ro / 's' / 'eval.json'} (a read-only file system in {ro}): evaluate a copy "
        "of the checkpoint in a writable place",
    ], done.stderr[-2000:]


def test_the_closing_line_names_the_steps_lost_and_where_the_run_resumes(immutable, tmp_path):
    from rlvr.trainers.checkpoint import lost_to_unwritable_run_dir

    run = tmp_path / "run"
    step_2 = run / "checkpoints" / "step-2"
    step_2.mkdir(parents=True)
    torch.save({"step": 2}, step_2 / "trainer_state.pt")  # what makes it a checkpoint to resume from
    immutable(run / "checkpoints")
    with pytest.raises(PermissionError) as refused:  # what the save of step 4 meets
        (run / "checkpoints" / ".tmp-step-4").mkdir()
    lost = lost_to_unwritable_run_dir(refused.value, run, 4, "checkpoint step-4 could not be written to")
    assert str(lost) == (f"checkpoint step-4 could not be written to {run / 'checkpoints' / '.tmp-step-4'}: operation "
                         f"not permitted; steps 3-4 are lost; make train.checkpoint.dir {run} writable again and run "
                         "the same command (it resumes from step-2)")
    elsewhere = PermissionError(errno.EPERM, "Operation not permitted", str(tmp_path / "other"))
    flaky = OSError(errno.EIO, "Input/output error", str(run / "metrics.jsonl"))
    assert lost_to_unwritable_run_dir(elsewhere, run, 4, "x") is None  # not the run directory's
    assert lost_to_unwritable_run_dir(flaky, run, 4, "x") is None  # not a directory that refuses writes


@pytest.mark.slow
def test_a_run_directory_made_immutable_mid_run_ends_in_one_line_naming_the_lost_steps(
        immutable, model_path, prefect_session, tmp_path, capsys):
    """The audit: `chattr +i runs/midro` after step 1; the save of the first checkpoint (step 4) cannot make
    checkpoints/ there."""
    from rlvr.flows import cli

    run = tmp_path / "midro"
    metrics = run / "metrics.jsonl"

    def freeze_after_step_1():
        deadline = time.monotonic() + 300
        while not (metrics.is_file() and metrics.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.02)
        immutable(run)

    watcher = threading.Thread(target=freeze_after_step_1, daemon=True)
    watcher.start()
    argv = ["train", "--no-eval", "-c", CONFIG, *tiny_overrides(run, model_path), "train.steps=4",
            "train.checkpoint.every=4", "train.prompts_per_step=2", "train.grpo.group_size=2"]
    code = cli.main(argv)
    watcher.join()
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2, last
    assert last.startswith(f"rlvr: checkpoint step-4 could not be written to {run / 'checkpoints'}: operation not "
                           f"permitted; steps 1-4 are lost; make train.checkpoint.dir {run} writable again and run "
                           "the same command (it starts again from step 0) (full log: "), last
    assert len(metrics.read_text().splitlines()) == 4  # the steps did run: the metrics file was there to append to
