"""A step that runs out of memory ends in one line that names the phase, the device and the settings that size
it (with their values), exit code 2, like bad input. The allocation failures are real: a child process limits its
own address space a few MB above what it maps, then runs the phase (tests/trainers/oom_child.py), so torch's CPU
allocator refuses the phase's tensors. On CUDA the same wrapper catches torch.OutOfMemoryError."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rlvr.trainers.out_of_memory import OutOfMemory, is_out_of_memory, out_of_memory_names

CHILD = Path(__file__).with_name("oom_child.py")


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    from rlvr.trainers.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("oom") / "tiny", seed=0)  # no EOS learnt: rows run 64 tokens


def _run_phase(model, tmp_path, phase: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", RLVR_LOG_DIR=str(tmp_path / "logs"))
    return subprocess.run([sys.executable, str(CHILD), str(model), str(tmp_path / "run"), phase, "8"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("phase, names", [
    ("rollout", (r"the rollout of step 1 ran out of memory on cpu: lower sampler\.hf_batch_size \(now 1024\) or "
                 r"sampler\.params\.max_tokens \(now 64\)")),
    ("update", (r"the update of step 1 ran out of memory on cpu: lower train\.optim\.micro_batch_size \(now 512\) or "
                r"sampler\.params\.max_tokens \(now 64\), or cap tokens per micro-batch: "
                r"train\.optim\.micro_batch_tokens, or set model\.gradient_checkpointing: true; weights and "
                r"AdamW state that do not fit train with model\.lora or train\.parallel: fsdp")),
])
def test_a_phase_that_runs_out_of_memory_ends_in_one_line_naming_its_settings(random_model, tmp_path, phase, names):
    done = _run_phase(random_model, tmp_path, phase)
    lines = [line for line in done.stderr.splitlines() if line.startswith("rlvr")]  # (also: the loading bar)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-3000:]
    assert len(lines) == 1, lines
    assert re.match(rf"rlvr: {names} \(torch: .*can't allocate memory.*\) \(full log: .+\)$", lines[0]), lines[0]
    log = Path(re.search(r"\(full log: (.+)\)$", lines[0]).group(1)).read_text()
    assert "DefaultCPUAllocator" in log and "Traceback" in log  # torch's whole message and where it happened
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing half-written


def test_other_errors_pass_through_unchanged():
    with pytest.raises(ValueError, match="not memory"), out_of_memory_names("x", "cpu", lambda: "advice"):
        raise ValueError("not memory")
    with pytest.raises(RuntimeError, match="shape mismatch"), out_of_memory_names("x", "cpu", lambda: "advice"):
        raise RuntimeError("shape mismatch")


def test_torchs_device_out_of_memory_error_is_recognised():
    # torch.OutOfMemoryError is what the CUDA caching allocator raises (its class, not a look-alike)
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB."))
    expected = r"^the update ran out of memory on cuda:0: lower it \(torch: CUDA out of memory\. Tried .*GiB\.\)$"
    with pytest.raises(OutOfMemory, match=expected), out_of_memory_names("the update", "cuda:0", lambda: "lower it"):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.\nmore text")
