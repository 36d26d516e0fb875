"""The training flow: config -> data and model -> training chunks with checkpoints -> final evaluation.

    rlvr train -c configs/arith_grpo.yaml train.steps=10        # or, from Python:
    train_flow(config_path="configs/arith_grpo.yaml", overrides=["train.steps=10"])

The run directory is locked for the whole run (one writer; a second run on it fails at once, naming the
holder). Stages: `prepare_data` (I/O, retried on OSError) and the model check (`bootstrap_model` builds 'tiny'
on first use; another path is checked once: by `rlvr train` before Prefect starts, else here): bad data or a bad
model path fail before the device is taken. Then, holding the device (flows/locks.py): `start_trainer`
(restores the latest checkpoint), `train_steps` up to the next checkpoint boundary, `save_checkpoint`
(retried on OSError; emits `rlvr.checkpoint.saved`), `publish_progress` (metrics table, curve PNG, sample
completions), and `evaluate` of the final checkpoint with the trainer's own sampler (then the curve is drawn
again, with that evaluation's point). A re-run or retried flow resumes from the latest checkpoint and says so; `resume=False` on a
run dir that has checkpoints fails instead of overwriting them. A re-run of a finished run loads no model: it
returns the final checkpoint's evaluation when that was made with the same eval config, else evaluates it.
"""

from __future__ import annotations

import json
import math
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import TerminationSignal
from prefect.logging import get_run_logger
from rlvr.flows import eval_pins, eval_report, eval_target
from rlvr.flows.artifacts import draw_curves, publish_training, sample_rows
from rlvr.flows.bootstrap import (bootstrap_model, check_context_length, check_device, check_model_path,
                                  check_run_dir, load_dpo_pairs, load_eval_problems, load_task_problems, retry_on_io)
from rlvr.flows.console import log_run_config
from rlvr.flows.errors import one_line_prefect_console
from rlvr.flows.evaluate import cut_evaluation_note, evaluate, save_report
from rlvr.flows.events import emit_checkpoint_saved
from rlvr.flows.locks import device_hold, run_dir_lock
from rlvr.flows.stopping import note_unwound, save_at_stop, stop_says
from rlvr.flows.tracking import check_trackers, open_tracker, progress_bar
from rlvr.trainers.checkpoint import (latest_checkpoint, looks_whole, lost_to_unwritable_run_dir, step_of,
                                     steps_to_checkpoint)
from rlvr.trainers.metrics import MetricsLog
from rlvr.trainers.run_config import ConfigError, RunConfig, apply_overrides, load_config, validate_config


def resolve_config(config: RunConfig | dict | None, config_path: str | None, overrides: list[str]) -> RunConfig:
    """One validated RunConfig from an object, a dict, or a YAML file (+ overrides); ConfigError otherwise."""
    if config is not None and config_path is not None:
        raise ConfigError("give either config or config_path, not both")
    if isinstance(config, RunConfig):
        config = config.model_dump(mode="json")
    if isinstance(config, dict):
        return validate_config(apply_overrides(config, list(overrides)), overrides=overrides)
    return load_config(config_path, list(overrides))


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def prepare_data(cfg: RunConfig, with_eval: bool = True) -> tuple[list, dict[str, list]]:
    """Load the training problems and (`with_eval`) the evaluation suites' once (downloads/caches hub datasets), log
    the counts per task, and return both: the Trainer and the final evaluation take them, so each file is read once
    and a bad row reported once. A run without a final evaluation does not read the eval data."""
    pairs = load_dpo_pairs(cfg.train)  # DPO on a pairs file samples nothing while it trains: no task problems
    problems = [] if pairs else load_task_problems(cfg.task, "training")
    eval_problems = load_eval_problems(cfg) if with_eval else {}
    counts = {"train": len(problems), **{suite: len(rows) for suite, rows in eval_problems.items()}}
    for line in _suites_on_training_rows(problems, eval_problems):
        get_run_logger().warning(line)
    if pairs:
        counts = {"dpo pairs": pairs, **{k: v for k, v in counts.items() if k != "train"}}
    elif not counts["train"]:
        raise ValueError(f"task {cfg.task.name!r} gave no training problems")
    get_run_logger().info(f"problems: {counts}")
    return problems, eval_problems


