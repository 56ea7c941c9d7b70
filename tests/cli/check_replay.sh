#!/usr/bin/env bash
# asgd-train --record, then --replay: the replay ends where the recorded run ended (the same test
# loss and accuracy, updates, staleness and failed CASes; for nodes, node 0's rounds and the
# nodes' consensus distance), though its times are virtual. With --nodes N, a replay with other
# than N nodes is refused.
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
if "node" in real:  # nodes: node 0's rounds, and how far apart the nodes' models ended
    for k in ["rounds", "bytes_sent", "final_consensus_distance"]:
        if real["node"][k] != replay["node"][k]:
            sys.exit(f"replay differs in node.{k}: recorded {real['node'][k]}, replayed {replay['node'][k]}")
if "simulation" not in replay:
    sys.exit("the replay's report has no simulation object")
print("replayed:", {k: replay[k] for k in keys})
PY
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = "--nodes" ]; then
    j=$((i + 1))
    nodes=${!j}
    status=0
    "$train" --mode "$mode" --threads 4 --steps 300 --quiet --replay "$out/run.rec" "$@" --nodes $((nodes + 1)) \
      >"$out/other.txt" 2>&1 || status=$?
    if [ "$status" -ne 1 ] || ! grep -q "holds the recordings of $nodes node(s); replay it with --nodes $nodes" \
      "$out/other.txt"; then
      cat "$out/other.txt"
      echo "check_replay.sh: a replay with $((nodes + 1)) nodes of $nodes nodes' recordings was not refused" >&2
      exit 1
    fi
  fi
done
