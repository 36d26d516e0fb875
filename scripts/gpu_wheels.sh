#!/usr/bin/env bash
# Download (here, where pip reaches PyPI) the pure-Python packages the GPU machine lacks, into .whl/ (git-ignored;
# it travels with the working tree: the device tool's `carry: [".whl"]`). The GPU machine has Python 3.12, torch
# 2.11+cu130, transformers 5.17, peft 0.21, accelerate 1.15, pyarrow, sympy, yaml, psutil, matplotlib; no prefect,
# no vllm. One version of each package; --no-deps, so every needed one is named. See docs/gpu.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
mkdir -p .whl
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
    pydantic==2.12.5 pydantic-core==2.41.5 annotated-types==0.7.0 typing-inspection==0.4.2 \
    latex2sympy2_extended==1.11.0 antlr4-python3-runtime==4.13.2 \
    trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 \
    pytest==9.2.0 pluggy==1.7.0 iniconfig==2.3.1 pytest-timeout==2.4.0
# datasets (and so TRL's GRPOTrainer) imports pandas and xxhash; the H200 of 2026-12-04 had them, another machine
# may not. Binary wheels: installed there only when the import fails (gpu_check.sh), so a machine's own pandas
# (built against its numpy) is never shadowed.
mkdir -p .whl/if-missing
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl/if-missing pandas==3.1.1 xxhash==4.1.0
# pandas' own pure-Python dependencies, installed with it
"$PY" -m pip download --quiet --no-deps --only-binary=:all: -d .whl/if-missing/pandas-deps \
    python-dateutil==2.9.0.post0 six==1.17.0 tzdata==2025.2
ls .whl .whl/if-missing .whl/if-missing/pandas-deps
du -sh .whl
