#!/usr/bin/env bash
# Sets up everything and runs asgd's tests. This is the README's test command; CI runs it.
#
#   scripts/test.sh            all of the below, in this order (about 18 minutes on a 2-core
#                              machine from a clean clone: 17.5-18.4 on the development VM with its
#                              packages installed, 2-3 Dec 2026, plus about a minute to install them
#                              on a fresh one; CHANGELOG.md says what keeps it there)
#   scripts/test.sh release    Release build (warnings are errors): every test (unit, concurrency, faults,
#                              mpi under mpirun, cli, compile_fail, packaging, example, docs, the
#                              benchmarks' smoke runs; gpu: skipped without a device); nvcc compiles the
#                              CUDA headers to PTX for compute_90 (ASGD_NVCC names another nvcc than
#                              /usr/local/cuda/bin/nvcc, ASGD_CUDA_ARCHITECTURES other architectures).
#                              The test executables and the examples are built at -Og
#                              (ASGD_TEST_OPTIMIZATION: 30% less compile time than -O1, which took 35-40%
#                              less than -O3; the tests run as fast as at -O1), the benchmarks at -O1
#                              (ASGD_BENCH_OPTIMIZATION); asgd-train keeps -O3 (the main job and docs'
#                              figures come from it), and its tests run that code. A benchmark built at
#                              -O1 warns on every run; for figures, configure build-release with
#                              -DASGD_BENCH_OPTIMIZATION=-O3
#   scripts/test.sh tsan       ThreadSanitizer build (Clang, -O0): the concurrency tests, the stores, the
#                              trainer, the transport, averaging nodes, the fault-injection matrix and the data
#                              reader (it inflates the test set on a second thread)
#   scripts/test.sh asan       Clang with AddressSanitizer + UndefinedBehaviorSanitizer (-O0; warnings are
#                              errors): the tests of the library (unit, concurrency, faults, docs)
#                              except the convergence tests (Release runs them) and MPI; not
#                              asgd-train's command-line tests (its 8 trainer instantiations take
#                              minutes to build with ASan; the Release run has them, the fuzzers its
#                              readers), nor the examples (3 minutes of CPU to build and 30 s to run
#                              code the unit tests run too; the Release run has them). With the
#                              ThreadSanitizer run, this is the Clang build: no third build for it.
#   scripts/test.sh clang      the same as asan
#   scripts/test.sh fuzz       libFuzzer (Clang, ASan+UBSan) on the IDX and checkpoint readers, 30 s each
#
# Build trees go to build-<name>/. A sanitizer report fails the test that produced it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

jobs=$(nproc)
export CTEST_OUTPUT_ON_FAILURE=1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
export ASAN_OPTIONS="detect_leaks=1 abort_on_error=0 strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1"

