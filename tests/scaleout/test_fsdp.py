"""FSDP2 on CPU: 2 ranks under `torchrun` (gloo, 127.0.0.1) against one unsharded process, on an untrained tiny Qwen2.

- parts (fsdp_parts_child.py): weights streamed group by group into each rank's own hf sampler equal the
  unsharded weights exactly (full fine-tuning, and the LoRA adapter); an hf sampler sharing the sharded module
  generates, under `generation_weights`, the same tokens as the unsharded module, with the ranks decoding
  different numbers of problems; the module is sharded again afterwards.
- step + checkpoint (fsdp_train_child.py): one sharded step (3 micro-batches over 2 ranks, so one lock-step pass;
  policy + replicated value head; clipping that bites) equals the one-process step (atol 1e-5); its sharded
  checkpoint resumed on 2 ranks AND in one plain process loads the exact weights and the next step again equals
  the uninterrupted process; the consolidated export loads through `rlvr eval`'s own loader
  (`resolve_target` -> `eval_config` -> `open_sampler`) with the trained weights.
- options: the same step with `cpu_offload` equals one process; with `param_dtype: bfloat16` it is close. The
  ranks of the first sharded step take these steps too, each from a fresh policy (one start-up of 2 ranks serves
  all three).
"""

from __future__ import annotations

import json

import pytest
import torch

from tests.scaleout.launch_child import launch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def parts(tiny_model, tmp_path_factory):
    one, two = tmp_path_factory.mktemp("parts1"), tmp_path_factory.mktemp("parts2")
    launch("fsdp_parts_child.py", "sync,lora", tiny_model, one)
    launch("fsdp_parts_child.py", "sync,lora", tiny_model, two, ranks=2)
    return one, two


@pytest.mark.parametrize("mode", ["sync", "lora"])
def test_sync_streams_full_weights_into_each_ranks_sampler(parts, mode):
    one, two = (torch.load(d / f"{mode}.pt") for d in parts)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    expected, synced = two["expected"], two["synced"]
    assert synced.keys() == expected.keys()
    names = [k for k in expected if "lora_" in k] if mode == "lora" else list(expected)
    assert names
    for name in names:
        torch.testing.assert_close(synced[name], expected[name], atol=0, rtol=0, msg=name)
    # the sharded rank held about half the parameters (uneven dim-0 chunks), and the sync moved real values
    assert 0.45 < two["local_numel"] / one["local_numel"] < 0.55
    assert torch.equal(one["expected"][names[0]], expected[names[0]])


@pytest.mark.parametrize("mode", ["sync", "lora"])
def test_shared_hf_sampler_generates_from_the_sharded_module(parts, mode):
    one, two = (torch.load(d / f"{mode}.pt") for d in parts)
    assert two["tokens"] == one["tokens"]  # rank 0's 3 problems; rank 1 decoded only 1 meanwhile
    assert len(two["tokens"]) == 3 and all(len(t) == 6 for g in two["tokens"] for t in g)
    assert two["still_sharded"]  # generation_weights handed the shards back


def test_a_reference_pass_leaves_the_frozen_reference_sharded(parts):
    """FSDP2 keeps the root group (embeddings, final norm, head) gathered after a forward, for the backward that
    follows; the frozen reference has none, so without a reshard that memory stayed held for the whole run."""
    one, two = (torch.load(d / "sync.pt") for d in parts)
    assert two["reference_sharded"] is True
    assert one["reference_sharded"] is False  # one process: nothing sharded (the check itself can say no)


OPTIONS = [{"cpu_offload": True}, {"param_dtype": "bfloat16"}]  # train.fsdp settings of test_fsdp_options_step


@pytest.fixture(scope="module")
def steps(tiny_model, tmp_path_factory):
    """The one-process reference, the first sharded step (and its OPTIONS variants) with its checkpoint, and that
    checkpoint resumed on 2 ranks and in one process: out/*.pt, the checkpoint in run (run-<keys> per variant)."""
    out, run = tmp_path_factory.mktemp("steps"), tmp_path_factory.mktemp("run")
    launch("fsdp_train_child.py", "reference", tiny_model, out)
    first = launch("fsdp_train_child.py", "first", tiny_model, out, run, *map(json.dumps, OPTIONS), ranks=2)
    launch("fsdp_train_child.py", "resume", tiny_model, out, run, ranks=2)
    launch("fsdp_train_child.py", "resume", tiny_model, out, run)  # the same 2-rank checkpoint, one process
    (out / "first.stderr").write_text(first.stderr)
    return out, run


