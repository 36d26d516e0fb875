"""Policy wrapper: LoRA reference = base model, frozen copy for full FT, sync tensors, save/load."""

import pytest
import torch
from safetensors.torch import load_file

from rlvr.trainers.config import LoraConfig
from rlvr.trainers.logprobs import make_batch, token_logprobs
from rlvr.trainers.policy import Policy

LORA = LoraConfig(r=4, alpha=8, target_modules=["q_proj", "v_proj", "up_proj"])
IDS = torch.tensor([[1, 2, 3, 4, 5, 6]])


def _logits(model):
    with torch.no_grad():
        return model(input_ids=IDS).logits


def _perturb_adapter(policy, seed=1):
    """PEFT starts lora_B at zero (policy == base); give it weights so the test can tell them apart."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)


def test_lora_reference_equals_the_base_model(tiny_lm):
    base_logits = _logits(tiny_lm())
    policy = Policy(tiny_lm(), lora=LORA)
    _perturb_adapter(policy)
    assert not torch.allclose(_logits(policy.model), base_logits, atol=1e-3)
    with policy.reference() as ref:
        torch.testing.assert_close(_logits(ref), base_logits)
    assert policy.reference_passes == 1
    torch.testing.assert_close(_logits(policy.model), _logits(policy.model))  # adapter back on
    assert not torch.allclose(_logits(policy.model), base_logits, atol=1e-3)


def test_lora_trains_only_the_adapter(tiny_lm):
    policy = Policy(tiny_lm(), lora=LORA)
    names = [n for n, p in policy.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    assert len(policy.trainable_parameters()) == len(names)


def test_full_finetuning_reference_is_a_frozen_copy_made_at_construction(tiny_lm):
    policy = Policy(tiny_lm(), need_reference=True)
    before = _logits(policy.model)
    with torch.no_grad():
        for p in policy.model.parameters():
            p.add_(0.05)
    with policy.reference() as ref:
        torch.testing.assert_close(_logits(ref), before)
        assert not any(p.requires_grad for p in ref.parameters())


def test_full_finetuning_without_reference_refuses(tiny_lm):
    policy = Policy(tiny_lm())
    assert not policy.has_reference
    with pytest.raises(RuntimeError):
        with policy.reference():
            pass


def test_full_sync_names_match_the_hf_checkpoint(tiny_lm, tmp_path):
    policy = Policy(tiny_lm())
    policy.model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    sync = policy.state_dict_for_sync()
    assert set(sync) == set(saved)  # tied lm_head.weight omitted, as in the checkpoint
    for name, tensor in saved.items():
        torch.testing.assert_close(sync[name], tensor)


def test_lora_sync_adapter_and_merged(tiny_lm):
    policy = Policy(tiny_lm(), lora=LORA)
    _perturb_adapter(policy)
    adapter = policy.state_dict_for_sync()
    assert adapter and all(".lora_A." in k or ".lora_B." in k for k in adapter)
    assert all(k.startswith("base_model.model.") for k in adapter)
    merged = policy.state_dict_for_sync(merged=True)
    fresh = tiny_lm()
    assert set(merged) == set(fresh.state_dict()) - {"lm_head.weight"}
    fresh.load_state_dict(merged, strict=False)
    torch.testing.assert_close(_logits(fresh), _logits(policy.model), atol=1e-5, rtol=1e-5)


def test_lora_save_and_load_round_trip(tiny_lm, tmp_path):
    policy = Policy(tiny_lm(), lora=LORA, value_head=True)
    _perturb_adapter(policy)
    with torch.no_grad():
        policy.value_head.linear.bias.fill_(0.25)
    policy.save(tmp_path / "ckpt")
    restored = Policy(tiny_lm(), lora=LORA, value_head=True)
    restored.load(tmp_path / "ckpt")
    torch.testing.assert_close(_logits(restored.model), _logits(policy.model))
    assert restored.value_head.linear.bias.item() == 0.25


def test_full_save_and_load_round_trip(tiny_lm, tmp_path):
    policy = Policy(tiny_lm())
    with torch.no_grad():
        for p in policy.model.parameters():
            p.mul_(1.1)
    policy.save(tmp_path / "ckpt")
    restored = Policy(tiny_lm())
    params_before = [id(p) for p in restored.model.parameters()]
    restored.load(tmp_path / "ckpt")
    assert [id(p) for p in restored.model.parameters()] == params_before  # optimizer stays valid
    torch.testing.assert_close(_logits(restored.model), _logits(policy.model))


def test_lora_policy_logprobs_go_through_peft(tiny_lm):
    policy = Policy(tiny_lm(), lora=LORA)
    batch = make_batch([[1, 2, 3], [7]], [[4, 5], [8, 9, 10]], pad_id=0)
    logp, _ = token_logprobs(policy.model, batch)
    with torch.no_grad():  # a fresh adapter (lora_B = 0) changes nothing; padding and positions pass through PEFT
        torch.testing.assert_close(logp.detach(), token_logprobs(tiny_lm(), batch)[0], atol=1e-5, rtol=1e-5)
    logp.sum().backward()
    grads = [p.grad for n, p in policy.model.named_parameters() if "lora_A" in n]
    assert all(g is not None for g in grads)


def _save_model_dir(model, path):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {f"t{i}": i for i in range(model.config.vocab_size)}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="t1")), pad_token="t0")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_from_config_loads_a_local_directory_with_lora(tiny_lm, tmp_path):
    from rlvr.trainers.config import ModelConfig

    path = _save_model_dir(tiny_lm(), tmp_path / "base")
    cfg = ModelConfig(path=str(path), lora=LORA, dtype="float32", gradient_checkpointing=True)
    policy = Policy.from_config(cfg)
    assert policy.is_lora and policy.pad_id == 0 and policy.base_path == str(path)
    with policy.reference() as ref:
        torch.testing.assert_close(_logits(ref), _logits(tiny_lm()))
    policy.train()
    logp, _ = token_logprobs(policy.model, make_batch([[1, 2]], [[3, 4]], policy.pad_id))
    logp.sum().backward()  # gradient checkpointing on, LoRA gradients still flow
    assert any(p.grad is not None for p in policy.trainable_parameters())


def test_from_config_full_finetuning_bfloat16(tiny_lm, tmp_path):
    from rlvr.trainers.config import ModelConfig

    path = _save_model_dir(tiny_lm(), tmp_path / "base")
    policy = Policy.from_config(ModelConfig(path=str(path), dtype="bfloat16"), need_reference=True)
    assert next(policy.model.parameters()).dtype == torch.bfloat16
    logp, _ = token_logprobs(policy.model, make_batch([[1, 2]], [[3, 4]], policy.pad_id))
    assert logp.dtype == torch.float32 and torch.isfinite(logp).all()


def test_fsdp_builds_read_weights_once_and_hold_one_copy(tiny_lm, tmp_path):
    """For FSDP, rank 0 builds in host memory with its frozen reference as structure only (no second copy of the
    weights), and the other ranks build on the meta device from a folder that need not hold the weights at all;
    `fsdp.shard_policy` then fills them all from rank 0's copy (tests/scaleout)."""
    from rlvr.trainers.config import ModelConfig

    model = tiny_lm()
    model.generation_config.eos_token_id = 7  # only generation_config.json says so (the config does not)
    path = _save_model_dir(model, tmp_path / "base")
    cfg = ModelConfig(path=str(path), dtype="float32", autocast="bfloat16")
    rank0 = Policy.from_config(cfg, need_reference=True, value_head=True, build_on="cpu")
    assert all(p.device.type == "cpu" for p in rank0.model.parameters())
    reference = rank0._reference
    assert all(t.is_meta for t in (*reference.parameters(), *reference.buffers()))
    assert [n for n, _ in reference.named_parameters()] == [n for n, _ in rank0.model.named_parameters()]
    assert reference.lm_head.weight is reference.model.embed_tokens.weight  # tied as in the policy
    assert reference.rlvr_autocast_dtype == torch.bfloat16 and not reference.training

    for weights in path.glob("*.safetensors"):
        weights.unlink()  # the other ranks read config and tokenizer only
    other = Policy.from_config(cfg, need_reference=True, value_head=True, build_on="meta")
    modules = (other.model, other._reference, other.value_head)
    assert all(t.is_meta for m in modules for t in (*m.parameters(), *m.buffers()))
    assert other.model.generation_config.eos_token_id == rank0.model.generation_config.eos_token_id == 7
    assert not other.model.training  # as from_pretrained leaves it
    assert other.tokenizer is not None and other.pad_id == rank0.pad_id


def test_a_lora_target_the_model_lacks_is_a_config_error_naming_its_linear_layers(tiny_lm):
    """Was: peft's NoMatchingPeftModuleError, exit 1 (and an empty list the same); a typo is input to fix."""
    from pydantic import ValidationError

    from rlvr.trainers.run_config import ConfigError

    with pytest.raises(ConfigError, match=r"model.lora.target_modules: no module named 'qproj' in this model \(its "
                                          r"linear layers: .*q_proj.*\)"):
        Policy(tiny_lm(), lora=LoraConfig(r=4, target_modules=["q_proj", "qproj"]))
    with pytest.raises(ValidationError, match="at least 1 item"):
        LoraConfig(target_modules=[])
    Policy(tiny_lm(), lora=LoraConfig(r=4, target_modules=["self_attn.q_proj"]))  # a dotted suffix names modules too
