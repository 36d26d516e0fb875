"""The offline demo: tiny model -> evaluate -> GRPO on arith -> evaluate -> before/after table.

    rlvr demo                                   # configs/arith_grpo.yaml, Prefect ephemeral mode, 2 CPU cores
    rlvr demo -c configs/arith_grpo.yaml train.steps=10

Without `-c` (here and in `rlvr serve`) the config is `configs/arith_grpo.yaml` of the current directory, else
that of the rlvr source tree (an editable install); run directories are still made under the current directory.

Each stage is a subflow (`bootstrap`, `evaluate`, `train`), so with a server configured the whole demo
shows up in the UI as one `demo` run with its children. Re-running resumes the training run in
`train.checkpoint.dir` (a finished run is only re-evaluated); delete that directory to start afresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger
from rlvr.flows.artifacts import artifact_key
from rlvr.flows.bootstrap import bootstrap_flow
from rlvr.flows.evaluate import evaluate_flow
from rlvr.flows.train import resolve_config, train_flow
from rlvr.trainers.run_config import ConfigError

DEFAULT_CONFIG = "configs/arith_grpo.yaml"
SOURCE_ROOT = Path(__file__).resolve().parents[1]  # flows/ sits at the top of the repository (pyproject.toml)


def default_config(name: str = DEFAULT_CONFIG) -> str:
    """The config used when none is given: `name` from the current directory if it is there, else from the
    source tree rlvr is installed from. ConfigError if neither has it (a wheel install ships no configs/)."""
    if Path(name).is_file():
        return name
    if (SOURCE_ROOT / name).is_file():
        return str(SOURCE_ROOT / name)
    raise ConfigError(f"config file not found: {name} (neither in the current directory nor in the rlvr source "
                      f"tree {SOURCE_ROOT}); pass -c FILE")


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def before_after_markdown(before: dict[str, Any], after: dict[str, Any]) -> str:
    """A markdown table: each suite's metrics before and after training, with the change."""
    lines = ["| suite | metric | before | after | change |", "|---|---|---|---|---|"]
    for suite, b in before["suites"].items():
        a = after["suites"].get(suite, {})
        for metric in [m for m in b if m.startswith(("pass@", "maj@"))] + ["greedy_accuracy"]:
            old, new = b.get(metric), a.get(metric)
            change = f"{new - old:+.3f}" if old is not None and new is not None else "-"
            lines.append(f"| {suite} | {metric} | {_fmt(old)} | {_fmt(new)} | {change} |")
    return "\n".join(lines) + "\n"


def summary_text(before: dict[str, Any], after: dict[str, Any], trained: dict[str, Any]) -> str:
    """What the demo prints at the end: the table and where the plot and reports are."""
    return "\n".join([
        "", f"Before/after {trained['step']} GRPO steps:", "", before_after_markdown(before, after),
        f"training curves:       {trained['plot']}",
        f"metrics log:           {trained['run_dir']}/metrics.jsonl",
        f"eval before training:  {before['saved']['report']}",
        f"eval after training:   {after['saved']['report']}",
        f"best checkpoint:       {trained['run_dir']}/best", "",
    ])


@flow(name="demo")
def demo_flow(config_path: str | None = None, overrides: list[str] = []) -> dict[str, Any]:  # noqa: B006
    """Evaluate the base model, train it with GRPO, evaluate the result; returns both reports and the run summary.
    `config_path` None: `default_config()`."""
    log = get_run_logger().info
    config_path = config_path or default_config()
    log(f"demo config: {config_path}")
    cfg = resolve_config(None, config_path, overrides)
    bootstrap_flow(cfg.model.path)
    before = evaluate_flow(cfg.model.path, config_path=config_path, overrides=overrides)
    trained = train_flow(config_path=config_path, overrides=overrides, resume=True, final_eval=True)
    after = trained["eval"]
    text = summary_text(before, after, trained)
    create_markdown_artifact(text, key=artifact_key(cfg.name, "demo"), description="Before/after GRPO")
    log(f"demo done: {cfg.name} trained to step {trained['step']}; score {before['score']:.3f} -> {after['score']:.3f}")
    return {"before": before, "after": after, "train": trained, "summary": text}
