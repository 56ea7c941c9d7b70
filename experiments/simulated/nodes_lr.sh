#!/usr/bin/env bash
# Does a tuned learning rate make more nodes pay? experiments/simulated/nodes.sh at the same
# steps a node (234 at batch 16: NODES / 16 epochs, 32 evaluations in all) for each learning rate
# of a grid, seeds 1..SEEDS (default 1), over cluster-open-mpi.costs unless --costs names another
# cost model: DIR/lr_X/ holds nodes.sh's reports at rate X.
# Every rate decays by the cosine schedule; --warmup-share F adds a linear warm-up over that share
# of the run. Resumable like nodes.sh. Then: experiments/simulated/nodes_lr_table.py DIR [TARGET%...]
#
#   experiments/simulated/nodes_lr.sh [--out DIR] [--costs FILE] [--lrs "0.01 0.02 0.04 0.08"]
#                                     [--nodes "16 64 256"] [--methods "allreduce dpsgd adpsgd swarm"]
#                                     [--seeds N] [--warmup-share F] [--jobs J] [--smoke]
#
# --smoke runs nodes.sh --smoke at each rate (4 nodes, 40 steps), for the test suite.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../build-release/experiments/simulated-nodes-lr"
lrs="0.01 0.02 0.04 0.08"
node_counts="16 64 256"
methods="allreduce dpsgd adpsgd swarm"
share=0
costs=()
seeds=1
jobs=1
smoke=0
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --costs) costs=(--costs "$2"); shift 2 ;;
    --lrs) lrs=$2; shift 2 ;;
    --nodes) node_counts=$2; shift 2 ;;
    --methods) methods=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --warmup-share) share=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    *) echo "usage: nodes_lr.sh [--out DIR] [--costs FILE] [--lrs \"X...\"] [--nodes \"N...\"] [--methods \"NAME...\"] [--seeds N] [--warmup-share F] [--jobs J] [--smoke]" >&2
       exit 2 ;;
  esac
done
if ! python3 -c 'import sys; sys.exit(not 0 <= float(sys.argv[1]) < 1)' "$share" 2>/dev/null; then
  echo "nodes_lr.sh: --warmup-share $share: a share of the run, from 0 to under 1" >&2
  exit 2
fi
if ((smoke)); then
  for lr in $lrs; do "$here/nodes.sh" --smoke --out "$out/lr_$lr" --lr "$lr"; done
  exit 0
fi
for nodes in $node_counts; do
  if ((nodes < 16 || nodes % 16 != 0 || nodes > 512)); then
    echo "nodes_lr.sh: $nodes nodes: the same steps a node needs a multiple of 16 from 16 to 512" >&2
    exit 2
  fi
done
# One nodes.sh per node count, rate and method, J at a time; the largest node counts first, as
# their runs are the longest.
source "$here/../job_pool.sh"
for nodes in $(printf '%s\n' $node_counts | sort -rn); do
  epochs=$((nodes / 16))
  warmup=$(python3 -c 'import sys; print(f"{float(sys.argv[1]) * int(sys.argv[2]):g}")' "$share" "$epochs")
  for lr in $lrs; do
    for name in $methods; do
      pool_start "$here/nodes.sh" --out "$out/lr_$lr" "${costs[@]}" --nodes "$nodes" --seeds "$seeds" \
        --epochs "$epochs" --evals $((32 / epochs)) --lr "$lr" --warmup "$warmup" --methods "$name"
    done
  done
done
pool_finish
