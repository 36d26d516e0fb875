"""Training prompts are checked against the sampler's context before any engine starts: one that does not fit
is skipped with one line (or refuses the run under `task.on_bad_row: fail`), and chat prompts on a model without a
chat template refuse the run with what to set. Before, such a prompt stopped the run at the step that drew it, and
again at that step on every resume; the missing template ended the run with exit 1 after the engine had started."""

import json
import shutil

import pytest

from rlvr.trainers.loop import Trainer
from rlvr.trainers.run_config import ConfigError, validate_config
from tests.trainers.tiny_runs import tiny_run_config


def _config(tmp_path, model="tiny", **task):
    rows = [{"question": f"Tom has {n} apples and buys 2 more. How many?", "answer": f"#### {n + 2}"} for n in range(6)]
    rows[3]["question"] = "Please read carefully. " * 400 + rows[3]["question"]  # ~2,000 tokens
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = tiny_run_config(tmp_path / "run").model_dump(mode="json")
    base["model"]["path"] = model
    base["task"] = {"name": "gsm8k", "source": str(data), **task}
    base["sampler"]["max_model_len"] = 512
    return validate_config(base)


def test_a_prompt_longer_than_the_context_is_skipped_with_one_line(tmp_path, warm_model):
    said = []
    trainer = Trainer(_config(tmp_path), resume=False, log=said.append)
    try:
        assert len(trainer.problems) == 5 and "gsm8k/train/3" not in [p.id for p in trainer.problems]
        trainer.train(steps=1)  # and it trains
    finally:
        trainer.close()
    lines = [line for line in said if "do not fit" in line]
    assert len(lines) == 1 and lines[0].startswith(
        "warning: 1 of 6 training prompts do not fit sampler.max_model_len=512 (first: gsm8k/train/3, "), lines


def test_under_on_bad_row_fail_it_refuses_the_run(tmp_path, warm_model):
    with pytest.raises(ConfigError, match=r"1 of 6 training prompts do not fit sampler.max_model_len=512 .*; raise "
                                          r"sampler.max_model_len or lower task.max_prompt_chars"):
        Trainer(_config(tmp_path, on_bad_row="fail"), resume=False, log=lambda _m: None)


def test_chat_prompts_on_a_model_without_a_chat_template_are_refused_before_the_engine(tmp_path, warm_model):
    plain_model = tmp_path / "no-chat-template"
    shutil.copytree(warm_model, plain_model)
    (plain_model / "chat_template.jinja").unlink()
    with pytest.raises(ConfigError, match=r"gives chat messages but the tokenizer has no chat template: set "
                                          r"task.template=plain"):
        Trainer(_config(tmp_path, model=str(plain_model)), resume=False, log=lambda _m: None)
