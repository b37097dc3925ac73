#!/usr/bin/env bash
# The GPU checks, on a machine with a CUDA GPU (the project's `device` tool lends one to some
# sessions: run(command="bash benchmarks/gpu_check.sh", timeout_s=540)). About 5 minutes on an H200.
#
# 1. The tests of the CUDA paths: tests/test_cuda.py (neuroexplicit on CUDA = on the CPU, the
#    chosen precision keeps the EPE, inpaint_batch, the compiled (Triton) cycle and its gradients,
#    a training step, the exported network, the learned baselines) and the suites that run on
#    every device torch sees (solver, fused cycle, models, export, shipped weights).
# 2. benchmarks/gpu_speed.py: neuroexplicit at 1024x436 and 2048x872, batch 1 and 8, float32 and
#    the measured precision, end to end and forward only; training samples/s; the CPU-only methods
#    (the default neuroaffine, OpenCV EPIC) on the host for scale.
#
# The project runs from src/ with the machine's own torch (nothing is installed). Where its OpenCV
# lacks the contrib modules, the methods that need them (neuroaffine, epic, ric) say so in the table.
# Results: $OUT (the device tool's) or benchmarks/results: gpu_tests.txt, gpu_speed.md.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="$(realpath -m "${OUT:-benchmarks/results}")"
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, torch.cuda.get_device_name(0))" || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true

python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_diffusion_solver.py tests/test_diffusion_fused.py \
    tests/test_models.py tests/test_deploy.py tests/test_pretrained.py 2>&1 | tee "$out/gpu_tests.txt"
tests=${PIPESTATUS[0]}

(cd benchmarks && python3 gpu_speed.py --device cuda --output "$out/gpu_speed.md") 2>&1 | tee "$out/gpu_speed.log"
speed=${PIPESTATUS[0]}
echo "gpu_check: tests exit $tests, speed exit $speed; results in $out"
exit $(( tests != 0 || speed != 0 ))