def _suites_on_training_rows(problems: list, eval_problems: dict[str, list]) -> list[str]:
    """A line per eval suite whose prompts are training prompts too: one file named as both (a file is read whole,
    whatever the split) scores the model on what it trained on, under a suite called `...-test`."""
    trained = {json.dumps(p.prompt, sort_keys=True) for p in problems}
    lines = []
    for suite, rows in eval_problems.items():
        if shared := sum(json.dumps(p.prompt, sort_keys=True) in trained for p in rows):
            lines.append(f"warning: {shared} of {len(rows)} problems of eval suite {suite} are training problems too "
                         "(the same prompt): its scores are not held out; point the suite at another file")
    return lines


@task(cache_policy=NO_CACHE)
def start_trainer(cfg: RunConfig, resume: bool, log=None, problems=None):
    """Build the Trainer (policy, sampler engine unless it samples nothing while training, verifier pool),
    restoring the latest checkpoint if resuming."""
    from rlvr.trainers.loop import Trainer

    log = log or get_run_logger().info  # the flow passes its logger: the Trainer logs on after this task ends
    latest = latest_checkpoint(cfg.train.checkpoint.dir)
    if latest is not None and not resume:  # the Trainer refuses too, but only after starting its engine
        raise FileExistsError(f"{cfg.train.checkpoint.dir} already holds checkpoints ({latest.name}); resume, "
                              "or choose another train.checkpoint.dir")
    elsewhere = latest is None and resume and cfg.train.checkpoint.resume_from  # a new run dir, another run's weights
    if latest is None and not elsewhere:
        log(f"starting {cfg.name} from step 0 in {cfg.train.checkpoint.dir}")
    trainer = Trainer(cfg, resume=resume, log=log, problems=problems)  # logs each damaged checkpoint it skips
    if elsewhere:
        log(f"starting {cfg.name} in {cfg.train.checkpoint.dir} from step {trainer.step} of {cfg.train.steps}, "
            f"resumed from train.checkpoint.resume_from={cfg.train.checkpoint.resume_from}")
    elif latest is not None and trainer.step < cfg.train.steps:  # the step it loaded, not the newest on disk
        log(f"resuming from step {trainer.step} of {cfg.train.steps}")
    return trainer


@task(cache_policy=NO_CACHE)
def train_steps(trainer, count: int, tracker=None, bar=None) -> list[dict[str, Any]]:
    """Run `count` optimizer steps (sample -> verify -> update -> sync); one log line per step, each row also
    to the `train.report_to` trackers and the terminal's progress bar. A run directory that stops taking writes
    ends the run in one line naming the steps lost (`lost_to_unwritable_run_dir`)."""
    log = get_run_logger().info
    rows = []
    with _writes_into_run_dir(trainer, "after step {step}, could not write"):  # metrics.jsonl, trackers' files
        for _ in range(count):
            rows.append(trainer.run_step())
            _report_step(rows[-1], trainer.cfg.train.steps, log, tracker, bar)
    return rows


@contextmanager
def _writes_into_run_dir(trainer, failed: str):
    """An OSError of a run directory that stopped taking writes becomes the one line naming the steps lost
    (`lost_to_unwritable_run_dir`; `failed` starts it, `{step}` the trainer's step); any other is raised as it is."""
    try:
        yield
    except OSError as exc:
        lost = lost_to_unwritable_run_dir(exc, trainer.run_dir, trainer.step, failed.format(step=trainer.step))
        if lost is None:
            raise
        raise lost from exc


