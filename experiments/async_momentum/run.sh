#!/usr/bin/env bash
# Time to 85% test accuracy against momentum, real runs: the Fashion-MNIST MLP (asgd-train's
# defaults: batch 16, lr 0.01, cosine schedule) for 2 epochs with 20 evaluations an epoch, each
# configuration MODE:THREADS:MOMENTUM[:LR] run with seeds 1-6, the configurations alternated seed by
# seed (this machine drifts by 1.5-3x within an hour: a ratio is taken within a batch), BATCHES
# times. Then a table: the training seconds to 85%, and the per-seed ratio to the first
# configuration's run of the same seed and batch (the baseline: sequential SGD at 0.9 unless the
# first configuration says otherwise), with samples/s and final accuracy.
#
#   experiments/async_momentum/run.sh [--out DIR] [--batches N] [--smoke] [MODE:THREADS:MOMENTUM[:LR]...]
#
# LR, the learning rate, defaults to asgd-train's 0.01.
# Defaults: 4 batches of sequential:1:0.9 sequential:1:0.8 hogwild:2:0.85 hogwild:2:0.8
# replicas:2:0.85 replicas:2:0.8 replicas:2:0.75 (168 runs, about 6 minutes on 2 cores). Resumable:
# finished runs are kept. --smoke runs two configurations for 300 steps, one batch, one seed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build-release/experiments/async-momentum"
batches=4
seeds="1 2 3 4 5 6"
length=(--epochs 2)
configs=()
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --smoke) seeds=1; batches=1; length=(--steps 300); configs=(sequential:1:0.9 hogwild:2:0.8); shift ;;
    *:*:*) configs+=("$1"); shift ;;
    *) echo "usage: run.sh [--out DIR] [--batches N] [--smoke] [MODE:THREADS:MOMENTUM[:LR]...]" >&2; exit 2 ;;
  esac
done
((${#configs[@]})) || configs=(sequential:1:0.9 sequential:1:0.8 hogwild:2:0.85 hogwild:2:0.8 replicas:2:0.85
                               replicas:2:0.8 replicas:2:0.75)
source "$root/experiments/asgd_train.sh"
mkdir -p "$out"

for ((b = 1; b <= batches; b++)); do
  for s in $seeds; do
    for c in "${configs[@]}"; do
      IFS=: read -r mode threads momentum lr <<<"$c"
      file="$out/${mode}_t${threads}_m${momentum}${lr:+_lr$lr}_s${s}_b$b.json"
      [ -s "$file" ] && continue
      if ! log=$("$train" --mode "$mode" --threads "$threads" --momentum "$momentum" --lr "${lr:-0.01}" "${length[@]}" --evals-per-epoch 20 \
                 --target-accuracy 85 --seed "$s" --quiet --json "$file.part" 2>&1); then
        printf 'run.sh: %s seed %s failed:\n%s\n' "$c" "$s" "$log" >&2
        exit 1
      fi
      mv "$file.part" "$file"
    done
  done
done

python3 - "$out" "${configs[@]}" <<'PY'
import json, pathlib, re, statistics, sys
out, configs = pathlib.Path(sys.argv[1]), sys.argv[2:]
runs = {}  # config -> {(seed, batch): (seconds to 85% or None, samples/s, final accuracy)}
for path in out.glob('*.json'):
    m = re.fullmatch(r'(.+)_t(\d+)_m([0-9.]+)(?:_lr([0-9.]+))?_s(\d+)_b(\d+)\.json', path.name)
    if not m:
        continue
    r = json.loads(path.read_text())['runs'][0]
    reach = next((e['seconds'] for e in r['evaluations'] if e['accuracy'] >= 0.85), None)
    name = f'{m[1]}:{m[2]}:{m[3]}' + (f':{m[4]}' if m[4] else '')
    runs.setdefault(name, {})[(int(m[5]), int(m[6]))] = (
        reach, r['samples_per_second'], 100 * r['final_evaluation']['accuracy'])
def spread(values, fmt):
    return f'{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})' if values else '-'
base = runs.get(configs[0], {})
print(f'| run | seed runs | to 85% [s] | / {configs[0]}, per seed | samples/s | final accuracy |')
print('|---|---|---|---|---|---|')
for c in configs:
    v = runs.get(c, {})
    if not v:
        continue
    reach = [x[0] for x in v.values() if x[0] is not None]
    ratios = [x[0] / base[k][0] for k, x in v.items() if x[0] is not None and k in base and base[k][0] is not None]
    missed = len(v) - len(reach)
    print(f'| {c} | {len(v)}{f" ({missed} never)" if missed else ""} | {spread(reach, ".3f")} | {spread(ratios, ".2f")} | '
          f'{statistics.median(x[1] for x in v.values()) / 1e3:.0f}k | {statistics.median(x[2] for x in v.values()):.2f}% |')
PY
