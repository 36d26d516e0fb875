"""Which verifiers score a completion, with what weight and options.

The config types validate through the registry (`build_options`); the registry never imports them back: it takes
any object with `name`, `weight` and `options` (`registry.Spec`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rlvr.verifiers.registry import build_options


class VerifierSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="A built-in name (math, code, format), an import path 'my_pkg.rewards:score', or "
                      "a file 'path/to/rewards.py:score' (verl's custom_reward_function.path).")
    weight: float = Field(
        1.0, allow_inf_nan=False,
        description="Weight of this verifier's reward in the combined reward: any finite number. Negative is allowed "
        "(a penalty, as TRL's reward_weights allow); NaN or inf is refused (every reward became non-finite and the "
        "run stopped at step 1).")
    options: dict[str, Any] = Field(default_factory=dict, description="Passed to the verifier's options dataclass.")

    @model_validator(mode="after")
    def _known_verifier_and_options(self) -> "VerifierSpec":
        build_options(self.name, self.options)
        return self


class VerifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verifiers: list[VerifierSpec] | None = Field(
        None, description="Verifiers and weights; None = the task's own verifier with weight 1."
    )
    workers: int = Field(2, ge=1, description="Processes in the verification pool.")
    timeout_s: float = Field(
        10.0, gt=0, allow_inf_nan=False,
        description="Hard per-call timeout, enforced by killing the worker; finite (inf crashed the pool's wait).")
    memory_mb: int | None = Field(
        4096, ge=64, description="Address-space cap of each verification worker (RLIMIT_AS, MiB); a verifier that "
        "allocates past it gets an `error` Verdict (rule memory_limit). None = no cap.")
    cache: bool = Field(True, description="Cache verdicts by (verifier, version, completion, reference).")
    runner: Literal["pool", "dask", "ray"] = Field(
        "pool",
        description="Where verification runs: pool = this machine's process pool (VerifierPool); dask / ray = Prefect "
        "tasks on a DaskTaskRunner / RayTaskRunner (verifiers/task_runner.py), each task verifying its chunk in a "
        "one-process pool on the worker, so the hard per-call timeout still holds.",
    )
    runner_address: str | None = Field(
        None,
        description="dask: scheduler address (tcp://host:8786); ray: cluster address (ray://host:10001); None = start "
        "a local cluster on 127.0.0.1 with `workers` single-threaded workers.",
    )
    chunk_size: int = Field(16, ge=1, description="Completions per Prefect task under the dask and ray runners.")
