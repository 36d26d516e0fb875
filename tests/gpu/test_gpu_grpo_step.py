"""One GRPO step in bf16 mixed precision on CUDA does what the fp32 step on CPU does, on the same completions
and rewards (a replaying sampler), and the hf sampler runs on the policy's device with its own parameters.

Tolerances (bf16 has an 8-bit mantissa: ~0.4% per rounding, matmul outputs carry ~1e-2 relative error):
- gradient norm before clipping: within 3% of fp32's;
- the step's change of every completion token's log-prob (after - before, each measured in its own precision):
  cosine similarity >= 0.98 with fp32's change, relative L2 difference <= 0.15 (CPU bf16 autocast: 1.000 and
  0.008, grad norm 0.09% off, on the tiny random model).
AdamW's first step moves each weight by about lr * sign(gradient), so weights with near-zero gradients may move
the other way in bf16; the log-prob change, which sums over all weights, is what must agree.
The same comparison also runs CPU fp32 vs CPU bf16 autocast, so the check itself is exercised without a GPU."""

from __future__ import annotations

import pytest
import torch

from tests.gpu.gpu_helpers import ReplaySampler, cuda, trainer_config

LOGPROB_COSINE = 0.98
LOGPROB_REL_L2 = 0.15
GRAD_NORM_REL = 0.03


def _completion_logprobs(trainer, groups) -> torch.Tensor:
    from rlvr.trainers.logprobs import make_batch, token_logprobs

    prompts = [c.prompt_token_ids for g in groups for c in g.completions]
    completions = [c.token_ids for g in groups for c in g.completions]
    batch = make_batch(prompts, completions, trainer.policy.pad_id)
    with torch.no_grad():
        logp, mask = token_logprobs(trainer.policy.model, batch)
    return logp[mask.bool()].float().cpu()


def _one_step(model_dir, run_dir, replay, device, autocast):
    """(row of the step, per-token log-prob change of the step's completions)."""
    from rlvr.trainers.loop import Trainer

    trainer = Trainer(trainer_config(model_dir, run_dir, device=device, autocast=autocast), sampler=replay,
                      resume=False, log=lambda _m: None)
    try:
        problems = trainer.next_problems(4)
        trainer.cursor = 0  # run_step draws the same problems again
        groups = replay.generate(problems, 4, trainer.sampling_params())
        before = _completion_logprobs(trainer, groups)
        row = trainer.run_step()
        return row, _completion_logprobs(trainer, groups) - before
    finally:
        trainer.close()


@pytest.fixture(scope="module")
def reference_step(random_model, tmp_path_factory):
    """The fp32 step on CPU, and the replaying sampler it drew its completions from."""
    from rlvr.sampling.config import SamplerConfig
    from rlvr.sampling.hf_backend import HFSampler

    replay = ReplaySampler(HFSampler(SamplerConfig(backend="hf", timeout_s=120), random_model))
    row, delta = _one_step(random_model, tmp_path_factory.mktemp("cpu-fp32"), replay, "cpu", "off")
    assert row["grad_norm"] > 0, "the coin gave some group different rewards"
    yield row, delta, replay
    replay.close()


