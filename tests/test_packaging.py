"""The wheel installs one top-level package, `rlvr`, holding every module of the stage folders.

PyPI has packages named `verifiers`, `data` and `flows`; a wheel that put ours at the top of site-packages
would overwrite theirs. Built offline (no index, no build isolation) from this checkout.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = ("data", "sampling", "verifiers", "trainers", "flows")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy: setuptools writes build/ next to the sources, and a stale build/lib there would
    # slip modules deleted since into the wheel.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for stage in STAGES:
        shutil.copytree(REPO / stage, src / stage, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--no-build-isolation", "-q",
         "-w", str(out), str(src)],
        check=True, cwd=src, capture_output=True, text=True,
    )
    (path,) = out.glob("rlvr-*.whl")
    return path


def test_only_rlvr_is_installed_at_top_level(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"rlvr"}


def test_every_stage_module_is_in_the_wheel(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "rlvr/" + p.relative_to(REPO).as_posix()
        for stage in STAGES for p in (REPO / stage).rglob("*.py") if "__pycache__" not in p.parts
    }
    assert expected - names == set()


def test_installed_wheel_imports_from_its_own_tree(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)],
        check=True, capture_output=True, text=True,
    )
    # -I: isolated mode, so neither the checkout (cwd) nor the editable install is on the path
    code = (
        f"import sys; sys.path.insert(0, {str(target)!r}); "
        "import rlvr.verifiers.verdict as v, rlvr.flows.cli as c; print(v.__file__); print(c.main.__module__)"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    first, second = out.stdout.split()
    assert first.startswith(str(target)) and second == "rlvr.flows.cli"
    console = (target / "bin" / "rlvr").read_text()
    assert "from rlvr.flows.cli import main" in console
