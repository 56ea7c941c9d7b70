#!/usr/bin/env bash
# Time to a target test accuracy, not accuracy at a fixed budget: NODES in-process nodes x 1
# HOGWILD! worker train the Fashion-MNIST MLP (or MODEL) for EPOCHS epochs over a simulated
# cluster network (10 Gb/s, 50 us a message) with node 0 a straggler that computes 2x slower,
# under all-reduce SGD (a blocking average after every step), blocking local SGD and
# non-blocking LAP-SGD (every 8 steps), D-PSGD (ring, every step, blocking), AD-PSGD, and
# SwarmSGD (8 local steps on average; exact, lattice-quantized at 16 bits a coordinate as the
# authors' code quantizes, QSGD 8-bit), D-PSGD with 8-bit
# QSGD differences against a reference per link (quantize::differences), on iid and
# Dirichlet(0.1) shards, seeds 1..RUNS. Every node evaluates its own model 10 times an epoch, in
# a pause that is not training time (--inline-evaluations: in the background, 40 evaluations an
# epoch on 2 cores would take their CPU from training and from the clock).
# One line per run: the training seconds until the first node and until every node reached
# TARGET% (- if never), the final test accuracy (after the final average), and node 0's time.
# With TRANSPORT=mpi the nodes are NODES ranks under mpirun, over Open MPI's on-node transport
# instead of the simulated network (rank 0 is the straggler), and only rank 0 reports: its
# time to TARGET fills both columns. With SIMULATE=COSTS the nodes run in virtual time
# (asgd-train --simulate COSTS; experiments/simulated/cluster.costs is the network above), so
# that 16 to 256 nodes fit this machine; their seconds are virtual. LAP-SGD runs three times: its
# rounds started by the first node due (the default), waiting for their last node, and with a
# real-time averager (refused without the privilege: then as the default). METHODS=REGEX
# runs only the methods whose names match it (grep -E).
#
#   [TRANSPORT=mpi | SIMULATE=COSTS] [METHODS=REGEX] experiments/time_to_target/run.sh [NODES] [EPOCHS] [RUNS] [TARGET] [MODEL]
#
# With NODES=4, EPOCHS=2, RUNS=3 it takes about 10 minutes on 2 cores. The summary at the end
# gives, per method and shards, the medians over the seeds.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/experiments/asgd_train.sh"
nodes=${1:-4}
epochs=${2:-2}
runs=${3:-3}
target=${4:-85}
model=${5:-mlp}
json=$(mktemp -d)
trap 'rm -rf "$json"' EXIT
transport=${TRANSPORT:-in_process}
if [ "$transport" = mpi ]; then
  launch=(mpirun -np "$nodes" --oversubscribe)
  [ "$(id -u)" != 0 ] || launch+=(--allow-run-as-root)
  network=(--transport mpi --straggler-slowdown 2)
  where="ranks over Open MPI on one machine"
elif [ -n "${SIMULATE:-}" ]; then
  launch=()
  network=(--nodes "$nodes" --simulate "$SIMULATE" --straggler-slowdown 2)
  where="simulated in-process nodes (costs $SIMULATE; times virtual)"
else
  launch=()
  network=(--nodes "$nodes" --latency 0.00005 --bandwidth 1.25e9 --straggler-slowdown 2)
  where="in-process nodes, 10 Gb/s + 50 us"
fi
configs=("all-reduce SGD|--topology all_reduce --avg-every 1 --blocking"
         "local SGD, blocking|--topology all_reduce --avg-every 8 --blocking"
         "LAP-SGD|--topology all_reduce --avg-every 8"
         "LAP-SGD, waiting for the last|--topology all_reduce --avg-every 8 --rounds-wait-for-last"
         "LAP-SGD, real-time averager|--topology all_reduce --avg-every 8 --realtime-averager"
         "D-PSGD (ring)|--topology ring --avg-every 1 --blocking"
         "AD-PSGD|--topology adpsgd --local-steps 1"
         "SwarmSGD|--topology swarm --local-steps 8"
         "SwarmSGD, lattice 16-bit|--topology swarm --local-steps 8 --quantize lattice --lattice-bits 16"
         "SwarmSGD, QSGD 8-bit|--topology swarm --local-steps 8 --quantize qsgd8"
         "D-PSGD, 8-bit differences|--topology ring --avg-every 1 --blocking --quantize diff-qsgd8")
echo "$nodes $where, 1 worker each, $model, $epochs epochs, node 0 computes 2x slower; target $target%"
lines=()
for ((seed = 1; seed <= runs; seed++)); do
  for shard in iid dirichlet:0.1; do
    for config in "${configs[@]}"; do
      name=${config%%|*}
      [ -z "${METHODS:-}" ] || grep -qE "$METHODS" <<<"$name" || continue
      # shellcheck disable=SC2206  # the configuration is a list of options
      options=(${config#*|})
      file="$json/run.json"
      "${launch[@]}" "$train" --model "$model" --threads 1 --epochs "$epochs" --seed "$seed" --shard "$shard" \
        --evals-per-epoch 10 --inline-evaluations --quiet --json "$file" "${network[@]}" "${options[@]}" >/dev/null 2>"$json/err" ||
        { cat "$json/err" >&2; exit 1; }
      line=$(python3 - "$file" "$target" "$seed" "$shard" "$name" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
target = float(sys.argv[2]) / 100
def first(r):
    return next((e["seconds"] for e in r["evaluations"] if e["accuracy"] >= target), None)
times = [first(r) for r in runs]
reached = [t for t in times if t is not None]
fmt = lambda t: "-" if t is None else f"{t:.2f}"
any_node = min(reached) if reached else None
all_nodes = max(reached) if len(reached) == len(times) else None
acc = 100 * runs[0]["final_evaluation"]["accuracy"]
node0 = runs[0]["wall_seconds"] - runs[0]["pause_seconds"]
print(f"seed {sys.argv[3]} | {sys.argv[4]:<13} | {sys.argv[5]:<30} | first node {fmt(any_node):>6} s | "
      f"every node {fmt(all_nodes):>6} s | final {acc:.2f}% | node 0 trained {node0:.2f} s")
PY
)
      echo "$line"
      lines+=("$line")
    done
  done
done
printf '%s\n' "${lines[@]}" | python3 -c '
import re, statistics, sys
rows = {}
for line in sys.stdin:
    f = [x.strip() for x in line.split("|")]
    key = (f[1], f[2])
    num = lambda s: None if "-" in s.split()[2] else float(s.split()[2])
    rows.setdefault(key, []).append((num(f[3]), num(f[4]), float(f[5].split()[1][:-1])))
def med(xs):
    xs = [x for x in xs if x is not None]
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f}) [{len(xs)}]" if xs else "-"
print("\nmedians over seeds (min-max) [seeds that reached it]")
for (shard, name), v in rows.items():
    print(f"{shard:<13} | {name:<30} | first node {med([a for a, _, _ in v])} s | every node {med([b for _, b, _ in v])} s | "
          f"final {med([c for _, _, c in v])}%")
'
