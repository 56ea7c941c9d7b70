#!/usr/bin/env bash
# Simulated decentralized scaling: all-reduce SGD, D-PSGD, AD-PSGD and SwarmSGD at 16, 64 and
# 256 in-process nodes of one worker each, in virtual time (asgd-train --simulate), over the
# cluster network of experiments/simulated/cluster-open-mpi.costs (10 Gb/s, 50 us a message,
# all-reduces as Open MPI runs them, this machine's per-core costs; --costs
# experiments/simulated/cluster.costs charges the in-process transport's mean instead), with
# node 0 a straggler that computes 2x slower. The Fashion-MNIST MLP for EPOCHS epochs (an epoch
# is one pass over the data by all nodes together), iid shards, every node evaluated EVALS times
# an epoch (default 2; --evals 0 --epochs-per-eval K: at every K-th epoch's end only), seeds
# 1..SEEDS, at asgd-train's learning rate (0.01, cosine decay) unless --lr and --warmup (epochs
# of linear warm-up) say otherwise. Deterministic: a rerun gives the same JSON but for
# host_seconds. One JSON report per run, resumable (finished runs are kept).
#
#   experiments/simulated/nodes.sh [--out DIR] [--costs FILE] [--nodes "16 64 256"] [--seeds N]
#                                  [--epochs E] [--evals EVALS] [--epochs-per-eval K]
#                                  [--lr X] [--warmup E]
#                                  [--methods "allreduce dpsgd adpsgd swarm"] [--jobs J] [--smoke]
#
# --smoke runs SwarmSGD and all-reduce at 4 nodes for 2 evaluations, for the test suite.
# --jobs runs J simulations at once (each is one OS thread at a time). Then:
# experiments/simulated/nodes_table.py DIR [TARGET%...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build-release/experiments/simulated-nodes"
costs="$root/experiments/simulated/cluster-open-mpi.costs"
node_counts="16 64 256"
seeds=2
epochs=4
evals=2
jobs=1
smoke=0
methods="allreduce dpsgd adpsgd swarm"
options=()  # given to every run
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --costs) costs=$2; shift 2 ;;
    --nodes) node_counts=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --evals) evals=$2; shift 2 ;;
    --epochs-per-eval) options+=(--epochs-per-eval "$2"); shift 2 ;;
    --lr) options+=(--lr "$2"); shift 2 ;;
    --warmup) options+=(--warmup "$2"); shift 2 ;;
    --methods) methods=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    *) echo "usage: nodes.sh [--out DIR] [--costs FILE] [--nodes \"N...\"] [--seeds N] [--epochs E] [--evals EVALS] [--epochs-per-eval K] [--lr X] [--warmup E] [--methods \"NAME...\"] [--jobs J] [--smoke]" >&2
       exit 2 ;;
  esac
done
source "$root/experiments/asgd_train.sh"
for name in $methods; do
  [[ " allreduce dpsgd adpsgd swarm " == *" $name "* ]] || {
    echo "nodes.sh: no method '$name' (allreduce, dpsgd, adpsgd, swarm)" >&2
    exit 2
  }
done
mkdir -p "$out"

declare -A configs=(
  [allreduce]="--topology all_reduce --avg-every 1 --blocking"
  [dpsgd]="--topology ring --avg-every 1 --blocking"
  [adpsgd]="--topology adpsgd --local-steps 1"
  [swarm]="--topology swarm --local-steps 8"
)

run() {  # run NAME NODES SEED ARGS...
  local name=$1 nodes=$2 seed=$3
  shift 3
  local file="$out/${name}_n${nodes}_s${seed}.json"
  if [ -s "$file" ]; then return; fi
  echo "$(date +%T) $name nodes=$nodes seed=$seed"
  # shellcheck disable=SC2086  # a configuration is a list of options
  "$train" --simulate "$costs" --nodes "$nodes" --threads 1 --seed "$seed" --straggler-slowdown 2 --quiet \
    --json "$file.tmp" ${configs[$name]} "${options[@]}" "$@" >/dev/null
  mv "$file.tmp" "$file"
}

if ((smoke)); then
  for name in swarm allreduce; do run "$name" 4 1 --steps 40 --evals-per-epoch 0; done
  exit 0
fi

source "$root/experiments/job_pool.sh"
for nodes in $node_counts; do
  for ((seed = 1; seed <= seeds; seed++)); do
    for name in $methods; do
      pool_start run "$name" "$nodes" "$seed" --epochs "$epochs" --evals-per-epoch "$evals"
    done
  done
done
pool_finish
