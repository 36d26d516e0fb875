"""DPO baseline: direct preference optimisation on (chosen, rejected) pairs.

Objective (DESIGN.md): -log sigmoid(beta * h), h = (log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l)),
on summed response log-probs; `loss_type: ipo` uses (h - 1/(2 beta))^2 instead. Reference = the
adapter-disabled model under LoRA, a frozen copy under full fine-tuning; its log-probs are computed once
per pair and cached. Pairs come online from verifier-labelled groups (per prompt: the best completion
against the worst; groups whose rewards are all equal give none) or, with `dpo.pairs_path`, from a
JSONL file of {prompt, chosen, rejected} read in a fixed, seeded order.

Run: `rlvr train -c configs/arith_dpo.yaml`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from rlvr.trainers.data_order import batch_indices
from rlvr.trainers.dpo_step import ReferenceCache, dpo_backward, pairs_from_groups
from rlvr.trainers.sft import SFTExample, encode_example


def read_pairs_file(path: str | Path, tokenizer) -> list[tuple[list[int], list[int], list[int]]]:
    """Tokenised (prompt, chosen, rejected); a malformed line is an error naming its line number."""
    pairs = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompt, chosen, rejected = row["prompt"], row["chosen"], row["rejected"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: expected a JSON object with prompt, chosen, rejected ({exc})") from None
        prompt_ids, chosen_ids = encode_example(tokenizer, SFTExample(prompt, chosen))
        _, rejected_ids = encode_example(tokenizer, SFTExample(prompt, rejected))
        pairs.append((prompt_ids, chosen_ids, rejected_ids))
    if not pairs:
        raise ValueError(f"{path} holds no preference pairs")
    return pairs


class DPOAlgorithm:
    def __init__(self, cfg):
        self.cfg = cfg.train.dpo
        self.prompts_per_step = cfg.train.prompts_per_step
        self.micro_batch_size = cfg.train.optim.micro_batch_size
        self.seed = cfg.train.seed
        self.reference_cache = ReferenceCache()
        self._file_pairs = None
        self._pending: list = []

    def policy_options(self) -> dict:
        return {"need_reference": True}

    def rollout(self, trainer):
        if self.cfg.pairs_path is None:
            return trainer.sample_and_score(trainer.next_problems(self.prompts_per_step), self.cfg.group_size)
        if self._file_pairs is None:
            self._file_pairs = read_pairs_file(self.cfg.pairs_path, trainer.policy.tokenizer)
        idx = batch_indices(len(self._file_pairs), trainer.cursor, self.prompts_per_step, self.seed)
        trainer.cursor += self.prompts_per_step
        self._pending = [self._file_pairs[i] for i in idx]
        return [], [], []

    def update(self, trainer, groups, rewards) -> dict:
        pairs = self._pending if self.cfg.pairs_path else pairs_from_groups(zip(groups, rewards))
        self._pending = []
        if not pairs:  # no group had a better and a worse completion
            trainer.scheduler.step()
            return {"loss": 0.0, "pairs": 0.0, "grad_norm": 0.0}
        policy, dist = trainer.policy, trainer.dist
        if dist.enabled:  # DDP: reference sums only for the chunks this rank computes (dpo_backward's split)
            mbs = self.micro_batch_size
            owned = [i for i in range(len(pairs)) if dist.owns(i // mbs)]
            ref_sums = torch.zeros(len(pairs), 2)
            if owned:
                ref_sums[owned] = self.reference_cache.logprob_sums(policy, [pairs[i] for i in owned], mbs)
        else:
            ref_sums = self.reference_cache.logprob_sums(policy, pairs, self.micro_batch_size)
        policy.train()
        stats = dpo_backward(policy, pairs, ref_sums, self.cfg, self.micro_batch_size, dist)
        trainer.check_finite(stats["loss"], "DPO loss")
        stats["grad_norm"] = trainer.optimizer_step()
        trainer.scheduler.step()
        policy.train(False)
        return stats

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