@pytest.mark.parametrize("device", [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not cuda, reason="needs a CUDA device")]),
])
def test_bf16_mixed_step_matches_the_fp32_cpu_step(device, reference_step, random_model, tmp_path):
    row32, delta32, replay = reference_step
    row, delta = _one_step(random_model, tmp_path, replay, device, "bfloat16")
    assert row["generated_tokens"] == row32["generated_tokens"], "both updated on the same completions"
    assert abs(row["grad_norm"] - row32["grad_norm"]) <= GRAD_NORM_REL * row32["grad_norm"]
    cosine = torch.nn.functional.cosine_similarity(delta, delta32, dim=0).item()
    rel = ((delta - delta32).norm() / delta32.norm()).item()
    print(f"\n{device} bf16_mixed vs cpu fp32: grad_norm {row['grad_norm']:.5f} vs {row32['grad_norm']:.5f}, cosine {cosine:.4f}, rel {rel:.4f}")
    assert cosine >= LOGPROB_COSINE and rel <= LOGPROB_REL_L2, (cosine, rel)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda, reason="needs a CUDA device")
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_the_hf_sampler_runs_on_the_policys_device_with_its_parameters(random_model, tmp_path, lora):
    from rlvr.trainers.loop import Trainer

    trainer = Trainer(trainer_config(random_model, tmp_path, device="cuda", autocast="auto", lora=lora),
                      resume=False, log=lambda _m: None)
    try:
        policy = trainer.policy.model
        assert trainer.sampler.model is policy and trainer.sampler.device.type == "cuda"
        # the first layer's MLP: both decode loops and the training forward call it (the fixed-shape decode calls
        # a layer's parts, not the layer); under graphs the hook fires while a step is captured
        base = policy.get_base_model() if lora else policy
        devices = []
        hook = base.model.layers[0].mlp.register_forward_hook(lambda _m, args, _o: devices.append(args[0].device.type))
        storage = [p.data_ptr() for p in policy.parameters()]
        adapter = {n: p.detach().clone() for n, p in policy.named_parameters() if p.requires_grad}
        try:
            row = trainer.run_step()
        finally:
            hook.remove()
        assert row["generated_tokens"] > 0 and len(devices) > 1 and set(devices) == {"cuda"}
        assert [p.data_ptr() for p in trainer.sampler.model.parameters()] == storage
        assert all(p.dtype == torch.float32 for p in policy.parameters()), "auto on CUDA = bf16 mixed: fp32 weights"
        if lora:  # the update trained the adapter alone, and the sampler holds it
            assert adapter and all("lora_" in n for n in adapter)
            assert any(not torch.equal(p, adapter[n]) for n, p in policy.named_parameters() if n in adapter)
    finally:
        trainer.close()


@pytest.mark.gpu
@pytest.mark.skipif(not cuda, reason="needs a CUDA device")
def test_an_unshared_hf_sampler_loads_its_copy_onto_the_policys_device(random_model, tmp_path):
    from rlvr.trainers.loop import Trainer

    cfg = trainer_config(random_model, tmp_path, device="cuda", autocast="auto")
    cfg = cfg.model_copy(update={"sampler": cfg.sampler.model_copy(update={"hf_share_model": False})})
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    try:
        assert trainer.sampler.model is not trainer.policy.model and trainer.sampler.device.type == "cuda"
        assert next(trainer.sampler.model.parameters()).dtype == torch.bfloat16  # auto: a float32 checkpoint on CUDA
        assert trainer.run_step()["generated_tokens"] > 0
    finally:
        trainer.close()


@pytest.mark.gpu
@pytest.mark.skipif(not cuda, reason="needs a CUDA device")
def test_the_graph_decode_and_the_training_forward_agree_on_log_probs(random_model, tmp_path):
    """bf16 mixed on CUDA: the sampler's recorded log-probs (fixed-shape decode, CUDA graphs) against the trainer's
    gradient pass, through grpo.sampler_correction's token weights: both are the same module, so the weights are
    the kernels' disagreement alone."""
    from rlvr.trainers.loop import Trainer

    cfg = trainer_config(random_model, tmp_path, device="cuda", autocast="auto")
    grpo = cfg.train.grpo.model_copy(update={"sampler_correction": "token_truncate"})
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"grpo": grpo})})
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    try:
        row = trainer.run_step()
        print(f"\nsampler/trainer token weights on cuda: mean {row['sampler_weight_mean']:.5f}, "
              f"ratio range {row['ratio_min']:.4f}..{row['ratio_max']:.4f}")
        assert 0.95 < row["sampler_weight_mean"] < 1.05, row
    finally:
        trainer.close()
