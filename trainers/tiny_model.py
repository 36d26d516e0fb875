"""Build the offline default model: a byte-level BPE tokenizer and a small random Qwen2 causal LM.

Everything is deterministic from the seed, so two builds give byte-identical tokenizers and the
same initial weights. The model is saved in Hugging Face format that transformers and vLLM load.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from rlvr.data.config import TaskConfig
from rlvr.data.tasks import load_problems

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SIZES = {  # ~3.7M and ~33M parameters with the 2k vocabulary; head_dim 64 suits vLLM's CPU kernels
    "tiny": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2),
    "small": dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=4),
}
_GENERIC_TEXT = """The answer is 42. Let us think step by step. First, add the numbers; then multiply.
def main():\n    return None\nfor i in range(10):\n    print(i)\nif x > 0:\n    return x\nelse:\n    return -x
Write a function that returns the sum of a list. The result is correct. Question: what is the total?
user
assistant
system
"""


def _corpus() -> list[str]:
    texts = [_GENERIC_TEXT]
    for task in ("arith", "code"):
        for level in range(1, 6):
            for p in load_problems(TaskConfig(name=task, level=level, limit=300, seed=1234)):
                texts.append(p.prompt[0]["content"])
                texts.append(p.meta["solution"])
    return texts


def build_tokenizer(vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    # Digits one per token: a tiny model learns column arithmetic far more easily.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(out_dir: str | Path, seed: int = 0, size: str = "tiny") -> Path:
    """Write tokenizer + randomly initialised Qwen2ForCausalLM to `out_dir` and return it."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; allowed: {', '.join(SIZES)}")
    return build_random_model(out_dir, SIZES[size], seed)


def build_random_model(out_dir: str | Path, shape: dict, seed: int = 0) -> Path:
    """Write the offline tokenizer and a float32 random-init Qwen2ForCausalLM whose Qwen2Config keyword
    arguments (hidden_size, num_hidden_layers, ...) are `shape` to `out_dir`; return it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(out)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        rope_theta=10000.0,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|im_start|>"),
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        **shape,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).to(torch.float32)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    return out
