"""DPO's console line says whose each number is: the implicit reward's stats under TRL's names
(`rewards/margins`, `rewards/accuracies`), the sampled completions' verifier reward and accuracy as `verifier_reward`
/ `verifier_acc`; metrics.jsonl keeps its keys (`reward_margin`, `reward_accuracy`, `reward_mean`, `accuracy`).

Before: `reward 0.547 acc 0.547 margin -0.009 pref_acc 0.429`, two rewards and two accuracies side by side, one of
them the verifier's and one the DPO implicit reward's, with names found neither in the file nor in TRL.
(Offline DPO's line: tests/trainers/test_metrics_log.py.)"""

import json

from tests.trainers.test_ppo_console import first_step


def test_the_online_dpo_step_line_names_the_implicit_and_the_verifier_rewards(tmp_path, warm_model):
    row, step_line = first_step(tmp_path, "dpo", prompts_per_step=4, dpo={"group_size": 4})
    assert f"verifier_reward {row['reward_mean']:.3f} verifier_acc {row['accuracy']:.3f}" in step_line, step_line
    assert row["pairs"] > 0  # seed 7: some group has a better and a worse completion, so the stats exist
    assert f"rewards/margins {row['reward_margin']:.3f} rewards/accuracies {row['reward_accuracy']:.3f}" \
        in step_line, step_line
    assert " reward " not in step_line and " acc " not in step_line, step_line
    written = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert {"reward_mean", "accuracy", "pairs"} <= set(written)

