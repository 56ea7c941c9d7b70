#!/usr/bin/env bash
# Every GPU check, on a machine with an NVIDIA GPU, in one run that fits a short loan of the
# machine: builds only what the GPU needs (Release, CUDA and NCCL, the GPU's own architecture,
# all cores), then runs, each step under its own time limit and within a total budget:
#   1. the gpu-labelled CTest tests with ASGD_REQUIRE_GPU=1 (no device or a broken CUDA fails);
#   2. asgd-train on Fashion-MNIST's MLP for 2 epochs with 1, 2, 4 and 8 GPU workers;
#   3. bench_cuda (update kernels against the device copy, local asynchrony per selector);
#   4. NCCL: one node under mpirun -np 1, and test_nccl_gpu with one rank per GPU;
#   5. compute-sanitizer memcheck on the device tests, racecheck and synccheck on the kernels
#      that share memory or synchronise (whatever budget is left).
#
#   scripts/gpu-check.sh [OUT_DIR]    OUT_DIR: $OUT where set (the device tool), else gpu-check/
#   GPU_CHECK_BUDGET=S                total seconds (default 540); steps beyond it are skipped
#   GPU_CHECK_BUILD=DIR               build tree (default build-gpu/)
#   GPU_CHECK_SKIP_BUILD=1            run the checks on DIR as it is (a rerun in the same lease)
#   GPU_CHECK_STEPS="..."             which checks run (default: tests train bench nccl sanitizer)
#   GPU_CHECK_REPEAT=N                asgd-train with seeds 1..N, bench_cuda with N repetitions
#                                     (default 1): the figures in docs are medians of N = 5, from
#                                     GPU_CHECK_STEPS="train bench" GPU_CHECK_REPEAT=5
#
# What it writes to OUT_DIR, as it goes (so that a run cut short still tells what happened):
# summary.txt (one line per step: status, seconds, command), steps.log (every step's output),
# and at the end results.tar.gz (asgd-train's JSON reports, bench_cuda's JSON, the build log).
# Packages this machine lacks (Eigen, doctest, Google Benchmark, zlib, Open MPI, Fashion-MNIST)
# come from .gpu-deps/*.deb when that folder exists (scripts/gpu-deps.sh fills it elsewhere),
# unpacked under /tmp; NCCL from the CUDA toolkit or the nvidia-nccl Python wheel.
# Without a GPU it stops at once: exit 2. Exit 0 when every step passed, else 1.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-${OUT:-$root/gpu-check}}
budget=${GPU_CHECK_BUDGET:-540}
build=${GPU_CHECK_BUILD:-$root/build-gpu}
work=/tmp/asgd-gpu-check
started=$SECONDS
mkdir -p "$out" "$work"
summary=$out/summary.txt
steps=$out/steps.log
: >"$summary"
: >"$steps"
failures=0

note() { echo "gpu-check: $*" | tee -a "$summary"; }
left() { echo $((budget - (SECONDS - started))); }

# step NAME LIMIT COMMAND...: runs COMMAND for at most LIMIT seconds (less if the budget is
# nearly spent; skipped under 20 s), its output appended to steps.log, its status to summary.txt.
step() {
  local name=$1 limit=$2
  shift 2
  local remaining
  remaining=$(($(left) - 10))
  if ((remaining < 20)); then
    printf '%-8s %5s s  %s\n' SKIPPED - "$name (budget spent)" >>"$summary"
    return 0
  fi
  ((limit > remaining)) && limit=$remaining
  printf '\n===== %s (limit %d s): %s\n' "$name" "$limit" "$*" >>"$steps"
  local t0=$SECONDS rc
  timeout --kill-after=10 "$limit" "$@" >>"$steps" 2>&1
  rc=$?
  local status=PASS
  if ((rc == 124 || rc == 137)); then status=TIMEOUT; elif ((rc != 0)); then status="FAIL($rc)"; fi
  [ "$status" = PASS ] || failures=$((failures + 1))
  printf '%-8s %5d s  %s\n' "$status" $((SECONDS - t0)) "$name" | tee -a "$summary"
}

