#!/usr/bin/env bash
# Heterogeneous data: 4 in-process nodes x 1 HOGWILD! worker train the Fashion-MNIST MLP for
# EPOCHS epochs (default 2) on iid, Dirichlet(1) and Dirichlet(0.1) label-skewed shards, under
# blocking local SGD, non-blocking LAP-SGD, FedAvg's weighted average (every node, blocking) and
# SwarmSGD gossip, each every 8 node steps; and one sequential node on all the data. Seeds 1..RUNS
# (default 3; the seed also draws the split). One line per run: the training time and the test
# accuracy. About 4 minutes on 2 cores.
#
#   experiments/shards/run.sh [EPOCHS] [RUNS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/experiments/asgd_train.sh"
epochs=${1:-2}
runs=${2:-3}
configs=("all_reduce --blocking" "all_reduce" "federated --fraction 1 --blocking" "swarm --local-steps 8")
report() {  # label, asgd-train's output
  local time accuracy
  time=$(grep -oE "time [0-9.]+ s" <<<"$2" | head -1)
  accuracy=$(grep -oE "test accuracy [0-9.]+%" <<<"$2" | head -1)
  printf '%s | %s | %s\n' "$1" "$time" "$accuracy"
}
for ((seed = 1; seed <= runs; seed++)); do
  report "seed $seed | one node | sequential" \
    "$("$train" --mode sequential --epochs "$epochs" --seed "$seed" --quiet 2>&1)"
  for shard in iid dirichlet:1 dirichlet:0.1; do
    for config in "${configs[@]}"; do
      # shellcheck disable=SC2086  # the configuration is a list of options
      out=$("$train" --nodes 4 --threads 1 --epochs "$epochs" --seed "$seed" --quiet --avg-every 8 \
        --shard "$shard" --topology $config 2>&1)
      report "$(printf 'seed %d | %-13s | %-32s' "$seed" "$shard" "$config")" "$out"
    done
  done
done