def _report_step(row: dict[str, Any], steps: int, log, tracker, bar) -> None:
    """One step's line in the log, its row to the trackers, and the progress bar moved on."""
    from rlvr.trainers.metrics import format_step

    log(format_step(row, steps))
    if tracker is not None:
        tracker.log(row)
    if bar is not None:
        bar.update(1)
        shown = {label: row.get(key) for key, label in (("reward_mean", "reward"), ("accuracy", "acc"))}
        if not all(isinstance(v, float) and math.isfinite(v) for v in shown.values()):  # offline DPO: no reward
            shown = {"loss": row.get("loss", math.nan)}
        bar.set_postfix({label: f"{value:.3f}" for label, value in shown.items()})


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def save_checkpoint(trainer, on_checkpoint=None) -> str:
    """Save the trainer's state atomically (a retry replaces a partial save), then call `on_checkpoint(path, step)`
    (the Trainer's hook signature); the flow's hook emits `rlvr.checkpoint.saved`. A run directory that no longer
    takes writes is not retried: one line names the steps lost (`lost_to_unwritable_run_dir`)."""
    # torch's write on a full disk is trainers/checkpoint.py's CheckpointError already
    with _writes_into_run_dir(trainer, "checkpoint step-{step} could not be written to"):
        path = trainer.save()
    if on_checkpoint is not None:
        on_checkpoint(path, trainer.step)
    return str(path)


@task(cache_policy=NO_CACHE)
def publish_progress(trainer) -> str:
    """Metrics table, curves (`<run_dir>/curves.png`: reward, accuracy with the checkpoints' evaluations, length)
    and the last step's samples as artifacts."""
    rows = trainer.metrics.read()
    png = draw_curves(trainer.run_dir, trainer.cfg.name, rows)
    groups, verdicts = getattr(trainer, "last_groups", None), getattr(trainer, "last_verdicts", None)
    samples = sample_rows(groups, verdicts, trainer.primary) if groups else []
    publish_training(trainer.cfg.name, rows, png, samples)
    return str(png)


@flow(name="train")
def train_flow(
    config: RunConfig | dict | None = None,
    config_path: str | None = None,
    overrides: list[str] = [],  # noqa: B006 - Prefect parameters are copied per run
    resume: bool = True,
    final_eval: bool = True,
    device_slots: int | None = None,
    device_timeout: float | None = None,
    pin_for_eval: bool = False,
    model_checked: bool = False,
) -> dict[str, Any]:
    """Train a policy with the run config (object, dict, or YAML path + dotted overrides). Returns the run dir,
    final step and checkpoint, curve path and the final evaluation report (if `final_eval`).
    `device_slots` / `device_timeout`: see `flows.locks.device_hold` (None: RLVR_DEVICE_SLOTS or 1; no limit).
    `pin_for_eval`: keep each checkpoint from pruning until its triggered evaluation ran (flows/eval_pins.py).
    `model_checked`: the caller ran `check_model_path` on this config's `model.path` and `sampler.max_model_len`
    already (`rlvr train` does, before Prefect starts: one hub call for a hub id, not two); a served or scripted run
    leaves it False and the flow checks the path itself, before the device is taken."""
    log = get_run_logger().info
    one_line_prefect_console()  # a served run's console; a command's is already quiet
    cfg = resolve_config(config, config_path, overrides)
    log_run_config(log, cfg, config_path, overrides)  # a short line; the whole config to the log file
    if final_eval and not cfg.eval.tasks:  # evaluated, it was a report of no suites, score 0, marked best
        log(cfg.no_eval_note or "no final evaluation: eval.tasks is empty")
        final_eval = False
    check_run_dir(cfg.train.checkpoint.dir)  # a file in the way, read-only: one line, not the lock's OSError
    try:
        with run_dir_lock(cfg.train.checkpoint.dir):
            return _train_holding_run_dir(cfg, resume, final_eval, pin_for_eval, device_slots, device_timeout, log,
                                          model_checked)
    except KeyboardInterrupt:
        note_unwound()  # trainer closed, holds released: the stop need not wait for Prefect's crash report
        raise


def finished_checkpoint(cfg: RunConfig) -> Path | None:
    """The newest checkpoint when it is at or past `train.steps` and looks whole (`looks_whole`: no tensor is read).
    Otherwise the Trainer decides: it may fall back to an older checkpoint and train on."""
    newest = latest_checkpoint(cfg.train.checkpoint.dir)
    if newest is None or step_of(newest) < cfg.train.steps:
        return None
    return newest if looks_whole(newest) else None


def _result(run_dir: Path, step: int, checkpoint: Path | None) -> dict[str, Any]:
    """What the flow returns (its final evaluation, if any, is added as `eval`)."""
    run_dir = Path(run_dir).resolve()
    return {"run_dir": str(run_dir), "step": step, "checkpoint": str(checkpoint), "plot": str(run_dir / "curves.png"),
            "eval": None}


