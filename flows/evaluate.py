"""The evaluation flow: a checkpoint (or a base model) on the run's eval suites -> eval.json, best mark, artifact.

    rlvr eval runs/arith-grpo/checkpoints/step-30            # or: rlvr eval tiny -c configs/arith_grpo.yaml
    evaluate_flow(checkpoint="runs/arith-grpo/checkpoints/step-30")

Deployed as `evaluate/on-checkpoint`, it runs on every `rlvr.checkpoint.saved` event (see flows/deployments.py).
What is evaluated and where its report goes is in flows/eval_target.py, the metrics in flows/eval_report.py, the
best checkpoint in flows/eval_basis.py; this module only orchestrates them.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from rlvr.flows import eval_basis, eval_files, eval_pins, eval_report, eval_target
from rlvr.flows.artifacts import publish_eval
from rlvr.flows.bootstrap import bootstrap_model, check_device, check_model_path, load_eval_problems, retry_on_io
from rlvr.flows.errors import BadInput, one_line_prefect_console
from rlvr.flows.eval_target import Target
from rlvr.flows.locks import device_hold
from rlvr.flows.stopping import note_unwound, stop_says
from rlvr.trainers.run_config import RunConfig


def check_eval_inputs(target: Target, cfg: RunConfig) -> None:
    """BadInput for what would fail an evaluation after its work, found before the device is taken: the adapter of a
    LoRA checkpoint, the model to load (and its context: `sampler.max_model_len`), the folder the report goes to.
    Run once per evaluation: by `rlvr eval` before Prefect starts (it tells the flow so), else by the flow."""
    if not cfg.eval.tasks:  # evaluated, it would be a report of no suites, score 0, marked as its run's best
        raise BadInput("eval.tasks is empty: nothing to evaluate; name a suite, e.g. eval.tasks=[{name: gsm8k}]")
    eval_target.check_target_files(target)
    check_model_path(eval_target.model_to_load(target, cfg), cfg.sampler.max_model_len)
    eval_files.check_report_writable(target.report_path(cfg))


@task(cache_policy=NO_CACHE)
def evaluate(target: Target, cfg: RunConfig, sampler=None, pool=None, problems=None) -> dict[str, Any]:
    """Sample and verify `cfg.eval` suites. Uses the given sampler/pool (the training flow lends its own,
    already holding the trained weights) or opens and closes its own; `problems` (by suite name): loaded once,
    before the device was taken, so a bad row is reported once (`eval_report.FittingProblems` when the overlong
    prompts were already left out and counted: the training flow does it when its trainer starts)."""
    from rlvr.verifiers.task_runner import make_pool

    log = get_run_logger().info
    own_sampler, own_pool = sampler is None, pool is None
    with stop_says(cut_evaluation_note(target, cfg)):
        sampler = sampler or eval_report.open_sampler(target, cfg)
        pool = pool or make_pool(cfg.verify)  # verify.runner: the local VerifierPool, or a dask/ray task runner
        try:
            return eval_report.evaluate_model(sampler, pool, cfg, label=target.label, step=target.step, log=log,
                                              problems=problems)
        finally:
            if own_sampler:
                sampler.close()
            if own_pool:
                pool.close()


def cut_evaluation_note(target: Target, cfg: RunConfig) -> str:
    """What a stop during the evaluation of `target` says in its closing line (`stop_says`): that the same command
    evaluates it, and, for a checkpoint at its run's last step (the training flow's final evaluation, or `rlvr eval`
    of that checkpoint), that training had finished and its checkpoint is saved."""
    cut = "the same command evaluates it"
    if target.checkpoint is not None and target.step is not None and target.step >= cfg.train.steps:
        return (f"training had finished (saved step {target.step} of {cfg.train.steps}: {target.checkpoint}); "
                f"the evaluation was cut: {cut}")
    return f"the evaluation of {target.label} was cut: {cut}"


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=retry_on_io)
def save_report(report: dict[str, Any], target: Target, cfg: RunConfig) -> dict[str, Any]:
    """Write the JSON report, mark the best checkpoint of the run (with the checkpoint's own report only: one made
    with other settings goes beside it, flows/eval_target.py), publish the markdown artifact."""
    log = get_run_logger().info
    path = target.report_path(cfg)
    if replaced := eval_files.replaced_report(path):
        log(replaced)
    path = eval_files.write_report(report, path)
    aside = target.checkpoint is not None and not eval_target.runs_own_settings(target.checkpoint, cfg)
    in_run = target.run_dir is not None and not aside  # a checkpoint copied out of its run has no best to mark
    other = in_run and eval_basis.other_basis_than_best(target.run_dir, report)
    best = in_run and eval_basis.mark_best(target.run_dir, target.checkpoint, report)
    if aside:
        log(f"{target.checkpoint.name} was evaluated with other settings than its run config's: its run's own report "
            f"({eval_target.OWN_REPORT}) and best checkpoint are left as they are; this report is {path.name}")
    elif target.checkpoint is not None and not in_run:
        log(f"{target.checkpoint} is not in a run's checkpoints/step-N: no best checkpoint is marked")
    if other:
        log(f"not compared with the run's best checkpoint: it was scored on another basis (the best's: {other})")
    markdown = eval_report.report_markdown(report)
    if best:
        markdown += f"\nNew best checkpoint of the run: `{target.run_dir / 'best'}` -> `{target.checkpoint.name}`\n"
    publish_eval(cfg.name, markdown)
    samples = f"; each completion with its verdict in {eval_files.samples_path(path)}" if report.get("samples") else ""
    log(f"eval report written to {path}" + (" (new best)" if best else "") + samples)
    return {"report": str(path), "best": best}


def build_tiny_model(target: Target, cfg: RunConfig) -> None:
    """Build the 'tiny' model the evaluation loads (itself, or as a LoRA checkpoint's base) if it is not cached yet:
    minutes, said in one line first, without holding the device. Other models are there already (checked)."""
    if eval_target.model_to_load(target, cfg) != "tiny":
        return
    lora = target.checkpoint is not None  # a checkpoint whose model is 'tiny' is a LoRA adapter on it
    bootstrap_model("tiny", why=f"the base model of LoRA checkpoint {target.checkpoint.name}" if lora else
                    "the model to evaluate")


@flow(name="evaluate")
def evaluate_flow(
    checkpoint: str,
    config_path: str | None = None,
    overrides: list[str] = [],  # noqa: B006 - Prefect parameters are copied per run
    device_slots: int | None = None,
    device_timeout: float | None = None,
    skip_evaluated: bool = False,
    inputs_checked: bool = False,
) -> dict[str, Any]:
    """Evaluate `checkpoint` (a `<run>/checkpoints/step-N` dir, a model dir, a hub id or 'tiny') with n samples
    per problem; write the report and, for a checkpoint's own evaluation (`<ckpt>/eval.json`: its run config's
    evaluation settings), mark the run's best checkpoint and unpin it (flows/eval_pins.py). Returns the report.
    The model path is checked before the device is taken (`device_slots`/`device_timeout`: flows/locks.py).
    `skip_evaluated` (the served deployment's setting): a checkpoint that another run evaluated on the same basis
    after it was saved is not evaluated again. That report is looked for first, before a model is built or the
    device waited for, and again once this run holds the device (its event's run and a catch-up run can both be
    under way: flows/catch_up.py). `inputs_checked`: the caller ran `check_eval_inputs` on these same arguments
    already (`rlvr eval` does, before Prefect starts); a served run leaves it False.
    A 'tiny' model (or LoRA base) that is not built yet is built here, said in one line, before the device is taken."""
    log = get_run_logger().info
    one_line_prefect_console()  # a served run's console; a command's is already quiet
    target = eval_target.resolve_target(checkpoint)
    cfg = eval_target.eval_config(target, config_path, overrides, say=log)
    if not inputs_checked:
        check_eval_inputs(target, cfg)
    check_device(cfg.model.device)
    problems = load_eval_problems(cfg)  # bad data fails here, before the device is taken and the model loads
    done = eval_target.earlier_report(target, cfg, problems) if skip_evaluated else None
    if done is None:
        build_tiny_model(target, cfg)
        suites = ", ".join(t.suite_name() for t in cfg.eval.tasks)
        log(f"evaluating {target.label} on {suites} (n={cfg.eval.n}); report to {target.report_path(cfg).resolve()}")
        try:
            with device_hold(cfg.model.device, device_slots, device_timeout, log=log):
                done = eval_target.earlier_report(target, cfg, problems) if skip_evaluated else None
                report = done or evaluate(target, cfg, problems=problems)
        except KeyboardInterrupt:
            note_unwound()  # sampler and verifiers closed, device released
            raise
    if done:
        report = done
        log(f"{target.checkpoint.name} was evaluated with this eval config after it was saved ({report.get('created')}):"
            f" not evaluated again; its report is {report['saved']['report']}")
    else:
        report["saved"] = save_report(report, target, cfg)
    own = target.checkpoint is not None and eval_target.runs_own_settings(target.checkpoint, cfg)
    if own and eval_pins.unpin(target.checkpoint):  # a report with other settings is not the evaluation it waits for
        log(f"{target.checkpoint.name} evaluated: unpinned (checkpoint.keep may prune it now)")
    return report
