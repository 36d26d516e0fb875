"""Where one GRPO backward pass goes: rlvr's `grpo_backward` on a synthetic batch shaped like the arith step.

32 groups x G=8, prompts of 20-32 tokens, completions of 8-30 tokens (15% run to 64), random token ids, the
untrained tiny architecture (built in a temp dir), float32, one thread, beta 0, dapo. Prints the wall time of
three passes and, with --profile, torch's operator table. Run it on two commits to compare training layouts.

    python bench/grpo_backward_profile.py [--profile]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

from rlvr.trainers.config import GRPOConfig  # noqa: E402
from rlvr.trainers.grpo import grpo_backward  # noqa: E402
from rlvr.trainers.logprobs import make_batch  # noqa: E402
from rlvr.trainers.policy import Policy  # noqa: E402
from rlvr.trainers.tiny_model import build_tiny_model  # noqa: E402


def synthetic_batch(vocab: int, groups: int = 32, group_size: int = 8, seed: int = 0):
    rng = random.Random(seed)
    prompts, completions = [], []
    for _ in range(groups):
        prompt = [rng.randrange(5, vocab) for _ in range(rng.randint(20, 32))]
        for _ in range(group_size):
            length = 64 if rng.random() < 0.15 else rng.randint(8, 30)
            prompts.append(prompt)
            completions.append([rng.randrange(5, vocab) for _ in range(length)])
    return make_batch(prompts, completions, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="print torch's operator table for one pass")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        model = AutoModelForCausalLM.from_pretrained(build_tiny_model(Path(tmp) / "tiny"), dtype=torch.float32)
    policy = Policy(model)
    batch = synthetic_batch(model.config.vocab_size)
    advantages = torch.randn(batch.size, generator=torch.Generator().manual_seed(0))
    cfg = GRPOConfig(beta=0.0, loss_aggregation="dapo")
    tokens = int(batch.completion_mask.sum())
    prompt_tokens = sum(len(batch.prompts[i]) for i in range(0, batch.size, 8))
    print(f"{batch.size} rows: {tokens} completion tokens, {prompt_tokens} prompt tokens")

    def one_pass():
        model.zero_grad(set_to_none=True)
        grpo_backward(policy, batch, advantages, None, None, cfg, 32, max_completion_length=64, skip_inert=False)

    one_pass()  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        one_pass()
        times.append(time.perf_counter() - start)
    print("forward+backward s:", " ".join(f"{t:.3f}" for t in times))
    if args.profile:
        from torch.profiler import profile

        with profile() as prof:
            one_pass()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
