#!/usr/bin/env bash
# The simulator against this machine: the MLP of run.sh at 1 and 2 threads, each mode run for
# real N times (interleaved: the machine drifts) and simulated once with --simulate machine (a
# simulated run is the same every time), and beside each real run with --calibrate (this
# machine's figures measured just then). One JSON report per run, then a table of throughput
# (real, simulated, calibrated), staleness, failed CASes, final accuracy and time to 80% (real,
# simulated, calibrated), real (median, min-max) beside simulated.
#
#   experiments/simulated/validate.sh [--out DIR] [--runs N]     (default 3 runs: about 2 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build-release/experiments/simulated-validation"
runs=3
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: validate.sh [--out DIR] [--runs N]" >&2; exit 2 ;;
  esac
done
source "$root/experiments/asgd_train.sh"
mkdir -p "$out"
rm -f "$out"/*.json

configs=("sequential 1" "hogwild 1" "hogwild 2" "leashed 2" "locked 2" "bounded_staleness 2" "synchronous 2")
common=(--epochs 1 --evals-per-epoch 10 --quiet)
for ((i = 1; i <= runs; i++)); do
  for c in "${configs[@]}"; do
    read -r mode threads <<<"$c"
    "$train" --mode "$mode" --threads "$threads" "${common[@]}" --json "$out/real_${mode}_t${threads}_$i.json" >/dev/null
    # Beside it, simulated on this machine's figures measured just then (its speed drifts).
    "$train" --simulate machine --calibrate --mode "$mode" --threads "$threads" "${common[@]}" \
      --json "$out/calibrated_${mode}_t${threads}_$i.json" >/dev/null 2>&1
  done
done
for c in "${configs[@]}"; do
  read -r mode threads <<<"$c"
  "$train" --simulate machine --mode "$mode" --threads "$threads" "${common[@]}" \
    --json "$out/sim_${mode}_t${threads}.json" >/dev/null
done

python3 - "$out" <<'PY'
import json, pathlib, statistics, sys
out = pathlib.Path(sys.argv[1])
def run(path):
    return json.loads(path.read_text())['runs'][0]
def to80(r):
    return next((e['seconds'] for e in r['evaluations'] if e['accuracy'] >= 0.80), None)
def spread(values, fmt):
    values = sorted(values)
    return f"{fmt(statistics.median(values))} ({fmt(values[0])}-{fmt(values[-1])})"
print('| mode | threads | samples/s real | simulated | sim / real | calibrated | calibrated / real | '
      'staleness real | simulated | failed CAS/step real | simulated | final acc % real | simulated | '
      'to 80% (s) real | simulated | calibrated |')
print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
for sim_path in sorted(out.glob('sim_*.json')):
    key = sim_path.name[4:-5]
    reals = [run(p) for p in sorted(out.glob(f'real_{key}_*.json'))]
    calibrated_runs = [run(p) for p in sorted(out.glob(f'calibrated_{key}_*.json'))]
    calibrated = [r['samples_per_second'] for r in calibrated_runs]
    s = run(sim_path)
    mode, threads = key.rsplit('_t', 1)
    rate = [r['samples_per_second'] for r in reals]
    t80 = [t for t in map(to80, reals) if t is not None]
    t80_calibrated = [t for t in map(to80, calibrated_runs) if t is not None]
    k = lambda v: f'{v / 1000:.0f}k'
    f2 = lambda v: f'{v:.2f}'
    f3 = lambda v: f'{v:.3f}'
    print(f"| {mode} | {threads} | {spread(rate, k)} | {k(s['samples_per_second'])} | "
          f"{s['samples_per_second'] / statistics.median(rate):.2f} | {spread(calibrated, k)} | "
          f"{statistics.median(calibrated) / statistics.median(rate):.2f} | "
          f"{spread([r['staleness']['mean'] for r in reals], f2)} | {f2(s['staleness']['mean'])} | "
          f"{spread([r['cas_retries']['mean'] for r in reals], f2)} | {f2(s['cas_retries']['mean'])} | "
          f"{spread([100 * r['final_evaluation']['accuracy'] for r in reals], f2)} | "
          f"{f2(100 * s['final_evaluation']['accuracy'])} | "
          f"{spread(t80, f3) if t80 else '-'} | {f3(to80(s)) if to80(s) is not None else '-'} | "
          f"{spread(t80_calibrated, f3) if t80_calibrated else '-'} |")
PY
