"""What an evaluation evaluates, with which run config, and where its report goes (no Prefect; the flow is
flows/evaluate.py): a training checkpoint (`<run>/checkpoints/step-N`) or a model (a directory, a hub id, 'tiny').

    target = resolve_target("runs/arith-grpo/checkpoints/step-30")      # or "tiny", or a model dir / hub id
    cfg = eval_config(target)                                            # the checkpoint's own run config
    target.report_path(cfg)                                              # <ckpt>/eval.json
    earlier_report(target, cfg)                                          # that report, if evaluating would repeat it

A checkpoint's `eval.json` is its run's own evaluation: the one made with the evaluation settings of the run config
saved in it (`evaluation_settings`), as its training run's final evaluation and the served evaluation make it. It is
what the run's best checkpoint was chosen on, what `skip_evaluated` looks for and what the training curves plot. An
evaluation with other settings (`rlvr eval step-30 eval.n=16`) writes its own report beside it,
`eval-<8 hex digits of its settings>.json`, and leaves `eval.json` and the run's best alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr.flows.errors import BadInput
from rlvr.flows.eval_basis import evaluation_settings, score_basis, scored_sampling, scored_verifiers
from rlvr.trainers.checkpoint import CONFIG_FILE, STATE_FILE, list_checkpoints, saved_config
from rlvr.trainers.run_config import ConfigError, RunConfig, apply_overrides, load_config, validate_config

# The report of a checkpoint's own evaluation (the module docstring says which one that is).
OWN_REPORT = "eval.json"

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
        """A checkpoint's: `<ckpt>/eval.json` when `cfg` evaluates it as its run does (`runs_own_settings`), else
        `<ckpt>/eval-<settings_digest>.json`; a plain model's: `<checkpoint.dir>/eval-<model>.json`."""
        if self.checkpoint:
            if runs_own_settings(self.checkpoint, cfg):
                return self.checkpoint / OWN_REPORT
            return self.checkpoint / f"eval-{settings_digest(cfg)}.json"
        slug = "".join(c if c.isalnum() else "-" for c in Path(self.model).name or "model").strip("-")
        return Path(cfg.train.checkpoint.dir) / f"eval-{slug}.json"


def runs_own_settings(checkpoint: Path, cfg: RunConfig) -> bool:
    """Whether `cfg` evaluates `checkpoint` with the evaluation settings of the run config saved in it, as the run's
    own evaluations (its training's final one, the served one) do. A checkpoint without a saved config has no other
    settings to tell apart; one whose saved config does not read or validate here cannot be told apart, so its
    evaluation goes beside the run's report, never over it."""
    if not (checkpoint / CONFIG_FILE).is_file():
        return True
    saved = saved_config(checkpoint)
    try:
        own = evaluation_settings(validate_config(saved)) if saved is not None else None
    except ValueError:  # a ConfigError too: e.g. a training reward plug-in that is not importable here
        return False
    return own is not None and own == evaluation_settings(cfg)


def settings_digest(cfg: RunConfig) -> str:
    """8 hex digits naming `evaluation_settings(cfg)`: the same settings name the same report, whatever their order."""
    text = json.dumps(evaluation_settings(cfg), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


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
    if path.suffix in (".yaml", ".yml") and path.is_file():  # the run config given where the target goes
        raise BadInput(f"{target} is a run config, not a checkpoint or a model: did you mean "
                       f"`rlvr eval -c {target} <checkpoint>`?")
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
        try:
            cfg = validate_config(apply_overrides(data, list(overrides)), source=str(saved), overrides=overrides)
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


def earlier_report(target: Target, cfg: RunConfig, problems: dict[str, list] | None = None) -> dict[str, Any] | None:
    """The checkpoint's saved report, if it was written after the checkpoint was saved and evaluating it now would
    only repeat it: the same suites (with as many problems, when `problems` by suite name is given), n, k,
    decoding and verifiers, and the greedy scores and samples file if this config asks for them. None for a
    model, or when there is no such report."""
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
