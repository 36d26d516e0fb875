"""Checks before an engine starts, and plain-words explanations when it fails to start anyway.

Starting vLLM costs seconds and a failed start can leave process-global state behind, so the cheap,
certain failures (missing files, a memory fraction that cannot work) are caught here first.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import psutil

from rlvr.sampling.errors import SamplerError

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.pth")
_INDEXES = "*.index.json"  # a sharded checkpoint's map of tensors to files (model.safetensors.index.json)
_TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def check_model_files(model_path: str | Path) -> None:
    """A local model dir must hold config.json, weights and tokenizer files. A hub id (`org/name`)
    that is not a local path is left to the loader."""
    path = Path(model_path)
    if not path.exists():
        if _HUB_ID.match(str(model_path)) and not str(model_path).startswith("."):
            return
        raise SamplerError(f"model path {str(model_path)!r} does not exist (build it or fix the path)")
    if not path.is_dir():
        raise SamplerError(f"model path {str(model_path)!r} is a file; expected a Hugging Face model directory")
    if missing := missing_model_files(path):
        raise SamplerError(f"model dir {str(path)!r} is incomplete: missing {', '.join(missing)}")


def missing_model_files(path: Path) -> list[str]:
    """What a local model directory lacks of config, weights (every shard its index names) and tokenizer, in words
    ([] when complete)."""
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any(next(path.glob(p), None) for p in _WEIGHTS):
        missing.append("weights (*.safetensors or *.bin)")
    missing += missing_shards(path)
    if not any((path / f).is_file() for f in _TOKENIZER):
        missing.append("tokenizer files (tokenizer.json / tokenizer_config.json)")
    return missing


def missing_shards(path: Path) -> list[str]:
    """The weight files that a sharded checkpoint's index (`model.safetensors.index.json`, `pytorch_model.bin.index
    .json`) names and the directory lacks, in words. Loaders read the shards one by one, so without this check a
    missing one is found only after the device is taken and the first shards are loaded."""
    said = []
    for index in sorted(path.glob(_INDEXES)):
        try:
            shards = sorted(set(_weight_map(index).values()))
        except (OSError, ValueError, AttributeError):  # `damaged_weights` says why it does not read
            continue
        if lacking := [name for name in shards if not (path / name).is_file()]:
            names = ", ".join(lacking[:3]) + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else "")
            said.append(f"{names} ({len(lacking)} of the {len(shards)} weight files {index.name} lists)")
    return said


def _weight_map(index: Path) -> dict[str, str]:
    """An index file's `weight_map` (tensor name -> file); OSError, ValueError or AttributeError when it does not
    read as one."""
    weight_map = json.loads(index.read_text()).get("weight_map")
    if not isinstance(weight_map, dict):
        raise ValueError("no weight_map object")
    return weight_map


def damaged_weights(path: Path) -> str | None:
    """The first shard index (`*.index.json`) of a local model directory that does not read as a `weight_map`, or
    `*.safetensors` file whose header does not read (truncated, empty, not safetensors), with the reason; None when
    all read. Only the headers are read: what the engine would find after it has started (and taken the device),
    found in milliseconds."""
    from safetensors import safe_open

    for index in sorted(path.glob(_INDEXES)):
        try:
            _weight_map(index)
        except (OSError, ValueError, AttributeError) as exc:  # not JSON, not an object, unreadable
            return f"{index.name} is damaged ({' '.join(str(exc).split())[:160] or type(exc).__name__})"
    for file in sorted(path.glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="pt") as handle:
                handle.keys()
        except Exception as exc:  # noqa: BLE001 - SafetensorError, OSError, struct errors of a cut-off file
            return f"{file.name} is damaged ({' '.join(str(exc).split())[:160] or type(exc).__name__})"
    return None


def unusable_tokenizer(path: Path) -> str | None:
    """Why a local model directory's tokenizer cannot be used, or None. transformers builds an EMPTY tokenizer from a
    `tokenizer_config.json` whose `tokenizer.json` is missing, without an error: every prompt then encodes to nothing
    and an evaluation scores 0 as if the model had failed. So the tokenizer is loaded and made to encode a probe."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except Exception as exc:  # noqa: BLE001 - any loader failure is the reason
        return f"its tokenizer does not load ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"
    if not tokenizer("1 + 1 = 2")["input_ids"]:
        return (f"its tokenizer encodes text to nothing ({len(tokenizer)} tokens known; tokenizer.json or the vocab "
                "files missing?)")
    return None


# vLLM's order of config keys for a model's context length (the smallest wins), and the RoPE types whose
# `max_position_embeddings` is already the scaled length (vllm/config/model.py, `_get_and_verify_max_len`)
_POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "model_max_length",
                  "max_target_positions", "max_sequence_length", "max_seq_length", "seq_len")
_PRESCALED_ROPE = ("su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling")


def context_problem(config, max_model_len: int, model: str = "the model") -> str | None:
    """Why `sampler.max_model_len` is longer than the model takes, from its transformers config, or None. The limit
    is the one vLLM derives (the smallest position key, `model_max_length` if set, times a RoPE scaling factor), so
    both backends refuse what vLLM's engine would refuse at start-up, after the device is taken; the hf backend
    would instead run past the positions the model was trained on (RoPE) or index past its table (absolute
    positions). VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 lifts the check, as it lifts vLLM's."""
    if os.environ.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "").lower() in ("1", "true"):
        return None
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    found = [(value, key) for key in _POSITION_KEYS if isinstance(value := getattr(text, key, None), int)]
    if not found:
        return None
    limit, key = min(found)
    if isinstance(getattr(text, "model_max_length", None), int):
        limit, key = text.model_max_length, "model_max_length"
    factor = 1.0 if "gemma3" in str(getattr(config, "model_type", "")) else _rope_factor(text)
    if max_model_len <= limit * factor:
        return None
    scaled = f" x {factor:g} (RoPE scaling)" if factor != 1.0 else ""
    return (f"sampler.max_model_len={max_model_len} is longer than {model} takes: its config.json has "
            f"{key}={limit}{scaled}; set sampler.max_model_len to {int(limit * factor)} or less")


def _rope_factor(config) -> float:
    """The context scaling of a config's RoPE parameters (transformers 5 `rope_parameters`, possibly one per layer
    type; older `rope_scaling`), 1.0 when there is none or it is already in `max_position_embeddings`."""
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None)
    if not isinstance(params, dict):
        return 1.0
    per_layer = params and all(isinstance(v, dict) for v in params.values())
    factor = 1.0
    for rope in params.values() if per_layer else [params]:
        if (rope.get("rope_type") or rope.get("type") or "default") not in _PRESCALED_ROPE:
            factor = rope.get("factor") or factor
    return float(factor)


def weights_bytes(model_path: str | Path) -> int:
    path = Path(model_path)
    return sum(f.stat().st_size for p in _WEIGHTS for f in path.glob(p)) if path.is_dir() else 0


def check_cpu_memory_fraction(fraction: float, total: int, available: int, in_use: int) -> int:
    """vLLM on CPU reserves `fraction * total` bytes for the whole process (weights, the colocated
    trainer, everything else it already holds) and gives the rest to the KV cache. Returns the KV
    bytes left, or raises naming which way the fraction is wrong."""
    gib = 1 << 30
    requested = int(fraction * total)
    if requested > available:
        raise SamplerError(
            f"gpu_memory_utilization={fraction} is too high for this machine: on CPU it reserves "
            f"{requested / gib:.2f} GiB of {total / gib:.2f} GiB RAM but only {available / gib:.2f} GiB is free; "
            f"lower it to <= {max(available - gib // 4, 0) / total:.2f} or free memory"
        )
    if requested <= in_use:
        raise SamplerError(
            f"gpu_memory_utilization={fraction} is too low: on CPU it reserves {requested / gib:.2f} GiB of "
            f"{total / gib:.2f} GiB RAM for the whole process, which already needs ~{in_use / gib:.2f} GiB "
            f"(trainer + engine weights) before any KV cache; raise it to >= {(in_use + gib // 4) / total:.2f}"
        )
    return requested - in_use


def cpu_memory_status() -> tuple[int, int]:
    """(total, available) bytes as vLLM's CPU worker sees them (NUMA node, cgroup limit)."""
    try:
        from vllm.utils.cpu_resource_utils import (
            get_allowed_cpu_list,
            get_memory_node_info,
        )

        info = get_memory_node_info(get_allowed_cpu_list()[0].numa_node)
        return info.total_memory, info.available_memory
    except (ImportError, IndexError, OSError, KeyError):
        vm = psutil.virtual_memory()
        return vm.total, vm.available


def check_memory_for_cpu_engine(fraction: float, model_path: str | Path) -> None:
    total, available = cpu_memory_status()
    in_use = psutil.Process(os.getpid()).memory_info().rss + weights_bytes(model_path)
    check_cpu_memory_fraction(fraction, total, available, in_use)


def explain_startup_error(exc: BaseException, model_path: str | Path, fraction: float, dtype: str) -> SamplerError:
    """Map a known engine start-up failure to a SamplerError that says what to change."""
    msg = str(exc)
    low = msg.lower()
    if "memory utilization" in low or "out of memory" in low or isinstance(exc, MemoryError):
        return SamplerError(f"gpu_memory_utilization={fraction} is too high (not enough free memory): {msg}")
    if "requested memory for kv" in low:
        way = "too low (the process already uses more than it reserves)" if "(-" in msg else "too high"
        return SamplerError(f"gpu_memory_utilization={fraction} is {way}: {msg}")
    if "no available memory for the cache" in low or ("kv cache" in low and "larger than the available" in low):
        return SamplerError(
            f"gpu_memory_utilization={fraction} is too low for max_model_len (raise it or lower max_model_len): {msg}"
        )
    # `context_problem` finds this one before a run; vLLM's sentence is kept, pydantic's wrapping of it left out
    if too_long := re.search(r"User-specified max_model_len \(\d+\) is greater than the derived max_model_len "
                             r"\([^)]*\)", msg):
        return SamplerError(f"sampler.max_model_len is longer than the model takes (lower it): {too_long.group(0)}")
    if "dtype" in low or "bfloat16" in low or "float16" in low:
        return SamplerError(f"dtype={dtype!r} is not supported here (try 'float32' on CPU, 'float16' on old GPUs): {msg}")
    if isinstance(exc, OSError) or "not a valid model identifier" in low or "can't load" in low:
        return SamplerError(f"could not load model files from {str(model_path)!r}: {msg}")
    return SamplerError(f"the engine failed to start ({type(exc).__name__}): {msg}")