def _train_holding_run_dir(cfg: RunConfig, resume: bool, final_eval: bool, pin_for_eval: bool, device_slots,
                           device_timeout, log, model_checked: bool):
    check_trackers(cfg.train.report_to, cfg.name)
    check_device(cfg.model.device)
    problems, eval_problems = prepare_data(cfg, with_eval=final_eval)
    if cfg.model.path == "tiny":  # built on first use (minutes, said first); then only its context to check
        check_context_length(bootstrap_model(cfg.model.path), cfg.sampler.max_model_len, shown="tiny")
    elif not model_checked:
        check_model_path(cfg.model.path, cfg.sampler.max_model_len)

    def on_checkpoint(path, step):
        if pin_for_eval:  # kept from pruning until the evaluation this event triggers has run
            eval_pins.pin(path)
        emit_checkpoint_saved(path, step, cfg.name)

    if resume and (done := finished_checkpoint(cfg)) is not None:  # no engine to start, no model to load
        log(f"nothing to train: {cfg.name} is already at step {step_of(done)} of {cfg.train.steps} ({done})")
        result = _result(Path(cfg.train.checkpoint.dir), step_of(done), done)
        if final_eval:
            target = eval_target.resolve_target(done)
            result["eval"] = eval_target.earlier_report(target, cfg, eval_problems)
            if result["eval"] is not None:
                log(f"its evaluation with this eval config is in {result['eval']['saved']['report']}")
            else:
                with device_hold(cfg.model.device, device_slots, device_timeout, log=log):
                    result["eval"] = evaluate(target, cfg, problems=eval_problems)
                result["eval"]["saved"] = save_report(result["eval"], target, cfg)
                run_dir = Path(cfg.train.checkpoint.dir)
                draw_curves(run_dir, cfg.name, MetricsLog(run_dir / "metrics.jsonl").read())  # with the new point
        return result

    with device_hold(cfg.model.device, device_slots, device_timeout, log=log), ExitStack() as closing:
        trainer = start_trainer(cfg, resume, log, problems)
        closing.callback(trainer.close)
        if final_eval:  # prompts too long for the final evaluation are said now, not after the training; the
            # evaluation takes the fitting ones with their count (its report's skipped_prompts), not tokenizing again
            eval_problems = eval_report.fitting_suites(trainer.policy.tokenizer, cfg, eval_problems, log)
        tracker = open_tracker(cfg, trainer.run_dir, trainer.step)
        closing.callback(tracker.close)
        bar = progress_bar(cfg.train.steps, trainer.step)
        closing.callback(bar.close)
        if trainer.step >= cfg.train.steps:  # the newest checkpoint was damaged, an older one at the end loaded
            log(f"nothing to train: {cfg.name} is already at step {trainer.step} of {cfg.train.steps}")
        try:
            while trainer.step < cfg.train.steps:
                chunk = steps_to_checkpoint(trainer.step, cfg.train.steps, cfg.train.checkpoint.every)
                train_steps(trainer, chunk, tracker, bar)
                save_checkpoint(trainer, on_checkpoint)
                publish_progress(trainer)
        except (KeyboardInterrupt, TerminationSignal) as stop:  # Ctrl-C; SIGTERM is Prefect's TerminationSignal here
            save_at_stop(stop, trainer)  # the steps done since the last checkpoint are kept
            raise
        checkpoint = latest_checkpoint(trainer.run_dir)
        result = _result(trainer.run_dir, trainer.step, checkpoint)
        if final_eval:
            target = eval_target.resolve_target(checkpoint)
            # from here, not only inside `evaluate`: a stop before its report is saved says training had finished
            with stop_says(cut_evaluation_note(target, cfg)):
                result["eval"] = evaluate(target, cfg, sampler=trainer.sampler, pool=trainer.pool,
                                          problems=eval_problems)
                result["eval"]["saved"] = save_report(result["eval"], target, cfg)
            publish_progress(trainer)  # redrawn: the curve gets the final checkpoint's evaluation point
    return result
