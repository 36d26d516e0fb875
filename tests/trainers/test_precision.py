"""Precision choices: bf16_mixed keeps fp32 weights and optimizer state and computes matmuls in bf16 (also in
the frozen reference), pure bf16 keeps bf16 weights, fp32 is untouched; a training step runs under each; the
`auto` default resolves per device."""

from __future__ import annotations

import pytest
import torch

from rlvr.trainers.config import ModelConfig
from rlvr.trainers.logprobs import make_batch, token_logprobs
from rlvr.trainers.policy import Policy
from rlvr.trainers.precision import autocast_dtype, precision_name

PROMPTS = [[5, 6, 7, 8], [9, 10, 11]]
COMPLETIONS = [[20, 21, 22], [23, 24, 25, 26]]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from rlvr.trainers.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("precision") / "tiny", seed=0)


def _load(tiny_dir, **model) -> Policy:
    return Policy.from_config(ModelConfig(path=str(tiny_dir), **model), need_reference=True)


def _linear_output_dtypes(module, run) -> set[torch.dtype]:
    seen = set()
    hooks = [m.register_forward_hook(lambda _m, _a, out: seen.add(out.dtype))
             for m in module.modules() if isinstance(m, torch.nn.Linear)]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return seen


def _one_step(policy: Policy) -> torch.Tensor:
    """A policy-gradient-shaped step: maximise the completions' log-probs, AdamW."""
    opt = torch.optim.AdamW(policy.trainable_parameters(), lr=1e-3)
    batch = make_batch(PROMPTS, COMPLETIONS, policy.pad_id)
    logp, mask = token_logprobs(policy.model, batch)
    loss = -(logp * mask).sum() / mask.sum()
    loss.backward()
    opt.step()
    return loss.detach()


@pytest.mark.parametrize("setting, device, weights, expected", [
    ("auto", "cpu", torch.float32, None),  # CPU: fp32 stays the default (no bf16 matmul units on most CPUs)
    ("auto", "cuda", torch.float32, torch.bfloat16),  # CUDA default: bf16_mixed
    ("auto", "cuda:1", torch.bfloat16, None),  # pure bf16 weights: nothing to autocast
    ("bfloat16", "cpu", torch.float32, torch.bfloat16),  # asked for: mixed on CPU too
    ("bfloat16", "cuda", torch.bfloat16, None),
    ("off", "cuda", torch.float32, None),  # fp32 on a GPU when asked
])
def test_autocast_resolution(setting, device, weights, expected):
    assert autocast_dtype(setting, device, weights) == expected


def test_bf16_mixed_keeps_fp32_weights_and_computes_in_bf16(tiny_dir):
    policy = _load(tiny_dir, autocast="bfloat16")
    batch = make_batch(PROMPTS, COMPLETIONS, policy.pad_id)
    assert _linear_output_dtypes(policy.model, lambda: token_logprobs(policy.model, batch)) == {torch.bfloat16}
    with policy.reference() as ref:  # the frozen copy computes in the same precision
        assert _linear_output_dtypes(ref, lambda: token_logprobs(ref, batch)) == {torch.bfloat16}
    before = [p.detach().clone() for p in policy.trainable_parameters()]
    loss = _one_step(policy)
    params = policy.trainable_parameters()
    assert torch.isfinite(loss)
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in params)
    assert any(not torch.equal(a, p) for a, p in zip(before, params))
    # the log-probs are close to fp32's: bf16 matmuls, fp32 reductions
    fp32 = _load(tiny_dir)
    with torch.no_grad():
        mixed_logp = token_logprobs(_load(tiny_dir, autocast="bfloat16").model, batch)[0]
        full_logp = token_logprobs(fp32.model, batch)[0]
    assert mixed_logp.dtype == torch.float32
    torch.testing.assert_close(mixed_logp, full_logp, atol=5e-2, rtol=0)


def test_the_precision_follows_the_training_device_when_the_model_is_built_elsewhere(tiny_dir):
    """FSDP builds the policy in host memory and shards it onto the GPU: `auto` must resolve for the GPU
    (bf16_mixed), not for the host it was loaded on (fp32)."""
    policy = Policy.from_config(ModelConfig(path=str(tiny_dir), device="cuda"), build_on="cpu")
    assert policy.device.type == "cpu" and policy.precision == "bf16_mixed"


def test_the_autocast_runs_on_the_device_the_module_is_on_at_each_call(tiny_dir):
    """The wrapped forward autocasts for the device the parameters are on when it runs, not when it was wrapped
    (a module wrapped before FSDP moved it would otherwise autocast for the wrong device, i.e. not at all)."""
    from transformers import AutoModelForCausalLM

    from rlvr.trainers.precision import autocast_forward

    from transformers import AutoConfig

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(tiny_dir))
    autocast_forward(model, torch.bfloat16)  # wrapped while on the meta device
    model = model.to_empty(device="cpu")
    model.load_state_dict(AutoModelForCausalLM.from_pretrained(tiny_dir).state_dict(), assign=True)
    batch = make_batch(PROMPTS, COMPLETIONS, 0)
    assert _linear_output_dtypes(model, lambda: token_logprobs(model, batch)) == {torch.bfloat16}


@pytest.mark.parametrize("model, weights", [({}, torch.float32), ({"dtype": "bfloat16"}, torch.bfloat16)])
def test_fp32_and_pure_bf16_configs_load_as_before(tiny_dir, model, weights):
    policy = _load(tiny_dir, **model)  # old configs: dtype only, autocast auto (off on CPU)
    batch = make_batch(PROMPTS, COMPLETIONS, policy.pad_id)
    assert _linear_output_dtypes(policy.model, lambda: token_logprobs(policy.model, batch)) == {weights}
    assert torch.isfinite(_one_step(policy))
    assert all(p.dtype == weights for p in policy.trainable_parameters())


def test_a_bare_yaml_off_means_off():
    from rlvr.trainers.run_config import load_config

    assert ModelConfig.model_validate({"autocast": False}).autocast == "off"  # what YAML makes of `autocast: off`
    cfg = load_config(None, ["model.autocast=off"])
    assert cfg.model.autocast == "off"


@pytest.mark.parametrize("weights, compute, name", [
    (torch.float32, None, "fp32"), (torch.float32, torch.bfloat16, "bf16_mixed"), (torch.bfloat16, None, "bf16"),
    (torch.float32, torch.float16, "fp16_mixed"), (torch.float16, None, "float16"),
])
def test_precision_names(weights, compute, name):
    assert precision_name(weights, compute) == name


def test_the_trainer_says_what_it_trains_and_how_it_samples(tmp_path, warm_model):
    """One start-up line with what `auto` resolved to: device, precision, the sampler's choices."""
    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.run_config import validate_config

    for i, (model, expected) in enumerate((
        ({}, "training all weights on cpu in fp32; sampler: hf on cpu: the policy's own module, fixed-shape decode"),
        ({"autocast": "bfloat16", "lora": {"r": 4, "alpha": 8}},
         "training a LoRA adapter (r 4) on cpu in bf16_mixed; sampler: hf on cpu: the policy's own module, "
         "fixed-shape decode"),
    )):
        cfg = validate_config({"model": {"path": "tiny", **model}, "task": {"name": "arith", "level": 1},
                               "sampler": {"backend": "hf"}, "verify": {"workers": 1},
                               "train": {"steps": 1, "checkpoint": {"dir": str(tmp_path / str(i))}}})
        lines = []
        Trainer(cfg, resume=False, log=lines.append).close()
        assert expected in lines, lines
