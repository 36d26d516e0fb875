"""Which problems a step trains on: epoch-wise permutations from the run seed, addressed by a cursor.

The cursor counts prompts consumed since the start of the run, so a resumed run given the saved
cursor draws exactly the batches the uninterrupted run would have drawn.
"""

from __future__ import annotations

import random


def _epoch_order(num_problems: int, seed: int, epoch: int) -> list[int]:
    order = list(range(num_problems))
    random.Random(f"{seed}:epoch:{epoch}").shuffle(order)
    return order


def batch_indices(num_problems: int, cursor: int, batch_size: int, seed: int) -> list[int]:
    """Indices of the `batch_size` problems starting at `cursor` in the run's infinite shuffled stream."""
    if num_problems <= 0:
        raise ValueError("the task has no problems to train on")
    out: list[int] = []
    position = cursor
    while len(out) < batch_size:
        epoch, offset = divmod(position, num_problems)
        order = _epoch_order(num_problems, seed, epoch)
        take = min(batch_size - len(out), num_problems - offset)
        out += order[offset : offset + take]
        position += take
    return out
