"""Sampling with the model in transformers: the fallback backend, and the reference for the vLLM one.

Our own KV-cached decode loops: chunks of prompts, each prompt prefilled once for its n samples. For the
Llama family the fixed-shape one (`sampling/static_decode.py`: a static cache, one CUDA graph per token on a
GPU, finished rows gathered out when half have ended; ~1.2x the dynamic one on CPU too), else the
transformers forward with a growing cache (`sampling/hf_decode.py`, finished rows dropped at every step);
`sampler.hf_decode` chooses. EOS is masked before `min_tokens`;
temperature, top-k and top-p follow; the recorded log-probs are those of the distribution actually sampled
from (as vLLM's "processed_logprobs"). Stop strings end a row (only after `min_tokens`, as vLLM does);
the deadline ends the call.

Seeds: `params.seed` seeds torch's RNG (forked, so the trainer's RNG is untouched) once per
generate call; the samples are reproducible for the same problems, n and batch size, not per row.

Sharing (the default through `make_sampler(..., model=policy)`): the sampler decodes with the trainer's own
module -- same parameters, same device, a PEFT model with its adapter enabled -- so a sync has nothing to copy.
While it decodes, the module is in eval mode (no dropout) under `torch.inference_mode()` (no autograd records,
no version counters), and goes back to the mode it was in. Attention runs as the model is configured (SDPA
with the KV cache): the trainer's packed-segment attention is switched on only inside its own forward
(trainers/segment_attention.py), never while the sampler runs. Without a shared module the sampler loads its own
copy onto the policy's device (`model.device` for an evaluation) and the sync copies the weights in place
(`copy_` under no_grad). `sampler.dtype: auto` loads the checkpoint's own dtype, except a float32 checkpoint on
CUDA, which is loaded in bfloat16 (float16 on a GPU without bf16): the choice vLLM's `auto` makes, so both
backends evaluate a checkpoint in the same precision, and the precision a bf16_mixed run sampled its rollouts in.

Mixed precision comes with the module: the trainer runs its forward under bf16 autocast over fp32 weights
(trainers/precision.py marks the module with `rlvr_autocast_dtype`). Autocast casts a weight at every op, and
every decode step is a forward of its own (inference mode also bypasses autocast's weight cache), so each token
re-cast every linear weight and bias (41 casts a token on the 4-layer tiny model, on top of its 265 ops) --
costly on a GPU, where decoding a small model is bound by per-op overhead (issue 15). So for the length of one
generate call every nn.Linear's fp32 weight and bias are swapped for a bf16 copy made once (the values autocast
would make at each op: the samples are the same bit for bit; a tied lm_head gets its copy while the embedding
keeps the fp32 parameter), and the KV cache is stored in bf16 (autocast fed SDPA the same bf16 values after
re-casting the whole fp32 cache every step). The module's own Parameters are untouched and are put back on
exit, so the next call copies the weights of the latest optimizer step. Costs: one cast per weight per call,
and half the fp32 size of the linear weights held while decoding. Skipped under FSDP (it owns the parameter
slots).
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlvr.data.problem import Problem
from rlvr.sampling.base import NamedTensors, Sampler
from rlvr.sampling.config import SamplerConfig, SamplingParams
from rlvr.sampling.deadline import EngineThread
from rlvr.sampling.errors import SamplerError
from rlvr.sampling.hf_decode import Row, decode
from rlvr.sampling.lora import LoraAdapter
from rlvr.sampling.preflight import check_model_files, context_problem
from rlvr.sampling.prompts import cut_at_stop, prompt_token_ids
from rlvr.sampling.static_decode import decode_static, supported
from rlvr.sampling.types import Completion, Group

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def auto_dtype(checkpoint: torch.dtype | None, device: torch.device, bf16_ok: bool) -> torch.dtype:
    """What `sampler.dtype: auto` loads a checkpoint saved in `checkpoint` (None: unstated, i.e. float32) as."""
    checkpoint = checkpoint or torch.float32
    if device.type == "cuda" and checkpoint == torch.float32:
        return torch.bfloat16 if bf16_ok else torch.float16
    return checkpoint


def load_dtype(setting: str, model_path: str | Path, device: torch.device) -> torch.dtype:
    if setting != "auto":
        return _DTYPES[setting]
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(model_path))
    bf16_ok = device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return auto_dtype(getattr(config, "dtype", None), device, bf16_ok)


class HFSampler(Sampler):
    def __init__(self, cfg: SamplerConfig, model_path: str | Path, tokenizer=None, model=None, lora_rank=None,
                 device: str = "cpu"):
        """`model`: the trainer's module to decode with (shared); without it a copy is loaded onto `device`."""
        self.cfg, self.timeout_s = cfg, cfg.timeout_s
        if model is None:
            check_model_files(model_path)
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(model_path))
        self.shared = model is not None  # the trainer's live module: sync has nothing to copy
        if model is None:
            try:
                where = torch.device(device)
            except RuntimeError as exc:
                raise SamplerError(f"sampler device {device!r} is not a device: {exc}") from exc
            try:
                torch.empty(0, device=where)  # a device this machine lacks fails here, in one line
            except (RuntimeError, AssertionError) as exc:  # torch built without CUDA asserts; a bad index raises
                raise SamplerError(f"could not put the sampler's model on device {device!r}: {exc}") from exc
            try:
                dtype = load_dtype(cfg.dtype, model_path, where)
                # read straight onto the device (one device: no dispatch hooks), not through host memory
                model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=dtype, device_map=where)
            except (OSError, ValueError) as exc:
                raise SamplerError(f"could not load {str(model_path)!r} with transformers: {exc}") from exc
            model.eval()
        self.model = model
        if too_long := context_problem(model.config, cfg.max_model_len):  # decoding would run past its positions
            raise SamplerError(too_long)
        self.device = next(self.model.parameters()).device
        gen = getattr(self.model, "generation_config", None)
        eos = gen.eos_token_id if gen is not None and gen.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.decode = self._decode_choice(cfg.hf_decode)
        self.engine = EngineThread("hf-sampler")

    def describe(self) -> str:
        source = "the policy's own module" if self.shared else f"its own copy ({next(self.model.parameters()).dtype})"
        loop = "fixed-shape decode" + (" with CUDA graphs" if self.device.type == "cuda" else "") \
            if self.decode is decode_static else "transformers-forward decode"
        return f"hf on {self.device}: {source}, {loop}"

    def _decode_choice(self, setting: str):
        """The decode loop for `sampler.hf_decode`: static where the model allows it (auto), else dynamic."""
        if setting == "dynamic":
            return decode
        why_not = supported(self.model)
        if why_not is None:
            return decode_static
        if setting == "static":
            raise SamplerError(f"sampler.hf_decode=static: {why_not}; use auto or dynamic")
        return decode

    # ---- generation -------------------------------------------------------------------------
    def generate(self, problems: list[Problem], n: int, params: SamplingParams) -> list[Group]:
        prompts = [prompt_token_ids(self.tokenizer, p) for p in problems]
        for p, ids in zip(problems, prompts):
            if len(ids) >= self.cfg.max_model_len:
                raise SamplerError(f"problem {p.id}: prompt has {len(ids)} tokens >= max_model_len={self.cfg.max_model_len}")
        deadline = time.monotonic() + self.timeout_s
        out = self.engine.call("hf generate", lambda: self._generate_rows(prompts, n, params, deadline), self.timeout_s)
        groups = [Group(problem=p) for p in problems]
        for k, row in enumerate(out):
            i = k // n
            groups[i].completions.append(
                self._completion(problems[i], prompts[i], row.tokens, row.logprobs, row.stopped, params)
            )
        return groups

    def _generate_rows(self, prompts: list[list[int]], n: int, params: SamplingParams, deadline: float) -> list[Row]:
        """n rows per prompt, in prompt order; prompts go in chunks of about `hf_batch_size // n` (at least one)."""
        out: list[Row] = []
        per_chunk = max(1, self.cfg.hf_batch_size // n)
        compute = _autocast_dtype(self.model)
        loop = self.decode
        if loop is decode_static and _sharded(self.model):  # only the module's own forward gathers FSDP shards
            loop = decode
        with _decoding(self.model), torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            if params.seed is not None:
                torch.manual_seed(params.seed)
            for start in range(0, len(prompts), per_chunk):
                chunk = prompts[start : start + per_chunk]
                max_new = min(params.max_tokens, self.cfg.max_model_len - max(map(len, chunk)))
                out += loop(self.model, chunk, n, params, max_new, pad_id=self.pad_id, eos_ids=self.eos_ids,
                            stop_hit=self._stop_hit(params.stop), deadline=deadline, timeout_s=self.timeout_s,
                            cache_dtype=compute)
        return out

    def _stop_hit(self, stop: list[str]):
        def hit(tokens: list[int], since: int) -> bool:
            tail = self.tokenizer.decode(tokens[since:], skip_special_tokens=True)
            return any(s in tail for s in stop)

        return hit

    def _completion(self, problem, prompt_ids, tokens, logprobs, stopped, params) -> Completion:
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        if params.stop:
            start = len(self.tokenizer.decode(tokens[: params.min_tokens], skip_special_tokens=True))
            text, hit = cut_at_stop(text, params.stop, start)
            stopped = stopped or hit
        return Completion(
            problem_id=problem.id,
            text=text,
            token_ids=tokens,
            prompt_token_ids=prompt_ids,
            sample_logprobs=logprobs if params.wants_logprobs() else None,
            finish_reason="stop" if stopped else "length",
        )

    # ---- sync -------------------------------------------------------------------------------
    def sync_full(self, named_tensors: NamedTensors) -> None:
        if self.shared:
            return
        self.engine.call("hf weight sync", lambda: self._copy_weights(named_tensors), self.timeout_s)

    @torch.no_grad()
    def _copy_weights(self, named_tensors: NamedTensors) -> None:
        params = dict(self.model.named_parameters())
        for name, tensor in named_tensors:
            if name not in params:
                raise SamplerError(f"weight sync: the sampler's model has no parameter {name!r}")
            if params[name].data_ptr() != tensor.data_ptr():
                params[name].copy_(tensor.detach())

    def sync_lora(self, adapter: LoraAdapter | str | Path) -> None:
        if self.shared:
            return
        if not isinstance(adapter, LoraAdapter):
            adapter = LoraAdapter.from_dir(adapter)
        self.engine.call("hf LoRA sync", lambda: self._load_lora(adapter), self.timeout_s)

    def _load_lora(self, adapter: LoraAdapter) -> None:
        from peft import LoraConfig, PeftModel, set_peft_model_state_dict

        if not hasattr(self.model, "peft_config"):
            keys = set(LoraConfig.__dataclass_fields__)
            config = LoraConfig(**{k: v for k, v in adapter.config.items() if k in keys})
            self.model = PeftModel(self.model, config).eval()
        result = set_peft_model_state_dict(self.model, adapter.tensors)
        missing = [k for k in result.unexpected_keys if "lora_" in k]
        if missing:
            raise SamplerError(f"LoRA sync: adapter tensors do not match the model: {missing[:3]}")

    # ---- checks and shutdown ----------------------------------------------------------------
    def logprobs_of(self, sequences: list[list[int]]) -> list[list[float]]:
        def run():
            out = []
            with _decoding(self.model):
                for seq in sequences:
                    ids = torch.tensor([seq], device=self.device)
                    logits = self.model(input_ids=ids).logits[0, :-1].float()
                    lp = torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None])[:, 0]
                    out.append(lp.cpu().tolist())
            return out

        return self.engine.call("hf logprobs", run, self.timeout_s)

    def close(self) -> None:
        self.engine.close()


