#!/usr/bin/env bash
# Run the bodies of the `gpu` tests on this CPU before spending device time on them: a copy of tests/gpu with
# "cuda" read as "cpu" and CUDA graphs off, so a test's own mistakes (an API misused, a tolerance tighter than
# bf16 allows) show here. What only a GPU can pass fails here by design and is deselected:
#   test_gpu_chunked_logits (CUDA memory counters), the flex kernel (no FlexAttention backward on CPU),
#   the bf16 load of a float32 checkpoint (`sampler.dtype: auto` keeps float32 on CPU), the graph pool's reuse
#   (CUDA memory counters).
# Usage: bash scripts/gpu_tests_on_cpu.sh   (about 2 minutes; the copy is removed afterwards)
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
copy=tests/gpu_on_cpu
rm -rf "$copy" && cp -r tests/gpu "$copy"
trap 'rm -rf "$copy"' EXIT
sed -i 's/from tests\.gpu\./from tests.gpu_on_cpu./; s/"cuda"/"cpu"/g; s/\.cuda()/.cpu()/g; s/model\.device=cuda/model.device=cpu/;
        s/graphs=True/graphs=False/g; s/^cuda = torch\.cuda\.is_available()/cuda = True/' "$copy"/*.py
"$PY" -m pytest -q -p no:cacheprovider "$copy" --timeout 300 \
    --deselect "$copy/test_gpu_chunked_logits.py" -k "not flex" \
    --deselect "$copy/test_gpu_eval.py::test_an_hf_evaluation_decodes_on_the_gpu" \
    --deselect "$copy/test_gpu_static_decode.py::test_repeated_decodes_reuse_the_graph_memory" \
    --deselect "$copy/test_gpu_grpo_step.py::test_an_unshared_hf_sampler_loads_its_copy_onto_the_policys_device"
