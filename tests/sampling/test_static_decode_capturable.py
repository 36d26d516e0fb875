"""The decode step that a CUDA graph captures (static_decode `_Batch.step`) must not sync with the host or read
host data: under capture such an op raises, and the sampler falls back to the slow eager loop. No GPU here, so
the step's aten ops are read on CPU (a TorchDispatchMode sees each op a CUDA run would launch) and the ones that
cannot be captured are named: a value read back to Python (.item(), bool(), .tolist()), an output sized by the
data (nonzero, masked_select, boolean indexing, unique), a tensor made from Python data (torch.tensor(...), an
H2D copy on a GPU). Run through the real sampler on the trainer's kinds of module: each family, a PEFT LoRA
model, and the mixed-precision module under autocast."""

from __future__ import annotations

import time

import pytest
import torch
from peft import LoraConfig, get_peft_model
from rlvr.sampling import static_decode
from rlvr.sampling.config import SamplingParams
from rlvr.sampling.factory import make_sampler
from rlvr.sampling.prompts import prompt_token_ids
from rlvr.trainers.precision import autocast_forward
from torch.utils._python_dispatch import TorchDispatchMode

from tests.sampling.sampling_helpers import cfg_for, load_policy
from tests.sampling.test_static_decode import FAMILY, PROMPTS

aten = torch.ops.aten
_READ_BACK = "a value read back to the host (.item(), bool(), int())"
# under inference mode (as the sampler decodes) .item() and bool() reach the mode as themselves, else decomposed
_HOST_SYNC = {aten._local_scalar_dense.default: _READ_BACK, aten.item.default: _READ_BACK,
              aten.is_nonzero.default: _READ_BACK, aten.equal.default: "torch.equal, a Python bool"}
_DATA_SIZED = {aten.nonzero.default, aten.masked_select.default, aten._unique2.default, aten.unique_dim.default,
               aten.unique_consecutive.default, aten.repeat_interleave.Tensor}
_HOST_DATA = {aten.lift_fresh.default, aten.lift_fresh_copy.default}


class Uncapturable(TorchDispatchMode):
    """Names every op that a CUDA graph capture refuses."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in _HOST_SYNC:
            self.found.append(f"{func}: {_HOST_SYNC[func]}")
        elif func in _DATA_SIZED:
            self.found.append(f"{func}: output sized by the data")
        elif func in _HOST_DATA:
            self.found.append(f"{func}: a tensor made from Python data")
        elif func in (aten.index.Tensor, aten.index_put.default, aten.index_put_.default) and any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1]):
            self.found.append(f"{func}: boolean indexing")
        return func(*args, **(kwargs or {}))


@pytest.fixture
def checked_steps(monkeypatch):
    """Every decode step the sampler runs goes through the real `_Batch.step` inside an `Uncapturable` mode;
    the findings of all steps, and how many steps ran."""
    record = {"found": [], "steps": 0}
    step = static_decode._Batch.step

    def checked(batch):
        with Uncapturable() as mode:
            out = step(batch)
        record["found"] += mode.found
        record["steps"] += 1
        return out

    monkeypatch.setattr(static_decode._Batch, "step", checked)
    return record


def _decode(model, prompts, tokenizer_dir, tokenizer):
    sampler = make_sampler(cfg_for("hf", hf_decode="static"), tokenizer_dir, tokenizer, model=model)
    try:
        params = SamplingParams(max_tokens=6, min_tokens=6, seed=0)
        return sampler._generate_rows(prompts, 2, params, time.monotonic() + 120)
    finally:
        sampler.close()


@pytest.mark.parametrize("family", sorted(FAMILY))
def test_the_step_of_every_family_can_be_captured(family, checked_steps, tiny_dir, tokenizer):
    torch.manual_seed(0)
    rows = _decode(FAMILY[family]().eval(), PROMPTS, tiny_dir, tokenizer)
    assert all(len(r.tokens) == 6 for r in rows)
    assert checked_steps["steps"] == 5  # the first token comes from the prefill
    assert checked_steps["found"] == []


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_the_step_of_the_trainers_mixed_precision_module_can_be_captured(lora, checked_steps, tiny_dir, tokenizer,
                                                                         problems):
    model = autocast_forward(load_policy(tiny_dir), torch.bfloat16)  # as Policy.from_config makes bf16_mixed
    if lora:
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1,
                                                 target_modules=["q_proj", "v_proj", "down_proj"]))
    _decode(model.train(), [prompt_token_ids(tokenizer, p) for p in problems], tiny_dir, tokenizer)
    assert checked_steps["steps"] == 5
    assert checked_steps["found"] == []


@pytest.mark.parametrize("inference", [False, True], ids=["grad", "inference"])
def test_the_check_names_what_a_capture_would_refuse(inference):
    """The detector itself: each kind of op it exists to catch is named, in and out of inference mode."""
    x = torch.arange(6.0)
    with torch.inference_mode(inference), Uncapturable() as mode:
        x.sum().item()
        x[x > 2]
        torch.tensor([1, 2])
        if x.max():
            pass
    kinds = " | ".join(mode.found)
    assert kinds.count("read back to the host") == 2, kinds  # .item() and the `if`
    for what in ("boolean indexing", "made from Python data"):
        assert what in kinds, kinds
