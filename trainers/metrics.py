"""Per-step training metrics from scored groups, and the JSONL log they are written to."""

from __future__ import annotations

import json
import math
import re
import resource
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from rlvr.verifiers.verdict import STATUSES


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def to_floats(stats: dict[str, Any]) -> dict[str, Any]:
    """`stats` with every tensor value read as a float: one stacked copy per device for all of them (each read of a
    GPU value waits for the device, so a step reads its stats once, at its end, not value by value)."""
    out = dict(stats)
    by_device: dict[torch.device, list[str]] = {}
    for key, value in stats.items():
        if isinstance(value, torch.Tensor):
            by_device.setdefault(value.device, []).append(key)
    for keys in by_device.values():
        values = torch.stack([stats[k].detach().reshape(()).double() for k in keys]).tolist()
        out.update(zip(keys, values))
    return out


def _mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def metric_name(verifier: str) -> str:
    """A verifier's name as it appears in metric keys: MLflow refuses any character but letters, digits and
    `_ - . : / space` (a repeated verifier's key `format#2` becomes `format-2`), and a `/` would add a level."""
    return re.sub(r"[^\w.\- :]", "-", verifier)


FAILED = ("error", "timeout")  # statuses that say the verifier failed, not the completion
REASON_CHARS = 160


def failure_reason(verdict) -> str:
    """Why a failed verdict failed, in one line of at most REASON_CHARS: its `error` text
    (`ZeroDivisionError: division by zero`, `returned float: ...`), else its rule (`deadline`, `worker_died`)."""
    text = str(verdict.detail.get("error") or verdict.detail.get("rule") or verdict.status).strip()
    line = text.splitlines()[0] if text else verdict.status
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 3] + "..."


def _first_failure_reason(verdicts: list[list[dict[str, Any]]], name: str) -> str | None:
    return next((failure_reason(v[name]) for group in verdicts for v in group
                 if name in v and v[name].status in FAILED), None)


def _status_fractions(verdicts: list[list[dict[str, Any]]], name: str) -> dict[str, float]:
    statuses = Counter(v[name].status for group in verdicts for v in group if name in v)
    total = sum(statuses.values()) or 1
    return {status: statuses.get(status, 0) / total for status in STATUSES}


def rollout_metrics(groups, rewards: list[list[float]], verdicts: list[list[dict[str, Any]]], primary: str) -> dict:
    """Reward stats overall and by verifier; status fractions by verifier; accuracy; lengths; truncation.

    `rewards[g][i]` is the combined reward of completion i of group g; `verdicts[g][i]` maps verifier name
    to its Verdict; `primary` is the verifier whose `correct` status defines accuracy. The primary's status
    fractions are `status/<status>`, every other verifier's `status/<name>/<status>`, so a second verifier that
    only times out or raises shows in the log, not as a silent zero in the combined reward. A verifier with an
    error/timeout verdict also gets the first one's reason (`failure_reason`, `failure_reason/<name>`: text, which
    the trackers leave out).
    """
    flat = [r for group in rewards for r in group]
    if not flat:  # e.g. DPO on a pairs file samples nothing
        return {"generated_tokens": 0, "accuracy": math.nan, "reward_mean": math.nan, "completion_len_mean": math.nan}
    mean, std = _mean_std(flat)
    out: dict[str, float] = {"reward_mean": mean, "reward_std": std}
    names = sorted({name for group in verdicts for v in group for name in v})
    for name in names:
        m, _ = _mean_std([v[name].reward for group in verdicts for v in group if name in v])
        out[f"reward/{metric_name(name)}"] = m
    primary_statuses = _status_fractions(verdicts, primary)
    out.update({f"status/{status}": frac for status, frac in primary_statuses.items()})
    for name in names:
        if name != primary:
            out.update({f"status/{metric_name(name)}/{s}": f for s, f in _status_fractions(verdicts, name).items()})
        if reason := _first_failure_reason(verdicts, name):
            out[_reason_key("" if name == primary else metric_name(name))] = reason
    out["accuracy"] = primary_statuses["correct"]
    lengths = [len(c.token_ids) for g in groups for c in g.completions]
    out["completion_len_mean"] = sum(lengths) / max(1, len(lengths))
    out["completion_len_max"] = max(lengths, default=0)
    out["truncation_rate"] = sum(c.truncated for g in groups for c in g.completions) / max(1, len(lengths))
    out["zero_variance_frac"] = sum(1 for group in rewards if max(group) == min(group)) / max(1, len(rewards))
    out["generated_tokens"] = sum(lengths)
    out["completions"] = len(lengths)
    return out


