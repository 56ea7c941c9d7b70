#!/usr/bin/env bash
# Accuracy against bytes sent for quantized SwarmSGD: 4 in-process nodes x 1 HOGWILD! worker,
# the Fashion-MNIST MLP, EPOCHS epochs (default 2), two-sided swarm gossip on the complete graph
# after a mean of 8 local steps, blocking (every interaction taken, so the bytes compare), with
# each quantizer; seeds 1..RUNS (default 3). One line per run: test accuracy, node 0's megabytes
# sent, its interactions and the consensus distance before the final average. About 1 minute.
#
#   experiments/quantized/run.sh [EPOCHS] [RUNS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/experiments/asgd_train.sh"
epochs=${1:-2}
runs=${2:-3}
quantizers=("identity" "fp16" "bf16" "qsgd8" "lattice" "lattice --lattice-bits 8 --lattice-epsilon 0.001"
  "lattice --lattice-bits 6 --lattice-epsilon 0.004")
for ((seed = 1; seed <= runs; seed++)); do
  for quantizer in "${quantizers[@]}"; do
    # shellcheck disable=SC2086  # the quantizer is a list of options
    out=$("$train" --nodes 4 --threads 1 --epochs "$epochs" --seed "$seed" --quiet --topology swarm \
      --local-steps 8 --blocking --quantize $quantizer 2>&1)
    accuracy=$(grep -oE "test accuracy [0-9.]+%" <<<"$out" | head -1)
    node0=$(grep -oE "node 0: .*" <<<"$out" | grep -oE "[0-9]+ interactions started|[0-9.]+ MB sent|consensus distance .*" | paste -sd' ')
    printf 'seed %d | %-50s | %s | %s\n' "$seed" "$quantizer" "$accuracy" "$node0"
  done
done
