"""The dtype an hf sampler loads its own copy in (an evaluation, hf_share_model=false): `sampler.dtype: auto` keeps
the checkpoint's dtype, except a float32 checkpoint on CUDA, which loads in half precision as vLLM's auto does."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from rlvr.sampling.errors import SamplerError
from rlvr.sampling.hf_backend import HFSampler, auto_dtype
from tests.sampling.sampling_helpers import cfg_for

CPU, CUDA = torch.device("cpu"), torch.device("cuda:0")


@pytest.mark.parametrize("checkpoint, device, bf16_ok, expected", [
    (torch.float32, CPU, False, torch.float32),      # a CPU decodes fp32 checkpoints as saved
    (None, CPU, False, torch.float32),               # no dtype in config.json: transformers' float32
    (torch.bfloat16, CPU, False, torch.bfloat16),
    (torch.float32, CUDA, True, torch.bfloat16),     # vLLM: float32 -> the platform's first dtype (Ampere+: bf16)
    (None, CUDA, True, torch.bfloat16),
    (torch.float32, CUDA, False, torch.float16),     # before Ampere: float16
    (torch.float16, CUDA, True, torch.float16),      # a half-precision checkpoint keeps its dtype
    (torch.bfloat16, CUDA, True, torch.bfloat16),
])
def test_auto_dtype_follows_vllms_rule(checkpoint, device, bf16_ok, expected):
    assert auto_dtype(checkpoint, device, bf16_ok) == expected


def _dtype_of(sampler) -> torch.dtype:
    return next(sampler.model.parameters()).dtype


def test_auto_loads_the_checkpoints_dtype_on_cpu(tiny_dir, tokenizer, tmp_path):
    with HFSampler(cfg_for("hf", dtype="auto"), tiny_dir, tokenizer) as fp32:
        assert _dtype_of(fp32) == torch.float32
    bf16_dir = tmp_path / "bf16"
    AutoModelForCausalLM.from_pretrained(str(tiny_dir), dtype=torch.bfloat16).save_pretrained(bf16_dir)
    tokenizer.save_pretrained(bf16_dir)
    with HFSampler(cfg_for("hf", dtype="auto"), bf16_dir, tokenizer) as bf16:  # read from the checkpoint's config.json
        assert _dtype_of(bf16) == torch.bfloat16


def test_an_explicit_dtype_wins(tiny_dir, tokenizer):
    with HFSampler(cfg_for("hf", dtype="bfloat16"), tiny_dir, tokenizer) as sampler:
        assert _dtype_of(sampler) == torch.bfloat16


def test_a_device_string_that_is_no_device_is_one_sampler_error(tiny_dir, tokenizer):
    with pytest.raises(SamplerError, match=r"^sampler device 'gpu0' is not a device: "):
        HFSampler(cfg_for("hf"), tiny_dir, tokenizer, device="gpu0")
