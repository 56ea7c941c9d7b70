#!/usr/bin/env bash
# What keeps gossip from gaining with the node count: NODES simulated nodes of one worker, each
# taking one of the papers' epochs (3,750 steps at batch 16: NODES epochs over iid shards, EVALS
# evaluations of every node in all, default 64; node 0 2x slower), at one learning rate (default
# 0.02, SwarmSGD's and AD-PSGD's best on the MLP in docs/results.md; cosine decay, momentum 0.9),
# on the Fashion-MNIST MLP or (--model cnn) Leashed-SGD's CNN, against two references that count
# in the same steps:
#
#   alone        one node on batch 16 for 3,750 steps (a real run; the same for every NODES)
#   mean         one node on batch 16 x NODES for 3,750 steps: the nodes' exact mean, which
#                all-reduce SGD at the same rate computes (a real run)
#   swarm        SwarmSGD, 8 local steps on average, over cluster-open-mpi.costs (10 Gb/s, 50 us)
#   swarm_h1     SwarmSGD with 1 local step on average: an interaction due at every step
#   swarm_free   SwarmSGD over free-network.costs (an exchange lands as soon as it is sent)
#   swarm_h1_free
#   swarm_lattice SwarmSGD, H = 8, its copies quantized by the 16-bit lattice (the authors' width; half
#                the bytes), over cluster-open-mpi.costs with the lattice's coding charged
#   adpsgd       AD-PSGD (ring, every step) over cluster-open-mpi.costs
#   adpsgd_free  AD-PSGD over free-network.costs
#   dpsgd        D-PSGD (ring, blocking rounds every step) over cluster-open-mpi.costs
#   alone_shard  SwarmSGD's nodes with no exchange (--no-exchange): each on its shard alone
#
# One JSON report per run in DIR/CONFIG_nNODES_sSEED.json (DIR: build-release/experiments/
# simulated-gossip-limits, -cnn for the CNN), resumable; deterministic (a
# rerun gives the same reports but for the seconds of the real runs and the host's seconds). Then
# experiments/simulated/gossip_limits_table.py DIR [TARGET%...]: the steps a node took to each
# target.
#
#   experiments/simulated/gossip_limits.sh [--out DIR] [--nodes "16 64"] [--lr X] [--seeds N]
#                                          [--first-seed S] [--model mlp|cnn] [--evals EVALS]
#                                          [--configs "NAME..."] [--jobs J] [--smoke]
#
# The cost models charge this machine's gradient of the MLP; with --model cnn, the CNN's
# (cnn_gradient below, measured here with asgd-train --model cnn --simulate machine --calibrate)
# in copies of them under DIR; swarm_lattice's copy also charges the lattice's encoding and decoding
# (lattice_coding below, measured the same way with --quantize lattice). --smoke runs every
# configuration at 4 nodes for 40 steps, for the test suite.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=""
node_counts="16 64"
lr=0.02
seeds=1
first_seed=1  # seeds first_seed .. first_seed + seeds - 1 (another seed of a long run alone)
evals=64
model=mlp
cnn_gradient="lognormal(3.4e-05, 0.15)"  # seconds: the CNN's gradient per sample, 7 Dec 2026
# seconds a coordinate: the 16-bit lattice's encoding and decoding here, 7 Dec 2026 (three
# calibrations: encode 2.04-2.19 ns, decode 1.81-1.98 ns)
lattice_coding=(2.1e-9 1.9e-9)
jobs=1
smoke=0
all="alone mean swarm swarm_h1 swarm_free swarm_h1_free swarm_lattice adpsgd adpsgd_free dpsgd alone_shard"
configs=$all
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --nodes) node_counts=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --first-seed) first_seed=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --evals) evals=$2; shift 2 ;;
    --configs) configs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    *) echo "usage: gossip_limits.sh [--out DIR] [--nodes \"N...\"] [--lr X] [--seeds N] [--first-seed S] [--model mlp|cnn] [--evals EVALS] [--configs \"NAME...\"] [--jobs J] [--smoke]" >&2
       exit 2 ;;
  esac
done
for name in $configs; do
  [[ " $all " == *" $name "* ]] || { echo "gossip_limits.sh: no configuration '$name' ($all)" >&2; exit 2; }