def _assert_params_close(got: dict, want: dict, atol: float = 1e-5) -> None:
    assert got.keys() == want.keys()
    for name, value in want.items():
        torch.testing.assert_close(got[name], value, atol=atol, rtol=0, msg=lambda m, name=name: f"{name}: {m}")


def test_sharded_step_equals_one_process(steps):
    out, _ = steps
    ref, first = torch.load(out / "reference.pt"), torch.load(out / "first.pt")
    assert first["world_size"] == 2
    _assert_params_close(first["after1"], ref["after1"])
    assert first["norm1"] == pytest.approx(ref["norm1"], rel=1e-5)
    assert ref["norm1"] > 0.5  # clipping to 0.5 acted, so the sharded norm had to be right
    moved = max((ref["after1"][k] - ref["after2"][k]).abs().max().item() for k in ref["after1"])
    assert moved > 1e-4  # the second step really changed the weights


def test_the_value_head_pass_gives_fsdp_no_view_output(steps):
    """The step's forward reads hidden states for the value head; FSDP2 warns when the root returns a view (an
    in-place op on it would skip the all-gather): that warning would tell every PPO user their gradients may be
    wrong."""
    out, _ = steps
    stderr = (out / "first.stderr").read_text()
    assert "returned a view tensor" not in stderr, stderr[-2000:]


@pytest.mark.parametrize("ranks", [2, 1])
def test_sharded_checkpoint_resumes_on_two_ranks_and_on_one(steps, ranks):
    out, _ = steps
    ref, first, resumed = (torch.load(out / f) for f in ("reference.pt", "first.pt", f"resume-{ranks}.pt"))
    assert resumed["world_size"] == ranks
    _assert_params_close(resumed["loaded"], first["after1"], atol=0)  # weights restored exactly
    _assert_params_close(resumed["after2"], ref["after2"])  # optimizer state restored: the next step matches
    assert resumed["norm2"] == pytest.approx(ref["norm2"], rel=1e-5)


def test_export_loads_through_the_eval_loader(steps):
    from rlvr.flows.eval_report import open_sampler
    from rlvr.flows.eval_target import eval_config, resolve_target

    out, run = steps
    first = torch.load(out / "first.pt")
    target = resolve_target(run / "checkpoints" / "step-1")
    assert target.checkpoint is not None and not target.is_adapter
    cfg = eval_config(target)  # the checkpoint's own run config, as `rlvr eval` reads it
    with open_sampler(target, cfg) as sampler:
        loaded = dict(sampler.model.named_parameters())
        for name, value in first["after1"].items():
            if not name.startswith("value_head."):
                torch.testing.assert_close(loaded[name].detach(), value, atol=0, rtol=0, msg=name)
        assert len(sampler.logprobs_of([[5, 6, 7]])[0]) == 2


@pytest.mark.parametrize("options, atol, rel", [
    (OPTIONS[0], 1e-5, 1e-5),  # shards, grads and AdamW state in host memory: the same step
    # bf16 gathered weights and compute: Adam's normalised step moves each weight by about lr (1e-3), so a
    # weight whose tiny gradient changes sign under bf16 can differ by up to 2 * lr
    (OPTIONS[1], 2.1e-3, 2e-2),
], ids=["cpu_offload", "bf16_params"])
def test_fsdp_options_step(steps, options, atol, rel):
    out, run = steps
    keys = "-".join(sorted(options))
    ref, got = torch.load(out / "reference.pt"), torch.load(out / f"first-{keys}.pt")
    assert got["world_size"] == 2
    _assert_params_close(got["after1"], ref["after1"], atol=atol)
    assert got["norm1"] == pytest.approx(ref["norm1"], rel=rel)
    assert (run.with_name(f"{run.name}-{keys}") / "checkpoints" / "step-1" / "sharded" / ".metadata").is_file()
