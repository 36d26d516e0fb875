"""Batch layout and completion log-probs of a real tiny Qwen2: padding never changes a log-prob."""

import torch

from rlvr.trainers.logprobs import forward_completions, make_batch, token_logprobs
from rlvr.trainers.chunked_logits import selected_logprobs
from rlvr.trainers.policy import Policy


def _reference_logprobs(model, prompt, completion, temperature=1.0):
    """log softmax of an unpadded forward, the definition the batched code must match."""
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float() / temperature
    logp = torch.log_softmax(logits, dim=-1)
    return torch.stack([logp[len(prompt) - 1 + t, tok] for t, tok in enumerate(completion)])


def test_layout_by_hand():
    b = make_batch([[1, 2], [3]], [[4], [5, 6, 7]], pad_id=0)
    assert b.input_ids.tolist() == [[1, 2, 4, 0, 0], [0, 3, 5, 6, 7]]
    assert b.attention_mask.tolist() == [[1, 1, 1, 0, 0], [0, 1, 1, 1, 1]]
    assert b.position_ids.tolist() == [[0, 1, 2, 2, 2], [0, 0, 1, 2, 3]]
    assert b.completion_ids.tolist() == [[4, 0, 0], [5, 6, 7]]
    assert b.completion_mask.tolist() == [[1, 0, 0], [1, 1, 1]]
    assert b.prompt_width == 2


def test_selected_logprobs_equals_log_softmax():
    logits = torch.randn(2, 3, 11)
    targets = torch.randint(0, 11, (2, 3))
    expected = torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)
    torch.testing.assert_close(selected_logprobs(logits, targets), expected)


def test_padding_does_not_change_logprobs(tiny_lm, rows):
    model = tiny_lm()
    prompts, completions = rows
    batch = make_batch(prompts, completions, pad_id=0)
    with torch.no_grad():
        logp, mask = token_logprobs(model, batch)
    for r, (p, c) in enumerate(zip(prompts, completions)):
        alone = _reference_logprobs(model, p, c)
        torch.testing.assert_close(logp[r, : len(c)], alone, atol=1e-5, rtol=1e-5)
        assert mask[r].sum() == len(c)
        assert (logp[r, len(c) :] == 0).all()


def test_temperature_scales_logits(tiny_lm, rows):
    model = tiny_lm()
    prompts, completions = rows
    with torch.no_grad():
        logp, _ = token_logprobs(model, make_batch(prompts[:1], completions[:1], 0), temperature=2.0)
    torch.testing.assert_close(logp[0], _reference_logprobs(model, prompts[0], completions[0], 2.0), atol=1e-5, rtol=1e-5)


def test_split_covers_rows_once_and_pads_tightly(rows):
    prompts, completions = rows
    batch = make_batch(prompts, completions, pad_id=0)
    parts = batch.split(2)
    seen = torch.cat([r for r, _ in parts]).tolist()
    assert sorted(seen) == [0, 1, 2, 3]
    for idx, micro in parts:
        assert micro.completion_ids.shape[1] == max(len(completions[i]) for i in idx.tolist())
        assert micro.prompt_width == max(len(prompts[i]) for i in idx.tolist())
    # sorted by completion length: the two shortest completions share a micro-batch
    assert sorted(parts[0][0].tolist()) == [1, 2]


def test_the_no_grad_pass_is_aligned_with_the_batch(tiny_lm, rows):
    """Policy.logprobs (pi_old, pi_ref, DPO's reference): micro-batched, rows back in batch order."""
    policy = Policy(tiny_lm(), need_reference=True)
    prompts, completions = rows
    batch = make_batch(prompts, completions, pad_id=0)
    with torch.no_grad():
        full, _ = token_logprobs(policy.model, batch)
    torch.testing.assert_close(policy.logprobs(batch, micro_batch_size=3), full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(policy.logprobs(batch, micro_batch_size=3, reference=True), full, atol=1e-5, rtol=1e-5)
    assert policy.reference_passes == 1


def test_hidden_is_the_final_hidden_state_before_each_completion_token(tiny_lm, rows):
    """PPO's value head reads, for completion token t, the final (normed) hidden state at the position before it."""
    model = tiny_lm()
    prompts, completions = rows
    with torch.no_grad():
        out = forward_completions(model, make_batch(prompts, completions, pad_id=0), with_hidden=True)
        for r, (p, c) in enumerate(zip(prompts, completions)):
            alone = model.model(input_ids=torch.tensor([p + c])).last_hidden_state[0]
            torch.testing.assert_close(out.hidden[r, : len(c)], alone[len(p) - 1 : len(p) - 1 + len(c)], atol=1e-5, rtol=1e-5)
    assert out.hidden.shape[:2] == out.logp.shape
    assert not model.get_output_embeddings()._forward_hooks  # the hook that read it is gone
