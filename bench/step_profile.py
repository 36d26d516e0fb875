"""Where a training step's time goes: wall-clock per phase of `Trainer.run_step`, and what one GRPO update would
cost a GPU beyond its FLOPs (`DeviceTraffic`: aten ops, device->host syncs, host->device copies, counted on CPU).

    python bench/step_profile.py                       # one update of the tiny model, 4 prompts x G 8, <= 64 tokens
    python bench/step_profile.py --shape 181m --prompts 2 --group 8 --max-tokens 64 --micro-batch 8

    from bench.step_profile import StepProfiler     # bench/grpo_vs_trl.py --profile
    with StepProfiler(trainer) as prof:
        row = trainer.run_step()
    prof.phases   # {"generate": s, "verify": s, "old_logprobs": s, "ref_logprobs": s, "forward": s,
                  #  "backward": s, "optimizer": s, "sync": s, "other": s, "total": s}

Measurement only, and kept out of the library: inside the `with` block the sampler's `generate`/`sync`, the
verifier's `map`, the optimizer's `step` and gradient clipping, the policy's no-grad pass `Policy.logprobs`
(old or reference, by its `reference` argument), the forward functions of trainers/shared_prompt.py and
`Tensor.backward` are wrapped with timers; on exit the originals are put back. `other` is the step's time outside every named phase (batching,
advantages, metrics). Only the outermost phase counts a call made inside another (the old-log-prob pass's
forwards count as `old_logprobs`, not `forward`), so the phases add up to `total`.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import torch
import torch.utils.weak
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

PHASES = ("generate", "verify", "old_logprobs", "ref_logprobs", "forward", "backward", "optimizer", "sync")


class StepProfiler:
    def __init__(self, trainer):
        self.trainer = trainer
        self.totals: dict[str, float] = defaultdict(float)
        self._restore: list[tuple[object, str, object]] = []
        self._open: list[str] = []  # the phase being timed, if any: inner phases are not counted twice
        self.phases: dict[str, float] = {}

    def _timed(self, phase, fn):
        """`fn` timed under `phase`: a name, or a function of the call's (args, kwargs) that gives one."""
        totals, open_phases = self.totals, self._open

        def wrapper(*args, **kwargs):
            if open_phases:  # called inside another phase (a no-grad pass's forwards): counted there
                return fn(*args, **kwargs)
            open_phases.append(phase if isinstance(phase, str) else phase(args, kwargs))
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[open_phases.pop()] += time.perf_counter() - started

        return wrapper

    def _wrap(self, owner, name: str, phase) -> None:
        original = getattr(owner, name)
        self._restore.append((owner, name, vars(owner).get(name, _MISSING)))
        setattr(owner, name, self._timed(phase, original))

    def __enter__(self) -> "StepProfiler":
        import rlvr.trainers.shared_prompt as shared_prompt

        t = self.trainer
        self._wrap(t.sampler, "generate", "generate")
        self._wrap(t.sampler, "sync", "sync")
        self._wrap(t.pool, "map", "verify")
        self._wrap(t.optimizer, "step", "optimizer")
        self._wrap(torch.nn.utils, "clip_grad_norm_", "optimizer")
        self._wrap(t.policy, "logprobs", lambda _args, kwargs: "ref_logprobs" if kwargs.get("reference") else "old_logprobs")
        # the loss forward: both kinds of micro-batch (the no-grad passes above call these too, inside their own timers)
        self._wrap(shared_prompt, "token_logprobs", "forward")
        self._wrap(shared_prompt, "grouped_logprobs", "forward")
        self._wrap(torch.Tensor, "backward", "backward")
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        total = time.perf_counter() - self._started
        for owner, name, original in reversed(self._restore):
            if original is _MISSING:
                delattr(owner, name)  # it was the class's method, seen through the instance
            else:
                setattr(owner, name, original)
        self._restore.clear()
        self.phases = {p: self.totals.get(p, 0.0) for p in PHASES}
        self.phases["other"] = total - sum(self.phases.values())
        self.phases["total"] = total


