"""A LoRA adapter held in memory: PEFT-named tensors plus PEFT's adapter config.

The trainer hands the sampler either a directory written by `PeftModel.save_pretrained` or a
`LoraAdapter` taken straight from its model (`LoraAdapter.from_peft(model)`), so no checkpoint on
disk is needed per step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"


@dataclass
class LoraAdapter:
    tensors: dict[str, torch.Tensor]  # PEFT names: "base_model.model.<module>.lora_A.weight"
    config: dict  # PEFT adapter_config.json contents (r, lora_alpha, target_modules, ...)

    @classmethod
    def from_peft(cls, model, adapter_name: str = "default") -> LoraAdapter:
        from peft import get_peft_model_state_dict

        state = get_peft_model_state_dict(model, adapter_name=adapter_name)
        config = model.peft_config[adapter_name].to_dict()
        return cls({k: v.detach() for k, v in state.items()}, _jsonable(config))

    @classmethod
    def from_dir(cls, path: str | Path) -> LoraAdapter:
        path = Path(path)
        if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise FileNotFoundError(f"{path} is not a PEFT adapter dir: needs {CONFIG_FILE} and {WEIGHTS_FILE}")
        return cls(load_file(path / WEIGHTS_FILE), json.loads((path / CONFIG_FILE).read_text()))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.tensors.items()}
        save_file(tensors, path / WEIGHTS_FILE)
        (path / CONFIG_FILE).write_text(json.dumps(self.config))
        return path

    @property
    def rank(self) -> int:
        return int(self.config["r"])


def _jsonable(config: dict) -> dict:
    """PEFT configs hold sets and enums; keep what json can write, as PEFT's own save does."""
    out = {}
    for key, value in config.items():
        if isinstance(value, set):
            value = sorted(value)
        elif hasattr(value, "value"):  # enum
            value = value.value
        out[key] = value
    return out
