#!/usr/bin/env bash
# The Leashed-SGD reproduction sweep (Backstrom et al., IPDPS 2021, on Fashion-MNIST):
# sequential, synchronous, locked, hogwild, leashed (persistence unbounded) and leashed with
# persistence 1, at 1, 2, 4 and 8 threads, on the paper's MLP (3 hidden layers of 128) and its
# CNN, 3 seeds each, with the test set evaluated 4 times per epoch. One JSON report per run.
#
#   experiments/leashed/run.sh [--out DIR] [--smoke]      (full sweep: about 25 minutes here)
#
# --smoke runs a fraction of an epoch of two modes on the MLP, for the test suite.
# Then: experiments/leashed/plot.py DIR docs/results
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build-release/experiments/leashed"
smoke=0
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    *) echo "usage: run.sh [--out DIR] [--smoke]" >&2; exit 2 ;;
  esac
done
source "$root/experiments/asgd_train.sh"
mkdir -p "$out"

# Shared settings: momentum SGD (0.9), batch 16, lr 0.01 with a cosine schedule, shared sampling.
common=(--batch 16 --lr 0.01 --momentum 0.9 --schedule cosine --evals-per-epoch 4 --quiet)

run() {  # run MODEL LABEL THREADS SEED EPOCHS-OR-STEPS-ARGS... -- MODE-ARGS...
  local model=$1 label=$2 threads=$3 seed=$4
  shift 4
  local file="$out/${model}_${label}_t${threads}_s${seed}.json"
  if [ -s "$file" ]; then return; fi  # resumable sweep: finished runs are kept
  local model_args=(--model "$model")
  [ "$model" = mlp ] && model_args+=(--hidden 128,128,128)
  echo "$(date +%T) $model $label threads=$threads seed=$seed"
  "$train" "${model_args[@]}" "${common[@]}" --threads "$threads" --seed "$seed" --json "$file" "$@" >/dev/null
}

if ((smoke)); then
  for label in hogwild leashed; do run mlp "$label" 2 1 --steps 500 --evals-per-epoch 20 --mode "$label"; done
  exit 0
fi

for model in mlp cnn; do
  epochs=4
  [ "$model" = cnn ] && epochs=3
  for seed in 1 2 3; do
    run "$model" sequential 1 "$seed" --epochs "$epochs" --mode sequential
    for threads in 1 2 4 8; do
      run "$model" synchronous "$threads" "$seed" --epochs "$epochs" --mode synchronous
      run "$model" locked "$threads" "$seed" --epochs "$epochs" --mode locked
      run "$model" hogwild "$threads" "$seed" --epochs "$epochs" --mode hogwild
      run "$model" leashed "$threads" "$seed" --epochs "$epochs" --mode leashed
      run "$model" leashed-b1 "$threads" "$seed" --epochs "$epochs" --mode leashed --persistence 1
    done
  done
done