_MISSING = object()


# ---- what an update would cost an accelerator, counted on CPU -------------------------------------------------
_DEVICE = torch.device("cpu", 0)  # what `.device` of a would-be-accelerator tensor reads as inside DeviceTraffic
_T = torch.Tensor
_TO_HOST = {_T.item, _T.__float__, _T.__int__, _T.__bool__, _T.__index__, _T.tolist, _T.cpu, _T.numpy}
_DATA_SHAPED = {torch.nonzero, _T.nonzero, torch.masked_select, _T.masked_select, torch.unique, _T.unique,
                torch.argwhere, torch.nonzero_static}  # output shape depends on values: the host must read them
_DEVICE_GET = _T.device.__get__  # compares equal (not identical) to the getter a mode is handed
_FACTORY_COPIES = {torch.tensor, torch.as_tensor}  # built from host data: a copy when asked for on the device


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        yield from (t for v in value.values() for t in _tensors(v))


def _has_bool_index(index) -> bool:
    return any(t.dtype == torch.bool and t.dim() > 0 for t in _tensors(index))


class DeviceTraffic:
    """Counts, while code runs on CPU, what it would cost on a GPU beyond its FLOPs. A small model's update on a GPU
    is bound by these, not by arithmetic, and a CPU wall clock hides them.

        with DeviceTraffic(policy.model) as traffic:
            trainer.update(scored)
        traffic.counts  # ops (all aten ops), device_ops (those on the device), kernels (device ops that are not
                        # views: about one launch each), syncs, h2d
        traffic.sites   # Counter of (kind, what, file:line) for each sync and copy

    The GPU is simulated by residency: the model's parameters and buffers live on "the device", and so does every
    result of a call with a device tensor among its inputs, and every tensor made with a `device=` that names it
    (inside the block `x.device` of a device tensor reads `cpu:0`, so `device=x.device` and `.to(x.device)` say
    which side they mean). A sync: a device value read by the host (`.item()`, `float()`, `int()`, `bool()`,
    `if t:`, `.tolist()`, `.cpu()`, `.numpy()`, `.to("cpu")`) or a data-dependent shape (`nonzero`,
    `masked_select`, `unique`, boolean-mask indexing, `repeat_interleave` by a device tensor without
    `output_size`). An h2d: a host tensor moved by `.to(device)` or built by `torch.tensor(..., device=device)`;
    in torch a blocking copy from pageable memory also waits for the device's queue, like a sync.
    Not seen: the CPU's own optimizer path (torch's AdamW runs per parameter on CPU, `foreach` on CUDA).
    """

    def __init__(self, device_state):
        """`device_state`: a module (its parameters and buffers live on the device) or the tensors that do."""
        if isinstance(device_state, torch.nn.Module):
            device_state = [*device_state.parameters(), *device_state.buffers()]
        self.params = list(device_state)
        self.counts = {"ops": 0, "device_ops": 0, "kernels": 0, "syncs": 0, "h2d": 0}
        self.device_call = False  # whether the Python-level call being run involves the device
        self.sites: Counter = Counter()  # (kind, what, file:line) of each sync and copy
        self.op_names: Counter = Counter()  # aten op -> how many ran on the device
        self._ids = {id(p) for p in self.params}
        self._device = torch.utils.weak.WeakIdKeyDictionary()
        self._modes = (_Residency(self), _Ops(self))

    def __enter__(self) -> "DeviceTraffic":
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for mode in reversed(self._modes):
            mode.__exit__(*exc)

    def on_device(self, t: torch.Tensor) -> bool:
        return id(t) in self._ids or t in self._device

    def note(self, kind: str, what: str) -> None:
        self.counts[kind] += 1
        frame = sys._getframe(2)
        while frame and (_is_torch(frame.f_code.co_filename) or frame.f_code.co_filename == __file__):
            frame = frame.f_back
        where = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}" if frame else "?"
        self.sites[(kind, what, where)] += 1


def _is_torch(filename: str) -> bool:
    return f"{os.sep}torch{os.sep}" in filename or f"{os.sep}transformers{os.sep}" in filename


