#!/usr/bin/env bash
# Two workers against one and against the machine, on the Fashion-MNIST MLP: interleaved rounds
# of asgd-train per mode, and the calibration (two sequential asgd-train processes at once, their
# samples/s summed). Prints per-run lines, then medians with min-max, the ratios to sequential
# and to the calibration, and the test accuracy.
#
#   scripts/scaling-mlp.sh [ASGD_TRAIN] [ROUNDS] [-- extra asgd-train options]
set -euo pipefail
train=${1:-build-release/tools/asgd-train}
rounds=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
[[ ${1:-} == -- ]] && shift
extra=("$@")
[[ -x $train ]] || { echo "scaling-mlp.sh: $train is not an executable (build asgd-train first)" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
rate() {  # samples/s and accuracy (%) of a report
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['runs'][0]; print(round(r['samples_per_second']), round(100*r['final_evaluation']['accuracy'], 2))" "$1"
}
runs=("sequential 1" "hogwild 1" "hogwild 2" "replicas 2" "leashed 2" "locked 2" "synchronous 2" "bounded_staleness 2")
for r in $(seq "$rounds"); do
  for m in "${runs[@]}"; do
    set -- $m
    "$train" --mode "$1" --threads "$2" --quiet "${extra[@]}" --json "$dir/r.json" > /dev/null
    echo "$r $1 $2 $(rate "$dir/r.json")"
  done | tee -a "$dir/all"
  "$train" --mode sequential --quiet "${extra[@]}" --seed 1 --json "$dir/a.json" > /dev/null &
  "$train" --mode sequential --quiet "${extra[@]}" --seed 2 --json "$dir/b.json" > /dev/null
  wait
  echo "$r calibration 2 $(( $(rate "$dir/a.json" | cut -d' ' -f1) + $(rate "$dir/b.json" | cut -d' ' -f1) ))" | tee -a "$dir/all"
done
python3 - "$dir/all" <<'PY'
import collections, statistics, sys
rate, acc = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    p = line.split()
    rate[(p[1], p[2])].append(int(p[3]))
    if len(p) > 4: acc[(p[1], p[2])].append(float(p[4]))
seq = statistics.median(rate[("sequential", "1")])
cal = statistics.median(rate[("calibration", "2")])
print(f"\n{'mode':18s} {'threads':>7s} {'samples/s':>10s} {'min':>8s} {'max':>8s} {'/ seq':>6s} {'/ calib':>8s} {'accuracy':>9s}")
for (mode, threads), v in rate.items():
    m = statistics.median(v)
    a = f"{statistics.median(acc[(mode, threads)]):.2f}%" if acc[(mode, threads)] else "-"
    print(f"{mode:18s} {threads:>7s} {m:10.0f} {min(v):8d} {max(v):8d} {m / seq:6.2f} {m / cal:8.2f} {a:>9s}")
PY
