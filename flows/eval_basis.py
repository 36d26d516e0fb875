"""What an evaluation's score can be compared with, and the run's best checkpoint chosen on it.

A report's `score` is the mean pass@1 over its suites. Scores compare only on one basis (`score_basis`): the
suites and their problem counts, the decoding settings a score depends on, and each suite's verifier with all its
options. `mark_best` points `<run_dir>/best` at the checkpoint with the highest score on the basis recorded in
`<run_dir>/best.json`; a report on another basis leaves the best as it is.

    mark_best(run_dir, checkpoint, report)     # <run_dir>/best -> checkpoints/step-N, <run_dir>/best.json
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rlvr.flows.eval_files import write_report
from rlvr.trainers.run_config import RunConfig

# The decoding settings a score depends on (the seed and n do not bias pass@1): part of its basis (`score_basis`).
SCORED_PARAMS = {"temperature", "top_p", "top_k", "max_tokens", "min_tokens", "stop"}
BASIS_KEYS = ("suites", "sampling", "verifiers")


def scored_sampling(cfg: RunConfig) -> dict[str, Any]:
    """The eval decoding settings a score depends on."""
    return cfg.eval.params.model_dump(include=SCORED_PARAMS)


def scored_verifiers(cfg: RunConfig) -> dict[str, Any]:
    """Each suite's verifier and the values of all its options, defaults spelled out (a code sandbox that allows
    processes scores other programs; an option set to its default is the same basis as one left unset)."""
    return {task.suite_name(): {"name": spec.name, "options": _option_values(spec)}
            for task in cfg.eval.tasks for spec in [cfg.eval_verifier_spec(task)]}


def _option_values(spec) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    from rlvr.verifiers.registry import build_options

    options = build_options(spec.name, spec.options)
    values = asdict(options) if is_dataclass(options) else dict(options or {})
    return json.loads(json.dumps(values, default=str))  # as a report stores them (tuples become lists)


def evaluation_settings(cfg: RunConfig) -> dict[str, Any]:
    """Everything of a config that changes what its evaluation reports: the `eval` section (suites, n, k, decoding,
    seed, greedy, samples) and each suite's verifier with its options (they come from `verify.verifiers`)."""
    return json.loads(json.dumps({"eval": cfg.eval.model_dump(mode="json"), "verifiers": scored_verifiers(cfg)},
                                 default=str))


def score_basis(report: dict[str, Any]) -> dict[str, Any]:
    """What a report's score is a mean over: its suites and their problem counts, the decoding that sampled them
    and the verifiers that scored them. Scores compare only on one basis (pass@1 on gsm8k says nothing against
    pass@1 on arith, nor greedy decoding against temperature 1, nor 64 tokens against 512)."""
    return {"suites": {name: suite.get("problems") for name, suite in sorted(report["suites"].items())},
            "sampling": report.get("sampling"), "verifiers": report.get("verifiers")}


def other_basis_than_best(run_dir: str | Path, report: dict[str, Any]) -> dict[str, Any] | None:
    """What of the run's recorded best's basis differs from this report's (then they are not compared); None when
    they share one. A best recorded with a shorter basis (before decoding and verifiers were part of it) is compared
    on what it holds."""
    record_path = Path(run_dir) / "best.json"
    if not record_path.is_file():
        return None
    best = json.loads(record_path.read_text())
    if not (Path(run_dir) / best["checkpoint"]).is_dir() or "suites" not in best:  # gone, or recorded before bases
        return None
    basis = score_basis(report)
    differs = {key: best[key] for key in BASIS_KEYS if key in best and best[key] != basis[key]}
    return differs or None


def mark_best(run_dir: str | Path, checkpoint: str | Path, report: dict[str, Any]) -> bool:
    """Point `<run_dir>/best` at `checkpoint` and record it in `<run_dir>/best.json` if its score beats the
    recorded best on the same basis (ties keep the earlier one) or the recorded best no longer exists. A report
    on another basis leaves the best as it is; a new report of the best checkpoint itself updates the recorded
    score (it stays the best: the others' scores are what they were). Returns whether it moved the best."""
    run_dir, checkpoint = Path(run_dir), Path(checkpoint)
    record_path = run_dir / "best.json"
    if other_basis_than_best(run_dir, report) is not None:
        return False
    relative = os.path.relpath(checkpoint.resolve(), run_dir.resolve())
    if record_path.is_file():
        best = json.loads(record_path.read_text())
        if best["checkpoint"] == relative:
            write_report({**best, "score": report["score"], **score_basis(report)}, record_path)
            return False
        if (run_dir / best["checkpoint"]).is_dir() and report["score"] <= best["score"]:
            return False
    link = run_dir / "best"
    tmp_link = run_dir / ".best.tmp"
    if tmp_link.is_symlink():
        tmp_link.unlink()
    os.symlink(relative, tmp_link)
    os.replace(tmp_link, link)
    write_report({"checkpoint": relative, "step": report.get("step"), "score": report["score"], **score_basis(report)},
                 record_path)
    return True
