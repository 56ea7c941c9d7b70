#!/usr/bin/env bash
# Momentum against threads, simulated: the Fashion-MNIST MLP (asgd-train's defaults: lr 0.01,
# cosine schedule, batch 16) for 2 epochs with the built-in cost model, each shared-memory mode
# at each thread count with each momentum, seeds 1-3, so that modes compare at their own best
# momentum rather than at the one that suits a single worker. Staleness acts as momentum, so the
# best explicit momentum falls as the threads grow, and by how much depends on the mode's
# staleness. Runs two at a time; deterministic, resumable (finished runs are kept).
#
#   experiments/simulated/momentum.sh [--out DIR] [--modes "M..."] [--threads "T..."] [--momenta "MU..."] [--smoke]
#
# Defaults: modes hogwild leashed leashed-b1 (persistence 1) locked, threads 8 16 32 64, momenta
# 0.95 0.9 0.7 0.5 0.3 0, and sequential SGD at each momentum: 306 runs, about 13 minutes on 2
# cores (Leashed-SGD at 64 threads takes 30 s of host time a run). --smoke runs HOGWILD! at 2
# threads with two momenta for 300 steps each, for the test suite. Then:
#   experiments/simulated/momentum_table.py DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build-release/experiments/simulated-momentum"
modes="hogwild leashed leashed-b1 locked"
threads="8 16 32 64"
momenta="0.95 0.9 0.7 0.5 0.3 0"
length="--epochs 2"  # a string: run_one runs in the shells xargs starts
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --momenta) momenta=$2; shift 2 ;;
    --smoke) modes=hogwild; threads=2; momenta="0.9 0"; length="--steps 300"; shift ;;
    *) echo "usage: momentum.sh [--out DIR] [--modes LIST] [--threads LIST] [--momenta LIST] [--smoke]" >&2; exit 2 ;;
  esac
done
source "$root/experiments/asgd_train.sh"
mkdir -p "$out"

# One line per run: its JSON file, then asgd-train's options.
jobs=()
for mu in $momenta; do
  for seed in 1 2 3; do jobs+=("$out/sequential_t1_m${mu}_s$seed.json --mode sequential --threads 1 --momentum $mu --seed $seed"); done
done
for t in $threads; do
  for mode in $modes; do
    options="--mode $mode"
    [ "$mode" = leashed-b1 ] && options="--mode leashed --persistence 1"
    for mu in $momenta; do
      for seed in 1 2 3; do
        jobs+=("$out/${mode}_t${t}_m${mu}_s$seed.json $options --threads $t --momentum $mu --seed $seed")
      done
    done
  done
done

run_one() {  # run_one FILE OPTIONS...
  local file=$1
  shift
  [ -s "$file" ] && return 0
  local log
  # shellcheck disable=SC2086  # the run's length is two words
  if ! log=$("$train" --simulate machine $length --target-accuracy 85 --quiet --json "$file.part" "$@" 2>&1); then
    printf 'momentum.sh: failed: %s\n%s\n' "$*" "$log" >&2
    return 1
  fi
  mv "$file.part" "$file"
}
export -f run_one
export train length
echo "$(date +%T) ${#jobs[@]} runs into $out"
printf '%s\n' "${jobs[@]}" | xargs -P 2 -L 1 bash -c 'run_one "$@"' _
echo "$(date +%T) done"