@contextmanager
def _decoding(model: torch.nn.Module):
    """Decode without dropout and without autograd, with the linear weights in the autocast dtype (cast once
    here, not at every op), then hand a shared trainer module back in the mode it was in, with its own
    parameters. inference_mode and the current CUDA device are thread-local: both are set here, on the engine
    thread that runs the forwards (a new thread starts on cuda:0, whatever device a DDP rank's policy is on)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with _linear_weights_in(model, _autocast_dtype(model)), torch.inference_mode(), (
                torch.cuda.device(device) if device.type == "cuda" else nullcontext()):
            yield
    finally:
        model.train(was_training)


def _autocast_dtype(model: torch.nn.Module) -> torch.dtype | None:
    """The dtype the module's forward autocasts to (set by trainers/precision.py; a PEFT model forwards the
    attribute to the model it wraps), or None."""
    return getattr(model, "rlvr_autocast_dtype", None)


@contextmanager
def _linear_weights_in(model: torch.nn.Module, dtype: torch.dtype | None):
    """Inside the block every nn.Linear holds a `dtype` copy of its float32 weight and bias (what autocast
    casts them to for each matmul); on exit its own Parameters are back. A parameter shared by several
    linears is cast once; one shared with another kind of module (a tied embedding) stays there as it is."""
    swapped: list[tuple[torch.nn.Module, str, torch.nn.Parameter]] = []
    if dtype is not None and not _fsdp_managed(model):
        copies: dict[int, torch.nn.Parameter] = {}
        with torch.no_grad():
            for module in model.modules():
                if not isinstance(module, torch.nn.Linear):
                    continue
                for name, param in module._parameters.items():
                    if param is None or param.dtype != torch.float32:
                        continue
                    if id(param) not in copies:
                        copies[id(param)] = torch.nn.Parameter(param.to(dtype), requires_grad=False)
                    swapped.append((module, name, param))
                    module._parameters[name] = copies[id(param)]
    try:
        yield
    finally:
        for module, name, param in swapped:
            module._parameters[name] = param


def _sharded(model: torch.nn.Module) -> bool:
    """Whether some parameter is an FSDP shard right now (a DTensor). Inside the trainer's `generation_weights`
    every group is unsharded, and the static decode can call the submodules directly."""
    if not torch.distributed.is_available():
        return False
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def _fsdp_managed(model: torch.nn.Module) -> bool:
    """FSDP2 registers its own (unsharded) parameters before each forward: leave its slots alone."""
    if not torch.distributed.is_available():
        return False
    from torch.distributed.fsdp import FSDPModule

    return any(isinstance(m, FSDPModule) for m in model.modules())
