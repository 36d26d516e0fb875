"""A run on the user's own data (task qa) trains and evaluates like a built-in task: arith problems written out in
verl's parquet layout (chat prompt, `reward_model.ground_truth`) are the same prompts and references, and the tiny
model, warm-started on arith, scores on an eval suite read the same way as it does on arith, and earns rewards in
training."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from rlvr.data.config import TaskConfig
from rlvr.data.tasks import load_problems
from rlvr.flows.eval_report import evaluate_model
from rlvr.trainers.loop import Trainer
from rlvr.trainers.run_config import validate_config
from tests.trainers.tiny_runs import tiny_run_config


def _as_verl_parquet(problems, path):
    rows = [{"data_source": "arith", "prompt": p.prompt, "reward_model": {"style": "rule", "ground_truth": p.reference},
             "extra_info": {"id": p.id}} for p in problems]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_training_and_evaluation_on_a_verl_layout_dataset(tmp_path, warm_model):
    arith = load_problems(TaskConfig(name="arith", level=1, limit=24, seed=3))
    data = tmp_path / "mine"
    data.mkdir()
    _as_verl_parquet(arith[:12], data / "train.parquet")
    _as_verl_parquet(arith[12:], data / "test.parquet")
    columns = {"prompt": "prompt", "answer": "reward_model.ground_truth"}
    base = tiny_run_config(tmp_path / "run", steps=2, prompts_per_step=4).model_dump(mode="json")
    base["task"] = {"name": "qa", "source": str(data), "columns": columns}
    base["eval"] = {"tasks": [{"name": "qa", "source": str(data), "split": "test", "columns": columns}], "n": 4, "k": [1]}
    cfg = validate_config(base)
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    try:
        assert sorted((json.dumps(p.prompt), p.reference) for p in trainer.problems) == sorted(
            (json.dumps(p.prompt), p.reference) for p in arith[:12])
        report = evaluate_model(trainer.sampler, trainer.pool, cfg, "before", log=lambda _m: None)
        trainer.train(steps=2)
    finally:
        trainer.close()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and max(r["reward_mean"] for r in rows) > 0, rows
    suite = report["suites"]["qa-mine-test"]
    assert suite["problems"] == 12 and suite["pass@1"] > 0.2, suite  # ~0.38 on arith level 1 itself
