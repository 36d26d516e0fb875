"""A stop during the final evaluation says that training had finished (its last checkpoint saved) and that the
evaluation was cut, which the same command does; the wording of a stop in an evaluation (`cut_evaluation_note`).

Before: `rlvr: stopped by SIGINT; the run can be resumed with the same command`, as if training had not finished.
"""

import os
import re
import signal
import sys
from pathlib import Path

import pytest

from rlvr.flows.eval_target import Target
from rlvr.trainers.run_config import validate_config
from tests.flows.flow_helpers import CONFIG, start_process, tiny_overrides, wait_for


@pytest.mark.slow
def test_a_stop_in_the_final_evaluation_says_training_had_finished(model_path, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # embedded Prefect, as a user runs it
    env["RLVR_VERBOSE"] = "1"  # the console shows Prefect's task lines, the marker waited for below
    run_dir, log = tmp_path / "run", tmp_path / "out.log"
    # one training step, then an evaluation that takes far longer than the wait below
    cmd = [sys.executable, "-m", "rlvr.flows.cli", "train", "-c", CONFIG, *tiny_overrides(run_dir, model_path),
           "train.steps=1", "eval.tasks=[{name: arith, level: 2, split: test, limit: 400}]", "eval.n=4",
           "eval.params.max_tokens=64"]
    proc = start_process(cmd, env, log)
    try:
        # the last task before the evaluation publishes the training's progress: once it has finished (a stop
        # inside it is a stop in the training loop, which says where the run resumes)
        finished = re.compile(r"Task run 'publish_progress-\w+' - Finished in state Completed")
        wait_for("the final evaluation", lambda: finished.search(log.read_text()), 400, proc, log)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    checkpoint = run_dir / "checkpoints" / "step-1"
    assert not (checkpoint / "eval.json").exists(), "the evaluation finished before the stop: make it longer"
    last = log.read_text().strip().splitlines()[-1]
    assert code == 130, log.read_text()[-3000:]
    assert last.startswith(f"rlvr: stopped by SIGINT; training had finished (saved step 1 of 1: {checkpoint}); the "
                           f"evaluation was cut: the same command evaluates it (full log: "), last


@pytest.mark.parametrize("checkpoint, says", [
    # the final evaluation, or `rlvr eval` of that checkpoint
    ("runs/x/checkpoints/step-8", "training had finished (saved step 8 of 8: runs/x/checkpoints/step-8); the "
                                  "evaluation was cut: the same command evaluates it"),
    ("runs/x/checkpoints/step-4", "the evaluation of runs/x/checkpoints/step-4 was cut: the same command evaluates it"),
    (None, "the evaluation of tiny was cut: the same command evaluates it"),  # a model, no training
])
def test_what_a_stop_in_an_evaluation_says(checkpoint, says):
    from rlvr.flows.evaluate import cut_evaluation_note

    cfg = validate_config({"model": {"path": "tiny"}, "task": {"name": "arith"}, "train": {"steps": 8}})
    target = Target(model="tiny", checkpoint=Path(checkpoint) if checkpoint else None)
    assert cut_evaluation_note(target, cfg) == says
