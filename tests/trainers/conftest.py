"""Shared fixtures of the trainer tests: a tiny real Qwen2 causal LM built in memory."""

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

VOCAB = 128


def build_tiny_lm(seed: int = 0) -> Qwen2ForCausalLM:
    """~0.1M parameters; a larger init range than the default so log-probs differ between tokens."""
    torch.manual_seed(seed)
    cfg = Qwen2Config(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        tie_word_embeddings=True, pad_token_id=0, initializer_range=0.2,
    )
    return Qwen2ForCausalLM(cfg).eval()


@pytest.fixture
def tiny_lm():
    """A factory: tiny_lm(seed) -> a fresh tiny model (same seed, same weights)."""
    return build_tiny_lm


@pytest.fixture
def rows():
    """(prompts, completions) of 4 rows with different prompt and completion lengths."""
    prompts = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10], [11]]
    completions = [[20, 21, 22, 23], [24], [25, 26], [27, 28, 29, 30, 31, 32]]
    return prompts, completions
