#!/usr/bin/env bash
# Event-driven gossip against rounds on a simulated network: 4 in-process nodes x 1 HOGWILD!
# worker, the Fashion-MNIST MLP, 1 epoch, a 10 Gb/s link with 50 us latency, and node 0's
# messages DELAY seconds late (default 0.005; 0: no straggler). The four configurations run
# interleaved, RUNS times (default 3); one line per run: node 0's training time, its test
# accuracy, and the rounds or interactions it took (and folded). About 30 s.
#
#   experiments/gossip/run.sh [DELAY] [RUNS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/experiments/asgd_train.sh"
delay=${1:-0.005}
runs=${2:-3}
common=(--nodes 4 --threads 1 --epochs 1 --quiet --latency 0.00005 --bandwidth 1.25e9 --straggler-delay "$delay")
configs=("all_reduce --avg-every 8" "random_pairs --avg-every 8" "swarm --local-steps 8"
         "swarm --local-steps 8 --blocking")
echo "straggler delay $delay s; node 0 is the straggler"
for ((run = 1; run <= runs; run++)); do
  for config in "${configs[@]}"; do
    # shellcheck disable=SC2086  # the configuration is a list of options
    out=$("$train" "${common[@]}" --topology $config 2>&1)
    time=$(grep -oE "time [0-9.]+ s" <<<"$out" | head -1)
    accuracy=$(grep -oE "test accuracy [0-9.]+%" <<<"$out" | head -1)
    node0=$(grep -oE "node 0: .*(rounds|received)" <<<"$out" | sed -E 's/^node 0: .*test acc [0-9.]+%, //' | head -1)
    printf 'run %d | %-32s | %s | %s | %s\n' "$run" "$config" "$time" "$accuracy" "$node0"
  done
done
