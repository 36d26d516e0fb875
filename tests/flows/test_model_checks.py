"""Model checks made before the device is taken: every shard a sharded checkpoint's index names is there, and
`sampler.max_model_len` is no longer than the model's positions (vLLM refused it only as its engine started,
after the device was taken, in a 600-character cut of its ValidationError; the hf backend ran past them)."""

import shutil

import pytest
from transformers import AutoModelForCausalLM

from rlvr.flows.bootstrap import check_model_path
from rlvr.flows.errors import BadInput
from rlvr.flows.locks import device_hold
from tests.flows.flow_helpers import CONFIG, tiny_overrides


@pytest.fixture(scope="module")
def sharded_model(model_path, tmp_path_factory):
    """The tiny model saved by transformers in 3 shards of at most 5 MB, with model.safetensors.index.json."""
    folder = tmp_path_factory.mktemp("sharded")
    AutoModelForCausalLM.from_pretrained(model_path).save_pretrained(folder, max_shard_size="5MB")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy2(f"{model_path}/{name}", folder / name)
    assert sorted(p.name for p in folder.glob("*.safetensors")) == [f"model-0000{i}-of-00003.safetensors"
                                                                      for i in (1, 2, 3)]
    return folder


def test_a_whole_sharded_model_passes_and_one_without_a_shard_is_incomplete(sharded_model, tmp_path):
    check_model_path(str(sharded_model))  # all three shards: nothing to say
    holed = shutil.copytree(sharded_model, tmp_path / "holed")
    (holed / "model-00002-of-00003.safetensors").unlink()  # the audit's folder: shards 1 and 3 of 3
    with pytest.raises(BadInput) as caught:
        check_model_path(str(holed))
    assert str(caught.value) == (f"model.path {holed}: incomplete model directory, no model-00002-of-00003.safetensors "
                                 "(1 of the 3 weight files model.safetensors.index.json lists)")


def test_a_damaged_shard_index_is_named(sharded_model, tmp_path):
    damaged = shutil.copytree(sharded_model, tmp_path / "damaged")
    (damaged / "model.safetensors.index.json").write_text('{"metadata": {"total_size": 13')  # a cut-off copy
    with pytest.raises(BadInput, match=r"model.safetensors.index.json is damaged \(Expecting"):
        check_model_path(str(damaged))


def test_a_context_longer_than_the_models_positions_is_refused(model_path):
    check_model_path(model_path, max_model_len=2048)  # the tiny model's max_position_embeddings
    with pytest.raises(BadInput) as caught:
        check_model_path(model_path, max_model_len=4096)
    assert str(caught.value) == (f"sampler.max_model_len=4096 is longer than model.path {model_path} takes: its "
                                 "config.json has max_position_embeddings=2048; set sampler.max_model_len to 2048 "
                                 "or less")


@pytest.mark.parametrize("model", ["tiny", "dir"])
def test_rlvr_train_refuses_the_context_before_it_takes_the_device(model, model_path, prefect_session, tmp_path,
                                                                   capsys):
    """The device is held by this test: a run that went on to take it would end in `still held` (exit 1), not in
    the context's line (exit 2). `tiny` is checked by the flow once built, a directory by the command itself."""
    from rlvr.flows import cli

    path = "tiny" if model == "tiny" else model_path
    argv = ["train", "--no-eval", "--device-timeout", "1", "-c", CONFIG, *tiny_overrides(tmp_path / "run", path),
            "sampler.max_model_len=4096"]
    with device_hold("cpu", slots=1, timeout=10, log=lambda _m: None):
        assert cli.main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"rlvr: sampler.max_model_len=4096 is longer than model.path {path} takes: its config.json "
                           "has max_position_embeddings=2048; set sampler.max_model_len to 2048 or less"), last


def test_a_training_flow_alone_checks_the_context_of_tiny_once_built(prefect_session, tmp_path):
    """A served or scripted run has no command in front of it: the flow checks `tiny` after building it (on first
    use), still before the device."""
    from rlvr.flows.train import train_flow

    overrides = [*tiny_overrides(tmp_path / "run", "tiny"), "sampler.max_model_len=4096"]
    with device_hold("cpu", slots=1, timeout=10, log=lambda _m: None):
        state = train_flow(config_path=CONFIG, overrides=overrides, final_eval=False, device_timeout=1,
                           return_state=True)
    assert state.is_failed() and "sampler.max_model_len=4096 is longer than model.path tiny takes" in state.message, \
        state.message


def test_rlvr_eval_refuses_the_context_before_it_takes_the_device(model_path, prefect_session, capsys):
    # as `rlvr train`: an hf evaluation ran past the model's positions until it failed with exit 1 on the device
    from rlvr.flows import cli

    argv = ["eval", "--device-timeout", "1", model_path, "sampler.backend=hf", "sampler.max_model_len=4096"]
    with device_hold("cpu", slots=1, timeout=10, log=lambda _m: None):
        assert cli.main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"rlvr: sampler.max_model_len=4096 is longer than model.path {model_path} takes"), last
