"""Preference pairs files in the layouts preference datasets come in (trainers/dpo_pairs.py)."""

import json

import pytest
from transformers import AutoTokenizer

from rlvr.trainers.dpo_pairs import read_pair_rows, read_pairs_file

USER = {"role": "user", "content": "1+1="}
SYSTEM = {"role": "system", "content": "Be brief."}


def _file(tmp_path, *rows) -> str:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def test_every_layout_reads_as_prompt_chosen_rejected(tmp_path):
    path = _file(
        tmp_path,
        {"prompt": "1+1=", "chosen": "2", "rejected": "3"},  # standard, explicit prompt
        {"prompt": [USER], "chosen": [{"role": "assistant", "content": "2"}],
         "rejected": [{"role": "assistant", "content": "3"}]},  # conversational, explicit prompt
        {"prompt": [USER], "chosen": "2", "rejected": "3"},  # messages prompt, text responses
        "",  # blank lines are skipped
        {"chosen": [SYSTEM, USER, {"role": "assistant", "content": "2"}],
         "rejected": [SYSTEM, USER, {"role": "assistant", "content": "3"}]},  # implicit prompt: the shared start
    )
    assert read_pair_rows(path) == [("1+1=", "2", "3"), ([USER], "2", "3"), ([USER], "2", "3"),
                                    ([SYSTEM, USER], "2", "3")]


@pytest.mark.parametrize("line, says", [
    ("not json", ":2: not JSON"),
    ("[1, 2]", ":2: expected a JSON object with chosen and rejected"),
    ({"prompt": "1+1=", "chosen": "2"}, ":2: expected a JSON object with chosen and rejected"),
    ({"prompt": 7, "chosen": "2", "rejected": "3"}, ":2: prompt must be text or a list of messages"),
    ({"prompt": [{"role": "user"}], "chosen": "2", "rejected": "3"}, ":2: prompt must be text or a list of messages"),
    ({"prompt": "1+1=", "chosen": ["2"], "rejected": "3"}, ":2: chosen must be text or one assistant message"),
    ({"prompt": [USER], "chosen": "2", "rejected": [USER, {"role": "assistant", "content": "3"}]},
     ":2: rejected must be text or one assistant message"),
    ({"chosen": "2", "rejected": "3"}, ":2: without a prompt, chosen and rejected must be conversations"),
    ({"chosen": [{"role": "assistant", "content": "2"}], "rejected": [{"role": "assistant", "content": "3"}]},
     ":2: chosen and rejected share no messages at the start"),
    ({"chosen": [USER, {"role": "assistant", "content": "2"}], "rejected": [USER]},
     ":2: rejected must be text or one assistant message"),
])
def test_a_line_that_fits_no_layout_is_named(tmp_path, line, says):
    path = _file(tmp_path, {"prompt": "1+1=", "chosen": "2", "rejected": "3"}, line)
    with pytest.raises(ValueError) as caught:
        read_pair_rows(path)
    assert str(caught.value).startswith(f"{path}{says}"), caught.value


def test_every_bad_line_is_found_in_one_read(tmp_path):
    good = {"prompt": "1+1=", "chosen": "2", "rejected": "3"}
    path = _file(tmp_path, good, {"prompt": "1+1=", "chosen": "2"}, good, "not json", {"chosen": "2", "rejected": "3"})
    with pytest.raises(ValueError) as caught:
        read_pair_rows(path)
    assert str(caught.value) == (
        f"{path}:2: expected a JSON object with chosen and rejected (and a prompt, or conversations that start with "
        "it) (and 2 more bad line(s): line 4: not JSON (Expecting value: line 1 column 1 (char 0)); line 5: without "
        "a prompt, chosen and rejected must be conversations (lists of messages))")


def test_an_empty_file_holds_no_pairs_and_binary_is_named(tmp_path):
    with pytest.raises(ValueError, match="holds no preference pairs"):
        read_pair_rows(_file(tmp_path, ""))
    path = tmp_path / "pairs.jsonl.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00 compressed")
    with pytest.raises(ValueError, match=rf"^{path}: not UTF-8 text \(invalid start byte at byte 1\); a pairs file is JSON Lines"):
        read_pair_rows(path)


def test_conversational_and_implicit_rows_tokenise_like_a_chat_prompt(warm_model, tmp_path):
    """The three ways of writing one chat pair give the same token ids: the prompt through the chat template with
    the generation prompt, each response its text and EOS."""
    tokenizer = AutoTokenizer.from_pretrained(warm_model)
    answer = lambda text: [{"role": "assistant", "content": text}]  # noqa: E731
    path = _file(tmp_path, {"prompt": [USER], "chosen": "2", "rejected": "3"},
                 {"prompt": [USER], "chosen": answer("2"), "rejected": answer("3")},
                 {"chosen": [USER, *answer("2")], "rejected": [USER, *answer("3")]})
    first, *others = read_pairs_file(path, tokenizer)
    assert others == [first, first]
    prompt_ids, chosen_ids, rejected_ids = first
    assert prompt_ids == list(tokenizer.apply_chat_template([USER], add_generation_prompt=True, tokenize=True,
                                                            return_dict=True)["input_ids"])
    assert chosen_ids == tokenizer("2", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert rejected_ids[-1] == tokenizer.eos_token_id and rejected_ids != chosen_ids


def test_a_bom_at_the_start_of_the_file_is_dropped(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"prompt": "1+1=", "chosen": "2", "rejected": "3"}).encode() + b"\n")
    assert read_pair_rows(path) == [("1+1=", "2", "3")]
