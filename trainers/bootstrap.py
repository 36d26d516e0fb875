"""The offline default model: build tokenizer + tiny Qwen2, warm-start it by SFT, cache the result.

The recipe's hash names the cache directory, so a second call is instant and a changed recipe never serves a
stale model. The build is written to a temp dir and renamed into place.

A build is reproducible on one kind of host, not across kinds: the same recipe with the same torch, CPU kernels
(torch's CPU capability, e.g. AVX2 or AVX512) and thread count gives the same bytes, while another capability or
thread count sums the same floats in another order, and the weights drift apart over the SFT steps (measured in
bench/RESULTS.md, "Seventeenth session": the demo's starting pass@1 0.334 on one host, 0.375 on another). The key
leaves the host out on purpose (any build of the recipe serves); `built_on` in the build's rlvr_recipe.json says
where a cached model was made.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from rlvr.data.config import TaskConfig
from rlvr.data.tasks import load_problems
from rlvr.trainers.sft import SFTExample, train_sft
from rlvr.trainers.tiny_model import build_tiny_model

RECIPE_VERSION = 1
# What a user waits for (README: 298 s to 5 min 51 s measured on 2 cores), said before a build starts.
BUILD_TIME = "about 6 minutes on 2 CPU cores"


@dataclass(frozen=True)
class WarmStartRecipe:
    """SFT mixture: (task, level, number of train problems); tuned so held-out arith accuracy starts low."""

    mixture: tuple[tuple[str, int, int], ...] = (("arith", 1, 3000), ("arith", 2, 3000), ("arith", 3, 2000), ("code", 1, 600), ("code", 2, 600))
    steps: int = 800
    batch_size: int = 32
    lr: float = 1e-3  # 3e-3 stalls: the copy of the operands is never learned (held-out L1 5% at 800 steps)
    seed: int = 0
    size: str = "tiny"
    version: int = RECIPE_VERSION

    def key(self) -> str:
        return recipe_key(asdict(self))


def recipe_key(fields: dict) -> str:
    """The hash that names a build: every recipe field. A `threads` field (always 0 in the recipe files of
    existing caches) is left out, so those builds keep their names."""
    blob = json.dumps({k: v for k, v in fields.items() if k != "threads"}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def default_cache_dir() -> Path:
    return Path(os.environ.get("RLVR_CACHE", Path.home() / ".cache" / "rlvr"))


def tiny_model_path(recipe: WarmStartRecipe = WarmStartRecipe(), cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / f"tiny-{recipe.size}-{recipe.key()}"


def sft_examples(recipe: WarmStartRecipe) -> list[SFTExample]:
    examples = []
    for task, level, count in recipe.mixture:
        for p in load_problems(TaskConfig(name=task, level=level, limit=count, split="train", seed=recipe.seed)):
            examples.append(SFTExample(prompt=p.prompt, response=p.meta["solution"]))
    return examples


def bootstrap_tiny(recipe: WarmStartRecipe = WarmStartRecipe(), cache_dir: Path | None = None, log=print,
                   copy_from: tuple[Path, ...] = (), why: str = "model.path tiny") -> Path:
    """Return the path of the warm-started tiny model, building it first if it is not cached.

    `copy_from`: other cache directories; a finished build of the same recipe in one of them is copied instead
    of rebuilt (the same recipe, in seconds, not minutes; made where its `built_on` says, so on another kind of
    host it is not bit for bit what a build here would make).
    A build, or a wait for another process's, is said in one line before it starts (`why`: what needs the model).
    """
    final = tiny_model_path(recipe, cache_dir)
    if (final / "rlvr_recipe.json").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # concurrent callers wait for one build instead of repeating it
            log(f"another process is building the tiny model in {final} ({BUILD_TIME}): waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / "rlvr_recipe.json").exists():
            return final
        for stale in final.parent.glob(f".building-{final.name}-*"):  # debris of a killed build (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        for other in copy_from:
            source = tiny_model_path(recipe, Path(other).expanduser())
            if source.resolve() != final.resolve() and is_finished_build(source, recipe):
                return _copy(source, final, log)
        log(f"building the tiny model ({why}; not in the cache yet): {BUILD_TIME}, once; it goes to {final}")
        return _build(recipe, final, log)


def is_finished_build(built: Path, recipe: WarmStartRecipe) -> bool:
    """A finished build (its recipe file is written last) of exactly this recipe."""
    try:
        info = json.loads((built / "rlvr_recipe.json").read_text())
    except (OSError, ValueError):
        return False
    theirs = info.get("recipe") if isinstance(info, dict) else None
    return isinstance(theirs, dict) and recipe_key(theirs) == recipe.key()


def built_on() -> dict:
    """What decides a build's bytes besides its recipe: torch, its CPU kernels and thread count."""
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads()}


def _copy(source: Path, final: Path, log) -> Path:
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".building-{final.name}-"))
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"tiny model copied from {source} to {final}")
    return final


def _build(recipe: WarmStartRecipe, final: Path, log) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.time()
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".building-{final.name}-"))
    try:
        build_tiny_model(tmp, seed=recipe.seed, size=recipe.size)
        tokenizer = AutoTokenizer.from_pretrained(tmp)
        model = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32)
        torch.manual_seed(recipe.seed)
        losses = train_sft(
            model, tokenizer, sft_examples(recipe), steps=recipe.steps, batch_size=recipe.batch_size,
            lr=recipe.lr, seed=recipe.seed, log=log,
        )
        model.save_pretrained(tmp, safe_serialization=True)
        info = {"recipe": asdict(recipe), "final_sft_loss": losses[-1], "build_seconds": round(time.time() - started, 1),
                "built_on": built_on()}
        (tmp / "rlvr_recipe.json").write_text(json.dumps(info, indent=2))
        try:
            os.rename(tmp, final)
        except OSError:  # a builder that does not take the lock finished first: the same recipe, kept
            if not (final / "rlvr_recipe.json").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    where = info["built_on"]  # what a user comparing numbers with another host's needs to know
    log(f"tiny model ready at {final} ({time.time() - started:.0f} s, on {where['cpu_capability']} kernels with "
        f"{where['threads']} threads)")
    return final


def resolve_model_path(path: str, log=print, why: str = "model.path tiny") -> str:
    """'tiny' -> the cached warm-started model (built on first use, `why` said first); anything else is passed
    through."""
    if path == "tiny":
        return str(bootstrap_tiny(log=log, why=why))
    local = Path(path).expanduser()
    if local.exists() and not (local / "config.json").exists():
        raise FileNotFoundError(f"model.path {path!r} is a directory without config.json (not a HF model dir)")
    return str(local) if local.exists() else path
