"""A random-init Qwen2 model of a given shape with the tiny tokenizer, for speed benchmarks at real sizes.

    python -m bench.model_shape 181m /tmp/qwen2-181m        # or a shape: "hidden=1024,layers=16,heads=16,kv=4,inter=2816"

`181m` is the shape of issue 15's H200 measurements: hidden 1024, 16 layers, 16 query / 4 KV heads, MLP 2816
(181M parameters with the ~2k-token tiny vocabulary). The tokenizer is the offline one
(`rlvr.trainers.tiny_model.build_tokenizer`, deterministic), so no hub access is needed.
"""

from __future__ import annotations

import sys
from pathlib import Path

SHAPES = {
    "181m": "hidden=1024,layers=16,heads=16,kv=4,inter=2816",
    "tiny": "hidden=256,layers=4,heads=4,kv=2,inter=768",
    "micro": "hidden=64,layers=2,heads=4,kv=2,inter=128",  # CPU dry runs
}
_KEYS = {"hidden": "hidden_size", "layers": "num_hidden_layers", "heads": "num_attention_heads",
         "kv": "num_key_value_heads", "inter": "intermediate_size"}


def parse_shape(shape: str) -> dict[str, int]:
    """A name from SHAPES or `hidden=..,layers=..,heads=..,kv=..,inter=..` -> Qwen2Config keyword arguments."""
    text = SHAPES.get(shape, shape)
    try:
        pairs = dict(item.split("=") for item in text.split(","))
        out = {_KEYS[k.strip()]: int(v) for k, v in pairs.items()}
    except (ValueError, KeyError):
        raise ValueError(f"shape {shape!r}: use one of {sorted(SHAPES)} or {SHAPES['181m']!r}") from None
    if set(out) != set(_KEYS.values()):
        raise ValueError(f"shape {shape!r} must set all of {', '.join(_KEYS)}")
    return out


def build_shape_model(shape: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Write the tokenizer and a float32 random-init Qwen2ForCausalLM of `shape` to `out_dir` (kept if present)."""
    from rlvr.trainers.tiny_model import build_random_model

    out = Path(out_dir)
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    return build_random_model(out, parse_shape(shape), seed)


if __name__ == "__main__":
    path = build_shape_model(sys.argv[1], sys.argv[2])
    print(path)
