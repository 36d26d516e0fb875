"""Sampling with transformers `generate`: the fallback backend, and the reference for the vLLM one.

Rows (prompt x sample) are generated in batches of `hf_batch_size` with left padding. Temperature,
top-k and top-p are applied by our own processor list, ending in `_ChosenLogprobs`, so the recorded
log-probs are those of the distribution actually sampled from (as vLLM's "processed_logprobs") while
only one step of scores is held at a time. A stopping criterion ends rows at a stop string (only
after `min_tokens`, as vLLM does) and the whole batch at the deadline.

Seeds: `params.seed` seeds torch's RNG (forked, so the trainer's RNG is untouched) once per
generate call; the samples are reproducible for the same problems, n and batch size, not per row.

Sync: the held model is updated in place (`copy_` under no_grad), or the sampler shares the trainer's
own module (`HFSampler(cfg, path, model=policy)`), in which case there is nothing to copy.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from data.problem import Problem
from sampling.base import NamedTensors, Sampler
from sampling.config import SamplerConfig, SamplingParams
from sampling.deadline import EngineThread
from sampling.errors import SamplerError, SamplerTimeout
from sampling.lora import LoraAdapter
from sampling.preflight import check_model_files
from sampling.prompts import cut_at_stop, prompt_token_ids
from sampling.types import Completion, Group

_DTYPES = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class _ChosenLogprobs(LogitsProcessor):
    """Keeps one step of final scores; at the next call reads off the token that was chosen."""

    def __init__(self):
        self.prev: torch.Tensor | None = None  # log-softmax of the previous step's scores
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.take(input_ids[:, -1])
        self.prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def take(self, chosen: torch.Tensor) -> None:
        if self.prev is not None:
            self.steps.append(self.prev.gather(1, chosen[:, None].to(self.prev.device))[:, 0].cpu())
            self.prev = None


class _StopAndDeadline(StoppingCriteria):
    def __init__(self, tokenizer, prompt_len: int, stop: list[str], min_tokens: int, deadline: float):
        self.tokenizer, self.prompt_len, self.stop = tokenizer, prompt_len, stop
        self.min_tokens, self.deadline = min_tokens, deadline
        self.window = max((len(s) for s in stop), default=0) + 8  # tokens: a stop string ends in the newest one
        self.ended: dict[int, int] = {}  # row -> generated length when a stop string appeared
        self.timed_out = False

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if time.monotonic() > self.deadline:
            self.timed_out = True
            return done | True
        n_gen = input_ids.shape[1] - self.prompt_len
        if not self.stop or n_gen < max(self.min_tokens, 1):
            return done
        first = self.prompt_len + max(self.min_tokens, n_gen - self.window)
        for row in range(input_ids.shape[0]):
            if row not in self.ended:
                tail = self.tokenizer.decode(input_ids[row, first:], skip_special_tokens=True)
                if any(s in tail for s in self.stop):
                    self.ended[row] = n_gen
            done[row] = row in self.ended
        return done


class HFSampler(Sampler):
    def __init__(self, cfg: SamplerConfig, model_path: str | Path, tokenizer=None, model=None, lora_rank=None):
        self.cfg, self.timeout_s = cfg, cfg.timeout_s
        if model is None:
            check_model_files(model_path)
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(model_path))
        self.shared = model is not None  # the trainer's live module: sync has nothing to copy
        if model is None:
            try:
                model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=_DTYPES[cfg.dtype])
            except (OSError, ValueError) as exc:
                raise SamplerError(f"could not load {str(model_path)!r} with transformers: {exc}") from exc
            model.eval()
        self.model = model
        self.device = next(self.model.parameters()).device
        gen = getattr(self.model, "generation_config", None)
        eos = gen.eos_token_id if gen is not None and gen.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.engine = EngineThread("hf-sampler")

    # ---- generation -------------------------------------------------------------------------
    def generate(self, problems: list[Problem], n: int, params: SamplingParams) -> list[Group]:
        prompts = [prompt_token_ids(self.tokenizer, p) for p in problems]
        for p, ids in zip(problems, prompts):
            if len(ids) >= self.cfg.max_model_len:
                raise SamplerError(f"problem {p.id}: prompt has {len(ids)} tokens >= max_model_len={self.cfg.max_model_len}")
        rows = [(i, ids) for i, ids in enumerate(prompts) for _ in range(n)]
        deadline = time.monotonic() + self.timeout_s
        out = self.engine.call("hf generate", lambda: self._generate_rows(rows, params, deadline), self.timeout_s)
        groups = [Group(problem=p) for p in problems]
        for (i, ids), (tokens, logprobs, stopped) in zip(rows, out):
            groups[i].completions.append(self._completion(problems[i], ids, tokens, logprobs, stopped, params))
        return groups

    def _generate_rows(self, rows, params: SamplingParams, deadline: float):
        out = []
        with _eval_mode(self.model), torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            if params.seed is not None:
                torch.manual_seed(params.seed)
            for start in range(0, len(rows), self.cfg.hf_batch_size):
                out += self._generate_batch([ids for _, ids in rows[start : start + self.cfg.hf_batch_size]], params, deadline)
        return out

    @torch.no_grad()
    def _generate_batch(self, prompts: list[list[int]], params: SamplingParams, deadline: float):
        width = max(map(len, prompts))
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            mask[row, width - len(ids) :] = 1
        max_new = min(params.max_tokens, self.cfg.max_model_len - width)
        recorder = _ChosenLogprobs()
        greedy = params.temperature == 0.0
        warpers = [] if greedy else _warpers(params)
        stopper = _StopAndDeadline(self.tokenizer, width, params.stop, params.min_tokens, deadline)
        seqs = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            do_sample=not greedy,
            temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0, num_beams=1,  # ours, or none
            max_new_tokens=max_new,
            min_new_tokens=min(params.min_tokens, max_new),
            eos_token_id=sorted(self.eos_ids),
            pad_token_id=self.pad_id,
            logits_processor=LogitsProcessorList([*warpers, recorder]),
            stopping_criteria=StoppingCriteriaList([stopper]),
        )
        if stopper.timed_out:
            raise SamplerTimeout(f"hf generate exceeded timeout_s={self.timeout_s:.0f}; stopped cleanly")
        gen = seqs[:, width:].cpu()
        if gen.shape[1] > len(recorder.steps):  # the last chosen token has no following call
            recorder.take(seqs[:, -1])
        logprobs = torch.stack(recorder.steps, dim=1) if recorder.steps else torch.zeros(len(prompts), 0)
        results = []
        for row in range(len(prompts)):
            tokens = gen[row].tolist()
            end, stopped = len(tokens), False
            eos_at = next((t for t, tok in enumerate(tokens) if tok in self.eos_ids and t >= params.min_tokens), None)
            if eos_at is not None:
                end, stopped = eos_at + 1, True
            if row in stopper.ended and stopper.ended[row] <= end:
                end, stopped = stopper.ended[row], True
            results.append((tokens[:end], logprobs[row, :end].tolist(), stopped))
        return results

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
            with _eval_mode(self.model), torch.no_grad():
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
def _eval_mode(model: torch.nn.Module):
    """Generate without dropout, then hand a shared trainer module back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _warpers(params: SamplingParams) -> list[LogitsProcessor]:
    warpers: list[LogitsProcessor] = []
    if params.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(params.temperature))
    if params.top_k > 0:
        warpers.append(TopKLogitsWarper(params.top_k))
    if params.top_p < 1.0:
        warpers.append(TopPLogitsWarper(params.top_p))
    return warpers
