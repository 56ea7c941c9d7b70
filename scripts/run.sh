#!/usr/bin/env bash
# Sets up everything and runs asgd's main job: every consistency mode trains the same softmax
# regression (20 classes, 40 000 samples, 4 020 parameters) with the same settings, and a table
# shows time, throughput, staleness and the accuracy each reached.
#
#   scripts/run.sh [threads] [epochs]      (defaults: 2 threads, 3 epochs; about 10 s here)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release --target asgd-compare >/dev/null
exec build-release/examples/asgd-compare "${1:-2}" "${2:-3}"
