"""`rlvr verify FILE.jsonl`."""

import json
import os

import pytest

from rlvr.verifiers.cli import main


def test_summary_table_and_bad_lines(tmp_path, capsys):
    f = tmp_path / "in.jsonl"
    rows = [
        {"completion": "\\boxed{4}", "reference": "4", "verifier": "math"},
        {"completion": "\\boxed{5}", "reference": "4", "task": "gsm8k"},
        {"completion": "def f():\n    return 1", "reference": {"tests": "assert f() == 1"}, "task": "mbpp"},
    ]
    lines = [json.dumps(r) for r in rows] + ["{not json", json.dumps({"completion": "x"}),
                                              json.dumps({"completion": "x", "reference": "1", "verifier": "nope"})]
    f.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    assert main([str(f), "--workers", "1", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "line 4: skipped" in captured.err and "line 5: skipped" in captured.err and "line 6: skipped" in captured.err
    table = captured.out.splitlines()
    assert table[0].split()[:3] == ["verifier", "correct", "wrong"]
    math_row = next(line.split() for line in table if line.startswith("math"))
    assert math_row[1:3] == ["1", "1"]
    assert "scored 3 lines" in captured.out
    assert [json.loads(x)["reward"] for x in out.read_text().splitlines()] == [1.0, 0.0, 1.0]


def test_a_missing_file_is_one_rlvr_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    assert main([str(missing)]) == 2
    assert capsys.readouterr().err == f"rlvr: cannot read {missing}: No such file or directory\n"


def test_a_directory_is_one_rlvr_line_and_exit_2(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"rlvr: cannot read {tmp_path}: Is a directory\n"


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


MATH_ROW = {"completion": "\\boxed{4}", "reference": "4", "verifier": "math"}


def test_a_bad_verifier_spec_says_why_on_its_one_line(tmp_path, capsys):
    # each reason used to be hidden behind pydantic's first line, "1 validation error for VerifierSpec"
    f = _write(tmp_path / "in.jsonl", [MATH_ROW, {**MATH_ROW, "verifier": "nosuch"},
                                       {**MATH_ROW, "verifier": "nosuch_mod:fn"}, {**MATH_ROW, "options": {"bogus": 1}},
                                       {**MATH_ROW, "options": [1]}])
    assert main([f, "--workers", "1"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "line 2: skipped: unknown verifier 'nosuch': use one of ['code', 'format', 'math'] or an import path "
        "'pkg.mod:fn' or a file 'path/to/file.py:fn'",
        "line 3: skipped: cannot load verifier 'nosuch_mod:fn': No module named 'nosuch_mod' (built-ins: ['code', "
        "'format', 'math'])",
        "line 4: skipped: verifier 'math': unknown option(s) ['bogus']; allowed: ['last_number_fallback', "
        "'max_answer_chars', 'max_chars', 'read_unclosed_think', 'rel_tol', 'timeout_s']",
        "line 5: skipped: options: Input should be a valid dictionary",  # a field's error names the field
    ]


def test_rlvr_verify_takes_options_before_the_file_and_has_its_own_help(tmp_path, capsys, monkeypatch):
    from rlvr.flows.cli import main as rlvr_main

    monkeypatch.setenv("RLVR_LOG_DIR", str(tmp_path / "logs"))
    f = _write(tmp_path / "in.jsonl", [MATH_ROW])
    assert rlvr_main(["verify", "--workers", "1", "--timeout", "5", f]) == 0
    assert "scored 1 lines, mean reward 1.0000" in capsys.readouterr().out
    for flag in ("-h", "--help"):
        with pytest.raises(SystemExit) as stop:
            rlvr_main(["verify", flag])
        assert stop.value.code == 0
        assert capsys.readouterr().out.startswith("usage: rlvr verify [-h] [--workers WORKERS]")


# each was taken: 0 and -1 timed out every line, nan made every verdict an error, inf set no deadline
@pytest.mark.parametrize("timeout, says", [
    ("0", "must be a finite number of seconds above 0, got '0'"),
    ("-1", "must be a finite number of seconds above 0, got '-1'"),
    ("nan", "must be a finite number of seconds above 0, got 'nan'"),
    ("inf", "must be a finite number of seconds above 0, got 'inf'"),
    ("-inf", "must be a finite number of seconds above 0, got '-inf'"),
    ("soon", "'soon' is not a number of seconds"),  # refused before too, as argparse's "invalid float value"
])
def test_a_timeout_that_is_not_a_positive_finite_number_is_one_usage_error(tmp_path, capsys, timeout, says):
    f = _write(tmp_path / "in.jsonl", [MATH_ROW])
    with pytest.raises(SystemExit) as stop:
        main([f"--timeout={timeout}", f])
    captured = capsys.readouterr()
    assert stop.value.code == 2 and captured.out == ""  # nothing scored
    assert captured.err.startswith("usage: rlvr verify") and captured.err.count("error") == 1
    assert captured.err.splitlines()[-1] == f"rlvr verify: error: argument --timeout: {says}"


def test_an_empty_file_is_one_rlvr_line_and_exit_2(tmp_path, capsys):
    f = tmp_path / "empty.jsonl"
    f.write_text("\n\n")
    assert main([str(f)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"rlvr: nothing to score in {f}: it is empty (or holds blank lines only)\n"
    assert captured.out == ""  # no table of zeros


def test_a_file_of_bad_lines_only_is_exit_2_after_naming_each(tmp_path, capsys):
    f = _write(tmp_path / "bad.jsonl", [{"completion": "x"}, {**MATH_ROW, "verifier": "nosuch"}])
    assert main([f]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [e.split(":")[0] for e in err] == ["line 1", "line 2", "rlvr"]
    assert err[-1] == f"rlvr: nothing to score in {f}: all 2 lines are bad"


def test_a_long_plugin_name_keeps_the_table_aligned(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(os.path.dirname(__file__))  # example_user_verifier.py, a user's plug-in
    plugin = "example_user_verifier:score"
    f = _write(tmp_path / "in.jsonl", [MATH_ROW, {"completion": "please", "reference": "", "verifier": plugin}])
    assert main([f, "--workers", "1"]) == 0
    table = capsys.readouterr().out.splitlines()[:3]
    # every column ends at the same place in the header and in both rows, the plug-in's included
    assert len({len(line) for line in table}) == 1
    assert table[1].startswith(plugin + " ") and table[1].split()[1:3] == ["1", "0"]  # rows sorted by name


def test_a_code_option_of_the_wrong_type_skips_its_line_with_one_reason(tmp_path, capsys):
    row = {"completion": "def f():\n    return 1", "reference": {"tests": "assert f() == 1"}, "verifier": "code"}
    f = _write(tmp_path / "in.jsonl", [row, {**row, "options": {"processes": "false"}}])
    assert main([f, "--workers", "1"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "line 2: skipped: verifier 'code': option processes must be true or false, got 'false' (str)"]


def test_every_verdict_an_error_prints_the_table_then_one_reason_and_exits_1(tmp_path, capfd, monkeypatch):
    # before: exit 0 and "mean reward 0.0000", as if the completions were all wrong
    monkeypatch.syspath_prepend(os.path.dirname(__file__))
    broken = {"completion": "x", "reference": "", "verifier": "example_user_verifier:broken"}
    f = _write(tmp_path / "in.jsonl", [broken, broken])
    assert main([f, "--workers", "1"]) == 1
    captured = capfd.readouterr()
    assert "scored 2 lines, mean reward 0.0000, bad lines 0" in captured.out  # the summary still prints
    assert captured.err == ("rlvr: every verdict is an error (2 verdicts); the first, line 1, verifier "
                            "'example_user_verifier:broken': verifier_raised: RuntimeError: bug in a user verifier\n")


def test_an_unpicklable_plugin_is_one_reason_not_a_traceback_per_line(tmp_path, capfd, monkeypatch):
    # before: a "Can't pickle local object" traceback from the worker per line, and `worker_died` with no reason
    monkeypatch.syspath_prepend(os.path.dirname(__file__))
    rows = [{"completion": held, "reference": "", "verifier": "example_user_verifier:unpicklable"}
            for held in ("lambda", "match")]
    assert main([_write(tmp_path / "in.jsonl", rows), "--workers", "1"]) == 1
    err = capfd.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert "unpicklable_verdict: verifier 'example_user_verifier:unpicklable' returned a Verdict that cannot be " \
           "pickled: detail['lambda'] holds a function" in err


def test_some_error_verdicts_are_counted_and_exit_0(tmp_path, capfd, monkeypatch):
    monkeypatch.syspath_prepend(os.path.dirname(__file__))
    broken = {"completion": "x", "reference": "", "verifier": "example_user_verifier:broken"}
    assert main([_write(tmp_path / "in.jsonl", [MATH_ROW, broken]), "--workers", "1"]) == 0
    captured = capfd.readouterr()
    row = next(line.split() for line in captured.out.splitlines() if line.startswith("example_user_verifier:broken"))
    assert row[5] == "1" and captured.err == ""  # the error column; no every-verdict line


def test_help_documents_exit_1_for_every_verdict_an_error(capsys):
    with pytest.raises(SystemExit):
        main(["-h"])
    assert "every verdict is an error" in " ".join(capsys.readouterr().out.split())


def test_a_trl_reward_function_reads_the_lines_columns_and_prompt(tmp_path, capsys, monkeypatch):
    # TRL's functions read dataset columns by name (`answer`, `solution`) and `prompts`: a line's other keys are
    # those columns, so the GSM8K recipe's `correctness(prompts, completions, answer)` scores lines as in training
    monkeypatch.syspath_prepend(os.path.dirname(__file__))  # trl_user_rewards.py, a TRL user's functions
    plugin = "trl_user_rewards:correctness"
    rows = [{"completion": "So 3 + 4 = 7. #### 7", "reference": "7", "answer": "3 + 4 = 7\n#### 7",
             "prompt": "What is 3 + 4?", "verifier": plugin},
            {"completion": "#### 8", "reference": "7", "answer": "3 + 4 = 7\n#### 7", "verifier": plugin},
            {"completion": "#### 7", "reference": "7", "verifier": plugin}]  # no `answer`: said, not a zero
    out = tmp_path / "out.jsonl"
    assert main([_write(tmp_path / "in.jsonl", rows), "--workers", "1", "--out", str(out)]) == 0
    verdicts = [json.loads(x) for x in out.read_text().splitlines()]
    assert [v["reward"] for v in verdicts[:2]] == [2.0, 0.0]
    missing = verdicts[2]["verdicts"][plugin]
    assert missing["status"] == "error" and missing["detail"]["rule"] == "missing_column"
