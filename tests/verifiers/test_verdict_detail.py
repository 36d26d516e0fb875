"""A Verdict's detail is a dict: a plug-in that builds one with a string detail gets one `error` verdict saying so,
instead of a training step that crashes on `.get` of its detail (trainers/metrics.failure_reason)."""

import sys

import pytest

from rlvr.verifiers import registry
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.verdict import Verdict


def test_a_verdict_with_a_detail_that_is_not_a_dict_is_refused():
    with pytest.raises(ValueError, match="Verdict.detail must be a dict, got str"):
        Verdict(0.0, "error", "the grader is down")


def test_a_plugin_returning_such_a_verdict_is_one_error_verdict_the_metrics_can_read(tmp_path, monkeypatch):
    from rlvr.trainers.metrics import failure_reason

    (tmp_path / "string_detail.py").write_text(
        "from rlvr.verifiers.verdict import Verdict\n"
        "def score(completion, reference, options=None):\n    return Verdict(0.0, 'timeout', 'grader slow')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        reward, verdicts = registry.score("x", None, [VerifierSpec(name="string_detail:score")])
    finally:
        sys.modules.pop("string_detail", None)
    verdict = verdicts["string_detail:score"]
    assert (reward, verdict.status) == (0.0, "error")
    assert "Verdict.detail must be a dict, got str" in failure_reason(verdict)
