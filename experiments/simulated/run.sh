#!/usr/bin/env bash
# Simulated shared-memory scaling: the Fashion-MNIST MLP (784-128-10, asgd-train's defaults) in
# every shared-memory mode at 1 to 64 threads, with the development machine's cost model
# (asgd-train --simulate machine) or another (--costs FILE: e.g. experiments/simulated/
# server.costs), two epochs each, the test set evaluated 10 times an epoch.
# Deterministic: a rerun gives the same JSON but for its host_seconds. One JSON report per run.
#
#   experiments/simulated/run.sh [--out DIR] [--costs FILE] [--smoke]
#
# --smoke runs two modes at 4 threads for 300 steps, for the test suite.
# Then: experiments/simulated/table.py DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build-release/experiments/simulated"
costs=machine
smoke=0
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --costs) costs=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    *) echo "usage: run.sh [--out DIR] [--costs FILE] [--smoke]" >&2; exit 2 ;;
  esac
done
source "$root/experiments/asgd_train.sh"
mkdir -p "$out"

run() {  # run MODE THREADS ARGS...
  local mode=$1 threads=$2
  shift 2
  local file="$out/${mode}_t${threads}.json"
  if [ -s "$file" ]; then return; fi  # resumable: finished runs are kept
  echo "$(date +%T) $mode threads=$threads"
  "$train" --simulate "$costs" --mode "$mode" --threads "$threads" --quiet --json "$file" "$@" >/dev/null
}

if ((smoke)); then
  for mode in hogwild leashed; do run "$mode" 4 --steps 300 --evals-per-epoch 0; done
  exit 0
fi

run sequential 1 --epochs 2 --evals-per-epoch 10
for threads in 1 2 8 16 32 64; do
  for mode in hogwild leashed locked replicas bounded_staleness synchronous atomic_add; do
    run "$mode" "$threads" --epochs 2 --evals-per-epoch 10
  done
  # Leashed-SGD with its persistence bound at 1: a gradient that fails two CASes is dropped.
  file="$out/leashed-b1_t${threads}.json"
  if [ ! -s "$file" ]; then
    echo "$(date +%T) leashed-b1 threads=$threads"
    "$train" --simulate "$costs" --mode leashed --persistence 1 --threads "$threads" --quiet --json "$file" \
      --epochs 2 --evals-per-epoch 10 >/dev/null
  fi
done
