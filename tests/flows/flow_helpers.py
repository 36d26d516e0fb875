"""Helpers of the flow tests: the tiny run config.

It trains 2 steps of GRPO on 4 prompts x G=4 with 32-token completions, checkpoints every step and
evaluates 8 problems with n=2; the hf sampler backend keeps start-up short (the demo itself uses vLLM).
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs" / "arith_grpo.yaml")


def tiny_overrides(run_dir: Path, model_path: str, name: str = "flows-test") -> list[str]:
    """Dotted overrides on configs/arith_grpo.yaml for a run that takes seconds."""
    return [
        f"name={name}", f"model.path={model_path}", "sampler.backend=hf", "sampler.params.max_tokens=32",
        "train.steps=2", "train.prompts_per_step=4", "train.grpo.group_size=4", "train.optim.micro_batch_size=16",
        f"train.checkpoint.dir={run_dir}", "train.checkpoint.every=1", "verify.workers=1",
        "eval.tasks=[{name: arith, level: 2, split: test, limit: 8}]", "eval.n=2", "eval.k=[1, 2]",
        "eval.params.max_tokens=32",
    ]
