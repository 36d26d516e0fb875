"""What a run shows: a metrics table, curves (reward, accuracy, length), sample completions with verdicts.

The builders (`metrics_markdown`, `plot_curves`, `sample_rows`) are plain functions; `publish_*` turn
their output into Prefect artifacts (keys are the run name, slugged: `arith-grpo-metrics`).
"""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path
from typing import Any

METRIC_COLUMNS = [
    ("step", "step", "{:d}"),
    ("loss", "loss", "{:.4f}"),
    ("reward_mean", "reward", "{:.3f}"),
    ("accuracy", "accuracy", "{:.3f}"),
    ("kl", "kl", "{:.4f}"),
    ("completion_len_mean", "len", "{:.1f}"),
    ("truncation_rate", "trunc", "{:.2f}"),
    ("zero_variance_frac", "zero-var", "{:.2f}"),
    ("tokens_per_s", "tok/s", "{:.0f}"),
    ("step_time_s", "time (s)", "{:.1f}"),
]


def artifact_key(name: str, kind: str) -> str:
    """Prefect artifact keys allow lower-case letters, digits and dashes only."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "run"
    return f"{slug}-{kind}"


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def metrics_markdown(rows: list[dict[str, Any]], title: str = "Training metrics", max_rows: int = 50) -> str:
    """A markdown table of the per-step metrics (the last `max_rows` steps)."""
    head = "| " + " | ".join(label for _, label, _ in METRIC_COLUMNS) + " |"
    lines = [f"### {title}", "", head, "|" + "---|" * len(METRIC_COLUMNS)]
    for row in rows[-max_rows:]:
        lines.append("| " + " | ".join(_cell(row.get(key), fmt) for key, _, fmt in METRIC_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def smooth(values: list[float], weight: float = 0.6) -> list[float]:
    """Exponential moving average, debiased (TensorBoard's smoothing): early points are not pulled to 0;
    NaN values are skipped."""
    out, avg, norm = [], 0.0, 0.0
    for value in values:
        if value is not None and not math.isnan(value):
            avg, norm = avg * weight + (1 - weight) * value, norm * weight + (1 - weight)
        out.append(avg / norm if norm else math.nan)
    return out


CURVE_PANELS = (("reward_mean", "reward"), ("accuracy", "accuracy"), ("completion_len_mean", "completion length (tokens)"))


def curve_series(rows: list[dict[str, Any]], evals: list[tuple[int, float]] = ()) -> list[dict[str, Any]]:
    """One panel per metric: raw and smoothed (steps, values); the accuracy panel also holds the evaluation
    score (mean pass@1) of each saved checkpoint as (steps, scores)."""
    steps = [r["step"] for r in rows]
    panels = []
    for key, title in CURVE_PANELS:
        values = [r.get(key, math.nan) for r in rows]
        values = [math.nan if v is None else float(v) for v in values]
        points = ([s for s, _ in evals], [v for _, v in evals]) if key == "accuracy" and evals else None
        panels.append({"key": key, "title": title, "raw": (steps, values), "smooth": (steps, smooth(values)),
                       "evals": points})
    return panels


def draw_curves(run_dir: str | Path, name: str, rows: list[dict[str, Any]]) -> Path | None:
    """`<run_dir>/curves.png`: reward, accuracy with the checkpoints' evaluations, length (None: no step yet)."""
    from rlvr.trainers.checkpoint import list_checkpoints

    evals = eval_points(list_checkpoints(run_dir))
    return plot_curves(rows, Path(run_dir) / "curves.png", title=name, evals=evals) if rows else None


def eval_points(checkpoints: list[Path]) -> list[tuple[int, float]]:
    """(step, score) of each checkpoint that has an evaluation report (`<ckpt>/eval.json`)."""
    import json

    points = []
    for ckpt in checkpoints:
        try:
            report = json.loads((Path(ckpt) / "eval.json").read_text())
            points.append((int(report["step"]), float(report["score"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(points)


def plot_curves(rows: list[dict[str, Any]], path: str | Path, title: str = "",
                evals: list[tuple[int, float]] = ()) -> Path:
    """Save one panel per metric (reward, accuracy, completion length) against step as a PNG: the raw values
    faint, the smoothed line on top, checkpoint evaluations as points (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    panels = curve_series(rows, evals)
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), dpi=90)
    for ax, panel in zip(axes, panels):
        ax.plot(*panel["raw"], color="tab:blue", alpha=0.3, linewidth=1, label="per step")
        ax.plot(*panel["smooth"], color="tab:blue", linewidth=2, label="smoothed")
        if panel["evals"]:
            ax.plot(*panel["evals"], "o", color="tab:red", markersize=5, label="checkpoint eval (pass@1)")
        ax.set_title(panel["title"], fontsize=10)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if panel["key"] == "accuracy":
            ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="best", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def sample_rows(groups, verdicts, primary: str, limit: int = 8, chars: int = 160) -> list[dict[str, Any]]:
    """One row per completion (first completion of up to `limit` groups, then the rest) with its verdict."""
    rows = []
    order = [(g, i) for i in range(max((len(g.completions) for g in groups), default=0)) for g in range(len(groups))]
    for g, i in order:
        if len(rows) >= limit:
            break
        if i >= len(groups[g].completions):
            continue
        completion, verdict = groups[g].completions[i], verdicts[g][i].get(primary)
        rows.append({
            "problem": completion.problem_id,
            "completion": completion.text[:chars].replace("\n", " "),
            "status": verdict.status if verdict else "-",
            "reward": verdict.reward if verdict else None,
            "pred": str(verdict.detail.get("pred", "")) if verdict else "",
            "gold": str(groups[g].problem.reference)[:40],
            "rule": str(verdict.detail.get("rule", "")) if verdict else "",
        })
    return rows


def image_markdown(png: Path, title: str) -> str:
    """Markdown showing the PNG inline (data URI) and naming the file it is saved in."""
    data = base64.b64encode(Path(png).read_bytes()).decode()
    return f"### {title}\n\n![{title}](data:image/png;base64,{data})\n\nSaved at `{png}`\n"


def publish_training(name: str, rows: list[dict[str, Any]], png: Path | None, samples: list[dict[str, Any]]) -> None:
    """Create the run's metrics, curve and sample artifacts in Prefect."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    create_markdown_artifact(metrics_markdown(rows, f"Training metrics: {name}"), key=artifact_key(name, "metrics"),
                             description="Per-step training metrics")
    if png is not None:
        create_markdown_artifact(image_markdown(png, f"Training curves: {name}"), key=artifact_key(name, "curve"),
                                 description=f"Reward, accuracy and completion length ({png})")
    if samples:
        create_table_artifact(samples, key=artifact_key(name, "samples"),
                              description="Sample completions of the last step with their verdicts")


def publish_eval(name: str, markdown: str) -> None:
    """Create the evaluation report artifact."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(markdown, key=artifact_key(name, "eval"), description="Evaluation report")
