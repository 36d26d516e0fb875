"""The model folder a scale-out child gives its ranks other than 0: everything but the weight files, so a rank that
built on the meta device (and reads no weights) runs, and one that tried to read them fails at once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def weightless_copy(model: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for item in model.iterdir():
        if item.is_file() and not item.name.endswith(WEIGHT_SUFFIXES) and not (dest / item.name).exists():
            shutil.copy2(item, dest / item.name)
    return dest


def model_for_this_rank(model: Path, scratch: Path) -> Path:
    """`model` on rank 0 (or alone), a weightless copy of it elsewhere (`scratch/weightless-<rank>`)."""
    rank = int(os.environ.get("RANK", "0"))
    return model if rank == 0 else weightless_copy(model, scratch / f"weightless-{rank}")
