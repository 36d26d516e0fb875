"""DDP on CPU: 2 ranks under `torchrun` (gloo, 127.0.0.1) give what one process gives for the same global batch.

- update: the same FIXED rollouts through the GRPO (dapo / grpo + KL / dr_grpo + batch scale + mu=2 /
  filter), DPO and PPO updates give the same parameters after the optimizer step (atol 1e-5) and the same stats.
- run: 2 real training steps (hf sampler made deterministic per problem, verifier pool, checkpoints), the DDP
  run interrupted after step 1 and resumed, give the same logged metrics and the same final weights as one
  uninterrupted single-process run; so does a run started with `accelerate launch --multi_gpu` (which, like
  on GPUs, runs torchrun underneath; accelerate's own `--cpu` multi-process mode needs mpirun instead).
Both one-process references (the updates and the run) are made in one process: one start-up instead of two.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.scaleout.launch_child import launch

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run_child(*args, ranks: int = 1, launcher: str = "torchrun") -> None:
    """ddp_child.py alone (ranks=1, no torch.distributed at all) or under torchrun / accelerate with `ranks` processes."""
    launch("ddp_child.py", *args, ranks=ranks, launcher=launcher, timeout=600)


@pytest.fixture(scope="module")
def one_process(tiny_model, tmp_path_factory) -> tuple[Path, Path]:
    """Both one-process references, made in ONE process (one start-up): the updates on fixed rollouts (a folder of
    <case>.pt) and the uninterrupted 2-step run (its run dir)."""
    one, single = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("single") / "run"
    run_child("reference", tiny_model, one, single)
    return one, single


@pytest.fixture(scope="module")
def updates(one_process, tiny_model, tmp_path_factory):
    two = tmp_path_factory.mktemp("two")
    run_child("update", tiny_model, two, ranks=2)
    return one_process[0], two


CASES = ["grpo_dapo", "grpo_seqmean_beta", "grpo_dr_batchscale_mu2", "grpo_filter", "dpo", "ppo"]


@pytest.mark.parametrize("case", CASES)
def test_update_on_fixed_rollouts_matches_one_process(updates, case):
    one, two = (torch.load(d / f"{case}.pt") for d in updates)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["params"].keys() == two["params"].keys()
    for name, p1 in one["params"].items():
        torch.testing.assert_close(two["params"][name], p1, atol=1e-5, rtol=0, msg=lambda m: f"{case} {name}: {m}")
    for key, value in one["stats"].items():
        assert two["stats"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), (case, key)
    assert one["stats"].get("grad_norm", 0.0) > 0  # the step did something (rules out a vacuous match)


DETERMINISTIC = {"reward_mean", "reward_std", "accuracy", "completion_len_mean", "generated_tokens", "zero_variance_frac",
                 "adv_mean", "adv_std", "groups_kept", "loss", "kl", "grad_norm", "clip_frac", "lr", "status/correct"}


@pytest.fixture(scope="module")
def single_run(one_process) -> Path:
    return one_process[1]


def test_two_step_run_resumed_under_ddp_matches_one_process(tiny_model, single_run, tmp_path):
    ddp = tmp_path / "ddp"
    run_child("run", tiny_model, ddp, 1, ranks=2)  # stop after step 1 ...
    run_child("run", tiny_model, ddp, 1, ranks=2)  # ... and resume: every rank loads step-1
    assert_same_run(single_run, ddp)


def test_run_under_accelerate_launch_matches_one_process(tiny_model, single_run, tmp_path):
    run_child("run", tiny_model, tmp_path / "acc", 2, ranks=2, launcher="accelerate")
    assert_same_run(single_run, tmp_path / "acc")


def assert_same_run(single: Path, ddp: Path) -> None:
    assert [(d / "world_size").read_text() for d in (single, ddp)] == ["1", "2"]
    rows = [[json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()] for d in (single, ddp)]
    assert [r["step"] for r in rows[0]] == [r["step"] for r in rows[1]] == [1, 2]  # rank 0 alone wrote metrics
    for a, b in zip(*rows):
        assert a.keys() == b.keys()
        for key in DETERMINISTIC & a.keys():
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (a["step"], key)
    assert rows[0][0]["reward_std"] > 0  # rewards varied, so the policy really moved
    from safetensors.torch import load_file

    w1, w2 = (load_file(d / "checkpoints" / "step-2" / "model" / "model.safetensors") for d in (single, ddp))
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], atol=1e-5, rtol=0)
