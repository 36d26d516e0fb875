"""Registry: built-ins, import paths, options dataclasses, weighted combination."""

import os
import re
import sys

import pytest

from rlvr.verifiers import registry
from rlvr.verifiers.code import CodeOptions
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.format import FormatOptions, verify as format_verify
from rlvr.verifiers.math import MathOptions
from rlvr.verifiers.verdict import Verdict


@pytest.fixture
def user_path(monkeypatch):
    monkeypatch.syspath_prepend(os.path.dirname(__file__))


def test_builtins_are_a_literal_dict():
    assert set(registry.VERIFIERS) == {"math", "code", "format"} and set(registry.VERSIONS) == set(registry.VERIFIERS)


def test_unknown_name_lists_the_builtins():
    with pytest.raises(ValueError, match=r"\['code', 'format', 'math'\]"):
        registry.resolve("maths")


def test_bad_import_path_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot load verifier 'no_such_pkg.mod:fn'"):
        registry.resolve("no_such_pkg.mod:fn")


def test_options_become_the_frozen_dataclass():
    opts = registry.build_options("math", {"last_number_fallback": False, "rel_tol": 1e-3})
    assert isinstance(opts, MathOptions) and opts.rel_tol == 1e-3 and not opts.last_number_fallback


def test_unknown_option_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['tolerance'\]; allowed: .*rel_tol"):
        registry.build_options("math", {"tolerance": 0.1})


