"""PPO's critic: a scalar linear head on the policy backbone's last hidden state.

V(s_t) = w . h_t + b, where h_t is the final (normed) hidden state at the position that predicts
completion token t, i.e. the state before token t is generated. The head is float32 whatever the
backbone dtype, starts at zero (V = 0 before training) and is saved as `value_head.safetensors` beside a
checkpoint's `model/` folder, not in it: `model/` stays a plain HF model folder, and vLLM loads every
*.safetensors file there (a `linear.weight` it cannot place stops its engine from starting).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

VALUE_HEAD_FILE = "value_head.safetensors"


class ValueHead(nn.Module):
    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1, dtype=torch.float32)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: Tensor) -> Tensor:
        """[..., H] hidden states -> [...] values (float32)."""
        return self.linear(hidden.float()).squeeze(-1)


def save_value_head(head: ValueHead, directory: str | Path) -> Path:
    path = Path(directory) / VALUE_HEAD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}, path)
    return path


def load_value_head(head: ValueHead, directory: str | Path) -> bool:
    """Load into `head` in place; False when the directory holds no value head."""
    path = Path(directory) / VALUE_HEAD_FILE
    if not path.is_file():
        return False
    device = head.linear.weight.device
    head.load_state_dict({k: v.to(device) for k, v in load_file(path).items()})
    return True