configure() {  # configure DIR ARGS...
  local dir=$1
  shift
  # CMake cannot move a build tree to another compiler: it deletes the cache and configures again
  # without the other options (a ThreadSanitizer tree of GCC became a plain one). Such a tree,
  # from before its run changed compiler, starts afresh.
  local arg want="" had=""
  for arg in "$@"; do
    if [[ $arg == -DCMAKE_CXX_COMPILER=* ]]; then want=${arg#*=}; fi
  done
  if [ -f "$dir/CMakeCache.txt" ]; then had=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$dir/CMakeCache.txt"); fi
  if [ -n "$want" ] && [ -n "$had" ] && [ "$(basename "$had")" != "$(basename "$want")" ]; then
    echo "test.sh: $dir was configured with $had, not $want: removing it"
    rm -rf "$dir"
  fi
  local log
  log=$(cmake -S . -B "$dir" -G Ninja -Wdev "$@" 2>&1) || { echo "$log"; return 1; }
  if grep -q "require your cache to be deleted" <<<"$log"; then
    echo "$log"
    echo "test.sh: CMake reset $dir's cache, and with it the options above; remove $dir and run again" >&2
    return 1
  fi
  # A mistyped option is silently ignored by CMake; make it fatal.
  if grep -q "Manually-specified variables were not used" <<<"$log"; then
    echo "$log"
    echo "test.sh: CMake ignored an option (see above)" >&2
    return 1
  fi
  grep -- "-- asgd" <<<"$log" || true
}

step() { printf '\n=== %s ===\n' "$*"; }

run_release() {
  step "Release build, all tests (benchmarks as smoke runs)"
  # CUDA and NCCL (from the toolkit at /usr/local/cuda): the device headers and GPU tests compile
  # with nvcc; the gpu tests report "skipped" where no device is found (CI has none). Device code
  # for one virtual architecture (PTX, no ptxas): nothing runs it here, and a GPU machine builds
  # for its own with scripts/gpu-check.sh. 36 s against 45 s for sm_80 + sm_90 (then gpu_hogwild.cu).
  configure build-release -DCMAKE_BUILD_TYPE=Release -DASGD_WERROR=ON -DASGD_TEST_OPTIMIZATION=-Og -DASGD_BENCH_OPTIMIZATION=-O1 \
    -DASGD_ENABLE_CUDA=ON -DASGD_ENABLE_NCCL=ON \
    -DCMAKE_CUDA_COMPILER="${ASGD_NVCC:-/usr/local/cuda/bin/nvcc}" -DASGD_CUDA_ARCHITECTURES="${ASGD_CUDA_ARCHITECTURES:-90-virtual}"
  cmake --build build-release -j "$jobs"
  (cd build-release && ctest -j "$jobs" --no-tests=error -LE '^bench$')
}

run_tsan() {
  step "ThreadSanitizer: concurrency tests, stores, trainer, transport, nodes and faults"
  # Not the MPI tests: Open MPI is not built with ThreadSanitizer, so its internals would report.
  # Clang: it builds these tests at -O0 with ThreadSanitizer in 40% less time than GCC 12 (29 s
  # against 47 s for test_nodes_training.cpp), and its tests ran 51 s against GCC's 70 s.
  configure build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DASGD_TEST_OPTIMIZATION=-O0 -DASGD_SANITIZER=thread \
    -DCMAKE_CXX_COMPILER=clang++ -DASGD_BUILD_EXAMPLES=OFF \
    -DASGD_BUILD_BENCHMARKS=OFF -DASGD_ENABLE_MPI=OFF
  local targets=(test_concurrency test_consistency test_transport test_trainer test_nodes test_faults test_data test_sim)
  cmake --build build-tsan -j "$jobs" --target "${targets[@]}"
  # Each target must bring tests: a renamed one would otherwise drop out of the regex silently.
  local t
  for t in "${targets[@]}"; do
    (cd build-tsan && ctest -N -R "^$t:" | grep -q 'Total Tests: [1-9]') || {
      echo "test.sh: the ThreadSanitizer run selects no test of $t" >&2
      return 1
    }
  done
  (cd build-tsan && ctest -j "$jobs" --no-tests=error -R "^($(IFS='|'; echo "${targets[*]}")):")
}

run_asan() {
  step "Clang, AddressSanitizer + UndefinedBehaviorSanitizer: all tests"
  # Clang rather than GCC, so that this build is also the Clang build (a separate Clang Release
  # build of the same tests cost a full rebuild of them). Not the MPI tests: Open MPI keeps
  # allocations until exit that LeakSanitizer reports as leaks. -O0: the sanitizers' docs advise
  # -O1 for speed, but Clang 14 took 3 times as long to compile a test at -O1 with them (52 s
  # against 17 s for test_faults.cpp), far more than the tests' run time it saves.
  configure build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g" -DCMAKE_CXX_COMPILER=clang++ \
    -DASGD_WERROR=ON "-DASGD_SANITIZER=address,undefined" -DASGD_BUILD_BENCHMARKS=OFF -DASGD_BUILD_TOOLS=OFF \
    -DASGD_BUILD_EXAMPLES=OFF -DASGD_ENABLE_MPI=OFF -DASGD_BUILD_CONVERGENCE_TESTS=OFF
  cmake --build build-asan -j "$jobs"
  (cd build-asan && ctest -j "$jobs" --no-tests=error -LE 'bench|compile_fail|packaging')
}

run_fuzz() {
  step "libFuzzer: the IDX and checkpoint readers, ${ASGD_FUZZ_SECONDS:-30} s each"
  configure build-fuzz -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ -DASGD_BUILD_FUZZERS=ON \
    -DASGD_BUILD_TESTS=OFF -DASGD_BUILD_EXAMPLES=OFF -DASGD_BUILD_BENCHMARKS=OFF -DASGD_BUILD_TOOLS=OFF \
    -DASGD_ENABLE_MPI=OFF
  cmake --build build-fuzz -j "$jobs"
  rm -rf build-fuzz/seeds build-fuzz/artifacts && mkdir -p build-fuzz/artifacts
  build-fuzz/tools/asgd-fuzz-seeds build-fuzz/seeds
  # The two fuzzers at once, one core each: the same time per fuzzer in half the wall time.
  local target pids=()
  for target in idx checkpoint; do
    mkdir -p "build-fuzz/corpus/$target"
    build-fuzz/tools/asgd-fuzz-$target -max_total_time="${ASGD_FUZZ_SECONDS:-30}" -error_exitcode=1 \
      -artifact_prefix=build-fuzz/artifacts/ -print_final_stats=1 "build-fuzz/corpus/$target" \
      "build-fuzz/seeds/$target" >"build-fuzz/$target.log" 2>&1 &
    pids+=($!)
  done
  # A crash, a sanitizer report or an exception other than the reader's own error fails here.
  local k=0 status failed=0
  for target in idx checkpoint; do
    status=0
    wait "${pids[$k]}" || status=$?
    k=$((k + 1))
    if [ "$status" -ne 0 ]; then
      tail -60 "build-fuzz/$target.log"
      echo "fuzzing $target failed (status $status); the input is in build-fuzz/artifacts/" >&2
      failed=1
      continue
    fi
    echo "$target: $(grep -E '^stat::number_of_executed_units' "build-fuzz/$target.log") (no crash)"
  done
  return "$failed"
}

what=${1:-all}
case "$what" in
  release | tsan | asan | fuzz) "run_$what" ;;
  clang) run_asan ;;
  all)
    run_release
    run_tsan
    run_asan
    run_fuzz
    ;;
  *)
    echo "usage: scripts/test.sh [all|release|tsan|asan|clang|fuzz]" >&2
    exit 2
    ;;
esac
step "all requested test runs passed"
