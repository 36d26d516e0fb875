"""A command refused on its config says so before torch is loaded: the refusal is the first thing a user waits for,
and torch's import is ~1.5 s of the ~5 s before it on 2 cores. The exit code still tells input errors defined beside
torch code (a damaged checkpoint, an out-of-memory batch) once they can exist (flows/errors.is_input_error)."""

import subprocess
import sys

from tests.flows.flow_helpers import CONFIG, REPO

REFUSED = """
import sys
from rlvr.flows import cli
code = cli.main(["train", "-c", sys.argv[1], "train.stepz=3"])
print(code, "torch" in sys.modules)
"""


def test_a_bad_override_is_refused_without_loading_torch():
    done = subprocess.run([sys.executable, "-c", REFUSED, CONFIG], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == ["2", "False"], (done.stdout, done.stderr[-2000:])
    assert "train.stepz: unknown field" in done.stderr


def test_checkpoint_and_memory_errors_are_input_errors_once_loaded():
    from rlvr.flows.errors import exit_code
    from rlvr.trainers.checkpoint import CheckpointError
    from rlvr.trainers.out_of_memory import OutOfMemory

    assert exit_code(CheckpointError("step-3: damaged")) == 2
    assert exit_code(OutOfMemory("the update ran out of memory")) == 2
    assert exit_code(RuntimeError("a bug")) == 1
