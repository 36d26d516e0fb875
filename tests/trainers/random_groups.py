"""Random GRPO-shaped rows for the micro-batching tests: `groups` prompts, each repeated for `size` completions."""

import random


def random_groups(seed=0, groups=3, size=4, shortest=0, longest=7):
    """(prompts, completions): a prompt of 3-9 tokens per group, completions of `shortest`-`longest` tokens (an empty
    one included when shortest is 0), token ids in 3..399 (the tiny model's vocabulary)."""
    rng = random.Random(seed)
    prompts, completions = [], []
    for _ in range(groups):
        prompt = [rng.randrange(3, 400) for _ in range(rng.randint(3, 9))]
        for _ in range(size):
            prompts.append(prompt)
            completions.append([rng.randrange(3, 400) for _ in range(rng.randint(shortest, longest))])
    return prompts, completions