# option values of the wrong type or range used to change behaviour silently
@pytest.mark.parametrize("name, options, says", [
    ("code", {"processes": "false"}, "option processes must be true or false, got 'false' (str)"),  # forking was on
    ("code", {"memory_mb": "1024"}, "option memory_mb must be an integer, got '1024' (str)"),  # every program failed
    ("code", {"memory_mb": "1g"}, "option memory_mb must be an integer, got '1g' (str)"),
    ("code", {"timeout_s": 0}, "option timeout_s must be a positive number of seconds, got 0"),  # the pool replaced it
    ("code", {"timeout_s": -1}, "option timeout_s must be a positive number of seconds, got -1"),
    ("code", {"isolate": 1}, "option isolate must be one of 'required', 'best_effort', 'off', True, False, got 1 (int)"),
    ("code", {"isolate": "yes"}, "option isolate must be one of 'required', 'best_effort', 'off', True, False, got 'yes'"),
    ("code", {"hide": "/work"}, "option hide must be a list of str values, got '/work' (str)"),
    ("code", {"memory_mb": 10}, "code option memory_mb=10 is below its minimum 64"),
    ("math", {"rel_tol": "1e-3"}, "option rel_tol must be a number, got '1e-3' (str)"),
    ("format", {"kind": "box"}, "option kind must be one of 'boxed', 'code_block', 'think', 'regex', got 'box' (str)"),
])
def test_a_bad_option_value_is_one_error_naming_the_option(name, options, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        registry.build_options(name, options)


def test_option_values_of_the_right_kind_pass():
    opts = registry.build_options("code", {"timeout_s": 5, "hide": ["/data"], "isolate": "required", "threads": 0})
    assert (opts.timeout_s, opts.hide, opts.isolate, opts.threads) == (5, ("/data",), "required", 0)


# `isolate` was true/false before it had three modes (configs, checkpoints' config.json), and YAML reads an unquoted
# `off` as false: refused, a config written before no longer loaded and the documented `isolate: off` could not be
@pytest.mark.parametrize("value, mode", [(False, "off"), (True, "best_effort")])
def test_an_isolate_bool_is_read_as_the_mode_it_meant(value, mode):
    assert registry.build_options("code", {"isolate": value}).isolate == mode
    assert CodeOptions(isolate=value).isolate == mode  # built in Python: the same reading, in the same place
    assert CodeOptions(isolate=value) == CodeOptions(isolate=mode)


def test_score_combines_weights():
    specs = [VerifierSpec(name="math"), VerifierSpec(name="format", weight=0.1, options={"kind": "boxed"})]
    reward, verdicts = registry.score("so \\boxed{4}", "4", specs)
    assert reward == pytest.approx(1.1) and set(verdicts) == {"math", "format"}
    reward, verdicts = registry.score("so 4", "4", specs)
    assert reward == pytest.approx(1.0) and verdicts["format"].status == "wrong"


def test_repeated_names_get_numbered_keys():
    specs = [VerifierSpec(name="format", options={"kind": "boxed"}), VerifierSpec(name="format", options={"kind": "think"})]
    _, verdicts = registry.score("<think>a</think> \\boxed{1}", None, specs)
    assert set(verdicts) == {"format", "format#2"} and verdicts["format#2"].status == "correct"


@pytest.mark.parametrize("source, error", [
    ("def score(completion, reference:\n    return 1.0\n", "SyntaxError"),  # a typo in the plug-in
    ("raise RuntimeError('needs an API key')\n", "RuntimeError: needs an API key"),  # fails at import
])
def test_a_plugin_whose_module_fails_to_import_is_a_clear_error(tmp_path, monkeypatch, source, error):
    (tmp_path / "broken_plugin.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=f"cannot load verifier 'broken_plugin:score': importing broken_plugin raised {error}"):
        registry.resolve("broken_plugin:score")


def test_user_verifier_is_one_file_and_one_config_line(user_path):
    spec = VerifierSpec(name="example_user_verifier:score", weight=0.5, options={"word": "thanks"})
    reward, verdicts = registry.score("Thanks!", None, [spec])
    assert reward == 0.5 and verdicts["example_user_verifier:score"].detail["word"] == "thanks"
    assert registry.version("example_user_verifier:score") == "2"
    with pytest.raises(ValueError, match="allowed: \\['word'\\]"):
        registry.validate([VerifierSpec(name="example_user_verifier:score", options={"wrod": "x"})])


def test_a_raising_user_verifier_becomes_an_error_verdict(user_path):
    _, verdicts = registry.score("x", None, [VerifierSpec(name="example_user_verifier:broken")])
    v = verdicts["example_user_verifier:broken"]
    assert v.status == "error" and "bug in a user verifier" in v.detail["error"]



@pytest.mark.parametrize("completion", ["nan", "inf", "-inf"])
def test_a_non_finite_reward_becomes_an_error_verdict(user_path, completion):
    reward, verdicts = registry.score(completion, None, [VerifierSpec(name="example_user_verifier:not_finite")])
    v = verdicts["example_user_verifier:not_finite"]
    assert (reward, v.reward, v.status, v.detail["rule"]) == (0.0, 0.0, "error", "non_finite_reward")
    assert "not a finite number" in v.detail["error"]


def test_a_verdict_with_a_detail_that_is_not_a_dict_is_refused():
    with pytest.raises(ValueError, match="Verdict.detail must be a dict, got str"):
        Verdict(0.0, "error", "the grader is down")


def test_a_plugin_returning_a_string_detail_is_one_error_verdict_the_metrics_can_read(user_path):
    """A string detail crashed the training step's metrics (`failure_reason` looks keys up in it)."""
    from rlvr.trainers.metrics import failure_reason

    reward, verdicts = registry.score("x", None, [VerifierSpec(name="example_user_verifier:string_detail")])
    verdict = verdicts["example_user_verifier:string_detail"]
    assert (reward, verdict.status) == (0.0, "error")
    assert "Verdict.detail must be a dict, got str" in failure_reason(verdict)


# a detail that cannot cross processes used to crash the pool worker as it wrote its answer (`worker_died`, no reason)
@pytest.mark.parametrize("held, kind, says", [
    ("match", "re.Match", "cannot pickle 're.Match' object"),  # the realistic one: a regex search result kept
    ("lambda", "function", "Can't pickle local object"),  # a callable kept for later
    ("exception", "example_user_verifier.CheckFailed", "missing 1 required positional argument"),  # pickles, won't load
])
def test_an_unpicklable_detail_is_an_error_naming_the_key_and_type(user_path, held, kind, says):
    name = "example_user_verifier:unpicklable"
    reward, verdicts = registry.score(held, None, [VerifierSpec(name=name)])
    v = verdicts[name]
    assert (reward, v.status, v.detail["rule"], v.detail["key"], v.detail["type"]) == (
        0.0, "error", "unpicklable_verdict", held, kind)
    assert v.detail["error"].startswith(f"verifier {name!r} returned a Verdict that cannot be pickled: "
                                        f"detail[{held!r}] holds a {kind} (")
    assert says in v.detail["error"] and v.detail["status_given"] == "correct"


def test_config_and_registry_do_not_import_each_other():
    import ast
    import inspect

    from rlvr.verifiers import config

    def imported(module):
        tree = ast.parse(inspect.getsource(module))
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}

    assert "rlvr.verifiers.registry" in imported(config)
    assert not {m for m in imported(registry) if m.startswith("rlvr.verifiers.config")}


FORMAT = [
    ("boxed", "the answer is \\boxed{3}", "correct"),  # one box
    ("boxed", "\\boxed{3} or \\boxed{4}", "wrong"),  # two boxes
    ("boxed", "3", "wrong"),  # none
    ("code_block", "```python\nx = 1\n```", "correct"),  # one closed fence
    ("code_block", "```python\nx = 1\n```\n```\ny\n```", "wrong"),  # two fences
    ("code_block", "```python\nx = 1", "wrong"),  # unclosed
    ("think", "<think>hmm</think> 42", "correct"),  # reasoning then answer
    ("think", "<think>hmm</think>", "wrong"),  # no answer after thinking
    ("think", "42 <think>x</think><think>y</think> 1", "wrong"),  # two think blocks
    ("boxed", "   ", "no_answer"),  # empty
]


@pytest.mark.parametrize("kind, completion, status", FORMAT)
def test_format(kind, completion, status):
    assert format_verify(completion, None, FormatOptions(kind=kind)).status == status


def test_format_regex():
    assert format_verify("Answer: 12", None, FormatOptions(kind="regex", pattern=r"Answer: \d+")).status == "correct"
    assert format_verify("Answer: x", None, FormatOptions(kind="regex", pattern=r"Answer: \d+")).status == "wrong"


def test_a_bare_float_is_an_error_verdict_that_says_what_to_return(tmp_path, monkeypatch):
    (tmp_path / "float_plugin.py").write_text("def score(completion, reference, options=None):\n    return 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        reward, verdicts = registry.score("x", None, [VerifierSpec(name="float_plugin:score")])
    finally:
        sys.modules.pop("float_plugin", None)
    v = verdicts["float_plugin:score"]
    assert (reward, v.status, v.detail["rule"]) == (0.0, "error", "not_a_verdict")  # no status: refused, not 1.0
    assert v.detail["error"] == ("returned float: a verifier returns "
                                 "rlvr.verifiers.verdict.Verdict(reward, status, detail)")
