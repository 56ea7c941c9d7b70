#!/usr/bin/env bash
# Accuracy against bytes sent for quantized rounds: whole models against differences from a
# reference per link (quantize::differences, error feedback). 4 in-process nodes x 1 HOGWILD!
# worker, the Fashion-MNIST MLP, EPOCHS epochs (default 2), blocking rounds (so the bytes
# compare) on TOPOLOGY (default ring) every EVERY steps (default 4); seeds 1..RUNS (default 3).
# One line per run: test accuracy, node 0's megabytes sent and the consensus distance before the
# final average. About 3 minutes with the defaults.
#
#   experiments/quantized/differences.sh [EPOCHS] [RUNS] [TOPOLOGY] [EVERY]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/experiments/asgd_train.sh"
epochs=${1:-2}
runs=${2:-3}
topology=${3:-ring}
every=${4:-4}
quantizers=(identity fp16 diff-fp16 bf16 diff-bf16 qsgd8 diff-qsgd8 qsgd4 diff-qsgd4)
for ((seed = 1; seed <= runs; seed++)); do
  for quantizer in "${quantizers[@]}"; do
    out=$("$train" --nodes 4 --threads 1 --epochs "$epochs" --seed "$seed" --quiet --topology "$topology" \
      --avg-every "$every" --blocking --quantize "$quantizer" 2>&1) || true  # a diverged run prints its error
    accuracy=$(grep -oE "test accuracy [0-9.]+%" <<<"$out" | head -1 || true)
    node0=$(grep -oE "node 0: .*" <<<"$out" | grep -oE "[0-9.]+ MB sent|consensus distance .*" | paste -sd' ' || true)
    [ -n "$accuracy" ] || accuracy=$(grep -m1 "asgd" <<<"$out" | tail -1 || echo "no result")
    printf 'seed %d | %-10s | %s | %s\n' "$seed" "$quantizer" "$accuracy" "$node0"
  done
done