def _names_device(device) -> bool | None:
    """True: the simulated device; False: the host; None: no device named."""
    if device is None:
        return None
    return torch.device(device) == _DEVICE


class _Residency(TorchFunctionMode):
    def __init__(self, traffic: DeviceTraffic):
        super().__init__()
        self.t = traffic

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        t = self.t
        if func == _DEVICE_GET:
            return _DEVICE if t.on_device(args[0]) else func(*args, **kwargs)
        inputs_on_device = any(t.on_device(x) for x in _tensors((args, kwargs)))
        name = getattr(func, "__name__", str(func))
        target = None
        if func in (_T.to, torch.Tensor.to):
            target = next((_names_device(a) for a in args[1:] if isinstance(a, (str, torch.device))), None)
            target = _names_device(kwargs.get("device")) if target is None else target
            if target and not inputs_on_device:
                t.note("h2d", "to(device)")
            elif target is False and inputs_on_device and not _is_torch(sys._getframe(1).f_code.co_filename):
                t.note("syncs", "to(cpu)")  # torch's own `.to(device)` (clip_grad_norm_) names the real device
        elif func in _TO_HOST and inputs_on_device:
            t.note("syncs", name)
        elif func in _DATA_SHAPED and inputs_on_device:
            t.note("syncs", name)
        elif func in (_T.__getitem__, _T.__setitem__) and _has_bool_index(args[1]) and inputs_on_device:
            t.note("syncs", f"{name}[bool mask]")
        elif func in (torch.repeat_interleave, _T.repeat_interleave) and inputs_on_device \
                and "output_size" not in kwargs and any(isinstance(a, torch.Tensor) for a in args[1:2]):
            t.note("syncs", "repeat_interleave")
        elif func is torch.where and len(args) == 1 and inputs_on_device:
            t.note("syncs", "where(cond)")
        else:
            target = _names_device(kwargs.get("device"))
            if target and func in _FACTORY_COPIES:
                t.note("h2d", name)
        t.device_call = bool(target) or inputs_on_device
        try:
            out = func(*args, **kwargs)
        finally:
            t.device_call = False
        if func is _T.backward or func is torch.autograd.backward:
            for p in t.params:
                if p.grad is not None:
                    t._device[p.grad] = True
        elif target or (target is None and inputs_on_device and func not in _TO_HOST):
            for x in _tensors(out):
                t._device[x] = True
        return out


class _Ops(TorchDispatchMode):
    def __init__(self, traffic: DeviceTraffic):
        super().__init__()
        self.t = traffic

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.t.counts["ops"] += 1
        if self.t.device_call:
            self.t.counts["device_ops"] += 1
            self.t.counts["kernels"] += not func.is_view  # a view launches nothing
            self.t.op_names[func.__name__] += 1
        return func(*args, **(kwargs or {}))


# ---- one GRPO update, counted ----------------------------------------------------------------------------------
def synthetic_scored(vocab: int, prompts: int, group: int, max_tokens: int, seed: int = 0):
    """A scored GRPO batch without sampling: random prompts of 20-32 tokens, completions of 4..max_tokens
    tokens, rewards that alternate within each group (no group is zero-variance, so every row is forwarded)."""
    import random

    from rlvr.data.problem import Problem
    from rlvr.sampling.types import Completion, Group
    from rlvr.trainers.loop import Scored

    rng = random.Random(seed)
    scored = Scored()
    for g in range(prompts):
        prompt = [rng.randrange(3, vocab) for _ in range(rng.randint(20, 32))]
        completions = [Completion(f"p{g}", "", [rng.randrange(3, vocab) for _ in range(rng.randint(4, max_tokens))],
                                  prompt, None, "stop") for _ in range(group)]
        scored.groups.append(Group(Problem(f"p{g}", "arith", "", "0"), completions))
        scored.rewards.append([float((i + g) % 2) for i in range(group)])
        scored.verdicts.append([{}] * group)
    return scored


