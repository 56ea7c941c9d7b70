#!/usr/bin/env bash
# The decentralized reproduction (LAP-SGD / LPP-SGD, SwarmSGD, D-PSGD, local SGD) on the
# Fashion-MNIST MLP: 4 nodes x 2 worker threads each (oversubscribed on a 2-core machine), nodes
# as thread groups (transport in_process), 2 epochs (or --epochs), the test set evaluated 4 times per epoch,
# against one node of 2 threads at equal total samples. One JSON report per run (every node's).
#
#   experiments/nodes/run.sh [--out DIR] [--seeds N] [--epochs E] [--smoke]
#
# 3 seeds of 2 epochs: about 2 minutes here; --epochs 8 (the longer budget at which the nodes
# catch up with one node): about 9 minutes, written to build-release/experiments/nodes-e8.
#
# --smoke runs a fraction of an epoch of two configurations, for the test suite.
# Then: experiments/nodes/plot.py DIR docs/results [NAME]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=
seeds=3
epochs=2
smoke=0
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    *) echo "usage: run.sh [--out DIR] [--seeds N] [--epochs E] [--smoke]" >&2; exit 2 ;;
  esac
done
if [ -z "$out" ]; then
  out="$root/build-release/experiments/nodes"
  if [ "$epochs" != 2 ]; then out+="-e$epochs"; fi
fi
source "$root/experiments/asgd_train.sh"
mkdir -p "$out"

# Momentum SGD (0.9), batch 16 per worker step, cosine schedule. Nodes take lr 0.02: averaging
# n models that each stepped on b samples is one step on n b samples (linear scaling, halved).
common=(--batch 16 --momentum 0.9 --schedule cosine --evals-per-epoch 4 --threads 2 --quiet)
nodes=(--nodes 4 --lr 0.02 --consensus-every 25)
gossip=(--nodes 4 --lr 0.02)

run() {  # run LABEL SEED ARGS...
  local label=$1 seed=$2
  shift 2
  local file="$out/mlp_${label}_s${seed}.json"
  if [ -s "$file" ]; then return; fi  # resumable: finished runs are kept
  echo "$(date +%T) $label seed=$seed"
  "$train" "${common[@]}" --seed "$seed" --json "$file" "$@" >/dev/null
}

if ((smoke)); then
  run single 1 --steps 300 --lr 0.01
  run swarm-h4-qsgd8 1 --steps 300 "${nodes[@]}" --topology random_pairs --avg-every 4 --quantize qsgd8
  exit 0
fi

for ((seed = 1; seed <= seeds; ++seed)); do
  run single "$seed" --epochs "$epochs" --lr 0.01
  run sync-allreduce "$seed" --epochs "$epochs" "${nodes[@]}" --topology all_reduce --avg-every 1 --blocking
  run local-sgd-h8 "$seed" --epochs "$epochs" "${nodes[@]}" --topology all_reduce --avg-every 8 --blocking
  run lap-sgd-h8 "$seed" --epochs "$epochs" "${nodes[@]}" --topology all_reduce --avg-every 8
  run lpp-sgd-h8 "$seed" --epochs "$epochs" "${nodes[@]}" --topology all_reduce --avg-every 8 \
    --select alternate_full_partial --select-warmup 1
  # LAP-SGD and LPP-SGD with a real-time averager (refused without the privilege: then as above).
  run lap-sgd-h8-rt "$seed" --epochs "$epochs" "${nodes[@]}" --topology all_reduce --avg-every 8 --realtime-averager
  run lpp-sgd-h8-rt "$seed" --epochs "$epochs" "${nodes[@]}" --topology all_reduce --avg-every 8 \
    --select alternate_full_partial --select-warmup 1 --realtime-averager
  run swarm-h4 "$seed" --epochs "$epochs" "${nodes[@]}" --topology random_pairs --avg-every 4
  run swarm-h4-qsgd8 "$seed" --epochs "$epochs" "${nodes[@]}" --topology random_pairs --avg-every 4 --quantize qsgd8
  # SwarmSGD as its paper runs it: each node interacts after a geometric number of local steps
  # (mean 4), with one partner's published copy, without rounds; and its lattice quantizer.
  # Gossip has no common rounds to measure the consensus distance at.
  run swarm-event-h4 "$seed" --epochs "$epochs" "${gossip[@]}" --topology swarm --local-steps 4
  run swarm-event-h4-lattice "$seed" --epochs "$epochs" "${gossip[@]}" --topology swarm --local-steps 4 \
    --quantize lattice
  run dpsgd-ring "$seed" --epochs "$epochs" "${nodes[@]}" --topology ring --avg-every 1
done
