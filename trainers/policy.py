"""The trained policy: a causal LM (optionally with a LoRA adapter), its reference, its value head.

- Load: `Policy.from_config(ModelConfig, path=..., need_reference=..., value_head=...)` reads a local
  HF directory or hub id (`"tiny"` = the bootstrapped offline model) with `AutoModelForCausalLM`, in
  the configured dtype, on the configured device, its forward under autocast when `model.autocast` asks for
  mixed precision (trainers/precision.py); `Policy(model, tokenizer, lora=...)` wraps a model already in memory.
- Reference policy: under LoRA it is the same model with the adapter disabled (`disable_adapter()`,
  no second copy, always available); under full fine-tuning it is a frozen deep copy taken at
  construction, and only when `need_reference=True` (GRPO with beta > 0, DPO, PPO with kl_coef > 0).
  `reference_passes` counts how often it was entered.
- Log-probs without gradient (pi_old, pi_ref, DPO's cached reference): `logprobs(batch, ...)`, the one no-grad
  pass every algorithm uses; micro-batched (prompt-shared where a group shares its prompt), split over DDP ranks.
- Sync: `state_dict_for_sync()` gives the sampler what it needs: HF-checkpoint-named full weights
  (LoRA merged in when `merged=True`), or the PEFT adapter tensors.
- Persistence: `save(dir)` writes the adapter (LoRA) or full weights + tokenizer into `dir`, a folder any HF
  loader (and vLLM) takes, and the value head beside it, in `dir`'s parent; `load(dir)` loads them back in place
  (the optimizer keeps pointing at the same parameters).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from rlvr.trainers.config import LoraConfig, ModelConfig
from rlvr.trainers.run_config import ConfigError
from rlvr.trainers.precision import autocast_dtype, autocast_forward, precision_name
from rlvr.trainers.segment_attention import checkpoint_context_fn
from rlvr.trainers.distributed import Dist
from rlvr.trainers.fsdp import is_sharded, lockstep_enumerate
from rlvr.trainers.logprobs import Batch, MicroBatchSize, to_device
from rlvr.trainers.shared_prompt import micro_batches
from rlvr.trainers.value_head import VALUE_HEAD_FILE, ValueHead, load_value_head, save_value_head

POLICY_FILE = "rlvr_policy.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def add_lora(model: nn.Module, lora: LoraConfig) -> nn.Module:
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    names = [name for name, _ in model.named_modules()]
    # peft's rule for a list of names: a module named so, or ending in `.<name>`
    if unknown := [t for t in lora.target_modules if not any(n == t or n.endswith("." + t) for n in names)]:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ConfigError(f"model.lora.target_modules: no module named {', '.join(map(repr, unknown))} in this model "
                          f"(its linear layers: {', '.join(linear)})")
    peft_cfg = PeftLoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules), task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_cfg)


def _structure_only(path: str, dtype: torch.dtype) -> nn.Module:
    """The causal LM of `path` on the meta device, as `from_pretrained` would set it up (config, generation
    config, eval mode) but without reading a weight. Its buffers (rotary frequencies) are meta too."""
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path), dtype=dtype)
    try:
        model.generation_config = GenerationConfig.from_pretrained(path)
    except OSError:  # no generation_config.json: from_pretrained keeps the one derived from the config too
        pass
    return model.eval()


def _structure_copy(model: nn.Module) -> nn.Module:
    """A deep copy of `model` whose parameters and buffers are on the meta device (no values copied; tied
    weights stay tied, wrappers such as the autocast forward are kept)."""
    memo = {}
    for tensor in (*model.parameters(), *model.buffers()):
        meta = tensor.to("meta")
        memo[id(tensor)] = nn.Parameter(meta, tensor.requires_grad) if isinstance(tensor, nn.Parameter) else meta
    return copy.deepcopy(model, memo)


class Policy:
    def __init__(
        self,
        model: nn.Module,
        tokenizer=None,
        *,
        lora: LoraConfig | None = None,
        need_reference: bool = False,
        value_head: bool = False,
        base_path: str | None = None,
        reference_values: bool = True,
    ):
        """Wrap `model` (a plain HF causal LM). With `lora`, an adapter is added here. `reference_values=False`:
        the frozen reference copy gets the structure only, on the meta device (FSDP fills it when it shards)."""
        self.tokenizer = tokenizer
        self.base_path = base_path
        self._reference = None
        if lora is None and need_reference:  # copy BEFORE any training step
            reference = copy.deepcopy(model) if reference_values else _structure_copy(model)
            self._reference = reference.requires_grad_(False).eval()
        self.model = add_lora(model, lora) if lora is not None else model
        self.value_head = None
        if value_head:
            hidden = self.base_model.config.hidden_size
            self.value_head = ValueHead(hidden).to(next(model.parameters()).device)
        self.reference_passes = 0

    @classmethod
    def from_config(
        cls, cfg: ModelConfig, *, path: str | None = None, need_reference: bool = False, value_head: bool = False,
        build_on: str | None = None,
    ) -> "Policy":
        """Load `path` (default: cfg.path, with 'tiny' resolved by `rlvr.trainers.bootstrap`) as cfg says.
        `build_on`: load the weights there instead of onto cfg.device (FSDP builds in host memory and shards onto
        cfg.device afterwards); the precision is still chosen for cfg.device, where the forwards will run.
        `build_on="meta"`: the model's structure only, from its config, no weights read (FSDP ranks other than 0,
        whose shards are then filled from rank 0's copy: `fsdp.shard_policy`). With `build_on` (FSDP) a frozen
        reference is built as structure only on every rank: `shard_policy` fills it from the policy's weights,
        so rank 0's host holds one copy of the model, not two."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if path is None:
            from rlvr.trainers.bootstrap import resolve_model_path

            path = resolve_model_path(cfg.path)
        if build_on == "meta":
            model = _structure_only(path, getattr(torch, cfg.dtype))
        else:  # a device as device_map: the weights are read straight onto it (no host copy on the way to a GPU)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, cfg.dtype),
                                                         device_map=torch.device(build_on or cfg.device))
        compute = autocast_dtype(cfg.autocast, cfg.device, model.dtype)
        if compute is not None:  # mixed precision: fp32 master weights, matmuls in `compute` (trainers/precision.py)
            autocast_forward(model, compute)
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={
                "use_reentrant": False, "context_fn": functools.partial(checkpoint_context_fn, model.config)})
        tokenizer = AutoTokenizer.from_pretrained(path)
        return cls(model, tokenizer, lora=cfg.lora, need_reference=need_reference, value_head=value_head, base_path=path,
                   reference_values=build_on is None)

    # ---- views -------------------------------------------------------------------------------
    @property
    def is_lora(self) -> bool:
        return hasattr(self.model, "peft_config")

    @property
    def base_model(self) -> nn.Module:
        """The HF causal LM (under LoRA: with the adapter layers injected)."""
        return self.model.get_base_model() if self.is_lora else self.model

    @property
    def pad_id(self) -> int:
        if self.tokenizer is not None and self.tokenizer.pad_token_id is not None:
            return int(self.tokenizer.pad_token_id)
        pad = getattr(self.base_model.config, "pad_token_id", None)
        return int(pad) if pad is not None else 0

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def precision(self) -> str:
        """fp32, bf16_mixed, bf16, ... (trainers/precision.py): the base weights' dtype and the forward's autocast."""
        base = self.base_model
        return precision_name(next(base.parameters()).dtype, getattr(base, "rlvr_autocast_dtype", None))

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters: the adapter (LoRA) or all weights, plus the value head."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.value_head is not None:
            params += list(self.value_head.parameters())
        return params

    def train(self, mode: bool = True) -> "Policy":
        self.model.train(mode)
        if self.value_head is not None:
            self.value_head.train(mode)
        return self

    # ---- reference -----------------------------------------------------------------------------
    @property
    def has_reference(self) -> bool:
        return self.is_lora or self._reference is not None

    @contextlib.contextmanager
    def reference(self) -> Iterator[nn.Module]:
        """The reference policy as a module, for use inside the `with` block only."""
        if not self.has_reference:
            raise RuntimeError("this Policy has no reference model: build it with need_reference=True")
        self.reference_passes += 1
        if self.is_lora:
            with self.model.disable_adapter():
                yield self.model
        else:
            try:
                yield self._reference
            finally:
                # FSDP2 keeps a root group gathered after its forward (the backward would gather it again at
                # once); the frozen reference has no backward, so its embeddings and head would stay whole
                if is_sharded(self._reference):
                    self._reference.reshard()

    @torch.no_grad()
    def logprobs(
        self, batch: Batch, micro_batch_size: int | MicroBatchSize, temperature: float = 1.0, *,
        reference: bool = False, dist: Dist = Dist(), share_prompts: bool = True,
    ) -> Tensor:
        """Log-probs [B, T] of `batch` under the policy (or its reference), without gradients, aligned with
        `batch` (rows in batch order, T = its longest completion). Micro-batches go through
        `shared_prompt.micro_batches` (a group's prompt computed once when `share_prompts`); under DDP they are
        split round-robin over ranks and summed, so every rank gets the whole tensor."""
        with self.reference() if reference else contextlib.nullcontext(self.model) as model:
            result = torch.zeros(batch.completion_mask.shape, dtype=torch.float32, device=self.device)
            # FSDP: a rank owning fewer micro-batches runs padding passes (every forward is a collective)
            for index, (rows, logp_of) in lockstep_enumerate(model, dist, micro_batches(batch, micro_batch_size, share_prompts)):
                if dist.owns(index):
                    logp = logp_of(model, temperature)
                    result[to_device(rows, result.device), : logp.shape[1]] = logp  # pinned, no wait on CUDA
        return dist.all_reduce_(result)

    # ---- sync and persistence ----------------------------------------------------------------
    def state_dict_for_sync(self, merged: bool = False) -> dict[str, Tensor]:
        """Tensors for the sampler (detached, on the training device).

        Full fine-tuning, or LoRA with `merged=True`: every weight under its HF checkpoint name
        (`model.layers.0.self_attn.q_proj.weight`; tied copies such as `lm_head.weight` omitted, as in
        the checkpoint), LoRA deltas `scale * B @ A` added in. LoRA with `merged=False`: the adapter
        tensors under PEFT names (`base_model.model.<module>.lora_A.weight`); `self.model.peft_config`
        holds their config (`rlvr.sampling.lora.LoraAdapter.from_peft(policy.model)` bundles both).
        """
        if not self.is_lora:
            return _dedupe(self.model.state_dict())
        if not merged:
            from peft import get_peft_model_state_dict

            return {k: v.detach() for k, v in get_peft_model_state_dict(self.model).items()}
        return _merged_state_dict(self.model)

    def save(self, directory: str | Path) -> Path:
        """The adapter (LoRA) or the full weights + tokenizer into `directory`; the value head (PPO) beside it, in
        `directory`'s parent: a checkpoint's `model/` holds the HF model alone, as vLLM loads every *.safetensors
        file it finds there."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory, safe_serialization=True)
        if self.tokenizer is not None and not self.is_lora:
            self.tokenizer.save_pretrained(directory)
        if self.value_head is not None:
            save_value_head(self.value_head, directory.parent)
        info = {"lora": self.is_lora, "base_path": self.base_path, "value_head": self.value_head is not None}
        (directory / POLICY_FILE).write_text(json.dumps(info, indent=2))
        return directory

    def load(self, directory: str | Path) -> None:
        """Load what `save(directory)` wrote into this policy's existing parameters. The value head is also found
        inside `directory`, where checkpoints written before it moved out of `model/` hold it."""
        directory = Path(directory)
        if self.is_lora:
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file

            result = set_peft_model_state_dict(self.model, load_file(directory / ADAPTER_WEIGHTS, device=str(self.device)))
            if getattr(result, "unexpected_keys", None):
                raise ValueError(f"adapter in {directory} does not fit this model: {result.unexpected_keys[:5]}")
        else:
            from transformers import AutoModelForCausalLM

            dtype = next(self.model.parameters()).dtype
            saved = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype)
            self.model.load_state_dict(saved.state_dict())
        if self.value_head is not None:
            self._load_value_head(directory)

    def _load_value_head(self, model_dir: Path) -> None:
        """From beside `model_dir`, else from inside it (the layout before)."""
        if not (load_value_head(self.value_head, model_dir.parent) or load_value_head(self.value_head, model_dir)):
            raise FileNotFoundError(f"no {VALUE_HEAD_FILE} in {model_dir.parent} (this policy has a value head)")


def _dedupe(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop tied duplicates (the later name of a shared tensor), detach everything."""
    seen, out = set(), {}
    for name, tensor in state.items():
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key in seen:
            continue
        seen.add(key)
        out[name] = tensor.detach()
    return out


@torch.no_grad()
def _merged_state_dict(peft_model: nn.Module) -> dict[str, Tensor]:
    """HF-named weights of a PEFT LoRA model with the active adapter merged in (model untouched)."""
    from peft.tuners.lora import LoraLayer

    base = peft_model.get_base_model()
    adapter = peft_model.active_adapter
    deltas = {
        f"{name}.base_layer.weight": module.get_delta_weight(adapter)
        for name, module in base.named_modules()
        if isinstance(module, LoraLayer) and adapter in module.lora_A
    }
    out = {}
    for name, tensor in _dedupe(base.state_dict()).items():
        if ".lora_" in name:
            continue
        if name in deltas:
            tensor = tensor + deltas[name].to(tensor.dtype)
        out[name.replace(".base_layer.", ".")] = tensor
    return out
