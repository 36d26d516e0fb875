"""Drop vLLM's per-sync log lines that are expected after every in-place weight sync (one step = one sync).

- `RotaryEmbedding: Failed to load weights`: the rotary layer has buffers, no weights, to reload;
- `ParallelLMHead: Failed to load weights`: a tied LM head is not in the state dict (its packed copy is
  refreshed by the sampler, see `_refresh_tied_lm_head`);
- `Reloading and processing weights took ...` and `Successfully reset prefix cache`: one each per sync.
Every other vLLM message passes through.
"""

from __future__ import annotations

import logging

_EXPECTED = {
    "vllm.model_executor.model_loader.reload.layerwise": ("RotaryEmbedding", "ParallelLMHead"),
    "vllm.model_executor.model_loader.reload.inplace": ("Reloading and processing weights took",),
    "vllm.v1.core.block_pool": ("Successfully reset prefix cache",),
}


class _DropExpected(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def quiet_sync_logs() -> None:
    """Install the filters once per process (idempotent)."""
    for name, prefixes in _EXPECTED.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropExpected) for f in logger.filters):
            logger.addFilter(_DropExpected(prefixes))
