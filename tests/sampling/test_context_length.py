"""How long a context the model takes, and completions cut by it. `sampler.max_model_len` past the model's positions
is refused the way vLLM refuses it, by both backends; a `max_tokens` that does not fit beside the prompts is said
once at the start of a run (the samplers end such completions where the context ends, without a word)."""

from __future__ import annotations

import types

import pytest
from transformers import GPT2Config, Qwen2Config

from rlvr.sampling.errors import SamplerError
from rlvr.sampling.factory import make_sampler
from tests.sampling.sampling_helpers import cfg_for, load_policy

ROPE = {"rope_theta": 10000.0}
CONFIGS = {
    "no scaling": Qwen2Config(max_position_embeddings=2048),
    "linear RoPE x4: 4x the positions": Qwen2Config(max_position_embeddings=2048,
                                                    rope_parameters={**ROPE, "rope_type": "linear", "factor": 4.0}),
    "yarn x4: max_position_embeddings is already scaled": Qwen2Config(
        max_position_embeddings=2048, rope_parameters={**ROPE, "rope_type": "yarn", "factor": 4.0,
                                                       "original_max_position_embeddings": 512}),
    "absolute positions (gpt2's n_positions)": GPT2Config(n_positions=1024),
}


def _vllm_limit(config) -> int:
    """The context vLLM derives for `config` (what its engine start-up checks sampler.max_model_len against)."""
    import vllm.config  # noqa: F401 - imported first: the convertor's module imports back into it
    from vllm.config.model import _get_and_verify_max_len
    from vllm.transformers_utils.model_arch_config_convertor import ModelArchConfigConvertorBase

    derived = ModelArchConfigConvertorBase(config, config.get_text_config()).derive_max_model_len_and_key()
    arch = types.SimpleNamespace(derived_max_model_len_and_key=derived)
    return _get_and_verify_max_len(config, arch, None, None, False, None)


@pytest.mark.parametrize("case", list(CONFIGS))
def test_the_limit_is_the_one_vllm_derives(case):
    from rlvr.sampling.preflight import context_problem

    config = CONFIGS[case]
    limit = _vllm_limit(config)
    assert context_problem(config, limit) is None
    refused = context_problem(config, limit + 1)
    assert refused is not None and refused.endswith(f"set sampler.max_model_len to {limit} or less"), refused


def test_the_hf_backend_refuses_a_context_past_the_models_positions(tiny_dir, tokenizer):
    """It ran past them without a word (the tiny model has 2048 positions)."""
    with pytest.raises(SamplerError, match=r"^sampler.max_model_len=4096 is longer than the model takes: its "
                                           r"config.json has max_position_embeddings=2048"):
        make_sampler(cfg_for("hf", max_model_len=4096), tiny_dir, tokenizer, model=load_policy(tiny_dir))
    make_sampler(cfg_for("hf", max_model_len=2048), tiny_dir, tokenizer, model=load_policy(tiny_dir)).close()


def test_a_max_tokens_that_the_context_cuts_is_said_with_the_longest_completion_there_can_be():
    from rlvr.sampling.prompts import capped_completions

    assert capped_completions([24, 124], 900, 1024, "sampler.params") is None  # fits beside the longest prompt
    assert capped_completions([24, 124], 4096, 1024, "sampler.params") == (
        "sampler.params.max_tokens=4096 does not fit in sampler.max_model_len=1024 beside the prompts: a completion "
        "ends at max_model_len minus its prompt, at most 1000 tokens (after the shortest prompt, 24 tokens) and 900 "
        "after the longest (124); raise sampler.max_model_len to 4220 (or lower max_tokens to 900) so that the "
        "context cuts no completion")


@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_a_training_run_says_it_once_before_any_step(backend, warm_model, tmp_path):
    """The audit's `rlvr train -c gsm8k.yaml sampler.params.max_tokens=4096`: exit 0, truncation_rate 0.625, no
    line saying why. The Trainer checks its prompts once, as it starts (not at each step)."""
    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.run_config import validate_config

    cfg = validate_config({
        "model": {"path": "tiny"}, "task": {"name": "arith", "level": 1}, "verify": {"workers": 1},
        "sampler": {"backend": backend, "dtype": "float32", "params": {"max_tokens": 4096}},
        "train": {"steps": 1, "prompts_per_step": 2, "grpo": {"group_size": 2}, "checkpoint": {"dir": str(tmp_path)}},
    })
    said = []
    trainer = Trainer(cfg, resume=False, log=said.append)
    trainer.close()
    capped = [line for line in said if "max_tokens=4096 does not fit" in line]
    assert len(capped) == 1 and capped[0].startswith("warning: sampler.params.max_tokens=4096 does not fit in "
                                                     "sampler.max_model_len=1024 beside the prompts"), said


def test_vllms_own_refusal_says_which_setting(tiny_dir, tokenizer):
    """Outside a flow (a script building a sampler) vLLM's start-up refuses it; the error names the setting first."""
    from rlvr.sampling.vllm_backend import VLLMSampler

    with pytest.raises(SamplerError, match=r"^sampler.max_model_len is longer than the model takes \(lower it\): "
                                           r"User-specified max_model_len \(4096\) is greater than the derived "
                                           r"max_model_len \(max_position_embeddings=2048.0 or model_max_length=None "
                                           r"in model's config.json\)$"):
        VLLMSampler(cfg_for("vllm", max_model_len=4096), tiny_dir, tokenizer=tokenizer)
