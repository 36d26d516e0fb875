"""The verify section of a run config: values refused before anything starts, each naming its field."""

import pytest

from rlvr.trainers.run_config import ConfigError, load_config
from rlvr.verifiers.registry import build_options


# each passed validation and failed later: a NaN weight at step 1 (`non-finite reward`), an infinite timeout in the
# pool's first wait (OverflowError)
@pytest.mark.parametrize("override, field, value", [
    ("verify.verifiers=[{name: math, weight: .nan}]", "verify.verifiers.0.weight", "nan"),
    ("verify.verifiers=[{name: math, weight: .inf}]", "verify.verifiers.0.weight", "inf"),
    ("verify.verifiers=[{name: math}, {name: format, weight: -.inf}]", "verify.verifiers.1.weight", "-inf"),
    ("verify.timeout_s=.inf", "verify.timeout_s", "inf"),
])
def test_a_non_finite_value_is_refused_naming_the_field(override, field, value):
    with pytest.raises(ConfigError) as refused:
        load_config(None, [override])
    assert f"{field}: Input should be a finite number (got {value})" in str(refused.value)


def test_a_negative_weight_is_a_penalty_and_allowed():
    # TRL's reward_weights allow it: a format penalty subtracts from the task reward
    cfg = load_config(None, ["verify.verifiers=[{name: math}, {name: format, weight: -0.5}]"])
    assert [s.weight for s in cfg.verify.verifiers] == [1.0, -0.5]


def test_isolate_off_unquoted_is_the_off_mode():
    # YAML 1.1 reads `off` as false; the code verifier's options refused it, so the documented spelling failed
    cfg = load_config(None, ["verify.verifiers=[{name: code, options: {isolate: off}}]"])
    spec = cfg.verify.verifiers[0]
    assert build_options(spec.name, spec.options).isolate == "off"
