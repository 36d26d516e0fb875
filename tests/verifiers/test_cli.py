"""`rlvr verify FILE.jsonl`."""

import json

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