def count_update(model_path: str, prompts: int, group: int, max_tokens: int, micro_batch: int, autocast: str,
                 run_dir: str, plan_device: str = "cuda") -> dict:
    """DeviceTraffic of one `Trainer.update` (log-probs, loss, backward, clip, optimizer step) on a synthetic batch.
    `plan_device`: the device segment attention plans its buckets for (a GPU merges more of them)."""
    import inspect

    import rlvr.trainers.shared_prompt as shared_prompt
    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.run_config import validate_config

    cfg = validate_config({
        "model": {"path": model_path, "autocast": autocast}, "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": max_tokens}}, "verify": {"workers": 1},
        "train": {"algorithm": "grpo", "steps": 1, "prompts_per_step": prompts, "seed": 0,
                  "grpo": {"group_size": group, "loss_aggregation": "dapo", "beta": 0.0},
                  "optim": {"micro_batch_size": micro_batch}, "checkpoint": {"dir": run_dir, "every": 1}},
    })
    plan = shared_prompt.plan_segments
    if "device" in inspect.signature(plan).parameters:  # (older commits plan for the CPU only)
        shared_prompt.plan_segments = lambda segments, length, kernel=None, device=None: plan(
            segments, length, kernel, device=plan_device)
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    try:
        scored = synthetic_scored(trainer.policy.model.config.vocab_size, prompts, group, max_tokens)
        with DeviceTraffic(trainer.policy.model) as traffic:
            trainer.update(scored)
    finally:
        trainer.close()
        shared_prompt.plan_segments = plan
    return {**traffic.counts, "sites": traffic.sites}


def main(argv=None) -> None:
    """Print DeviceTraffic per GRPO update and per micro-batch (the difference of two micro-batch sizes)."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="aten ops, device->host syncs and host->device copies of one "
                                     "GRPO update, counted on CPU (DeviceTraffic)")
    parser.add_argument("--shape", help="a random-init Qwen2 of this shape (bench/model_shape.py); default: the "
                        "warm-started tiny model (RLVR_CACHE)")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--micro-batch", type=int, default=8,
                        help="rows per micro-batch (compared with all rows in one)")
    parser.add_argument("--autocast", default="off", choices=["off", "bfloat16"], help="bfloat16 = bf16_mixed")
    parser.add_argument("--plan-device", default="cuda", choices=["cuda", "cpu"],
                        help="the device segment attention plans its buckets for")
    args = parser.parse_args(argv)
    model_path = "tiny"
    if args.shape:
        from bench.model_shape import build_shape_model

        slug = "".join(c if c.isalnum() else "-" for c in args.shape)
        cache = Path(__file__).resolve().parents[1] / ".cache" / "bench-shapes"
        model_path = str(build_shape_model(args.shape, cache / slug))
    rows = args.prompts * args.group
    runs = {}
    for micro in sorted({args.micro_batch, rows}):
        with tempfile.TemporaryDirectory() as run_dir:
            runs[micro] = count_update(model_path, args.prompts, args.group, args.max_tokens, micro, args.autocast,
                                       run_dir, args.plan_device)
    keys = ("ops", "device_ops", "kernels", "syncs", "h2d")
    print(f"| {args.shape or 'tiny'}: {args.prompts} prompts x G {args.group}, <= {args.max_tokens} tokens, "
          f"autocast {args.autocast}, plan for {args.plan_device} | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for micro, counts in runs.items():
        chunks = -(-rows // micro)  # whole groups per micro-batch: exact when micro is a multiple of G
        cells = " | ".join(str(counts[k]) for k in keys)
        print(f"| update, {chunks} micro-batch(es) of {micro} rows | {cells} |")
    if len(runs) == 2:
        (small, a), (_, b) = sorted(runs.items())
        extra = -(-rows // small) - 1
        print("| per extra micro-batch | " + " | ".join(f"{(a[k] - b[k]) / extra:.1f}" for k in keys) + " |")
    for kind, what, where in sorted(runs[min(runs)]["sites"]):
        print(f"  {kind} {what} at {where}: {runs[min(runs)]['sites'][(kind, what, where)]}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