def _json_line(row: dict) -> str:
    """One row as strict JSON: a metric the step does not have (NaN: offline DPO's reward) is null, as jq, pandas
    and JavaScript read it; Python's json would write a bare NaN, which they refuse. Read back as NaN."""
    return json.dumps({k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()},
                      allow_nan=False) + "\n"


class MetricsLog:
    """Append-only JSONL of per-step metrics; on resume, lines past the restored step are dropped.

    A run killed while appending leaves a cut-off last line: reading skips it (and says so), and the
    resume's `truncate_after` rewrites the file without it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def truncate_after(self, step: int, log=None) -> None:
        if not self.path.exists():
            return
        kept = [line for line in self.read(log=log) if line["step"] <= step]
        self.path.write_text("".join(_json_line(row) for row in kept))

    def append(self, row: dict) -> None:
        with open(self.path, "a") as fh:
            fh.write(_json_line(row))

    def read(self, log=None) -> list[dict]:
        """The rows, in file order. A line that is not a row is skipped, with one `log` line naming it (its line
        number in the file): the rows are a log, the checkpoint is the run's state, so a damaged row must not stop
        a resume; `truncate_after` then rewrites the file without it."""
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        last = max((number for number, line in enumerate(lines, 1) if line.strip()), default=0)
        rows = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("step"), int):
                    raise ValueError("no step")
            except ValueError:  # json.JSONDecodeError included
                if log and number == last:  # only the last line can be cut off by a kill
                    log(f"{self.path}: dropped its cut-off last line (a run killed while writing it)")
                elif log:
                    log(f"warning: {self.path}:{number}: skipped a line that is not a JSON metrics row (damaged?): "
                        f"{line[:60]!r}")
                continue
            rows.append({k: math.nan if v is None else v for k, v in row.items()})
        return rows


STEP_LINE = (  # (metric, label, format): what the step's console line shows, where the step has it
    ("loss", "loss", ".4f"), ("policy_loss", "pg_loss", ".4f"), ("value_loss", "vf_loss", ".4f"),
    ("reward_mean", "reward", ".3f"), ("accuracy", "acc", ".3f"),
    ("reward_margin", "rewards/margins", ".3f"), ("reward_accuracy", "rewards/accuracies", ".3f"), ("kl", "kl", ".4f"),
    ("completion_len_mean", "len", ".1f"), ("tokens_per_s", "tok/s", ".0f"),
)
# Labels that would be misread beside another metric of the step: {metric that the algorithm's rows always have:
# {metric: label instead, None to leave it off}}. The metrics.jsonl keys stay as they are (other tools read them).
RELABEL = {
    # PPO: its `loss` is pg_loss + vf_coef * vf_loss (- entropy_coef * entropy); the parts say what moved
    "policy_loss": {"loss": None},
    # DPO: beside the implicit reward's stats (TRL's rewards/margins, rewards/accuracies), the sampled completions'
    # verifier reward and accuracy say whose they are
    "pairs": {"reward_mean": "verifier_reward", "accuracy": "verifier_acc"},
}


def _reason_key(name: str) -> str:
    """The row key of a verifier's first failure reason; `name`: its metric name, "" for the primary."""
    return f"failure_reason/{name}" if name else "failure_reason"


