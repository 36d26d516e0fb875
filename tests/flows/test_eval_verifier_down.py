"""An evaluation whose verifier cannot run at all (every verdict an error: here a plug-in that fails to import in the
verification workers). Was: a warning, then a report of score 0 written under the name the run's evaluation uses
(which `best` and the served `skip_evaluated` then trust) and exit 0 (a user audit). Now: one line with the first
error's cause, exit 1, no report, and no traceback on the console."""

from tests.flows.flow_helpers import CONFIG, tiny_overrides

# imports where the config is validated, fails in each verification worker (as a plug-in needing the GPU process would)
WORKER_FAILS = '''
from rlvr.verifiers import procs
from rlvr.verifiers.verdict import Verdict
if procs.IN_WORKER:
    raise RuntimeError("needs the GPU process")
def score(completion, reference, options=None):
    return Verdict(1.0, "correct", {"rule": "loaded"})
'''


def test_an_evaluation_whose_verifier_cannot_start_writes_no_report(prefect_session, model_path, tmp_path,
                                                                     monkeypatch, capfd):
    from rlvr.flows import cli

    (tmp_path / "eval_down_plugin.py").write_text(WORKER_FAILS)
    monkeypatch.syspath_prepend(str(tmp_path))  # the workers inherit sys.path
    run = tmp_path / "run"
    suite = "eval.tasks=[{name: arith, level: 2, split: test, limit: 4, verifier: 'eval_down_plugin:score'}]"
    overrides = [*tiny_overrides(run, model_path), suite, "eval.greedy=false"]
    assert cli.main(["eval", model_path, "-c", CONFIG, *overrides]) == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, out + err
    last = err.strip().splitlines()[-1]
    assert last.startswith("rlvr: eval arith-l2-test: the verifier could not run (every one of its 8 verdicts is an "
                           "error; first: "), last
    assert "RuntimeError: needs the GPU process" in last and "no report is written" in last, last
    assert not list(run.rglob("eval*.json")), list(run.rglob("*"))
    log = last.rsplit("(full log: ", 1)[1].rstrip(")")
    assert "needs the GPU process" in open(log).read()
