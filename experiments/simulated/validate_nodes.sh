#!/usr/bin/env bash
# The simulator against this machine at 4 in-process nodes: 4 nodes x 1 HOGWILD! worker train
# the MLP for 1 epoch over the simulated 10 Gb/s link (50 us a message), node 0 computing 2x
# slower, under all-reduce SGD (a blocking average after every step), LAP-SGD (every 8 steps,
# non-blocking) and SwarmSGD (8 local steps on average). Each method runs for real N times,
# interleaved (the machine drifts), and simulated once with each cost model (a simulated run is
# the same every time): experiments/simulated/cluster.costs (a core per node, as a cluster has)
# and this-machine.costs (the same on 2 shared cores, as the real runs have); and, beside each
# real run, simulated with this-machine.costs and --calibrate (the gradient and the store
# operations measured then: this machine's speed drifts from day to day). Node 0's training
# seconds, real and calibrated (median, min-max) beside simulated, and the ratios; then, real
# against calibrated, when the nodes' last steps ended (the mean over the nodes of the training
# seconds at their last epoch's end): a node's training seconds run on to the final average,
# which waits for the last node, and the OS shares 2 cores among 4 nodes' threads unevenly
# where the simulated cores are fair; and node 0's training seconds to 80% test accuracy (its
# first evaluation at or above it, of 10 an epoch) with its final accuracy.
#
#   experiments/simulated/validate_nodes.sh [--out DIR] [--runs N]   (default 3 runs: about 2 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build-release/experiments/simulated-validation-nodes"
runs=3
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: validate_nodes.sh [--out DIR] [--runs N]" >&2; exit 2 ;;
  esac
done
source "$root/experiments/asgd_train.sh"
mkdir -p "$out"
rm -f "$out"/*.json

configs=("all-reduce|--topology all_reduce --avg-every 1 --blocking"
         "LAP-SGD|--topology all_reduce --avg-every 8"
         "SwarmSGD|--topology swarm --local-steps 8")
costs=(cluster this-machine)
# Evaluations in pauses that are not training time, as the simulator's: in the background, the real
# non-blocking runs' 40 evaluations an epoch would take their CPU from training and the clock.
common=(--threads 1 --epochs 1 --seed 1 --evals-per-epoch 10 --inline-evaluations --quiet --nodes 4 --straggler-slowdown 2)
for ((i = 1; i <= runs; i++)); do
  for k in "${!configs[@]}"; do
    # shellcheck disable=SC2206  # the configuration is a list of options
    options=(${configs[$k]#*|})
    "$train" "${common[@]}" --latency 0.00005 --bandwidth 1.25e9 "${options[@]}" --json "$out/real_${k}_$i.json" >/dev/null
    "$train" "${common[@]}" --simulate "$root/experiments/simulated/this-machine.costs" --calibrate "${options[@]}" \
      --json "$out/calibrated_${k}_$i.json" >/dev/null 2>&1
  done
done
for k in "${!configs[@]}"; do
  # shellcheck disable=SC2206
  options=(${configs[$k]#*|})
  for c in "${costs[@]}"; do
    "$train" "${common[@]}" --simulate "$root/experiments/simulated/$c.costs" "${options[@]}" \
      --json "$out/sim_${k}_$c.json" >/dev/null
  done
done

names=()
for config in "${configs[@]}"; do names+=("${config%%|*}"); done
python3 - "$out" "${names[@]}" <<'PY'
import json, pathlib, statistics, sys
out = pathlib.Path(sys.argv[1])
names = sys.argv[2:]
def seconds(path):
    r = json.loads(path.read_text())['runs'][0]
    return r['wall_seconds'] - r['pause_seconds']
def steps_end(path):
    runs = json.loads(path.read_text())['runs']
    return statistics.mean(r['epochs'][-1]['seconds'] for r in runs)
def to_80(path):
    r = json.loads(path.read_text())['runs'][0]
    return next((e['seconds'] for e in r['evaluations'] if e['accuracy'] >= 0.80), float('nan'))
def final(path):
    return 100 * json.loads(path.read_text())['runs'][0]['final_evaluation']['accuracy']
def both(k, measure):  # a measure of method k's real runs and of their calibrated simulations
    return ([measure(p) for p in out.glob(f'real_{k}_*.json')],
            [measure(p) for p in out.glob(f'calibrated_{k}_*.json')])
def spread(values, fmt):
    values = sorted(values)
    return f'{fmt(statistics.median(values))} ({fmt(values[0])}-{fmt(values[-1])})'
f2 = lambda v: f'{v:.2f}'
print('| method | real [s] | simulated, a core per node [s] | real / simulated | '
      'simulated, 2 shared cores [s] | real / simulated | 2 shared cores, calibrated [s] | real / simulated |')
print('|---|---|---|---|---|---|---|---|')
for k, name in enumerate(names):
    real, calibrated = both(k, seconds)
    med = statistics.median(real)
    cluster = seconds(out / f'sim_{k}_cluster.json')
    shared = seconds(out / f'sim_{k}_this-machine.json')
    print(f'| {name} | {spread(real, f2)} | {cluster:.3f} | {med / cluster:.1f} | {shared:.3f} | {med / shared:.1f} | '
          f'{spread(calibrated, f2)} | {med / statistics.median(calibrated):.1f} |')
print()
print('| method | the nodes\' last steps ended, real [s] | calibrated [s] | real / calibrated |')
print('|---|---|---|---|')
for k, name in enumerate(names):
    real, calibrated = both(k, steps_end)
    print(f'| {name} | {spread(real, f2)} | {spread(calibrated, f2)} | '
          f'{statistics.median(real) / statistics.median(calibrated):.2f} |')
print()
print('| method | node 0 to 80%, real [s] | calibrated [s] | real / calibrated | final accuracy, real [%] | calibrated [%] |')
print('|---|---|---|---|---|---|')
for k, name in enumerate(names):
    real, calibrated = both(k, to_80)
    real_final, calibrated_final = both(k, final)
    print(f'| {name} | {spread(real, f2)} | {spread(calibrated, f2)} | '
          f'{statistics.median(real) / statistics.median(calibrated):.2f} | '
          f'{spread(real_final, f2)} | {spread(calibrated_final, f2)} |')
PY