# --- a GPU, or stop at once -------------------------------------------------------------------
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >"$work/gpus.txt" 2>&1 || ! grep -q '^GPU ' "$work/gpus.txt"; then
  note "no NVIDIA GPU on this machine ($(head -c 200 "$work/gpus.txt" 2>/dev/null || echo 'nvidia-smi not found')): nothing to check"
  exit 2
fi
gpus=$(grep -c '^GPU ' "$work/gpus.txt")
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')
note "$gpus GPU(s): $(head -1 "$work/gpus.txt"); compute capability $arch; $(nproc) cores; budget $budget s"
nvidia-smi >>"$steps" 2>&1

# --- dependencies -----------------------------------------------------------------------------
nvcc=${ASGD_NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
deps=$work/deps
prefix_path=()
if compgen -G "$root/.gpu-deps/*.deb" >/dev/null; then
  rm -rf "$deps" && mkdir -p "$deps"
  for d in "$root"/.gpu-deps/*.deb; do dpkg -x "$d" "$deps"; done
  prefix_path+=("$deps/usr")
  export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  note "unpacked $(ls "$root"/.gpu-deps/*.deb | wc -l) packages from .gpu-deps into $deps"
fi
mpi_args=()
# The unpacked Open MPI whenever it is there, even where the machine has an mpirun of its own:
# its libraries lead LD_LIBRARY_PATH, and the machine's mpirun loaded them against its own plugins
# (an H200 machine's: "mca_pmix_ext3x.so: undefined symbol: PMIx_Info_create", 4 Dec 2026).
if [ -x "$deps/usr/bin/mpirun.openmpi" ]; then
  export OPAL_PREFIX=$deps/usr  # Open MPI unpacked away from its prefix finds itself through this
  mpi_args=(-DMPI_CXX_COMPILER="$deps/usr/bin/mpicxx.openmpi" -DMPIEXEC_EXECUTABLE="$deps/usr/bin/mpirun.openmpi")
  mkdir -p "$work/bin" && ln -sf "$deps/usr/bin/mpirun.openmpi" "$work/bin/mpirun" && export PATH="$work/bin:$PATH"
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
nccl_root=${NCCL_ROOT:-}
if [ -z "$nccl_root" ] && [ ! -e /usr/local/cuda/include/nccl.h ]; then
  nccl_root=$(python3 -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__) if nvidia.nccl.__file__ else list(nvidia.nccl.__path__)[0])' 2>/dev/null || true)
fi
[ -n "$nccl_root" ] && export LD_LIBRARY_PATH="$nccl_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
data=/usr/share/datasets/fashion-mnist
if [ ! -e "$data/train-images-idx3-ubyte.gz" ] && [ -d "$deps$data" ]; then
  mkdir -p "$(dirname "$data")" && ln -sfn "$deps$data" "$data"  # where asgd-train and the CLI tests look
fi

# --- build only what the GPU needs --------------------------------------------------------------
configure=(cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DASGD_WERROR=ON
  -DASGD_ENABLE_CUDA=ON -DASGD_ENABLE_NCCL=ON -DASGD_ENABLE_MPI=ON -DASGD_CUDA_ARCHITECTURES="$arch"
  -DCMAKE_CUDA_COMPILER="$nvcc" -DASGD_BUILD_EXAMPLES=OFF -DASGD_BUILD_CONVERGENCE_TESTS=OFF
  "${mpi_args[@]}")
((${#prefix_path[@]})) && configure+=(-DCMAKE_PREFIX_PATH="$(IFS=';'; echo "${prefix_path[*]}")")
[ -n "$nccl_root" ] && configure+=(-DNCCL_ROOT="$nccl_root")
steps_to_run=" ${GPU_CHECK_STEPS:-tests train bench nccl sanitizer} "
repeat=${GPU_CHECK_REPEAT:-1}
runs() { [[ $steps_to_run == *" $1 "* ]]; }
targets=(bench_cuda asgd-train)
if runs tests || runs nccl || runs sanitizer; then targets+=(test_cuda_gpu test_store_gpu test_mlp_gpu test_nccl_gpu); fi
if [ "${GPU_CHECK_SKIP_BUILD:-0}" = 1 ]; then
  note "GPU_CHECK_SKIP_BUILD=1: checking $build as it is"
else
  step configure 120 "${configure[@]}"
  step build 300 cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
fi
bin=$build
if [ ! -x "$bin/tools/asgd-train" ]; then
  note "the build did not finish: nothing to run"
  exit 1
fi

# --- the checks -------------------------------------------------------------------------------
export ASGD_REQUIRE_GPU=1
runs tests && step ctest-gpu 240 ctest --test-dir "$build" -L gpu --no-tests=error --output-on-failure --timeout 200
if runs train; then
  for seed in $(seq "$repeat"); do
    for w in 1 2 4 8; do
      name=train-w$w$( ((repeat > 1)) && echo "-s$seed")
      step "asgd-train W=$w seed $seed" 90 "$bin/tools/asgd-train" --device cuda --model mlp --gpu-workers "$w" \
        --epochs 2 --seed "$seed" --quiet --json "$work/$name.json"
    done
  done
fi
# Each repetition times at least 0.2 s of kernels, or 0.05 s when repeated (20 launches a timing:
# the wall time is about 20 times the measured time).
min_time=$( ((repeat > 1)) && echo 0.05 || echo 0.2)
runs bench && step bench_cuda $((60 + 60 * repeat)) "$bin/bench/bench_cuda" --benchmark_min_time="$min_time" \
  --benchmark_repetitions="$repeat" --benchmark_out="$work/bench_cuda.json" --benchmark_out_format=json
if runs nccl; then
  step "nccl 1 rank" 90 mpirun -np 1 "$bin/tools/asgd-train" --device cuda --transport nccl --topology ring \
    --quantize fp16 --epochs 1 --consensus-every 20 --quiet --json "$work/nccl-1.json"
  step "nccl $gpus rank(s)" 150 mpirun --oversubscribe -np "$gpus" "$bin/tests/cuda/test_nccl_gpu"
fi
sanitizer=$(command -v compute-sanitizer || echo "$(dirname "$nvcc")/compute-sanitizer")
sanitize=("$sanitizer" --error-exitcode 1)  # an array, not a function: `timeout` runs programs
if ! runs sanitizer; then
  :
elif [ -x "$sanitizer" ]; then
  step "memcheck update kernels" 90 "${sanitize[@]}" --tool memcheck "$bin/tests/cuda/test_cuda_gpu"
  step "memcheck stores" 90 "${sanitize[@]}" --tool memcheck "$bin/tests/cuda/test_store_gpu"
  step "memcheck mlp" 120 "${sanitize[@]}" --tool memcheck "$bin/tests/cuda/test_mlp_gpu" -tc='mlp_gradient*,a worker*'
  step "racecheck qsgd8" 90 "${sanitize[@]}" --tool racecheck "$bin/tests/cuda/test_cuda_gpu" -tc='qsgd8*'
  step "synccheck qsgd8" 90 "${sanitize[@]}" --tool synccheck "$bin/tests/cuda/test_cuda_gpu" -tc='qsgd8*'
else
  note "compute-sanitizer not found: the sanitizer steps did not run"
  failures=$((failures + 1))
fi

cp "$build/.ninja_log" "$work/ninja_log.txt" 2>/dev/null
tar -czf "$out/results.tar.gz" -C "$work" $(cd "$work" && ls *.json ninja_log.txt gpus.txt 2>/dev/null) 2>/dev/null
note "$failures step(s) failed, $((SECONDS - started)) s in all"
((failures == 0))
