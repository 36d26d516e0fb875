"""A run config given where `rlvr eval` takes its target (`rlvr eval configs/arith_grpo.yaml`). Was: "not a complete
checkpoint or a model directory (pruned or unfinished?)", a hint that points away from the mix-up."""

import shutil

import pytest

from tests.flows.flow_helpers import CONFIG


@pytest.mark.parametrize("name", ["arith_grpo.yaml", "arith_grpo.yml"])
def test_a_config_as_the_target_says_to_pass_it_with_c(name, tmp_path, monkeypatch, capsys):
    from rlvr.flows import cli

    shutil.copy(CONFIG, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["eval", name]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"rlvr: {name} is a run config, not a checkpoint or a model: did you mean "
                             f"`rlvr eval -c {name} <checkpoint>`?"), err