def _verifiers_of(row: dict) -> list[str]:
    """"" (the primary), then each other verifier's metric name, as the row's `status/<name>/<s>` keys hold them."""
    return ["", *sorted({key.split("/")[1] for key in row if key.startswith("status/") and key.count("/") == 2})]


def _status_prefix(name: str) -> str:
    return f"status/{name}/" if name else "status/"


def _failed_fraction(row: dict, name: str) -> float:
    return sum(row.get(_status_prefix(name) + status, 0.0) for status in FAILED)


def row_failure_reason(row: dict, name: str) -> str | None:
    """The first error/timeout verdict's reason of verifier `name` (metric name, "" for the primary) this step."""
    reason = row.get(_reason_key(name))
    return reason if isinstance(reason, str) else None


def _first_reason(row: dict, name: str) -> str:
    reason = row_failure_reason(row, name)
    return f"; first: {reason}" if reason else ""


def failing_verifiers(row: dict) -> list[str]:
    """The verifiers (metric name, "" for the primary, first) whose every verdict this step is error/timeout: the
    step's line warns of each (`format_step`), and the Trainer stops after a number of such steps in a row
    (trainers/verifier_health.py)."""
    if not row.get("completions"):
        return []
    return [name for name in _verifiers_of(row) if _failed_fraction(row, name) >= 1.0 - 1e-9]


def format_step(row: dict, total: int) -> str:
    """The step's console line: the metrics the step has (offline DPO samples nothing, so it has no reward or
    length, only its loss and preference margin), labelled so that each says whose it is (`RELABEL`); it ends in a
    warning for each verifier whose every verdict this step is error/timeout, with the first one's reason: the
    primary (`status/<s>`), then each other one by name (`status/<name>/<s>`: a second verifier that always fails
    would otherwise only lower the combined reward, unseen)."""
    labels = {key: label for key, label, _ in STEP_LINE}
    for marker, changes in RELABEL.items():
        if marker in row:
            labels.update(changes)
    shown = [f"{labels[key]} {row[key]:{fmt}}" for key, _, fmt in STEP_LINE
             if labels[key] and isinstance(row.get(key), (int, float)) and math.isfinite(row[key])]
    if not row.get("generated_tokens"):  # nothing sampled: no throughput to speak of
        shown = [part for part in shown if not part.startswith("tok/s")]
    line = f"step {row['step']}/{total} " + " ".join(shown) + f" ({row['step_time_s']:.1f}s)"
    for name in failing_verifiers(row):
        prefix = _status_prefix(name)
        counts = ", ".join(f"{s} {round(row.get(prefix + s, 0.0) * row['completions'])}" for s in FAILED)
        # the name quoted: Prefect's console (rich) shows `:boom:` of `verifier my_rewards:boom: every` as an emoji
        who, why = (f"verifier {name!r}: ", "it adds nothing to the reward") if name else \
            ("", "the verifier is failing, not the policy")
        line += f" -- WARNING: {who}every verdict is error/timeout ({counts}{_first_reason(row, name)}): {why}"
    return line


def partial_failures(row: dict) -> dict[str, str]:
    """Verifier (metric name, "" for the primary) -> a warning line, for each verifier some but not all of whose
    verdicts this step are error/timeout: unlike a verifier failing on everything (on the step's line), its share
    of failures otherwise shows only in the `status/` metrics. The caller says each one once per run."""
    warnings = {}
    for name in _verifiers_of(row):
        failed = _failed_fraction(row, name)
        if not row.get("completions") or not 1e-9 < failed < 1.0 - 1e-9:
            continue
        who = f"verifier {name!r}" if name else "the verifier"
        warnings[name] = (f"warning: {who}: {round(failed * row['completions'])} of {row['completions']} verdicts "
                          f"of step {row['step']} are error/timeout{_first_reason(row, name)} (said once per run; "
                          f"the status/ metrics count them at every step)")
    return warnings
