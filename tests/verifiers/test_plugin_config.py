"""A plug-in's config problems are refused as the config is loaded, on one line that names the verifier.

Before: a verifier with a wrong signature passed validation and failed only at scoring (an `error` verdict per
completion), and an options dataclass whose `__post_init__` raised gave `verify.verifiers.1: count must be >= 1, got 0`
without naming the verifier (or, for an exception other than ValueError, a traceback).
"""

import pytest

from rlvr.trainers.run_config import ConfigError, load_config

PLUGIN = '''
from dataclasses import dataclass
from rlvr.verifiers.verdict import Verdict

@dataclass(frozen=True)
class CountOptions:
    count: int = 1

    def __post_init__(self):
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")
        if self.count > 100:
            raise RuntimeError("count too large for the lookup table")

def with_opts(completion, reference, options: CountOptions | None = None):
    return Verdict(1.0, "correct")

def one_arg(completion):
    return Verdict(1.0, "correct")

def no_args():
    return Verdict(1.0, "correct")

def keyword_options(completion, reference, *, options=None):
    return Verdict(1.0, "correct")

def anything(*args, **kwargs):
    return Verdict(1.0, "correct")

def required_options(completion, reference, options):
    return Verdict(1.0, "correct")
'''


@pytest.fixture(autouse=True)
def plugin(tmp_path, monkeypatch):
    (tmp_path / "config_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))


def _refusal(verifiers: str) -> str:
    with pytest.raises(ConfigError) as refused:
        load_config(None, [f"verify.verifiers={verifiers}"])
    lines = str(refused.value).splitlines()
    assert len(lines) == 2 and lines[0] == "invalid config:", lines  # the one line under the heading
    return lines[1].strip()


@pytest.mark.parametrize("fn, signature", [("one_arg", "(completion)"), ("no_args", "()"),
                                           ("keyword_options", "(completion, reference, *, options=None)")])
def test_a_wrong_signature_is_refused_naming_the_verifier_and_its_signature(fn, signature):
    line = _refusal(f"[{{name: math}}, {{name: 'config_plugin:{fn}'}}]")
    assert line.startswith(f"verify.verifiers.1: verifier 'config_plugin:{fn}' has the signature {signature}, but a "
                           "verifier is called as fn(completion, reference, options)"), line


@pytest.mark.parametrize("name", ["config_plugin:anything", "config_plugin:required_options", "config_plugin:with_opts",
                                  "builtins:print",  # a C function taking *args
                                  "builtins:max"])  # a C function whose signature cannot be read
def test_signatures_that_take_three_arguments_or_cannot_be_read_pass(name):
    cfg = load_config(None, [f"verify.verifiers=[{{name: '{name}'}}]"])
    assert cfg.verify.verifiers[0].name == name


@pytest.mark.parametrize("count, says", [(0, "count must be >= 1, got 0"),
                                         (500, "RuntimeError: count too large for the lookup table")])
def test_an_options_check_that_raises_names_the_verifier(count, says):
    line = _refusal(f"[{{name: math}}, {{name: 'config_plugin:with_opts', options: {{count: {count}}}}}]")
    assert line.startswith(f"verify.verifiers.1: verifier 'config_plugin:with_opts': {says}"), line