done
[[ $model == mlp || $model == cnn ]] || { echo "gossip_limits.sh: --model $model: mlp or cnn" >&2; exit 2; }
if [[ -z $out ]]; then
  out="$root/build-release/experiments/simulated-gossip-limits"
  [[ $model == mlp ]] || out+="-$model"
fi
if ((smoke)); then node_counts=4; fi
for nodes in $node_counts; do
  # EVALS evaluations in all: EVALS / NODES an epoch, or one at every (NODES / EVALS)-th epoch's end.
  if ((!smoke && (evals < 1 || nodes < 2 || (evals % nodes != 0 && nodes % evals != 0)))); then
    echo "gossip_limits.sh: $nodes nodes and $evals evaluations: one must divide the other" >&2
    exit 2
  fi
done
source "$root/experiments/asgd_train.sh"
mkdir -p "$out"
cluster="$here/cluster-open-mpi.costs"
free="$here/free-network.costs"
if [[ $model == cnn ]]; then  # the same networks, with the CNN's gradient
  for f in cluster free; do
    { cat "${!f}"; echo "gradient_per_sample = $cnn_gradient"; } > "$out/cnn-$(basename "${!f}")"
    printf -v "$f" '%s' "$out/cnn-$(basename "${!f}")"
  done
fi
lattice_costs="$out/lattice-$(basename "$cluster")"  # the network's costs, and the lattice's coding
{ cat "$cluster"; echo "encode_seconds = ${lattice_coding[0]}"; echo "decode_seconds = ${lattice_coding[1]}"; } \
  >"$lattice_costs"
declare -A simulated=(
  [swarm]="$cluster --topology swarm --local-steps 8"
  [swarm_h1]="$cluster --topology swarm --local-steps 1"
  [swarm_free]="$free --topology swarm --local-steps 8"
  [swarm_h1_free]="$free --topology swarm --local-steps 1"
  [swarm_lattice]="$lattice_costs --topology swarm --local-steps 8 --quantize lattice --lattice-bits 16"
  [adpsgd]="$cluster --topology adpsgd --local-steps 1"
  [adpsgd_free]="$free --topology adpsgd --local-steps 1"
  [dpsgd]="$cluster --topology ring --avg-every 1 --blocking"
  [alone_shard]="$cluster --topology swarm --local-steps 8 --no-exchange"
)

run() {  # run NAME NODES SEED
  local name=$1 nodes=$2 seed=$3 length
  local file="$out/${name}_n${nodes}_s${seed}.json"
  if [ -s "$file" ]; then return; fi
  if ((smoke)); then
    length=(--steps 40 --evals-per-epoch 0)
  elif [[ $name == alone ]]; then
    length=(--epochs 1 --evals-per-epoch "$evals")  # 3,750 steps at batch 16
  elif ((nodes <= evals)); then
    length=(--epochs "$nodes" --evals-per-epoch $((evals / nodes)))
  else
    length=(--epochs "$nodes" --evals-per-epoch 0 --epochs-per-eval $((nodes / evals)))
  fi
  echo "$(date +%T) $name nodes=$nodes seed=$seed"
  local common=(--model "$model" --seed "$seed" --lr "$lr" --quiet --json "$file.tmp")
  case $name in
    alone) "$train" --mode sequential --batch 16 "${common[@]}" "${length[@]}" >/dev/null ;;
    mean) "$train" --mode sequential --batch $((16 * nodes)) "${common[@]}" "${length[@]}" >/dev/null ;;
    *)
      # shellcheck disable=SC2086  # a configuration is a list of options
      "$train" --simulate ${simulated[$name]} --nodes "$nodes" --threads 1 --straggler-slowdown 2 \
        "${common[@]}" "${length[@]}" >/dev/null ;;
  esac
  mv "$file.tmp" "$file"
}

source "$root/experiments/job_pool.sh"
# shellcheck disable=SC2086  # a list of counts
for nodes in $(printf '%s\n' $node_counts | sort -rn); do  # the longest runs first
  for ((seed = first_seed; seed < first_seed + seeds; seed++)); do
    for name in $configs; do
      [[ $name == alone ]] || pool_start run "$name" "$nodes" "$seed"
    done
  done
done
if [[ " $configs " == *" alone "* ]]; then  # one run serves every node count
  for ((seed = first_seed; seed < first_seed + seeds; seed++)); do pool_start run alone 1 "$seed"; done
fi
pool_finish
