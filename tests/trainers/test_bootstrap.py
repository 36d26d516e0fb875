"""The offline default model: a reproducible build (on one kind of host), cached, loadable by transformers and vLLM, warm but not solved."""

import dataclasses
import hashlib
import json
import os
import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlvr.data.config import TaskConfig
from rlvr.data.tasks import load_problems
from rlvr.sampling.config import SamplerConfig, SamplingParams
from rlvr.trainers.bootstrap import WarmStartRecipe, bootstrap_tiny, is_finished_build
from rlvr.trainers.tiny_model import build_tiny_model
from rlvr.verifiers.registry import VERIFIERS


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_build_is_deterministic(tmp_path):
    a, b = build_tiny_model(tmp_path / "a", seed=0), build_tiny_model(tmp_path / "b", seed=0)
    assert _digest(a / "tokenizer.json") == _digest(b / "tokenizer.json")
    wa = AutoModelForCausalLM.from_pretrained(a).state_dict()
    wb = AutoModelForCausalLM.from_pretrained(b).state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_tokenizer_round_trips_and_has_a_chat_template(warm_model):
    tok = AutoTokenizer.from_pretrained(warm_model)
    text = "Compute 7 - 3 + 9. \\boxed{13} ```python\ndef f(x):\n    return x\n``` é ∑"
    assert tok.decode(tok(text)["input_ids"]) == text  # byte-level: any text survives
    rendered = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"


def test_second_call_uses_the_cache(warm_model):
    stamp = os.stat(warm_model / "model.safetensors").st_mtime_ns
    assert bootstrap_tiny(log=lambda _m: None) == warm_model
    assert os.stat(warm_model / "model.safetensors").st_mtime_ns == stamp


def test_a_finished_build_in_another_cache_is_copied_not_rebuilt(warm_model, tmp_path):
    messages = []
    copied = bootstrap_tiny(cache_dir=tmp_path / "mine", log=messages.append,
                            copy_from=(tmp_path / "absent", warm_model.parent))
    assert copied == tmp_path / "mine" / warm_model.name and messages == [f"tiny model copied from {warm_model} to {copied}"]
    assert sorted(f.name for f in copied.iterdir()) == sorted(f.name for f in warm_model.iterdir())
    assert _digest(copied / "model.safetensors") == _digest(warm_model / "model.safetensors")
    assert not list((tmp_path / "mine").glob(".building-*"))


def test_a_build_of_another_recipe_is_not_copied(warm_model, tmp_path):
    other = tmp_path / "other" / warm_model.name  # the right name, but its recipe file says 900 steps
    shutil.copytree(warm_model, other)
    info = json.loads((other / "rlvr_recipe.json").read_text())
    info["recipe"]["steps"] = 900
    (other / "rlvr_recipe.json").write_text(json.dumps(info))
    assert not is_finished_build(other, WarmStartRecipe())
    assert is_finished_build(warm_model, WarmStartRecipe())
    (other / "rlvr_recipe.json").unlink()  # an unfinished build: the recipe file is written last
    assert not is_finished_build(other, WarmStartRecipe())


def test_a_recipe_file_with_the_threads_field_of_older_builds_is_the_same_build(warm_model, tmp_path):
    older = tmp_path / "older" / warm_model.name
    shutil.copytree(warm_model, older)
    info = json.loads((older / "rlvr_recipe.json").read_text())
    info["recipe"]["threads"] = 0  # what every build wrote before the field went (it set nothing)
    (older / "rlvr_recipe.json").write_text(json.dumps(info))
    assert is_finished_build(older, WarmStartRecipe())


def test_a_build_records_the_host_kernels_and_threads_that_decide_its_bytes(tmp_path):
    recipe = WarmStartRecipe(mixture=(("arith", 1, 32),), steps=2, batch_size=4)
    said = []
    built = bootstrap_tiny(recipe, cache_dir=tmp_path, log=said.append)
    info = json.loads((built / "rlvr_recipe.json").read_text())
    capability, threads = torch.backends.cpu.get_cpu_capability(), torch.get_num_threads()
    assert info["built_on"] == {"torch": torch.__version__, "cpu_capability": capability, "threads": threads}
    assert said[-1].startswith(f"tiny model ready at {built} (") and said[-1].endswith(
        f" s, on {capability} kernels with {threads} threads)"), said
    assert info["recipe"] == json.loads(json.dumps(dataclasses.asdict(recipe)))  # tuples as the file holds them
    assert is_finished_build(built, recipe) and not is_finished_build(built, WarmStartRecipe())


def _accuracy(texts, problems):
    return sum(VERIFIERS["math"](t, p.reference).status == "correct" for t, p in zip(texts, problems)) / len(problems)


def test_transformers_loads_and_solves_some_held_out_arith(warm_model):
    tok = AutoTokenizer.from_pretrained(warm_model)
    model = AutoModelForCausalLM.from_pretrained(warm_model).eval()
    problems = load_problems(TaskConfig(name="arith", level=1, split="test", limit=40))
    tok.padding_side = "left"
    prompts = [tok.apply_chat_template(p.prompt, tokenize=False, add_generation_prompt=True) for p in problems]
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=40, do_sample=False, pad_token_id=tok.pad_token_id)
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert all("\\boxed{" in t for t in texts[:10]), texts[:3]  # it learned the answer format
    assert 0.05 <= _accuracy(texts, problems) <= 0.95  # warm, with room left for RL


@pytest.mark.slow
def test_vllm_loads_and_samples_the_same_model(warm_model):
    from rlvr.sampling.factory import make_sampler

    problems = load_problems(TaskConfig(name="arith", level=1, split="test", limit=40))
    cfg = SamplerConfig(max_model_len=256)
    with make_sampler(cfg, warm_model) as sampler:
        groups = sampler.generate(problems, 1, SamplingParams(temperature=0.0, max_tokens=40))
    texts = [g.completions[0].text for g in groups]
    assert all(g.completions[0].finish_reason == "stop" for g in groups[:10])
    assert 0.05 <= _accuracy(texts, problems) <= 0.95
