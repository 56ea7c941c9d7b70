#!/usr/bin/env bash
# asgd-train --record, then --replay: the replay ends where the recorded run ended (the same test
# loss and accuracy, updates, staleness and failed CASes), though its times are virtual.
#
#   check_replay.sh ASGD_TRAIN SCRATCH_DIR MODE [ARGS...]
set -euo pipefail
train=$1 out=$2 mode=$3
shift 3
rm -rf "$out" && mkdir -p "$out"
"$train" --mode "$mode" --threads 4 --steps 300 --quiet --record "$out/run.rec" --json "$out/real.json" "$@"
"$train" --mode "$mode" --threads 4 --steps 300 --quiet --replay "$out/run.rec" --json "$out/replay.json" "$@" |
  tee "$out/replay.txt"
grep -q "the times above are virtual" "$out/replay.txt"
/usr/bin/python3 - "$out/real.json" "$out/replay.json" <<'PY'
import json, sys
real, replay = (json.load(open(f)) for f in sys.argv[1:3])
real, replay = (r["runs"][0] if "runs" in r else r for r in (real, replay))
keys = ["final_evaluation", "updates_applied", "updates_dropped", "model_version", "steps"]
for k in keys:
    if real.get(k) != replay.get(k):
        sys.exit(f"replay differs in {k}: recorded {real.get(k)}, replayed {replay.get(k)}")
for k in ["staleness", "cas_retries"]:
    if real[k] != replay[k]:
        sys.exit(f"replay differs in {k}: recorded {real[k]}, replayed {replay[k]}")
if "simulation" not in replay:
    sys.exit("the replay's report has no simulation object")
print("replayed:", {k: replay[k] for k in keys})
PY
